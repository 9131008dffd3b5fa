//! Cross-border queries for partial or obliterated serials: the requester's signed query (a
//! make and a serial pattern with `?` and `*`, under a case and a reason) and each holder's
//! signed answer (its matching records, no match, refused, held for review, or rate limited).
//! Keyed serial digests cannot answer a pattern, so the pattern itself goes to the holders,
//! who match it against their own records under their own policy.

use bincode::{Decode, Encode};

use crate::{firearm::RecordRef, identity::BureauId, signed::SignedKind};

/// Longest short text field of a query (make, model, caliber, pattern, case reference).
pub const MAX_QUERY_FIELD_CHARS: usize = 200;
/// Longest stated reason or note.
pub const MAX_QUERY_REASON_CHARS: usize = 2_000;
/// Most matches one answer carries (a holder's own cap may be lower).
pub const MAX_QUERY_MATCHES: usize = 200;
/// Largest encoded answer.
pub const MAX_QUERY_RESPONSE_BYTES: usize = 256 * 1024;

/// "Which of your records of this make have a serial like this?", signed by the requester.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryRequest {
    /// Random id chosen by the requester.
    pub query_id: [u8; 16],
    /// The requesting member.
    pub requester: BureauId,
    /// When it was asked, ms since the epoch.
    pub issued_at_ms: u64,
    /// Make as the requester wrote it (the holder normalises it with its own table).
    pub make: String,
    /// The serial pattern as written: letters and digits, `?` for one unknown character,
    /// `*` for an unknown run.
    pub serial_pattern: String,
    /// Model, or empty.
    pub model: String,
    /// Caliber, or empty.
    pub caliber: String,
    /// The requester's case reference.
    pub case_ref: String,
    /// Why the query is made.
    pub reason: String,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

/// A query that breaks a bound; the payload names the offending field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryFieldError(pub &'static str);

impl QueryRequest {
    /// Checks the bounds a query must keep; names the offending field.
    pub fn check(&self) -> Result<(), QueryFieldError> {
        let short = [
            ("make", &self.make),
            ("serial_pattern", &self.serial_pattern),
            ("model", &self.model),
            ("caliber", &self.caliber),
            ("case_ref", &self.case_ref),
        ];
        for (field, value) in short {
            if value.chars().count() > MAX_QUERY_FIELD_CHARS {
                return Err(QueryFieldError(field));
            }
        }
        if self.reason.chars().count() > MAX_QUERY_REASON_CHARS {
            return Err(QueryFieldError("reason"));
        }
        Ok(())
    }
}

impl SignedKind for QueryRequest {
    const DOMAIN: &'static [u8] = b"striae-query-request-v1:";
    const MAX_BYTES: usize = 16 * 1024;
    fn signer(&self) -> BureauId {
        self.requester
    }
    const ACTING_LAST: bool = true;
    fn acting(&self) -> &str {
        &self.acting
    }
}

/// What the holder answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum QueryOutcome {
    /// Records match: they come with the answer.
    Matches,
    /// No record matches.
    NoMatch,
    /// The holder's reviewer refused to disclose.
    Refused,
    /// The holder holds the query for review; a final answer follows.
    PendingReview,
    /// The requester asked more often than the holder's policy allows; ask again later.
    RateLimited,
}

impl QueryOutcome {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryOutcome::Matches => "matches",
            QueryOutcome::NoMatch => "no_match",
            QueryOutcome::Refused => "refused",
            QueryOutcome::PendingReview => "pending_review",
            QueryOutcome::RateLimited => "rate_limited",
        }
    }

    /// Whether no other answer follows this one.
    pub fn is_final(self) -> bool {
        !matches!(self, QueryOutcome::PendingReview)
    }
}

/// One matching record, as much of it as identifies the firearm (the ownership history is
/// disclosed by a trace, not by a query).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryMatch {
    /// The record at the holder (to trace it).
    pub record_ref: RecordRef,
    /// Make as recorded.
    pub make: String,
    /// Model, or empty.
    pub model: String,
    /// Caliber, or empty.
    pub caliber: String,
    /// The full serial as recorded.
    pub serial: String,
    /// The record's status (`stolen`, `lost`, ...).
    pub status: String,
    /// Whether the pattern matched the serial as written (`true`) or only once commonly
    /// misread characters were folded together (`false`).
    pub exact: bool,
}

/// The holder's signed answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryResponse {
    /// The query answered.
    pub query_id: [u8; 16],
    /// The holder.
    pub responder: BureauId,
    /// The requester it answers.
    pub requester: BureauId,
    /// When it was answered.
    pub answered_at_ms: u64,
    /// The answer.
    pub outcome: QueryOutcome,
    /// The matching records (only with `Matches`).
    pub matches: Vec<QueryMatch>,
    /// Whether more records matched than the holder discloses in one answer.
    pub truncated: bool,
    /// A note from the holder (why it refused, when to ask again), possibly empty.
    pub note: String,
}

impl QueryResponse {
    /// Checks the bounds an answer must keep; names the offending field.
    pub fn check(&self) -> Result<(), QueryFieldError> {
        if self.matches.len() > MAX_QUERY_MATCHES {
            return Err(QueryFieldError("matches"));
        }
        if self.outcome != QueryOutcome::Matches && !self.matches.is_empty() {
            return Err(QueryFieldError("matches"));
        }
        if self.note.chars().count() > MAX_QUERY_REASON_CHARS {
            return Err(QueryFieldError("note"));
        }
        let too_long = |s: &String| s.chars().count() > MAX_QUERY_FIELD_CHARS;
        if self.matches.iter().any(|m| {
            too_long(&m.make)
                || too_long(&m.model)
                || too_long(&m.caliber)
                || too_long(&m.serial)
                || too_long(&m.status)
        }) {
            return Err(QueryFieldError("matches"));
        }
        Ok(())
    }
}

impl SignedKind for QueryResponse {
    const DOMAIN: &'static [u8] = b"striae-query-response-v1:";
    const MAX_BYTES: usize = MAX_QUERY_RESPONSE_BYTES;
    fn signer(&self) -> BureauId {
        self.responder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> QueryRequest {
        QueryRequest {
            query_id: [1; 16],
            requester: BureauId([2; 32]),
            issued_at_ms: 1_700_000_000_000,
            make: "Glock".into(),
            serial_pattern: "12?45*".into(),
            model: String::new(),
            caliber: String::new(),
            case_ref: "case-1".into(),
            reason: "obliterated serial, partly restored".into(),
            acting: "4f1c".into(),
        }
    }

    #[test]
    fn check_names_the_offending_field() {
        assert_eq!(request().check(), Ok(()));
        let mut long = request();
        long.serial_pattern = "1".repeat(MAX_QUERY_FIELD_CHARS + 1);
        assert_eq!(long.check(), Err(QueryFieldError("serial_pattern")));
        let mut long = request();
        long.reason = "x".repeat(MAX_QUERY_REASON_CHARS + 1);
        assert_eq!(long.check().unwrap_err().to_string(), "reason");
    }

    #[test]
    fn an_answer_without_matches_carries_none() {
        let m = QueryMatch {
            record_ref: RecordRef([0; 16]),
            make: "Glock".into(),
            model: "17".into(),
            caliber: "9x19".into(),
            serial: "12345X".into(),
            status: "stolen".into(),
            exact: true,
        };
        let mut answer = QueryResponse {
            query_id: [1; 16],
            responder: BureauId([3; 32]),
            requester: BureauId([2; 32]),
            answered_at_ms: 1,
            outcome: QueryOutcome::Matches,
            matches: vec![m],
            truncated: false,
            note: String::new(),
        };
        assert_eq!(answer.check(), Ok(()));
        answer.outcome = QueryOutcome::NoMatch;
        assert_eq!(answer.check(), Err(QueryFieldError("matches")));
        assert!(!QueryOutcome::PendingReview.is_final());
        assert!(QueryOutcome::RateLimited.is_final());
    }
}
