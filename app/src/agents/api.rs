//! The agent-facing API (`/api/v1/…`): JSON over HTTP, authenticated with an agent's API key
//! through the agent gate, always in the org the agent serves. Its [`routes`] are part of
//! [`crate::routes`], the one list of routes outside Leptos.

use axum::{
    extract::{rejection::JsonRejection, State},
    http::{request::Parts, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{on, MethodFilter, MethodRouter},
    Json,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{context::Services, tenancy::agent, AppError};

/// Longest memory entry, in characters.
pub const MAX_MEMORY_CHARS: usize = 10_000;

/// The agent API's endpoints (and Stripe's webhook): method, path, handler.
pub fn routes() -> Vec<(Method, &'static str, MethodRouter<Services>)> {
    vec![
        (Method::GET, "/api/v1/agent", on(MethodFilter::GET, whoami)),
        (Method::GET, "/api/v1/memory", on(MethodFilter::GET, memory)),
        (
            Method::POST,
            "/api/v1/memory",
            on(MethodFilter::POST, remember),
        ),
        (
            Method::POST,
            "/api/v1/guardrails/evaluate",
            on(MethodFilter::POST, evaluate),
        ),
        (
            Method::GET,
            "/api/v1/knowledge/search",
            on(MethodFilter::GET, knowledge_search),
        ),
        (
            Method::POST,
            "/api/v1/credentials/reveal",
            on(MethodFilter::POST, reveal_credential),
        ),
        (Method::POST, "/api/v1/usage", on(MethodFilter::POST, usage)),
        (
            Method::GET,
            "/api/v1/llm-key",
            on(MethodFilter::GET, llm_key),
        ),
        // Stripe's calls, signed with the webhook secret rather than an agent key.
        (
            Method::POST,
            "/webhooks/stripe",
            on(MethodFilter::POST, crate::billing::stripe::webhook),
        ),
    ]
}

/// An error as the API answers it: the status, and `{"error": …, "fields": {…}}`.
pub struct ApiError(AppError);

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self(err)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = match &self.0 {
            AppError::Validation(fields) => {
                json!({ "error": self.0.to_string(), "fields": fields })
            }
            other => json!({ "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if let AppError::RateLimited { retry_after_secs } = &self.0 {
            if let Ok(value) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// A JSON body, or a 400 that says what is wrong with it.
fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    payload
        .map(|Json(value)| value)
        .map_err(|rejection| ApiError(AppError::BadRequest(rejection.body_text())))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WhoAmI {
    pub agent_id: String,
    pub name: String,
    pub org_id: String,
}

async fn whoami(State(services): State<Services>, parts: Parts) -> Result<Json<WhoAmI>, ApiError> {
    let agent = agent::agent(&services, &parts).await?;
    Ok(Json(WhoAmI {
        agent_id: agent.agent_id.to_string(),
        name: agent.agent_name.clone(),
        org_id: agent.org_id.to_string(),
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemoryEntry {
    pub id: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// The agent's memory, newest first (at most 100 entries).
async fn memory(
    State(services): State<Services>,
    parts: Parts,
) -> Result<Json<Vec<MemoryEntry>>, ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let agent_id = agent.agent_id;
    let rows = sqlx::query!(
        "select memory_id, content, created_at from agent_memory
          where agent_id = $1 order by created_at desc limit 100",
        agent_id
    )
    .fetch_all(agent.conn())
    .await?;
    agent.commit().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| MemoryEntry {
                id: r.memory_id.to_string(),
                content: r.content,
                created_at: r.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewMemory {
    pub content: String,
}

async fn remember(
    State(services): State<Services>,
    parts: Parts,
    payload: Result<Json<NewMemory>, JsonRejection>,
) -> Result<(StatusCode, Json<MemoryEntry>), ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let input = body(payload)?;
    let content = input.content.trim();
    if content.is_empty() {
        return Err(AppError::field("content", "Enter the text to remember.").into());
    }
    let chars = content.chars().count();
    if chars > MAX_MEMORY_CHARS {
        return Err(AppError::field(
            "content",
            format!("Use at most {MAX_MEMORY_CHARS} characters (this has {chars})."),
        )
        .into());
    }
    let agent_id = agent.agent_id;
    let row = sqlx::query!(
        "insert into agent_memory (agent_id, content) values ($1, $2)
         returning memory_id, content, created_at",
        agent_id,
        content
    )
    .fetch_one(agent.conn())
    .await?;
    // The org's data, written by the agent: on the org's log like a person's write (never the
    // content).
    agent
        .audit(
            "agent.remember",
            &row.memory_id.to_string(),
            serde_json::json!({ "chars": chars }),
        )
        .await?;
    agent.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(MemoryEntry {
            id: row.memory_id.to_string(),
            content: row.content,
            created_at: row.created_at,
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct Evaluate {
    pub text: String,
    /// The model that produced the text (checked by "allowed models" policies).
    #[serde(default)]
    pub model: Option<String>,
}

/// Applies the org's enabled guardrails, in priority order, to a text: allow, block or redact,
/// the policy that decided, and the text as it may leave. Blocks and redactions are logged.
async fn evaluate(
    State(services): State<Services>,
    parts: Parts,
    payload: Result<Json<Evaluate>, JsonRejection>,
) -> Result<Json<crate::guardrails::eval::Outcome>, ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let input = body(payload)?;
    let outcome =
        crate::guardrails::server::evaluate_for(&mut agent, &input.text, input.model.as_deref())
            .await?;
    agent.commit().await?;
    Ok(Json(outcome))
}

#[derive(Debug, Deserialize)]
pub struct KnowledgeQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// Searches the agent's org's knowledge and the platform's shared knowledge, best match first
/// (`?q=…&limit=…`, at most 50); private entries are never returned.
async fn knowledge_search(
    State(services): State<Services>,
    parts: Parts,
    query: Result<axum::extract::Query<KnowledgeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<crate::knowledge::Entry>>, ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let axum::extract::Query(query) =
        query.map_err(|rejection| ApiError(AppError::BadRequest(rejection.body_text())))?;
    let org = agent.org_id;
    let found = crate::knowledge::server::search_for_agent(
        agent.conn(),
        org,
        &query.q,
        query.limit.unwrap_or(10),
    )
    .await?;
    agent.commit().await?;
    Ok(Json(found))
}

#[derive(Debug, Deserialize)]
pub struct Reveal {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Revealed {
    pub name: String,
    pub secret: String,
}

/// The secret of a credential meant for the calling agent (its own, else its org's). A POST, so
/// the name and the answer stay out of URLs and access logs.
async fn reveal_credential(
    State(services): State<Services>,
    parts: Parts,
    payload: Result<Json<Reveal>, JsonRejection>,
) -> Result<Json<Revealed>, ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let input = body(payload)?;
    let secret =
        crate::credentials::server::reveal_for(&mut agent, &services.credentials, &input.name)
            .await?;
    agent.commit().await?;
    Ok(Json(Revealed {
        name: input.name.trim().to_lowercase(),
        secret,
    }))
}

/// Records token usage: one event or `{"events": [...]}`; a repeated idempotency key counts
/// once. Refused whole, naming the field, for bad input; 429 past the plan's token allowance.
async fn usage(
    State(services): State<Services>,
    parts: Parts,
    payload: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<crate::billing::server::Ingested>, ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let input = body(payload)?;
    if services.stores.nats.is_none() {
        let done = crate::billing::server::ingest(&mut agent, &input).await?;
        agent.commit().await?;
        return Ok(Json(done));
    }
    // Checked here, recorded by the usage consumer from the org's stream (see
    // `stores::usage`): the answer says what the stream took.
    let events = crate::billing::server::usage::check(&mut agent, &input).await?;
    let (org, agent_id) = (agent.org_id, agent.agent_id);
    let tokens: i64 = events.iter().map(|e| e.input + e.output).sum();
    let over = sqlx::query_scalar!(
        r#"select coalesce(l.max_tokens_per_month is not null
                           and a.tokens_used + $2 > l.max_tokens_per_month, false) as "over!"
             from org_account a, org_limits($1) l where a.org_id = $1"#,
        org,
        tokens
    )
    .fetch_optional(agent.conn())
    .await?
    .unwrap_or(false);
    if over {
        return Err(ApiError(AppError::QuotaExceeded(
            "This usage would pass the plan's monthly token allowance; nothing was recorded."
                .to_string(),
        )));
    }
    agent.commit().await?;
    let (accepted, duplicates) =
        crate::stores::usage::publish(&services, org, agent_id, events).await?;
    Ok(Json(crate::billing::server::Ingested {
        accepted,
        duplicates,
    }))
}

#[derive(Debug, Deserialize)]
pub struct LlmKeyQuery {
    #[serde(default)]
    pub provider: String,
    /// The member the agent acts for, whose own key may apply.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// Which LLM key to use for a provider (`?provider=openai&user_id=…`), and why: the user's,
/// the org's, or the server's.
async fn llm_key(
    State(services): State<Services>,
    parts: Parts,
    query: Result<axum::extract::Query<LlmKeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::llm_keys::server::Resolved>, ApiError> {
    let mut agent = agent::agent(&services, &parts).await?;
    let axum::extract::Query(query) =
        query.map_err(|rejection| ApiError(AppError::BadRequest(rejection.body_text())))?;
    let resolved = crate::llm_keys::server::key_for(
        &mut agent,
        &services,
        &query.provider,
        query.user_id.as_deref(),
    )
    .await?;
    agent.commit().await?;
    Ok(Json(resolved))
}
