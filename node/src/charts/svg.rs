//! SVG text building shared by the charts: escaping untrusted text, number formatting and
//! the document frame (title, description, accessibility attributes).

use std::fmt::Write as _;

/// The font stack of every chart: viewers without the first fall back to any sans-serif.
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
/// Text colour: #1f2933 on white is about 14:1.
pub(super) const INK: &str = "#1f2933";
/// Secondary text (axis labels, notes): #52606d on white is about 6.6:1.
pub(super) const MUTED: &str = "#52606d";
/// Grid lines, light enough not to compete with the data.
pub(super) const GRID: &str = "#d9e2ec";
/// Series colours, dark enough for lines and text on white (each above 4.5:1 except the
/// orange, which is only ever a line): Okabe-Ito's colour-blind safe set, darkened.
pub(super) const PALETTE: [&str; 8] = [
    "#0b5fa5", "#c0392b", "#117a54", "#8e3b8e", "#b35900", "#2c3e50", "#a0522d", "#1f7a8c",
];

/// Text for XML: escapes the five special characters and drops what XML 1.0 cannot hold
/// (control characters), so a name sent by a remote member can neither break the document
/// nor inject markup.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Shortens untrusted text to at most `max` characters (with an ellipsis) before escaping,
/// so a long name cannot push the layout apart.
pub(super) fn label(text: &str, max: usize) -> String {
    let trimmed = text.trim();
    if trimmed.chars().count() <= max {
        return escape(trimmed);
    }
    let short: String = trimmed.chars().take(max.saturating_sub(1)).collect();
    escape(&format!("{}…", short.trim_end()))
}

/// Approximate width in pixels of text at `size` px: the charts place labels without a font
/// engine, so they use an average glyph width (generous, to avoid overlaps).
pub(super) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// A count with thousands separators: 12345 -> "12,345".
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value with `decimals` decimal places and thousands separators.
pub(super) fn value(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let sign = if v < 0.0 && v.abs() >= 0.5 / 10f64.powi(decimals as i32) {
        "-"
    } else {
        ""
    };
    let fixed = format!("{:.*}", decimals, v.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let int = count(int.parse().unwrap_or(0));
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// A coordinate with one decimal: enough at screen resolution, and short.
pub(super) fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// An SVG document under construction.
pub(super) struct Svg {
    out: String,
}

impl Svg {
    /// Opens a `width` × `height` document titled `title` (already plain text, escaped
    /// here), described for screen readers by `desc`.
    pub(super) fn new(width: f64, height: f64, title: &str, desc: &str) -> Self {
        let (w, h) = (num(width), num(height));
        let title = escape(title);
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{title}" aria-describedby="desc" font-family="{FONT}" font-size="13" fill="{INK}"><title>{title}</title><desc id="desc">{}</desc><rect width="{w}" height="{h}" fill="#ffffff"/>"##,
            escape(desc)
        );
        Svg { out }
    }

    /// Appends raw markup built by the chart (whose text parts were escaped by it).
    pub(super) fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    /// Appends a text element; `text` must already be escaped.
    pub(super) fn text(&mut self, x: f64, y: f64, attrs: &str, text: &str) {
        let _ = write!(
            self.out,
            r#"<text x="{}" y="{}" {attrs}>{text}</text>"#,
            num(x),
            num(y)
        );
    }

    /// Appends a line.
    pub(super) fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
        let _ = write!(
            self.out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" {attrs}/>"#,
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        );
    }

    /// Closes the document.
    pub(super) fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// The picture for empty input: the title and a clear "no data" message, so a report
/// never shows a blank frame that could be mistaken for a failed load.
pub(super) fn no_data(width: f64, height: f64, title: &str, message: &str) -> String {
    let mut svg = Svg::new(width, height, title, message);
    svg.text(
        16.0,
        30.0,
        r#"font-size="18" font-weight="bold""#,
        &label(title, 90),
    );
    svg.raw(&format!(
        r##"<rect x="16" y="48" width="{}" height="{}" fill="#f5f7fa" stroke="{GRID}"/>"##,
        num(width - 32.0),
        num(height - 64.0)
    ));
    svg.text(
        width / 2.0,
        (height + 48.0) / 2.0,
        &format!(r#"text-anchor="middle" font-size="16" fill="{MUTED}""#),
        &escape(message),
    );
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c\nd"), "abc d");
    }

    #[test]
    fn labels_are_shortened_before_escaping() {
        assert_eq!(label("  Heckler & Koch  ", 40), "Heckler &amp; Koch");
        assert_eq!(label("abcdefghij", 5), "abcd…");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(value(1234.5, 1), "1,234.5");
        assert_eq!(value(-2.0, 0), "-2");
        assert_eq!(value(-0.01, 0), "0");
        assert_eq!(num(3.04), "3");
        assert_eq!(num(3.25), "3.3");
    }
}
