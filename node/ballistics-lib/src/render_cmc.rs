//! The picture of a cartridge-case comparison for examiners: the probe's prepared surface
//! and the holder's side by side in false colour, each congruent matching cell outlined on
//! both (on the holder's surface where the cell registered, turned by its angle), with the
//! count and a length bar, as a PNG.

use crate::{
    cmc::CmcResult,
    preprocess::Surface,
    render::{Canvas, RenderError, SCALE, colour_at, draw_length_bar, reduce, robust_range},
};

/// Longest side of each surface in the picture (pixels); larger surfaces are reduced.
const PANEL_MAX: usize = 420;
/// Smaller surfaces are enlarged to at least this side.
const PANEL_MIN: usize = 300;
const MARGIN: usize = 12;
const GAP: usize = 24;
const HEADER: usize = 5 * SCALE + 12;
const FOOTER: usize = 2 * (5 * SCALE) + 24;
const OUTLINE: [u8; 4] = [228, 26, 28, 255];

/// How one surface sits in the picture.
struct Panel {
    x: usize,
    y: usize,
    step: usize,
    zoom: usize,
    w: usize,
    h: usize,
}

impl Panel {
    /// The picture point of surface point (x, y).
    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let scale = self.zoom as f64 / self.step as f64;
        (self.x as f64 + x * scale, self.y as f64 + y * scale)
    }
}

/// Both surfaces, the congruent cells of `result` outlined: `reference` is the surface that
/// was cut into cells (the probe), `target` the one they registered on (the holder's).
pub fn comparison_png(
    reference: &Surface,
    target: &Surface,
    result: &CmcResult,
) -> Result<Vec<u8>, RenderError> {
    for s in [reference, target] {
        if s.nx == 0 || s.ny == 0 || s.z.len() != s.nx * s.ny {
            return Err(RenderError::Empty {
                nx: s.nx,
                ny: s.ny,
                heights: s.z.len(),
            });
        }
    }
    let side = reference.nx.max(reference.ny).max(target.nx).max(target.ny);
    let step = side.div_ceil(PANEL_MAX).max(1);
    let zoom = (PANEL_MIN / side.div_ceil(step)).max(1);
    let size = |s: &Surface| (s.nx.div_ceil(step), s.ny.div_ceil(step));
    let ((rw, rh), (tw, th)) = (size(reference), size(target));
    let left = Panel {
        x: MARGIN,
        y: MARGIN + HEADER,
        step,
        zoom,
        w: rw,
        h: rh,
    };
    let right = Panel {
        x: MARGIN + rw * zoom + GAP,
        y: MARGIN + HEADER,
        step,
        zoom,
        w: tw,
        h: th,
    };
    let height = rh.max(th) * zoom;
    let mut canvas = Canvas::new(right.x + tw * zoom + MARGIN, left.y + height + FOOTER);
    canvas.text(
        MARGIN,
        MARGIN,
        &format!("CMC {} / {}", result.cmc_count, result.cells_compared),
    );
    draw_heights(&mut canvas, reference, &left);
    draw_heights(&mut canvas, target, &right);
    for cell in &result.cells {
        let (x0, y0, c) = (cell.x0 as f64, cell.y0 as f64, cell.size as f64);
        let square = [(x0, y0), (x0 + c, y0), (x0 + c, y0 + c), (x0, y0 + c)];
        outline(&mut canvas, &left, &square);
        outline(&mut canvas, &right, &cell.target_corners);
    }
    let below = left.y + height + 6;
    canvas.text(left.x, below, "P");
    canvas.text(right.x, below, "H");
    let um_per_pixel = reference.pixel_um * step as f64 / zoom as f64;
    draw_length_bar(
        &mut canvas,
        left.x,
        below + 5 * SCALE + 6,
        rw * zoom,
        um_per_pixel,
    );
    canvas.png()
}

fn draw_heights(canvas: &mut Canvas, surface: &Surface, panel: &Panel) {
    let heights = reduce(surface, panel.step, panel.w, panel.h);
    let (low, high) = robust_range(&heights);
    for (i, z) in heights.iter().enumerate() {
        if z.is_finite() {
            let colour = colour_at((z - low) / (high - low).max(f32::EPSILON));
            let (x, y) = (
                panel.x + (i % panel.w) * panel.zoom,
                panel.y + (i / panel.w) * panel.zoom,
            );
            canvas.fill(x, y, panel.zoom, panel.zoom, colour);
        }
    }
}

/// The closed polygon through `corners` (surface points), two pixels wide.
fn outline(canvas: &mut Canvas, panel: &Panel, corners: &[(f64, f64); 4]) {
    for k in 0..4 {
        let a = panel.at(corners[k].0, corners[k].1);
        let b = panel.at(corners[(k + 1) % 4].0, corners[(k + 1) % 4].1);
        line(canvas, a, b);
    }
}

fn line(canvas: &mut Canvas, a: (f64, f64), b: (f64, f64)) {
    let steps = (b.0 - a.0)
        .abs()
        .max((b.1 - a.1).abs())
        .ceil()
        .clamp(1.0, 4096.0) as usize;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        if x >= 0.0 && y >= 0.0 {
            canvas.fill(x as usize, y as usize, 2, 2, OUTLINE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cmc::{CmcParams, compare},
        preprocess::{PrepParams, prepare},
        synthetic::{SyntheticParams, synthetic_scan},
    };

    #[test]
    fn a_same_gun_pair_is_drawn_with_its_congruent_cells_outlined_on_both_surfaces() {
        let params = SyntheticParams {
            size: 272,
            pixel_um: 12.5,
            ..SyntheticParams::default()
        };
        let prep = |shot| {
            prepare(&synthetic_scan(3, 1, shot, &params), &PrepParams::default()).expect("prepared")
        };
        let (a, b) = (prep(1), prep(2));
        let result = compare(&a, &b, &CmcParams::default());
        assert!(result.confirmed(), "{result:?}");
        assert_eq!(result.cells.len(), result.cmc_count);
        let png = comparison_png(&a, &b, &result).expect("drawn");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut rgba = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgba).expect("a frame");
        let red = rgba
            .chunks_exact(4)
            .take(info.buffer_size() / 4)
            .filter(|p| p == &OUTLINE)
            .count();
        assert!(red > 100 * result.cmc_count, "{red} outline pixels");
    }

    #[test]
    fn an_empty_surface_is_an_error_not_a_picture() {
        let empty = Surface {
            nx: 0,
            ny: 0,
            pixel_um: 12.5,
            z: Vec::new(),
            center: (0.0, 0.0),
        };
        let result = CmcResult {
            cmc_count: 0,
            score: 0.0,
            theta_deg: 0.0,
            dx: 0.0,
            dy: 0.0,
            cells_compared: 0,
            ccf_mean: 0.0,
            cells: Vec::new(),
        };
        assert!(comparison_png(&empty, &empty, &result).is_err());
    }
}
