//! The path one firearm is known to have taken: the chain of countries from its records
//! (country of manufacture, then the countries of its history events in date order, then
//! where it was recovered), the legs of that chain, and the time from its last legal transfer
//! to its recovery (time to crime), bucketed.

use serde::Deserialize;
use striae_firearms_lib::{
    date::Date,
    record::{FirearmRecord, HistoryEntry, HistoryEventKind},
};

/// Time-to-crime buckets, in months from the last legal transfer to the recovery: the label
/// and the first month that falls in the next bucket.
pub const TIME_TO_CRIME_BUCKETS: [(&str, i64); 6] = [
    ("0-3m", 3),
    ("3-12m", 12),
    ("1-3y", 36),
    ("3-5y", 60),
    ("5-10y", 120),
    ("10y+", i64::MAX),
];

/// What the statistics need of one recovered or traced firearm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirearmPath {
    /// Canonical make.
    pub make: String,
    /// Canonical type.
    pub firearm_type: String,
    /// Countries in order, consecutive repeats removed.
    pub countries: Vec<String>,
    /// Time-to-crime bucket label, when both ends are known.
    pub time_to_crime: Option<&'static str>,
}

/// The record fields a trace answer discloses that a path needs (the holder's API form).
#[derive(Deserialize)]
pub struct Disclosed {
    #[serde(default)]
    make: String,
    #[serde(default, rename = "type")]
    firearm_type: String,
    #[serde(default)]
    country_of_manufacture: Option<String>,
    #[serde(default)]
    history: Vec<HistoryEntry>,
}

/// The events that end a legal holding: the firearm was sold or handed on lawfully.
fn is_legal_transfer(kind: HistoryEventKind) -> bool {
    matches!(
        kind,
        HistoryEventKind::Sold | HistoryEventKind::Transferred | HistoryEventKind::Imported
    )
}

fn is_recovery(kind: HistoryEventKind) -> bool {
    matches!(kind, HistoryEventKind::Recovered | HistoryEventKind::Seized)
}

/// The path of a firearm, from its manufacture country, its history, and where and when it
/// was recovered (`recovered_in`, `recovered_on`: this node's country and the record's or
/// trace's date when the history does not say).
pub fn path_of(
    make: &str,
    firearm_type: &str,
    manufactured_in: Option<&str>,
    history: &[HistoryEntry],
    recovered_in: &str,
    recovered_on: Option<Date>,
) -> FirearmPath {
    let mut events: Vec<&HistoryEntry> = history.iter().collect();
    events.sort_by_key(|e| e.date);
    let mut countries: Vec<String> = Vec::new();
    let mut push = |c: &str| {
        let c = c.trim().to_ascii_uppercase();
        let valid = c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase());
        if valid && countries.last() != Some(&c) {
            countries.push(c);
        }
    };
    manufactured_in.into_iter().for_each(&mut push);
    events.iter().for_each(|e| push(&e.country));
    push(recovered_in);
    let recovery = events
        .iter()
        .rev()
        .find(|e| is_recovery(e.event))
        .map(|e| e.date)
        .or(recovered_on);
    let transfer = recovery.and_then(|r| {
        events
            .iter()
            .rev()
            .find(|e| is_legal_transfer(e.event) && e.date <= r)
            .map(|e| e.date)
    });
    let time_to_crime = match (transfer, recovery) {
        (Some(t), Some(r)) => Some(bucket(months_between(t, r))),
        _ => None,
    };
    FirearmPath {
        make: make.to_owned(),
        firearm_type: firearm_type.to_owned(),
        countries,
        time_to_crime,
    }
}

/// The path of one of this node's records, recovered here.
pub fn path_of_record(
    record: &FirearmRecord,
    here: &str,
    recovered_on: Option<Date>,
) -> FirearmPath {
    path_of(
        &record.make.normalised.canonical,
        &record.firearm_type.normalised.canonical,
        record.manufacture_country(),
        &record.history,
        here,
        record.event_date.or(recovered_on),
    )
}

/// The path of a record another member disclosed in a trace answer, the firearm being
/// recovered here on `traced_on`. `None` when the JSON is not a record.
pub fn path_of_disclosed(json: &str, here: &str, traced_on: Date) -> Option<FirearmPath> {
    let d: Disclosed = serde_json::from_str(json).ok()?;
    Some(path_of(
        &d.make,
        &d.firearm_type,
        d.country_of_manufacture.as_deref(),
        &d.history,
        here,
        Some(traced_on),
    ))
}

impl FirearmPath {
    /// The legs of the path, each once (a firearm that went back and forth counts once per
    /// leg).
    pub fn legs(&self) -> Vec<(&str, &str)> {
        let mut legs: Vec<(&str, &str)> = Vec::new();
        for pair in self.countries.windows(2) {
            if let [from, to] = pair {
                let leg = (from.as_str(), to.as_str());
                if !legs.contains(&leg) {
                    legs.push(leg);
                }
            }
        }
        legs
    }
}

fn months_between(from: Date, to: Date) -> i64 {
    let months = (i64::from(to.year()) - i64::from(from.year())) * 12 + i64::from(to.month())
        - i64::from(from.month());
    if to.day() < from.day() {
        months - 1
    } else {
        months
    }
}

fn bucket(months: i64) -> &'static str {
    TIME_TO_CRIME_BUCKETS
        .iter()
        .find(|(_, end)| months.max(0) < *end)
        .map_or("10y+", |(label, _)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(date: &str, event: HistoryEventKind, country: &str) -> HistoryEntry {
        HistoryEntry {
            date: date.parse().unwrap(),
            event,
            party: "p".into(),
            country: country.into(),
            document_ref: None,
        }
    }

    #[test]
    fn a_path_runs_from_manufacture_through_history_to_recovery() {
        use HistoryEventKind::*;
        let history = [
            entry("2019-05-01", Sold, "AT"),
            entry("2010-01-01", Manufactured, "AT"),
            entry("2021-06-01", Stolen, "DE"),
        ];
        let p = path_of(
            "Glock",
            "pistol",
            Some("AT"),
            &history,
            "FR",
            "2022-01-10".parse().ok(),
        );
        assert_eq!(p.countries, ["AT", "DE", "FR"]);
        assert_eq!(p.legs(), [("AT", "DE"), ("DE", "FR")]);
        // Sold 2019-05, recovered 2022-01: 31 months.
        assert_eq!(p.time_to_crime, Some("1-3y"));
    }

    #[test]
    fn a_round_trip_counts_each_leg_once_and_no_transfer_means_no_time_to_crime() {
        let history = [
            entry("2015-01-01", HistoryEventKind::Stolen, "DE"),
            entry("2016-01-01", HistoryEventKind::Exported, "AT"),
            entry("2017-01-01", HistoryEventKind::Lost, "DE"),
        ];
        let p = path_of("Glock", "pistol", Some("AT"), &history, "DE", None);
        assert_eq!(p.countries, ["AT", "DE", "AT", "DE"]);
        assert_eq!(p.legs(), [("AT", "DE"), ("DE", "AT")]);
        assert_eq!(p.time_to_crime, None);
    }

    #[test]
    fn months_fall_in_their_buckets() {
        assert_eq!(bucket(0), "0-3m");
        assert_eq!(bucket(3), "3-12m");
        assert_eq!(bucket(119), "5-10y");
        assert_eq!(bucket(500), "10y+");
    }
}
