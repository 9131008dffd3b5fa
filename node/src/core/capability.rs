//! What the core knows of a capability: a projection of the feeds (rebuilt at start, kept
//! current as entries apply), the point-to-point requests it answers, and its periodic work.
//! The composition root (`node.rs`) registers capabilities at start; the core names none.

use futures::future::BoxFuture;
use striae_protocol::{BureauId, SyncRequest, SyncResponse, VerifiedEntry};

use crate::store::StoreError;

/// A capability as the replication core drives it. Every method is called off the network
/// task; `replay` and `apply` run on the core and must not block on the network.
pub trait Capability: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// At start, every stored entry of every feed, feed by feed in seq order, with when this
    /// node stored it (ms since the epoch; 0 when unknown).
    fn replay(&self, entry: &VerifiedEntry, received_at_ms: u64);

    /// The replay at start is over.
    fn replayed(&self) {}

    /// A run of one origin's entries that has just been stored, in order, before the head
    /// moves past them (a crash in between replays them at the next start).
    fn apply(&self, run: &[VerifiedEntry], received_at_ms: u64) -> Result<(), StoreError>;

    /// Whether a point-to-point request from another member is this capability's to answer.
    fn claims(&self, _request: &SyncRequest) -> bool {
        false
    }

    /// Answers a request it claims, on a worker off the core (a comparison can take a second
    /// of CPU, and replication must not wait for it).
    fn on_request(&self, _from: BureauId, _request: SyncRequest) -> BoxFuture<'_, SyncResponse> {
        Box::pin(async { SyncResponse::Refused("not handled here".into()) })
    }

    /// Periodic work (deliveries that wait for a reviewer or an offline member, ...).
    fn tick(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The capabilities registered at start, in the order they were registered.
pub type Capabilities = std::sync::Arc<[std::sync::Arc<dyn Capability>]>;
