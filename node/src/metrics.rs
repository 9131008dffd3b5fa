//! Prometheus metrics of a node, served as text on `/metrics`.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// Why an entry was not applied, as a metric label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why: a `'static` label from a fixed set (`core::sync::Offence::label`), so that no
    /// peer can mint metric series by sending new kinds of garbage.
    pub reason: &'static str,
}

/// A blob store failure, as metric labels from fixed sets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BlobErrorLabel {
    /// `fs` or `s3` (`BlobStore::backend`).
    pub backend: &'static str,
    /// What went wrong (`BlobError::label`).
    pub error: &'static str,
}

/// A disclosure review event, as metric labels from fixed sets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabel {
    /// `trace` or `query`.
    pub kind: &'static str,
    /// `held` (waiting for a reviewer), `approved` or `refused`.
    pub event: &'static str,
}

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    /// Entries appended to feeds (own and others').
    pub entries_applied: Counter,
    /// Entries refused, by reason.
    pub entries_rejected: Family<ReasonLabel, Counter>,
    /// Gossip messages received.
    pub gossip_received: Counter,
    /// Pages pulled from peers.
    pub pages_pulled: Counter,
    /// Sync requests served.
    pub requests_served: Counter,
    /// Members connected now.
    pub peers_connected: Gauge,
    /// Entries held ahead of gaps.
    pub entries_pending: Gauge,
    /// Requests from members refused because the member was over its budget, by kind.
    pub requests_refused: Family<ReasonLabel, Counter>,
    /// Blob store failures, by backend and kind.
    pub blob_errors: Family<BlobErrorLabel, Counter>,
    /// Requests held for review and reviews done, by kind and event.
    pub reviews: Family<ReviewLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("striae");
        let m = Metrics {
            entries_applied: Counter::default(),
            entries_rejected: Family::default(),
            gossip_received: Counter::default(),
            pages_pulled: Counter::default(),
            requests_served: Counter::default(),
            peers_connected: Gauge::default(),
            entries_pending: Gauge::default(),
            requests_refused: Family::default(),
            blob_errors: Family::default(),
            reviews: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "entries_applied",
            "Feed entries appended",
            m.entries_applied.clone(),
        );
        registry.register(
            "entries_rejected",
            "Feed entries refused, by reason",
            m.entries_rejected.clone(),
        );
        registry.register(
            "gossip_received",
            "Gossip messages received",
            m.gossip_received.clone(),
        );
        registry.register(
            "pages_pulled",
            "Pages of entries pulled from members",
            m.pages_pulled.clone(),
        );
        registry.register(
            "requests_served",
            "Sync requests served",
            m.requests_served.clone(),
        );
        registry.register(
            "peers_connected",
            "Members connected now",
            m.peers_connected.clone(),
        );
        registry.register(
            "entries_pending",
            "Entries held until a gap fills",
            m.entries_pending.clone(),
        );
        registry.register(
            "requests_refused",
            "Requests from members refused over the member's rate budget, by kind",
            m.requests_refused.clone(),
        );
        registry.register(
            "blob_errors",
            "Blob store failures (raw scans), by backend and kind",
            m.blob_errors.clone(),
        );
        registry.register(
            "reviews",
            "Trace requests and queries held for review, approved and refused",
            m.reviews.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a refused entry.
    pub fn rejected(&self, reason: &'static str) {
        self.entries_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts a request refused over a member's budget.
    pub fn refused(&self, reason: &'static str) {
        self.requests_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts a review event (`held`, `approved`, `refused`) of a `trace` or `query`.
    pub fn review(&self, kind: &'static str, event: &'static str) {
        self.reviews
            .get_or_create(&ReviewLabel { kind, event })
            .inc();
    }

    /// Counts a blob store failure.
    pub fn blob_error(&self, backend: &'static str, error: &'static str) {
        self.blob_errors
            .get_or_create(&BlobErrorLabel { backend, error })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
