//! Ballistic evidence across real members, through the HTTP API: a cartridge case entered at
//! one member finds its same-gun mate held by another and the holder confirms it; an offline
//! holder leaves its candidates unconfirmed without failing the search; a lead appears
//! without anyone searching and is confirmed once an operator approves it; bad files and
//! parameters are refused with a 4xx naming the problem; and leave-one-out accuracy on the
//! Fadul scans when they are present.
//!
//! Scans: the real Fadul scans (`../shared/datasets/fadul-known`, or `STRIAE_DATASET_DIR`)
//! when present, otherwise synthetic scans of one make (two cases per gun).

use std::{
    collections::HashMap,
    io::{Cursor, Read},
    path::PathBuf,
    time::Duration,
};

use serde_json::Value;
use striae_ballistics_lib::{
    eval::{find_dataset, label_from_name},
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::{write_x3p, zip_files},
};
use striae_protocol::{
    SignedMessage, SyncRequest, SyncResponse,
    ballistic::{ConfirmRequest, ProbeSurface},
    firearm::RecordRef,
};
use striae_tests::{TestNet, eventually, wait_connected};

const WAIT: Duration = Duration::from_secs(60);

/// Cases of the same guns, real or synthetic. Fadul slides 1, 6 and 7 are strong same-gun
/// pairs (over 20 CMCs); 2 and 3 serve as other guns.
struct Scans {
    dir: Option<PathBuf>,
}

impl Scans {
    fn new() -> Self {
        let dir =
            find_dataset(env!("CARGO_MANIFEST_DIR")).filter(|d| d.join("fadul-1-1.x3p").is_file());
        if dir.is_none() {
            println!("Fadul scans not found: using synthetic scans");
        }
        Scans { dir }
    }

    /// Case `shot` (1 or 2) fired by gun `gun`.
    fn case(&self, gun: u64, shot: u64) -> Vec<u8> {
        let real = [1, 6, 7, 2, 3];
        match &self.dir {
            Some(dir) => {
                let slide = real[(gun as usize - 1) % real.len()];
                std::fs::read(dir.join(format!("fadul-{slide}-{shot}.x3p"))).expect("read scan")
            }
            None => {
                let params = SyntheticParams {
                    size: 272,
                    pixel_um: 12.5,
                    ..SyntheticParams::default()
                };
                write_x3p(&synthetic_scan(3, gun, shot, &params))
            }
        }
    }
}

fn url(net: &TestNet, i: usize, path: &str) -> String {
    format!("http://{}{path}", net.node(i).api_addr)
}

async fn post_raw(net: &TestNet, i: usize, path: &str, bytes: Vec<u8>) -> (u16, Value) {
    let builder = reqwest::Client::new()
        .post(url(net, i, path))
        .header("content-type", "application/octet-stream")
        .body(bytes);
    net.send(builder, i).await
}

async fn add(net: &TestNet, i: usize, bytes: Vec<u8>, case_ref: &str) -> String {
    let path =
        format!("/v1/ballistics?kind=cartridge_case&caliber=9mm%20Luger&case_ref={case_ref}");
    let (code, v) = post_raw(net, i, &path, bytes).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["caliber_class"], "cal:9x19", "{v}");
    assert_eq!(v["digest_bytes"], 4040);
    v["id"].as_str().expect("id").to_string()
}

/// Waits until member `i` holds at least `n` digests (screening only, no confirmation).
async fn wait_digests(net: &TestNet, i: usize, exhibit: &str, n: u64) {
    let path = format!("/v1/ballistics/{exhibit}/search?confirm=0&limit=50");
    let held = eventually(WAIT, || async {
        let (code, v) = net.post(i, &path, &Value::Null).await;
        code == 200 && v["digests_held"].as_u64().unwrap_or(0) >= n
    })
    .await;
    assert!(held, "member {i} never held {n} digests");
}

fn audit_actions(audit: &Value) -> Vec<(String, String)> {
    audit
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["direction"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_gun_case_held_abroad_is_found_and_confirmed_by_its_holder() {
    let scans = Scans::new();
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");

    // DE holds the mate of FR's case; ES and DE hold cases of other guns.
    let mate = add(&net, 1, scans.case(1, 1), "DE-2024-0117").await;
    add(&net, 1, scans.case(4, 1), "DE-2024-0200").await;
    add(&net, 2, scans.case(5, 1), "ES-77").await;
    let probe = add(&net, 0, scans.case(1, 2), "FR-SHOOTING-1").await;
    wait_digests(&net, 0, &probe, 4).await;

    // The raw scan is kept whole at its holder, named by its content.
    let (_, shown) = net.get(0, &format!("/v1/ballistics/{probe}")).await;
    let blob = shown["blob"].as_str().unwrap();
    let path = net
        .member_dir(0)
        .join("data/blobs")
        .join(&blob[..2])
        .join(&blob[2..4])
        .join(blob);
    assert_eq!(std::fs::read(path).unwrap(), scans.case(1, 2));

    // By upload.
    let (code, found) = post_raw(
        &net,
        0,
        "/v1/ballistics/search?kind=cartridge_case&caliber=9x19&case_ref=FR-SHOOTING-1&limit=5",
        scans.case(1, 2),
    )
    .await;
    assert_eq!(code, 200, "{found}");
    let top = &found["candidates"][0];
    assert_eq!(top["exhibit_ref"], mate.as_str(), "{found}");
    assert_eq!(top["country"], "DE");
    assert_eq!(top["rank"], 1);
    assert_eq!(top["confirmed"], true, "{found}");
    assert!(top["confirm_score"].as_u64().unwrap() >= 6, "{top}");
    assert_eq!(top["signature_valid"], true);
    assert!(top["screen_score"].as_f64().is_some());
    let others: Vec<&Value> = found["candidates"].as_array().unwrap()[1..]
        .iter()
        .collect();
    assert!(
        others.iter().all(|c| c["confirmed"] == false),
        "a different gun was confirmed: {found}"
    );

    // By the stored exhibit: the probe itself is never a candidate.
    let (code, stored) = net
        .post(
            0,
            &format!("/v1/ballistics/{probe}/search?limit=10"),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{stored}");
    assert_eq!(stored["candidates"][0]["exhibit_ref"], mate.as_str());
    assert!(
        stored["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["exhibit_ref"] != probe.as_str()),
        "{stored}"
    );

    // Both sides logged the exchange.
    let (_, theirs) = net.get(1, "/v1/audit").await;
    let actions = audit_actions(&theirs);
    assert!(
        actions.contains(&("in".into(), "confirm_request".into())),
        "{theirs}"
    );
    assert!(
        actions.contains(&("out".into(), "confirm_response".into())),
        "{theirs}"
    );
    let req = theirs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "confirm_request")
        .unwrap();
    assert_eq!(req["peer_country"], "FR");
    assert_eq!(req["details"]["case_ref"], "FR-SHOOTING-1");
    let (_, ours) = net.get(0, "/v1/audit").await;
    let actions = audit_actions(&ours);
    assert!(
        actions.contains(&("out".into(), "confirm_request".into())),
        "{ours}"
    );
    assert!(
        actions.contains(&("in".into(), "confirm_response".into())),
        "{ours}"
    );
    let (_, verified) = net.get(1, "/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_holder_leaves_its_candidates_unconfirmed_and_the_search_answers() {
    let scans = Scans::new();
    let mut net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let mate = add(&net, 1, scans.case(1, 1), "DE-1").await;
    let other = add(&net, 2, scans.case(4, 1), "ES-1").await;
    let probe = add(&net, 0, scans.case(1, 2), "FR-1").await;
    wait_digests(&net, 0, &probe, 3).await;

    net.stop_member(1).await;
    let offline = eventually(WAIT, || async {
        let (_, peers) = net.get(0, "/v1/peers").await;
        peers
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["country"] == "DE" && p["connected"] == false)
    })
    .await;
    assert!(offline, "FR never noticed DE going offline");
    let (code, found) = net
        .post(
            0,
            &format!("/v1/ballistics/{probe}/search?limit=10"),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{found}");
    let list = found["candidates"].as_array().unwrap();
    let de = list
        .iter()
        .find(|c| c["exhibit_ref"] == mate.as_str())
        .expect("DE's case is still screened");
    assert_eq!(de["confirmed"], false);
    assert_eq!(de["confirmation"], "holder_offline", "{de}");
    assert!(de.get("confirm_score").is_none());
    let es = list
        .iter()
        .find(|c| c["exhibit_ref"] == other.as_str())
        .expect("ES's case");
    assert_eq!(es["confirmation"], "not_confirmed", "{es}");
    assert!(es["confirm_score"].as_u64().is_some());

    // DE comes back: its exhibits, prepared surfaces and screening index survive the restart.
    net.start_member(1).await;
    assert!(wait_connected(&net, WAIT).await, "DE did not reconnect");
    let (code, found) = net
        .post(
            0,
            &format!("/v1/ballistics/{probe}/search?limit=10"),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{found}");
    assert_eq!(
        found["candidates"][0]["exhibit_ref"],
        mate.as_str(),
        "{found}"
    );
    assert_eq!(found["candidates"][0]["confirmed"], true, "{found}");
    let (code, back) = net
        .post(
            1,
            &format!("/v1/ballistics/{mate}/search?limit=10"),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{back}");
    assert_eq!(back["digests_held"], 3, "{back}");
    assert_eq!(
        back["candidates"][0]["exhibit_ref"],
        probe.as_str(),
        "{back}"
    );
    assert_eq!(back["candidates"][0]["country"], "FR");
    assert_eq!(back["candidates"][0]["confirmed"], true, "{back}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_appears_when_another_member_adds_a_same_gun_case() {
    let scans = Scans::new();
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let ours = add(&net, 1, scans.case(1, 1), "DE-OPEN-CASE").await;
    let (_, none) = net.get(1, "/v1/ballistics/leads").await;
    assert_eq!(none, serde_json::json!([]));

    // FR adds the other case of the same gun; nobody searches. The lead is proposed, and our
    // surface goes to FR only once an operator approves it.
    let theirs = add(&net, 0, scans.case(1, 2), "FR-9").await;
    let proposed = eventually(WAIT, || async {
        let (_, leads) = net.get(1, "/v1/ballistics/leads").await;
        leads
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["exhibit_ref"] == theirs.as_str() && l["confirmation"] == "proposed")
    })
    .await;
    let (_, leads) = net.get(1, "/v1/ballistics/leads").await;
    assert!(proposed, "no proposed lead: {leads}");
    let (_, audit) = net.get(1, "/v1/audit").await;
    assert!(!audit_actions(&audit).contains(&("out".into(), "confirm_request".into())));
    let id = leads[0]["id"].as_str().unwrap();
    let (code, v) = net
        .post(
            1,
            &format!("/v1/ballistics/leads/{id}/approve"),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{v}");
    let confirmed = eventually(WAIT, || async {
        let (_, leads) = net.get(1, "/v1/ballistics/leads").await;
        leads
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["exhibit_ref"] == theirs.as_str() && l["confirmation"] == "confirmed")
    })
    .await;
    let (code, leads) = net.get(1, "/v1/ballistics/leads").await;
    assert_eq!(code, 200);
    assert!(confirmed, "no confirmed lead: {leads}");
    let lead = leads
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["exhibit_ref"] == theirs.as_str())
        .unwrap();
    assert_eq!(lead["local_exhibit"], ours.as_str());
    assert_eq!(lead["country"], "FR");
    assert!(lead["screen_score"].as_f64().unwrap() >= 0.05);
    assert!(lead["confirm_score"].as_u64().unwrap() >= 6, "{lead}");
    assert!(lead["found_at"].as_str().is_some());
    let (_, only) = net.get(1, "/v1/ballistics/leads?confirmed=true").await;
    assert!(
        only.as_array()
            .unwrap()
            .iter()
            .all(|l| l["confirmed"] == true),
        "{only}"
    );
    assert!(!only.as_array().unwrap().is_empty());
    let (code, v) = net.get(1, "/v1/ballistics/leads?confirmed=maybe").await;
    assert_eq!(
        (code, &v["error"]["field"]),
        (400, &Value::from("confirmed"))
    );
    // FR confirmed on its own scan, and says so in its audit log.
    let (_, audit) = net.get(0, "/v1/audit").await;
    assert!(audit_actions(&audit).contains(&("out".into(), "confirm_response".into())));

    // A retracted exhibit no longer leads anywhere.
    let (code, _) = net
        .send(
            reqwest::Client::new().delete(url(&net, 0, &format!("/v1/ballistics/{theirs}"))),
            0,
        )
        .await;
    assert_eq!(code, 200);
    let gone = eventually(WAIT, || async {
        let (_, leads) = net.get(1, "/v1/ballistics/leads").await;
        leads.as_array().is_some_and(|l| l.is_empty())
    })
    .await;
    assert!(gone, "the lead outlived the retraction");
    net.shutdown().await;
}

/// All entries of a zip, to damage one.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("entry");
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("read");
            (f.name().to_string(), v)
        })
        .collect()
}

fn damaged(good: &[u8], edit: impl Fn(&str, &mut Vec<u8>)) -> Vec<u8> {
    let mut files = entries(good);
    for (name, content) in files.iter_mut() {
        edit(name, content);
    }
    zip_files(&files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_and_bad_parameters_are_refused_with_the_problem_named() {
    let net = TestNet::start(1).await;
    let params = SyntheticParams {
        size: 160,
        pixel_um: 12.5,
        ..SyntheticParams::default()
    };
    let good = write_x3p(&synthetic_scan(1, 1, 1, &params));
    let add_path = "/v1/ballistics?kind=cartridge_case&caliber=9x19&case_ref=C1";

    // Inspection reports what is there, and stores nothing.
    let (code, info) = post_raw(&net, 0, "/v1/x3p/inspect", good.clone()).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["size_x"], 160);
    assert_eq!(info["size_y"], 160);
    assert_eq!(info["data_type"], "D");
    assert!((info["increment_x"].as_f64().unwrap() - 12.5e-6).abs() < 1e-12);
    assert!(info["valid_points"].as_u64().unwrap() > 1000);
    assert_eq!(net.get(0, "/v1/ballistics").await.1, serde_json::json!([]));

    let bad_md5 = damaged(&good, |name, c| {
        if name.ends_with("data.bin") {
            c[100] ^= 0x40;
        }
    });
    let truncated = damaged(&good, |name, c| {
        if name.ends_with("data.bin") {
            c.truncate(c.len() - 8);
        }
    });
    let absurd = damaged(&good, |name, c| {
        if name.ends_with("main.xml") {
            *c = String::from_utf8_lossy(c)
                .replace("<SizeX>160</SizeX>", "<SizeX>4000000000</SizeX>")
                .into_bytes();
        }
    });
    // A long strip: a valid file, but no breech face is 20 mm long.
    let strip = write_x3p(&striae_ballistics_lib::x3p::X3pScan::new(
        1600,
        48,
        12.5e-6,
        12.5e-6,
        (0..1600 * 48)
            .map(|i| {
                ((i % 1600) as f64 * 0.37).sin() * 1e-6 + ((i / 1600) as f64 * 0.21).cos() * 1e-6
            })
            .collect(),
    ));
    let (code, v) = post_raw(&net, 0, add_path, strip).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["field"], "body");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("crop the scan"),
        "{v}"
    );

    let files: [(&str, Vec<u8>, &str); 5] = [
        ("empty body", Vec::new(), "empty"),
        ("not a zip", b"hello, not a scan".to_vec(), "not a zip"),
        ("wrong MD5", bad_md5, "MD5"),
        ("truncated data", truncated, "truncated"),
        ("absurd dimensions", absurd, "dimensions"),
    ];
    for (what, bytes, says) in files {
        for path in [
            add_path,
            "/v1/x3p/inspect",
            "/v1/ballistics/search?kind=cartridge_case&caliber=9x19",
        ] {
            let (code, v) = post_raw(&net, 0, path, bytes.clone()).await;
            assert_eq!(code, 400, "{what} at {path}: {v}");
            assert_eq!(v["error"]["field"], "body", "{what}: {v}");
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{what}: {message}");
        }
    }

    let params: [(&str, &str, &str); 9] = [
        (
            "/v1/ballistics?kind=bullet&caliber=9x19&case_ref=C1",
            "content-type",
            "multipart/form-data",
        ),
        (
            "/v1/ballistics?kind=shell&caliber=9x19&case_ref=C1",
            "kind",
            "not an evidence kind",
        ),
        (
            "/v1/ballistics?caliber=9x19&case_ref=C1",
            "kind",
            "required",
        ),
        (
            "/v1/ballistics?kind=cartridge_case&case_ref=C1",
            "caliber",
            "required",
        ),
        (
            "/v1/ballistics?kind=cartridge_case&caliber=9x19",
            "case_ref",
            "required",
        ),
        (
            "/v1/ballistics/search?kind=cartridge_case&caliber=9x19&limit=0",
            "limit",
            "1 to 50",
        ),
        (
            "/v1/ballistics/search?kind=cartridge_case&caliber=9x19&limit=5000",
            "limit",
            "1 to 50",
        ),
        (
            "/v1/ballistics/search?kind=cartridge_case&caliber=9x19&limit=ten",
            "limit",
            "1 to 50",
        ),
        (
            "/v1/ballistics/search?kind=cartridge_case&caliber=9x19&limt=5",
            "limt",
            "unknown parameter",
        ),
    ];
    for (path, field, says) in params {
        let (code, v) = post_raw(&net, 0, path, good.clone()).await;
        assert_eq!(code, 400, "{path}: {v}");
        assert_eq!(v["error"]["field"], field, "{path}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }
    let (code, v) = post_raw(
        &net,
        0,
        "/v1/ballistics/search?kind=bullet&caliber=9x19",
        good.clone(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["error"]["field"], "content-type", "{v}");
    // A bullet's lands that are not scans are refused naming the land.
    let mut form = Vec::new();
    for land in [&good[..], b"not an x3p file", &good[..]] {
        form.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"land\"\r\n\r\n");
        form.extend_from_slice(land);
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(b"--B--\r\n");
    let builder = reqwest::Client::new()
        .post(url(
            &net,
            0,
            "/v1/ballistics?kind=bullet&caliber=9x19&case_ref=C1",
        ))
        .header("content-type", "multipart/form-data; boundary=B")
        .body(form);
    let (code, v) = net.send(builder, 0).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["field"], "body", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("land 2"),
        "{v}"
    );

    // An unknown caliber is accepted, flagged, and screened against every class.
    let (code, v) = post_raw(
        &net,
        0,
        "/v1/ballistics?kind=cartridge_case&caliber=9mm&case_ref=C2",
        good.clone(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["caliber_class"], "unknown");
    assert_eq!(v["caliber_known"], false);
    assert!(v["warnings"][0].as_str().unwrap().contains("9mm"), "{v}");

    let missing = "0123456789abcdef0123456789abcdef";
    let (code, v) = net
        .post(0, &format!("/v1/ballistics/{missing}/search"), &Value::Null)
        .await;
    assert_eq!(code, 404, "{v}");
    let (code, _) = net.get(0, &format!("/v1/ballistics/{missing}")).await;
    assert_eq!(code, 404);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_one_out_on_the_fadul_scans_through_the_api_meets_the_targets() {
    let Some(dir) = find_dataset(env!("CARGO_MANIFEST_DIR")).filter(|d| d.is_dir()) else {
        println!(
            "SKIPPED: the Fadul scans were not found. Put them in ../shared/datasets/fadul-known \
             (github.com/CSAFE-ISU/cartridgeCaseScans, folder fadulProcessed/, files renamed \
             fadul-G-S.x3p) or set STRIAE_DATASET_DIR."
        );
        return;
    };
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("dataset folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            label_from_name(&name).map(|label| (label, p))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "too few labelled scans in {}",
        dir.display()
    );
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    // Alternate members, so every search crosses a border for some candidates.
    let mut label_of: HashMap<String, String> = HashMap::new();
    let mut at: Vec<(usize, String)> = Vec::new();
    for (n, (label, path)) in files.iter().enumerate() {
        let member = n % 2;
        let id = add(
            &net,
            member,
            std::fs::read(path).unwrap(),
            &format!("LOO-{n}"),
        )
        .await;
        label_of.insert(id.clone(), label.clone());
        at.push((member, id));
    }
    for member in 0..2 {
        let first = &at.iter().find(|a| a.0 == member).unwrap().1;
        wait_digests(&net, member, first, files.len() as u64).await;
    }
    let (mut top1, mut top10, mut false_confirmations, mut probes) = (0, 0, 0, 0);
    for (member, id) in &at {
        let (code, v) = net
            .post(
                *member,
                &format!("/v1/ballistics/{id}/search?limit=10"),
                &Value::Null,
            )
            .await;
        assert_eq!(code, 200, "{v}");
        let label = &label_of[id];
        let candidates = v["candidates"].as_array().unwrap();
        let same = |c: &Value| label_of.get(c["exhibit_ref"].as_str().unwrap_or("")) == Some(label);
        probes += 1;
        // Ranked by the holders' confirmation (CMC count, then screening score).
        let key = |c: &Value| {
            (
                c["confirm_score"].as_u64().unwrap_or(0),
                c["screen_score"].as_f64().unwrap_or(-1.0),
            )
        };
        let best = candidates.iter().max_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        top1 += usize::from(best.is_some_and(same));
        top10 += usize::from(candidates.iter().any(same));
        false_confirmations += candidates
            .iter()
            .filter(|c| !same(c) && c["confirmed"] == true)
            .count();
    }
    let (top1, top10) = (top1 as f64 / probes as f64, top10 as f64 / probes as f64);
    println!(
        "through the API: confirmation top-1 {top1:.2}, screening top-10 {top10:.2}, false confirmations {false_confirmations}"
    );
    assert!(top1 >= 0.9, "confirmation top-1 {top1}");
    assert!(top10 >= 0.99, "screening top-10 {top10}");
    assert_eq!(false_confirmations, 0);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_requests_that_do_not_hold_up_are_refused_and_logged() {
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (fr, de, es) = (
        &net.node(0).handle,
        &net.node(1).handle,
        &net.node(2).handle,
    );
    let probe = |nx: u32, ny: u32| ProbeSurface {
        nx,
        ny,
        pixel_um: 12.5,
        center_x: f64::from(nx) / 2.0,
        center_y: f64::from(ny) / 2.0,
        z: vec![0.5; (nx * ny) as usize],
    };
    let request = |requester, probe| ConfirmRequest {
        search_id: [7; 16],
        requester,
        issued_at_ms: 1,
        case_ref: "FR-X".into(),
        probe,
        exhibits: vec![RecordRef([1; 16])],
        acting: String::new(),
    };
    let refused = |answer: Result<SyncResponse, striae_node::core::AskError>| match answer {
        Ok(SyncResponse::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // Signed by ES but sent by FR.
    let forged =
        SignedMessage::sign(&request(es.me, probe(64, 64)), &es.signer, &es.network).unwrap();
    let why = refused(fr.ask(&de.me, SyncRequest::Confirm(forged)).await);
    assert!(why.contains("signed by"), "{why}");

    // A signature that does not verify.
    let mut tampered =
        SignedMessage::sign(&request(fr.me, probe(64, 64)), &fr.signer, &fr.network).unwrap();
    tampered.signature[0] ^= 1;
    let why = refused(fr.ask(&de.me, SyncRequest::Confirm(tampered)).await);
    assert!(why.contains("does not verify"), "{why}");

    // A probe far larger than any breech face (it would cost the holder minutes of CPU).
    let huge =
        SignedMessage::sign(&request(fr.me, probe(4000, 2)), &fr.signer, &fr.network).unwrap();
    let why = refused(fr.ask(&de.me, SyncRequest::Confirm(huge)).await);
    assert!(why.contains("too large"), "{why}");

    // A sound request for an exhibit DE does not hold: answered, signed, "unknown".
    let fine =
        SignedMessage::sign(&request(fr.me, probe(64, 64)), &fr.signer, &fr.network).unwrap();
    match fr.ask(&de.me, SyncRequest::Confirm(fine)).await {
        Ok(SyncResponse::Confirm(signed)) => {
            let answer: striae_protocol::ballistic::ConfirmResponse =
                signed.open(&fr.network).unwrap();
            assert_eq!(answer.responder, de.me);
            assert_eq!(
                answer.results,
                vec![(
                    RecordRef([1; 16]),
                    striae_protocol::ballistic::Comparison::UnknownExhibit
                )]
            );
        }
        other => panic!("expected a signed answer, got {other:?}"),
    }
    let (_, audit) = net.get(1, "/v1/audit").await;
    let requests: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "confirm_request")
        .collect();
    assert_eq!(
        requests.len(),
        2,
        "the oversized and the sound request are logged: {audit}"
    );
    assert!(
        requests[0]["details"]["refused"]
            .as_str()
            .unwrap()
            .contains("too large")
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_examiner_sees_an_exhibit_as_a_picture_of_its_prepared_surface() {
    let scans = Scans::new();
    let net = TestNet::start(1).await;
    let id = add(&net, 0, scans.case(1, 1), "FR-PICTURE-1").await;
    let response = reqwest::Client::new()
        .get(url(&net, 0, &format!("/v1/ballistics/{id}/image")))
        .bearer_auth(&net.members[0].token)
        .send()
        .await
        .expect("image answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.expect("image body");
    let mut reader = png::Decoder::new(Cursor::new(bytes.to_vec()))
        .read_info()
        .expect("a PNG");
    let mut rgba = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgba).expect("a frame");
    assert!(info.width >= 100 && info.height >= 100, "{info:?}");
    // The surface is drawn: many distinct colours, and clear pixels outside its region.
    let pixels: std::collections::HashSet<&[u8]> = rgba[..info.buffer_size()].chunks(4).collect();
    assert!(pixels.len() > 50, "only {} colours", pixels.len());
    assert!(
        pixels.iter().any(|p| p[3] == 0),
        "no clear pixel outside the region"
    );

    let unknown = "00000000000000000000000000000000";
    let (code, v) = net.get(0, &format!("/v1/ballistics/{unknown}/image")).await;
    assert_eq!(code, 404, "{v}");
    let (code, v) = net.get(0, "/v1/ballistics/not-an-id/image").await;
    assert_eq!(code, 400, "{v}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_candidate_abroad_is_shown_with_its_congruent_cells_and_an_unconfirmed_one_is_not()
 {
    let scans = Scans::new();
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");
    let probe = add(&net, 0, scans.case(1, 1), "FR-CMP-1").await;
    let mate = add(&net, 1, scans.case(1, 2), "DE-CMP-1").await;
    let other = add(&net, 1, scans.case(4, 1), "DE-CMP-2").await;
    wait_digests(&net, 0, &probe, 3).await;
    let image = |other: String| {
        reqwest::Client::new()
            .get(url(
                &net,
                0,
                &format!("/v1/ballistics/{probe}/comparisons/{other}/image"),
            ))
            .bearer_auth(&net.members[0].token)
            .send()
    };
    let response = image(mate.clone()).await.expect("answered");
    let status = response.status();
    assert_eq!(status, 200, "{:?}", response.text().await);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.expect("body");
    let mut reader = png::Decoder::new(Cursor::new(bytes.to_vec()))
        .read_info()
        .expect("a PNG");
    let mut rgba = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgba).expect("a frame");
    let outline = rgba[..info.buffer_size()]
        .chunks(4)
        .filter(|p| p == &[228, 26, 28, 255])
        .count();
    assert!(outline > 600, "congruent cells outlined: {outline} pixels");

    let response = image(other).await.expect("answered");
    assert_eq!(response.status(), 409);
    let v: Value = response.json().await.expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not confirm"),
        "{v}"
    );
    let (_, audit) = net.get(1, "/v1/audit").await;
    let actions = audit_actions(&audit);
    assert!(
        actions.contains(&("in".into(), "picture_request".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("out".into(), "picture_response".into())),
        "{actions:?}"
    );
    net.shutdown().await;
}

/// The candidates' exhibit references in a search answer.
fn candidate_refs(v: &Value) -> Vec<String> {
    v["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["exhibit_ref"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhibit_shared_with_a_list_reaches_only_its_members_and_a_local_one_stays_home() {
    let scans = Scans::new();
    let mut net = TestNet::create(3);
    let neighbour = striae_node::devnet::country(1).0;
    let config = net.member_dir(0).join("node.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "\n[ballistics]\nregions = {{ neighbours = [\"{neighbour}\"] }}\n"
    ));
    std::fs::write(&config, text).expect("config");
    // The list's member is offline when the exhibit is added: it gets it when it is back.
    net.start_member(0).await;
    net.start_member(2).await;

    let add_shared = |bytes: Vec<u8>, share: &'static str| {
        let path = format!(
            "/v1/ballistics?kind=cartridge_case&caliber=9x19&case_ref=FR-{share}&share={share}"
        );
        let net = &net;
        async move {
            let (code, v) = post_raw(net, 0, &path, bytes).await;
            assert_eq!(code, 201, "{v}");
            v
        }
    };
    let regional = add_shared(scans.case(1, 1), "region:neighbours").await;
    assert_eq!(regional["share"]["scope"], "region", "{regional}");
    assert_eq!(regional["share"]["region"], "neighbours", "{regional}");
    let regional = regional["id"].as_str().expect("id").to_string();
    let local = add_shared(scans.case(2, 1), "local").await;
    assert_eq!(local["share"]["scope"], "local", "{local}");
    let local = local["id"].as_str().expect("id").to_string();
    let public = add(&net, 0, scans.case(3, 1), "FR-3").await;

    // A list the node does not know is refused naming the field.
    let (code, v) = post_raw(
        &net,
        0,
        "/v1/ballistics?kind=cartridge_case&caliber=9x19&case_ref=X&share=region:nowhere",
        scans.case(4, 1),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["field"], "share", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("region:neighbours")
    );

    net.start_member(1).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");

    // The list's member holds the regional digest and the holder confirms it for it.
    let mate = add(&net, 1, scans.case(1, 2), "DE-1").await;
    wait_digests(&net, 1, &mate, 3).await;
    let (code, found) = net
        .post(1, &format!("/v1/ballistics/{mate}/search"), &Value::Null)
        .await;
    assert_eq!(code, 200, "{found}");
    let refs = candidate_refs(&found);
    assert!(refs.contains(&regional), "{found}");
    assert!(!refs.contains(&local), "{found}");
    assert_eq!(
        found["candidates"][0]["exhibit_ref"],
        regional.as_str(),
        "{found}"
    );
    assert_eq!(
        found["candidates"][0]["confirmation"], "confirmed",
        "{found}"
    );

    // A member outside the list never sees it, and the holder will not compare it for it.
    let other = add(&net, 2, scans.case(1, 2), "ES-1").await;
    wait_digests(&net, 2, &other, 3).await;
    let (_, found) = net
        .post(2, &format!("/v1/ballistics/{other}/search"), &Value::Null)
        .await;
    let refs = candidate_refs(&found);
    assert!(refs.contains(&public), "{found}");
    assert!(
        !refs.contains(&regional) && !refs.contains(&local),
        "{found}"
    );
    let (fr, es) = (&net.node(0).handle, &net.node(2).handle);
    let surface = es.ballistics.ballistics.surface(&other).unwrap().unwrap();
    let request = ConfirmRequest {
        search_id: [9; 16],
        requester: es.me,
        issued_at_ms: striae_protocol::time::now_ms(),
        case_ref: "ES-X".into(),
        probe: striae_node::ballistics::probe_from_surface(&surface),
        exhibits: vec![
            RecordRef::from_hex(&regional).unwrap(),
            RecordRef::from_hex(&local).unwrap(),
        ],
        acting: String::new(),
    };
    let signed = SignedMessage::sign(&request, &es.signer, &es.network).unwrap();
    match es.ask(&fr.me, SyncRequest::Confirm(signed)).await {
        Ok(SyncResponse::Confirm(answer)) => {
            let answer: striae_protocol::ballistic::ConfirmResponse =
                answer.open(&es.network).unwrap();
            for (_, comparison) in answer.results {
                assert_eq!(
                    comparison,
                    striae_protocol::ballistic::Comparison::UnknownExhibit
                );
            }
        }
        other => panic!("expected a signed answer, got {other:?}"),
    }

    // The holder's own searches see its local exhibit.
    let own_mate = add(&net, 0, scans.case(2, 2), "FR-2b").await;
    let (_, found) = net
        .post(
            0,
            &format!("/v1/ballistics/{own_mate}/search"),
            &Value::Null,
        )
        .await;
    assert!(candidate_refs(&found).contains(&local), "{found}");

    // Withdrawn from the list: the member forgets it.
    let (code, _) = net
        .send(
            reqwest::Client::new().delete(url(&net, 0, &format!("/v1/ballistics/{regional}"))),
            0,
        )
        .await;
    assert_eq!(code, 200);
    let forgotten = eventually(WAIT, || async {
        let (_, v) = net
            .post(
                1,
                &format!("/v1/ballistics/{mate}/search?confirm=0"),
                &Value::Null,
            )
            .await;
        !candidate_refs(&v).contains(&regional)
    })
    .await;
    assert!(
        forgotten,
        "the list's member still holds the withdrawn digest"
    );
}
