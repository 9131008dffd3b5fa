//! Horizontal bar charts of breakdowns (records by status, type, make, country…): one
//! labelled bar per category with its value at the end.

use super::line::heading;
use super::scale::nice_ticks;
use super::svg::{self, GRID, MUTED, PALETTE, Svg, escape, label, num};

/// Bars drawn at most (the largest); the rest are summed in a "+N more" line.
pub const MAX_BARS: usize = 200;

/// A horizontal bar chart.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    /// The heading, e.g. "Records by make".
    pub title: String,
    /// A second line under the title: period, filters, members reporting.
    pub subtitle: String,
    /// The unit of the values, the title of the value axis: "firearms".
    pub unit: String,
    /// The bars, drawn in this order; labels come from remote members and are escaped.
    pub bars: Vec<Bar>,
}

/// One category and its value.
#[derive(Debug, Clone, Default)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

const WIDTH: f64 = 900.0;
const TOP: f64 = 100.0;
const ROW: f64 = 26.0;
const LABEL_CHARS: usize = 36;

/// Draws `chart` as a standalone SVG document; empty input gives a "no data" picture.
pub fn bar_chart(chart: &BarChart) -> String {
    let (bars, rest) = bounded(&chart.bars);
    if bars.is_empty() {
        return svg::no_data(WIDTH, 200.0, &chart.title, "No data for this selection");
    }
    let lo = bars.iter().map(|b| b.value).fold(0.0, f64::min);
    let hi = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let ticks = nice_ticks(lo, hi, 6);
    let widest = bars
        .iter()
        .map(|b| b.label.trim().chars().count().min(LABEL_CHARS))
        .max()
        .unwrap_or(1);
    let left = 24.0 + svg::text_width(&"m".repeat(widest), 13.0).clamp(40.0, 260.0);
    let right = WIDTH - 90.0;
    let x = |v: f64| {
        left + (v - ticks.min()) / (ticks.max() - ticks.min()).max(f64::EPSILON) * (right - left)
    };
    let bottom = TOP + ROW * bars.len() as f64;
    let height = bottom + 24.0 + if rest.is_some() { 24.0 } else { 0.0 };
    let mut doc = Svg::new(
        WIDTH,
        height,
        &chart.title,
        &describe(chart, &bars, rest.as_ref()),
    );
    heading(&mut doc, &chart.title, &chart.subtitle);
    let unit = if chart.unit.trim().is_empty() {
        "Value".to_owned()
    } else {
        label(&chart.unit, 40)
    };
    doc.text(
        (left + right) / 2.0,
        70.0,
        r#"text-anchor="middle" font-weight="bold""#,
        &unit,
    );
    for &v in &ticks.values {
        doc.line(
            (x(v), TOP - 6.0),
            (x(v), bottom),
            &format!(r#"stroke="{GRID}""#),
        );
        doc.text(
            x(v),
            TOP - 10.0,
            &format!(r#"text-anchor="middle" fill="{MUTED}" font-size="12""#),
            &svg::value(v, ticks.decimals),
        );
    }
    let decimals = if bars.iter().all(|b| b.value.fract() == 0.0) {
        0
    } else {
        1
    };
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let (x0, x1) = (x(0.0).min(x(b.value)), x(0.0).max(x(b.value)));
        doc.text(
            left - 8.0,
            y + 17.0,
            r#"text-anchor="end""#,
            &label(&b.label, LABEL_CHARS),
        );
        doc.raw(&format!(
            r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}"/>"#,
            num(x0),
            num(y + 4.0),
            num((x1 - x0).max(1.0)),
            num(ROW - 8.0),
            PALETTE[0]
        ));
        doc.text(x1 + 6.0, y + 17.0, "", &svg::value(b.value, decimals));
    }
    doc.line(
        (x(0.0), TOP - 6.0),
        (x(0.0), bottom),
        &format!(r#"stroke="{MUTED}" stroke-width="1.5""#),
    );
    if let Some((n, total)) = rest {
        let note = format!(
            "+{n} more not drawn, together {}",
            svg::value(total, decimals)
        );
        doc.text(
            left,
            bottom + 20.0,
            &format!(r#"fill="{MUTED}" font-size="12""#),
            &escape(&note),
        );
    }
    doc.finish()
}

/// At most [`MAX_BARS`] finite bars, the largest, in their given order; and how many were
/// left out with their sum.
fn bounded(bars: &[Bar]) -> (Vec<&Bar>, Option<(usize, f64)>) {
    let finite: Vec<&Bar> = bars.iter().filter(|b| b.value.is_finite()).collect();
    if finite.len() <= MAX_BARS {
        return (finite, None);
    }
    let mut order: Vec<usize> = (0..finite.len()).collect();
    order.sort_by(|&a, &b| finite[b].value.abs().total_cmp(&finite[a].value.abs()));
    let mut kept = order[..MAX_BARS].to_vec();
    kept.sort_unstable();
    let rest: f64 = order[MAX_BARS..].iter().map(|&i| finite[i].value).sum();
    (
        kept.into_iter().map(|i| finite[i]).collect(),
        Some((finite.len() - MAX_BARS, rest)),
    )
}

/// The text for screen readers: every drawn bar with its value.
fn describe(chart: &BarChart, bars: &[&Bar], rest: Option<&(usize, f64)>) -> String {
    let items: Vec<String> = bars
        .iter()
        .take(50)
        .map(|b| {
            format!(
                "{}: {}",
                b.label.chars().take(LABEL_CHARS).collect::<String>(),
                svg::value(b.value, 1).trim_end_matches(".0")
            )
        })
        .collect();
    let more = bars.len().saturating_sub(50) + rest.map_or(0, |r| r.0);
    let unit = if chart.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", chart.unit)
    };
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!("Bar chart{unit}: {}{tail}.", items.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(bars: Vec<Bar>) -> BarChart {
        BarChart {
            title: "Records by make".into(),
            subtitle: String::new(),
            unit: "firearms".into(),
            bars,
        }
    }

    fn bar(label: &str, value: f64) -> Bar {
        Bar {
            label: label.into(),
            value,
        }
    }

    #[test]
    fn draws_one_bar_per_category_escaped() {
        let out = bar_chart(&chart(vec![
            bar("Glock", 120.0),
            bar("Smith & <Wesson> \"x\"", 35.0),
            bar("CZ", 0.0),
        ]));
        let doc = roxmltree::Document::parse(&out).expect("valid XML");
        assert_eq!(
            doc.descendants()
                .filter(|n| n.attribute("class") == Some("bar"))
                .count(),
            3
        );
        assert!(out.contains("Smith &amp; &lt;Wesson&gt; &quot;x&quot;"));
        assert!(out.contains(">120<") && out.contains(r#"role="img""#));
    }

    #[test]
    fn empty_input_says_so() {
        let out = bar_chart(&chart(Vec::new()));
        roxmltree::Document::parse(&out).expect("valid XML");
        assert!(out.contains("No data"));
    }

    #[test]
    fn too_many_bars_are_summarised() {
        let bars = (0..250)
            .map(|i| bar(&format!("make {i}"), f64::from(i)))
            .collect();
        let out = bar_chart(&chart(bars));
        let doc = roxmltree::Document::parse(&out).expect("valid XML");
        assert_eq!(
            doc.descendants()
                .filter(|n| n.attribute("class") == Some("bar"))
                .count(),
            MAX_BARS
        );
        // The 50 smallest (0..=49) are left out: 1,225 together.
        assert!(out.contains("+50 more not drawn, together 1,225"), "{out}");
    }
}
