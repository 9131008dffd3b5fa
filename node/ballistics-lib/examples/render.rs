//! Draw X3P scans as the node shows them to examiners. One scan: prepared (form removed,
//! band-passed, region of interest), in false colour with its height scale and a length
//! bar. Two scans: the comparison, both surfaces side by side with the congruent matching
//! cells outlined (the first scan is cut into cells).
//! Usage: render SCAN.x3p OUT.png | render PROBE.x3p HELD.x3p OUT.png

use striae_ballistics_lib::{cmc, preprocess, render, render_cmc, x3p};

fn prepared(path: &str) -> Result<preprocess::Surface, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let scan = x3p::read_x3p(&bytes).map_err(|e| format!("{path}: {e}"))?;
    preprocess::prepare(&scan, &preprocess::PrepParams::default())
        .map_err(|e| format!("{path}: {e}"))
}

fn draw(args: &[String]) -> Result<(), String> {
    let (png, out) = match args {
        [scan, out] => (
            render::surface_png(&prepared(scan)?).map_err(|e| e.to_string())?,
            out,
        ),
        [probe, held, out] => {
            let (a, b) = (prepared(probe)?, prepared(held)?);
            let result = cmc::compare(&a, &b, &cmc::CmcParams::default());
            println!(
                "{} congruent matching cells of {}",
                result.cmc_count, result.cells_compared
            );
            (
                render_cmc::comparison_png(&a, &b, &result).map_err(|e| e.to_string())?,
                out,
            )
        }
        _ => {
            return Err(
                "usage: render SCAN.x3p OUT.png | render PROBE.x3p HELD.x3p OUT.png".into(),
            );
        }
    };
    std::fs::write(out, png).map_err(|e| format!("{out}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = draw(&args) {
        eprintln!("{e}");
        std::process::exit(if args.len() < 2 { 2 } else { 1 });
    }
}
