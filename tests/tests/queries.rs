//! Cross-border serial-pattern queries across real members, through the HTTP API: a partial
//! serial finds the record at its holder and nowhere else, answers come back signed, a
//! holder's reviewer decides before anything is disclosed, a member over the holder's rate
//! limit is told so, and bad patterns get a 400 naming `serial_pattern`.

use std::time::Duration;

use serde_json::{Value, json};
use striae_node::{config::TracePolicy, node};
use striae_tests::{TestNet, eventually, fast, wait_connected};

const WAIT: Duration = Duration::from_secs(30);
const FR: usize = 0;
const DE: usize = 1;
const ES: usize = 2;
const PT: usize = 3;

fn record(make: &str, serial: &str, status: &str) -> Value {
    json!({
        "make": make,
        "model": "P99",
        "caliber": "9x19",
        "serial": serial,
        "type": "pistol",
        "status": status,
        "event_date": "2024-03-09",
        "case_ref": "REF-1",
    })
}

fn query(pattern: &str) -> Value {
    json!({
        "make": "Walther",
        "serial_pattern": pattern,
        "case_ref": "FR-2025-0091",
        "reason": "Recovered with the serial filed off; the laboratory restored part of it",
    })
}

/// Starts FR, DE (auto, at most `per_hour` queries per member per hour), ES (review) and PT.
async fn network(per_hour: u32) -> TestNet {
    let mut net = TestNet::create(4);
    for i in [FR, PT] {
        net.start_member(i).await;
    }
    let mut de = net.config(DE);
    de.queries.per_member_per_hour = per_hour;
    fast(&mut de);
    net.nodes[DE] = Some(node::start(de).await.unwrap());
    let mut es = net.config(ES);
    es.queries.policy = TracePolicy::Review;
    fast(&mut es);
    net.nodes[ES] = Some(node::start(es).await.unwrap());
    assert!(wait_connected(&net, WAIT).await);
    net
}

/// Sends a query from FR and waits until every member asked has given a final answer.
async fn ask(net: &TestNet, body: &Value) -> Value {
    let (code, started) = net.post(FR, "/v1/queries", body).await;
    assert_eq!(code, 202, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    let answered = eventually(WAIT, || async {
        net.get(FR, &format!("/v1/queries/{id}")).await.1["answers"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .all(|x| !matches!(x["outcome"].as_str(), Some("waiting" | "unreachable")))
            })
    })
    .await;
    let (_, v) = net.get(FR, &format!("/v1/queries/{id}")).await;
    assert!(answered, "{v}");
    v
}

fn answer_of<'a>(query: &'a Value, country: &str) -> &'a Value {
    query["answers"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["country"] == country))
        .unwrap_or_else(|| panic!("no answer from {country}: {query}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_serial_finds_the_record_at_its_holder_and_nowhere_else() {
    let net = network(100).await;
    for (serial, status) in [
        ("WK-105 733", "stolen"),
        ("WK109 999", "lost"),
        ("XX105733", "stolen"),
    ] {
        let (code, v) = net
            .post(DE, "/v1/firearms", &record("Walther", serial, status))
            .await;
        assert_eq!(code, 201, "{v}");
    }
    let (code, v) = net
        .post(PT, "/v1/firearms", &record("Beretta", "WK105733", "stolen"))
        .await;
    assert_eq!(code, 201, "{v}");

    let v = ask(&net, &query("WK1?57*")).await;
    let de = answer_of(&v, "DE");
    assert_eq!(de["outcome"], "matches", "{v}");
    assert_eq!(de["signature_valid"], true);
    let matches = de["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{v}");
    assert_eq!(matches[0]["serial"], "WK105733");
    assert_eq!(matches[0]["status"], "stolen");
    assert_eq!(matches[0]["match"], "exact");
    // The Beretta at PT has the serial but not the make; ES holds nothing.
    assert_eq!(answer_of(&v, "PT")["outcome"], "no_match", "{v}");
    assert_eq!(answer_of(&v, "ES")["outcome"], "no_match", "{v}");
    assert_eq!(v["state"], "answered");

    // A misread character (I for 1) still finds it, as a confusable match.
    let v = ask(
        &net,
        &json!({"make": "Walther", "serial_pattern": "WKI05*",
        "case_ref": "c", "reason": "r", "to": ["DE"]}),
    )
    .await;
    let de = answer_of(&v, "DE");
    assert_eq!(de["matches"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(de["matches"][0]["serial"], "WK105733");
    assert_eq!(de["matches"][0]["match"], "confusable");

    // Both sides audited the query and the answer.
    let (_, fr_log) = net.get(FR, "/v1/audit?limit=100").await;
    let (_, de_log) = net.get(DE, "/v1/audit?limit=100").await;
    let actions = |log: &Value| -> Vec<String> {
        log["records"]
            .as_array()
            .or(log.as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| r["action"].as_str().map(String::from))
            .collect()
    };
    for (log, wanted) in [
        (&fr_log, "query_request"),
        (&fr_log, "query_response"),
        (&de_log, "query_request"),
        (&de_log, "query_response"),
    ] {
        assert!(
            actions(log).iter().any(|a| a == wanted),
            "{wanted} missing: {log}"
        );
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_held_for_review_discloses_only_once_approved() {
    let net = network(100).await;
    let (code, _) = net
        .post(
            ES,
            "/v1/firearms",
            &record("Walther", "WK777123", "trafficked"),
        )
        .await;
    assert_eq!(code, 201);
    let body = json!({"make": "Walther", "serial_pattern": "*7771?3", "case_ref": "c",
        "reason": "r", "to": ["ES"]});
    let (_, started) = net.post(FR, "/v1/queries", &body).await;
    let id = started["id"].as_str().unwrap().to_string();
    let held = eventually(WAIT, || async {
        answer_of(&net.get(FR, &format!("/v1/queries/{id}")).await.1, "ES")["outcome"]
            == "pending_review"
    })
    .await;
    let (_, v) = net.get(FR, &format!("/v1/queries/{id}")).await;
    assert!(held, "{v}");
    assert!(
        answer_of(&v, "ES")["matches"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );

    let (_, pending) = net
        .get(ES, "/v1/queries/incoming?state=pending_review")
        .await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["matching_records"], 1);
    let (code, _) = net
        .post(
            ES,
            &format!("/v1/queries/incoming/{id}/approve"),
            &json!({"note": "approved by duty officer"}),
        )
        .await;
    assert_eq!(code, 200);
    let disclosed = eventually(WAIT, || async {
        answer_of(&net.get(FR, &format!("/v1/queries/{id}")).await.1, "ES")["outcome"] == "matches"
    })
    .await;
    let (_, v) = net.get(FR, &format!("/v1/queries/{id}")).await;
    assert!(disclosed, "{v}");
    assert_eq!(answer_of(&v, "ES")["matches"][0]["serial"], "WK777123");
    let (code, again) = net
        .post(
            ES,
            &format!("/v1/queries/incoming/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(code, 409, "{again}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_over_the_holders_rate_limit_is_answered_rate_limited() {
    let net = network(2).await;
    let body = json!({"make": "Walther", "serial_pattern": "WK10*", "case_ref": "c",
        "reason": "r", "to": ["DE"]});
    for _ in 0..2 {
        let v = ask(&net, &body).await;
        assert_eq!(answer_of(&v, "DE")["outcome"], "no_match", "{v}");
    }
    let v = ask(&net, &body).await;
    let de = answer_of(&v, "DE");
    assert_eq!(de["outcome"], "rate_limited", "{v}");
    assert_eq!(de["signature_valid"], true);
    assert!(
        de["note"].as_str().unwrap().contains("2 queries per hour"),
        "{v}"
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_a_400_naming_the_field() {
    let net = TestNet::start(2).await;
    for (body, field) in [
        (query("12?*"), "serial_pattern"),
        (query("12%45"), "serial_pattern"),
        (
            json!({"make": "Walther", "serial_pattern": "12345", "case_ref": "c"}),
            "reason",
        ),
        (
            json!({"make": "", "serial_pattern": "12345", "case_ref": "c", "reason": "r"}),
            "make",
        ),
        (
            json!({"make": "W", "serial_pattern": "12345", "case_ref": "c", "reason": "r", "to": ["ZZ"]}),
            "to[0]",
        ),
        (
            json!({"make": "W", "serial_pattern": "12345", "case_ref": "c", "reason": "r", "colour": "red"}),
            "colour",
        ),
    ] {
        let (code, v) = net.post(FR, "/v1/queries", &body).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (code, v) = net
        .get(FR, "/v1/queries/00112233445566778899aabbccddeeff")
        .await;
    assert_eq!(code, 404, "{v}");
    net.shutdown().await;
}
