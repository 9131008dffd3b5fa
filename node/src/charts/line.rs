//! Line charts of monthly time series (trends): months across, values up, one line per
//! series, with round ticks, axis titles with units and a legend.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::month::Month;
use super::scale::{Ticks, nice_ticks};
use super::svg::{self, GRID, INK, MUTED, PALETTE, Svg, escape, label, num};

/// Series drawn at most; the rest are summarised in a note.
pub const MAX_SERIES: usize = 20;
/// Months drawn at most (the latest ones); earlier months are summarised in a note.
pub const MAX_MONTHS: usize = 240;

/// A line chart of monthly values.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// The heading, e.g. "Firearms recovered per month".
    pub title: String,
    /// A second line under the title: period, filters, members reporting.
    pub subtitle: String,
    /// What the values are, for the y axis: "Firearms recovered".
    pub y_label: String,
    /// Their unit, shown with the y label: "firearms", "%", "days".
    pub unit: String,
    /// The lines; names come from remote members and are escaped.
    pub series: Vec<Series>,
}

/// One line: a name and its monthly values (months missing from it are gaps, not zeros).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(Month, f64)>,
}

const WIDTH: f64 = 900.0;
const PLOT_HEIGHT: f64 = 300.0;
const TOP: f64 = 70.0;
const RIGHT: f64 = 28.0;

/// Draws `chart` as a standalone SVG document. Empty input gives a "no data" picture;
/// one point is drawn as a marker on a one-month axis.
pub fn line_chart(chart: &LineChart) -> String {
    let (series, notes) = bounded(chart);
    let months = month_range(&series);
    let Some((first, last)) = months else {
        return svg::no_data(WIDTH, 240.0, &chart.title, "No data for this selection");
    };
    let values = series.iter().flat_map(|s| s.points.values().copied());
    let (lo, hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let ticks = nice_ticks(lo, hi, 5);
    let frame = Frame::new(&ticks, first, last);
    let legend_rows = legend_rows(&series, frame.plot_width());
    let height =
        TOP + PLOT_HEIGHT + 64.0 + 22.0 * legend_rows.len() as f64 + 20.0 * notes.len() as f64;
    let mut doc = Svg::new(
        WIDTH,
        height,
        &chart.title,
        &describe(chart, &series, first, last),
    );
    heading(&mut doc, &chart.title, &chart.subtitle);
    frame.y_axis(&mut doc, &ticks, &axis_title(&chart.y_label, &chart.unit));
    frame.x_axis(&mut doc);
    for (i, s) in series.iter().enumerate() {
        frame.series(&mut doc, i, s);
    }
    let mut y = TOP + PLOT_HEIGHT + 64.0;
    for row in &legend_rows {
        legend_row(&mut doc, frame.left, y, row, &series);
        y += 22.0;
    }
    for note in &notes {
        doc.text(
            frame.left,
            y,
            &format!(r#"font-size="12" fill="{MUTED}""#),
            &escape(note),
        );
        y += 20.0;
    }
    doc.finish()
}

/// A series after cleaning: finite values by month.
struct Line {
    name: String,
    points: BTreeMap<Month, f64>,
}

/// Keeps at most [`MAX_SERIES`] series (the largest by total) and [`MAX_MONTHS`] months (the
/// latest), returning what is drawn and notes on what is not.
fn bounded(chart: &LineChart) -> (Vec<Line>, Vec<String>) {
    let mut lines: Vec<Line> = chart
        .series
        .iter()
        .map(|s| Line {
            name: s.name.clone(),
            points: s
                .points
                .iter()
                .filter(|(_, v)| v.is_finite())
                .copied()
                .collect(),
        })
        .collect();
    let mut notes = Vec::new();
    if lines.len() > MAX_SERIES {
        let total = |l: &Line| l.points.values().map(|v| v.abs()).sum::<f64>();
        lines.sort_by(|a, b| total(b).total_cmp(&total(a)));
        notes.push(format!(
            "+{} more series not drawn (the {MAX_SERIES} largest are shown)",
            lines.len() - MAX_SERIES
        ));
        lines.truncate(MAX_SERIES);
    }
    if let Some((first, last)) = month_range(&lines) {
        let span = last.index() - first.index() + 1;
        if span > MAX_MONTHS as i64 {
            let start = Month::from_index(last.index() + 1 - MAX_MONTHS as i64);
            for l in &mut lines {
                l.points.retain(|m, _| *m >= start);
            }
            notes.push(format!(
                "+{} earlier months not drawn (from {first})",
                span - MAX_MONTHS as i64
            ));
        }
    }
    (lines, notes)
}

/// The first and last month with a value in any series.
fn month_range(lines: &[Line]) -> Option<(Month, Month)> {
    let first = lines.iter().filter_map(|l| l.points.keys().next()).min()?;
    let last = lines
        .iter()
        .filter_map(|l| l.points.keys().next_back())
        .max()?;
    Some((*first, *last))
}

/// "Firearms recovered (firearms)", or the label alone when there is no unit.
fn axis_title(label: &str, unit: &str) -> String {
    match (label.trim(), unit.trim()) {
        ("", "") => "Value".to_owned(),
        (l, "") => l.to_owned(),
        ("", u) => format!("Value ({u})"),
        (l, u) => format!("{l} ({u})"),
    }
}

/// The title and subtitle, top left.
pub(super) fn heading(doc: &mut Svg, title: &str, subtitle: &str) {
    doc.text(
        16.0,
        28.0,
        r#"font-size="18" font-weight="bold""#,
        &label(title, 90),
    );
    if !subtitle.trim().is_empty() {
        doc.text(
            16.0,
            50.0,
            &format!(r#"font-size="13" fill="{MUTED}""#),
            &label(subtitle, 120),
        );
    }
}

/// The text for screen readers: range and each series' latest value.
fn describe(chart: &LineChart, lines: &[Line], first: Month, last: Month) -> String {
    let mut desc = format!(
        "Line chart of {} by month, {} to {}.",
        axis_title(&chart.y_label, &chart.unit),
        first.label(),
        last.label()
    );
    for l in lines.iter().take(MAX_SERIES) {
        if let Some((m, v)) = l.points.iter().next_back() {
            let name: String = l.name.chars().take(60).collect();
            let _ = write!(
                desc,
                " {name}: {} in {}.",
                svg::value(*v, 2).trim_end_matches(".00"),
                m.label()
            );
        }
    }
    desc
}

/// Pixel geometry of the plot area.
struct Frame {
    left: f64,
    first: i64,
    months: i64,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    fn new(ticks: &Ticks, first: Month, last: Month) -> Self {
        let widest = ticks
            .values
            .iter()
            .map(|v| svg::value(*v, ticks.decimals).len())
            .max()
            .unwrap_or(1);
        Frame {
            left: 56.0 + widest as f64 * 7.5,
            first: first.index(),
            months: last.index() - first.index() + 1,
            y_min: ticks.min(),
            y_max: ticks.max(),
        }
    }

    fn plot_width(&self) -> f64 {
        WIDTH - self.left - RIGHT
    }

    /// The x of a month: a single month sits in the middle; otherwise the first and last
    /// months touch the ends, inset a little so markers are not cut by the axis.
    fn x(&self, month_index: i64) -> f64 {
        if self.months <= 1 {
            return self.left + self.plot_width() / 2.0;
        }
        let inset = 12.0;
        let t = (month_index - self.first) as f64 / (self.months - 1) as f64;
        self.left + inset + t * (self.plot_width() - 2.0 * inset)
    }

    fn y(&self, v: f64) -> f64 {
        let span = (self.y_max - self.y_min).max(f64::EPSILON);
        TOP + PLOT_HEIGHT * (1.0 - (v - self.y_min) / span)
    }

    /// Horizontal grid lines at the ticks, their labels, and the rotated axis title.
    fn y_axis(&self, doc: &mut Svg, ticks: &Ticks, title: &str) {
        let right = self.left + self.plot_width();
        for &v in &ticks.values {
            let y = self.y(v);
            let colour = if v == 0.0 { MUTED } else { GRID };
            doc.line(
                (self.left, y),
                (right, y),
                &format!(r#"stroke="{colour}" stroke-width="1""#),
            );
            doc.text(
                self.left - 8.0,
                y + 4.0,
                &format!(r#"text-anchor="end" fill="{INK}""#),
                &svg::value(v, ticks.decimals),
            );
        }
        let cy = TOP + PLOT_HEIGHT / 2.0;
        doc.raw(&format!(
            r#"<text x="18" y="{}" transform="rotate(-90 18 {})" text-anchor="middle" font-weight="bold">{}</text>"#,
            num(cy),
            num(cy),
            label(title, 60)
        ));
    }

    /// Month labels at a round step (every month, quarter, half-year, year…) so that they
    /// do not collide, and the axis title.
    fn x_axis(&self, doc: &mut Svg) {
        let bottom = TOP + PLOT_HEIGHT;
        let fit = (self.plot_width() / 78.0).max(1.0) as i64;
        let step = [1, 2, 3, 6, 12, 24, 60, 120]
            .into_iter()
            .find(|s| self.months / s < fit)
            .unwrap_or(240);
        for i in self.first..self.first + self.months {
            if i.rem_euclid(step) != 0 && self.months > fit {
                continue;
            }
            let x = self.x(i);
            doc.line(
                (x, bottom),
                (x, bottom + 5.0),
                &format!(r#"stroke="{MUTED}""#),
            );
            doc.text(
                x,
                bottom + 20.0,
                r#"text-anchor="middle""#,
                &Month::from_index(i).label(),
            );
        }
        doc.text(
            self.left + self.plot_width() / 2.0,
            bottom + 44.0,
            r#"text-anchor="middle" font-weight="bold""#,
            "Month",
        );
    }

    /// One series: a path broken at missing months, with a marker on every point when
    /// there are few (and always on an isolated point, which a line cannot show).
    fn series(&self, doc: &mut Svg, i: usize, line: &Line) {
        let (colour, dash) = style(i);
        let mut d = String::new();
        let mut previous: Option<i64> = None;
        for (m, v) in &line.points {
            let cmd = if previous == Some(m.index() - 1) {
                'L'
            } else {
                'M'
            };
            let _ = write!(d, "{cmd}{} {}", num(self.x(m.index())), num(self.y(*v)));
            previous = Some(m.index());
        }
        doc.raw(&format!(
            r#"<path class="series" d="{d}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"{dash}/>"#
        ));
        let few = self.months <= 36;
        let indexes: Vec<i64> = line.points.keys().map(|m| m.index()).collect();
        for (k, (m, v)) in line.points.iter().enumerate() {
            let alone = (k == 0 || indexes[k - 1] != m.index() - 1)
                && indexes.get(k + 1).is_none_or(|n| *n != m.index() + 1);
            let (x, y) = (self.x(m.index()), self.y(*v));
            if few || alone {
                let r = if alone { 5.0 } else { 3.5 };
                doc.raw(&format!(
                    r##"<circle cx="{}" cy="{}" r="{r}" fill="{colour}" stroke="#ffffff" stroke-width="1"/>"##,
                    num(x),
                    num(y)
                ));
            }
            // A chart of one month shows its values as numbers: there is no line to read.
            if self.months == 1 {
                doc.text(
                    x + 9.0,
                    y + 4.0,
                    &format!(r#"fill="{colour}" font-weight="bold""#),
                    svg::value(*v, 2).trim_end_matches(".00"),
                );
            }
        }
    }
}

/// Colour and dash pattern of series `i`: colours first, then dashes, so 20 stay distinct.
fn style(i: usize) -> (&'static str, &'static str) {
    let colour = PALETTE[i % PALETTE.len()];
    let dash = match i / PALETTE.len() {
        0 => "",
        1 => r#" stroke-dasharray="8 4""#,
        _ => r#" stroke-dasharray="2 3""#,
    };
    (colour, dash)
}

/// Legend entries wrapped into rows that fit the plot width.
fn legend_rows(lines: &[Line], width: f64) -> Vec<Vec<usize>> {
    if lines.len() < 2 {
        return Vec::new();
    }
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0.0;
    for (i, l) in lines.iter().enumerate() {
        let w = 44.0 + svg::text_width(&l.name.chars().take(32).collect::<String>(), 13.0);
        if used + w > width && rows.last().is_some_and(|r| !r.is_empty()) {
            rows.push(Vec::new());
            used = 0.0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(i);
        }
        used += w;
    }
    rows
}

/// One row of the legend: a line swatch in the series' style, then its name.
fn legend_row(doc: &mut Svg, left: f64, y: f64, row: &[usize], lines: &[Line]) {
    let mut x = left;
    for &i in row {
        let Some(l) = lines.get(i) else { continue };
        let (colour, dash) = style(i);
        doc.raw(&format!(
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="3"{dash}/>"#,
            num(x),
            num(y - 4.0),
            num(x + 28.0),
            num(y - 4.0)
        ));
        let name = label(&l.name, 32);
        doc.text(x + 34.0, y, "", &name);
        x += 44.0 + svg::text_width(&l.name.chars().take(32).collect::<String>(), 13.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(s: &str) -> Month {
        s.parse().expect("month")
    }

    fn chart(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "Firearms recovered per month".into(),
            subtitle: "All members".into(),
            y_label: "Recovered".into(),
            unit: "firearms".into(),
            series,
        }
    }

    #[test]
    fn draws_one_path_per_series_with_axes_and_legend() {
        let a = Series {
            name: "Pistols".into(),
            points: vec![(month("2026-01"), 4.0), (month("2026-02"), 9.0)],
        };
        let b = Series {
            name: "Rifles <&\">".into(),
            points: vec![(month("2026-02"), 2.0)],
        };
        let out = line_chart(&chart(vec![a, b]));
        let doc = roxmltree::Document::parse(&out).expect("valid XML");
        let paths = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("series"))
            .count();
        assert_eq!(paths, 2);
        assert!(out.contains("Rifles &lt;&amp;&quot;&gt;"));
        assert!(out.contains("Recovered (firearms)") && out.contains("Jan 2026"));
        assert!(out.contains(r#"role="img""#) && out.contains("<title>"));
    }

    #[test]
    fn one_point_is_drawn_as_a_marker() {
        let a = Series {
            name: "All".into(),
            points: vec![(month("2026-05"), 3.0)],
        };
        let out = line_chart(&chart(vec![a]));
        roxmltree::Document::parse(&out).expect("valid XML");
        assert!(out.contains("<circle") && out.contains("May 2026"));
    }

    #[test]
    fn empty_input_says_so() {
        let out = line_chart(&chart(vec![Series {
            name: "x".into(),
            points: vec![(month("2026-01"), f64::NAN)],
        }]));
        roxmltree::Document::parse(&out).expect("valid XML");
        assert!(out.contains("No data"));
    }

    #[test]
    fn too_many_series_and_months_are_summarised() {
        let series = (0..25)
            .map(|i| Series {
                name: format!("s{i}"),
                points: (0..300)
                    .map(|m| (Month::from_index(24_000 + m), f64::from(i)))
                    .collect(),
            })
            .collect();
        let out = line_chart(&chart(series));
        let doc = roxmltree::Document::parse(&out).expect("valid XML");
        assert_eq!(
            doc.descendants()
                .filter(|n| n.attribute("class") == Some("series"))
                .count(),
            MAX_SERIES
        );
        assert!(out.contains("+5 more series") && out.contains("+60 earlier months"));
    }
}
