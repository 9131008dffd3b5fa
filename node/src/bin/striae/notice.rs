//! `striae notice ...`: issue, list, show, update and cancel Orange and Purple notices.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Subcommand)]
pub(crate) enum NoticeAction {
    /// Issue a notice to all members
    Issue {
        /// orange (threat warning) or purple (modus operandi)
        #[arg(long)]
        kind: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        summary: String,
        #[arg(long)]
        body: Option<String>,
        /// RFC 3339; default and maximum: 5 years ahead
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List notices
    List {
        /// active, cancelled or expired
        #[arg(long)]
        status: Option<String>,
    },
    /// Show a notice and which members have received it
    Show { id: String },
    /// Change your own notice (a new version)
    Update {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long)]
        body: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Cancel your own notice everywhere
    Cancel {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn notice_line(n: &Value) -> String {
    format!(
        "{}  {:<6} {:<9} v{} {} {}",
        s(&n["id"]),
        s(&n["kind"]),
        s(&n["status"]),
        n["version"],
        s(&n["issuer_country"]),
        s(&n["title"])
    )
}

fn notice_detail(n: &Value) -> String {
    let mut out = format!(
        "{}\n{} notice by {}, {} (version {})\nissued {}, expires {}\n\n{}\n",
        s(&n["title"]),
        s(&n["kind"]).to_uppercase(),
        s(&n["issuer_country"]),
        s(&n["status"]),
        n["version"],
        s(&n["issued_at"]),
        s(&n["expires_at"]),
        s(&n["summary"])
    );
    if let Some(body) = n["body"].as_str().filter(|b| !b.is_empty()) {
        out.push_str(&format!("\n{body}\n"));
    }
    let acks = n["acks"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("\nreceived by {} members:", acks.len()));
    for a in acks {
        out.push_str(&format!("\n  {} at {}", s(&a["country"]), s(&a["at"])));
    }
    out
}

pub(crate) async fn notice(action: NoticeAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        NoticeAction::Issue {
            kind,
            title,
            summary,
            body,
            expires_at,
        } => {
            let mut req = json!({"kind": kind, "title": title, "summary": summary});
            if let Some(b) = body {
                req["body"] = json!(b);
            }
            if let Some(e) = expires_at {
                req["expires_at"] = json!(e);
            }
            let v = c.post("/v1/notices", &req).await?;
            print(t, &v, |v| format!("issued notice {}", s(&v["id"])));
        }
        NoticeAction::List { status } => {
            let path = match status {
                Some(st) => format!("/v1/notices?status={st}"),
                None => "/v1/notices".into(),
            };
            let v = c.get(&path).await?;
            print(t, &v, |v| {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "no notices".into();
                }
                list.iter().map(notice_line).collect::<Vec<_>>().join("\n")
            });
        }
        NoticeAction::Show { id } => {
            let v = c.get(&format!("/v1/notices/{id}")).await?;
            print(t, &v, notice_detail);
        }
        NoticeAction::Update {
            id,
            title,
            summary,
            body,
            expires_at,
        } => {
            let mut req = json!({});
            for (k, v) in [
                ("title", title),
                ("summary", summary),
                ("body", body),
                ("expires_at", expires_at),
            ] {
                if let Some(v) = v {
                    req[k] = json!(v);
                }
            }
            let v = c.patch(&format!("/v1/notices/{id}"), &req).await?;
            print(t, &v, |v| {
                format!("notice {} is now version {}", s(&v["id"]), v["version"])
            });
        }
        NoticeAction::Cancel { id, reason } => {
            let v = c
                .post(
                    &format!("/v1/notices/{id}/cancel"),
                    &json!({"reason": reason}),
                )
                .await?;
            print(t, &v, |v| format!("notice {} cancelled", s(&v["id"])));
        }
    }
    Ok(())
}
