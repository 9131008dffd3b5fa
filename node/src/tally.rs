//! Durable monthly counts of events that leave no other trace in the store (checks and their
//! hits, searches, confirmations, leads, seizures, trace requests and answers), kept in the
//! keyspace `analysis_tally` as they happen so that the month's aggregate can be published
//! after a restart. Counted like the metrics, at the same places; capabilities reach it
//! through their `Context`, the analysis reads it.
//!
//! Keys are `YYYY-MM`, metric and key joined by NUL; values are big-endian `u64`. Metrics
//! and keys come from fixed sets or from the roster's country codes, so a month holds a
//! bounded number of rows whatever members send.

use std::{collections::BTreeMap, sync::Mutex};

use striae_firearms_lib::date::Date;
use striae_protocol::{analysis::Period, time::now_ms};

use crate::store::{Keyspace, Store, StoreError};

/// The keyspace.
const TREE: &str = "analysis_tally";
/// Longest key kept (a country code or a label from a fixed set is far shorter).
const MAX_KEY: usize = 64;

/// Counts of one month: metric → key → count.
pub type MonthCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// The month a timestamp (ms since the epoch, UTC) falls in.
pub fn period_of_ms(ms: u64) -> Period {
    let days = i64::try_from(ms / 86_400_000).unwrap_or(i64::MAX / 2);
    period_of_date(Date::from_days_since_epoch(days))
}

/// The month of a date (clamped into the years a period may name).
pub fn period_of_date(date: Date) -> Period {
    let year = u16::try_from(date.year().clamp(2000, 9999)).unwrap_or(2000);
    Period::new(year, date.month()).unwrap_or(Period { year, month: 1 })
}

/// The durable counts.
pub struct Tally {
    tree: Keyspace,
    /// Serialises read-modify-write of one count.
    lock: Mutex<()>,
}

fn key_of(period: Period, metric: &str, key: &str) -> Vec<u8> {
    let key: String = key
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_KEY)
        .collect();
    format!("{period}\0{metric}\0{key}").into_bytes()
}

impl Tally {
    /// Opens the keyspace.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Tally {
            tree: store.keyspace(TREE)?,
            lock: Mutex::new(()),
        })
    }

    /// Adds `n` to `metric`/`key` in the current month. A failure is logged, not returned:
    /// the event it counts has happened and must not fail for want of a statistic.
    pub fn add(&self, metric: &'static str, key: &str, n: u64) {
        if let Err(e) = self.add_at(period_of_ms(now_ms()), metric, key, n) {
            tracing::warn!("cannot count {metric}/{key} for the statistics: {e}");
        }
    }

    /// Adds `n` to `metric`/`key` in `period`.
    pub fn add_at(
        &self,
        period: Period,
        metric: &str,
        key: &str,
        n: u64,
    ) -> Result<(), StoreError> {
        let k = key_of(period, metric, key);
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.tree.get(&k)?.map_or(0, |v| decode(&v));
        self.tree.insert(&k, old.saturating_add(n).to_be_bytes())
    }

    /// Every count of `period`.
    pub fn month(&self, period: Period) -> Result<MonthCounts, StoreError> {
        let prefix = format!("{period}\0");
        let mut out = MonthCounts::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let text = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let Some((metric, key)) = text.split_once('\0') else {
                continue;
            };
            *out.entry(metric.to_owned())
                .or_default()
                .entry(key.to_owned())
                .or_default() += decode(&v);
        }
        Ok(out)
    }
}

fn decode(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_month_and_survive_reopening() {
        let store = Store::memory();
        let tally = Tally::open(&store).unwrap();
        let nov = Period::parse("2026-11").unwrap();
        tally.add_at(nov, "checks", "hits", 2).unwrap();
        tally.add_at(nov, "checks", "hits", 3).unwrap();
        tally.add_at(nov.next(), "checks", "hits", 7).unwrap();
        let again = Tally::open(&store).unwrap();
        assert_eq!(again.month(nov).unwrap()["checks"]["hits"], 5);
        assert_eq!(again.month(nov.next()).unwrap()["checks"]["hits"], 7);
    }

    #[test]
    fn a_timestamp_falls_in_its_utc_month() {
        // 2026-11-30T23:59:59Z and a second later.
        assert_eq!(period_of_ms(1_796_083_199_000).to_string(), "2026-11");
        assert_eq!(period_of_ms(1_796_083_200_000).to_string(), "2026-12");
    }
}
