//! Measures entry verification speed, one by one and in batches (prints one JSON line).

use std::time::Instant;

use striae_protocol::{
    Body, Entry, EntryId, NetworkId, NoticeContent, NoticeKind, NoticeOp, Signer,
    feed::{ENTRY_VERSION, UnverifiedEntry, verify_batch},
};

fn main() {
    let net = NetworkId::from_name("bench");
    let signer = Signer::from_seed([1; 32]);
    let n = 4096u64;
    let mut prev = EntryId::GENESIS;
    let wires: Vec<Vec<u8>> = (1..=n)
        .map(|seq| {
            let e = Entry {
                version: ENTRY_VERSION,
                origin: signer.bureau(),
                seq,
                prev,
                timestamp_ms: 1,
                body: Body::Notice(NoticeOp::Issue(NoticeContent {
                    kind: NoticeKind::Orange,
                    title: format!("title {seq}"),
                    summary: "summary of a typical length for a notice".into(),
                    body: String::new(),
                    expires_at_ms: 2,
                })),
            }
            .sign(&signer, &net)
            .expect("sign");
            prev = e.id;
            e.wire
        })
        .collect();
    let decode = || -> Vec<UnverifiedEntry> {
        wires
            .iter()
            .map(|w| UnverifiedEntry::decode(w).expect("decode"))
            .collect()
    };
    let t = Instant::now();
    let d = decode();
    let decode_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for e in d {
        e.verify(&net).expect("valid");
    }
    let single_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let d = decode();
    let t = Instant::now();
    let mut it = d.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<_> = it.by_ref().take(128).collect();
        assert!(verify_batch(chunk, &net).iter().all(Result::is_ok));
    }
    let batch_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "{{\"decode_us\":{decode_us:.2},\"verify_single_us\":{single_us:.2},\"verify_batch128_us\":{batch_us:.2}}}"
    );
}
