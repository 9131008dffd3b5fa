//! `/v1/cases`: the Firearms Recovery Protocol as one case per recovered firearm (or fired
//! ammunition): open it, read its steps, leads and indicators, record the manual steps,
//! attach exhibits, and read the lead report (JSON or HTML).

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiError, ApiJson,
    error::{ApiQuery, NoQuery, PathId},
};
use crate::{
    cases::{self, CaseError, CaseInput},
    node::NodeHandle,
};

/// The case routes.
pub(super) fn routes() -> Router<NodeHandle> {
    Router::new()
        .route("/cases", post(create).get(list))
        .route("/cases/{id}", get(show))
        .route("/cases/{id}/steps/{step}", post(record_step))
        .route("/cases/{id}/exhibits", post(attach))
        .route("/cases/{id}/report", get(report))
}

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::Field { field, message } => ApiError::field(field, message),
            CaseError::NotFound => ApiError::not_found("no such case"),
            CaseError::Store(e) => ApiError::internal(e),
        }
    }
}

async fn create(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(input): ApiJson<CaseInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let view = node.cases.create(input).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<usize>,
}

async fn list(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > cases::MAX_LIST {
        return Err(ApiError::field(
            "limit",
            format!("must be 1 to {}", cases::MAX_LIST),
        ));
    }
    Ok(Json(json!(node.cases.list(limit)?)))
}

async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let cases = node.cases.clone();
    // Reading a case reads its traces, queries and the cases it is compared with.
    let view = tokio::task::spawn_blocking(move || cases.show(&id))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(view))
}

/// Body of `POST /v1/cases/{id}/steps/{n}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepRecord {
    state: String,
    #[serde(default)]
    notes: String,
}

async fn record_step(
    State(node): State<NodeHandle>,
    Path((id, step)): Path<(String, String)>,
    _: NoQuery,
    ApiJson(body): ApiJson<StepRecord>,
) -> Result<Json<Value>, ApiError> {
    let step: u8 = step
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=9).contains(n))
        .ok_or_else(|| ApiError::field("step", "a step number from 1 to 9"))?;
    Ok(Json(
        node.cases
            .record_step(&id, step, body.state.trim(), &body.notes)
            .await?,
    ))
}

/// Body of `POST /v1/cases/{id}/exhibits`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Attach {
    exhibits: Vec<String>,
}

async fn attach(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    ApiJson(body): ApiJson<Attach>,
) -> Result<Json<Value>, ApiError> {
    if body.exhibits.is_empty() {
        return Err(ApiError::field("exhibits", "name at least one exhibit"));
    }
    if body.exhibits.len() > cases::MAX_EXHIBITS {
        return Err(ApiError::field(
            "exhibits",
            format!("at most {} exhibits", cases::MAX_EXHIBITS),
        ));
    }
    Ok(Json(node.cases.attach(&id, body.exhibits).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    format: Option<String>,
}

async fn report(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    ApiQuery(p): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let html = match p.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => return Err(ApiError::field("format", "json or html")),
    };
    let cases = node.cases.clone();
    let report = tokio::task::spawn_blocking(move || cases.report(&id))
        .await
        .map_err(ApiError::internal)??;
    if html {
        let page = cases::report_html(&report);
        return Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response());
    }
    Ok(Json(report).into_response())
}
