//! The sync simulator over the node's own state machine: honest members always converge,
//! members that were offline catch up, byzantine members break no invariant, and a seed
//! always gives the same run.

use striae_node::core::feeds::MAX_PENDING_BYTES_TOTAL;
use striae_tests::sim::{Sim, SimConfig};

fn config(seed: u64, offline: usize, byzantine: usize) -> SimConfig {
    SimConfig {
        members: 40,
        seed,
        rounds: 160,
        offline,
        byzantine,
        entries_per_member: 2,
        ..SimConfig::default()
    }
}

#[test]
fn honest_members_and_members_back_from_downtime_hold_every_entry() {
    for seed in 1..=3 {
        let report = Sim::new(config(seed, 6, 0)).run();
        assert_eq!(report.violations, 0, "{report:?}");
        assert!(report.delivered_all && report.converged, "{report:?}");
        assert_eq!(report.entries, 80);
    }
}

#[test]
fn byzantine_members_break_no_invariant_and_are_caught() {
    for seed in 1..=3 {
        let report = Sim::new(config(seed, 4, 6)).run();
        assert_eq!(report.violations, 0, "{report:?}");
        assert!(report.delivered_all, "{report:?}");
        let caught: u64 = report.penalties.values().sum();
        assert!(caught > 0, "the misbehaviour was never noticed: {report:?}");
        // Floods were held, within the cap, and never forwarded as if they applied.
        assert!(report.max_held_bytes > 0, "{report:?}");
        assert!(
            report.max_held_bytes <= MAX_PENDING_BYTES_TOTAL,
            "{report:?}"
        );
    }
}

#[test]
fn a_seed_always_gives_the_same_run() {
    let a = serde_json::to_string(&Sim::new(config(9, 3, 3)).run()).expect("report");
    let b = serde_json::to_string(&Sim::new(config(9, 3, 3)).run()).expect("report");
    assert_eq!(a, b);
}
