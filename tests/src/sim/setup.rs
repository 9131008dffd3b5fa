//! Building a simulated network: signed entries, the random graph, random bytes.

use rand::{Rng, rngs::StdRng};
use striae_protocol::{
    Body, Entry, EntryId, NetworkId, NoticeContent, NoticeKind, NoticeOp, Signer, VerifiedEntry,
    feed::ENTRY_VERSION,
};

/// A notice entry, signed.
pub(super) fn notice_entry(
    signer: &Signer,
    seq: u64,
    prev: EntryId,
    now_ms: u64,
    title: &str,
    network: &NetworkId,
) -> Option<VerifiedEntry> {
    signed_notice(signer, (seq, prev), now_ms, (title, String::new()), network)
}

/// A notice entry with a body of `body_bytes`, signed: what a flooding member sends.
pub(super) fn bulky_entry(
    signer: &Signer,
    seq: u64,
    now_ms: u64,
    body_bytes: usize,
    network: &NetworkId,
) -> Option<VerifiedEntry> {
    let place = (seq, EntryId([seq as u8; 32]));
    signed_notice(
        signer,
        place,
        now_ms,
        ("flood", "x".repeat(body_bytes)),
        network,
    )
}

/// A Purple notice at `(seq, prev)` of the signer's feed with `(title, body)`, signed.
fn signed_notice(
    signer: &Signer,
    (seq, prev): (u64, EntryId),
    now_ms: u64,
    (title, body): (&str, String),
    network: &NetworkId,
) -> Option<VerifiedEntry> {
    Entry {
        version: ENTRY_VERSION,
        origin: signer.bureau(),
        seq,
        prev,
        timestamp_ms: now_ms,
        body: Body::Notice(NoticeOp::Issue(NoticeContent {
            kind: NoticeKind::Purple,
            title: title.into(),
            summary: "simulated".into(),
            body,
            expires_at_ms: now_ms + 86_400_000,
        })),
    }
    .sign(signer, network)
    .ok()
}

/// A random connected graph: a ring (so nobody is isolated) plus random links up to `degree`.
pub(super) fn random_graph(n: usize, degree: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut links: Vec<Vec<usize>> = vec![Vec::new(); n];
    let link = |a: usize, b: usize, links: &mut Vec<Vec<usize>>| {
        if a != b && !links[a].contains(&b) {
            links[a].push(b);
            links[b].push(a);
        }
    };
    for a in 0..n {
        link(a, (a + 1) % n, &mut links);
    }
    let degree = degree.min(n - 1);
    for a in 0..n {
        let mut tries = 0;
        while links[a].len() < degree && tries < 10 * degree {
            tries += 1;
            let b = rng.gen_range(0..n);
            if links[b].len() < degree + 2 {
                link(a, b, &mut links);
            }
        }
    }
    links
}

pub(super) fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.r#gen()).collect()
}
