//! Network analysis without pooling records (`AnalysisNode`): each member publishes, in its
//! own feed, signed aggregate statistics of its own data per month (`Body::Aggregate`),
//! thresholded so that no single case can be read off; every node projects every member's
//! latest aggregate per month and answers summaries, routes, trends and time to crime from
//! them. A layer above `firearms` (it reads this node's records and traces), like `cases`.
//!
//! - `compute`: this node's figures from its stores and the tally;
//! - `path`: the chain of countries a firearm passed through, its legs, its time to crime;
//! - `threshold`: suppression and coarsening before publishing;
//! - `projection`: every member's aggregates in memory, bounded;
//! - `report`: the pure functions and answer types the API, bench and charts use;
//! - `pictures`: those answers drawn with `charts` (`?format=svg`);
//! - `threats`: patterns that cross a threshold, proposed as draft notices.

pub mod compute;
pub mod path;
pub mod pictures;
pub mod projection;
pub mod report;
pub mod threats;
pub mod threshold;

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use futures::future::BoxFuture;
use striae_protocol::{
    Body, VerifiedEntry,
    analysis::{Aggregate, Period},
};

use crate::{
    config::AnalysisConfig,
    context::Context,
    core::{Capability, CoreError},
    firearms::FirearmsNode,
    store::StoreError,
};

/// The metric names an aggregate's counts use. New ones may be added; a node ignores the
/// ones it does not know.
pub mod metric {
    /// Records entered in the month, by status.
    pub const RECORDS_STATUS: &str = "records.status";
    /// By type.
    pub const RECORDS_TYPE: &str = "records.type";
    /// By make.
    pub const RECORDS_MAKE: &str = "records.make";
    /// By calibre.
    pub const RECORDS_CALIBER: &str = "records.caliber";
    /// Records recovered or seized in the month, by type.
    pub const RECOVERIES_TYPE: &str = "recoveries.type";
    /// Checks, by verdict.
    pub const CHECKS: &str = "checks";
    /// Check hits, by the holder's country.
    pub const HITS_HOLDER: &str = "hits.holder";
    /// Traces sent (`total`).
    pub const TRACES_SENT: &str = "traces.sent";
    /// Trace answers received, by outcome.
    pub const TRACES_ANSWERS: &str = "traces.answers";
    /// Traces sent whose answers disclosed a record with a path (`total`).
    pub const TRACED_FOUND: &str = "traces.found";
    /// Trace requests received, by the asking member's country.
    pub const TRACE_REQUESTS_ASKER: &str = "trace_requests.asker";
    /// Trace requests answered, by outcome.
    pub const TRACES_ANSWERED: &str = "traces.answered";
    /// Ballistic searches, by kind.
    pub const SEARCHES: &str = "searches";
    /// Confirmations asked of holders in searches, by result.
    pub const CONFIRMATIONS: &str = "confirmations";
    /// Ballistic leads found (`found`).
    pub const LEADS: &str = "leads";
    /// Seizures recorded in joint operations (`records`, `items`).
    pub const SEIZURES: &str = "seizures";
    /// Recovered and traced firearms by time from last legal transfer to recovery.
    pub const TIME_TO_CRIME: &str = "time_to_crime";
}

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Reading the stores failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The core did not publish.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The figures broke the protocol's bounds (a bug: they are cut to fit).
    #[error("the aggregate does not fit the protocol: {0}")]
    Bounds(#[from] striae_protocol::analysis::AggregateError),
    /// The computation's task failed.
    #[error("the computation failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The analysis capability; cheap to clone.
#[derive(Clone)]
pub struct AnalysisNode {
    ctx: Context,
    firearms: FirearmsNode,
    config: AnalysisConfig,
    /// Every member's aggregates.
    pub projection: Arc<Projection>,
    /// When this node last published (none yet: at start unless `publish_at_start`).
    last_published: Arc<Mutex<Option<(Instant, Period)>>>,
}

pub use projection::Projection;

impl AnalysisNode {
    /// The capability over `firearms`' records and traces.
    pub fn new(ctx: Context, firearms: FirearmsNode, config: AnalysisConfig) -> Self {
        let last = (!config.publish_at_start).then(|| (Instant::now(), compute::current_period()));
        AnalysisNode {
            ctx,
            firearms,
            config,
            projection: Arc::new(Projection::default()),
            last_published: Arc::new(Mutex::new(last)),
        }
    }

    /// The threshold this node publishes with.
    pub fn min_count(&self) -> u32 {
        self.config.min_count
    }

    /// The aggregate this node would publish for `period` now.
    pub async fn compute(&self, period: Period) -> Result<Aggregate, AnalysisError> {
        let firearms = self.firearms.clone();
        let min = self.config.min_count;
        let raw = tokio::task::spawn_blocking(move || compute::month(&firearms, period)).await??;
        let aggregate = threshold::publishable(&raw, period, min);
        aggregate.check()?;
        Ok(aggregate)
    }

    /// This node's own figures for `[from, to]`, not thresholded (they stay here).
    pub async fn own(&self, from: Period, to: Period) -> Result<compute::Raw, AnalysisError> {
        let firearms = self.firearms.clone();
        let (start, end) = (compute::start_ms(from), compute::start_ms(to.next()));
        Ok(
            tokio::task::spawn_blocking(move || compute::from_stores(&firearms, start, end))
                .await??,
        )
    }

    /// Publishes this node's aggregate for `period` (replacing any earlier one for it).
    pub async fn publish(&self, period: Period) -> Result<Aggregate, AnalysisError> {
        let aggregate = self.compute(period).await?;
        self.ctx.publish(Body::Aggregate(aggregate.clone())).await?;
        tracing::info!(%period, counts = aggregate.counts.len(), legs = aggregate.routes.len(),
            "aggregate statistics published");
        Ok(aggregate)
    }

    /// Publishes the current month, and the month before when this is the first publication
    /// since the month turned (so that a month's last days are published once it is over).
    pub async fn publish_current(&self) -> Result<Aggregate, AnalysisError> {
        let now = compute::current_period();
        let previous = self.last().map(|(_, p)| p);
        if let Some(p) = previous.filter(|p| *p < now) {
            self.publish(p).await?;
        }
        let aggregate = self.publish(now).await?;
        *self
            .last_published
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), now));
        Ok(aggregate)
    }

    fn last(&self) -> Option<(Instant, Period)> {
        *self
            .last_published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    async fn publish_when_due(&self) {
        let due = self
            .last()
            .is_none_or(|(at, _)| at.elapsed() >= self.config.publish_interval);
        if !due {
            return;
        }
        // Marked first: a failure waits for the next interval rather than retrying every tick.
        {
            let mut last = self
                .last_published
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let period = last.map_or_else(compute::current_period, |(_, p)| p);
            *last = Some((Instant::now(), period));
        }
        if let Err(e) = self.publish_current().await {
            tracing::warn!("cannot publish the aggregate statistics: {e}");
        }
    }

    fn project(&self, entry: &VerifiedEntry) {
        if let Body::Aggregate(aggregate) = &entry.entry.body {
            self.projection.put(entry.entry.origin, aggregate.clone());
        }
    }
}

impl Capability for AnalysisNode {
    fn name(&self) -> &'static str {
        "analysis"
    }

    fn replay(&self, entry: &VerifiedEntry, _received_at_ms: u64) {
        self.project(entry);
    }

    fn apply(&self, run: &[VerifiedEntry], _received_at_ms: u64) -> Result<(), StoreError> {
        run.iter().for_each(|e| self.project(e));
        Ok(())
    }

    fn tick(&self) -> BoxFuture<'_, ()> {
        // In the background: reading every record must not hold up the other ticks.
        let node = self.clone();
        tokio::spawn(async move { node.publish_when_due().await });
        Box::pin(async {})
    }
}
