//! `/v1/users` (admins: create, list, revoke users and their tokens) and `/v1/me` (anyone:
//! who the token belongs to). A token is answered once, when its user is created.

use axum::{Extension, Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use striae_protocol::time::now_ms;

use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, ApiJson,
    error::{NoQuery, OptionalJson, PathId},
};
use crate::{
    accounts::{AccountsError, Actor, NewUser, Role, UserView, expiry_in_days},
    node::NodeHandle,
};

/// The user routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
        .routes(routes!(me))
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Field { field, message } => ApiError::field(field, message),
            AccountsError::NotFound(_) => ApiError::not_found(e.to_string()),
            AccountsError::LastAdmin(_)
            | AccountsError::NameTaken(_)
            | AccountsError::Full
            | AccountsError::NotRotatable(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            AccountsError::Store(e) => ApiError::internal(e),
        }
    }
}

/// The answer of `POST /v1/users`: the only time the token is shown.
#[derive(Serialize, ToSchema)]
struct CreatedUser {
    /// The user's id.
    id: String,
    /// The user's name.
    name: String,
    /// The user's role.
    role: Role,
    /// The user's API token (shown this once; only its hash is kept).
    token: String,
    /// When the token expires, RFC 3339.
    #[schema(nullable = true)]
    expires_at: Option<String>,
}

impl CreatedUser {
    fn new(user: UserView, token: String) -> Self {
        CreatedUser {
            id: user.id,
            name: user.name,
            role: user.role,
            token,
            expires_at: user.expires_at,
        }
    }
}

/// The answer of `GET /v1/users`.
#[derive(Serialize, ToSchema)]
struct UserList {
    /// Every user (at most 10,000), tokens never shown.
    users: Vec<UserView>,
}

/// The answer of `GET /v1/me`.
#[derive(Serialize, ToSchema)]
struct Me {
    /// The user's id.
    id: String,
    /// The user's name.
    name: String,
    /// The user's role.
    role: Role,
    /// When the token expires, RFC 3339 (null: never).
    #[schema(nullable = true)]
    expires_at: Option<String>,
}

/// Body of `POST /v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    /// The user's name (unique at this node).
    name: String,
    /// `analyst`, `officer`, `reviewer` or `admin`.
    #[schema(pattern = "^(analyst|officer|reviewer|admin)$")]
    role: String,
    /// Days until the token expires (1 to 3,650; 365 when absent).
    expires_in_days: Option<u64>,
}

/// `POST /v1/users`: creates a user and its token.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "The user, with its token shown this once", body = CreatedUser),
        (status = 409, description = "The name is taken, or this node holds the most users it keeps"),
    )
)]
async fn add(
    State(node): State<NodeHandle>,
    Extension(actor): Extension<Actor>,
    _: NoQuery,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(CreatedUser::new(user, token))))
}

/// `GET /v1/users`: lists the users.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    responses((status = 200, description = "Every user, tokens never shown", body = UserList))
)]
async fn list(State(node): State<NodeHandle>, _: NoQuery) -> Json<UserList> {
    Json(UserList {
        users: node.accounts.list(),
    })
}

/// `DELETE /v1/users/{id}`: revokes the user's token.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The user id (32 hexadecimal characters)")),
    responses(
        (status = 200, description = "The user as revoked", body = UserView),
        (status = 409, description = "The last admin cannot be revoked"),
    )
)]
async fn revoke(
    State(node): State<NodeHandle>,
    Extension(actor): Extension<Actor>,
    _: NoQuery,
    PathId(id): PathId,
) -> Result<Json<UserView>, ApiError> {
    check_user_id(&id)?;
    let user = node.accounts.revoke(&id)?;
    node.store.flush().await?;
    tracing::info!(user = %user.id, by = %actor.id, "user revoked");
    Ok(Json(user))
}

/// Body of `POST /v1/users/{id}/token` (optional).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// Days until the new token expires (1 to 3,650; 365 when absent).
    expires_in_days: Option<u64>,
}

/// `POST /v1/users/{id}/token`: replaces the user's token.
#[utoipa::path(
    post,
    path = "/users/{id}/token",
    tag = "users",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The user id (32 hexadecimal characters)")),
    request_body(content = Option<RotateBody>, description = "When the new token expires"),
    responses(
        (status = 200, description = "The user with its new token, shown this once; the old token no longer works", body = CreatedUser),
        (status = 409, description = "The user is revoked, or is the bootstrap admin (its token is the node's token file)"),
    )
)]
async fn rotate(
    State(node): State<NodeHandle>,
    Extension(actor): Extension<Actor>,
    _: NoQuery,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> Result<Json<CreatedUser>, ApiError> {
    check_user_id(&id)?;
    let expires = expiry_in_days(body.expires_in_days, now_ms())?;
    let (user, token) = node.accounts.rotate(&id, expires)?;
    node.store.flush().await?;
    tracing::info!(user = %user.id, by = %actor.id, "user token replaced");
    Ok(Json(CreatedUser::new(user, token)))
}

/// A user id from the path, checked.
fn check_user_id(id: &str) -> Result<(), ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "id",
            "a user id is 32 hexadecimal characters",
        ));
    }
    Ok(())
}

/// `GET /v1/me`: whom the token belongs to.
#[utoipa::path(
    get,
    path = "/me",
    tag = "users",
    responses((status = 200, description = "Whom the token belongs to", body = Me))
)]
async fn me(Extension(actor): Extension<Actor>, _: NoQuery) -> Json<Me> {
    Json(Me {
        id: actor.id,
        name: actor.name,
        role: actor.role,
        expires_at: actor.expires_at_ms.map(crate::notices::rfc3339),
    })
}
