//! Suppression before publishing: within each metric, keys counting fewer than the threshold
//! are merged into `other`, and `other` itself is dropped when still below it; legs below the
//! threshold are dropped, and a kept leg's makes and types are coarsened the same way. What
//! remains fits the protocol's bounds (the largest entries are kept).

use std::collections::BTreeMap;

use striae_protocol::analysis::{
    Aggregate, Count, MAX_AGGREGATE_COUNTS, MAX_AGGREGATE_ROUTES, MAX_AGGREGATE_TEXT,
    MAX_LEG_BREAKDOWN, Period, RouteLeg,
};

use super::compute::Raw;

/// The key small counts are merged into.
pub const OTHER: &str = "other";
/// Most keys one metric publishes (the rest go to `other`).
const MAX_KEYS_PER_METRIC: usize = 200;

/// `text` cut to the protocol's length at a character boundary, control characters removed.
fn fit(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_AGGREGATE_TEXT {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}

/// The entries of `counts` at or above `min`, at most `max` (largest first, then by name),
/// with the rest summed into `other` when that sum reaches `min`.
pub fn coarsen(counts: &BTreeMap<String, u64>, min: u64, max: usize) -> Vec<(String, u64)> {
    let mut kept: BTreeMap<String, u64> = BTreeMap::new();
    let mut sorted: Vec<(&String, &u64)> = counts.iter().filter(|(_, n)| **n > 0).collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut other = 0u64;
    for (key, n) in sorted {
        if *n >= min && kept.len() < max.saturating_sub(1) && key != OTHER {
            *kept.entry(fit(key)).or_default() += n;
        } else {
            other = other.saturating_add(*n);
        }
    }
    let mut out: Vec<(String, u64)> = kept.into_iter().collect();
    if other >= min && other > 0 {
        out.push((OTHER.into(), other));
    }
    out
}

/// The aggregate to publish for `period` from unthresholded figures.
pub fn publishable(raw: &Raw, period: Period, min_count: u32) -> Aggregate {
    let min = u64::from(min_count.max(1));
    let mut counts = Vec::new();
    for (metric, keys) in &raw.counts {
        for (key, value) in coarsen(keys, min, MAX_KEYS_PER_METRIC) {
            if counts.len() < MAX_AGGREGATE_COUNTS {
                counts.push(Count {
                    metric: fit(metric),
                    key,
                    value,
                });
            }
        }
    }
    let mut legs: Vec<RouteLeg> = raw
        .legs
        .iter()
        .filter(|(_, leg)| leg.count >= min)
        .map(|((from, to), leg)| RouteLeg {
            from: from.clone(),
            to: to.clone(),
            count: leg.count,
            makes: coarsen(&leg.makes, min, MAX_LEG_BREAKDOWN),
            types: coarsen(&leg.types, min, MAX_LEG_BREAKDOWN),
        })
        .collect();
    legs.sort_by_key(|leg| std::cmp::Reverse(leg.count));
    legs.truncate(MAX_AGGREGATE_ROUTES);
    Aggregate {
        period,
        min_count: min_count.max(1),
        counts,
        routes: legs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::path::FirearmPath;

    fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    #[test]
    fn small_counts_merge_into_other_or_vanish() {
        let out = coarsen(&map(&[("stolen", 12), ("lost", 3), ("seized", 2)]), 5, 10);
        assert_eq!(out, [("stolen".into(), 12), ("other".into(), 5)]);
        let out = coarsen(&map(&[("stolen", 12), ("lost", 3)]), 5, 10);
        assert_eq!(out, [("stolen".to_owned(), 12)]);
        let out = coarsen(&map(&[("lost", 4)]), 5, 10);
        assert!(out.is_empty());
    }

    #[test]
    fn a_published_aggregate_has_no_figure_below_the_threshold_and_passes_the_protocol() {
        let mut raw = Raw::default();
        for _ in 0..7 {
            raw.add("records.status", "stolen", 1);
        }
        raw.add("records.status", "lost", 1);
        let path = |from: &str, make: &str| FirearmPath {
            make: make.into(),
            firearm_type: "pistol".into(),
            countries: vec![from.into(), "FR".into()],
            time_to_crime: None,
        };
        for _ in 0..6 {
            raw.add_path(&path("AT", "Glock"));
        }
        raw.add_path(&path("AT", "Steyr"));
        raw.add_path(&path("IT", "Beretta"));
        let agg = publishable(&raw, Period::parse("2026-11").unwrap(), 5);
        assert_eq!(agg.check(), Ok(()));
        assert_eq!(agg.counts.len(), 1);
        assert_eq!(agg.routes.len(), 1, "IT→FR (1) is suppressed");
        let leg = &agg.routes[0];
        assert_eq!((leg.from.as_str(), leg.count), ("AT", 7));
        assert_eq!(
            leg.makes,
            [("Glock".to_owned(), 6)],
            "Steyr (1) is suppressed"
        );
    }
}
