//! Pictures of bullet comparisons for examiners: land signatures overlaid at their best
//! lag (probe blue, held orange), one panel per land pair, labelled with the lands, ccf and
//! CMS, with a height range in µm and a length bar; and a single land's signature.

use crate::bullet::{Bullet, BulletComparison, Land, SIGNATURE_PITCH_UM};
use crate::render::{Canvas, INK, RenderError, SCALE, draw_length_bar};

/// Width of the plotting area (pixels).
const PLOT_WIDTH: usize = 900;
/// Height of one panel's plotting area (pixels).
const PANEL_HEIGHT: usize = 110;
const LEFT: usize = 70;
const MARGIN: usize = 12;
const LABEL: usize = 5 * SCALE + 8;
const PROBE: [u8; 4] = [31, 119, 180, 255];
const HELD: [u8; 4] = [230, 110, 0, 255];
const AXIS: [u8; 4] = [200, 200, 200, 255];

/// One panel: traces of `(signature, x offset in µm, colour)` and a label.
struct Panel<'a> {
    traces: Vec<(&'a [f32], f64, [u8; 4])>,
    label: Vec<(String, [u8; 4])>,
}

/// The land pairs of `cmp` that are matched, or, if none is, those of the best phase:
/// each panel draws the probe land's signature and the held land's shifted by the pair's
/// lag so that their striae line up.
pub fn aligned_signatures_png(
    probe: &Bullet,
    held: &Bullet,
    cmp: &BulletComparison,
) -> Result<Vec<u8>, RenderError> {
    let matched: Vec<_> = cmp
        .pairs
        .iter()
        .filter(|p| p.matched && p.in_phase)
        .collect();
    let chosen = if matched.is_empty() {
        cmp.pairs.iter().filter(|p| p.in_phase).collect()
    } else {
        matched
    };
    let panels: Vec<Panel<'_>> = chosen
        .iter()
        .filter_map(|p| {
            let a = probe.lands.get(p.probe_land)?;
            let b = held.lands.get(p.held_land)?;
            Some(Panel {
                traces: vec![
                    (a.signature.as_slice(), 0.0, PROBE),
                    (b.signature.as_slice(), -f64::from(p.lag_um), HELD),
                ],
                label: vec![
                    (format!("P{}", p.probe_land + 1), PROBE),
                    (format!("H{}", p.held_land + 1), HELD),
                    (format!("CCF {:.2} CMS {}", p.ccf, p.cms), INK),
                ],
            })
        })
        .collect();
    draw(&panels)
}

/// A bullet's land signatures, one panel per land in land order.
pub fn bullet_png(bullet: &Bullet) -> Result<Vec<u8>, RenderError> {
    let panels: Vec<Panel<'_>> = bullet
        .lands
        .iter()
        .enumerate()
        .map(|(i, land)| Panel {
            traces: vec![(land.signature.as_slice(), 0.0, PROBE)],
            label: vec![(format!("L{} {:.0} um", i + 1, land.width_um()), INK)],
        })
        .collect();
    draw(&panels)
}

/// One land's signature.
pub fn land_png(land: &Land) -> Result<Vec<u8>, RenderError> {
    draw(&[Panel {
        traces: vec![(land.signature.as_slice(), 0.0, PROBE)],
        label: vec![(format!("L {:.0} um", land.width_um()), INK)],
    }])
}

fn draw(panels: &[Panel<'_>]) -> Result<Vec<u8>, RenderError> {
    let points: usize = panels
        .iter()
        .flat_map(|p| p.traces.iter())
        .map(|t| t.0.iter().filter(|v| v.is_finite()).count())
        .sum();
    if panels.is_empty() || points == 0 {
        return Err(RenderError::Empty {
            nx: panels.len(),
            ny: 1,
            heights: points,
        });
    }
    // Common x range (µm) over all panels, so that panels share one length bar.
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    for (sig, off, _) in panels.iter().flat_map(|p| p.traces.iter()) {
        x0 = x0.min(*off);
        x1 = x1.max(off + sig.len() as f64 * SIGNATURE_PITCH_UM);
    }
    let um_per_px = ((x1 - x0) / PLOT_WIDTH as f64).max(1e-6);
    let panel_h = PANEL_HEIGHT + LABEL + MARGIN;
    let width = LEFT + PLOT_WIDTH + MARGIN;
    let height = MARGIN + panels.len() * panel_h + 5 * SCALE + 18;
    let mut canvas = Canvas::new(width, height);
    for (k, panel) in panels.iter().enumerate() {
        let top = MARGIN + k * panel_h;
        let mut x = LEFT;
        for (text, colour) in &panel.label {
            canvas.fill(x, top + 1, 8, 8, *colour);
            canvas.text(x + 12, top, text);
            x += 12 + text.chars().count() * 4 * SCALE + 16;
        }
        let plot_top = top + LABEL;
        let half = robust_half_range(panel);
        canvas.fill(LEFT, plot_top + PANEL_HEIGHT / 2, PLOT_WIDTH, 1, AXIS);
        canvas.text(4, plot_top, &format!("+{half:.1}"));
        canvas.text(4, plot_top + PANEL_HEIGHT / 2 - 5, "um");
        canvas.text(
            4,
            plot_top + PANEL_HEIGHT - 5 * SCALE,
            &format!("-{half:.1}"),
        );
        let to_y = |v: f64| {
            let t = (1.0 - (v / half).clamp(-1.0, 1.0)) / 2.0;
            plot_top + (t * (PANEL_HEIGHT - 1) as f64).round() as usize
        };
        for (sig, off, colour) in &panel.traces {
            let mut last: Option<(usize, usize)> = None;
            for (i, v) in sig.iter().enumerate() {
                if !v.is_finite() {
                    last = None;
                    continue;
                }
                let xu = off + i as f64 * SIGNATURE_PITCH_UM - x0;
                let px = LEFT + ((xu / um_per_px) as usize).min(PLOT_WIDTH - 1);
                let py = to_y(f64::from(*v));
                if let Some(prev) = last {
                    line(&mut canvas, prev, (px, py), *colour);
                } else {
                    canvas.set(px, py, *colour);
                }
                last = Some((px, py));
            }
        }
    }
    let bar_y = MARGIN + panels.len() * panel_h + 4;
    draw_length_bar(&mut canvas, LEFT, bar_y, PLOT_WIDTH, um_per_px);
    canvas.png()
}

/// The 98th percentile of the absolute heights in a panel (at least 0.1 µm).
fn robust_half_range(panel: &Panel<'_>) -> f64 {
    let mut mags: Vec<f64> = panel
        .traces
        .iter()
        .flat_map(|t| t.0.iter())
        .filter(|v| v.is_finite())
        .map(|v| f64::from(v.abs()))
        .collect();
    mags.sort_by(f64::total_cmp);
    let at = ((mags.len().saturating_sub(1)) as f64 * 0.98).round() as usize;
    mags.get(at).copied().unwrap_or(1.0).max(0.1)
}

/// A straight two-pixel-thick line (Bresenham).
fn line(canvas: &mut Canvas, from: (usize, usize), to: (usize, usize), colour: [u8; 4]) {
    let (mut x, mut y) = (from.0 as isize, from.1 as isize);
    let (x1, y1) = (to.0 as isize, to.1 as isize);
    let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
    let (sx, sy) = (if x < x1 { 1 } else { -1 }, if y < y1 { 1 } else { -1 });
    let mut err = dx + dy;
    loop {
        canvas.fill(x as usize, y as usize, 1, 2, colour);
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bullet::synthetic::{LandParams, synthetic_land};
    use crate::bullet::{compare_bullets, prepare_bullet};

    #[test]
    fn aligned_pairs_are_drawn_one_panel_each() {
        let p = LandParams::default();
        let scans = |shot| -> Vec<_> { (0..3).map(|k| synthetic_land(4, k, shot, &p)).collect() };
        let a = prepare_bullet(&scans(1)).expect("bullet");
        let b = prepare_bullet(&scans(2)).expect("bullet");
        let cmp = compare_bullets(&a, &b);
        let png = aligned_signatures_png(&a, &b, &cmp).expect("png");
        let reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .expect("a PNG");
        let info = reader.info();
        assert_eq!(info.width as usize, LEFT + PLOT_WIDTH + MARGIN);
        let panels = cmp.pairs.iter().filter(|p| p.in_phase).count();
        assert!(info.height as usize >= panels * PANEL_HEIGHT);
        assert!(land_png(&a.lands[0]).is_ok());
        let empty = Land {
            signature: vec![f32::NAN; 10],
            ..a.lands[0].clone()
        };
        assert!(land_png(&empty).is_err());
    }
}
