//! A member that plays by the protocol's rules but not by their intent, across real members:
//! it republishes another member's ballistic digests to be sent its surfaces, floods copies
//! of another member's firearm digests to hide it from checks, answers traces repeatedly or
//! differently, and publishes reference additions that conflict with another member's.

use std::time::Duration;

use serde_json::{Value, json};
use striae_ballistics_lib::{
    eval::find_dataset,
    synthetic::{SyntheticParams, synthetic_scan},
    x3p::write_x3p,
};
use striae_node::{config::TracePolicy, node};
use striae_protocol::{
    Body, SignedMessage, SyncRequest, SyncResponse,
    ballistic::{BallisticDigest, EvidenceKind},
    firearm::{DigestStatus, FirearmDigest, RecordRef},
    time::now_ms,
    trace::{TraceOutcome, TraceResponse},
};
use striae_tests::{TestNet, eventually, fast, wait_connected};

const WAIT: Duration = Duration::from_secs(60);

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Cartridge case `shot` fired by gun `gun` (1 to 3): the Fadul scans when present (slides 1,
/// 2 and 3), otherwise synthetic ones.
fn case(gun: u64, shot: u64) -> Vec<u8> {
    let dir =
        find_dataset(env!("CARGO_MANIFEST_DIR")).filter(|d| d.join("fadul-1-1.x3p").is_file());
    match dir {
        Some(dir) => std::fs::read(dir.join(format!("fadul-{gun}-{shot}.x3p"))).unwrap(),
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
    v["id"].as_str().unwrap().to_string()
}

fn audit_of(audit: &Value, action: &str, direction: &str) -> Vec<Value> {
    audit
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == action && r["direction"] == direction)
        .cloned()
        .collect()
}

fn rejected(net: &TestNet, i: usize, reason: &str) -> bool {
    let needle = format!("reason=\"{reason}\"");
    net.node(i)
        .handle
        .metrics
        .render()
        .lines()
        .any(|l| l.contains(&needle) && !l.ends_with(" 0"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_republishing_our_digests_is_sent_no_surface() {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let (a, b) = (0, 1);
    let ours = [
        add_exhibit(&net, a, case(1, 1), "A-CASE-1").await,
        add_exhibit(&net, a, case(2, 1), "A-CASE-2").await,
    ];

    // B republishes A's digests under references of its own.
    let mut copies = Vec::new();
    for id in &ours {
        let record = net.node(a).handle.ballistics.ballistics.record(id);
        let record = record.unwrap().unwrap();
        let copy = BallisticDigest {
            exhibit_ref: RecordRef(rand::random()),
            kind: EvidenceKind::CartridgeCase,
            caliber_class: record.caliber_class.clone(),
            digest: unhex(&record.digest),
        };
        copies.push(copy.exhibit_ref.to_hex());
        net.node(b)
            .handle
            .publish(Body::BallisticDigests(vec![copy]))
            .await
            .unwrap();
    }
    // Then B adds a genuine case of A's first gun: screened after the copies.
    let genuine = add_exhibit(&net, b, case(1, 2), "B-CASE-9").await;
    let proposed = eventually(WAIT, || async {
        let (_, leads) = net.get(a, "/v1/ballistics/leads").await;
        leads
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["exhibit_ref"] == genuine.as_str())
    })
    .await;
    let (_, leads) = net.get(a, "/v1/ballistics/leads").await;
    assert!(proposed, "no lead for the genuine case: {leads}");

    // The copies are no leads, the genuine lead waits for an operator, and nothing was sent.
    let leads = leads.as_array().unwrap();
    assert!(
        leads
            .iter()
            .all(|l| !copies.contains(&l["exhibit_ref"].as_str().unwrap().to_string())),
        "a republished digest became a lead: {leads:?}"
    );
    let lead = leads
        .iter()
        .find(|l| l["exhibit_ref"] == genuine.as_str())
        .unwrap();
    assert_eq!(lead["confirmation"], "proposed", "{lead}");
    assert!(rejected(&net, a, "duplicate_digest"));
    let (_, audit_a) = net.get(a, "/v1/audit").await;
    assert!(
        audit_of(&audit_a, "confirm_request", "out").is_empty(),
        "{audit_a}"
    );
    let (_, audit_b) = net.get(b, "/v1/audit").await;
    assert!(
        audit_of(&audit_b, "confirm_request", "in").is_empty(),
        "{audit_b}"
    );

    // An operator approves the genuine lead: B is asked, once, and confirms it.
    let id = lead["id"].as_str().unwrap();
    let path = format!("/v1/ballistics/leads/{id}/approve");
    let (code, approved) = net.post(a, &path, &Value::Null).await;
    assert_eq!(code, 200, "{approved}");
    let confirmed = eventually(WAIT, || async {
        let (_, leads) = net.get(a, "/v1/ballistics/leads?confirmed=true").await;
        leads.as_array().is_some_and(|l| l.len() == 1)
    })
    .await;
    let (_, leads) = net.get(a, "/v1/ballistics/leads").await;
    assert!(confirmed, "{leads}");
    let (code, again) = net.post(a, &path, &Value::Null).await;
    assert_eq!(code, 409, "{again}");
    let unknown = format!("/v1/ballistics/leads/{}/approve", "0".repeat(32));
    let (code, _) = net.post(a, &unknown, &Value::Null).await;
    assert_eq!(code, 404);
    let (code, malformed) = net
        .post(a, "/v1/ballistics/leads/00/approve", &Value::Null)
        .await;
    assert_eq!(code, 400, "{malformed}");
    let (_, audit_a) = net.get(a, "/v1/audit").await;
    assert_eq!(audit_of(&audit_a, "lead_approved", "out").len(), 1);
    let sent = audit_of(&audit_a, "confirm_request", "out");
    assert_eq!(sent.len(), 1, "{audit_a}");
    assert_eq!(sent[0]["details"]["exhibits"], json!([genuine]));
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_a_holders_digest_do_not_hide_it_from_checks() {
    let net = TestNet::start(3).await;
    assert!(wait_connected(&net, WAIT).await);
    let (holder, forger, checker) = (0, 1, 2);
    let record = json!({"make": "Glock", "model": "17", "caliber": "9mm Luger",
        "serial": "HID 4417", "type": "pistol", "status": "stolen",
        "event_date": "2024-01-02", "case_ref": "FR-1"});
    let (code, v) = net.post(holder, "/v1/firearms", &record).await;
    assert_eq!(code, 201, "{v}");
    let holder_id = net.node(holder).handle.me.to_string();
    let check = || async {
        let (code, v) = net
            .post(
                checker,
                "/v1/firearms/check",
                &json!({"make": "Glock", "serial": "HID4417"}),
            )
            .await;
        assert_eq!(code, 200, "{v}");
        v["hits"].as_array().cloned().unwrap_or_default()
    };
    assert!(eventually(WAIT, || async { check().await.len() == 1 }).await);

    // The forger knows the digest key: it publishes 300 records with the holder's values.
    let handle = &net.node(forger).handle;
    let make_keys =
        striae_node::firearms::records::query_make_keys(&handle.firearms.firearms.table(), "Glock");
    let (exact, confusable) =
        striae_node::firearms::records::query_digests(&handle.digest_key, &make_keys[0], "HID4417")
            .unwrap();
    let forged: Vec<FirearmDigest> = (0..300)
        .map(|_| FirearmDigest {
            exact,
            confusable,
            status: DigestStatus::Stolen,
            record_ref: RecordRef(rand::random()),
        })
        .collect();
    handle.publish(Body::FirearmDigests(forged)).await.unwrap();
    let forger_id = handle.me.to_string();
    let flooded = eventually(WAIT, || async {
        check()
            .await
            .iter()
            .any(|h| h["bureau_id"] == forger_id.as_str())
    })
    .await;
    assert!(flooded);
    let hits = check().await;
    assert!(
        hits.iter()
            .any(|h| h["bureau_id"] == holder_id.as_str() && h["match"] == "exact"),
        "the holder vanished: {} hits",
        hits.len()
    );
    let from_forger = hits
        .iter()
        .filter(|h| h["bureau_id"] == forger_id.as_str())
        .count();
    assert!(from_forger <= striae_node::firearms::MAX_CHECK_HITS_PER_MEMBER);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_answers_are_kept_once_and_only_for_the_trace_asked() {
    let mut net = TestNet::create(3);
    let (fr, de, es) = (0, 1, 2);
    net.start_member(fr).await;
    net.start_member(es).await;
    let mut config = net.config(de);
    config.trace_policy = TracePolicy::Review;
    fast(&mut config);
    net.nodes[de] = Some(node::start(config).await.unwrap());
    assert!(wait_connected(&net, WAIT).await);
    // DE holds the gun, so the request waits for its reviewer.
    let record = json!({"make": "Glock", "model": "17", "caliber": "9mm Luger",
        "serial": "ZZ 9911", "type": "pistol", "status": "stolen",
        "event_date": "2024-01-02", "case_ref": "DE-1"});
    let (code, v) = net.post(de, "/v1/firearms", &record).await;
    assert_eq!(code, 201, "{v}");
    let (code, trace) = net
        .post(
            fr,
            "/v1/traces",
            &json!({"make": "Glock", "serial": "ZZ 9911", "case_ref": "FR-7",
                "reason": "seized", "to": ["DE"]}),
        )
        .await;
    assert_eq!(code, 202, "{trace}");
    let id = trace["id"].as_str().unwrap().to_string();
    let path = format!("/v1/traces/{id}");
    let held = eventually(WAIT, || async {
        net.get(fr, &path).await.1["responses"][0]["outcome"] == "pending_review"
    })
    .await;
    assert!(held, "{}", net.get(fr, &path).await.1);

    let trace_id: [u8; 16] = unhex(&id).try_into().unwrap();
    let requester = net.node(fr).handle.me;
    let answer = |from: usize, trace_id: [u8; 16], outcome: TraceOutcome, note: &str| {
        let h = &net.node(from).handle;
        let response = TraceResponse {
            trace_id,
            responder: h.me,
            requester,
            answered_at_ms: now_ms(),
            outcome,
            records: Vec::new(),
            note: note.into(),
        };
        SignedMessage::sign(&response, &h.signer, &h.network).unwrap()
    };
    let send = |from: usize, message: SignedMessage| {
        let h = net.node(from).handle.clone();
        async move {
            match h.ask(&requester, SyncRequest::TraceAnswer(message)).await {
                Ok(SyncResponse::Received) => Ok(()),
                Ok(SyncResponse::Refused(why)) => Err(why),
                other => panic!("unexpected answer: {other:?}"),
            }
        }
    };

    // Answers for a trace FR never sent, or from a member it did not ask, are refused.
    let stray = answer(de, [9; 16], TraceOutcome::NotFound, "");
    assert!(send(de, stray).await.is_err());
    let stranger = answer(es, trace_id, TraceOutcome::NotFound, "");
    assert!(send(es, stranger).await.is_err());
    // A second, different "pending review" is refused.
    let pending_again = answer(de, trace_id, TraceOutcome::PendingReview, "again");
    assert!(send(de, pending_again).await.is_err());

    // DE's final answer is kept; the same answer delivered again is taken, once.
    let last_word = answer(de, trace_id, TraceOutcome::NotFound, "no such gun");
    send(de, last_word.clone()).await.unwrap();
    send(de, last_word).await.unwrap();
    // Another final answer afterwards is refused and counted.
    let changed = answer(de, trace_id, TraceOutcome::Refused, "changed our mind");
    assert!(send(de, changed).await.is_err());
    assert!(rejected(&net, fr, "trace_answer_duplicate"));

    let (_, trace) = net.get(fr, &path).await;
    assert_eq!(trace["state"], "complete", "{trace}");
    assert_eq!(trace["responses"][0]["outcome"], "not_found", "{trace}");
    assert_eq!(trace["responses"][0]["note"], "no such gun", "{trace}");
    let (_, audit) = net.get(fr, "/v1/audit").await;
    let kept: Vec<Value> = audit_of(&audit, "trace_response", "in");
    assert_eq!(
        kept.len(),
        2,
        "the pending and the final answer only: {audit}"
    );
    net.shutdown().await;
}

/// What member `i`'s table makes of a make as written.
async fn make_id(net: &TestNet, i: usize, make: &str) -> Value {
    let (code, v) = net
        .get(
            i,
            &format!(
                "/v1/reference/suggest?field=make&q={}",
                make.replace(' ', "%20")
            ),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    v["id"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_reference_additions_resolve_alike_everywhere_and_after_a_restart() {
    let mut net = TestNet::create(2);
    let alias =
        |target: &str| json!({"kind": "alias", "target_id": target, "alias": "Zastrow Arms"});
    // Each member binds the alias while the other is away, so each applies its own first.
    net.start_member(0).await;
    let (code, v) = net.post(0, "/v1/reference", &alias("make:glock")).await;
    assert_eq!(code, 201, "{v}");
    net.stop_member(0).await;
    net.start_member(1).await;
    let (code, v) = net.post(1, "/v1/reference", &alias("make:beretta")).await;
    assert_eq!(code, 201, "{v}");
    net.start_member(0).await;
    assert!(wait_connected(&net, WAIT).await);
    let (m0, m1) = (net.node(0).handle.me, net.node(1).handle.me);
    let synced = eventually(WAIT, || async {
        net.node(0).handle.store.head(&m1).unwrap().is_some()
            && net.node(1).handle.store.head(&m0).unwrap().is_some()
    })
    .await;
    assert!(synced);

    // The earlier addition wins at both members.
    assert_eq!(make_id(&net, 0, "Zastrow Arms").await, "make:glock");
    assert_eq!(make_id(&net, 1, "Zastrow Arms").await, "make:glock");
    // And after a restart, which rebuilds the table from the stored feeds.
    net.stop_member(1).await;
    net.start_member(1).await;
    assert_eq!(make_id(&net, 1, "Zastrow Arms").await, "make:glock");
    let (_, reference) = net.get(1, "/v1/reference").await;
    assert_eq!(
        reference["additions"].as_array().unwrap().len(),
        1,
        "{reference}"
    );
    net.shutdown().await;
}
