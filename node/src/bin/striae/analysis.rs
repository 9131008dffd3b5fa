//! `striae analysis ...`: the network's statistics from members' published aggregates
//! (summary, routes, trends, time to crime), the notices they suggest, and publishing this
//! node's own now.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::common::{Target, client, print, query, s};

#[derive(Subcommand)]
pub(crate) enum AnalysisAction {
    /// Totals and breakdowns across the members that published for the period
    Summary {
        /// First month, YYYY-MM (default: eleven months before --to)
        #[arg(long)]
        from: Option<String>,
        /// Last month, YYYY-MM (default: this month)
        #[arg(long)]
        to: Option<String>,
        /// Only the members of this country
        #[arg(long)]
        country: Option<String>,
    },
    /// The legs (country to country) recovered and traced firearms travelled
    Routes {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Only this make
        #[arg(long)]
        make: Option<String>,
        /// Only this type (pistol, rifle, ...)
        #[arg(long = "type")]
        firearm_type: Option<String>,
        /// The most travelled legs shown (1 to 1000; default 100)
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One metric per month (records, recoveries, checks, hits, traces_sent, trace_answers,
    /// trace_requests, searches, confirmations, leads, seizures, seized_items, routes)
    Trends {
        #[arg(long, default_value = "records")]
        metric: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Time from last legal transfer to recovery, the network's and this node's own
    TimeToCrime {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// The notices the figures suggest (a disguised type spreading, a route rising), with
    /// the figures behind each; issue one with `striae notice issue`
    Drafts {
        /// The month looked at, YYYY-MM (default: this month)
        #[arg(long)]
        to: Option<String>,
    },
    /// Publish this node's aggregate for the current month now (officer or admin)
    Publish,
}

fn drafts_text(v: &Value) -> String {
    let drafts = v["drafts"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "{} members reporting, {}; {} proposed notice(s)",
        v["members_reporting"],
        period(v),
        drafts.len()
    );
    for d in drafts {
        out.push_str(&format!(
            "\n\n[{}] {}\n{}\nfigures:",
            s(&d["kind"]).to_uppercase(),
            s(&d["title"]),
            s(&d["summary"])
        ));
        for e in d["evidence"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n  {} {}: {} {} = {}",
                s(&e["country"]),
                s(&e["period"]),
                s(&e["metric"]),
                s(&e["key"]),
                e["count"]
            ));
        }
    }
    out
}

/// `key n, key n` of a JSON object of counts, largest first.
fn breakdown(v: &Value) -> String {
    let mut pairs: Vec<(&String, u64)> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| (k, n.as_u64().unwrap_or(0)))
        .collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    if pairs.is_empty() {
        return "-".into();
    }
    pairs
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn period(v: &Value) -> String {
    format!("{} to {}", s(&v["period"]["from"]), s(&v["period"]["to"]))
}

fn summary_text(v: &Value) -> String {
    let rows = [
        ("records by status", &v["records"]["by_status"]),
        ("records by type", &v["records"]["by_type"]),
        ("records by make", &v["records"]["by_make"]),
        ("records by calibre", &v["records"]["by_caliber"]),
        ("records by country", &v["records"]["by_country"]),
        ("recoveries by type", &v["recoveries"]),
        ("checks by verdict", &v["checks"]["by_verdict"]),
        ("hits by holder", &v["checks"]["hits_by_holder"]),
        ("trace answers received", &v["traces"]["answers_received"]),
        ("trace requests by asker", &v["traces"]["requests_by_asker"]),
        ("trace requests answered", &v["traces"]["answered"]),
        ("ballistic searches", &v["ballistics"]["searches"]),
        ("confirmations", &v["ballistics"]["confirmations"]),
        ("seizures", &v["seizures"]),
        ("time to crime", &v["time_to_crime"]),
    ];
    let mut out = format!(
        "{} members reporting, {}\ntraces sent: {}; ballistic leads: {}",
        v["members_reporting"],
        period(v),
        v["traces"]["sent"],
        v["ballistics"]["leads"]
    );
    for (label, value) in rows {
        out.push_str(&format!("\n{label:<25} {}", breakdown(value)));
    }
    out
}

fn routes_text(v: &Value) -> String {
    let mut out = format!(
        "{} members reporting, {}; {} legs in all",
        v["members_reporting"],
        period(v),
        v["legs_total"]
    );
    let legs = v["routes"].as_array().cloned().unwrap_or_default();
    if legs.is_empty() {
        out.push_str("\nno route legs above the threshold");
    }
    for leg in legs {
        out.push_str(&format!(
            "\n{} -> {}  {:>6}  makes: {}  types: {}",
            s(&leg["from"]),
            s(&leg["to"]),
            leg["count"],
            breakdown(&leg["makes"]),
            breakdown(&leg["types"])
        ));
    }
    out
}

fn trend_text(v: &Value) -> String {
    let mut out = format!("{} by {}", s(&v["metric"]), s(&v["by"]));
    for p in v["series"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{}  {:>8}  ({} members)",
            s(&p["period"]),
            p["value"],
            p["members_reporting"]
        ));
    }
    out
}

fn time_to_crime_text(v: &Value) -> String {
    let mut out = format!(
        "{} members reporting, {}\nbucket      network      own",
        v["members_reporting"],
        period(v)
    );
    for b in v["buckets"].as_array().into_iter().flatten() {
        let b = s(b);
        out.push_str(&format!(
            "\n{b:<8} {:>10} {:>8}",
            v["network"][b].as_u64().unwrap_or(0),
            v["own"][b].as_u64().unwrap_or(0)
        ));
    }
    out
}

pub(crate) async fn analysis(action: AnalysisAction, t: &Target) -> Result<()> {
    let c = client(t)?;
    match action {
        AnalysisAction::Summary { from, to, country } => {
            let q = query(&[("from", from), ("to", to), ("country", country)])?;
            let v = c.get(&format!("/v1/analysis/summary{q}")).await?;
            print(t, &v, summary_text);
        }
        AnalysisAction::Routes {
            from,
            to,
            make,
            firearm_type,
            limit,
        } => {
            let q = query(&[
                ("from", from),
                ("to", to),
                ("make", make),
                ("type", firearm_type),
                ("limit", limit.map(|l| l.to_string())),
            ])?;
            let v = c.get(&format!("/v1/analysis/routes{q}")).await?;
            print(t, &v, routes_text);
        }
        AnalysisAction::Trends { metric, from, to } => {
            let q = query(&[("metric", Some(metric)), ("from", from), ("to", to)])?;
            let v = c.get(&format!("/v1/analysis/trends{q}")).await?;
            print(t, &v, trend_text);
        }
        AnalysisAction::TimeToCrime { from, to } => {
            let q = query(&[("from", from), ("to", to)])?;
            let v = c.get(&format!("/v1/analysis/time-to-crime{q}")).await?;
            print(t, &v, time_to_crime_text);
        }
        AnalysisAction::Drafts { to } => {
            let q = query(&[("to", to)])?;
            let v = c.get(&format!("/v1/analysis/drafts{q}")).await?;
            print(t, &v, drafts_text);
        }
        AnalysisAction::Publish => {
            let v = c.post("/v1/analysis/publish", &json!({})).await?;
            print(t, &v, |v| {
                format!(
                    "published {}: {} counts and {} route legs (threshold {})",
                    s(&v["period"]),
                    v["counts"],
                    v["legs"],
                    v["min_count"]
                )
            });
        }
    }
    Ok(())
}
