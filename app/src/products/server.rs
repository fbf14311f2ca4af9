//! The server side of the Products endpoints: each opens the gate for its own need, plans or
//! reads runs in the org's tenant scope, and wakes the worker.

use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    artifacts,
    catalog::{Catalog, Product},
    engine::{self, Step},
    CatalogEntry, OrgProductRow, ProductsOfOrg, RunView, StepView, UninstallPlan,
};
use crate::{
    error::parse_uuid,
    tenancy::{
        access::Level,
        access::Section,
        gate::{Gate, Tenant},
    },
    AppError,
};

pub async fn catalog() -> Result<Vec<CatalogEntry>, AppError> {
    let gate = Gate::open(super::Catalog::PATH)?;
    gate.principal().await?;
    Ok(gate
        .services()
        .products
        .catalog
        .products()
        .iter()
        .map(|p| CatalogEntry {
            product: p.product.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            version: p.version,
            artifacts: p
                .artifacts
                .iter()
                .map(|a| (a.kind().to_string(), a.name().to_string()))
                .collect(),
        })
        .collect())
}

/// Runs with their steps.
pub(super) async fn runs(
    conn: &mut PgConnection,
    org: Uuid,
    ids: &[Uuid],
) -> Result<Vec<RunView>, AppError> {
    let runs = sqlx::query!(
        r#"select run_id, product, version, action, status, error, total, done, revision,
                  coalesce(lease_until > now(), false) as "live!"
             from product_run where org_id = $1 and run_id = any($2)"#,
        org,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let steps = sqlx::query!(
        "select run_id, seq, kind, name, op, status, error, duration_ms from product_step
          where org_id = $1 and run_id = any($2) order by run_id, seq",
        org,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(runs
        .into_iter()
        .map(|r| RunView {
            steps: steps
                .iter()
                .filter(|s| s.run_id == r.run_id)
                .map(|s| StepView {
                    seq: s.seq,
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    op: s.op.clone(),
                    status: s.status.clone(),
                    error: s.error.clone(),
                    duration_ms: s.duration_ms,
                })
                .collect(),
            run_id: r.run_id.to_string(),
            product: r.product,
            version: r.version,
            action: r.action,
            status: r.status,
            error: r.error,
            total: r.total,
            done: r.done,
            live: r.live,
            revision: r.revision,
        })
        .collect())
}

pub async fn org_products(org_id: &str) -> Result<ProductsOfOrg, AppError> {
    let gate = Gate::open(super::OrgProducts::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let catalog = gate.services().products.catalog.clone();
    let org = tenant.org_id;
    let installed = sqlx::query!(
        "select product, version from org_product where org_id = $1",
        org
    )
    .fetch_all(tenant.conn())
    .await?;
    // The latest run of each product.
    let latest = sqlx::query_scalar!(
        r#"select distinct on (product) run_id as "run_id!" from product_run
            where org_id = $1 order by product, created_at desc"#,
        org
    )
    .fetch_all(tenant.conn())
    .await?;
    let runs = runs(tenant.conn(), org, &latest).await?;
    let can_manage = tenant.may(Section::Products, Level::Admin);
    tenant.commit().await?;
    let rows = catalog
        .products()
        .iter()
        .map(|p| OrgProductRow {
            product: p.product.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            version: p.version,
            installed: installed
                .iter()
                .find(|i| i.product == p.product)
                .map(|i| i.version),
            run: runs.iter().find(|r| r.product == p.product).cloned(),
        })
        .collect();
    Ok(ProductsOfOrg { rows, can_manage })
}

/// The version of `product` installed in the org, if it is.
async fn installed(
    conn: &mut PgConnection,
    org: Uuid,
    product: &str,
) -> Result<Option<i32>, AppError> {
    Ok(sqlx::query_scalar!(
        "select version from org_product where org_id = $1 and product = $2",
        org,
        product
    )
    .fetch_optional(conn)
    .await?)
}

fn product_of<'a>(catalog: &'a Catalog, key: &str) -> Result<&'a Product, AppError> {
    if key == super::catalog::RESOURCES {
        return Err(AppError::Forbidden(
            "The organization's resources in the data stores are the platform's: they are made \
             with the organization and removed with it."
                .to_string(),
        ));
    }
    catalog
        .get(key)
        .ok_or_else(|| AppError::field("product", "There is no such product in the catalog."))
}

/// Plans `steps` as an `action` run of `product` in the tenant's org and records `event` (with
/// the details made from the run's id) in its audit log, both in the tenant's transaction.
pub(crate) async fn plan_audited(
    tenant: &mut Tenant,
    product: &Product,
    action: &str,
    steps: &[Step],
    event: &str,
    details: impl FnOnce(Uuid) -> serde_json::Value,
) -> Result<Uuid, AppError> {
    let (org, actor) = (tenant.org_id, Some(tenant.principal.user_id));
    let run = engine::plan(tenant.conn(), org, product, action, steps, actor).await?;
    tenant.audit(event, &product.product, details(run)).await?;
    Ok(run)
}

/// [`plan_audited`], then commits and wakes the worker: the run's id.
async fn start_run(
    gate: &Gate,
    mut tenant: Tenant,
    product: &Product,
    action: &str,
    steps: &[Step],
    event: &str,
    details: impl FnOnce(Uuid) -> serde_json::Value,
) -> Result<String, AppError> {
    let run = plan_audited(&mut tenant, product, action, steps, event, details).await?;
    tenant.commit().await?;
    gate.services().products.wake.notify_one();
    Ok(run.to_string())
}

pub async fn install(org_id: &str, product: &str) -> Result<String, AppError> {
    let gate = Gate::open(super::Install::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let catalog = gate.services().products.catalog.clone();
    let product = product_of(&catalog, product)?;
    let org = tenant.org_id;
    if installed(tenant.conn(), org, &product.product)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "{} is installed in this organization already.",
            product.name
        )));
    }
    let steps = engine::install_steps(product);
    start_run(
        &gate,
        tenant,
        product,
        "install",
        &steps,
        "product.install_started",
        |run| json!({ "run": run, "version": product.version }),
    )
    .await
}

/// What the product's runs made in the org (or the run `run`'s), in the order to remove it
/// ([`engine::removal_order`]).
async fn removal(
    conn: &mut PgConnection,
    org: Uuid,
    product: &str,
    run: Option<Uuid>,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(engine::removal_order(
        engine::made(conn, org, product, run).await?,
    ))
}

/// The steps that remove what [`removal`] lists.
fn removal_steps(made: Vec<(String, String)>) -> Vec<Step> {
    made.into_iter()
        .map(|(kind, name)| (kind, name, json!({}), "remove"))
        .collect()
}

pub async fn uninstall_preview(org_id: &str, product: &str) -> Result<UninstallPlan, AppError> {
    let gate = Gate::open(super::UninstallPreview::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let catalog = gate.services().products.catalog.clone();
    let product = product_of(&catalog, product)?;
    let org = tenant.org_id;
    let made = removal(tenant.conn(), org, &product.product, None).await?;
    let tables: Vec<String> = made
        .iter()
        .filter(|(kind, _)| kind == "entity")
        .map(|(_, name)| name.clone())
        .collect();
    let rows = artifacts::table_rows(tenant.conn(), org, &tables).await?;
    tenant.commit().await?;
    Ok(UninstallPlan {
        product: product.product.clone(),
        name: product.name.clone(),
        artifacts: made
            .into_iter()
            .map(|(kind, name)| {
                let n = rows
                    .iter()
                    .find(|(t, _)| kind == "entity" && *t == name)
                    .map(|(_, n)| *n);
                (kind, name, n)
            })
            .collect(),
    })
}

pub async fn uninstall(org_id: &str, product: &str) -> Result<String, AppError> {
    let gate = Gate::open(super::Uninstall::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let catalog = gate.services().products.catalog.clone();
    let product = product_of(&catalog, product)?;
    let org = tenant.org_id;
    if installed(tenant.conn(), org, &product.product)
        .await?
        .is_none()
    {
        return Err(AppError::Conflict(format!(
            "{} is not installed in this organization.",
            product.name
        )));
    }
    let steps = removal_steps(removal(tenant.conn(), org, &product.product, None).await?);
    start_run(
        &gate,
        tenant,
        product,
        "uninstall",
        &steps,
        "product.uninstall_started",
        |run| json!({ "run": run }),
    )
    .await
}

/// The failed run `run_id` of the caller's org, locked.
async fn failed_run(
    conn: &mut PgConnection,
    org: Uuid,
    run_id: &str,
) -> Result<(Uuid, String, String), AppError> {
    let run = parse_uuid(run_id, "run_id", "a run")?;
    let row = sqlx::query!(
        "select product, action, status from product_run
          where org_id = $1 and run_id = $2 for update",
        org,
        run
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| AppError::NotFound("Run".to_string()))?;
    if row.status != "failed" {
        return Err(AppError::Conflict(format!(
            "This run is {}, not failed: only a failed run is retried, rolled back or stopped.",
            row.status.replace('_', " ")
        )));
    }
    Ok((run, row.product, row.action))
}

pub async fn retry(org_id: &str, run_id: &str) -> Result<String, AppError> {
    let gate = Gate::open(super::RetryRun::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let (run, product, _) = failed_run(tenant.conn(), org, run_id).await?;
    sqlx::query!(
        "update product_step set status = 'pending', error = '', duration_ms = null,
                finished_at = null
          where org_id = $1 and run_id = $2 and status = 'failed'",
        org,
        run
    )
    .execute(tenant.conn())
    .await?;
    sqlx::query!(
        "update product_run set status = 'pending', error = '', finished_at = null
          where org_id = $1 and run_id = $2",
        org,
        run
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit("product.retried", &product, json!({ "run": run }))
        .await?;
    tenant.commit().await?;
    gate.services().products.wake.notify_one();
    Ok(run.to_string())
}

pub async fn stop_upgrade(org_id: &str, run_id: &str) -> Result<String, AppError> {
    let mut tenant = Gate::open(super::StopUpgrade::PATH)?
        .tenant_in(org_id)
        .await?;
    let org = tenant.org_id;
    let (run, product, action) = failed_run(tenant.conn(), org, run_id).await?;
    if action != "upgrade" {
        return Err(AppError::Conflict(
            "Only a failed upgrade is stopped; retry this run, or roll back a failed install."
                .to_string(),
        ));
    }
    sqlx::query!(
        "update product_run set status = 'stopped', finished_at = now()
          where org_id = $1 and run_id = $2",
        org,
        run
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit("product.upgrade_stopped", &product, json!({ "run": run }))
        .await?;
    tenant.commit().await?;
    Ok(run.to_string())
}

pub async fn roll_back(org_id: &str, run_id: &str) -> Result<String, AppError> {
    let gate = Gate::open(super::RollBackRun::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let catalog = gate.services().products.catalog.clone();
    let org = tenant.org_id;
    let (run, product_key, action) = failed_run(tenant.conn(), org, run_id).await?;
    if action != "install" {
        return Err(AppError::Conflict(
            "Only a failed install is rolled back; retry this run instead.".to_string(),
        ));
    }
    let product = product_of(&catalog, &product_key)?;
    // The failed run ends here, so the rollback can be the product's one active run.
    sqlx::query!(
        "update product_run set status = 'rolled_back', finished_at = now()
          where org_id = $1 and run_id = $2",
        org,
        run
    )
    .execute(tenant.conn())
    .await?;
    let steps = removal_steps(removal(tenant.conn(), org, &product_key, Some(run)).await?);
    start_run(
        &gate,
        tenant,
        product,
        "rollback",
        &steps,
        "product.rollback_started",
        |rollback| json!({ "run": run, "rollback": rollback }),
    )
    .await
}
