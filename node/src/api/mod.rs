//! The HTTP API: axum routes, one module per resource, a user's token and a role check on every
//! `/v1` route (and on `/metrics` unless configured public; see `auth` and the permission table
//! in `accounts`), and JSON errors
//! `{"error":{"code","message","field"?}}` with a 4xx status for anything the caller sent wrong.
//! Every route is added through utoipa-axum's `OpenApiRouter` (`routes!`), so the OpenAPI
//! document served at `GET /openapi.json` (`openapi`) lists exactly what is routed.
//! The web console's static files (`crate::console`) are merged in beside `/v1`, without a
//! token: they hold no data.

mod analysis;
mod audit;
mod auth;
mod ballistics;
mod cases;
mod error;
mod firearms;
mod maintenance;
mod notices;
mod observe;
mod openapi;
mod operations;
mod paging;
mod queries;
mod status;
mod traces;
mod users;

use std::net::SocketAddr;

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};
use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::watch;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::{ApiError, ApiJson, MAX_JSON_BYTES};
pub use paging::{DEFAULT_LIMIT, MAX_LIMIT};

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

/// Every `/v1` route. Each is added here through `OpenApiRouter::routes` (`routes!`), never
/// with `.route(..)`, which would serve it undocumented (tests/tests/openapi.rs and the
/// permission table's test fail on such a route).
fn v1_routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .merge(status::routes())
        .merge(notices::routes())
        .merge(firearms::routes())
        .merge(traces::routes())
        .merge(queries::routes())
        .merge(cases::routes())
        .merge(ballistics::routes())
        .merge(operations::routes())
        .merge(audit::routes())
        .merge(users::routes())
        .merge(maintenance::routes())
        .merge(analysis::routes())
}

/// The routes outside `/v1` served without a token: `/healthz` and `/openapi.json`.
fn public_routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(openapi::openapi_json))
}

/// `/metrics` (guarded by the token unless configured public).
fn metrics_routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The OpenAPI document of every route the API serves, as `GET /openapi.json` answers it.
pub fn document(options: ApiOptions) -> utoipa::openapi::OpenApi {
    let (_, v1) = v1_routes().split_for_parts();
    let (_, root) = public_routes().merge(metrics_routes()).split_for_parts();
    openapi::finish(root.nest("/v1", v1), options)
}

/// Builds the router for `node`, `GET /openapi.json` included.
pub fn router(node: NodeHandle, options: ApiOptions) -> Router {
    let (v1, v1_doc) = v1_routes().split_for_parts();
    let v1 = v1
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            node.clone(),
            auth::authorise,
        ))
        .layer(middleware::from_fn_with_state(
            node.clone(),
            observe::observe,
        ));
    let mut metrics = metrics_routes();
    if !options.metrics_public {
        metrics = metrics.route_layer(middleware::from_fn_with_state(
            node.clone(),
            auth::authorise,
        ));
    }
    let (root, root_doc) = public_routes().merge(metrics).split_for_parts();
    let doc = openapi::finish(root_doc.nest("/v1", v1_doc), options);
    let json = match doc.to_json() {
        Ok(json) => json,
        Err(e) => {
            tracing::error!("cannot write the OpenAPI document: {e}");
            String::from("{}")
        }
    };
    root.nest("/v1", v1)
        .merge(crate::console::routes())
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(openapi::OpenApiJson(json.into())))
        .with_state(node)
}

/// `GET /healthz`: the node is up (no token needed).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "node",
    responses((status = 200, description = "The node is up", body = inline(openapi::Text), content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
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

/// `GET /metrics`: Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    responses((
        status = 200,
        description = "Prometheus metrics (OpenMetrics text). Needs a token unless `[api] metrics_public`",
        body = inline(openapi::Text),
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    ))
)]
async fn metrics(State(node): State<NodeHandle>) -> Response {
    node.refresh_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics.render(),
    )
        .into_response()
}

/// The API's TLS configuration from its PEM files, with the ring provider (the one libp2p
/// builds already) installed for the process first.
pub async fn load_tls(files: &crate::config::TlsFiles) -> std::io::Result<RustlsConfig> {
    // Fails only when a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(&files.cert, &files.key).await
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

/// Serves the API on `listener` until `shutdown` turns true: HTTPS when `tls` is given, else
/// plain HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    options: ApiOptions,
    tls: Option<RustlsConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let app = router(node, options);
    match tls {
        Some(tls) => serve_https(listener, app, tls, shutdown).await,
        None => serve_http(listener, app, shutdown).await,
    }
}

/// Serves HTTPS: each connection in its own task, its handshake bounded in time, so that a
/// slow or silent client cannot hold up others.
async fn serve_https(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: RustlsConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match listener.into_std() {
        Ok(l) => l,
        Err(e) => return tracing::error!("API server not started: {e}"),
    };
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    });
    let server = match axum_server::tls_rustls::from_tcp_rustls(listener, tls) {
        Ok(server) => server,
        Err(e) => return tracing::error!("API server not started: {e}"),
    };
    if let Err(e) = server.handle(handle).serve(app.into_make_service()).await {
        tracing::error!("API server stopped: {e}");
    }
}

async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Some(warning) = listener.local_addr().ok().and_then(exposure_warning) {
        tracing::warn!("{warning}");
    }
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
