//! The lead report an investigator reads: what was found where, by whom and when, with the
//! ownership histories the holders disclosed and, for each disclosure, the audit records on
//! this node that prove what was asked and answered (sequence number and hash, checkable with
//! `striae audit verify`). As JSON, and as a standalone HTML page.

use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};

use super::{
    Case, CasesNode, indicators,
    view::{self, Findings},
};
use crate::notices::rfc3339;

/// Audit records a report looks through for its references (the newest).
const AUDIT_WINDOW: u64 = 50_000;

/// The report as JSON.
pub(super) fn report_json(node: &CasesNode, case: &Case) -> Value {
    let f = view::findings(node, case);
    let full = view::case_view(node, case);
    let subjects = subjects(case, &f);
    let audit = audit_refs(node, &subjects);
    let refs_of = |subject: &str| -> Vec<Value> {
        audit
            .iter()
            .filter(|(s, _)| s == subject)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut found: Vec<Value> = Vec::new();
    for d in &f.disclosed {
        found.push(json!({
            "what": d.summary,
            "status": d.status,
            "where": d.country,
            "by": d.bureau_id,
            "when": d.answered_at,
            "via": d.via,
            "record_ref": d.record_ref,
            "history": d.history.iter().map(|e| json!({"date": e.date, "event": e.event,
                "party": e.party, "country": e.country})).collect::<Vec<_>>(),
            "signature_valid": d.signature_valid,
            "audit": refs_of(&d.exchange),
        }));
    }
    for l in &f.ballistic_links {
        found.push(json!({
            "what": format!("ballistic match: exhibit {} and exhibit {}", l.exhibit, l.other),
            "where": l.country,
            "by": l.bureau_id,
            "via": "ballistic_search",
            "score": l.score,
            "audit": refs_of(&l.search_id),
        }));
    }
    json!({
        "generated_at": rfc3339(striae_protocol::time::now_ms()),
        "bureau": {"country": node.country, "bureau_id": node.me.to_string()},
        "case": {"id": case.id, "case_ref": case.case_ref, "title": case.title,
            "recovered": case.recovered, "firearm": full["firearm"]},
        "steps": full["steps"].as_array().map(|steps| steps.iter().map(|s| json!({
            "step": s["step"], "name": s["name"], "state": s["state"], "summary": s["summary"]
        })).collect::<Vec<_>>()),
        "network_hits": f.network_hits,
        "found": found,
        "leads": full["leads"],
        "indicators": full["indicators"],
        "indicator_table": indicators::table().iter().map(|i| json!({"code": i.code,
            "description": i.description, "source": i.source})).collect::<Vec<_>>(),
    })
}

/// The ids under which this case's exchanges were audited: its trace, query and searches.
fn subjects(case: &Case, f: &Findings) -> Vec<String> {
    let mut out: Vec<String> = case
        .trace_id
        .iter()
        .chain(&case.query_id)
        .cloned()
        .collect();
    out.extend(f.ballistic_links.iter().map(|l| l.search_id.clone()));
    out.sort();
    out.dedup();
    out
}

/// (subject, reference) for the audit records of `subjects` among the newest records.
fn audit_refs(node: &CasesNode, subjects: &[String]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if subjects.is_empty() {
        return out;
    }
    let mut from = node.audit.len().saturating_sub(AUDIT_WINDOW) + 1;
    loop {
        let Ok(page) = node.audit.list(from, 1_000) else {
            break;
        };
        let Some(last) = page.last().map(|r| r.record.seq) else {
            break;
        };
        for r in &page {
            if subjects.contains(&r.record.subject) {
                out.push((
                    r.record.subject.clone(),
                    json!({"seq": r.record.seq, "at": r.at, "action": r.record.action,
                        "direction": r.record.direction, "peer_country": r.record.peer_country,
                        "hash": r.hash}),
                ));
            }
        }
        from = last + 1;
    }
    out
}

/// The report as a standalone HTML page (no scripts, no external resources).
pub fn report_html(report: &Value) -> String {
    page(report).into_string()
}

fn page(r: &Value) -> Markup {
    let case = &r["case"];
    let title = format!("Case {} — {}", t(&case["case_ref"]), t(&case["title"]));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (STYLE) }
            }
            body {
                h1 { (title) }
                p.meta {
                    "Lead report of " (t(&r["bureau"]["country"])) ", generated " (t(&r["generated_at"]))
                    ". Recovered " (t(&case["recovered"]["date"])) " in " (t(&case["recovered"]["country"]))
                    @if let Some(place) = case["recovered"]["place"].as_str() { " (" (place) ")" }
                    "."
                }
                @if case["firearm"].is_object() {
                    p { "Firearm: " (t(&case["firearm"]["make"])) " " (t(&case["firearm"]["model"]))
                        " " (t(&case["firearm"]["caliber"])) ", serial " (t(&case["firearm"]["serial"]))
                        " (" (t(&case["firearm"]["serial_state"])) ")" }
                }
                h2 { "Firearms Recovery Protocol" }
                table {
                    tr { th { "Step" } th { "" } th { "State" } th { "Summary" } }
                    @for s in r["steps"].as_array().into_iter().flatten() {
                        tr class=(t(&s["state"])) {
                            td { (s["step"]) } td { (t(&s["name"])) } td { (t(&s["state"])) } td { (t(&s["summary"])) }
                        }
                    }
                }
                h2 { "What was found, where, by whom, when" }
                @if r["found"].as_array().is_none_or(Vec::is_empty) { p { "Nothing was disclosed so far." } }
                @for item in r["found"].as_array().into_iter().flatten() { (finding(item)) }
                h2 { "Trafficking indicators" }
                @if r["indicators"].as_array().is_none_or(Vec::is_empty) { p { "No indicator raised." } }
                @for i in r["indicators"].as_array().into_iter().flatten() {
                    div.indicator {
                        h3 { (t(&i["code"])) ": " (t(&i["description"])) }
                        ul { @for e in i["evidence"].as_array().into_iter().flatten() { li { (t(e)) } } }
                        p.source { "Source: " (t(&i["source"])) }
                    }
                }
            }
        }
    }
}

fn finding(item: &Value) -> Markup {
    html! {
        div.finding {
            h3 { (t(&item["what"])) }
            p {
                "Held by " (t(&item["where"])) " (" code { (t(&item["by"])) } ")"
                @if let Some(when) = item["when"].as_str() { ", answered " (when) }
                @if let Some(status) = item["status"].as_str() { "; status " strong { (status) } }
                @if item["signature_valid"] == false { " — " strong { "SIGNATURE INVALID" } }
            }
            @if item["history"].as_array().is_some_and(|h| !h.is_empty()) {
                table {
                    tr { th { "Date" } th { "Event" } th { "Party" } th { "Country" } }
                    @for e in item["history"].as_array().into_iter().flatten() {
                        tr { td { (t(&e["date"])) } td { (t(&e["event"])) } td { (t(&e["party"])) } td { (t(&e["country"])) } }
                    }
                }
            }
            p.audit {
                "Audit: "
                @for a in item["audit"].as_array().into_iter().flatten() {
                    span { "#" (a["seq"]) " " (t(&a["direction"])) " " (t(&a["action"])) " " (t(&a["at"])) " " code { (a["hash"].as_str().unwrap_or("").get(..16).unwrap_or("")) } "; " }
                }
            }
        }
    }
}

fn t(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}tr.done td:nth-child(3){color:#176317}tr.running td:nth-child(3){color:#8a5a00}tr.failed td:nth-child(3){color:#a11}
.finding,.indicator{border-left:4px solid #345;padding:.2rem 1rem;margin:1rem 0}.indicator{border-color:#a11}
.meta,.source,.audit{color:#555;font-size:.9rem}";
