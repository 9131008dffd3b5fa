//! `striae audit ...`: list and verify the node's signed, hash-chained audit log.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::Value;

use crate::common::{Target, client, print, s};

#[derive(Subcommand)]
pub(crate) enum AuditAction {
    /// List audit records, oldest first
    List {
        /// First record to list
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Most records
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Check every signature and link of the log; exits 1 when anything is wrong
    Verify,
}

fn record_line(r: &Value) -> String {
    format!(
        "#{:<5} {}  {:<3} {:<18} {} {}  {}{}",
        r["seq"],
        s(&r["at"]),
        s(&r["direction"]),
        s(&r["action"]),
        s(&r["peer_country"]),
        s(&r["subject"]),
        r["details"],
        r["user"]["name"]
            .as_str()
            .map(|name| format!("  by {name}"))
            .unwrap_or_default()
    )
}

pub(crate) async fn audit(action: AuditAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        AuditAction::List { from, limit } => {
            let v = c
                .get(&format!("/v1/audit?from={from}&limit={limit}"))
                .await?;
            print(t, &v, |v| {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "the audit log is empty".into();
                }
                list.iter().map(record_line).collect::<Vec<_>>().join("\n")
            });
        }
        AuditAction::Verify => {
            let v = c.get("/v1/audit/verify").await?;
            print(t, &v, |v| {
                if v["ok"].as_bool() == Some(true) {
                    return format!("audit log intact: {} records verified", v["entries"]);
                }
                let mut out = format!("AUDIT LOG DAMAGED ({} records):", v["entries"]);
                for p in v["problems"].as_array().into_iter().flatten() {
                    out.push_str(&format!("\n  record {}: {}", p["seq"], s(&p["problem"])));
                }
                out
            });
            if v["ok"].as_bool() != Some(true) {
                bail!("the audit log does not verify");
            }
        }
    }
    Ok(())
}
