//! `analysis`: the network statistics at one node. Builds `members` members' realistic
//! aggregates for `months` months (seeded), projects them as a node does, and times the
//! summary and the routes over the whole period (median of several runs), each including
//! the read of the projection the API does first: routes as the API answers by default (the
//! 100 most travelled legs), at its largest limit (1,000), and filtered by make and type.

use std::time::Instant;

use anyhow::Result;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;
use striae_node::analysis::{
    Projection, metric,
    report::{RouteFilter, routes, summary},
};
use striae_protocol::{
    BureauId,
    analysis::{Aggregate, Count, Period, RouteLeg},
};

/// Timed runs of each question; the median is reported.
const RUNS: usize = 9;

const STATUSES: [&str; 7] = [
    "stolen",
    "lost",
    "trafficked",
    "smuggled",
    "seized",
    "recovered",
    "closed",
];
const TYPES: [&str; 10] = [
    "pistol",
    "revolver",
    "rifle",
    "shotgun",
    "submachine gun",
    "assault rifle",
    "machine gun",
    "carbine",
    "converted alarm pistol",
    "other",
];
const BUCKETS: [&str; 6] = ["0-3m", "3-12m", "1-3y", "3-5y", "5-10y", "10y+"];

/// Two-letter codes for `n` countries (AA, AB, ...).
fn country(i: usize) -> String {
    let a = (b'A' + (i / 26) as u8 % 26) as char;
    let b = (b'A' + (i % 26) as u8) as char;
    format!("{a}{b}")
}

fn count(metric: &str, key: &str, value: u64) -> Count {
    Count {
        metric: metric.into(),
        key: key.into(),
        value,
    }
}

/// Countries most legs start from (makers and transit countries).
const SOURCES: usize = 30;
/// Legs a member publishes per month (those at or above the threshold).
const LEGS: usize = 20;

/// About what a national bureau publishes in a month: 7 statuses, 10 types, 60 makes, 30
/// calibres, checks, hits and trace requests by member, and 20 route legs, most ending at
/// the member (where firearms are recovered) and starting in one of 30 source countries,
/// each naming 5 makes and 3 types.
fn aggregate(rng: &mut StdRng, members: usize, me: usize, period: Period) -> Aggregate {
    let mut counts = Vec::new();
    let mut many = |metric: &str, keys: Vec<String>, rng: &mut StdRng| {
        for k in keys {
            counts.push(count(metric, &k, rng.gen_range(5..500)));
        }
    };
    many(
        metric::RECORDS_STATUS,
        STATUSES.map(String::from).to_vec(),
        rng,
    );
    many(metric::RECORDS_TYPE, TYPES.map(String::from).to_vec(), rng);
    many(
        metric::RECORDS_MAKE,
        (0..60).map(|i| format!("Make {i}")).collect(),
        rng,
    );
    many(
        metric::RECORDS_CALIBER,
        (0..30).map(|i| format!("Calibre {i}")).collect(),
        rng,
    );
    many(
        metric::RECOVERIES_TYPE,
        TYPES.map(String::from).to_vec(),
        rng,
    );
    many(
        metric::CHECKS,
        vec!["hits".into(), "no_record".into(), "inconclusive".into()],
        rng,
    );
    many(
        metric::HITS_HOLDER,
        (0..30)
            .map(|_| country(rng.gen_range(0..members)))
            .collect(),
        rng,
    );
    many(
        metric::TRACE_REQUESTS_ASKER,
        (0..30)
            .map(|_| country(rng.gen_range(0..members)))
            .collect(),
        rng,
    );
    many(
        metric::TRACES_ANSWERS,
        vec!["found".into(), "not_found".into(), "refused".into()],
        rng,
    );
    many(
        metric::TRACES_ANSWERED,
        vec!["found".into(), "not_found".into()],
        rng,
    );
    many(
        metric::SEARCHES,
        vec!["cartridge_case".into(), "bullet".into()],
        rng,
    );
    many(
        metric::CONFIRMATIONS,
        vec!["confirmed".into(), "not_confirmed".into()],
        rng,
    );
    many(
        metric::TIME_TO_CRIME,
        BUCKETS.map(String::from).to_vec(),
        rng,
    );
    many(metric::TRACES_SENT, vec!["total".into()], rng);
    many(metric::LEADS, vec!["found".into()], rng);
    many(
        metric::SEIZURES,
        vec!["records".into(), "items".into()],
        rng,
    );
    counts.dedup_by(|a, b| a.metric == b.metric && a.key == b.key);
    let routes = (0..LEGS)
        .map(|_| {
            let from = rng.gen_range(0..SOURCES.min(members));
            let to = if rng.gen_bool(0.8) {
                me
            } else {
                rng.gen_range(0..members)
            };
            let to = if to == from { (to + 1) % members } else { to };
            RouteLeg {
                from: country(from),
                to: country(to),
                count: rng.gen_range(5..200),
                makes: (0..5)
                    .map(|_| {
                        (
                            format!("Make {}", rng.gen_range(0..60)),
                            rng.gen_range(5..50),
                        )
                    })
                    .collect(),
                types: (0..3)
                    .map(|_| {
                        (
                            TYPES[rng.gen_range(0..TYPES.len())].into(),
                            rng.gen_range(5..50),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    Aggregate {
        period,
        min_count: 5,
        counts,
        routes,
    }
}

fn median_ms(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

pub fn run(members: usize, months: usize) -> Result<()> {
    let members = members.clamp(2, 26 * 26);
    let mut rng = StdRng::seed_from_u64(14);
    let projection = Projection::default();
    let first = Period::parse("2025-01").expect("a month");
    let mut last = first;
    let built = Instant::now();
    for m in 0..members {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(m as u64).to_be_bytes());
        let mut period = first;
        for _ in 0..months {
            projection.put(BureauId(id), aggregate(&mut rng, members, m, period));
            last = period;
            period = period.next();
        }
    }
    let build_ms = built.elapsed().as_secs_f64() * 1000.0;
    let country_of = |b: &BureauId| country(usize::from(b.0[7]) + 256 * usize::from(b.0[6]));
    let (held, bytes) = projection.size();
    let mut check = (0, 0);
    let summary_ms = median_ms(|| {
        let all = projection.between(first, last, country_of);
        check.0 = summary(&all, first, last, None).members_reporting;
    });
    let routes_ms = median_ms(|| {
        let all = projection.between(first, last, country_of);
        check.1 = routes(&all, first, last, &RouteFilter::default(), 100).legs_total;
    });
    let all_legs_ms = median_ms(|| {
        let all = projection.between(first, last, country_of);
        routes(&all, first, last, &RouteFilter::default(), 1_000);
    });
    let filtered_ms = median_ms(|| {
        let all = projection.between(first, last, country_of);
        let filter = RouteFilter {
            make: Some("Make 7"),
            firearm_type: Some("pistol"),
        };
        routes(&all, first, last, &filter, 100);
    });
    println!(
        "{}",
        json!({
            "members": members,
            "months": months,
            "aggregates": held,
            "aggregate_bytes": bytes,
            "build_ms": build_ms,
            "runs": RUNS,
            "summary_median_ms": summary_ms,
            "routes_median_ms": routes_ms,
            "routes_filtered_median_ms": filtered_ms,
            "routes_1000_median_ms": all_legs_ms,
            "members_reporting": check.0,
            "legs": check.1,
        })
    );
    Ok(())
}
