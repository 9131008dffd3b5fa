//! `striae firearm ...` and `striae trace ...`: records, checks, imports and traces.

use std::{io::Write, path::PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Args)]
pub(crate) struct AddArgs {
    #[arg(long)]
    make: String,
    #[arg(long)]
    model: String,
    #[arg(long)]
    caliber: String,
    #[arg(long)]
    serial: String,
    /// pistol, revolver, rifle, shotgun, submachine gun, ...
    #[arg(long = "type")]
    firearm_type: String,
    /// stolen, lost, trafficked, smuggled, seized, recovered or closed
    #[arg(long)]
    status: String,
    #[arg(long)]
    country_of_manufacture: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    event_date: Option<String>,
    #[arg(long)]
    case_ref: Option<String>,
    #[arg(long)]
    importer: Option<String>,
    #[arg(long)]
    markings: Option<String>,
    #[arg(long)]
    reporting_agency: Option<String>,
    #[arg(long)]
    notes: Option<String>,
    /// A JSON file with the ownership history: [{"date","event","party","country","document_ref"?}]
    #[arg(long)]
    history: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum FirearmAction {
    /// Add a firearm record (unknown makes, models and calibres are accepted but flagged)
    Add(Box<AddArgs>),
    /// Show one of this node's records with its history
    Get { id: String },
    /// This node's records, a page at a time (`striae export` writes them all to a file)
    List {
        /// Records per page (1 to 1000)
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Start after this record id (the last one of the previous page)
        #[arg(long)]
        after: Option<String>,
    },
    /// Change a record's status (recovered or closed retracts its digest network wide)
    Status { id: String, status: String },
    /// Check a make and serial against every member's digests, on this node only
    Check {
        #[arg(long)]
        make: String,
        #[arg(long)]
        serial: String,
    },
    /// Import a CSV (header row of field names) or NDJSON file, in chunks, with progress
    Import {
        file: PathBuf,
        /// csv or ndjson (default: from the file name)
        #[arg(long)]
        format: Option<String>,
        /// Records per request
        #[arg(long, default_value_t = 50_000)]
        chunk: usize,
    },
    /// Trace a firearm with the members that hold it and its country of manufacture (or a
    /// match of a serial-pattern query: --query ID --match N)
    Trace {
        #[arg(long, required_unless_present = "query")]
        make: Option<String>,
        #[arg(long, required_unless_present = "query")]
        serial: Option<String>,
        #[arg(long, default_value = "")]
        model: String,
        #[arg(long, default_value = "")]
        caliber: String,
        /// The case reference (default with --query: the query's)
        #[arg(long, required_unless_present = "query")]
        case_ref: Option<String>,
        /// Trace a match of this query (`striae query show ID` numbers them)
        #[arg(long, requires = "match_number")]
        query: Option<String>,
        /// Which match of the query, from 1
        #[arg(long = "match", id = "match_number")]
        match_number: Option<usize>,
        #[arg(long)]
        reason: String,
        /// More countries to ask, e.g. --to ES,IT
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
        /// Wait up to this many seconds for the answers
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum TraceAction {
    /// Show a trace and its answers (signatures verified again)
    Show { id: String },
    /// The traces this node sent
    List,
    /// Trace requests other members sent this node, with who asked and why
    Incoming {
        /// Only those waiting for review
        #[arg(long)]
        pending: bool,
    },
    /// Disclose the records a request held for review found
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Refuse a request held for review
    Refuse {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn list_text(v: &Value) -> String {
    let records = v["records"].as_array().cloned().unwrap_or_default();
    let mut lines: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{}  {} {}  {}  serial {}  [{}]",
                s(&r["id"]),
                s(&r["make"]),
                s(&r["model"]),
                s(&r["caliber"]),
                s(&r["serial"]),
                s(&r["status"])
            )
        })
        .collect();
    lines.push(format!(
        "{} of {} records{}",
        records.len(),
        v["total"],
        match records.last() {
            Some(last) if v["total"].as_u64() > Some(records.len() as u64) =>
                format!("; next page: --after {}", s(&last["id"])),
            _ => String::new(),
        }
    ));
    lines.join("\n")
}

fn record_text(v: &Value) -> String {
    let mut out = format!(
        "{}  {} {}  {}  {}  serial {}  [{}]",
        s(&v["id"]),
        s(&v["make"]),
        s(&v["model"]),
        s(&v["caliber"]),
        s(&v["type"]),
        s(&v["serial"]),
        s(&v["status"]),
    );
    for field in ["make", "model", "caliber", "type"] {
        if v["reference"][field]["ambiguous"] == true {
            let candidates: Vec<&str> = v["reference"][field]["suggestions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str(&format!(
                "\n  note: {field} `{}` is ambiguous (it could be {}); the markings say which",
                s(&v["entered"][field]),
                candidates.join(", ")
            ));
        } else if v["unknown"][field] == true {
            let suggestions: Vec<&str> = v["reference"][field]["suggestions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str(&format!(
                "\n  note: {field} `{}` is not in the reference table{}",
                s(&v["entered"][field]),
                if suggestions.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", suggestions.join(", "))
                }
            ));
        }
    }
    for key in [
        "country_of_manufacture",
        "event_date",
        "case_ref",
        "reporting_agency",
    ] {
        if !v[key].is_null() {
            out.push_str(&format!("\n  {key}: {}", s(&v[key])));
        }
    }
    out.push_str(&history_text(&v["history"]));
    out
}

fn history_text(history: &Value) -> String {
    let mut out = String::new();
    for h in history.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n    {}  {:<12} {}  ({}){}",
            s(&h["date"]),
            s(&h["event"]),
            s(&h["party"]),
            s(&h["country"]),
            h["document_ref"]
                .as_str()
                .map(|d| format!("  doc {d}"))
                .unwrap_or_default()
        ));
    }
    out
}

fn trace_text(v: &Value) -> String {
    let mut out = format!(
        "trace {}  {}  {} {}  case {}",
        s(&v["id"]),
        s(&v["state"]).to_uppercase(),
        s(&v["make"]),
        s(&v["serial"]),
        s(&v["case_ref"])
    );
    for a in v["asked"].as_array().into_iter().flatten() {
        if a["answered"] != true {
            out.push_str(&format!(
                "\n  {} awaiting answer{}",
                s(&a["country"]),
                a["last_error"]
                    .as_str()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    }
    for r in v["responses"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {}: {}  signature {}",
            s(&r["country"]),
            s(&r["outcome"]).to_uppercase(),
            if r["signature_valid"] == true {
                "valid"
            } else {
                "INVALID"
            }
        ));
        if let Some(note) = r["note"].as_str().filter(|n| !n.is_empty()) {
            out.push_str(&format!("  note: {note}"));
        }
        if r["record"].is_object() {
            out.push_str(&format!(
                "\n    record {} {} {} {}, {}",
                s(&r["record"]["make"]),
                s(&r["record"]["model"]),
                s(&r["record"]["caliber"]),
                s(&r["record"]["serial"]),
                s(&r["record"]["status"])
            ));
            out.push_str(&history_text(&r["history"]).replace("\n    ", "\n      "));
        }
    }
    out
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

pub(crate) async fn firearm(action: FirearmAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        FirearmAction::Add(args) => add(&c, t, *args).await?,
        FirearmAction::Get { id } => {
            let v = c.get(&format!("/v1/firearms/{id}")).await?;
            print(t, &v, record_text);
        }
        FirearmAction::List { limit, after } => {
            let mut path = format!("/v1/firearms?limit={limit}");
            if let Some(after) = after {
                path.push_str(&format!("&after={after}"));
            }
            let v = c.get(&path).await?;
            print(t, &v, list_text);
        }
        FirearmAction::Status { id, status } => {
            let v = c
                .patch(&format!("/v1/firearms/{id}"), &json!({"status": status}))
                .await?;
            print(t, &v, record_text);
        }
        FirearmAction::Check { make, serial } => {
            let v = c
                .post(
                    "/v1/firearms/check",
                    &json!({"make": make, "serial": serial}),
                )
                .await?;
            print(t, &v, check_text);
        }
        FirearmAction::Import {
            file,
            format,
            chunk,
        } => import(&c, t, &file, format.as_deref(), chunk.max(1)).await?,
        FirearmAction::Trace {
            make,
            serial,
            model,
            caliber,
            case_ref,
            query,
            match_number,
            reason,
            to,
            wait,
        } => {
            let request = match (query, match_number) {
                (Some(id), Some(n)) => {
                    let (m, country, query_case) = crate::query::nth_match(&c, &id, n).await?;
                    let mut to = to;
                    to.push(country);
                    json!({"make": m["make"], "serial": m["serial"], "model": m["model"],
                        "caliber": m["caliber"], "case_ref": case_ref.unwrap_or(query_case),
                        "reason": reason, "to": to})
                }
                _ => json!({"make": make, "serial": serial, "model": model,
                    "caliber": caliber, "case_ref": case_ref, "reason": reason, "to": to}),
            };
            start_trace(&c, t, &request, wait).await?;
        }
    }
    Ok(())
}

async fn add(c: &striae_node::client::Client, t: &Target, args: AddArgs) -> Result<()> {
    let AddArgs {
        make,
        model,
        caliber,
        serial,
        firearm_type,
        status,
        country_of_manufacture,
        event_date,
        case_ref,
        importer,
        markings,
        reporting_agency,
        notes,
        history,
    } = args;
    let mut body = json!({
        "make": make, "model": model, "caliber": caliber, "serial": serial,
        "type": firearm_type, "status": status,
        "country_of_manufacture": opt(&country_of_manufacture),
        "event_date": opt(&event_date), "case_ref": opt(&case_ref),
        "importer": opt(&importer), "markings": opt(&markings),
        "reporting_agency": opt(&reporting_agency), "notes": opt(&notes),
    });
    if let Some(path) = history {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        body["history"] = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array of events", path.display()))?;
    }
    let v = c.post("/v1/firearms", &body).await?;
    print(t, &v, record_text);
    Ok(())
}

fn check_text(v: &Value) -> String {
    let hits = v["hits"].as_array().cloned().unwrap_or_default();
    let verdict = match v["verdict"].as_str() {
        Some("inconclusive") => "INCONCLUSIVE: the make is not in the reference table, so a \
            record written under the firearm's real make would not match"
            .to_string(),
        _ if hits.is_empty() => "no member holds a record of this firearm".to_string(),
        _ => format!("{} hit(s)", hits.len()),
    };
    let mut out = format!("{} {}: {verdict}", s(&v["make"]), s(&v["serial"]));
    for h in &hits {
        out.push_str(&hit_line(h));
    }
    for sugg in v["suggestion_hits"].as_array().into_iter().flatten() {
        let found = sugg["hits"].as_array().cloned().unwrap_or_default();
        out.push_str(&format!(
            "\n  did you mean {}? {}",
            s(&sugg["make"]),
            if found.is_empty() {
                "no record under that make either".to_string()
            } else {
                format!("{} hit(s) under that make:", found.len())
            }
        ));
        for h in &found {
            out.push_str(&hit_line(h));
        }
    }
    out
}

fn hit_line(h: &Value) -> String {
    format!(
        "\n  {:<10} {}  status {}  record {}  ({})",
        s(&h["match"]).to_uppercase(),
        s(&h["country"]),
        s(&h["status"]),
        s(&h["record_ref"]),
        s(&h["bureau_id"])
    )
}

/// Starts a trace and shows it once complete, or after `wait` seconds with what has come.
async fn start_trace(
    c: &striae_node::client::Client,
    t: &Target,
    request: &Value,
    wait: u64,
) -> Result<()> {
    let started = c.post("/v1/traces", request).await?;
    let id = started["id"]
        .as_str()
        .context("the node returned no trace id")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let mut v = c.get(&format!("/v1/traces/{id}")).await?;
    // Every member asked has answered (a "held for review" counts: waiting longer would not
    // bring its final answer sooner), or the trace is complete.
    let all_answered = |v: &Value| {
        v["asked"].as_array().is_some_and(|a| {
            a.iter()
                .all(|m| m["answered"] == true || m["last_error"].is_string())
        })
    };
    while v["state"] != "complete" && !all_answered(&v) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        v = c.get(&format!("/v1/traces/{id}")).await?;
    }
    print(t, &v, |v| {
        let mut out = trace_text(v);
        if v["state"] != "complete" {
            out.push_str(&format!(
                "\n(answers still pending: `striae trace show {id}`)"
            ));
        }
        out
    });
    Ok(())
}

/// Splits a file into chunks of whole records: CSV keeps its header on every chunk and
/// never cuts inside a quoted field. Returns (first line number of the chunk, text).
fn chunks(text: &str, csv: bool, per_chunk: usize) -> Vec<(u64, String)> {
    let mut lines = text.split_inclusive('\n');
    let header = if csv {
        lines.next().unwrap_or_default()
    } else {
        ""
    };
    let mut out = Vec::new();
    let mut current = String::from(header);
    let (mut records, mut line_no, mut start) = (0usize, u64::from(csv), 0u64);
    let mut open_quote = false;
    for line in lines {
        line_no += 1;
        if records == 0 && !open_quote {
            start = line_no;
        }
        current.push_str(line);
        if csv && line.matches('"').count() % 2 == 1 {
            open_quote = !open_quote;
        }
        if open_quote {
            continue;
        }
        records += 1;
        if records == per_chunk {
            out.push((start, std::mem::replace(&mut current, header.to_string())));
            records = 0;
        }
    }
    if records > 0 || open_quote {
        out.push((start, current));
    }
    out
}

async fn import(
    c: &striae_node::client::Client,
    t: &Target,
    file: &PathBuf,
    format: Option<&str>,
    per_chunk: usize,
) -> Result<()> {
    let name = file.to_string_lossy().to_lowercase();
    let csv = match format {
        Some("csv") => true,
        Some("ndjson") | Some("jsonl") => false,
        Some(other) => bail!("--format {other}: use csv or ndjson"),
        None if name.ends_with(".csv") => true,
        None if name.ends_with(".ndjson") || name.ends_with(".jsonl") => false,
        None => {
            bail!("cannot tell the format from the file name: pass --format csv or --format ndjson")
        }
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {} as UTF-8 text", file.display()))?;
    let parts = chunks(&text, csv, per_chunk);
    let content_type = if csv {
        "text/csv"
    } else {
        "application/x-ndjson"
    };
    let (mut imported, mut rejected_total, mut repeated) = (0u64, 0u64, 0usize);
    let (mut updated, mut unchanged) = (0u64, 0u64);
    let mut rejected = Vec::new();
    let total = parts.len();
    // Two chunks in flight: the node validates one while it writes the other. Answers come
    // back in file order.
    let mut answers = futures::stream::iter(parts)
        .map(|(start, body)| async move {
            let answer = c
                .post_raw("/v1/firearms/import", content_type, body.into_bytes())
                .await;
            (start, answer)
        })
        .buffered(2)
        .enumerate();
    while let Some((n, (start, answer))) = answers.next().await {
        let v = answer?;
        if v["repeated"] == true {
            repeated += 1;
        }
        imported += v["imported"].as_u64().unwrap_or(0);
        updated += v["updated"].as_u64().unwrap_or(0);
        unchanged += v["unchanged"].as_u64().unwrap_or(0);
        rejected_total += v["rejected_total"].as_u64().unwrap_or(0);
        // The node numbers lines within the chunk (a CSV chunk's header is its line 1).
        for r in v["rejected"].as_array().into_iter().flatten() {
            let line = r["line"].as_u64().unwrap_or(0);
            let global = if csv {
                start + line.saturating_sub(2)
            } else {
                start + line.saturating_sub(1)
            };
            rejected.push(json!({"line": global, "error": r["error"]}));
        }
        eprint!(
            "\rimported {imported} records, {rejected_total} lines refused ({}/{total} chunks)",
            n + 1
        );
        let _ = std::io::stderr().flush();
    }
    eprintln!();
    let v = json!({"imported": imported, "updated": updated, "unchanged": unchanged,
        "rejected": rejected, "rejected_total": rejected_total, "repeated_chunks": repeated});
    print(t, &v, |v| {
        let mut out = format!(
            "{} new records, {} updated, {} unchanged (already recorded as written), {} lines \
             refused (lines counted from 1, the header included)",
            v["imported"], v["updated"], v["unchanged"], v["rejected_total"]
        );
        if repeated > 0 {
            out.push_str(&format!(
                "\n  {repeated} of {total} chunk(s) had been imported before: nothing new was \
                 stored or announced for them (the counts are those of the first import)"
            ));
        }
        for r in v["rejected"].as_array().into_iter().flatten().take(50) {
            out.push_str(&format!("\n  line {}: {}", r["line"], s(&r["error"])));
        }
        out
    });
    if rejected_total > 0 {
        bail!("{rejected_total} line(s) refused; fix them and import those lines again");
    }
    Ok(())
}

pub(crate) async fn trace(action: TraceAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        TraceAction::Show { id } => {
            let v = c.get(&format!("/v1/traces/{id}")).await?;
            print(t, &v, trace_text);
        }
        TraceAction::List => {
            let v = c.get("/v1/traces").await?;
            print(t, &v, |v| {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "this node has sent no traces".into();
                }
                list.iter().map(trace_text).collect::<Vec<_>>().join("\n")
            });
        }
        TraceAction::Incoming { pending } => {
            let path = if pending {
                "/v1/traces/incoming?state=pending_review"
            } else {
                "/v1/traces/incoming"
            };
            let v = c.get(path).await?;
            print(t, &v, |v| {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "no member has traced a firearm with this node".into();
                }
                list.iter()
                    .map(|i| {
                        format!(
                            "{}  {}  from {}  case {}  reason: {}\n  {} {}  records {}  -> {}",
                            s(&i["id"]),
                            s(&i["received_at"]),
                            s(&i["country"]),
                            s(&i["case_ref"]),
                            s(&i["reason"]),
                            s(&i["make"]),
                            s(&i["serial"]),
                            i["records"].as_array().map_or(0, Vec::len),
                            s(&i["outcome"]).to_uppercase()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TraceAction::Approve { id, note } => review(&c, t, &id, "approve", &note).await?,
        TraceAction::Refuse { id, note } => review(&c, t, &id, "refuse", &note).await?,
    }
    Ok(())
}

async fn review(
    c: &striae_node::client::Client,
    t: &Target,
    id: &str,
    decision: &str,
    note: &str,
) -> Result<()> {
    let v = c
        .post(
            &format!("/v1/traces/incoming/{id}/{decision}"),
            &json!({"note": note}),
        )
        .await?;
    print(t, &v, |v| {
        format!(
            "{}: answered {} to {} (case {}); the answer is delivered to the requester",
            s(&v["id"]),
            s(&v["outcome"]).to_uppercase(),
            s(&v["country"]),
            s(&v["case_ref"])
        )
    });
    Ok(())
}
