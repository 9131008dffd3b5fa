//! The HTTP API: axum routes, one module per resource, a user's token and a role check on every
//! `/v1` route (and on `/metrics` unless configured public; see `auth` and the permission table
//! in `accounts`), and JSON errors
//! `{"error":{"code","message","field"?}}` with a 4xx status for anything the caller sent wrong.
//! The web console's static files (`crate::console`) are merged in beside `/v1`, without a
//! token: they hold no data.

mod audit;
mod auth;
mod ballistics;
mod cases;
mod error;
mod firearms;
mod notices;
mod operations;
mod queries;
mod status;
mod users;

use std::net::SocketAddr;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::sync::watch;

pub use error::{ApiError, ApiJson, MAX_JSON_BYTES};

use crate::node::NodeHandle;

/// Largest request body the API reads: X3P uploads and firearm imports. Every other route
/// takes JSON of at most `MAX_JSON_BYTES`.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// How the API is exposed, from the `[api]` config section.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiOptions {
    /// Serve `/metrics` without the token (for scrapers on a trusted network).
    pub metrics_public: bool,
}

/// Builds the router for `node`.
pub fn router(node: NodeHandle, options: ApiOptions) -> Router {
    let v1 = Router::new()
        .route("/status", get(status::status))
        .route("/peers", get(status::peers))
        .route("/notices", post(notices::issue).get(notices::list))
        .route("/notices/{id}", get(notices::show).patch(notices::update))
        .route("/notices/{id}/cancel", post(notices::cancel))
        .merge(firearms::routes())
        .merge(queries::routes())
        .merge(cases::routes())
        .merge(ballistics::routes())
        .merge(operations::routes())
        .merge(audit::routes())
        .merge(users::routes())
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            node.clone(),
            auth::authorise,
        ));
    let mut metrics_route = get(metrics);
    if !options.metrics_public {
        metrics_route = metrics_route.layer(middleware::from_fn_with_state(
            node.clone(),
            auth::authorise,
        ));
    }
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", metrics_route)
        .nest("/v1", v1)
        .merge(crate::console::routes())
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(node)
}

async fn no_such_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
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

/// Why listening on `addr` deserves a warning, if it does: the API speaks plain HTTP, so
/// anywhere but loopback its token and answers cross the network readable.
fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "the API listens on {addr}, beyond loopback, over plain HTTP (no TLS): its token and \
             answers cross the network readable; bind api.listen to 127.0.0.1 and put a \
             TLS-terminating proxy in front of it"
        )
    })
}

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    options: ApiOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Some(warning) = listener.local_addr().ok().and_then(exposure_warning) {
        tracing::warn!("{warning}");
    }
    let app = router(node, options);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!("API server stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_api_goes_unwarned() {
        for quiet in ["127.0.0.1:7470", "[::1]:7470"] {
            let addr: SocketAddr = quiet.parse().expect("test address");
            assert_eq!(exposure_warning(addr), None, "{quiet}");
        }
        for loud in ["0.0.0.0:7470", "10.1.2.3:7470", "[::]:7470"] {
            let addr: SocketAddr = loud.parse().expect("test address");
            let warning = exposure_warning(addr).expect(loud);
            assert!(warning.contains("TLS"), "{warning}");
        }
    }
}
