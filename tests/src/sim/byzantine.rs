//! What byzantine members do: inflate their heads (up to `u64::MAX`), withhold or garble
//! pages, replay entries, equivocate, send garbage, and flood: entries far ahead of their
//! feed (held by whoever receives them, never applied) and bursts of heads statements.

use std::sync::Arc;

use rand::{Rng, seq::SliceRandom};
use striae_node::core::sync::Input;
use striae_protocol::{
    BureauId, Head, Heads, SignedHeads,
    sync::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES},
};

use super::{
    Envelope, Msg, Role, Sim, TIMEOUT_ROUNDS,
    setup::{bulky_entry, random_bytes},
};

/// Body of each flooding entry: 60 KB, close to the largest notice.
const FLOOD_BODY_BYTES: usize = 60_000;
/// Entries in one flood.
const FLOOD_ENTRIES: u64 = 8;

impl Sim {
    /// The heads a member states: its real ones, or for a byzantine member now and then an
    /// inflated claim (every feed it knows 1,000 entries further than it holds).
    pub(super) fn heads_of(&mut self, i: usize, real: Arc<SignedHeads>) -> Arc<SignedHeads> {
        if self.members[i].role != Role::Byzantine || !self.rng.gen_bool(0.5) {
            return real;
        }
        let member = &self.members[i];
        let heads = Heads {
            member: member.signer.bureau(),
            issued_at_ms: self.now(),
            heads: member
                .sync
                .feeds()
                .heads()
                .into_iter()
                .filter(|h| h.1 > 0)
                .map(|(origin, seq, id)| Head {
                    origin,
                    seq: if seq % 2 == 0 { u64::MAX } else { seq + 1_000 },
                    id,
                })
                .collect(),
        };
        heads
            .sign(&member.signer, &self.network)
            .map(Arc::new)
            .unwrap_or(real)
    }

    /// A byzantine member's misbehaviour this round: garbage, replays, equivocation, lies.
    pub(super) fn misbehave(&mut self, i: usize) {
        let neighbours = self.members[i].neighbours.clone();
        let Some(&target) = neighbours.choose(&mut self.rng) else {
            return;
        };
        match self.rng.gen_range(0..10) {
            0 => {
                let garbage = random_bytes(&mut self.rng, 300);
                self.send(i, target, Msg::Gossip(garbage));
            }
            1 => {
                // Replays an entry it holds, from any feed.
                let heads = self.members[i].sync.feeds().heads();
                if let Some((origin, seq, _)) = heads.choose(&mut self.rng).copied()
                    && seq > 0
                    && let Ok(Some(wire)) = self.members[i].store.entry(&origin, seq)
                {
                    self.send(i, target, Msg::Gossip(wire));
                }
            }
            2 if self.round.is_multiple_of(25) => self.equivocate(i),
            3 => {
                let now = self.now();
                if let Ok(real) = self.members[i].sync.own_heads(now) {
                    let lie = self.heads_of(i, real);
                    self.send(i, target, Msg::HeadsRequest(lie));
                }
            }
            4 => self.flood_held(i, &neighbours),
            5 => {
                // A burst of heads statements, each new.
                let now = self.now();
                for _ in 0..10 {
                    if let Ok(real) = self.members[i].sync.own_heads(now) {
                        let lie = self.heads_of(i, real);
                        self.send(i, target, Msg::HeadsRequest(lie));
                    }
                }
            }
            _ => {}
        }
    }

    /// Gossips large entries of its own feed far past its head: each receiver holds them
    /// waiting for a gap that never fills.
    fn flood_held(&mut self, i: usize, neighbours: &[usize]) {
        let head = self.members[i]
            .sync
            .feeds()
            .head_seq(&self.members[i].signer.bureau());
        let now = self.now();
        for k in 0..FLOOD_ENTRIES {
            let seq = head + 2 + self.round * FLOOD_ENTRIES + k;
            let Some(entry) = bulky_entry(
                &self.members[i].signer,
                seq,
                now,
                FLOOD_BODY_BYTES,
                &self.network,
            ) else {
                continue;
            };
            for &to in neighbours {
                self.send(i, to, Msg::Gossip(entry.wire.clone()));
            }
        }
    }

    /// Signs two different entries for its next seq and gossips one to half its neighbours
    /// and the other to the rest (its own state takes the first).
    pub(super) fn equivocate(&mut self, i: usize) {
        let (Some(a), Some(b)) = (
            self.sign_next(i, &format!("fork a {}", self.round)),
            self.sign_next(i, &format!("fork b {}", self.round)),
        ) else {
            return;
        };
        self.input(i, Input::Own(a.clone()));
        let neighbours = self.members[i].neighbours.clone();
        for (k, to) in neighbours.into_iter().enumerate() {
            let wire = if k % 2 == 0 { &a.wire } else { &b.wire };
            self.send(i, to, Msg::Gossip(wire.clone()));
        }
    }

    pub(super) fn serve_pull(
        &mut self,
        holder: usize,
        asker: usize,
        origin: BureauId,
        from_seq: u64,
        limit: u32,
    ) {
        let withhold = self.members[holder].role == Role::Byzantine && self.rng.gen_bool(0.5);
        if withhold {
            // No answer: the asker's transport gives up after its timeout.
            let fail_at = self.round + TIMEOUT_ROUNDS;
            self.delayed.entry(fail_at).or_default().push(Envelope {
                from: holder,
                to: asker,
                msg: Msg::Page {
                    origin,
                    from_seq,
                    page: None,
                },
            });
            return;
        }
        let garbage = self.members[holder].role == Role::Byzantine && self.rng.gen_bool(0.3);
        let page = if garbage {
            Some(vec![random_bytes(&mut self.rng, 200)])
        } else {
            let limit = limit.min(MAX_PAGE_ENTRIES) as usize;
            self.members[holder]
                .store
                .entries_from(&origin, from_seq.max(1), limit, MAX_PAGE_BYTES)
                .ok()
        };
        self.send(
            holder,
            asker,
            Msg::Page {
                origin,
                from_seq,
                page,
            },
        );
    }
}
