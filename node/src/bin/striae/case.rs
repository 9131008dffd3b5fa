//! `striae case`: the Firearms Recovery Protocol as one case per recovered firearm.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::common::{Target, client, print, s};

#[derive(Args)]
pub(crate) struct CreateArgs {
    #[arg(long)]
    case_ref: String,
    #[arg(long)]
    title: String,
    /// Date of recovery, YYYY-MM-DD
    #[arg(long)]
    recovered_date: String,
    /// Country of recovery (default: this node's)
    #[arg(long)]
    recovered_country: Option<String>,
    #[arg(long)]
    place: Option<String>,
    #[arg(long)]
    make: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    caliber: Option<String>,
    /// The serial as read; a pattern with `?` and `*` when only partly legible
    #[arg(long)]
    serial: Option<String>,
    /// intact, partial, obliterated or restored
    #[arg(long)]
    serial_state: Option<String>,
    #[arg(long = "type")]
    firearm_type: Option<String>,
    #[arg(long)]
    country_of_manufacture: Option<String>,
    #[arg(long)]
    importer: Option<String>,
    #[arg(long)]
    import_country: Option<String>,
    /// This node's ballistic exhibits of the case, e.g. --exhibit ID --exhibit ID
    #[arg(long = "exhibit")]
    exhibits: Vec<String>,
    /// More countries to ask, e.g. --to ES,IT
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// Wait up to this many seconds for the automatic steps
    #[arg(long, default_value_t = 15)]
    wait: u64,
}

#[derive(Subcommand)]
pub(crate) enum CaseAction {
    /// Open a case: the node runs steps 1, 2, 6, 7 and 9 at once
    Create(Box<CreateArgs>),
    /// The cases of this node
    List,
    /// A case: its steps, leads and trafficking indicators
    Show { id: String },
    /// Record a step the operator carries out (3, 4, 5 or 8)
    Step {
        id: String,
        step: u8,
        /// done, not_applicable, failed or manual
        #[arg(long)]
        state: String,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Attach ballistic exhibits of this node and search them (step 6)
    Attach {
        id: String,
        #[arg(required = true)]
        exhibits: Vec<String>,
    },
    /// The lead report: JSON, or an HTML page written to --out
    Report {
        id: String,
        #[arg(long)]
        html: bool,
        /// Where to write the HTML page (default: case-<id>.html)
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub(crate) async fn case(action: CaseAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        CaseAction::Create(args) => {
            let wait = args.wait;
            let body = create_body(*args, &c).await?;
            let created = c.post("/v1/cases", &body).await?;
            let id = created["id"]
                .as_str()
                .context("the node returned no case id")?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
            let mut v = created.clone();
            while v["state"] != "done" && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                v = c.get(&format!("/v1/cases/{id}")).await?;
            }
            print(t, &v, case_text);
        }
        CaseAction::List => {
            let v = c.get("/v1/cases").await?;
            print(t, &v, |v| {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    return "no cases".into();
                }
                list.iter()
                    .map(|c| {
                        format!(
                            "{}  {}  {}  {}  recovered {} {}",
                            s(&c["id"]),
                            s(&c["case_ref"]),
                            s(&c["title"]),
                            s(&c["firearm"]),
                            s(&c["recovered"]["date"]),
                            s(&c["recovered"]["country"])
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        CaseAction::Show { id } => {
            let v = c.get(&format!("/v1/cases/{id}")).await?;
            print(t, &v, case_text);
        }
        CaseAction::Step {
            id,
            step,
            state,
            notes,
        } => {
            let v = c
                .post(
                    &format!("/v1/cases/{id}/steps/{step}"),
                    &json!({"state": state, "notes": notes}),
                )
                .await?;
            print(t, &v, case_text);
        }
        CaseAction::Attach { id, exhibits } => {
            let v = c
                .post(
                    &format!("/v1/cases/{id}/exhibits"),
                    &json!({"exhibits": exhibits}),
                )
                .await?;
            print(t, &v, case_text);
        }
        CaseAction::Report { id, html, out } => {
            if html {
                let page = c
                    .get_bytes(&format!("/v1/cases/{id}/report?format=html"))
                    .await?;
                let path = out.unwrap_or_else(|| PathBuf::from(format!("case-{id}.html")));
                std::fs::write(&path, page)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("report written to {}", path.display());
            } else {
                let v = c.get(&format!("/v1/cases/{id}/report")).await?;
                print(t, &v, report_text);
            }
        }
    }
    Ok(())
}

async fn create_body(a: CreateArgs, c: &striae_node::client::Client) -> Result<Value> {
    let country = match a.recovered_country {
        Some(cc) => cc,
        None => c.get("/v1/status").await?["country"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let mut recovered = json!({"date": a.recovered_date, "country": country});
    if let Some(place) = a.place {
        recovered["place"] = json!(place);
    }
    let mut body = json!({"case_ref": a.case_ref, "title": a.title, "recovered": recovered,
        "exhibits": a.exhibits, "to": a.to});
    if let Some(make) = a.make {
        let mut firearm = json!({"make": make});
        for (key, value) in [
            ("model", a.model),
            ("caliber", a.caliber),
            ("serial", a.serial),
            ("serial_state", a.serial_state),
            ("type", a.firearm_type),
            ("country_of_manufacture", a.country_of_manufacture),
            ("importer", a.importer),
            ("import_country", a.import_country),
        ] {
            if let Some(v) = value {
                firearm[key] = json!(v);
            }
        }
        body["firearm"] = firearm;
    }
    Ok(body)
}

/// The lead report as text: the case, what was found where and by whom, with the audit
/// references behind each disclosure (`--html` writes the full page).
fn report_text(v: &Value) -> String {
    let case = &v["case"];
    let mut out = format!(
        "lead report for case {} ({}), generated {} at {}",
        s(&case["case_ref"]),
        s(&case["title"]),
        s(&v["generated_at"]),
        s(&v["bureau"]["country"]),
    );
    for step in v["steps"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "
  {}. {:<48} {}",
            step["step"],
            s(&step["name"]),
            s(&step["summary"])
        ));
    }
    for f in v["found"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "
found: {} — in {}, via {}{}",
            s(&f["what"]),
            s(&f["where"]),
            s(&f["via"]),
            f["when"]
                .as_str()
                .map_or(String::new(), |w| format!(", answered {w}"))
        ));
        for e in f["history"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "
    {}  {}  {} ({})",
                s(&e["date"]),
                s(&e["event"]),
                s(&e["party"]),
                s(&e["country"])
            ));
        }
        for a in f["audit"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "
    audit: {a}"
            ));
        }
    }
    for i in v["indicators"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "
indicator {}: {}",
            s(&i["code"]),
            s(&i["description"])
        ));
    }
    out
}

fn case_text(v: &Value) -> String {
    let mut out = format!(
        "case {}  {}  {}  [{}]\nrecovered {} in {}",
        s(&v["id"]),
        s(&v["case_ref"]),
        s(&v["title"]),
        s(&v["state"]),
        s(&v["recovered"]["date"]),
        s(&v["recovered"]["country"]),
    );
    for step in v["steps"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {}. {:<48} {:<15} {}",
            step["step"],
            s(&step["name"]),
            s(&step["state"]).to_uppercase(),
            s(&step["summary"])
        ));
    }
    let leads = v["leads"].as_array().cloned().unwrap_or_default();
    if !leads.is_empty() {
        out.push_str("\nleads:");
        for l in &leads {
            out.push_str(&format!("\n  [{}] {}", s(&l["kind"]), s(&l["summary"])));
        }
    }
    let indicators = v["indicators"].as_array().cloned().unwrap_or_default();
    if !indicators.is_empty() {
        out.push_str("\ntrafficking indicators:");
        for i in &indicators {
            out.push_str(&format!("\n  {}: {}", s(&i["code"]), s(&i["description"])));
            for e in i["evidence"].as_array().into_iter().flatten() {
                out.push_str(&format!("\n    - {}", s(e)));
            }
        }
    }
    out
}
