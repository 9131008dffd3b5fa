//! `/v1/traces`: traces of a firearm between members, those this node sent (with every
//! member's signed answer) and those it received (with the review of the ones held).

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{NoQuery, OptionalJson, PathId},
    openapi::{ObjectList, Started},
    paging::{LimitParam, NoParams, Paged},
};
use crate::{
    firearms::traces::{self, TraceError, TraceInput},
    node::NodeHandle,
};

/// The trace routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(start_trace, list_traces))
        .routes(routes!(incoming))
        .routes(routes!(approve))
        .routes(routes!(refuse))
        .routes(routes!(show_trace))
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

/// `POST /v1/traces`: starts a trace.
#[utoipa::path(
    post,
    path = "/traces",
    tag = "traces",
    request_body = TraceInput,
    responses((status = 202, description = "Started: the trace is sent in the background", body = Started))
)]
async fn start_trace(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(input): ApiJson<TraceInput>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let id = traces::start(&node.firearms, input).await?;
    Ok((StatusCode::ACCEPTED, Json(Started { id })))
}

/// `GET /v1/traces`: lists the traces this node sent.
#[utoipa::path(
    get,
    path = "/traces",
    tag = "traces",
    params(LimitParam),
    responses((status = 200, description = "The traces this node sent, newest first", body = inline(ObjectList)))
)]
async fn list_traces(
    State(node): State<NodeHandle>,
    page: Paged<NoParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(traces::list(&node.firearms, page.limit)?)))
}

/// `GET /v1/traces/{id}`: shows a trace and its answers.
#[utoipa::path(
    get,
    path = "/traces/{id}",
    tag = "traces",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The trace id (32 hexadecimal characters)")),
    responses((status = 200, description = "The trace with every member's answer", body = inline(Object)))
)]
async fn show_trace(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(traces::show(&node.firearms, &id)?))
}

/// Filtering of requests received.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct IncomingParams {
    /// `pending_review`: only the requests waiting for review.
    #[param(pattern = "^pending_review$")]
    state: Option<String>,
}

/// `GET /v1/traces/incoming`: lists the trace requests received.
#[utoipa::path(
    get,
    path = "/traces/incoming",
    tag = "traces",
    params(IncomingParams, LimitParam),
    responses((status = 200, description = "Trace requests other members sent this node, newest first", body = inline(ObjectList)))
)]
async fn incoming(
    State(node): State<NodeHandle>,
    page: Paged<IncomingParams>,
) -> Result<Json<Value>, ApiError> {
    let (p, limit) = (page.params, page.limit);
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
    Ok(Json(json!(traces::incoming(
        &node.firearms,
        limit,
        pending_only
    )?)))
}

/// Body of a review decision (optional).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReviewRequest {
    /// A note for the requester.
    #[serde(default)]
    note: String,
}

/// `POST /v1/traces/incoming/{id}/approve`: approves a trace request held for review.
#[utoipa::path(
    post,
    path = "/traces/incoming/{id}/approve",
    tag = "traces",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The request id")),
    request_body(content = Option<ReviewRequest>, description = "Optional: a note"),
    responses(
        (status = 200, description = "The request as approved: the answer is sent", body = inline(Object)),
        (status = 409, description = "The request is not waiting for review"),
    )
)]
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

/// `POST /v1/traces/incoming/{id}/refuse`: refuses a trace request held for review.
#[utoipa::path(
    post,
    path = "/traces/incoming/{id}/refuse",
    tag = "traces",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The request id")),
    request_body(content = Option<ReviewRequest>, description = "Optional: a note"),
    responses(
        (status = 200, description = "The request as refused: a refusal is sent", body = inline(Object)),
        (status = 409, description = "The request is not waiting for review"),
    )
)]
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
