//! Wall-clock time as carried in signed objects: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// One year of 365.25 days, in milliseconds.
pub const YEAR_MS: u64 = 31_557_600_000;

/// Now, in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
