//! `/v1/firearms` and `/v1/reference`: records, import, network-wide checks, the shared
//! reference table and its additions (traces are in `traces.rs`).

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use striae_firearms_lib::{
    FieldError, FirearmInput, RefError, ReferenceAddition, import::ImportFormat, normalise_serial,
    record::INPUT_FIELDS, validate_input,
};
use striae_protocol::{
    Body,
    firearm::{MAX_REFERENCE_ADDITION_BYTES, RecordRef},
};

use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{ApiQuery, NoQuery, PathId, Upload, field_of},
    paging::{LimitParam, Paged},
};
use crate::metrics::Metrics;
use crate::{
    firearms::{
        FirearmsError,
        records::{describe_errors, input_of, record_view},
    },
    node::NodeHandle,
};

/// Longest make or serial a check accepts, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// The firearm and reference routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(import))
        .routes(routes!(check))
        .routes(routes!(index_stats))
        .routes(routes!(show, update))
        .routes(routes!(reference, add_reference))
        .routes(routes!(suggest))
}

/// A firearm record's fields as a caller sends them (`POST /v1/firearms`; `PATCH` takes any
/// of them). For the document: the handlers read the object field by field
/// (`striae_firearms_lib::FirearmInput`), refusing any other key (hence `Deserialize` with
/// `deny_unknown_fields` here: it makes the schema say so).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct FirearmFields {
    /// Make as written (normalised against the reference table).
    make: Option<String>,
    /// Model.
    model: Option<String>,
    /// Calibre (`calibre` is accepted too).
    caliber: Option<String>,
    /// Calibre, the other spelling of `caliber`.
    calibre: Option<String>,
    /// Serial number as marked.
    serial: Option<String>,
    /// Firearm type (pistol, rifle...).
    #[serde(rename = "type")]
    firearm_type: Option<String>,
    /// `stolen`, `lost`, `trafficked`, `smuggled`, `seized`, `recovered` or `closed`.
    status: Option<String>,
    /// ISO 3166-1 alpha-2.
    country_of_manufacture: Option<String>,
    /// Importer marking.
    importer: Option<String>,
    /// Other markings.
    markings: Option<String>,
    /// `YYYY-MM-DD`: when the firearm was stolen, lost, seized...
    event_date: Option<String>,
    /// The bureau's case reference.
    case_ref: Option<String>,
    /// Free notes.
    notes: Option<String>,
    /// The reporting agency.
    reporting_agency: Option<String>,
    /// The firearm's history.
    history: Option<Vec<HistoryFields>>,
}

/// One event of a firearm's history (other keys are ignored).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct HistoryFields {
    /// `YYYY-MM-DD`.
    date: Option<String>,
    /// What happened: `manufactured`, `imported`, `exported`, `sold`, `transferred`...
    event: Option<String>,
    /// Who took part.
    party: Option<String>,
    /// ISO 3166-1 alpha-2.
    country: Option<String>,
    /// A document reference.
    document_ref: Option<String>,
}

/// A reference addition (`POST /v1/reference`): `kind` and that kind's fields. For the
/// document: the handler checks the shape itself (`check_addition_shape`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ReferenceAdditionFields {
    /// `make`, `model`, `caliber` or `alias`.
    #[schema(pattern = "^(make|model|caliber|alias)$")]
    kind: String,
    /// The new entry's id (make, model, caliber).
    id: Option<String>,
    /// Its name (make, model, caliber).
    name: Option<String>,
    /// ISO 3166-1 alpha-2 (make).
    country: Option<String>,
    /// Other names (make, model, caliber).
    aliases: Option<Vec<String>>,
    /// The make a model belongs to (model).
    make_id: Option<String>,
    /// Related calibres (caliber).
    related: Option<Vec<String>>,
    /// The entry an alias names (alias).
    target_id: Option<String>,
    /// The alias (alias).
    alias: Option<String>,
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

/// `POST /v1/firearms`: adds a firearm record.
#[utoipa::path(
    post,
    path = "/firearms",
    tag = "firearms",
    request_body(
        content = FirearmFields,
        description = "The record: `make`, `model`, `caliber` (or `calibre`), `serial`, `type` and \
            `status` are required (each missing one is named); no other key is taken"
    ),
    responses(
        (status = 201, description = "The record as stored: `{id, make, model, caliber, type, serial, status, announced, entered, reference, unknown, ...}`", body = inline(Object)),
        (status = 409, description = "This node's feed is frozen, or an import is running"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
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

/// `GET /v1/firearms/{id}`: shows a firearm record.
#[utoipa::path(
    get,
    path = "/firearms/{id}",
    tag = "firearms",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The record id (32 hexadecimal characters)")),
    responses((status = 200, description = "The record", body = inline(Object)))
)]
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

/// `PATCH /v1/firearms/{id}`: changes a firearm record.
#[utoipa::path(
    patch,
    path = "/firearms/{id}",
    tag = "firearms",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The record id (32 hexadecimal characters)")),
    request_body(content = FirearmFields, description = "The fields to change (at least one)"),
    responses(
        (status = 200, description = "The record as changed", body = inline(Object)),
        (status = 409, description = "This node's feed is frozen, or an import is running"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
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
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct After {
    /// List the records after this record id (the last one of the page before).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    after: Option<String>,
}

/// `GET /v1/firearms`: lists this node's firearm records.
#[utoipa::path(
    get,
    path = "/firearms",
    tag = "firearms",
    params(After, LimitParam),
    responses((status = 200, description = "`{total, records: [record]}`: this node's records, in id order", body = inline(Object)))
)]
async fn list(State(node): State<NodeHandle>, page: Paged<After>) -> Result<Json<Value>, ApiError> {
    let limit = page.limit;
    let after = page
        .params
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

/// `POST /v1/firearms/import`: imports firearm records from CSV or NDJSON.
#[utoipa::path(
    post,
    path = "/firearms/import",
    tag = "firearms",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 256, pattern = "^[\\t -~]*[!-~][\\t -~]*$", description = "1 to 256 visible ASCII characters: the import is done once per key (else once per document)")),
    request_body(
        description = "A CSV file with a header row of field names, or NDJSON (one JSON record per line)",
        content(("text/csv"), ("application/x-ndjson"))
    ),
    responses(
        (status = 200, description = "What was imported, row by row errors included", body = inline(Object)),
        (status = 409, description = "Another import is running, or this node's feed is frozen"),
        (status = 415, description = "The body is neither `text/csv` nor `application/x-ndjson`"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckRequest {
    /// Make as written (1 to 200 characters).
    make: String,
    /// Serial as written.
    serial: String,
}

/// `POST /v1/firearms/check`: checks a make and serial against every member's digests.
#[utoipa::path(
    post,
    path = "/firearms/check",
    tag = "firearms",
    request_body = CheckRequest,
    responses((status = 200, description = "`{verdict: hits|no_record|inconclusive, hits, make, make_known, make_ambiguous, make_suggestions, suggestion_hits, serial}`", body = inline(Object)))
)]
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
    node.tally.add("checks", verdict, 1);
    for hit in &hits {
        node.tally.add("hits.holder", &hit.country, 1);
    }
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

/// `GET /v1/firearms/index`: the digest index's size.
#[utoipa::path(
    get,
    path = "/firearms/index",
    tag = "firearms",
    responses((status = 200, description = "The digest index of every member's records", body = IndexAnswer))
)]
async fn index_stats(State(node): State<NodeHandle>, _: NoQuery) -> Json<IndexAnswer> {
    let stats = node.firearms.firearms.index_stats();
    Json(IndexAnswer {
        digests: stats.live,
        slots: stats.slots,
        memory_bytes: stats.memory_bytes,
        records: node.firearms.firearms.record_count() as u64,
    })
}

/// The answer of `GET /v1/firearms/index`.
#[derive(Serialize, ToSchema)]
pub(super) struct IndexAnswer {
    /// Digests announced and not retracted, every member's.
    digests: u64,
    /// Slots in use (live plus retracted).
    slots: u64,
    /// Bytes the index holds in memory.
    memory_bytes: u64,
    /// This node's own records.
    records: u64,
}

// ---------------------------------------------------------------- reference table

/// `GET /v1/reference`: the reference table in force.
#[utoipa::path(
    get,
    path = "/reference",
    tag = "reference",
    responses((status = 200, description = "`{version, makes, models, calibres, types, additions}`", body = inline(Object)))
)]
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

/// `POST /v1/reference`: publishes a reference addition.
#[utoipa::path(
    post,
    path = "/reference",
    tag = "reference",
    request_body = ReferenceAdditionFields,
    responses(
        (status = 201, description = "`{published, seq, addition}`: published in this node's feed", body = inline(Object)),
        (status = 409, description = "This node's feed is frozen"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
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
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SuggestQuery {
    /// `make`, `model`, `caliber` (or `calibre`) or `type`.
    #[param(pattern = "^(make|model|caliber|calibre|type)$")]
    field: String,
    /// What was typed (1 to 200 characters).
    #[param(min_length = 1, max_length = 200)]
    q: String,
    /// For models: the make they belong to.
    #[param(max_length = 200)]
    make: Option<String>,
}

/// `GET /v1/reference/suggest`: normalises a make, model, calibre or type, with suggestions.
#[utoipa::path(
    get,
    path = "/reference/suggest",
    tag = "reference",
    params(SuggestQuery),
    responses((status = 200, description = "`{field, q, canonical, id, known, ambiguous, suggestions}`", body = inline(Object)))
)]
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
