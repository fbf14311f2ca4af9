//! The install engine: runs of artifact steps, saved as a plan before anything runs, executed by
//! a worker under a lease, each step committed in the same transaction as its artifact.
//!
//! **Why a table of our own and not a job crate.** We weighed apalis, graphile_worker, underway
//! and pgmq. Each stores a job as one opaque payload and retries it whole; what we need is the
//! opposite: a plan of many steps whose progress commits inside the same transaction as the DDL
//! each step runs, so that a step and its artifact are exactly-once together. That needs our
//! transaction, our row-level security scope and our per-org role around the step, which none of
//! them hand to the job body (pgmq comes closest, but it is an extension Debian does not ship).
//! So the queue is two tenant tables (`product_run`, `product_step`) and one narrow cross-org
//! function to claim a run (`platform.claim_product_run`): about a page of SQL, with the lease
//! and heartbeat the crates would have given us.
//!
//! **Leases.** A worker claims a run for `lease` and renews it every `lease / 3` while it works;
//! each step's transaction ends by advancing the run *only if the lease is still this worker's*,
//! else it rolls back, artifact included. A worker that dies leaves its lease to run out; the
//! next claim takes the run over and resumes at the first step not done. A run is never
//! "running" without a lease: one whose lease ran out reads as interrupted and is taken over.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

use super::{
    artifacts::{self, Did},
    catalog::{Artifact, Catalog, Product},
};
use crate::{
    context::Services,
    tenancy::gate::{lookup, shutting_down, system_scope},
    AppError,
};

/// What the server keeps for products: the catalog, the worker's wake-up and lease, and the
/// progress feed.
#[derive(Clone)]
pub struct Products {
    pub catalog: Arc<Catalog>,
    /// Rung when a run is planned, so the worker starts at once instead of at its next poll.
    pub wake: Arc<Notify>,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// The id of each run that changed, on any node (the database's `product_run` channel,
    /// relayed by [`spawn_progress_listener`]): what the progress streams wait on.
    pub progress: broadcast::Sender<Uuid>,
    /// How often a progress stream with nothing new sends a heartbeat.
    pub heartbeat: Duration,
    /// Progress streams open per session (`events.rs` caps them).
    pub streams: Arc<std::sync::Mutex<std::collections::HashMap<Uuid, usize>>>,
}

impl Products {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog: Arc::new(catalog),
            wake: Arc::new(Notify::new()),
            lease: Duration::from_secs(15),
            progress: broadcast::channel(1024).0,
            heartbeat: Duration::from_secs(15),
            streams: Default::default(),
        }
    }
}

/// One step of a plan: (kind, name, definition, op).
pub type Step = (String, String, serde_json::Value, &'static str);

/// The run's actor in the audit log and the database's `app.system`.
const ACTOR: &str = "product-engine";

/// Claims after which a run that never finishes is failed instead of claimed again (a worker
/// that dies on the same step every time, say).
const MAX_ATTEMPTS: i32 = 5;

/// How long one step may wait for a lock, and run, before it fails (a step that waits for ever
/// would hold its run, and the worker, for ever).
const STEP_LIMITS: &str = "set local lock_timeout = '10s'; set local statement_timeout = '120s'";

fn gave_up(attempts: i32) -> String {
    format!("Stopped after {} attempts: a worker took this run {attempts} times without finishing it. Retry to try again.", attempts - 1)
}

async fn give_up(
    services: &Services,
    org: Uuid,
    run: Uuid,
    worker: Uuid,
    attempts: i32,
) -> Result<(), AppError> {
    let mut tx = system_scope(services, org, ACTOR).await?;
    end_run(&mut tx, org, run, worker, "failed", &gave_up(attempts)).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends the run as `status` (with `error`), releasing its lease, if the lease is still
/// `worker`'s: `false` if it is not (nothing is changed).
async fn end_run(
    tx: &mut Transaction<'static, Postgres>,
    org: Uuid,
    run: Uuid,
    worker: Uuid,
    status: &str,
    error: &str,
) -> Result<bool, AppError> {
    let ended = sqlx::query!(
        "update product_run set status = $4, error = $5, lease_owner = null, lease_until = null,
                finished_at = now(), attempts = 0
          where org_id = $1 and run_id = $2 and lease_owner = $3 and status = 'running'",
        org,
        run,
        worker,
        status,
        error
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(ended == 1)
}

/// Saves a run and its plan in the caller's transaction. `steps` are (kind, name, definition,
/// op); the unique index on active runs refuses a second operation on the same product in the
/// org.
pub async fn plan(
    conn: &mut PgConnection,
    org: Uuid,
    product: &Product,
    action: &str,
    steps: &[Step],
    created_by: Option<Uuid>,
) -> Result<Uuid, AppError> {
    let run_id = Uuid::new_v4();
    let inserted = sqlx::query!(
        "insert into product_run (org_id, run_id, product, version, action, total, created_by)
         values ($1, $2, $3, $4, $5, $6, $7)",
        org,
        run_id,
        product.product,
        product.version,
        action,
        steps.len() as i32,
        created_by
    )
    .execute(&mut *conn)
    .await;
    if let Err(err) = inserted {
        if err
            .as_database_error()
            .and_then(|e| e.constraint())
            .is_some_and(|c| c == "product_run_active_key")
        {
            return Err(AppError::Conflict(format!(
                "{} is being installed or changed in this organization already: follow that run, or retry or roll it back.",
                product.name
            )));
        }
        return Err(err.into());
    }
    for (seq, (kind, name, definition, op)) in steps.iter().enumerate() {
        sqlx::query!(
            "insert into product_step (org_id, run_id, seq, kind, name, op, definition)
             values ($1, $2, $3, $4, $5, $6, $7)",
            org,
            run_id,
            seq as i32,
            kind,
            name,
            op,
            definition
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(run_id)
}

/// The install plan of `product`: every artifact, in catalog order.
pub fn install_steps(product: &Product) -> Vec<Step> {
    product
        .artifacts
        .iter()
        .map(|a| {
            (
                a.kind().to_string(),
                a.name().to_string(),
                a.definition(),
                "create",
            )
        })
        .collect()
}

/// The upgrade plan from what the product made in an org (the ledger: kind, name, definition)
/// to `to`: each new artifact made, each changed one altered, in catalog order, then each one
/// the new version no longer has removed, last made first. Unchanged artifacts need no step.
/// A version without one of the tables is refused (an upgrade never drops a table: its rows
/// would go with it).
pub fn upgrade_steps(
    made: &[(String, String, serde_json::Value)],
    to: &Product,
) -> Result<Vec<Step>, String> {
    if let Some((_, table, _)) = made.iter().find(|(kind, name, _)| {
        kind == "entity"
            && !to
                .artifacts
                .iter()
                .any(|a| a.kind() == "entity" && a.name() == name)
    }) {
        return Err(format!(
            "table {table} is gone from {} v{}; an upgrade never drops a table (its rows would go with it)",
            to.name, to.version
        ));
    }
    let mut steps = Vec::new();
    for a in &to.artifacts {
        let definition = a.definition();
        match made.iter().find(|(k, n, _)| k == a.kind() && n == a.name()) {
            None => steps.push((
                a.kind().to_string(),
                a.name().to_string(),
                definition,
                "create",
            )),
            Some((_, _, was)) if *was != definition => steps.push((
                a.kind().to_string(),
                a.name().to_string(),
                definition,
                "alter",
            )),
            Some(_) => {}
        }
    }
    for (kind, name, _) in made {
        if !to
            .artifacts
            .iter()
            .any(|a| a.kind() == kind && a.name() == name)
        {
            steps.push((kind.clone(), name.clone(), serde_json::json!({}), "remove"));
        }
    }
    Ok(steps)
}

/// The order to remove what a product made (the ledger: kind, name, definition; newest
/// first): everything but tables first, newest first, then the tables, each before the tables
/// it references (an upgrade may have made an older table reference a newer one).
pub fn removal_order(made: Vec<(String, String, serde_json::Value)>) -> Vec<(String, String)> {
    let (mut tables, others): (Vec<_>, Vec<_>) =
        made.into_iter().partition(|(kind, _, _)| kind == "entity");
    let mut order: Vec<(String, String)> = others.into_iter().map(|(k, n, _)| (k, n)).collect();
    let references = |definition: &serde_json::Value, table: &str| {
        definition["columns"]
            .as_array()
            .is_some_and(|cols| cols.iter().any(|c| c["references"] == table))
    };
    while !tables.is_empty() {
        // The newest table no other remaining table references (a cycle: the newest).
        let next = tables
            .iter()
            .position(|(_, name, _)| {
                !tables
                    .iter()
                    .any(|(_, other, definition)| other != name && references(definition, name))
            })
            .unwrap_or(0);
        let (kind, name, _) = tables.remove(next);
        order.push((kind, name));
    }
    order
}

/// What the product's runs made in the org (or only the run `run`), from the ledger: (kind,
/// name, definition), last made first.
pub async fn made(
    conn: &mut PgConnection,
    org: Uuid,
    product: &str,
    run: Option<Uuid>,
) -> Result<Vec<(String, String, serde_json::Value)>, AppError> {
    Ok(sqlx::query!(
        "select kind, name, definition from product_artifact
          where org_id = $1 and product = $2 and ($3::uuid is null or run_id = $3)
          order by created_at desc, seq desc",
        org,
        product,
        run
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.name, r.definition))
    .collect())
}

/// An upgrade [`plan_upgrades`] planned, or could not.
#[derive(Debug, Clone)]
pub struct Upgrade {
    pub org: Uuid,
    pub product: String,
    pub from: i32,
    pub to: i32,
    /// The run, or why there is none (another operation on the product is active, the new
    /// version would drop a table, the database refused).
    pub run: Result<Uuid, String>,
}

/// Plans, as runs, the upgrade of every org whose installed version of a catalog product is
/// older than the catalog's: each in the org's own scope, from what the product made there.
/// An org with a run of the product still to end, or whose upgrade to this version an admin
/// stopped, is left out (`platform.orgs_behind`, migration 19). Checking costs one indexed
/// query per product when every org is up to date.
pub async fn plan_upgrades(services: &Services) -> Result<Vec<Upgrade>, AppError> {
    let mut planned = Vec::new();
    for product in services.products.catalog.products() {
        let behind = sqlx::query!(
            r#"select org_id as "org_id!", version as "version!"
                 from platform.orgs_behind($1, $2)"#,
            product.product,
            product.version
        )
        .fetch_all(lookup(services).pool())
        .await?;
        for org in behind {
            let run = match plan_upgrade(services, org.org_id, product).await {
                // Uninstalled or upgraded meanwhile.
                Ok(None) => continue,
                Ok(Some(run)) => Ok(run),
                Err(AppError::Conflict(why)) => Err(why),
                Err(other) => {
                    tracing::warn!(org = %org.org_id, product = %product.product, err = ?other, "could not plan a product upgrade");
                    Err(other.to_string())
                }
            };
            planned.push(Upgrade {
                org: org.org_id,
                product: product.product.clone(),
                from: org.version,
                to: product.version,
                run,
            });
        }
    }
    if planned.iter().any(|u| u.run.is_ok()) {
        services.products.wake.notify_one();
    }
    Ok(planned)
}

/// `None`: the org no longer has the product below this version.
async fn plan_upgrade(
    services: &Services,
    org: Uuid,
    product: &Product,
) -> Result<Option<Uuid>, AppError> {
    let mut tx = system_scope(services, org, ACTOR).await?;
    // Read again in the org's scope, locked: an uninstall or another node's upgrade may have
    // ended since the cross-org check.
    let installed = sqlx::query_scalar!(
        "select version from org_product where org_id = $1 and product = $2 for update",
        org,
        product.product
    )
    .fetch_optional(&mut *tx)
    .await?;
    if installed.is_none_or(|v| v >= product.version) {
        return Ok(None);
    }
    let made = made(&mut tx, org, &product.product, None).await?;
    let steps = upgrade_steps(&made, product).map_err(AppError::Conflict)?;
    let run = plan(&mut tx, org, product, "upgrade", &steps, None).await?;
    audit(
        &mut tx,
        org,
        "product.upgrade_started",
        &product.product,
        json!({ "run": run, "version": product.version, "steps": steps.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(run))
}

/// How the run `run` of `org` ended, if it has.
pub async fn ended(services: &Services, org: Uuid, run: Uuid) -> Result<Option<Outcome>, AppError> {
    let mut tx = system_scope(services, org, ACTOR).await?;
    let row = sqlx::query!(
        "select status, error from product_run where org_id = $1 and run_id = $2",
        org,
        run
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match row {
        None => Some(Outcome::Failed("the run is gone".to_string())),
        Some(r) if r.status == "succeeded" => Some(Outcome::Succeeded),
        Some(r) if r.status == "pending" || r.status == "running" => None,
        Some(r) => Some(Outcome::Failed(if r.error.is_empty() {
            r.status
        } else {
            r.error
        })),
    })
}

/// What one call of [`work_once`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(String),
    /// The worker stopped after the steps it was allowed (tests stop a worker mid-run this way,
    /// as if it had died: the lease is left to run out).
    Stopped,
    /// Another worker holds the run now.
    LostLease,
}

/// Claims the next run that needs a worker and works it to its end (or for at most `max_steps`
/// steps). `None`: nothing to do.
pub async fn work_once(
    services: &Services,
    worker: Uuid,
    max_steps: Option<usize>,
) -> Result<Option<(Uuid, Uuid, Outcome)>, AppError> {
    let lease = services.products.lease;
    let claimed = sqlx::query!(
        r#"select org_id as "org_id!", run_id as "run_id!", attempts as "attempts!"
             from platform.claim_product_run($1, $2)"#,
        worker,
        lease.as_secs_f64().ceil() as i32
    )
    .fetch_optional(lookup(services).pool())
    .await?;
    let Some(claimed) = claimed else {
        return Ok(None);
    };
    let (org, run) = (claimed.org_id, claimed.run_id);
    if claimed.attempts > MAX_ATTEMPTS {
        give_up(services, org, run, worker, claimed.attempts).await?;
        return Ok(Some((org, run, Outcome::Failed(gave_up(claimed.attempts)))));
    }
    // The heartbeat renews the lease while the steps run (a step may take longer than a lease).
    let heartbeat = {
        let services = services.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(lease / 3);
            every.tick().await;
            loop {
                every.tick().await;
                if renew(&services, org, run, worker).await.unwrap_or(false) {
                    continue;
                }
                break;
            }
        })
    };
    let outcome = work(services, org, run, worker, max_steps).await;
    heartbeat.abort();
    Ok(Some((org, run, outcome?)))
}

async fn renew(services: &Services, org: Uuid, run: Uuid, worker: Uuid) -> Result<bool, AppError> {
    let mut tx = system_scope(services, org, ACTOR).await?;
    let renewed = sqlx::query!(
        "update product_run set lease_until = clock_timestamp() + make_interval(secs => $4)
          where org_id = $1 and run_id = $2 and lease_owner = $3 and status = 'running'",
        org,
        run,
        worker,
        services.products.lease.as_secs_f64()
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(renewed == 1)
}

async fn work(
    services: &Services,
    org: Uuid,
    run: Uuid,
    worker: Uuid,
    max_steps: Option<usize>,
) -> Result<Outcome, AppError> {
    let mut steps_taken = 0;
    loop {
        if max_steps.is_some_and(|max| steps_taken >= max) {
            return Ok(Outcome::Stopped);
        }
        let mut tx = system_scope(services, org, ACTOR).await?;
        // (Through `Executor::execute`: `RawSql::execute` on a reborrow trips the compiler's
        // higher-ranked `Send` check in the spawned worker.)
        sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(STEP_LIMITS)).await?;
        let next = sqlx::query!(
            r#"select r.product, r.action, s.seq as "seq?", s.kind as "kind?", s.name as "name?",
                    s.op as "op?", s.definition as "definition?"
               from product_run r
               left join lateral (
                 select seq, kind, name, op, definition from product_step
                  where org_id = r.org_id and run_id = r.run_id and status = 'pending'
                  order by seq limit 1) s on true
              where r.org_id = $1 and r.run_id = $2 and r.lease_owner = $3
                and r.status = 'running'"#,
            org,
            run,
            worker
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(next) = next else {
            return Ok(Outcome::LostLease);
        };
        let Some(seq) = next.seq else {
            if !finish(&mut tx, org, run, worker, &next.product, &next.action).await? {
                tx.rollback().await?;
                return Ok(Outcome::LostLease);
            }
            tx.commit().await?;
            return Ok(Outcome::Succeeded);
        };
        let started = std::time::Instant::now();
        // The step runs in a savepoint: if it fails, its half-made artifact goes, and the
        // failure is recorded in the same transaction.
        let result = {
            let mut step = Connection::begin(&mut *tx).await?;
            let result = run_step(
                &mut *step,
                &services.stores,
                org,
                &next.product,
                run,
                seq,
                next.kind.as_deref().unwrap_or_default(),
                next.name.as_deref().unwrap_or_default(),
                next.op.as_deref().unwrap_or_default(),
                next.definition.unwrap_or_default(),
            )
            .await;
            match result {
                Ok(did) => {
                    step.commit().await?;
                    Ok(did)
                }
                Err(failure) => {
                    step.rollback().await?;
                    Err(failure)
                }
            }
        };
        let ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        match result {
            Ok(did) => {
                let status = if did == Did::Done { "done" } else { "skipped" };
                sqlx::query!(
                    "update product_step set status = $4, duration_ms = $5, finished_at = now(), error = ''
                      where org_id = $1 and run_id = $2 and seq = $3",
                    org,
                    run,
                    seq,
                    status,
                    ms
                )
                .execute(&mut *tx)
                .await?;
                // Only while the lease is still this worker's: else the step (and its
                // artifact) is rolled back, and the run's new worker does it.
                let advanced = sqlx::query!(
                    "update product_run set done = done + 1,
                            lease_until = clock_timestamp() + make_interval(secs => $4)
                      where org_id = $1 and run_id = $2 and lease_owner = $3 and status = 'running'",
                    org,
                    run,
                    worker,
                    services.products.lease.as_secs_f64()
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if advanced != 1 {
                    tx.rollback().await?;
                    return Ok(Outcome::LostLease);
                }
                tx.commit().await?;
                steps_taken += 1;
            }
            Err(failure) => {
                let failure: String = failure.chars().take(2000).collect();
                sqlx::query!(
                    "update product_step set status = 'failed', error = $4, duration_ms = $5,
                            finished_at = now()
                      where org_id = $1 and run_id = $2 and seq = $3",
                    org,
                    run,
                    seq,
                    failure,
                    ms
                )
                .execute(&mut *tx)
                .await?;
                if !end_run(&mut tx, org, run, worker, "failed", &failure).await? {
                    tx.rollback().await?;
                    return Ok(Outcome::LostLease);
                }
                audit(
                    &mut tx,
                    org,
                    "product.run_failed",
                    &next.product,
                    json!({"run": run, "error": failure}),
                )
                .await?;
                tx.commit().await?;
                return Ok(Outcome::Failed(failure));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    conn: &mut PgConnection,
    stores: &crate::stores::Stores,
    org: Uuid,
    product: &str,
    run: Uuid,
    seq: i32,
    kind: &str,
    name: &str,
    op: &str,
    definition: serde_json::Value,
) -> Result<Did, String> {
    match op {
        "create" | "alter" => {
            let artifact: Artifact = serde_json::from_value(definition)
                .map_err(|e| format!("{kind} {name}: its definition cannot be read ({e})"))?;
            // Checked again: the saved plan is data, and it is about to become SQL.
            let faults = super::catalog::check_artifact(&artifact);
            if !faults.is_empty() || artifact.kind() != kind || artifact.name() != name {
                return Err(format!(
                    "{kind} {name}: its saved definition is not valid ({})",
                    faults.join("; ")
                ));
            }
            if op == "alter" {
                artifacts::alter(conn, org, product, &artifact).await
            } else {
                artifacts::create(conn, stores, org, product, run, seq, &artifact).await
            }
        }
        _ if kind == "entity" && !super::catalog::plain_name(name) => {
            Err(format!("{kind} {name:?}: not a table name"))
        }
        _ => artifacts::remove(conn, stores, org, kind, name).await,
    }
}

/// The run's end: what it changes about the org's products, in the transaction of its last
/// step's check.
/// `false`: the lease is not this worker's any more (nothing is changed).
async fn finish(
    tx: &mut Transaction<'static, Postgres>,
    org: Uuid,
    run: Uuid,
    worker: Uuid,
    product: &str,
    action: &str,
) -> Result<bool, AppError> {
    if !end_run(tx, org, run, worker, "succeeded", "").await? {
        return Ok(false);
    }
    match action {
        // The org's resources are no product it has installed: they are not listed or counted.
        _ if product == super::catalog::RESOURCES => {}
        "install" | "upgrade" => {
            sqlx::query!(
                "insert into org_product (org_id, product, status, version, run_id)
                 select org_id, product, 'installed', version, run_id from product_run
                  where org_id = $1 and run_id = $2
                 on conflict (org_id, product) do update
                   set version = excluded.version, run_id = excluded.run_id, status = 'installed'",
                org,
                run
            )
            .execute(&mut **tx)
            .await?;
        }
        "uninstall" => {
            sqlx::query!(
                "delete from org_product where org_id = $1 and product = $2",
                org,
                product
            )
            .execute(&mut **tx)
            .await?;
        }
        _ => {}
    }
    let done = match action {
        "rollback" => "rolled_back",
        "upgrade" => "upgraded",
        "install" => "installed",
        _ => "uninstalled",
    };
    audit(
        tx,
        org,
        &format!("product.{done}"),
        product,
        json!({ "run": run }),
    )
    .await?;
    Ok(true)
}

async fn audit(
    tx: &mut Transaction<'static, Postgres>,
    org: Uuid,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into audit_event (org_id, action, target, details) values ($1, $2, $3, $4)",
        org,
        action,
        target,
        details
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Works runs for as long as the server serves: woken when a run is planned, and every second
/// in case another node planned one or a lease ran out.
pub fn spawn_worker(services: Services) {
    tokio::spawn(async move {
        let worker = Uuid::new_v4();
        loop {
            match work_once(&services, worker, None).await {
                Ok(Some((org, run, outcome))) => {
                    tracing::info!(%org, %run, ?outcome, "product run worked");
                    continue;
                }
                Ok(None) => {}
                Err(_) if shutting_down(&services) => return,
                Err(err) => tracing::warn!(%err, "product worker failed; retrying"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), services.products.wake.notified())
                .await;
        }
    });
}

/// Relays the database's `product_run` notifications (sent by a trigger when a run's state
/// commits, on whichever node) to [`Products::progress`], for as long as the server serves.
/// The listener reconnects by itself after the database restarts; the streams also re-read
/// now and then, so a notification lost meanwhile only delays an event.
pub fn spawn_progress_listener(services: Services) {
    tokio::spawn(async move {
        loop {
            let listening = async {
                let mut listener =
                    sqlx::postgres::PgListener::connect_with(lookup(&services).pool()).await?;
                listener.listen("product_run").await?;
                loop {
                    let note = listener.recv().await?;
                    if let Ok(run) = note.payload().parse::<Uuid>() {
                        // Nobody watching is fine.
                        let _ = services.products.progress.send(run);
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            if let Err(err) = listening.await {
                if shutting_down(&services) {
                    return;
                }
                tracing::warn!(%err, "product progress listener lost the database; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(name: &str, references: &[&str]) -> (String, String, serde_json::Value) {
        let columns: Vec<_> = references
            .iter()
            .map(|r| json!({"name": format!("{r}_id"), "type": "uuid", "references": r}))
            .collect();
        (
            "entity".into(),
            name.into(),
            json!({"kind": "entity", "name": name, "columns": columns}),
        )
    }

    #[test]
    fn tables_go_before_the_tables_they_reference_and_the_rest_goes_first() {
        // Newest first, as the ledger reads: an upgrade made `note` and pointed the older
        // `activity` at it.
        let made = vec![
            table("note", &["deal"]),
            ("skill".into(), "s".into(), json!({})),
            table("activity", &["deal", "note"]),
            table("deal", &[]),
            ("config".into(), "c".into(), json!({})),
        ];
        let order: Vec<String> = removal_order(made)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        assert_eq!(order, ["s", "c", "activity", "note", "deal"]);
    }

    #[test]
    fn an_upgrade_that_would_drop_a_table_is_refused_saying_which() {
        let catalog = Catalog::builtin().unwrap();
        let crm = catalog.get("crm").unwrap();
        let made: Vec<_> = crm
            .artifacts
            .iter()
            .map(|a| (a.kind().to_string(), a.name().to_string(), a.definition()))
            .collect();
        let mut next = crm.clone();
        next.version = 2;
        assert_eq!(
            upgrade_steps(&made, &next).unwrap(),
            vec![],
            "nothing changed"
        );
        next.artifacts.retain(|a| a.name() != "activity");
        let refused = upgrade_steps(&made, &next).unwrap_err();
        assert!(
            refused.contains("table activity") && refused.contains("never drops a table"),
            "{refused}"
        );
    }
}
