//! Ids with work under way (a reviewed answer being delivered): the review's own attempt and
//! the periodic retry must not both send one answer. A claim is released when dropped.

use std::{collections::HashSet, sync::Mutex};

/// The ids claimed now.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashSet<[u8; 16]>>);

/// A claim on one id, released on drop.
pub(crate) struct Claim<'a> {
    set: &'a InFlight,
    id: [u8; 16],
}

impl InFlight {
    /// Claims `id`, or `None` when someone else holds it.
    pub(crate) fn claim(&self, id: [u8; 16]) -> Option<Claim<'_>> {
        // The lock is released before a claim exists: dropping a claim takes it again.
        let inserted = self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        inserted.then(|| Claim { set: self, id })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_claimed_once_until_its_claim_is_dropped() {
        let set = InFlight::default();
        let first = set.claim([1; 16]);
        assert!(first.is_some());
        assert!(set.claim([1; 16]).is_none());
        assert!(set.claim([2; 16]).is_some());
        drop(first);
        assert!(set.claim([1; 16]).is_some());
    }
}
