//! The router: health endpoints, the Admin App pages and its server functions, static files.

use app::{context::Services, AppError};
use axum::{
    body::Body,
    extract::{FromRef, Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use tower_http::compression::CompressionLayer;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// Start-up's own handle on the runtime role's pool, for readiness (the app reaches it
    /// only through the gate).
    pub pool: sqlx::PgPool,
    /// The runtime role's pool, keys and limits; server functions get it through context.
    pub services: Services,
    /// Peers whose `X-Forwarded-For` is believed (`TENANTRY_TRUSTED_PROXIES`).
    pub trusted_proxies: std::sync::Arc<Vec<std::net::IpAddr>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let context = {
        let services = state.services.clone();
        move || provide_context(services.clone())
    };
    let shell = {
        let options = state.leptos_options.clone();
        move || app::shell(options.clone())
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        // The routes outside Leptos: the agent API (API keys, not sessions), Stripe's webhook,
        // the products' progress streams.
        .merge(app::routes::router().with_state(state.services.clone()))
        .leptos_routes_with_context(&state, routes, context.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .layer(middleware::from_fn_with_state(
            state.services.clone(),
            guard_pages,
        ))
        .layer(middleware::from_fn(guard_server_functions))
        .layer(middleware::from_fn_with_state(
            state.services.secure_cookies,
            security_headers,
        ))
        // Outermost: every request gets a fresh cache before anything reads the session, and
        // its client's address.
        .layer(middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            fresh_request_cache,
        ))
        // Pages, server-function answers and the WASM go out compressed to clients that accept
        // it (the WASM shrinks to about 40 %).
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// Answers while the process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Answers 200 when the database is reachable, every migration this build knows is applied,
/// and Redis, NATS and ClickHouse answer; else 503, naming what is not ready.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (database, pending) = match crate::db::pending_migrations(&state.pool).await {
        Ok(pending) => ("ok", pending.len()),
        Err(err) => {
            tracing::warn!(%err, "readiness check: database unreachable");
            ("unreachable", 0)
        }
    };
    let stores = state.services.stores.health().await;
    let ready = database == "ok" && pending == 0 && stores.iter().all(|s| s.ok);
    for store in stores.iter().filter(|s| !s.ok) {
        tracing::warn!(store = store.store, detail = %store.detail, "readiness check: store not ready");
    }
    let stores: serde_json::Map<String, serde_json::Value> = stores
        .into_iter()
        .map(|s| {
            // The detail goes to the log only (it may name addresses).
            let state = if s.ok { "ok" } else { "unreachable" };
            (s.store.to_string(), json!(state))
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": database,
            "pending_migrations": pending,
            "stores": stores,
        })),
    )
}

/// Server functions are public endpoints that change things, so:
/// - a browser's cross-site request is refused before it runs (`Sec-Fetch-Site`, else `Origin`);
///   clients that send neither (API clients with a Bearer token) are not browsers and pass;
/// - an error answers with the status its kind calls for (400, 401, 403, 404, 409, 429), not
///   the blanket 500 server_fn uses. A plain form post's error stays a redirect back to the form.
async fn guard_server_functions(request: Request, next: Next) -> Response {
    let server_fn = request.uri().path().starts_with("/api/");
    if server_fn && request.method() == Method::POST && is_cross_site(request.headers()) {
        tracing::warn!(
            target: "tenancy", decision = "deny", reason = "cross-site request",
            path = %request.uri().path(),
        );
        let err = AppError::Forbidden("Cross-site requests are refused.".to_string());
        return (StatusCode::FORBIDDEN, Json(err)).into_response();
    }
    let request = match refuse_control_characters(request).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let response = next.run(request).await;
    if !server_fn
        || response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(AppError::Internal)).into_response();
    };
    if let Some(status) = serde_json::from_slice::<AppError>(&bytes)
        .ok()
        .and_then(|err| StatusCode::from_u16(err.status()).ok())
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A new [`app::tenancy::gate::RequestCache`] for each request: the gate reads the caller's
/// session once per request however many server functions a page renders.
async fn fresh_request_cache(
    State(trusted): State<std::sync::Arc<Vec<std::net::IpAddr>>>,
    mut request: Request,
    next: Next,
) -> Response {
    request
        .extensions_mut()
        .insert(app::tenancy::gate::RequestCache::default());
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer {
        // Every line of the header, in order: a proxy may add its own line instead of
        // appending to the client's.
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("unreadable"))
            .collect::<Vec<_>>()
            .join(",");
        let forwarded = (!forwarded.is_empty()).then_some(forwarded.as_str());
        let addr = app::tenancy::gate::ClientAddr::resolve(peer, forwarded, &trusted);
        request.extensions_mut().insert(addr);
    }
    next.run(request).await
}

/// What every answer says about how a browser may use it:
/// - a Content-Security-Policy: scripts, styles, frames and connections from this site only
///   (Leptos's hydration script is inline, hence `'unsafe-inline'` and `'wasm-unsafe-eval'`),
///   and no framing (`frame-ancestors 'none'`, against clickjacking);
/// - `Cache-Control: no-store` on pages and API answers, which may carry a key shown once or a
///   masked secret; the static files under `/pkg/` keep the caching they have;
/// - HSTS when the server runs behind HTTPS (secure cookies on).
async fn security_headers(State(secure): State<bool>, request: Request, next: Next) -> Response {
    let static_file = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, header::HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; \
         frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    if !static_file {
        set(headers, "cache-control", "no-store");
    }
    if secure {
        set(
            headers,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    response
}

/// Largest server-function body read here (a knowledge entry is at most 100,000 characters).
const MAX_FORM_BYTES: usize = 2 << 20;

/// A server function's form fields and query may hold tabs and line breaks, but no other control
/// character: PostgreSQL refuses NUL in text, and none belongs in a name, an id or a body. The
/// answer names the field, before anything runs.
async fn refuse_control_characters(request: Request) -> Result<Request, Response> {
    if !request.uri().path().starts_with("/api/") || request.uri().path().starts_with("/api/v1/") {
        return Ok(request);
    }
    let bad = |text: &str| {
        text.chars()
            .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    };
    let check = |bytes: &[u8]| -> Option<AppError> {
        form_urlencoded::parse(bytes).find_map(|(key, value)| {
            let c = bad(&key).or_else(|| bad(&value))?;
            Some(AppError::field(
                &key,
                format!(
                    "This contains a control character (U+{:04X}); remove it.",
                    c as u32
                ),
            ))
        })
    };
    let refuse = |err: AppError| (StatusCode::BAD_REQUEST, Json(err)).into_response();
    if let Some(err) = request.uri().query().and_then(|q| check(q.as_bytes())) {
        return Err(refuse(err));
    }
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(AppError::BadRequest(format!(
                    "The request is larger than {} MiB.",
                    MAX_FORM_BYTES >> 20
                ))),
            )
                .into_response()
        })?;
    if let Some(err) = check(&bytes) {
        return Err(refuse(err));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Every page declares its need (`app::tenancy::access::NEEDS`); a caller who does not meet it
/// still gets the page (it explains, and sends visitors to sign in), but with the refusal's
/// status, so that no client mistakes a refusal for the page. An address that is no declared
/// page is left to the router (404).
async fn guard_pages(State(services): State<Services>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() != Method::GET || path.starts_with("/api/") || path.starts_with("/pkg/") {
        return next.run(request).await;
    }
    let Some(pattern) = app::tenancy::access::page_pattern(path) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let verdict = app::tenancy::gate::page_verdict(&services, &parts, pattern).await;
    // The frame renders with the session read here (app::auth::PageSession).
    let session = match &verdict {
        Err(AppError::Unauthorized) => Ok(None),
        _ => app::auth::session_for_request(&services, &parts).await,
    };
    parts.extensions.insert(app::auth::PageSession(session));
    let next_path = parts.uri.path().to_string();
    let mut response = next.run(Request::from_parts(parts, body)).await;
    match verdict {
        Ok(()) => {}
        // Visitors sign in first, and come back.
        Err(AppError::Unauthorized) if response.status().is_success() => {
            let target = if next_path == "/" {
                "/sign-in".to_string()
            } else {
                format!("/sign-in?next={}", urlencode(&next_path))
            };
            return (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
        }
        Err(AppError::Unauthorized) => {}
        Err(err) => {
            if response.status().is_success() {
                *response.status_mut() =
                    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::FORBIDDEN);
            }
        }
    }
    response
}

/// A path as a query value: everything but unreserved characters and `/` percent-encoded.
fn urlencode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = value("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (value(header::ORIGIN.as_str()), value(header::HOST.as_str())) {
        (None, _) => false,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_none_or(|(_, origin_host)| !origin_host.eq_ignore_ascii_case(host)),
        (Some(_), None) => true,
    }
}
