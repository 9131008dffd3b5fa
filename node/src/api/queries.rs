//! `/v1/queries`: cross-border serial-pattern queries for partial or obliterated serials,
//! those this node sent (with every member's signed answer) and those it received (with the
//! review of the ones held).

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{NoQuery, OptionalJson, PathId},
    openapi::{ObjectList, Started},
    paging::{LimitParam, Paged},
};
use crate::{
    firearms::queries::{self, QueryError, QueryInput},
    node::NodeHandle,
};

/// The query routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(incoming))
        .routes(routes!(approve))
        .routes(routes!(refuse))
        .routes(routes!(show))
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

/// `POST /v1/queries`: starts a serial-pattern query.
#[utoipa::path(
    post,
    path = "/queries",
    tag = "queries",
    request_body = QueryInput,
    responses((status = 202, description = "Started: the query is sent in the background", body = Started))
)]
async fn start(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(input): ApiJson<QueryInput>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let id = queries::start(&node.firearms, input).await?;
    Ok((StatusCode::ACCEPTED, Json(Started { id })))
}

/// Filtering of queries received.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct IncomingParams {
    /// `pending_review`: only the queries waiting for review.
    #[param(pattern = "^pending_review$")]
    state: Option<String>,
}

/// Query of the list of queries sent: only `limit` (`state` filters received ones).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SentParams {
    state: Option<String>,
}

/// `GET /v1/queries`: lists the queries this node sent.
#[utoipa::path(
    get,
    path = "/queries",
    tag = "queries",
    params(LimitParam),
    responses((status = 200, description = "The queries this node sent, newest first", body = inline(ObjectList)))
)]
async fn list(
    State(node): State<NodeHandle>,
    page: Paged<SentParams>,
) -> Result<Json<Value>, ApiError> {
    if page.params.state.is_some() {
        return Err(ApiError::field(
            "state",
            "filters received queries only (/v1/queries/incoming)",
        ));
    }
    Ok(Json(json!(queries::list(&node.firearms, page.limit)?)))
}

/// `GET /v1/queries/{id}`: shows a query and its answers.
#[utoipa::path(
    get,
    path = "/queries/{id}",
    tag = "queries",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The query id (32 hexadecimal characters)")),
    responses((status = 200, description = "The query with every member's signed answer", body = inline(Object)))
)]
async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(queries::show(&node.firearms, &id)?))
}

/// `GET /v1/queries/incoming`: lists the queries received.
#[utoipa::path(
    get,
    path = "/queries/incoming",
    tag = "queries",
    params(IncomingParams, LimitParam),
    responses((status = 200, description = "Queries other members sent this node, newest first", body = inline(ObjectList)))
)]
async fn incoming(
    State(node): State<NodeHandle>,
    page: Paged<IncomingParams>,
) -> Result<Json<Value>, ApiError> {
    let pending_only = match page.params.state.as_deref() {
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
        page.limit,
        pending_only
    )?)))
}

/// Body of a review decision (optional).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReviewRequest {
    /// A note for the requester.
    #[serde(default)]
    note: String,
}

/// `POST /v1/queries/incoming/{id}/approve`: approves a query held for review.
#[utoipa::path(
    post,
    path = "/queries/incoming/{id}/approve",
    tag = "queries",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The query id")),
    request_body(content = Option<ReviewRequest>, description = "Optional: a note"),
    responses(
        (status = 200, description = "The query as approved: the answer is sent", body = inline(Object)),
        (status = 409, description = "The query is not waiting for review"),
    )
)]
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

/// `POST /v1/queries/incoming/{id}/refuse`: refuses a query held for review.
#[utoipa::path(
    post,
    path = "/queries/incoming/{id}/refuse",
    tag = "queries",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The query id")),
    request_body(content = Option<ReviewRequest>, description = "Optional: a note"),
    responses(
        (status = 200, description = "The query as refused: a refusal is sent", body = inline(Object)),
        (status = 409, description = "The query is not waiting for review"),
    )
)]
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
