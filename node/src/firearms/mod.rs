//! Firearm records at this node, the reference table (built-in plus members' additions), the
//! digests held from every member, checks, and traces between members.
//!
//! - `records`: this node's records in sled and the digests announcing them;
//! - `journal`: changes not yet announced and imports already done (crash recovery and
//!   idempotent imports);
//! - `index`: the in-memory digest index, rebuilt from the stored feeds at start and kept
//!   current by [`Firearms::project`];
//! - `traces`: signed trace requests and answers, the review queue and the delivery outbox;
//! - `seed`: example records for the devnet.

pub mod index;
pub mod journal;
pub mod records;
mod seed;
pub mod traces;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use striae_firearms_lib::{
    AdditionOrder, FirearmInput, FirearmRecord, MergedReference, ReferenceAddition, ReferenceTable,
    import, validate_input,
};
use striae_protocol::{
    Body, BureauId, SyncRequest, SyncResponse, VerifiedEntry,
    firearm::{FirearmDigest, MAX_DIGESTS_PER_ENTRY, RecordRef},
    time::now_ms,
};

use crate::{
    config::{NodeConfig, TracePolicy},
    context::Context,
    core::{Capability, CoreError},
    store::{Keyspace, Store, StoreError},
};

pub use seed::seed_devnet;
pub use traces::{on_trace_answer, on_trace_request, tick};

use index::{DigestIndex, Hit};
use journal::{ImportKey, ImportPhase, ImportState, Journal};
use records::{
    META_TREE, RECORDS_TREE, RefCipher, StoredRecord, digest_of, encode_input, query_digests,
    query_make_keys, store_key,
};

/// The firearm capability as the node holds it: its state and the context it works in.
/// Cheap to clone; it reads as its context (`node.me`, `node.publish(..)`).
#[derive(Clone)]
pub struct FirearmsNode {
    ctx: Context,
    /// Records, the digest index, the reference table and traces.
    pub firearms: Arc<Firearms>,
}

impl FirearmsNode {
    /// The capability over `firearms`, working in `ctx`.
    pub fn new(ctx: Context, firearms: Firearms) -> Self {
        FirearmsNode {
            ctx,
            firearms: Arc::new(firearms),
        }
    }
}

impl std::ops::Deref for FirearmsNode {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Capability for FirearmsNode {
    fn name(&self) -> &'static str {
        "firearms"
    }

    fn replay(&self, entry: &VerifiedEntry, _received_at_ms: u64) {
        self.firearms.rebuild_from(entry);
    }

    fn replayed(&self) {
        self.firearms.rebuilt();
    }

    /// Digests and retractions of a run, in order; its reference additions together.
    fn apply(&self, run: &[VerifiedEntry], _received_at_ms: u64) -> Result<(), StoreError> {
        for entry in run {
            self.firearms.apply_digests(entry);
        }
        self.firearms
            .merge_additions(run.iter().filter_map(parse_addition).collect());
        Ok(())
    }

    fn claims(&self, request: &SyncRequest) -> bool {
        matches!(request, SyncRequest::Trace(_) | SyncRequest::TraceAnswer(_))
    }

    fn on_request(&self, from: BureauId, request: SyncRequest) -> BoxFuture<'_, SyncResponse> {
        Box::pin(async move {
            match request {
                SyncRequest::Trace(message) => on_trace_request(self, from, message).await,
                SyncRequest::TraceAnswer(message) => on_trace_answer(self, from, message).await,
                _ => SyncResponse::Refused("not a firearm request".into()),
            }
        })
    }

    fn tick(&self) -> BoxFuture<'_, ()> {
        Box::pin(tick(self))
    }
}

/// Digests per announcing entry: about 200 KB, so that one gossip message of a large import
/// does not hold up the notices queued behind it on a connection; the protocol allows up to
/// `MAX_DIGESTS_PER_ENTRY`.
pub const ANNOUNCE_BATCH: usize = 4_000;
const _: () = assert!(ANNOUNCE_BATCH <= MAX_DIGESTS_PER_ENTRY);

/// Most records of one member a check answers with (every member holding a match is named).
pub const MAX_CHECK_HITS_PER_MEMBER: usize = 2 * index::MAX_SLOTS_PER_MEMBER;
/// Most rejected lines an import lists (the count is always given).
pub const MAX_LISTED_REJECTIONS: usize = 10_000;

/// What can go wrong writing records.
#[derive(Debug, thiserror::Error)]
pub enum FirearmsError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Publishing failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A blocking task failed (it panicked or was cancelled).
    #[error("internal task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The same import is running now (or was interrupted and is being finished).
    #[error("this import is already in progress; try again when it has finished")]
    ImportInProgress,
}

/// Firearm records, the digest index, the reference table and traces.
pub struct Firearms {
    records: Keyspace,
    /// Turns record sequence numbers into the opaque references members see.
    refs: RefCipher,
    /// The next record sequence number.
    next: AtomicU64,
    index: RwLock<DigestIndex>,
    /// The table in force (a snapshot of `reference`'s, cheap to hand out).
    table: RwLock<Arc<ReferenceTable>>,
    /// The built-in table and every member's additions, merged in one order.
    reference: Mutex<MergedReference>,
    /// Additions met while the projections are rebuilt at start, merged once at the end.
    replayed_additions: Mutex<Vec<(AdditionOrder, ReferenceAddition)>>,
    /// Serialises record writes, so a record's status and the digests announcing it change
    /// together.
    writes: tokio::sync::Mutex<()>,
    traces: traces::TraceStore,
    policy: TracePolicy,
    journal: Journal,
    /// Imports running now, by key.
    importing: Mutex<std::collections::HashSet<ImportKey>>,
}

/// A reference addition in force, from some member's feed.
#[derive(Clone, Debug, Serialize)]
pub struct AppliedAddition {
    /// The publishing member.
    pub origin: String,
    /// Its feed seq.
    pub seq: u64,
    /// The publishing entry's timestamp (additions apply in order of it, then of origin and
    /// seq).
    pub timestamp_ms: u64,
    /// The addition.
    pub addition: ReferenceAddition,
}

/// The result of an import.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// Records stored.
    pub imported: u64,
    /// Lines refused: their number and why (at most `MAX_LISTED_REJECTIONS`).
    pub rejected: Vec<Rejection>,
    /// Lines refused in all.
    pub rejected_total: u64,
    /// Digests published.
    pub announced: u64,
    /// True when this import was done before (same `Idempotency-Key`, or the same document
    /// when none was given) and this answer is the earlier one: nothing was stored again.
    #[serde(default)]
    pub repeated: bool,
}

/// One refused import line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rejection {
    /// The 1-based line the record starts on.
    pub line: u64,
    /// What is wrong, naming the field.
    pub error: String,
}

/// One hit of a check, as the API shows it.
#[derive(Debug, Serialize)]
pub struct CheckHit {
    /// The holder's country.
    pub country: String,
    /// The holder.
    pub bureau_id: String,
    /// Status announced.
    pub status: &'static str,
    /// The record at the holder.
    pub record_ref: String,
    /// `exact` or `confusable`.
    #[serde(rename = "match")]
    pub kind: &'static str,
}

impl Firearms {
    /// Opens the records; the digest index and the reference table are rebuilt from the
    /// stored feeds by the node (`rebuild_from`, then `rebuilt`).
    pub fn open(store: &Store, config: &NodeConfig) -> Result<Self, StoreError> {
        let table = ReferenceTable::try_builtin()
            .map_err(|e| StoreError::corrupt("reference", e))?
            .clone();
        let records = store.keyspace(RECORDS_TREE)?;
        let next = match records.last()? {
            Some((key, _)) => <[u8; 8]>::try_from(key.as_ref())
                .map(|k| u64::from_be_bytes(k) + 1)
                .map_err(|_| StoreError::corrupt(RECORDS_TREE, "key is not 8 bytes"))?,
            None => 1,
        };
        let firearms = Firearms {
            refs: RefCipher::load(&store.keyspace(META_TREE)?, store)?,
            next: AtomicU64::new(next),
            records,
            index: RwLock::new(DigestIndex::new()),
            table: RwLock::new(Arc::new(table.clone())),
            reference: Mutex::new(MergedReference::new(table)),
            replayed_additions: Mutex::new(Vec::new()),
            writes: tokio::sync::Mutex::new(()),
            traces: traces::TraceStore::open(store)?,
            policy: config.trace_policy,
            journal: Journal::open(store)?,
            importing: Mutex::new(Default::default()),
        };
        Ok(firearms)
    }

    /// Applies one stored entry while the node rebuilds its projections at start (every
    /// stored entry, feed by feed, in order), then `rebuilt` once.
    pub fn rebuild_from(&self, entry: &VerifiedEntry) {
        self.apply_digests(entry);
        if let Some(addition) = parse_addition(entry) {
            self.replayed_additions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(addition);
        }
    }

    /// The rebuild at start is over: the reference additions are merged, the index is
    /// compacted and its size logged.
    pub fn rebuilt(&self) {
        let additions = std::mem::take(
            &mut *self
                .replayed_additions
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        self.merge_additions(additions);
        self.index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .compact();
        let stats = self.index_stats();
        tracing::info!(
            digests = stats.live,
            memory_mb = stats.memory_bytes / (1 << 20),
            "firearm digest index rebuilt"
        );
    }

    fn apply_digests(&self, entry: &VerifiedEntry) {
        let origin = entry.entry.origin;
        match &entry.entry.body {
            Body::FirearmDigests(list) => {
                let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
                for digest in list {
                    index.apply(&origin, digest);
                }
            }
            Body::FirearmRetractions(list) => {
                let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
                for record_ref in list {
                    index.retract(&origin, record_ref);
                }
            }
            _ => {}
        }
    }

    /// Merges members' additions into the table: it is the same whatever order they arrive
    /// in. One that conflicts with an addition sorting before it is not in force (logged).
    fn merge_additions(&self, additions: Vec<(AdditionOrder, ReferenceAddition)>) {
        if additions.is_empty() {
            return;
        }
        let mut reference = self.reference.lock().unwrap_or_else(|p| p.into_inner());
        for (order, refused) in reference.insert(additions) {
            if let Some(e) = refused {
                tracing::warn!(origin = %BureauId(order.origin), seq = order.seq,
                    "reference addition not applied: {e}");
            }
        }
        *self.table.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(reference.table().clone());
    }

    /// The reference table as it stands (built-in plus applied additions).
    pub fn table(&self) -> Arc<ReferenceTable> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The additions in force, in the order they apply.
    pub fn additions(&self) -> Vec<AppliedAddition> {
        let reference = self.reference.lock().unwrap_or_else(|p| p.into_inner());
        reference
            .applied()
            .map(|(order, addition)| AppliedAddition {
                origin: BureauId(order.origin).to_string(),
                seq: order.seq,
                timestamp_ms: order.timestamp_ms,
                addition: addition.clone(),
            })
            .collect()
    }

    /// Figures about the digest index.
    pub fn index_stats(&self) -> index::IndexStats {
        self.index.read().unwrap_or_else(|p| p.into_inner()).stats()
    }

    /// The trace policy in force.
    pub fn policy(&self) -> TracePolicy {
        self.policy
    }

    /// Digests matching a make and serial as written, by any member (this node included).
    /// Every member holding one is named, with at most `MAX_CHECK_HITS_PER_MEMBER` records
    /// each, so copies of a member's digests published by another cannot push it out.
    pub fn lookup(&self, node: &FirearmsNode, make: &str, serial: &str) -> Vec<Hit> {
        let table = self.table();
        let keys: Vec<([u8; 16], [u8; 16])> = query_make_keys(&table, make)
            .iter()
            .filter_map(|k| query_digests(&node.digest_key, k, serial))
            .collect();
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        let mut hits: Vec<Hit> = Vec::new();
        let mut at: HashMap<(BureauId, RecordRef), usize> = HashMap::new();
        let mut per_member: HashMap<BureauId, usize> = HashMap::new();
        for (exact, confusable) in keys {
            for hit in index.lookup(&exact, &confusable) {
                if let Some(&i) = at.get(&(hit.origin, hit.record_ref)) {
                    hits[i].exact |= hit.exact;
                    continue;
                }
                let taken = per_member.entry(hit.origin).or_default();
                if *taken < MAX_CHECK_HITS_PER_MEMBER {
                    *taken += 1;
                    at.insert((hit.origin, hit.record_ref), hits.len());
                    hits.push(hit);
                }
            }
        }
        // Exact hits first.
        hits.sort_by_key(|h| !h.exact);
        hits
    }

    /// The check answer for a make and serial.
    pub fn check(&self, node: &FirearmsNode, make: &str, serial: &str) -> Vec<CheckHit> {
        self.lookup(node, make, serial)
            .into_iter()
            .map(|h| CheckHit {
                country: node.country_of(&h.origin),
                bureau_id: h.origin.to_string(),
                status: h.status.as_str(),
                record_ref: h.record_ref.to_hex(),
                kind: if h.exact { "exact" } else { "confusable" },
            })
            .collect()
    }

    /// One of this node's records.
    pub fn record(&self, id: &RecordRef) -> Result<Option<StoredRecord>, StoreError> {
        let Some(n) = self.refs.decrypt(id) else {
            return Ok(None);
        };
        let table = self.table();
        self.records
            .get(store_key(n))?
            .map(|bytes| StoredRecord::decode(&bytes, &table))
            .transpose()
    }

    /// A block of `count` fresh sequence numbers.
    fn allocate(&self, count: u64) -> u64 {
        self.next.fetch_add(count, Ordering::SeqCst)
    }

    /// This node's records in reference order, after `after`, at most `limit`.
    pub fn list(
        &self,
        after: Option<RecordRef>,
        limit: usize,
    ) -> Result<Vec<(RecordRef, StoredRecord)>, StoreError> {
        let from = match after {
            Some(r) => self
                .refs
                .decrypt(&r)
                .map_or(u64::MAX, |n| n.saturating_add(1)),
            None => 0,
        };
        let table = self.table();
        let mut out = Vec::new();
        for item in self.records.range(store_key(from)..) {
            let (key, value) = item?;
            let Ok(bytes) = <[u8; 8]>::try_from(key.as_ref()) else {
                continue;
            };
            let id = self.refs.encrypt(u64::from_be_bytes(bytes));
            out.push((id, StoredRecord::decode(&value, &table)?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Number of records this node holds.
    pub fn record_count(&self) -> usize {
        self.records.count()
    }

    /// Stores a validated record and announces it; answers once both are on disk.
    pub async fn create(
        &self,
        node: &FirearmsNode,
        record: FirearmRecord,
    ) -> Result<(RecordRef, StoredRecord), FirearmsError> {
        let _writing = self.writes.lock().await;
        let n = self.allocate(1);
        let id = self.refs.encrypt(n);
        let now = now_ms();
        let stored = StoredRecord {
            record,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.journal.mark_record(n)?;
        self.records.insert(store_key(n), stored.encode())?;
        match digest_of(&node.digest_key, &stored.record, id) {
            Some(digest) => {
                node.publish(Body::FirearmDigests(vec![digest])).await?;
            }
            None => node.store.flush().await?,
        }
        self.journal.clear_record(n)?;
        Ok((id, stored))
    }

    /// Replaces record `id` with `record` (already validated from the stored input with the
    /// caller's changes) and announces the change: a new digest when the record is active
    /// and its status, make or serial changed; a retraction when it stopped being active.
    pub async fn replace(
        &self,
        node: &FirearmsNode,
        id: RecordRef,
        change: impl FnOnce(
            &FirearmRecord,
        ) -> Result<FirearmRecord, Vec<striae_firearms_lib::FieldError>>,
    ) -> Result<Option<Result<StoredRecord, Vec<striae_firearms_lib::FieldError>>>, FirearmsError>
    {
        let _writing = self.writes.lock().await;
        let (Some(n), Some(old)) = (self.refs.decrypt(&id), self.record(&id)?) else {
            return Ok(None);
        };
        let record = match change(&old.record) {
            Ok(r) => r,
            Err(errors) => return Ok(Some(Err(errors))),
        };
        let stored = StoredRecord {
            record,
            created_at_ms: old.created_at_ms,
            updated_at_ms: now_ms(),
        };
        self.journal.mark_record(n)?;
        self.records.insert(store_key(n), stored.encode())?;
        let before = digest_of(&node.digest_key, &old.record, id);
        let after = digest_of(&node.digest_key, &stored.record, id);
        match (before, after) {
            (_, Some(new)) if before != Some(new) => {
                node.publish(Body::FirearmDigests(vec![new])).await?;
            }
            (Some(_), None) => {
                node.publish(Body::FirearmRetractions(vec![id])).await?;
            }
            _ => node.store.flush().await?,
        }
        self.journal.clear_record(n)?;
        Ok(Some(Ok(stored)))
    }

    /// Imports a CSV or NDJSON document: parses, validates and normalises every line in a
    /// blocking task (in parallel), stores the good records with batched writes, announces
    /// them in few large digest entries, and flushes once. Good lines are kept when others
    /// are refused.
    ///
    /// An import is done once per `key` (the caller's, or the document's hash when `None`):
    /// sent again, it answers what it answered the first time, with `repeated` set.
    pub async fn import(
        &self,
        node: &FirearmsNode,
        format: import::ImportFormat,
        bytes: Vec<u8>,
        key: Option<ImportKey>,
    ) -> Result<ImportOutcome, FirearmsError> {
        let key = key.unwrap_or_else(|| content_key(format, &bytes));
        let _running = match self.begin_import(key)? {
            Ok(running) => running,
            Err(earlier) => return Ok(earlier),
        };
        let table = self.table();
        let started = std::time::Instant::now();
        let items = tokio::task::spawn_blocking(move || {
            import::parse(format, std::io::Cursor::new(bytes)).collect::<Vec<_>>()
        })
        .await
        .map_err(FirearmsError::Task)?;
        tracing::debug!(
            lines = items.len(),
            ms = started.elapsed().as_millis() as u64,
            "import parsed"
        );
        self.store_inputs(node, table, items, key).await
    }

    /// Marks import `key` as running here, or gives its earlier answer.
    fn begin_import(
        &self,
        key: ImportKey,
    ) -> Result<Result<ImportRunning<'_>, ImportOutcome>, FirearmsError> {
        let mut running = self.importing.lock().unwrap_or_else(|p| p.into_inner());
        if running.contains(&key) {
            return Err(FirearmsError::ImportInProgress);
        }
        match self.journal.import(&key)? {
            Some(ImportState {
                phase: ImportPhase::Done,
                outcome: Some(outcome),
                ..
            }) => {
                return Ok(Err(ImportOutcome {
                    repeated: true,
                    ..outcome
                }));
            }
            Some(_) => return Err(FirearmsError::ImportInProgress),
            None => {}
        }
        running.insert(key);
        Ok(Ok(ImportRunning {
            firearms: self,
            key,
        }))
    }

    /// Stores already parsed inputs as import `key` (import and devnet seeding share this
    /// path). The journal says where it got to, so that a crash is undone (records written,
    /// none announced) or finished (all written, announcing) at the next start.
    pub async fn store_inputs(
        &self,
        node: &FirearmsNode,
        table: Arc<ReferenceTable>,
        items: Vec<import::ImportItem>,
        import_key: ImportKey,
    ) -> Result<ImportOutcome, FirearmsError> {
        // No write lock: an import only adds records, each with its own sequence numbers, so
        // imports run side by side (one parses and validates while another writes).
        let key = node.digest_key;
        let tree = self.records.clone();
        let count = items.len() as u64;
        let first = self.allocate(count);
        let mut state = ImportState {
            first,
            count,
            phase: ImportPhase::Storing,
            outcome: None,
        };
        self.journal.set_import(&import_key, &state)?;
        let refs = self.refs.clone();
        let started = std::time::Instant::now();
        let (digests, imported, rejected, rejected_total) =
            tokio::task::spawn_blocking(move || {
                store_batch(&tree, &table, &key, &refs, first, items)
            })
            .await
            .map_err(FirearmsError::Task)??;
        let stored_ms = started.elapsed().as_millis() as u64;
        let announced = digests.len() as u64;
        let outcome = ImportOutcome {
            imported,
            rejected,
            rejected_total,
            announced,
            repeated: false,
        };
        state.phase = ImportPhase::Announcing;
        state.outcome = Some(outcome.clone());
        self.journal.set_import(&import_key, &state)?;
        self.announce(node, &digests).await?;
        if digests.is_empty() {
            node.store.flush().await?;
        }
        state.phase = ImportPhase::Done;
        self.journal.set_import(&import_key, &state)?;
        tracing::debug!(
            imported,
            stored_ms,
            announced_ms = started.elapsed().as_millis() as u64 - stored_ms,
            "import stored and announced"
        );
        Ok(outcome)
    }

    /// Finishes what a crash interrupted: announces records changed but maybe not announced,
    /// undoes imports whose records were being written (none of them was announced, and the
    /// caller got no answer), and announces imports whose records were all written. Run once
    /// at start, before anything else writes records.
    pub async fn reconcile(&self, node: &FirearmsNode) -> Result<(), FirearmsError> {
        let _writing = self.writes.lock().await;
        for (key, state) in self.journal.unfinished_imports()? {
            let range = state.first..state.first.saturating_add(state.count);
            match state.phase {
                ImportPhase::Storing => {
                    for n in range {
                        self.records.remove(store_key(n))?;
                    }
                    self.journal.remove_import(&key)?;
                    tracing::warn!(
                        records = state.count,
                        "an import interrupted by a crash was undone; send it again"
                    );
                }
                ImportPhase::Announcing | ImportPhase::Done => {
                    let digests = self.digests_of_range(node, range)?;
                    self.announce(node, &digests).await?;
                    self.journal.set_import(
                        &key,
                        &ImportState {
                            phase: ImportPhase::Done,
                            ..state
                        },
                    )?;
                    tracing::info!(
                        digests = digests.len(),
                        "an import interrupted by a crash was announced"
                    );
                }
            }
        }
        for n in self.journal.marked_records()? {
            let id = self.refs.encrypt(n);
            match self
                .record(&id)?
                .map(|r| digest_of(&node.digest_key, &r.record, id))
            {
                Some(Some(digest)) => node.publish(Body::FirearmDigests(vec![digest])).await?,
                // Not active (or never stored): whatever was announced of it is withdrawn.
                _ => node.publish(Body::FirearmRetractions(vec![id])).await?,
            };
            self.journal.clear_record(n)?;
        }
        node.store.flush().await?;
        Ok(())
    }

    fn digests_of_range(
        &self,
        node: &FirearmsNode,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<FirearmDigest>, FirearmsError> {
        let table = self.table();
        let mut digests = Vec::new();
        for item in self
            .records
            .range(store_key(range.start)..store_key(range.end))
        {
            let (key, value) = item?;
            let Ok(bytes) = <[u8; 8]>::try_from(key.as_ref()) else {
                continue;
            };
            let id = self.refs.encrypt(u64::from_be_bytes(bytes));
            match StoredRecord::decode(&value, &table) {
                Ok(stored) => digests.extend(digest_of(&node.digest_key, &stored.record, id)),
                Err(e) => tracing::error!("record not announced: {e}"),
            }
        }
        Ok(digests)
    }

    /// Publishes `digests` in entries of `ANNOUNCE_BATCH`, together: the core appends them in
    /// order and one flush covers many.
    async fn announce(
        &self,
        node: &FirearmsNode,
        digests: &[FirearmDigest],
    ) -> Result<(), FirearmsError> {
        futures::future::try_join_all(
            digests
                .chunks(ANNOUNCE_BATCH)
                .map(|chunk| node.publish(Body::FirearmDigests(chunk.to_vec()))),
        )
        .await?;
        Ok(())
    }
}

/// An import running here; its key is released when dropped.
struct ImportRunning<'a> {
    firearms: &'a Firearms,
    key: ImportKey,
}

impl Drop for ImportRunning<'_> {
    fn drop(&mut self) {
        let mut running = self
            .firearms
            .importing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        running.remove(&self.key);
    }
}

/// The key of an import sent without one: the hash of its format and bytes.
pub fn content_key(format: import::ImportFormat, bytes: &[u8]) -> ImportKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"striae-import-v1:");
    hasher.update(format!("{format:?}").as_bytes());
    hasher.update(&[0]);
    hasher.update(bytes);
    *hasher.finalize().as_bytes()
}

type BatchResult = (Vec<FirearmDigest>, u64, Vec<Rejection>, u64);
/// A validated line: its sequence number, stored bytes and digest (if announced).
type Prepared = (u64, Vec<u8>, Option<FirearmDigest>);

/// Validates `items` in parallel and writes the good ones.
fn store_batch(
    tree: &Keyspace,
    table: &ReferenceTable,
    key: &striae_protocol::firearm::DigestKey,
    refs: &RefCipher,
    first: u64,
    items: Vec<import::ImportItem>,
) -> Result<BatchResult, FirearmsError> {
    use rayon::prelude::*;
    let now = now_ms();
    let started = std::time::Instant::now();
    // Each line gets its own sequence number (refused lines leave a gap), so the parallel
    // work needs no coordination and the writes stay in key order.
    let checked: Vec<(u64, Result<Prepared, String>)> = items
        .into_par_iter()
        .enumerate()
        .map(|(i, (line, parsed))| {
            // Rejections are reported as text, with validation's messages.
            let parsed = parsed.map_err(|e| e.to_string());
            let outcome = parsed.and_then(|input: FirearmInput| {
                let record = validate_input(&input, table)
                    .map_err(|errors| records::describe_errors(&errors).1)?;
                let n = first + i as u64;
                let digest = digest_of(key, &record, refs.encrypt(n));
                Ok((n, encode_input(&input, now, now), digest))
            });
            (line, outcome)
        })
        .collect();
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "import validated"
    );
    let mut digests = Vec::new();
    let mut rejected = Vec::new();
    let (mut imported, mut rejected_total) = (0u64, 0u64);
    // Plain inserts, not sled batches: a batch takes sled's process-wide lock and would stall
    // replication (every other reader and writer) for as long as it runs.
    for (line, outcome) in checked {
        match outcome {
            Ok((n, bytes, digest)) => {
                tree.insert(store_key(n), bytes)?;
                imported += 1;
                digests.extend(digest);
            }
            Err(error) => {
                rejected_total += 1;
                if rejected.len() < MAX_LISTED_REJECTIONS {
                    rejected.push(Rejection { line, error });
                }
            }
        }
    }
    Ok((digests, imported, rejected, rejected_total))
}

/// A member's reference addition carried by `entry`, with where it sorts; one that does not
/// parse or validate is skipped (and logged), never fatal.
fn parse_addition(entry: &VerifiedEntry) -> Option<(AdditionOrder, ReferenceAddition)> {
    let Body::ReferenceAddition(json) = &entry.entry.body else {
        return None;
    };
    let (origin, seq) = (entry.entry.origin, entry.entry.seq);
    let addition: ReferenceAddition = match serde_json::from_str(json) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(%origin, seq, "reference addition does not parse: {e}");
            return None;
        }
    };
    if let Err(e) = addition.validate() {
        tracing::warn!(%origin, seq, "reference addition refused: {e}");
        return None;
    }
    let order = AdditionOrder {
        timestamp_ms: entry.entry.timestamp_ms,
        origin: origin.0,
        seq,
    };
    Some((order, addition))
}
