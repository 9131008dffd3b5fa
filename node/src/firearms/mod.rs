//! Firearm records at this node, the reference table (built-in plus members' additions), the
//! digests held from every member, checks, and traces between members.
//!
//! - `records`: this node's records in sled and the digests announcing them;
//! - `imports`: bulk imports, once per key, and finishing what a crash interrupted;
//! - `journal`: changes not yet announced and imports already done (crash recovery and
//!   idempotent imports);
//! - `index`: the in-memory digest index, rebuilt from the stored feeds at start and kept
//!   current by [`Firearms::project`];
//! - `traces`: signed trace requests and answers, the review queue and the delivery outbox;
//! - `queries`: signed serial-pattern queries and answers (partial or obliterated serials),
//!   answered from `serials`, the in-memory serials of this node's records;
//! - `seed`: example records for the devnet.

pub mod export;
pub mod identity;
mod imports;
mod in_flight;
pub mod index;
pub mod journal;
pub mod queries;
pub mod records;
mod seed;
pub mod serials;
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
    AdditionOrder, FirearmRecord, MergedReference, ReferenceAddition, ReferenceTable,
};
use striae_protocol::{
    Body, BureauId, SyncRequest, SyncResponse, VerifiedEntry,
    firearm::{MAX_DIGESTS_PER_ENTRY, RecordRef},
    time::now_ms,
};

use crate::{
    config::{NodeConfig, QueryPolicy, TracePolicy},
    context::Context,
    core::{Capability, CoreError},
    store::{Keyspace, Store, StoreError},
};

pub use seed::seed_devnet;
pub use traces::{on_trace_answer, on_trace_request, tick};

use index::{DigestIndex, Hit};
use journal::{ImportKey, Journal};
use records::{
    META_TREE, RECORDS_TREE, RefCipher, StoredRecord, digest_of, query_digests, query_make_keys,
    store_key,
};
use serials::{SerialIndex, SerialMatch};
use striae_firearms_lib::SerialPattern;
use striae_protocol::query::QueryMatch;

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
        // The serials of a large register take seconds to read: off the start path.
        self.firearms.catch_up_serials_later();
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
        matches!(
            request,
            SyncRequest::Trace(_)
                | SyncRequest::TraceAnswer(_)
                | SyncRequest::Query(_)
                | SyncRequest::QueryAnswer(_)
        )
    }

    fn on_request(&self, from: BureauId, request: SyncRequest) -> BoxFuture<'_, SyncResponse> {
        Box::pin(async move {
            match request {
                SyncRequest::Trace(message) => on_trace_request(self, from, message).await,
                SyncRequest::TraceAnswer(message) => on_trace_answer(self, from, message).await,
                SyncRequest::Query(message) => queries::on_query_request(self, from, message).await,
                SyncRequest::QueryAnswer(message) => {
                    queries::on_query_answer(self, from, message).await
                }
                _ => SyncResponse::Refused("not a firearm request".into()),
            }
        })
    }

    fn tick(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            tick(self).await;
            queries::tick(self).await;
        })
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
    queries: queries::QueryStore,
    query_policy: QueryPolicy,
    /// The serials of this node's records, for pattern queries (built after start).
    serials: RwLock<SerialIndex>,
    journal: Journal,
    /// Which record a firearm already is (make and serial), so imports update, not duplicate.
    identities: identity::Identities,
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
    /// New records stored.
    pub imported: u64,
    /// Records this node held already that lines changed (a line names a record by its make
    /// and serial).
    #[serde(default)]
    pub updated: u64,
    /// Lines that said what the record they name says already: nothing stored or announced.
    #[serde(default)]
    pub unchanged: u64,
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
        let identities = identity::Identities::read(&records, &table)?;
        let firearms = Firearms {
            identities,
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
            queries: queries::QueryStore::open(store)?,
            query_policy: config.queries,
            serials: RwLock::new(SerialIndex::default()),
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

    /// Work waiting in the trace and query exchanges (see `TraceStore::depths`).
    pub fn queue_depths(&self) -> Vec<(&'static str, usize)> {
        let mut depths = self.traces.depths().to_vec();
        depths.extend(self.queries.depths());
        depths
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

    /// How serial-pattern queries from other members are answered.
    pub fn query_policy(&self) -> QueryPolicy {
        self.query_policy
    }

    /// Reads into the serial index the records written since it last looked, a slice at a
    /// time so that queries waiting for the index are not held up for long.
    pub(crate) fn catch_up_serials(&self) -> Result<(), StoreError> {
        const SLICE: usize = 20_000;
        let table = self.table();
        let started = std::time::Instant::now();
        let mut read_any = false;
        loop {
            let mut serials = self.serials.write().unwrap_or_else(|p| p.into_inner());
            let more = serials.catch_up(&self.records, &table, SLICE)?;
            if !more {
                if read_any {
                    tracing::info!(
                        rows = serials.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "serials of this node's records read for pattern queries"
                    );
                }
                return Ok(());
            }
            read_any = true;
        }
    }

    /// Catches the serial index up in the background (after an import, or at start).
    pub(crate) fn catch_up_serials_later(self: &Arc<Self>) {
        let firearms = self.clone();
        std::thread::spawn(move || {
            if let Err(e) = firearms.catch_up_serials() {
                tracing::error!("cannot read the records' serials: {e}");
            }
        });
    }

    /// This node's records of make `make` whose serial matches `pattern`, exact matches
    /// first, at most `limit`, and whether more matched. Each is read back and matched again
    /// (the index may hold rows of records changed since).
    pub fn match_serials(
        &self,
        make: &str,
        pattern: &SerialPattern,
        limit: usize,
    ) -> Result<(Vec<SerialMatch>, bool), StoreError> {
        self.catch_up_serials()?;
        let table = self.table();
        let make_keys = query_make_keys(&table, make);
        // Stale rows are rare: a few candidates more than asked leave room for them.
        let (candidates, mut more) = self
            .serials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .matching(&make_keys, pattern, limit + 16);
        let mut out = Vec::new();
        for candidate in candidates {
            let Some(bytes) = self.records.get(store_key(candidate.seq))? else {
                continue;
            };
            let Ok(stored) = StoredRecord::decode(&bytes, &table) else {
                continue;
            };
            let make_now = records::make_key(&stored.record.make.normalised);
            if !make_keys.contains(&make_now) {
                continue;
            }
            if let Some(exact) = pattern.match_kind(&stored.record.serial.normalised) {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(SerialMatch {
                    seq: candidate.seq,
                    exact,
                });
            }
        }
        Ok((out, more))
    }

    /// What a query answer discloses of the records `matches` names (those still held).
    pub fn disclosed(&self, matches: &[SerialMatch]) -> Result<Vec<QueryMatch>, StoreError> {
        let table = self.table();
        let mut out = Vec::new();
        for m in matches {
            let Some(bytes) = self.records.get(store_key(m.seq))? else {
                continue;
            };
            let Ok(stored) = StoredRecord::decode(&bytes, &table) else {
                continue;
            };
            let r = &stored.record;
            out.push(QueryMatch {
                record_ref: self.refs.encrypt(m.seq),
                make: r.make.normalised.canonical.clone(),
                model: r.model.normalised.canonical.clone(),
                caliber: r.caliber.normalised.canonical.clone(),
                serial: r.serial.normalised.clone(),
                status: r.status.as_str().to_string(),
                exact: m.exact,
            });
        }
        Ok(out)
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

    /// Keeps the serial index current for a record replaced in place (new records are read
    /// from the tree by sequence number).
    fn serials_replaced(&self, seq: u64, stored: &StoredRecord) {
        self.serials
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replaced(seq, stored);
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
        self.identities.changed(n, None, Some(&stored.record));
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
        self.identities
            .changed(n, Some(&old.record), Some(&stored.record));
        self.serials_replaced(n, &stored);
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
