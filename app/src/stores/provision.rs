//! An org's resources in the stores, made and removed idempotently: each function may run
//! again after a crash halfway, and a second run changes nothing. The product engine runs them
//! as the steps of the built-in `resources` product, so they get its plan, lease, resume and
//! progress.

use uuid::Uuid;

use super::Stores;

/// The stores an org gets a resource in, in the order they are made.
pub const RESOURCES: [&str; 3] = ["redis", "nats", "clickhouse"];

/// The tables of an org's ClickHouse database (`{db}` is its name). Plain SQL that ClickHouse
/// 18.16 and current versions both accept. A usage event is stored once per id: inserts repeat
/// after a fault, and `ReplacingMergeTree` folds rows with the same key (queries that must be
/// exact read with `FINAL`).
pub const CLICKHOUSE_TABLES: [&str; 1] = ["CREATE TABLE IF NOT EXISTS {db}.usage_events (\
       event_id String, at DateTime, day Date, agent_id String, model String, \
       tokens_in UInt64, tokens_out UInt64, cost_micros Int64) \
     ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(day) \
     ORDER BY (day, agent_id, model, event_id)"];

fn missing(store: &str) -> String {
    format!("{store} is not configured on this server")
}

/// Makes `org`'s resource in `store` (`max_messages`: what the stream keeps, from the plan).
pub async fn make(
    stores: &Stores,
    org: Uuid,
    store: &str,
    max_messages: i64,
) -> Result<(), String> {
    let password = stores.secrets.org_password(store, org);
    match store {
        "redis" => {
            let redis = stores.redis.as_ref().ok_or_else(|| missing("Redis"))?;
            redis.put_org_user(org, &password).await
        }
        "nats" => {
            let nats = stores.nats.as_ref().ok_or_else(|| missing("NATS"))?;
            nats.ensure_stream(org, max_messages).await?;
            nats.put_org_user(org, &password).await
        }
        "clickhouse" => {
            let ch = stores
                .clickhouse
                .as_ref()
                .ok_or_else(|| missing("ClickHouse"))?;
            ch.ensure_database(org).await?;
            ch.put_org_user(org, &password).await
        }
        other => Err(format!("no store is called {other:?}")),
    }
}

/// Whether `org`'s resource in `store` is there.
pub async fn present(stores: &Stores, org: Uuid, store: &str) -> Result<bool, String> {
    match store {
        "redis" => match &stores.redis {
            Some(redis) => redis.has_org_user(org).await,
            None => Ok(false),
        },
        "nats" => Ok(match &stores.nats {
            Some(nats) => nats.has_stream(org).await,
            None => false,
        }),
        "clickhouse" => match &stores.clickhouse {
            Some(ch) => ch.has_database(org).await,
            None => Ok(false),
        },
        other => Err(format!("no store is called {other:?}")),
    }
}

/// Removes `org`'s resource in `store`, with its data.
pub async fn remove(stores: &Stores, org: Uuid, store: &str) -> Result<(), String> {
    match store {
        "redis" => match &stores.redis {
            Some(redis) => redis.remove_org(org).await,
            None => Ok(()),
        },
        "nats" => match &stores.nats {
            Some(nats) => {
                nats.delete_stream(org).await?;
                nats.remove_org_user(org)
            }
            None => Ok(()),
        },
        "clickhouse" => match &stores.clickhouse {
            Some(ch) => {
                ch.remove_org_user(org).await?;
                ch.drop_database(org).await
            }
            None => Ok(()),
        },
        other => Err(format!("no store is called {other:?}")),
    }
}

/// Each of `org`'s resources as the org detail view shows it, asked of the stores now. `run` is
/// the latest provisioning run's status and error: while it works, a resource not made yet is
/// "provisioning"; when it failed, "failed" with its error.
pub async fn describe(
    stores: &Stores,
    org: Uuid,
    run: Option<(String, String)>,
) -> Vec<crate::orgs::Resource> {
    if !stores.configured() {
        return Vec::new();
    }
    let id = org.simple();
    let names = [
        (
            "Redis",
            format!("keys org:{id}:*, user {}", super::org_user(org)),
        ),
        (
            "NATS JetStream",
            format!(
                "stream {}, subjects {}",
                super::nats::stream_name(org),
                super::nats::subjects(org)
            ),
        ),
        (
            "ClickHouse",
            format!(
                "database {}, user {}",
                super::clickhouse::database(org),
                super::org_user(org)
            ),
        ),
    ];
    let mut out = Vec::new();
    for (store, (label, name)) in RESOURCES.iter().zip(names) {
        let (status, detail) = match present(stores, org, store).await {
            Ok(true) => ("ready", usage(stores, org, store).await),
            Ok(false) => match &run {
                Some((status, _)) if status == "pending" || status == "running" => {
                    ("provisioning", String::new())
                }
                Some((status, error)) if status == "failed" => ("failed", error.clone()),
                _ => (
                    "missing",
                    "Not there: retry the org's provisioning.".to_string(),
                ),
            },
            // The store's own words go to the log, not to the org's admins.
            Err(err) => {
                tracing::warn!(%org, store, error = %err, "a store did not answer for the org overview");
                (
                    "unreachable",
                    "The store does not answer just now.".to_string(),
                )
            }
        };
        out.push(crate::orgs::Resource {
            store: label.to_string(),
            name,
            status: status.to_string(),
            detail,
        });
    }
    out
}

/// What a ready resource holds, where it is cheap to ask.
async fn usage(stores: &Stores, org: Uuid, store: &str) -> String {
    match (store, &stores.nats, &stores.clickhouse) {
        ("nats", Some(nats), _) => match nats
            .jetstream()
            .get_stream(super::nats::stream_name(org))
            .await
        {
            Ok(mut stream) => match stream.info().await {
                Ok(info) => {
                    let limit = format!(
                        "at most {} events kept",
                        crate::billing::money::group(info.config.max_messages.max(0) as u128)
                    );
                    format!(
                        "{} event(s), {} KiB stored, {limit}",
                        info.state.messages,
                        info.state.bytes >> 10
                    )
                }
                Err(_) => String::new(),
            },
            Err(_) => String::new(),
        },
        ("clickhouse", _, Some(ch)) => ch
            .query(&format!(
                "SELECT count() FROM {}.usage_events",
                super::clickhouse::database(org)
            ))
            .await
            .map(|n| format!("{} usage row(s)", n.trim()))
            .unwrap_or_default(),
        _ => String::new(),
    }
}
