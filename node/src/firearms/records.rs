//! This node's own firearm records: storage in the `firearm_records` tree, the digests that
//! announce them, and the record's API form.
//!
//! Storage: key = a sequence number (u64 big-endian), so bulk imports append to the end of
//! the tree instead of rewriting pages all over it; value = the record as entered (JSON) with
//! its timestamps, validated and normalised again when read, so records benefit from
//! reference additions made after they were written. The record reference other members see
//! is the sequence number encrypted under a key that never leaves the node (a 128-bit Feistel
//! permutation), so it stays opaque: it reveals neither order nor count.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use striae_firearms_lib::{
    FirearmInput, FirearmRecord, Normalised, ReferenceTable, clean_unknown, confusable_fold,
    normalise_serial,
    record::{FieldError, HistoryInput},
    validate_input,
};
use striae_protocol::firearm::{DigestKey, DigestStatus, FirearmDigest, RecordRef};

use crate::{
    notices::rfc3339,
    store::{Keyspace, Store, StoreError},
};

/// Name of the records tree.
pub const RECORDS_TREE: &str = "firearm_records";

/// Name of the tree holding the reference key.
pub const META_TREE: &str = "firearm_meta";

/// A record, validated, with its timestamps.
#[derive(Clone, Debug)]
pub struct StoredRecord {
    /// The validated record.
    pub record: FirearmRecord,
    /// When it was created, ms since the epoch.
    pub created_at_ms: u64,
    /// When it last changed.
    pub updated_at_ms: u64,
}

/// What is written to disk.
#[derive(Serialize, Deserialize)]
struct StoredForm<'a> {
    input: std::borrow::Cow<'a, FirearmInput>,
    created_at_ms: u64,
    updated_at_ms: u64,
    /// The record's identity (`identity::identity_of`), hex; absent when it has none, and in
    /// records stored before identities existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
}

/// Only the identity of a stored value, read without the rest.
#[derive(Deserialize)]
struct IdentityOnly {
    #[serde(default)]
    identity: Option<String>,
}

/// The identity kept with a stored record: `Ok(None)` when the value keeps none (no serial,
/// or written before identities were kept; `identity::Identities::open` works those out).
pub fn kept_identity(bytes: &[u8]) -> Result<Option<[u8; 16]>, StoreError> {
    let only: IdentityOnly =
        serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(RECORDS_TREE, e))?;
    only.identity
        .map(|hex_text| {
            let mut id = [0u8; 16];
            hex::decode_to_slice(&hex_text, &mut id).map_err(|_| {
                StoreError::corrupt(RECORDS_TREE, "an identity is not 32 hex digits")
            })?;
            Ok(id)
        })
        .transpose()
}

/// The record as entered, from its stored value (not validated: an export gives back what
/// was stored).
pub fn stored_input(bytes: &[u8]) -> Result<FirearmInput, StoreError> {
    let form: StoredForm<'static> =
        serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(RECORDS_TREE, e))?;
    Ok(form.input.into_owned())
}

impl StoredRecord {
    /// Decodes a stored value, validating it against `table`.
    pub fn decode(bytes: &[u8], table: &ReferenceTable) -> Result<Self, StoreError> {
        let form: StoredForm<'static> =
            serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(RECORDS_TREE, e))?;
        let record = validate_input(&form.input, table)
            .map_err(|errors| StoreError::corrupt(RECORDS_TREE, describe_errors(&errors).1))?;
        Ok(StoredRecord {
            record,
            created_at_ms: form.created_at_ms,
            updated_at_ms: form.updated_at_ms,
        })
    }

    /// Encodes for storage.
    pub fn encode(&self) -> Vec<u8> {
        encode_input(
            &input_of(&self.record),
            self.created_at_ms,
            self.updated_at_ms,
            super::identity::identity_of(&self.record),
        )
    }
}

/// The stored form of a record as entered.
pub fn encode_input(
    input: &FirearmInput,
    created_at_ms: u64,
    updated_at_ms: u64,
    identity: Option<[u8; 16]>,
) -> Vec<u8> {
    let form = StoredForm {
        input: std::borrow::Cow::Borrowed(input),
        created_at_ms,
        updated_at_ms,
        identity: identity.map(hex::encode),
    };
    // Serialising plain structs and strings to JSON cannot fail.
    serde_json::to_vec(&form).unwrap_or_default()
}

/// The storage key of sequence number `n`.
pub fn store_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Turns sequence numbers into opaque record references and back: a four-round Feistel
/// network over 128 bits with keyed BLAKE3 as the round function (a pseudo-random
/// permutation), keyed by a random secret kept in the node's database.
#[derive(Clone)]
pub struct RefCipher([u8; 32]);

impl RefCipher {
    /// Loads the node's key from the meta tree, creating it on first use.
    pub fn load(meta: &Keyspace, store: &Store) -> Result<Self, StoreError> {
        if let Some(bytes) = meta.get(b"ref_key")? {
            let key = <[u8; 32]>::try_from(bytes.as_ref())
                .map_err(|_| StoreError::corrupt(META_TREE, "ref_key is not 32 bytes"))?;
            return Ok(RefCipher(key));
        }
        let key: [u8; 32] = rand::random();
        meta.insert(b"ref_key", key)?;
        store.flush_blocking()?;
        Ok(RefCipher(key))
    }

    fn round(&self, i: u8, half: &[u8; 8]) -> [u8; 8] {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&[i]);
        hasher.update(half);
        let mut out = [0u8; 8];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
        out
    }

    fn xor(a: [u8; 8], b: [u8; 8]) -> [u8; 8] {
        std::array::from_fn(|i| a[i] ^ b[i])
    }

    /// The reference of sequence number `n`.
    pub fn encrypt(&self, n: u64) -> RecordRef {
        let (mut left, mut right) = ([0u8; 8], n.to_be_bytes());
        for i in 0..4 {
            let next = Self::xor(left, self.round(i, &right));
            left = right;
            right = next;
        }
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&left);
        out[8..].copy_from_slice(&right);
        RecordRef(out)
    }

    /// The sequence number of a reference, or `None` for one this node never made.
    pub fn decrypt(&self, r: &RecordRef) -> Option<u64> {
        let mut left = <[u8; 8]>::try_from(&r.0[..8]).ok()?;
        let mut right = <[u8; 8]>::try_from(&r.0[8..]).ok()?;
        for i in (0..4).rev() {
            let previous = Self::xor(right, self.round(i, &left));
            right = left;
            left = previous;
        }
        (left == [0u8; 8]).then(|| u64::from_be_bytes(right))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_a_permutation_of_sequence_numbers() {
        let cipher = RefCipher([7; 32]);
        let mut seen = std::collections::HashSet::new();
        for n in [0u64, 1, 2, 3, 1_000_000, u64::MAX] {
            let r = cipher.encrypt(n);
            assert_eq!(cipher.decrypt(&r), Some(n));
            assert!(seen.insert(r));
        }
        // Neighbours look unrelated, and a made-up reference names nothing.
        assert_ne!(cipher.encrypt(1).0[..8], cipher.encrypt(2).0[..8]);
        assert_eq!(cipher.decrypt(&RecordRef([0xab; 16])), None);
        assert_ne!(RefCipher([8; 32]).encrypt(1), cipher.encrypt(1));
    }
}
