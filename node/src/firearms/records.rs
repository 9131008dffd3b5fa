//! This node's own firearm records: storage in the `firearm_records` tree (key: the random
//! 16-byte record reference, value: the validated record as JSON with its timestamps), the
//! digests that announce them, and the record's API form.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_firearms::{
    FirearmInput, FirearmRecord, Normalised, ReferenceTable, clean_unknown, confusable_fold,
    normalise_serial,
    record::{FieldError, HistoryInput},
};
use striae_protocol::firearm::{DigestKey, DigestStatus, FirearmDigest, RecordRef};

use crate::{notices::rfc3339, store::StoreError};

/// Name of the records tree.
pub const RECORDS_TREE: &str = "firearm_records";

/// A record as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The validated record.
    pub record: FirearmRecord,
    /// When it was created, ms since the epoch.
    pub created_at_ms: u64,
    /// When it last changed.
    pub updated_at_ms: u64,
}

impl StoredRecord {
    /// Decodes a stored value.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(RECORDS_TREE, e))
    }

    /// Encodes for storage.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain structs and strings to JSON cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A fresh random record reference.
pub fn new_ref() -> RecordRef {
    RecordRef(rand::random())
}

/// The make as digests name it: the reference table's id when the make is known, else the
/// cleaned text, marked so that it can never equal an id.
pub fn make_key(make: &Normalised) -> String {
    match &make.id {
        Some(id) => id.clone(),
        None => format!("unknown:{}", make.canonical),
    }
}

/// Make keys a query tries: the table's reading, and the cleaned text as such, so that a
/// record written when the make was still unknown is found after an addition taught it.
pub fn query_make_keys(table: &ReferenceTable, raw_make: &str) -> Vec<String> {
    let primary = make_key(&table.normalise_make(raw_make));
    let raw = format!("unknown:{}", clean_unknown(raw_make));
    if primary == raw {
        vec![primary]
    } else {
        vec![primary, raw]
    }
}

/// The (exact, confusable) digests of a make key and a raw serial; `None` for a serial with
/// no letters or digits.
pub fn query_digests(
    key: &DigestKey,
    make_key: &str,
    serial: &str,
) -> Option<([u8; 16], [u8; 16])> {
    let normalised = normalise_serial(serial).ok()?;
    Some((
        key.exact(make_key, &normalised),
        key.confusable(make_key, &confusable_fold(&normalised)),
    ))
}

/// The digest announcing a record, or `None` when its status is not announced (recovered,
/// closed).
pub fn digest_of(key: &DigestKey, record: &FirearmRecord, id: RecordRef) -> Option<FirearmDigest> {
    let status = DigestStatus::parse(record.status.as_str())?;
    let make = make_key(&record.make.normalised);
    Some(FirearmDigest {
        exact: key.exact(&make, &record.serial.normalised),
        confusable: key.confusable(&make, &record.serial.confusable),
        status,
        record_ref: id,
    })
}

/// All field errors of a record as one line, and the first field, for a 400 answer.
pub fn describe_errors(errors: &[FieldError]) -> (String, String) {
    let field = errors
        .first()
        .map_or_else(|| "body".to_string(), |e| e.field.clone());
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    (field, message)
}

fn reference_json(n: &Normalised) -> Value {
    let mut v = json!({"id": n.id, "known": n.known});
    if n.ambiguous {
        v["ambiguous"] = json!(true);
    }
    if !n.suggestions.is_empty() {
        v["suggestions"] = json!(n.suggestions);
    }
    v
}

/// The record as the API shows it (and as a trace answer discloses it).
pub fn record_view(id: RecordRef, stored: &StoredRecord) -> Value {
    let r = &stored.record;
    json!({
        "id": id.to_hex(),
        "make": r.make.normalised.canonical,
        "model": r.model.normalised.canonical,
        "caliber": r.caliber.normalised.canonical,
        "type": r.firearm_type.normalised.canonical,
        "serial": r.serial.normalised,
        "status": r.status.as_str(),
        "announced": r.status.is_active(),
        "entered": {
            "make": r.make.entered,
            "model": r.model.entered,
            "caliber": r.caliber.entered,
            "type": r.firearm_type.entered,
            "serial": r.serial.entered,
        },
        "reference": {
            "make": reference_json(&r.make.normalised),
            "model": reference_json(&r.model.normalised),
            "caliber": reference_json(&r.caliber.normalised),
            "type": reference_json(&r.firearm_type.normalised),
        },
        "unknown": r.flags,
        "country_of_manufacture": r.manufacture_country(),
        "make_country": r.make_country,
        "importer": r.importer,
        "markings": r.markings,
        "event_date": r.event_date,
        "case_ref": r.case_ref,
        "reporting_agency": r.reporting_agency,
        "notes": r.notes,
        "history": r.history,
        "created_at": rfc3339(stored.created_at_ms),
        "updated_at": rfc3339(stored.updated_at_ms),
    })
}

/// The input a stored record was made from, as entered, so that a change can be applied to
/// it and the whole record validated again.
pub fn input_of(record: &FirearmRecord) -> FirearmInput {
    FirearmInput {
        make: record.make.entered.clone(),
        model: record.model.entered.clone(),
        caliber: record.caliber.entered.clone(),
        serial: record.serial.entered.clone(),
        firearm_type: record.firearm_type.entered.clone(),
        status: record.status.as_str().to_string(),
        country_of_manufacture: record.country_of_manufacture.clone(),
        importer: record.importer.clone(),
        markings: record.markings.clone(),
        event_date: record.event_date.map(|d| d.to_string()),
        case_ref: record.case_ref.clone(),
        notes: record.notes.clone(),
        reporting_agency: record.reporting_agency.clone(),
        history: Some(
            record
                .history
                .iter()
                .map(|h| HistoryInput {
                    date: h.date.to_string(),
                    event: h.event.as_str().to_string(),
                    party: h.party.clone(),
                    country: h.country.clone(),
                    document_ref: h.document_ref.clone(),
                })
                .collect(),
        ),
    }
}
