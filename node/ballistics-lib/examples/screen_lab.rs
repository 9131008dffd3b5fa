//! Development harness: robustness figures of several screening variants under the
//! standard perturbations. Usage: screen_lab DIR VARIANT...
use striae_ballistics_lib::crossval::{Bench, ScreenMethod};
use striae_ballistics_lib::descriptor::DescriptorParams;
use striae_ballistics_lib::eval::load_scans;
use striae_ballistics_lib::perturb::standard_scenarios;
use striae_ballistics_lib::preprocess::PrepParams;

fn method(spec: &str) -> ScreenMethod {
    // spec: inner,outer,rings,freqs,steps(+sep),cov,spacing,shells
    let f: Vec<&str> = spec.split(',').collect();
    let g = |i: usize, d: f64| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    ScreenMethod {
        name: spec.to_string(),
        descriptor: DescriptorParams {
            inner_um: g(0, 300.0),
            outer_um: g(1, 1700.0),
            rings: g(2, 24.0) as usize,
            freqs: g(3, 48.0) as usize,
            steps: f
                .get(4)
                .map(|s| s.split('+').filter_map(|x| x.parse().ok()).collect())
                .unwrap_or(vec![2, 4]),
            coverage_weight: g(5, 0.0) > 0.0,
        },
        offset_spacing_um: g(6, 50.0),
        offset_shells: g(7, 0.0) as usize,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(&args[0]);
    let scans = load_scans(&dir).expect("loads");
    if args.get(1).map(String::as_str) == Some("--speed") {
        use striae_ballistics_lib::signature::{DigestIndex, digest, random_digest};
        let n: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let mut index = DigestIndex::with_capacity(n as usize);
        for i in 0..n {
            index.push(i, &random_digest(i % 4096));
        }
        let s = striae_ballistics_lib::preprocess::prepare(&scans[0].1, &PrepParams::default())
            .expect("prepares");
        let t = std::time::Instant::now();
        let probe = digest(&s);
        let dt = t.elapsed().as_secs_f64();
        for p in [probe.shared(), probe] {
            let t = std::time::Instant::now();
            let _ = index.search(&p, 10);
            println!(
                "{} views, {n} digests: {:.1} ms (digest {:.0} ms)",
                p.probe_views(),
                t.elapsed().as_secs_f64() * 1e3,
                dt * 1e3
            );
        }
        return;
    }
    let t = std::time::Instant::now();
    let bench = Bench::new(&scans, standard_scenarios(), &PrepParams::default(), 2);
    eprintln!("bench built in {:.1}s", t.elapsed().as_secs_f64());
    if args.get(1).map(String::as_str) == Some("--cv") {
        let cands: Vec<ScreenMethod> = args[2..].iter().map(|s| method(s)).collect();
        let r = bench.cross_validate(&cands, 5, 2);
        for (held, name) in &r.chosen {
            println!("fold {held:?}: {name}");
        }
        for x in &r.held_out {
            println!(
                "{:20} top1 {:.2} top10 {:.2} mrr {:.2}",
                x.scenario, x.top1, x.top10, x.mrr
            );
        }
        return;
    }
    for spec in &args[1..] {
        let t = std::time::Instant::now();
        let m = method(spec);
        let r = bench.robustness(&m, 2);
        let line: Vec<String> = r
            .iter()
            .map(|x| format!("{:.2}/{:.2}", x.top1, x.top10))
            .collect();
        println!(
            "{spec:40} {} ({:.1}s)",
            line.join(" "),
            t.elapsed().as_secs_f64()
        );
    }
    let names: Vec<String> = standard_scenarios()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    println!("columns: {}", names.join(" | "));
}
