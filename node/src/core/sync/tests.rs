//! Unit tests of the sync state machine, driven directly with inputs and a clock.

use std::collections::HashMap;

use striae_protocol::{
    Body, Entry, EntryId, NoticeContent, NoticeKind, NoticeOp, feed::ENTRY_VERSION,
};

use super::*;

const NOW: u64 = 1_800_000_000_000;

#[derive(Default)]
struct Disk(HashMap<(BureauId, u64), Vec<u8>>);

impl StoredEntries for Disk {
    fn stored(&self, origin: &BureauId, seq: u64) -> Option<Vec<u8>> {
        self.0.get(&(*origin, seq)).cloned()
    }
}

impl Disk {
    fn keep(&mut self, outputs: &[Output]) {
        for o in outputs {
            if let Output::Persist(run) = o {
                for e in run {
                    self.0.insert((e.entry.origin, e.entry.seq), e.wire.clone());
                }
            }
        }
    }
}

fn net() -> NetworkId {
    NetworkId::from_name("t")
}

fn signer(n: u8) -> Signer {
    Signer::from_seed([n; 32])
}

fn entry(s: &Signer, seq: u64, prev: EntryId, title: &str) -> VerifiedEntry {
    Entry {
        version: ENTRY_VERSION,
        origin: s.bureau(),
        seq,
        prev,
        timestamp_ms: NOW,
        body: Body::Notice(NoticeOp::Issue(NoticeContent {
            kind: NoticeKind::Orange,
            title: title.into(),
            summary: "s".into(),
            body: String::new(),
            expires_at_ms: NOW + 1,
        })),
    }
    .sign(s, &net())
    .expect("test fixture")
}

fn chain(s: &Signer, n: u64) -> Vec<VerifiedEntry> {
    let mut prev = EntryId::GENESIS;
    (1..=n)
        .map(|seq| {
            let e = entry(s, seq, prev, "t");
            prev = e.id;
            e
        })
        .collect()
}

fn state(me: &Signer, members: &[&Signer]) -> SyncState {
    let feeds = Feeds::new(members.iter().map(|s| s.bureau()), []);
    let config = SyncConfig {
        heads_interval_ms: 1_000,
        heads_debounce_ms: 100,
        max_ahead_ms: 60_000,
        own_head_grace_ms: 5_000,
    };
    SyncState::new(me.clone(), net(), config, feeds, 7)
}

fn heads_of(s: &Signer, feed: &[VerifiedEntry], at: u64) -> Arc<SignedHeads> {
    let last = feed.last().expect("test fixture");
    Heads {
        member: s.bureau(),
        issued_at_ms: at,
        heads: vec![Head {
            origin: last.entry.origin,
            seq: last.entry.seq,
            id: last.id,
        }],
    }
    .sign(s, &net())
    .map(Arc::new)
    .expect("test fixture")
}

fn pulls(outputs: &[Output]) -> Vec<(BureauId, u64, u32)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Pull {
                peer,
                from_seq,
                limit,
                ..
            } => Some((*peer, *from_seq, *limit)),
            _ => None,
        })
        .collect()
}

#[test]
fn heads_ahead_are_pulled_and_the_page_applies_in_order() {
    let (me, them) = (signer(1), signer(2));
    let feed = chain(&them, 5);
    let mut s = state(&me, &[&me, &them]);
    let disk = Disk::default();
    let out = s.handle(Input::Connected(them.bureau()), NOW, &disk);
    assert!(matches!(out[..], [Output::SendHeads(p)] if p == them.bureau()));
    let signed = heads_of(&them, &feed, NOW);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed,
        },
        NOW,
        &disk,
    );
    assert_eq!(pulls(&out), vec![(them.bureau(), 1, 5)]);
    // The same range is not asked for twice while in flight.
    let again = heads_of(&them, &feed, NOW + 1);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: again,
        },
        NOW,
        &disk,
    );
    assert!(pulls(&out).is_empty());
    let page = feed.iter().map(|e| Ok(e.clone())).collect();
    let out = s.handle(
        Input::PageVerified {
            from: them.bureau(),
            origin: them.bureau(),
            from_seq: 1,
            results: Ok(page),
        },
        NOW,
        &disk,
    );
    let persisted: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(run) => Some(run.iter().map(|e| e.entry.seq)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(persisted, vec![1, 2, 3, 4, 5]);
    assert_eq!(s.feeds().head_seq(&them.bureau()), 5);
}

#[test]
fn a_gossiped_entry_after_a_gap_is_held_not_forwarded_and_the_gap_pulled() {
    let (me, them) = (signer(1), signer(2));
    let feed = chain(&them, 3);
    let mut s = state(&me, &[&me, &them]);
    let out = s.handle(
        Input::Gossip {
            from: them.bureau(),
            entry: Ok(feed[2].clone()),
        },
        NOW,
        &Disk::default(),
    );
    // Only applied entries are forwarded: one that waits for a gap may never apply.
    assert!(matches!(out[0], Output::Verdict(GossipVerdict::Ignore)));
    assert_eq!(pulls(&out), vec![(them.bureau(), 1, 2)]);
    assert!(!out.iter().any(|o| matches!(o, Output::Persist(_))));
}

#[test]
fn garbage_and_foreign_heads_are_refused_and_penalised_with_a_fixed_offence() {
    let (me, them, other) = (signer(1), signer(2), signer(3));
    let mut s = state(&me, &[&me, &them, &other]);
    let disk = Disk::default();
    let garbage =
        striae_protocol::feed::UnverifiedEntry::decode(&[1, 2, 3]).map(|_| unreachable!());
    let out = s.handle(
        Input::Gossip {
            from: them.bureau(),
            entry: garbage,
        },
        NOW,
        &disk,
    );
    assert!(matches!(out[0], Output::Verdict(GossipVerdict::Reject)));
    assert!(matches!(
        out[1],
        Output::Penalise {
            offence: Offence::InvalidEntry,
            ..
        }
    ));
    s.handle(Input::Connected(them.bureau()), NOW, &disk);
    let forged = heads_of(&other, &chain(&other, 1), NOW);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: forged,
        },
        NOW,
        &disk,
    );
    assert!(matches!(
        out[..],
        [Output::Penalise {
            offence: Offence::ForeignHeads,
            ..
        }]
    ));
}

#[test]
fn a_fork_seen_in_heads_is_fetched_and_proves_equivocation() {
    let (me, them, liar) = (signer(1), signer(2), signer(3));
    let feed = chain(&liar, 2);
    let fork = entry(&liar, 2, feed[0].id, "other");
    let mut s = state(&me, &[&me, &them, &liar]);
    let mut disk = Disk::default();
    for e in &feed {
        let out = s.handle(
            Input::Accepted {
                from: them.bureau(),
                entry: e.clone(),
            },
            NOW,
            &disk,
        );
        disk.keep(&out);
    }
    s.handle(Input::Connected(them.bureau()), NOW, &disk);
    let theirs = Heads {
        member: them.bureau(),
        issued_at_ms: NOW,
        heads: vec![Head {
            origin: liar.bureau(),
            seq: 2,
            id: fork.id,
        }],
    }
    .sign(&them, &net())
    .map(Arc::new)
    .expect("test fixture");
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: theirs,
        },
        NOW,
        &disk,
    );
    assert_eq!(pulls(&out), vec![(them.bureau(), 2, 1)]);
    let out = s.handle(
        Input::PageVerified {
            from: them.bureau(),
            origin: liar.bureau(),
            from_seq: 2,
            results: Ok(vec![Ok(fork)]),
        },
        NOW,
        &disk,
    );
    assert!(matches!(out[..], [Output::Equivocation { seq: 2, .. }]));
    assert!(s.feeds().is_frozen(&liar.bureau()));
}

#[test]
fn heads_go_out_on_the_interval_and_receipts_after_the_debounce() {
    let (me, them) = (signer(1), signer(2));
    let mut s = state(&me, &[&me, &them]);
    let disk = Disk::default();
    s.handle(Input::Connected(them.bureau()), NOW, &disk);
    let sends = |out: &[Output]| {
        out.iter()
            .filter(|o| matches!(o, Output::SendHeads(_)))
            .count()
    };
    let mut exchanged = 0;
    for t in (0..=2_000).step_by(50) {
        exchanged += sends(&s.handle(Input::Tick, NOW + t, &disk));
    }
    assert!(
        (2..=3).contains(&exchanged),
        "{exchanged} exchanges in 2 s at a 1 s interval"
    );
    // Right after an exchange, a new entry of theirs: our heads (their receipt) go to them
    // after the debounce, long before the next exchange.
    let next = s.next_exchange_ms().expect("ticking began");
    assert_eq!(sends(&s.handle(Input::Tick, next, &disk)), 1);
    let feed = chain(&them, 1);
    s.handle(
        Input::Accepted {
            from: them.bureau(),
            entry: feed[0].clone(),
        },
        next + 10,
        &disk,
    );
    assert_eq!(sends(&s.handle(Input::Tick, next + 60, &disk)), 0);
    assert_eq!(sends(&s.handle(Input::Tick, next + 130, &disk)), 1);
}

#[test]
fn a_members_heads_reaching_our_feed_are_its_receipt_once() {
    let (me, them) = (signer(1), signer(2));
    let mine = chain(&me, 2);
    let mut s = state(&me, &[&me, &them]);
    let disk = Disk::default();
    for e in &mine {
        s.handle(Input::Own(e.clone()), NOW, &disk);
    }
    s.handle(Input::Connected(them.bureau()), NOW, &disk);
    let theirs = heads_of(&them, &mine, NOW);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: theirs.clone(),
        },
        NOW,
        &disk,
    );
    assert_eq!(receipts(&out), vec![2]);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: theirs,
        },
        NOW,
        &disk,
    );
    assert!(receipts(&out).is_empty());
}

fn receipts(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            Output::Receipt { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_claiming_more_of_our_feed_than_we_hold_or_another_entry_gets_no_receipt() {
    let (me, them) = (signer(1), signer(2));
    let mine = chain(&me, 3);
    let mut s = state(&me, &[&me, &them]);
    let disk = Disk::default();
    for e in &mine[..2] {
        s.handle(Input::Own(e.clone()), NOW, &disk);
    }
    s.handle(Input::Connected(them.bureau()), NOW, &disk);
    // Three of our entries, when we hold two: a lie (or entries we lost), never a receipt.
    let ahead = heads_of(&them, &mine, NOW);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: ahead,
        },
        NOW,
        &disk,
    );
    assert!(receipts(&out).is_empty());
    // Our seq 2, but another entry: a fork of our own feed, never a receipt.
    let forked = entry(&me, 2, mine[0].id, "not ours");
    let fork = heads_of(&them, &[mine[0].clone(), forked], NOW + 1);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: fork,
        },
        NOW + 1,
        &disk,
    );
    assert!(receipts(&out).is_empty());
    // The truth is recorded.
    let truth = heads_of(&them, &mine[..2], NOW + 2);
    let out = s.handle(
        Input::Heads {
            from: them.bureau(),
            signed: truth,
        },
        NOW + 2,
        &disk,
    );
    assert_eq!(receipts(&out), vec![2]);
}

#[test]
fn an_entry_stamped_too_far_ahead_waits_for_the_clock_without_penalty() {
    let (me, them) = (signer(1), signer(2));
    let mut s = state(&me, &[&me, &them]);
    let disk = Disk::default();
    let early = NOW - 3_600_000;
    let out = s.handle(
        Input::Gossip {
            from: them.bureau(),
            entry: Ok(entry(&them, 1, EntryId::GENESIS, "from the future")),
        },
        early,
        &disk,
    );
    assert!(
        matches!(out[..], [Output::Verdict(GossipVerdict::Ignore)]),
        "{out:?}"
    );
    assert_eq!(s.feeds().head_seq(&them.bureau()), 0);
    // An hour later the same entry is within the tolerance and applies.
    let out = s.handle(
        Input::Gossip {
            from: them.bureau(),
            entry: Ok(entry(&them, 1, EntryId::GENESIS, "from the future")),
        },
        NOW,
        &disk,
    );
    assert!(matches!(out[0], Output::Verdict(GossipVerdict::Accept)));
    assert_eq!(s.feeds().head_seq(&them.bureau()), 1);
}

fn heads_at(s: &Signer, origin: &Signer, seq: u64, at: u64) -> Arc<SignedHeads> {
    Heads {
        member: s.bureau(),
        issued_at_ms: at,
        heads: vec![Head {
            origin: origin.bureau(),
            seq,
            id: EntryId([seq as u8; 32]),
        }],
    }
    .sign(s, &net())
    .map(Arc::new)
    .expect("test fixture")
}

fn hear(s: &mut SyncState, from: &Signer, signed: Arc<SignedHeads>, at: u64) -> Vec<Output> {
    s.handle(
        Input::Heads {
            from: from.bureau(),
            signed,
        },
        at,
        &Disk::default(),
    )
}

#[test]
fn a_member_claiming_the_maximum_seq_loses_the_pull_slot_after_one_empty_page() {
    let (me, liar, honest, origin) = (signer(1), signer(2), signer(3), signer(4));
    let feed = chain(&origin, 3);
    let mut s = state(&me, &[&me, &liar, &honest, &origin]);
    let disk = Disk::default();
    for p in [&liar, &honest] {
        s.handle(Input::Connected(p.bureau()), NOW, &disk);
    }
    let out = hear(&mut s, &liar, heads_at(&liar, &origin, u64::MAX, NOW), NOW);
    assert_eq!(pulls(&out).len(), PULL_WINDOW_FOR_TEST);
    hear(&mut s, &honest, heads_of(&honest, &feed, NOW), NOW);
    // The liar's page is empty: its claim no longer wins; the honest holder is asked.
    let out = s.handle(
        Input::PageVerified {
            from: liar.bureau(),
            origin: origin.bureau(),
            from_seq: 1,
            results: Ok(Vec::new()),
        },
        NOW,
        &disk,
    );
    assert!(pulls(&out).is_empty());
    let out = s.handle(
        Input::PageArrived {
            from: liar.bureau(),
            origin: origin.bureau(),
        },
        NOW,
        &disk,
    );
    assert!(pulls(&out).iter().all(|(p, _, _)| *p != liar.bureau()));
    // The same claim again wins nothing; the honest statement still pulls what it holds.
    let out = hear(
        &mut s,
        &liar,
        heads_at(&liar, &origin, u64::MAX, NOW),
        NOW + 1,
    );
    assert!(pulls(&out).is_empty());
}

const PULL_WINDOW_FOR_TEST: usize = super::super::feeds::PULL_WINDOW;

#[test]
fn a_claim_above_what_the_origin_itself_said_later_wins_no_pull() {
    let (me, liar, origin) = (signer(1), signer(2), signer(4));
    let mut s = state(&me, &[&me, &liar, &origin]);
    let disk = Disk::default();
    for p in [&liar, &origin] {
        s.handle(Input::Connected(p.bureau()), NOW, &disk);
    }
    let own = heads_at(&origin, &origin, 5, NOW + 10);
    let out = hear(&mut s, &origin, own, NOW + 10);
    assert_eq!(pulls(&out), vec![(origin.bureau(), 1, 5)]);
    let out = hear(
        &mut s,
        &liar,
        heads_at(&liar, &origin, 1_000, NOW),
        NOW + 10,
    );
    assert!(pulls(&out).is_empty());
    // A claim made after the origin's own statement may be true (it published since).
    s.handle(
        Input::PullFailed {
            origin: origin.bureau(),
            from_seq: 1,
        },
        NOW + 20,
        &disk,
    );
    let out = hear(
        &mut s,
        &liar,
        heads_at(&liar, &origin, 1_000, NOW + 20),
        NOW + 20,
    );
    assert_eq!(pulls(&out), vec![(liar.bureau(), 1, 1_000)]);
}

#[test]
fn after_start_nothing_is_signed_until_a_member_says_how_far_our_feed_reached() {
    let (me, them) = (signer(1), signer(2));
    let mine = chain(&me, 3);
    let mut s = state(&me, &[&me, &them]);
    let disk = Disk::default();
    s.handle(Input::Own(mine[0].clone()), NOW, &disk);
    s.handle(Input::Connected(them.bureau()), NOW, &disk);
    assert!(!s.may_sign(NOW + 1), "no member heard from yet");
    // `them` holds three of our entries (we lost two in a restore): pull them back first.
    let out = hear(&mut s, &them, heads_of(&them, &mine, NOW + 1), NOW + 1);
    assert_eq!(pulls(&out), vec![(them.bureau(), 2, 2)]);
    assert!(!s.may_sign(NOW + 2));
    let page = mine[1..].iter().map(|e| Ok(e.clone())).collect();
    s.handle(
        Input::PageVerified {
            from: them.bureau(),
            origin: me.bureau(),
            from_seq: 2,
            results: Ok(page),
        },
        NOW + 2,
        &disk,
    );
    assert!(s.may_sign(NOW + 3));
    assert_eq!(s.own_head().map(|h| h.0), Some(3));
}

#[test]
fn with_no_member_heard_from_the_node_signs_after_the_grace() {
    let me = signer(1);
    let mut s = state(&me, &[&me]);
    s.handle(Input::Tick, NOW, &Disk::default());
    assert!(!s.may_sign(NOW + 4_999));
    assert!(s.may_sign(NOW + 5_000));
}

#[test]
fn a_pull_whose_answer_was_lost_is_planned_again_and_until_then_not_twice() {
    let (me, origin) = (signer(1), signer(2));
    let feed = chain(&origin, 3);
    let mut s = state(&me, &[&me, &origin]);
    let disk = Disk::default();
    let out = hear(&mut s, &origin, heads_of(&origin, &feed, NOW), NOW);
    assert_eq!(pulls(&out), vec![(origin.bureau(), 1, 3)]);
    // While the pull is in flight, more heads saying the same plan nothing more.
    let out = hear(&mut s, &origin, heads_of(&origin, &feed, NOW + 1), NOW + 1);
    assert!(pulls(&out).is_empty());
    // Its answer never came (a dropped event, a timed-out request): the range is free again.
    s.handle(
        Input::PullFailed {
            origin: origin.bureau(),
            from_seq: 1,
        },
        NOW + 2,
        &disk,
    );
    let out = hear(&mut s, &origin, heads_of(&origin, &feed, NOW + 3), NOW + 3);
    assert_eq!(pulls(&out), vec![(origin.bureau(), 1, 3)]);
}

#[test]
fn pages_answered_out_of_order_do_not_stop_the_catch_up() {
    let (me, origin) = (signer(1), signer(2));
    let page = PULL_PAGE_FOR_TEST;
    let feed = chain(&origin, 2 * page);
    let mut s = state(&me, &[&me, &origin]);
    let disk = Disk::default();
    s.handle(Input::Connected(origin.bureau()), NOW, &disk);
    let claim = (PULL_WINDOW_FOR_TEST as u64 + 1) * page;
    let out = hear(&mut s, &origin, heads_at(&origin, &origin, claim, NOW), NOW);
    assert_eq!(pulls(&out).len(), PULL_WINDOW_FOR_TEST);
    let answer = |s: &mut SyncState, from_seq: u64| {
        let results = feed[(from_seq - 1) as usize..(from_seq - 1 + page) as usize]
            .iter()
            .map(|e| Ok(e.clone()))
            .collect();
        s.handle(
            Input::PageVerified {
                from: origin.bureau(),
                origin: origin.bureau(),
                from_seq,
                results: Ok(results),
            },
            NOW,
            &disk,
        )
    };
    // The second page overtakes the first: held, and the source keeps its standing.
    let out = answer(&mut s, page + 1);
    assert!(!out.iter().any(|o| matches!(o, Output::Penalise { .. })));
    assert_eq!(s.feeds().head_seq(&origin.bureau()), 0);
    // The first page applies both, and the pull window moves on to the ninth page.
    let out = answer(&mut s, 1);
    assert_eq!(s.feeds().head_seq(&origin.bureau()), 2 * page);
    assert_eq!(
        pulls(&out),
        vec![(
            origin.bureau(),
            PULL_WINDOW_FOR_TEST as u64 * page + 1,
            page as u32
        )]
    );
}

const PULL_PAGE_FOR_TEST: u64 = super::super::feeds::PULL_PAGE;

#[test]
fn a_page_that_skips_the_seq_asked_for_loses_the_pull_slot() {
    let (me, liar, honest, origin) = (signer(1), signer(2), signer(3), signer(4));
    let feed = chain(&origin, 6);
    let mut s = state(&me, &[&me, &liar, &honest, &origin]);
    let disk = Disk::default();
    for p in [&liar, &honest] {
        s.handle(Input::Connected(p.bureau()), NOW, &disk);
    }
    let out = hear(&mut s, &liar, heads_of(&liar, &feed, NOW), NOW);
    assert_eq!(pulls(&out), vec![(liar.bureau(), 1, 6)]);
    // Real entries, but not the one asked for: the first is withheld.
    let skipping = feed[1..].iter().map(|e| Ok(e.clone())).collect();
    s.handle(
        Input::PageVerified {
            from: liar.bureau(),
            origin: origin.bureau(),
            from_seq: 1,
            results: Ok(skipping),
        },
        NOW,
        &disk,
    );
    let out = hear(&mut s, &liar, heads_of(&liar, &feed, NOW + 1), NOW + 1);
    assert!(pulls(&out).is_empty());
    let out = hear(&mut s, &honest, heads_of(&honest, &feed, NOW + 1), NOW + 1);
    assert_eq!(pulls(&out), vec![(honest.bureau(), 1, 6)]);
}
