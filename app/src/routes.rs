//! Every HTTP route the app serves outside Leptos's pages and server functions: the agent API,
//! Stripe's webhook, the products' progress streams, the audit log's CSV exports and the
//! isolation report's file.
//!
//! [`routes`] is the one list: the server mounts exactly these, and the authorization matrix
//! and the cross-org probe call exactly these, so a new route is held to its declared need
//! (`METHOD path` in [`crate::tenancy::access::NEEDS`]) and probed without anyone remembering
//! to.

use axum::{
    http::Method,
    routing::{on, MethodFilter, MethodRouter},
    Router,
};

use crate::context::Services;

/// Every route: method, path (with `{param}` segments), handler.
pub fn routes() -> Vec<(Method, &'static str, MethodRouter<Services>)> {
    let mut all = crate::agents::api::routes();
    all.push((
        Method::GET,
        "/api/events/product-runs/{org_id}/{run_id}",
        on(MethodFilter::GET, crate::products::events::run_events),
    ));
    all.push((
        Method::GET,
        "/api/audit/orgs/{org_id}/export.csv",
        on(MethodFilter::GET, crate::audit::server::export_org),
    ));
    all.push((
        Method::GET,
        "/api/audit/platform-export.csv",
        on(MethodFilter::GET, crate::audit::server::export_platform),
    ));
    all.push((
        Method::GET,
        crate::isolation::REPORT_PATH,
        on(MethodFilter::GET, crate::isolation::report_file),
    ));
    all
}

/// The routes as one router (methods of the same path merged).
pub fn router() -> Router<Services> {
    let mut by_path: Vec<(&'static str, MethodRouter<Services>)> = Vec::new();
    for (_, path, handler) in routes() {
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
}
