//! The workloads a victim runs when it is killed: imports, notices, traces, uploads.

use super::*;

/// Acknowledged writes of the running round, recorded as each answer arrives.
pub(super) type Acks = Arc<Mutex<Vec<Write>>>;

pub(super) fn acknowledge(acks: &Acks, write: Write) {
    if let Ok(mut acks) = acks.lock() {
        acks.push(write);
    }
}

/// A refusal the harness did not expect (the workloads only send valid writes).
pub(super) fn refused(what: &str, answer: &Answer) -> anyhow::Error {
    anyhow::anyhow!("{what}: answered {} {}", answer.status, answer.body)
}

/// Imports the records of `share` in batches, `IMPORTS_IN_FLIGHT` requests at a time, until
/// the share is sent or the member stops answering.
pub(super) async fn import_share(
    api: Api,
    share: std::ops::Range<u64>,
    batch: u64,
    acks: Acks,
) -> Result<()> {
    let cursor = Arc::new(AtomicU64::new(share.start));
    let sender = |_| {
        let (api, cursor, acks, share) = (api.clone(), cursor.clone(), acks.clone(), share.clone());
        async move {
            loop {
                let first = cursor.fetch_add(batch, Ordering::SeqCst);
                if first >= share.end {
                    return Ok(());
                }
                let count = batch.min(share.end - first);
                let body = records_csv(first, count);
                let Ok(answer) = api
                    .post_bytes("/v1/firearms/import", "text/csv", body)
                    .await
                else {
                    return Ok(());
                };
                if !answer.ok() || answer.body["imported"].as_u64() != Some(count) {
                    return Err(refused("import", &answer));
                }
                acknowledge(&acks, Write::Records { first, count });
            }
        }
    };
    let senders = (0..IMPORTS_IN_FLIGHT).map(sender);
    futures::future::try_join_all(senders).await?;
    Ok(())
}

/// Publishes notices from `NOTICE_PUBLISHERS` loops until the member stops answering.
pub(super) async fn publish_notices(api: Api, fixtures: Arc<Fixtures>, acks: Acks) -> Result<()> {
    let publisher = |_| {
        let (api, fixtures, acks) = (api.clone(), fixtures.clone(), acks.clone());
        async move {
            loop {
                let label = fixtures.label();
                let title = format!("Crash test notice {label}");
                let body = json!({
                    "kind": if label % 2 == 0 { "orange" } else { "purple" },
                    "title": title,
                    "summary": "A short warning published while the member may be killed.",
                });
                let Ok(answer) = api.post_json("/v1/notices", &body).await else {
                    return Ok(());
                };
                let Some(id) = answer.body["id"].as_str().filter(|_| answer.ok()) else {
                    return Err(refused("notice", &answer));
                };
                acknowledge(
                    &acks,
                    Write::Notice {
                        id: id.to_string(),
                        title,
                    },
                );
            }
        }
    };
    futures::future::try_join_all((0..NOTICE_PUBLISHERS).map(publisher)).await?;
    Ok(())
}

/// Starts traces of records the other members hold until the member stops answering.
pub(super) async fn start_traces(
    api: Api,
    victim: usize,
    fixtures: Arc<Fixtures>,
    acks: Acks,
    seed: u64,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let holder = (victim + rng.gen_range(1..MEMBERS)) % MEMBERS;
        let record = fixtures.setup_records[holder] + rng.gen_range(0..SETUP_RECORDS);
        let (make, serial) = record_key(record);
        let body = json!({
            "make": make,
            "serial": serial,
            "case_ref": format!("KILL-TRACE-{}", fixtures.label()),
            "reason": "crash test: a trace started while the member may be killed",
        });
        let Ok(answer) = api.post_json("/v1/traces", &body).await else {
            return Ok(());
        };
        let Some(id) = answer.body["id"].as_str().filter(|_| answer.ok()) else {
            return Err(refused("trace", &answer));
        };
        acknowledge(&acks, Write::Trace { id: id.to_string() });
        // Paced: a reviewed answer is delivered at most 32 per 5 s tick, and each trace
        // acknowledged here is waited for until it is answered.
        tokio::time::sleep(TRACE_PAUSE).await;
    }
}

/// Uploads scans as exhibits, one after another, until the member stops answering (or every
/// scan has been uploaded `MAX_COPIES_PER_SCAN` times over the run).
pub(super) async fn upload_exhibits(api: Api, fixtures: Arc<Fixtures>, acks: Acks) -> Result<()> {
    loop {
        let upload = fixtures.uploads.fetch_add(1, Ordering::SeqCst);
        if upload >= MAX_COPIES_PER_SCAN * fixtures.scans.len() as u64 {
            return Ok(());
        }
        let label = fixtures.label();
        let scan = (upload % fixtures.scans.len() as u64) as usize;
        let path =
            format!("/v1/ballistics?kind=cartridge_case&caliber=9mm%20Luger&case_ref=KILL-{label}");
        let bytes = fixtures.scans[scan].1.clone();
        let Ok(answer) = api
            .post_bytes(&path, "application/octet-stream", bytes)
            .await
        else {
            return Ok(());
        };
        let (Some(id), Some(exhibit_ref)) = (
            answer.body["id"].as_str().filter(|_| answer.ok()),
            answer.body["exhibit_ref"].as_str(),
        ) else {
            return Err(refused("exhibit", &answer));
        };
        acknowledge(
            &acks,
            Write::Exhibit {
                id: id.to_string(),
                exhibit_ref: exhibit_ref.to_string(),
                scan,
            },
        );
        tokio::time::sleep(UPLOAD_PAUSE).await;
    }
}
