//! Network figures from members' aggregates: pure functions over a slice of aggregates
//! (`summary`, `routes`, `trends`, `time_to_crime`) that the API, the bench and the charts
//! call, the answer types the API documents, and their CSV forms.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    sync::Arc,
};

use hashbrown::HashMap;
use serde::Serialize;
use striae_protocol::analysis::{Aggregate, MAX_LEG_BREAKDOWN, Period, RouteLeg};
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
    /// By make (the 31 largest; the rest as `other`).
    pub makes: Breakdown,
    /// By type (likewise).
    pub types: Breakdown,
}

/// `GET /v1/analysis/routes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Routes {
    /// The legs, most travelled first (at most the `limit` asked for).
    pub routes: Vec<RouteView>,
    /// Legs in all (more than `routes` holds when the limit cut the list).
    pub legs_total: usize,
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
    // Summed first over borrowed names (one hash per count); each distinct (metric, key) is
    // then filed once.
    let mut sums: HashMap<(&str, &str), u64> = HashMap::new();
    let mut by_country: HashMap<&str, u64> = HashMap::new();
    for a in &chosen {
        for c in &a.aggregate.counts {
            let slot = sums.entry((&c.metric, &c.key)).or_default();
            *slot = slot.saturating_add(c.value);
            if c.metric == metric::RECORDS_STATUS {
                let slot = by_country.entry(&a.country).or_default();
                *slot = slot.saturating_add(c.value);
            }
        }
    }
    for (country, n) in by_country {
        add(&mut s.records.by_country, country, n);
    }
    for ((m, k), n) in sums {
        file(&mut s, m, k, n);
    }
    s
}

/// Files the sum `n` of `metric`/`key` in its place in the summary.
fn file(s: &mut Summary, m: &str, k: &str, n: u64) {
    let slot = match m {
        metric::RECORDS_STATUS => &mut s.records.by_status,
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
            return;
        }
        metric::TRACED_FOUND => {
            s.traces.found_with_path = s.traces.found_with_path.saturating_add(n);
            return;
        }
        metric::LEADS => {
            s.ballistics.leads = s.ballistics.leads.saturating_add(n);
            return;
        }
        // A metric a newer member publishes that this node does not know yet.
        _ => return,
    };
    add(slot, k, n);
}

/// The route legs of the aggregates in `[from, to]`, summed across members, the `limit` most
/// travelled; with `make` (or `firearm_type`), a leg's count is that make's (type's) count and
/// legs without it are left out; with both, the smaller of the two (the aggregates do not
/// cross makes with types, so this is an upper bound).
pub fn routes(
    aggregates: &[MemberAggregate],
    from: Period,
    to: Period,
    filter: &RouteFilter<'_>,
    limit: usize,
) -> Routes {
    let chosen: Vec<&MemberAggregate> = within(aggregates, from, to).collect();
    // Counted first, over borrowed names and without building anything: only the legs shown
    // get their makes and types summed and owned strings made (a network holds thousands of
    // legs, each naming dozens of makes).
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut legs: Vec<LegCount<'_>> = Vec::new();
    for a in &chosen {
        for leg in &a.aggregate.routes {
            let ends = (leg.from.as_str(), leg.to.as_str());
            let i = *index.entry(ends).or_insert_with(|| {
                legs.push(LegCount {
                    ends,
                    count: 0,
                    seen: Vec::new(),
                });
                legs.len() - 1
            });
            if let Some(sum) = legs.get_mut(i) {
                sum.count = sum.count.saturating_add(filter.count(leg));
                sum.seen.push(leg);
            }
        }
    }
    let total = legs.iter().filter(|l| l.count > 0).count();
    legs.retain(|l| l.count > 0);
    let by_rank =
        |a: &LegCount<'_>, b: &LegCount<'_>| b.count.cmp(&a.count).then(a.ends.cmp(&b.ends));
    if legs.len() > limit && limit > 0 {
        legs.select_nth_unstable_by(limit - 1, by_rank);
    }
    legs.truncate(limit);
    legs.sort_by(by_rank);
    Routes {
        routes: legs.iter().map(LegCount::view).collect(),
        legs_total: total,
        members_reporting: members(chosen.iter().copied()),
        period: PeriodRange::of(from, to),
    }
}

/// Which firearms a leg's count counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteFilter<'a> {
    /// Only this make (any case).
    pub make: Option<&'a str>,
    /// Only this type (any case).
    pub firearm_type: Option<&'a str>,
}

impl RouteFilter<'_> {
    /// The firearms of `leg` the filter counts.
    fn count(&self, leg: &RouteLeg) -> u64 {
        let find = |list: &[(String, u64)], wanted: &str| {
            list.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(wanted))
                .map(|(_, n)| *n)
                .sum::<u64>()
        };
        let by_make = self.make.map(|m| find(&leg.makes, m));
        let by_type = self.firearm_type.map(|t| find(&leg.types, t));
        [by_make, by_type]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(leg.count)
    }
}

/// One leg while routes are counted: its ends, its count, and the members' legs behind it.
struct LegCount<'a> {
    ends: (&'a str, &'a str),
    count: u64,
    seen: Vec<&'a RouteLeg>,
}

impl LegCount<'_> {
    fn view(&self) -> RouteView {
        let mut makes: HashMap<&str, u64> = HashMap::new();
        let mut types: HashMap<&str, u64> = HashMap::new();
        for leg in &self.seen {
            for (k, n) in &leg.makes {
                *makes.entry(k).or_default() += n;
            }
            for (k, n) in &leg.types {
                *types.entry(k).or_default() += n;
            }
        }
        RouteView {
            from: self.ends.0.to_owned(),
            to: self.ends.1.to_owned(),
            count: self.count,
            makes: owned(makes.into_iter().collect()),
            types: owned(types.into_iter().collect()),
        }
    }
}

/// The `MAX_LEG_BREAKDOWN - 1` largest entries, the rest summed as `other`: a leg summed
/// across many members may name hundreds of makes, and the answer stays bounded.
fn owned(mut entries: Vec<(&str, u64)>) -> Breakdown {
    if entries.len() > MAX_LEG_BREAKDOWN {
        entries.select_nth_unstable_by(MAX_LEG_BREAKDOWN - 1, |a, b| {
            b.1.cmp(&a.1).then(a.0.cmp(b.0))
        });
    }
    let mut out = Breakdown::new();
    for (i, (k, n)) in entries.into_iter().enumerate() {
        let key = if i < MAX_LEG_BREAKDOWN - 1 {
            k
        } else {
            super::threshold::OTHER
        };
        add(&mut out, key, n);
    }
    out
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
        let glock = RouteFilter {
            make: Some("glock"),
            firearm_type: None,
        };
        let r = routes(&all, p("2026-11"), p("2026-11"), &glock, 100);
        assert_eq!(r.routes[0].count, 13);
        let beretta = RouteFilter {
            make: Some("Beretta"),
            firearm_type: None,
        };
        assert!(
            routes(&all, p("2026-11"), p("2026-11"), &beretta, 100)
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
