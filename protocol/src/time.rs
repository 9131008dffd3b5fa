//! Wall-clock time as carried in signed objects: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// The last instant any signed object may carry: 9999-12-31T23:59:59.999Z, the last one an
/// RFC 3339 timestamp can write. Anything later is refused when decoded, so that no member can
/// sign a time that other members cannot show.
pub const MAX_TIME_MS: u64 = 253_402_300_799_999;

/// One year of 365.25 days, in milliseconds.
pub const YEAR_MS: u64 = 31_557_600_000;

/// Now, in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
