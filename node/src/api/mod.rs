//! The HTTP API: axum routes, one module per resource, token authentication on every `/v1`
//! route, and JSON errors `{"error":{"code","message","field"?}}` with a 4xx status for anything
//! the caller sent wrong.

mod audit;
mod ballistics;
mod error;
mod firearms;
mod notices;
mod status;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::sync::watch;

pub use error::{ApiError, ApiJson};

use crate::node::NodeHandle;

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Builds the router for `node`.
pub fn router(node: NodeHandle) -> Router {
    let v1 = Router::new()
        .route("/status", get(status::status))
        .route("/peers", get(status::peers))
        .route("/notices", post(notices::issue).get(notices::list))
        .route("/notices/{id}", get(notices::show).patch(notices::update))
        .route("/notices/{id}/cancel", post(notices::cancel))
        .merge(firearms::routes())
        .merge(ballistics::routes())
        .merge(audit::routes())
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(middleware::from_fn_with_state(node.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .nest("/v1", v1)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(node)
}

async fn metrics(State(node): State<NodeHandle>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics.render(),
    )
        .into_response()
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(node): State<NodeHandle>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if same_token(token.trim(), &node.token) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the node's API token as `Authorization: Bearer <token>` (it is in the data dir, file api.token)",
        )
        .into_response(),
    }
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(node);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!("API server stopped: {e}");
    }
}
