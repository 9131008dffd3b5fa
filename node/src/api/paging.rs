//! The one limit rule of every list route: `limit` is a whole number from 1 to `MAX_LIMIT`
//! (1,000), 100 when left out, and anything else is refused naming `limit` (never clamped).
//! `Paged<T>` reads it from the query string beside the route's other parameters `T`.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::{Deserialize, de::DeserializeOwned};
use utoipa::IntoParams;

use super::{
    ApiError,
    error::{MAX_ID_CHARS, query_error},
};

/// Most items one list answer carries.
pub const MAX_LIMIT: usize = 1_000;
/// Items a list answer carries when the caller names no `limit`.
pub const DEFAULT_LIMIT: usize = 100;

/// The `limit` parameter, for the OpenAPI document (`Paged` reads it).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct LimitParam {
    /// Most items in the answer: 1 to 1,000, 100 when left out.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
}

/// The query parameters of a route that takes none but `limit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoParams {}

/// A list route's query: `limit` by the one rule, and the route's other parameters `T`
/// (which should deny unknown fields, so a misspelt parameter is refused, not ignored).
#[derive(Debug)]
pub(super) struct Paged<T> {
    /// The number of items asked for, 1 to `MAX_LIMIT`.
    pub(super) limit: usize,
    /// The other parameters.
    pub(super) params: T,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Paged<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let mut limit = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != "limit" {
                rest.push(pair);
                continue;
            }
            if limit.is_some() {
                return Err(ApiError::field("limit", "is given twice"));
            }
            limit = Some(parse_limit(value)?);
        }
        let uri: axum::http::Uri = format!("/?{}", rest.join("&"))
            .parse()
            .map_err(|_| ApiError::field("query", "is not a valid query string"))?;
        let Query(params) = Query::<T>::try_from_uri(&uri).map_err(|e| query_error(&e))?;
        Ok(Paged {
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            params,
        })
    }
}

/// A query string's value, percent-decoded (`+` is a space); `None` if it is not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A `limit` value as written in the query string.
fn parse_limit(text: &str) -> Result<usize, ApiError> {
    let refused = || {
        ApiError::field(
            "limit",
            format!("must be a whole number from 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        )
    };
    if text.len() > MAX_ID_CHARS {
        return Err(refused());
    }
    match decode(text).ok_or_else(refused)?.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        status: Option<String>,
    }

    async fn paged(query: &str) -> Result<Paged<Filter>, ApiError> {
        let request = axum::http::Request::get(format!("/x?{query}"))
            .body(())
            .expect("test request");
        let (mut parts, ()) = request.into_parts();
        Paged::<Filter>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn limit_is_1_to_1000_and_100_by_default() {
        let page = paged("").await.expect("no query");
        assert_eq!((page.limit, page.params.status), (DEFAULT_LIMIT, None));
        let page = paged("status=active&limit=1000").await.expect("valid");
        assert_eq!(
            (page.limit, page.params.status.as_deref()),
            (1000, Some("active"))
        );
        assert_eq!(paged("limit=1").await.expect("one").limit, 1);
        assert_eq!(paged("limit=1%30").await.expect("encoded").limit, 10);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=",
            "limit=ten",
            "limit=-1",
            "limit=1.5",
            "limit=99999999999999999999999",
            "limit=5&limit=5",
            "limt=5",
            "status=a&status=b",
        ] {
            let e = paged(bad).await.expect_err(bad);
            let field = e.field_name().unwrap_or_default().to_string();
            assert!(
                ["limit", "limt", "status"].contains(&field.as_str()),
                "{bad}: {e:?}"
            );
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
