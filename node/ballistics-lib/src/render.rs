//! Pictures of prepared surfaces for examiners: heights in false colour (viridis, the 2nd to
//! 98th percentile of the heights across the scale), outside the region of interest
//! transparent, with a colour bar labelled in µm and a length bar, as a PNG.

use crate::preprocess::Surface;

/// Longest side of the surface in the picture, in pixels: larger surfaces are reduced
/// (each picture pixel the mean of the heights it covers).
pub const MAX_SIDE: usize = 800;
/// Smaller surfaces are enlarged (each point a square of pixels) to at least this side.
pub const MIN_SIDE: usize = 480;

/// Why a surface cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The surface has no points, or its heights do not fill its grid.
    #[error("the surface has no picture: {nx} x {ny} points, {heights} heights")]
    Empty {
        nx: usize,
        ny: usize,
        heights: usize,
    },
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] png::EncodingError),
}

/// Colour-scale control points of viridis (matplotlib's perceptually uniform map), evenly
/// spaced from low to high.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

const MARGIN: usize = 12;
const BAR_WIDTH: usize = 16;
/// Room right of the colour bar for its labels (up to 7 glyphs).
const LABEL_WIDTH: usize = 7 * 4 * SCALE + 8;
/// Room under the surface for the length bar and its label.
const FOOTER: usize = 5 * SCALE + 18;
/// Glyphs are drawn at this multiple of their 3 x 5 size.
pub(crate) const SCALE: usize = 2;
const BACKGROUND: [u8; 4] = [255, 255, 255, 255];
pub(crate) const INK: [u8; 4] = [20, 20, 20, 255];

/// The surface as a PNG: heights in false colour, a colour bar with its range in µm, and a
/// length bar.
pub fn surface_png(surface: &Surface) -> Result<Vec<u8>, RenderError> {
    let (nx, ny) = (surface.nx, surface.ny);
    if nx == 0 || ny == 0 || surface.z.len() != nx * ny {
        return Err(RenderError::Empty {
            nx,
            ny,
            heights: surface.z.len(),
        });
    }
    let step = nx.max(ny).div_ceil(MAX_SIDE).max(1);
    let (w, h) = (nx.div_ceil(step), ny.div_ceil(step));
    let zoom = (MIN_SIDE / w.max(h)).max(1);
    let heights = reduce(surface, step, w, h);
    let (low, high) = robust_range(&heights);
    let (width, height) = (w * zoom, h * zoom);
    let mut canvas = Canvas::new(
        MARGIN + width + MARGIN + BAR_WIDTH + 6 + LABEL_WIDTH,
        MARGIN + height.max(10 * 5 * SCALE) + FOOTER,
    );
    for (i, z) in heights.iter().enumerate() {
        let colour = if z.is_finite() {
            colour_at((z - low) / (high - low).max(f32::EPSILON))
        } else {
            [0, 0, 0, 0]
        };
        let (x, y) = (MARGIN + (i % w) * zoom, MARGIN + (i / w) * zoom);
        canvas.fill(x, y, zoom, zoom, colour);
    }
    draw_colour_bar(
        &mut canvas,
        MARGIN + width + MARGIN,
        MARGIN,
        height,
        low,
        high,
    );
    let um_per_pixel = surface.pixel_um * step as f64 / zoom as f64;
    draw_length_bar(
        &mut canvas,
        MARGIN,
        MARGIN + height + 8,
        width,
        um_per_pixel,
    );
    canvas.png()
}

/// Mean height of each `step` x `step` block (NaN when the block holds no valid point).
pub(crate) fn reduce(surface: &Surface, step: usize, w: usize, h: usize) -> Vec<f32> {
    let mut sums = vec![(0.0f64, 0u32); w * h];
    for y in 0..surface.ny {
        for x in 0..surface.nx {
            let z = surface.z[y * surface.nx + x];
            if z.is_finite() {
                let cell = &mut sums[(y / step) * w + x / step];
                cell.0 += f64::from(z);
                cell.1 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|(sum, n)| {
            if n == 0 {
                f32::NAN
            } else {
                (sum / f64::from(n)) as f32
            }
        })
        .collect()
}

/// The 2nd and 98th percentiles of the finite heights: one spike does not wash out the rest.
pub(crate) fn robust_range(heights: &[f32]) -> (f32, f32) {
    let mut finite: Vec<f32> = heights.iter().copied().filter(|z| z.is_finite()).collect();
    if finite.is_empty() {
        return (0.0, 1.0);
    }
    finite.sort_by(f32::total_cmp);
    let at = |q: f64| finite[((finite.len() - 1) as f64 * q).round() as usize];
    let (low, high) = (at(0.02), at(0.98));
    if high > low {
        (low, high)
    } else {
        (low, low + 1.0)
    }
}

/// Viridis at `t` in 0..=1 (clamped), interpolated between its control points.
pub(crate) fn colour_at(t: f32) -> [u8; 4] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (VIRIDIS.len() - 1) as f32;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f32;
    let mix = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * f).round() as u8;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2]), 255]
}

fn draw_colour_bar(canvas: &mut Canvas, x0: usize, y0: usize, height: usize, low: f32, high: f32) {
    let height = height.max(10 * 5 * SCALE);
    for dy in 0..height {
        let colour = colour_at(1.0 - dy as f32 / (height - 1).max(1) as f32);
        canvas.fill(x0, y0 + dy, BAR_WIDTH, 1, colour);
    }
    let label_x = x0 + BAR_WIDTH + 6;
    canvas.text(label_x, y0, &format!("{high:.1}"));
    canvas.text(label_x, y0 + height - 5 * SCALE, &format!("{low:.1}"));
    canvas.text(label_x, y0 + height / 2 - 5 * SCALE / 2, "um");
}

/// A bar of a round length (100, 200, 500 µm, 1 mm, ...) no longer than half the picture.
pub(crate) fn draw_length_bar(
    canvas: &mut Canvas,
    x0: usize,
    y0: usize,
    width: usize,
    um_per_pixel: f64,
) {
    if um_per_pixel.is_nan() || um_per_pixel <= 0.0 {
        return;
    }
    let most = width as f64 / 2.0 * um_per_pixel;
    let Some(length_um) = [
        10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
    ]
    .into_iter()
    .rev()
    .find(|l| *l <= most) else {
        return;
    };
    let pixels = (length_um / um_per_pixel).round() as usize;
    canvas.fill(x0, y0, pixels, 3, INK);
    canvas.text(x0, y0 + 7, &format!("{length_um:.0} um"));
}

/// An RGBA picture being drawn (also used by [`crate::render_bullet`]).
pub(crate) struct Canvas {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            rgba: BACKGROUND.repeat(width * height),
        }
    }

    /// Sets one pixel; outside the picture nothing happens.
    pub(crate) fn set(&mut self, x: usize, y: usize, colour: [u8; 4]) {
        if x < self.width && y < self.height {
            let at = (y * self.width + x) * 4;
            self.rgba[at..at + 4].copy_from_slice(&colour);
        }
    }

    /// Fills the `width` x `height` rectangle whose top left corner is (x, y).
    pub(crate) fn fill(
        &mut self,
        x: usize,
        y: usize,
        width: usize,
        height: usize,
        colour: [u8; 4],
    ) {
        for dy in 0..height {
            for dx in 0..width {
                self.set(x + dx, y + dy, colour);
            }
        }
    }

    /// Writes `text` with its top left corner at (x, y), in the built-in 3 x 5 glyphs.
    pub(crate) fn text(&mut self, x: usize, y: usize, text: &str) {
        for (k, c) in text.chars().enumerate() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        let px = x + (k * 4 + col) * SCALE;
                        self.fill(px, y + row * SCALE, SCALE, SCALE, INK);
                    }
                }
            }
        }
    }

    pub(crate) fn png(&self) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.rgba)?;
        writer.finish()?;
        Ok(out)
    }
}

/// Rows of a 3 x 5 glyph, the high bit on the left; unknown characters are blank.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        'u' => [0b000, 0b101, 0b101, 0b101, 0b111],
        'm' => [0b000, 0b111, 0b111, 0b101, 0b101],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        'C' => [0b111, 0b100, 0b100, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'P' => [0b111, 0b101, 0b111, 0b100, 0b100],
        'S' => [0b111, 0b100, 0b111, 0b001, 0b111],
        _ => [0; 5],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(nx: usize, ny: usize) -> Surface {
        let z = (0..nx * ny)
            .map(|i| {
                if i % nx < 4 {
                    f32::NAN
                } else {
                    (i % nx) as f32 * 0.01
                }
            })
            .collect();
        Surface {
            nx,
            ny,
            pixel_um: 12.5,
            z,
            center: (nx as f64 / 2.0, ny as f64 / 2.0),
        }
    }

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("a frame");
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    fn pixel(info: &png::OutputInfo, rgba: &[u8], x: usize, y: usize) -> [u8; 4] {
        let at = (y * info.width as usize + x) * 4;
        [rgba[at], rgba[at + 1], rgba[at + 2], rgba[at + 3]]
    }

    #[test]
    fn a_tilted_surface_runs_from_the_low_to_the_high_end_of_the_scale() {
        let (info, rgba) = decode(&surface_png(&plane(200, 120)).expect("rendered"));
        assert_eq!(info.color_type, png::ColorType::Rgba);
        // Enlarged to at least MIN_SIDE: each point a 2 x 2 square.
        let (zoom, y) = (2, MARGIN + 60);
        assert_eq!(
            pixel(&info, &rgba, MARGIN + 1, y)[3],
            0,
            "outside the region is clear"
        );
        assert_eq!(pixel(&info, &rgba, MARGIN + 4 * zoom, y), colour_at(0.0));
        assert_eq!(
            pixel(&info, &rgba, MARGIN + 200 * zoom - 1, y),
            colour_at(1.0)
        );
    }

    #[test]
    fn a_large_surface_is_reduced_to_the_longest_side_allowed() {
        let (info, _) = decode(&surface_png(&plane(3 * MAX_SIDE, 100)).expect("rendered"));
        assert!(info.width as usize <= MAX_SIDE + 2 * MARGIN + BAR_WIDTH + 6 + LABEL_WIDTH);
    }

    #[test]
    fn an_empty_or_inconsistent_surface_is_refused() {
        let mut s = plane(10, 10);
        s.z.pop();
        assert!(matches!(surface_png(&s), Err(RenderError::Empty { .. })));
        s.nx = 0;
        assert!(matches!(surface_png(&s), Err(RenderError::Empty { .. })));
    }
}
