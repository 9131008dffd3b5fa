//! The devnet's example case, opened at the first member once what it needs has arrived: the
//! Walther the second member records as stolen (the devnet's demo firearm), recovered here
//! with a cartridge case whose same-gun mate the second member holds. It shows a hit, a trace
//! with the ownership history, a confirmed ballistic link and the indicators they raise.

use std::time::Duration;

use serde_json::json;

use super::{CaseInput, CasesNode};
use crate::ballistics::{self, Probe, SearchRequest};

/// How long the seed waits for the records and exhibits to arrive.
const PATIENCE: Duration = Duration::from_secs(180);

/// Opens the example case in the background (once: not when the node holds a case already).
pub fn seed_devnet(node: &CasesNode) {
    let node = node.clone();
    tokio::spawn(async move {
        if node.tree.iter().next().is_some() {
            return;
        }
        let Some(exhibit) = wait_until_ready(&node).await else {
            tracing::warn!("devnet: the example case was not opened (its data never arrived)");
            return;
        };
        let input: Result<CaseInput, _> = serde_json::from_value(json!({
            "case_ref": format!("{}-2025-0815", node.country),
            "title": "Pistol recovered after a shooting, Strasbourg",
            "recovered": {"date": "2025-11-20", "country": node.country, "place": "Strasbourg",
                "lat": 48.58, "lon": 7.75},
            "firearm": {"make": "Walther", "model": "P99", "caliber": "9x19", "serial": "WK1O5733",
                "type": "pistol"},
            "exhibits": [exhibit],
        }));
        let opened = match input {
            Ok(input) => node.create(input).await.map(|c| c["id"].clone()),
            Err(e) => Err(super::field("case", e.to_string())),
        };
        match opened {
            Ok(id) => tracing::info!(case = %id, "devnet: example case opened"),
            Err(e) => tracing::warn!("devnet: the example case was not opened: {e}"),
        }
    });
}

/// Waits until the demo firearm's digest and the mate's ballistic digest are here; this
/// node's exhibit of the first gun.
async fn wait_until_ready(node: &CasesNode) -> Option<String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let f = &node.firearms;
        let hit = f
            .firearms
            .check(f, "Walther", "WK1O5733")
            .iter()
            .any(|h| h.bureau_id != f.me.to_string());
        let ours = node
            .ballistics
            .ballistics
            .own_records()
            .ok()
            .and_then(|records| {
                records
                    .into_iter()
                    .find(|r| r.case_ref.ends_with("-1-1"))
                    .map(|r| r.id)
            });
        if let (true, Some(exhibit)) = (hit, ours)
            && mate_is_here(node, &exhibit).await
        {
            return Some(exhibit);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

/// Whether screening (no confirmation) ranks another member's digest first for `exhibit`.
async fn mate_is_here(node: &CasesNode, exhibit: &str) -> bool {
    let request = SearchRequest {
        limit: Some("1".into()),
        confirm: Some("0".into()),
        ..SearchRequest::default()
    };
    let found = ballistics::search(&node.ballistics, Probe::Stored(exhibit.into()), request).await;
    found.is_ok_and(|r| {
        r.candidates
            .first()
            .is_some_and(|c| c.held.origin != node.me)
    })
}
