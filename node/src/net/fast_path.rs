//! The fast path for gossiped entries: an entry that extends a feed exactly where this node
//! holds it is verified and accepted inside the network task, so forwarding it does not wait
//! for a round trip through the replication core (which, with many members on few cores, is
//! most of a hop's latency). Everything else (gaps, old entries, forks, invalid bytes) takes
//! the slow path: the core decides and reports the verdict.

use std::{collections::HashMap, sync::RwLock};

use striae_protocol::{
    BureauId, EntryId, NetworkId, VerifiedEntry, feed::UnverifiedEntry, time::now_ms,
};

/// The tips of the feeds this node holds, as the core last stored them.
pub struct FastPath {
    network: NetworkId,
    /// Entries stamped further ahead of our clock take the slow path (see
    /// `core::sync::SyncConfig::max_ahead_ms`).
    max_ahead_ms: u64,
    /// Origin -> (highest contiguous seq held, its id). Only members whose feeds are not
    /// frozen are present.
    tips: RwLock<HashMap<BureauId, (u64, EntryId)>>,
}

impl FastPath {
    /// A fast path for `members` (every one starts at the genesis unless `held` says more).
    pub fn new(
        network: NetworkId,
        max_ahead_ms: u64,
        members: impl IntoIterator<Item = BureauId>,
        held: impl IntoIterator<Item = (BureauId, u64, EntryId)>,
    ) -> Self {
        let mut tips: HashMap<BureauId, (u64, EntryId)> = members
            .into_iter()
            .map(|m| (m, (0, EntryId::GENESIS)))
            .collect();
        for (origin, seq, id) in held {
            if let Some(tip) = tips.get_mut(&origin) {
                *tip = (seq, id);
            }
        }
        FastPath {
            network,
            max_ahead_ms,
            tips: RwLock::new(tips),
        }
    }

    /// The core stored `origin`'s feed up to `seq` (entry `id`).
    pub fn set_tip(&self, origin: BureauId, seq: u64, id: EntryId) {
        if let Ok(mut tips) = self.tips.write()
            && let Some(tip) = tips.get_mut(&origin)
            && seq > tip.0
        {
            *tip = (seq, id);
        }
    }

    /// `origin`'s feed is frozen: its entries take the slow path from now on.
    pub fn close(&self, origin: &BureauId) {
        if let Ok(mut tips) = self.tips.write() {
            tips.remove(origin);
        }
    }

    /// The entry, verified, when `data` is the next entry of a member's feed held here;
    /// `None` sends the message down the slow path.
    pub fn check(&self, data: &[u8]) -> Option<VerifiedEntry> {
        let entry = UnverifiedEntry::decode(data).ok()?;
        let extends = {
            let tips = self.tips.read().ok()?;
            let (seq, id) = tips.get(&entry.entry.origin)?;
            entry.entry.seq == seq + 1 && entry.entry.prev == *id
        };
        let too_early = entry.entry.timestamp_ms > now_ms().saturating_add(self.max_ahead_ms);
        if !extends || too_early {
            return None;
        }
        entry.verify(&self.network).ok()
    }
}

#[cfg(test)]
mod tests {
    use striae_protocol::{
        Body, Entry, NoticeContent, NoticeKind, NoticeOp, Signer, feed::ENTRY_VERSION,
    };

    use super::*;

    fn entry(signer: &Signer, net: &NetworkId, seq: u64, prev: EntryId) -> VerifiedEntry {
        Entry {
            version: ENTRY_VERSION,
            origin: signer.bureau(),
            seq,
            prev,
            timestamp_ms: 1,
            body: Body::Notice(NoticeOp::Issue(NoticeContent {
                kind: NoticeKind::Orange,
                title: "t".into(),
                summary: "s".into(),
                body: String::new(),
                expires_at_ms: 2,
            })),
        }
        .sign(signer, net)
        .expect("test fixture")
    }

    #[test]
    fn only_the_next_entry_of_an_open_member_feed_takes_the_fast_path() {
        let net = NetworkId::from_name("t");
        let member = Signer::from_seed([1; 32]);
        let stranger = Signer::from_seed([2; 32]);
        let fast = FastPath::new(net, 600_000, [member.bureau()], []);
        let first = entry(&member, &net, 1, EntryId::GENESIS);
        let second = entry(&member, &net, 2, first.id);
        assert!(fast.check(&second.wire).is_none(), "a gap goes to the core");
        assert!(fast.check(&first.wire).is_some());
        assert!(
            fast.check(&entry(&stranger, &net, 1, EntryId::GENESIS).wire)
                .is_none()
        );
        fast.set_tip(member.bureau(), 1, first.id);
        assert!(
            fast.check(&first.wire).is_none(),
            "an old entry goes to the core"
        );
        assert!(fast.check(&second.wire).is_some());
        let mut forged = second.wire.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(fast.check(&forged).is_none());
        fast.close(&member.bureau());
        assert!(
            fast.check(&second.wire).is_none(),
            "a frozen feed goes to the core"
        );
    }
}
