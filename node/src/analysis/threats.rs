//! The threat picture: patterns in the members' published aggregates that cross a threshold,
//! each proposed as a draft Orange or Purple notice with the figures behind it, for an
//! operator to review, edit and issue (nothing is issued by itself). Pure functions over a
//! slice of aggregates, like `report`.
//!
//! Two rules, with fixed thresholds so that every node proposes the same drafts from the same
//! aggregates:
//!
//! - **Disguised firearms spreading** (Orange): a firearm type that names a disguised or
//!   improvised form (a pen gun, a smartphone gun, a converted blank firearm; see
//!   `DISGUISE_WORDS`) recorded or recovered by at least `SPREAD_MEMBERS` members within the
//!   last `SPREAD_MONTHS` months.
//! - **A route rising sharply** (Purple, a trafficking modus operandi): a leg whose count in
//!   the month is at least `RISE_MIN` and at least `RISE_FACTOR` times its monthly mean over
//!   the `BASELINE_MONTHS` months before, counted over the members that published for each
//!   of those months (a first publication has nothing to rise from).
//!
//! Aggregates are thresholded by their publishers, so a pattern made of figures below a
//! member's threshold is not seen: the drafts err on the side of silence.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use striae_protocol::analysis::Period;
use utoipa::ToSchema;

use super::{
    metric,
    report::{MemberAggregate, PeriodRange},
};

/// Members that must report a disguised type before it is proposed.
pub const SPREAD_MEMBERS: usize = 2;
/// Months (the last one included) in which they must report it.
pub const SPREAD_MONTHS: u32 = 3;
/// Least firearms on a leg in the month for a rise to be proposed.
pub const RISE_MIN: u64 = 10;
/// How many times its usual monthly count a leg must carry.
pub const RISE_FACTOR: u64 = 2;
/// Months before the month whose mean is the usual count.
pub const BASELINE_MONTHS: u32 = 3;
/// Words of a type name (lower case, split on spaces and hyphens) that mark a disguised or
/// improvised firearm.
pub const DISGUISE_WORDS: [&str; 16] = [
    "disguised",
    "concealed",
    "pen",
    "cane",
    "umbrella",
    "keychain",
    "smartphone",
    "phone",
    "knife",
    "buckle",
    "lighter",
    "improvised",
    "converted",
    "3d",
    "printed",
    "zip",
];

/// One figure behind a draft: what one member published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Evidence {
    /// The member's country.
    pub country: String,
    /// The member's bureau id.
    pub member: String,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// The aggregate's metric (`records.type`, `recoveries.type`, `routes`).
    pub metric: String,
    /// Its key (the type, or the leg `FROM-TO`).
    pub key: String,
    /// The published count.
    pub count: u64,
}

/// A notice the node proposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Draft {
    /// Stable for the same pattern and month (32 hexadecimal characters).
    pub id: String,
    /// `orange` or `purple`, as `POST /v1/notices` takes it.
    pub kind: String,
    /// `disguised_type_spread` or `route_rise`.
    pub rule: String,
    /// The proposed title.
    pub title: String,
    /// The proposed summary.
    pub summary: String,
    /// The proposed text, with the figures.
    pub body: String,
    /// Members whose figures it rests on.
    pub members: usize,
    /// The figures, as published.
    pub evidence: Vec<Evidence>,
}

/// `GET /v1/analysis/drafts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Drafts {
    /// The months looked at.
    pub period: PeriodRange,
    /// The proposals, Orange first.
    pub drafts: Vec<Draft>,
    /// Members with at least one aggregate in the period.
    pub members_reporting: usize,
}

/// The drafts the aggregates support for the month `to` (with the months before it that the
/// rules look at).
pub fn drafts(aggregates: &[MemberAggregate], to: Period) -> Drafts {
    let from = months_before(to, BASELINE_MONTHS.max(SPREAD_MONTHS - 1));
    let seen: Vec<&MemberAggregate> = aggregates
        .iter()
        .filter(|a| (from..=to).contains(&a.aggregate.period))
        .collect();
    let mut drafts = disguised_types(&seen, to);
    drafts.extend(rising_routes(&seen, to));
    Drafts {
        period: PeriodRange::of(from, to),
        members_reporting: seen
            .iter()
            .map(|a| a.member.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        drafts,
    }
}

/// Whether a type name names a disguised or improvised firearm.
pub fn is_disguise(type_name: &str) -> bool {
    type_name
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-' || c == '/')
        .any(|word| DISGUISE_WORDS.contains(&word))
}

fn disguised_types(seen: &[&MemberAggregate], to: Period) -> Vec<Draft> {
    let since = months_before(to, SPREAD_MONTHS - 1);
    // Type (lower case) → the figures reporting it.
    let mut by_type: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    for a in seen.iter().filter(|a| a.aggregate.period >= since) {
        for count in &a.aggregate.counts {
            let watched =
                count.metric == metric::RECORDS_TYPE || count.metric == metric::RECOVERIES_TYPE;
            if watched && is_disguise(&count.key) {
                by_type
                    .entry(count.key.to_lowercase())
                    .or_default()
                    .push(evidence(a, &count.metric, &count.key, count.value));
            }
        }
    }
    by_type
        .into_iter()
        .filter_map(|(kind, evidence)| {
            let countries = countries(&evidence);
            (countries.len() >= SPREAD_MEMBERS).then(|| spread_draft(&kind, since, to, evidence))
        })
        .collect()
}

fn spread_draft(kind: &str, since: Period, to: Period, evidence: Vec<Evidence>) -> Draft {
    let countries = countries(&evidence);
    let total = at_least(&evidence);
    let list = countries.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut title: Vec<char> = kind.chars().collect();
    if let Some(first) = title.first_mut() {
        *first = first.to_ascii_uppercase();
    }
    Draft {
        id: draft_id(&["disguised_type_spread", kind, &to.to_string()]),
        kind: "orange".into(),
        rule: "disguised_type_spread".into(),
        title: format!(
            "{} reported by {} members",
            title.into_iter().collect::<String>(),
            countries.len()
        ),
        summary: format!(
            "Firearms of the type \"{kind}\" were recorded or recovered by {} members ({list}) \
             between {since} and {to}: at least {total} in the members' published figures. \
             Officers searching persons, vehicles and parcels should know this form.",
            countries.len()
        ),
        body: body(
            &format!(
                "Rule: a disguised or improvised type reported by at least {SPREAD_MEMBERS} \
                 members within {SPREAD_MONTHS} months."
            ),
            &evidence,
        ),
        members: countries.len(),
        evidence,
    }
}

/// Members that published an aggregate for each of the `BASELINE_MONTHS` months before `to`:
/// only their figures have a usual count to rise from (a member's first publications, or a
/// network's first months, would otherwise read as a rise on every leg).
fn with_history<'a>(seen: &[&'a MemberAggregate], to: Period) -> BTreeSet<&'a str> {
    let before = months_before(to, BASELINE_MONTHS);
    let mut months: BTreeMap<&str, BTreeSet<Period>> = BTreeMap::new();
    for a in seen {
        let period = a.aggregate.period;
        if period >= before && period < to {
            months.entry(a.member.as_str()).or_default().insert(period);
        }
    }
    months
        .into_iter()
        .filter(|(_, periods)| periods.len() as u32 == BASELINE_MONTHS)
        .map(|(member, _)| member)
        .collect()
}

/// The fewest firearms the figures show: a firearm recorded and recovered in the same month
/// is in both a member's `records.type` and `recoveries.type`, so each member's month counts
/// the larger of the two.
fn at_least(evidence: &[Evidence]) -> u64 {
    let mut per_month: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for e in evidence {
        let slot = per_month
            .entry((e.member.as_str(), e.period.as_str()))
            .or_default();
        *slot = (*slot).max(e.count);
    }
    per_month.values().sum()
}

fn rising_routes(seen: &[&MemberAggregate], to: Period) -> Vec<Draft> {
    let before = months_before(to, BASELINE_MONTHS);
    let history = with_history(seen, to);
    // Leg → (count in the month, count in the baseline months, the month's figures).
    let mut legs: BTreeMap<(String, String), (u64, u64, Vec<Evidence>)> = BTreeMap::new();
    for a in seen.iter().filter(|a| history.contains(a.member.as_str())) {
        let period = a.aggregate.period;
        for leg in &a.aggregate.routes {
            let slot = legs.entry((leg.from.clone(), leg.to.clone())).or_default();
            if period == to {
                slot.0 += leg.count;
                let key = format!("{}-{}", leg.from, leg.to);
                slot.2.push(evidence(a, "routes", &key, leg.count));
            } else if period >= before {
                slot.1 += leg.count;
            }
        }
    }
    legs.into_iter()
        .filter(|(_, (now, baseline, _))| rises(*now, *baseline))
        .map(|((from, leg_to), (now, baseline, evidence))| {
            rise_draft(&from, &leg_to, to, now, baseline, evidence)
        })
        .collect()
}

/// Whether `now` firearms in the month, against `baseline` over `BASELINE_MONTHS` months
/// before it, is a sharp rise (compared in whole numbers: `now × months ≥ factor × baseline`).
pub fn rises(now: u64, baseline: u64) -> bool {
    let months = u64::from(BASELINE_MONTHS);
    now >= RISE_MIN && now.saturating_mul(months) >= RISE_FACTOR.saturating_mul(baseline.max(1))
}

fn rise_draft(
    from: &str,
    to_country: &str,
    month: Period,
    now: u64,
    baseline: u64,
    evidence: Vec<Evidence>,
) -> Draft {
    let usual = baseline as f64 / f64::from(BASELINE_MONTHS);
    let members = countries(&evidence).len();
    Draft {
        id: draft_id(&["route_rise", from, to_country, &month.to_string()]),
        kind: "purple".into(),
        rule: "route_rise".into(),
        title: format!("Trafficking route {from} → {to_country}: a sharp rise in {month}"),
        summary: format!(
            "{now} recovered or traced firearms are known to have travelled the leg {from} → \
             {to_country} in {month}, against {usual:.1} a month over the {BASELINE_MONTHS} \
             months before, in the figures of {members} reporting member(s). The route, its \
             concealment methods and its couriers may warrant attention."
        ),
        body: body(
            &format!(
                "Rule: at least {RISE_MIN} firearms on one leg in a month, and at least \
                 {RISE_FACTOR} times its monthly mean over the {BASELINE_MONTHS} months before."
            ),
            &evidence,
        ),
        members,
        evidence,
    }
}

fn evidence(a: &MemberAggregate, metric: &str, key: &str, count: u64) -> Evidence {
    Evidence {
        country: a.country.clone(),
        member: a.member.clone(),
        period: a.aggregate.period.to_string(),
        metric: metric.to_string(),
        key: key.to_string(),
        count,
    }
}

fn countries(evidence: &[Evidence]) -> BTreeSet<String> {
    evidence.iter().map(|e| e.country.clone()).collect()
}

/// The proposed text: the rule, then one line per figure.
fn body(rule: &str, evidence: &[Evidence]) -> String {
    let mut text = format!(
        "Proposed by striae from the members' published aggregate statistics; review before \
         issuing. {rule}\n\nFigures:\n"
    );
    for e in evidence {
        text.push_str(&format!(
            "- {} ({}), {}: {} {} = {}\n",
            e.country, e.member, e.period, e.metric, e.key, e.count
        ));
    }
    text
}

fn draft_id(parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hex::encode(&hasher.finalize().as_bytes()[..16])
}

/// The month `n` months before `p` (stopping at the first month a period may name).
fn months_before(p: Period, n: u32) -> Period {
    let mut p = p;
    for _ in 0..n {
        p = match p.month {
            1 => Period::new(p.year.saturating_sub(1), 12).unwrap_or(p),
            m => Period::new(p.year, m - 1).unwrap_or(p),
        };
    }
    p
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use striae_protocol::analysis::{Aggregate, Count, RouteLeg};

    use super::*;

    fn month(text: &str) -> Period {
        Period::parse(text).expect("test month")
    }

    fn published(
        country: &str,
        period: &str,
        counts: &[(&str, &str, u64)],
        legs: &[(&str, &str, u64)],
    ) -> MemberAggregate {
        MemberAggregate {
            member: format!("member-{country}"),
            country: country.into(),
            aggregate: Arc::new(Aggregate {
                period: month(period),
                min_count: 5,
                counts: counts
                    .iter()
                    .map(|(m, k, v)| Count {
                        metric: (*m).into(),
                        key: (*k).into(),
                        value: *v,
                    })
                    .collect(),
                routes: legs
                    .iter()
                    .map(|(from, to, count)| RouteLeg {
                        from: (*from).into(),
                        to: (*to).into(),
                        count: *count,
                        makes: Vec::new(),
                        types: Vec::new(),
                    })
                    .collect(),
            }),
        }
    }

    #[test]
    fn disguise_words_are_whole_words() {
        assert!(is_disguise("PEN GUN"));
        assert!(is_disguise("smartphone-pistol"));
        assert!(is_disguise("Converted blank firearm"));
        assert!(!is_disguise("pistol"));
        assert!(!is_disguise("open bolt carbine"), "\"pen\" inside a word");
    }

    #[test]
    fn a_disguised_type_reported_by_two_members_is_proposed_as_an_orange_notice() {
        let r = metric::RECORDS_TYPE;
        let aggregates = vec![
            published(
                "FR",
                "2026-10",
                &[(r, "PEN GUN", 5), (r, "pistol", 40)],
                &[],
            ),
            published(
                "DE",
                "2026-12",
                &[(metric::RECOVERIES_TYPE, "pen gun", 6)],
                &[],
            ),
            published("IT", "2026-12", &[(r, "pistol", 9)], &[]),
        ];
        let found = drafts(&aggregates, month("2026-12"));
        assert_eq!(found.members_reporting, 3);
        assert_eq!(found.drafts.len(), 1, "{found:?}");
        let draft = &found.drafts[0];
        assert_eq!((draft.kind.as_str(), draft.members), ("orange", 2));
        assert!(draft.summary.contains("DE, FR"), "{}", draft.summary);
        assert!(
            draft
                .body
                .contains("FR (member-FR), 2026-10: records.type PEN GUN = 5")
        );
        assert_eq!(drafts(&aggregates, month("2026-12")).drafts[0].id, draft.id);
    }

    #[test]
    fn one_member_or_an_old_report_proposes_nothing() {
        let r = metric::RECORDS_TYPE;
        let one = vec![
            published("FR", "2026-12", &[(r, "pen gun", 50)], &[]),
            published("DE", "2026-12", &[(r, "pistol", 50)], &[]),
        ];
        assert!(drafts(&one, month("2026-12")).drafts.is_empty());
        let old = vec![
            published("FR", "2026-12", &[(r, "pen gun", 5)], &[]),
            published("DE", "2026-08", &[(r, "pen gun", 5)], &[]),
        ];
        assert!(drafts(&old, month("2026-12")).drafts.is_empty());
    }

    #[test]
    fn a_leg_rising_sharply_is_proposed_as_a_purple_notice() {
        let quiet: &[(&str, &str, u64)] = &[(metric::CHECKS, "hits", 5)];
        let aggregates = vec![
            published("DE", "2026-09", &[], &[("RS", "DE", 5)]),
            published("DE", "2026-10", &[], &[("RS", "DE", 6)]),
            published("DE", "2026-11", quiet, &[]),
            published("DE", "2026-12", &[], &[("RS", "DE", 8), ("TR", "BG", 12)]),
            published("AT", "2026-09", quiet, &[]),
            published("AT", "2026-10", quiet, &[]),
            published("AT", "2026-11", quiet, &[]),
            published("AT", "2026-12", &[], &[("RS", "DE", 6)]),
            // A steady leg: 12 a month for months (BG has not published December yet).
            published("BG", "2026-09", &[], &[("TR", "BG", 12)]),
            published("BG", "2026-10", &[], &[("TR", "BG", 12)]),
            published("BG", "2026-11", &[], &[("TR", "BG", 12)]),
        ];
        let found = drafts(&aggregates, month("2026-12"));
        let titles: Vec<&str> = found.drafts.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(
            titles,
            ["Trafficking route RS → DE: a sharp rise in 2026-12"]
        );
        let draft = &found.drafts[0];
        assert_eq!((draft.kind.as_str(), draft.members), ("purple", 2));
        assert!(
            draft.summary.starts_with("14 recovered"),
            "{}",
            draft.summary
        );
        assert!(draft.summary.contains("3.7 a month"), "{}", draft.summary);
    }

    #[test]
    fn a_first_publication_is_no_rise() {
        // A member new to the network (or a network in its first months) has no usual count.
        let aggregates = vec![
            published("DE", "2026-11", &[], &[("RS", "DE", 2)]),
            published("DE", "2026-12", &[], &[("RS", "DE", 40)]),
        ];
        assert!(drafts(&aggregates, month("2026-12")).drafts.is_empty());
    }

    #[test]
    fn the_rise_rule_in_whole_numbers() {
        assert!(!rises(RISE_MIN - 1, 0), "too few to matter");
        assert!(rises(RISE_MIN, 0), "a new route");
        assert!(rises(10, 15), "10 against 5 a month");
        assert!(!rises(10, 16), "10 against 5.3 a month");
    }
}
