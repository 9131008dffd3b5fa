//! `/v1/x3p` and `/v1/ballistics`: scan inspection, exhibits, network-wide search with
//! confirmation at the holders, and automatic leads.

use axum::Router;

use crate::node::NodeHandle;

/// The ballistic routes.
pub fn routes() -> Router<NodeHandle> {
    Router::new()
}
