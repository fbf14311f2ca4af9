//! The tenancy gate (DESIGN.md, "The tenancy gate"): every server function that touches
//! organization data starts here, and gets either a refusal a person can act on or a [`Tenant`],
//! the one handle to tenant data.
//!
//! 1. **Resolve**: the org named by the `Host` (subdomain or custom domain), the
//!    [`ORG_HEADER`], the token's `org` claim and any org id the function was called with. All
//!    present must agree (400 "conflicting organization context"); none is a 400 too. Never a
//!    default. Unknown → 404, disabled → 403 "organization disabled".
//! 2. **Authorize**: a live session of an active user who is a member of that org, or a
//!    superadmin; a bound user only in its bound org.
//! 3. **Scope**: all of it inside one transaction that has set `app.org_id` and `app.user_id`
//!    with `set_config(…, true)`, so row-level security scopes every statement that follows.
//!
//! Every decision is logged (target `tenancy`); refusals also go to the audit log.

use axum::http::{request::Parts, HeaderMap};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::host::{classify, HostTarget};
use crate::{auth::token, context::Services, AppError};

/// An explicit organization id, for API clients.
pub const ORG_HEADER: &str = "x-tenantry-org";

/// Where a request came from, for the logs and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
    pub path: String,
}

impl Client {
    pub fn of(parts: &Parts) -> Self {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string())
            .unwrap_or_default();
        let user_agent = header(&parts.headers, "user-agent")
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Self {
            ip,
            user_agent,
            path: parts.uri.path().to_string(),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A signed-in user with a live session, checked against the database on this request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub superadmin: bool,
    pub bound_org: Option<Uuid>,
    /// The org the token says is active.
    pub active_org: Option<Uuid>,
    pub client: Client,
}

/// Proof that the caller is a superadmin. Only [`Principal::superadmin`] makes one, after the
/// database said so on this request; the platform path demands it.
#[derive(Debug, Clone)]
pub struct Superadmin(Principal);

impl Principal {
    pub fn superadmin(&self) -> Result<Superadmin, AppError> {
        if self.superadmin {
            Ok(Superadmin(self.clone()))
        } else {
            Err(AppError::Forbidden(
                "Only a platform superadmin can do this.".to_string(),
            ))
        }
    }
}

impl Superadmin {
    pub fn principal(&self) -> &Principal {
        &self.0
    }

    /// Acts in any existing org, disabled ones included (to enable them again).
    pub async fn act_in(&self, pool: &PgPool, org_id: Uuid) -> Result<Tenant, AppError> {
        let found = sqlx::query_scalar!(
            r#"select status as "status!" from platform.org_by_id($1)"#,
            org_id
        )
        .fetch_optional(pool)
        .await?;
        if found.is_none() {
            return Err(AppError::NotFound("Organization".to_string()));
        }
        Tenant::begin(pool, org_id, self.0.clone(), None).await
    }
}

/// The one handle to tenant data: a transaction in which row-level security shows only
/// `org_id`'s rows. Dropped without [`Tenant::commit`], everything it wrote is rolled back.
pub struct Tenant {
    pub org_id: Uuid,
    pub principal: Principal,
    /// The caller's role in this org; `None` for a superadmin who is not a member.
    pub role: Option<String>,
    /// The Admin App sections the caller may open here (the membership's own list, else its
    /// role's; every section for a superadmin).
    pub pages: Vec<String>,
    tx: Transaction<'static, Postgres>,
}

impl Tenant {
    async fn begin(
        pool: &PgPool,
        org_id: Uuid,
        principal: Principal,
        role: Option<String>,
    ) -> Result<Self, AppError> {
        let mut tx = pool.begin().await?;
        set_scope(&mut tx, Some(org_id), principal.user_id).await?;
        // Superadmins and org creators may open everything; `authorize` narrows it for members.
        let pages = crate::orgs::PAGES.iter().map(|p| p.to_string()).collect();
        Ok(Self {
            org_id,
            principal,
            role,
            pages,
            tx,
        })
    }

    /// A transaction for an organization that is being created in it (its row does not exist
    /// yet). Only the org lifecycle calls this.
    pub(crate) async fn for_new_org(
        pool: &PgPool,
        org_id: Uuid,
        principal: Principal,
    ) -> Result<Self, AppError> {
        Self::begin(pool, org_id, principal, Some("owner".to_string())).await
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), AppError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Owners and admins of the org, and superadmins.
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self.role.as_deref() {
            _ if self.principal.superadmin => Ok(()),
            Some("owner" | "admin") => Ok(()),
            _ => Err(AppError::Forbidden(
                "Only an owner or admin of this organization can do this.".to_string(),
            )),
        }
    }

    /// The caller may open `page` (one of [`crate::orgs::PAGES`]) in this org: checked on the
    /// server, not only by hiding a link.
    pub fn require_page(&self, page: &str) -> Result<(), AppError> {
        if self.principal.superadmin || self.pages.iter().any(|p| p == page) {
            Ok(())
        } else {
            let mut label = page.to_string();
            label[..1].make_ascii_uppercase();
            Err(AppError::Forbidden(format!(
                "You do not have access to {label} in this organization."
            )))
        }
    }

    /// Records what the caller did in this org, in the same transaction as the change.
    pub async fn audit(
        &mut self,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        let client = &self.principal.client;
        sqlx::query!(
            "insert into audit_event (org_id, actor_user_id, action, target, ip, user_agent, details)
             values ($1, $2, $3, $4, $5, $6, $7)",
            self.org_id,
            self.principal.user_id,
            action,
            target,
            client.ip,
            client.user_agent,
            details
        )
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

/// Sets the transaction-local scope the row-level security policies read. `set_config(…, true)`
/// ends with the transaction, so a pooled connection never carries one request's org into the
/// next.
pub(crate) async fn set_scope(
    conn: &mut PgConnection,
    org_id: Option<Uuid>,
    user_id: Uuid,
) -> Result<(), AppError> {
    sqlx::query!(
        "select set_config('app.org_id', coalesce($1::uuid::text, ''), true) as org_scope,
                set_config('app.user_id', $2::uuid::text, true) as user_scope",
        org_id,
        user_id
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// A transaction in `org_id` for a verified server-to-server caller with no person behind it
/// (a signed Stripe webhook, a job): row-level security as for anyone, `actor` for the log.
pub async fn system_scope(
    pool: &PgPool,
    org_id: Uuid,
    actor: &str,
) -> Result<Transaction<'static, Postgres>, AppError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "select set_config('app.org_id', $1::uuid::text, true) as org_scope",
        org_id
    )
    .fetch_one(&mut *tx)
    .await?;
    tracing::info!(target: "tenancy", decision = "allow", org = %org_id, actor, via = "system");
    Ok(tx)
}

/// The caller, in the org the request names. `explicit` is an org id the server function was
/// called with: one more source that must agree with the others.
pub async fn tenant(
    services: &Services,
    parts: &Parts,
    explicit: Option<Uuid>,
) -> Result<Tenant, AppError> {
    let client = Client::of(parts);
    let claims = verified_claims(services, parts)?;
    let result = async {
        let org_id = resolve(services, parts, claims.org, explicit).await?;
        authorize(services, org_id, &claims, client.clone()).await
    }
    .await;
    match &result {
        Ok(tenant) => tracing::info!(
            target: "tenancy", decision = "allow", org = %tenant.org_id, user = %claims.sub,
            role = tenant.role.as_deref().unwrap_or("superadmin"), path = %client.path,
        ),
        Err(err) => {
            reject(
                services,
                &client,
                Some(claims.sub),
                claims.org.or(explicit),
                err,
            )
            .await
        }
    }
    result
}

/// The caller managing `org_id` from a page that lists several orgs: a superadmin acts in it
/// through the platform path (any org, disabled ones included); anyone else goes through the
/// gate with `org_id` as the explicit source, so it must be the org they are acting in.
pub async fn manage(services: &Services, parts: &Parts, org_id: Uuid) -> Result<Tenant, AppError> {
    let principal = principal(services, parts).await?;
    match principal.superadmin() {
        Ok(admin) => {
            let tenant = admin.act_in(&services.pool, org_id).await?;
            tracing::info!(
                target: "tenancy", decision = "allow", org = %org_id, user = %principal.user_id,
                role = "superadmin", path = %principal.client.path, via = "platform",
            );
            Ok(tenant)
        }
        Err(_) => tenant(services, parts, Some(org_id)).await,
    }
}

/// The caller, without an org (sign-out, the switcher, the platform path).
pub async fn principal(services: &Services, parts: &Parts) -> Result<Principal, AppError> {
    let client = Client::of(parts);
    let claims = verified_claims(services, parts)?;
    let mut tx = services.pool.begin().await?;
    set_scope(&mut tx, None, claims.sub).await?;
    let row = sqlx::query!(
        r#"select u.status, u.is_superadmin, u.bound_org_id
             from session s join app_user u on u.user_id = s.user_id
            where s.session_id = $1 and s.user_id = $2
              and s.revoked_at is null and s.expires_at > now()"#,
        claims.sid,
        claims.sub
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let result = match row {
        None => Err(AppError::Unauthorized),
        Some(row) if row.status != "active" => Err(account_disabled()),
        Some(row) => Ok(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            superadmin: row.is_superadmin,
            bound_org: row.bound_org_id,
            active_org: claims.org,
            client: client.clone(),
        }),
    };
    if let Err(err) = &result {
        reject(services, &client, Some(claims.sub), None, err).await;
    }
    result
}

/// The claims of the request's token, or 401.
fn verified_claims(services: &Services, parts: &Parts) -> Result<token::Claims, AppError> {
    let claims = token::from_headers(&parts.headers).and_then(|t| services.tokens.verify(&t));
    if claims.is_none() {
        tracing::info!(target: "tenancy", decision = "deny", reason = "no valid token", path = %parts.uri.path());
    }
    claims.ok_or(AppError::Unauthorized)
}

/// Step 1: the org every source names, looked up.
pub(crate) async fn resolve(
    services: &Services,
    parts: &Parts,
    claimed: Option<Uuid>,
    explicit: Option<Uuid>,
) -> Result<Uuid, AppError> {
    let pool = &services.pool;
    let mut found: Vec<(&str, Option<(Uuid, String)>)> = Vec::new();

    if let Some(host) = header(&parts.headers, "host") {
        match classify(host, &services.base_domain)
            .map_err(|e| AppError::BadRequest(format!("Invalid Host header: {e}.")))?
        {
            HostTarget::Platform => {}
            HostTarget::Subdomain(slug) => {
                let org = sqlx::query!(
                    r#"select org_id as "org_id!", status as "status!" from platform.org_by_slug($1)"#,
                    slug
                )
                .fetch_optional(pool)
                .await?;
                found.push(("subdomain", org.map(|o| (o.org_id, o.status))));
            }
            HostTarget::Custom(domain) => {
                let org = sqlx::query!(
                    r#"select org_id as "org_id!", status as "status!" from platform.org_by_domain($1)"#,
                    domain
                )
                .fetch_optional(pool)
                .await?;
                found.push(("domain", org.map(|o| (o.org_id, o.status))));
            }
        }
    }
    let header_org = match parts.headers.get(ORG_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| Uuid::parse_str(v.trim()).ok())
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "The {ORG_HEADER} header must be an organization id."
                    ))
                })?,
        ),
    };
    for (source, id) in [
        ("header", header_org),
        ("token", claimed),
        ("argument", explicit),
    ] {
        if let Some(id) = id {
            let org = sqlx::query_scalar!(
                r#"select status as "status!" from platform.org_by_id($1)"#,
                id
            )
            .fetch_optional(pool)
            .await?;
            found.push((source, org.map(|status| (id, status))));
        }
    }

    let mut orgs = Vec::with_capacity(found.len());
    for (source, org) in found {
        match org {
            Some(org) => orgs.push(org),
            None => {
                tracing::info!(target: "tenancy", decision = "deny", reason = "unknown org", source);
                return Err(AppError::NotFound("Organization".to_string()));
            }
        }
    }
    let Some((org_id, status)) = orgs.first().cloned() else {
        return Err(AppError::BadRequest(
            "organization context required".to_string(),
        ));
    };
    if orgs.iter().any(|(id, _)| *id != org_id) {
        return Err(AppError::BadRequest(
            "conflicting organization context".to_string(),
        ));
    }
    if status != "active" {
        return Err(AppError::Forbidden("organization disabled".to_string()));
    }
    Ok(org_id)
}

/// Steps 2 and 3: the session and the membership, read inside the scoped transaction.
async fn authorize(
    services: &Services,
    org_id: Uuid,
    claims: &token::Claims,
    client: Client,
) -> Result<Tenant, AppError> {
    let principal = Principal {
        user_id: claims.sub,
        session_id: claims.sid,
        superadmin: false,
        bound_org: None,
        active_org: claims.org,
        client,
    };
    let mut tenant = Tenant::begin(&services.pool, org_id, principal, None).await?;
    let row = sqlx::query!(
        r#"select u.status, u.is_superadmin, u.bound_org_id, m.role_name as "role?",
                  coalesce(m.pages, r.pages) as pages
             from session s
             join app_user u on u.user_id = s.user_id
             left join membership m on m.org_id = $3 and m.user_id = u.user_id
             left join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
            where s.session_id = $1 and s.user_id = $2
              and s.revoked_at is null and s.expires_at > now()"#,
        claims.sid,
        claims.sub,
        org_id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or(AppError::Unauthorized)?;
    if row.status != "active" {
        return Err(account_disabled());
    }
    if row.bound_org_id.is_some_and(|bound| bound != org_id) {
        return Err(AppError::Forbidden(
            "This account is locked to its own organization.".to_string(),
        ));
    }
    if row.role.is_none() && !row.is_superadmin {
        return Err(AppError::Forbidden(
            "You are not a member of this organization.".to_string(),
        ));
    }
    tenant.principal.superadmin = row.is_superadmin;
    tenant.principal.bound_org = row.bound_org_id;
    tenant.role = row.role;
    if !row.is_superadmin {
        tenant.pages = row.pages.unwrap_or_default();
    }
    Ok(tenant)
}

fn account_disabled() -> AppError {
    AppError::Forbidden("Your account is disabled.".to_string())
}

/// Logs a refusal and records it in the audit log of the org it aimed at (or as a platform
/// event). Recording is best effort: a failure to audit must not turn a 403 into a 500.
pub(crate) async fn reject(
    services: &Services,
    client: &Client,
    actor: Option<Uuid>,
    org: Option<Uuid>,
    err: &AppError,
) {
    tracing::info!(
        target: "tenancy", decision = "deny", status = err.status(), reason = %err,
        user = ?actor, org = ?org, path = %client.path,
    );
    if matches!(err, AppError::Internal) {
        return;
    }
    let recorded = sqlx::query!(
        "select platform.record_audit($1, $2, 'access.denied', $3, $4, $5, $6)",
        org,
        actor,
        client.path,
        client.ip,
        client.user_agent,
        serde_json::json!({ "status": err.status(), "reason": err.to_string() })
    )
    .execute(&services.pool)
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record a refusal in the audit log");
    }
}

/// The request parts of the server function or page being handled.
pub fn request_parts() -> Result<Parts, AppError> {
    leptos::prelude::use_context::<Parts>()
        .ok_or_else(|| AppError::internal("tenancy gate", "no request parts in context"))
}
