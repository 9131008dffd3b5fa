//! Notices across real members: delivery to all with receipts, catch-up after downtime,
//! restart without loss, and the API's answers to bad input.

use std::time::Duration;

use serde_json::{Value, json};
use striae_protocol::{
    Body, NoticeContent, NoticeId, NoticeKind, NoticeOp,
    time::{YEAR_MS, now_ms},
};
use striae_tests::{TestNet, eventually, wait_connected};

const WAIT: Duration = Duration::from_secs(30);

fn orange(title: &str) -> Value {
    json!({"kind": "orange", "title": title, "summary": "Pistols disguised as phones seen at the border"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_reaches_every_member_and_receipts_come_back() {
    let net = TestNet::start(5).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");

    let (code, issued) = net.post(0, "/v1/notices", &orange("Phone pistols")).await;
    assert_eq!(code, 201, "{issued}");
    let id = issued["id"].as_str().unwrap().to_string();
    assert_eq!(issued["status"], "active");
    assert_eq!(issued["issuer_country"], "FR");

    for i in 1..5 {
        let path = format!("/v1/notices/{id}");
        let found = eventually(WAIT, || async { net.get(i, &path).await.0 == 200 }).await;
        assert!(found, "member {i} never received the notice");
        let (_, n) = net.get(i, &path).await;
        assert_eq!(n["title"], "Phone pistols");
        assert_eq!(n["kind"], "orange");
    }
    let all_acked = eventually(WAIT, || async {
        let (_, n) = net.get(0, &format!("/v1/notices/{id}")).await;
        n["acks"].as_array().map_or(0, Vec::len) == 5
    })
    .await;
    let (_, n) = net.get(0, &format!("/v1/notices/{id}")).await;
    assert!(all_acked, "receipts missing: {}", n["acks"]);
    let countries: Vec<&str> = n["acks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["country"].as_str().unwrap())
        .collect();
    for cc in ["FR", "DE", "ES", "PT", "IT"] {
        assert!(countries.contains(&cc), "no receipt from {cc}");
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_cancellation_reach_everyone_and_only_the_issuer_may_make_them() {
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (_, issued) = net.post(0, "/v1/notices", &orange("Knife pistols")).await;
    let id = issued["id"].as_str().unwrap().to_string();
    let path = format!("/v1/notices/{id}");
    assert!(eventually(WAIT, || async { net.get(2, &path).await.0 == 200 }).await);

    let (code, err) = net.patch(1, &path, &json!({"title": "hijack"})).await;
    assert_eq!(code, 403, "{err}");
    assert_eq!(err["error"]["code"], "not_issuer");

    let (code, v2) = net
        .patch(0, &path, &json!({"summary": "Now also seen in parcels"}))
        .await;
    assert_eq!(code, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    let updated = eventually(WAIT, || async { net.get(2, &path).await.1["version"] == 2 }).await;
    assert!(updated, "update did not arrive");

    let (code, c) = net
        .post(
            0,
            &format!("{path}/cancel"),
            &json!({"reason": "threat over"}),
        )
        .await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["status"], "cancelled");
    for i in 1..3 {
        let cancelled = eventually(WAIT, || async {
            net.get(i, &path).await.1["status"] == "cancelled"
        })
        .await;
        assert!(cancelled, "member {i} did not see the cancellation");
    }
    let (code, _) = net.post(0, &format!("{path}/cancel"), &json!({})).await;
    assert_eq!(code, 409, "cancelling twice is a conflict");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_notices_show_as_expired_everywhere() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let soon = std::time::SystemTime::now() + Duration::from_millis(1500);
    let expires_at = humantime::format_rfc3339_millis(soon).to_string();
    let mut body = orange("Short-lived");
    body["expires_at"] = json!(expires_at);
    let (code, issued) = net.post(0, "/v1/notices", &body).await;
    assert_eq!(code, 201, "{issued}");
    let path = format!("/v1/notices/{}", issued["id"].as_str().unwrap());
    let expired = eventually(WAIT, || async {
        net.get(1, &path).await.1["status"] == "expired"
            && net.get(0, &path).await.1["status"] == "expired"
    })
    .await;
    assert!(expired);
    net.shutdown().await;
}

fn content(i: usize) -> NoticeContent {
    NoticeContent {
        kind: if i.is_multiple_of(2) {
            NoticeKind::Orange
        } else {
            NoticeKind::Purple
        },
        title: format!("Notice {i}"),
        summary: format!("Summary of notice {i}"),
        body: String::new(),
        expires_at_ms: now_ms() + YEAR_MS,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_offline_during_1000_entries_catches_up_on_all_of_them() {
    let mut net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    net.stop_member(2).await;

    // 1,000 entries from two members: issues, with every tenth notice cancelled.
    let mut cancelled = Vec::new();
    let mut published = 0;
    let mut i = 0;
    while published < 1000 {
        let member = i % 2;
        let handle = &net.node(member).handle;
        let entry = handle
            .publish(Body::Notice(NoticeOp::Issue(content(i))))
            .await
            .unwrap();
        published += 1;
        if i % 10 == 0 && published < 1000 {
            let notice = NoticeId::from_entry(&entry.id);
            handle
                .publish(Body::Notice(NoticeOp::Cancel {
                    notice,
                    reason: "test".into(),
                }))
                .await
                .unwrap();
            cancelled.push(notice.to_string());
            published += 1;
        }
        i += 1;
    }

    net.start_member(2).await;
    let feeds_of = |v: &Value| v["feeds"].clone();
    let caught_up = eventually(Duration::from_secs(60), || async {
        let (_, a) = net.get(0, "/v1/status").await;
        let (_, c) = net.get(2, "/v1/status").await;
        feeds_of(&a) == feeds_of(&c)
    })
    .await;
    let (_, status) = net.get(2, "/v1/status").await;
    assert!(caught_up, "member 2 did not catch up: {status}");
    let total: u64 = status["feeds"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 1000);

    let (_, list) = net.get(2, "/v1/notices?status=cancelled&limit=1000").await;
    let mut seen: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    cancelled.sort();
    assert_eq!(seen, cancelled, "cancellations did not all arrive");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_member_keeps_its_data_and_continues_its_feed() {
    let mut net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let mut ids = Vec::new();
    for k in 0..5 {
        let (code, n) = net
            .post(0, "/v1/notices", &orange(&format!("Keep {k}")))
            .await;
        assert_eq!(code, 201);
        ids.push(n["id"].as_str().unwrap().to_string());
    }
    let last = format!("/v1/notices/{}", ids[4]);
    assert!(eventually(WAIT, || async { net.get(1, &last).await.0 == 200 }).await);

    net.stop_member(0).await;
    net.stop_member(1).await;
    net.start_member(0).await;
    net.start_member(1).await;
    for i in 0..2 {
        let (_, list) = net.get(i, "/v1/notices").await;
        assert_eq!(list.as_array().unwrap().len(), 5, "member {i} lost notices");
    }
    assert!(wait_connected(&net, WAIT).await);
    // The feed continues at seq 6, and the other member accepts it.
    let (code, n) = net.post(0, "/v1/notices", &orange("After restart")).await;
    assert_eq!(code, 201);
    let path = format!("/v1/notices/{}", n["id"].as_str().unwrap());
    assert!(eventually(WAIT, || async { net.get(1, &path).await.0 == 200 }).await);
    let (_, status) = net.get(1, "/v1/status").await;
    let fr = net.members[0].bureau_id.clone();
    assert_eq!(status["feeds"][fr], 6);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_api_input_gets_a_4xx_that_names_the_field() {
    let net = TestNet::start(1).await;
    let cases = [
        (json!({"kind": "orange", "summary": "s"}), "title"),
        (
            json!({"kind": "green", "title": "t", "summary": "s"}),
            "kind",
        ),
        (
            json!({"kind": "orange", "title": "", "summary": "s"}),
            "title",
        ),
        (
            json!({"kind": "orange", "title": "t", "summary": "s", "expires_at": "2099-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"kind": "orange", "title": "t", "summary": "s", "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (
            json!({"kind": "orange", "title": "t", "summary": "s", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"kind": "orange", "title": 5, "summary": "s"}),
            "title",
        ),
        (
            json!({"kind": "orange", "title": "t", "summary": "s", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (code, err) = net.post(0, "/v1/notices", &body).await;
        assert_eq!(code, 400, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(field));
    }
    let raw = reqwest::Client::new()
        .post(format!("http://{}/v1/notices", net.node(0).api_addr))
        .bearer_auth(&net.members[0].token)
        .header("content-type", "application/json")
        .body("{not json");
    let (code, _) = net.send(raw, 0).await;
    assert_eq!(code, 400);

    let (code, err) = net.get(0, "/v1/notices/nothex").await;
    assert_eq!((code, err["error"]["field"].clone()), (400, json!("id")));
    let (code, _) = net.get(0, &format!("/v1/notices/{}", "0".repeat(32))).await;
    assert_eq!(code, 404);
    let (code, _) = net.get(0, "/v1/notices?status=sleeping").await;
    assert_eq!(code, 400);

    let unauth = reqwest::Client::new()
        .get(format!("http://{}/v1/status", net.node(0).api_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status().as_u16(), 401);
    let wrong = reqwest::Client::new()
        .get(format!("http://{}/v1/status", net.node(0).api_addr))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let health = reqwest::get(format!("http://{}/healthz", net.node(0).api_addr))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    net.shutdown().await;
}
