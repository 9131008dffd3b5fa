//! `/v1/analysis`: network statistics from every member's published aggregates (summary,
//! routes, trends, time to crime; JSON, `?format=csv`, or `?format=svg` for a picture), the
//! notices the figures suggest, and publishing this node's own aggregate now.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use striae_protocol::analysis::Period;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError,
    error::{ApiQuery, NoQuery},
    openapi::Text,
    paging::{LimitParam, Paged},
};
use crate::{
    analysis::{
        AnalysisError, compute, metric, pictures,
        report::{
            self, MemberAggregate, RouteFilter, Routes, Summary, TREND_METRICS, TimeToCrime, Trend,
        },
        threats::{self, Drafts},
    },
    node::NodeHandle,
};

/// Months a default period covers (the last twelve, this one included).
const DEFAULT_MONTHS: u32 = 12;
/// Most months one answer covers (ten years).
const MAX_MONTHS: u32 = 120;
/// Longest make, type or country filter.
const MAX_FILTER_CHARS: usize = 64;

/// The analysis routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(legs))
        .routes(routes!(trends))
        .routes(routes!(time_to_crime))
        .routes(routes!(drafts))
        .routes(routes!(publish))
}

impl From<AnalysisError> for ApiError {
    fn from(e: AnalysisError) -> Self {
        ApiError::internal(e)
    }
}

/// How an answer is written: `?format=`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    /// A picture (`analysis::pictures`), for the console and for reports.
    Svg,
}

fn format_of(format: Option<&str>) -> Result<Format, ApiError> {
    match format {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some("svg") => Ok(Format::Svg),
        Some(_) => Err(ApiError::field("format", "json, csv or svg")),
    }
}

/// `value` in the format asked for: its CSV and SVG forms are made only when asked.
fn answer<T: Serialize>(
    format: Format,
    value: &T,
    as_csv: impl FnOnce(&T) -> String,
    as_svg: impl FnOnce(&T) -> String,
) -> Response {
    match format {
        Format::Json => Json(value).into_response(),
        Format::Csv => csv(as_csv(value)),
        Format::Svg => svg(as_svg(value)),
    }
}

/// `text` with its first letter in capitals (a metric's name as a chart's title).
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

fn svg(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn period_param(name: &str, text: Option<&str>) -> Result<Option<Period>, ApiError> {
    text.map(|t| {
        Period::parse(t.trim())
            .ok_or_else(|| ApiError::field(name, "a month written YYYY-MM (2000-01 to 9999-12)"))
    })
    .transpose()
}

/// `[from, to]` from the query: by default the twelve months up to this one.
fn range(from: Option<&str>, to: Option<&str>) -> Result<(Period, Period), ApiError> {
    let to = period_param("to", to)?.unwrap_or_else(compute::current_period);
    let from = match period_param("from", from)? {
        Some(from) => from,
        None => {
            let mut from = to;
            for _ in 1..DEFAULT_MONTHS {
                from = previous(from);
            }
            from
        }
    };
    if from > to {
        return Err(ApiError::field("from", "must not be after `to`"));
    }
    if to.index() - from.index() >= MAX_MONTHS {
        return Err(ApiError::field(
            "from",
            format!("at most {MAX_MONTHS} months before `to`"),
        ));
    }
    Ok((from, to))
}

fn previous(p: Period) -> Period {
    match p.month {
        1 => Period::new(p.year.saturating_sub(1), 12).unwrap_or(p),
        m => Period::new(p.year, m - 1).unwrap_or(p),
    }
}

fn filter(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_FILTER_CHARS || value.chars().any(char::is_control) {
        return Err(ApiError::field(
            name,
            format!("at most {MAX_FILTER_CHARS} characters, no control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

fn held(node: &NodeHandle, from: Period, to: Period) -> Vec<MemberAggregate> {
    node.analysis
        .projection
        .between(from, to, |b| node.country_of(b))
}

/// Query of the drafts.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DraftsParams {
    /// The month looked at, `YYYY-MM` (default: this month); the rules also read the months
    /// before it.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    to: Option<String>,
}

/// `GET /v1/analysis/drafts`: draft Orange and Purple notices for the patterns in the
/// members' aggregates that cross a threshold (a disguised firearm type reported by several
/// members, a route rising sharply), with the figures behind them. Nothing is issued: an
/// officer reviews a draft and issues it with `POST /v1/notices`.
#[utoipa::path(
    get,
    path = "/analysis/drafts",
    tag = "analysis",
    params(DraftsParams),
    responses((status = 200, description = "The proposed notices and their evidence", body = Drafts))
)]
async fn drafts(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<DraftsParams>,
) -> Result<Json<Drafts>, ApiError> {
    let to = period_param("to", p.to.as_deref())?.unwrap_or_else(compute::current_period);
    let from =
        (0..threats::BASELINE_MONTHS.max(threats::SPREAD_MONTHS)).fold(to, |p, _| previous(p));
    Ok(Json(threats::drafts(&held(&node, from, to), to)))
}

/// Query of the summary.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SummaryParams {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    to: Option<String>,
    /// Only the members of this country (ISO 3166-1 alpha-2).
    country: Option<String>,
    /// `json` (the default), `csv` (`section,key,value` rows) or `svg` (a bar chart of the
    /// breakdown `chart` names).
    #[param(pattern = "^(json|csv|svg)$")]
    format: Option<String>,
    /// With `format=svg`: `by_status` (the default), `by_type`, `by_make`, `by_country` or
    /// `recoveries`.
    #[param(pattern = "^(by_status|by_type|by_make|by_country|recoveries)$")]
    chart: Option<String>,
}

/// `GET /v1/analysis/summary`: totals and breakdowns across the members that published
/// aggregates for the period.
#[utoipa::path(
    get,
    path = "/analysis/summary",
    tag = "analysis",
    params(SummaryParams),
    responses((
        status = 200,
        description = "Totals and breakdowns across the reporting members",
        content((Summary = "application/json"), (Text = "text/csv"), (Text = "image/svg+xml"))
    ))
)]
async fn summary(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<SummaryParams>,
) -> Result<Response, ApiError> {
    let format = format_of(p.format.as_deref())?;
    let chart = p.chart.as_deref().unwrap_or("by_status");
    if !pictures::SUMMARY_CHARTS
        .iter()
        .any(|(name, _)| *name == chart)
    {
        let names = pictures::SUMMARY_CHARTS.map(|(name, _)| name).join(", ");
        return Err(ApiError::field("chart", format!("one of {names}")));
    }
    let (from, to) = range(p.from.as_deref(), p.to.as_deref())?;
    let country = filter("country", p.country.as_deref())?;
    let s = report::summary(&held(&node, from, to), from, to, country.as_deref());
    Ok(answer(format, &s, report::summary_csv, |s| {
        pictures::summary_svg(s, chart).unwrap_or_default()
    }))
}

/// Query of the routes.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RoutesParams {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    to: Option<String>,
    /// Only firearms of this make (canonical name, any case).
    make: Option<String>,
    /// Only firearms of this type (`pistol`, ...).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    firearm_type: Option<String>,
    /// `json` (the default), `csv` (`from,to,count,makes,types` rows) or `svg` (a map of
    /// the legs).
    #[param(pattern = "^(json|csv|svg)$")]
    format: Option<String>,
}

/// `GET /v1/analysis/routes`: the legs (country to country) recovered and traced firearms
/// are known to have travelled, summed across members, the `limit` most travelled.
#[utoipa::path(
    get,
    path = "/analysis/routes",
    tag = "analysis",
    params(RoutesParams, LimitParam),
    responses((
        status = 200,
        description = "The legs, most travelled first",
        content((Routes = "application/json"), (Text = "text/csv"), (Text = "image/svg+xml"))
    ))
)]
async fn legs(
    State(node): State<NodeHandle>,
    page: Paged<RoutesParams>,
) -> Result<Response, ApiError> {
    let (p, limit) = (page.params, page.limit);
    let format = format_of(p.format.as_deref())?;
    let (from, to) = range(p.from.as_deref(), p.to.as_deref())?;
    let make = filter("make", p.make.as_deref())?;
    let firearm_type = filter("type", p.firearm_type.as_deref())?;
    let filter = RouteFilter {
        make: make.as_deref(),
        firearm_type: firearm_type.as_deref(),
    };
    let r = report::routes(&held(&node, from, to), from, to, &filter, limit);
    let selection = [("make", &make), ("type", &firearm_type)]
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(answer(format, &r, report::routes_csv, |r| {
        pictures::routes_svg(r, &selection)
    }))
}

/// Query of the trends.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TrendParams {
    /// `records`, `recoveries`, `checks`, `hits`, `traces_sent`, `trace_answers`,
    /// `trace_requests`, `searches`, `confirmations`, `leads`, `seizures`, `seized_items` or
    /// `routes` (firearms counted on legs).
    metric: Option<String>,
    /// `month` (the only one).
    #[param(pattern = "^month$")]
    by: Option<String>,
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    to: Option<String>,
    /// `json` (the default), `csv` (`period,value,members_reporting` rows) or `svg` (a line
    /// chart).
    #[param(pattern = "^(json|csv|svg)$")]
    format: Option<String>,
}

/// `GET /v1/analysis/trends`: one metric's total per month across the members.
#[utoipa::path(
    get,
    path = "/analysis/trends",
    tag = "analysis",
    params(TrendParams),
    responses((
        status = 200,
        description = "The metric per month, oldest first",
        content((Trend = "application/json"), (Text = "text/csv"), (Text = "image/svg+xml"))
    ))
)]
async fn trends(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<TrendParams>,
) -> Result<Response, ApiError> {
    let format = format_of(p.format.as_deref())?;
    if p.by.as_deref().is_some_and(|b| b != "month") {
        return Err(ApiError::field("by", "`month` is the only one"));
    }
    let (from, to) = range(p.from.as_deref(), p.to.as_deref())?;
    let name = p.metric.as_deref().unwrap_or("records");
    let known = || TREND_METRICS.map(|(n, _, _)| n).join(", ");
    let t = report::trends(&held(&node, from, to), name, from, to)
        .ok_or_else(|| ApiError::field("metric", format!("one of {}", known())))?;
    let label = capitalised(&name.replace('_', " "));
    Ok(answer(format, &t, report::trend_csv, |t| {
        pictures::trend_svg(t, &label)
    }))
}

/// Query of the time to crime.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RangeParams {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    to: Option<String>,
    /// `json` (the default), `csv` (`bucket,network,own` rows) or `svg` (a bar chart of the
    /// network's figures).
    #[param(pattern = "^(json|csv|svg)$")]
    format: Option<String>,
}

/// `GET /v1/analysis/time-to-crime`: how long firearms went from their last legal transfer
/// to their recovery, across the members' aggregates and at this node.
#[utoipa::path(
    get,
    path = "/analysis/time-to-crime",
    tag = "analysis",
    params(RangeParams),
    responses((
        status = 200,
        description = "The distribution by bucket, the network's and this node's own",
        content((TimeToCrime = "application/json"), (Text = "text/csv"), (Text = "image/svg+xml"))
    ))
)]
async fn time_to_crime(
    State(node): State<NodeHandle>,
    ApiQuery(p): ApiQuery<RangeParams>,
) -> Result<Response, ApiError> {
    let format = format_of(p.format.as_deref())?;
    let (from, to) = range(p.from.as_deref(), p.to.as_deref())?;
    let own = node.analysis.own(from, to).await?;
    let own = own
        .counts
        .get(metric::TIME_TO_CRIME)
        .cloned()
        .unwrap_or_default();
    let t = report::time_to_crime(&held(&node, from, to), from, to, own);
    Ok(answer(
        format,
        &t,
        report::time_to_crime_csv,
        pictures::time_to_crime_svg,
    ))
}

/// What a publication published.
#[derive(Serialize, ToSchema)]
pub(super) struct Published {
    /// The month, `YYYY-MM`.
    period: String,
    /// The threshold applied.
    min_count: u32,
    /// Counts published (those below the threshold were suppressed or merged into `other`).
    counts: usize,
    /// Route legs published.
    legs: usize,
}

/// `POST /v1/analysis/publish`: publishes this node's aggregate for the current month now
/// (replacing the month's earlier one; the previous month too when it has not been
/// published since it ended).
#[utoipa::path(
    post,
    path = "/analysis/publish",
    tag = "analysis",
    responses((status = 200, description = "Published", body = Published))
)]
async fn publish(State(node): State<NodeHandle>, _: NoQuery) -> Result<Json<Published>, ApiError> {
    let a = node.analysis.publish_current().await?;
    Ok(Json(Published {
        period: a.period.to_string(),
        min_count: a.min_count,
        counts: a.counts.len(),
        legs: a.routes.len(),
    }))
}
