//! `/v1/notices`: issue, list, show (with receipts), update and cancel Orange and Purple
//! notices. Only the issuer may update or cancel its notice.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use striae_protocol::{
    Body, NoticeContent, NoticeId, NoticeOp, notice::MAX_LIFETIME_MS, time::now_ms,
};

use super::{
    ApiError, ApiJson,
    error::{ApiQuery, NoQuery, OptionalJson, PathId},
};
use crate::{
    node::NodeHandle,
    notices::{self, NoticeRecord, rfc3339, status_at},
};

/// Body of `POST /v1/notices`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueRequest {
    kind: String,
    title: String,
    summary: String,
    #[serde(default)]
    body: String,
    expires_at: Option<String>,
}

/// Body of `PATCH /v1/notices/{id}`: the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateRequest {
    kind: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    body: Option<String>,
    expires_at: Option<String>,
}

/// Body of `POST /v1/notices/{id}/cancel` (optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelRequest {
    #[serde(default)]
    reason: String,
}

/// Query of `GET /v1/notices`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

/// Most notices one list answer carries.
const MAX_LIST: usize = 5_000;

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

/// `POST /v1/notices`.
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

/// `GET /v1/notices`.
pub(super) async fn list(
    State(node): State<NodeHandle>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    if let Some(s) = &query.status
        && !["active", "cancelled", "expired"].contains(&s.as_str())
    {
        return Err(ApiError::field(
            "status",
            "must be active, cancelled or expired",
        ));
    }
    let limit = query.limit.unwrap_or(1_000);
    if limit == 0 || limit > MAX_LIST {
        return Err(ApiError::field("limit", format!("must be 1 to {MAX_LIST}")));
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

/// `GET /v1/notices/{id}`.
pub(super) async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let record = load(&node, &parse_id(&id)?)?;
    Ok(Json(full_view(&node, &record, now_ms())?))
}

/// `PATCH /v1/notices/{id}`.
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

/// `POST /v1/notices/{id}/cancel`.
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
