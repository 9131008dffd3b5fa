//! `/v1/operations`: joint operations. Create one (this node coordinates it), list and show
//! the ones this node coordinates or was invited to, join, record seizures, list them and
//! report on them. An operation this node does not take part in is unknown here: every
//! route answers 404 for it exactly as for an id that names nothing.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use striae_protocol::{
    BureauId,
    firearm::RecordRef,
    operation::{
        ItemCategory, MAX_ARRESTS, MAX_ITEM_COUNT, OperationId, SeizedItem, check_seizure_fields,
        is_calendar_date,
    },
};

use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{NoQuery, PathId},
    paging::{LimitParam, Paged},
};
use crate::{
    node::NodeHandle,
    operations::{self, HeldOperation, NewOperation, NewSeizure, OperationsError, SeizureCursor},
};

/// The operation routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show))
        .routes(routes!(join))
        .routes(routes!(seize, seizures))
        .routes(routes!(report))
}

impl From<OperationsError> for ApiError {
    fn from(e: OperationsError) -> Self {
        match e {
            OperationsError::Field { field, message } => ApiError::field(field, message),
            OperationsError::NotFound(m) => ApiError::not_found(m),
            OperationsError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            e @ OperationsError::OutboxFull(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outbox_full",
                e.to_string(),
            ),
            e @ (OperationsError::Sign { .. } | OperationsError::Store(_)) => ApiError::internal(e),
        }
    }
}

/// Body of `POST /v1/operations`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRequest {
    /// The operation's name.
    name: String,
    /// What it is about.
    #[serde(default)]
    description: String,
    /// The members invited, by country code (`["DE", "ES"]`).
    participants: Vec<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (the start of that day).
    starts_at: String,
    /// RFC 3339 time or `YYYY-MM-DD` (the end of that day).
    ends_at: String,
}

/// Body of `POST /v1/operations/{id}/seizures`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SeizureRequest {
    /// `YYYY-MM-DD`.
    date: String,
    /// Where.
    place: Option<String>,
    /// What was seized.
    items: Vec<ItemRequest>,
    /// Arrests made.
    arrests: Option<u64>,
}

/// One line of a seizure.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemRequest {
    /// The item's category (`firearm`, `ammunition`...).
    category: String,
    /// How many.
    count: u64,
    /// A description.
    description: Option<String>,
    /// One of this node's firearm records (32 hexadecimal characters).
    firearm_id: Option<String>,
}

/// Paging of `GET /v1/operations`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct After {
    /// List the operations after this id (the `next` of the page before).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    after: Option<String>,
}

/// Paging of `GET /v1/operations/{id}/seizures`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SeizuresAfter {
    /// List the records after this cursor (the `next` of the page before).
    #[param(pattern = "^[0-9a-fA-F]{96}$")]
    after: Option<String>,
}

fn parse_id(text: &str) -> Result<OperationId, ApiError> {
    OperationId::from_hex(text)
        .ok_or_else(|| ApiError::field("id", "an operation id is 32 hexadecimal characters"))
}

/// The operation, if this node takes part in it: 404 otherwise, whether the id names an
/// operation elsewhere or nothing at all.
fn load(node: &NodeHandle, id: &OperationId) -> Result<HeldOperation, ApiError> {
    node.operations
        .operations
        .get(id)?
        .ok_or_else(|| ApiError::not_found(format!("no operation {id} at this node")))
}

/// An RFC 3339 time, or a date (the start of that day, or its last millisecond for an end),
/// in ms since the epoch.
fn parse_time(field: &str, text: &str, end_of_day: bool) -> Result<u64, ApiError> {
    let full = match (is_calendar_date(text), end_of_day) {
        (true, false) => format!("{text}T00:00:00Z"),
        (true, true) => format!("{text}T23:59:59.999Z"),
        (false, _) => text.to_string(),
    };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|e| {
        ApiError::field(
            field,
            format!(
                "not an RFC 3339 time or a date ({e}), e.g. 2026-03-01T06:00:00Z or 2026-03-01"
            ),
        )
    })?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ApiError::field(field, "is before 1970"))?
        .as_millis();
    u64::try_from(ms).map_err(|_| ApiError::field(field, "is too far ahead"))
}

/// The members named by country code, this node left out; an unknown or repeated code is
/// refused naming `participants`.
fn invited(node: &NodeHandle, codes: &[String]) -> Result<Vec<BureauId>, ApiError> {
    let mut out = Vec::new();
    for code in codes {
        let Some(member) = node.roster.by_country(code.trim()) else {
            let mut known: Vec<&str> = node
                .roster
                .members
                .values()
                .map(|m| m.country.as_str())
                .collect();
            known.sort_unstable();
            let shown: String = code.chars().take(16).collect();
            return Err(ApiError::field(
                "participants",
                format!(
                    "{shown:?} is not a member of this network (members: {})",
                    known.join(", ")
                ),
            ));
        };
        if out.contains(&member.bureau) {
            return Err(ApiError::field(
                "participants",
                format!("{} is named twice", member.country),
            ));
        }
        if member.bureau != node.me {
            out.push(member.bureau);
        }
    }
    if out.is_empty() {
        return Err(ApiError::field(
            "participants",
            "name at least one other member by country code, e.g. [\"DE\", \"ES\"]",
        ));
    }
    Ok(out)
}

/// `POST /v1/operations`: creates a joint operation coordinated by this node.
#[utoipa::path(
    post,
    path = "/operations",
    tag = "operations",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "The operation, coordinated by this node", body = inline(Object)),
        (status = 409, description = "The operation conflicts with one held"),
        (status = 503, description = "A participant's outbox is full"),
    )
)]
async fn create(
    State(node): State<NodeHandle>,
    _: NoQuery,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let starts_at_ms = parse_time("starts_at", &req.starts_at, false)?;
    let ends_at_ms = parse_time("ends_at", &req.ends_at, true)?;
    let new = NewOperation {
        invited: invited(&node, &req.participants)?,
        name: req.name,
        description: req.description,
        starts_at_ms,
        ends_at_ms,
    };
    let held = operations::create(&node.operations, new).await?;
    let view = operations::operation_view(&node.operations, &held)?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/operations`: lists the operations this node takes part in.
#[utoipa::path(
    get,
    path = "/operations",
    tag = "operations",
    params(After, LimitParam),
    responses((status = 200, description = "`{operations: [...], next}`: the ones this node coordinates or was invited to; `next` is the `after` of the next page, or null", body = inline(Object)))
)]
async fn list(State(node): State<NodeHandle>, page: Paged<After>) -> Result<Json<Value>, ApiError> {
    let limit = page.limit;
    let after = page
        .params
        .after
        .as_deref()
        .map(|a| {
            OperationId::from_hex(a).ok_or_else(|| {
                ApiError::field("after", "an operation id is 32 hexadecimal characters")
            })
        })
        .transpose()?;
    let held = node.operations.operations.list(after, limit)?;
    let next = (held.len() == limit)
        .then(|| held.last().map(|h| h.op.id.to_hex()))
        .flatten();
    let views = held
        .iter()
        .map(|h| operations::summary_view(&node.operations, h))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({"operations": views, "next": next})))
}

/// `GET /v1/operations/{id}`: shows an operation.
#[utoipa::path(
    get,
    path = "/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The operation id (32 hexadecimal characters)")),
    responses((status = 200, description = "The operation", body = inline(Object)))
)]
async fn show(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let held = load(&node, &parse_id(&id)?)?;
    Ok(Json(operations::operation_view(&node.operations, &held)?))
}

/// `POST /v1/operations/{id}/join`: idempotent (joining again, or the coordinator joining,
/// answers the operation as it is).
#[utoipa::path(
    post,
    path = "/operations/{id}/join",
    tag = "operations",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The operation id (32 hexadecimal characters)")),
    responses(
        (status = 200, description = "The operation as it is", body = inline(Object)),
        (status = 409, description = "The operation cannot be joined (over, or ended)"),
        (status = 503, description = "The coordinator's outbox is full"),
    )
)]
async fn join(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    operations::join(&node.operations, &id).await?;
    let held = load(&node, &id)?;
    Ok(Json(operations::operation_view(&node.operations, &held)?))
}

/// The request's items, each field checked and named (`items[1].category`).
fn items_of(node: &NodeHandle, items: Vec<ItemRequest>) -> Result<Vec<SeizedItem>, ApiError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let category = ItemCategory::parse(item.category.trim()).ok_or_else(|| {
            let names: Vec<&str> = ItemCategory::ALL.iter().map(|c| c.as_str()).collect();
            ApiError::field(
                format!("items[{i}].category"),
                format!("must be one of {}", names.join(", ")),
            )
        })?;
        let count = u32::try_from(item.count)
            .ok()
            .filter(|c| (1..=MAX_ITEM_COUNT).contains(c))
            .ok_or_else(|| {
                ApiError::field(
                    format!("items[{i}].count"),
                    format!("must be 1 to {MAX_ITEM_COUNT}"),
                )
            })?;
        let firearm_ref = item
            .firearm_id
            .map(|text| firearm_record(node, i, &text))
            .transpose()?;
        out.push(SeizedItem {
            category,
            count,
            description: item.description.unwrap_or_default(),
            firearm_ref,
        });
    }
    Ok(out)
}

/// A `firearm_id`: one of this node's firearm records.
fn firearm_record(node: &NodeHandle, i: usize, text: &str) -> Result<RecordRef, ApiError> {
    let field = format!("items[{i}].firearm_id");
    let id = RecordRef::from_hex(text)
        .ok_or_else(|| ApiError::field(&field, "a firearm id is 32 hexadecimal characters"))?;
    match node.firearms.firearms.record(&id)? {
        Some(_) => Ok(id),
        None => Err(ApiError::field(
            field,
            format!("no firearm record {id} at this node"),
        )),
    }
}

/// `POST /v1/operations/{id}/seizures`. The body is checked before the operation is looked
/// up, so its mistakes are named whatever the id.
#[utoipa::path(
    post,
    path = "/operations/{id}/seizures",
    tag = "operations",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The operation id (32 hexadecimal characters)")),
    request_body = SeizureRequest,
    responses(
        (status = 201, description = "The seizure record, with `cases` opened for seized firearms", body = inline(Object)),
        (status = 409, description = "The operation does not take this seizure (not joined, over its bounds)"),
        (status = 503, description = "A participant's outbox is full"),
    )
)]
async fn seize(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
    ApiJson(req): ApiJson<SeizureRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let arrests = u32::try_from(req.arrests.unwrap_or(0))
        .ok()
        .filter(|a| *a <= MAX_ARRESTS)
        .ok_or_else(|| ApiError::field("arrests", format!("must be 0 to {MAX_ARRESTS}")))?;
    let new = NewSeizure {
        items: items_of(&node, req.items)?,
        date: req.date.trim().to_string(),
        place: req.place.unwrap_or_default(),
        arrests,
    };
    check_seizure_fields(&new.date, &new.place, &new.items, new.arrests)
        .map_err(OperationsError::from)?;
    let seized: Vec<_> = new.items.iter().filter_map(|i| i.firearm_ref).collect();
    let (date, place) = (new.date.clone(), new.place.clone());
    let held = operations::record_seizure(&node.operations, &id, new).await?;
    let op = load(&node, &id)?;
    let mut view = operations::seizure_view(&node.operations, &op.op, &held);
    // Each seized firearm with a record here goes through the recovery protocol (steps 1, 2
    // and 9) as a case of its own; the seizure stands even if a case cannot be opened.
    let mut cases = Vec::new();
    for record in seized {
        match node
            .cases
            .open_for_seizure(record, &op.op.name, &date, &place)
            .await
        {
            Ok(case) => cases.push(case["id"].clone()),
            Err(e) => tracing::warn!("cannot open a case for a seized firearm: {e}"),
        }
    }
    view["cases"] = Value::Array(cases);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/operations/{id}/seizures`: every participant's records, by author.
#[utoipa::path(
    get,
    path = "/operations/{id}/seizures",
    tag = "operations",
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The operation id (32 hexadecimal characters)"),
        SeizuresAfter,
        LimitParam,
    ),
    responses((status = 200, description = "`{seizures: [...], next}`: every participant's records, by author", body = inline(Object)))
)]
async fn seizures(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    page: Paged<SeizuresAfter>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let limit = page.limit;
    let after = page
        .params
        .after
        .as_deref()
        .map(|a| {
            SeizureCursor::from_hex(a).ok_or_else(|| {
                ApiError::field(
                    "after",
                    "is the `next` of the page before (96 hexadecimal characters)",
                )
            })
        })
        .transpose()?;
    let op = load(&node, &id)?;
    let page = node.operations.operations.seizures(&id, after, limit)?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|s| SeizureCursor::after(s).to_hex()))
        .flatten();
    let views: Vec<Value> = page
        .iter()
        .map(|s| operations::seizure_view(&node.operations, &op.op, s))
        .collect();
    Ok(Json(json!({"seizures": views, "next": next})))
}

/// `GET /v1/operations/{id}/report`: the report of an operation.
#[utoipa::path(
    get,
    path = "/operations/{id}/report",
    tag = "operations",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The operation id (32 hexadecimal characters)")),
    responses((status = 200, description = "The operation's report", body = inline(Object)))
)]
async fn report(
    State(node): State<NodeHandle>,
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let held = load(&node, &parse_id(&id)?)?;
    Ok(Json(operations::report(&node.operations, &held)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_dates() {
        let start = parse_time("starts_at", "2026-03-01", false).expect("date");
        let end = parse_time("ends_at", "2026-03-01", true).expect("date");
        assert_eq!(end - start, 24 * 3600 * 1000 - 1);
        assert_eq!(
            parse_time("starts_at", "2026-03-01T00:00:00Z", false).expect("time"),
            start
        );
        for bad in ["", "tomorrow", "2026-02-30", "1969-12-31T00:00:00Z"] {
            let e = parse_time("ends_at", bad, true).expect_err(bad);
            assert!(format!("{e:?}").contains("ends_at"), "{bad}: {e:?}");
        }
    }
}
