//! Firearm records at this node, the digests held from every member, checks and traces.

use striae_protocol::{BureauId, SignedMessage, SyncResponse, VerifiedEntry};

use crate::{
    config::NodeConfig,
    node::NodeHandle,
    store::{Store, StoreError},
};

/// Firearm records, the digest index and traces.
pub struct Firearms {}

impl Firearms {
    /// Opens the records and rebuilds the digest index from the stored feeds.
    pub fn open(_store: &Store, _config: &NodeConfig) -> Result<Self, StoreError> {
        Ok(Firearms {})
    }

    /// Applies a run of entries of one feed (digests, retractions, reference additions).
    pub fn project(&self, _node: &NodeHandle, _run: &[VerifiedEntry]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Answers another member's trace request.
pub async fn on_trace_request(
    _node: &NodeHandle,
    _from: BureauId,
    _message: SignedMessage,
) -> SyncResponse {
    SyncResponse::Refused("traces are not served by this node".into())
}

/// Receives a trace answer that followed a review.
pub async fn on_trace_answer(
    _node: &NodeHandle,
    _from: BureauId,
    _message: SignedMessage,
) -> SyncResponse {
    SyncResponse::Refused("traces are not served by this node".into())
}

/// Seeds devnet member `index` (of `members`) with example data.
pub async fn seed_devnet(
    _node: &NodeHandle,
    _index: usize,
    _members: usize,
) -> Result<(), crate::node::NodeError> {
    Ok(())
}

/// Periodic work.
pub async fn tick(_node: &NodeHandle) {}
