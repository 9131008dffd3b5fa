//! Measures sled batched inserts: sequential vs random keys (prints one JSON line).
use std::time::Instant;

fn run(random: bool, value: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tmp");
    let db = sled::Config::new()
        .path(dir.path())
        .mode(sled::Mode::HighThroughput)
        .open()
        .expect("open");
    let tree = db.open_tree("t").expect("tree");
    let n = 100_000u64;
    let t = Instant::now();
    let mut batch = sled::Batch::default();
    for i in 0..n {
        let key = if random {
            blake3::hash(&i.to_be_bytes()).as_bytes()[..16].to_vec()
        } else {
            i.to_be_bytes().to_vec()
        };
        batch.insert(key, vec![7u8; value]);
        if i % 1024 == 1023 {
            tree.apply_batch(std::mem::take(&mut batch)).expect("batch");
        }
    }
    tree.apply_batch(batch).expect("batch");
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    println!(
        "{{\"seq_300\":{:.0},\"random_300\":{:.0},\"seq_600\":{:.0},\"random_600\":{:.0}}}",
        run(false, 300),
        run(true, 300),
        run(false, 600),
        run(true, 600)
    );
}
