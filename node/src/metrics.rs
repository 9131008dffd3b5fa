//! Prometheus metrics of a node, served as text on `/metrics`.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
        info::Info,
    },
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

/// An API request, as metric labels: the method, the route as the router matched it (a
/// template such as `/v1/traces/{id}`, or `unmatched`, so that callers cannot mint series)
/// and the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabel {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The matched route template, or `unmatched`.
    pub route: String,
    /// The answer's status code.
    pub status: u16,
}

/// An API route, as metric labels for its latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The matched route template, or `unmatched`.
    pub route: String,
}

/// A capability event, as metric labels from fixed sets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    /// Which side of the exchange this node is (`answered` as holder, `answer_received` as
    /// requester), or the kind of evidence for confirmations.
    pub side: &'static str,
    /// How it ended (`found`, `not_found`, `pending_review`, `refused`, ...).
    pub outcome: &'static str,
}

/// One label from a fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// What kind (a `'static` name from a fixed set).
    pub kind: &'static str,
}

/// The build, as labels of `striae_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabel {
    version: &'static str,
    commit: &'static str,
}

/// Histogram of API latency in seconds: 1 ms to about 16 s.
type LatencyFamily = Family<RouteLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
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
    /// API requests answered, by method, route and status.
    pub http_requests: Family<HttpLabel, Counter>,
    /// API latency, by method and route.
    pub http_latency: LatencyFamily,
    /// Trace requests sent and answered, by side and outcome.
    pub traces: Family<EventLabel, Counter>,
    /// Serial-pattern queries sent and answered, by side and outcome.
    pub queries: Family<EventLabel, Counter>,
    /// Firearm checks run at this node, by verdict.
    pub checks: Family<KindLabel, Counter>,
    /// Ballistic searches run at this node, by kind of evidence.
    pub searches: Family<KindLabel, Counter>,
    /// Ballistic confirmations asked and answered, by side and outcome.
    pub confirmations: Family<EventLabel, Counter>,
    /// Firearm import lines, by result (`created`, `updated`, `unchanged`, `refused`).
    pub import_lines: Family<KindLabel, Counter>,
    /// Sizes read at each scrape (records, indexed digests), by kind.
    pub sizes: Family<KindLabel, Gauge>,
    /// Work waiting at each scrape (reviews, outboxes), by kind.
    pub queued: Family<KindLabel, Gauge>,
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
            http_requests: Family::default(),
            http_latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            traces: Family::default(),
            queries: Family::default(),
            checks: Family::default(),
            searches: Family::default(),
            confirmations: Family::default(),
            import_lines: Family::default(),
            sizes: Family::default(),
            queued: Family::default(),
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
        m.register_capabilities(&mut registry);
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Registers the API's and the capabilities' series, and the build.
    fn register_capabilities(&self, registry: &mut Registry) {
        registry.register(
            "build",
            "The running build",
            Info::new(BuildLabel {
                version: env!("CARGO_PKG_VERSION"),
                commit: env!("STRIAE_COMMIT"),
            }),
        );
        registry.register(
            "http_requests",
            "API requests answered, by method, matched route and status",
            self.http_requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "API latency, by method and matched route",
            prometheus_client::registry::Unit::Seconds,
            self.http_latency.clone(),
        );
        registry.register(
            "traces",
            "Trace requests sent (by first answer) and answered as holder, by outcome",
            self.traces.clone(),
        );
        registry.register(
            "queries",
            "Serial-pattern queries sent and answered as holder, by outcome",
            self.queries.clone(),
        );
        registry.register(
            "checks",
            "Firearm checks run at this node, by verdict",
            self.checks.clone(),
        );
        registry.register(
            "ballistic_searches",
            "Ballistic searches run at this node, by kind of evidence",
            self.searches.clone(),
        );
        registry.register(
            "confirmations",
            "Ballistic confirmations asked of holders and answered as holder, by outcome",
            self.confirmations.clone(),
        );
        registry.register(
            "import_lines",
            "Firearm import lines, by result",
            self.import_lines.clone(),
        );
        registry.register(
            "size",
            "Sizes read at scrape time (records, indexed digests), by kind",
            self.sizes.clone(),
        );
        registry.register(
            "queued",
            "Work waiting at scrape time (reviews, outboxes), by kind",
            self.queued.clone(),
        );
    }

    /// Counts an exchange event (`traces`, `queries` or `confirmations`).
    pub fn event(family: &Family<EventLabel, Counter>, side: &'static str, outcome: &'static str) {
        family.get_or_create(&EventLabel { side, outcome }).inc();
    }

    /// Counts one of `family`'s kinds by `n`.
    pub fn count(family: &Family<KindLabel, Counter>, kind: &'static str, n: u64) {
        family.get_or_create(&KindLabel { kind }).inc_by(n);
    }

    /// Sets one of `family`'s gauges.
    pub fn set(family: &Family<KindLabel, Gauge>, kind: &'static str, value: u64) {
        family
            .get_or_create(&KindLabel { kind })
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }

    /// Counts an API request and its latency.
    pub fn http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.http_latency
            .get_or_create(&RouteLabel {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.http_requests
            .get_or_create(&HttpLabel {
                method,
                route,
                status,
            })
            .inc();
    }

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
