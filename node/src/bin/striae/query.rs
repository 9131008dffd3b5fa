//! `striae query`: cross-border queries for partial or obliterated serials, sent and received.

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Subcommand)]
pub(crate) enum QueryAction {
    /// Ask the members which of their records match a partial serial (`12?45*`: `?` one
    /// unknown character, `*` an unknown run; at least 4 known characters)
    Send {
        #[arg(long)]
        make: String,
        /// The serial pattern, e.g. '12?45*' (quote it for the shell)
        #[arg(long)]
        pattern: String,
        #[arg(long, default_value = "")]
        model: String,
        #[arg(long, default_value = "")]
        caliber: String,
        #[arg(long)]
        case_ref: String,
        #[arg(long)]
        reason: String,
        /// Countries to ask, e.g. --to DE,ES (default: every other member)
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
        /// Wait up to this many seconds for the answers
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Show a query and every member's answer (signatures verified again)
    Show { id: String },
    /// The queries this node sent
    List,
    /// Queries other members sent this node, with who asked and why
    Incoming {
        /// Only those waiting for review
        #[arg(long)]
        pending: bool,
    },
    /// Disclose the records a query held for review matched
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Refuse a query held for review
    Refuse {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub(crate) async fn query(action: QueryAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        QueryAction::Send {
            make,
            pattern,
            model,
            caliber,
            case_ref,
            reason,
            to,
            wait,
        } => {
            let request = json!({"make": make, "serial_pattern": pattern, "model": model,
                "caliber": caliber, "case_ref": case_ref, "reason": reason, "to": to});
            let started = c.post("/v1/queries", &request).await?;
            let id = started["id"]
                .as_str()
                .context("the node returned no query id")?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
            let mut v = c.get(&format!("/v1/queries/{id}")).await?;
            while v["state"] != "answered" && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                v = c.get(&format!("/v1/queries/{id}")).await?;
            }
            print(t, &v, query_text);
        }
        QueryAction::Show { id } => {
            let v = c.get(&format!("/v1/queries/{id}")).await?;
            print(t, &v, query_text);
        }
        QueryAction::List => {
            let v = c.get("/v1/queries").await?;
            print(t, &v, |v| {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "this node has sent no queries".into();
                }
                list.iter().map(query_text).collect::<Vec<_>>().join("\n\n")
            });
        }
        QueryAction::Incoming { pending } => {
            let path = if pending {
                "/v1/queries/incoming?state=pending_review"
            } else {
                "/v1/queries/incoming"
            };
            let v = c.get(path).await?;
            print(t, &v, incoming_text);
        }
        QueryAction::Approve { id, note } => {
            let v = c
                .post(
                    &format!("/v1/queries/incoming/{id}/approve"),
                    &json!({"note": note}),
                )
                .await?;
            print(t, &v, |v| {
                format!(
                    "approved: the {} matching records go to {}",
                    v["matching_records"],
                    s(&v["country"])
                )
            });
        }
        QueryAction::Refuse { id, note } => {
            let v = c
                .post(
                    &format!("/v1/queries/incoming/{id}/refuse"),
                    &json!({"note": note}),
                )
                .await?;
            print(t, &v, |v| {
                format!("refused: {} is told so", s(&v["country"]))
            });
        }
    }
    Ok(())
}

/// A query and its answers, matches numbered as `striae firearm trace --match N` takes them.
fn query_text(v: &Value) -> String {
    let mut out = format!(
        "query {}  {}  {} {}  case {}  [{}]",
        s(&v["id"]),
        s(&v["created_at"]),
        s(&v["make"]),
        s(&v["serial_pattern"]),
        s(&v["case_ref"]),
        s(&v["state"]),
    );
    let mut n = 0;
    for a in v["answers"].as_array().into_iter().flatten() {
        let signature = match a["signature_valid"].as_bool() {
            Some(true) => "  signature valid",
            Some(false) => "  SIGNATURE INVALID",
            None => "",
        };
        out.push_str(&format!(
            "\n  {}  {}{}",
            s(&a["country"]),
            s(&a["outcome"]).to_uppercase().replace('_', " "),
            signature
        ));
        if let Some(note) = a["note"].as_str().filter(|n| !n.is_empty()) {
            out.push_str(&format!("  ({note})"));
        }
        for m in a["matches"].as_array().into_iter().flatten() {
            n += 1;
            out.push_str(&format!(
                "\n    #{n}  {} {}  {}  serial {}  [{}]  {} match",
                s(&m["make"]),
                s(&m["model"]),
                s(&m["caliber"]),
                s(&m["serial"]),
                s(&m["status"]),
                s(&m["match"]),
            ));
        }
        if a["truncated"] == true {
            out.push_str("\n    (more records matched than the holder discloses at once)");
        }
    }
    if n > 0 {
        out.push_str(&format!(
            "\n(trace a match: `striae firearm trace --query {} --match N --reason ...`)",
            s(&v["id"])
        ));
    }
    out
}

fn incoming_text(v: &Value) -> String {
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no queries".into();
    }
    list.iter()
        .map(|i| {
            format!(
                "{}  {}  from {}  case {}  reason: {}\n  {} {}  matching records {}  [{}]",
                s(&i["id"]),
                s(&i["received_at"]),
                s(&i["country"]),
                s(&i["case_ref"]),
                s(&i["reason"]),
                s(&i["make"]),
                s(&i["serial_pattern"]),
                i["matching_records"],
                s(&i["state"]),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `n`-th match (from 1) of query `id`, with the country that holds it.
pub(crate) async fn nth_match(
    c: &striae_node::client::Client,
    id: &str,
    n: usize,
) -> Result<(Value, String, String)> {
    let v = c.get(&format!("/v1/queries/{id}")).await?;
    let mut i = 0;
    for a in v["answers"].as_array().into_iter().flatten() {
        for m in a["matches"].as_array().into_iter().flatten() {
            i += 1;
            if i == n {
                return Ok((
                    m.clone(),
                    s(&a["country"]).to_string(),
                    s(&v["case_ref"]).to_string(),
                ));
            }
        }
    }
    anyhow::bail!("query {id} has {i} matches; --match takes 1 to {i}")
}
