//! The analysis answers as pictures (`?format=svg`): the routes as a map, a trend as a line
//! chart, a summary breakdown and the time to crime as bar charts. Only the translation from
//! the answer types to `charts`' inputs lives here; the drawing is `charts`'.

use crate::charts::{
    Bar, BarChart, LineChart, MapOptions, Month, RouteLeg, Series, bar_chart, line_chart, route_map,
};

use super::report::{Breakdown, PeriodRange, Routes, Summary, TimeToCrime, Trend};

/// The breakdowns of a summary that can be drawn, by the name `?chart=` takes.
pub const SUMMARY_CHARTS: [(&str, &str); 5] = [
    ("by_status", "Records by status"),
    ("by_type", "Records by type"),
    ("by_make", "Records by make"),
    ("by_country", "Records by reporting country"),
    ("recoveries", "Firearms recovered or seized, by type"),
];

fn period_text(p: &PeriodRange) -> String {
    if p.from == p.to {
        p.from.clone()
    } else {
        format!("{} to {}", p.from, p.to)
    }
}

fn reporting(members: usize) -> String {
    match members {
        1 => "1 member reporting".into(),
        n => format!("{n} members reporting"),
    }
}

/// The route map of `routes`; `filters` says what the legs were filtered by (for the
/// subtitle).
pub fn routes_svg(routes: &Routes, filters: &str) -> String {
    let legs: Vec<RouteLeg> = routes
        .routes
        .iter()
        .map(|r| RouteLeg {
            from: r.from.clone(),
            to: r.to.clone(),
            count: r.count,
        })
        .collect();
    let mut subtitle = vec![period_text(&routes.period)];
    if !filters.is_empty() {
        subtitle.push(filters.to_string());
    }
    subtitle.push(reporting(routes.members_reporting));
    let options = MapOptions {
        title: "Trafficking routes".into(),
        subtitle: subtitle.join(" · "),
        ..MapOptions::default()
    };
    route_map(&legs, &options).svg
}

/// The line chart of a trend, one point per month.
pub fn trend_svg(trend: &Trend, label: &str) -> String {
    let points = trend
        .series
        .iter()
        .filter_map(|p| Some((p.period.parse::<Month>().ok()?, p.value as f64)))
        .collect();
    let members = trend
        .series
        .iter()
        .map(|p| p.members_reporting)
        .max()
        .unwrap_or(0);
    let period = match (trend.series.first(), trend.series.last()) {
        (Some(first), Some(last)) => period_text(&PeriodRange {
            from: first.period.clone(),
            to: last.period.clone(),
        }),
        _ => String::new(),
    };
    line_chart(&LineChart {
        title: format!("{label} per month"),
        subtitle: format!("{period} · up to {}", reporting(members)),
        y_label: label.to_string(),
        unit: "per month".into(),
        series: vec![Series {
            name: label.to_string(),
            points,
        }],
    })
}

/// The bar chart of one of a summary's breakdowns (`SUMMARY_CHARTS`); `None` for a name it
/// does not know.
pub fn summary_svg(summary: &Summary, chart: &str) -> Option<String> {
    let (_, title) = SUMMARY_CHARTS.iter().find(|(name, _)| *name == chart)?;
    let counts = match chart {
        "by_status" => &summary.records.by_status,
        "by_type" => &summary.records.by_type,
        "by_make" => &summary.records.by_make,
        "by_country" => &summary.records.by_country,
        _ => &summary.recoveries,
    };
    let mut bars = bars(counts);
    bars.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.label.cmp(&b.label)));
    Some(bar_chart(&BarChart {
        title: (*title).to_string(),
        subtitle: format!(
            "{} · {}",
            period_text(&summary.period),
            reporting(summary.members_reporting)
        ),
        unit: "records".into(),
        bars,
    }))
}

/// The time to crime as bars in bucket order, the network's figures.
pub fn time_to_crime_svg(t: &TimeToCrime) -> String {
    let bars = t
        .buckets
        .iter()
        .map(|bucket| Bar {
            label: bucket.clone(),
            value: t.network.get(bucket).copied().unwrap_or(0) as f64,
        })
        .collect();
    bar_chart(&BarChart {
        title: "Time from last legal transfer to recovery".into(),
        subtitle: format!(
            "{} · {}",
            period_text(&t.period),
            reporting(t.members_reporting)
        ),
        unit: "firearms".into(),
        bars,
    })
}

fn bars(counts: &Breakdown) -> Vec<Bar> {
    counts
        .iter()
        .map(|(label, value)| Bar {
            label: label.clone(),
            value: *value as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::report::{RouteView, TrendPoint};

    fn range() -> PeriodRange {
        PeriodRange {
            from: "2026-01".into(),
            to: "2026-12".into(),
        }
    }

    #[test]
    fn the_map_draws_every_leg_and_names_the_selection() {
        let routes = Routes {
            routes: vec![RouteView {
                from: "AT".into(),
                to: "DE".into(),
                count: 12,
                makes: Breakdown::new(),
                types: Breakdown::new(),
            }],
            members_reporting: 3,
            period: range(),
            legs_total: 1,
        };
        let svg = routes_svg(&routes, "make Glock");
        assert_eq!(svg.matches("class=\"leg\"").count(), 1, "{svg}");
        assert!(svg.contains("2026-01 to 2026-12 · make Glock · 3 members reporting"));
    }

    #[test]
    fn a_trend_and_a_breakdown_are_charts_with_their_titles() {
        let trend = Trend {
            metric: "recoveries".into(),
            by: "month".into(),
            series: vec![TrendPoint {
                period: "2026-11".into(),
                value: 7,
                members_reporting: 2,
            }],
        };
        assert!(trend_svg(&trend, "Firearms recovered").contains("Firearms recovered per month"));
        let mut summary =
            crate::analysis::report::summary(&[], month("2026-01"), month("2026-12"), None);
        summary.records.by_status.insert("stolen".into(), 9);
        let svg = summary_svg(&summary, "by_status").expect("a known chart");
        assert!(svg.contains("Records by status") && svg.contains("stolen"));
        assert!(summary_svg(&summary, "by_colour").is_none());
    }

    fn month(text: &str) -> striae_protocol::analysis::Period {
        striae_protocol::analysis::Period::parse(text).expect("test month")
    }
}
