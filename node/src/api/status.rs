//! `/v1/status` and `/v1/peers`: who this node is and how it sees the network.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, error::NoQuery, openapi::ObjectList};
use crate::{node::NodeHandle, notices::rfc3339};

/// The status routes.
pub(super) fn routes() -> OpenApiRouter<NodeHandle> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(peers))
}

/// `GET /v1/status`: who this node is and how it sees the network.
#[utoipa::path(
    get,
    path = "/status",
    tag = "status",
    responses((
        status = 200,
        description = "This node: `{bureau_id, country, name, network, peers_connected, \
            roster_size, feeds: {bureau_id: seq}, entries_held, equivocations: \
            [{bureau_id, country, seq}]}`",
        body = inline(Object)
    ))
)]
pub(super) async fn status(
    State(node): State<NodeHandle>,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let peers = node.net.peers().await.map_err(ApiError::internal)?;
    let feeds: BTreeMap<String, u64> = node
        .store
        .heads()?
        .into_iter()
        .map(|h| (h.origin.to_string(), h.seq))
        .collect();
    let equivocations: Vec<Value> = node
        .store
        .evidence()?
        .into_iter()
        .map(|(origin, seq)| {
            json!({"bureau_id": origin, "country": node.country_of(&origin), "seq": seq})
        })
        .collect();
    Ok(Json(json!({
        "bureau_id": node.me,
        "country": node.country,
        "name": node.name,
        "network": node.roster.network,
        "peers_connected": peers.iter().filter(|p| p.connected).count(),
        "roster_size": node.roster.members.len(),
        "feeds": feeds,
        "entries_held": node.store.entry_count()?,
        "equivocations": equivocations,
        "policies": policies(&node),
    })))
}

/// How this node answers other members' requests, and how many wait for a reviewer.
fn policies(node: &NodeHandle) -> Value {
    let firearms = &node.firearms.firearms;
    let waiting: BTreeMap<&str, usize> = firearms.queue_depths().into_iter().collect();
    let queries = firearms.query_policy();
    json!({
        "traces": {
            "policy": firearms.policy(),
            "waiting_for_review": waiting.get("trace_reviews"),
        },
        "queries": {
            "policy": queries.policy,
            "max_matches": queries.max_matches,
            "per_member_per_hour": queries.per_member_per_hour,
            "waiting_for_review": waiting.get("query_reviews"),
        },
    })
}

/// `GET /v1/peers`: roster members other than this node.
#[utoipa::path(
    get,
    path = "/peers",
    tag = "status",
    responses((
        status = 200,
        description = "Roster members other than this node: `[{bureau_id, country, name, \
            connected, last_seen, gossip_score, rejected_entries}]`",
        body = inline(ObjectList)
    ))
)]
pub(super) async fn peers(
    State(node): State<NodeHandle>,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let mut peers = node.net.peers().await.map_err(ApiError::internal)?;
    peers.sort_by_key(|a| node.country_of(&a.bureau));
    let rejected = node.core.rejected_from();
    let list: Vec<Value> = peers
        .iter()
        .map(|p| {
            let name = node.roster.member(&p.bureau).map(|m| m.name.clone());
            json!({
                "bureau_id": p.bureau,
                "country": node.country_of(&p.bureau),
                "name": name,
                "connected": p.connected,
                "last_seen": (p.last_seen_ms > 0).then(|| rfc3339(p.last_seen_ms)),
                "gossip_score": p.gossip_score,
                "rejected_entries": rejected.get(&p.bureau).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}
