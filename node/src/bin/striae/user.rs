//! `striae user ...` and `striae whoami`: the node's users, their roles and tokens (admins
//! only, but `whoami`).

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Subcommand)]
pub(crate) enum UserAction {
    /// Create a user and print their token (shown this once)
    Add {
        /// The user's name: the bureau's internal reference for the person
        #[arg(long)]
        name: String,
        /// analyst, officer, reviewer or admin
        #[arg(long)]
        role: String,
        /// Days until the token expires (1 to 3650; 365 when absent)
        #[arg(long)]
        expires_in_days: Option<u64>,
    },
    /// List the users (never their tokens)
    List,
    /// Revoke a user: their token stops working at once
    Revoke {
        /// The user's id
        id: String,
    },
    /// Give a user a new token (printed once); the old one stops working at once
    Rotate {
        /// The user's id
        id: String,
        /// Days until the new token expires (1 to 3650; 365 when absent)
        #[arg(long)]
        expires_in_days: Option<u64>,
    },
}

/// What `add` and `rotate` print: the user and the token, shown this once.
fn token_shown(what: &str, v: &Value) -> String {
    format!(
        "{what} {} ({}), id {}, expires {}\ntoken: {}\nThis token will not be shown again: hand it to the user now.",
        s(&v["name"]),
        s(&v["role"]),
        s(&v["id"]),
        s(&v["expires_at"]),
        s(&v["token"]),
    )
}

fn user_line(u: &Value) -> String {
    format!(
        "{}  {:<8} {:<8} {}  expires {}",
        s(&u["id"]),
        s(&u["role"]),
        s(&u["status"]),
        s(&u["name"]),
        u["expires_at"].as_str().unwrap_or("never"),
    )
}

pub(crate) async fn user(action: UserAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        UserAction::Add {
            name,
            role,
            expires_in_days,
        } => {
            let mut body = json!({"name": name, "role": role});
            if let Some(days) = expires_in_days {
                body["expires_in_days"] = json!(days);
            }
            let v = c.post("/v1/users", &body).await?;
            print(t, &v, |v| token_shown("created", v));
        }
        UserAction::List => {
            let v = c.get("/v1/users").await?;
            print(t, &v, |v| {
                let users = v["users"].as_array().cloned().unwrap_or_default();
                users.iter().map(user_line).collect::<Vec<_>>().join("\n")
            });
        }
        UserAction::Revoke { id } => {
            let v = c.send_delete(&format!("/v1/users/{}", id.trim())).await?;
            print(t, &v, |v| format!("revoked: {}", user_line(v)));
        }
        UserAction::Rotate {
            id,
            expires_in_days,
        } => {
            let body = expires_in_days.map_or(json!({}), |days| json!({"expires_in_days": days}));
            let v = c
                .post(&format!("/v1/users/{}/token", id.trim()), &body)
                .await?;
            print(t, &v, |v| token_shown("new token for", v));
        }
    }
    Ok(())
}

pub(crate) async fn whoami(t: &Target) -> Result<()> {
    let v = client(t)?.get("/v1/me").await?;
    print(t, &v, |v| {
        format!(
            "{} ({}), id {}, token expires {}",
            s(&v["name"]),
            s(&v["role"]),
            s(&v["id"]),
            v["expires_at"].as_str().unwrap_or("never"),
        )
    });
    Ok(())
}
