//! The operations, joins and seizure records this node holds, each as the signed message it
//! arrived as (or that this node signed), and the bounds on what one member can make it hold:
//! operations per coordinator, seizure records and their bytes per operation and per author,
//! and messages and bytes waiting in the outbox per recipient. The tallies live in memory,
//! rebuilt from the keyspaces at start, and every write that grows one checks it under one
//! lock.
//!
//! Keyspaces (sled, through `Store::keyspace`):
//! - `operations`: operation id → the coordinator's signed `Operation`;
//! - `operation_joins`: operation id ‖ participant → its signed join (empty for the
//!   coordinator, which joins by creating);
//! - `operation_seizures`: operation id ‖ author ‖ seizure id → the author's signed `Seizure`;
//! - `operation_outbox`: recipient ‖ seq → a delivery waiting for that member;
//! - `operation_pending`: this node's own messages stored but perhaps not yet queued (see
//!   `outbox::requeue_pending`).

use std::{
    collections::HashMap,
    ops::Bound,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use striae_protocol::{
    BureauId, SignedMessage, codec,
    operation::{MAX_OPERATION_BYTES, MAX_SEIZURE_BYTES, Operation, OperationId, Seizure},
    signed::decode_stored_value,
};

use super::OperationsError;
use crate::store::{Keyspace, Store, StoreError};

/// Operations one coordinator can make this node hold.
pub const MAX_OPERATIONS_PER_COORDINATOR: usize = 1_024;
/// Seizure records one operation holds, all participants together.
pub const MAX_SEIZURES_PER_OPERATION: usize = 8_192;
/// Seizure records one participant may add to one operation, so no participant can use up
/// the operation's bound for the others.
pub const MAX_SEIZURES_PER_AUTHOR: usize = 1_024;
/// Bytes of seizure records one operation holds.
const MAX_SEIZURE_BYTES_PER_OPERATION: usize = 32 << 20;
/// Bytes of seizure records one participant may add to one operation.
const MAX_SEIZURE_BYTES_PER_AUTHOR: usize = 4 << 20;
/// Messages waiting for one member; past this, new ones are refused until it is back.
const MAX_OUTBOX_PER_MEMBER: usize = 16_384;
/// Bytes waiting for one member.
const MAX_OUTBOX_BYTES_PER_MEMBER: usize = 64 << 20;

/// Largest stored signed operation (the value, and its signature and lengths).
const MAX_STORED_OPERATION: usize = MAX_OPERATION_BYTES + 128;
/// Largest stored signed seizure record.
const MAX_STORED_SEIZURE: usize = MAX_SEIZURE_BYTES + 128;
/// Largest stored signed join.
const MAX_STORED_JOIN: usize = 1024;

/// An operation held, with the coordinator's signed message it came as.
#[derive(Clone, Debug)]
pub struct HeldOperation {
    /// The operation.
    pub op: Operation,
    /// As the coordinator signed it.
    pub signed: SignedMessage,
}

/// A seizure record held, with its author's signed message.
#[derive(Clone, Debug)]
pub struct HeldSeizure {
    /// The record.
    pub seizure: Seizure,
    /// As its author signed it.
    pub signed: SignedMessage,
}

/// Where a page of seizure records stops: the last record's author and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeizureCursor {
    /// The author of the last record of the page.
    pub author: BureauId,
    /// Its id.
    pub seizure_id: [u8; 16],
}

impl SeizureCursor {
    /// The cursor after `held`.
    pub fn after(held: &HeldSeizure) -> Self {
        SeizureCursor {
            author: held.seizure.author,
            seizure_id: held.seizure.seizure_id,
        }
    }

    /// 96 hex characters.
    pub fn to_hex(&self) -> String {
        let mut bytes = self.author.0.to_vec();
        bytes.extend_from_slice(&self.seizure_id);
        hex::encode(bytes)
    }

    /// From `to_hex`'s form.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 48];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        let mut author = [0u8; 32];
        author.copy_from_slice(&bytes[..32]);
        let mut seizure_id = [0u8; 16];
        seizure_id.copy_from_slice(&bytes[32..]);
        Some(SeizureCursor {
            author: BureauId(author),
            seizure_id,
        })
    }
}

/// Whether a write stored something new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kept {
    /// Stored.
    New,
    /// Held already (a delivery tried again); nothing changed.
    Same,
}

/// Seizure records held for one operation, in all and per author: (records, bytes).
#[derive(Default)]
struct SeizureTally {
    all: (usize, usize),
    by_author: HashMap<BureauId, (usize, usize)>,
}

#[derive(Default)]
struct Tallies {
    per_coordinator: HashMap<BureauId, usize>,
    seizures: HashMap<OperationId, SeizureTally>,
    /// (messages, bytes) waiting per recipient.
    outbox: HashMap<BureauId, (usize, usize)>,
}

/// The keyspaces and the tallies that bound them.
pub(super) struct Held {
    operations: Keyspace,
    joins: Keyspace,
    seizures: Keyspace,
    pub(super) outbox: Keyspace,
    pub(super) pending: Keyspace,
    tallies: Mutex<Tallies>,
    next_seq: AtomicU64,
}

fn bureau_at(key: &[u8], at: usize) -> Option<BureauId> {
    key.get(at..at + 32)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(BureauId)
}

/// The key of a seizure record.
pub(super) fn seizure_key(s: &Seizure) -> Vec<u8> {
    let mut key = s.operation.0.to_vec();
    key.extend_from_slice(&s.author.0);
    key.extend_from_slice(&s.seizure_id);
    key
}

pub(super) fn join_key(id: &OperationId, participant: &BureauId) -> Vec<u8> {
    let mut key = id.0.to_vec();
    key.extend_from_slice(&participant.0);
    key
}

impl Held {
    /// Opens the keyspaces and counts what they hold.
    pub(super) fn open(store: &Store) -> Result<Self, StoreError> {
        let held = Held {
            operations: store.keyspace("operations")?,
            joins: store.keyspace("operation_joins")?,
            seizures: store.keyspace("operation_seizures")?,
            outbox: store.keyspace("operation_outbox")?,
            pending: store.keyspace("operation_pending")?,
            tallies: Mutex::new(Tallies::default()),
            next_seq: AtomicU64::new(0),
        };
        held.count()?;
        Ok(held)
    }

    fn count(&self) -> Result<(), StoreError> {
        let mut t = Tallies::default();
        for item in self.operations.iter() {
            let (_, value) = item?;
            let held = decode_operation(&value)?;
            *t.per_coordinator.entry(held.op.coordinator).or_default() += 1;
        }
        for item in self.seizures.iter() {
            let (key, value) = item?;
            let (Some(id), Some(author)) = (
                key.get(..16)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(OperationId),
                bureau_at(&key, 16),
            ) else {
                return Err(StoreError::corrupt("operation_seizures", "short key"));
            };
            add(t.seizures.entry(id).or_default(), author, value.len());
        }
        let mut last_seq = None;
        for item in self.outbox.iter() {
            let (key, value) = item?;
            let (Some(recipient), Some(seq)) = (
                bureau_at(&key, 0),
                key.get(32..40)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes),
            ) else {
                return Err(StoreError::corrupt("operation_outbox", "short key"));
            };
            let waiting = t.outbox.entry(recipient).or_default();
            waiting.0 += 1;
            waiting.1 += value.len();
            last_seq = last_seq.max(Some(seq));
        }
        self.next_seq
            .store(last_seq.map_or(0, |s| s + 1), Ordering::SeqCst);
        *self.lock() = t;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Tallies> {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---------------------------------------------------------------- operations

    /// One operation.
    pub(super) fn get(&self, id: &OperationId) -> Result<Option<HeldOperation>, StoreError> {
        self.operations
            .get(id.0)?
            .map(|v| decode_operation(&v))
            .transpose()
    }

    /// Operations after `after` in id order, at most `limit`.
    pub(super) fn list(
        &self,
        after: Option<OperationId>,
        limit: usize,
    ) -> Result<Vec<HeldOperation>, StoreError> {
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.0.to_vec()));
        let mut out = Vec::new();
        for item in self
            .operations
            .range::<Vec<u8>>((start, Bound::Unbounded))
            .take(limit)
        {
            let (_, value) = item?;
            out.push(decode_operation(&value)?);
        }
        Ok(out)
    }

    /// Keeps `held` unless this node holds it or a later version already. A new operation
    /// counts against its coordinator's bound; a different operation under a held id and
    /// version is refused.
    pub(super) fn keep_operation(&self, held: &HeldOperation) -> Result<Kept, OperationsError> {
        let mut tallies = self.lock();
        let id = held.op.id;
        match self.get(&id)? {
            Some(mine) if mine.signed == held.signed || mine.op.version > held.op.version => {
                return Ok(Kept::Same);
            }
            Some(mine) if mine.op.version == held.op.version => {
                return Err(OperationsError::Conflict(format!(
                    "another operation {id} version {} is held already",
                    mine.op.version
                )));
            }
            Some(_) => {}
            None => {
                let count = tallies
                    .per_coordinator
                    .entry(held.op.coordinator)
                    .or_default();
                if *count >= MAX_OPERATIONS_PER_COORDINATOR {
                    return Err(OperationsError::Conflict(format!(
                        "this coordinator has {MAX_OPERATIONS_PER_COORDINATOR} operations held here already"
                    )));
                }
                *count += 1;
            }
        }
        let bytes = codec::encode(&held.signed, MAX_STORED_OPERATION)
            .map_err(|e| StoreError::corrupt("operations", e))?;
        self.operations.insert(id.0, bytes)?;
        Ok(Kept::New)
    }

    // ---------------------------------------------------------------- joins

    /// Notes that `participant` joined, with its signed join (`None`: the coordinator, which
    /// joins by creating the operation).
    pub(super) fn keep_join(
        &self,
        id: &OperationId,
        participant: &BureauId,
        signed: Option<&SignedMessage>,
    ) -> Result<Kept, StoreError> {
        let value = match signed {
            Some(s) => codec::encode(s, MAX_STORED_JOIN)
                .map_err(|e| StoreError::corrupt("operation_joins", e))?,
            None => Vec::new(),
        };
        let stored = self
            .joins
            .insert_if_absent(join_key(id, participant), value)?;
        Ok(if stored { Kept::New } else { Kept::Same })
    }

    /// Whether `participant` has joined.
    pub(super) fn has_joined(
        &self,
        id: &OperationId,
        participant: &BureauId,
    ) -> Result<bool, StoreError> {
        self.joins.contains_key(join_key(id, participant))
    }

    /// The signed join of `participant` (`None` inside: the coordinator's implicit join).
    pub(super) fn join_of(
        &self,
        id: &OperationId,
        participant: &BureauId,
    ) -> Result<Option<Option<SignedMessage>>, StoreError> {
        let Some(value) = self.joins.get(join_key(id, participant))? else {
            return Ok(None);
        };
        if value.is_empty() {
            return Ok(Some(None));
        }
        codec::decode_stored(&value, MAX_STORED_JOIN)
            .map(|s| Some(Some(s)))
            .map_err(|e| StoreError::corrupt("operation_joins", e))
    }

    /// Who joined, with when (ms; the coordinator's is the operation's creation).
    pub(super) fn joined(
        &self,
        held: &HeldOperation,
    ) -> Result<HashMap<BureauId, u64>, StoreError> {
        let mut out = HashMap::new();
        for item in self.joins.scan_prefix(held.op.id.0) {
            let (key, value) = item?;
            let Some(who) = bureau_at(&key, 16) else {
                continue;
            };
            let at = if value.is_empty() {
                held.op.issued_at_ms
            } else {
                codec::decode_stored::<SignedMessage>(&value, MAX_STORED_JOIN)
                    .ok()
                    .and_then(|s| {
                        decode_stored_value::<striae_protocol::operation::OperationJoin>(&s.bytes)
                            .ok()
                    })
                    .map_or(0, |j| j.joined_at_ms)
            };
            out.insert(who, at);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- seizures

    /// Keeps a seizure record within the operation's and its author's bounds; the same
    /// record again is a no-op, a different one under its id is refused.
    pub(super) fn keep_seizure(&self, held: &HeldSeizure) -> Result<Kept, OperationsError> {
        let key = seizure_key(&held.seizure);
        let bytes = codec::encode(&held.signed, MAX_STORED_SEIZURE)
            .map_err(|e| StoreError::corrupt("operation_seizures", e))?;
        let mut tallies = self.lock();
        if let Some(existing) = self.seizures.get(&key)? {
            if existing == bytes {
                return Ok(Kept::Same);
            }
            return Err(OperationsError::Conflict(
                "another seizure record is held under this id".into(),
            ));
        }
        let tally = tallies.seizures.entry(held.seizure.operation).or_default();
        let mine = tally
            .by_author
            .get(&held.seizure.author)
            .copied()
            .unwrap_or_default();
        if tally.all.0 >= MAX_SEIZURES_PER_OPERATION
            || tally.all.1 + bytes.len() > MAX_SEIZURE_BYTES_PER_OPERATION
        {
            return Err(OperationsError::Conflict(format!(
                "the operation holds the most seizure records it may ({MAX_SEIZURES_PER_OPERATION})"
            )));
        }
        if mine.0 >= MAX_SEIZURES_PER_AUTHOR || mine.1 + bytes.len() > MAX_SEIZURE_BYTES_PER_AUTHOR
        {
            return Err(OperationsError::Conflict(format!(
                "this participant has recorded the most seizures it may in one operation ({MAX_SEIZURES_PER_AUTHOR})"
            )));
        }
        self.seizures.insert(&key, &bytes)?;
        add(tally, held.seizure.author, bytes.len());
        Ok(Kept::New)
    }

    /// A seizure record by its key.
    pub(super) fn seizure(&self, key: &[u8]) -> Result<Option<HeldSeizure>, StoreError> {
        self.seizures
            .get(key)?
            .map(|v| decode_seizure(&v))
            .transpose()
    }

    /// Seizure records held for `id`.
    pub(super) fn seizure_count(&self, id: &OperationId) -> usize {
        self.lock().seizures.get(id).map_or(0, |t| t.all.0)
    }

    /// A page of `id`'s seizure records (by author, then in the order each recorded them).
    pub(super) fn seizure_page(
        &self,
        id: &OperationId,
        after: Option<SeizureCursor>,
        limit: usize,
    ) -> Result<Vec<HeldSeizure>, StoreError> {
        let start = match after {
            Some(c) => {
                let mut key = id.0.to_vec();
                key.extend_from_slice(&c.author.0);
                key.extend_from_slice(&c.seizure_id);
                Bound::Excluded(key)
            }
            None => Bound::Included(id.0.to_vec()),
        };
        let mut out = Vec::new();
        for item in self
            .seizures
            .range::<Vec<u8>>((start, Bound::Unbounded))
            .take(limit)
        {
            let (key, value) = item?;
            if !key.starts_with(&id.0) {
                break;
            }
            out.push(decode_seizure(&value)?);
        }
        Ok(out)
    }

    /// Every seizure record of `id` (bounded by `MAX_SEIZURES_PER_OPERATION`), passed to
    /// `each` one at a time.
    pub(super) fn each_seizure(
        &self,
        id: &OperationId,
        mut each: impl FnMut(HeldSeizure),
    ) -> Result<(), StoreError> {
        for item in self.seizures.scan_prefix(id.0) {
            let (_, value) = item?;
            each(decode_seizure(&value)?);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- outbox

    /// The first recipient whose outbox has no room for one more message of `bytes`.
    pub(super) fn outbox_full(&self, recipients: &[BureauId], bytes: usize) -> Option<BureauId> {
        let tallies = self.lock();
        recipients.iter().copied().find(|r| {
            let (count, used) = tallies.outbox.get(r).copied().unwrap_or_default();
            count >= MAX_OUTBOX_PER_MEMBER || used + bytes > MAX_OUTBOX_BYTES_PER_MEMBER
        })
    }

    /// Appends `value` to `recipient`'s outbox (after `outbox_full` said there is room:
    /// concurrent writers may pass the bound by a few messages, never more).
    pub(super) fn push_outbox(&self, recipient: &BureauId, value: &[u8]) -> Result<(), StoreError> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let mut key = recipient.0.to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        let mut tallies = self.lock();
        self.outbox.insert(key, value)?;
        let waiting = tallies.outbox.entry(*recipient).or_default();
        waiting.0 += 1;
        waiting.1 += value.len();
        Ok(())
    }

    /// Removes a delivered (or finally refused) message of `len` bytes.
    pub(super) fn pop_outbox(
        &self,
        recipient: &BureauId,
        key: &[u8],
        len: usize,
    ) -> Result<(), StoreError> {
        let mut tallies = self.lock();
        self.outbox.remove(key)?;
        if let Some(waiting) = tallies.outbox.get_mut(recipient) {
            waiting.0 = waiting.0.saturating_sub(1);
            waiting.1 = waiting.1.saturating_sub(len);
        }
        Ok(())
    }

    /// Messages waiting for every member together.
    pub(super) fn outbox_total(&self) -> usize {
        self.lock().outbox.values().map(|w| w.0).sum()
    }

    /// Messages waiting for `member`.
    pub(super) fn outbox_len(&self, member: &BureauId) -> usize {
        self.lock().outbox.get(member).map_or(0, |w| w.0)
    }

    /// Members with messages waiting.
    pub(super) fn waiting_members(&self) -> Vec<BureauId> {
        self.lock()
            .outbox
            .iter()
            .filter(|(_, w)| w.0 > 0)
            .map(|(m, _)| *m)
            .collect()
    }
}

fn add(tally: &mut SeizureTally, author: BureauId, bytes: usize) {
    tally.all.0 += 1;
    tally.all.1 += bytes;
    let mine = tally.by_author.entry(author).or_default();
    mine.0 += 1;
    mine.1 += bytes;
}

/// A stored operation (checked and verified when it was kept).
fn decode_operation(value: &[u8]) -> Result<HeldOperation, StoreError> {
    let signed: SignedMessage = codec::decode_stored(value, MAX_STORED_OPERATION)
        .map_err(|e| StoreError::corrupt("operations", e))?;
    let op =
        decode_stored_value(&signed.bytes).map_err(|e| StoreError::corrupt("operations", e))?;
    Ok(HeldOperation { op, signed })
}

/// A stored seizure record (checked and verified when it was kept).
fn decode_seizure(value: &[u8]) -> Result<HeldSeizure, StoreError> {
    let signed: SignedMessage = codec::decode_stored(value, MAX_STORED_SEIZURE)
        .map_err(|e| StoreError::corrupt("operation_seizures", e))?;
    let seizure = decode_stored_value(&signed.bytes)
        .map_err(|e| StoreError::corrupt("operation_seizures", e))?;
    Ok(HeldSeizure { seizure, signed })
}

#[cfg(test)]
mod tests {
    use striae_protocol::{
        NetworkId, Signer,
        operation::{Delivered, ItemCategory, OperationDelivery, Participant, SeizedItem},
    };

    use super::*;
    use crate::operations::outbox::{Pending, outbox_value, pending_key, queue, requeue_pending};

    fn net() -> NetworkId {
        NetworkId::from_name("test")
    }

    fn operation(coordinator: &Signer, others: &[BureauId], salt: u8) -> HeldOperation {
        let salt = [salt; 16];
        let mut participants = vec![Participant {
            bureau: coordinator.bureau(),
            country: "FR".into(),
        }];
        participants.extend(others.iter().map(|b| Participant {
            bureau: *b,
            country: "DE".into(),
        }));
        let op = Operation {
            id: OperationId::derive(&coordinator.bureau(), &salt),
            salt,
            coordinator: coordinator.bureau(),
            version: 1,
            issued_at_ms: 1_767_225_600_000,
            name: "op".into(),
            description: String::new(),
            participants,
            starts_at_ms: 1_767_225_600_000,
            ends_at_ms: 1_768_435_200_000,
            acting: String::new(),
        };
        HeldOperation {
            signed: SignedMessage::sign(&op, coordinator, &net()).unwrap(),
            op,
        }
    }

    fn seizure(author: &Signer, op: &OperationId, n: u8, count: u32) -> HeldSeizure {
        let seizure = Seizure {
            operation: *op,
            seizure_id: [n; 16],
            author: author.bureau(),
            recorded_at_ms: 1_767_225_600_000,
            date: "2026-01-02".into(),
            place: String::new(),
            items: vec![SeizedItem {
                category: ItemCategory::Ammunition,
                count,
                description: String::new(),
                firearm_ref: None,
            }],
            arrests: 0,
            acting: String::new(),
        };
        HeldSeizure {
            signed: SignedMessage::sign(&seizure, author, &net()).unwrap(),
            seizure,
        }
    }

    #[test]
    fn a_record_kept_again_is_a_no_op_and_a_different_one_under_its_id_is_refused() {
        let held = Held::open(&Store::memory()).unwrap();
        let (fr, de) = (Signer::from_seed([1; 32]), Signer::from_seed([2; 32]));
        let op = operation(&fr, &[de.bureau()], 1);
        assert_eq!(held.keep_operation(&op).unwrap(), Kept::New);
        assert_eq!(held.keep_operation(&op).unwrap(), Kept::Same);
        let mut other = op.op.clone();
        other.name = "another".into();
        let other = HeldOperation {
            signed: SignedMessage::sign(&other, &fr, &net()).unwrap(),
            op: other,
        };
        assert!(matches!(
            held.keep_operation(&other),
            Err(OperationsError::Conflict(_))
        ));
        let mut later = other.op.clone();
        later.version = 2;
        let later = HeldOperation {
            signed: SignedMessage::sign(&later, &fr, &net()).unwrap(),
            op: later,
        };
        assert_eq!(held.keep_operation(&later).unwrap(), Kept::New);
        assert_eq!(held.keep_operation(&op).unwrap(), Kept::Same, "older");
        assert_eq!(held.get(&op.op.id).unwrap().unwrap().op.version, 2);

        let s = seizure(&de, &op.op.id, 1, 5);
        assert_eq!(held.keep_seizure(&s).unwrap(), Kept::New);
        assert_eq!(held.keep_seizure(&s).unwrap(), Kept::Same);
        assert!(matches!(
            held.keep_seizure(&seizure(&de, &op.op.id, 1, 6)),
            Err(OperationsError::Conflict(_))
        ));
        assert_eq!(held.seizure_count(&op.op.id), 1);
    }

    #[test]
    fn one_author_cannot_fill_an_operation_and_the_counts_survive_a_restart() {
        let store = Store::memory();
        let held = Held::open(&store).unwrap();
        let (fr, de) = (Signer::from_seed([1; 32]), Signer::from_seed([2; 32]));
        let op = operation(&fr, &[de.bureau()], 1);
        held.keep_operation(&op).unwrap();
        for n in 0..MAX_SEIZURES_PER_AUTHOR {
            let mut s = seizure(&de, &op.op.id, 0, 1);
            s.seizure.seizure_id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            s.signed = SignedMessage::sign(&s.seizure, &de, &net()).unwrap();
            assert_eq!(held.keep_seizure(&s).unwrap(), Kept::New);
        }
        let refused = held.keep_seizure(&seizure(&de, &op.op.id, 0xff, 1));
        assert!(matches!(refused, Err(OperationsError::Conflict(_))));
        // Another participant still has room.
        assert_eq!(
            held.keep_seizure(&seizure(&fr, &op.op.id, 1, 1)).unwrap(),
            Kept::New
        );
        let again = Held::open(&store).unwrap();
        assert_eq!(again.seizure_count(&op.op.id), MAX_SEIZURES_PER_AUTHOR + 1);
        assert!(
            again
                .keep_seizure(&seizure(&de, &op.op.id, 0xff, 1))
                .is_err()
        );
        // Paging walks every record once, in key order.
        let mut seen = 0;
        let mut after = None;
        loop {
            let page = again.seizure_page(&op.op.id, after, 100).unwrap();
            seen += page.len();
            match page.last() {
                Some(last) => after = Some(SeizureCursor::after(last)),
                None => break,
            }
        }
        assert_eq!(seen, MAX_SEIZURES_PER_AUTHOR + 1);
    }

    #[test]
    fn a_coordinator_has_a_bound_on_operations_held() {
        let held = Held::open(&Store::memory()).unwrap();
        let fr = Signer::from_seed([1; 32]);
        let de = BureauId([2; 32]);
        let op = operation(&fr, &[de], 0);
        let mut next = op.clone();
        for n in 0..MAX_OPERATIONS_PER_COORDINATOR as u64 {
            let mut salt = [0u8; 16];
            salt[..8].copy_from_slice(&n.to_be_bytes());
            next.op.salt = salt;
            next.op.id = OperationId::derive(&next.op.coordinator, &salt);
            // Stored as written: the bound is what is tested here, not signatures.
            assert_eq!(held.keep_operation(&next).unwrap(), Kept::New);
        }
        next.op.salt = [0xff; 16];
        next.op.id = OperationId::derive(&next.op.coordinator, &next.op.salt);
        assert!(matches!(
            held.keep_operation(&next),
            Err(OperationsError::Conflict(_))
        ));
        assert_eq!(
            held.list(None, 10_000).unwrap().len(),
            MAX_OPERATIONS_PER_COORDINATOR
        );
    }

    #[test]
    fn a_crash_between_storing_and_queueing_is_repaired_at_start() {
        let store = Store::memory();
        let held = Held::open(&store).unwrap();
        let fr = Signer::from_seed([1; 32]);
        let (de, es) = (BureauId([2; 32]), BureauId([3; 32]));
        let op = operation(&fr, &[de, es], 1);
        // Stored and marked, never queued (the crash).
        held.pending
            .insert(pending_key(Pending::Operation, &op.op.id.0), [])
            .unwrap();
        held.keep_operation(&op).unwrap();
        // Marked but never stored: forgotten.
        held.pending
            .insert(pending_key(Pending::Operation, &[9; 16]), [])
            .unwrap();
        let held = Held::open(&store).unwrap();
        requeue_pending(&held).unwrap();
        assert_eq!((held.outbox_len(&de), held.outbox_len(&es)), (1, 1));
        assert_eq!(held.outbox_len(&fr.bureau()), 0, "not to itself");
        assert!(held.pending.is_empty().unwrap());
        // Queued again after a restart, the counts hold.
        let delivery = OperationDelivery {
            operation: op.signed.clone(),
            delivered: Delivered::Invite,
        };
        queue(&held, &[de], &outbox_value(&delivery).unwrap()).unwrap();
        let held = Held::open(&store).unwrap();
        assert_eq!(held.outbox_len(&de), 2);
        let mut members = held.waiting_members();
        members.sort();
        assert_eq!(members, vec![de, es]);
    }

    #[test]
    fn a_seizure_cursor_reads_its_own_text() {
        let cursor = SeizureCursor {
            author: BureauId([7; 32]),
            seizure_id: [8; 16],
        };
        assert_eq!(SeizureCursor::from_hex(&cursor.to_hex()), Some(cursor));
        assert_eq!(SeizureCursor::from_hex("00"), None);
    }
}
