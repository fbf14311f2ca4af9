//! Usage events through NATS: the agent API publishes an agent's checked events to its org's
//! stream (`org.<id>.usage`, the message id `<agent>:<key>` so a repeat within a day is stored
//! once) and answers once the stream has them; a consumer on each node records them in the
//! PostgreSQL billing tables (each once, by its key) and then in the org's ClickHouse database,
//! and only then acknowledges them. A store that is down holds the events back: unacknowledged,
//! they come again.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use uuid::Uuid;

use super::nats::{reloading, stream_name};
use crate::{
    billing::server::usage::Event, context::Services, tenancy::gate::shutting_down, AppError,
};

/// The durable consumer on every org's stream that records its usage.
pub const CONSUMER: &str = "billing";
/// Where a node hears that an org has usage to record (platform subject: the orgs' users may
/// not publish here).
pub const PENDING: &str = "platform.usage.pending";
/// How long a message may stay unacknowledged before it comes again (a store was down).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// An event as it travels: the agent's, checked, and signed by the platform (HMAC of the org,
/// the agent and the event): the consumer records only what the agent API published.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Message {
    agent: Uuid,
    event: Event,
    signature: String,
}

fn signature(services: &Services, org: Uuid, agent: Uuid, event: &Event) -> String {
    let body = serde_json::to_string(event).unwrap_or_default();
    services
        .stores
        .secrets
        .password("usage-signature", &format!("{org}\0{agent}\0{body}"))
}

fn subject(org: Uuid) -> String {
    format!("org.{}.usage", org.simple())
}

/// Publishes `events` of `agent` to its org's stream, each acknowledged by JetStream. Any
/// failure: 503, and the caller sends the same events again (their keys make it count once).
/// Returns how many were new to the stream, and how many it had seen.
pub async fn publish(
    services: &Services,
    org: Uuid,
    agent: Uuid,
    events: Vec<Event>,
) -> Result<(usize, usize), AppError> {
    let nats = services
        .stores
        .nats
        .as_ref()
        .ok_or_else(|| AppError::internal("usage", "no event stream configured"))?;
    let unavailable = |err: String| {
        tracing::warn!(%org, %agent, %err, "usage not accepted: the event stream failed");
        AppError::Unavailable(
            "Usage cannot be recorded right now (the event stream does not answer). Nothing \
             from this request is counted twice: send the same events again with the same \
             idempotency keys."
                .to_string(),
        )
    };
    let (mut fresh, mut seen) = (0, 0);
    for event in events {
        let id = format!("{}:{}", agent.simple(), event.key);
        let signature = signature(services, org, agent, &event);
        let body = serde_json::to_vec(&Message {
            agent,
            event,
            signature,
        })
        .map_err(|e| AppError::internal("usage", e.to_string()))?;
        let ack = published(nats, org, &id, body).await.map_err(unavailable)?;
        if ack.duplicate {
            seen += 1;
        } else {
            fresh += 1;
        }
    }
    // Wake a consumer (any node's); the sweep finds the events anyway.
    let _ = nats.client().publish(PENDING, org.to_string().into()).await;
    Ok((fresh, seen))
}

/// Publishes one event to `org`'s stream and waits for the stream to have it. Waits out (up to
/// 10 s) the moments the stream does not answer while the server reads its configuration again
/// (an org's user added or removed: JetStream is off for the account for a moment, and a
/// publish then finds no stream), and makes the stream if the org's provisioning has not come
/// to it yet (the same stream, idempotently; provisioning sizes it by the plan). A server that
/// is down fails at once.
async fn published(
    nats: &super::nats::Nats,
    org: Uuid,
    id: &str,
    body: Vec<u8>,
) -> Result<jetstream::publish::PublishAck, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = async {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id);
            let ack = nats
                .jetstream()
                .publish_with_headers(subject(org), headers, body.clone().into())
                .await
                .map_err(|e| format!("NATS: {e}"))?;
            tokio::time::timeout(Duration::from_secs(5), ack)
                .await
                .map_err(|_| "NATS: no acknowledgement within 5 s".to_string())?
                .map_err(|e| format!("NATS: {e}"))
        };
        let err = match attempt.await {
            Ok(ack) => return Ok(ack),
            Err(err) => err,
        };
        let no_stream = err.contains("no responders") || err.contains("no stream");
        let reloading = err.contains("not enabled for account") || err.contains("10039");
        if !(no_stream || reloading) || std::time::Instant::now() > deadline {
            return Err(err);
        }
        if no_stream {
            if let Err(e) = nats.jetstream().get_stream(stream_name(org)).await {
                if e.to_string().contains("not found") {
                    let _ = nats
                        .ensure_stream(org, super::nats::DEFAULT_STREAM_MESSAGES)
                        .await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records what `org`'s stream holds, batch by batch, until it is empty or a store fails.
/// Returns how many events were acknowledged.
pub async fn drain(services: &Services, org: Uuid) -> Result<usize, String> {
    let (Some(nats), Some(ch)) = (&services.stores.nats, &services.stores.clickhouse) else {
        return Ok(0);
    };
    let stream = reloading(|| async {
        nats.jetstream()
            .get_stream(stream_name(org))
            .await
            .map_err(|e| format!("NATS: {e}"))
    })
    .await?;
    let consumer: jetstream::consumer::Consumer<pull::Config> = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.to_string()),
                filter_subject: subject(org),
                ack_wait: ACK_WAIT,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("NATS: {e}"))?;
    let mut done = 0;
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        let mut messages = Vec::new();
        while let Some(message) = batch.next().await {
            messages.push(message.map_err(|e| format!("NATS: {e}"))?);
        }
        if messages.is_empty() {
            return Ok(done);
        }
        let mut by_agent: std::collections::BTreeMap<Uuid, Vec<Event>> = Default::default();
        let mut unreadable = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match serde_json::from_slice::<Message>(&m.payload) {
                Ok(msg) if msg.signature == signature(services, org, msg.agent, &msg.event) => {
                    by_agent.entry(msg.agent).or_default().push(msg.event)
                }
                _ => unreadable.push(i),
            }
        }
        for i in unreadable.into_iter().rev() {
            // Not published by the agent API (unreadable, or not signed for this org): dropped,
            // with a word in the log.
            let m = messages.remove(i);
            tracing::warn!(%org, subject = %m.subject, "an unsigned or unreadable usage message was dropped");
            let _ = m.ack_with(AckKind::Term).await;
        }
        record(services, ch, org, &by_agent).await?;
        for m in &messages {
            m.ack().await.map_err(|e| format!("NATS: {e}"))?;
        }
        done += messages.len();
    }
}

/// Records one batch in PostgreSQL (each event once, by its key), then the same events, with
/// the cost PostgreSQL computed, in the org's ClickHouse database (a row repeated after a fault
/// is folded by its key).
async fn record(
    services: &Services,
    ch: &super::clickhouse::ClickHouse,
    org: Uuid,
    by_agent: &std::collections::BTreeMap<Uuid, Vec<Event>>,
) -> Result<(), String> {
    let mut rows = String::new();
    for (agent, events) in by_agent {
        let mut tenant = crate::tenancy::agent::acting_for(services, org, *agent)
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        match crate::billing::server::usage::record(tenant.conn(), org, *agent, events).await {
            Ok(_) => {}
            // Past the plan's allowance since the agent published them (the API checked it):
            // they cannot be billed, and waiting does not change that.
            Err(AppError::QuotaExceeded(why)) => {
                tracing::warn!(%org, %agent, events = events.len(), %why, "usage past the allowance dropped");
                continue;
            }
            Err(e) => return Err(format!("PostgreSQL: {e}")),
        }
        let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
        let costs = sqlx::query!(
            r#"select idempotency_key, model, input_tokens, output_tokens, occurred_at,
                      round(cost_micros)::bigint as "cost!"
                 from usage_event
                where org_id = $1 and agent_id = $2 and idempotency_key = any($3)"#,
            org,
            agent,
            &keys
        )
        .fetch_all(tenant.conn())
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?;
        tenant
            .commit()
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        for c in costs {
            let row = serde_json::json!({
                "event_id": format!("{}:{}", agent.simple(), c.idempotency_key),
                "at": c.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "day": c.occurred_at.format("%Y-%m-%d").to_string(),
                "agent_id": agent.to_string(),
                "model": c.model,
                "tokens_in": c.input_tokens,
                "tokens_out": c.output_tokens,
                "cost_micros": c.cost,
            });
            rows.push_str(&row.to_string());
            rows.push('\n');
        }
    }
    ch.insert(
        &format!(
            "INSERT INTO {}.usage_events FORMAT JSONEachRow",
            super::clickhouse::database(org)
        ),
        rows,
    )
    .await
}

/// The usage consumer of this node: drains an org's stream when any node says it has events
/// (a queue group, so one node takes each), and sweeps every org's stream each `sweep` for
/// what a store held back.
pub fn spawn_consumer(services: Services, sweep: Duration) {
    let Some(nats) = services.stores.nats.clone() else {
        return;
    };
    tokio::spawn(async move {
        let mut pending = loop {
            match nats
                .client()
                .queue_subscribe(PENDING, CONSUMER.to_string())
                .await
            {
                Ok(sub) => break sub,
                Err(err) => {
                    tracing::warn!(%err, "usage consumer: cannot subscribe; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut ticker = tokio::time::interval(sweep);
        loop {
            let orgs: Vec<Uuid> = tokio::select! {
                Some(message) = pending.next() => {
                    std::str::from_utf8(&message.payload).ok().and_then(|s| s.parse().ok()).into_iter().collect()
                }
                _ = ticker.tick() => orgs_with_streams(&nats).await,
            };
            for org in orgs {
                match drain(&services, org).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(%org, events = n, "usage recorded"),
                    Err(_) if shutting_down(&services) => return,
                    Err(err) => tracing::warn!(%org, %err, "usage held back; retrying later"),
                }
            }
        }
    });
}

/// Every org that has a stream.
async fn orgs_with_streams(nats: &super::nats::Nats) -> Vec<Uuid> {
    let mut names = nats.jetstream().stream_names();
    let mut orgs = Vec::new();
    while let Some(name) = names.next().await {
        match name {
            Ok(name) => {
                if let Some(org) = name.strip_prefix("ORG_").and_then(|id| id.parse().ok()) {
                    orgs.push(org);
                }
            }
            Err(_) => break,
        }
    }
    orgs
}
