//! Authentication and authorisation of every API request, in one layer: the bearer token
//! names a user (`accounts::Accounts::authenticate`), the route's entry in the permission table
//! (`accounts::ROUTES`, looked up by axum's `MatchedPath`) names what it needs, and the user's
//! role must grant it. A route missing from the table is refused. The request then runs as
//! that user: handlers read `Extension<Actor>`, and audit records written meanwhile name them.

use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use striae_protocol::time::now_ms;

use super::ApiError;
use crate::accounts::{Actor, AuthError, Lookup, ROUTES, lookup};
use crate::audit::{ActingUser, acting_as};
use crate::node::NodeHandle;

/// The layer: 401 without a valid token, 403 without the role, else the route as `Actor`.
pub(super) async fn authorise(
    State(node): State<NodeHandle>,
    mut request: Request,
    next: Next,
) -> Response {
    let actor = match authenticate(&node, &request) {
        Ok(actor) => actor,
        Err(refusal) => return refusal.into_response(),
    };
    // No matched path: the router's fallback, which only ever answers 404.
    if let Some(pattern) = request.extensions().get::<MatchedPath>()
        && let Err(refusal) = permit(&actor, request.method().as_str(), pattern.as_str())
    {
        return refusal.into_response();
    }
    let acting = ActingUser {
        id: actor.id.clone(),
        name: actor.name.clone(),
    };
    request.extensions_mut().insert(actor);
    acting_as(acting, next.run(request)).await
}

/// The user whose token the request carries.
fn authenticate(node: &NodeHandle, request: &Request) -> Result<Actor, ApiError> {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = given else {
        return Err(unauthorized(
            "send an API token as `Authorization: Bearer <token>` (the node's bootstrap token is in the data dir, file api.token; `striae user add` makes one per user)",
        ));
    };
    node.accounts
        .authenticate(token.trim(), now_ms())
        .map_err(|e| {
            unauthorized(match e {
                AuthError::Unknown => "the token is not known at this node",
                AuthError::Revoked => "the token was revoked: ask an admin for a new one",
                AuthError::Expired => "the token has expired: ask an admin for a new one",
            })
        })
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Whether `actor` may call `method` on the route `pattern`, by the permission table.
fn permit(actor: &Actor, method: &str, pattern: &str) -> Result<(), ApiError> {
    match lookup(method, pattern) {
        Lookup::Needs(permission) if actor.role.grants(permission) => Ok(()),
        Lookup::Needs(permission) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{method} {pattern} needs the {} role; your token is {} {}'s",
                permission.role_needed(),
                article(actor.role.as_str()),
                actor.role
            ),
        )),
        Lookup::OtherMethod => Err(ApiError::method_not_allowed(&methods_of(pattern))),
        Lookup::Unlisted => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{method} {pattern} is in no role's permissions"),
        )),
    }
}

/// The methods the table lists for the route `pattern`.
fn methods_of(pattern: &str) -> Vec<&'static str> {
    ROUTES
        .iter()
        .filter(|(_, p, _)| *p == pattern)
        .map(|(m, _, _)| *m)
        .collect()
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Role;

    fn actor(role: Role) -> Actor {
        Actor {
            id: "u".into(),
            name: "n".into(),
            role,
            expires_at_ms: None,
        }
    }

    #[test]
    fn refusals_name_the_role_needed_and_the_callers() {
        let e = permit(
            &actor(Role::Analyst),
            "POST",
            "/v1/traces/incoming/{id}/approve",
        )
        .expect_err("analysts do not review");
        let text = format!("{e:?}");
        assert!(
            text.contains("needs the reviewer role; your token is an analyst's"),
            "{text}"
        );
        assert!(
            permit(
                &actor(Role::Reviewer),
                "POST",
                "/v1/traces/incoming/{id}/approve"
            )
            .is_ok()
        );
        assert!(permit(&actor(Role::Admin), "GET", "/v1/unlisted").is_err());
    }
}
