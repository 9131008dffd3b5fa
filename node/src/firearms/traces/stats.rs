//! The traces this node sent, as the statistics read them: when each was started, what it
//! asked about, and the records members disclosed in their verified answers.

use striae_protocol::trace::TraceOutcome;

use super::store::{OUT_TREE, Outgoing, decode, outcome_of};
use crate::{firearms::FirearmsNode, store::StoreError};

/// A trace sent, with what its answers disclosed.
#[derive(Clone, Debug)]
pub struct SentTrace {
    /// When it was started (ms since the epoch).
    pub created_at_ms: u64,
    /// The make asked about, as entered.
    pub make: String,
    /// The serial asked about, as entered.
    pub serial: String,
    /// The records found, as JSON in each holder's API form (history included).
    pub disclosed: Vec<String>,
}

/// The traces started in `[from_ms, to_ms)`, with the records their verified `found`
/// answers disclosed.
pub fn sent_between(
    node: &FirearmsNode,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<SentTrace>, StoreError> {
    let traces = &node.firearms.traces;
    let mut out = Vec::new();
    for item in traces.out.iter() {
        let (key, value) = item?;
        let Ok(id) = <[u8; 16]>::try_from(key.as_ref()) else {
            continue;
        };
        let trace: Outgoing = decode(OUT_TREE, &value)?;
        if !(from_ms..to_ms).contains(&trace.created_at_ms) {
            continue;
        }
        let mut disclosed = Vec::new();
        for target in &trace.targets {
            let answers = traces.answers_of(&id, target)?;
            let found = answers
                .last()
                .and_then(|a| outcome_of(node, &a.message))
                .filter(|r| r.outcome == TraceOutcome::Found);
            disclosed.extend(found.into_iter().flat_map(|r| r.records).map(|r| r.json));
        }
        out.push(SentTrace {
            created_at_ms: trace.created_at_ms,
            make: trace.make,
            serial: trace.serial,
            disclosed,
        });
    }
    Ok(out)
}
