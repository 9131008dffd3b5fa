//! `/v1/cases`: the Firearms Recovery Protocol as one case per recovered firearm (or fired
//! ammunition): open it, read its steps, leads and indicators, record the manual steps,
//! attach exhibits, and read the lead report (JSON or HTML).

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{ApiQuery, NoQuery, PathId},
    openapi::{ObjectList, Text},
    paging::{LimitParam, NoParams, Paged},
};
use crate::{
    cases::{self, CaseError, CaseInput},
    node::NodeHandle,
};

/// The case routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show))
        .routes(routes!(record_step))
        .routes(routes!(attach))
        .routes(routes!(report))
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

/// `POST /v1/cases`: opens a case.
#[utoipa::path(
    post,
    path = "/cases",
    tag = "cases",
    request_body = CaseInput,
    responses((status = 201, description = "The case as opened (its automatic steps run in the background)", body = inline(Object)))
)]
async fn create(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(input): ApiJson<CaseInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let view = node.cases.create(input).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/cases`: lists the cases.
#[utoipa::path(
    get,
    path = "/cases",
    tag = "cases",
    params(LimitParam),
    responses((status = 200, description = "The cases, newest first", body = inline(ObjectList)))
)]
async fn list(
    State(node): State<NodeHandle>,
    page: Paged<NoParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(node.cases.list(page.limit)?)))
}

/// `GET /v1/cases/{id}`: shows a case.
#[utoipa::path(
    get,
    path = "/cases/{id}",
    tag = "cases",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The case id (32 hexadecimal characters)")),
    responses((status = 200, description = "The case with its steps, leads and indicators", body = inline(Object)))
)]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StepRecord {
    /// The step's new state: `done`, `not_applicable`, `failed` or `manual`.
    #[schema(pattern = "^(done|not_applicable|failed|manual)$")]
    state: String,
    /// Notes.
    #[serde(default)]
    notes: String,
}

/// `POST /v1/cases/{id}/steps/{step}`: records a manual step of a case.
#[utoipa::path(
    post,
    path = "/cases/{id}/steps/{step}",
    tag = "cases",
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The case id (32 hexadecimal characters)"),
        ("step" = u8, Path, minimum = 1, maximum = 9, description = "The step of the protocol, 1 to 9"),
    ),
    request_body = StepRecord,
    responses((status = 200, description = "The case", body = inline(Object)))
)]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Attach {
    /// This node's exhibit ids (1 to the most a case holds).
    #[schema(min_items = 1)]
    exhibits: Vec<String>,
}

/// `POST /v1/cases/{id}/exhibits`: attaches exhibits to a case.
#[utoipa::path(
    post,
    path = "/cases/{id}/exhibits",
    tag = "cases",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The case id (32 hexadecimal characters)")),
    request_body = Attach,
    responses((status = 200, description = "The case", body = inline(Object)))
)]
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportParams {
    /// `json` (the default) or `html`.
    #[param(pattern = "^(json|html)$")]
    format: Option<String>,
}

/// `GET /v1/cases/{id}/report`: the lead report of a case, JSON or HTML.
#[utoipa::path(
    get,
    path = "/cases/{id}/report",
    tag = "cases",
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The case id (32 hexadecimal characters)"),
        ReportParams,
    ),
    responses((
        status = 200,
        description = "The lead report with the audit records behind each disclosure",
        content((Object = "application/json"), (Text = "text/html"))
    ))
)]
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
