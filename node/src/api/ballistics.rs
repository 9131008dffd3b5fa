//! `/v1/x3p` and `/v1/ballistics`: scan inspection, exhibits, network-wide search with
//! confirmation at the holders, and automatic leads.

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use striae_protocol::ballistic::{EvidenceKind, ExhibitRef};

use super::{
    ApiError,
    error::{ApiQuery, NoQuery, PathId, TypedUpload, Upload},
};
use crate::{
    ballistics::{self, AddRequest, BallisticsError, BulletProbe, Probe, SearchRequest},
    node::NodeHandle,
};

/// The ballistic routes.
pub(super) fn routes() -> Router<NodeHandle> {
    Router::new()
        .route("/x3p/inspect", post(inspect))
        .route("/ballistics", post(add).get(list))
        .route("/ballistics/search", post(search_upload))
        .route("/ballistics/leads", get(leads))
        .route("/ballistics/leads/{id}/approve", post(approve_lead))
        .route("/ballistics/{id}", get(show).delete(retract))
        .route("/ballistics/{id}/search", post(search_stored))
        .route("/ballistics/{id}/image", get(image))
        .route(
            "/ballistics/{id}/comparisons/{other}/image",
            get(comparison_image),
        )
}

impl From<BallisticsError> for ApiError {
    fn from(e: BallisticsError) -> Self {
        match e {
            BallisticsError::Field { field, message }
            | BallisticsError::Unsupported { field, message } => ApiError::field(field, message),
            BallisticsError::NotFound(m) => ApiError::not_found(m),
            BallisticsError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            BallisticsError::Blob(e) if e.is_unavailable() => {
                tracing::error!("blob store unavailable: {e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "blob_store_unavailable",
                    e.to_string(),
                )
            }
            e @ (BallisticsError::Store(_)
            | BallisticsError::Blob(_)
            | BallisticsError::Publish { .. }
            | BallisticsError::Task { .. }
            | BallisticsError::ShuttingDown(_)
            | BallisticsError::Damaged(_)
            | BallisticsError::BadId(_)) => ApiError::internal(e),
        }
    }
}

type Params = ApiQuery<HashMap<String, String>>;

/// The query parameters, refusing any the route does not know (a misspelt `limt=` must not
/// silently fall back to a default).
fn params(query: Params, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let ApiQuery(map) = query;
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::field(
            unknown.clone(),
            format!(
                "unknown parameter; this route takes: {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(map)
}

/// An exhibit id from the path: the exhibit reference, 32 hexadecimal characters.
fn exhibit_id(id: &str) -> Result<String, ApiError> {
    ExhibitRef::from_hex(id)
        .map(|r| r.to_hex())
        .ok_or_else(|| ApiError::field("id", "an exhibit id is 32 hexadecimal characters"))
}

async fn inspect(
    State(node): State<NodeHandle>,
    _: NoQuery,
    Upload(bytes): Upload,
) -> Result<Json<Value>, ApiError> {
    let info = ballistics::inspect(&node.ballistics, bytes).await?;
    Ok(Json(json!(info)))
}

/// Whether the request is about bullets (`kind=bullet`).
fn is_bullet(q: &HashMap<String, String>) -> bool {
    q.get("kind").is_some_and(|k| k.trim() == "bullet")
}

async fn add(
    State(node): State<NodeHandle>,
    query: Params,
    upload: TypedUpload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut q = params(query, &["kind", "caliber", "case_ref", "share"])?;
    let bullet = is_bullet(&q);
    let request = AddRequest {
        kind: q.remove("kind"),
        caliber: q.remove("caliber"),
        case_ref: q.remove("case_ref"),
        share: q.remove("share"),
    };
    let (record, warnings) = if bullet {
        let lands = ballistics::split_lands(upload.content_type.as_deref(), upload.bytes).await?;
        ballistics::add_bullet(&node.ballistics, request, lands).await?
    } else {
        ballistics::add_exhibit(&node.ballistics, request, upload.bytes).await?
    };
    let mut v = record.to_json(&node.country);
    v["warnings"] = json!(warnings);
    Ok((StatusCode::CREATED, Json(v)))
}

async fn list(State(node): State<NodeHandle>, query: Params) -> Result<Json<Value>, ApiError> {
    params(query, &[])?;
    let records = node.ballistics.ballistics.own_records()?;
    Ok(Json(Value::Array(
        records.iter().map(|r| r.to_json(&node.country)).collect(),
    )))
}

async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let id = exhibit_id(&id)?;
    match node.ballistics.ballistics.record(&id)? {
        Some(r) => Ok(Json(r.to_json(&node.country))),
        None => Err(ApiError::not_found(format!("no exhibit {id} at this node"))),
    }
}

/// The exhibit as a PNG for an examiner to look at: a cartridge case's prepared surface in
/// false colour with its height scale and a length bar; a bullet's land signatures.
async fn image(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Response, ApiError> {
    let id = exhibit_id(&id)?;
    let missing = || ApiError::not_found(format!("no exhibit {id} at this node"));
    let b = &node.ballistics.ballistics;
    let record = b.record(&id)?.ok_or_else(missing)?;
    let drawn = if record.evidence_kind() == Some(EvidenceKind::Bullet) {
        let bullet = b.bullet(&id)?.ok_or_else(missing)?;
        tokio::task::spawn_blocking(move || {
            striae_ballistics_lib::render_bullet::bullet_png(&bullet)
        })
        .await
    } else {
        let surface = b.surface(&id)?.ok_or_else(missing)?;
        tokio::task::spawn_blocking(move || striae_ballistics_lib::render::surface_png(&surface))
            .await
    };
    let png = drawn
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let headers = [
        (header::CONTENT_TYPE, "image/png"),
        (header::CACHE_CONTROL, "private, max-age=300"),
    ];
    Ok((headers, png).into_response())
}

/// The aligned signatures of one of this node's bullets and a candidate bullet (held here,
/// or confirmed by its holder when asked again).
async fn comparison_image(
    State(node): State<NodeHandle>,
    Path((id, other)): Path<(String, String)>,
    _: NoQuery,
) -> Result<Response, ApiError> {
    let id = exhibit_id(&id)?;
    let other = ExhibitRef::from_hex(other.trim())
        .ok_or_else(|| ApiError::field("other", "an exhibit id is 32 hexadecimal characters"))?;
    let png = ballistics::comparison_png(&node.ballistics, &id, other).await?;
    let headers = [
        (header::CONTENT_TYPE, "image/png"),
        (header::CACHE_CONTROL, "private, max-age=300"),
    ];
    Ok((headers, png).into_response())
}

async fn retract(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let id = exhibit_id(&id)?;
    let record = ballistics::retract_exhibit(&node.ballistics, &id).await?;
    Ok(Json(record.to_json(&node.country)))
}

fn search_request(mut q: HashMap<String, String>) -> SearchRequest {
    SearchRequest {
        kind: q.remove("kind"),
        caliber: q.remove("caliber"),
        case_ref: q.remove("case_ref"),
        limit: q.remove("limit"),
        confirm: q.remove("confirm"),
    }
}

async fn search_upload(
    State(node): State<NodeHandle>,
    query: Params,
    upload: TypedUpload,
) -> Result<Json<Value>, ApiError> {
    let q = params(query, &["kind", "caliber", "case_ref", "limit", "confirm"])?;
    let bullet = is_bullet(&q);
    let request = search_request(q);
    if bullet {
        let lands = ballistics::split_lands(upload.content_type.as_deref(), upload.bytes).await?;
        let result =
            ballistics::search_bullet(&node.ballistics, BulletProbe::Upload(lands), request)
                .await?;
        return Ok(Json(result.to_json(&node.ballistics)));
    }
    let result = ballistics::search(&node.ballistics, Probe::Upload(upload.bytes), request).await?;
    Ok(Json(result.to_json(&node.ballistics)))
}

async fn search_stored(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    let id = exhibit_id(&id)?;
    let q = params(query, &["case_ref", "limit", "confirm"])?;
    let kind = node
        .ballistics
        .ballistics
        .record(&id)?
        .and_then(|r| r.evidence_kind());
    if kind == Some(EvidenceKind::Bullet) {
        let probe = BulletProbe::Stored(id);
        let result = ballistics::search_bullet(&node.ballistics, probe, search_request(q)).await?;
        return Ok(Json(result.to_json(&node.ballistics)));
    }
    let result = ballistics::search(&node.ballistics, Probe::Stored(id), search_request(q)).await?;
    Ok(Json(result.to_json(&node.ballistics)))
}

/// Most leads one answer lists (and the default).
const MAX_LEADS: usize = 5_000;

async fn leads(State(node): State<NodeHandle>, query: Params) -> Result<Json<Value>, ApiError> {
    let q = params(query, &["confirmed", "limit"])?;
    let confirmed = match q.get("confirmed").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("confirmed", "true or false")),
    };
    let limit = match q.get("limit") {
        None => MAX_LEADS,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LEADS).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LEADS}"),
                ));
            }
        },
    };
    let leads = node.ballistics.ballistics.leads()?;
    Ok(Json(Value::Array(
        leads
            .iter()
            .filter(|l| confirmed.is_none_or(|c| (l.confirmation == "confirmed") == c))
            .take(limit)
            .map(|l| l.to_json(&node.ballistics))
            .collect(),
    )))
}

/// An operator approves a proposed lead: our exhibit's surface goes to the holder for
/// confirmation.
async fn approve_lead(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "id",
            "a lead id is 32 hexadecimal characters",
        ));
    }
    let lead = ballistics::approve_lead(&node.ballistics, &id).await?;
    Ok(Json(lead.to_json(&node.ballistics)))
}
