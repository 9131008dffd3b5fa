//! Print the leave-one-out accuracy report (JSON) for a folder of `name-G-S.x3p` scans.
//! Usage: accuracy [DIR] [--top K]  (DIR defaults to the Fadul set; --top K confirms only
//! each probe's top-K screening candidates instead of all pairs).
use striae_ballistics_lib::eval::{
    ConfirmScope, EvalParams, find_dataset, leave_one_out, load_dataset,
};
use striae_ballistics_lib::preprocess::PrepParams;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut scope = ConfirmScope::AllPairs;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--top" {
            scope =
                ConfirmScope::TopCandidates(it.next().and_then(|k| k.parse().ok()).unwrap_or(10));
        } else {
            dir = Some(std::path::PathBuf::from(a));
        }
    }
    let Some(dir) = dir.or_else(|| find_dataset(env!("CARGO_MANIFEST_DIR"))) else {
        eprintln!(
            "no dataset: pass a folder of X3P scans or set STRIAE_DATASET_DIR (Fadul: github.com/CSAFE-ISU/cartridgeCaseScans, fadulProcessed/)"
        );
        return;
    };
    let t = std::time::Instant::now();
    let scans = match load_dataset(&dir, &PrepParams::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let params = EvalParams {
        scope,
        ..EvalParams::default()
    };
    let report = leave_one_out(&scans, &params);
    eprintln!(
        "{} scans in {:.1} s",
        scans.len(),
        t.elapsed().as_secs_f64()
    );
    match serde_json::to_string(&report) {
        Ok(j) => println!("{j}"),
        Err(e) => eprintln!("{e}"),
    }
}
