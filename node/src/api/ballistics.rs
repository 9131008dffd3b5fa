//! `/v1/x3p` and `/v1/ballistics`: scan inspection, exhibits, network-wide search with
//! confirmation at the holders, and automatic leads.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use striae_protocol::ballistic::{EvidenceKind, ExhibitRef};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError,
    error::{ApiQuery, NoQuery, PathId, TypedUpload, Upload},
    openapi::{Binary, ObjectList},
    paging::{LimitParam, NoParams, Paged},
};
use crate::{
    ballistics::{self, AddRequest, BallisticsError, BulletProbe, Probe, SearchRequest},
    node::NodeHandle,
};

/// The ballistic routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(inspect))
        .routes(routes!(add, list))
        .routes(routes!(search_upload))
        .routes(routes!(leads))
        .routes(routes!(approve_lead))
        .routes(routes!(show, retract))
        .routes(routes!(search_stored))
        .routes(routes!(image))
        .routes(routes!(comparison_image))
}

/// Query of `POST /v1/ballistics` (for the document; the handler reads them by name).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AddParams {
    /// `cartridge_case` (the default: the body is one X3P scan) or `bullet` (the body is the
    /// lands' X3P scans, as `multipart/form-data` or a zip).
    #[param(pattern = "^(cartridge_case|bullet)$")]
    kind: Option<String>,
    /// The calibre as written (`9mm Luger`, `9x19`).
    caliber: Option<String>,
    /// The bureau's case reference.
    case_ref: Option<String>,
    /// Who gets the digest: `network`, `local` or `region:NAME` (the node's default when
    /// left out).
    share: Option<String>,
}

/// Query of `POST /v1/ballistics/search` (for the document).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SearchParams {
    /// `cartridge_case` (the default) or `bullet`.
    #[param(pattern = "^(cartridge_case|bullet)$")]
    kind: Option<String>,
    /// The probe's calibre.
    caliber: Option<String>,
    /// The case reference, shown in the holders' audit logs.
    case_ref: Option<String>,
    /// Candidates returned, 1 to 50 (default 10). A search's size, not a list page.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
    /// Candidates sent for confirmation, 0 to 50 (default 10, never more than `limit`).
    #[param(minimum = 0, maximum = 50)]
    confirm: Option<u32>,
}

/// Query of `POST /v1/ballistics/{id}/search` (for the document).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct StoredSearchParams {
    /// The case reference, shown in the holders' audit logs.
    case_ref: Option<String>,
    /// Candidates returned, 1 to 50 (default 10). A search's size, not a list page.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
    /// Candidates sent for confirmation, 0 to 50 (default 10, never more than `limit`).
    #[param(minimum = 0, maximum = 50)]
    confirm: Option<u32>,
}

/// Filter of `GET /v1/ballistics/leads`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LeadsFilter {
    /// Only confirmed leads (`true`) or only the others (`false`).
    confirmed: Option<bool>,
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

/// `POST /v1/x3p/inspect`: reads an X3P scan without keeping it.
#[utoipa::path(
    post,
    path = "/x3p/inspect",
    tag = "ballistics",
    request_body(content = Binary, content_type = "application/octet-stream", description = "An X3P file (ISO 25178-72)"),
    responses((status = 200, description = "What the scan holds: size, increments, what preparing it found", body = inline(Object)))
)]
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

/// `POST /v1/ballistics`: adds a ballistic exhibit (a cartridge case or a bullet).
#[utoipa::path(
    post,
    path = "/ballistics",
    tag = "ballistics",
    params(AddParams),
    request_body(
        description = "A cartridge case's X3P scan; for `kind=bullet`, the lands' X3P scans as a multipart form (one file part per land) or a zip",
        content(
            (Binary = "application/octet-stream"),
            (Object = "multipart/form-data"),
            (Binary = "application/zip"),
        )
    ),
    responses(
        (status = 201, description = "The exhibit as stored, with `warnings`", body = inline(Object)),
        (status = 409, description = "The exhibit is held already, or this node's feed is frozen"),
        (status = 503, description = "The blob store is unavailable, or the node is catching up"),
    )
)]
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

/// `GET /v1/ballistics`: lists this node's exhibits.
#[utoipa::path(
    get,
    path = "/ballistics",
    tag = "ballistics",
    params(LimitParam),
    responses((status = 200, description = "This node's exhibits", body = inline(ObjectList)))
)]
async fn list(
    State(node): State<NodeHandle>,
    page: Paged<NoParams>,
) -> Result<Json<Value>, ApiError> {
    let records = node.ballistics.ballistics.own_records()?;
    Ok(Json(Value::Array(
        records
            .iter()
            .take(page.limit)
            .map(|r| r.to_json(&node.country))
            .collect(),
    )))
}

/// `GET /v1/ballistics/{id}`: shows one of this node's exhibits.
#[utoipa::path(
    get,
    path = "/ballistics/{id}",
    tag = "ballistics",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The exhibit id (32 hexadecimal characters)")),
    responses((status = 200, description = "The exhibit", body = inline(Object)))
)]
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
#[utoipa::path(
    get,
    path = "/ballistics/{id}/image",
    tag = "ballistics",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The exhibit id (32 hexadecimal characters)")),
    responses((status = 200, description = "The picture", body = inline(Binary), content_type = "image/png"))
)]
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
#[utoipa::path(
    get,
    path = "/ballistics/{id}/comparisons/{other}/image",
    tag = "ballistics",
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "One of this node's bullets (32 hexadecimal characters)"),
        ("other" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The candidate bullet's exhibit reference (32 hexadecimal characters)"),
    ),
    responses(
        (status = 200, description = "The aligned land signatures", body = inline(Binary), content_type = "image/png"),
        (status = 409, description = "The two exhibits cannot be compared (not bullets, not a confirmed match)"),
        (status = 503, description = "The blob store is unavailable"),
    )
)]
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

/// `DELETE /v1/ballistics/{id}`: retracts the exhibit (its digest is withdrawn).
#[utoipa::path(
    delete,
    path = "/ballistics/{id}",
    tag = "ballistics",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The exhibit id (32 hexadecimal characters)")),
    responses(
        (status = 200, description = "The exhibit as retracted", body = inline(Object)),
        (status = 409, description = "Retracted already, or this node's feed is frozen"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
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

/// `POST /v1/ballistics/search`: searches the network with an uploaded scan.
#[utoipa::path(
    post,
    path = "/ballistics/search",
    tag = "ballistics",
    params(SearchParams),
    request_body(
        description = "The probe: an X3P scan; for `kind=bullet`, its lands as a multipart form or a zip",
        content(
            (Binary = "application/octet-stream"),
            (Object = "multipart/form-data"),
            (Binary = "application/zip"),
        )
    ),
    responses(
        (status = 200, description = "The candidates, best first, with the holders' confirmations", body = inline(Object)),
        (status = 503, description = "The blob store is unavailable"),
    )
)]
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

/// `POST /v1/ballistics/{id}/search`: searches the network with one of this node's exhibits.
#[utoipa::path(
    post,
    path = "/ballistics/{id}/search",
    tag = "ballistics",
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The exhibit id (32 hexadecimal characters)"),
        StoredSearchParams,
    ),
    responses(
        (status = 200, description = "The candidates, best first, with the holders' confirmations", body = inline(Object)),
        (status = 503, description = "The blob store is unavailable"),
    )
)]
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

/// `GET /v1/ballistics/leads`: lists the leads found without a search.
#[utoipa::path(
    get,
    path = "/ballistics/leads",
    tag = "ballistics",
    params(LeadsFilter, LimitParam),
    responses((status = 200, description = "Leads: other members' new digests that screen close to this node's exhibits", body = inline(ObjectList)))
)]
async fn leads(
    State(node): State<NodeHandle>,
    page: Paged<LeadsFilter>,
) -> Result<Json<Value>, ApiError> {
    let (confirmed, limit) = (page.params.confirmed, page.limit);
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
#[utoipa::path(
    post,
    path = "/ballistics/leads/{id}/approve",
    tag = "ballistics",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The lead id (32 hexadecimal characters)")),
    responses(
        (status = 200, description = "The lead, sent for confirmation", body = inline(Object)),
        (status = 409, description = "The lead is not waiting for approval"),
        (status = 503, description = "The blob store is unavailable"),
    )
)]
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
