//! API errors and the extractors that turn anything a caller sends wrong into one: JSON bodies
//! (capped, parse errors naming the field), uploads, query strings and path ids.

use axum::{
    Json,
    body::Body,
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::{Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

/// Largest JSON body a route reads (uploads and imports take up to `MAX_BODY_BYTES`): far
/// above any valid request, small enough that a flood of them cannot exhaust memory.
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// Longest path id read; every id the API hands out is 32 hexadecimal characters.
pub(super) const MAX_ID_CHARS: usize = 128;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// The methods a 405's `Allow` header lists.
    allow: Option<String>,
}

impl ApiError {
    /// An error with a status, a stable code and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            allow: None,
        }
    }

    /// 405, naming the methods the route takes in the `Allow` header.
    pub fn method_not_allowed(allow: &[&str]) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route takes {}", allow.join(", ")),
        );
        e.allow = Some(allow.join(", "));
        e
    }

    /// 400: a field of the request is missing or wrong.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", "").naming(field, message)
    }

    /// This error, about `field`: the message is prefixed with the field's name.
    fn naming(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        self.message = format!("{field}: {}", message.into());
        self.field = Some(field);
        self
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The field the error names, if any.
    pub fn field_name(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413: the body is over the route's cap.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "")
            .naming("body", format!("is larger than {limit} bytes"))
    }

    /// 415: the body's `Content-Type` is not one the route reads.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "",
        )
        .naming("content-type", message)
    }

    /// 500: a bug or a failing disk, never the caller's fault.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {message}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {message}"),
        )
    }
}

/// The body of every error answer: `{"error":{"code","message","field"?}}` (the OpenAPI
/// document's `ApiError` schema is derived from it).
#[derive(Serialize, ToSchema)]
#[schema(as = ApiError)]
pub(super) struct ErrorAnswer {
    /// What went wrong.
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(super) struct ErrorDetail {
    /// A stable code: `invalid_field`, `not_found`, `unauthorized`, `forbidden`, `conflict`,
    /// `body_too_large`, `unsupported_media_type`, `method_not_allowed`, `unavailable`...
    code: &'static str,
    /// For people; starts with the field's name when one is named.
    message: String,
    /// The field, query parameter, path parameter or header at fault (`limit`,
    /// `history[0].date`, `body`, `content-type`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let answer = ErrorAnswer {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(answer)).into_response();
        if let Some(allow) = self
            .allow
            .and_then(|a| header::HeaderValue::from_str(&a).ok())
        {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::core::CoreError> for ApiError {
    fn from(e: crate::core::CoreError) -> Self {
        use crate::core::CoreError;
        match e {
            CoreError::CatchingUp | CoreError::Stopped => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            CoreError::Frozen => Self::new(StatusCode::CONFLICT, "feed_frozen", e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

// ---------------------------------------------------------------- bodies

/// Reads a body of at most `limit` bytes. A declared `Content-Length` over the cap is refused
/// before anything is read; a chunked body is refused as soon as it passes the cap.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::field("body", format!("could not be read: {e}")))?;
        if buffer.len().saturating_add(chunk.len()) > limit {
            return Err(ApiError::body_too_large(limit));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
}

/// Refuses a declared `Content-Type` that is not JSON. A body sent without one is read as
/// JSON (the command line and scripts often leave it out).
fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match mime {
        Some(m)
            if m == "application/json"
                || (m.starts_with("application/") && m.ends_with("+json")) =>
        {
            Ok(())
        }
        _ => Err(ApiError::unsupported_media_type(
            "this route reads JSON: send `Content-Type: application/json`",
        )),
    }
}

/// The body of a JSON route: capped at `MAX_JSON_BYTES`, `None` when empty or blank.
async fn json_bytes(req: Request) -> Result<Option<Vec<u8>>, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, MAX_JSON_BYTES).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    require_json_content_type(&parts.headers)?;
    Ok(Some(bytes))
}

/// A JSON body whose parse errors name the field (`expires_at`, `history[2].date`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        match json_bytes(req).await? {
            Some(bytes) => parse_json(&bytes).map(ApiJson),
            None => Err(ApiError::field("body", "is missing: send a JSON object")),
        }
    }
}

/// A JSON body that may be left out (or blank), which reads as `T::default()`.
pub(super) struct OptionalJson<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        match json_bytes(req).await? {
            Some(bytes) => parse_json(&bytes).map(OptionalJson),
            None => Ok(OptionalJson(T::default())),
        }
    }
}

/// A raw upload (X3P scans, CSV and NDJSON imports), up to `MAX_BODY_BYTES`.
pub(super) struct Upload(pub(super) Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        read_body(&parts.headers, body, super::MAX_BODY_BYTES)
            .await
            .map(Upload)
    }
}

/// A raw upload with its declared `Content-Type` (a bullet's lands come as multipart or zip).
pub(super) struct TypedUpload {
    /// The declared content type, if any.
    pub(super) content_type: Option<String>,
    /// The body.
    pub(super) bytes: Vec<u8>,
}

impl<S: Send + Sync> FromRequest<S> for TypedUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_body(&parts.headers, body, super::MAX_BODY_BYTES).await?;
        Ok(TypedUpload {
            content_type,
            bytes,
        })
    }
}

/// Parses JSON, naming the failing field in the error.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body the API reads is an object; serde would also fill a struct from a list, by
    // position, which no caller means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field("body", "expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // Broken or truncated JSON is the body's fault, wherever the parser stopped (the
        // path there may be a half-read key, shown as `?`).
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::field("body", message);
        }
        ApiError::field(field_of(&path, &message, "body"), message)
    })?;
    de.end()
        .map_err(|e| ApiError::field("body", e.to_string()))?;
    Ok(value)
}

/// The field a serde error is about: the one its message names (serde names a missing,
/// unknown or repeated field only there: "missing field `title` at ..."), under the path where
/// it happened, else the path itself, else `whole` (the body, the query).
pub(super) fn field_of(path: &str, message: &str, whole: &str) -> String {
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    // `?` stands for a segment serde_path_to_error could not name.
    let at_top = path == "." || path.is_empty() || path.contains('?');
    match (named, at_top) {
        (Some(name), true) => name.to_string(),
        (Some(name), false) if !path.ends_with(name) => format!("{path}.{name}"),
        (_, false) => path.to_string(),
        (None, true) => whole.to_string(),
    }
}

// ---------------------------------------------------------------- query strings

/// Query parameters whose errors name the parameter (`limit`), and that refuse parameters
/// the route does not take when `T` denies unknown fields.
pub(super) struct ApiQuery<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| query_error(&rejection))
    }
}

/// The error for a query string that does not deserialize. axum keeps serde's error, with its
/// path, as the source of its rejection: the parameter is named from there.
pub(super) fn query_error(rejection: &axum::extract::rejection::QueryRejection) -> ApiError {
    type QueryDeError = serde_path_to_error::Error<serde::de::value::Error>;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if let Some(e) = error.downcast_ref::<QueryDeError>() {
            let message = e.inner().to_string();
            let field = field_of(&e.path().to_string(), &message, "query");
            return ApiError::field(field, message);
        }
        source = error.source();
    }
    ApiError::field("query", rejection.body_text())
}

/// For routes that take no query parameters: refuses any, so a misspelt or misplaced one is
/// not silently ignored.
pub(super) struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let Some(first) = query.split('&').find(|pair| !pair.is_empty()) else {
            return Ok(NoQuery);
        };
        let name = first.split('=').next().unwrap_or_default();
        let name: String = name.chars().take(MAX_ID_CHARS).collect();
        let field = if name.is_empty() {
            "query".into()
        } else {
            name
        };
        Err(ApiError::field(
            field,
            "unknown parameter; this route takes none",
        ))
    }
}

// ---------------------------------------------------------------- path ids

/// The `{id}` of a route's path, at most `MAX_ID_CHARS` characters; each route checks its
/// shape.
pub(super) struct PathId(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::field("id", e.body_text()))?;
        if id.chars().count() > MAX_ID_CHARS {
            return Err(ApiError::field(
                "id",
                format!(
                    "is longer than {MAX_ID_CHARS} characters; ids are 32 hexadecimal characters"
                ),
            ));
        }
        Ok(PathId(id))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: Option<usize>,
        status: Option<String>,
    }

    fn query(text: &str) -> Result<Page, ApiError> {
        let uri: axum::http::Uri = format!("/x?{text}").parse().expect("test uri");
        Query::<Page>::try_from_uri(&uri)
            .map(|Query(p)| p)
            .map_err(|r| query_error(&r))
    }

    #[test]
    fn query_errors_name_the_parameter() {
        for (text, field) in [
            ("limit=ten", "limit"),
            ("limit=-1", "limit"),
            ("limit=1.5", "limit"),
            ("limit=99999999999999999999999", "limit"),
            ("limit=", "limit"),
            ("limt=5", "limt"),
            ("limit=1&limit=2", "limit"),
        ] {
            let e = query(text).expect_err(text);
            assert_eq!(e.field.as_deref(), Some(field), "{text}: {e:?}");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
        let page = query("limit=5&status=active").expect("valid");
        assert_eq!(
            (page.limit, page.status.as_deref()),
            (Some(5), Some("active"))
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        title: String,
        history: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        date: String,
    }

    #[test]
    fn json_errors_name_the_field() {
        for (text, field) in [
            (r#"{"history":[]}"#, "title"),
            (r#"{"title":5,"history":[]}"#, "title"),
            (r#"{"title":"t","history":[{}]}"#, "history[0].date"),
            (
                r#"{"title":"t","history":[{"date":"d","x":1}]}"#,
                "history[0].x",
            ),
            (r#"{"title":"t","history":[],"colour":1}"#, "colour"),
            (r#"{"title":"t","title":"u","history":[]}"#, "title"),
            (r#"{"title":"t""#, "body"),
            ("[]", "body"),
            (r#"["t", []]"#, "body"),
            ("\"text\"", "body"),
        ] {
            let e = parse_json::<Outer>(text.as_bytes()).expect_err(text);
            assert_eq!(e.field.as_deref(), Some(field), "{text}: {e:?}");
        }
        let ok: Outer = parse_json(br#"{"title":"t","history":[{"date":"d"}]}"#).expect("valid");
        assert_eq!((ok.title.as_str(), ok.history[0].date.as_str()), ("t", "d"));
    }
}
