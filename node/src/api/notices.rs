//! `/v1/notices`: issue, list, show (with receipts), update and cancel Orange and Purple
//! notices. Only the issuer may update or cancel its notice.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use striae_protocol::{
    Body, NoticeContent, NoticeId, NoticeOp, notice::MAX_LIFETIME_MS, time::now_ms,
};

use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{NoQuery, OptionalJson, PathId},
    openapi::ObjectList,
    paging::{LimitParam, Paged},
};
use crate::{
    node::NodeHandle,
    notices::{self, NoticeRecord, rfc3339, status_at},
};

/// The notice routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(issue, list))
        .routes(routes!(show, update))
        .routes(routes!(cancel))
}

/// Body of `POST /v1/notices`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueRequest {
    /// `orange` or `purple`.
    #[schema(pattern = "^(orange|purple)$")]
    kind: String,
    /// A short title.
    title: String,
    /// A summary.
    summary: String,
    /// The full text.
    #[serde(default)]
    body: String,
    /// RFC 3339; at most five years ahead (the most, when left out).
    expires_at: Option<String>,
}

/// Body of `PATCH /v1/notices/{id}`: the fields to change (at least one).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateRequest {
    /// `orange` or `purple`.
    #[schema(pattern = "^(orange|purple)$")]
    kind: Option<String>,
    /// A short title.
    title: Option<String>,
    /// A summary.
    summary: Option<String>,
    /// The full text.
    body: Option<String>,
    /// RFC 3339; at most five years ahead.
    expires_at: Option<String>,
}

/// Body of `POST /v1/notices/{id}/cancel` (optional).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelRequest {
    /// Why the notice is cancelled.
    #[serde(default)]
    reason: String,
}

/// Filter of `GET /v1/notices`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only notices in this state: `active`, `cancelled` or `expired`.
    #[param(pattern = "^(active|cancelled|expired)$")]
    status: Option<String>,
}

fn parse_expiry(text: &str) -> Result<u64, ApiError> {
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| {
        ApiError::field(
            "expires_at",
            format!("not an RFC 3339 time ({e}), e.g. 2027-01-31T00:00:00Z"),
        )
    })?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ApiError::field("expires_at", "is before 1970"))?
        .as_millis();
    u64::try_from(ms).map_err(|_| ApiError::field("expires_at", "is too far ahead"))
}

fn parse_id(text: &str) -> Result<NoticeId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::field("id", "a notice id is 32 hexadecimal characters"))
}

fn validate(content: &NoticeContent, now: u64) -> Result<(), ApiError> {
    content
        .validate(now)
        .map_err(|e| ApiError::field(e.field, e.message))
}

/// The view of a notice in lists.
fn summary_view(node: &NodeHandle, r: &NoticeRecord, now: u64) -> Value {
    json!({
        "id": r.id,
        "kind": r.kind,
        "issuer_country": node.country_of(&r.issuer),
        "issuer": r.issuer,
        "title": r.title,
        "summary": r.summary,
        "status": status_at(r, now),
        "issued_at": rfc3339(r.issued_at_ms),
        "updated_at": rfc3339(r.updated_at_ms),
        "expires_at": rfc3339(r.expires_at_ms),
        "version": r.version,
    })
}

fn full_view(node: &NodeHandle, r: &NoticeRecord, now: u64) -> Result<Value, ApiError> {
    let mut view = summary_view(node, r, now);
    view["body"] = json!(r.body);
    view["cancelled_at"] = json!(r.cancelled_at_ms.map(rfc3339));
    view["cancel_reason"] = json!(r.cancel_reason);
    view["acks"] = json!(notices::acks(&node.store, &node.roster, &node.me, r)?);
    Ok(view)
}

fn load(node: &NodeHandle, id: &NoticeId) -> Result<NoticeRecord, ApiError> {
    node.notices
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no notice {id} on this node")))
}

fn own(node: &NodeHandle, record: &NoticeRecord) -> Result<(), ApiError> {
    if record.issuer != node.me {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_issuer",
            format!(
                "only the issuer ({}) may change notice {}",
                node.country_of(&record.issuer),
                record.id
            ),
        ));
    }
    if record.cancelled_at_ms.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cancelled",
            format!("notice {} is cancelled", record.id),
        ));
    }
    Ok(())
}

/// `POST /v1/notices`: issues a notice.
#[utoipa::path(
    post,
    path = "/notices",
    tag = "notices",
    request_body = IssueRequest,
    responses(
        (status = 201, description = "The notice as issued (as `GET /v1/notices/{id}` shows it)", body = inline(Object)),
        (status = 409, description = "This node's feed is frozen"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
pub(super) async fn issue(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(req): ApiJson<IssueRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = now_ms();
    let kind = notices::parse_kind(&req.kind).map_err(|e| ApiError::field(e.field, e.message))?;
    let expires_at_ms = match &req.expires_at {
        Some(text) => parse_expiry(text)?,
        None => now + MAX_LIFETIME_MS,
    };
    let content = NoticeContent {
        kind,
        title: req.title,
        summary: req.summary,
        body: req.body,
        expires_at_ms,
    };
    validate(&content, now)?;
    let entry = node.publish(Body::Notice(NoticeOp::Issue(content))).await?;
    let id = NoticeId::from_entry(&entry.id);
    let record = load(&node, &id)?;
    Ok((
        StatusCode::CREATED,
        Json(full_view(&node, &record, now_ms())?),
    ))
}

/// `GET /v1/notices`: lists the notices.
#[utoipa::path(
    get,
    path = "/notices",
    tag = "notices",
    params(ListQuery, LimitParam),
    responses((
        status = 200,
        description = "Notices, newest first: `[{id, kind, issuer_country, issuer, title, \
            summary, status, issued_at, updated_at, expires_at, version}]`",
        body = inline(ObjectList)
    ))
)]
pub(super) async fn list(
    State(node): State<NodeHandle>,
    page: Paged<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (query, limit) = (page.params, page.limit);
    let now = now_ms();
    if let Some(s) = &query.status
        && !["active", "cancelled", "expired"].contains(&s.as_str())
    {
        return Err(ApiError::field(
            "status",
            "must be active, cancelled or expired",
        ));
    }
    let mut records: Vec<NoticeRecord> = node.notices.list();
    records.retain(|r| {
        query
            .status
            .as_deref()
            .is_none_or(|s| status_at(r, now) == s)
    });
    records.sort_by_key(|r| std::cmp::Reverse(r.issued_at_ms));
    records.truncate(limit);
    Ok(Json(Value::Array(
        records
            .iter()
            .map(|r| summary_view(&node, r, now))
            .collect(),
    )))
}

/// `GET /v1/notices/{id}`: shows a notice and who holds it.
#[utoipa::path(
    get,
    path = "/notices/{id}",
    tag = "notices",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The notice id (32 hexadecimal characters)")),
    responses((
        status = 200,
        description = "The notice, with `body`, `cancelled_at`, `cancel_reason` and `acks` (who holds it)",
        body = inline(Object)
    ))
)]
pub(super) async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let record = load(&node, &parse_id(&id)?)?;
    Ok(Json(full_view(&node, &record, now_ms())?))
}

/// `PATCH /v1/notices/{id}`: updates a notice (issuer only).
#[utoipa::path(
    patch,
    path = "/notices/{id}",
    tag = "notices",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The notice id (32 hexadecimal characters)")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "The notice as updated", body = inline(Object)),
        (status = 403, description = "Only the issuer may change a notice, or the role does not grant it"),
        (status = 409, description = "The notice is cancelled, or this node's feed is frozen"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
pub(super) async fn update(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let record = load(&node, &id)?;
    own(&node, &record)?;
    let now = now_ms();
    let kind = match &req.kind {
        Some(k) => notices::parse_kind(k).map_err(|e| ApiError::field(e.field, e.message))?,
        None => notices::parse_kind(&record.kind).map_err(ApiError::internal)?,
    };
    if req.kind.is_none()
        && req.title.is_none()
        && req.summary.is_none()
        && req.body.is_none()
        && req.expires_at.is_none()
    {
        return Err(ApiError::field(
            "body",
            "name at least one of kind, title, summary, body, expires_at",
        ));
    }
    let expires_at_ms = match &req.expires_at {
        Some(text) => parse_expiry(text)?,
        None => record.expires_at_ms,
    };
    let content = NoticeContent {
        kind,
        title: req.title.unwrap_or(record.title),
        summary: req.summary.unwrap_or(record.summary),
        body: req.body.unwrap_or(record.body),
        expires_at_ms,
    };
    validate(&content, now)?;
    node.publish(Body::Notice(NoticeOp::Update {
        notice: id,
        content,
    }))
    .await?;
    Ok(Json(full_view(&node, &load(&node, &id)?, now_ms())?))
}

/// `POST /v1/notices/{id}/cancel`: cancels a notice (issuer only).
#[utoipa::path(
    post,
    path = "/notices/{id}/cancel",
    tag = "notices",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The notice id (32 hexadecimal characters)")),
    request_body(content = Option<CancelRequest>, description = "Optional: the reason"),
    responses(
        (status = 200, description = "The notice as cancelled", body = inline(Object)),
        (status = 403, description = "Only the issuer may cancel a notice, or the role does not grant it"),
        (status = 409, description = "The notice is cancelled already, or this node's feed is frozen"),
        (status = 503, description = "The node is catching up on its own feed, or stopping"),
    )
)]
pub(super) async fn cancel(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    OptionalJson(req): OptionalJson<CancelRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let op = NoticeOp::Cancel {
        notice: id,
        reason: req.reason,
    };
    op.validate(now_ms())
        .map_err(|e| ApiError::field(e.field, e.message))?;
    let record = load(&node, &id)?;
    own(&node, &record)?;
    node.publish(Body::Notice(op)).await?;
    Ok(Json(full_view(&node, &load(&node, &id)?, now_ms())?))
}
