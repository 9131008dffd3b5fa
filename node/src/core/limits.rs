//! Per-member token buckets for the requests members send us: a member with a valid key may
//! flood, and what it costs this node (signature checks, pages read from disk, comparisons
//! on every core, stored traces) must stay within a budget that leaves room for the others.
//! A refused request is answered `Refused("rate limited ...")`, which an honest member's
//! runtime treats like any other failed request (it retries later), and counted in
//! `striae_requests_refused_total{kind}`.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use striae_protocol::BureauId;

/// What a member asked for, each with its own budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A heads statement (a signature check each).
    Heads,
    /// Bytes of pulled entries served (a 50-byte request can ask for megabytes).
    PullBytes,
    /// A trace request or answer.
    Trace,
    /// Exhibits named in confirmation requests (a comparison on every core each).
    ConfirmExhibit,
    /// Messages of digests shared with a sharing list (each kept on disk).
    SharedDigests,
    /// Serial-pattern queries and their reviewed answers (each a scan of the holder's
    /// records, kept on disk).
    Query,
    /// Joint operation messages (invitations, joins, seizure records; each signature-checked
    /// twice and kept on disk).
    Operation,
}

impl RequestKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RequestKind::Heads => "heads",
            RequestKind::PullBytes => "pull_bytes",
            RequestKind::Trace => "trace",
            RequestKind::ConfirmExhibit => "confirm_exhibit",
            RequestKind::SharedDigests => "shared_digests",
            RequestKind::Query => "query",
            RequestKind::Operation => "operation",
        }
    }

    /// (tokens per second, burst) per member. An honest member stays far below: heads go
    /// out every few seconds plus a debounced receipt per change; a catch-up of a million
    /// entries reads about 300 MB; a search confirms a few exhibits per holder; an operation
    /// records a few seizures a day per participant.
    fn budget(self) -> (f64, f64) {
        match self {
            RequestKind::Heads => (20.0, 200.0),
            RequestKind::PullBytes => (32.0 * MIB, 512.0 * MIB),
            RequestKind::Trace => (10.0, 500.0),
            RequestKind::ConfirmExhibit => (2.0, 256.0),
            RequestKind::SharedDigests => (10.0, 1_000.0),
            RequestKind::Query => (5.0, 200.0),
            // An outbox drains 256 messages per pass to a member that comes back.
            RequestKind::Operation => (10.0, 1_000.0),
        }
    }
}

const MIB: f64 = 1_048_576.0;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per (member, kind). Members are roster members, so the map is bounded by
/// the roster times the kinds.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<(BureauId, RequestKind), Bucket>>,
}

impl RateLimits {
    /// Takes `cost` tokens from `member`'s `kind` budget; false (and nothing taken) when the
    /// budget does not hold them.
    pub fn allow(&self, member: BureauId, kind: RequestKind, cost: f64) -> bool {
        self.allow_at(member, kind, cost, Instant::now())
    }

    /// Takes `cost` tokens even when that overdraws the budget (for work already done, like
    /// bytes already served): the next requests wait until it refills.
    pub fn charge(&self, member: BureauId, kind: RequestKind, cost: f64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = refill(&mut buckets, member, kind, Instant::now());
        bucket.tokens -= cost;
    }

    fn allow_at(&self, member: BureauId, kind: RequestKind, cost: f64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = refill(&mut buckets, member, kind, now);
        if bucket.tokens < cost.min(kind.budget().1) {
            return false;
        }
        bucket.tokens -= cost;
        true
    }
}

fn refill(
    buckets: &mut HashMap<(BureauId, RequestKind), Bucket>,
    member: BureauId,
    kind: RequestKind,
    now: Instant,
) -> &mut Bucket {
    let (rate, burst) = kind.budget();
    let bucket = buckets.entry((member, kind)).or_insert(Bucket {
        tokens: burst,
        at: now,
    });
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.at = now;
    bucket
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_member_past_its_burst_waits_for_the_refill_and_others_are_untouched() {
        let limits = RateLimits::default();
        let (flooder, other) = (BureauId([1; 32]), BureauId([2; 32]));
        let start = Instant::now();
        let (_, burst) = RequestKind::Trace.budget();
        let allowed = (0..1_000)
            .filter(|_| limits.allow_at(flooder, RequestKind::Trace, 1.0, start))
            .count();
        assert_eq!(allowed, burst as usize);
        assert!(limits.allow_at(other, RequestKind::Trace, 1.0, start));
        assert!(limits.allow_at(flooder, RequestKind::Heads, 1.0, start));
        let later = start + Duration::from_secs(1);
        let refilled = (0..1_000)
            .filter(|_| limits.allow_at(flooder, RequestKind::Trace, 1.0, later))
            .count();
        assert_eq!(refilled, 10);
    }
}
