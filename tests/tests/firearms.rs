//! Firearm records, checks and traces across real members, through the HTTP API: a record is
//! found from another member however it is written, traces come back signed with the full
//! history, the holder sees who traced its record, reviews hold disclosure, the audit log
//! detects tampering, imports keep good lines, and bad input gets a 4xx naming the field.

use std::time::Duration;

use serde_json::{Value, json};
use striae_node::{config::TracePolicy, node, store::Store};
use striae_tests::{TestNet, eventually, fast, wait_connected};

const WAIT: Duration = Duration::from_secs(30);
const FR: usize = 0;
const DE: usize = 1;
const ES: usize = 2;

/// The firearm DE records: a Walther written with the maker's company name, the calibre by
/// one of its names, and a serial with a letter O, a space and a hyphen.
fn walther() -> Value {
    json!({
        "make": "Carl Walther GmbH",
        "model": "P99",
        "caliber": "9mm Parabellum",
        "serial": "WK-1O5 733",
        "type": "pistol",
        "status": "stolen",
        "event_date": "2024-03-09",
        "case_ref": "DE-BKA-2024-0417",
        "history": [
            {"date": "2016-02-11", "event": "manufactured", "party": "Carl Walther GmbH", "country": "DE"},
            {"date": "2016-05-02", "event": "sold", "party": "Waffen Schmidt KG", "country": "DE", "document_ref": "WS-2016-1182"},
            {"date": "2019-09-23", "event": "transferred", "party": "Sport shooter, Ulm", "country": "DE"},
            {"date": "2024-03-09", "event": "stolen", "party": "Sport shooter, Ulm", "country": "DE"}
        ]
    })
}

async fn check(net: &TestNet, i: usize, make: &str, serial: &str) -> Vec<Value> {
    let (code, v) = net
        .post(
            i,
            "/v1/firearms/check",
            &json!({"make": make, "serial": serial}),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    v["hits"].as_array().cloned().unwrap_or_default()
}

/// Waits until member `i`'s check for (make, serial) has `n` hits; returns them.
async fn hits_at(net: &TestNet, i: usize, make: &str, serial: &str, n: usize) -> Vec<Value> {
    let arrived = eventually(WAIT, || async {
        check(net, i, make, serial).await.len() == n
    })
    .await;
    let hits = check(net, i, make, serial).await;
    assert!(
        arrived,
        "expected {n} hits for {make} {serial}, got {hits:?}"
    );
    hits
}

async fn trace_state(net: &TestNet, i: usize, id: &str, state: &str) -> Value {
    let path = format!("/v1/traces/{id}");
    let reached = eventually(WAIT, || async {
        net.get(i, &path).await.1["state"] == state
    })
    .await;
    let (_, trace) = net.get(i, &path).await;
    assert!(reached, "trace never became {state}: {trace}");
    trace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_found_from_another_member_however_it_is_written() {
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (code, record) = net.post(DE, "/v1/firearms", &walther()).await;
    assert_eq!(code, 201, "{record}");
    let id = record["id"].as_str().unwrap().to_string();
    assert_eq!(record["make"], "Walther");
    assert_eq!(record["serial"], "WK1O5733");
    // Every name of the 9x19mm cartridge is the same calibre; .380 ACP is another.
    let (_, luger) = net
        .get(FR, "/v1/reference/suggest?field=caliber&q=9mm%20Luger")
        .await;
    assert_eq!(record["caliber"], luger["canonical"]);
    let (_, acp) = net
        .get(FR, "/v1/reference/suggest?field=caliber&q=9mm%20Kurz")
        .await;
    assert_ne!(record["caliber"], acp["canonical"]);

    // Make alias, lower case and other punctuation: exact.
    let hits = hits_at(&net, FR, "Walther", "wk 1o5-733", 1).await;
    assert_eq!(hits[0]["match"], "exact");
    assert_eq!(hits[0]["country"], "DE");
    assert_eq!(hits[0]["status"], "stolen");
    assert_eq!(hits[0]["record_ref"], id.as_str());
    assert_eq!(hits[0]["bureau_id"], net.members[DE].bureau_id.as_str());
    // A zero read for the letter O: confusable.
    let hits = check(&net, ES, "CARL WALTHER", "WK105733").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["match"], "confusable");
    // Another serial, or the same serial under another make: nothing.
    assert!(check(&net, FR, "Walther", "WK105734").await.is_empty());
    assert!(check(&net, FR, "Glock", "WK1O5733").await.is_empty());
    // A misspelt make is no all-clear: the check is inconclusive and finds the record under
    // the make the table suggests.
    let (_, typo) = net
        .post(
            FR,
            "/v1/firearms/check",
            &json!({"make": "Wather", "serial": "WK1O5733"}),
        )
        .await;
    assert_eq!(typo["verdict"], "inconclusive", "{typo}");
    assert_eq!(typo["suggestion_hits"][0]["make"], "Walther", "{typo}");
    assert_eq!(
        typo["suggestion_hits"][0]["hits"][0]["country"], "DE",
        "{typo}"
    );
    let (_, known) = net
        .post(
            FR,
            "/v1/firearms/check",
            &json!({"make": "Glock", "serial": "WK1O5733"}),
        )
        .await;
    assert_eq!(known["verdict"], "no_record", "{known}");

    // A reference addition published by ES teaches every member a new name for the make.
    let (code, added) = net
        .post(
            ES,
            "/v1/reference",
            &json!({"kind": "alias", "target_id": "make:walther", "alias": "Walther Ulm/Donau"}),
        )
        .await;
    assert_eq!(code, 201, "{added}");
    hits_at(&net, FR, "Walther Ulm/Donau", "WK1O5733", 1).await;

    // Recovered: the digest is retracted everywhere.
    let (code, patched) = net
        .patch(
            DE,
            &format!("/v1/firearms/{id}"),
            &json!({"status": "recovered"}),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["status"], "recovered");
    assert_eq!(patched["history"].as_array().unwrap().len(), 4);
    hits_at(&net, FR, "Walther", "WK1O5733", 0).await;
    // Stolen again: announced again.
    net.patch(
        DE,
        &format!("/v1/firearms/{id}"),
        &json!({"status": "stolen"}),
    )
    .await;
    hits_at(&net, ES, "Walther", "WK1O5733", 1).await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_comes_back_signed_with_the_history_and_the_audit_log_detects_tampering() {
    let mut net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (_, record) = net.post(DE, "/v1/firearms", &walther()).await;
    hits_at(&net, FR, "Walther", "WK 105 733", 1).await;

    let (code, started) = net
        .post(
            FR,
            "/v1/traces",
            &json!({"make": "Walther", "serial": "WK 105 733", "case_ref": "FR-2025-0042",
                    "reason": "Recovered at a crime scene in Lyon"}),
        )
        .await;
    assert_eq!(code, 202, "{started}");
    let trace_id = started["id"].as_str().unwrap().to_string();
    let trace = trace_state(&net, FR, &trace_id, "complete").await;
    let responses = trace["responses"].as_array().unwrap();
    assert_eq!(
        responses.len(),
        1,
        "only DE (holder and maker's country) is asked: {trace}"
    );
    let answer = &responses[0];
    assert_eq!(answer["country"], "DE");
    assert_eq!(answer["outcome"], "found");
    assert_eq!(answer["signature_valid"], true);
    assert_eq!(answer["record"]["id"], record["id"]);
    assert_eq!(answer["record"]["serial"], "WK1O5733");
    let history = answer["history"].as_array().unwrap();
    let events: Vec<&str> = history
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["manufactured", "sold", "transferred", "stolen"]);
    assert_eq!(history[1]["document_ref"], "WS-2016-1182");

    // The holder learns who traced its record and why.
    let (_, incoming) = net.get(DE, "/v1/traces/incoming").await;
    let seen = &incoming[0];
    assert_eq!(seen["id"], trace_id.as_str());
    assert_eq!(seen["country"], "FR");
    assert_eq!(seen["case_ref"], "FR-2025-0042");
    assert_eq!(seen["reason"], "Recovered at a crime scene in Lyon");
    assert_eq!(seen["outcome"], "found");
    assert_eq!(seen["records"][0], record["id"]);

    // A serial nobody holds, traced at a listed country: not found.
    let (code, other) = net
        .post(
            FR,
            "/v1/traces",
            &json!({"make": "Glock", "serial": "ZZ999", "case_ref": "FR-2025-0043",
                    "reason": "Found in a river", "to": ["ES"]}),
        )
        .await;
    assert_eq!(code, 202, "{other}");
    let other = trace_state(&net, FR, other["id"].as_str().unwrap(), "complete").await;
    let outcomes: Vec<(&str, &str)> = other["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["country"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    // Glock is made in Austria, which is not a member here: ES only.
    assert_eq!(outcomes, [("ES", "not_found")]);

    // Both sides logged both directions, and the logs verify.
    for (i, actions) in [
        (FR, ["trace_request", "trace_response"]),
        (DE, ["trace_request", "trace_response"]),
    ] {
        let (_, log) = net.get(i, "/v1/audit").await;
        for action in actions {
            assert!(
                log.as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["action"] == action && r["subject"] == trace_id.as_str()),
                "member {i} did not log {action}: {log}"
            );
        }
        let (_, verify) = net.get(i, "/v1/audit/verify").await;
        assert_eq!(verify["ok"], true, "{verify}");
    }

    // Someone edits DE's audit log on disk while the node is down: verification says so.
    net.stop_member(DE).await;
    {
        let store =
            Store::open(&net.config(DE).data_dir.join("db")).expect("open stopped member's store");
        let audit = store.keyspace("audit").unwrap();
        let key = 1u64.to_be_bytes();
        let mut value = audit
            .get(key)
            .unwrap()
            .expect("first audit record")
            .to_vec();
        let text = String::from_utf8_lossy(&value[64..]).replace("FR-2025-0042", "FR-2025-0099");
        value.truncate(64);
        value.extend_from_slice(text.as_bytes());
        audit.insert(key, value).unwrap();
        store.flush_blocking().unwrap();
    }
    net.start_member(DE).await;
    let (_, verify) = net.get(DE, "/v1/audit/verify").await;
    assert_eq!(verify["ok"], false, "{verify}");
    assert_eq!(verify["problems"][0]["seq"], 1, "{verify}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_held_for_review_waits_until_approved_or_refused() {
    let mut net = TestNet::create(2);
    net.start_member(FR).await;
    let mut config = net.config(DE);
    config.trace_policy = TracePolicy::Review;
    fast(&mut config);
    net.nodes[DE] = Some(node::start(config).await.unwrap());
    assert!(wait_connected(&net, WAIT).await);
    net.post(DE, "/v1/firearms", &walther()).await;
    let mut glock = walther();
    glock["make"] = json!("Glock");
    glock["model"] = json!("17");
    glock["serial"] = json!("BXK 123");
    net.post(DE, "/v1/firearms", &glock).await;
    hits_at(&net, FR, "Glock", "BXK123", 1).await;

    let ask = |serial: &str| {
        json!({"make": if serial == "BXK123" { "Glock" } else { "Walther" },
        "serial": serial, "case_ref": "FR-2025-0050", "reason": "Seized at the border"})
    };
    let (_, first) = net.post(FR, "/v1/traces", &ask("WK1O5733")).await;
    let first = first["id"].as_str().unwrap().to_string();
    let pending = eventually(WAIT, || async {
        net.get(FR, &format!("/v1/traces/{first}")).await.1["responses"][0]["outcome"]
            == "pending_review"
    })
    .await;
    let (_, trace) = net.get(FR, &format!("/v1/traces/{first}")).await;
    assert!(pending, "{trace}");
    assert_eq!(trace["state"], "pending");
    assert!(
        trace["responses"][0].get("record").is_none(),
        "disclosed before review: {trace}"
    );

    let (_, incoming) = net.get(DE, "/v1/traces/incoming").await;
    assert_eq!(incoming[0]["state"], "pending_review");
    assert_eq!(incoming[0]["outcome"], "pending_review");
    // Still held a while later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        net.get(FR, &format!("/v1/traces/{first}")).await.1["state"],
        "pending"
    );

    let (code, approved) = net
        .post(
            DE,
            &format!("/v1/traces/incoming/{first}/approve"),
            &json!({"note": "approved by the duty officer"}),
        )
        .await;
    assert_eq!(code, 200, "{approved}");
    let trace = trace_state(&net, FR, &first, "complete").await;
    assert_eq!(trace["responses"][0]["outcome"], "found");
    assert_eq!(trace["responses"][0]["signature_valid"], true);
    assert_eq!(
        trace["responses"][0]["history"].as_array().unwrap().len(),
        4
    );
    // A decision is taken once.
    let (code, _) = net
        .post(
            DE,
            &format!("/v1/traces/incoming/{first}/refuse"),
            &json!({}),
        )
        .await;
    assert_eq!(code, 409);

    let (_, second) = net.post(FR, "/v1/traces", &ask("BXK123")).await;
    let second = second["id"].as_str().unwrap().to_string();
    let held = eventually(WAIT, || async {
        let (_, incoming) = net.get(DE, "/v1/traces/incoming").await;
        incoming
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == second.as_str())
    })
    .await;
    assert!(held);
    let (code, _) = net
        .post(
            DE,
            &format!("/v1/traces/incoming/{second}/refuse"),
            &json!({"note": "no judicial request attached"}),
        )
        .await;
    assert_eq!(code, 200);
    let trace = trace_state(&net, FR, &second, "complete").await;
    assert_eq!(trace["responses"][0]["outcome"], "refused");
    assert_eq!(
        trace["responses"][0]["note"],
        "no judicial request attached"
    );
    assert!(trace["responses"][0].get("record").is_none());
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_bad_lines_keeps_the_good_ones() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let csv = "make,model,caliber,serial,type,status,event_date\n\
               Glock,17,9x19mm,AB-1001,pistol,stolen,2023-01-02\n\
               Beretta,92FS,9mm Luger,AB-1002,pistol,lost,2023-02-03\n\
               Glock,19,9mm,AB-1003,pistol,exploded,2023-02-03\n\
               Colt,M1911,.45 ACP,,pistol,stolen,2023-02-03\n\
               Heckler & Koch,MP5,9x19mm,AB-1005,submachine gun,recovered,2023-03-04\n";
    let builder = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/firearms/import",
            net.node(FR).api_addr
        ))
        .header("content-type", "text/csv")
        .body(csv);
    let (code, outcome) = net.send(builder, FR).await;
    assert_eq!(code, 200, "{outcome}");
    assert_eq!(outcome["imported"], 3, "{outcome}");
    let rejected = outcome["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["line"], 4);
    assert!(
        rejected[0]["error"].as_str().unwrap().contains("status"),
        "{outcome}"
    );
    assert_eq!(rejected[1]["line"], 5);
    assert!(
        rejected[1]["error"].as_str().unwrap().contains("serial"),
        "{outcome}"
    );
    // Active records are announced; the recovered one is kept but not announced.
    hits_at(&net, DE, "Glock", "ab1001", 1).await;
    hits_at(&net, DE, "Beretta", "AB 1002", 1).await;
    assert!(check(&net, DE, "HK", "AB1005").await.is_empty());
    let (_, listed) = net.get(FR, "/v1/firearms?limit=10").await;
    assert_eq!(listed["total"], 3);

    let ndjson = "{\"make\":\"Ruger\",\"model\":\"10/22\",\"caliber\":\".22 LR\",\"serial\":\"R-77\",\"type\":\"rifle\",\"status\":\"smuggled\"}\n\
                  not json\n";
    let builder = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/firearms/import",
            net.node(FR).api_addr
        ))
        .header("content-type", "application/x-ndjson")
        .body(ndjson);
    let (code, outcome) = net.send(builder, FR).await;
    assert_eq!(code, 200, "{outcome}");
    assert_eq!(outcome["imported"], 1);
    assert_eq!(outcome["rejected"][0]["line"], 2);
    hits_at(&net, DE, "RUGER", "R77", 1).await;

    let builder = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/firearms/import",
            net.node(FR).api_addr
        ))
        .header("content-type", "application/pdf")
        .body("x");
    assert_eq!(net.send(builder, FR).await.0, 415);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_and_queries_get_a_4xx_naming_the_field() {
    let net = TestNet::start(2).await;
    let bad = |change: Value| {
        let mut record = walther();
        for (k, v) in change.as_object().unwrap() {
            record[k] = v.clone();
        }
        record
    };
    for (change, field) in [
        (json!({"serial": ""}), "serial"),
        (json!({"serial": "--//"}), "serial"),
        (json!({"status": "misplaced"}), "status"),
        (json!({"make": null}), "make"),
        (json!({"event_date": "2024-02-30"}), "event_date"),
        (
            json!({"country_of_manufacture": "Germany"}),
            "country_of_manufacture",
        ),
        (json!({"colour": "black"}), "colour"),
        (
            json!({"history": [{"date": "yesterday", "event": "sold", "party": "X", "country": "DE"}]}),
            "history[0].date",
        ),
        (
            json!({"history": [{"date": "2020-01-01", "event": "lent", "party": "X", "country": "DE"}]}),
            "history[0].event",
        ),
    ] {
        let (code, err) = net.post(FR, "/v1/firearms", &bad(change.clone())).await;
        assert_eq!(code, 400, "{change} -> {err}");
        assert_eq!(err["error"]["field"], field, "{change} -> {err}");
    }
    // An unknown make is accepted, flagged, and comes with suggestions.
    let (code, record) = net
        .post(FR, "/v1/firearms", &bad(json!({"make": "Glocke"})))
        .await;
    assert_eq!(code, 201, "{record}");
    assert_eq!(record["unknown"]["make"], true);
    let suggestions = record["reference"]["make"]["suggestions"]
        .as_array()
        .unwrap();
    assert!(suggestions.iter().any(|s| s == "Glock"), "{record}");
    let (_, suggested) = net
        .get(FR, "/v1/reference/suggest?field=make&q=Tanfoglia")
        .await;
    assert!(
        suggested["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "Tanfoglio"),
        "{suggested}"
    );

    for (body, field) in [
        (json!({"make": "Glock", "serial": "-"}), "serial"),
        (json!({"make": "", "serial": "A1"}), "make"),
        (json!({"make": "Glock"}), "serial"),
    ] {
        let (code, err) = net.post(FR, "/v1/firearms/check", &body).await;
        assert_eq!(code, 400, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    let trace = |extra: Value| {
        let mut t = json!({"make": "Glock", "serial": "A1", "case_ref": "C1", "reason": "R"});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    };
    for (body, field) in [
        (trace(json!({"to": ["XX"]})), "to[0]"),
        (trace(json!({"to": ["FR"]})), "to[0]"),
        (trace(json!({"case_ref": ""})), "case_ref"),
        (trace(json!({"serial": "A".repeat(300)})), "serial"),
        (trace(json!({})), "to"),
    ] {
        let (code, err) = net.post(FR, "/v1/traces", &body).await;
        assert_eq!(code, 400, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    let (code, err) = net
        .post(
            FR,
            "/v1/reference",
            &json!({"kind": "alias", "target_id": "make:nonexistent", "alias": "X"}),
        )
        .await;
    assert_eq!(code, 400, "{err}");
    assert_eq!(net.get(FR, "/v1/firearms/zz").await.0, 400);
    assert_eq!(
        net.get(FR, &format!("/v1/firearms/{}", "0".repeat(32)))
            .await
            .0,
        404
    );
    assert_eq!(
        net.get(FR, &format!("/v1/traces/{}", "0".repeat(32)))
            .await
            .0,
        404
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_answer_reaches_a_requester_that_was_offline() {
    let mut net = TestNet::create(2);
    net.start_member(FR).await;
    let mut config = net.config(DE);
    config.trace_policy = TracePolicy::Review;
    net.nodes[DE] = Some(node::start(config).await.unwrap());
    assert!(wait_connected(&net, WAIT).await);
    net.post(DE, "/v1/firearms", &walther()).await;
    hits_at(&net, FR, "Walther", "WK1O5733", 1).await;
    let (_, started) = net
        .post(
            FR,
            "/v1/traces",
            &json!({"make": "Walther", "serial": "WK1O5733", "case_ref": "FR-1", "reason": "Seized"}),
        )
        .await;
    let id = started["id"].as_str().unwrap().to_string();
    let held = eventually(WAIT, || async {
        net.get(DE, "/v1/traces/incoming").await.1[0]["state"] == "pending_review"
    })
    .await;
    assert!(held);

    // The requester goes offline; the holder approves meanwhile.
    net.stop_member(FR).await;
    let (code, _) = net
        .post(DE, &format!("/v1/traces/incoming/{id}/approve"), &json!({}))
        .await;
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    net.start_member(FR).await;
    let trace = trace_state(&net, FR, &id, "complete").await;
    assert_eq!(trace["responses"][0]["outcome"], "found", "{trace}");
    assert_eq!(trace["responses"][0]["signature_valid"], true);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devnet_walkthrough_works_and_digests_survive_a_restart() {
    let mut net = TestNet::start(3).await;
    for i in 0..3 {
        let handle = net.node(i).handle.clone();
        striae_node::firearms::seed_devnet(&handle.firearms, i, 3)
            .await
            .unwrap();
    }
    assert!(wait_connected(&net, WAIT).await);
    let (_, listed) = net.get(DE, "/v1/firearms?limit=1000").await;
    assert_eq!(
        listed["total"], 301,
        "300 examples and the demonstration firearm"
    );
    let statuses: std::collections::HashSet<&str> = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(statuses.len() >= 4, "{statuses:?}");

    // As docs/firearms.md shows it.
    let hits = hits_at(&net, FR, "Walther", "wk 105733", 1).await;
    assert_eq!(hits[0]["country"], "DE");
    assert_eq!(hits[0]["match"], "confusable");
    let (_, started) = net
        .post(
            FR,
            "/v1/traces",
            &json!({"make": "Walther", "serial": "wk 105733", "case_ref": "FR-2025-0042",
                    "reason": "Recovered at a crime scene in Lyon"}),
        )
        .await;
    let trace = trace_state(&net, FR, started["id"].as_str().unwrap(), "complete").await;
    assert_eq!(trace["responses"][0]["outcome"], "found");
    assert_eq!(
        trace["responses"][0]["history"].as_array().unwrap().len(),
        4
    );

    // Every member's examples reached every other member; a restart rebuilds the index.
    // 300 examples per member, all with an active status, and the demonstration firearm.
    let all = eventually(WAIT, || async {
        net.get(ES, "/v1/firearms/index").await.1["digests"] == 901
    })
    .await;
    assert!(all, "{}", net.get(ES, "/v1/firearms/index").await.1);
    let (_, before) = net.get(ES, "/v1/firearms/index").await;
    net.stop_member(ES).await;
    net.start_member(ES).await;
    let (_, after) = net.get(ES, "/v1/firearms/index").await;
    assert_eq!(before["digests"], after["digests"]);
    hits_at(&net, ES, "Carl Walther", "WK1O5733", 1).await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_discloses_only_what_the_request_matches_and_only_to_its_signer() {
    use striae_protocol::{
        BureauId, SignedMessage, SyncRequest, SyncResponse,
        firearm::RecordRef,
        time::now_ms,
        trace::{TraceOutcome, TraceRequest, TraceResponse},
    };
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (_, record) = net.post(DE, "/v1/firearms", &walther()).await;
    let record_ref = RecordRef::from_hex(record["id"].as_str().unwrap()).unwrap();
    let fr = net.node(FR).handle.clone();
    let de: BureauId = net.members[DE].bureau_id.parse().unwrap();
    let request = |serial: &str| TraceRequest {
        trace_id: rand::random(),
        requester: fr.me,
        issued_at_ms: now_ms(),
        make: "Walther".into(),
        model: String::new(),
        caliber: String::new(),
        serial: serial.into(),
        case_ref: "FR-7".into(),
        reason: "test".into(),
        record_refs: vec![record_ref],
        acting: String::new(),
    };
    let ask = |from: usize, req: TraceRequest| {
        let asker = net.node(from).handle.clone();
        let message = SignedMessage::sign(&req, &fr.signer, &fr.network).unwrap();
        async move { asker.ask(&de, SyncRequest::Trace(message)).await.unwrap() }
    };
    let outcome = |answer: SyncResponse| match answer {
        SyncResponse::Trace(m) => m.open::<TraceResponse>(&fr.network).unwrap().outcome,
        other => panic!("not a trace answer: {other:?}"),
    };
    // The record's reference alone, with another serial, discloses nothing.
    assert_eq!(
        outcome(ask(FR, request("ZZ0000")).await),
        TraceOutcome::NotFound
    );
    assert_eq!(
        outcome(ask(FR, request("wk1o5733")).await),
        TraceOutcome::Found
    );
    // FR's signed request relayed by ES is refused: the signer must be the sender.
    match ask(ES, request("wk1o5733")).await {
        SyncResponse::Refused(why) => assert!(why.contains("signed by"), "{why}"),
        other => panic!("a relayed request was answered: {other:?}"),
    }
    net.shutdown().await;
}
