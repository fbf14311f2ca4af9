//! The Organizations table: one page, its filters and the summary cards, from the platform
//! path (every org for a superadmin, only the caller's own orgs otherwise).

use uuid::Uuid;

use super::{OrgCounts, OrgPage, OrgQuery, OrgRow, PAGE_SIZE};
use crate::{tenancy::gate::Gate, AppError};
use leptos::server_fn::ServerFn;

pub async fn page(query: OrgQuery) -> Result<OrgPage, AppError> {
    let gate = Gate::open(super::ListOrgs::PATH)?;
    let principal = gate.principal().await?;
    // platform.org_page and org_summary show every org only without `member_of`, which only a
    // superadmin's proof leaves out.
    let lookup = crate::tenancy::gate::lookup(gate.services());
    // None (every org) only with a superadmin proof.
    let member_of: Option<Uuid> = match principal.superadmin() {
        Ok(_proof) => None,
        Err(_) => Some(principal.user_id),
    };
    let query = query.normalized();
    let search = (!query.q.is_empty()).then(|| escape_like(&query.q));
    let product = (!query.product.is_empty()).then(|| query.product.clone());
    let rows = sqlx::query!(
        r#"select org_id as "org_id!", org_number as "org_number!", name as "name!",
                  slug as "slug!", primary_domain, product as "product!", status as "status!",
                  template as "template!", member_count as "member_count!",
                  subscription_status, plan_name, installed_products as "installed_products!",
                  created_at as "created_at!", total as "total!"
             from platform.org_page($1, $2, $3, $4, $5, $6, $7)"#,
        member_of,
        search,
        product,
        query.sort,
        query.dir == "desc",
        PAGE_SIZE as i32,
        // Far past the end is an empty page, not an overflow.
        ((query.page - 1) * PAGE_SIZE).min(i32::MAX as i64) as i32
    )
    .fetch_all(lookup.pool());
    let counts = sqlx::query_as!(
        OrgCounts,
        r#"select total as "total!", active as "active!", trialing as "trialing!",
                  past_due as "past_due!", cancelled as "cancelled!",
                  no_subscription as "no_subscription!"
             from platform.org_summary($1)"#,
        member_of
    )
    .fetch_one(lookup.pool());
    // Two connections, one round trip's wait.
    let (rows, counts) = tokio::try_join!(rows, counts)?;
    let matching = rows.first().map(|r| r.total).unwrap_or(0);
    Ok(OrgPage {
        can_create: principal.superadmin,
        rows: rows
            .into_iter()
            .map(|r| OrgRow {
                id: r.org_id.to_string(),
                number: r.org_number,
                name: r.name,
                slug: r.slug,
                domain: r.primary_domain.unwrap_or_default(),
                product: r.product,
                status: r.status,
                template: r.template,
                users: r.member_count,
                subscription: r.subscription_status,
                plan: r.plan_name,
                installed_products: r.installed_products,
                created_at: r.created_at,
            })
            .collect(),
        matching,
        counts,
        query,
    })
}

/// `value` matched literally inside `ilike '%…%'`.
pub(crate) fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
