//! Firearm traces between members, both sides.
//!
//! Requester: `start` builds one signed `TraceRequest` per member to ask (members with a
//! digest hit, the country of manufacture, members listed by the caller), sends them in the
//! background, verifies each signed `TraceResponse` and keeps it (tree `traces_out`). A member
//! that cannot be reached is asked again by `tick` (tree `trace_retry`).
//!
//! Holder: `on_trace_request` verifies the request, finds its records (by the references the
//! requester's digests gave and by the make and serial), and answers by the node's policy:
//! at once, or held for review (tree `traces_in`) until an operator approves or refuses; the
//! final answer then waits in the outbox (tree `trace_outbox`) until the requester confirms
//! receipt. Every request and answer, in or out, goes into the audit log.
//!
//! - `store`: the stored schema and [`TraceStore`] (trees, keys, encoding);
//! - `requester`: starting a trace, choosing whom to ask, sending, accepting answers, retries;
//! - `holder`: answering requests, finding records, the review queue;
//! - `outbox`: delivering reviewed answers and the periodic tick;
//! - `views`: the JSON the API shows for traces sent and requests received;
//! - `stats`: traces sent and what their answers disclosed, for the statistics.

mod holder;
mod outbox;
mod requester;
mod stats;
mod store;
mod views;

use serde_json::Value;
use striae_protocol::BureauId;

use crate::{
    audit::{Direction, Event},
    firearms::FirearmsNode,
    store::StoreError,
};

pub use holder::{MAX_PENDING_PER_MEMBER, on_trace_request, review};
pub use outbox::tick;
pub use requester::{TraceInput, on_trace_answer, start};
pub use stats::{SentTrace, sent_between};
pub use store::{StoredSigned, TraceStore};
pub use views::{MAX_LIST, incoming, list, show};

/// Attempts to reach a member with a request or a reviewed answer before giving up.
const MAX_ATTEMPTS: u32 = 720;

/// Why a trace could not be started or a review applied.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such trace.
    #[error("no such trace")]
    NotFound,
    /// The request is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn field(field: &str, message: impl Into<String>) -> TraceError {
    TraceError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

fn parse_trace_id(text: &str) -> Result<[u8; 16], TraceError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text.trim(), &mut id)
        .map_err(|_| field("id", "a trace id is 32 hexadecimal characters"))?;
    Ok(id)
}

pub(crate) fn check_text(
    name: &str,
    value: &str,
    required: bool,
    max: usize,
) -> Result<(), TraceError> {
    if required && value.trim().is_empty() {
        return Err(field(name, "is required"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(field(
            name,
            format!("is {chars} characters long; at most {max} are allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(field(name, "must not contain control characters"));
    }
    Ok(())
}

/// Writes an audit record. A request or disclosure whose record cannot be written does not
/// cross the border: callers stop on the error.
pub(crate) fn audit(
    node: &FirearmsNode,
    direction: Direction,
    action: &str,
    peer: BureauId,
    subject: &str,
    details: Value,
) -> Result<(), StoreError> {
    let country = node.country_of(&peer);
    node.audit
        .record(Event {
            direction,
            action,
            peer,
            peer_country: &country,
            subject,
            details,
        })
        .map(|_| ())
        .inspect_err(|e| tracing::error!("AUDIT LOG WRITE FAILED: {e}"))
}
