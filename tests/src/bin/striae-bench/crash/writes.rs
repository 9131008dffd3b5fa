//! What a workload writes and how the harness remembers what was acknowledged.

use super::*;
use crate::firearms::TEMPLATES;

/// A write the API answered with success.
#[derive(Clone, Debug)]
pub(super) enum Write {
    /// Records numbered `first..first + count` (see `record_fields`), imported in one request.
    Records {
        first: u64,
        count: u64,
    },
    Notice {
        id: String,
        title: String,
    },
    Trace {
        id: String,
    },
    Exhibit {
        id: String,
        exhibit_ref: String,
        scan: usize,
    },
}

/// Make and serial of record `n`: serials are unique over the whole run.
pub(super) fn record_key(n: u64) -> (&'static str, String) {
    let (make, ..) = TEMPLATES[(n % TEMPLATES.len() as u64) as usize];
    (make, format!("KX-{n:010}"))
}

/// Records `first..first + count` as an importable CSV file.
pub(super) fn records_csv(first: u64, count: u64) -> Vec<u8> {
    let mut out = String::from("make,model,caliber,serial,type,status,event_date,case_ref\n");
    for n in first..first + count {
        let (make, model, caliber, kind) = TEMPLATES[(n % TEMPLATES.len() as u64) as usize];
        let (_, serial) = record_key(n);
        out.push_str(&format!(
            "{make},{model},{caliber},{serial},{kind},stolen,2024-0{}-1{},KILL-{n}\n",
            1 + n % 9,
            n % 10
        ));
    }
    out.into_bytes()
}

/// What every workload draws from: record numbers, scans, trace targets.
pub(super) struct Fixtures {
    pub(super) next_record: AtomicU64,
    pub(super) next_label: AtomicU64,
    pub(super) uploads: AtomicU64,
    pub(super) scans: Vec<(String, Vec<u8>)>,
    /// Per member, the first record of the records it imported at setup.
    pub(super) setup_records: Vec<u64>,
}

impl Fixtures {
    pub(super) fn records(&self, count: u64) -> u64 {
        self.next_record.fetch_add(count, Ordering::SeqCst)
    }

    pub(super) fn label(&self) -> u64 {
        self.next_label.fetch_add(1, Ordering::SeqCst)
    }
}

/// Reads the `.x3p` files of `dir`, in name order; none when the folder is absent.
pub(super) fn read_scans(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let Ok(listing) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "x3p"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into();
            Ok((name, fs::read(&p)?))
        })
        .collect()
}
