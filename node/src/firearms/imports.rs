//! Bulk imports and crash recovery of record announcements: parsing and validating a CSV
//! or NDJSON document in parallel off the async runtime, storing the good records, announcing
//! them in large digest entries, once per import key; and, at start, finishing or undoing
//! what a crash interrupted (see `journal`).

use std::sync::Arc;

use striae_firearms_lib::{FirearmInput, ReferenceTable, import, validate_input};
use striae_protocol::{Body, firearm::FirearmDigest, time::now_ms};

use super::{
    ANNOUNCE_BATCH, Firearms, FirearmsError, FirearmsNode, ImportOutcome, MAX_LISTED_REJECTIONS,
    Rejection,
    identity::{Claims, Identities, Identity, identity_of},
    journal::{ImportKey, ImportPhase, ImportState},
    records::{self, RefCipher, StoredRecord, digest_of, encode_input, store_key, stored_input},
};
use crate::{metrics::Metrics, store::Keyspace};

impl Firearms {
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
        let outcome = self.store_inputs(node, table, items, key).await;
        drop(_running);
        read_serials_when_quiet(node);
        outcome
    }

    /// Whether an import is running now.
    pub(super) fn importing(&self) -> bool {
        !self
            .importing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
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
        let batch_table = table.clone();
        let identities = self.identities.clone();
        let batch = tokio::task::spawn_blocking(move || {
            let target = Target {
                tree: &tree,
                identities: &identities,
                table: &batch_table,
                key: &key,
                refs: &refs,
            };
            store_batch(&target, first, items)
        })
        .await
        .map_err(FirearmsError::Task)??;
        let Batch {
            digests,
            imported,
            rejected,
            rejected_total,
            changed,
            unchanged,
        } = batch;
        let stored_ms = started.elapsed().as_millis() as u64;
        Metrics::count(&node.metrics.import_lines, "created", imported);
        Metrics::count(&node.metrics.import_lines, "refused", rejected_total);
        let announced = digests.len() as u64;
        let mut outcome = ImportOutcome {
            imported,
            updated: 0,
            unchanged,
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
        outcome.updated = self.apply_changes(node, &table, changed).await?;
        Metrics::count(&node.metrics.import_lines, "updated", outcome.updated);
        Metrics::count(&node.metrics.import_lines, "unchanged", unchanged);
        state.outcome = Some(outcome.clone());
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

    /// Replaces the records that lines of an import changed, each as an edit would (its new
    /// digest or its retraction announced); how many.
    async fn apply_changes(
        &self,
        node: &FirearmsNode,
        table: &ReferenceTable,
        changed: Vec<(u64, FirearmInput)>,
    ) -> Result<u64, FirearmsError> {
        let mut updated = 0;
        for (n, input) in changed {
            let id = self.refs.encrypt(n);
            let replaced = self
                .replace(node, id, |_| validate_input(&input, table))
                .await?;
            if matches!(replaced, Some(Ok(_))) {
                updated += 1;
            }
        }
        Ok(updated)
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
                        if let Some(value) = self.records.get(store_key(n))? {
                            self.identities.forget(n, &value);
                        }
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
                    // The lines that changed existing records may not all have been applied,
                    // and the caller had no answer: the import is forgotten, so that sending
                    // it again applies them (its new records are known by identity now and
                    // are not added twice).
                    self.journal.remove_import(&key)?;
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
pub(super) fn content_key(format: import::ImportFormat, bytes: &[u8]) -> ImportKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"striae-import-v1:");
    hasher.update(format!("{format:?}").as_bytes());
    hasher.update(&[0]);
    hasher.update(bytes);
    *hasher.finalize().as_bytes()
}

/// Where an import's lines go.
struct Target<'a> {
    tree: &'a Keyspace,
    identities: &'a Identities,
    table: &'a ReferenceTable,
    key: &'a striae_protocol::firearm::DigestKey,
    refs: &'a RefCipher,
}

/// What storing an import's lines did.
struct Batch {
    /// Digests of the new records, to announce.
    digests: Vec<FirearmDigest>,
    /// New records stored.
    imported: u64,
    rejected: Vec<Rejection>,
    rejected_total: u64,
    /// Lines naming an existing record with different contents: (its sequence number, the
    /// line), applied as edits once the new records are announced.
    changed: Vec<(u64, FirearmInput)>,
    /// Lines naming an existing record with the same contents.
    unchanged: u64,
}

/// A validated line: its sequence number, stored bytes, digest (if announced), identity and
/// the input itself.
struct Prepared {
    n: u64,
    bytes: Vec<u8>,
    digest: Option<FirearmDigest>,
    identity: Option<Identity>,
    input: FirearmInput,
}

/// Validates `items` in parallel and writes the good ones: a new firearm as a new record, a
/// firearm this node records already as a change to that record (or nothing, if the line
/// says what the record says).
fn store_batch(
    target: &Target<'_>,
    first: u64,
    items: Vec<import::ImportItem>,
) -> Result<Batch, FirearmsError> {
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
                let record = validate_input(&input, target.table)
                    .map_err(|errors| records::describe_errors(&errors).1)?;
                let n = first + i as u64;
                Ok(Prepared {
                    n,
                    bytes: encode_input(&input, now, now, identity_of(&record)),
                    digest: digest_of(target.key, &record, target.refs.encrypt(n)),
                    identity: identity_of(&record),
                    input,
                })
            });
            (line, outcome)
        })
        .collect();
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "import validated"
    );
    let mut batch = Batch {
        digests: Vec::new(),
        imported: 0,
        rejected: Vec::new(),
        rejected_total: 0,
        changed: Vec::new(),
        unchanged: 0,
    };
    // Plain inserts, not sled batches: a batch takes sled's process-wide lock and would stall
    // replication (every other reader and writer) for as long as it runs.
    let mut claims = target.identities.claiming();
    for (line, outcome) in checked {
        match outcome {
            Ok(prepared) => store_line(target, &mut claims, &mut batch, prepared)?,
            Err(error) => {
                batch.rejected_total += 1;
                if batch.rejected.len() < MAX_LISTED_REJECTIONS {
                    batch.rejected.push(Rejection { line, error });
                }
            }
        }
    }

    Ok(batch)
}

/// Stores one validated line as a new record, or notes it as a change to (or a repeat of)
/// the record it names. A firearm named twice in one file is a record and then its change.
fn store_line(
    target: &Target<'_>,
    claims: &mut Claims<'_>,
    batch: &mut Batch,
    prepared: Prepared,
) -> Result<(), FirearmsError> {
    let existing = prepared
        .identity
        .and_then(|identity| claims.get(&identity).copied());
    if let Some(n) = existing {
        let same = target
            .tree
            .get(store_key(n))?
            .map(|value| stored_input(&value))
            .transpose()?
            .is_some_and(|stored| stored == prepared.input);
        if same {
            batch.unchanged += 1;
        } else {
            batch.changed.push((n, prepared.input));
        }
        return Ok(());
    }
    target.tree.insert(store_key(prepared.n), prepared.bytes)?;
    if let Some(identity) = prepared.identity {
        claims.insert(identity, prepared.n);
    }
    batch.imported += 1;
    batch.digests.extend(prepared.digest);
    Ok(())
}

/// Reads newly imported records into the serial index once imports have paused for a moment,
/// so that the first pattern query after a large import does not wait for them, and a run
/// of imports is not slowed down by reading back what it just wrote.
fn read_serials_when_quiet(node: &FirearmsNode) {
    let firearms = node.firearms.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        if !firearms.importing() {
            firearms.catch_up_serials_later();
        }
    });
}
