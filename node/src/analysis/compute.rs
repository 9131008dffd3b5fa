//! This node's own figures: counted from its records and the traces it sent (recomputed at
//! every publication) plus the durable tally of events (`crate::tally`), then thresholded
//! (`threshold`) into the aggregate it publishes.

use std::collections::{BTreeMap, HashSet};

use striae_firearms_lib::{date::Date, record::Status};
use striae_protocol::analysis::Period;

use super::{
    metric,
    path::{FirearmPath, path_of_disclosed, path_of_record},
};
use crate::{
    firearms::{FirearmsNode, traces},
    store::StoreError,
    tally::{MonthCounts, period_of_ms},
};

/// Records read from the store at a time.
const PAGE: usize = 1_000;

/// Unthresholded figures: metric → key → count, and legs with their makes and types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw {
    /// The counts.
    pub counts: MonthCounts,
    /// The legs.
    pub legs: BTreeMap<(String, String), RawLeg>,
}

/// One leg before thresholding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawLeg {
    /// Firearms on it.
    pub count: u64,
    /// By make.
    pub makes: BTreeMap<String, u64>,
    /// By type.
    pub types: BTreeMap<String, u64>,
}

impl Raw {
    /// Adds `n` to `metric`/`key`.
    pub fn add(&mut self, metric: &str, key: &str, n: u64) {
        let slot = self
            .counts
            .entry(metric.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_default();
        *slot = slot.saturating_add(n);
    }

    /// Adds a recovered or traced firearm: its legs and its time to crime.
    pub fn add_path(&mut self, path: &FirearmPath) {
        for (from, to) in path.legs() {
            let leg = self
                .legs
                .entry((from.to_owned(), to.to_owned()))
                .or_default();
            leg.count += 1;
            *leg.makes.entry(path.make.clone()).or_default() += 1;
            *leg.types.entry(path.firearm_type.clone()).or_default() += 1;
        }
        if let Some(bucket) = path.time_to_crime {
            self.add(metric::TIME_TO_CRIME, bucket, 1);
        }
    }

    /// Adds every count of `other`.
    pub fn merge_counts(&mut self, other: &MonthCounts) {
        for (metric, keys) in other {
            for (key, n) in keys {
                self.add(metric, key, *n);
            }
        }
    }
}

/// First millisecond of `period` (UTC).
pub fn start_ms(period: Period) -> u64 {
    let days = Date::new(i32::from(period.year), period.month, 1).map_or(0, Date::days_since_epoch);
    u64::try_from(days).unwrap_or(0) * 86_400_000
}

/// Who a firearm is, to count it once when it is both a record here and a trace sent.
fn identity(make: &str, serial: &str) -> String {
    let serial: String = serial
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("{}\0{serial}", make.trim().to_lowercase())
}

/// The figures of this node's records and traces sent in `[from_ms, to_ms)`: records entered
/// then (by status, type, make, calibre), records recovered or seized then (entered or last
/// changed with that status) and the paths of those and of the firearms traces found.
pub fn from_stores(node: &FirearmsNode, from_ms: u64, to_ms: u64) -> Result<Raw, StoreError> {
    let mut raw = Raw::default();
    let mut seen = HashSet::new();
    let mut after = None;
    loop {
        let page = node.firearms.list(after, PAGE)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(*last);
        for (_, stored) in &page {
            let r = &stored.record;
            if (from_ms..to_ms).contains(&stored.created_at_ms) {
                raw.add(metric::RECORDS_STATUS, r.status.as_str(), 1);
                raw.add(
                    metric::RECORDS_TYPE,
                    &r.firearm_type.normalised.canonical,
                    1,
                );
                raw.add(metric::RECORDS_MAKE, &r.make.normalised.canonical, 1);
                raw.add(metric::RECORDS_CALIBER, &r.caliber.normalised.canonical, 1);
            }
            let recovered = matches!(r.status, Status::Recovered | Status::Seized);
            if recovered && (from_ms..to_ms).contains(&stored.updated_at_ms) {
                raw.add(
                    metric::RECOVERIES_TYPE,
                    &r.firearm_type.normalised.canonical,
                    1,
                );
                let on = date_of_ms(stored.updated_at_ms);
                raw.add_path(&path_of_record(r, &node.country, Some(on)));
                seen.insert(identity(&r.make.normalised.canonical, &r.serial.normalised));
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    for trace in traces::sent_between(node, from_ms, to_ms)? {
        let on = date_of_ms(trace.created_at_ms);
        let path = trace
            .disclosed
            .iter()
            .find_map(|json| path_of_disclosed(json, &node.country, on));
        if let Some(path) = path
            && seen.insert(identity(&path.make, &trace.serial))
        {
            raw.add(metric::TRACED_FOUND, "total", 1);
            raw.add_path(&path);
        }
    }
    Ok(raw)
}

/// The figures of `period`: from the stores, plus the tally's counts of that month.
pub fn month(node: &FirearmsNode, period: Period) -> Result<Raw, StoreError> {
    let mut raw = from_stores(node, start_ms(period), start_ms(period.next()))?;
    raw.merge_counts(&node.tally.month(period)?);
    Ok(raw)
}

fn date_of_ms(ms: u64) -> Date {
    Date::from_days_since_epoch(i64::try_from(ms / 86_400_000).unwrap_or(0))
}

/// The current month.
pub fn current_period() -> Period {
    period_of_ms(striae_protocol::time::now_ms())
}
