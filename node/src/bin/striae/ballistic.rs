//! `striae ballistic ...` and `striae x3p inspect`: exhibits, searches, leads, scan files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, query, s};

#[derive(Subcommand)]
pub(crate) enum BallisticAction {
    /// Add a scan (X3P file) as an exhibit; its digest is published to every member. A
    /// bullet is its land scans in land order (or one zip of them) with --kind bullet
    Add {
        /// The X3P file (ISO 25178-72); for a bullet, each land's file in land order, or a zip
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// cartridge_case or bullet
        #[arg(long, default_value = "cartridge_case")]
        kind: String,
        /// Caliber, e.g. "9mm Luger", 9x19, ".45 ACP"
        #[arg(long)]
        caliber: String,
        /// The bureau's case reference (stays at this node)
        #[arg(long)]
        case_ref: String,
        /// Who the digest is shared with: network, local or region:NAME (default: the
        /// node's `[ballistics] share`)
        #[arg(long)]
        share: Option<String>,
    },
    /// Search the whole network with a scan file or one of this node's exhibits; the best
    /// candidates are confirmed by their holders
    Search {
        /// An X3P file to search with (a bullet: its lands' files in land order, or a zip)
        #[arg(required_unless_present = "exhibit", conflicts_with = "exhibit", num_args = 1..)]
        files: Vec<PathBuf>,
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
    /// Save the picture of why a candidate matches one of this node's exhibits: congruent
    /// cells on both cartridge cases, or a bullet's matched lands aligned (a candidate abroad
    /// is asked again and its holder must confirm)
    ComparisonImage {
        /// This node's exhibit
        id: String,
        /// The candidate (its exhibit_ref)
        other: String,
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

/// One exhibit in full, for `ballistic show`.
fn exhibit_text(v: &Value) -> String {
    let mut out = exhibit_line(v);
    out.push_str(&format!(
        "\n  added {}  held by {} ({})  shared: {}",
        s(&v["created_at"]),
        s(&v["country"]),
        s(&v["bureau_id"]),
        if v["share"].is_null() {
            "network".to_string()
        } else {
            v["share"].to_string()
        },
    ));
    if let Some(lands) = v["lands"].as_u64() {
        out.push_str(&format!("\n  {lands} lands"));
    }
    out.push_str(&format!(
        "\n  scan {} ({} bytes, {} surface points), digest {} bytes",
        s(&v["blob"]),
        v["blob_bytes"],
        v["surface_points"],
        v["digest_bytes"]
    ));
    out.push_str(
        "\n  (`striae ballistic image ID --out F.png` to look at it; --json for every field)",
    );
    out
}

fn candidate_line(c: &Value) -> String {
    let confirm = match (c["cmc_count"].as_u64(), c["score"].as_f64()) {
        (Some(n), _) => format!("{n} CMC"),
        (None, Some(score)) => format!(
            "{score:.3} phase {} lands {}",
            c["phase"], c["matched_lands"]
        ),
        (None, None) => "-".into(),
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
        "{}  {}  ours {} (case {}) ~ {} {}  screen {:.3}  confirm {} {}",
        s(&l["found_at"]),
        s(&l["id"]),
        s(&l["local_exhibit"]),
        s(&l["case_ref"]),
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
            files,
            kind,
            caliber,
            case_ref,
            share,
        } => {
            let (content_type, body) = upload_body(&kind, &files)?;
            let q = query(&[
                ("kind", Some(kind)),
                ("caliber", Some(caliber)),
                ("case_ref", Some(case_ref)),
                ("share", share),
            ])?;
            let v = c
                .post_raw(&format!("/v1/ballistics{q}"), &content_type, body)
                .await?;
            print(t, &v, added_text);
        }
        BallisticAction::Search {
            files,
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
            let v = search(&c, exhibit, files, kind, caliber, common).await?;
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
            print(t, &v, exhibit_text);
        }
        BallisticAction::Image { id, out } => {
            let png = c.get_bytes(&format!("/v1/ballistics/{id}/image")).await?;
            std::fs::write(&out, &png).with_context(|| format!("write {}", out.display()))?;
            println!("wrote {} ({} bytes)", out.display(), png.len());
        }
        BallisticAction::ComparisonImage { id, other, out } => {
            let path = format!("/v1/ballistics/{id}/comparisons/{other}/image");
            let png = c.get_bytes(&path).await?;
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
    files: Vec<PathBuf>,
    kind: String,
    caliber: Option<String>,
    common: [(&str, Option<String>); 3],
) -> Result<Value> {
    if let Some(id) = exhibit {
        let q = query(&common)?;
        return Ok(c
            .post(&format!("/v1/ballistics/{id}/search{q}"), &json!(null))
            .await?);
    }
    if files.is_empty() {
        return Err(anyhow!("give an X3P file or --exhibit ID"));
    }
    let (content_type, body) = upload_body(&kind, &files)?;
    let mut pairs = vec![("kind", Some(kind)), ("caliber", caliber)];
    pairs.extend(common);
    let q = query(&pairs)?;
    Ok(
        c.post_raw(&format!("/v1/ballistics/search{q}"), &content_type, body)
            .await?,
    )
}

/// The request body for `files`: one X3P file as is; a bullet's lands as one zip (when a
/// single `.zip` is given) or as multipart/form-data, one part per land in the order given.
fn upload_body(kind: &str, files: &[PathBuf]) -> Result<(String, Vec<u8>)> {
    let zip = |f: &PathBuf| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    match (kind, files) {
        ("bullet", [one]) if zip(one) => Ok(("application/zip".into(), read(one)?)),
        ("bullet", lands) => multipart(lands),
        (_, [one]) => Ok(("application/octet-stream".into(), read(one)?)),
        (_, _) => Err(anyhow!(
            "a {kind} is one X3P file; several files make a bullet (--kind bullet)"
        )),
    }
}

fn multipart(lands: &[PathBuf]) -> Result<(String, Vec<u8>)> {
    let boundary = format!("striae-{:032x}", rand::random::<u128>());
    let mut body = Vec::new();
    for (i, land) in lands.iter().enumerate() {
        let name = land
            .file_name()
            .map(|n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"))
            .unwrap_or_else(|| format!("land{}.x3p", i + 1));
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"land{}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                i + 1
            )
            .as_bytes(),
        );
        body.extend_from_slice(&read(land)?);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
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
    let rule = match v["confirm_threshold"].as_u64() {
        Some(n) => format!("{n} CMC or more confirms"),
        None => "bullets: lands compared at every phase".into(),
    };
    let mut out = format!(
        "search {} over {} digests ({rule}):",
        s(&v["search_id"]),
        v["digests_held"],
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
