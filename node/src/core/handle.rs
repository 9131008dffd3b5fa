//! `CoreHandle`: how the rest of the node talks to the core (publish an own entry, ask another
//! member, see who is connected and who sent what was refused, observe applied entries), and
//! the errors those calls return.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

use libp2p::PeerId;
use striae_protocol::{
    Body, BureauId, EntryError, EntryId, IdentityError, SyncRequest, SyncResponse, VerifiedEntry,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::store::StoreError;

/// Capacity of the command queue into the core.
const CORE_COMMAND_CAPACITY: usize = 256;
/// Longest an `ask` waits for its answer.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Capacity of the applied-entry broadcast (observers that lag lose events, nothing else).
const APPLIED_CAPACITY: usize = 65_536;

/// Why an own entry could not be published.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The entry could not be signed.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The entry was stored but could not be flushed to disk.
    #[error("storage: the entry could not be flushed to disk: {0}")]
    NotDurable(#[source] Arc<StoreError>),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// This node's own feed is frozen (it was found equivocating, e.g. after a restore from an
    /// old backup); it must not publish until an operator resolves it.
    #[error("this node's feed is frozen after an equivocation; see the node log")]
    Frozen,
    /// The node has just started and is still learning from its peers how far its own feed
    /// reached, and too many publications already wait for that.
    #[error("the node is catching up with its own feed from its peers; try again shortly")]
    CatchingUp,
}

/// Why a request to another member got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The member's key does not make a libp2p peer id.
    #[error(transparent)]
    BadMember(#[from] IdentityError),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// No answer came back in time.
    #[error("the member did not answer in time")]
    TimedOut,
    /// The transport gave up (the member is offline, did not answer in time, or the
    /// connection failed); the transport's own words.
    #[error("{0}")]
    Network(String),
}

/// An entry appended to a feed, for observers (benchmarks, tests, the devnet summary).
#[derive(Clone, Debug)]
pub struct Applied {
    /// The feed.
    pub origin: BureauId,
    /// Its seq.
    pub seq: u64,
    /// Its id.
    pub id: EntryId,
    /// When this node appended it.
    pub at: Instant,
}

pub(super) type PublishReply = oneshot::Sender<Result<VerifiedEntry, CoreError>>;
pub(super) type AskReply = oneshot::Sender<Result<SyncResponse, AskError>>;

pub(super) enum CoreCommand {
    Publish {
        body: Body,
        reply: PublishReply,
    },
    Ask {
        peer: PeerId,
        request: SyncRequest,
        reply: AskReply,
    },
}

/// What the core shows the rest of the node: who is connected, who sent what was refused.
#[derive(Default)]
pub(super) struct CoreStatus {
    pub(super) connected: Mutex<HashSet<BureauId>>,
    pub(super) rejected_from: Mutex<HashMap<BureauId, u64>>,
}

/// A cloneable handle to the core: publish own entries, ask other members, observe.
#[derive(Clone)]
pub struct CoreHandle {
    commands: mpsc::Sender<CoreCommand>,
    pub(super) applied: broadcast::Sender<Applied>,
    pub(super) status: Arc<CoreStatus>,
}

/// The core's side of the handle's channels, consumed by `start`.
pub struct CoreInbox {
    pub(super) commands: mpsc::Receiver<CoreCommand>,
}

impl CoreHandle {
    /// A handle and the inbox the core will read, made before the core starts so that the
    /// capabilities can hold the handle from their construction on.
    pub fn new() -> (CoreHandle, CoreInbox) {
        let (commands, rx) = mpsc::channel(CORE_COMMAND_CAPACITY);
        let (applied, _) = broadcast::channel(APPLIED_CAPACITY);
        let handle = CoreHandle {
            commands,
            applied,
            status: Arc::default(),
        };
        (handle, CoreInbox { commands: rx })
    }

    /// Appends `body` to this node's own feed, makes it durable, and gossips it. Returns the
    /// signed entry once it is on disk.
    pub async fn publish(&self, body: Body) -> Result<VerifiedEntry, CoreError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(CoreCommand::Publish { body, reply })
            .await
            .map_err(|_| CoreError::Stopped)?;
        rx.await.map_err(|_| CoreError::Stopped)?
    }

    /// Sends `request` to member `to` and waits for its answer (the network's request
    /// timeout bounds the wait). Used for traces and confirmations.
    pub async fn ask(&self, to: &BureauId, request: SyncRequest) -> Result<SyncResponse, AskError> {
        let peer = to.peer_id()?;
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(CoreCommand::Ask {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| AskError::Stopped)?;
        // The core answers every ask (with the answer, the transport's failure, or after
        // `TAG_EXPIRY`); this bound is the last resort if the core itself is stuck.
        match tokio::time::timeout(ASK_TIMEOUT, rx).await {
            Ok(answer) => answer.map_err(|_| AskError::Stopped)?,
            Err(_) => Err(AskError::TimedOut),
        }
    }

    /// Whether member `bureau` is connected right now.
    pub fn is_connected(&self, bureau: &BureauId) -> bool {
        self.status
            .connected
            .lock()
            .map(|c| c.contains(bureau))
            .unwrap_or(false)
    }

    /// Entries refused per sending member.
    pub fn rejected_from(&self) -> HashMap<BureauId, u64> {
        self.status
            .rejected_from
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Entries appended from now on.
    pub fn subscribe_applied(&self) -> broadcast::Receiver<Applied> {
        self.applied.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_ask_nobody_answers_ends_with_a_timeout() {
        let (handle, _inbox) = CoreHandle::new();
        let to = striae_protocol::Signer::from_seed([1; 32]).bureau();
        let answer = handle.ask(
            &to,
            SyncRequest::Pull {
                origin: to,
                from_seq: 1,
                limit: 1,
            },
        );
        assert!(matches!(answer.await, Err(AskError::TimedOut)));
    }
}
