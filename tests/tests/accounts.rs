//! Accounts and roles through the HTTP API of real members: the bootstrap token is an admin
//! that creates users; every route in the permission table is refused (403) to exactly the
//! roles that lack its permission; a trace held for review is approved by a reviewer and not by
//! an analyst, and the audit logs on both sides name the acting users; revoked and expired
//! tokens get 401; and no token is written to disk in plain text.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use striae_node::{
    accounts::{self, NewUser, Role},
    config::TracePolicy,
    node,
};
use striae_tests::{TestNet, eventually, fast, wait_connected};

const WAIT: Duration = Duration::from_secs(30);
const FR: usize = 0;
const DE: usize = 1;
const UNKNOWN_ID: &str = "00000000000000000000000000000000";

/// Sends `method path` with `token` to member `i`: status and JSON body (null if none).
async fn call(
    net: &TestNet,
    i: usize,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let url = format!("http://{}{path}", net.node(i).api_addr);
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let r = request.send().await.expect("API reachable");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A user created by member `i`'s bootstrap admin: (id, token).
async fn add_user(net: &TestNet, i: usize, name: &str, role: &str) -> (String, String) {
    let (code, user) = net
        .post(i, "/v1/users", &json!({"name": name, "role": role}))
        .await;
    assert_eq!(code, 201, "{user}");
    assert_eq!(user["role"], role);
    assert!(user["expires_at"].is_string(), "{user}");
    let text = |k: &str| user[k].as_str().expect(k).to_string();
    (text("id"), text("token"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_exactly_the_roles_without_its_permission() {
    let net = TestNet::start(1).await;
    let admin = net.members[0].token.clone();
    let mut tokens = vec![(Role::Admin, admin)];
    for role in [Role::Analyst, Role::Officer, Role::Reviewer] {
        let (_, token) = add_user(&net, 0, &format!("{role} one"), role.as_str()).await;
        tokens.push((role, token));
    }
    for (method, pattern, permission) in accounts::ROUTES {
        let path = pattern
            .replace("{id}", UNKNOWN_ID)
            .replace("{other}", UNKNOWN_ID)
            .replace("{step}", "1");
        let method: Method = method.parse().expect("method");
        let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
        for (role, token) in &tokens {
            let case = format!("{role} {method} {pattern}");
            let (code, answer) = call(&net, 0, token, method.clone(), &path, body.as_ref()).await;
            assert_ne!(code, 401, "{case}: {answer}");
            if role.grants(*permission) {
                assert_ne!(code, 403, "{case}: {answer}");
            } else {
                assert_eq!(code, 403, "{case}: {answer}");
                assert_eq!(answer["error"]["code"], "forbidden", "{case}");
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                let needed = format!("needs the {} role", permission.role_needed());
                assert!(message.contains(&needed), "{case}: {message}");
                assert!(message.contains(&format!("{role}'s")), "{case}: {message}");
            }
        }
    }
    // A method a route does not take is still 405, whatever the role.
    let (code, _) = call(&net, 0, &tokens[1].1, Method::PUT, "/v1/status", None).await;
    assert_eq!(code, 405);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_listed_and_revoked_by_admins_and_tokens_expire() {
    let net = TestNet::start(1).await;
    let (id, token) = add_user(&net, 0, "officer one", "officer").await;
    let (code, me) = call(&net, 0, &token, Method::GET, "/v1/me", None).await;
    assert_eq!(code, 200, "{me}");
    assert_eq!(
        (me["id"].as_str(), me["role"].as_str()),
        (Some(id.as_str()), Some("officer"))
    );
    let (code, me) = net.get(0, "/v1/me").await;
    assert_eq!((code, me["role"].as_str()), (200, Some("admin")));
    assert_eq!(me["id"], accounts::bootstrap_id());

    let (_, listed) = net.get(0, "/v1/users").await;
    let text = listed.to_string();
    assert!(!text.contains(&token) && !text.contains("hash"), "{text}");
    assert_eq!(
        listed["users"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    for (body, field) in [
        (json!({"name": "x", "role": "chief"}), "role"),
        (json!({"name": "", "role": "analyst"}), "name"),
        (json!({"name": "a\u{7}b", "role": "analyst"}), "name"),
        (json!({"name": "x".repeat(65), "role": "analyst"}), "name"),
        (
            json!({"name": "x", "role": "analyst", "expires_in_days": 0}),
            "expires_in_days",
        ),
    ] {
        let (code, answer) = net.post(0, "/v1/users", &body).await;
        assert_eq!(code, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (code, _) = call(
        &net,
        0,
        &net.members[0].token,
        Method::DELETE,
        &format!("/v1/users/{UNKNOWN_ID}"),
        None,
    )
    .await;
    assert_eq!(code, 404);
    let bootstrap = format!("/v1/users/{}", accounts::bootstrap_id());
    let (code, answer) = call(
        &net,
        0,
        &net.members[0].token,
        Method::DELETE,
        &bootstrap,
        None,
    )
    .await;
    assert_eq!(code, 409, "the last admin stays: {answer}");

    let (code, revoked) = call(
        &net,
        0,
        &net.members[0].token,
        Method::DELETE,
        &format!("/v1/users/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (code, revoked["status"].as_str()),
        (200, Some("revoked")),
        "{revoked}"
    );
    let (code, answer) = call(&net, 0, &token, Method::GET, "/v1/status", None).await;
    assert_eq!(code, 401);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked")
    );

    // Expiry is days from the API; a token already past its time is refused all the same.
    let accounts = &net.node(0).handle.accounts;
    let past = NewUser {
        name: "expired".into(),
        role: Role::Analyst,
        expires_at_ms: Some(1),
    };
    let (_, expired) = accounts.add(past, "test").expect("add");
    let (code, answer) = call(&net, 0, &expired, Method::GET, "/v1/status", None).await;
    assert_eq!(code, 401);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );
    let (code, _) = call(&net, 0, "not-a-token", Method::GET, "/v1/status", None).await;
    assert_eq!(code, 401);

    // No token is in the database in plain text: only the bootstrap token's own file (and the
    // devnet's description of the member) holds that one.
    let (_, kept) = add_user(&net, 0, "analyst kept", "analyst").await;
    let dir = net.member_dir(0);
    let mut net = net;
    net.stop_member(0).await;
    for token in [&token, &expired, &kept] {
        assert_eq!(files_holding(&dir, token.as_bytes()), Vec::<String>::new());
    }
    let bootstrap_files = files_holding(&dir, net.members[0].token.as_bytes());
    assert!(
        bootstrap_files.iter().all(|f| f.ends_with("api.token")),
        "{bootstrap_files:?}"
    );
    net.shutdown().await;
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_trace_is_approved_by_a_reviewer_not_an_analyst_and_the_audit_names_them() {
    let mut net = TestNet::create(2);
    net.start_member(FR).await;
    let mut config = net.config(DE);
    config.trace_policy = TracePolicy::Review;
    fast(&mut config);
    net.nodes[DE] = Some(node::start(config).await.expect("start DE"));
    assert!(wait_connected(&net, WAIT).await);
    let record = json!({
        "make": "Glock", "model": "17", "caliber": "9x19", "serial": "BXK 123",
        "type": "pistol", "status": "stolen", "event_date": "2024-03-09",
    });
    let (code, answer) = net.post(DE, "/v1/firearms", &record).await;
    assert_eq!(code, 201, "{answer}");
    let (officer_id, officer) = add_user(&net, FR, "FR-OPJ-4471", "officer").await;
    let (_, analyst) = add_user(&net, DE, "DE-BKA-analyst-12", "analyst").await;
    let (reviewer_id, reviewer) = add_user(&net, DE, "DE-BKA-review-3", "reviewer").await;

    let seen = eventually(WAIT, || async {
        let (_, check) = net
            .post(
                FR,
                "/v1/firearms/check",
                &json!({"make": "Glock", "serial": "BXK123"}),
            )
            .await;
        check["hits"].as_array().is_some_and(|h| !h.is_empty())
    })
    .await;
    assert!(seen, "FR never saw DE's digest");
    let ask = json!({"make": "Glock", "serial": "BXK123", "case_ref": "FR-2025-0050",
        "reason": "Seized at the border"});
    let (code, trace) = call(&net, FR, &officer, Method::POST, "/v1/traces", Some(&ask)).await;
    assert!(code < 300, "{trace}");
    let id = trace["id"].as_str().expect("trace id").to_string();
    let held = eventually(WAIT, || async {
        let (_, incoming) = net.get(DE, "/v1/traces/incoming").await;
        incoming
            .as_array()
            .is_some_and(|i| i.iter().any(|t| t["id"] == id.as_str()))
    })
    .await;
    assert!(held, "the trace never reached DE's review queue");
    // The holder's reviewer sees who asked, by FR's own reference for its officer.
    let (_, incoming) = net
        .get(DE, "/v1/traces/incoming?state=pending_review")
        .await;
    let asked = incoming
        .as_array()
        .and_then(|i| i.iter().find(|t| t["id"] == id.as_str()))
        .expect("held trace listed");
    assert_eq!(asked["requested_by"], officer_id.as_str(), "{asked}");

    let approve = format!("/v1/traces/incoming/{id}/approve");
    let note = json!({"note": "judicial request attached"});
    let (code, answer) = call(&net, DE, &analyst, Method::POST, &approve, Some(&note)).await;
    assert_eq!(code, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("reviewer")
    );
    let (code, answer) = call(&net, DE, &reviewer, Method::POST, &approve, Some(&note)).await;
    assert_eq!(code, 200, "{answer}");

    let review = audit_record(&net, DE, "trace_review", &id).await;
    assert_eq!(review["user"]["id"], reviewer_id.as_str(), "{review}");
    assert_eq!(review["user"]["name"], "DE-BKA-review-3", "{review}");
    let request = audit_record(&net, FR, "trace_request", &id).await;
    assert_eq!(request["user"]["id"], officer_id.as_str(), "{request}");
    assert_eq!(request["details"]["requested_by"], officer_id.as_str());
    // DE's log names FR's officer too, as FR's signed request did: both sides say who asked.
    let received = audit_record(&net, DE, "trace_request", &id).await;
    assert_eq!(received["direction"], "in", "{received}");
    assert_eq!(received["details"]["requested_by"], officer_id.as_str());
    assert!(received["user"].is_null(), "no DE user acted: {received}");
    for i in [FR, DE] {
        let (_, verify) = net.get(i, "/v1/audit/verify").await;
        assert_eq!(verify["ok"], true, "{verify}");
    }
    net.shutdown().await;
}

/// Member `i`'s audit record of `action` about `subject` (waiting for it a while).
async fn audit_record(net: &TestNet, i: usize, action: &str, subject: &str) -> Value {
    let find = || async {
        let (_, records) = net.get(i, "/v1/audit").await;
        records.as_array().and_then(|r| {
            r.iter()
                .find(|r| r["action"] == action && r["subject"] == subject)
                .cloned()
        })
    };
    eventually(WAIT, || async { find().await.is_some() }).await;
    find()
        .await
        .unwrap_or_else(|| panic!("no {action} record for {subject} at member {i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_request_says_of_its_user_is_the_requesting_bureaus_choice() {
    use striae_node::config::UserOnWire;
    let mut net = TestNet::create(3);
    let es = 2;
    for (i, on_wire) in [(FR, UserOnWire::Name), (DE, UserOnWire::None)] {
        let mut config = net.config(i);
        config.user_on_wire = on_wire;
        fast(&mut config);
        net.nodes[i] = Some(node::start(config).await.expect("start member"));
    }
    net.start_member(es).await;
    assert!(wait_connected(&net, WAIT).await);
    let (_, fr_officer) = add_user(&net, FR, "Insp. Marie Dupont", "officer").await;
    let (_, de_officer) = add_user(&net, DE, "KOK Jonas Weber", "officer").await;
    let query = json!({"make": "Glock", "serial_pattern": "BXK1*", "case_ref": "C-1",
        "reason": "obliterated serial", "to": ["ES"]});
    let mut asked_by = Vec::new();
    for (i, token) in [(FR, &fr_officer), (DE, &de_officer)] {
        let (code, started) = call(&net, i, token, Method::POST, "/v1/queries", Some(&query)).await;
        assert!(code < 300, "{started}");
        let id = started["id"].as_str().expect("query id").to_string();
        asked_by.push(audit_record(&net, es, "query_request", &id).await);
    }
    // FR chose to name its officers; DE sends no reference at all.
    assert_eq!(asked_by[0]["details"]["requested_by"], "Insp. Marie Dupont");
    assert!(
        asked_by[1]["details"]["requested_by"].is_null(),
        "{}",
        asked_by[1]
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_replaces_a_users_token_and_the_old_one_stops_working() {
    let net = TestNet::start(1).await;
    let admin = net.members[0].token.clone();
    let (id, old) = add_user(&net, 0, "FR-OPJ-77", "officer").await;
    assert_eq!(
        call(&net, 0, &old, Method::GET, "/v1/me", None).await.0,
        200
    );

    let rotate = format!("/v1/users/{id}/token");
    let (code, _) = call(&net, 0, &old, Method::POST, &rotate, None).await;
    assert_eq!(
        code, 403,
        "an officer cannot replace tokens, not even their own"
    );
    let days = json!({"expires_in_days": 30});
    let (code, rotated) = call(&net, 0, &admin, Method::POST, &rotate, Some(&days)).await;
    assert_eq!(code, 200, "{rotated}");
    assert_eq!(rotated["id"], id.as_str());
    let new = rotated["token"].as_str().expect("new token").to_string();
    assert_ne!(new, old);
    assert_eq!(
        call(&net, 0, &old, Method::GET, "/v1/me", None).await.0,
        401
    );
    let (code, me) = call(&net, 0, &new, Method::GET, "/v1/me", None).await;
    assert_eq!((code, me["id"].as_str()), (200, Some(id.as_str())));

    let bootstrap = format!("/v1/users/{}/token", accounts::bootstrap_id());
    let (code, answer) = call(&net, 0, &admin, Method::POST, &bootstrap, None).await;
    assert_eq!(code, 409, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("api.token")
    );
    call(
        &net,
        0,
        &admin,
        Method::DELETE,
        &format!("/v1/users/{id}"),
        None,
    )
    .await;
    let (code, _) = call(&net, 0, &admin, Method::POST, &rotate, None).await;
    assert_eq!(code, 409, "a revoked user gets no new token");
    let (code, answer) = call(
        &net,
        0,
        &admin,
        Method::POST,
        &format!("/v1/users/{UNKNOWN_ID}/token"),
        None,
    )
    .await;
    assert_eq!(code, 404, "{answer}");
    net.shutdown().await;
}
