//! Every HTTP route against input that is wrong: missing, empty, malformed or wrongly typed
//! bodies, strings over every limit, control characters, numbers where none fit, unknown and
//! bad query parameters, path ids that are not ids, bodies over the cap, the wrong content
//! type, no token. Each must answer a 4xx JSON error naming the field (never a 5xx), and the
//! node must keep serving. Hand-written cases first, then random bodies and queries from
//! proptest.

use std::time::Duration;

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use reqwest::Method;
use serde_json::{Map, Value, json};
use striae_firearms_lib::record::INPUT_FIELDS;
use striae_node::config::NodeConfig;
use striae_tests::{TestNet, fast, wait_connected};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);
/// The cap on JSON bodies and on uploads (`striae_node::api`).
const JSON_CAP: usize = striae_node::api::MAX_JSON_BYTES;
const UPLOAD_CAP: usize = striae_node::api::MAX_BODY_BYTES;
/// An id of the right shape that names nothing.
const UNKNOWN_ID: &str = "00000000000000000000000000000000";

/// What a route reads besides its path.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Input {
    /// Nothing.
    None,
    /// A JSON object with these fields.
    Json(&'static [&'static str]),
    /// A JSON object with these fields, which may be left out.
    OptionalJson(&'static [&'static str]),
    /// Raw bytes (X3P scans, imports).
    Upload,
}

/// How a query parameter is checked: kinds whose garbage must be refused.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Param {
    /// A whole number.
    Int,
    /// One of a few words.
    Choice,
    /// Free text with a length limit.
    Text,
    /// A 32-hex id.
    Id,
}

/// Which id fills a route's `{id}` in the cases that are not about the id.
#[derive(Clone, Copy, Debug, PartialEq)]
enum IdOf {
    NoId,
    /// A notice this member issued.
    Notice,
    /// A firearm record this member holds.
    Firearm,
    /// An id of the right shape that names nothing.
    Unknown,
}

#[derive(Clone, Debug)]
struct Route {
    method: Method,
    path: &'static str,
    query: &'static [(&'static str, Param)],
    input: Input,
    id: IdOf,
}

const NOTICE_FIELDS: &[&str] = &["kind", "title", "summary", "body", "expires_at"];
const REFERENCE_FIELDS: &[&str] = &[
    "kind",
    "id",
    "name",
    "country",
    "aliases",
    "make_id",
    "related",
    "target_id",
    "alias",
];
const TRACE_FIELDS: &[&str] = &[
    "make", "serial", "model", "caliber", "case_ref", "reason", "to",
];
const OPERATION_FIELDS: &[&str] = &[
    "name",
    "description",
    "participants",
    "starts_at",
    "ends_at",
];
const SEIZURE_FIELDS: &[&str] = &["date", "place", "items", "arrests"];
const QUERY_FIELDS: &[&str] = &[
    "make",
    "serial_pattern",
    "model",
    "caliber",
    "case_ref",
    "reason",
    "to",
];
const CASE_FIELDS: &[&str] = &[
    "case_ref",
    "title",
    "recovered",
    "firearm",
    "exhibits",
    "to",
];
const LIMIT: (&str, Param) = ("limit", Param::Int);

/// Every route the API serves.
fn routes() -> Vec<Route> {
    use IdOf::*;
    use Input::*;
    let r = |method: Method, path, query, input, id| Route {
        method,
        path,
        query,
        input,
        id,
    };
    vec![
        r(Method::GET, "/v1/status", &[], None, NoId),
        r(Method::GET, "/v1/peers", &[], None, NoId),
        r(Method::POST, "/v1/notices", &[], Json(NOTICE_FIELDS), NoId),
        r(
            Method::GET,
            "/v1/notices",
            &[("status", Param::Choice), LIMIT],
            None,
            NoId,
        ),
        r(Method::GET, "/v1/notices/{id}", &[], None, Notice),
        r(
            Method::PATCH,
            "/v1/notices/{id}",
            &[],
            Json(NOTICE_FIELDS),
            Notice,
        ),
        r(
            Method::POST,
            "/v1/notices/{id}/cancel",
            &[],
            OptionalJson(&["reason"]),
            Unknown,
        ),
        r(Method::POST, "/v1/firearms", &[], Json(&INPUT_FIELDS), NoId),
        r(
            Method::GET,
            "/v1/firearms",
            &[("after", Param::Id), LIMIT],
            None,
            NoId,
        ),
        r(Method::POST, "/v1/firearms/import", &[], Upload, NoId),
        r(
            Method::POST,
            "/v1/firearms/check",
            &[],
            Json(&["make", "serial"]),
            NoId,
        ),
        r(Method::GET, "/v1/firearms/index", &[], None, NoId),
        r(Method::GET, "/v1/firearms/{id}", &[], None, Firearm),
        r(
            Method::PATCH,
            "/v1/firearms/{id}",
            &[],
            Json(&INPUT_FIELDS),
            Firearm,
        ),
        r(Method::GET, "/v1/reference", &[], None, NoId),
        r(
            Method::POST,
            "/v1/reference",
            &[],
            Json(REFERENCE_FIELDS),
            NoId,
        ),
        r(
            Method::GET,
            "/v1/reference/suggest",
            &[
                ("field", Param::Choice),
                ("q", Param::Text),
                ("make", Param::Text),
            ],
            None,
            NoId,
        ),
        r(Method::POST, "/v1/traces", &[], Json(TRACE_FIELDS), NoId),
        r(Method::GET, "/v1/traces", &[LIMIT], None, NoId),
        r(Method::GET, "/v1/traces/incoming", &[LIMIT], None, NoId),
        r(
            Method::POST,
            "/v1/traces/incoming/{id}/approve",
            &[],
            OptionalJson(&["note"]),
            Unknown,
        ),
        r(
            Method::POST,
            "/v1/traces/incoming/{id}/refuse",
            &[],
            OptionalJson(&["note"]),
            Unknown,
        ),
        r(Method::GET, "/v1/traces/{id}", &[], None, Unknown),
        r(Method::POST, "/v1/queries", &[], Json(QUERY_FIELDS), NoId),
        r(Method::GET, "/v1/queries", &[LIMIT], None, NoId),
        r(
            Method::GET,
            "/v1/queries/incoming",
            &[("state", Param::Choice), LIMIT],
            None,
            NoId,
        ),
        r(
            Method::POST,
            "/v1/queries/incoming/{id}/approve",
            &[],
            OptionalJson(&["note"]),
            Unknown,
        ),
        r(
            Method::POST,
            "/v1/queries/incoming/{id}/refuse",
            &[],
            OptionalJson(&["note"]),
            Unknown,
        ),
        r(Method::GET, "/v1/queries/{id}", &[], None, Unknown),
        r(Method::POST, "/v1/cases", &[], Json(CASE_FIELDS), NoId),
        r(Method::GET, "/v1/cases", &[LIMIT], None, NoId),
        r(Method::GET, "/v1/cases/{id}", &[], None, Unknown),
        r(
            Method::POST,
            "/v1/cases/{id}/exhibits",
            &[],
            Json(&["exhibits"]),
            Unknown,
        ),
        r(
            Method::GET,
            "/v1/cases/{id}/report",
            &[("format", Param::Choice)],
            None,
            Unknown,
        ),
        r(Method::POST, "/v1/x3p/inspect", &[], Upload, NoId),
        r(
            Method::POST,
            "/v1/ballistics",
            &[
                ("kind", Param::Choice),
                ("caliber", Param::Text),
                ("case_ref", Param::Text),
            ],
            Upload,
            NoId,
        ),
        r(Method::GET, "/v1/ballistics", &[LIMIT], None, NoId),
        r(
            Method::POST,
            "/v1/ballistics/search",
            &[
                ("kind", Param::Choice),
                ("caliber", Param::Text),
                ("case_ref", Param::Text),
                ("limit", Param::Int),
                ("confirm", Param::Int),
            ],
            Upload,
            NoId,
        ),
        r(
            Method::GET,
            "/v1/ballistics/leads",
            &[("confirmed", Param::Choice), LIMIT],
            None,
            NoId,
        ),
        r(
            Method::POST,
            "/v1/ballistics/leads/{id}/approve",
            &[],
            None,
            Unknown,
        ),
        r(Method::GET, "/v1/ballistics/{id}", &[], None, Unknown),
        r(Method::DELETE, "/v1/ballistics/{id}", &[], None, Unknown),
        r(Method::GET, "/v1/ballistics/{id}/image", &[], None, Unknown),
        r(
            Method::POST,
            "/v1/ballistics/{id}/search",
            &[
                ("case_ref", Param::Text),
                ("limit", Param::Int),
                ("confirm", Param::Int),
            ],
            None,
            Unknown,
        ),
        r(
            Method::GET,
            "/v1/audit",
            &[("from", Param::Int), LIMIT],
            None,
            NoId,
        ),
        r(Method::GET, "/v1/audit/verify", &[], None, NoId),
        r(
            Method::POST,
            "/v1/users",
            &[],
            Json(&["name", "role", "expires_in_days"]),
            NoId,
        ),
        r(Method::GET, "/v1/users", &[], None, NoId),
        r(Method::DELETE, "/v1/users/{id}", &[], None, Unknown),
        r(Method::GET, "/v1/me", &[], None, NoId),
        r(
            Method::POST,
            "/v1/operations",
            &[],
            Json(OPERATION_FIELDS),
            NoId,
        ),
        r(
            Method::GET,
            "/v1/operations",
            &[("after", Param::Id), LIMIT],
            None,
            NoId,
        ),
        r(Method::GET, "/v1/operations/{id}", &[], None, Unknown),
        r(Method::POST, "/v1/operations/{id}/join", &[], None, Unknown),
        r(
            Method::POST,
            "/v1/operations/{id}/seizures",
            &[],
            Json(SEIZURE_FIELDS),
            Unknown,
        ),
        r(
            Method::GET,
            "/v1/operations/{id}/seizures",
            &[("after", Param::Id), LIMIT],
            None,
            Unknown,
        ),
        r(
            Method::GET,
            "/v1/operations/{id}/report",
            &[],
            None,
            Unknown,
        ),
    ]
}

/// A body that is valid, or valid but for what the case changes, for each JSON route.
fn base_body(path: &str) -> Value {
    match path {
        "/v1/notices" => json!({"kind": "orange", "title": "t", "summary": "s"}),
        "/v1/notices/{id}" => json!({"title": "t"}),
        "/v1/firearms" | "/v1/firearms/{id}" => json!({
            "make": "Glock", "model": "17", "caliber": "9x19", "serial": "RB1",
            "type": "pistol", "status": "stolen", "event_date": "2024-01-02",
        }),
        "/v1/firearms/check" => json!({"make": "Glock", "serial": "A1"}),
        "/v1/reference" => json!({"kind": "alias", "target_id": "make:glock", "alias": "Glk"}),
        "/v1/traces" => json!({
            "make": "Glock", "serial": "A1", "case_ref": "C1", "reason": "R", "to": ["DE"],
        }),
        "/v1/notices/{id}/cancel" => json!({"reason": "r"}),
        "/v1/queries" => json!({
            "make": "Glock", "serial_pattern": "AB12*", "case_ref": "C1", "reason": "R",
        }),
        "/v1/cases" => json!({
            "case_ref": "C1", "title": "T", "recovered": {"date": "2024-01-02", "country": "FR"},
            "firearm": {"make": "Glock", "serial": "A1"},
        }),
        "/v1/cases/{id}/exhibits" => json!({"exhibits": ["00112233445566778899aabbccddeeff"]}),
        "/v1/operations" => json!({
            "name": "TRIGGER", "participants": ["DE"],
            "starts_at": "2026-01-01", "ends_at": "2026-02-01",
        }),
        "/v1/users" => json!({"name": "robustness", "role": "analyst"}),
        "/v1/operations/{id}/seizures" => json!({
            "date": "2026-01-02", "items": [{"category": "drugs", "count": 1}],
        }),
        _ => json!({"note": "n"}),
    }
}

/// Query parameters that make a request valid but for the one a case changes.
fn base_query(path: &str) -> &'static [(&'static str, &'static str)] {
    match path {
        "/v1/reference/suggest" => &[("field", "make"), ("q", "Glock")],
        "/v1/ballistics" => &[
            ("kind", "cartridge_case"),
            ("caliber", "9x19"),
            ("case_ref", "C1"),
        ],
        "/v1/ballistics/search" => &[("kind", "cartridge_case"), ("caliber", "9x19")],
        _ => &[],
    }
}

/// Other names a refusal of `field` may give: a record's `calibre` is its `caliber`.
fn names_of(field: &str) -> &'static [&'static str] {
    match field {
        "calibre" | "caliber" => &["caliber", "calibre"],
        _ => &[],
    }
}

/// The fields of a JSON route that hold text (the others hold lists).
fn text_fields(fields: &[&'static str]) -> Vec<&'static str> {
    fields
        .iter()
        .copied()
        .filter(|f| !["aliases", "related", "to", "history"].contains(f))
        .collect()
}

// ---------------------------------------------------------------- the client

/// A member's API as seen from outside: what a case needs to call it, cheap to clone into the
/// property runner's thread.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    addr: std::net::SocketAddr,
    token: String,
}

/// A request's outcome: status, the JSON body if there was one, the raw text.
#[derive(Debug)]
struct Answer {
    status: u16,
    json: Option<Value>,
    text: String,
}

impl Answer {
    fn field(&self) -> Option<&str> {
        self.json.as_ref()?["error"]["field"].as_str()
    }
}

impl Api {
    fn of(net: &TestNet, i: usize) -> Self {
        Api {
            http: reqwest::Client::new(),
            addr: net.node(i).api_addr,
            token: net.members[i].token.clone(),
        }
    }

    fn url(&self, path: &str) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}{path}", self.addr)).expect("test url")
    }

    /// `path` with its `{id}` replaced by `id`, percent-encoded as one path segment.
    fn url_with_id(&self, path: &str, id: &str) -> reqwest::Url {
        let mut url = self.url("/");
        {
            let mut segments = url.path_segments_mut().expect("http url");
            segments.clear();
            for segment in path.trim_start_matches('/').split('/') {
                segments.push(if segment == "{id}" { id } else { segment });
            }
        }
        url
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a readable answer");
        Answer {
            status,
            json: serde_json::from_str(&text).ok(),
            text,
        }
    }

    async fn call(
        &self,
        method: &Method,
        url: reqwest::Url,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        let mut request = self.http.request(method.clone(), url);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        self.send(request).await
    }

    async fn call_json(&self, method: &Method, url: reqwest::Url, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).expect("json");
        self.call(method, url, Some(("application/json", bytes)))
            .await
    }

    /// Sends `head` (with our token) and then, if given, `chunk` as the only chunk of a chunked
    /// body left unfinished: the server has read everything it was sent when it answers, so
    /// the answer arrives whole however early the server gives up on the body.
    async fn raw(&self, head: &str, chunk: Option<&[u8]>) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let head = format!(
            "{head}\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.addr, self.token
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        if let Some(chunk) = chunk {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await
                .expect("write chunk size");
            stream.write_all(chunk).await.expect("write chunk");
        }
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read answer");
        let response = String::from_utf8_lossy(&response).to_string();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let text = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        Answer {
            status,
            json: serde_json::from_str(&text).ok(),
            text,
        }
    }

    async fn still_serves(&self, after: &str) {
        let answer = self.send(self.http.get(self.url("/v1/status"))).await;
        assert_eq!(answer.status, 200, "status no longer answers after {after}");
    }
}

/// Asserts a 4xx JSON error `{"error":{"code","message","field"?}}`, naming `field` if given.
fn assert_refused(case: &str, answer: &Answer, field: Option<&str>) {
    assert!(
        (400..500).contains(&answer.status),
        "{case}: expected a 4xx, got {} {}",
        answer.status,
        answer.text
    );
    assert_error_shape(case, answer);
    if let Some(field) = field {
        assert_eq!(answer.field(), Some(field), "{case}: {}", answer.text);
    }
}

/// Asserts a 4xx JSON error naming `field` (or a name it goes by, or a part of it such as
/// `recovered.date` for an object `recovered`).
fn assert_refused_naming(case: &str, answer: &Answer, field: &str) {
    assert_refused(case, answer, None);
    let named = answer.field().unwrap_or_default();
    let part_of =
        named.starts_with(&format!("{field}.")) || named.starts_with(&format!("{field}["));
    assert!(
        named == field || part_of || names_of(field).contains(&named),
        "{case}: names {named:?}: {}",
        answer.text
    );
}

/// `base` with `field` set to `value`, and without the field's other name if it has one (a
/// record's `caliber` and `calibre` are one field: sending both is another mistake).
fn with(base: &Value, field: &str, value: Value) -> Value {
    let mut body = base.clone();
    if let Some(object) = body.as_object_mut() {
        for other in names_of(field).iter().filter(|n| **n != field) {
            object.remove(*other);
        }
        object.insert(field.to_string(), value);
    }
    body
}

fn assert_error_shape(case: &str, answer: &Answer) {
    let error = answer
        .json
        .as_ref()
        .map(|v| &v["error"])
        .unwrap_or(&Value::Null);
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "{case}: not the API's JSON error: {} {}",
        answer.status,
        answer.text
    );
}

/// Asserts no 5xx, and the JSON error shape on any refusal.
fn assert_no_server_error(case: &str, answer: &Answer) {
    assert!(
        answer.status < 500,
        "{case}: {} {}",
        answer.status,
        answer.text
    );
    if answer.status >= 400 {
        assert_error_shape(case, answer);
    }
}

// ---------------------------------------------------------------- the network

struct Ids {
    notice: String,
    firearm: String,
}

impl Ids {
    fn of(&self, route: &Route) -> &str {
        match route.id {
            IdOf::Notice => &self.notice,
            IdOf::Firearm => &self.firearm,
            IdOf::Unknown | IdOf::NoId => UNKNOWN_ID,
        }
    }
}

/// Two connected members; member 0 has issued a notice and holds a firearm record, so the
/// routes on them reach their body checks.
async fn network() -> (TestNet, Api, Ids) {
    let net = TestNet::start(2).await;
    assert!(wait_connected(&net, WAIT).await);
    let api = Api::of(&net, 0);
    let notice = api
        .call_json(
            &Method::POST,
            api.url("/v1/notices"),
            &base_body("/v1/notices"),
        )
        .await;
    assert_eq!(notice.status, 201, "{}", notice.text);
    let record = api
        .call_json(
            &Method::POST,
            api.url("/v1/firearms"),
            &base_body("/v1/firearms"),
        )
        .await;
    assert_eq!(record.status, 201, "{}", record.text);
    let id = |a: &Answer| {
        a.json.as_ref().expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let ids = Ids {
        notice: id(&notice),
        firearm: id(&record),
    };
    (net, api, ids)
}

// ---------------------------------------------------------------- hand-written cases

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_bad_input_with_a_4xx_naming_the_field() {
    let (net, api, ids) = network().await;
    for route in routes() {
        let name = format!("{} {}", route.method, route.path);
        let url = api.url_with_id(route.path, ids.of(&route));
        without_token(&api, &route, &name, &url).await;
        unknown_query(&api, &route, &name).await;
        bad_query_values(&api, &route, &name).await;
        bad_ids(&api, &route, &name).await;
        match route.input {
            Input::Json(fields) => {
                json_bodies(&api, &route, &name, &url, fields, true).await;
            }
            Input::OptionalJson(fields) => {
                json_bodies(&api, &route, &name, &url, fields, false).await;
            }
            Input::Upload => uploads(&api, &route, &name, &url).await,
            Input::None => {}
        }
        api.still_serves(&name).await;
    }
    let wrong_method = api
        .call(&Method::DELETE, api.url("/v1/notices"), None)
        .await;
    assert_refused("DELETE /v1/notices", &wrong_method, None);
    assert_eq!(wrong_method.status, 405);
    let nowhere = api.call(&Method::GET, api.url("/v1/nowhere"), None).await;
    assert_refused("GET /v1/nowhere", &nowhere, None);
    net.shutdown().await;
}

async fn without_token(api: &Api, route: &Route, name: &str, url: &reqwest::Url) {
    let response = api
        .http
        .request(route.method.clone(), url.clone())
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("answer");
    let answer = Answer {
        status,
        json: serde_json::from_str(&text).ok(),
        text,
    };
    assert_refused(&format!("{name} without token"), &answer, None);
    assert_eq!(answer.status, 401, "{name}");
}

async fn unknown_query(api: &Api, route: &Route, name: &str) {
    let mut url = api.url_with_id(route.path, UNKNOWN_ID);
    url.query_pairs_mut().append_pair("bogus", "1");
    let answer = api.call(&route.method, url, None).await;
    assert_refused(&format!("{name}?bogus=1"), &answer, Some("bogus"));
}

/// Values no whole number, choice, text or id parameter takes.
fn bad_values(kind: Param) -> Vec<String> {
    let huge = "9".repeat(5_000);
    match kind {
        Param::Int => vec![
            "-1".into(),
            "1.5".into(),
            "1e3".into(),
            "99999999999999999999999".into(),
            "".into(),
            "ten".into(),
            "\u{0}".into(),
            huge,
        ],
        Param::Choice => vec!["".into(), "maybe".into(), "\u{0}\u{1b}".into(), huge],
        Param::Text | Param::Id => vec![huge, "\u{202e}".repeat(300)],
    }
}

async fn bad_query_values(api: &Api, route: &Route, name: &str) {
    for &(param, kind) in route.query {
        for value in bad_values(kind) {
            let mut url = api.url_with_id(route.path, UNKNOWN_ID);
            url.query_pairs_mut()
                .extend_pairs(base_query(route.path).iter().filter(|(p, _)| *p != param))
                .append_pair(param, &value);
            let answer = api.call(&route.method, url, None).await;
            let case = format!("{name}?{param}={:.20}", value);
            // A value of the right type but out of place for the route's other checks (an
            // upload route's empty body, an unknown id) may be refused for that reason first.
            let field_first = route.input != Input::Upload && route.id == IdOf::NoId;
            assert_refused(&case, &answer, field_first.then_some(param));
        }
        let mut url = api.url_with_id(route.path, UNKNOWN_ID);
        url.query_pairs_mut()
            .append_pair(param, "1")
            .append_pair(param, "2");
        let answer = api.call(&route.method, url, None).await;
        assert_no_server_error(&format!("{name}: {param} twice"), &answer);
    }
}

async fn bad_ids(api: &Api, route: &Route, name: &str) {
    if route.id == IdOf::NoId {
        return;
    }
    // A body the route reads, so that the id is what is wrong.
    let body = match route.input {
        Input::Json(_) | Input::OptionalJson(_) => Some(base_body(route.path)),
        _ => None,
    };
    let long = "a".repeat(5_000);
    let not_ids = [
        "nothex",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        "0000000000000000000000000000000",
        "00000000000000000000000000000000ff",
        "\u{0}",
        "../../status",
        "\u{1F4A9}",
        long.as_str(),
    ];
    for id in not_ids {
        let url = api.url_with_id(route.path, id);
        let answer = match &body {
            Some(body) => api.call_json(&route.method, url, body).await,
            None => api.call(&route.method, url, None).await,
        };
        assert_refused(&format!("{name} with id {id:.20}"), &answer, Some("id"));
        assert_eq!(answer.status, 400, "{name} {id:.20}: {}", answer.text);
    }
    // Bytes that are not UTF-8 once percent-decoded.
    let raw = route.path.replace("{id}", "%FF%FE");
    let answer = api.call(&route.method, api.url(&raw), None).await;
    assert_refused(&format!("{name} with id %FF%FE"), &answer, Some("id"));
    let unknown = api.url_with_id(route.path, UNKNOWN_ID);
    let answer = match (&body, route.input) {
        // An empty review or cancellation is valid: only the id is unknown.
        (Some(_), Input::OptionalJson(_)) => api.call(&route.method, unknown, None).await,
        (Some(body), _) => api.call_json(&route.method, unknown, body).await,
        (None, _) => api.call(&route.method, unknown, None).await,
    };
    assert_refused(&format!("{name} with an unknown id"), &answer, None);
    assert_eq!(answer.status, 404, "{name}: {}", answer.text);
}

async fn json_bodies(
    api: &Api,
    route: &Route,
    name: &str,
    url: &reqwest::Url,
    fields: &[&'static str],
    required: bool,
) {
    let m = &route.method;
    let case = |what: &str| format!("{name}: {what}");
    if required {
        let answer = api.call(m, url.clone(), None).await;
        assert_refused(&case("no body"), &answer, Some("body"));
        let answer = api
            .call(m, url.clone(), Some(("application/json", b"  \n".to_vec())))
            .await;
        assert_refused(&case("a blank body"), &answer, Some("body"));
        let answer = api.call_json(m, url.clone(), &json!({})).await;
        assert_refused(&case("{}"), &answer, None);
        assert_ne!(answer.field(), None, "{}: {}", case("{}"), answer.text);
    }
    let base = base_body(route.path);
    let mut trailing = serde_json::to_vec(&base).expect("json");
    let truncated = trailing[..trailing.len() / 2].to_vec();
    trailing.extend_from_slice(b" {}");
    for (what, bytes) in [
        ("truncated JSON", truncated),
        ("not JSON", b"kind=orange".to_vec()),
        ("a list", b"[]".to_vec()),
        ("a string", br#""orange""#.to_vec()),
        ("a number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("trailing garbage", trailing),
    ] {
        let answer = api
            .call(m, url.clone(), Some(("application/json", bytes)))
            .await;
        assert_refused(&case(what), &answer, Some("body"));
        assert_eq!(answer.status, 400, "{}", case(what));
    }
    for (what, content_type) in [
        ("text/plain", "text/plain"),
        ("a form", "application/x-www-form-urlencoded"),
        ("an X3P", "application/octet-stream"),
    ] {
        let bytes = serde_json::to_vec(&base).expect("json");
        let answer = api.call(m, url.clone(), Some((content_type, bytes))).await;
        assert_refused(&case(what), &answer, Some("content-type"));
        assert_eq!(answer.status, 415, "{}", case(what));
    }
    let mut unknown = base.clone();
    unknown["colour"] = json!("red");
    let answer = api.call_json(m, url.clone(), &unknown).await;
    assert_refused(&case("an unknown field"), &answer, Some("colour"));
    for &field in fields {
        for wrong in [
            json!(12345),
            json!(-1.5),
            json!({"nested": [true]}),
            json!(true),
        ] {
            let answer = api
                .call_json(m, url.clone(), &with(&base, field, wrong.clone()))
                .await;
            assert_refused_naming(&case(&format!("{field} = {wrong}")), &answer, field);
        }
    }
    for field in text_fields(fields) {
        for huge in ["x".repeat(300_000), "\u{1F52B}".repeat(50_000)] {
            let answer = api
                .call_json(m, url.clone(), &with(&base, field, json!(huge)))
                .await;
            assert_refused_naming(&case(&format!("a huge {field}")), &answer, field);
        }
        for odd in [
            "\u{0}",
            "a\u{0}b\u{1b}[31m\u{7f}",
            "\u{202e}\u{feff}\u{ffff}",
        ] {
            let answer = api
                .call_json(m, url.clone(), &with(&base, field, json!(odd)))
                .await;
            assert_no_server_error(&case(&format!("{field} = {odd:?}")), &answer);
        }
    }
    over_the_cap(api, route, name, JSON_CAP).await;
}

async fn uploads(api: &Api, route: &Route, name: &str, url: &reqwest::Url) {
    let m = &route.method;
    for (what, content_type, bytes) in [
        ("no body", "application/octet-stream", Vec::new()),
        ("JSON", "application/json", b"{}".to_vec()),
        ("text", "text/plain", b"hello".to_vec()),
        ("NUL bytes", "text/csv", vec![0u8; 4096]),
        (
            "bad UTF-8",
            "application/x-ndjson",
            vec![0xff, 0xfe, b'\n', 0xc3],
        ),
    ] {
        let answer = api.call(m, url.clone(), Some((content_type, bytes))).await;
        let case = format!("{name}: {what}");
        let importable = ["text/csv", "application/x-ndjson"].contains(&content_type);
        if route.path == "/v1/firearms/import" && importable && answer.status == 200 {
            // An import answers with a report of the lines it refused, by design: garbage in
            // an importable format is all refused, and nothing is stored.
            let report = answer.json.as_ref().expect("an import report");
            assert_eq!(report["imported"], 0, "{case}: {}", answer.text);
            assert!(
                report["rejected_total"].as_u64() > Some(0),
                "{case}: {}",
                answer.text
            );
        } else {
            assert_refused(&case, &answer, None);
        }
    }
    over_the_cap(api, route, name, UPLOAD_CAP).await;
}

/// A body over `cap`, declared and streamed.
async fn over_the_cap(api: &Api, route: &Route, name: &str, cap: usize) {
    let path = route.path.replace("{id}", UNKNOWN_ID);
    let content_type = match route.input {
        Input::Upload if path.contains("import") => "text/csv",
        Input::Upload => "application/octet-stream",
        _ => "application/json",
    };
    let head = format!(
        "{} {path} HTTP/1.1\r\nContent-Type: {content_type}",
        route.method
    );
    let declared = api
        .raw(&format!("{head}\r\nContent-Length: {}", cap + 1), None)
        .await;
    assert_refused(
        &format!("{name}: declared over the cap"),
        &declared,
        Some("body"),
    );
    assert_eq!(declared.status, 413, "{name}");
    let chunk = vec![b' '; cap + 1];
    let streamed = api
        .raw(
            &format!("{head}\r\nTransfer-Encoding: chunked"),
            Some(&chunk),
        )
        .await;
    assert_refused(
        &format!("{name}: streamed over the cap"),
        &streamed,
        Some("body"),
    );
    assert_eq!(streamed.status, 413, "{name}");
}

// ---------------------------------------------------------------- random input

/// Any JSON value, some of them deep, long, or full of control characters.
fn any_json() -> impl Strategy<Value = Value> {
    let text = prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter);
    let long = (any::<char>(), 1_000usize..100_000).prop_map(|(c, n)| c.to_string().repeat(n));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text.prop_map(Value::from),
        long.prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body for a route with `fields`: mostly an object of some of its fields with any values,
/// now and then with a field it does not take, or not an object at all; never over the cap.
fn body_for(fields: Vec<&'static str>) -> impl Strategy<Value = Value> {
    let n = fields.len();
    let object = (
        prop::sample::subsequence(fields, 0..=n),
        prop::collection::vec(any_json(), n),
        prop::option::weighted(0.1, ("[a-z]{1,6}", any_json())),
    )
        .prop_map(|(chosen, values, extra)| {
            let mut object: Map<String, Value> = chosen
                .into_iter()
                .zip(values)
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            if let Some((k, v)) = extra {
                object.insert(k, v);
            }
            Value::Object(object)
        });
    // Bodies over the cap are refused before they are read, so the client may see the
    // connection close while still sending: the cap has its own cases above.
    prop_oneof![8 => object, 1 => any_json()].prop_filter("under the JSON cap", |body| {
        serde_json::to_vec(body).is_ok_and(|bytes| bytes.len() <= JSON_CAP)
    })
}

/// Query pairs from `params` and a stray name now and then, with any text as values.
fn query_for(params: Vec<&'static str>) -> impl Strategy<Value = Vec<(String, String)>> {
    let value = prop_oneof![
        prop::collection::vec(any::<char>(), 0..20).prop_map(String::from_iter),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        Just("true".to_string()),
    ];
    let name = prop_oneof![
        8 => prop::sample::select(params).prop_map(str::to_string),
        1 => "[a-z]{1,6}",
    ];
    prop::collection::vec((name, value), 0..4)
}

/// Runs `cases` random inputs from the strategy `strategy` makes through `send`, on a blocking
/// thread (the runner is synchronous; each case drives its request on the test's runtime).
async fn run_random<M, S, F, Fut>(name: String, cases: u32, strategy: M, send: F)
where
    M: FnOnce() -> S + Send + 'static,
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Answer>,
{
    let runtime = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let strategy = strategy();
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(config)
            .run(&strategy, |input| {
                let answer = runtime.block_on(send(input));
                prop_assert!(
                    answer.status < 500,
                    "{name}: {} {}",
                    answer.status,
                    answer.text
                );
                if answer.status >= 400 {
                    let error = answer.json.as_ref().map(|v| &v["error"]);
                    prop_assert!(
                        error.is_some_and(|e| e["code"].is_string() && e["message"].is_string()),
                        "{name}: not the API's JSON error: {} {}",
                        answer.status,
                        answer.text
                    );
                }
                Ok(())
            })
            .map_err(|e| e.to_string())
    })
    .await
    .expect("the property runner");
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_queries_and_ids_never_get_a_5xx() {
    let (net, api, ids) = network().await;
    for route in routes() {
        let name = format!("{} {}", route.method, route.path);
        let url = api.url_with_id(route.path, ids.of(&route));
        if let Input::Json(fields) | Input::OptionalJson(fields) = route.input {
            let (api, method, url) = (api.clone(), route.method.clone(), url.clone());
            run_random(
                name.clone(),
                48,
                move || body_for(fields.to_vec()),
                move |body| {
                    let (api, method, url) = (api.clone(), method.clone(), url.clone());
                    async move { api.call_json(&method, url, &body).await }
                },
            )
            .await;
        }
        let params: Vec<&'static str> = route.query.iter().map(|(p, _)| *p).collect();
        if !params.is_empty() && route.input != Input::Upload {
            let (api, method, path) = (api.clone(), route.method.clone(), route.path);
            let id = ids.of(&route).to_string();
            run_random(
                name.clone(),
                32,
                move || query_for(params),
                move |pairs| {
                    let (api, method) = (api.clone(), method.clone());
                    let mut url = api.url_with_id(path, &id);
                    url.query_pairs_mut().extend_pairs(pairs);
                    async move { api.call(&method, url, None).await }
                },
            )
            .await;
        }
        if route.id != IdOf::NoId {
            let (api, method, path) = (api.clone(), route.method.clone(), route.path);
            let ids = || prop::collection::vec(any::<char>(), 0..80).prop_map(String::from_iter);
            run_random(name.clone(), 32, ids, move |id| {
                let (api, method) = (api.clone(), method.clone());
                let url = api.url_with_id(path, &id);
                async move { api.call(&method, url, None).await }
            })
            .await;
        }
        api.still_serves(&name).await;
    }
    net.shutdown().await;
}

// ---------------------------------------------------------------- metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_unless_configured_public() {
    let net = TestNet::start(1).await;
    let api = Api::of(&net, 0);
    let anonymous = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status().as_u16(), 401);
    let with_token = api.send(api.http.get(api.url("/metrics"))).await;
    assert_eq!(with_token.status, 200);
    assert!(with_token.text.contains("# EOF"), "{}", with_token.text);
    net.shutdown().await;

    fn public_metrics(config: &mut NodeConfig) {
        fast(config);
        config.metrics_public = true;
    }
    let mut net = TestNet::create(1);
    net.tune = public_metrics;
    net.start_member(0).await;
    let api = Api::of(&net, 0);
    let anonymous = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status().as_u16(), 200);
    let status = api
        .http
        .get(api.url("/v1/status"))
        .send()
        .await
        .expect("answer");
    assert_eq!(status.status().as_u16(), 401, "only /metrics is public");
    net.shutdown().await;
}
