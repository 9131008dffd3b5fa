//! The automatic steps of a case, run in the background when it is opened (and resumed after
//! a restart): step 1 against this node's records, step 2 the network check with a trace (or
//! a serial-pattern query for a partial serial), step 6 a network search of each exhibit.
//! Each step's outcome is stored with the case as soon as it is known.

use serde_json::{Value, json};
use striae_firearms_lib::SerialPattern;
use striae_protocol::{ballistic::EvidenceKind, time::now_ms};

use super::{Case, CaseFirearm, CasesNode, ExhibitSearch, SerialState};
use crate::{
    ballistics::{self, BulletProbe, Probe, SearchRequest},
    firearms::{
        queries::{self, QueryInput},
        records::record_view,
        traces::{self, TraceError, TraceInput},
    },
};

/// Most of this node's records step 1 lists for a partial serial.
const MAX_OWN_MATCHES: usize = 50;

/// Starts the automatic steps of case `id` in the background.
pub(super) fn start(node: &CasesNode, id: &str) {
    let node = node.clone();
    let id = id.to_string();
    // Traces, queries and searches the case starts name the user who opened it (a case
    // resumed after a restart names nobody).
    tokio::spawn(crate::audit::carry(async move {
        if let Err(e) = run_firearm_steps(&node, &id).await {
            tracing::error!(case = %id, "the case's firearm steps failed: {e}");
        }
        let exhibits: Vec<String> = match node.load(&id) {
            Ok(Some(case)) => case
                .searches
                .iter()
                .filter(|(_, s)| matches!(s, ExhibitSearch::Running))
                .map(|(e, _)| e.clone())
                .collect(),
            _ => Vec::new(),
        };
        search_exhibits(&node, &id, exhibits);
    }));
}

/// Steps 1 and 2, stored with the case.
async fn run_firearm_steps(node: &CasesNode, id: &str) -> Result<(), super::CaseError> {
    let case = node.load(id)?.ok_or(super::CaseError::NotFound)?;
    let Some(firearm) = case.firearm.clone() else {
        node.update(id, |c| c.automatic_started = true).await?;
        return Ok(());
    };
    let own = own_records(node, &firearm)?;
    let (hits, trace_id, query_id, note) = network_step(node, &case, &firearm).await;
    node.update(id, |c| {
        c.own_records = Some(own);
        c.network_hits = hits;
        c.trace_id = trace_id;
        c.query_id = query_id;
        c.step2_note = note;
        c.automatic_started = true;
    })
    .await?;
    Ok(())
}

/// Step 1: this node's records of the firearm (by serial, or by pattern when partial).
fn own_records(node: &CasesNode, firearm: &CaseFirearm) -> Result<Vec<Value>, super::CaseError> {
    let f = &node.firearms;
    let mut out = Vec::new();
    if let Some(serial) = firearm.whole_serial() {
        for hit in f.firearms.check(f, &firearm.make, serial) {
            if hit.bureau_id != f.me.to_string() {
                continue;
            }
            let Some(r) = striae_protocol::firearm::RecordRef::from_hex(&hit.record_ref) else {
                continue;
            };
            if let Some(stored) = f.firearms.record(&r)? {
                let mut view = record_view(r, &stored);
                view["match"] = json!(hit.kind);
                out.push(view);
            }
        }
    } else if let Some(pattern) = firearm
        .serial
        .as_deref()
        .and_then(|s| SerialPattern::parse(s).ok())
    {
        let (matches, _) = f
            .firearms
            .match_serials(&firearm.make, &pattern, MAX_OWN_MATCHES)?;
        for m in f.firearms.disclosed(&matches)? {
            out.push(
                json!({"id": m.record_ref.to_hex(), "make": m.make, "model": m.model,
                "caliber": m.caliber, "serial": m.serial, "status": m.status,
                "match": if m.exact { "exact" } else { "confusable" }}),
            );
        }
    }
    Ok(out)
}

type NetworkStep = (
    Option<Vec<Value>>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Step 2: the network check, and a trace to the holders, the country of manufacture and the
/// country of import; or a serial-pattern query for a partial serial.
async fn network_step(node: &CasesNode, case: &Case, firearm: &CaseFirearm) -> NetworkStep {
    let f = &node.firearms;
    let Some(serial) = firearm.whole_serial() else {
        return match firearm.serial.as_deref() {
            Some(pattern) => query_step(node, case, firearm, pattern).await,
            None => (
                None,
                None,
                None,
                Some("no serial characters were restored: nothing to ask the members".into()),
            ),
        };
    };
    let me = f.me.to_string();
    let hits: Vec<Value> = f
        .firearms
        .check(f, &firearm.make, serial)
        .into_iter()
        .filter(|h| h.bureau_id != me)
        .filter_map(|h| serde_json::to_value(h).ok())
        .collect();
    let abroad = foreign_countries(node, case, firearm);
    if hits.is_empty() && abroad.is_empty() && case.to.is_empty() {
        let note =
            "no member holds a record, and the firearm was made and imported here: no trace sent";
        return (Some(hits), None, None, Some(note.into()));
    }
    let mut to = case.to.clone();
    to.extend(abroad);
    to.sort();
    to.dedup();
    let input = TraceInput {
        make: firearm.make.clone(),
        serial: serial.to_string(),
        model: firearm.model.clone().unwrap_or_default(),
        caliber: firearm.caliber.clone().unwrap_or_default(),
        case_ref: case.case_ref.clone(),
        reason: reason(case),
        to,
    };
    match traces::start(f, input).await {
        Ok(trace_id) => (Some(hits), Some(trace_id), None, None),
        Err(TraceError::Field { message, .. }) => (Some(hits), None, None, Some(message)),
        Err(e) => (
            Some(hits),
            None,
            None,
            Some(format!("the trace could not be sent: {e}")),
        ),
    }
}

/// Member countries other than ours where the firearm was made or imported (marked on it,
/// or the make's country from the reference table).
fn foreign_countries(node: &CasesNode, case: &Case, firearm: &CaseFirearm) -> Vec<String> {
    let table = node.firearms.firearms.table();
    let made = firearm.country_of_manufacture.clone().or_else(|| {
        let make = table.normalise_make(&firearm.make);
        make.id
            .as_deref()
            .and_then(|id| table.make_country(id))
            .map(str::to_string)
    });
    [made, firearm.import_country.clone()]
        .into_iter()
        .flatten()
        .filter(|cc| *cc != case.recovered.country && *cc != node.country)
        .filter(|cc| node.roster.by_country(cc).is_some())
        .collect()
}

async fn query_step(
    node: &CasesNode,
    case: &Case,
    firearm: &CaseFirearm,
    pattern: &str,
) -> NetworkStep {
    let input = QueryInput {
        make: firearm.make.clone(),
        serial_pattern: pattern.to_string(),
        caliber: firearm.caliber.clone().unwrap_or_default(),
        model: firearm.model.clone().unwrap_or_default(),
        case_ref: case.case_ref.clone(),
        reason: reason(case),
        to: case.to.clone(),
    };
    match queries::start(&node.firearms, input).await {
        Ok(id) => (None, None, Some(id), None),
        Err(e) => (
            None,
            None,
            None,
            Some(format!("the query could not be sent: {e}")),
        ),
    }
}

/// The reason the members read in a trace or query of this case.
fn reason(case: &Case) -> String {
    let state = case
        .firearm
        .as_ref()
        .map(|f| f.state())
        .unwrap_or(SerialState::Intact);
    format!(
        "Firearms Recovery Protocol, case {}: recovered {} in {}{}; serial {}",
        case.title,
        case.recovered.date,
        case.recovered.country,
        case.recovered
            .place
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default(),
        state.as_str()
    )
}

/// Step 6 for `exhibits`, one after the other, in the background.
pub(super) fn search_exhibits(node: &CasesNode, id: &str, exhibits: Vec<String>) {
    if exhibits.is_empty() {
        return;
    }
    let node = node.clone();
    let id = id.to_string();
    tokio::spawn(crate::audit::carry(async move {
        for exhibit in exhibits {
            let outcome = search_one(&node, &id, &exhibit).await;
            let stored = node
                .update(&id, |c| {
                    c.searches.insert(exhibit.clone(), outcome);
                })
                .await;
            if let Err(e) = stored {
                tracing::error!(case = %id, "cannot store an exhibit's search: {e}");
                return;
            }
        }
    }));
}

async fn search_one(node: &CasesNode, id: &str, exhibit: &str) -> ExhibitSearch {
    let case_ref = match node.load(id) {
        Ok(Some(c)) => c.case_ref,
        _ => {
            return ExhibitSearch::Failed {
                error: "the case is gone".into(),
            };
        }
    };
    let b = &node.ballistics;
    let kind = b
        .ballistics
        .record(exhibit)
        .ok()
        .flatten()
        .and_then(|r| r.evidence_kind());
    let request = SearchRequest {
        case_ref: Some(case_ref),
        ..SearchRequest::default()
    };
    let result = if kind == Some(EvidenceKind::Bullet) {
        ballistics::search_bullet(b, BulletProbe::Stored(exhibit.to_string()), request)
            .await
            .map(|r| r.to_json(b))
    } else {
        ballistics::search(b, Probe::Stored(exhibit.to_string()), request)
            .await
            .map(|r| r.to_json(b))
    };
    match result {
        Ok(result) => ExhibitSearch::Done {
            result,
            at_ms: now_ms(),
        },
        Err(e) => ExhibitSearch::Failed {
            error: e.to_string(),
        },
    }
}
