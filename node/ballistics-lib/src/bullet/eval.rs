//! Accuracy of the bullet pipeline on labelled land scans named
//! `STUDY-barrelB-bulletN-landL.x3p` (source = study + barrel): every bullet against every
//! other, screening and full comparison, with timings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{
    BULLET_DIGEST_BYTES, Bullet, BulletComparison, bullet_digest, bullet_screen_score,
    compare_bullets, prepare_land,
};

/// Why a dataset cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Scan { path: PathBuf, message: String },
    #[error("bullet {bullet}: lands must be numbered 1..n without gaps, got {lands:?}")]
    Lands { bullet: String, lands: Vec<usize> },
}

/// The parts of a file name `STUDY-barrelB-bulletN-landL.x3p`: `(study, barrel, bullet,
/// land)`; the study may contain dashes.
pub fn parse_name(name: &str) -> Option<(String, String, String, usize)> {
    let stem = name.strip_suffix(".x3p")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 4 {
        return None;
    }
    let n = parts.len();
    let strip = |s: &str, prefix: &str| -> Option<String> {
        let lower = s.to_ascii_lowercase();
        lower
            .strip_prefix(prefix)
            .filter(|r| !r.is_empty())
            .map(|_| s[prefix.len()..].to_string())
    };
    let land = strip(parts[n - 1], "land")?.parse().ok()?;
    let bullet = strip(parts[n - 2], "bullet")?;
    let barrel = strip(parts[n - 3], "barrel")?;
    Some((parts[..n - 3].join("-"), barrel, bullet, land))
}

/// A bullet read from a dataset.
#[derive(Debug, Clone)]
pub struct LabelledBullet {
    /// `STUDY-barrelB-bulletN`.
    pub name: String,
    /// `STUDY-barrelB`: bullets with the same source come from the same barrel.
    pub source: String,
    pub bullet: Bullet,
    /// Seconds spent in [`prepare_land`] per land.
    pub prep_seconds: Vec<f64>,
}

/// Read and prepare every bullet of a folder (files not named as above are ignored).
pub fn load_bullets(dir: &Path) -> Result<Vec<LabelledBullet>, EvalError> {
    let io = |e| EvalError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut groups: BTreeMap<(String, String, String), Vec<(usize, PathBuf)>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some((study, barrel, bullet, land)) = parse_name(name) {
            groups
                .entry((study, barrel, bullet))
                .or_default()
                .push((land, path));
        }
    }
    let mut out = Vec::new();
    for ((study, barrel, bullet), mut files) in groups {
        files.sort();
        let name = format!("{study}-barrel{barrel}-bullet{bullet}");
        let numbers: Vec<usize> = files.iter().map(|f| f.0).collect();
        if numbers.iter().enumerate().any(|(i, l)| *l != i + 1) {
            return Err(EvalError::Lands {
                bullet: name,
                lands: numbers,
            });
        }
        let mut lands = Vec::new();
        let mut prep_seconds = Vec::new();
        for (_, path) in &files {
            let bytes = std::fs::read(path).map_err(|e| EvalError::Io {
                path: path.clone(),
                source: e,
            })?;
            let scan = crate::x3p::read_x3p(&bytes).map_err(|e| EvalError::Scan {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let t = Instant::now();
            let land = prepare_land(&scan).map_err(|e| EvalError::Scan {
                path: path.clone(),
                message: e.to_string(),
            })?;
            prep_seconds.push(t.elapsed().as_secs_f64());
            lands.push(land);
        }
        out.push(LabelledBullet {
            name,
            source: format!("{study}-barrel{barrel}"),
            bullet: Bullet { lands },
            prep_seconds,
        });
    }
    Ok(out)
}

/// Summary of a set of values.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        if v.is_empty() {
            return Stats {
                n: 0,
                min: f64::NAN,
                median: f64::NAN,
                mean: f64::NAN,
                max: f64::NAN,
            };
        }
        Stats {
            n: v.len(),
            min: r(v[0]),
            median: r(v[v.len() / 2]),
            mean: r(v.iter().sum::<f64>() / v.len() as f64),
            max: r(v[v.len() - 1]),
        }
    }
}

/// One bullet's view of the others.
#[derive(Debug, Clone, Serialize)]
pub struct BulletRow {
    pub name: String,
    pub source: String,
    pub lands: usize,
    /// Land warnings (grooves not found, unstable crosscut), as `"land k: ..."`.
    pub warnings: Vec<String>,
    /// The same-source bullet(s).
    pub mates: Vec<String>,
    /// Rank (1 = top) of the best-ranked mate among all other bullets by screening score;
    /// ties count against the mate. None without a mate.
    pub mate_rank_screen: Option<usize>,
    /// The same by full comparison score.
    pub mate_rank_full: Option<usize>,
}

/// One (unordered) bullet pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairRow {
    pub probe: String,
    pub held: String,
    pub same_source: bool,
    pub screen: f32,
    pub score: f32,
    pub phase: usize,
    pub phase_margin: f32,
    pub matched_lands: Vec<(usize, usize)>,
    pub confirmed: bool,
}

/// Land-pair feature distributions for one group of land pairs.
#[derive(Debug, Clone, Serialize)]
pub struct LandGroup {
    pub ccf: Stats,
    pub cms: Stats,
    /// How many of the group count as matched (ccf ≥ 0.75 or CMS ≥ 13).
    pub matched: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct BulletReport {
    pub bullets: usize,
    pub lands: usize,
    pub per_bullet: Vec<BulletRow>,
    pub pairs: Vec<PairRow>,
    /// Land pairs of same-source bullets in the phase found (ground truth for the phase is
    /// not known, so these are "known matches" only if the phase found is right).
    pub land_pairs_same_source_in_phase: LandGroup,
    /// Land pairs of same-source bullets off that phase (known non-matches if it is right).
    pub land_pairs_same_source_off_phase: LandGroup,
    /// Land pairs of different-source bullets (known non-matches).
    pub land_pairs_different_source: LandGroup,
    pub bullet_score_same_source: Stats,
    pub bullet_score_different_source: Stats,
    pub screen_score_same_source: Stats,
    pub screen_score_different_source: Stats,
    /// Every same-source pair scores above every different-source pair (full comparison).
    pub separated_full: bool,
    /// The same for the screening score.
    pub separated_screen: bool,
    pub confirmed_same_source: usize,
    pub same_source_pairs: usize,
    pub confirmed_different_source: usize,
    pub different_source_pairs: usize,
    pub ms_per_land_preparation: f64,
    pub ms_per_screening_comparison: f64,
    pub ms_per_full_comparison: f64,
    pub digest_bytes: usize,
    pub bullet_wire_bytes: Stats,
}

fn rank(scores: &[(usize, f32)], mates: &[usize]) -> Option<usize> {
    mates
        .iter()
        .filter_map(|m| scores.iter().find(|(j, _)| j == m).map(|(_, s)| *s))
        .map(|s| {
            1 + scores
                .iter()
                .filter(|(j, o)| !mates.contains(j) && *o >= s)
                .count()
        })
        .min()
}

/// Compare every bullet with every other (both directions for ranks) and summarise.
pub fn evaluate(bullets: &[LabelledBullet]) -> BulletReport {
    let n = bullets.len();
    let digests: Vec<_> = bullets.iter().map(|b| bullet_digest(&b.bullet)).collect();
    let mut screen = vec![0.0f32; n * n];
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    screen[i * n + j] =
                        std::hint::black_box(bullet_screen_score(&digests[i], &digests[j]));
                }
            }
        }
    }
    let screens = (reps * n * n.saturating_sub(1)).max(1);
    let ms_screen = t.elapsed().as_secs_f64() * 1e3 / screens as f64;
    let mut full: Vec<Option<BulletComparison>> = vec![None; n * n];
    let t = Instant::now();
    for i in 0..n {
        for j in 0..n {
            if i != j {
                full[i * n + j] = Some(compare_bullets(&bullets[i].bullet, &bullets[j].bullet));
            }
        }
    }
    let ms_full = t.elapsed().as_secs_f64() * 1e3 / (n * n.saturating_sub(1)).max(1) as f64;
    let score = |i: usize, j: usize| full[i * n + j].as_ref().map_or(0.0, |c| c.score);
    let per_bullet = (0..n)
        .map(|i| {
            let mates: Vec<usize> = (0..n)
                .filter(|&j| j != i && bullets[j].source == bullets[i].source)
                .collect();
            let others = |f: &dyn Fn(usize) -> f32| -> Vec<(usize, f32)> {
                (0..n).filter(|&j| j != i).map(|j| (j, f(j))).collect()
            };
            let warnings = bullets[i]
                .bullet
                .lands
                .iter()
                .enumerate()
                .flat_map(|(k, l)| {
                    l.warnings()
                        .into_iter()
                        .map(move |w| format!("land {}: {w}", k + 1))
                })
                .collect();
            BulletRow {
                name: bullets[i].name.clone(),
                source: bullets[i].source.clone(),
                lands: bullets[i].bullet.lands.len(),
                warnings,
                mates: mates.iter().map(|&j| bullets[j].name.clone()).collect(),
                mate_rank_screen: rank(&others(&|j| screen[i * n + j]), &mates),
                mate_rank_full: rank(&others(&|j| score(i, j)), &mates),
            }
        })
        .collect();
    let mut pairs = Vec::new();
    let (mut in_phase, mut off_phase, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        for j in i + 1..n {
            let Some(c) = &full[i * n + j] else { continue };
            let same = bullets[i].source == bullets[j].source;
            for p in &c.pairs {
                let group = match (same, p.in_phase) {
                    (true, true) => &mut in_phase,
                    (true, false) => &mut off_phase,
                    (false, _) => &mut diff,
                };
                group.push(p.clone());
            }
            pairs.push(PairRow {
                probe: bullets[i].name.clone(),
                held: bullets[j].name.clone(),
                same_source: same,
                screen: screen[i * n + j],
                score: c.score,
                phase: c.phase,
                phase_margin: c.phase_margin,
                matched_lands: c.matched_lands.clone(),
                confirmed: c.confirmed,
            });
        }
    }
    let group = |v: &[super::LandPair]| LandGroup {
        ccf: Stats::of(&v.iter().map(|p| f64::from(p.ccf)).collect::<Vec<_>>()),
        cms: Stats::of(&v.iter().map(|p| f64::from(p.cms)).collect::<Vec<_>>()),
        matched: v.iter().filter(|p| p.matched).count(),
    };
    let pick = |same: bool, f: &dyn Fn(&PairRow) -> f32| -> Vec<f64> {
        pairs
            .iter()
            .filter(|p| p.same_source == same)
            .map(|p| f64::from(f(p)))
            .collect()
    };
    let (ss, ds) = (pick(true, &|p| p.score), pick(false, &|p| p.score));
    let (sc_s, sc_d) = (pick(true, &|p| p.screen), pick(false, &|p| p.screen));
    let separated = |s: &[f64], d: &[f64]| {
        !s.is_empty()
            && s.iter().fold(f64::INFINITY, |m, v| m.min(*v))
                > d.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v))
    };
    let prep: Vec<f64> = bullets
        .iter()
        .flat_map(|b| b.prep_seconds.clone())
        .collect();
    let wire: Vec<f64> = bullets
        .iter()
        .map(|b| b.bullet.to_bytes().len() as f64)
        .collect();
    BulletReport {
        bullets: n,
        lands: bullets.iter().map(|b| b.bullet.lands.len()).sum(),
        per_bullet,
        land_pairs_same_source_in_phase: group(&in_phase),
        land_pairs_same_source_off_phase: group(&off_phase),
        land_pairs_different_source: group(&diff),
        bullet_score_same_source: Stats::of(&ss),
        bullet_score_different_source: Stats::of(&ds),
        screen_score_same_source: Stats::of(&sc_s),
        screen_score_different_source: Stats::of(&sc_d),
        separated_full: separated(&ss, &ds),
        separated_screen: separated(&sc_s, &sc_d),
        confirmed_same_source: pairs
            .iter()
            .filter(|p| p.same_source && p.confirmed)
            .count(),
        same_source_pairs: ss.len(),
        confirmed_different_source: pairs
            .iter()
            .filter(|p| !p.same_source && p.confirmed)
            .count(),
        different_source_pairs: ds.len(),
        pairs,
        ms_per_land_preparation: Stats::of(&prep).mean * 1e3,
        ms_per_screening_comparison: (ms_screen * 1e4).round() / 1e4,
        ms_per_full_comparison: (ms_full * 100.0).round() / 100.0,
        digest_bytes: BULLET_DIGEST_BYTES,
        bullet_wire_bytes: Stats::of(&wire),
    }
}

/// The `bullets-dev` folder: `STRIAE_BULLET_DATASET_DIR`, or `shared/datasets/bullets-dev`
/// one to three levels above `manifest_dir`.
pub fn find_bullet_dataset(manifest_dir: &str) -> Option<PathBuf> {
    if let Ok(d) = std::env::var("STRIAE_BULLET_DATASET_DIR") {
        return Some(PathBuf::from(d));
    }
    [
        "../../../shared/datasets/bullets-dev",
        "../../shared/datasets/bullets-dev",
        "../shared/datasets/bullets-dev",
    ]
    .iter()
    .map(|r| Path::new(manifest_dir).join(r))
    .find(|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(
            parse_name("hamby44-barrel1-bullet2-land6.x3p"),
            Some(("hamby44".into(), "1".into(), "2".into(), 6))
        );
        assert_eq!(
            parse_name("my-study-barrelB-bullet50-land1.x3p"),
            Some(("my-study".into(), "B".into(), "50".into(), 1))
        );
        assert_eq!(parse_name("fadul-1-2.x3p"), None);
        assert_eq!(parse_name("x-barrel1-bullet1-landX.x3p"), None);
    }

    #[test]
    fn ranks_count_ties_against_the_mate() {
        let s = [(1, 0.5), (2, 0.9), (3, 0.5)];
        assert_eq!(rank(&s, &[1]), Some(3));
        assert_eq!(rank(&s, &[2]), Some(1));
        assert_eq!(rank(&s, &[]), None);
    }
}
