//! Leave-one-out accuracy evaluation of screening (digest scores) and confirmation (CMC)
//! on labelled scans: retrieval rates, ROC AUC over all pairs, errors at the confirmation
//! threshold, and the chance levels to read them against.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cmc::{CONFIRM_THRESHOLD, CmcParams, CmcReference, CmcResult};
use crate::preprocess::Surface;
use crate::signature::{DIGEST_BYTES, Digest, digest, screen_score};

/// Which pairs the confirmation step scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmScope {
    /// Every unordered pair once (the lower-indexed scan is the CMC reference).
    AllPairs,
    /// For each probe, only its top-k screening candidates (probe as reference), as a
    /// deployed bureau would do; unscored pairs count as zero CMCs.
    TopCandidates(usize),
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalParams {
    pub cmc: CmcParams,
    pub scope: ConfirmScope,
    /// Worker threads for the CMC comparisons (at least 1).
    pub threads: usize,
}

impl Default for EvalParams {
    fn default() -> Self {
        Self {
            cmc: CmcParams::default(),
            scope: ConfirmScope::AllPairs,
            threads: 2,
        }
    }
}

/// Retrieval and separation figures for one scoring method.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MethodReport {
    /// Share of probes whose best-scoring other scan is a mate (ties counted against).
    pub top1: f64,
    /// Share of probes with a mate among the ten best (ties counted against).
    pub top10: f64,
    /// ROC AUC over all unordered pairs, same- vs different-source (ties count half).
    pub auc: f64,
    pub mean_same_source: f64,
    pub mean_different_source: f64,
    pub max_different_source: f64,
    pub min_same_source: f64,
}

/// Everything measured by [`leave_one_out`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccuracyReport {
    pub scans: usize,
    pub sources: usize,
    pub same_source_pairs: usize,
    pub different_source_pairs: usize,
    /// Expected top-1 / top-10 rates of a random ranking given the label counts.
    pub chance_top1: f64,
    pub chance_top10: f64,
    pub digest_bytes: usize,
    /// Screening by digest cosine over all pairs.
    pub screening: MethodReport,
    /// Confirmation by CMC count; scores are count + 0.999 x mean CCF of the congruent
    /// cells, so equal counts are ranked by registration quality.
    pub confirmation: MethodReport,
    /// "all pairs" or "top-k screening candidates per probe".
    pub confirmation_scope: String,
    pub confirm_threshold: usize,
    /// Different-source pairs with CMC count >= threshold (false confirmations).
    pub different_source_above_threshold: usize,
    /// Same-source pairs with CMC count < threshold (missed confirmations).
    pub same_source_below_threshold: usize,
    pub cmc_comparisons: usize,
}

/// Run the evaluation. Each scan in turn is the probe; all others are the gallery.
pub fn leave_one_out(scans: &[(String, Surface)], params: &EvalParams) -> AccuracyReport {
    let n = scans.len();
    let labels: Vec<&str> = scans.iter().map(|s| s.0.as_str()).collect();
    let digests: Vec<Digest> = scans.iter().map(|s| digest(&s.1)).collect();
    let mut screen = vec![vec![f64::NEG_INFINITY; n]; n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                screen[i][j] = f64::from(screen_score(&digests[i], &digests[j]));
            }
        }
    }
    let pairs = confirm_pairs(&screen, params.scope);
    let results = run_pairs(scans, &pairs, params);
    let mut cmc = vec![vec![0.0f64; n]; n];
    for (i, row) in cmc.iter_mut().enumerate() {
        row[i] = f64::NEG_INFINITY;
    }
    for (&(i, j), r) in pairs.iter().zip(&results) {
        // Symmetric: the better of the two directions when both were run. Ranking key is
        // the count, ties broken by the congruent cells' mean CCF (< 1, so never reorders
        // different counts).
        let v = r.cmc_count as f64 + 0.999 * f64::from(r.ccf_mean.clamp(0.0, 1.0));
        cmc[i][j] = cmc[i][j].max(v);
        cmc[j][i] = cmc[j][i].max(v);
    }
    let (mut same, mut diff) = (0, 0);
    let (mut fp, mut fn_) = (0, 0);
    for i in 0..n {
        for j in i + 1..n {
            let confirmed = cmc[i][j] >= CONFIRM_THRESHOLD as f64;
            if labels[i] == labels[j] {
                same += 1;
                fn_ += usize::from(!confirmed);
            } else {
                diff += 1;
                fp += usize::from(confirmed);
            }
        }
    }
    let mut sources: Vec<&str> = labels.clone();
    sources.sort_unstable();
    sources.dedup();
    AccuracyReport {
        scans: n,
        sources: sources.len(),
        same_source_pairs: same,
        different_source_pairs: diff,
        chance_top1: chance(&labels, 1),
        chance_top10: chance(&labels, 10),
        digest_bytes: DIGEST_BYTES,
        screening: method_report(&screen, &labels),
        confirmation: method_report(&cmc, &labels),
        confirmation_scope: match params.scope {
            ConfirmScope::AllPairs => "all pairs".to_string(),
            ConfirmScope::TopCandidates(k) => format!("top-{k} screening candidates per probe"),
        },
        confirm_threshold: CONFIRM_THRESHOLD,
        different_source_above_threshold: fp,
        same_source_below_threshold: fn_,
        cmc_comparisons: pairs.len(),
    }
}

/// (reference, target) index pairs to confirm.
fn confirm_pairs(screen: &[Vec<f64>], scope: ConfirmScope) -> Vec<(usize, usize)> {
    let n = screen.len();
    match scope {
        ConfirmScope::AllPairs => (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect(),
        ConfirmScope::TopCandidates(k) => {
            let mut out = Vec::new();
            for (i, row) in screen.iter().enumerate() {
                let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                out.extend(order.into_iter().take(k).map(|j| (i, j)));
            }
            out
        }
    }
}

/// Run CMC comparisons on `threads` workers.
fn run_pairs(
    scans: &[(String, Surface)],
    pairs: &[(usize, usize)],
    params: &EvalParams,
) -> Vec<CmcResult> {
    // Work items are reference scans, so each reference's cells and FFTs are built once
    // (CmcReference) and reused for all of its targets.
    let mut refs: Vec<usize> = pairs.iter().map(|p| p.0).collect();
    refs.sort_unstable();
    refs.dedup();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<CmcResult>>> = Mutex::new(vec![None; pairs.len()]);
    std::thread::scope(|s| {
        for _ in 0..params.threads.max(1) {
            s.spawn(|| {
                loop {
                    let item = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = refs.get(item) else { break };
                    let Some(reference) = scans.get(i) else {
                        continue;
                    };
                    let reference = CmcReference::new(&reference.1, &params.cmc);
                    for (k, &(a, b)) in pairs.iter().enumerate() {
                        if a != i {
                            continue;
                        }
                        let Some(target) = scans.get(b) else { continue };
                        let r = reference.compare(&target.1);
                        if let Ok(mut o) = out.lock() {
                            o[k] = Some(r);
                        }
                    }
                }
            });
        }
    });
    let empty = CmcResult {
        cmc_count: 0,
        score: 0.0,
        theta_deg: 0.0,
        dx: 0.0,
        dy: 0.0,
        cells_compared: 0,
        ccf_mean: 0.0,
        cells: Vec::new(),
    };
    out.into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| empty.clone()))
        .collect()
}

/// Top-k rate, AUC and score summaries from a full score matrix (diagonal ignored).
fn method_report(score: &[Vec<f64>], labels: &[&str]) -> MethodReport {
    let n = labels.len();
    let (mut t1, mut t10, mut probes) = (0usize, 0usize, 0usize);
    for i in 0..n {
        let mates: Vec<usize> = (0..n)
            .filter(|&j| j != i && labels[j] == labels[i])
            .collect();
        let Some(best_mate) = mates.iter().map(|&j| score[i][j]).max_by(f64::total_cmp) else {
            continue;
        };
        probes += 1;
        // Pessimistic rank: every non-mate scoring at least as high as the best mate is ahead.
        let ahead = (0..n)
            .filter(|&j| j != i && labels[j] != labels[i] && score[i][j] >= best_mate)
            .count();
        t1 += usize::from(ahead < 1);
        t10 += usize::from(ahead < 10);
    }
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..n {
        for j in i + 1..n {
            if labels[i] == labels[j] {
                &mut same
            } else {
                &mut diff
            }
            .push(score[i][j]);
        }
    }
    let rate = |x: usize| {
        if probes > 0 {
            x as f64 / probes as f64
        } else {
            0.0
        }
    };
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    MethodReport {
        top1: rate(t1),
        top10: rate(t10),
        auc: auc(&same, &diff),
        mean_same_source: mean(&same),
        mean_different_source: mean(&diff),
        max_different_source: diff.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        min_same_source: same.iter().copied().fold(f64::INFINITY, f64::min),
    }
}

/// Mann-Whitney AUC: P(same > diff) + 0.5 P(tie).
pub fn auc(same: &[f64], diff: &[f64]) -> f64 {
    if same.is_empty() || diff.is_empty() {
        return 0.5;
    }
    let mut wins = 0.0;
    for s in same {
        for d in diff {
            wins += if s > d {
                1.0
            } else if s == d {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (same.len() * diff.len()) as f64
}

/// Expected top-k hit rate of a uniformly random ranking: for a probe with m mates among
/// g others, 1 - C(g - m, k) / C(g, k); averaged over probes that have a mate.
pub fn chance(labels: &[&str], k: usize) -> f64 {
    let n = labels.len();
    let (mut sum, mut probes) = (0.0, 0usize);
    for i in 0..n {
        let g = n - 1;
        let m = (0..n).filter(|&j| j != i && labels[j] == labels[i]).count();
        if m == 0 {
            continue;
        }
        probes += 1;
        // C(g - m, k) / C(g, k) = prod_{t=0}^{k-1} (g - m - t) / (g - t)
        let mut miss = 1.0;
        for t in 0..k.min(g) {
            miss *= (g as f64 - m as f64 - t as f64).max(0.0) / (g - t) as f64;
        }
        sum += 1.0 - miss;
    }
    if probes > 0 { sum / probes as f64 } else { 0.0 }
}

/// Screening cross-validated by gun, with perturbed probes that imitate other labs' scans
/// (see [`crate::crossval::validate_screening`]): parameter choices are made on the
/// training guns of each fold only, and the held-out guns' scans are searched against the
/// whole gallery.
pub fn cross_validate_by_gun(
    scans: &[(String, crate::x3p::X3pScan)],
    folds: usize,
    threads: usize,
) -> crate::crossval::ScreeningValidation {
    crate::crossval::validate_screening(scans, folds, threads)
}

/// Why a dataset folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read dataset folder {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{file}: {source}")]
    X3p {
        file: String,
        source: crate::x3p::X3pError,
    },
    #[error("{file}: {source}")]
    Prep {
        file: String,
        source: crate::preprocess::PrepError,
    },
}

/// Source label of a CSAFE-style file name `name-G-S.x3p` (G = gun): the part between the
/// first and last dash, e.g. `fadul-3-2.x3p` -> `3`. `None` for other names.
pub fn label_from_name(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".x3p")?;
    let first = stem.find('-')?;
    let last = stem.rfind('-')?;
    (last > first + 1).then(|| stem[first + 1..last].to_string())
}

/// Read (without preparing) every `*.x3p` in `dir` whose name carries a label, sorted by
/// name: the raw material for [`crate::perturb`] and [`crate::crossval`].
pub fn load_scans(
    dir: &std::path::Path,
) -> Result<Vec<(String, crate::x3p::X3pScan)>, DatasetError> {
    let io = |e: std::io::Error| DatasetError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(label) = label_from_name(&name) else {
            continue;
        };
        let bytes = std::fs::read(&f).map_err(io)?;
        let scan = crate::x3p::read_x3p(&bytes).map_err(|source| DatasetError::X3p {
            file: name.clone(),
            source,
        })?;
        out.push((label, scan));
    }
    Ok(out)
}

/// Read and prepare every `*.x3p` in `dir` whose name carries a label, sorted by name.
pub fn load_dataset(
    dir: &std::path::Path,
    prep: &crate::preprocess::PrepParams,
) -> Result<Vec<(String, Surface)>, DatasetError> {
    let io = |e: std::io::Error| DatasetError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(label) = label_from_name(&name) else {
            continue;
        };
        let bytes = std::fs::read(&f).map_err(io)?;
        let scan = crate::x3p::read_x3p(&bytes).map_err(|source| DatasetError::X3p {
            file: name.clone(),
            source,
        })?;
        let surface =
            crate::preprocess::prepare(&scan, prep).map_err(|source| DatasetError::Prep {
                file: name.clone(),
                source,
            })?;
        out.push((label, surface));
    }
    Ok(out)
}

/// Locate the Fadul dataset: `STRIAE_DATASET_DIR`, else `shared/datasets/fadul-known` in
/// the folder that holds the workspace, or in one of `manifest_dir`'s parents.
pub fn find_dataset(manifest_dir: &str) -> Option<std::path::PathBuf> {
    if let Ok(d) = std::env::var("STRIAE_DATASET_DIR") {
        return Some(std::path::PathBuf::from(d));
    }
    [
        "../../../shared/datasets/fadul-known",
        "../../shared/datasets/fadul-known",
        "../shared/datasets/fadul-known",
    ]
    .iter()
    .map(|r| std::path::Path::new(manifest_dir).join(r))
    .find(|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_from_names() {
        assert_eq!(label_from_name("fadul-10-2.x3p").as_deref(), Some("10"));
        assert_eq!(label_from_name("readme.md"), None);
    }

    use super::*;

    #[test]
    fn chance_matches_notes() {
        let labels: Vec<String> = (0..20).map(|i| format!("{}", i / 2)).collect();
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert!((chance(&l, 1) - 1.0 / 19.0).abs() < 1e-9);
        assert!((chance(&l, 10) - 10.0 / 19.0).abs() < 1e-9);
    }

    #[test]
    fn auc_basic() {
        assert_eq!(auc(&[2.0, 3.0], &[1.0, 0.0]), 1.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
    }
}
