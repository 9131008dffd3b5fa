//! Cases across real members, through the HTTP API: the Firearms Recovery Protocol run as one
//! case. A firearm recorded stolen at another member is found (step 1 at home, step 2 hit and
//! trace with its history), its cartridge case is linked to one held abroad (step 6), and the
//! leads, indicators and report say so; a case waits while the holder reviews the trace and
//! updates once approved; a partial serial goes out as a query; bad bodies get a 400 naming
//! the field.

use std::time::Duration;

use serde_json::{Value, json};
use striae_ballistics_lib::{
    eval::find_dataset,
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::write_x3p,
};
use striae_node::{config::TracePolicy, node};
use striae_tests::{TestNet, eventually, fast, wait_connected};

const WAIT: Duration = Duration::from_secs(90);
const FR: usize = 0;
const DE: usize = 1;

/// A cartridge case fired by gun `gun` (Fadul slide 1 when the scans are there).
fn scan(gun: u64, shot: u64) -> Vec<u8> {
    match find_dataset(env!("CARGO_MANIFEST_DIR")).filter(|d| d.join("fadul-1-1.x3p").is_file()) {
        Some(dir) => std::fs::read(dir.join(format!("fadul-{gun}-{shot}.x3p"))).expect("scan"),
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

async fn add_exhibit(net: &TestNet, i: usize, bytes: Vec<u8>, case_ref: &str) -> String {
    let url = format!(
        "http://{}/v1/ballistics?kind=cartridge_case&caliber=9mm%20Luger&case_ref={case_ref}",
        net.node(i).api_addr
    );
    let builder = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(bytes);
    let (code, v) = net.send(builder, i).await;
    assert_eq!(code, 201, "{v}");
    v["id"].as_str().expect("exhibit id").to_string()
}

/// The Walther DE records as stolen, sold by a dealer two years before it was stolen.
fn walther() -> Value {
    json!({
        "make": "Carl Walther GmbH", "model": "P99", "caliber": "9mm Parabellum",
        "serial": "WK-1O5 733", "type": "pistol", "status": "stolen",
        "event_date": "2023-01-10", "case_ref": "DE-BKA-2023-0117",
        "history": [
            {"date": "2020-02-11", "event": "manufactured", "party": "Carl Walther GmbH", "country": "DE"},
            {"date": "2021-05-02", "event": "sold", "party": "Waffen Schmidt KG", "country": "DE"},
            {"date": "2023-01-10", "event": "stolen", "party": "Sport shooter, Ulm", "country": "DE"}
        ]
    })
}

fn case_body(exhibits: Vec<String>) -> Value {
    json!({
        "case_ref": "FR-2024-0042",
        "title": "Pistol found after a shooting in Lyon",
        "recovered": {"date": "2024-02-01", "country": "FR", "place": "Lyon", "lat": 45.76, "lon": 4.84},
        "firearm": {"make": "Walther", "model": "P99", "caliber": "9x19", "serial": "WK1O5733", "type": "pistol"},
        "exhibits": exhibits,
    })
}

async fn wait_case(net: &TestNet, i: usize, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let reached = eventually(WAIT, || async {
        done(&net.get(i, &format!("/v1/cases/{id}")).await.1)
    })
    .await;
    let (_, v) = net.get(i, &format!("/v1/cases/{id}")).await;
    assert!(reached, "{v:#}");
    v
}

fn step(case: &Value, n: u64) -> &Value {
    case["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["step"] == n))
        .expect("step")
}

fn codes(case: &Value) -> Vec<String> {
    case["indicators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["code"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_for_a_firearm_stolen_abroad_finds_the_hit_the_history_the_link_and_the_indicators()
{
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (code, v) = net.post(DE, "/v1/firearms", &walther()).await;
    assert_eq!(code, 201, "{v}");
    let ours = add_exhibit(&net, FR, scan(1, 1), "FR-2024-0042").await;
    let theirs = add_exhibit(&net, DE, scan(1, 2), "DE-BKA-2023-0117").await;
    // Both digests reach FR before the case opens.
    let arrived = eventually(WAIT, || async {
        let (_, hits) = net
            .post(
                FR,
                "/v1/firearms/check",
                &json!({"make": "Walther", "serial": "WK105733"}),
            )
            .await;
        let (_, search) = net
            .post(
                FR,
                &format!("/v1/ballistics/{ours}/search?confirm=0"),
                &Value::Null,
            )
            .await;
        hits["hits"].as_array().is_some_and(|h| !h.is_empty())
            && search["candidates"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["exhibit_ref"] == theirs))
    })
    .await;
    assert!(arrived);

    let (code, created) = net
        .post(FR, "/v1/cases", &case_body(vec![ours.clone()]))
        .await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let case = wait_case(&net, FR, &id, |c| c["state"] == "done").await;

    assert_eq!(step(&case, 1)["state"], "done", "{case:#}");
    assert_eq!(step(&case, 2)["state"], "done", "{case:#}");
    assert_eq!(step(&case, 6)["state"], "done", "{case:#}");
    assert_eq!(step(&case, 3)["state"], "manual");
    let kinds: Vec<&str> = case["leads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    for kind in ["record_hit", "trace_record", "ballistic_link"] {
        assert!(kinds.contains(&kind), "no {kind} lead: {case:#}");
    }
    let codes = codes(&case);
    for code in [
        "STOLEN_OR_LOST_ABROAD",
        "SHORT_TIME_TO_CRIME",
        "BALLISTIC_LINK_ABROAD",
        "FOREIGN_NO_IMPORT_MARKING",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "{code} not raised: {case:#}"
        );
    }
    assert!(!codes.iter().any(|c| c == "SERIAL_ALTERED"), "{case:#}");

    let (code, report) = net.get(FR, &format!("/v1/cases/{id}/report")).await;
    assert_eq!(code, 200, "{report}");
    let traced = report["found"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["via"] == "trace")
        .expect("trace finding");
    assert_eq!(traced["where"], "DE");
    assert_eq!(traced["status"], "stolen");
    assert_eq!(traced["signature_valid"], true);
    assert!(
        traced["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["party"] == "Waffen Schmidt KG"),
        "{report:#}"
    );
    assert!(
        traced["audit"].as_array().is_some_and(|a| !a.is_empty()),
        "no audit reference: {report:#}"
    );
    let url = format!(
        "http://{}/v1/cases/{id}/report?format=html",
        net.node(FR).api_addr
    );
    let page = reqwest::Client::new()
        .get(url)
        .bearer_auth(&net.members[FR].token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Waffen Schmidt KG") && page.contains("SHORT_TIME_TO_CRIME"),
        "{page}"
    );

    // The operator records the interview; the step shows it.
    let (code, v) = net
        .post(
            FR,
            &format!("/v1/cases/{id}/steps/3"),
            &json!({"state": "done", "notes": "suspect interviewed 2024-02-02"}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(step(&v, 3)["state"], "done");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_waiting_for_the_holders_review_updates_once_it_is_approved() {
    let mut net = TestNet::create(2);
    net.start_member(FR).await;
    let mut config = net.config(DE);
    config.trace_policy = TracePolicy::Review;
    fast(&mut config);
    net.nodes[DE] = Some(node::start(config).await.unwrap());
    assert!(wait_connected(&net, WAIT).await);
    net.post(DE, "/v1/firearms", &walther()).await;
    let arrived = eventually(WAIT, || async {
        let (_, hits) = net
            .post(
                FR,
                "/v1/firearms/check",
                &json!({"make": "Walther", "serial": "WK105733"}),
            )
            .await;
        hits["hits"].as_array().is_some_and(|h| !h.is_empty())
    })
    .await;
    assert!(arrived);
    let (_, created) = net.post(FR, "/v1/cases", &case_body(Vec::new())).await;
    let id = created["id"].as_str().unwrap().to_string();
    let case = wait_case(&net, FR, &id, |c| {
        step(c, 2)["details"]["trace"]["responses"][0]["outcome"] == "pending_review"
    })
    .await;
    assert_eq!(step(&case, 2)["state"], "running", "{case:#}");
    assert!(
        !case["leads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "trace_record")
    );

    let (_, incoming) = net.get(DE, "/v1/traces/incoming").await;
    let trace = incoming[0]["id"].as_str().unwrap().to_string();
    let (code, _) = net
        .post(
            DE,
            &format!("/v1/traces/incoming/{trace}/approve"),
            &json!({"note": "ok"}),
        )
        .await;
    assert_eq!(code, 200);
    let case = wait_case(&net, FR, &id, |c| step(c, 2)["state"] == "done").await;
    assert!(
        case["leads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "trace_record"),
        "{case:#}"
    );
    assert_eq!(case["state"], "done");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_serial_goes_out_as_a_query_and_bad_cases_are_refused_by_field() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    net.post(DE, "/v1/firearms", &walther()).await;
    let mut body = case_body(Vec::new());
    body["firearm"]["serial"] = json!("WK1?57*");
    let (code, created) = net.post(FR, "/v1/cases", &body).await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let case = wait_case(&net, FR, &id, |c| step(c, 2)["state"] == "done").await;
    assert_eq!(case["firearm"]["serial_state"], "partial");
    let matches = &step(&case, 2)["details"]["query"]["answers"][0]["matches"];
    assert_eq!(matches[0]["serial"], "WK1O5733", "{case:#}");
    assert!(
        case["leads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "serial_match")
    );
    assert!(
        codes(&case).iter().any(|c| c == "SERIAL_ALTERED"),
        "{case:#}"
    );

    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut b = case_body(Vec::new());
        edit(&mut b);
        b
    };
    for (body, field) in [
        (
            bad(&|b| b["recovered"]["date"] = json!("2024-13-01")),
            "recovered.date",
        ),
        (
            bad(&|b| b["recovered"]["country"] = json!("France")),
            "recovered.country",
        ),
        (
            bad(&|b| b["recovered"]["lat"] = json!(123.0)),
            "recovered.lat",
        ),
        (
            bad(&|b| b["firearm"]["serial_state"] = json!("scratched")),
            "firearm.serial_state",
        ),
        (
            bad(&|b| b["firearm"]["serial"] = json!("12?*")),
            "firearm.serial",
        ),
        (
            bad(&|b| b["exhibits"] = json!(["00112233445566778899aabbccddeeff"])),
            "exhibits[0]",
        ),
        (bad(&|b| b["to"] = json!(["ZZ"])), "to[0]"),
        (bad(&|b| b["case_ref"] = json!("")), "case_ref"),
    ] {
        let (code, v) = net.post(FR, "/v1/cases", &body).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (code, v) = net
        .post(
            FR,
            &format!("/v1/cases/{id}/steps/2"),
            &json!({"state": "done"}),
        )
        .await;
    assert_eq!(
        (code, v["error"]["field"].as_str()),
        (400, Some("step")),
        "{v}"
    );
    let (code, v) = net
        .post(
            FR,
            &format!("/v1/cases/{id}/steps/4"),
            &json!({"state": "finished"}),
        )
        .await;
    assert_eq!(
        (code, v["error"]["field"].as_str()),
        (400, Some("state")),
        "{v}"
    );
    let (code, _) = net
        .get(FR, "/v1/cases/00112233445566778899aabbccddeeff")
        .await;
    assert_eq!(code, 404);
    net.shutdown().await;
}
