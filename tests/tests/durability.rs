//! Durability and restart safety across real members: what a node acknowledged survives, and
//! a node restarted from an older copy of its store does not sign a second entry for a seq
//! its peers already hold.

use std::time::Duration;

use serde_json::{Value, json};
use striae_tests::{TestNet, eventually, wait_connected};

const WAIT: Duration = Duration::from_secs(30);

fn orange(title: &str) -> Value {
    json!({"kind": "orange", "title": title, "summary": "Pistols disguised as phones seen at the border"})
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restored_from_an_old_backup_catches_up_with_its_own_feed_before_signing() {
    let mut net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let (code, first) = net
        .post(0, "/v1/notices", &orange("Before the backup"))
        .await;
    assert_eq!(code, 201, "{first}");

    // The backup: member 0's store as it is now, taken while it is stopped.
    net.stop_member(0).await;
    let data = net.config(0).data_dir;
    let backup = net.dir.path().join("backup");
    copy_dir(&data, &backup);
    net.start_member(0).await;
    assert!(wait_connected(&net, WAIT).await);
    let mut later = Vec::new();
    for title in ["After the backup 1", "After the backup 2"] {
        let (code, issued) = net.post(0, "/v1/notices", &orange(title)).await;
        assert_eq!(code, 201, "{issued}");
        later.push(issued["id"].as_str().unwrap().to_string());
    }
    for id in &later {
        let path = format!("/v1/notices/{id}");
        assert!(eventually(WAIT, || async { net.get(1, &path).await.0 == 200 }).await);
    }

    // The disk is lost; the operator restores the backup and starts the node, and a notice
    // is issued at once.
    net.stop_member(0).await;
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    net.start_member(0).await;
    let (code, after) = net
        .post(0, "/v1/notices", &orange("After the restore"))
        .await;
    assert_eq!(code, 201, "{after}");
    let path = format!("/v1/notices/{}", after["id"].as_str().unwrap());
    assert!(
        eventually(WAIT, || async { net.get(1, &path).await.0 == 200 }).await,
        "the notice issued after the restore never reached the other member"
    );
    let (_, status) = net.get(1, "/v1/status").await;
    assert_eq!(status["equivocations"], json!([]), "{status}");
    // The two notices the backup did not hold came back from the peer.
    for id in &later {
        assert_eq!(net.get(0, &format!("/v1/notices/{id}")).await.0, 200);
    }
    net.shutdown().await;
}

async fn import_csv(net: &TestNet, i: usize, csv: &str, key: Option<&str>) -> (u16, Value) {
    let mut builder = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/firearms/import",
            net.node(i).api_addr
        ))
        .header("content-type", "text/csv")
        .body(csv.to_string());
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    net.send(builder, i).await
}

async fn holders(net: &TestNet, i: usize, make: &str, serial: &str) -> usize {
    let (_, v) = net
        .post(
            i,
            "/v1/firearms/check",
            &json!({"make": make, "serial": serial}),
        )
        .await;
    v["hits"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_sent_twice_stores_its_records_once() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let csv = "make,model,caliber,serial,type,status\n\
               Glock,17,9x19mm,ID-1001,pistol,stolen\n\
               Beretta,92FS,9mm Luger,ID-1002,pistol,lost\n";
    let (code, first) = import_csv(&net, 0, csv, None).await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(
        (first["imported"].as_u64(), first["repeated"].as_bool()),
        (Some(2), Some(false))
    );
    let (code, again) = import_csv(&net, 0, csv, None).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(
        (again["imported"].as_u64(), again["repeated"].as_bool()),
        (Some(2), Some(true))
    );
    // A caller-supplied key makes one import of two different documents' retries.
    let (_, keyed) = import_csv(
        &net,
        0,
        "make,model,caliber,serial,type,status\nColt,M1911,.45 ACP,ID-2001,pistol,stolen\n",
        Some("batch-7"),
    )
    .await;
    assert_eq!(keyed["imported"], 1, "{keyed}");
    let (_, retry) = import_csv(
        &net,
        0,
        "make,model,caliber,serial,type,status\nColt,M1911,.45 ACP,ID-2001,pistol,stolen\n\n",
        Some("batch-7"),
    )
    .await;
    assert_eq!(retry["repeated"], true, "{retry}");
    let (_, listed) = net.get(0, "/v1/firearms?limit=10").await;
    assert_eq!(listed["total"], 3, "{listed}");
    assert!(
        eventually(WAIT, || async {
            holders(&net, 1, "Glock", "ID-1001").await == 1
        })
        .await
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_changes_a_crash_left_unannounced_are_finished_or_undone_at_start() {
    use striae_firearms_lib::FirearmInput;
    use striae_node::{
        firearms::{
            journal::{ImportPhase, ImportState, Journal},
            records::{RECORDS_TREE, encode_input, store_key},
        },
        store::Store,
    };
    let mut net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    net.stop_member(0).await;

    // What a kill -9 leaves behind at three moments, written as the node writes it.
    let store = Store::open(&net.config(0).data_dir.join("db")).unwrap();
    let records = store.keyspace(RECORDS_TREE).unwrap();
    let journal = Journal::open(&store).unwrap();
    let next = records.last().unwrap().map_or(1, |(k, _)| {
        u64::from_be_bytes(k.as_slice().try_into().unwrap()) + 1
    });
    let input = |serial: &str| FirearmInput {
        make: "Walther".into(),
        model: "PPK".into(),
        caliber: ".380 ACP".into(),
        serial: serial.into(),
        firearm_type: "pistol".into(),
        status: "stolen".into(),
        ..Default::default()
    };
    let state = |first, phase| ImportState {
        first,
        count: 1,
        phase,
        outcome: None,
    };
    // 1. An import whose records were all written, killed while announcing.
    journal
        .set_import(&[1; 32], &state(next, ImportPhase::Announcing))
        .unwrap();
    records
        .insert(store_key(next), encode_input(&input("CR-1"), 1, 1, None))
        .unwrap();
    // 2. An import killed while writing its records: undone.
    journal
        .set_import(&[2; 32], &state(next + 1, ImportPhase::Storing))
        .unwrap();
    records
        .insert(
            store_key(next + 1),
            encode_input(&input("CR-2"), 1, 1, None),
        )
        .unwrap();
    // 3. One record created, killed before its digest was published.
    journal.mark_record(next + 2).unwrap();
    records
        .insert(
            store_key(next + 2),
            encode_input(&input("CR-3"), 1, 1, None),
        )
        .unwrap();
    store.flush_blocking().unwrap();
    let before = records.count();
    drop((records, journal, store));

    net.start_member(0).await;
    assert!(
        eventually(WAIT, || async {
            holders(&net, 1, "Walther", "CR-1").await == 1
                && holders(&net, 1, "Walther", "CR-3").await == 1
        })
        .await,
        "records written before the crash were never announced"
    );
    assert_eq!(holders(&net, 1, "Walther", "CR-2").await, 0);
    let (_, listed) = net.get(0, "/v1/firearms?limit=1").await;
    assert_eq!(
        listed["total"].as_u64(),
        Some(before as u64 - 1),
        "{listed}"
    );
    net.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_is_private_to_the_node_user() {
    use std::os::unix::fs::PermissionsExt;
    let net = TestNet::start(1).await;
    let data = net.config(0).data_dir;
    for dir in [data.clone(), data.join("db")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", dir.display());
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_the_disk_cannot_keep_is_refused_and_never_announced() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let (code, kept) = net.post(0, "/v1/notices", &orange("Kept")).await;
    assert_eq!(code, 201, "{kept}");
    let path = format!("/v1/notices/{}", kept["id"].as_str().unwrap());
    assert!(eventually(WAIT, || async { net.get(1, &path).await.0 == 200 }).await);

    // The disk fails under the running node: sled's log file can no longer be synced.
    std::fs::remove_file(net.config(0).data_dir.join("db").join("db")).unwrap();
    let (code, refused) = net.post(0, "/v1/notices", &orange("Lost")).await;
    assert!(
        code >= 500,
        "a write the disk may not keep was answered {code}: {refused}"
    );
    // Replication stopped rather than announce what may not survive: later publications are
    // refused and the other member never learns of the entry.
    let (code, later) = net.post(0, "/v1/notices", &orange("Later")).await;
    assert_eq!(code, 503, "{later}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, listed) = net.get(1, "/v1/notices").await;
    let titles = listed.to_string();
    assert!(
        titles.contains("Kept") && !titles.contains("Lost"),
        "{listed}"
    );
    net.shutdown().await;
}
