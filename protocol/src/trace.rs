//! Firearm traces between members: the requester's signed request (what was found, under
//! which case and why) and the holder's signed answer (found with the record and its history,
//! not found, refused, or held for review), so that each side can prove what the other said.

use bincode::{Decode, Encode};

use crate::{firearm::RecordRef, identity::BureauId, signed::SignedKind};

/// Longest text field of a trace request (make, model, serial, case reference...).
pub const MAX_TRACE_FIELD_CHARS: usize = 200;
/// Longest stated reason.
pub const MAX_TRACE_REASON_CHARS: usize = 2_000;
/// Most record references a request names.
pub const MAX_TRACE_RECORD_REFS: usize = 64;
/// Most records an answer carries.
pub const MAX_TRACE_RECORDS: usize = 64;
/// Largest encoded trace answer.
pub const MAX_TRACE_RESPONSE_BYTES: usize = 1 << 20;

/// "We hold this firearm; what do you know of it?", signed by the requester.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TraceRequest {
    /// Random id chosen by the requester.
    pub trace_id: [u8; 16],
    /// The requesting member.
    pub requester: BureauId,
    /// When it was asked, ms since the epoch.
    pub issued_at_ms: u64,
    /// Make as the requester wrote it (the holder normalises it with its own table).
    pub make: String,
    /// Model, or empty.
    pub model: String,
    /// Caliber, or empty.
    pub caliber: String,
    /// Serial as written.
    pub serial: String,
    /// The requester's case reference.
    pub case_ref: String,
    /// Why the firearm is traced.
    pub reason: String,
    /// The holder's records the requester's digests pointed to (may be empty, e.g. for the
    /// country of manufacture).
    pub record_refs: Vec<RecordRef>,
    /// The requesting bureau's reference for the user who asked (`acting` module): empty when
    /// the node acted on its own. Last, so bytes signed before it existed still read.
    pub acting: String,
}

/// A trace request that breaks a bound. Its text is the name of the offending field, as the
/// request names it (`make`, `reason`, `record_refs`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceRequestError {
    /// A short text field (`make`, `model`, `caliber`, `serial` or `case_ref`) is longer than
    /// `MAX_TRACE_FIELD_CHARS`; the payload is the field's name.
    #[error("{0}")]
    FieldTooLong(&'static str),
    /// The stated reason is longer than `MAX_TRACE_REASON_CHARS`.
    #[error("reason")]
    ReasonTooLong,
    /// The request names more than `MAX_TRACE_RECORD_REFS` records.
    #[error("record_refs")]
    TooManyRecordRefs,
}

impl TraceRequestError {
    /// The name of the offending field.
    pub fn field(self) -> &'static str {
        match self {
            TraceRequestError::FieldTooLong(field) => field,
            TraceRequestError::ReasonTooLong => "reason",
            TraceRequestError::TooManyRecordRefs => "record_refs",
        }
    }
}

impl TraceRequest {
    /// Checks the bounds a request must keep; names the offending field.
    pub fn check(&self) -> Result<(), TraceRequestError> {
        let short = [
            ("make", &self.make),
            ("model", &self.model),
            ("caliber", &self.caliber),
            ("serial", &self.serial),
            ("case_ref", &self.case_ref),
        ];
        for (field, value) in short {
            if value.chars().count() > MAX_TRACE_FIELD_CHARS {
                return Err(TraceRequestError::FieldTooLong(field));
            }
        }
        if self.reason.chars().count() > MAX_TRACE_REASON_CHARS {
            return Err(TraceRequestError::ReasonTooLong);
        }
        if self.record_refs.len() > MAX_TRACE_RECORD_REFS {
            return Err(TraceRequestError::TooManyRecordRefs);
        }
        Ok(())
    }
}

impl SignedKind for TraceRequest {
    const DOMAIN: &'static [u8] = b"striae-trace-request-v1:";
    const MAX_BYTES: usize = 64 * 1024;
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
pub enum TraceOutcome {
    /// The holder has the record: it comes with its history.
    Found,
    /// The holder has no matching record.
    NotFound,
    /// The holder's reviewer refused to disclose.
    Refused,
    /// The holder holds the request for review; a final answer follows.
    PendingReview,
}

impl TraceOutcome {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceOutcome::Found => "found",
            TraceOutcome::NotFound => "not_found",
            TraceOutcome::Refused => "refused",
            TraceOutcome::PendingReview => "pending_review",
        }
    }
}

/// One disclosed record: its reference and the record with its history, as the holder's API
/// shows it (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TracedRecord {
    /// The record at the holder.
    pub record_ref: RecordRef,
    /// The record, as JSON in the holder's API form (history included).
    pub json: String,
}

/// The holder's signed answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TraceResponse {
    /// The trace answered.
    pub trace_id: [u8; 16],
    /// The holder.
    pub responder: BureauId,
    /// The requester it answers.
    pub requester: BureauId,
    /// When it was answered.
    pub answered_at_ms: u64,
    /// The answer.
    pub outcome: TraceOutcome,
    /// The disclosed records (only with `Found`).
    pub records: Vec<TracedRecord>,
    /// A note from the holder (e.g. why it refused), possibly empty.
    pub note: String,
}

impl SignedKind for TraceResponse {
    const DOMAIN: &'static [u8] = b"striae-trace-response-v1:";
    const MAX_BYTES: usize = MAX_TRACE_RESPONSE_BYTES;
    fn signer(&self) -> BureauId {
        self.responder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TraceRequest {
        TraceRequest {
            trace_id: [1; 16],
            requester: BureauId([2; 32]),
            issued_at_ms: 1_700_000_000_000,
            make: "Glock".into(),
            model: "17".into(),
            caliber: "9x19".into(),
            serial: "ABC123".into(),
            case_ref: "case-1".into(),
            reason: "recovered at a scene".into(),
            record_refs: Vec::new(),
            acting: "4f1c".into(),
        }
    }

    #[test]
    fn check_names_the_offending_field() {
        assert_eq!(request().check(), Ok(()));
        let mut long = request();
        long.serial = "x".repeat(MAX_TRACE_FIELD_CHARS + 1);
        let err = long.check().unwrap_err();
        assert_eq!(err, TraceRequestError::FieldTooLong("serial"));
        assert_eq!(err.to_string(), "serial");
        let mut long = request();
        long.reason = "x".repeat(MAX_TRACE_REASON_CHARS + 1);
        assert_eq!(long.check().unwrap_err().to_string(), "reason");
        let mut many = request();
        many.record_refs = vec![RecordRef([0; 16]); MAX_TRACE_RECORD_REFS + 1];
        let err = many.check().unwrap_err();
        assert_eq!(
            (err.field(), err.to_string()),
            ("record_refs", "record_refs".into())
        );
    }

    #[test]
    fn the_acting_reference_is_signed_bounded_and_optional_in_old_bytes() {
        use crate::{
            SignedError, SignedMessage,
            identity::{NetworkId, Signer},
        };
        let signer = Signer::from_seed([9; 32]);
        let net = NetworkId::from_name("acting");
        let mut asked = request();
        asked.requester = signer.bureau();
        let signed = SignedMessage::sign(&asked, &signer, &net).expect("signs");
        let opened: TraceRequest = signed.open(&net).expect("opens");
        assert_eq!(opened.acting, "4f1c");

        // A reference over the bound is neither signed here nor accepted from elsewhere.
        asked.acting = "x".repeat(65);
        assert!(matches!(
            SignedMessage::sign(&asked, &signer, &net),
            Err(SignedError::Acting(_))
        ));
        let bytes = crate::codec::encode(&asked, 64 * 1024).expect("encodes");
        let forged = SignedMessage {
            signature: signer.sign(&crate::identity::signing_message(
                TraceRequest::DOMAIN,
                &net,
                &bytes,
            )),
            bytes,
        };
        assert!(matches!(
            forged.open::<TraceRequest>(&net),
            Err(SignedError::Acting(_))
        ));

        // Bytes signed before the field existed: everything but its length and text.
        asked.acting = String::new();
        let mut old = crate::codec::encode(&asked, 64 * 1024).expect("encodes");
        old.truncate(old.len() - 8);
        let signed_then = SignedMessage {
            signature: signer.sign(&crate::identity::signing_message(
                TraceRequest::DOMAIN,
                &net,
                &old,
            )),
            bytes: old,
        };
        assert_eq!(
            signed_then.open::<TraceRequest>(&net).expect("opens"),
            asked
        );
    }
}
