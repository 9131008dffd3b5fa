//! The API's views of operations and seizure records, the report that adds up every
//! participant's seizures, and the seized firearms of an operation (with the record each
//! names at its author), which is where a case can pick an operation's guns up.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use striae_protocol::{
    BureauId,
    firearm::RecordRef,
    operation::{ItemCategory, Operation, OperationId},
};

use super::{
    Operations, OperationsNode,
    store::{HeldOperation, HeldSeizure},
};
use crate::{notices::rfc3339, store::StoreError};

/// Most seizure records a report lists (its totals count them all; the rest are paged
/// through `GET /v1/operations/{id}/seizures`).
pub const REPORT_SEIZURES: usize = 1_000;

/// A member's country: from this node's roster, else as the coordinator named it.
fn country(node: &OperationsNode, op: &Operation, who: &BureauId) -> String {
    node.roster
        .member(who)
        .map(|m| m.country.clone())
        .or_else(|| {
            op.participants
                .iter()
                .find(|p| p.bureau == *who)
                .map(|p| p.country.clone())
        })
        .unwrap_or_else(|| "??".into())
}

/// An operation in a list.
pub fn summary_view(node: &OperationsNode, held: &HeldOperation) -> Result<Value, StoreError> {
    let op = &held.op;
    let role = if op.coordinator == node.me {
        "coordinator"
    } else {
        "participant"
    };
    Ok(json!({
        "id": op.id.to_hex(),
        "name": op.name,
        "coordinator": country(node, op, &op.coordinator),
        "role": role,
        "joined": node.operations.held.has_joined(&op.id, &node.me)?,
        "participants": op
            .participants
            .iter()
            .map(|p| country(node, op, &p.bureau))
            .collect::<Vec<_>>(),
        "starts_at": rfc3339(op.starts_at_ms),
        "ends_at": rfc3339(op.ends_at_ms),
        "version": op.version,
        "seizure_count": node.operations.held.seizure_count(&op.id),
    }))
}

/// An operation with its description and who joined.
pub fn operation_view(node: &OperationsNode, held: &HeldOperation) -> Result<Value, StoreError> {
    let op = &held.op;
    let joined = node.operations.held.joined(held)?;
    let mut view = summary_view(node, held)?;
    view["description"] = json!(op.description);
    view["coordinator_bureau_id"] = json!(op.coordinator.to_string());
    view["created_at"] = json!(rfc3339(op.issued_at_ms));
    view["participants"] = op
        .participants
        .iter()
        .map(|p| {
            let at = joined.get(&p.bureau);
            json!({
                "country": country(node, op, &p.bureau),
                "bureau_id": p.bureau.to_string(),
                "coordinator": p.bureau == op.coordinator,
                "joined": at.is_some(),
                "joined_at": at.map(|ms| rfc3339(*ms)),
            })
        })
        .collect();
    Ok(view)
}

/// A seizure record, with its author's signature.
pub fn seizure_view(node: &OperationsNode, op: &Operation, held: &HeldSeizure) -> Value {
    let s = &held.seizure;
    let items: Vec<Value> = s
        .items
        .iter()
        .map(|i| {
            json!({
                "category": i.category.as_str(),
                "count": i.count,
                "description": i.description,
                "firearm_id": i.firearm_ref.map(|r| r.to_hex()),
            })
        })
        .collect();
    json!({
        "id": hex::encode(s.seizure_id),
        "operation": s.operation.to_hex(),
        "country": country(node, op, &s.author),
        "bureau_id": s.author.to_string(),
        "date": s.date,
        "place": s.place,
        "items": items,
        "arrests": s.arrests,
        "recorded_at": rfc3339(s.recorded_at_ms),
        "signature": held.signed.signature_hex(),
    })
}

fn zero_totals() -> BTreeMap<&'static str, u64> {
    ItemCategory::ALL.iter().map(|c| (c.as_str(), 0)).collect()
}

/// The report: items seized per category in all and per country, arrests, and the records
/// themselves (the first `REPORT_SEIZURES`).
pub fn report(node: &OperationsNode, held: &HeldOperation) -> Result<Value, StoreError> {
    let op = &held.op;
    let mut totals = zero_totals();
    let mut by_country: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut arrests = 0u64;
    let mut count = 0usize;
    let mut listed = Vec::new();
    node.operations.held.each_seizure(&op.id, |s| {
        let per_country = by_country
            .entry(country(node, op, &s.seizure.author))
            .or_insert_with(zero_totals);
        for item in &s.seizure.items {
            let name = item.category.as_str();
            *totals.entry(name).or_default() += u64::from(item.count);
            *per_country.entry(name).or_default() += u64::from(item.count);
        }
        arrests += u64::from(s.seizure.arrests);
        count += 1;
        if listed.len() < REPORT_SEIZURES {
            listed.push(seizure_view(node, op, &s));
        }
    })?;
    Ok(json!({
        "operation": op.id.to_hex(),
        "name": op.name,
        "totals": totals,
        "by_country": by_country,
        "arrests": arrests,
        "seizure_count": count,
        "seizures": listed,
        "seizures_truncated": count > REPORT_SEIZURES,
    }))
}

/// A firearm seized in an operation that names one of its author's firearm records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeizedFirearm {
    /// The participant that seized it (and holds the record).
    pub author: BureauId,
    /// The seizure record it is listed in.
    pub seizure_id: [u8; 16],
    /// The day of the seizure.
    pub date: String,
    /// The record at the author's node.
    pub firearm_ref: RecordRef,
    /// How many the line counts.
    pub count: u32,
    /// The line's description.
    pub description: String,
}

/// Every seized firearm of operation `id` that names a firearm record, in every
/// participant's seizure records: the hook for running an operation's guns through a case
/// (the author's node holds the record; a trace to it names it by `firearm_ref`).
pub fn seized_firearms(
    operations: &Operations,
    id: &OperationId,
) -> Result<Vec<SeizedFirearm>, StoreError> {
    let mut out = Vec::new();
    operations.held.each_seizure(id, |s| {
        for item in &s.seizure.items {
            if let (ItemCategory::Firearm, Some(firearm_ref)) = (item.category, item.firearm_ref) {
                out.push(SeizedFirearm {
                    author: s.seizure.author,
                    seizure_id: s.seizure.seizure_id,
                    date: s.seizure.date.clone(),
                    firearm_ref,
                    count: item.count,
                    description: item.description.clone(),
                });
            }
        }
    })?;
    Ok(out)
}
