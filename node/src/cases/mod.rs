//! Cases: the Firearms Recovery Protocol run as one investigation. A case records a recovered
//! firearm (or fired ammunition) and its exhibits; the node runs the automatic steps at once
//! in the background (1 own registry, 2 network check with trace or serial-pattern query, 6
//! ballistic search of each exhibit), and derives the rest whenever the case is read (7 the
//! leads, 9 the trafficking indicators), so that answers arriving later (a reviewed trace, a
//! holder back online) show up without anyone re-running anything. Steps 3, 4, 5 and 8 are
//! recorded by the operator.
//!
//! This module sits above the capabilities: it drives `firearms` (checks, traces, queries)
//! and `ballistics` (searches) through their public functions, and nothing below names it.
//!
//! - `input`: the body of `POST /v1/cases`, validated with field-named errors;
//! - `run`: the automatic steps, and resuming them after a restart;
//! - `view`: the case as the API shows it (steps, leads), derived from what is stored;
//! - `indicators`: the trafficking indicators (a table in `indicators.json`) and their rules;
//! - `report`: the lead report (JSON and HTML) with each disclosure's audit reference;
//! - `seed`: the devnet's example case.

mod indicators;
mod input;
mod report;
mod run;
mod seed;
mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use striae_protocol::{firearm::RecordRef, time::now_ms};

use crate::{
    ballistics::BallisticsNode,
    context::Context,
    firearms::FirearmsNode,
    store::{Keyspace, Store, StoreError},
};

pub use input::{CaseFirearm, CaseInput, Recovered, SerialState};
pub use report::report_html;
pub use seed::seed_devnet;

const CASES_TREE: &str = "cases";
/// Most cases one list answer shows.
pub const MAX_LIST: usize = 1_000;
/// Most exhibits one case holds.
pub const MAX_EXHIBITS: usize = 64;
/// Longest operator note on a step.
pub const MAX_NOTES_CHARS: usize = 4_000;
/// Steps the operator records (the others are run or derived by the node).
pub const MANUAL_STEPS: [u8; 4] = [3, 4, 5, 8];

/// Why a case could not be created, shown or changed.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such case.
    #[error("no such case")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn field(field: &str, message: impl Into<String>) -> CaseError {
    CaseError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

/// What the operator recorded for a manual step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManualStep {
    /// `done`, `not_applicable` or `failed` (or back to `manual`).
    pub state: String,
    /// The operator's notes.
    pub notes: String,
    /// When, ms since the epoch.
    pub at_ms: u64,
}

/// The ballistic search of one exhibit (step 6).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ExhibitSearch {
    /// Not finished yet (resumed after a restart).
    Running,
    /// The search's answer, as the API shows it.
    Done {
        /// `POST /v1/ballistics/{id}/search`'s answer.
        result: Value,
        /// When it finished.
        at_ms: u64,
    },
    /// The search failed.
    Failed {
        /// Why.
        error: String,
    },
}

/// A case as stored: what the operator gave, and what the automatic steps produced (the
/// ids of traces and queries, whose answers are read from their own trees when shown).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    /// Random id (hex).
    pub id: String,
    /// The bureau's case reference.
    pub case_ref: String,
    /// A title for people.
    pub title: String,
    /// When the case was opened.
    pub created_at_ms: u64,
    /// Where and when the firearm or ammunition was recovered.
    pub recovered: Recovered,
    /// The firearm, when one was recovered.
    pub firearm: Option<CaseFirearm>,
    /// This node's ballistic exhibits of the case.
    pub exhibits: Vec<String>,
    /// Countries to ask besides those found automatically.
    pub to: Vec<String>,
    /// Step 1: this node's records of the firearm (API views, with the match kind).
    pub own_records: Option<Vec<Value>>,
    /// Step 2: other members' records the network check found (check hits).
    pub network_hits: Option<Vec<Value>>,
    /// Step 2: the trace started, if any.
    pub trace_id: Option<String>,
    /// Step 2: the serial-pattern query started, if any.
    pub query_id: Option<String>,
    /// Step 2: why no trace or query was sent, or why it failed.
    pub step2_note: Option<String>,
    /// Step 6: the search of each exhibit.
    pub searches: BTreeMap<String, ExhibitSearch>,
    /// Steps recorded by the operator.
    pub manual: BTreeMap<u8, ManualStep>,
    /// Whether steps 1 and 2 have run.
    pub automatic_started: bool,
}

/// The cases of this node and the capabilities the automatic steps use. Cheap to clone.
#[derive(Clone)]
pub struct CasesNode {
    ctx: Context,
    /// Records, checks, traces and queries.
    pub firearms: FirearmsNode,
    /// Exhibits and searches.
    pub ballistics: BallisticsNode,
    tree: Keyspace,
    /// Serialises read-modify-write of cases.
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl std::ops::Deref for CasesNode {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl CasesNode {
    /// Opens the cases tree.
    pub fn open(
        store: &Store,
        ctx: Context,
        firearms: FirearmsNode,
        ballistics: BallisticsNode,
    ) -> Result<Self, StoreError> {
        Ok(CasesNode {
            ctx,
            firearms,
            ballistics,
            tree: store.keyspace(CASES_TREE)?,
            lock: Default::default(),
        })
    }

    fn load(&self, id: &str) -> Result<Option<Case>, CaseError> {
        let key = parse_id(id)?;
        let Some(bytes) = self.tree.get(key)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::corrupt(CASES_TREE, e).into())
    }

    fn save(&self, case: &Case) -> Result<(), CaseError> {
        let key = parse_id(&case.id)?;
        let bytes = serde_json::to_vec(case).map_err(|e| StoreError::corrupt(CASES_TREE, e))?;
        self.tree.insert(key, bytes)?;
        Ok(())
    }

    /// Changes a stored case under the lock and makes the change durable.
    async fn update(&self, id: &str, change: impl FnOnce(&mut Case)) -> Result<Case, CaseError> {
        let _guard = self.lock.lock().await;
        let mut case = self.load(id)?.ok_or(CaseError::NotFound)?;
        change(&mut case);
        self.save(&case)?;
        self.store.flush().await?;
        Ok(case)
    }

    /// Opens a case and starts its automatic steps in the background.
    pub async fn create(&self, input: CaseInput) -> Result<Value, CaseError> {
        let checked = input::check(self, input)?;
        let id = hex::encode(rand::random::<[u8; 16]>());
        let case = Case {
            id: id.clone(),
            case_ref: checked.case_ref,
            title: checked.title,
            created_at_ms: now_ms(),
            recovered: checked.recovered,
            firearm: checked.firearm,
            searches: checked
                .exhibits
                .iter()
                .map(|e| (e.clone(), ExhibitSearch::Running))
                .collect(),
            exhibits: checked.exhibits,
            to: checked.to,
            own_records: None,
            network_hits: None,
            trace_id: None,
            query_id: None,
            step2_note: None,
            manual: BTreeMap::new(),
            automatic_started: false,
        };
        {
            let _guard = self.lock.lock().await;
            self.save(&case)?;
            self.store.flush().await?;
        }
        run::start(self, &id);
        Ok(view::case_view(self, &case))
    }

    /// A case as the API shows it.
    pub fn show(&self, id: &str) -> Result<Value, CaseError> {
        let case = self.load(id)?.ok_or(CaseError::NotFound)?;
        Ok(view::case_view(self, &case))
    }

    /// Cases, newest first, at most `limit`, in short form.
    pub fn list(&self, limit: usize) -> Result<Vec<Value>, CaseError> {
        let mut all: Vec<Case> = Vec::new();
        for item in self.tree.iter() {
            let (_, value) = item?;
            all.push(
                serde_json::from_slice(&value).map_err(|e| StoreError::corrupt(CASES_TREE, e))?,
            );
        }
        all.sort_by_key(|c| std::cmp::Reverse(c.created_at_ms));
        Ok(all
            .iter()
            .take(limit)
            .map(|c| view::summary_view(self, c))
            .collect())
    }

    /// Every case (for indicators that compare cases).
    fn all(&self) -> Vec<Case> {
        self.tree
            .iter()
            .filter_map(Result::ok)
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect()
    }

    /// Records what the operator did for a manual step.
    pub async fn record_step(
        &self,
        id: &str,
        step: u8,
        state: &str,
        notes: &str,
    ) -> Result<Value, CaseError> {
        if !MANUAL_STEPS.contains(&step) {
            return Err(field(
                "step",
                format!("step {step} is run by the node; the operator records steps 3, 4, 5 and 8"),
            ));
        }
        if !matches!(state, "done" | "not_applicable" | "failed" | "manual") {
            return Err(field(
                "state",
                "one of done, not_applicable, failed, manual",
            ));
        }
        crate::firearms::traces::check_text("notes", notes, false, MAX_NOTES_CHARS)
            .map_err(|e| field("notes", e.to_string()))?;
        let record = ManualStep {
            state: state.to_string(),
            notes: notes.to_string(),
            at_ms: now_ms(),
        };
        let case = self
            .update(id, |c| {
                c.manual.insert(step, record);
            })
            .await?;
        Ok(view::case_view(self, &case))
    }

    /// Attaches more exhibits and searches them (step 6).
    pub async fn attach(&self, id: &str, exhibits: Vec<String>) -> Result<Value, CaseError> {
        let current = self.load(id)?.ok_or(CaseError::NotFound)?;
        let exhibits = input::check_exhibits(self, &exhibits)?;
        let new: Vec<String> = exhibits
            .into_iter()
            .filter(|e| !current.exhibits.contains(e))
            .collect();
        if current.exhibits.len() + new.len() > MAX_EXHIBITS {
            return Err(field(
                "exhibits",
                format!("a case holds at most {MAX_EXHIBITS} exhibits"),
            ));
        }
        let case = self
            .update(id, |c| {
                for e in &new {
                    c.exhibits.push(e.clone());
                    c.searches.insert(e.clone(), ExhibitSearch::Running);
                }
            })
            .await?;
        run::search_exhibits(self, id, new);
        Ok(view::case_view(self, &case))
    }

    /// Opens a case for one of this node's firearm records seized in a joint operation, so
    /// that it goes through steps 1, 2 and 9 like any recovered firearm.
    pub async fn open_for_seizure(
        &self,
        record: RecordRef,
        operation: &str,
        date: &str,
        place: &str,
    ) -> Result<Value, CaseError> {
        let stored = self
            .firearms
            .firearms
            .record(&record)?
            .ok_or_else(|| field("firearm_id", "no such firearm record at this node"))?;
        let r = &stored.record;
        let entered = |v: &striae_firearms_lib::record::NormalisedValue| {
            Some(v.entered.clone()).filter(|e| !e.trim().is_empty())
        };
        let input = CaseInput {
            case_ref: format!("{operation} / seizure {date}"),
            title: format!(
                "Seized in operation {operation}: {} {}",
                r.make.normalised.canonical, r.model.normalised.canonical
            ),
            recovered: Recovered {
                date: date.to_string(),
                country: self.country.clone(),
                place: Some(place.to_string()).filter(|p| !p.trim().is_empty()),
                lat: None,
                lon: None,
            },
            firearm: Some(CaseFirearm {
                make: r.make.entered.clone(),
                model: entered(&r.model),
                caliber: entered(&r.caliber),
                serial: Some(r.serial.normalised.clone()),
                serial_state: None,
                firearm_type: entered(&r.firearm_type),
                country_of_manufacture: r.manufacture_country().map(str::to_string),
                importer: r.importer.clone(),
                import_country: None,
            }),
            exhibits: Vec::new(),
            to: Vec::new(),
        };
        self.create(input).await
    }

    /// The lead report as JSON.
    pub fn report(&self, id: &str) -> Result<Value, CaseError> {
        let case = self.load(id)?.ok_or(CaseError::NotFound)?;
        Ok(report::report_json(self, &case))
    }

    /// Resumes, after a restart, the automatic steps of cases that had not finished them.
    pub fn resume(&self) {
        for case in self.all() {
            if !case.automatic_started {
                run::start(self, &case.id);
            } else {
                let running: Vec<String> = case
                    .searches
                    .iter()
                    .filter(|(_, s)| matches!(s, ExhibitSearch::Running))
                    .map(|(e, _)| e.clone())
                    .collect();
                if !running.is_empty() {
                    run::search_exhibits(self, &case.id, running);
                }
            }
        }
    }
}

fn parse_id(text: &str) -> Result<[u8; 16], CaseError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text.trim(), &mut id)
        .map_err(|_| field("id", "a case id is 32 hexadecimal characters"))?;
    Ok(id)
}
