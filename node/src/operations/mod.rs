//! Joint operations (INTERPOL TRIGGER-style): a member creates an operation naming the
//! members that take part and coordinates it; the invited members see it and join; every
//! participant records its seizures, and every participant holds everyone's, so each can
//! draw the same report. Only participants ever hold an operation: nothing of it goes into
//! the feeds, every message is signed and sent point to point to the participants, through
//! a durable outbox that delivers to each member when it is connected.
//!
//! - `store`: the operations, joins and seizure records held, with their bounds;
//! - `local`: creating, joining and recording a seizure at this node;
//! - `outbox`: queueing messages for the other participants and delivering them;
//! - `receive`: checking and keeping what other participants send;
//! - `views`: the JSON views, the report, and the seized firearms a case can pick up;
//! - `seed`: the devnet's example operation.

mod local;
mod outbox;
mod receive;
mod seed;
mod store;
mod views;

use std::sync::{Arc, atomic::AtomicBool};

use futures::future::BoxFuture;
use striae_protocol::{BureauId, SignedError, SyncRequest, SyncResponse, VerifiedEntry};

pub use local::{NewOperation, NewSeizure, create, join, record_seizure};
pub use seed::seed_devnet;
pub use store::{
    HeldOperation, HeldSeizure, MAX_OPERATIONS_PER_COORDINATOR, MAX_SEIZURES_PER_AUTHOR,
    MAX_SEIZURES_PER_OPERATION, SeizureCursor,
};
pub use views::{
    REPORT_SEIZURES, SeizedFirearm, operation_view, report, seized_firearms, seizure_view,
    summary_view,
};

use crate::{
    context::Context,
    core::Capability,
    store::{Store, StoreError},
};

/// Why an operation action failed, in terms the API turns into an answer.
#[derive(Debug, thiserror::Error)]
pub enum OperationsError {
    /// A field of the request is wrong: 400.
    #[error("{field}: {message}")]
    Field {
        /// The field, as the API names it (`items[0].count`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such operation at this node (never created, or this node is not invited): 404.
    #[error("{0}")]
    NotFound(String),
    /// The operation is not in a state that allows this (not joined yet, a bound reached):
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// A participant has been unreachable so long that its outbox is full: 503.
    #[error(
        "the outbox to {0} is full (it has been unreachable for long); try again once it is back"
    )]
    OutboxFull(String),
    /// The message could not be signed: 500.
    #[error("the {what} could not be signed: {source}")]
    Sign {
        /// What was to be signed.
        what: &'static str,
        /// Why it was not.
        #[source]
        source: SignedError,
    },
    /// Storage failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<striae_protocol::operation::OperationError> for OperationsError {
    fn from(e: striae_protocol::operation::OperationError) -> Self {
        OperationsError::Field {
            field: e.field,
            message: e.message,
        }
    }
}

/// The operations this node takes part in, and its outbox to the other participants.
pub struct Operations {
    held: store::Held,
    /// A delivery pass is running.
    delivering: AtomicBool,
}

impl Operations {
    /// Messages waiting in the outbox for every member together.
    pub fn outbox_depth(&self) -> usize {
        self.held.outbox_total()
    }

    /// Opens the operations' keyspaces and queues again what a crash left unqueued.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        let held = store::Held::open(store)?;
        outbox::requeue_pending(&held)?;
        Ok(Operations {
            held,
            delivering: AtomicBool::new(false),
        })
    }

    /// The operations held, after `after` in id order, at most `limit`.
    pub fn list(
        &self,
        after: Option<striae_protocol::operation::OperationId>,
        limit: usize,
    ) -> Result<Vec<HeldOperation>, StoreError> {
        self.held.list(after, limit)
    }

    /// One operation, if this node takes part in it.
    pub fn get(
        &self,
        id: &striae_protocol::operation::OperationId,
    ) -> Result<Option<HeldOperation>, StoreError> {
        self.held.get(id)
    }

    /// A page of an operation's seizure records, after `after`, at most `limit`.
    pub fn seizures(
        &self,
        id: &striae_protocol::operation::OperationId,
        after: Option<SeizureCursor>,
        limit: usize,
    ) -> Result<Vec<HeldSeizure>, StoreError> {
        self.held.seizure_page(id, after, limit)
    }

    /// Messages waiting in the outbox for `member`.
    pub fn waiting_for(&self, member: &BureauId) -> usize {
        self.held.outbox_len(member)
    }
}

/// The operations capability as the node holds it: its state and the context it works in.
/// Cheap to clone; it reads as its context (`node.me`, `node.ask(..)`).
#[derive(Clone)]
pub struct OperationsNode {
    ctx: Context,
    /// The operations held and the outbox.
    pub operations: Arc<Operations>,
}

impl OperationsNode {
    /// The capability over `operations`, working in `ctx`.
    pub fn new(ctx: Context, operations: Operations) -> Self {
        OperationsNode {
            ctx,
            operations: Arc::new(operations),
        }
    }
}

impl std::ops::Deref for OperationsNode {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Capability for OperationsNode {
    fn name(&self) -> &'static str {
        "operations"
    }

    /// Operations are never in a feed.
    fn replay(&self, _entry: &VerifiedEntry, _received_at_ms: u64) {}

    fn apply(&self, _run: &[VerifiedEntry], _received_at_ms: u64) -> Result<(), StoreError> {
        Ok(())
    }

    fn claims(&self, request: &SyncRequest) -> bool {
        matches!(request, SyncRequest::Operation(_))
    }

    fn on_request(&self, from: BureauId, request: SyncRequest) -> BoxFuture<'_, SyncResponse> {
        Box::pin(async move {
            match request {
                SyncRequest::Operation(delivery) => {
                    receive::on_delivery(self, from, delivery).await
                }
                _ => SyncResponse::Refused("not an operation message".into()),
            }
        })
    }

    /// Delivers what waits for members that are connected now.
    fn tick(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { outbox::start_delivery(self) })
    }
}
