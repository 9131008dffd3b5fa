//! Draw an X3P scan as the node shows it to examiners: prepared (form removed, band-passed,
//! region of interest), in false colour with its height scale and a length bar.
//! Usage: render SCAN.x3p OUT.png

use striae_ballistics_lib::{preprocess, render, x3p};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [scan, out] = args.as_slice() else {
        eprintln!("usage: render SCAN.x3p OUT.png");
        std::process::exit(2);
    };
    let result = std::fs::read(scan)
        .map_err(|e| e.to_string())
        .and_then(|bytes| x3p::read_x3p(&bytes).map_err(|e| e.to_string()))
        .and_then(|scan| {
            preprocess::prepare(&scan, &preprocess::PrepParams::default())
                .map_err(|e| e.to_string())
        })
        .and_then(|surface| render::surface_png(&surface).map_err(|e| e.to_string()))
        .and_then(|png| std::fs::write(out, png).map_err(|e| e.to_string()));
    if let Err(e) = result {
        eprintln!("{scan}: {e}");
        std::process::exit(1);
    }
}
