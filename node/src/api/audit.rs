//! `/v1/audit`: the node's signed, hash-chained audit log, and its verification.

use axum::{Json, Router, extract::State, routing::get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiError,
    error::{ApiQuery, NoQuery},
};
use crate::node::NodeHandle;

/// Most records one page lists.
const MAX_PAGE: usize = 1_000;

/// The audit routes.
pub(super) fn routes() -> Router<NodeHandle> {
    Router::new()
        .route("/audit", get(list))
        .route("/audit/verify", get(verify))
}

/// Paging of `GET /v1/audit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    /// First seq to list (default 1).
    from: Option<u64>,
    /// Most records (default and maximum 1,000).
    limit: Option<usize>,
}

async fn list(
    State(node): State<NodeHandle>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(MAX_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let records = node.audit.list(page.from.unwrap_or(1), limit)?;
    Ok(Json(json!(records)))
}

async fn verify(State(node): State<NodeHandle>, _: NoQuery) -> Result<Json<Value>, ApiError> {
    let audit = node.clone();
    let verification = tokio::task::spawn_blocking(move || audit.audit.verify())
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!(verification)))
}
