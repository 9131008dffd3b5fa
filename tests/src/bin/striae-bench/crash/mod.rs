//! `crash`: members killed with SIGKILL in the middle of their writes lose nothing they
//! acknowledged. Three members run as separate processes of the `striae` binary (or of this
//! program's `member` command, the same node library, where no `striae` binary is built). Each round
//! one of them (the victim) runs a workload (a firearm import, notice publications, traces or
//! ballistic uploads), is killed at a random moment, restarted on the same data, and every
//! write its API answered with success before the kill is checked: present at the victim,
//! announced in its feed and seen by its peers, with no equivocation anywhere and every audit
//! log whole.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::Deserialize;
use serde_json::{Value, json};

mod checks;
mod harness;
mod http;
mod members;
mod workloads;
mod writes;

use harness::*;
use http::*;
use members::*;
use workloads::*;
use writes::*;

use checks::*;
pub use harness::run;
pub use members::member;

/// Members of the crash network.
pub(super) const MEMBERS: usize = 3;
/// The member whose trace policy is `review`, so that traces meet both policies.
pub(super) const REVIEWING_MEMBER: usize = 2;
/// Records each member imports before the first kill, the targets of traces.
pub(super) const SETUP_RECORDS: u64 = 50;
/// Concurrent publishers in the notice workload.
pub(super) const NOTICE_PUBLISHERS: usize = 4;
/// Import requests in flight, as `striae firearm import` sends them.
pub(super) const IMPORTS_IN_FLIGHT: usize = 2;
/// Pause between two traces of a trace round.
pub(super) const TRACE_PAUSE: Duration = Duration::from_millis(50);
/// Pause between two uploads of a ballistic round.
pub(super) const UPLOAD_PAUSE: Duration = Duration::from_millis(100);
/// Most exhibits of one scan over the run, all members together: copies of one scan have the
/// same digest, so a search finds them all with the same score, and a search lists at most
/// 50 candidates (the check finds each copy among them).
pub(super) const MAX_COPIES_PER_SCAN: u64 = 40;
/// Times an audit log that looks short is verified before it counts as broken.
pub(super) const AUDIT_ATTEMPTS: u32 = 5;
/// Records checked one by one, at random, per round (besides the ends of every batch) and
/// per member in the final pass.
pub(super) const ROUND_RECORD_SAMPLE: usize = 16;
pub(super) const FINAL_RECORD_SAMPLE: usize = 400;
/// Failures described in the final JSON (all of them go to standard error).
pub(super) const LISTED_FAILURES: usize = 30;
/// The import rate assumed until the first import round has measured one, records/s.
pub(super) const FIRST_IMPORT_RATE: f64 = 20_000.0;

/// Options of `striae-bench crash`.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// SIGKILLs to send, one per round
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Seed of the choices: victims, workloads, delays before the kill
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Firearm records imported over all import rounds together
    #[arg(long, default_value_t = 1_000_000)]
    import_records: u64,
    /// Records per import request
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
    /// Folder of X3P scans the ballistic rounds upload (those rounds are left out without it)
    #[arg(long, default_value = "../shared/datasets/fadul-known")]
    scans: PathBuf,
    /// Folder for the network's configs, data and logs (default: a new temporary folder, kept)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `striae` binary (default: the one next to this program)
    #[arg(long)]
    striae: Option<PathBuf>,
    /// Run each member as a `striae-bench member` process (the same node library in this
    /// program) instead of `striae run`: for tests, whose build has no `striae` binary
    #[arg(long)]
    members_in_bench: bool,
    /// Longest wait in seconds for a restart, for members to agree, for a trace's answers
    #[arg(long, default_value_t = 120)]
    wait: u64,
}

/// What the victim does when it is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Workload {
    Import,
    Notices,
    Trace,
    Ballistics,
}

impl Workload {
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::Import => "import",
            Workload::Notices => "notices",
            Workload::Trace => "trace",
            Workload::Ballistics => "ballistics",
        }
    }

    /// Shortest and longest delay before the kill, in seconds: an import is killed somewhere
    /// within the time its share takes (`import_seconds`, estimated), the others (which run
    /// until killed) after a few of their writes.
    pub(super) fn delay_range(self, import_seconds: f64) -> (f64, f64) {
        match self {
            Workload::Import => (0.05, import_seconds.max(0.1)),
            Workload::Notices | Workload::Trace => (0.05, 2.0),
            Workload::Ballistics => (0.05, 4.0),
        }
    }
}

/// The workloads of every round: random, but each appears once in every run of as many rounds
/// as there are workloads, so that a short loop still meets them all.
pub(super) fn schedule(kills: usize, available: &[Workload], rng: &mut StdRng) -> Vec<Workload> {
    let mut rounds = Vec::with_capacity(kills);
    while rounds.len() < kills {
        let mut deck = available.to_vec();
        deck.shuffle(rng);
        rounds.extend(deck);
    }
    rounds.truncate(kills);
    rounds
}
