//! Ballistic exhibits at this node, the digests held from every member, searches,
//! confirmation at the holder and automatic leads.

use striae_protocol::{BureauId, SignedMessage, SyncResponse, VerifiedEntry};

use crate::{
    config::NodeConfig,
    node::NodeHandle,
    store::{Store, StoreError},
};

/// Exhibits, the screening index, leads.
pub struct Ballistics {}

impl Ballistics {
    /// Opens the exhibits and rebuilds the screening index from the stored feeds.
    pub fn open(_store: &Store, _config: &NodeConfig) -> Result<Self, StoreError> {
        Ok(Ballistics {})
    }

    /// Applies a run of entries of one feed (digests, retractions).
    pub fn project(&self, _node: &NodeHandle, _run: &[VerifiedEntry]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Answers another member's confirmation request.
pub async fn on_confirm_request(
    _node: &NodeHandle,
    _from: BureauId,
    _message: SignedMessage,
) -> SyncResponse {
    SyncResponse::Refused("confirmations are not served by this node".into())
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
