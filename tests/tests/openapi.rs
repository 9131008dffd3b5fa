//! The OpenAPI document against the running node: `/openapi.json` is public and lists every
//! route the API serves, each documented path and method reaches its handler (never the
//! "no such route" fallback or a 405), the router's source adds routes only through
//! utoipa-axum's `routes!`, and every list route takes `limit` by the one rule.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use striae_node::accounts::ROUTES;
use striae_tests::TestNet;

/// An id of the right shape that names nothing.
const UNKNOWN_ID: &str = "00000000000000000000000000000000";
/// The routes served without a token, besides those of the permission table.
const PUBLIC: &[(&str, &str)] = &[("GET", "/healthz"), ("GET", "/openapi.json")];

/// Every (method, path) the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// `path` with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", UNKNOWN_ID)
        .replace("{other}", UNKNOWN_ID)
        .replace("{step}", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_and_every_listed_route_is_served() {
    let net = TestNet::start(1).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", net.node(0).api_addr);
    let token = net.members[0].token.clone();

    // Public: no token.
    let answer = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("API reachable");
    assert_eq!(answer.status(), 200);
    let doc: Value = answer.json().await.expect("JSON document");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
    );
    assert!(doc["components"]["schemas"]["ApiError"].is_object());

    // (c) The document is exactly the permission table (every authenticated route) plus the
    // public routes: a route added without documentation is missing here.
    let listed = documented(&doc);
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .chain(PUBLIC.iter().map(|(m, p)| (m.to_string(), p.to_string())))
        .collect();
    assert_eq!(
        listed.difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but in no table"
    );
    assert_eq!(
        expected.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in the tables but not documented"
    );

    // Each operation's shape.
    let mut ids = BTreeSet::new();
    for (method, path) in &listed {
        let id = doc["paths"][path][method.to_lowercase()]["operationId"].clone();
        assert!(
            ids.insert(id.to_string()),
            "{method} {path}: operationId {id} twice"
        );
        let op = &doc["paths"][path][method.to_lowercase()];
        let name = format!("{method} {path}");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{name}: no tag"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{name}: no success answer"
        );
        for (status, response) in responses {
            if status.starts_with('4') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ApiError",
                    "{name} {status}"
                );
            }
        }
        if path.starts_with("/v1/") {
            assert_eq!(op["security"][0]["bearer"], Value::Array(vec![]), "{name}");
            for status in ["400", "401", "403"] {
                assert!(responses.contains_key(status), "{name}: no {status}");
            }
        }
        // The one limit rule, on every list route.
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["name"] == "limit" && method == "GET" {
                let schema = &param["schema"];
                assert_eq!(
                    (&schema["minimum"], &schema["maximum"], &schema["default"]),
                    (&Value::from(1), &Value::from(1000), &Value::from(100)),
                    "{name}"
                );
            }
        }
    }

    // (b) Every documented path and method reaches its handler: no "no such route", no 405,
    // no 5xx.
    for (method, path) in &listed {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let url = format!("{base}{}", concrete(path));
        let answer = http
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("API reachable");
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap_or_default();
        let name = format!("{method} {path}");
        assert!(status < 500, "{name}: {status} {body}");
        assert_ne!(status, 405, "{name}: {body}");
        assert!(!body.contains("no such route"), "{name}: {status} {body}");
        let documented_status = doc["paths"][path][method.as_str().to_lowercase()]["responses"]
            .get(status.to_string())
            .is_some();
        assert!(
            documented_status,
            "{name}: answered {status}, undocumented: {body}"
        );
    }

    // A method a route does not take: 405 naming the ones it does.
    let answer = http
        .put(format!("{base}/v1/notices"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("API reachable");
    assert_eq!(answer.status(), 405);
    let allow = answer
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // The one limit rule, at every list route: 1 to 1,000.
    for (method, path) in &listed {
        let op = &doc["paths"][path][method.to_lowercase()];
        let paged = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "limit");
        if method != "GET" || !paged {
            continue;
        }
        let url = format!("{base}{}", concrete(path));
        for (limit, ok) in [("1000", true), ("1", true), ("1001", false), ("0", false)] {
            let (status, body) = net.send(http.get(format!("{url}?limit={limit}")), 0).await;
            if ok {
                assert!(
                    status == 200 || status == 404,
                    "{path} limit={limit}: {status} {body}"
                );
            } else {
                assert_eq!(status, 400, "{path} limit={limit}: {body}");
                assert_eq!(body["error"]["field"], "limit", "{path} limit={limit}");
            }
        }
    }
    net.shutdown().await;
}

/// The router's source adds routes only through `routes!` (documented by construction): no
/// `.route(`, `.route_service(` or `.nest_service(`, and each handler named in a `routes!` is
/// one documented operation.
#[test]
fn the_router_source_adds_routes_only_through_routes_macro() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../node/src/api");
    let mut handlers = 0usize;
    let mut files = 0usize;
    for entry in std::fs::read_dir(dir).expect("node/src/api") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let source = std::fs::read_to_string(&path).expect("source");
        // Only the code, not the comments that explain the rule.
        let code: String = source
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for forbidden in [".route(", ".route_service(", ".nest_service("] {
            assert!(
                !code.contains(forbidden),
                "{}: routes must be added with `routes!` so they are documented ({forbidden})",
                path.display()
            );
        }
        for chunk in code.split("routes!(").skip(1) {
            let inside = chunk.split(')').next().unwrap_or_default();
            handlers += inside.split(',').filter(|h| !h.trim().is_empty()).count();
        }
    }
    assert!(files >= 10, "read {files} files from {dir}");
    assert_eq!(
        handlers,
        ROUTES.len() + PUBLIC.len(),
        "handlers in routes! vs the permission table and the public routes"
    );
}
