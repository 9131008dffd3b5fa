//! Aggregate statistics a member publishes in its own feed (`Body::Aggregate`): its counts for
//! one calendar month, already thresholded by the publisher, and the route legs (country to
//! country) its recovered and traced firearms are known to have travelled. Bounded in count
//! and bytes, checked with errors that name the field.

use std::fmt;

use bincode::{Decode, Encode};

/// Most `(metric, key)` counts in one aggregate.
pub const MAX_AGGREGATE_COUNTS: usize = 2_048;
/// Most route legs in one aggregate.
pub const MAX_AGGREGATE_ROUTES: usize = 512;
/// Most makes or types named under one leg (the rest are counted under `other`).
pub const MAX_LEG_BREAKDOWN: usize = 32;
/// Longest metric name or key, in bytes.
pub const MAX_AGGREGATE_TEXT: usize = 64;
/// Most bytes one aggregate's texts and numbers may take (its encoded size stays below
/// this plus a few bytes of lengths): what every member holds per member and period.
pub const MAX_AGGREGATE_BYTES: usize = 64 * 1024;
/// First year a period may name.
const MIN_YEAR: u16 = 2000;
/// Last year a period may name (timestamps end there too).
const MAX_YEAR: u16 = 9999;

/// A calendar month, written `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Period {
    /// The year, 2000 to 9999.
    pub year: u16,
    /// The month, 1 to 12.
    pub month: u8,
}

impl Period {
    /// The period, if `year` and `month` name one.
    pub fn new(year: u16, month: u8) -> Option<Period> {
        let p = Period { year, month };
        p.is_valid().then_some(p)
    }

    fn is_valid(self) -> bool {
        (MIN_YEAR..=MAX_YEAR).contains(&self.year) && (1..=12).contains(&self.month)
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Period> {
        let (y, m) = text.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Period::new(y.parse().ok()?, m.parse().ok()?)
    }

    /// The month after this one (saturating at the last).
    pub fn next(self) -> Period {
        match self.month {
            12 if self.year < MAX_YEAR => Period {
                year: self.year + 1,
                month: 1,
            },
            12 => self,
            m => Period {
                year: self.year,
                month: m + 1,
            },
        }
    }

    /// Months since January of year 0: a number to measure distances with.
    pub fn index(self) -> u32 {
        u32::from(self.year) * 12 + u32::from(self.month) - 1
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One count: `metric` (for example `records.status`) broken down by `key` (`stolen`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Count {
    /// What is counted.
    pub metric: String,
    /// Which part of it (`total` for a metric without a breakdown).
    pub key: String,
    /// How many.
    pub value: u64,
}

/// One leg of the routes firearms took: from one country to the next, with how many firearms
/// went that way and their makes and types.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RouteLeg {
    /// ISO 3166-1 alpha-2 code of where the leg starts.
    pub from: String,
    /// Where it ends.
    pub to: String,
    /// Firearms known to have travelled it.
    pub count: u64,
    /// Their makes (canonical names; `other` for makes below the threshold).
    pub makes: Vec<(String, u64)>,
    /// Their types.
    pub types: Vec<(String, u64)>,
}

/// A member's aggregate statistics for one period. A later one for the same period replaces
/// the earlier (the feed's order decides).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Aggregate {
    /// The month counted.
    pub period: Period,
    /// The threshold the publisher applied: no published figure is below it (except 0, which
    /// is never published).
    pub min_count: u32,
    /// The counts.
    pub counts: Vec<Count>,
    /// The route legs.
    pub routes: Vec<RouteLeg>,
}

/// What is wrong with an aggregate, naming the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    /// The period is not a month of the years 2000 to 9999.
    #[error("aggregate.period: not a month of the years 2000 to 9999")]
    Period,
    /// The threshold is 0.
    #[error("aggregate.min_count: must be at least 1")]
    MinCount,
    /// More than `MAX_AGGREGATE_COUNTS` counts.
    #[error("aggregate.counts: more than {MAX_AGGREGATE_COUNTS} counts")]
    TooManyCounts,
    /// A count's metric or key is empty, too long or holds a control character.
    #[error(
        "aggregate.counts[{0}]: metric and key must be 1 to 64 bytes without control characters"
    )]
    CountText(usize),
    /// A count is 0 or below the threshold the aggregate states.
    #[error("aggregate.counts[{0}].value: below the aggregate's min_count")]
    CountValue(usize),
    /// More than `MAX_AGGREGATE_ROUTES` legs.
    #[error("aggregate.routes: more than {MAX_AGGREGATE_ROUTES} legs")]
    TooManyRoutes,
    /// A leg's `from` or `to` is not two uppercase letters, or both are the same.
    #[error("aggregate.routes[{0}]: from and to must be two different two-letter country codes")]
    RouteCountry(usize),
    /// A leg's count is below the threshold.
    #[error("aggregate.routes[{0}].count: below the aggregate's min_count")]
    RouteCount(usize),
    /// A leg names too many makes or types, or a name that is empty, too long or not
    /// free of control characters.
    #[error("aggregate.routes[{0}].makes/types: at most 32 names of 1 to 64 printable bytes")]
    RouteBreakdown(usize),
    /// The aggregate's texts and numbers take more than `MAX_AGGREGATE_BYTES`.
    #[error("aggregate: larger than {MAX_AGGREGATE_BYTES} bytes")]
    TooLarge,
}

fn text_ok(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_AGGREGATE_TEXT && !text.chars().any(char::is_control)
}

fn country_ok(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

impl RouteLeg {
    fn check(&self, i: usize, min: u64) -> Result<usize, AggregateError> {
        if !country_ok(&self.from) || !country_ok(&self.to) || self.from == self.to {
            return Err(AggregateError::RouteCountry(i));
        }
        if self.count < min {
            return Err(AggregateError::RouteCount(i));
        }
        let mut bytes = 4 + 8;
        for list in [&self.makes, &self.types] {
            if list.len() > MAX_LEG_BREAKDOWN || list.iter().any(|(name, _)| !text_ok(name)) {
                return Err(AggregateError::RouteBreakdown(i));
            }
            bytes += list.iter().map(|(n, _)| n.len() + 8).sum::<usize>();
        }
        Ok(bytes)
    }
}

impl Aggregate {
    /// Checks the bounds and the threshold every aggregate must keep, whoever wrote it.
    pub fn check(&self) -> Result<(), AggregateError> {
        if !self.period.is_valid() {
            return Err(AggregateError::Period);
        }
        if self.min_count == 0 {
            return Err(AggregateError::MinCount);
        }
        if self.counts.len() > MAX_AGGREGATE_COUNTS {
            return Err(AggregateError::TooManyCounts);
        }
        if self.routes.len() > MAX_AGGREGATE_ROUTES {
            return Err(AggregateError::TooManyRoutes);
        }
        let min = u64::from(self.min_count);
        let mut bytes = 0usize;
        for (i, c) in self.counts.iter().enumerate() {
            if !text_ok(&c.metric) || !text_ok(&c.key) {
                return Err(AggregateError::CountText(i));
            }
            if c.value < min {
                return Err(AggregateError::CountValue(i));
            }
            bytes += c.metric.len() + c.key.len() + 8;
        }
        for (i, leg) in self.routes.iter().enumerate() {
            bytes += leg.check(i, min)?;
        }
        if bytes > MAX_AGGREGATE_BYTES {
            return Err(AggregateError::TooLarge);
        }
        Ok(())
    }

    /// About how many bytes the aggregate holds in memory (for the projection's bound).
    pub fn approx_bytes(&self) -> usize {
        let counts: usize = self
            .counts
            .iter()
            .map(|c| 56 + c.metric.len() + c.key.len())
            .sum();
        let legs: usize = self
            .routes
            .iter()
            .map(|l| {
                104 + l
                    .makes
                    .iter()
                    .chain(&l.types)
                    .map(|(n, _)| 32 + n.len())
                    .sum::<usize>()
            })
            .sum();
        64 + counts + legs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Aggregate {
        Aggregate {
            period: Period::new(2026, 11).unwrap(),
            min_count: 5,
            counts: vec![Count {
                metric: "records.status".into(),
                key: "stolen".into(),
                value: 12,
            }],
            routes: vec![RouteLeg {
                from: "AT".into(),
                to: "DE".into(),
                count: 7,
                makes: vec![("Glock".into(), 7)],
                types: vec![("pistol".into(), 7)],
            }],
        }
    }

    #[test]
    fn periods_parse_and_print_as_year_and_month() {
        let p = Period::parse("2026-11").unwrap();
        assert_eq!(p.to_string(), "2026-11");
        assert_eq!(p.next().to_string(), "2026-12");
        assert_eq!(p.next().next().to_string(), "2027-01");
        for bad in [
            "2026-13",
            "2026-00",
            "1999-12",
            "26-11",
            "2026-1",
            "2026/11",
            "２026-11",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_sound_aggregate_passes() {
        assert_eq!(sample().check(), Ok(()));
    }

    #[test]
    fn malformed_aggregates_are_refused_naming_the_field() {
        let mut a = sample();
        a.period.month = 13;
        assert_eq!(a.check(), Err(AggregateError::Period));
        let mut a = sample();
        a.counts[0].value = 4;
        assert_eq!(a.check(), Err(AggregateError::CountValue(0)));
        assert!(
            a.check()
                .unwrap_err()
                .to_string()
                .contains("counts[0].value")
        );
        let mut a = sample();
        a.counts[0].key = "\n".into();
        assert_eq!(a.check(), Err(AggregateError::CountText(0)));
        let mut a = sample();
        a.routes[0].to = "AT".into();
        assert_eq!(a.check(), Err(AggregateError::RouteCountry(0)));
        let mut a = sample();
        a.routes[0].from = "de".into();
        assert_eq!(a.check(), Err(AggregateError::RouteCountry(0)));
        let mut a = sample();
        a.routes[0].count = 1;
        assert_eq!(a.check(), Err(AggregateError::RouteCount(0)));
        let mut a = sample();
        a.routes[0].makes = vec![("x".into(), 5); MAX_LEG_BREAKDOWN + 1];
        assert_eq!(a.check(), Err(AggregateError::RouteBreakdown(0)));
        let mut a = sample();
        a.min_count = 0;
        assert_eq!(a.check(), Err(AggregateError::MinCount));
    }

    #[test]
    fn oversized_aggregates_are_refused() {
        let mut a = sample();
        a.counts = vec![a.counts[0].clone(); MAX_AGGREGATE_COUNTS + 1];
        assert_eq!(a.check(), Err(AggregateError::TooManyCounts));
        let mut a = sample();
        a.routes = vec![a.routes[0].clone(); MAX_AGGREGATE_ROUTES + 1];
        assert_eq!(a.check(), Err(AggregateError::TooManyRoutes));
        // Within the counts bound, but past the bytes bound.
        let mut a = sample();
        let long = "k".repeat(MAX_AGGREGATE_TEXT);
        a.counts = (0..MAX_AGGREGATE_COUNTS)
            .map(|_| Count {
                metric: long.clone(),
                key: long.clone(),
                value: 9,
            })
            .collect();
        assert_eq!(a.check(), Err(AggregateError::TooLarge));
    }
}
