//! Axis ticks at nice round numbers (1, 2 or 5 times a power of ten).

/// Ticks for an axis: the values, from the first to the last, and the decimals their labels
/// need.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ticks {
    pub(super) values: Vec<f64>,
    pub(super) decimals: usize,
}

impl Ticks {
    /// The lowest tick: the axis starts here.
    pub(super) fn min(&self) -> f64 {
        self.values.first().copied().unwrap_or(0.0)
    }

    /// The highest tick: the axis ends here.
    pub(super) fn max(&self) -> f64 {
        self.values.last().copied().unwrap_or(1.0)
    }
}

/// Round ticks covering `lo..=hi` with at most about `target` intervals. Counts start at
/// zero, so callers pass `lo = 0` for them; an empty or flat range still gets an axis
/// (0 to 1, or around the single value), since a chart of one point must stay readable.
pub(super) fn nice_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else {
        (0.0, 1.0)
    };
    let (lo, hi) = if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        if hi == 0.0 {
            (0.0, 1.0)
        } else {
            (lo.min(0.0), hi.max(0.0))
        }
    } else {
        (lo, hi)
    };
    let (lo, hi) = if hi == lo {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let first = (lo / step).floor() * step;
    let last = (hi / step).ceil() * step;
    let n = ((last - first) / step).round() as usize;
    let values = (0..=n.min(100))
        .map(|i| clean(first + i as f64 * step))
        .collect();
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    Ticks { values, decimals }
}

/// The smallest of 1, 2, 5 × 10^k that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = if raw > 0.0 && raw.is_finite() {
        raw
    } else {
        1.0
    };
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Removes floating-point noise (0.30000000000000004 -> 0.3) so labels print cleanly.
fn clean(v: f64) -> f64 {
    let r = (v * 1e9).round() / 1e9;
    if r == 0.0 { 0.0 } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = nice_ticks(0.0, 87.0, 5);
        assert_eq!(t.values, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(t.decimals, 0);
        let t = nice_ticks(0.0, 0.7, 5);
        assert_eq!(t.values, vec![0.0, 0.2, 0.4, 0.6, 0.8]);
        assert_eq!(t.decimals, 1);
        let t = nice_ticks(0.0, 12345.0, 5);
        assert_eq!(t.max(), 15000.0);
    }

    #[test]
    fn flat_or_empty_ranges_still_get_an_axis() {
        assert_eq!(
            nice_ticks(0.0, 0.0, 5).values,
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        let t = nice_ticks(7.0, 7.0, 5);
        assert!(t.min() <= 0.0 && t.max() >= 7.0);
        assert_eq!(nice_ticks(f64::NAN, 3.0, 5).max(), 1.0);
    }
}
