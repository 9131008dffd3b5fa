//! `/v1/audit`: the node's signed, hash-chained audit log, and its verification.

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError,
    error::NoQuery,
    openapi::ObjectList,
    paging::{LimitParam, Paged},
};
use crate::node::NodeHandle;

/// The audit routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(verify))
}

/// Where `GET /v1/audit` starts.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct FromSeq {
    /// First seq to list (default 1).
    #[param(minimum = 1)]
    from: Option<i64>,
}

/// `GET /v1/audit`: lists the audit log's records.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(FromSeq, LimitParam),
    responses((status = 200, description = "Audit records from `from` on, in order", body = inline(ObjectList)))
)]
async fn list(
    State(node): State<NodeHandle>,
    page: Paged<FromSeq>,
) -> Result<Json<Value>, ApiError> {
    let from = match page.params.from {
        None => 1,
        Some(from) => u64::try_from(from)
            .ok()
            .filter(|f| *f >= 1)
            .ok_or_else(|| ApiError::field("from", "must be a seq from 1"))?,
    };
    let records = node.audit.list(from, page.limit)?;
    Ok(Json(json!(records)))
}

/// `GET /v1/audit/verify`: verifies the whole audit log.
#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    responses((status = 200, description = "The verification of the whole log: chain, signatures and the anchored head", body = inline(Object)))
)]
async fn verify(State(node): State<NodeHandle>, _: NoQuery) -> Result<Json<Value>, ApiError> {
    let audit = node.clone();
    let verification = tokio::task::spawn_blocking(move || audit.audit.verify())
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!(verification)))
}
