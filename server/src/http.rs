//! The router: health endpoints, the Admin App pages and its server functions, static files.

use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use sqlx::PgPool;
use tower_http::compression::CompressionLayer;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The runtime role's pool.
    pub pool: PgPool,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let context = {
        let pool = state.pool.clone();
        move || provide_context(pool.clone())
    };
    let shell = {
        let options = state.leptos_options.clone();
        move || app::shell(options.clone())
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        // Pages, server-function answers and the WASM go out compressed to clients that accept
        // it (the WASM shrinks to about 40 %).
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// Answers while the process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Answers 200 when the database is reachable and every migration this build knows is applied.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match crate::db::pending_migrations(&state.pool).await {
        Ok(pending) if pending.is_empty() => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": "ok", "pending_migrations": 0 })),
        ),
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not ready",
                "database": "ok",
                "pending_migrations": pending.len(),
            })),
        ),
        Err(err) => {
            tracing::warn!(%err, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "database": "unreachable" })),
            )
        }
    }
}
