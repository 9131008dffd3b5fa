//! What goes in and out of the sync state machine: the inputs the runtime hands it, the
//! outputs it asks the runtime to carry out, and the fixed sets they use (offences, gossip
//! verdicts, page errors).

use std::sync::Arc;

use striae_protocol::{BureauId, EntryError, SignedHeads, VerifiedEntry};

/// What happened, as the runtime tells it.
#[derive(Debug)]
pub enum Input {
    /// A member connected.
    Connected(BureauId),
    /// A member's last connection closed.
    Disconnected(BureauId),
    /// A member's signed heads statement (in its request, or its answer to ours).
    Heads {
        /// The member the statement came from (authenticated by the transport).
        from: BureauId,
        /// The statement, not yet verified (shared: the same statement often goes to many).
        signed: Arc<SignedHeads>,
    },
    /// A gossiped entry the runtime decoded and verified (or failed to); answered with one
    /// `Output::Verdict` before anything else.
    Gossip {
        /// The member it came from (not necessarily its origin).
        from: BureauId,
        /// The entry, or why it is invalid.
        entry: Result<VerifiedEntry, EntryError>,
    },
    /// A gossiped entry the network's fast path already verified and forwarded.
    Accepted {
        /// The member it came from.
        from: BureauId,
        /// The entry.
        entry: VerifiedEntry,
    },
    /// This node's own next entry, signed at the head `own_head` gave.
    Own(VerifiedEntry),
    /// A pulled page arrived and went to the verifier; the range stays in flight until
    /// `PageVerified` (or `PullFailed`, when the verifier was too busy to take it).
    PageArrived {
        /// Who sent it.
        from: BureauId,
        /// The feed.
        origin: BureauId,
    },
    /// A pull failed, was refused, or its page was dropped: the range is no longer in flight.
    PullFailed {
        /// The feed.
        origin: BureauId,
        /// The first seq asked for.
        from_seq: u64,
    },
    /// A pulled page after verification.
    PageVerified {
        /// Who sent it.
        from: BureauId,
        /// The feed.
        origin: BureauId,
        /// The first seq asked for.
        from_seq: u64,
        /// Per entry, verified or why not; or why the page as a whole was refused.
        results: Result<Vec<Result<VerifiedEntry, EntryError>>, PageError>,
    },
    /// Time passed (the runtime ticks every few tens of milliseconds).
    Tick,
}

/// Why a pulled page was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// An entry in it does not decode.
    #[error("an entry in the page does not decode")]
    Malformed(#[source] EntryError),
    /// Its entries are not consecutive entries of the feed asked for, from the seq asked for.
    #[error("page out of order or of another feed")]
    OutOfOrder,
}

impl Offence {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Offence::InvalidEntry => "invalid_entry",
            Offence::InvalidPage => "invalid_page",
            Offence::InvalidHeads => "invalid_heads",
            Offence::ForeignHeads => "foreign_heads",
            Offence::BrokenChain => "broken_chain",
            Offence::NotMember => "not_member",
            Offence::Replay => "replay",
        }
    }
}

/// Whether gossipsub should forward a gossiped message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Valid and new: forward it.
    Accept,
    /// Harmless but not to be forwarded (duplicate, frozen feed, overloaded).
    Ignore,
    /// Invalid: drop it and penalise the sender.
    Reject,
}

/// What a member did wrong: a fixed set (metric labels come from it, never from error text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Offence {
    /// An entry that does not decode or whose signature does not verify.
    InvalidEntry,
    /// A page that does not decode or is not the range asked for.
    InvalidPage,
    /// A heads statement whose signature does not verify.
    InvalidHeads,
    /// A heads statement signed by another member than the sender.
    ForeignHeads,
    /// An entry whose `prev` is not the id of the entry before it.
    BrokenChain,
    /// An entry of an origin that is not on the roster.
    NotMember,
    /// An old entry sent again long after it was new.
    Replay,
}

/// What the runtime must do, in order.
#[derive(Debug)]
pub enum Output {
    /// The verdict on the `Input::Gossip` being handled.
    Verdict(GossipVerdict),
    /// Store this run of one origin's entries: entries, then projections, then the head.
    Persist(Vec<VerifiedEntry>),
    /// Send our signed heads (`SyncState::own_heads`) to this member.
    SendHeads(BureauId),
    /// Ask `peer` for `limit` entries of `origin` from `from_seq`; its answer comes back as
    /// `PageArrived` then `PageVerified`, or as `PullFailed`.
    Pull {
        /// Who to ask.
        peer: BureauId,
        /// The feed.
        origin: BureauId,
        /// The first seq.
        from_seq: u64,
        /// How many entries at most.
        limit: u32,
    },
    /// A member sent something invalid: count it and lower its score.
    Penalise {
        /// The member.
        peer: BureauId,
        /// What it did.
        offence: Offence,
    },
    /// Two different signed entries for one `(origin, seq)`: keep both as evidence. The
    /// origin is frozen from now on.
    Equivocation {
        /// The feed.
        origin: BureauId,
        /// The seq both claim.
        seq: u64,
        /// One entry's signed bytes.
        first: Vec<u8>,
        /// The other's.
        second: Vec<u8>,
    },
    /// `member`'s signed heads reached `seq` of our own feed at `at_ms`: the receipts for
    /// every entry up to there.
    Receipt {
        /// The member.
        member: BureauId,
        /// Its head of our feed.
        seq: u64,
        /// When it said so.
        at_ms: u64,
    },
}
