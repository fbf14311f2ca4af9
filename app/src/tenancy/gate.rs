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

use super::{
    access::{need_of, Grant, Level, Need, Section},
    cache::ReadsSince,
    host::{classify, HostTarget},
};
use crate::{auth::token, context::Services, AppError};

/// An explicit organization id, for API clients.
pub const ORG_HEADER: &str = "x-tenantry-org";

/// The client's address as the server established it: the TCP peer, or, when the peer is one
/// of the configured trusted proxies, the last address in `X-Forwarded-For` that is not one.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    pub fn resolve(
        peer: std::net::IpAddr,
        forwarded_for: Option<&str>,
        trusted: &[std::net::IpAddr],
    ) -> Self {
        if !trusted.contains(&peer) {
            return Self(peer);
        }
        // From the right: each trusted proxy appended the address it saw. The first address
        // that is not a trusted proxy is the client; an entry that cannot be read stops the
        // walk at the proxy that wrote it (never skipped: the client would choose what follows).
        let mut nearest = peer;
        for hop in forwarded_for.unwrap_or_default().rsplit(',') {
            let hop = hop.trim();
            let ip = hop
                .parse::<std::net::IpAddr>()
                .ok()
                .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()));
            match ip {
                Some(ip) if trusted.contains(&ip) => nearest = ip,
                Some(ip) => return Self(ip),
                None => return Self(nearest),
            }
        }
        Self(nearest)
    }
}

/// Where a request came from, for the logs and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
    pub path: String,
}

impl Client {
    pub fn of(parts: &Parts) -> Self {
        // The server puts the client's address here (the peer, or what a trusted proxy says);
        // without it (tests, tools), the peer.
        let ip = parts
            .extensions
            .get::<ClientAddr>()
            .map(|addr| addr.0.to_string())
            .or_else(|| {
                parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|info| info.0.ip().to_string())
            })
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
    pub(in crate::tenancy) async fn act_in(
        &self,
        pool: &PgPool,
        org_id: Uuid,
    ) -> Result<Tenant, AppError> {
        let found = sqlx::query_scalar!(
            r#"select status as "status!" from platform.org_by_id($1)"#,
            org_id
        )
        .fetch_optional(pool)
        .await?;
        if found.is_none() {
            return Err(AppError::NotFound("Organization".to_string()));
        }
        self.act_in_existing(pool, org_id).await
    }

    /// Acts in `org_id`, which the caller has just seen exist.
    async fn act_in_existing(&self, pool: &PgPool, org_id: Uuid) -> Result<Tenant, AppError> {
        let grant = Grant {
            superadmin: true,
            role: None,
            sections: Section::ALL.to_vec(),
        };
        Tenant::begin(pool, org_id, self.0.clone(), grant).await
    }
}

/// The one handle to tenant data: a transaction in which row-level security shows only
/// `org_id`'s rows. Dropped without [`Tenant::commit`], everything it wrote is rolled back.
/// It carries what the caller holds here ([`Grant`]), given when the handle is made and never
/// widened afterwards.
pub struct Tenant {
    pub org_id: Uuid,
    pub principal: Principal,
    pub grant: Grant,
    tx: Transaction<'static, Postgres>,
}

impl Tenant {
    async fn begin(
        pool: &PgPool,
        org_id: Uuid,
        principal: Principal,
        grant: Grant,
    ) -> Result<Self, AppError> {
        let tx = begin_scoped(
            pool,
            format!("begin; {}", scope_sql(org_id, principal.user_id)),
        )
        .await?;
        Ok(Self {
            org_id,
            principal,
            grant,
            tx,
        })
    }

    /// A transaction for an organization that is being created in it (its row does not exist
    /// yet): by a superadmin, or by a person registering. Only the org lifecycle and
    /// registration call this.
    pub(crate) async fn for_new_org(
        services: &Services,
        org_id: Uuid,
        principal: Principal,
    ) -> Result<Self, AppError> {
        let pool = services.db.pool();
        let grant = Grant {
            superadmin: principal.superadmin,
            role: Some("owner".to_string()),
            sections: Section::ALL.to_vec(),
        };
        Self::begin(pool, org_id, principal, grant).await
    }

    /// The caller's role in this org; `None` for a superadmin who is not a member.
    pub fn role(&self) -> Option<&str> {
        self.grant.role.as_deref()
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), AppError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Ends a transaction that only read, without waiting for the database: it is rolled back,
    /// and the `ROLLBACK` goes out with the check sqlx's pool makes of every connection coming
    /// back to it (a round trip it takes anyway, after the answer), instead of a `COMMIT`
    /// round trip the caller waits for. Nothing written here would be kept: only for reads.
    pub(crate) fn end_read(self) {
        drop(self.tx);
    }

    /// Whether the caller may also act in `section` at `level` here: for what a page shows
    /// (a button, a column), never instead of the endpoint's declared need.
    pub fn may(&self, section: Section, level: Level) -> bool {
        self.grant.allows(section, level)
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

/// A transaction begun by `statement` (which begins it and sets its scope in one message), on
/// a task of its own: if the request is dropped while the message is in flight, the task still
/// receives the answer and the finished transaction rolls back when dropped. Awaited in place,
/// a cancelled begin would return the connection to the pool inside the transaction, scope and
/// all (sqlx counts a transaction only once its `BEGIN` has answered).
pub(crate) async fn begin_scoped(
    pool: &PgPool,
    statement: String,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    match tokio::spawn(async move { pool.begin_with(statement).await }).await {
        Ok(began) => began,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(sqlx::Error::Protocol(format!(
            "the task beginning a transaction: {e}"
        ))),
    }
}

/// [`set_scope`] as SQL text, to send in the same round trip as the `BEGIN` before it. Only
/// ids are written into it, as [`Uuid`]'s own hex form: nothing a caller typed.
fn scope_sql(org_id: Uuid, user_id: Uuid) -> String {
    format!(
        "select set_config('app.org_id', '{org_id}', true), \
                set_config('app.user_id', '{user_id}', true)"
    )
}

/// A transaction in `org_id` for a verified server-to-server caller with no person behind it
/// (a signed Stripe webhook, a job): row-level security as for anyone, `actor` for the log.
pub async fn system_scope(
    services: &Services,
    org_id: Uuid,
    actor: &str,
) -> Result<Transaction<'static, Postgres>, AppError> {
    let mut tx = begin_scoped(services.db.pool(), "begin".to_string()).await?;
    // `app.system` names the verified caller: the database lets it, like a superadmin, write
    // entitlements (migration 15).
    sqlx::query!(
        "select set_config('app.org_id', $1::uuid::text, true) as org_scope,
                set_config('app.system', $2, true) as system_scope",
        org_id,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    tracing::info!(target: "tenancy", decision = "allow", org = %org_id, actor, via = "system");
    Ok(tx)
}

/// A transaction in no org, as `user_id`: their own account row and sessions (sign-in, sign-out,
/// the session's own details). Row-level security shows nobody else's.
pub async fn account_scope(
    services: &Services,
    user_id: Uuid,
) -> Result<Transaction<'static, Postgres>, AppError> {
    let mut tx = begin_scoped(services.db.pool(), "begin".to_string()).await?;
    set_scope(&mut tx, None, user_id).await?;
    Ok(tx)
}

/// The narrow cross-org lookups: the `platform` schema's security-definer functions that answer
/// one question each (a user's orgs, sign-in by email, host → org, the first superadmin, an
/// audit record, the org of a Stripe subscription). For the auth flows, the org list's filtered
/// page and the system callers; whatever else it runs meets row-level security with no org.
pub struct Lookup<'a>(&'a PgPool);

impl Lookup<'_> {
    pub fn pool(&self) -> &PgPool {
        self.0
    }
}

/// The lookups, for a caller that has established who it is (or is signing in).
pub fn lookup(services: &Services) -> Lookup<'_> {
    Lookup(services.db.pool())
}

/// Whether the server is shutting down (its pool is closed): background jobs stop then rather
/// than report the failures that follow.
pub fn shutting_down(services: &Services) -> bool {
    services.db.pool().is_closed()
}

/// The gate for one endpoint: the request's context and the endpoint's declared need
/// ([`need_of`]). Every server function starts by opening one and asking it for the handle its
/// need calls for; the handle exists only if the caller satisfies the need. Asking for a handle
/// the need does not give (a platform handle on a section need, say) is refused: the
/// declaration, not the call site, decides.
pub struct Gate {
    services: Services,
    parts: Parts,
    endpoint: &'static str,
    need: Need,
}

impl Gate {
    /// The gate for `endpoint` (a server function's `PATH`, a page's route, `METHOD path` of an
    /// agent route), with the request read from context. Call it before any `.await`: during
    /// server rendering the context may be gone after one.
    #[track_caller]
    pub fn open(endpoint: &'static str) -> Result<Gate, AppError> {
        Self::with(crate::context::services()?, request_parts()?, endpoint)
    }

    /// The gate for `endpoint` with context its caller already read.
    pub fn with(
        services: Services,
        parts: Parts,
        endpoint: &'static str,
    ) -> Result<Gate, AppError> {
        let need = need_of(endpoint).ok_or_else(|| {
            AppError::internal("authority", format!("{endpoint} declares no need"))
        })?;
        Ok(Gate {
            services,
            parts,
            endpoint,
            need,
        })
    }

    pub fn need(&self) -> Need {
        self.need
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    fn misdeclared(&self, asked: &str) -> AppError {
        AppError::internal(
            "authority",
            format!(
                "{} declares {:?} but asked for {asked}",
                self.endpoint, self.need
            ),
        )
    }

    /// For a public endpoint: nothing to check, but the declaration must say so.
    pub fn public(&self) -> Result<(), AppError> {
        match self.need {
            Need::Public => Ok(()),
            _ => Err(self.misdeclared("nothing")),
        }
    }

    /// The signed-in caller, in no particular org (declared `SignedIn`).
    pub async fn principal(&self) -> Result<Principal, AppError> {
        match self.need {
            Need::SignedIn | Need::Public => principal(&self.services, &self.parts).await,
            _ => Err(self.misdeclared("a principal")),
        }
    }

    /// A superadmin's handle (declared `Platform`): the only one that crosses orgs.
    pub async fn platform(&self) -> Result<Platform, AppError> {
        if self.need != Need::Platform {
            return Err(self.misdeclared("the platform"));
        }
        let admin = principal(&self.services, &self.parts).await?.superadmin()?;
        Ok(Platform {
            admin,
            pool: self.services.db.pool().clone(),
        })
    }

    /// The caller in the org the request acts in (host, header, token), holding the declared
    /// section need (or `Member`).
    pub async fn tenant(&self) -> Result<Tenant, AppError> {
        self.check_tenant_need()?;
        let tenant = tenant(&self.services, &self.parts, None).await?;
        self.admit(tenant, None).await
    }

    /// The caller in `org_id`, named by the request's arguments: a superadmin reaches any org
    /// (disabled ones included) through the platform path; anyone else must be acting in it.
    pub async fn tenant_in(&self, org_id: &str) -> Result<Tenant, AppError> {
        self.check_tenant_need()?;
        let org_id = crate::error::parse_uuid(org_id, "org_id", "an organization")?;
        let tenant = manage(&self.services, &self.parts, org_id).await?;
        self.admit(tenant, Some(org_id)).await
    }

    /// A superadmin's platform handle, or else the caller in the org acting in under the
    /// declared need: for lists that show everything to the platform and one org to others.
    pub async fn platform_or_tenant(&self) -> Result<Access, AppError> {
        self.check_tenant_need()?;
        let principal = principal(&self.services, &self.parts).await?;
        match principal.superadmin() {
            Ok(admin) => Ok(Access::Platform(Platform {
                admin,
                pool: self.services.db.pool().clone(),
            })),
            Err(_) => Ok(Access::Tenant(self.tenant().await?)),
        }
    }

    fn check_tenant_need(&self) -> Result<(), AppError> {
        match self.need {
            Need::Member | Need::Section(..) => Ok(()),
            _ => Err(self.misdeclared("an org")),
        }
    }

    /// The tenant if its grant holds the need (a sample of these kept as `routing.allow`), else
    /// the refusal, recorded. `explicit`: the org the endpoint was called with, if any.
    async fn admit(&self, tenant: Tenant, explicit: Option<Uuid>) -> Result<Tenant, AppError> {
        if self.need.allows(&tenant.grant) {
            self.sample_allow(&tenant.principal, tenant.org_id, tenant.role(), explicit);
            return Ok(tenant);
        }
        let err = refusal(self.need, &tenant.grant);
        let (client, actor, org) = (
            tenant.principal.client.clone(),
            tenant.principal.user_id,
            tenant.org_id,
        );
        drop(tenant);
        reject(&self.services, &client, Some(actor), Some(org), &err).await;
        Err(err)
    }
}

impl Gate {
    /// Keeps a sample of the allowed requests as `routing.allow` (at the configured rate).
    fn sample_allow(
        &self,
        principal: &Principal,
        org: Uuid,
        role: Option<&str>,
        explicit: Option<Uuid>,
    ) {
        if sampled(self.services.routing_sample) {
            let sources = sources_seen(&self.services, &self.parts, principal.active_org, explicit);
            record_routing_later(
                &self.services,
                &principal.client,
                Some(principal.user_id),
                Some(org),
                serde_json::json!({
                    "sources": sources,
                    "role": role.unwrap_or("superadmin"),
                }),
            );
        }
    }

    /// A read of org-wide data (`kind`: the same for everyone the need admits, as the org read
    /// is), answered from the node's memory without a transaction: for the caller acting in
    /// the org the request names, if the node remembers both their access there and the read,
    /// and the database confirms, after the request arrived, that neither changed (the access
    /// stamp and the org's data version; many requests share one statement,
    /// [`super::cache::AccessCache::confirm`]). Else read it through [`Gate::tenant`], then
    /// [`Gate::keep_read`] with what [`Recalled::Read`] carries.
    pub(crate) async fn remembered_read<T>(
        &self,
        kind: &'static str,
    ) -> Result<Recalled<T>, AppError>
    where
        T: Clone + Send + Sync + 'static,
    {
        self.check_tenant_need()?;
        let memory = self.services.db.access();
        let miss = Ok(Recalled::Read(memory.reads_since()));
        let Some((claims, org, verified)) =
            recall(&self.services, &self.parts, Remembered::Acting(None))
        else {
            return miss;
        };
        if !self.need.allows(&verified.grant) {
            return miss;
        }
        let Some((version, value)) = memory.read::<T>(org, kind) else {
            return miss;
        };
        let ask = super::cache::Ask {
            org,
            user: claims.sub,
            session: claims.sid,
        };
        match memory.confirm(self.services.db.pool(), ask).await {
            Ok(now) if now.stamp.as_deref() == Some(verified.stamp.as_str()) => {
                if now.data_version != Some(version) {
                    return miss;
                }
            }
            Ok(_) => {
                memory.forget_session(claims.sid);
                return miss;
            }
            Err(error) => {
                tracing::warn!(target: "tenancy", %error, "confirmation failed: the full path");
                return miss;
            }
        }
        let role = verified.grant.role.as_deref();
        tracing::info!(
            target: "tenancy", decision = "allow", org = %org, user = %claims.sub,
            role = role.unwrap_or("superadmin"), path = %self.parts.uri.path(),
            via = "memory", read = kind,
        );
        if self.services.routing_sample > 0.0 {
            let principal = remembered_principal(&claims, &verified, &self.parts);
            self.sample_allow(&principal, org, role, None);
        }
        memory.answered_from_memory();
        Ok(Recalled::Remembered((*value).clone()))
    }

    /// Remembers `value`, the org-wide read of `kind` that `tenant` just made, for
    /// [`Gate::remembered_read`]. `data_version`: the org's (`organization.data_version`), read
    /// in the same statement as the value, so that a change committed since makes it unusable.
    /// `since`: from the [`Recalled::Read`] that sent the caller to read it.
    pub(crate) fn keep_read<T>(
        &self,
        tenant: &Tenant,
        kind: &'static str,
        since: ReadsSince,
        data_version: i64,
        value: &T,
    ) where
        T: Clone + Send + Sync + 'static,
    {
        self.services.db.access().keep_read(
            tenant.org_id,
            kind,
            since,
            data_version,
            value.clone(),
        );
    }
}

/// What [`Gate::remembered_read`] found.
pub(crate) enum Recalled<T> {
    /// The answer, from memory.
    Remembered(T),
    /// Nothing usable: read it, then [`Gate::keep_read`] with this.
    Read(ReadsSince),
}

/// The words for a caller who is in the org but lacks the need.
fn refusal(need: Need, grant: &Grant) -> AppError {
    match need {
        Need::Section(section, level) if grant.sections.contains(&section) => {
            let role = grant.role.as_deref().unwrap_or("member");
            let verb = match level {
                Level::Read => "open",
                Level::Write => "change",
                Level::Admin => "administer",
            };
            AppError::Forbidden(format!(
                "Your role ({role}) cannot {verb} {} in this organization.",
                section.label()
            ))
        }
        Need::Section(section, _) => AppError::Forbidden(format!(
            "You do not have access to {} in this organization.",
            section.label()
        )),
        _ => AppError::Forbidden("You are not a member of this organization.".to_string()),
    }
}

/// What [`Gate::platform_or_tenant`] hands out.
pub enum Access {
    Platform(Platform),
    Tenant(Tenant),
}

/// A superadmin's handle to the whole platform: the only handle that reaches across orgs.
pub struct Platform {
    admin: Superadmin,
    pool: PgPool,
}

impl Platform {
    pub fn principal(&self) -> &Principal {
        self.admin.principal()
    }

    /// The runtime role's pool, for platform-wide queries (row-level security still applies;
    /// cross-org answers come from `platform.*` functions).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction on the platform's pool (begun as [`begin_scoped`] begins them).
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, AppError> {
        Ok(begin_scoped(&self.pool, "begin".to_string()).await?)
    }

    /// Acts in any existing org, disabled ones included.
    pub async fn act_in(&self, org_id: Uuid) -> Result<Tenant, AppError> {
        self.admin.act_in(&self.pool, org_id).await
    }

    /// Records a platform event (no org's: prices, plans, agent keys) on `conn`, so that it
    /// commits or rolls back with the change it describes.
    pub async fn audit(
        &self,
        conn: &mut PgConnection,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        let principal = self.principal();
        sqlx::query!(
            "select platform.record_audit(null, $1, $2, $3, $4, $5, $6)",
            principal.user_id,
            action,
            target,
            principal.client.ip,
            principal.client.user_agent,
            details
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The caller, in the org the request names. `explicit` is an org id the server function was
/// called with: one more source that must agree with the others. The session is checked
/// before any org is looked up, and an org that does not exist is refused with the same words
/// as one the caller may not enter.
async fn tenant(
    services: &Services,
    parts: &Parts,
    explicit: Option<Uuid>,
) -> Result<Tenant, AppError> {
    if let Some(tenant) = remembered(services, parts, Remembered::Acting(explicit)).await? {
        return Ok(tenant);
    }
    let since = services.db.access().generation();
    let principal = principal(services, parts).await?;
    let client = principal.client.clone();
    let sources = sources_seen(services, parts, principal.active_org, explicit);
    let result = async {
        let org_id = match resolve(services, parts, principal.active_org, explicit).await {
            Err(Resolve::Unknown) if principal.superadmin => {
                return Err(AppError::NotFound("Organization".to_string()))
            }
            Err(Resolve::Unknown) => return Err(not_a_member()),
            Err(Resolve::Conflict(orgs)) => {
                // Say "conflicting" only to a caller who may enter every org named; to anyone
                // else it would confirm that an org they cannot enter exists.
                if !principal.superadmin {
                    let mine = user_org_ids(services.db.pool(), principal.user_id).await?;
                    if orgs.iter().any(|org| !mine.contains(org)) {
                        return Err(not_a_member());
                    }
                }
                return Err(AppError::BadRequest(
                    "conflicting organization context".to_string(),
                ));
            }
            Err(Resolve::Failed(err)) => return Err(err),
            Ok(org) => org,
        };
        let mut tenant = authorize(services, parts, org_id.0, &principal).await?;
        if org_id.1 != "active" {
            return Err(AppError::Forbidden("organization disabled".to_string()));
        }
        remember(services, parts, &principal, &mut tenant, since).await?;
        Ok(tenant)
    }
    .await;
    match &result {
        Ok(tenant) => tracing::info!(
            target: "tenancy", decision = "allow", org = %tenant.org_id, user = %principal.user_id,
            role = tenant.role().unwrap_or("superadmin"), path = %client.path,
            sources = %sources.join(","),
        ),
        Err(err) => {
            reject_from(
                services,
                &client,
                Some(principal.user_id),
                // The caller's own org (or the platform log), never the one aimed at.
                principal.active_org,
                err,
                &sources,
            )
            .await
        }
    }
    result
}

/// The sources of org context a request carries, in the order the gate weighs them: its host
/// (a subdomain or a custom domain), the `X-Tenantry-Org` header, the session's active org, an
/// endpoint's org argument. For the routing log.
fn sources_seen(
    services: &Services,
    parts: &Parts,
    claimed: Option<Uuid>,
    explicit: Option<Uuid>,
) -> Vec<&'static str> {
    let mut sources = Vec::new();
    if let Some(host) = header(&parts.headers, "host") {
        match classify(host, &services.base_domain) {
            Ok(HostTarget::Subdomain(_)) => sources.push("subdomain"),
            Ok(HostTarget::Custom(_)) => sources.push("domain"),
            Ok(HostTarget::Platform) => {}
            Err(_) => sources.push("invalid host"),
        }
    }
    if parts.headers.contains_key(ORG_HEADER) {
        sources.push("header");
    }
    if claimed.is_some() {
        sources.push("token");
    }
    if explicit.is_some() {
        sources.push("argument");
    }
    sources
}

/// Whether this allowed request is one of the sample kept in the audit log
/// (`TENANTRY_ROUTING_SAMPLE`, a fraction from 0 to 1).
fn sampled(rate: f64) -> bool {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    rate >= 1.0 || (rate > 0.0 && (OsRng.next_u32() as f64) < rate * u32::MAX as f64)
}

/// Sampled `routing.allow` records being written now, at most [`ROUTING_WRITES`]: each takes a
/// connection of its own, so a burst drops samples rather than starve requests of the pool.
static ROUTING_WRITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
const ROUTING_WRITES: usize = 2;

/// Records a sampled `routing.allow` in the background (the request does not wait for it, nor
/// for its org's audit chain), or drops it when [`ROUTING_WRITES`] are already under way.
fn record_routing_later(
    services: &Services,
    client: &Client,
    actor: Option<Uuid>,
    org: Option<Uuid>,
    details: serde_json::Value,
) {
    use std::sync::atomic::Ordering;
    if ROUTING_WRITING.fetch_add(1, Ordering::AcqRel) >= ROUTING_WRITES {
        ROUTING_WRITING.fetch_sub(1, Ordering::AcqRel);
        tracing::debug!(target: "tenancy", "routing sample dropped: writes busy");
        return;
    }
    let (services, client) = (services.clone(), client.clone());
    tokio::spawn(async move {
        record_routing(&services, &client, actor, org, "routing.allow", details).await;
        ROUTING_WRITING.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Records a routing decision in the audit log, as the platform's event or `org`'s. Best
/// effort: a failure to record must not change the answer.
async fn record_routing(
    services: &Services,
    client: &Client,
    actor: Option<Uuid>,
    org: Option<Uuid>,
    action: &str,
    details: serde_json::Value,
) {
    let recorded = sqlx::query!(
        "select platform.record_audit($1, $2, $3, $4, $5, $6, $7)",
        org,
        actor,
        action,
        client.path,
        client.ip,
        client.user_agent,
        details
    )
    .execute(services.db.pool())
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, action, "could not record a routing decision in the audit log");
    }
}

fn not_a_member() -> AppError {
    AppError::Forbidden("You are not a member of this organization.".to_string())
}

async fn user_org_ids(pool: &PgPool, user_id: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select org_id as "org_id!" from platform.user_orgs($1)"#,
        user_id
    )
    .fetch_all(pool)
    .await?)
}

/// Remembers (on this node) that the full path just let `principal` into `tenant`'s org with its
/// grant, as read in the transaction the request goes on with; `since`: the access generation
/// read before the full path began.
async fn remember(
    services: &Services,
    parts: &Parts,
    principal: &Principal,
    tenant: &mut Tenant,
    since: u64,
) -> Result<(), AppError> {
    let (org, grant) = (tenant.org_id, tenant.grant.clone());
    services
        .db
        .access()
        .remember_allowed(
            tenant.conn(),
            principal,
            token_expiry(services, parts),
            org,
            &grant,
            since,
        )
        .await?;
    Ok(())
}

/// The caller managing `org_id` from a page that lists several orgs: a superadmin acts in it
/// through the platform path (any org, disabled ones included); anyone else goes through the
/// gate with `org_id` as the explicit source, so it must be the org they are acting in.
async fn manage(services: &Services, parts: &Parts, org_id: Uuid) -> Result<Tenant, AppError> {
    for wanted in [
        Remembered::Managing(org_id),
        Remembered::Acting(Some(org_id)),
    ] {
        if let Some(tenant) = remembered(services, parts, wanted).await? {
            return Ok(tenant);
        }
    }
    let since = services.db.access().generation();
    let principal = principal(services, parts).await?;
    match principal.superadmin() {
        Ok(admin) => {
            if org_status(services, parts, org_id).await?.is_none() {
                return Err(AppError::NotFound("Organization".to_string()));
            }
            let mut tenant = admin.act_in_existing(services.db.pool(), org_id).await?;
            remember(services, parts, &principal, &mut tenant, since).await?;
            tracing::info!(
                target: "tenancy", decision = "allow", org = %org_id, user = %principal.user_id,
                role = "superadmin", path = %principal.client.path, via = "platform",
            );
            Ok(tenant)
        }
        Err(_) => tenant(services, parts, Some(org_id)).await,
    }
}

/// Which answer [`remembered`] looks for.
#[derive(Clone, Copy)]
enum Remembered {
    /// The caller acting in the org the request names (with the endpoint's org argument, if
    /// any): a member, or a superadmin, of an active org.
    Acting(Option<Uuid>),
    /// A superadmin managing this org from a page that lists several ([`manage`]).
    Managing(Uuid),
}

/// What the node remembers of the request's session in the org `wanted` names, if anything
/// and if it may answer `wanted`: only where every source of org context is an id (the header,
/// the token, the argument; no subdomain or custom domain) and all name one org.
fn recall(
    services: &Services,
    parts: &Parts,
    wanted: Remembered,
) -> Option<(token::Claims, Uuid, super::cache::Verified)> {
    let claims = token::from_headers(&parts.headers).and_then(|t| services.tokens.verify(&t))?;
    let org = match wanted {
        Remembered::Managing(org) => org,
        Remembered::Acting(explicit) => {
            if let Some(host) = header(&parts.headers, "host") {
                if !matches!(
                    classify(host, &services.base_domain),
                    Ok(HostTarget::Platform)
                ) {
                    return None;
                }
            }
            let header_org = header_org(&parts.headers).ok()?;
            let mut named = [header_org, claims.org, explicit].into_iter().flatten();
            let org = named.next()?;
            if named.any(|other| other != org) {
                return None;
            }
            org
        }
    };
    let verified = services.db.access().get(claims.sid, claims.sub, org)?;
    let usable = match wanted {
        Remembered::Managing(_) => verified.superadmin,
        Remembered::Acting(_) => {
            verified.org_active && verified.bound_org.is_none_or(|bound| bound == org)
        }
    };
    usable.then_some((claims, org, verified))
}

/// The statement that fails with `TNSTL` unless what the node remembers still holds.
fn check_sql(claims: &token::Claims, org: Uuid, verified: &super::cache::Verified) -> String {
    format!(
        "select platform.access_check('{org}', '{user}', '{session}', '{stamp}')",
        user = claims.sub,
        session = claims.sid,
        stamp = verified.stamp,
    )
}

/// Whether `err` is the database saying a remembered answer no longer holds.
fn is_stale(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some("TNSTL"))
}

/// The caller's handle, answered from the node's memory of verified sessions
/// ([`super::cache`]) in one round trip: the database checks that nothing the answer rests on
/// changed, begins the transaction and sets its scope. Within one request (a page renders
/// several server functions) the check runs once per org; the others wait for it and only
/// begin. `None`: take the full path (nothing remembered, or the check found a change, and the
/// memory of the session is dropped).
async fn remembered(
    services: &Services,
    parts: &Parts,
    wanted: Remembered,
) -> Result<Option<Tenant>, AppError> {
    let Some((claims, org, verified)) = recall(services, parts, wanted) else {
        return Ok(None);
    };
    let pool = services.db.pool();
    let scope = scope_sql(org, claims.sub);
    let mut checked = None;
    let began = async {
        let check = async {
            let tx = begin_scoped(
                pool,
                format!("{}; begin; {scope}", check_sql(&claims, org, &verified)),
            )
            .await?;
            checked = Some(tx);
            Ok::<_, sqlx::Error>(())
        };
        match RequestCache::of(parts) {
            Some(cache) => {
                cell(&cache.confirmed, org)
                    .get_or_try_init(|| check)
                    .await?;
            }
            None => check.await?,
        }
        match checked.take() {
            Some(tx) => Ok(tx),
            // Another server function of this request checked: begin only.
            None => begin_scoped(pool, format!("begin; {scope}")).await,
        }
    }
    .await;
    let tx = match began {
        Ok(tx) => tx,
        Err(e) if is_stale(&e) => {
            services.db.access().forget_session(claims.sid);
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let principal = remembered_principal(&claims, &verified, parts);
    tracing::info!(
        target: "tenancy", decision = "allow", org = %org, user = %principal.user_id,
        role = verified.grant.role.as_deref().unwrap_or("superadmin"),
        path = %principal.client.path, via = "memory",
    );
    Ok(Some(Tenant {
        org_id: org,
        principal,
        grant: verified.grant,
        tx,
    }))
}

/// The caller as the node remembers them (their session checked on this request).
fn remembered_principal(
    claims: &token::Claims,
    verified: &super::cache::Verified,
    parts: &Parts,
) -> Principal {
    Principal {
        user_id: claims.sub,
        session_id: claims.sid,
        superadmin: verified.superadmin,
        bound_org: verified.bound_org,
        active_org: claims.org,
        client: Client::of(parts),
    }
}

/// What the caller holds in the org the request acts in, from the node's memory, checked
/// against the database once per request: for what a page shows (its sections), never instead
/// of an endpoint's gate. `None`: not remembered; ask the gate.
pub(crate) async fn remembered_grant(
    services: &Services,
    parts: &Parts,
) -> Result<Option<Grant>, AppError> {
    let Some((claims, org, verified)) = recall(services, parts, Remembered::Acting(None)) else {
        return Ok(None);
    };
    let check = async {
        sqlx::query!(
            "select platform.access_check($1, $2, $3, $4)",
            org,
            claims.sub,
            claims.sid,
            verified.stamp
        )
        .execute(services.db.pool())
        .await
        .map(|_| ())
    };
    let checked = match RequestCache::of(parts) {
        Some(cache) => cell(&cache.confirmed, org)
            .get_or_try_init(|| check)
            .await
            .map(|_| ()),
        None => check.await,
    };
    match checked {
        Ok(()) => Ok(Some(verified.grant)),
        Err(e) if is_stale(&e) => {
            services.db.access().forget_session(claims.sid);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The caller, without an org (sign-out, the switcher, the platform path).
pub(crate) async fn principal(services: &Services, parts: &Parts) -> Result<Principal, AppError> {
    match RequestCache::of(parts) {
        Some(cache) => cache
            .principal
            .get_or_init(|| read_principal(services, parts))
            .await
            .clone(),
        None => read_principal(services, parts).await,
    }
}

/// What one request has already learnt, shared by every gate call it makes (a page renders
/// several server functions): the caller's session, each org's status and the caller's grant
/// in each org are read once per request. The server puts a fresh one into each request's
/// extensions. (A request is one server function or one page render; a change it makes to a
/// membership takes effect from the next request.)
#[derive(Clone, Default)]
pub struct RequestCache {
    principal: std::sync::Arc<tokio::sync::OnceCell<Result<Principal, AppError>>>,
    /// org id → its status (`None`: no such org).
    orgs: Memo<Option<String>>,
    /// org id → what the caller holds there (`None`: not a member).
    grants: Memo<Option<Grant>>,
    /// org id → the node's memory of the session there was checked by this request.
    confirmed: Memo<()>,
    /// The caller's email and name, read with the session.
    account: std::sync::Arc<std::sync::Mutex<Option<(String, String)>>>,
}

/// Values one request looks up by org, each looked up once even when the page's server
/// functions ask at the same moment (the later ones wait for the first).
type Memo<T> = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<Uuid, std::sync::Arc<tokio::sync::OnceCell<T>>>>,
>;

/// The cell for `key` in `memo`, made empty if there is none yet.
fn cell<T>(memo: &Memo<T>, key: Uuid) -> std::sync::Arc<tokio::sync::OnceCell<T>> {
    lock(memo).entry(key).or_default().clone()
}

impl RequestCache {
    fn of(parts: &Parts) -> Option<&Self> {
        parts.extensions.get::<Self>()
    }
}

/// The status of the org `org_id` (`None`: there is none), once per request.
async fn org_status(
    services: &Services,
    parts: &Parts,
    org_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let read = || async {
        sqlx::query_scalar!(
            r#"select status as "status!" from platform.org_by_id($1)"#,
            org_id
        )
        .fetch_optional(services.db.pool())
        .await
    };
    match RequestCache::of(parts) {
        Some(cache) => cell(&cache.orgs, org_id)
            .get_or_try_init(read)
            .await
            .cloned(),
        None => read().await,
    }
}

/// A request cache's map (a poisoned lock only means another reader panicked: the map is
/// still whole).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read_principal(services: &Services, parts: &Parts) -> Result<Principal, AppError> {
    let client = Client::of(parts);
    let claims = verified_claims(services, parts)?;
    let row = sqlx::query!(
        r#"select status as "status!", is_superadmin as "is_superadmin!", bound_org_id,
                  email as "email!", name as "name!"
             from platform.session_person($1, $2)"#,
        claims.sid,
        claims.sub
    )
    .fetch_optional(services.db.pool())
    .await?;
    let result = match row {
        None => Err(AppError::Unauthorized),
        Some(row) if row.status != "active" => Err(account_disabled()),
        Some(row) => {
            if let Some(cache) = RequestCache::of(parts) {
                *lock(&cache.account) = Some((row.email, row.name));
            }
            Ok(Principal {
                user_id: claims.sub,
                session_id: claims.sid,
                superadmin: row.is_superadmin,
                bound_org: row.bound_org_id,
                active_org: claims.org,
                client: client.clone(),
            })
        }
    };
    if let Err(err) = &result {
        reject(services, &client, Some(claims.sub), None, err).await;
    }
    result
}

/// The caller's email and name: as read with their session on this request, or else read now.
pub(crate) async fn account(
    services: &Services,
    parts: &Parts,
    principal: &Principal,
) -> Result<(String, String), AppError> {
    if let Some(account) = RequestCache::of(parts).and_then(|cache| lock(&cache.account).clone()) {
        return Ok(account);
    }
    let row = sqlx::query!(
        r#"select email as "email!", name as "name!" from platform.session_person($1, $2)"#,
        principal.session_id,
        principal.user_id
    )
    .fetch_optional(services.db.pool())
    .await?
    .ok_or(AppError::Unauthorized)?;
    Ok((row.email, row.name))
}

/// When the request's token expires (seconds since the epoch; 0 without a valid one).
fn token_expiry(services: &Services, parts: &Parts) -> i64 {
    token::from_headers(&parts.headers)
        .and_then(|t| services.tokens.verify(&t))
        .map_or(0, |claims| claims.exp)
}

/// The claims of the request's token, or 401.
fn verified_claims(services: &Services, parts: &Parts) -> Result<token::Claims, AppError> {
    let claims = token::from_headers(&parts.headers).and_then(|t| services.tokens.verify(&t));
    if claims.is_none() {
        tracing::info!(target: "tenancy", decision = "deny", reason = "no valid token", path = %parts.uri.path());
    }
    claims.ok_or(AppError::Unauthorized)
}

/// The org the `X-Tenantry-Org` header names, if it is there; `Err` if it is not an id.
fn header_org(headers: &HeaderMap) -> Result<Option<Uuid>, ()> {
    match headers.get(ORG_HEADER) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .map(Some)
            .ok_or(()),
    }
}

/// Why the org sources did not name one known org.
pub(crate) enum Resolve {
    /// A source names an org that does not exist.
    Unknown,
    /// The sources name different (existing) orgs.
    Conflict(Vec<Uuid>),
    Failed(AppError),
}

impl From<AppError> for Resolve {
    fn from(err: AppError) -> Self {
        Resolve::Failed(err)
    }
}

impl From<sqlx::Error> for Resolve {
    fn from(err: sqlx::Error) -> Self {
        Resolve::Failed(err.into())
    }
}

impl Resolve {
    /// The answer for a caller who is not a person (an agent): nothing to hide from it beyond
    /// what its own key shows.
    pub(crate) fn into_error(self) -> AppError {
        match self {
            Resolve::Unknown => AppError::NotFound("Organization".to_string()),
            Resolve::Conflict(_) => {
                AppError::BadRequest("conflicting organization context".to_string())
            }
            Resolve::Failed(err) => err,
        }
    }
}

/// Step 1: the org every source names, looked up, with its status.
pub(crate) async fn resolve(
    services: &Services,
    parts: &Parts,
    claimed: Option<Uuid>,
    explicit: Option<Uuid>,
) -> Result<(Uuid, String), Resolve> {
    let pool = services.db.pool();
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
                // Verified domains only; one verified by two orgs (only a restore or a hand
                // edit gets there) routes nowhere rather than to either.
                let mut orgs = sqlx::query!(
                    r#"select org_id as "org_id!", status as "status!" from platform.org_by_domain($1)"#,
                    domain
                )
                .fetch_all(pool)
                .await?;
                if orgs.len() > 1 {
                    tracing::error!(
                        domain,
                        "a custom domain is verified by more than one organization"
                    );
                    return Err(AppError::Conflict(format!(
                        "{domain} is claimed by more than one organization; requests to it are refused until an operator resolves it."
                    ))
                    .into());
                }
                found.push(("domain", orgs.pop().map(|o| (o.org_id, o.status))));
            }
        }
    }
    let header_org = header_org(&parts.headers).map_err(|()| {
        AppError::BadRequest(format!(
            "The {ORG_HEADER} header must be an organization id."
        ))
    })?;
    for (source, id) in [
        ("header", header_org),
        ("token", claimed),
        ("argument", explicit),
    ] {
        if let Some(id) = id {
            let org = org_status(services, parts, id).await?;
            found.push((source, org.map(|status| (id, status))));
        }
    }

    let mut orgs = Vec::with_capacity(found.len());
    for (source, org) in found {
        match org {
            Some(org) => orgs.push(org),
            None => {
                tracing::info!(target: "tenancy", decision = "deny", reason = "unknown org", source);
                return Err(Resolve::Unknown);
            }
        }
    }
    let Some((org_id, status)) = orgs.first().cloned() else {
        return Err(AppError::BadRequest("organization context required".to_string()).into());
    };
    if orgs.iter().any(|(id, _)| *id != org_id) {
        let mut ids: Vec<Uuid> = orgs.iter().map(|(id, _)| *id).collect();
        ids.dedup();
        return Err(Resolve::Conflict(ids));
    }
    Ok((org_id, status))
}

/// Steps 2 and 3: the membership, read inside the scoped transaction, as the caller's grant.
async fn authorize(
    services: &Services,
    parts: &Parts,
    org_id: Uuid,
    principal: &Principal,
) -> Result<Tenant, AppError> {
    if principal.bound_org.is_some_and(|bound| bound != org_id) {
        return Err(AppError::Forbidden(
            "This account is locked to its own organization.".to_string(),
        ));
    }
    let mut tenant = Tenant::begin(
        services.db.pool(),
        org_id,
        principal.clone(),
        Grant::default(),
    )
    .await?;
    let conn = tenant.conn();
    let read = || async move {
        let row = sqlx::query!(
            r#"select m.role_name, coalesce(m.pages, r.pages) as "pages!"
             from membership m
             join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
            where m.org_id = $1 and m.user_id = $2"#,
            org_id,
            principal.user_id
        )
        .fetch_optional(conn)
        .await?;
        Ok::<_, AppError>(match (row, principal.superadmin) {
            (_, true) => Some(Grant {
                superadmin: true,
                role: None,
                sections: Section::ALL.to_vec(),
            }),
            (Some(row), false) => Some(Grant {
                superadmin: false,
                role: Some(row.role_name),
                sections: Section::parse_all(&row.pages),
            }),
            (None, false) => None,
        })
    };
    let grant = match RequestCache::of(parts) {
        Some(cache) => cell(&cache.grants, org_id)
            .get_or_try_init(read)
            .await?
            .clone(),
        None => read().await?,
    };
    tenant.grant = grant.ok_or_else(not_a_member)?;
    Ok(tenant)
}

fn account_disabled() -> AppError {
    AppError::Forbidden("Your account is disabled.".to_string())
}

/// Logs a refusal and records it in the audit log (`routing.denied`) of the caller's own org
/// (or as a platform event). Recording is best effort: a failure to audit must not turn a 403
/// into a 500.
pub(crate) async fn reject(
    services: &Services,
    client: &Client,
    actor: Option<Uuid>,
    org: Option<Uuid>,
    err: &AppError,
) {
    reject_from(services, client, actor, org, err, &[]).await
}

/// [`reject`], naming the sources of org context the request carried.
async fn reject_from(
    services: &Services,
    client: &Client,
    actor: Option<Uuid>,
    org: Option<Uuid>,
    err: &AppError,
    sources: &[&str],
) {
    tracing::info!(
        target: "tenancy", decision = "deny", status = err.status(), reason = %err,
        user = ?actor, org = ?org, path = %client.path, sources = %sources.join(","),
    );
    if matches!(err, AppError::Internal | AppError::Busy) {
        return;
    }
    record_routing(
        services,
        client,
        actor,
        org,
        "routing.denied",
        serde_json::json!({ "status": err.status(), "reason": err.to_string(), "sources": sources }),
    )
    .await;
}

/// The request parts of the server function or page being handled.
pub fn request_parts() -> Result<Parts, AppError> {
    leptos::prelude::use_context::<Parts>()
        .ok_or_else(|| AppError::internal("tenancy gate", "no request parts in context"))
}

/// Whether the caller may open a page declared `need` (its route pattern in [`NEEDS`]): the
/// page still renders (its data comes from server functions, each under its own gate), but a
/// refused page answers with the refusal's status. Anonymous callers get `Unauthorized`, and
/// the page sends them to sign in.
///
/// [`NEEDS`]: super::access::NEEDS
pub async fn page_verdict(
    services: &Services,
    parts: &Parts,
    pattern: &'static str,
) -> Result<(), AppError> {
    let gate = Gate::with(services.clone(), parts.clone(), pattern)?;
    match gate.need {
        Need::Public | Need::Agent => Ok(()),
        Need::SignedIn => principal(services, parts).await.map(|_| ()),
        Need::Platform => principal(services, parts).await?.superadmin().map(|_| ()),
        Need::Member | Need::Section(..) => {
            if let Some(grant) = remembered_grant(services, parts).await? {
                if gate.need.allows(&grant) {
                    return Ok(());
                }
            }
            if principal(services, parts).await?.superadmin {
                return Ok(());
            }
            let tenant = gate.tenant().await?;
            drop(tenant);
            Ok(())
        }
    }
}
