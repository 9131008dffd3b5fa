//! `/v1/users` (admins: create, list, revoke users and their tokens) and `/v1/me` (anyone:
//! who the token belongs to). A token is answered once, when its user is created.

use axum::{
    Extension, Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};
use serde::Deserialize;
use serde_json::{Value, json};
use striae_protocol::time::now_ms;

use super::{
    ApiError, ApiJson,
    error::{NoQuery, PathId},
};
use crate::{
    accounts::{AccountsError, Actor, NewUser, Role, expiry_in_days},
    node::NodeHandle,
};

/// The user routes.
pub(super) fn routes() -> Router<NodeHandle> {
    Router::new()
        .route("/users", get(list).post(add))
        .route("/users/{id}", delete(revoke))
        .route("/me", get(me))
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Field { field, message } => ApiError::field(field, message),
            AccountsError::NotFound(_) => ApiError::not_found(e.to_string()),
            AccountsError::LastAdmin(_) | AccountsError::NameTaken(_) | AccountsError::Full => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            AccountsError::Store(e) => ApiError::internal(e),
        }
    }
}

/// Body of `POST /v1/users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    name: String,
    role: String,
    /// Days until the token expires (1 to 3,650; 365 when absent).
    expires_in_days: Option<u64>,
}

async fn add(
    State(node): State<NodeHandle>,
    Extension(actor): Extension<Actor>,
    _: NoQuery,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let role = Role::parse(body.role.trim()).ok_or_else(|| {
        ApiError::field("role", "must be one of analyst, officer, reviewer, admin")
    })?;
    let new = NewUser {
        name: body.name,
        role,
        expires_at_ms: Some(expiry_in_days(body.expires_in_days, now_ms())?),
    };
    let (user, token) = node.accounts.add(new, &actor.id)?;
    node.store.flush().await?;
    tracing::info!(user = %user.id, role = %user.role, by = %actor.id, "user created");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "token": token,
            "expires_at": user.expires_at,
        })),
    ))
}

async fn list(State(node): State<NodeHandle>, _: NoQuery) -> Json<Value> {
    Json(json!({ "users": node.accounts.list() }))
}

async fn revoke(
    State(node): State<NodeHandle>,
    Extension(actor): Extension<Actor>,
    _: NoQuery,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "id",
            "a user id is 32 hexadecimal characters",
        ));
    }
    let user = node.accounts.revoke(&id)?;
    node.store.flush().await?;
    tracing::info!(user = %user.id, by = %actor.id, "user revoked");
    Ok(Json(json!(user)))
}

async fn me(Extension(actor): Extension<Actor>, _: NoQuery) -> Json<Value> {
    Json(json!({
        "id": actor.id,
        "name": actor.name,
        "role": actor.role,
        "expires_at": actor.expires_at_ms.map(crate::notices::rfc3339),
    }))
}
