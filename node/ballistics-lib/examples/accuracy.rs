//! Print the leave-one-out accuracy report (JSON) for a folder of `name-G-S.x3p` scans.
//! Usage: accuracy [DIR] [--top K]  (DIR defaults to the Fadul set; --top K confirms only
//! each probe's top-K screening candidates instead of all pairs).
use striae_ballistics_lib::eval::{
    ConfirmScope, EvalParams, cross_validate_by_gun, find_dataset, leave_one_out, load_dataset,
    load_scans,
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
    let validation = match load_scans(&dir) {
        Ok(raw) => cross_validate_by_gun(&raw, 5, 2),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "{} scans in {:.1} s",
        scans.len(),
        t.elapsed().as_secs_f64()
    );
    let json = serde_json::to_value(&report).and_then(|mut v| {
        v["screening_validation"] = serde_json::to_value(&validation)?;
        serde_json::to_string(&v)
    });
    match json {
        Ok(j) => println!("{j}"),
        Err(e) => eprintln!("{e}"),
    }
}
