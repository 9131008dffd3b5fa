//! Accounts: the people who use this node's API, each with a role and a token of their own.
//!
//! Users are kept in keyspace `users` (key: the user id, value: the user as JSON). A token is
//! 32 random bytes in hex, shown once when the user is created; only its hash (BLAKE3 in
//! key-derivation mode under a fixed context, so the hash serves nothing but this) is stored,
//! and an in-memory map from hash to user answers every request with one lookup. Users are
//! never deleted: a revoked user stays listed, so audit records that name them keep meaning
//! something; the number of users is capped at `MAX_USERS`.
//!
//! The node's bootstrap token (file `api.token` in the data dir) is the first admin, user
//! `admin` with the fixed id `bootstrap_id()`; it does not expire, and a changed token file
//! replaces its hash at the next start. Revoking it (allowed while another admin is active)
//! holds across restarts.

mod roles;
mod table;

pub use roles::{Permission, Role};
pub use table::{Lookup, ROUTES, lookup};

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use striae_protocol::time::now_ms;

use crate::store::{Keyspace, Store, StoreError};

/// Most users a node keeps (revoked ones included): bounds the keyspace and the maps.
pub const MAX_USERS: usize = 10_000;
/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Lifetime of a token when its creator names none.
pub const DEFAULT_EXPIRY_DAYS: u64 = 365;
/// Longest lifetime a token may be given.
pub const MAX_EXPIRY_DAYS: u64 = 3_650;
const DAY_MS: u64 = 86_400_000;
const TOKEN_CONTEXT: &str = "striae api token v1";

/// What can go wrong with accounts.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A field of a new user is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No user has this id.
    #[error("no user {0} at this node")]
    NotFound(String),
    /// The request would leave the node without an active admin.
    #[error("{0} is the last active admin: create another admin before revoking it")]
    LastAdmin(String),
    /// An active user already has this name.
    #[error("an active user is already named {0:?}")]
    NameTaken(String),
    /// `MAX_USERS` users exist.
    #[error("this node already has {MAX_USERS} users, the most it keeps")]
    Full,
    /// The user's token cannot be replaced: revoked, or the bootstrap admin (whose token is
    /// the node's token file).
    #[error("{0}")]
    NotRotatable(String),
}

/// Why a token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No user has this token.
    #[error("the token is not known at this node")]
    Unknown,
    /// The token's user was revoked.
    #[error("the token was revoked")]
    Revoked,
    /// The token's lifetime is over.
    #[error("the token has expired")]
    Expired,
}

/// A user as stored (the token only as its hash).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredUser {
    id: String,
    name: String,
    role: Role,
    /// BLAKE3 (key-derivation mode) of the token, hex.
    token_hash: String,
    created_at_ms: u64,
    expires_at_ms: Option<u64>,
    revoked_at_ms: Option<u64>,
    /// Id of the user who created it (`bootstrap` for the first admin).
    created_by: String,
}

/// The user a request acts as, once its token was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's id.
    pub id: String,
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
    /// When the token expires, ms since the epoch (none: never).
    pub expires_at_ms: Option<u64>,
}

/// A user as the API shows it: never the token or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    /// When created, RFC 3339.
    pub created_at: String,
    /// When the token expires, RFC 3339 (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When revoked, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Who created it.
    pub created_by: String,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The name (the bureau's internal reference for the person).
    pub name: String,
    /// The role.
    pub role: Role,
    /// When the token expires, ms since the epoch (none: never).
    pub expires_at_ms: Option<u64>,
}

/// In-memory copy of the keyspace: users by id and user ids by token hash.
#[derive(Default)]
struct Index {
    by_id: HashMap<String, StoredUser>,
    by_hash: HashMap<[u8; 32], String>,
}

/// The node's users.
pub struct Accounts {
    users: Keyspace,
    index: RwLock<Index>,
}

/// The bootstrap admin's id: the same at every start and on every node.
pub fn bootstrap_id() -> String {
    hex::encode(&blake3::hash(b"striae bootstrap admin").as_bytes()[..16])
}

/// The stored hash of `token`.
fn token_hash(token: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(TOKEN_CONTEXT);
    hasher.update(token.as_bytes());
    *hasher.finalize().as_bytes()
}

/// Constant-time equality, so a stored hash cannot be probed byte by byte through timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random token: 32 bytes, hex.
fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// When a token created now and living `days` days expires.
pub fn expiry_in_days(days: Option<u64>, now_ms: u64) -> Result<u64, AccountsError> {
    let days = days.unwrap_or(DEFAULT_EXPIRY_DAYS);
    if !(1..=MAX_EXPIRY_DAYS).contains(&days) {
        return Err(AccountsError::Field {
            field: "expires_in_days",
            message: format!("must be between 1 and {MAX_EXPIRY_DAYS}"),
        });
    }
    Ok(now_ms.saturating_add(days * DAY_MS))
}

/// Checks a user name: present, short, printable.
pub fn check_name(name: &str) -> Result<(), AccountsError> {
    let field = |message: String| AccountsError::Field {
        field: "name",
        message,
    };
    if name.trim().is_empty() {
        return Err(field("is required".into()));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(field(format!(
            "is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(field("must not contain control characters".into()));
    }
    Ok(())
}

impl StoredUser {
    fn status(&self, now_ms: u64) -> &'static str {
        if self.revoked_at_ms.is_some() {
            "revoked"
        } else if self.expires_at_ms.is_some_and(|t| t <= now_ms) {
            "expired"
        } else {
            "active"
        }
    }

    fn view(&self, now_ms: u64) -> UserView {
        UserView {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            status: self.status(now_ms),
            created_at: crate::notices::rfc3339(self.created_at_ms),
            expires_at: self.expires_at_ms.map(crate::notices::rfc3339),
            revoked_at: self.revoked_at_ms.map(crate::notices::rfc3339),
            created_by: self.created_by.clone(),
        }
    }

    fn hash(&self) -> Option<[u8; 32]> {
        let bytes = hex::decode(&self.token_hash).ok()?;
        bytes.try_into().ok()
    }
}

impl Accounts {
    /// Opens the users in `store`, making `bootstrap_token` the first admin's.
    pub fn open(store: &Store, bootstrap_token: &str) -> Result<Self, AccountsError> {
        let users = store.keyspace("users")?;
        let mut index = Index::default();
        for item in users.iter().take(MAX_USERS) {
            let (_, value) = item?;
            let user: StoredUser = serde_json::from_slice(&value)
                .map_err(|e| StoreError::corrupt("users", e.to_string()))?;
            if let Some(hash) = user.hash() {
                index.by_hash.insert(hash, user.id.clone());
            }
            index.by_id.insert(user.id.clone(), user);
        }
        let accounts = Accounts {
            users,
            index: RwLock::new(index),
        };
        accounts.install_bootstrap(bootstrap_token)?;
        Ok(accounts)
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `user` and indexes it (replacing its previous hash, if any).
    fn put(&self, index: &mut Index, user: StoredUser) -> Result<(), AccountsError> {
        let value = serde_json::to_vec(&user)
            .map_err(|e| StoreError::corrupt("users", format!("cannot encode: {e}")))?;
        self.users.insert(user.id.as_bytes(), value)?;
        if let Some(old) = index.by_id.get(&user.id).and_then(StoredUser::hash) {
            index.by_hash.remove(&old);
        }
        if let Some(hash) = user.hash() {
            index.by_hash.insert(hash, user.id.clone());
        }
        index.by_id.insert(user.id.clone(), user);
        Ok(())
    }

    fn install_bootstrap(&self, token: &str) -> Result<(), AccountsError> {
        let id = bootstrap_id();
        let hash = hex::encode(token_hash(token));
        let mut index = self.write();
        let user = match index.by_id.get(&id) {
            Some(user) if user.token_hash == hash => return Ok(()),
            // The operator replaced the token file: the new token is the admin's.
            Some(user) => StoredUser {
                token_hash: hash,
                ..user.clone()
            },
            None => StoredUser {
                id,
                name: "admin".into(),
                role: Role::Admin,
                token_hash: hash,
                created_at_ms: now_ms(),
                expires_at_ms: None,
                revoked_at_ms: None,
                created_by: "bootstrap".into(),
            },
        };
        self.put(&mut index, user)
    }

    /// The user holding `token`, if it is active at `now_ms`.
    pub fn authenticate(&self, token: &str, now_ms: u64) -> Result<Actor, AuthError> {
        let hash = token_hash(token);
        let index = self.read();
        let user = index
            .by_hash
            .get(&hash)
            .and_then(|id| index.by_id.get(id))
            .filter(|u| u.hash().is_some_and(|h| same(&h, &hash)))
            .ok_or(AuthError::Unknown)?;
        match user.status(now_ms) {
            "revoked" => Err(AuthError::Revoked),
            "expired" => Err(AuthError::Expired),
            _ => Ok(Actor {
                id: user.id.clone(),
                name: user.name.clone(),
                role: user.role,
                expires_at_ms: user.expires_at_ms,
            }),
        }
    }

    /// Creates a user; answers it with its token, which is not kept and cannot be shown again.
    /// Not flushed: the API flushes the store before answering.
    pub fn add(&self, new: NewUser, created_by: &str) -> Result<(UserView, String), AccountsError> {
        check_name(&new.name)?;
        let now = now_ms();
        let mut index = self.write();
        if index.by_id.len() >= MAX_USERS {
            return Err(AccountsError::Full);
        }
        let name = new.name.trim().to_string();
        if index
            .by_id
            .values()
            .any(|u| u.name == name && u.status(now) == "active")
        {
            return Err(AccountsError::NameTaken(name));
        }
        let token = new_token();
        let user = StoredUser {
            id: hex::encode(rand::random::<[u8; 16]>()),
            name,
            role: new.role,
            token_hash: hex::encode(token_hash(&token)),
            created_at_ms: now,
            expires_at_ms: new.expires_at_ms,
            revoked_at_ms: None,
            created_by: created_by.to_string(),
        };
        let view = user.view(now);
        self.put(&mut index, user)?;
        Ok((view, token))
    }

    /// Every user, oldest first.
    pub fn list(&self) -> Vec<UserView> {
        let now = now_ms();
        let index = self.read();
        let mut users: Vec<&StoredUser> = index.by_id.values().collect();
        users.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        users.into_iter().map(|u| u.view(now)).collect()
    }

    /// Gives user `id` a new token, expiring at `expires_at_ms`: the old token stops working at
    /// once. Answers the user and the new token, which is not kept. A revoked user keeps no
    /// token; the bootstrap admin's token is the node's token file, replaced there.
    pub fn rotate(
        &self,
        id: &str,
        expires_at_ms: u64,
    ) -> Result<(UserView, String), AccountsError> {
        let now = now_ms();
        let mut index = self.write();
        let user = stored(&index, id)?;
        if user.revoked_at_ms.is_some() {
            return Err(AccountsError::NotRotatable(format!(
                "{} is revoked: create a new user instead",
                user.name
            )));
        }
        if user.id == bootstrap_id() {
            return Err(AccountsError::NotRotatable(
                "the bootstrap admin's token is the file api.token in the data dir: replace \
                 the file and restart the node"
                    .into(),
            ));
        }
        let token = new_token();
        let rotated = StoredUser {
            token_hash: hex::encode(token_hash(&token)),
            expires_at_ms: Some(expires_at_ms),
            ..user
        };
        let view = rotated.view(now);
        self.put(&mut index, rotated)?;
        Ok((view, token))
    }

    /// Revokes user `id`: its token stops working at once. Revoking a revoked user changes
    /// nothing. The last active admin cannot be revoked.
    pub fn revoke(&self, id: &str) -> Result<UserView, AccountsError> {
        let now = now_ms();
        let mut index = self.write();
        let user = stored(&index, id)?;
        if user.revoked_at_ms.is_some() {
            return Ok(user.view(now));
        }
        let active_admins = index
            .by_id
            .values()
            .filter(|u| u.role == Role::Admin && u.status(now) == "active")
            .count();
        if user.role == Role::Admin && user.status(now) == "active" && active_admins <= 1 {
            return Err(AccountsError::LastAdmin(user.name));
        }
        let revoked = StoredUser {
            revoked_at_ms: Some(now),
            ..user
        };
        let view = revoked.view(now);
        self.put(&mut index, revoked)?;
        Ok(view)
    }
}

/// User `id` as stored.
fn stored(index: &Index, id: &str) -> Result<StoredUser, AccountsError> {
    index
        .by_id
        .get(id)
        .cloned()
        .ok_or_else(|| AccountsError::NotFound(id.to_string()))
}

#[cfg(test)]
mod tests;
