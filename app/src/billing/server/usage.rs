//! Usage ingestion from the agent API: validated, priced when it happened, idempotent per
//! (org, agent, key), counted against the allowances in the same transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{tenancy::agent::AgentTenant, AppError};

use super::*;

/// Most events in one usage batch.
pub const MAX_BATCH: usize = 1000;

/// What a usage batch did.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Ingested {
    /// Events counted now.
    pub accepted: usize,
    /// Events whose idempotency key was seen before (counted once, earlier).
    pub duplicates: usize,
}

/// One usage event, checked: as the agent API takes it, and as it travels through the org's
/// stream to the consumer that records it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub key: String,
    pub model: String,
    pub input: i64,
    pub output: i64,
    pub at: DateTime<Utc>,
}

/// Reads one event, naming each bad field as `<prefix>field`.
fn read_event(
    value: &Value,
    prefix: &str,
    agent: Uuid,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<Event> {
    let mut fail = |field: &str, msg: &str| {
        errors
            .entry(format!("{prefix}{field}"))
            .or_default()
            .push(msg.to_string());
    };
    let Some(obj) = value.as_object() else {
        fail("", "Each event is an object.");
        return None;
    };
    if let Some(given) = obj.get("agent_id") {
        match given.as_str().map(|s| Uuid::parse_str(s.trim())) {
            Some(Ok(id)) if id == agent => {}
            Some(Ok(_)) => fail(
                "agent_id",
                "This is another agent: report an agent's usage with its own key.",
            ),
            _ => fail("agent_id", "This is not an agent id."),
        }
    }
    let model = match obj.get("model").and_then(Value::as_str).map(str::trim) {
        Some(m) if !m.is_empty() => Some(m.to_string()),
        _ => {
            fail("model", "Name the model, like gpt-4o-mini.");
            None
        }
    };
    let mut tokens = |field: &str| match obj.get(field) {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (0..=1_000_000_000_000_000).contains(&v) => Some(v),
            Some(v) if v < 0 => {
                fail(field, "Must be 0 or more.");
                None
            }
            _ if n.as_f64().is_some_and(|f| f < 0.0) => {
                fail(field, "Must be 0 or more.");
                None
            }
            _ => {
                fail(field, "Must be a whole number of tokens, at most 10^15.");
                None
            }
        },
        None => Some(0),
        Some(_) => {
            fail(field, "Must be a whole number of tokens.");
            None
        }
    };
    let input = tokens("input_tokens");
    let output = tokens("output_tokens");
    let at = match obj.get("timestamp").and_then(Value::as_str) {
        Some(text) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) if t.with_timezone(&Utc) <= Utc::now() + Duration::minutes(5) => {
                Some(t.with_timezone(&Utc))
            }
            Ok(_) => {
                fail("timestamp", "This is in the future.");
                None
            }
            Err(_) => {
                fail(
                    "timestamp",
                    "Use an RFC 3339 time, like 2026-11-22T10:00:00Z.",
                );
                None
            }
        },
        None => {
            fail("timestamp", "Say when the tokens were used (RFC 3339).");
            None
        }
    };
    let key = match obj
        .get("idempotency_key")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(k) if !k.is_empty() && k.len() <= 200 => Some(k.to_string()),
        _ => {
            fail(
                "idempotency_key",
                "Give each event a unique key of 1 to 200 characters, so a retry counts once.",
            );
            None
        }
    };
    Some(Event {
        key: key?,
        model: model?,
        input: input?,
        output: output?,
        at: at?,
    })
}

/// Records an agent's usage: one event or `{"events": [...]}` (at most [`MAX_BATCH`]). All or
/// nothing: a bad field, an unpriced model, a closed month or an exceeded allowance refuses
/// the whole batch; an event whose key was seen before is counted once.
/// Checks and records a batch of usage (when the server has no event stream: with one, the agent
/// API publishes the checked events, and the usage consumer records them).
pub async fn ingest(agent: &mut AgentTenant, body: &Value) -> Result<Ingested, AppError> {
    let events = check(agent, body).await?;
    let (org, agent_id) = (agent.org_id, agent.agent_id);
    let accepted = record(agent.conn(), org, agent_id, &events).await?;
    Ok(Ingested {
        accepted,
        duplicates: events.len() - accepted,
    })
}

/// The events of `body`, each checked (fields, priced models, open months); refused whole,
/// naming each bad field.
pub async fn check(agent: &mut AgentTenant, body: &Value) -> Result<Vec<Event>, AppError> {
    let (items, prefix): (Vec<&Value>, bool) = match body.get("events") {
        Some(Value::Array(events)) => (events.iter().collect(), true),
        Some(_) => return Err(AppError::field("events", "Send a list of events.")),
        None => (vec![body], false),
    };
    if items.is_empty() {
        return Err(AppError::field("events", "Send at least one event."));
    }
    if items.len() > MAX_BATCH {
        return Err(AppError::field(
            "events",
            format!(
                "Send at most {MAX_BATCH} events per batch (this has {}).",
                items.len()
            ),
        ));
    }
    // How a field of event `i` is named in errors: `events[i].model`, or `model` alone.
    let at = |i: usize| {
        if prefix {
            format!("events[{i}].")
        } else {
            String::new()
        }
    };
    let mut errors = BTreeMap::new();
    let events: Vec<Option<Event>> = items
        .iter()
        .enumerate()
        .map(|(i, v)| read_event(v, &at(i), agent.agent_id, &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let events: Vec<Event> = events.into_iter().flatten().collect();
    let org = agent.org_id;

    let models: Vec<String> = events.iter().map(|e| e.model.clone()).collect();
    let days: Vec<NaiveDate> = events.iter().map(|e| e.at.date_naive()).collect();
    let unpriced = sqlx::query!(
        r#"select x.n::int as "n!", x.m as "model!",
                  (select min(p.effective_from) from model_price p where p.model = x.m) as first
             from unnest($1::text[], $2::date[]) with ordinality as x(m, d, n)
            where not exists (select from model_price p
                               where p.model = x.m and p.effective_from <= x.d)"#,
        &models,
        &days
    )
    .fetch_all(agent.conn())
    .await?;
    for u in unpriced {
        let i = (u.n - 1) as usize;
        let msg = match u.first {
            None => format!(
                "Unknown model {}: it has no price under Settings → Models.",
                u.model
            ),
            Some(first) => format!("{} has no price before {first}.", u.model),
        };
        errors
            .entry(format!("{}model", at(i)))
            .or_default()
            .push(msg);
    }
    let closed = sqlx::query_scalar!(
        "select closed_through from org_account where org_id = $1",
        org
    )
    .fetch_one(agent.conn())
    .await?;
    if let Some(closed) = closed {
        for (i, e) in events.iter().enumerate() {
            if month_of(e.at.date_naive()) <= closed {
                errors
                    .entry(format!("{}timestamp", at(i)))
                    .or_default()
                    .push(format!(
                    "{} is closed and its billing frozen; usage for it can no longer be recorded.",
                    e.at.format("%B %Y")
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(events)
}

/// Records checked `events` of `agent` in `org` (in the caller's transaction, scoped to the
/// org); an event whose key the agent has used already is not counted again. Returns how many
/// were new.
pub async fn record(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    agent_id: Uuid,
    events: &[Event],
) -> Result<usize, AppError> {
    let models: Vec<String> = events.iter().map(|e| e.model.clone()).collect();
    let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    let inputs: Vec<i64> = events.iter().map(|e| e.input).collect();
    let outputs: Vec<i64> = events.iter().map(|e| e.output).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    let inserted = sqlx::query!(
        "insert into usage_event (org_id, idempotency_key, agent_id, model, input_tokens,
                                  output_tokens, occurred_at)
         select $1, k, $2, m, i, o, t
           from unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
                as x(k, m, i, o, t)
         on conflict (org_id, agent_id, idempotency_key) do nothing",
        org,
        agent_id,
        &keys,
        &models,
        &inputs,
        &outputs,
        &times
    )
    .execute(&mut *conn)
    .await?
    .rows_affected() as usize;
    Ok(inserted)
}
