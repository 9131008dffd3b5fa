//! `/v1/firearms`, `/v1/reference` and `/v1/traces`: records, import, network-wide checks,
//! the shared reference table and its additions, and traces between members.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use striae_firearms_lib::{
    FieldError, FirearmInput, RefError, ReferenceAddition, import::ImportFormat, normalise_serial,
    record::INPUT_FIELDS, validate_input,
};
use striae_protocol::{
    Body,
    firearm::{MAX_REFERENCE_ADDITION_BYTES, RecordRef},
};

use super::{
    ApiError, ApiJson,
    error::{ApiQuery, NoQuery, OptionalJson, PathId, Upload, field_of},
};
use crate::metrics::Metrics;
use crate::{
    firearms::{
        FirearmsError,
        records::{describe_errors, input_of, record_view},
        traces::{self, TraceError, TraceInput},
    },
    node::NodeHandle,
};

/// Most records one list page carries.
const MAX_PAGE: usize = 1_000;
/// Longest make or serial a check accepts, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// The firearm, reference and trace routes.
pub(super) fn routes() -> Router<NodeHandle> {
    Router::new()
        .route("/firearms", post(create).get(list))
        .route("/firearms/import", post(import))
        .route("/firearms/check", post(check))
        .route("/firearms/index", get(index_stats))
        .route("/firearms/{id}", get(show).patch(update))
        .route("/reference", get(reference).post(add_reference))
        .route("/reference/suggest", get(suggest))
        .route("/traces", post(start_trace).get(list_traces))
        .route("/traces/incoming", get(incoming))
        .route("/traces/incoming/{id}/approve", post(approve))
        .route("/traces/incoming/{id}/refuse", post(refuse))
        .route("/traces/{id}", get(show_trace))
}

impl From<FirearmsError> for ApiError {
    fn from(e: FirearmsError) -> Self {
        match e {
            FirearmsError::ImportInProgress => {
                ApiError::new(StatusCode::CONFLICT, "import_in_progress", e.to_string())
            }
            FirearmsError::Core(core) => core.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<TraceError> for ApiError {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Field { field, message } => ApiError::field(field, message),
            TraceError::NotFound => ApiError::not_found("no such trace"),
            TraceError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            TraceError::Store(e) => ApiError::internal(e),
        }
    }
}

fn parse_ref(text: &str) -> Result<RecordRef, ApiError> {
    RecordRef::from_hex(text)
        .ok_or_else(|| ApiError::field("id", "a record id is 32 hexadecimal characters"))
}

/// A JSON object whose keys are all record fields.
fn record_object(value: Value) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(object) = value else {
        return Err(ApiError::field(
            "body",
            "expected a JSON object with the record's fields",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !INPUT_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::field(
            unknown.as_str(),
            format!("unknown field; the fields are {}", INPUT_FIELDS.join(", ")),
        ));
    }
    Ok(object)
}

/// A record input from an object of its fields; a wrongly typed value is named
/// (`history[0].date`).
fn input_from(object: Map<String, Value>) -> Result<FirearmInput, FieldError> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        FieldError::new(field_of(&path, &message, "body"), message)
    })
}

fn invalid_record(errors: &[FieldError]) -> ApiError {
    let (field, message) = describe_errors(errors);
    let message = message
        .strip_prefix(&format!("{field}: "))
        .map(str::to_string)
        .unwrap_or(message);
    ApiError::field(field, message)
}

async fn create(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let object = record_object(body)?;
    let input = input_from(object).map_err(|e| ApiError::field(e.field, e.message))?;
    let table = node.firearms.firearms.table();
    let record = validate_input(&input, &table).map_err(|e| invalid_record(&e))?;
    let (id, stored) = node
        .firearms
        .firearms
        .create(&node.firearms, record)
        .await?;
    Ok((StatusCode::CREATED, Json(record_view(id, &stored))))
}

async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let id = parse_ref(&id)?;
    let stored = node
        .firearms
        .firearms
        .record(&id)?
        .ok_or_else(|| ApiError::not_found("no record with this id at this node"))?;
    Ok(Json(record_view(id, &stored)))
}

async fn update(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_ref(&id)?;
    let mut changes = record_object(body)?;
    if changes.is_empty() {
        return Err(ApiError::field(
            "body",
            format!("name at least one of {}", INPUT_FIELDS.join(", ")),
        ));
    }
    if let Some(value) = changes.remove("calibre") {
        changes.insert("caliber".into(), value);
    }
    let table = node.firearms.firearms.table();
    let outcome = node
        .firearms
        .firearms
        .replace(&node.firearms, id, |old| {
            let mut merged = match serde_json::to_value(input_of(old)) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            merged.extend(changes);
            let input = input_from(merged).map_err(|e| vec![e])?;
            validate_input(&input, &table)
        })
        .await?;
    match outcome {
        None => Err(ApiError::not_found("no record with this id at this node")),
        Some(Err(errors)) => Err(invalid_record(&errors)),
        Some(Ok(stored)) => Ok(Json(record_view(id, &stored))),
    }
}

/// Paging of `GET /v1/firearms`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    /// List records after this id.
    after: Option<String>,
    /// Most records (default 100, at most 1,000).
    limit: Option<usize>,
}

async fn list(
    State(node): State<NodeHandle>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::field("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let after = page
        .after
        .as_deref()
        .map(|text| {
            RecordRef::from_hex(text)
                .ok_or_else(|| ApiError::field("after", "a record id is 32 hexadecimal characters"))
        })
        .transpose()?;
    let records = node.firearms.firearms.list(after, limit)?;
    Ok(Json(json!({
        "total": node.firearms.firearms.record_count(),
        "records": records.iter().map(|(id, r)| record_view(*id, r)).collect::<Vec<_>>(),
    })))
}

async fn import(
    State(node): State<NodeHandle>,
    _: NoQuery,
    headers: HeaderMap,
    Upload(body): Upload,
) -> Result<Json<Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = ImportFormat::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type `{content_type}` is not importable: send text/csv (a header row of field names) or application/x-ndjson (one JSON record per line)"
            ),
        )
    })?;
    if body.is_empty() {
        return Err(ApiError::field(
            "body",
            "is empty: send the file's contents",
        ));
    }
    let key = idempotency_key(&headers)?;
    let outcome = node
        .firearms
        .firearms
        .import(&node.firearms, format, body, key)
        .await?;
    Ok(Json(
        serde_json::to_value(outcome).map_err(ApiError::internal)?,
    ))
}

/// The caller's `Idempotency-Key` (any text up to 256 bytes), hashed into an import key.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<[u8; 32]>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| !t.trim().is_empty() && t.len() <= 256)
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "must be 1 to 256 visible ASCII characters",
            )
        })?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"striae-import-key-v1:");
    hasher.update(text.as_bytes());
    Ok(Some(*hasher.finalize().as_bytes()))
}

/// Body of `POST /v1/firearms/check`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckRequest {
    make: String,
    serial: String,
}

async fn check(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(query): ApiJson<CheckRequest>,
) -> Result<Json<Value>, ApiError> {
    if query.make.trim().is_empty() {
        return Err(ApiError::field("make", "is required"));
    }
    if query.make.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::field(
            "make",
            format!("is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let serial =
        normalise_serial(&query.serial).map_err(|e| ApiError::field("serial", e.to_string()))?;
    let make = node.firearms.firearms.table().normalise_make(&query.make);
    let f = &node.firearms;
    let hits = f.firearms.check(f, &query.make, &query.serial);
    // A make the table does not know (a typo, a trade name) would not match a record written
    // under the real make: "no record" would be a false all-clear. The check is then
    // inconclusive and the likely makes are checked too.
    let uncertain = !make.known || make.ambiguous;
    let suggestion_hits: Vec<Value> = if uncertain {
        make.suggestions
            .iter()
            .take(MAX_SUGGESTIONS_CHECKED)
            .map(|m| json!({"make": m, "hits": f.firearms.check(f, m, &query.serial)}))
            .collect()
    } else {
        Vec::new()
    };
    let verdict = match (hits.is_empty(), uncertain) {
        (false, _) => "hits",
        (true, false) => "no_record",
        (true, true) => "inconclusive",
    };
    Metrics::count(&node.metrics.checks, verdict, 1);
    Ok(Json(json!({
        "verdict": verdict,
        "hits": hits,
        "make": make.canonical,
        "make_known": make.known,
        "make_ambiguous": make.ambiguous,
        "make_suggestions": make.suggestions,
        "suggestion_hits": suggestion_hits,
        "serial": serial,
    })))
}

/// Likely makes a check with an unknown make also checks.
const MAX_SUGGESTIONS_CHECKED: usize = 3;

async fn index_stats(State(node): State<NodeHandle>, _: NoQuery) -> Json<Value> {
    let stats = node.firearms.firearms.index_stats();
    Json(json!({
        "digests": stats.live,
        "slots": stats.slots,
        "memory_bytes": stats.memory_bytes,
        "records": node.firearms.firearms.record_count(),
    }))
}

// ---------------------------------------------------------------- reference table

async fn reference(State(node): State<NodeHandle>, _: NoQuery) -> Json<Value> {
    let table = node.firearms.firearms.table();
    Json(json!({
        "version": table.version(),
        "makes": table.makes().len(),
        "models": table.models().len(),
        "calibres": table.calibres().len(),
        "types": table.types().len(),
        "additions": node.firearms.firearms.additions(),
    }))
}

fn ref_error(e: RefError) -> ApiError {
    match e {
        RefError::Invalid { field, message } => ApiError::field(field, message),
        RefError::UnknownId(id) => {
            ApiError::field("target_id", format!("no reference entry has id `{id}`"))
        }
        RefError::DuplicateId(id) => ApiError::field("id", format!("`{id}` is already used")),
        RefError::AliasConflict { .. }
        | RefError::AmbiguousAlias { .. }
        | RefError::EmptyAlias(_) => ApiError::field("alias", e.to_string()),
        RefError::Data(message) => ApiError::field("body", message),
    }
}

/// The fields each kind of reference addition takes (`kind` aside). The addition is an
/// internally tagged enum: serde reads it through a buffer that loses the path of a wrongly
/// typed value and ignores fields of another kind, so its shape is checked here first.
const ADDITION_FIELDS: [(&str, &[&str]); 4] = [
    ("make", &["id", "name", "country", "aliases"]),
    ("model", &["id", "make_id", "name", "aliases"]),
    ("caliber", &["id", "name", "aliases", "related"]),
    ("alias", &["target_id", "alias"]),
];
/// Fields of an addition that hold lists of text; the others hold text.
const ADDITION_LISTS: [&str; 2] = ["aliases", "related"];
/// Fields of an addition that may be null.
const ADDITION_OPTIONAL: [&str; 2] = ["id", "make_id"];

/// Checks that `body` is an object of one addition kind's fields, each of the right type.
fn check_addition_shape(body: &Value) -> Result<(), ApiError> {
    let Value::Object(object) = body else {
        return Err(ApiError::field("body", "expected a JSON object"));
    };
    let kinds = || {
        ADDITION_FIELDS
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = match object.get("kind") {
        None => {
            return Err(ApiError::field(
                "kind",
                format!("is required: one of {}", kinds()),
            ));
        }
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(ApiError::field(
                "kind",
                format!("must be one of {}", kinds()),
            ));
        }
    };
    let Some((_, fields)) = ADDITION_FIELDS.iter().find(|(k, _)| *k == kind) else {
        return Err(ApiError::field(
            "kind",
            format!("must be one of {}", kinds()),
        ));
    };
    for (name, value) in object.iter().filter(|(name, _)| *name != "kind") {
        if !fields.contains(&name.as_str()) {
            return Err(ApiError::field(
                name.as_str(),
                format!(
                    "unknown field for a {kind}; its fields are {}",
                    fields.join(", ")
                ),
            ));
        }
        let fits = match value {
            Value::String(_) => !ADDITION_LISTS.contains(&name.as_str()),
            Value::Null => ADDITION_OPTIONAL.contains(&name.as_str()),
            Value::Array(items) => {
                ADDITION_LISTS.contains(&name.as_str()) && items.iter().all(Value::is_string)
            }
            _ => false,
        };
        if !fits {
            let expected = if ADDITION_LISTS.contains(&name.as_str()) {
                "a list of text"
            } else {
                "text"
            };
            return Err(ApiError::field(
                name.as_str(),
                format!("must be {expected}"),
            ));
        }
    }
    Ok(())
}

async fn add_reference(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_addition_shape(&body)?;
    let addition: ReferenceAddition =
        serde_json::from_value(body).map_err(|e| ApiError::field("body", e.to_string()))?;
    addition.validate().map_err(ref_error)?;
    let mut trial = (*node.firearms.firearms.table()).clone();
    trial.add(addition.clone()).map_err(ref_error)?;
    let json = serde_json::to_string(&addition).map_err(ApiError::internal)?;
    if json.len() > MAX_REFERENCE_ADDITION_BYTES {
        return Err(ApiError::field(
            "body",
            format!("is larger than {MAX_REFERENCE_ADDITION_BYTES} bytes"),
        ));
    }
    let entry = node.publish(Body::ReferenceAddition(json)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"published": true, "seq": entry.entry.seq, "addition": addition})),
    ))
}

/// Query of `GET /v1/reference/suggest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SuggestQuery {
    field: String,
    q: String,
    /// For models: the make they belong to.
    make: Option<String>,
}

async fn suggest(
    State(node): State<NodeHandle>,
    ApiQuery(query): ApiQuery<SuggestQuery>,
) -> Result<Json<Value>, ApiError> {
    if query.q.trim().is_empty() || query.q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::field(
            "q",
            format!("must be 1 to {MAX_QUERY_CHARS} characters"),
        ));
    }
    if query
        .make
        .as_ref()
        .is_some_and(|make| make.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::field(
            "make",
            format!("is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let table = node.firearms.firearms.table();
    let result = match query.field.as_str() {
        "make" => table.normalise_make(&query.q),
        "model" => {
            let make_id = query
                .make
                .as_deref()
                .and_then(|m| table.normalise_make(m).id);
            table.normalise_model(make_id.as_deref(), &query.q)
        }
        "caliber" | "calibre" => table.normalise_caliber(&query.q),
        "type" => table.normalise_type(&query.q),
        _ => {
            return Err(ApiError::field(
                "field",
                "must be make, model, caliber or type",
            ));
        }
    };
    Ok(Json(json!({
        "field": query.field,
        "q": query.q,
        "canonical": result.canonical,
        "id": result.id,
        "known": result.known,
        "ambiguous": result.ambiguous,
        "suggestions": result.suggestions,
    })))
}

// ---------------------------------------------------------------- traces

async fn start_trace(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(input): ApiJson<TraceInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = traces::start(&node.firearms, input).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id}))))
}

/// Paging of trace lists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Limit {
    limit: Option<usize>,
}

fn limit_of(l: &Limit) -> Result<usize, ApiError> {
    let limit = l.limit.unwrap_or(100);
    if limit == 0 || limit > traces::MAX_LIST {
        return Err(ApiError::field(
            "limit",
            format!("must be 1 to {}", traces::MAX_LIST),
        ));
    }
    Ok(limit)
}

async fn list_traces(
    State(node): State<NodeHandle>,
    ApiQuery(l): ApiQuery<Limit>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(traces::list(&node.firearms, limit_of(&l)?)?)))
}

async fn show_trace(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(traces::show(&node.firearms, &id)?))
}

/// Paging and filtering of requests received.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IncomingParams {
    limit: Option<usize>,
    /// `pending_review`: only the requests waiting for review.
    state: Option<String>,
}

async fn incoming(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<IncomingParams>,
) -> Result<Json<Value>, ApiError> {
    let pending_only = match p.state.as_deref() {
        None => false,
        Some("pending_review") => true,
        Some(_) => {
            return Err(ApiError::field(
                "state",
                "the only filter is `pending_review`",
            ));
        }
    };
    let limit = limit_of(&Limit { limit: p.limit })?;
    Ok(Json(json!(traces::incoming(
        &node.firearms,
        limit,
        pending_only
    )?)))
}

/// Body of a review decision (optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ReviewRequest {
    #[serde(default)]
    note: String,
}

async fn approve(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    OptionalJson(request): OptionalJson<ReviewRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        traces::review(&node.firearms, &id, true, &request.note).await?,
    ))
}

async fn refuse(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    OptionalJson(request): OptionalJson<ReviewRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        traces::review(&node.firearms, &id, false, &request.note).await?,
    ))
}
