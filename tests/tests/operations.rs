//! Joint operations across real members, through the HTTP API: an operation among three of
//! four members reaches its participants, who join; seizures recorded by two of them reach
//! every participant, each with its author's signature, and every participant's report adds
//! them up; the fourth member learns nothing of the operation through any route, refuses it
//! when a participant sends it anyway, and holds none of its bytes; a participant that was
//! down while seizures were recorded (and a sender restarted meanwhile) gets them once it is
//! back; and requests that are wrong are refused naming the field.

use std::time::Duration;

use serde_json::{Value, json};
use striae_node::{notices::rfc3339, operations::NewOperation};
use striae_protocol::{
    SignedMessage, SyncRequest, SyncResponse,
    operation::{
        Delivered, ItemCategory, OperationDelivery, OperationId, REFUSED_FINAL, SeizedItem, Seizure,
    },
    time::now_ms,
};
use striae_tests::{TestNet, eventually, wait_connected};

const WAIT: Duration = Duration::from_secs(60);
const DAY_MS: u64 = 24 * 3600 * 1000;
const FR: usize = 0;
const DE: usize = 1;
const ES: usize = 2;
const PT: usize = 3;

/// The day `offset` days from today (UTC), `YYYY-MM-DD`.
fn day(offset: i64) -> String {
    let ms = now_ms() as i64 + offset * DAY_MS as i64;
    rfc3339(ms as u64)[..10].to_string()
}

fn new_operation() -> Value {
    json!({
        "name": "TRIGGER Test",
        "description": "Small arms on the western route",
        "participants": ["DE", "ES"],
        "starts_at": day(-3),
        "ends_at": day(3),
    })
}

/// FR creates the operation among FR, DE and ES; returns its id.
async fn create(net: &TestNet) -> String {
    let (code, op) = net.post(FR, "/v1/operations", &new_operation()).await;
    assert_eq!(code, 201, "{op}");
    assert_eq!(op["role"], "coordinator", "{op}");
    assert_eq!(op["participants"].as_array().map(Vec::len), Some(3), "{op}");
    op["id"].as_str().expect("id").to_string()
}

/// Waits until member `i` holds the operation.
async fn wait_invited(net: &TestNet, i: usize, id: &str) {
    let path = format!("/v1/operations/{id}");
    let seen = eventually(WAIT, || async { net.get(i, &path).await.0 == 200 }).await;
    assert!(seen, "member {i} never saw operation {id}");
}

async fn join(net: &TestNet, i: usize, id: &str) {
    let (code, v) = net
        .post(i, &format!("/v1/operations/{id}/join"), &Value::Null)
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["joined"], true, "{v}");
}

async fn seize(net: &TestNet, i: usize, id: &str, body: &Value) -> Value {
    let (code, v) = net
        .post(i, &format!("/v1/operations/{id}/seizures"), body)
        .await;
    assert_eq!(code, 201, "{v}");
    v
}

/// Waits until member `i`'s report counts `n` seizure records, and returns it.
async fn report_with(net: &TestNet, i: usize, id: &str, n: u64) -> Value {
    let path = format!("/v1/operations/{id}/report");
    let start = std::time::Instant::now();
    loop {
        let (code, v) = net.get(i, &path).await;
        if code == 200 && v["seizure_count"] == n {
            return v;
        }
        assert!(
            start.elapsed() < WAIT,
            "member {i} never counted {n} seizures: {code} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
async fn seizures_reach_every_participant_and_a_non_participant_learns_nothing() {
    let net = TestNet::start(4).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");
    let id = create(&net).await;
    for i in [DE, ES] {
        wait_invited(&net, i, &id).await;
    }

    // Invited is not joined: a seizure before joining is refused.
    let (_, op) = net.get(DE, &format!("/v1/operations/{id}")).await;
    assert_eq!(
        (op["role"].as_str(), op["joined"].as_bool()),
        (Some("participant"), Some(false))
    );
    let early = json!({"date": day(0), "items": [{"category": "drugs", "count": 1}]});
    let (code, v) = net
        .post(DE, &format!("/v1/operations/{id}/seizures"), &early)
        .await;
    assert_eq!(code, 409, "{v}");
    join(&net, DE, &id).await;
    join(&net, ES, &id).await;
    join(&net, DE, &id).await; // joining again changes nothing

    // The coordinator sees who joined.
    let all_joined = eventually(WAIT, || async {
        let (_, v) = net.get(FR, &format!("/v1/operations/{id}")).await;
        v["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().all(|p| p["joined"] == true))
    })
    .await;
    assert!(all_joined, "the coordinator never saw both joins");

    // FR's seizure names one of its firearm records; DE's names none.
    let (code, record) = net
        .post(
            FR,
            "/v1/firearms",
            &json!({
                "make": "Glock", "model": "17", "caliber": "9x19", "serial": "OPS-1",
                "type": "pistol", "status": "seized", "event_date": day(0),
            }),
        )
        .await;
    assert_eq!(code, 201, "{record}");
    let firearm = record["id"].as_str().expect("record id");
    let fr_seizure = seize(
        &net,
        FR,
        &id,
        &json!({
            "date": day(-1),
            "place": "Strasbourg",
            "items": [
                {"category": "firearm", "count": 2, "description": "pistols", "firearm_id": firearm},
                {"category": "ammunition", "count": 100},
            ],
            "arrests": 1,
        }),
    )
    .await;
    assert_eq!(fr_seizure["items"][0]["firearm_id"], firearm);
    // The seized firearm with a record goes through the recovery protocol as a case.
    let case = fr_seizure["cases"][0]
        .as_str()
        .expect("a case for the seized firearm");
    let stepped = eventually(WAIT, || async {
        let (_, v) = net.get(FR, &format!("/v1/cases/{case}")).await;
        v["steps"][0]["state"] == "done" && v["steps"][1]["state"] == "done"
    })
    .await;
    let (_, v) = net.get(FR, &format!("/v1/cases/{case}")).await;
    assert!(stepped, "{v:#}");
    assert_eq!(
        v["steps"][0]["details"]["records"][0]["id"], firearm,
        "{v:#}"
    );
    assert_eq!(v["steps"][8]["step"], 9);
    let de_seizure = seize(
        &net,
        DE,
        &id,
        &json!({
            "date": day(0),
            "items": [
                {"category": "drugs", "count": 5, "description": "kg of cannabis resin"},
                {"category": "firearm", "count": 1},
            ],
            "arrests": 2,
        }),
    )
    .await;

    // Every participant holds both records and adds them up the same way.
    for i in [FR, DE, ES] {
        let report = report_with(&net, i, &id, 2).await;
        assert_eq!(report["totals"]["firearm"], 3, "{report}");
        assert_eq!(report["totals"]["ammunition"], 100, "{report}");
        assert_eq!(report["totals"]["drugs"], 5, "{report}");
        assert_eq!(report["totals"]["vehicle"], 0, "{report}");
        assert_eq!(report["by_country"]["FR"]["firearm"], 2, "{report}");
        assert_eq!(report["by_country"]["FR"]["ammunition"], 100, "{report}");
        assert_eq!(report["by_country"]["DE"]["firearm"], 1, "{report}");
        assert_eq!(report["by_country"]["DE"]["drugs"], 5, "{report}");
        assert!(report["by_country"].get("ES").is_none(), "{report}");
        assert_eq!(report["arrests"], 3, "{report}");
        assert_eq!(report["seizures"].as_array().map(Vec::len), Some(2));
    }

    // Each record keeps its author's signature, the same wherever it is read.
    let (code, page) = net.get(ES, &format!("/v1/operations/{id}/seizures")).await;
    assert_eq!(code, 200, "{page}");
    let listed = page["seizures"].as_array().expect("seizures");
    for mine in [&fr_seizure, &de_seizure] {
        let there = listed
            .iter()
            .find(|s| s["id"] == mine["id"])
            .unwrap_or_else(|| panic!("{} not listed at ES: {page}", mine["id"]));
        assert_eq!(there["signature"], mine["signature"]);
        assert_eq!(there["country"], mine["country"]);
    }
    let es = &net.node(ES).handle;
    let op_id = OperationId::from_hex(&id).expect("id");
    for held in es.operations.operations.seizures(&op_id, None, 10).unwrap() {
        let seizure: Seizure = held.signed.open(&es.network).expect("verifies");
        assert_eq!(seizure, held.seizure);
    }
    // One page at a time.
    let (_, first) = net
        .get(ES, &format!("/v1/operations/{id}/seizures?limit=1"))
        .await;
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = net
        .get(
            ES,
            &format!("/v1/operations/{id}/seizures?limit=1&after={next}"),
        )
        .await;
    assert_ne!(first["seizures"][0]["id"], second["seizures"][0]["id"]);

    // The seized firearm that names a record is there for a case to pick up.
    let seized =
        striae_node::operations::seized_firearms(&es.operations.operations, &op_id).unwrap();
    assert_eq!(seized.len(), 1, "{seized:?}");
    assert_eq!(seized[0].firearm_ref.to_hex(), firearm);
    assert_eq!(seized[0].author, net.node(FR).handle.me);

    // Both ends audited the messages.
    let (_, audit) = net.get(DE, "/v1/audit?limit=1000").await;
    let actions = audit_actions(&audit);
    for expected in [
        ("in", "operation_invite"),
        ("in", "operation_seizure"),
        ("out", "operation_join"),
        ("out", "operation_seizure"),
    ] {
        assert!(
            actions.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing: {actions:?}"
        );
    }
    // Each message received names the user who wrote it at its sender (here each member's
    // bootstrap administrator, by its account id).
    let received: Vec<&Value> = audit
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["direction"] == "in" && r["action"] != "operation_refused")
        .collect();
    assert!(!received.is_empty());
    for record in received {
        let by = &record["details"]["requested_by"];
        assert_eq!(by, &striae_node::accounts::bootstrap_id(), "{record}");
    }

    not_a_participant_learns_nothing(&net, &id).await;
    net.shutdown().await;
}

/// PT, outside the operation, gets 404 on every route exactly as for an id that names
/// nothing, does not list it, refuses it when a participant sends it anyway, and holds none
/// of it; nothing of the operation ever crossed to it.
async fn not_a_participant_learns_nothing(net: &TestNet, id: &str) {
    let nothing = "0123456789abcdef0123456789abcdef";
    let seizure = json!({"date": day(0), "items": [{"category": "other", "count": 1}]});
    for (method, path, body) in [
        ("GET", "", None),
        ("GET", "/seizures", None),
        ("GET", "/report", None),
        ("POST", "/join", None),
        ("POST", "/seizures", Some(&seizure)),
    ] {
        let mut answers = Vec::new();
        for target in [id, nothing] {
            let url = format!("/v1/operations/{target}{path}");
            let (code, v) = match (method, body) {
                ("GET", _) => net.get(PT, &url).await,
                (_, Some(b)) => net.post(PT, &url, b).await,
                _ => net.post(PT, &url, &Value::Null).await,
            };
            assert_eq!(code, 404, "{method} {url} at PT: {v}");
            answers.push(v.to_string().replace(target, "ID"));
        }
        assert_eq!(
            answers[0], answers[1],
            "{method} {path}: the answers differ"
        );
    }
    let (code, list) = net.get(PT, "/v1/operations").await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["operations"], json!([]), "{list}");

    // A participant that sends PT the operation anyway is refused, and PT keeps nothing.
    let (fr, pt) = (&net.node(FR).handle, &net.node(PT).handle);
    let op_id = OperationId::from_hex(id).expect("id");
    let held = fr.operations.operations.get(&op_id).unwrap().expect("held");
    let invite = SyncRequest::Operation(OperationDelivery {
        operation: held.signed.clone(),
        delivered: Delivered::Invite,
    });
    match fr.ask(&pt.me, invite).await {
        Ok(SyncResponse::Refused(why)) => assert!(why.starts_with(REFUSED_FINAL), "{why}"),
        other => panic!("PT took the operation: {other:?}"),
    }
    assert_eq!(net.get(PT, &format!("/v1/operations/{id}")).await.0, 404);
    assert!(pt.operations.operations.get(&op_id).unwrap().is_none());

    // Nor may PT add to it, holding the coordinator's signed operation or not.
    let forged = Seizure {
        operation: op_id,
        seizure_id: [1; 16],
        author: pt.me,
        recorded_at_ms: now_ms(),
        date: day(0),
        place: String::new(),
        items: vec![SeizedItem {
            category: ItemCategory::Drugs,
            count: 1000,
            description: String::new(),
            firearm_ref: None,
        }],
        arrests: 0,
        acting: String::new(),
    };
    let signed = SignedMessage::sign(&forged, &pt.signer, &pt.network).unwrap();
    let forged = SyncRequest::Operation(OperationDelivery {
        operation: held.signed.clone(),
        delivered: Delivered::Seizure(signed),
    });
    match pt.ask(&fr.me, forged).await {
        Ok(SyncResponse::Refused(why)) => {
            assert!(why.contains("sender does not take part"), "{why}")
        }
        other => panic!("FR took PT's seizure: {other:?}"),
    }
    let (_, report) = net.get(FR, &format!("/v1/operations/{id}/report")).await;
    assert_eq!(report["totals"]["drugs"], 5, "{report}");

    // PT's audit log shows the one refused invitation it was sent here, and nothing else of
    // the operation: no message of it was ever delivered to PT.
    let (_, audit) = net.get(PT, "/v1/audit?limit=1000").await;
    let about: Vec<&Value> = audit
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["subject"] == id)
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
    assert!(about[0]["details"]["refused"].is_string(), "{about:?}");
    assert!(
        !about[0].to_string().contains("TRIGGER"),
        "the refused operation's content was logged: {about:?}"
    );
    assert_eq!(
        net.node(FR)
            .handle
            .operations
            .operations
            .waiting_for(&pt.me),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_was_down_gets_the_seizures_recorded_meanwhile() {
    let mut net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");
    let id = create(&net).await;
    for i in [DE, ES] {
        wait_invited(&net, i, &id).await;
        join(&net, i, &id).await;
    }
    report_with(&net, ES, &id, 0).await;

    // ES goes down; FR and DE record seizures; FR restarts before ES is back, so what ES
    // gets comes out of FR's outbox on disk.
    net.stop_member(ES).await;
    let seizure = |category: &str, count: u32| json!({"date": day(0), "items": [{"category": category, "count": count}], "arrests": 1});
    seize(&net, FR, &id, &seizure("vehicle", 2)).await;
    seize(&net, DE, &id, &seizure("medicine", 40)).await;
    report_with(&net, FR, &id, 2).await;
    let es_bureau = striae_node::devnet::signer_of(&net.member_dir(ES))
        .unwrap()
        .bureau();
    assert!(
        net.node(FR)
            .handle
            .operations
            .operations
            .waiting_for(&es_bureau)
            > 0
    );
    net.stop_member(FR).await;
    net.start_member(FR).await;
    net.start_member(ES).await;
    assert!(
        wait_connected(&net, WAIT).await,
        "members did not reconnect"
    );

    let report = report_with(&net, ES, &id, 2).await;
    assert_eq!(report["totals"]["vehicle"], 2, "{report}");
    assert_eq!(report["totals"]["medicine"], 40, "{report}");
    assert_eq!(report["arrests"], 2, "{report}");
    // What ES holds survives its own restart too.
    net.stop_member(ES).await;
    net.start_member(ES).await;
    let (code, again) = net.get(ES, &format!("/v1/operations/{id}/report")).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["totals"], report["totals"]);
    let drained = eventually(WAIT, || async {
        net.node(FR)
            .handle
            .operations
            .operations
            .waiting_for(&es_bureau)
            == 0
    })
    .await;
    assert!(drained, "FR's outbox to ES never emptied");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_requests_are_refused_naming_the_field() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await, "members did not connect");
    let base = json!({
        "name": "TRIGGER", "participants": ["DE"], "starts_at": day(-1), "ends_at": day(1),
    });
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let long = "x".repeat(5_000);
    for (body, field) in [
        (with("participants", json!(["XX"])), "participants"),
        (with("participants", json!([])), "participants"),
        (with("participants", json!(["FR"])), "participants"),
        (with("participants", json!(["DE", "DE"])), "participants"),
        (with("ends_at", json!(day(-2))), "ends_at"),
        (with("starts_at", json!("soon")), "starts_at"),
        (with("name", json!(long)), "name"),
        (with("name", json!(" ")), "name"),
        (with("description", json!(long)), "description"),
        (with("colour", json!("red")), "colour"),
    ] {
        let (code, v) = net.post(FR, "/v1/operations", &body).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (code, op) = net.post(FR, "/v1/operations", &base).await;
    assert_eq!(code, 201, "{op}");
    let id = op["id"].as_str().expect("id").to_string();
    let path = format!("/v1/operations/{id}/seizures");
    let seizure = json!({"date": day(0), "items": [{"category": "firearm", "count": 1}]});
    let item = |field: &str, value: Value| {
        let mut body = seizure.clone();
        body["items"][0][field] = value;
        body
    };
    let top = |field: &str, value: Value| {
        let mut body = seizure.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (item("category", json!("banana")), "items[0].category"),
        (item("count", json!(0)), "items[0].count"),
        (item("count", json!(1_000_000_000_000u64)), "items[0].count"),
        (item("count", json!(-1)), "items[0].count"),
        (item("colour", json!("red")), "items[0].colour"),
        (item("description", json!(long)), "items[0].description"),
        (item("firearm_id", json!("nothex")), "items[0].firearm_id"),
        (
            item("firearm_id", json!("0123456789abcdef0123456789abcdef")),
            "items[0].firearm_id",
        ),
        (top("items", json!([])), "items"),
        (top("date", json!("yesterday")), "date"),
        (top("date", json!(day(-30))), "date"),
        (top("place", json!(long)), "place"),
        (top("arrests", json!(1_000_000)), "arrests"),
        (top("colour", json!(1)), "colour"),
    ] {
        let (code, v) = net.post(FR, &path, &body).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=xyz", "after"),
    ] {
        let (code, v) = net.get(FR, &format!("{path}?{query}")).await;
        assert_eq!(
            (code, v["error"]["field"].as_str()),
            (400, Some(field)),
            "{v}"
        );
        let (code, v) = net.get(FR, &format!("/v1/operations?{query}")).await;
        assert_eq!(
            (code, v["error"]["field"].as_str()),
            (400, Some(field)),
            "{v}"
        );
    }
    let (code, v) = net.get(FR, "/v1/operations/not-an-id").await;
    assert_eq!(
        (code, v["error"]["field"].as_str()),
        (400, Some("id")),
        "{v}"
    );

    // The coordinator has joined by creating it; DE must join first.
    let (code, v) = net.post(FR, &path, &seizure).await;
    assert_eq!(code, 201, "{v}");
    wait_invited(&net, DE, &id).await;
    let (code, v) = net.post(DE, &path, &seizure).await;
    assert_eq!(code, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("join"),
        "{v}"
    );

    // An operation created in the node itself (as the devnet seeds one) is listed.
    let me = net.node(FR).handle.me;
    let de = net.node(DE).handle.me;
    let held = striae_node::operations::create(
        &net.node(FR).handle.operations,
        NewOperation {
            name: "Second".into(),
            description: String::new(),
            invited: vec![de, me],
            starts_at_ms: now_ms(),
            ends_at_ms: now_ms() + DAY_MS,
        },
    )
    .await
    .unwrap();
    assert_eq!(held.op.participants.len(), 2);
    let (_, list) = net.get(FR, "/v1/operations").await;
    assert_eq!(
        list["operations"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    net.shutdown().await;
}
