//! A case as the API shows it, derived from what is stored each time it is read: the steps
//! with their states and summaries, the leads (step 7) and the indicators (step 9). Traces and
//! queries are read from their own trees, so answers that arrived since (a reviewed trace, a
//! holder back online) are in the view without anyone re-running a step.

use serde_json::{Value, json};

use super::{Case, CasesNode, ExhibitSearch, MANUAL_STEPS, indicators};
use crate::{
    firearms::{queries, traces},
    notices::rfc3339,
};

/// Other cases an indicator compares with (the newest).
const MAX_COMPARED_CASES: usize = 500;

/// The names of the protocol's steps.
pub(super) const STEP_NAMES: [&str; 9] = [
    "National registry and lost/stolen search",
    "International search or trace",
    "Evidence recovery and suspect interview",
    "Latent fingerprint examination",
    "DNA examination",
    "National and international ballistic comparison",
    "Investigative leads",
    "Intelligence given to investigators",
    "Analysis for signs of trafficking",
];

/// One event of a disclosed ownership history.
#[derive(Clone, Debug, Default)]
pub(super) struct HistoryEvent {
    pub(super) date: String,
    pub(super) event: String,
    pub(super) party: String,
    pub(super) country: String,
}

/// A record another member disclosed (a trace answer, or a match of a query).
#[derive(Clone, Debug, Default)]
pub(super) struct Disclosed {
    pub(super) via: &'static str,
    pub(super) country: String,
    pub(super) bureau_id: String,
    pub(super) record_ref: String,
    pub(super) status: String,
    pub(super) summary: String,
    pub(super) history: Vec<HistoryEvent>,
    pub(super) answered_at: String,
    pub(super) signature_valid: bool,
    /// The trace or query id, also the subject of the audit records of the disclosure.
    pub(super) exchange: String,
}

/// A ballistic candidate the holder confirmed.
#[derive(Clone, Debug)]
pub(super) struct Link {
    pub(super) exhibit: String,
    pub(super) other: String,
    pub(super) country: String,
    pub(super) bureau_id: String,
    pub(super) own: bool,
    pub(super) score: Value,
    pub(super) search_id: String,
}

/// What a case found so far, gathered from the stored case and the traces and queries it
/// started.
#[derive(Clone, Debug, Default)]
pub(crate) struct Findings {
    pub(super) network_hits: Vec<Value>,
    pub(super) trace: Option<Value>,
    pub(super) query: Option<Value>,
    pub(super) disclosed: Vec<Disclosed>,
    pub(super) made_in: Option<String>,
    pub(super) ballistic_links: Vec<Link>,
    /// Automatic ballistic leads on the case's exhibits not confirmed (yet): API views.
    pub(super) open_leads: Vec<Value>,
    /// (role, party) of the disclosed histories: dealers, importers, purchasers.
    pub(super) parties: Vec<(String, String)>,
    pub(super) first_purchaser: Option<String>,
}

pub(super) fn findings(node: &CasesNode, case: &Case) -> Findings {
    let mut f = Findings {
        network_hits: case.network_hits.clone().unwrap_or_default(),
        ..Findings::default()
    };
    if let Some(id) = &case.trace_id
        && let Ok(trace) = traces::show(&node.firearms, id)
    {
        f.disclosed.extend(from_trace(&trace, id));
        f.trace = Some(trace);
    }
    if let Some(id) = &case.query_id
        && let Ok(query) = queries::show(&node.firearms, id)
    {
        f.disclosed.extend(from_query(&query, id));
        f.query = Some(query);
    }
    f.made_in = made_in(node, case);
    f.ballistic_links = links(case);
    ballistic_leads(node, case, &mut f);
    parties(&mut f, case);
    f
}

/// Automatic leads (another member's new digest close to one of the case's exhibits, found
/// without a search): confirmed ones are links like a search's, the others are shown as open.
fn ballistic_leads(node: &CasesNode, case: &Case, f: &mut Findings) {
    let b = &node.ballistics;
    let Ok(leads) = b.ballistics.leads() else {
        return;
    };
    for lead in leads
        .iter()
        .filter(|l| case.exhibits.contains(&l.local_exhibit))
    {
        let known = f
            .ballistic_links
            .iter()
            .any(|l| l.exhibit == lead.local_exhibit && l.other == lead.exhibit_ref);
        if known {
            continue;
        }
        let view = lead.to_json(b);
        if lead.confirmation == "confirmed" {
            f.ballistic_links.push(Link {
                exhibit: lead.local_exhibit.clone(),
                other: lead.exhibit_ref.clone(),
                country: text(&view["country"]),
                bureau_id: lead.bureau_id.to_string(),
                own: lead.bureau_id == node.me,
                score: view.get("cmc_count").cloned().unwrap_or(Value::Null),
                search_id: lead.id(),
            });
        } else {
            f.open_leads.push(view);
        }
    }
}

fn from_trace(trace: &Value, id: &str) -> Vec<Disclosed> {
    let responses = trace["responses"].as_array().cloned().unwrap_or_default();
    responses
        .iter()
        .filter(|r| r["outcome"] == "found")
        .map(|r| {
            let record = &r["record"];
            let history: Vec<HistoryEvent> = r["history"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| HistoryEvent {
                    date: text(&e["date"]),
                    event: text(&e["event"]),
                    party: text(&e["party"]),
                    country: text(&e["country"]),
                })
                .collect();
            Disclosed {
                via: "trace",
                country: text(&r["country"]),
                bureau_id: text(&r["bureau_id"]),
                record_ref: text(&r["record_ref"]),
                status: text(&record["status"]),
                summary: format!(
                    "{} {} {} serial {}",
                    text(&record["make"]),
                    text(&record["model"]),
                    text(&record["caliber"]),
                    text(&record["serial"])
                ),
                history,
                answered_at: text(&r["answered_at"]),
                signature_valid: r["signature_valid"] == true,
                exchange: id.to_string(),
            }
        })
        .collect()
}

fn from_query(query: &Value, id: &str) -> Vec<Disclosed> {
    let mut out = Vec::new();
    for a in query["answers"].as_array().into_iter().flatten() {
        for m in a["matches"].as_array().into_iter().flatten() {
            out.push(Disclosed {
                via: "query",
                country: text(&a["country"]),
                bureau_id: text(&a["bureau_id"]),
                record_ref: text(&m["record_ref"]),
                status: text(&m["status"]),
                summary: format!(
                    "{} {} {} serial {} ({} match)",
                    text(&m["make"]),
                    text(&m["model"]),
                    text(&m["caliber"]),
                    text(&m["serial"]),
                    text(&m["match"])
                ),
                history: Vec::new(),
                answered_at: text(&a["answered_at"]),
                signature_valid: a["signature_valid"] == true,
                exchange: id.to_string(),
            });
        }
    }
    out
}

/// The country of manufacture: marked on the firearm, or the make's country.
fn made_in(node: &CasesNode, case: &Case) -> Option<String> {
    let firearm = case.firearm.as_ref()?;
    firearm.country_of_manufacture.clone().or_else(|| {
        let table = node.firearms.firearms.table();
        let make = table.normalise_make(&firearm.make);
        make.id
            .as_deref()
            .and_then(|id| table.make_country(id))
            .map(str::to_string)
    })
}

fn links(case: &Case) -> Vec<Link> {
    let mut out = Vec::new();
    for (exhibit, search) in &case.searches {
        let ExhibitSearch::Done { result, .. } = search else {
            continue;
        };
        for c in result["candidates"].as_array().into_iter().flatten() {
            if c["confirmed"] != true {
                continue;
            }
            out.push(Link {
                exhibit: exhibit.clone(),
                other: text(&c["exhibit_ref"]),
                country: text(&c["country"]),
                bureau_id: text(&c["bureau_id"]),
                own: c["own"] == true,
                score: c
                    .get("cmc_count")
                    .or_else(|| c.get("matched_lands"))
                    .cloned()
                    .unwrap_or(Value::Null),
                search_id: text(&result["search_id"]),
            });
        }
    }
    out
}

/// Dealers, importers and purchasers named in the disclosed histories, and the importer
/// marked on the firearm; the first purchaser is the party of the first sale.
fn parties(f: &mut Findings, case: &Case) {
    let mut parties: Vec<(String, String)> = Vec::new();
    for d in &f.disclosed {
        let mut sales = d
            .history
            .iter()
            .filter(|e| e.event == "sold")
            .collect::<Vec<_>>();
        sales.sort_by(|a, b| a.date.cmp(&b.date));
        if let Some(first) = sales.first() {
            f.first_purchaser
                .get_or_insert_with(|| normalise_party(&first.party));
        }
        for e in &d.history {
            let role = match e.event.as_str() {
                "sold" => "seller or purchaser",
                "imported" => "importer",
                "transferred" => "transferee",
                _ => continue,
            };
            if !e.party.trim().is_empty() {
                parties.push((role.to_string(), normalise_party(&e.party)));
            }
        }
    }
    if let Some(importer) = case.firearm.as_ref().and_then(|f| f.importer.as_ref()) {
        parties.push(("importer".into(), normalise_party(importer)));
    }
    parties.sort();
    parties.dedup();
    f.parties = parties;
}

fn normalise_party(party: &str) -> String {
    party
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// The other cases an indicator compares with, with their findings.
pub(super) fn others(node: &CasesNode, case: &Case) -> Vec<(Case, Findings)> {
    let mut all = node.all();
    all.retain(|c| c.id != case.id);
    all.sort_by_key(|c| std::cmp::Reverse(c.created_at_ms));
    all.truncate(MAX_COMPARED_CASES);
    all.into_iter()
        .map(|c| {
            let f = findings(node, &c);
            (c, f)
        })
        .collect()
}

fn step(n: u8, state: &str, summary: String, details: Option<Value>) -> Value {
    let mut v = json!({
        "step": n,
        "name": STEP_NAMES[usize::from(n - 1)],
        "state": state,
        "summary": summary,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

fn step1(case: &Case) -> Value {
    if case.firearm.is_none() {
        return step(1, "not_applicable", "no firearm recovered".into(), None);
    }
    let Some(own) = &case.own_records else {
        return step(1, "running", "searching this node's records".into(), None);
    };
    let summary = if own.is_empty() {
        "no record of this firearm at this node".to_string()
    } else {
        let statuses: Vec<String> = own.iter().map(|r| text(&r["status"])).collect();
        format!(
            "{} record(s) at this node: {}",
            own.len(),
            statuses.join(", ")
        )
    };
    step(1, "done", summary, Some(json!({"records": own})))
}

fn step2(case: &Case, f: &Findings) -> Value {
    if case.firearm.is_none() {
        return step(2, "not_applicable", "no firearm recovered".into(), None);
    }
    if !case.automatic_started {
        return step(2, "running", "checking the network".into(), None);
    }
    let hits = if f.network_hits.is_empty() {
        "no other member holds a record".to_string()
    } else {
        let at: Vec<String> = f
            .network_hits
            .iter()
            .map(|h| format!("{} ({})", text(&h["country"]), text(&h["status"])))
            .collect();
        format!("records at {}", at.join(", "))
    };
    let details = json!({"hits": f.network_hits, "trace": f.trace, "query": f.query,
        "note": case.step2_note});
    if let Some(trace) = &f.trace {
        let answers: Vec<String> = trace["responses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{} {}", text(&r["country"]), text(&r["outcome"])))
            .collect();
        let state = if trace["state"] == "complete" {
            "done"
        } else {
            "running"
        };
        let summary = format!("{hits}; trace: {}", answers.join(", "));
        return step(2, state, summary, Some(details));
    }
    if let Some(query) = &f.query {
        let answers: Vec<String> = query["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let n = a["matches"].as_array().map_or(0, Vec::len);
                format!(
                    "{} {}{}",
                    text(&a["country"]),
                    text(&a["outcome"]),
                    if n > 0 {
                        format!(" ({n})")
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let state = if query["state"] == "answered" {
            "done"
        } else {
            "running"
        };
        let summary = format!("serial-pattern query: {}", answers.join(", "));
        return step(2, state, summary, Some(details));
    }
    let note = case.step2_note.clone().unwrap_or_default();
    let state = if note.contains("could not be sent") {
        "failed"
    } else {
        "done"
    };
    step(2, state, format!("{hits}; {note}"), Some(details))
}

fn step6(case: &Case, f: &Findings) -> Value {
    if case.exhibits.is_empty() {
        return step(
            6,
            "not_applicable",
            "no ballistic exhibit attached".into(),
            None,
        );
    }
    let running = case
        .searches
        .values()
        .filter(|s| matches!(s, ExhibitSearch::Running))
        .count();
    let failed = case
        .searches
        .values()
        .filter(|s| matches!(s, ExhibitSearch::Failed { .. }))
        .count();
    let done = case.searches.len() - running - failed;
    let state = match (running, failed, done) {
        (r, _, _) if r > 0 => "running",
        (_, fl, 0) if fl > 0 => "failed",
        _ => "done",
    };
    let links: Vec<String> = f
        .ballistic_links
        .iter()
        .map(|l| format!("{} ({})", l.country, if l.own { "own" } else { "abroad" }))
        .collect();
    let summary = format!(
        "{done} of {} exhibit(s) searched; {} confirmed match(es){}",
        case.exhibits.len(),
        links.len(),
        if links.is_empty() {
            String::new()
        } else {
            format!(": {}", links.join(", "))
        }
    );
    let details: serde_json::Map<String, Value> = case
        .searches
        .iter()
        .map(|(e, s)| (e.clone(), serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect();
    step(6, state, summary, Some(Value::Object(details)))
}

fn manual_step(case: &Case, n: u8) -> Value {
    match case.manual.get(&n) {
        Some(m) => {
            let mut v = step(n, &m.state, m.notes.clone(), None);
            v["recorded_at"] = json!(rfc3339(m.at_ms));
            v
        }
        None => step(n, "manual", "to be recorded by the operator".into(), None),
    }
}

/// The leads: what steps 1, 2 and 6 found, one per finding.
pub(super) fn leads(node: &CasesNode, case: &Case, f: &Findings) -> Vec<Value> {
    let mut out = Vec::new();
    for r in case.own_records.iter().flatten() {
        out.push(
            json!({"kind": "own_record", "country": node.country, "bureau_id": node.me.to_string(),
            "summary": format!("recorded at this node as {}: {} {} serial {}", text(&r["status"]),
                text(&r["make"]), text(&r["model"]), text(&r["serial"])),
            "record_ref": r["id"]}),
        );
    }
    for h in &f.network_hits {
        out.push(
            json!({"kind": "record_hit", "country": h["country"], "bureau_id": h["bureau_id"],
            "summary": format!("{} holds a record of it as {} ({} match)", text(&h["country"]),
                text(&h["status"]), text(&h["match"])),
            "record_ref": h["record_ref"]}),
        );
    }
    for d in &f.disclosed {
        let kind = if d.via == "trace" {
            "trace_record"
        } else {
            "serial_match"
        };
        out.push(
            json!({"kind": kind, "country": d.country, "bureau_id": d.bureau_id,
            "summary": format!("{} disclosed {} ({}), {} history event(s)", d.country, d.summary,
                d.status, d.history.len()),
            "record_ref": d.record_ref, "answered_at": d.answered_at,
            "signature_valid": d.signature_valid}),
        );
    }
    for l in &f.open_leads {
        out.push(
            json!({"kind": "ballistic_lead", "country": l["country"], "bureau_id": l["bureau_id"],
            "summary": format!("{}'s exhibit {} resembles exhibit {} (screening {}); {}",
                text(&l["country"]), text(&l["exhibit_ref"]), text(&l["local_exhibit"]),
                l["screen_score"], text(&l["confirmation"]).replace('_', " ")),
            "lead_id": l["id"]}),
        );
    }
    for l in &f.ballistic_links {
        out.push(
            json!({"kind": "ballistic_link", "country": l.country, "bureau_id": l.bureau_id,
            "summary": format!("exhibit {} matches {}'s exhibit {}, confirmed by the holder",
                l.exhibit, l.country, l.other),
            "exhibit": l.exhibit, "other_exhibit": l.other, "score": l.score,
            "search_id": l.search_id}),
        );
    }
    out
}

/// The whole case.
pub(super) fn case_view(node: &CasesNode, case: &Case) -> Value {
    let f = findings(node, case);
    let s1 = step1(case);
    let s2 = step2(case, &f);
    let s6 = step6(case, &f);
    let busy = [&s1, &s2, &s6].iter().any(|s| s["state"] == "running");
    let leads = leads(node, case, &f);
    let indicators = indicators::evaluate(case, &f, &others(node, case));
    let derived = if busy { "running" } else { "done" };
    let s7 = step(7, derived, format!("{} lead(s)", leads.len()), None);
    let codes: Vec<&str> = indicators
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    let s9 = step(
        9,
        derived,
        if codes.is_empty() {
            "no trafficking indicator raised".into()
        } else {
            codes.join(", ")
        },
        None,
    );
    let mut steps = vec![s1, s2];
    steps.extend(MANUAL_STEPS[..3].iter().map(|&n| manual_step(case, n)));
    steps.push(s6);
    steps.push(s7);
    steps.push(manual_step(case, 8));
    steps.push(s9);
    json!({
        "id": case.id,
        "case_ref": case.case_ref,
        "title": case.title,
        "created_at": rfc3339(case.created_at_ms),
        "state": if busy { "running" } else { "done" },
        "recovered": case.recovered,
        "firearm": case.firearm.as_ref().map(|fa| {
            let mut v = serde_json::to_value(fa).unwrap_or(Value::Null);
            v["serial_state"] = json!(fa.state().as_str());
            v
        }),
        "exhibits": case.exhibits,
        "steps": steps,
        "leads": leads,
        "indicators": indicators,
    })
}

/// A case in a list.
pub(super) fn summary_view(_node: &CasesNode, case: &Case) -> Value {
    json!({
        "id": case.id,
        "case_ref": case.case_ref,
        "title": case.title,
        "created_at": rfc3339(case.created_at_ms),
        "recovered": case.recovered,
        "firearm": case.firearm.as_ref().map(|f| format!("{} {}", f.make,
            f.serial.as_deref().unwrap_or("(no serial)"))),
        "exhibits": case.exhibits.len(),
    })
}
