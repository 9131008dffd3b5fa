//! `/v1/firearms` and `/v1/traces`: records, import, network-wide checks and traces.

use axum::Router;

use crate::node::NodeHandle;

/// The firearm and trace routes.
pub fn routes() -> Router<NodeHandle> {
    Router::new()
}
