//! `flush`: what a durable write costs. The same small writes, each followed by a flush, in
//! sled alone (its flush ends in `sync_file_range`) and through the node's `SledStore` (sled's
//! flush, then `fsync` of the log, changed blob files and folders).

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use striae_node::store::{KeyValueStore, SledStore};

use crate::percentile;

/// Bytes per write: about one signed notice entry.
const VALUE_BYTES: usize = 400;

pub fn run(writes: usize) -> Result<()> {
    let dir = tempfile::tempdir().context("temporary folder")?;
    let value = vec![0x5a; VALUE_BYTES];
    let sled_only = {
        let db = sled::Config::new()
            .path(dir.path().join("sled-only"))
            .mode(sled::Mode::HighThroughput)
            .open()
            .context("open sled")?;
        timed(writes, |i| {
            db.insert(key(i), value.as_slice())?;
            db.flush()?;
            Ok(())
        })?
    };
    let fsynced = {
        let store = SledStore::open(&dir.path().join("store")).context("open the store")?;
        let keyspace = store.keyspace("bench")?;
        timed(writes, |i| {
            keyspace.insert(key(i), &value)?;
            store.flush()?;
            Ok(())
        })?
    };
    let summary = |ms: &[f64]| {
        json!({
            "p50_ms": percentile(ms, 50.0),
            "p99_ms": percentile(ms, 99.0),
            "writes_per_s": ms.len() as f64 / (ms.iter().sum::<f64>() / 1000.0),
        })
    };
    println!(
        "{}",
        json!({
            "writes": writes,
            "value_bytes": VALUE_BYTES,
            "sled_flush": summary(&sled_only),
            "store_flush_fsync": summary(&fsynced),
        })
    );
    Ok(())
}

fn key(i: usize) -> [u8; 8] {
    (i as u64).to_be_bytes()
}

/// Runs `write` `count` times; the milliseconds each took, sorted.
fn timed(count: usize, mut write: impl FnMut(usize) -> Result<()>) -> Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        write(i)?;
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}
