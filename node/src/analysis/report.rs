//! Network figures from members' aggregates: pure functions over a slice of aggregates
//! (`summary`, `routes`, `trends`, `time_to_crime`) that the API, the bench and the charts
//! call, the answer types the API documents, and their CSV forms.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt::Write as _,
    sync::Arc,
};

use serde::Serialize;
use striae_protocol::analysis::{Aggregate, Period};
use utoipa::ToSchema;

use super::{metric, path::TIME_TO_CRIME_BUCKETS};

/// One member's aggregate for one period, with who published it.
#[derive(Clone, Debug)]
pub struct MemberAggregate {
    /// The member's bureau id.
    pub member: String,
    /// Its country.
    pub country: String,
    /// What it published.
    pub aggregate: Arc<Aggregate>,
}

/// Counts by key.
pub type Breakdown = BTreeMap<String, u64>;

/// The months an answer covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PeriodRange {
    /// First month, `YYYY-MM`.
    pub from: String,
    /// Last month, `YYYY-MM`.
    pub to: String,
}

impl PeriodRange {
    /// The range `[from, to]`.
    pub fn of(from: Period, to: Period) -> Self {
        PeriodRange {
            from: from.to_string(),
            to: to.to_string(),
        }
    }
}

/// Records entered at the reporting members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RecordsSummary {
    /// By status (`stolen`, `lost`, ...).
    pub by_status: Breakdown,
    /// By type (`pistol`, ...).
    pub by_type: Breakdown,
    /// By make.
    pub by_make: Breakdown,
    /// By calibre.
    pub by_caliber: Breakdown,
    /// By reporting member's country (the sum of its published statuses).
    pub by_country: Breakdown,
}

/// Firearm checks at the reporting members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChecksSummary {
    /// By verdict (`hits`, `no_record`, `inconclusive`).
    pub by_verdict: Breakdown,
    /// Hits by the country of the member holding the record.
    pub hits_by_holder: Breakdown,
}

/// Traces at the reporting members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TracesSummary {
    /// Traces sent.
    pub sent: u64,
    /// Answers received, by outcome.
    pub answers_received: Breakdown,
    /// Traces sent whose answers disclosed a record with a path.
    pub found_with_path: u64,
    /// Requests received, by the asking member's country.
    pub requests_by_asker: Breakdown,
    /// Requests answered, by outcome.
    pub answered: Breakdown,
}

/// Ballistic work at the reporting members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct BallisticsSummary {
    /// Searches, by evidence kind.
    pub searches: Breakdown,
    /// Confirmations asked of holders, by result.
    pub confirmations: Breakdown,
    /// Leads found.
    pub leads: u64,
}

/// `GET /v1/analysis/summary`: totals and breakdowns across the reporting members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Summary {
    /// Members with at least one aggregate in the period.
    pub members_reporting: usize,
    /// The months covered.
    pub period: PeriodRange,
    /// Records entered.
    pub records: RecordsSummary,
    /// Records recovered or seized, by type.
    pub recoveries: Breakdown,
    /// Checks.
    pub checks: ChecksSummary,
    /// Traces.
    pub traces: TracesSummary,
    /// Ballistics.
    pub ballistics: BallisticsSummary,
    /// Seizures recorded in joint operations: `records` and `items`.
    pub seizures: Breakdown,
    /// Time from last legal transfer to recovery, by bucket.
    pub time_to_crime: Breakdown,
}

/// One leg of the routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RouteView {
    /// Country the leg starts in.
    pub from: String,
    /// Country it ends in.
    pub to: String,
    /// Firearms known to have travelled it (filtered by make or type when asked).
    pub count: u64,
    /// By make.
    pub makes: Breakdown,
    /// By type.
    pub types: Breakdown,
}

/// `GET /v1/analysis/routes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Routes {
    /// The legs, most travelled first.
    pub routes: Vec<RouteView>,
    /// Members with at least one aggregate in the period.
    pub members_reporting: usize,
    /// The months covered.
    pub period: PeriodRange,
}

/// One month of a trend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The month, `YYYY-MM`.
    pub period: String,
    /// The metric's total that month.
    pub value: u64,
    /// Members that published for that month.
    pub members_reporting: usize,
}

/// `GET /v1/analysis/trends`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Trend {
    /// The metric.
    pub metric: String,
    /// `month`.
    pub by: String,
    /// Every month of the period, oldest first (months nobody reported are 0).
    pub series: Vec<TrendPoint>,
}

/// `GET /v1/analysis/time-to-crime`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimeToCrime {
    /// The months covered.
    pub period: PeriodRange,
    /// The buckets, in order (`0-3m` ... `10y+`, then `other` when some member's small
    /// buckets were published merged).
    pub buckets: Vec<String>,
    /// Across the reporting members' aggregates (thresholded), by bucket.
    pub network: Breakdown,
    /// This node's own records and traces, not thresholded, by bucket.
    pub own: Breakdown,
    /// Members with at least one aggregate in the period.
    pub members_reporting: usize,
}

/// The metrics `trends` knows: name, the aggregate metric summed, and the key (all when
/// `None`).
pub const TREND_METRICS: [(&str, &str, Option<&str>); 13] = [
    ("records", metric::RECORDS_STATUS, None),
    ("recoveries", metric::RECOVERIES_TYPE, None),
    ("checks", metric::CHECKS, None),
    ("hits", metric::HITS_HOLDER, None),
    ("traces_sent", metric::TRACES_SENT, None),
    ("trace_answers", metric::TRACES_ANSWERS, None),
    ("trace_requests", metric::TRACE_REQUESTS_ASKER, None),
    ("searches", metric::SEARCHES, None),
    ("confirmations", metric::CONFIRMATIONS, Some("confirmed")),
    ("leads", metric::LEADS, None),
    ("seizures", metric::SEIZURES, Some("records")),
    ("seized_items", metric::SEIZURES, Some("items")),
    ("routes", "", None),
];

fn add(map: &mut Breakdown, key: &str, n: u64) {
    // Looked up before inserting: most keys are there already, and a fresh `String` per
    // count would be most of the time a network-wide summary takes.
    match map.get_mut(key) {
        Some(slot) => *slot = slot.saturating_add(n),
        None => {
            map.insert(key.to_owned(), n);
        }
    }
}

fn members<'a>(aggregates: impl Iterator<Item = &'a MemberAggregate>) -> usize {
    aggregates
        .map(|a| a.member.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

fn within(
    aggregates: &[MemberAggregate],
    from: Period,
    to: Period,
) -> impl Iterator<Item = &MemberAggregate> {
    aggregates
        .iter()
        .filter(move |a| (from..=to).contains(&a.aggregate.period))
}

/// Totals and breakdowns of the aggregates in `[from, to]`, of members of `country` only
/// when given.
pub fn summary(
    aggregates: &[MemberAggregate],
    from: Period,
    to: Period,
    country: Option<&str>,
) -> Summary {
    let chosen: Vec<&MemberAggregate> = within(aggregates, from, to)
        .filter(|a| country.is_none_or(|c| a.country.eq_ignore_ascii_case(c)))
        .collect();
    let mut s = Summary {
        members_reporting: members(chosen.iter().copied()),
        period: PeriodRange::of(from, to),
        records: RecordsSummary::default(),
        recoveries: Breakdown::new(),
        checks: ChecksSummary::default(),
        traces: TracesSummary::default(),
        ballistics: BallisticsSummary::default(),
        seizures: Breakdown::new(),
        time_to_crime: Breakdown::new(),
    };
    for a in &chosen {
        for c in &a.aggregate.counts {
            let (m, k, n) = (c.metric.as_str(), c.key.as_str(), c.value);
            let slot = match m {
                metric::RECORDS_STATUS => {
                    add(&mut s.records.by_country, &a.country, n);
                    &mut s.records.by_status
                }
                metric::RECORDS_TYPE => &mut s.records.by_type,
                metric::RECORDS_MAKE => &mut s.records.by_make,
                metric::RECORDS_CALIBER => &mut s.records.by_caliber,
                metric::RECOVERIES_TYPE => &mut s.recoveries,
                metric::CHECKS => &mut s.checks.by_verdict,
                metric::HITS_HOLDER => &mut s.checks.hits_by_holder,
                metric::TRACES_ANSWERS => &mut s.traces.answers_received,
                metric::TRACE_REQUESTS_ASKER => &mut s.traces.requests_by_asker,
                metric::TRACES_ANSWERED => &mut s.traces.answered,
                metric::SEARCHES => &mut s.ballistics.searches,
                metric::CONFIRMATIONS => &mut s.ballistics.confirmations,
                metric::SEIZURES => &mut s.seizures,
                metric::TIME_TO_CRIME => &mut s.time_to_crime,
                metric::TRACES_SENT => {
                    s.traces.sent = s.traces.sent.saturating_add(n);
                    continue;
                }
                metric::TRACED_FOUND => {
                    s.traces.found_with_path = s.traces.found_with_path.saturating_add(n);
                    continue;
                }
                metric::LEADS => {
                    s.ballistics.leads = s.ballistics.leads.saturating_add(n);
                    continue;
                }
                // A metric a newer member publishes that this node does not know yet.
                _ => continue,
            };
            add(slot, k, n);
        }
    }
    s
}

/// The route legs of the aggregates in `[from, to]`, summed across members; with `make` (or
/// `firearm_type`), a leg's count is that make's (type's) count and legs without it are left
/// out; with both, the smaller of the two (the aggregates do not cross makes with types, so
/// this is an upper bound).
pub fn routes(
    aggregates: &[MemberAggregate],
    from: Period,
    to: Period,
    make: Option<&str>,
    firearm_type: Option<&str>,
) -> Routes {
    let chosen: Vec<&MemberAggregate> = within(aggregates, from, to).collect();
    // Summed over borrowed names: owned strings are made once per leg shown, not per count.
    let mut legs: HashMap<(&str, &str), LegSum<'_>> = HashMap::new();
    for a in &chosen {
        for leg in &a.aggregate.routes {
            let sum = legs.entry((&leg.from, &leg.to)).or_default();
            sum.count = sum.count.saturating_add(leg.count);
            for (k, n) in &leg.makes {
                *sum.makes.entry(k).or_default() += n;
            }
            for (k, n) in &leg.types {
                *sum.types.entry(k).or_default() += n;
            }
        }
    }
    let find = |map: &HashMap<&str, u64>, wanted: &str| {
        map.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(wanted))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let mut out: Vec<RouteView> = legs
        .into_iter()
        .filter_map(|((from, to), sum)| {
            let by_make = make.map(|m| find(&sum.makes, m));
            let by_type = firearm_type.map(|t| find(&sum.types, t));
            let count = [by_make, by_type]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(sum.count);
            (count > 0).then(|| RouteView {
                from: from.to_owned(),
                to: to.to_owned(),
                count,
                makes: owned(&sum.makes),
                types: owned(&sum.types),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
    });
    Routes {
        routes: out,
        members_reporting: members(chosen.iter().copied()),
        period: PeriodRange::of(from, to),
    }
}

/// One leg summed across members, over borrowed names.
#[derive(Default)]
struct LegSum<'a> {
    count: u64,
    makes: HashMap<&'a str, u64>,
    types: HashMap<&'a str, u64>,
}

fn owned(map: &HashMap<&str, u64>) -> Breakdown {
    map.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// The total of `metric` (one of `TREND_METRICS`) each month of `[from, to]`; `None` for a
/// metric it does not know.
pub fn trends(
    aggregates: &[MemberAggregate],
    name: &str,
    from: Period,
    to: Period,
) -> Option<Trend> {
    let (_, wanted, key) = TREND_METRICS.iter().find(|(n, _, _)| *n == name)?;
    let mut months: BTreeMap<Period, (u64, BTreeSet<&str>)> = BTreeMap::new();
    let mut p = from;
    while p <= to {
        months.insert(p, (0, BTreeSet::new()));
        if p.next() == p {
            break;
        }
        p = p.next();
    }
    for a in within(aggregates, from, to) {
        let Some((value, reporting)) = months.get_mut(&a.aggregate.period) else {
            continue;
        };
        reporting.insert(&a.member);
        let n: u64 = if wanted.is_empty() {
            a.aggregate.routes.iter().map(|l| l.count).sum()
        } else {
            a.aggregate
                .counts
                .iter()
                .filter(|c| c.metric == *wanted && key.is_none_or(|k| c.key == k))
                .map(|c| c.value)
                .sum()
        };
        *value = value.saturating_add(n);
    }
    Some(Trend {
        metric: name.to_owned(),
        by: "month".into(),
        series: months
            .into_iter()
            .map(|(p, (value, reporting))| TrendPoint {
                period: p.to_string(),
                value,
                members_reporting: reporting.len(),
            })
            .collect(),
    })
}

/// The network's time-to-crime distribution in `[from, to]`, beside this node's own.
pub fn time_to_crime(
    aggregates: &[MemberAggregate],
    from: Period,
    to: Period,
    own: Breakdown,
) -> TimeToCrime {
    let s = summary(aggregates, from, to, None);
    let mut buckets: Vec<String> = TIME_TO_CRIME_BUCKETS
        .iter()
        .map(|(l, _)| (*l).to_owned())
        .collect();
    // Buckets a member had too few firearms in are published merged, as `other`.
    if s.time_to_crime.contains_key(super::threshold::OTHER) {
        buckets.push(super::threshold::OTHER.to_owned());
    }
    TimeToCrime {
        period: PeriodRange::of(from, to),
        buckets,
        network: s.time_to_crime,
        own,
        members_reporting: s.members_reporting,
    }
}

// ---------------------------------------------------------------- CSV

/// A CSV field, quoted when it holds a separator, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `section,key,value` rows of a summary.
pub fn summary_csv(s: &Summary) -> String {
    let mut out = String::from("section,key,value\n");
    let mut rows = |section: &str, map: &Breakdown| {
        for (k, n) in map {
            let _ = writeln!(out, "{},{},{n}", field(section), field(k));
        }
    };
    rows("records.by_status", &s.records.by_status);
    rows("records.by_type", &s.records.by_type);
    rows("records.by_make", &s.records.by_make);
    rows("records.by_caliber", &s.records.by_caliber);
    rows("records.by_country", &s.records.by_country);
    rows("recoveries", &s.recoveries);
    rows("checks.by_verdict", &s.checks.by_verdict);
    rows("checks.hits_by_holder", &s.checks.hits_by_holder);
    rows("traces.answers_received", &s.traces.answers_received);
    rows("traces.requests_by_asker", &s.traces.requests_by_asker);
    rows("traces.answered", &s.traces.answered);
    rows("ballistics.searches", &s.ballistics.searches);
    rows("ballistics.confirmations", &s.ballistics.confirmations);
    rows("seizures", &s.seizures);
    rows("time_to_crime", &s.time_to_crime);
    let single = [
        ("members_reporting", s.members_reporting as u64),
        ("traces.sent", s.traces.sent),
        ("traces.found_with_path", s.traces.found_with_path),
        ("ballistics.leads", s.ballistics.leads),
    ];
    for (name, n) in single {
        let _ = writeln!(out, "{name},total,{n}");
    }
    out
}

/// `from,to,count,makes,types` rows (makes and types as `name:count` joined by `;`).
pub fn routes_csv(r: &Routes) -> String {
    let join = |m: &Breakdown| {
        m.iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut out = String::from("from,to,count,makes,types\n");
    for leg in &r.routes {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            field(&leg.from),
            field(&leg.to),
            leg.count,
            field(&join(&leg.makes)),
            field(&join(&leg.types))
        );
    }
    out
}

/// `period,value,members_reporting` rows.
pub fn trend_csv(t: &Trend) -> String {
    let mut out = String::from("period,value,members_reporting\n");
    for p in &t.series {
        let _ = writeln!(out, "{},{},{}", p.period, p.value, p.members_reporting);
    }
    out
}

/// `bucket,network,own` rows.
pub fn time_to_crime_csv(t: &TimeToCrime) -> String {
    let mut out = String::from("bucket,network,own\n");
    for b in &t.buckets {
        let n = t.network.get(b).copied().unwrap_or(0);
        let o = t.own.get(b).copied().unwrap_or(0);
        let _ = writeln!(out, "{b},{n},{o}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use striae_protocol::analysis::{Count, RouteLeg};

    fn member(name: &str, country: &str, period: &str, stolen: u64, at_fr: u64) -> MemberAggregate {
        MemberAggregate {
            member: name.into(),
            country: country.into(),
            aggregate: Arc::new(Aggregate {
                period: Period::parse(period).unwrap(),
                min_count: 5,
                counts: vec![Count {
                    metric: metric::RECORDS_STATUS.into(),
                    key: "stolen".into(),
                    value: stolen,
                }],
                routes: vec![RouteLeg {
                    from: "AT".into(),
                    to: "FR".into(),
                    count: at_fr,
                    makes: vec![("Glock".into(), at_fr)],
                    types: vec![("pistol".into(), at_fr)],
                }],
            }),
        }
    }

    fn p(text: &str) -> Period {
        Period::parse(text).unwrap()
    }

    #[test]
    fn members_add_up_within_the_period_and_country() {
        let all = [
            member("a", "FR", "2026-10", 10, 6),
            member("a", "FR", "2026-11", 7, 5),
            member("b", "DE", "2026-11", 20, 8),
            member("c", "ES", "2025-01", 99, 99),
        ];
        let s = summary(&all, p("2026-01"), p("2026-12"), None);
        assert_eq!(s.members_reporting, 2);
        assert_eq!(s.records.by_status["stolen"], 37);
        assert_eq!(s.records.by_country["FR"], 17);
        let fr = summary(&all, p("2026-01"), p("2026-12"), Some("fr"));
        assert_eq!(
            (fr.members_reporting, fr.records.by_status["stolen"]),
            (1, 17)
        );
        let r = routes(&all, p("2026-11"), p("2026-11"), Some("glock"), None);
        assert_eq!(r.routes[0].count, 13);
        assert!(
            routes(&all, p("2026-11"), p("2026-11"), Some("Beretta"), None)
                .routes
                .is_empty()
        );
        let t = trends(&all, "records", p("2026-09"), p("2026-11")).unwrap();
        let values: Vec<u64> = t.series.iter().map(|x| x.value).collect();
        assert_eq!(values, [0, 10, 27]);
        assert!(trends(&all, "nonsense", p("2026-09"), p("2026-11")).is_none());
        assert!(
            routes_csv(&r).starts_with("from,to,count,makes,types\nAT,FR,13,Glock:13,pistol:13\n")
        );
    }
}
