//! Checking the audit trail's hash chains (migration 24): each org's events, and the
//! platform's, numbered 1, 2, 3 … with each hash the SHA-256 of the previous hash and the
//! event's own fields. [`verify`] reads every event in chain order (streamed: flat memory),
//! recomputes each hash here, and names each chain's first link that does not hold.

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// One chain's state after the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// `None`: the platform's own events.
    pub org: Option<Uuid>,
    pub events: i64,
    /// The last event's hash (hex): record it elsewhere, and a rewrite of the whole chain shows.
    pub head: String,
    /// The first link that does not hold, said in a sentence.
    pub broken: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn label(org: Option<Uuid>) -> String {
    match org {
        Some(org) => format!("org {org}"),
        None => "the platform".to_string(),
    }
}

/// Whether `pool`'s role reads every org's events (the owner; row-level security hides them
/// from the server's role, and a check of nothing must not pass).
pub async fn reads_everything(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select rolsuper or rolbypassrls from pg_roles where rolname = current_user")
        .fetch_one(pool)
        .await
}

/// Checks every chain, over `pool` (a role that reads every org's events: the owner).
pub async fn verify(pool: &PgPool) -> Result<Vec<Chain>, sqlx::Error> {
    let mut rows = sqlx::query_as::<_, (i64, Option<Uuid>, i64, Option<Vec<u8>>, Vec<u8>, String)>(
        "select e.audit_event_id, e.org_id, e.chain_seq, e.prev_hash, e.hash,
                platform.audit_event_text(e)
           from audit_event e
          order by e.org_id nulls first, e.chain_seq",
    )
    .fetch(pool);
    let mut chains: Vec<Chain> = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    while let Some((id, org, seq, prev_hash, hash, text)) = rows.try_next().await? {
        if chains.last().is_none_or(|c| c.org != org) {
            chains.push(Chain {
                org,
                events: 0,
                head: String::new(),
                broken: None,
            });
            prev = None;
        }
        let chain = chains.last_mut().expect("just pushed");
        let expected_seq = chain.events + 1;
        chain.events += 1;
        chain.head = hex(&hash);
        if chain.broken.is_some() {
            continue;
        }
        let mut digest = Sha256::new();
        digest.update(prev.as_deref().unwrap_or_default());
        digest.update(text.as_bytes());
        let computed = digest.finalize().to_vec();
        chain.broken = if seq != expected_seq {
            Some(format!(
                "{}: event #{expected_seq} is missing (the next one is #{seq}, id {id})",
                label(org)
            ))
        } else if prev_hash != prev {
            Some(format!(
                "{}: event #{seq} (id {id}) does not link to event #{}",
                label(org),
                seq - 1
            ))
        } else if computed != hash {
            Some(format!(
                "{}: event #{seq} (id {id}) was altered: its hash does not match its fields",
                label(org)
            ))
        } else {
            None
        };
        prev = Some(hash);
    }
    Ok(chains)
}
