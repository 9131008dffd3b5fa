//! What the simulator checks: every stored run in order and verified, no honest feed frozen
//! and no honest member penalised, and at the end every honest member holding every honest
//! entry; and the report built from those checks.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use striae_node::core::sync::{HeadsVerifier, PageError};
use striae_protocol::{
    BureauId, EntryError, EntryId, Heads, NetworkId, SignedHeads, VerifiedEntry,
    feed::UnverifiedEntry,
};

use super::{REMEMBERED_HEADS, Role, Sim, SimReport};

/// An invariant of sync, as the simulator checks it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Invariant {
    OutOfOrder,
    Unverified,
    NotStored,
    HonestFrozen,
    HonestPenalised,
    LeftBehind,
}

impl Invariant {
    pub(super) fn name(self) -> &'static str {
        match self {
            Invariant::OutOfOrder => "out_of_order",
            Invariant::Unverified => "unverified",
            Invariant::NotStored => "not_stored",
            Invariant::HonestFrozen => "honest_frozen",
            Invariant::HonestPenalised => "honest_penalised",
            Invariant::LeftBehind => "left_behind",
        }
    }
}

impl Sim {
    /// Stores a run as the node does, checking the invariants on the way.
    pub(super) fn persist(&mut self, i: usize, run: Vec<VerifiedEntry>) {
        let Some(first) = run.first() else { return };
        let origin = first.entry.origin;
        let store = &self.members[i].store;
        let (mut seq, mut id) = store
            .head(&origin)
            .ok()
            .flatten()
            .unwrap_or((0, EntryId::GENESIS));
        for entry in &run {
            let in_order = entry.entry.origin == origin
                && entry.entry.seq == seq + 1
                && entry.entry.prev == id;
            let genuine = self.verify(&entry.wire).is_some_and(|v| v.id == entry.id);
            if !in_order {
                self.broke(Invariant::OutOfOrder);
                return;
            }
            if !genuine {
                self.broke(Invariant::Unverified);
                return;
            }
            (seq, id) = (entry.entry.seq, entry.id);
        }
        let store = &self.members[i].store;
        if store
            .put_entries(&run)
            .and_then(|()| store.set_head(&origin, seq, &id))
            .is_err()
        {
            self.broke(Invariant::NotStored);
            return;
        }
        if self.members[i].role != Role::Honest {
            return;
        }
        for entry in &run {
            if let Some((published, holders)) =
                self.honest_entries.get_mut(&(origin, entry.entry.seq))
            {
                *holders += 1;
                if *holders == self.honest_count {
                    self.converged_after = self.converged_after.max(self.round - *published);
                }
            }
        }
    }

    /// The entry in `wire`, if it decodes and its signature verifies (memoised).
    pub(super) fn verify(&mut self, wire: &[u8]) -> Option<VerifiedEntry> {
        let network = self.network;
        self.verified
            .entry(blake3::hash(wire))
            .or_insert_with(|| {
                UnverifiedEntry::decode(wire)
                    .and_then(|e| e.verify(&network))
                    .ok()
            })
            .clone()
    }

    /// A page checked as the node's verifier checks it (`verifier::verify_page`: consecutive
    /// entries of the feed asked for, then each signature), except that each distinct entry's
    /// signature is verified once for the whole run.
    pub(super) fn verify_pulled(
        &mut self,
        origin: BureauId,
        from_seq: u64,
        page: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<VerifiedEntry, EntryError>>, PageError> {
        for (k, wire) in page.iter().enumerate() {
            let entry = UnverifiedEntry::decode(wire).map_err(PageError::Malformed)?;
            if entry.entry.origin != origin || entry.entry.seq != from_seq + k as u64 {
                return Err(PageError::OutOfOrder);
            }
        }
        Ok(page
            .into_iter()
            .map(|wire| match self.verify(&wire) {
                Some(verified) => Ok(verified),
                None => UnverifiedEntry::decode_owned(wire).and_then(|e| e.verify(&self.network)),
            })
            .collect())
    }

    pub(super) fn report(&mut self) -> SimReport {
        let honest: Vec<usize> = (0..self.members.len())
            .filter(|i| self.members[*i].role == Role::Honest)
            .collect();
        let mut expected: BTreeMap<BureauId, u64> = BTreeMap::new();
        for (origin, seq) in self.honest_entries.keys() {
            let e = expected.entry(*origin).or_default();
            *e = (*e).max(*seq);
        }
        let mut delivered_all = true;
        let mut converged = true;
        let reference = honest.first().map(|i| self.heads_for(*i, &expected));
        for i in &honest {
            let heads = self.heads_for(*i, &expected);
            for (origin, seq) in &expected {
                let held = heads.get(origin).map_or(0, |h| h.0);
                if held < *seq {
                    delivered_all = false;
                    self.broke(Invariant::LeftBehind);
                    if std::env::var_os("STRIAE_SIM_DEBUG").is_some() {
                        let o = self.index[origin];
                        eprintln!(
                            "member {i} (offline {:?}) holds {held}/{seq} of {o} (offline {:?}, schedule {:?}); neighbours {:?}",
                            self.members[*i].offline,
                            self.members[o].offline,
                            self.members[o].schedule,
                            self.members[*i].neighbours
                        );
                    }
                }
            }
            if Some(&heads) != reference.as_ref() {
                converged = false;
            }
        }
        let incomplete = self
            .honest_entries
            .values()
            .any(|(_, holders)| *holders < self.honest_count);
        SimReport {
            members: self.members.len(),
            seed: self.config.seed,
            rounds: self.config.rounds,
            byzantine: self.members.len() - honest.len(),
            offline: self.config.offline,
            delivered_all: delivered_all && !incomplete,
            converged,
            max_rounds_to_converge: self.converged_after,
            violations: self.broken.values().sum(),
            broken: self.broken.clone(),
            entries: self.honest_entries.len() as u64,
            messages: self.messages,
            penalties: self.penalties.clone(),
            max_held_bytes: self.max_held_bytes,
        }
    }

    /// Member `i`'s heads for the honest origins.
    pub(super) fn heads_for(
        &self,
        i: usize,
        honest: &BTreeMap<BureauId, u64>,
    ) -> BTreeMap<BureauId, (u64, EntryId)> {
        honest
            .keys()
            .map(|o| (*o, self.members[i].sync.feeds().head(o)))
            .collect()
    }

    pub(super) fn broke(&mut self, invariant: Invariant) {
        *self.broken.entry(invariant.name()).or_default() += 1;
    }
}

/// Heads verification that checks each distinct statement once for the whole run (a
/// statement goes to every neighbour, and is stated again until something changes). Keyed by
/// signature, with the statement's bytes compared on a hit.
pub(super) fn remembering_verifier() -> HeadsVerifier {
    type Seen = HashMap<[u8; 64], (Vec<u8>, Result<Heads, ()>)>;
    let seen: Mutex<Seen> = Mutex::default();
    Arc::new(move |signed: &SignedHeads, network: &NetworkId| {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= REMEMBERED_HEADS {
            seen.clear();
        }
        if let Some((bytes, Ok(heads))) = seen.get(&signed.signature)
            && *bytes == signed.heads_bytes
        {
            return Ok(heads.clone());
        }
        let result = signed.verify(network);
        let remembered = result.as_ref().map(Clone::clone).map_err(|_| ());
        seen.insert(signed.signature, (signed.heads_bytes.clone(), remembered));
        result
    })
}
