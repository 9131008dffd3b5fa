//! The web console: static HTML, CSS and JavaScript embedded in the binary and served at
//! `/console/` (with `/` redirecting there), outside the `/v1` token check. The files hold no
//! data; the page reads a user's token from the URL fragment (or a pasted one), keeps it in
//! `sessionStorage` and calls the `/v1` API with it like any other client. Every answer here
//! carries a strict `Content-Security-Policy`, `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` and `Cache-Control`. See `docs/console.md`.

mod assets;

use axum::{
    Router,
    extract::{Path, RawQuery},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

pub use assets::{ASSETS, Asset};

/// The policy every console answer carries: scripts, styles, fetches and frames only from this
/// origin; pictures also from `blob:` (fetched with the token) and `data:`; no plugins, no
/// `<base>`, no framing by other sites, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Where the console lives.
pub const PATH: &str = "/console/";

/// The console's routes: `/` and `/console` redirect to `/console/`, which serves the page,
/// and `/console/{file}` serves the other embedded files. Generic over the router's state so
/// that the API can merge it beside `/v1`; none of these routes needs a token.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/", get(index))
        .route("/console/{*file}", get(file))
}

/// Adds the console's security headers to `response`.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A plain-text answer with the security headers.
fn text(status: StatusCode, message: &'static str) -> Response {
    secured(
        (
            status,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            message,
        )
            .into_response(),
    )
}

async fn to_console() -> Response {
    secured(
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, PATH),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response(),
    )
}

/// Whether a query string carries a `token` parameter: a token in a URL's query reaches
/// server and proxy logs and the browser history, so the console refuses it and takes the
/// token from the fragment (never sent to the server) instead.
fn has_token_parameter(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            pair.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("token"))
        })
    })
}

/// The answer for an embedded file, or a 304 when the browser's copy is current.
fn serve(asset: &Asset, query: Option<&str>, request: &HeaderMap) -> Response {
    if has_token_parameter(query) {
        return text(
            StatusCode::BAD_REQUEST,
            "A token in the query string is not accepted: it would be written into logs and \
             history. Open /console/#token=YOUR_TOKEN (the fragment never leaves the browser), \
             or paste the token into the sign-in form.\n",
        );
    }
    let etag = asset.etag();
    let current = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let headers = [
        (header::CONTENT_TYPE, asset.content_type.to_string()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, etag),
    ];
    if current {
        return secured((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    secured((StatusCode::OK, headers, asset.bytes).into_response())
}

async fn index(RawQuery(query): RawQuery, request: HeaderMap) -> Response {
    match assets::find("index.html") {
        Some(asset) => serve(asset, query.as_deref(), &request),
        None => text(StatusCode::NOT_FOUND, "no such file\n"),
    }
}

async fn file(Path(file): Path<String>, RawQuery(query): RawQuery, request: HeaderMap) -> Response {
    match assets::find(&file) {
        Some(asset) => serve(asset, query.as_deref(), &request),
        None => text(StatusCode::NOT_FOUND, "no such file\n"),
    }
}

#[cfg(test)]
mod tests;
