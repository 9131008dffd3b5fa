//! Sync messages exchanged over request-response: heads exchange (which also carries receipts)
//! and pulling a bounded page of one origin's entries from a given seq.

use bincode::{Decode, Encode};

use crate::{
    codec::{self, CodecError, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES},
    heads::SignedHeads,
    identity::BureauId,
    operation::OperationDelivery,
    signed::SignedMessage,
};

/// Most entries one page may carry.
pub const MAX_PAGE_ENTRIES: u32 = 1024;
/// Most entry bytes a server puts in one page (a page stops early when the next entry would
/// cross it; a single entry is never larger than `codec::MAX_ENTRY_BYTES`).
pub const MAX_PAGE_BYTES: usize = 8 << 20;

/// A request from one member to another.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// "Here are my heads; send me yours." Sent on connect, when heads change, and
    /// periodically.
    Heads(SignedHeads),
    /// "Send me `origin`'s entries from `from_seq` on, at most `limit`."
    Pull {
        /// The feed.
        origin: BureauId,
        /// First seq wanted (>= 1).
        from_seq: u64,
        /// Most entries wanted (capped at `MAX_PAGE_ENTRIES`).
        limit: u32,
    },
    /// A signed `trace::TraceRequest`; answered with `SyncResponse::Trace`.
    Trace(SignedMessage),
    /// A signed `trace::TraceResponse` delivered after a review (the first answer said
    /// pending review); answered with `SyncResponse::Received`.
    TraceAnswer(SignedMessage),
    /// A signed `ballistic::ConfirmRequest`; answered with `SyncResponse::Confirm`.
    Confirm(SignedMessage),
    /// A signed `bullet::BulletConfirmRequest`; answered with `SyncResponse::BulletConfirm`.
    BulletConfirm(SignedMessage),
    /// A signed `ballistic::SharedDigests` (digests shared with a few members only); answered
    /// with `SyncResponse::Received` once kept.
    SharedDigests(SignedMessage),
    /// A signed `ballistic::PictureRequest`; answered with `SyncResponse::Picture`.
    Picture(SignedMessage),
    /// A signed `query::QueryRequest`; answered with `SyncResponse::Query`.
    Query(SignedMessage),
    /// A signed `query::QueryResponse` delivered after a review (the first answer said
    /// pending review); answered with `SyncResponse::Received`.
    QueryAnswer(SignedMessage),
    /// A joint operation's message to one of its participants (the invitation, a join or a
    /// seizure record, with the coordinator's signed operation); answered with
    /// `SyncResponse::Received` once kept.
    Operation(OperationDelivery),
}

/// The answer to a `SyncRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// The responder's own signed heads.
    Heads(SignedHeads),
    /// Consecutive entries from the requested seq, each the canonical encoding of a
    /// `WireEntry`, possibly fewer than asked (none when the responder holds none from there).
    Entries(Vec<Vec<u8>>),
    /// The request was refused; the text says why.
    Refused(String),
    /// A signed `trace::TraceResponse`.
    Trace(SignedMessage),
    /// A signed `ballistic::ConfirmResponse`.
    Confirm(SignedMessage),
    /// The message was received and kept.
    Received,
    /// A signed `bullet::BulletConfirmResponse`.
    BulletConfirm(SignedMessage),
    /// A signed `ballistic::PictureResponse`.
    Picture(SignedMessage),
    /// A signed `query::QueryResponse`.
    Query(SignedMessage),
}

impl SyncRequest {
    /// Canonical bytes, bounded by `MAX_REQUEST_BYTES`.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self, MAX_REQUEST_BYTES)
    }

    /// Decodes canonical bytes, bounded by `MAX_REQUEST_BYTES`.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes, MAX_REQUEST_BYTES)
    }
}

impl SyncResponse {
    /// Canonical bytes, bounded by `MAX_RESPONSE_BYTES`.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self, MAX_RESPONSE_BYTES)
    }

    /// Decodes canonical bytes, bounded by `MAX_RESPONSE_BYTES`.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes, MAX_RESPONSE_BYTES)
    }
}
