//! `striae ballistic ...` and `striae x3p inspect`: exhibits, searches, leads, scan files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Subcommand)]
pub(crate) enum BallisticAction {
    /// Add a scan (X3P file) as an exhibit; its digest is published to every member
    Add {
        /// The X3P file (ISO 25178-72)
        file: PathBuf,
        /// cartridge_case (bullets are not supported yet)
        #[arg(long, default_value = "cartridge_case")]
        kind: String,
        /// Caliber, e.g. "9mm Luger", 9x19, ".45 ACP"
        #[arg(long)]
        caliber: String,
        /// The bureau's case reference (stays at this node)
        #[arg(long)]
        case_ref: String,
    },
    /// Search the whole network with a scan file or one of this node's exhibits; the best
    /// candidates are confirmed by their holders
    Search {
        /// An X3P file to search with
        #[arg(required_unless_present = "exhibit", conflicts_with = "exhibit")]
        file: Option<PathBuf>,
        /// Search with this node's exhibit ID instead of a file
        #[arg(long)]
        exhibit: Option<String>,
        /// Kind of the file's evidence
        #[arg(long, default_value = "cartridge_case")]
        kind: String,
        /// Caliber of the file's evidence (required with a file)
        #[arg(long, required_unless_present = "exhibit")]
        caliber: Option<String>,
        /// Case reference, shown in the holders' audit logs
        #[arg(long)]
        case_ref: Option<String>,
        /// Candidates to return (1-50)
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Candidates to send for confirmation (0-50, at most --limit)
        #[arg(long)]
        confirm: Option<usize>,
    },
    /// Possible links found automatically when members add exhibits
    Leads {
        /// Only the leads the holder confirmed
        #[arg(long)]
        confirmed: bool,
    },
    /// Send a proposed lead to its holder for confirmation (our exhibit's surface goes with it)
    ApproveLead { id: String },
    /// This node's exhibits
    List,
    /// One of this node's exhibits
    Show { id: String },
    /// Save a picture of an exhibit's prepared surface (PNG, false colour with scales)
    Image {
        id: String,
        /// Where to write the PNG
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Withdraw an exhibit's digest from the network (the file stays at this node)
    Retract { id: String },
}

#[derive(Subcommand)]
pub(crate) enum X3pAction {
    /// Report what an X3P file holds (read locally: no node needed)
    Inspect { file: PathBuf },
}

/// `?a=b&c=d` with every value percent-encoded; absent values are left out.
fn query(pairs: &[(&str, Option<String>)]) -> Result<String> {
    let mut url = reqwest::Url::parse("http://query/")?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    Ok(url.query().map(|q| format!("?{q}")).unwrap_or_default())
}

fn read(file: &Path) -> Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn exhibit_line(v: &Value) -> String {
    format!(
        "{}  {} {} ({})  case {}  {}",
        s(&v["id"]),
        s(&v["kind"]),
        s(&v["caliber"]),
        s(&v["caliber_class"]),
        s(&v["case_ref"]),
        s(&v["status"]),
    )
}

fn candidate_line(c: &Value) -> String {
    let confirm = match c["cmc_count"].as_u64() {
        Some(n) => format!("{n} CMC"),
        None => "-".into(),
    };
    let detail = c["detail"]
        .as_str()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    format!(
        "{:>3}. {} {}  screen {:.3}  confirm {:<7} {}{}",
        c["rank"],
        s(&c["country"]),
        s(&c["exhibit_ref"]),
        c["screen_score"].as_f64().unwrap_or(0.0),
        confirm,
        s(&c["confirmation"]),
        detail
    )
}

fn lead_line(l: &Value) -> String {
    let confirm = match l["cmc_count"].as_u64() {
        Some(n) => format!("{n} CMC"),
        None => "-".into(),
    };
    format!(
        "{}  {}  ours {} ~ {} {}  screen {:.3}  confirm {} {}",
        s(&l["found_at"]),
        s(&l["id"]),
        s(&l["local_exhibit"]),
        s(&l["country"]),
        s(&l["exhibit_ref"]),
        l["screen_score"].as_f64().unwrap_or(0.0),
        confirm,
        s(&l["confirmation"]),
    )
}

pub(crate) async fn ballistic(action: BallisticAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        BallisticAction::Add {
            file,
            kind,
            caliber,
            case_ref,
        } => {
            let q = query(&[
                ("kind", Some(kind)),
                ("caliber", Some(caliber)),
                ("case_ref", Some(case_ref)),
            ])?;
            let v = c
                .post_raw(
                    &format!("/v1/ballistics{q}"),
                    "application/octet-stream",
                    read(&file)?,
                )
                .await?;
            print(t, &v, added_text);
        }
        BallisticAction::Search {
            file,
            exhibit,
            kind,
            caliber,
            case_ref,
            limit,
            confirm,
        } => {
            let common = [
                ("case_ref", case_ref),
                ("limit", Some(limit.to_string())),
                ("confirm", confirm.map(|n| n.to_string())),
            ];
            let v = search(&c, exhibit, file, kind, caliber, common).await?;
            print(t, &v, search_text);
        }
        BallisticAction::Leads { confirmed } => {
            let q = if confirmed { "?confirmed=true" } else { "" };
            let v = c.get(&format!("/v1/ballistics/leads{q}")).await?;
            print(t, &v, |v| list_text(v, "no leads", lead_line));
        }
        BallisticAction::ApproveLead { id } => {
            let v = c
                .post(&format!("/v1/ballistics/leads/{id}/approve"), &Value::Null)
                .await?;
            print(t, &v, lead_line);
        }
        BallisticAction::List => {
            let v = c.get("/v1/ballistics").await?;
            print(t, &v, |v| {
                list_text(v, "no exhibits at this node", exhibit_line)
            });
        }
        BallisticAction::Show { id } => {
            let v = c.get(&format!("/v1/ballistics/{id}")).await?;
            print(t, &v, |v| {
                serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
            });
        }
        BallisticAction::Image { id, out } => {
            let png = c.get_bytes(&format!("/v1/ballistics/{id}/image")).await?;
            std::fs::write(&out, &png).with_context(|| format!("write {}", out.display()))?;
            println!("wrote {} ({} bytes)", out.display(), png.len());
        }
        BallisticAction::Retract { id } => {
            let v = c.send_delete(&format!("/v1/ballistics/{id}")).await?;
            print(t, &v, |v| format!("retracted exhibit {}", exhibit_line(v)));
        }
    }
    Ok(())
}

/// Searches with one of this node's exhibits or with a file; `common` holds the parameters
/// both take.
async fn search(
    c: &striae_node::client::Client,
    exhibit: Option<String>,
    file: Option<PathBuf>,
    kind: String,
    caliber: Option<String>,
    common: [(&str, Option<String>); 3],
) -> Result<Value> {
    let v = match (exhibit, file) {
        (Some(id), _) => {
            let q = query(&common)?;
            c.post(&format!("/v1/ballistics/{id}/search{q}"), &json!(null))
                .await?
        }
        (None, Some(file)) => {
            let mut pairs = vec![("kind", Some(kind)), ("caliber", caliber)];
            pairs.extend(common);
            let q = query(&pairs)?;
            c.post_raw(
                &format!("/v1/ballistics/search{q}"),
                "application/octet-stream",
                read(&file)?,
            )
            .await?
        }
        (None, None) => return Err(anyhow!("give an X3P file or --exhibit ID")),
    };
    Ok(v)
}

fn added_text(v: &Value) -> String {
    let mut out = format!("added exhibit {}", exhibit_line(v));
    for w in v["warnings"].as_array().into_iter().flatten() {
        out.push_str(&format!("\nwarning: {}", s(w)));
    }
    out
}

fn search_text(v: &Value) -> String {
    let list = v["candidates"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return format!(
            "no candidates among {} digests held (search {})",
            v["digests_held"],
            s(&v["search_id"])
        );
    }
    let mut out = format!(
        "search {} over {} digests ({} CMC or more confirms):",
        s(&v["search_id"]),
        v["digests_held"],
        v["confirm_threshold"]
    );
    for cand in &list {
        out.push('\n');
        out.push_str(&candidate_line(cand));
    }
    out
}

/// One line per item of a JSON array, or `empty` when there are none.
fn list_text(v: &Value, empty: &str, line: fn(&Value) -> String) -> String {
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return empty.into();
    }
    list.iter().map(line).collect::<Vec<_>>().join("\n")
}

pub(crate) async fn x3p(action: X3pAction, t: &Target) -> Result<()> {
    match action {
        X3pAction::Inspect { file } => {
            let bytes = read(&file)?;
            let scan = striae_ballistics_lib::x3p::read_x3p(&bytes)
                .map_err(|e| anyhow!("{}: not a usable X3P file: {e}", file.display()))?;
            let v = json!(scan.inspect());
            print(t, &v, |v| {
                let mut out = format!(
                    "{}: {} x {} points at {:.3} x {:.3} µm, type {}, {} valid points",
                    file.display(),
                    v["size_x"],
                    v["size_y"],
                    v["increment_x"].as_f64().unwrap_or(0.0) * 1e6,
                    v["increment_y"].as_f64().unwrap_or(0.0) * 1e6,
                    s(&v["data_type"]),
                    v["valid_points"],
                );
                for (label, key) in [
                    ("creator", "creator"),
                    ("instrument", "instrument"),
                    ("date", "date"),
                ] {
                    if let Some(x) = v[key].as_str() {
                        out.push_str(&format!("\n{label}: {x}"));
                    }
                }
                for w in v["warnings"].as_array().into_iter().flatten() {
                    out.push_str(&format!("\nwarning: {}", s(w)));
                }
                out
            });
        }
    }
    Ok(())
}
