//! The request metrics layer: every `/v1` answer counted by method, matched route and status,
//! and its latency observed, in `striae_http_requests_total` and
//! `striae_http_request_duration_seconds`.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};

use crate::node::NodeHandle;

/// The layer. It sits outside `auth::authorise`, so refused requests are counted too.
pub(super) async fn observe(
    State(node): State<NodeHandle>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    node.metrics.http(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a label from a fixed set: a caller may send any token as a method, and each
/// new one would otherwise be a new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
