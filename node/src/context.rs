//! What a capability works with: this member's identity and key, the network and roster, the
//! store, the audit log, metrics and tally, and a handle to the core to publish and to ask other
//! members. Capabilities get this, never the whole node.

use std::{ops::Deref, path::PathBuf, sync::Arc};

use striae_protocol::{
    Body, BureauId, NetworkId, Signer, SyncRequest, SyncResponse, VerifiedEntry,
    acting::MAX_ACTING_BYTES, firearm::DigestKey,
};

use crate::{
    audit::AuditLog,
    config::{Roster, UserOnWire},
    core::{AskError, CoreError, CoreHandle, limits::RateLimits},
    metrics::Metrics,
    store::Store,
    tally::Tally,
};

/// A capability's context; cheap to clone.
#[derive(Clone)]
pub struct Context(Arc<ContextInner>);

/// The fields of a `Context`.
pub struct ContextInner {
    /// Country code.
    pub country: String,
    /// Bureau name.
    pub name: String,
    /// This node's identity.
    pub me: BureauId,
    /// This node's key, for the capabilities' signed messages.
    pub signer: Signer,
    /// The network signatures are bound to.
    pub network: NetworkId,
    /// The key firearm digests are computed with (from the roster's pre-shared key).
    pub digest_key: DigestKey,
    /// The data dir (blob store and other files beside the database).
    pub data_dir: PathBuf,
    /// The roster.
    pub roster: Roster,
    /// Storage.
    pub store: Store,
    /// The signed, hash-chained audit log.
    pub audit: AuditLog,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The replication core.
    pub core: CoreHandle,
    /// Per-member request budgets; capabilities charge the costly parts of requests.
    pub limits: Arc<RateLimits>,
    /// Durable monthly counts of events, for the published statistics (`analysis`).
    pub tally: Arc<Tally>,
    /// What signed requests say of the user who asked (`[accounts] user_on_wire`).
    pub user_on_wire: UserOnWire,
}

impl Context {
    /// A context from its fields.
    pub fn new(inner: ContextInner) -> Self {
        Context(Arc::new(inner))
    }
}

impl Deref for Context {
    type Target = ContextInner;

    fn deref(&self) -> &ContextInner {
        &self.0
    }
}

impl ContextInner {
    /// Appends `body` to this node's own feed; returns the signed entry once it is on disk.
    pub async fn publish(&self, body: Body) -> Result<VerifiedEntry, CoreError> {
        self.core.publish(body).await
    }

    /// Sends `request` to member `to` and waits for its answer.
    pub async fn ask(&self, to: &BureauId, request: SyncRequest) -> Result<SyncResponse, AskError> {
        self.core.ask(to, request).await
    }

    /// Whether member `bureau` is connected right now.
    pub fn is_connected(&self, bureau: &BureauId) -> bool {
        self.core.is_connected(bureau)
    }

    /// The reference of the user the current task acts for, as the signed requests this node
    /// sends carry it (`protocol::acting`): empty when the node acts on its own.
    pub fn acting_reference(&self) -> String {
        let Some(user) = crate::audit::acting_user() else {
            return String::new();
        };
        let reference = match self.user_on_wire {
            UserOnWire::Id => user.id,
            UserOnWire::Name => user.name,
            UserOnWire::None => String::new(),
        };
        // A name longer than the wire allows is cut at a character boundary, never refused:
        // the request matters more than the label.
        let mut end = reference.len().min(MAX_ACTING_BYTES);
        while !reference.is_char_boundary(end) {
            end -= 1;
        }
        reference[..end]
            .chars()
            .filter(|c| !c.is_control())
            .collect()
    }

    /// Country of a member, or "??" for a stranger.
    pub fn country_of(&self, bureau: &BureauId) -> String {
        self.roster
            .member(bureau)
            .map_or_else(|| "??".to_string(), |m| m.country.clone())
    }
}
