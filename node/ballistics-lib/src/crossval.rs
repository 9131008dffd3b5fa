//! Screening evaluation that is honest about scans the method was never tuned on:
//! cross-validation by gun (parameters are chosen on the training guns' scans only, and
//! the held-out guns' scans are then searched against the whole gallery) under the
//! perturbations of [`crate::perturb`], which imitate other laboratories' scans.
//!
//! Probes are perturbed copies of each scan; the gallery holds every clean scan except the
//! probe's own clean copy, so the only mate a probe can find is another case fired by the
//! same gun.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::descriptor::{DescriptorParams, cosine, features_at, hex_offsets, smoothed};
use crate::perturb::{Scenario, perturb_scan, perturb_surface};
use crate::preprocess::{PrepParams, Surface, prepare};
use crate::x3p::X3pScan;

/// A screening method: the descriptor and the centre offsets at which it is evaluated
/// (score = best cosine over the offsets of either scan against the other's fitted centre).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScreenMethod {
    pub name: String,
    pub descriptor: DescriptorParams,
    /// Spacing (µm) of the hexagonal lattice of centre offsets.
    pub offset_spacing_um: f64,
    /// Shells of the lattice (0 = fitted centre only, 1 = 7 centres, 2 = 19 ...).
    pub offset_shells: usize,
}

impl ScreenMethod {
    /// The centre offsets in µm.
    pub fn offsets(&self) -> Vec<(f64, f64)> {
        hex_offsets(self.offset_spacing_um, self.offset_shells)
    }
}

/// A scan's features at each offset (index 0 = the fitted centre).
type Views = Vec<Vec<f32>>;

fn views(smooth: &Surface, m: &ScreenMethod) -> Views {
    m.offsets()
        .iter()
        .map(|&(dx, dy)| {
            let c = (
                smooth.center.0 + dx / smooth.pixel_um,
                smooth.center.1 + dy / smooth.pixel_um,
            );
            features_at(smooth, c, &m.descriptor)
        })
        .collect()
}

/// Multi-centre score of probe `a` against candidate `b`: the best cosine of any view of
/// the probe against the candidate's fitted-centre view (as the screening index does).
pub fn views_score(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    let Some(b0) = b.first() else {
        return 0.0;
    };
    a.iter().map(|v| cosine(v, b0)).fold(0.0, f32::max)
}

/// Labelled scans with their clean surfaces and, per scenario, perturbed probe surfaces
/// (`None` where preprocessing failed, which counts as a miss).
pub struct Bench {
    pub labels: Vec<String>,
    gallery: Vec<Surface>,
    pub scenarios: Vec<Scenario>,
    probes: Vec<Vec<Option<Surface>>>,
}

/// Figures for one scenario.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScenarioFigures {
    pub scenario: String,
    pub probes: usize,
    /// Share of probes whose best candidate is a mate (ties counted against).
    pub top1: f64,
    pub top10: f64,
    /// Mean reciprocal rank of the best mate.
    pub mrr: f64,
    /// Probes that could not be prepared (counted as misses).
    pub failed: usize,
}

/// Cross-validation outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub candidates: Vec<String>,
    /// Per fold: the held-out guns and the candidate chosen on the other guns.
    pub chosen: Vec<(Vec<String>, String)>,
    /// Held-out figures pooled over folds, per scenario.
    pub held_out: Vec<ScenarioFigures>,
}

/// Run `f(i)` for `0..n` on `threads` workers.
fn par_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, T)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let v = f(i);
                    if let Ok(mut o) = out.lock() {
                        o.push((i, v));
                    }
                }
            });
        }
    });
    let mut v = out.into_inner().unwrap_or_default();
    v.sort_by_key(|p| p.0);
    v.into_iter().map(|p| p.1).collect()
}

impl Bench {
    /// Prepare every scan clean and under every scenario (scan i uses seed i).
    pub fn new(
        scans: &[(String, X3pScan)],
        scenarios: Vec<Scenario>,
        prep: &PrepParams,
        threads: usize,
    ) -> Bench {
        let n = scans.len();
        let jobs = n * (scenarios.len() + 1);
        let all = par_map(jobs, threads, |job| {
            let (s, i) = (job / n, job % n);
            let scan = &scans[i].1;
            if s == 0 {
                return prepare(scan, prep).ok().map(|x| smoothed(&x));
            }
            let steps = &scenarios[s - 1].steps;
            let seed = i as u64 * 7919 + s as u64;
            let p = prepare(&perturb_scan(scan, steps, seed), prep).ok()?;
            Some(smoothed(&perturb_surface(&p, steps, seed)))
        });
        let mut it = all.into_iter();
        let gallery: Vec<Option<Surface>> = it.by_ref().take(n).collect();
        let probes: Vec<Vec<Option<Surface>>> = (0..scenarios.len())
            .map(|_| it.by_ref().take(n).collect())
            .collect();
        // A gallery scan that cannot be prepared is an empty surface (never a mate).
        let empty = Surface {
            nx: 1,
            ny: 1,
            pixel_um: 12.5,
            z: vec![f32::NAN],
            center: (0.0, 0.0),
        };
        Bench {
            labels: scans.iter().map(|s| s.0.clone()).collect(),
            gallery: gallery
                .into_iter()
                .map(|g| g.unwrap_or_else(|| empty.clone()))
                .collect(),
            scenarios,
            probes,
        }
    }

    /// Score matrix for one method: `probe_views[s][i]` vs gallery j.
    fn features(&self, m: &ScreenMethod, threads: usize) -> (Vec<Views>, Vec<Vec<Option<Views>>>) {
        let n = self.gallery.len();
        let g = par_map(n, threads, |i| views(&self.gallery[i], m));
        let p = (0..self.scenarios.len())
            .map(|s| {
                par_map(n, threads, |i| {
                    self.probes[s][i].as_ref().map(|x| views(x, m))
                })
            })
            .collect();
        (g, p)
    }

    /// Figures of `m` for the probes in `probe_set` against the gallery `gallery_set`.
    fn figures(
        &self,
        feats: &(Vec<Views>, Vec<Vec<Option<Views>>>),
        probe_set: &[usize],
        gallery_set: &[usize],
    ) -> Vec<ScenarioFigures> {
        let (g, p) = feats;
        self.scenarios
            .iter()
            .enumerate()
            .map(|(s, sc)| {
                let (mut t1, mut t10, mut rr, mut failed) = (0usize, 0usize, 0.0f64, 0usize);
                for &i in probe_set {
                    let Some(pv) = &p[s][i] else {
                        failed += 1;
                        continue;
                    };
                    let scores: Vec<(f32, bool)> = gallery_set
                        .iter()
                        .filter(|&&j| j != i)
                        .map(|&j| (views_score(pv, &g[j]), self.labels[j] == self.labels[i]))
                        .collect();
                    let Some(best) = scores
                        .iter()
                        .filter(|x| x.1)
                        .map(|x| x.0)
                        .fold(None, |m: Option<f32>, v| Some(m.map_or(v, |m| m.max(v))))
                    else {
                        continue;
                    };
                    let ahead = scores.iter().filter(|x| !x.1 && x.0 >= best).count();
                    t1 += usize::from(ahead < 1);
                    t10 += usize::from(ahead < 10);
                    rr += 1.0 / (ahead + 1) as f64;
                }
                let n = probe_set.len().max(1) as f64;
                ScenarioFigures {
                    scenario: sc.name.clone(),
                    probes: probe_set.len(),
                    top1: t1 as f64 / n,
                    top10: t10 as f64 / n,
                    mrr: rr / n,
                    failed,
                }
            })
            .collect()
    }

    /// Every probe against the whole gallery with a fixed method (no selection).
    pub fn robustness(&self, m: &ScreenMethod, threads: usize) -> Vec<ScenarioFigures> {
        let all: Vec<usize> = (0..self.gallery.len()).collect();
        self.figures(&self.features(m, threads), &all, &all)
    }

    /// Cross-validation by gun: guns (sorted labels) are dealt round-robin into `folds`
    /// folds; on each, the candidate with the best training score (mean over scenarios of
    /// top-1 + top-10 + MRR, training probes against training scans only) is chosen and
    /// scored on the held-out guns' probes against the whole gallery.
    pub fn cross_validate(
        &self,
        candidates: &[ScreenMethod],
        folds: usize,
        threads: usize,
    ) -> CvReport {
        let mut guns: Vec<String> = self.labels.clone();
        guns.sort();
        guns.dedup();
        let folds = folds.clamp(1, guns.len().max(1));
        let feats: Vec<_> = candidates
            .iter()
            .map(|m| self.features(m, threads))
            .collect();
        let n = self.gallery.len();
        let mut chosen = Vec::new();
        let mut pooled: Vec<ScenarioFigures> = Vec::new();
        for f in 0..folds {
            let held: Vec<String> = guns.iter().skip(f).step_by(folds).cloned().collect();
            let test: Vec<usize> = (0..n).filter(|&i| held.contains(&self.labels[i])).collect();
            let train: Vec<usize> = (0..n)
                .filter(|&i| !held.contains(&self.labels[i]))
                .collect();
            let all: Vec<usize> = (0..n).collect();
            let train_score = |c: usize| -> f64 {
                let figs = self.figures(&feats[c], &train, &train);
                figs.iter().map(|x| x.top1 + x.top10 + x.mrr).sum::<f64>()
                    / figs.len().max(1) as f64
            };
            let best = (0..candidates.len())
                .map(|c| (c, train_score(c)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |x| x.0);
            let Some(method) = candidates.get(best) else {
                break;
            };
            chosen.push((held, method.name.clone()));
            let figs = self.figures(&feats[best], &test, &all);
            if pooled.is_empty() {
                pooled = figs
                    .iter()
                    .map(|x| ScenarioFigures {
                        probes: 0,
                        top1: 0.0,
                        top10: 0.0,
                        mrr: 0.0,
                        failed: 0,
                        ..x.clone()
                    })
                    .collect();
            }
            for (acc, x) in pooled.iter_mut().zip(&figs) {
                let k = x.probes as f64;
                acc.top1 += x.top1 * k;
                acc.top10 += x.top10 * k;
                acc.mrr += x.mrr * k;
                acc.probes += x.probes;
                acc.failed += x.failed;
            }
        }
        for acc in &mut pooled {
            let k = acc.probes.max(1) as f64;
            acc.top1 /= k;
            acc.top10 /= k;
            acc.mrr /= k;
        }
        CvReport {
            folds,
            candidates: candidates.iter().map(|c| c.name.clone()).collect(),
            chosen,
            held_out: pooled,
        }
    }
}

/// The candidate screening methods cross-validation chooses among: the production
/// descriptor at 0-3 shells of probe centres spaced 50, 75 or 100 µm, plus one variant that
/// weights rings by their data coverage. The first is the single-centre method used before.
pub fn standard_candidates() -> Vec<ScreenMethod> {
    let mut out = Vec::new();
    let mut add = |spacing: f64, shells: usize, coverage_weight: bool| {
        out.push(ScreenMethod {
            name: format!(
                "{shells} shells x {spacing} um{}",
                if coverage_weight {
                    ", coverage-weighted rings"
                } else {
                    ""
                }
            ),
            descriptor: DescriptorParams {
                coverage_weight,
                ..DescriptorParams::default()
            },
            offset_spacing_um: spacing,
            offset_shells: shells,
        });
    };
    add(50.0, 0, false);
    for spacing in [50.0, 75.0, 100.0] {
        for shells in 1..=3 {
            add(spacing, shells, false);
        }
    }
    add(75.0, 3, true);
    out
}

/// The method the screening digest implements ([`crate::signature::digest`]).
pub fn production_method() -> ScreenMethod {
    use crate::signature::{PROBE_OFFSET_SHELLS, PROBE_OFFSET_SPACING_UM};
    ScreenMethod {
        name: format!("{PROBE_OFFSET_SHELLS} shells x {PROBE_OFFSET_SPACING_UM} um"),
        descriptor: DescriptorParams::default(),
        offset_spacing_um: PROBE_OFFSET_SPACING_UM,
        offset_shells: PROBE_OFFSET_SHELLS,
    }
}

/// Everything the screening validation reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScreeningValidation {
    /// Cross-validation by gun over [`standard_candidates`].
    pub cross_validation: CvReport,
    /// The single-centre method (the digest before multi-centre probes), all probes
    /// against the whole gallery under each scenario.
    pub robustness_single_centre: Vec<ScenarioFigures>,
    /// The production method, likewise. Its parameters were chosen by the
    /// cross-validation above on these scans, so these figures are not held out; the
    /// held-out ones are `cross_validation.held_out`.
    pub robustness_production: Vec<ScenarioFigures>,
}

/// Build the perturbed probes of `scans` under [`crate::perturb::standard_scenarios`] and
/// run cross-validation by gun (`folds` folds) and the robustness evaluation.
pub fn validate_screening(
    scans: &[(String, X3pScan)],
    folds: usize,
    threads: usize,
) -> ScreeningValidation {
    let bench = Bench::new(
        scans,
        crate::perturb::standard_scenarios(),
        &PrepParams::default(),
        threads,
    );
    let candidates = standard_candidates();
    let single = candidates
        .first()
        .cloned()
        .unwrap_or_else(production_method);
    ScreeningValidation {
        cross_validation: bench.cross_validate(&candidates, folds, threads),
        robustness_single_centre: bench.robustness(&single, threads),
        robustness_production: bench.robustness(&production_method(), threads),
    }
}
