//! `/v1/queries`: cross-border serial-pattern queries for partial or obliterated serials,
//! those this node sent (with every member's signed answer) and those it received (with the
//! review of the ones held).

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiError, ApiJson,
    error::{ApiQuery, NoQuery, OptionalJson, PathId},
};
use crate::{
    firearms::queries::{self, QueryError, QueryInput},
    node::NodeHandle,
};

/// The query routes.
pub(super) fn routes() -> Router<NodeHandle> {
    Router::new()
        .route("/queries", post(start).get(list))
        .route("/queries/incoming", get(incoming))
        .route("/queries/incoming/{id}/approve", post(approve))
        .route("/queries/incoming/{id}/refuse", post(refuse))
        .route("/queries/{id}", get(show))
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Field { field, message } => ApiError::field(field, message),
            QueryError::NotFound => ApiError::not_found("no such query"),
            QueryError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            QueryError::Store(e) => ApiError::internal(e),
        }
    }
}

async fn start(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(input): ApiJson<QueryInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = queries::start(&node.firearms, input).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id}))))
}

/// Paging and filtering of query lists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<usize>,
    /// `pending_review` to show only the queries waiting for review (incoming only).
    state: Option<String>,
}

fn limit_of(p: &ListParams) -> Result<usize, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > queries::MAX_LIST {
        return Err(ApiError::field(
            "limit",
            format!("must be 1 to {}", queries::MAX_LIST),
        ));
    }
    Ok(limit)
}

async fn list(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    if p.state.is_some() {
        return Err(ApiError::field(
            "state",
            "filters received queries only (/v1/queries/incoming)",
        ));
    }
    Ok(Json(json!(queries::list(&node.firearms, limit_of(&p)?)?)))
}

async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(queries::show(&node.firearms, &id)?))
}

async fn incoming(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<ListParams>,
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
    Ok(Json(json!(queries::incoming(
        &node.firearms,
        limit_of(&p)?,
        pending_only
    )?)))
}

/// Body of a review decision (optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReviewRequest {
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
        queries::review(&node.firearms, &id, true, &request.note).await?,
    ))
}

async fn refuse(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    OptionalJson(request): OptionalJson<ReviewRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        queries::review(&node.firearms, &id, false, &request.note).await?,
    ))
}
