//! The route map: countries from the embedded Natural Earth map, trafficking legs drawn as
//! curved arrows between country positions, weighted by count, with labels and a legend.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use super::svg::{self, GRID, INK, MUTED, Svg, escape, label, num};
use super::world::{Country, world};

/// Legs drawn at most (the largest); the rest are summarised in a note.
pub const MAX_LEGS: usize = 500;
/// Unknown codes reported at most (they come from remote members).
const MAX_SKIPPED: usize = 50;

/// One leg of a route: firearms known to have moved from one country to another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteLeg {
    /// ISO 3166-1 alpha-2 code of the country the firearms came from.
    pub from: String,
    /// ISO 3166-1 alpha-2 code of the country they went to.
    pub to: String,
    /// How many firearms took this leg.
    pub count: u64,
}

/// How much of the world the map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapExtent {
    /// The region around the legs' countries (the whole world when they span it).
    #[default]
    Fit,
    /// The whole world (without Antarctica).
    World,
}

/// What to draw around the legs.
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// The heading, e.g. "Trafficking routes".
    pub title: String,
    /// A second line: period, filters, members reporting.
    pub subtitle: String,
    /// Width of the picture in pixels (clamped to 480..=2400); the height follows the region.
    pub width: u32,
    pub extent: MapExtent,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            title: "Trafficking routes".into(),
            subtitle: String::new(),
            width: 1000,
            extent: MapExtent::Fit,
        }
    }
}

/// The drawn map and what it could not draw.
#[derive(Debug, Clone)]
pub struct RouteMap {
    /// The standalone SVG document.
    pub svg: String,
    /// Country codes the map does not know (distinct, sorted, at most 50); their legs are
    /// left out, and the picture says so.
    pub skipped: Vec<String>,
    /// Legs drawn as arcs (after merging duplicates).
    pub legs_drawn: usize,
    /// Legs left out: beyond [`MAX_LEGS`], within one country, or naming an unknown code.
    pub legs_not_drawn: usize,
}

/// Draws `legs` on a world map. Duplicated legs are added up; legs within one country and
/// legs with an unknown code are left out and noted in the picture.
pub fn route_map(legs: &[RouteLeg], options: &MapOptions) -> RouteMap {
    let prepared = prepare(legs);
    let width = f64::from(options.width.clamp(480, 2400));
    let view = View::new(&prepared.legs, options.extent, width);
    let notes = prepared.notes();
    let height = view.top + view.height + 92.0 + 18.0 * notes.len() as f64;
    let mut doc = Svg::new(width, height, &options.title, &prepared.describe());
    super::line::heading(&mut doc, &options.title, &options.subtitle);
    draw_countries(&mut doc, &view, &prepared.endpoints());
    let max = prepared.legs.iter().map(|l| l.count).max().unwrap_or(1);
    doc.raw(r#"<g clip-path="url(#map)">"#);
    for leg in prepared.legs.iter().rev() {
        draw_leg(&mut doc, &view, leg, max);
    }
    doc.raw("</g>");
    draw_labels(&mut doc, &view, &prepared);
    if prepared.legs.is_empty() {
        no_routes(&mut doc, &view);
    }
    let y = view.top + view.height;
    legend(&mut doc, &view, y, &prepared.legs);
    footer(&mut doc, y + 74.0, &notes);
    RouteMap {
        svg: doc.finish(),
        skipped: prepared.skipped.iter().cloned().collect(),
        legs_drawn: prepared.legs.len(),
        legs_not_drawn: prepared.not_drawn(),
    }
}

/// A leg ready to draw: both countries known, duplicates merged.
struct Leg {
    from: &'static Country,
    to: &'static Country,
    count: u64,
}

/// The legs to draw, largest first, and what was left out.
struct Prepared {
    legs: Vec<Leg>,
    skipped: BTreeSet<String>,
    unknown_legs: usize,
    domestic_legs: usize,
    beyond: (usize, u64),
}

/// Resolves codes, merges duplicates, and keeps the [`MAX_LEGS`] largest legs.
fn prepare(input: &[RouteLeg]) -> Prepared {
    let world = world();
    let mut merged: HashMap<(&str, &str), Leg> = HashMap::new();
    let mut p = Prepared {
        legs: Vec::new(),
        skipped: BTreeSet::new(),
        unknown_legs: 0,
        domestic_legs: 0,
        beyond: (0, 0),
    };
    for leg in input.iter().filter(|l| l.count > 0) {
        let (from, to) = (world.country(&leg.from), world.country(&leg.to));
        let (Some(from), Some(to)) = (from, to) else {
            p.unknown_legs += 1;
            for (code, known) in [(&leg.from, from.is_some()), (&leg.to, to.is_some())] {
                if !known && p.skipped.len() < MAX_SKIPPED {
                    p.skipped.insert(
                        code.trim()
                            .chars()
                            .take(16)
                            .collect::<String>()
                            .to_uppercase(),
                    );
                }
            }
            continue;
        };
        if from.code == to.code {
            p.domestic_legs += 1;
            continue;
        }
        let entry = merged
            .entry((from.code.as_str(), to.code.as_str()))
            .or_insert(Leg { from, to, count: 0 });
        entry.count = entry.count.saturating_add(leg.count);
    }
    p.legs = merged.into_values().collect();
    p.legs.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.from.code.cmp(&b.from.code))
            .then(a.to.code.cmp(&b.to.code))
    });
    if p.legs.len() > MAX_LEGS {
        let rest = p.legs.split_off(MAX_LEGS);
        p.beyond = (
            rest.len(),
            rest.iter().fold(0u64, |s, l| s.saturating_add(l.count)),
        );
    }
    p
}

impl Prepared {
    fn not_drawn(&self) -> usize {
        self.unknown_legs + self.domestic_legs + self.beyond.0
    }

    /// Countries at either end of a drawn leg, with the firearms through each (most first).
    fn endpoints(&self) -> Vec<(&'static Country, u64)> {
        let mut totals: HashMap<&str, (&'static Country, u64)> = HashMap::new();
        for leg in &self.legs {
            for c in [leg.from, leg.to] {
                let e = totals.entry(c.code.as_str()).or_insert((c, 0));
                e.1 = e.1.saturating_add(leg.count);
            }
        }
        let mut out: Vec<_> = totals.into_values().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.code.cmp(&b.0.code)));
        out
    }

    /// Lines under the legend saying what the map shows and leaves out.
    fn notes(&self) -> Vec<String> {
        let total = self
            .legs
            .iter()
            .fold(0u64, |s, l| s.saturating_add(l.count));
        let mut notes = vec![format!(
            "{} drawn, {}.",
            plural(self.legs.len() as u64, "leg", "legs"),
            plural(total, "firearm", "firearms")
        )];
        if self.beyond.0 > 0 {
            notes.push(format!(
                "+{} more {} ({}) not drawn: only the {MAX_LEGS} largest are.",
                svg::count(self.beyond.0 as u64),
                if self.beyond.0 == 1 { "leg" } else { "legs" },
                plural(self.beyond.1, "firearm", "firearms")
            ));
        }
        if self.domestic_legs > 0 {
            notes.push(format!(
                "{} within one country not drawn.",
                plural(self.domestic_legs as u64, "leg", "legs")
            ));
        }
        if !self.skipped.is_empty() {
            let codes: Vec<&str> = self.skipped.iter().map(String::as_str).collect();
            notes.push(format!(
                "{} with unknown country codes not drawn: {}.",
                plural(self.unknown_legs as u64, "leg", "legs"),
                codes.join(", ")
            ));
        }
        notes.push("Map: Natural Earth 1:110m (public domain), equirectangular. Arcs join country centroids; arrows point to the destination.".into());
        notes
    }

    /// The text for screen readers: the largest legs by name.
    fn describe(&self) -> String {
        if self.legs.is_empty() {
            return "Map of trafficking routes: no routes for this selection.".into();
        }
        let top: Vec<String> = self
            .legs
            .iter()
            .take(20)
            .map(|l| format!("{} to {}: {}", l.from.name, l.to.name, l.count))
            .collect();
        let more = if self.legs.len() > 20 {
            format!("; and {} more legs", self.legs.len() - 20)
        } else {
            String::new()
        };
        format!(
            "Map of trafficking routes, firearms per leg: {}{more}.",
            top.join("; ")
        )
    }
}

/// The region shown and its projection onto the picture: equirectangular, with longitudes
/// shrunk by the cosine of the middle latitude so that Europe keeps its shape when zoomed.
struct View {
    lon: (f64, f64),
    lat: (f64, f64),
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

/// The world without Antarctica.
const WORLD_LON: (f64, f64) = (-180.0, 180.0);
const WORLD_LAT: (f64, f64) = (-56.0, 84.0);

impl View {
    fn new(legs: &[Leg], extent: MapExtent, width: f64) -> Self {
        let (lon, lat) = match extent {
            MapExtent::World => (WORLD_LON, WORLD_LAT),
            MapExtent::Fit => fit(legs),
        };
        let k = (((lat.0 + lat.1) / 2.0).to_radians().cos()).clamp(0.4, 1.0);
        let map_width = width - 32.0;
        let height = map_width * (lat.1 - lat.0) / ((lon.1 - lon.0) * k);
        View {
            lon,
            lat,
            left: 16.0,
            top: 64.0,
            width: map_width,
            height,
        }
    }

    /// Tenths of a degree to pixels.
    fn project(&self, (x, y): (i16, i16)) -> (f64, f64) {
        self.project_deg(f64::from(x) / 10.0, f64::from(y) / 10.0)
    }

    fn project_deg(&self, lon: f64, lat: f64) -> (f64, f64) {
        let px = self.left + (lon - self.lon.0) / (self.lon.1 - self.lon.0) * self.width;
        let py = self.top + (self.lat.1 - lat) / (self.lat.1 - self.lat.0) * self.height;
        (px, py)
    }

    fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.left
            && x <= self.left + self.width
            && y >= self.top
            && y <= self.top + self.height
    }
}

/// The region around the legs' countries: their bounding box with a margin, widened to a
/// landscape shape (height between 45% and 75% of the width) and kept within the world.
fn fit(legs: &[Leg]) -> ((f64, f64), (f64, f64)) {
    let points: Vec<(f64, f64)> = legs
        .iter()
        .flat_map(|l| [l.from.position, l.to.position])
        .map(|(x, y)| (f64::from(x) / 10.0, f64::from(y) / 10.0))
        .collect();
    if points.is_empty() {
        return (WORLD_LON, WORLD_LAT);
    }
    let (mut w, mut e, mut s, mut n) = (180.0f64, -180.0f64, 90.0f64, -90.0f64);
    for (x, y) in &points {
        (w, e, s, n) = (w.min(*x), e.max(*x), s.min(*y), n.max(*y));
    }
    let pad_x = 8.0 + (e - w) * 0.15;
    let pad_y = 6.0 + (n - s) * 0.15;
    let (mut lon, mut lat) = ((w - pad_x, e + pad_x), (s - pad_y, n + pad_y));
    let k = ((lat.0 + lat.1) / 2.0).to_radians().cos().clamp(0.4, 1.0);
    let aspect = |lon: (f64, f64), lat: (f64, f64)| (lat.1 - lat.0) / ((lon.1 - lon.0) * k);
    if aspect(lon, lat) > 0.75 {
        let span = (lat.1 - lat.0) / 0.75 / k;
        lon = widen(lon, span, WORLD_LON);
    } else if aspect(lon, lat) < 0.45 {
        let span = (lon.1 - lon.0) * k * 0.45;
        lat = widen(lat, span, WORLD_LAT);
    }
    (
        widen(lon, (lon.1 - lon.0).max(30.0), WORLD_LON),
        widen(lat, (lat.1 - lat.0).max(20.0), WORLD_LAT),
    )
}

/// The range of length `span` centred on `range`, shifted (or cut) to lie within `bounds`.
fn widen(range: (f64, f64), span: f64, bounds: (f64, f64)) -> (f64, f64) {
    let span = span.min(bounds.1 - bounds.0);
    let mid = (range.0 + range.1) / 2.0;
    let lo = (mid - span / 2.0).clamp(bounds.0, bounds.1 - span);
    (lo, lo + span)
}

/// Sea, the countries (those at a leg's end a little darker), and the clip for the arcs.
fn draw_countries(doc: &mut Svg, view: &View, endpoints: &[(&Country, u64)]) {
    let (l, t, w, h) = (
        num(view.left),
        num(view.top),
        num(view.width),
        num(view.height),
    );
    doc.raw(&format!(
        r##"<defs><clipPath id="map"><rect x="{l}" y="{t}" width="{w}" height="{h}"/></clipPath></defs><rect x="{l}" y="{t}" width="{w}" height="{h}" fill="#e8f1f8"/><g clip-path="url(#map)" stroke="#ffffff" stroke-width="0.7" stroke-linejoin="round">"##
    ));
    let ends: BTreeSet<&str> = endpoints.iter().map(|(c, _)| c.code.as_str()).collect();
    for c in &world().countries {
        let d = country_path(view, c);
        if d.is_empty() {
            continue;
        }
        let fill = if ends.contains(c.code.as_str()) {
            "#c3cfdd"
        } else {
            "#dde2e8"
        };
        doc.raw(&format!(r#"<path d="{d}" fill="{fill}"/>"#));
    }
    doc.raw("</g>");
    doc.raw(&format!(
        r#"<rect x="{l}" y="{t}" width="{w}" height="{h}" fill="none" stroke="{MUTED}"/>"#
    ));
}

/// The outline of a country in view, as path data (empty when nothing of it is in view).
fn country_path(view: &View, c: &Country) -> String {
    let mut d = String::new();
    for ring in &c.rings {
        let points: Vec<(f64, f64)> = ring.iter().map(|p| view.project(*p)).collect();
        if !overlaps(view, &points) {
            continue;
        }
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { 'M' } else { 'L' },
                num(*x),
                num(*y)
            );
        }
        d.push('Z');
    }
    d
}

/// Whether a ring's bounding box meets the map: rings wholly outside are not written.
fn overlaps(view: &View, points: &[(f64, f64)]) -> bool {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points {
        (x0, x1, y0, y1) = (x0.min(*x), x1.max(*x), y0.min(*y), y1.max(*y));
    }
    x1 >= view.left
        && x0 <= view.left + view.width
        && y1 >= view.top
        && y0 <= view.top + view.height
}

/// Colour of the arcs: a dark red, visible on the pale land and sea.
const ARC: &str = "#b0182a";

/// Stroke width of a leg: by the square root of its share of the largest, so that a leg
/// with a quarter of the firearms is half as thick, and the smallest stays visible.
fn weight(count: u64, max: u64) -> f64 {
    1.2 + 7.8 * (count as f64 / max.max(1) as f64).sqrt()
}

/// One leg as a quadratic curve bending to the right of its direction (so A→B and B→A do
/// not overlap), ending in an arrowhead short of the destination's dot.
fn draw_leg(doc: &mut Svg, view: &View, leg: &Leg, max: u64) {
    let a = view.project(leg.from.position);
    let b = view.project(leg.to.position);
    let w = weight(leg.count, max);
    let share = (leg.count as f64 / max.max(1) as f64).sqrt();
    let opacity = 0.5 + 0.4 * share;
    let Some(arrow) = Arc::new(a, b, w, 0.22) else {
        return;
    };
    let title = format!(
        "{} → {}: {}",
        escape(&leg.from.name),
        escape(&leg.to.name),
        svg::count(leg.count)
    );
    doc.raw(&format!(
        r#"<g opacity="{}"><path class="leg" d="{}" fill="none" stroke="{ARC}" stroke-width="{}" stroke-linecap="round"><title>{title}</title></path><polygon points="{}" fill="{ARC}"/></g>"#,
        format_args!("{opacity:.2}"),
        arrow.path,
        num(w),
        arrow.head
    ));
}

/// The geometry of one drawn leg.
struct Arc {
    path: String,
    head: String,
}

impl Arc {
    /// `None` when both ends fall on the same pixel (nothing to draw).
    /// `bend` is the control point's offset as a share of the distance (0 is straight).
    fn new(a: (f64, f64), b: (f64, f64), w: f64, bend: f64) -> Option<Arc> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let d = dx.hypot(dy);
        if d < 1.0 {
            return None;
        }
        // The control point: off the midpoint, to the right of the direction of travel.
        let c = (a.0 + dx / 2.0 - dy * bend, a.1 + dy / 2.0 + dx * bend);
        let len = d * 1.06;
        let head_len = (5.0 + 1.5 * w).min(len * 0.4);
        let gap = 4.0f64.min(len * 0.1);
        let t_tip = 1.0 - gap / len;
        let t_end = 1.0 - (gap + head_len * 0.8) / len;
        let tip = bezier(a, c, b, t_tip);
        let tangent = bezier_tangent(a, c, b, t_tip);
        let tl = tangent.0.hypot(tangent.1).max(f64::EPSILON);
        let u = (tangent.0 / tl, tangent.1 / tl);
        let base = (tip.0 - u.0 * head_len, tip.1 - u.1 * head_len);
        let half = 2.5 + 0.9 * w;
        let left = (base.0 + u.1 * half, base.1 - u.0 * half);
        let right = (base.0 - u.1 * half, base.1 + u.0 * half);
        // The curve up to t_end: de Casteljau keeps it on the same curve.
        let c_end = (a.0 + (c.0 - a.0) * t_end, a.1 + (c.1 - a.1) * t_end);
        let end = bezier(a, c, b, t_end);
        Some(Arc {
            path: format!(
                "M{} {}Q{} {} {} {}",
                num(a.0),
                num(a.1),
                num(c_end.0),
                num(c_end.1),
                num(end.0),
                num(end.1)
            ),
            head: format!(
                "{},{} {},{} {},{}",
                num(tip.0),
                num(tip.1),
                num(left.0),
                num(left.1),
                num(right.0),
                num(right.1)
            ),
        })
    }
}

fn bezier(a: (f64, f64), c: (f64, f64), b: (f64, f64), t: f64) -> (f64, f64) {
    let m = 1.0 - t;
    (
        m * m * a.0 + 2.0 * m * t * c.0 + t * t * b.0,
        m * m * a.1 + 2.0 * m * t * c.1 + t * t * b.1,
    )
}

fn bezier_tangent(a: (f64, f64), c: (f64, f64), b: (f64, f64), t: f64) -> (f64, f64) {
    let m = 1.0 - t;
    (
        2.0 * m * (c.0 - a.0) + 2.0 * t * (b.0 - c.0),
        2.0 * m * (c.1 - a.1) + 2.0 * t * (b.1 - c.1),
    )
}

/// A dot and a name for every endpoint, the busiest first; a name that would overlap one
/// already placed tries the other sides, then the bare code, then is left out (the dot and
/// the table beside the map still show the country).
fn draw_labels(doc: &mut Svg, view: &View, prepared: &Prepared) {
    let endpoints = prepared.endpoints();
    for (c, _) in &endpoints {
        let (x, y) = view.project(c.position);
        doc.raw(&format!(r##"<circle cx="{}" cy="{}" r="3.5" fill="{INK}" stroke="#ffffff" stroke-width="1.2"/>"##, num(x), num(y)));
    }
    let mut placed: Vec<Rect> = endpoints
        .iter()
        .map(|(c, _)| dot_box(view.project(c.position)))
        .collect();
    for (c, _) in &endpoints {
        let at = view.project(c.position);
        let name: String = c.name.chars().take(28).collect();
        let spot = [name.as_str(), c.code.as_str()]
            .into_iter()
            .find_map(|text| place(view, at, text, &placed).map(|r| (text, r)));
        if let Some((text, (rect, anchor))) = spot {
            doc.text(
                rect.text_x(anchor),
                rect.y1 - 3.5,
                &format!(r##"text-anchor="{anchor}" font-size="12" font-weight="bold" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke""##),
                &escape(text),
            );
            placed.push(rect);
        }
    }
}

/// An axis-aligned box in pixels.
#[derive(Clone, Copy)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    fn text_x(&self, anchor: &str) -> f64 {
        match anchor {
            "end" => self.x1,
            "middle" => (self.x0 + self.x1) / 2.0,
            _ => self.x0,
        }
    }
}

fn dot_box((x, y): (f64, f64)) -> Rect {
    Rect {
        x0: x - 4.0,
        y0: y - 4.0,
        x1: x + 4.0,
        y1: y + 4.0,
    }
}

/// The first free spot for a label of `text` next to the dot at `at`: right, left, above,
/// below, then the four diagonals; `None` when all overlap a placed label or leave the map.
fn place(
    view: &View,
    (x, y): (f64, f64),
    text: &str,
    placed: &[Rect],
) -> Option<(Rect, &'static str)> {
    let w = svg::text_width(text, 12.0) * 0.95;
    let h = 14.0;
    // (left edge relative to the dot, top edge relative to the dot, text anchor)
    let spots = [
        (6.0, -h / 2.0, "start"),
        (-6.0 - w, -h / 2.0, "end"),
        (-w / 2.0, -6.0 - h, "middle"),
        (-w / 2.0, 6.0, "middle"),
        (4.0, -4.0 - h, "start"),
        (4.0, 4.0, "start"),
        (-4.0 - w, -4.0 - h, "end"),
        (-4.0 - w, 4.0, "end"),
    ];
    spots.into_iter().find_map(|(dx, dy, anchor)| {
        let r = Rect {
            x0: x + dx,
            y0: y + dy,
            x1: x + dx + w,
            y1: y + dy + h,
        };
        let free = view.contains((r.x0, r.y0))
            && view.contains((r.x1, r.y1))
            && !placed.iter().any(|p| p.overlaps(&r));
        free.then_some((r, anchor))
    })
}

/// A clear message over an empty map.
fn no_routes(doc: &mut Svg, view: &View) {
    let (cx, cy) = (view.left + view.width / 2.0, view.top + view.height / 2.0);
    doc.raw(&format!(
        r##"<rect x="{}" y="{}" width="360" height="44" rx="6" fill="#ffffff" stroke="{MUTED}"/>"##,
        num(cx - 180.0),
        num(cy - 26.0)
    ));
    doc.text(
        cx,
        cy + 2.0,
        r#"text-anchor="middle" font-size="16""#,
        "No routes for this selection",
    );
}

/// The weight legend under the map: sample arrows for the largest, a middle and the
/// smallest count, and the endpoint dot.
fn legend(doc: &mut Svg, view: &View, y: f64, legs: &[Leg]) {
    let y = y + 30.0;
    doc.raw(&format!(
        r##"<rect x="{}" y="{}" width="{}" height="46" fill="#f5f7fa" stroke="{GRID}"/>"##,
        num(view.left),
        num(y - 22.0),
        num(view.width)
    ));
    let mut x = view.left + 10.0;
    if !legs.is_empty() {
        doc.text(x, y + 5.0, r#"font-weight="bold""#, "Firearms per leg:");
        x += svg::text_width("Firearms per leg:", 13.0) + 16.0;
    }
    let max = legs.iter().map(|l| l.count).max().unwrap_or(0);
    let min = legs.iter().map(|l| l.count).min().unwrap_or(0);
    let mut samples = vec![max];
    let mid = round_sample(max / 4);
    if mid > min && mid < max {
        samples.push(mid);
    }
    if min < max {
        samples.push(min);
    }
    for n in samples.iter().filter(|n| **n > 0) {
        if let Some(arc) = Arc::new((x, y), (x + 46.0, y), weight(*n, max), 0.0) {
            let w = num(weight(*n, max));
            doc.raw(&format!(r#"<path d="{}" fill="none" stroke="{ARC}" stroke-width="{w}" stroke-linecap="round"/><polygon points="{}" fill="{ARC}"/>"#, arc.path, arc.head));
        }
        doc.text(x + 54.0, y + 5.0, "", &svg::count(*n));
        x += 54.0 + svg::text_width(&svg::count(*n), 13.0) + 24.0;
    }
    doc.raw(&format!(
        r##"<circle cx="{}" cy="{}" r="3.5" fill="{INK}" stroke="#ffffff"/>"##,
        num(x + 8.0),
        num(y)
    ));
    doc.text(x + 18.0, y + 5.0, "", "country at either end (shaded)");
}

/// "1 leg", "2 legs", "1,060 legs".
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", svg::count(n), if n == 1 { one } else { many })
}

/// A round legend value (1, 2, 5 × 10^k) at or below `n`.
fn round_sample(n: u64) -> u64 {
    if n < 1 {
        return 0;
    }
    let power = 10u64.pow(n.ilog10());
    [5, 2, 1]
        .into_iter()
        .map(|m| m * power)
        .find(|v| *v <= n)
        .unwrap_or(power)
}

/// The notes under the legend.
fn footer(doc: &mut Svg, y: f64, notes: &[String]) {
    for (i, note) in notes.iter().enumerate() {
        doc.text(
            16.0,
            y + 18.0 * i as f64,
            &format!(r#"font-size="12" fill="{MUTED}""#),
            &label(note, 170),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(from: &str, to: &str, count: u64) -> RouteLeg {
        RouteLeg {
            from: from.into(),
            to: to.into(),
            count,
        }
    }

    fn legs_in(svg: &str) -> usize {
        let doc = roxmltree::Document::parse(svg).expect("valid XML");
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("leg"))
            .count()
    }

    #[test]
    fn draws_one_path_per_leg_and_merges_duplicates() {
        let legs = [
            leg("DE", "FR", 30),
            leg("fr", "de", 4),
            leg("DE", "FR", 2),
            leg("US", "MX", 12),
        ];
        let map = route_map(&legs, &MapOptions::default());
        assert_eq!(legs_in(&map.svg), 3);
        assert_eq!((map.legs_drawn, map.legs_not_drawn), (3, 0));
        assert!(map.svg.contains("Germany → France: 32"));
        assert!(
            map.svg.contains(r#"role="img""#)
                && map.svg.contains("<title>Trafficking routes</title>")
        );
    }

    #[test]
    fn unknown_and_domestic_legs_are_reported_not_drawn() {
        let legs = [
            leg("DE", "ZZ", 3),
            leg("<&\">", "FR", 2),
            leg("IT", "IT", 5),
            leg("IT", "ES", 1),
        ];
        let map = route_map(&legs, &MapOptions::default());
        assert_eq!(legs_in(&map.svg), 1);
        assert_eq!(map.skipped, vec!["<&\">".to_owned(), "ZZ".to_owned()]);
        assert_eq!(map.legs_not_drawn, 3);
        assert!(
            map.svg.contains("&lt;&amp;&quot;&gt;, ZZ")
                && map.svg.contains("1 leg within one country")
        );
    }

    #[test]
    fn untrusted_titles_are_escaped() {
        let options = MapOptions {
            title: "Routes <script>&\"".into(),
            subtitle: "make = \"<b>\"".into(),
            ..MapOptions::default()
        };
        let map = route_map(&[leg("PL", "NL", 7)], &options);
        assert_eq!(legs_in(&map.svg), 1);
        assert!(!map.svg.contains("<script>") && !map.svg.contains("<b>"));
    }

    #[test]
    fn empty_input_draws_the_map_with_a_message() {
        let map = route_map(&[], &MapOptions::default());
        assert_eq!(legs_in(&map.svg), 0);
        assert!(map.svg.contains("No routes for this selection"));
        assert!(
            map.svg.matches("<path").count() > 150,
            "the world's countries are drawn"
        );
    }

    #[test]
    fn too_many_legs_are_summarised() {
        let codes: Vec<&str> = world()
            .countries
            .iter()
            .map(|c| c.code.as_str())
            .filter(|c| *c != "-")
            .take(40)
            .collect();
        let legs: Vec<RouteLeg> = codes
            .iter()
            .flat_map(|a| codes.iter().map(move |b| leg(a, b, 1)))
            .collect();
        let map = route_map(
            &legs,
            &MapOptions {
                extent: MapExtent::World,
                ..MapOptions::default()
            },
        );
        assert_eq!(legs_in(&map.svg), MAX_LEGS);
        assert_eq!(map.legs_not_drawn, 40 + (40 * 39 - MAX_LEGS));
        assert!(
            map.svg
                .contains("+1,060 more legs (1,060 firearms) not drawn")
        );
    }

    #[test]
    fn round_samples() {
        assert_eq!(
            (
                round_sample(0),
                round_sample(7),
                round_sample(23),
                round_sample(180)
            ),
            (0, 5, 20, 100)
        );
    }
}
