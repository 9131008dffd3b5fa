//! Anchoring the audit log in this node's own feed: a capability that publishes the log's
//! head (`Body::AuditAnchor`) a little after it moves, and remembers the latest anchor found
//! in the feed (at start, from the stored feed; afterwards, as entries apply).

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use striae_protocol::{Body, VerifiedEntry};

use crate::{context::Context, core::Capability, store::StoreError};

/// At most one anchor this often: each is an entry every member stores, and records written
/// since the last anchor are the only ones a disk editor could remove unseen.
const ANCHOR_INTERVAL: Duration = Duration::from_secs(30);

/// The anchoring capability.
pub struct AuditAnchoring {
    ctx: Context,
    last_published: Mutex<Option<Instant>>,
}

impl AuditAnchoring {
    /// Anchors `ctx.audit` in `ctx`'s own feed.
    pub fn new(ctx: Context) -> Self {
        AuditAnchoring {
            ctx,
            last_published: Mutex::new(None),
        }
    }

    fn note(&self, entry: &VerifiedEntry) {
        if entry.entry.origin == self.ctx.me
            && let Body::AuditAnchor(anchor) = &entry.entry.body
        {
            self.ctx.audit.note_anchor(*anchor);
        }
    }

    /// Publishes the log's head when it moved past the last anchor and the last anchor is
    /// old enough.
    async fn anchor_if_moved(&self) {
        let head = self.ctx.audit.head();
        let anchored = self.ctx.audit.anchored().map_or(0, |a| a.records);
        if head.records <= anchored {
            return;
        }
        {
            let mut last = self
                .last_published
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < ANCHOR_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = self.ctx.publish(Body::AuditAnchor(head)).await {
            tracing::warn!("cannot anchor the audit log in the feed: {e}");
        }
    }
}

impl Capability for AuditAnchoring {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn replay(&self, entry: &VerifiedEntry, _received_at_ms: u64) {
        self.note(entry);
    }

    fn apply(&self, run: &[VerifiedEntry], _received_at_ms: u64) -> Result<(), StoreError> {
        for entry in run {
            self.note(entry);
        }
        Ok(())
    }

    fn tick(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.anchor_if_moved())
    }
}
