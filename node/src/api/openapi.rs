//! The OpenAPI document (`GET /openapi.json`), generated from the code: every route is added
//! through a utoipa-axum `OpenApiRouter` with `routes!`, so what is routed is what is
//! documented (`#[utoipa::path]` on each handler). `finish` then applies what holds for every
//! `/v1` operation alike, from the same code paths that produce it: the bearer token (401,
//! and 403 by the permission table), the query checks (400), the path ids (404), the body
//! checks (413 and, for JSON, 415), and the one error schema (`ApiError`) on every 4xx.

use std::{borrow::Cow, sync::Arc};

use axum::{
    Extension,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    OpenApi, PartialSchema, ToSchema,
    openapi::{
        self, Content, RefOr, ResponseBuilder,
        path::Operation,
        schema::{
            AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Ref, Schema,
            SchemaFormat, Type,
        },
        security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme},
    },
};

use super::{ApiOptions, error::ErrorAnswer};

/// The name of the bearer-token security scheme.
pub(super) const BEARER: &str = "bearer";

/// The document's fixed parts: info, tags and the shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "striae member node API",
        description = "The HTTP API of a striae member node: firearm records, checks and \
            traces, serial-pattern queries, notices, ballistic exhibits and searches, cases, \
            joint operations, the audit log and users. Every `/v1` route needs \
            `Authorization: Bearer <token>` and a role that grants it (docs/accounts.md). \
            Errors are `{\"error\":{\"code\",\"message\",\"field\"?}}` with a 4xx status \
            naming the field at fault. List routes take `limit` from 1 to 1,000 (default \
            100). Generated from the code: every route is documented here."
    ),
    components(schemas(ErrorAnswer)),
    tags(
        (name = "node", description = "Health, metrics and this document"),
        (name = "status", description = "Who this node is and how it sees the network"),
        (name = "users", description = "Users, roles and tokens"),
        (name = "notices", description = "Orange and Purple notices"),
        (name = "firearms", description = "This node's firearm records, imports and network-wide checks"),
        (name = "reference", description = "The shared reference table (makes, models, calibres)"),
        (name = "traces", description = "Traces of a firearm between members"),
        (name = "queries", description = "Serial-pattern queries for partial or obliterated serials"),
        (name = "cases", description = "The Firearms Recovery Protocol, one case per recovered firearm"),
        (name = "ballistics", description = "Ballistic exhibits (X3P scans), searches and leads"),
        (name = "operations", description = "Joint operations and their seizures"),
        (name = "analysis", description = "Network statistics from members' published aggregates"),
        (name = "audit", description = "The signed, hash-chained audit log"),
    )
)]
pub(super) struct ApiDoc;

/// The answer of a request that runs on in the background (202): its id, to follow it.
#[derive(serde::Serialize, ToSchema)]
pub(super) struct Started {
    /// The id to follow it by (32 hexadecimal characters).
    pub(super) id: String,
}

/// A JSON object whose fields the operation's description lists (answers built field by
/// field rather than from one Rust type).
pub(super) struct Object;

impl PartialSchema for Object {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
            .into()
    }
}

impl ToSchema for Object {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Object")
    }
}

/// A JSON list of objects (see `Object`).
pub(super) struct ObjectList;

impl PartialSchema for ObjectList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new().items(Object::schema()).into()
    }
}

impl ToSchema for ObjectList {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ObjectList")
    }
}

/// Raw bytes (an X3P scan, a zip of land scans, a PNG).
pub(super) struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Binary")
    }
}

/// A text document (CSV, NDJSON, Prometheus metrics, HTML).
pub(super) struct Text;

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).into()
    }
}

impl ToSchema for Text {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Text")
    }
}

/// The methods of a path item, with their operations.
fn operations(item: &mut openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
        item.query.as_mut(),
    ]
    .into_iter()
    .flatten()
    .chain(item.additional_operations.values_mut())
}

/// An error answer with the `ApiError` schema.
fn error_response(description: &str) -> openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .build()
}

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name("ApiError")))
}

/// Adds `status` to `op` unless the handler's own annotation documents it already.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(error_response(description)));
}

/// Makes the operation's id unique (the handler's name under its tag: `notices_list`) and its
/// summary the handler's doc comment without the route it starts with.
fn name(op: &mut Operation) {
    let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
    if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
        *id = format!("{tag}_{id}");
    }
    if let Some(summary) = op.summary.take() {
        op.summary = summary_of(&summary);
    }
}

/// A handler's first doc line as a summary: "`POST /v1/x/{id}/join`: joins it." → "Joins it."
fn summary_of(doc: &str) -> Option<String> {
    let rest = match doc.strip_prefix('`') {
        Some(quoted) => quoted.split_once('`').map_or("", |(_, rest)| rest),
        None => doc,
    };
    let rest = rest.trim_start_matches([':', '.', ' ']).trim();
    let mut chars = rest.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

/// An optional body (`Option<T>` in the annotation, `OptionalJson` in the handler) may be
/// left out, but when sent it is the object: utoipa's `oneOf: [T, null]` becomes `T` (the
/// body stays not required).
fn not_null(body: &mut openapi::request_body::RequestBody) {
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let objects: Vec<_> = one_of
                .items
                .iter()
                .filter(|item| {
                    !matches!(item, RefOr::T(Schema::Object(o)) if o.schema_type == Type::Null.into())
                })
                .cloned()
                .collect();
            if let [only] = objects.as_slice() {
                content.schema = Some(only.clone());
            }
        }
    }
}

/// The whole document: `doc` (what `routes!` collected) with what holds for every operation.
pub(super) fn finish(mut doc: openapi::OpenApi, options: ApiOptions) -> openapi::OpenApi {
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let components = doc.components.get_or_insert_with(openapi::Components::new);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        let guarded = path.starts_with("/v1/") || (path == "/metrics" && !options.metrics_public);
        for op in operations(item) {
            name(op);
            if guarded {
                op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                add(
                    op,
                    "401",
                    "No token, or one that is unknown, revoked or expired",
                );
                add(op, "403", "The token's role does not grant this route");
            }
            if !path.starts_with("/v1/") {
                continue;
            }
            add(
                op,
                "400",
                "A parameter, a field or the body is wrong; `field` names it",
            );
            if path.contains('{') {
                add(op, "404", "Nothing with this id at this node");
            }
            if let Some(RefOr::T(body)) = op.request_body.as_mut() {
                not_null(body);
            }
            if let Some(RefOr::T(body)) = &op.request_body {
                let json = body.content.keys().any(|c| c == "application/json");
                add(op, "413", "The body is over the route's size cap");
                if json {
                    add(op, "415", "The body is not declared as JSON");
                }
            }
            // Every 4xx carries the error object, whatever the handler's annotation says.
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && status.starts_with('4')
                    && response.content.is_empty()
                {
                    response
                        .content
                        .insert("application/json".into(), RefOr::T(error_content()));
                }
            }
        }
    }
    doc
}

/// The finished document as served, shared by every request.
#[derive(Clone)]
pub(super) struct OpenApiJson(pub(super) Arc<str>);

/// `GET /openapi.json`: this OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "node",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = inline(Object)))
)]
pub(super) async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_drop_the_route_they_start_with() {
        assert_eq!(summary_of("`GET /v1/notices`."), None);
        assert_eq!(
            summary_of("`POST /v1/operations/{id}/join`: idempotent"),
            Some("Idempotent".into())
        );
        assert_eq!(
            summary_of("The exhibit as a PNG"),
            Some("The exhibit as a PNG".into())
        );
    }

    #[test]
    fn every_v1_operation_is_guarded_and_every_4xx_is_an_api_error() {
        let doc =
            serde_json::to_value(super::super::document(ApiOptions::default())).expect("document");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() > 40);
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("item") {
                let guarded = op["security"][0][BEARER].is_array();
                assert_eq!(
                    guarded,
                    path.starts_with("/v1/") || path == "/metrics",
                    "{method} {path}"
                );
                for (status, answer) in op["responses"].as_object().expect("responses") {
                    if status.starts_with('4') {
                        assert_eq!(
                            answer["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ApiError",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
        let public = serde_json::to_value(super::super::document(ApiOptions {
            metrics_public: true,
        }))
        .expect("document");
        assert!(public["paths"]["/metrics"]["get"]["security"].is_null());
    }
}
