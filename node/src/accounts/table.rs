//! The one table of what every route needs: method, route pattern (as axum matched it) and
//! permission. The API's authorisation layer looks every request up here after authentication;
//! a route missing from the table is refused (deny by default), and a test below fails when
//! the router (as its OpenAPI document lists it) serves a route the table does not list.

use super::Permission::{self, Act, Admin, Read, Review};

/// Every authenticated route: (method, pattern, permission). `/healthz` and `/openapi.json`
/// are the routes served without a token and are not listed.
pub const ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "/metrics", Read),
    ("GET", "/v1/me", Read),
    ("GET", "/v1/users", Admin),
    ("POST", "/v1/users", Admin),
    ("DELETE", "/v1/users/{id}", Admin),
    ("POST", "/v1/users/{id}/token", Admin),
    ("GET", "/v1/status", Read),
    ("GET", "/v1/peers", Read),
    ("GET", "/v1/notices", Read),
    ("POST", "/v1/notices", Act),
    ("GET", "/v1/notices/{id}", Read),
    ("PATCH", "/v1/notices/{id}", Act),
    ("POST", "/v1/notices/{id}/cancel", Act),
    ("GET", "/v1/firearms", Read),
    ("POST", "/v1/firearms", Act),
    ("POST", "/v1/firearms/import", Act),
    ("POST", "/v1/firearms/check", Read),
    ("GET", "/v1/firearms/index", Read),
    ("GET", "/v1/firearms/export", Act),
    ("POST", "/v1/backup", Admin),
    ("GET", "/v1/firearms/{id}", Read),
    ("PATCH", "/v1/firearms/{id}", Act),
    ("GET", "/v1/reference", Read),
    ("POST", "/v1/reference", Act),
    ("GET", "/v1/reference/suggest", Read),
    ("GET", "/v1/traces", Read),
    ("POST", "/v1/traces", Act),
    ("GET", "/v1/traces/incoming", Read),
    ("POST", "/v1/traces/incoming/{id}/approve", Review),
    ("POST", "/v1/traces/incoming/{id}/refuse", Review),
    ("GET", "/v1/traces/{id}", Read),
    ("GET", "/v1/queries", Read),
    ("POST", "/v1/queries", Act),
    ("GET", "/v1/queries/incoming", Read),
    ("POST", "/v1/queries/incoming/{id}/approve", Review),
    ("POST", "/v1/queries/incoming/{id}/refuse", Review),
    ("GET", "/v1/queries/{id}", Read),
    ("GET", "/v1/cases", Read),
    ("POST", "/v1/cases", Act),
    ("GET", "/v1/cases/{id}", Read),
    ("POST", "/v1/cases/{id}/steps/{step}", Act),
    ("POST", "/v1/cases/{id}/exhibits", Act),
    ("GET", "/v1/cases/{id}/report", Read),
    ("POST", "/v1/x3p/inspect", Read),
    ("GET", "/v1/ballistics", Read),
    ("POST", "/v1/ballistics", Act),
    ("POST", "/v1/ballistics/search", Read),
    ("GET", "/v1/ballistics/leads", Read),
    ("POST", "/v1/ballistics/leads/{id}/approve", Review),
    ("GET", "/v1/ballistics/{id}", Read),
    ("DELETE", "/v1/ballistics/{id}", Act),
    ("POST", "/v1/ballistics/{id}/search", Read),
    ("GET", "/v1/ballistics/{id}/image", Read),
    ("GET", "/v1/ballistics/{id}/comparisons/{other}/image", Read),
    ("GET", "/v1/operations", Read),
    ("POST", "/v1/operations", Act),
    ("GET", "/v1/operations/{id}", Read),
    ("POST", "/v1/operations/{id}/join", Act),
    ("GET", "/v1/operations/{id}/seizures", Read),
    ("POST", "/v1/operations/{id}/seizures", Act),
    ("GET", "/v1/operations/{id}/report", Read),
    ("GET", "/v1/analysis/summary", Read),
    ("GET", "/v1/analysis/routes", Read),
    ("GET", "/v1/analysis/trends", Read),
    ("GET", "/v1/analysis/time-to-crime", Read),
    ("GET", "/v1/analysis/drafts", Read),
    ("POST", "/v1/analysis/publish", Act),
    ("GET", "/v1/audit", Read),
    ("GET", "/v1/audit/verify", Read),
];

/// What the table says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The route is listed for this method: it needs this permission.
    Needs(Permission),
    /// The route is listed, but not for this method (405).
    OtherMethod,
    /// The route is not listed at all: refused.
    Unlisted,
}

/// Looks up the route `pattern` (axum's matched path) for `method`.
pub fn lookup(method: &str, pattern: &str) -> Lookup {
    let mut known = false;
    for (m, p, permission) in ROUTES {
        if *p == pattern {
            if *m == method {
                return Lookup::Needs(*permission);
            }
            known = true;
        }
    }
    if known {
        Lookup::OtherMethod
    } else {
        Lookup::Unlisted
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::{ApiOptions, document};

    /// Every (method, path) the API serves: its OpenAPI document, which lists exactly the
    /// routes the router holds (every route goes through utoipa-axum's `OpenApiRouter`).
    fn served() -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(document(ApiOptions::default())).expect("document");
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_the_router_declares_is_in_the_table_and_nothing_else() {
        let mut served = served();
        // The routes served without a token.
        assert!(served.remove(&("GET".into(), "/healthz".into())));
        assert!(served.remove(&("GET".into(), "/openapi.json".into())));
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(table.len(), ROUTES.len(), "a route is listed twice");
        let missing: Vec<_> = served.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "served but not in the table: {missing:?}"
        );
        let stale: Vec<_> = table.difference(&served).collect();
        assert!(stale.is_empty(), "in the table but not served: {stale:?}");
    }

    #[test]
    fn lookups_deny_by_default() {
        assert_eq!(lookup("GET", "/v1/status"), Lookup::Needs(Read));
        assert_eq!(lookup("DELETE", "/v1/status"), Lookup::OtherMethod);
        assert_eq!(lookup("GET", "/v1/not-a-route"), Lookup::Unlisted);
        assert_eq!(
            lookup("POST", "/v1/traces/incoming/{id}/approve"),
            Lookup::Needs(Review)
        );
    }
}
