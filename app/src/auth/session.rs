//! The server side of sign-in: sessions, tokens, the cookie, switching orgs.

use std::collections::BTreeMap;

use axum::http::{header::SET_COOKIE, request::Parts, HeaderValue};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{password, token, OrgSummary, SessionInfo};
use crate::{
    context::{services, Services},
    orgs,
    tenancy::{
        access::Section,
        gate::{self, request_parts, Client, Gate, Principal, Tenant},
        host::{classify, HostTarget},
    },
    AppError,
};

/// How many orgs the switcher lists for a superadmin; the Organizations page finds the rest.
const SWITCHER_LIMIT: i64 = 500;

pub async fn current() -> Result<Option<SessionInfo>, AppError> {
    current_with(&services()?, &request_parts()?).await
}

/// The session of the request `parts`, outside Leptos's context (the page guard reads it before
/// a page renders, see [`PageSession`]).
pub async fn current_with(
    services: &Services,
    parts: &Parts,
) -> Result<Option<SessionInfo>, AppError> {
    if token::from_headers(&parts.headers).is_none() {
        return Ok(None);
    }
    let principal = match gate::principal(services, parts).await {
        Ok(principal) => principal,
        Err(AppError::Unauthorized) => return Ok(None),
        Err(err) => return Err(err),
    };
    let (email, name) = gate::account(services, parts, &principal).await?;

    let lookup = gate::lookup(services);
    let pool = lookup.pool();
    let mut orgs = if principal.superadmin {
        // Every org (the switcher's first ones), with the superadmin's own role where they
        // are a member.
        sqlx::query!(
            r#"select a.org_id as "org_id!", a.org_number as "org_number!", a.name as "name!",
                      a.slug as "slug!", a.status as "status!", m.role_name as "role_name?"
                 from (select * from platform.all_orgs() limit $1) a
                 left join platform.user_orgs($2) m on m.org_id = a.org_id
                order by a.name"#,
            SWITCHER_LIMIT,
            principal.user_id
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|o| OrgSummary {
            role: o.role_name,
            id: o.org_id.to_string(),
            number: o.org_number,
            name: o.name,
            slug: o.slug,
            active: o.status == "active",
        })
        .collect()
    } else {
        user_orgs(pool, principal.user_id).await?
    };
    if let Some(bound) = principal.bound_org {
        orgs.retain(|o| o.id == bound.to_string());
    }
    let active_org = principal
        .active_org
        .and_then(|id| orgs.iter().find(|o| o.id == id.to_string()).cloned());
    // What the gate allows in the org this request resolves to; nothing when it resolves none.
    let sections: Vec<Section> = if principal.superadmin {
        Section::ALL.to_vec()
    } else if active_org.is_none() {
        Vec::new()
    } else if let Some(grant) = gate::remembered_grant(services, parts)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "checking a remembered session failed"))
        .ok()
        .flatten()
    {
        grant.sections
    } else {
        let gate = Gate::with(
            services.clone(),
            parts.clone(),
            <crate::orgs::CurrentOrg as leptos::server_fn::ServerFn>::PATH,
        )?;
        match gate.tenant().await {
            Ok(tenant) => tenant.grant.sections.clone(),
            Err(_) => Vec::new(),
        }
    };
    let pages = sections.iter().map(|s| s.key().to_string()).collect();
    Ok(Some(SessionInfo {
        pages,
        user_id: principal.user_id.to_string(),
        email,
        name,
        superadmin: principal.superadmin,
        locked: principal.bound_org.is_some(),
        active_org,
        orgs,
    }))
}

async fn user_orgs(pool: &sqlx::PgPool, user_id: Uuid) -> Result<Vec<OrgSummary>, AppError> {
    Ok(sqlx::query!(
        r#"select org_id as "org_id!", org_number as "org_number!", name as "name!",
                  slug as "slug!", status as "status!", role_name as "role_name!"
             from platform.user_orgs($1)"#,
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|o| OrgSummary {
        id: o.org_id.to_string(),
        number: o.org_number,
        name: o.name,
        slug: o.slug,
        active: o.status == "active",
        role: Some(o.role_name),
    })
    .collect())
}

pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let token = sign_in_with(&services, &parts, &email, &password).await?;
    set_cookie(&token::cookie(&token, services.secure_cookies));
    Ok(())
}

/// Checks the password and opens a session; returns the token. Rate-limited per IP and email.
pub async fn sign_in_with(
    services: &Services,
    parts: &Parts,
    email: &str,
    password: &str,
) -> Result<String, AppError> {
    open_session(services, parts, email, password, true).await
}

/// [`sign_in_with`] for an account this request has just made (registering, the first
/// superadmin, accepting an invitation as a newcomer): the event that made the account is the
/// audit record of the act, and a `sign_in` event beside it would record one act twice.
pub async fn sign_in_new(
    services: &Services,
    parts: &Parts,
    email: &str,
    password: &str,
) -> Result<String, AppError> {
    open_session(services, parts, email, password, false).await
}

async fn open_session(
    services: &Services,
    parts: &Parts,
    email: &str,
    password: &str,
    audited: bool,
) -> Result<String, AppError> {
    let client = Client::of(parts);
    let email = email.trim().to_lowercase();
    let mut errors = BTreeMap::new();
    if email.is_empty() {
        errors.insert("email".to_string(), vec!["Enter your email.".to_string()]);
    }
    if password.is_empty() {
        errors.insert(
            "password".to_string(),
            vec!["Enter your password.".to_string()],
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let keys = [
        super::rate_limit::ip_key(&client.ip),
        format!("email:{email}"),
    ];
    // Reserved before the password is checked: parallel guesses cannot all get through.
    let limits = (&*services.sign_in_limiter, services.stores.redis.as_ref());
    let reservation = match super::rate_limit::reserve(limits.0, limits.1, &keys).await {
        Ok(reservation) => reservation,
        Err(wait) => {
            tracing::warn!(target: "tenancy", %email, ip = %client.ip, "sign-in rate limited");
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
    };
    let user = sqlx::query!(
        r#"select user_id as "user_id!", password_hash, status as "status!",
                  is_superadmin as "is_superadmin!", bound_org_id
             from platform.user_for_sign_in($1)"#,
        email
    )
    .fetch_optional(gate::lookup(services).pool())
    .await?;
    let matches = password::verify(
        password.to_string(),
        user.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await?;
    let Some(user) = user.filter(|_| matches) else {
        // The reservation stays: it was a failed attempt.
        record(services, None, None, "sign_in.failed", &email, &client).await;
        return Err(AppError::field(
            "password",
            "The email or password is incorrect.",
        ));
    };
    super::rate_limit::succeeded(limits.0, limits.1, reservation).await;

    // The org the sign-in lands in: the bound one, else the one the host names, else the first.
    let orgs = user_orgs(gate::lookup(services).pool(), user.user_id).await?;
    // A disabled account cannot sign in, nor can members of disabled orgs: a bound user whose
    // org is disabled, or anyone whose every org is (superadmins excepted: they enable orgs).
    let bound_disabled = user
        .bound_org_id
        .is_some_and(|bound| orgs.iter().any(|o| o.id == bound.to_string() && !o.active));
    let all_disabled = !orgs.is_empty() && orgs.iter().all(|o| !o.active);
    let refusal = if user.status != "active" {
        Some("Your account is disabled.")
    } else if !user.is_superadmin && (bound_disabled || all_disabled) {
        Some("Your organization is disabled; ask its administrator or the platform.")
    } else {
        None
    };
    if let Some(refusal) = refusal {
        record(
            services,
            None,
            Some(user.user_id),
            "sign_in.refused",
            &email,
            &client,
        )
        .await;
        return Err(AppError::Forbidden(refusal.to_string()));
    }
    let host_org = host_org(services, parts).await?;
    // The host's org only where the user may act: a sign-in must not land in (or write to the
    // audit log of) an org that is not the user's.
    let may_act = |id: Uuid| user.is_superadmin || orgs.iter().any(|o| o.id == id.to_string());
    let active = user
        .bound_org_id
        .or(host_org.filter(|id| may_act(*id)))
        .or_else(|| {
            orgs.iter()
                .find(|o| o.active)
                .and_then(|o| o.id.parse().ok())
        });
    let role = active.and_then(|id| {
        orgs.iter()
            .find(|o| o.id == id.to_string())
            .and_then(|o| o.role.clone())
    });

    let session_id = Uuid::new_v4();
    let mut tx = gate::account_scope(services, user.user_id).await?;
    let expires_at = sqlx::query_scalar!(
        r#"insert into session (session_id, user_id, ip, user_agent, expires_at)
           values ($1, $2, $3, $4, now() + make_interval(secs => $5))
           returning expires_at"#,
        session_id,
        user.user_id,
        client.ip,
        client.user_agent,
        token::SESSION_TTL_SECS as f64
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "update app_user set last_login_at = now() where user_id = $1",
        user.user_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if audited {
        record(
            services,
            active,
            Some(user.user_id),
            "sign_in",
            &email,
            &client,
        )
        .await;
    }

    Ok(services.tokens.sign(&token::Claims {
        sub: user.user_id,
        sid: session_id,
        org: active,
        role,
        bound_org: user.bound_org_id,
        superadmin: user.is_superadmin,
        iat: chrono::Utc::now().timestamp(),
        exp: expires_at.timestamp(),
    }))
}

/// The org a subdomain or custom domain in `Host` names, if any.
async fn host_org(services: &Services, parts: &Parts) -> Result<Option<Uuid>, AppError> {
    let Some(host) = parts.headers.get("host").and_then(|h| h.to_str().ok()) else {
        return Ok(None);
    };
    Ok(match classify(host, &services.base_domain) {
        Ok(HostTarget::Subdomain(slug)) => {
            sqlx::query_scalar!(
                r#"select org_id as "o!" from platform.org_by_slug($1)"#,
                slug
            )
            .fetch_optional(gate::lookup(services).pool())
            .await?
        }
        Ok(HostTarget::Custom(domain)) => {
            sqlx::query_scalar!(
                r#"select org_id as "o!" from platform.org_by_domain($1)"#,
                domain
            )
            .fetch_optional(gate::lookup(services).pool())
            .await?
        }
        _ => None,
    })
}

pub async fn sign_out() -> Result<(), AppError> {
    let services = services()?;
    let parts = request_parts()?;
    // Whatever the token's state, the browser forgets it.
    set_cookie(&token::clear_cookie(services.secure_cookies));
    let principal = match gate::principal(&services, &parts).await {
        Ok(principal) => principal,
        Err(AppError::Unauthorized) => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut tx = gate::account_scope(&services, principal.user_id).await?;
    sqlx::query!(
        "update session set revoked_at = now() where session_id = $1 and revoked_at is null",
        principal.session_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    record(
        &services,
        principal.active_org,
        Some(principal.user_id),
        "sign_out",
        "",
        &principal.client,
    )
    .await;
    Ok(())
}

pub async fn switch_org(org_id: &str) -> Result<(), AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let token = switch_org_with(&services, &parts, org_id).await?;
    set_cookie(&token::cookie(&token, services.secure_cookies));
    Ok(())
}

/// The token for the same session with `org_id` active, if the caller may act there.
pub async fn switch_org_with(
    services: &Services,
    parts: &Parts,
    org_id: &str,
) -> Result<String, AppError> {
    switch(services, parts, org_id, true).await
}

/// [`switch_org_with`] into an org this request has just made the caller a member of (an
/// accepted invitation): the joining is the audit record of the act, the switch is part of it.
pub async fn switch_to_joined_org(
    services: &Services,
    parts: &Parts,
    org_id: &str,
) -> Result<String, AppError> {
    switch(services, parts, org_id, false).await
}

async fn switch(
    services: &Services,
    parts: &Parts,
    org_id: &str,
    audited: bool,
) -> Result<String, AppError> {
    let org_id = Uuid::parse_str(org_id.trim())
        .map_err(|_| AppError::field("org_id", "Choose an organization."))?;
    let principal = gate::principal(services, parts).await?;
    // A refusal is the caller's doing: it goes on the log of the org they act in and on the
    // platform's, never into the org they aimed at (whose admins need not learn of the attempt,
    // and whose log an outsider must not be able to write to).
    let refused = |err: AppError| async {
        for org in [principal.active_org, None] {
            record(
                services,
                org,
                Some(principal.user_id),
                "org.switch.refused",
                &format!("{org_id}: {err}"),
                &principal.client,
            )
            .await;
        }
        err
    };
    if principal.bound_org.is_some_and(|bound| bound != org_id) {
        return Err(refused(AppError::Forbidden(
            "This account is locked to its own organization.".to_string(),
        ))
        .await);
    }
    // Membership first: to a non-member an unknown org and another's look the same.
    let role = user_orgs(gate::lookup(services).pool(), principal.user_id)
        .await?
        .into_iter()
        .find(|o| o.id == org_id.to_string())
        .and_then(|o| o.role);
    if role.is_none() && !principal.superadmin {
        return Err(refused(AppError::Forbidden(
            "You are not a member of this organization.".to_string(),
        ))
        .await);
    }
    let status = sqlx::query_scalar!(
        r#"select status as "status!" from platform.org_by_id($1)"#,
        org_id
    )
    .fetch_optional(gate::lookup(services).pool())
    .await?
    .ok_or_else(|| AppError::NotFound("Organization".to_string()))?;
    if status != "active" && !principal.superadmin {
        return Err(refused(AppError::Forbidden("organization disabled".to_string())).await);
    }
    let claims = token::from_headers(&parts.headers)
        .and_then(|t| services.tokens.verify(&t))
        .ok_or(AppError::Unauthorized)?;
    if audited {
        record(
            services,
            Some(org_id),
            Some(principal.user_id),
            "org.switch",
            "",
            &principal.client,
        )
        .await;
    }
    Ok(services.tokens.sign(&token::Claims {
        org: Some(org_id),
        role,
        superadmin: principal.superadmin,
        bound_org: principal.bound_org,
        iat: chrono::Utc::now().timestamp(),
        ..claims
    }))
}

pub async fn register(
    name: String,
    email: String,
    password: String,
    organization: String,
) -> Result<(), AppError> {
    let services = services()?;
    if !services.allow_registration {
        return Err(AppError::Forbidden(
            "Registration is closed; ask an administrator for an account.".to_string(),
        ));
    }
    let parts = request_parts()?;
    let client = Client::of(&parts);
    // Registration spends the address's sign-in attempts too: no unlimited account spraying.
    let limits = (&*services.sign_in_limiter, services.stores.redis.as_ref());
    let reservation =
        super::rate_limit::reserve(limits.0, limits.1, &[super::rate_limit::ip_key(&client.ip)])
            .await
            .map_err(|wait| AppError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            })?;
    let new_user = validate_new_user(&name, &email, &password)?;
    let hash = password::hash(password.clone()).await?;
    let user_id = Uuid::new_v4();

    let principal = Principal {
        user_id,
        session_id: Uuid::nil(),
        superadmin: false,
        bound_org: None,
        active_org: None,
        client,
    };
    // Left blank, the org is named for its owner: "Ann's workspace", or "Ann's workspace 2", …
    // when another Ann registered first (names are unique).
    let named = !organization.trim().is_empty();
    let owner: String = new_user.name.chars().take(150).collect();
    let input = |attempt: u32| orgs::NewOrg {
        name: match attempt {
            _ if named => organization.clone(),
            1 => format!("{owner}'s workspace"),
            n => format!("{owner}'s workspace {n}"),
        },
        domain: String::new(),
        product: "eloquent".to_string(),
        status: "active".to_string(),
        template: String::new(),
    };
    let org_id = Uuid::new_v4();
    let mut tenant = Tenant::for_new_org(&services, org_id, principal).await?;
    let org_id = tenant.org_id;
    insert_user(
        tenant.conn(),
        org_id,
        user_id,
        &new_user.email,
        &new_user.name,
        &hash,
    )
    .await?;
    // The org's fields appear on this form under "organization".
    let mut attempt = 1;
    let created = loop {
        // A taken default name is rolled back to here and the next one tried.
        sqlx::query("savepoint default_org_name")
            .execute(tenant.conn())
            .await?;
        match orgs::create_in(&mut tenant, &services, input(attempt), Some(user_id)).await {
            Err(err) if !named && attempt < 50 && orgs::name_taken(&err) => {
                sqlx::query("rollback to savepoint default_org_name")
                    .execute(tenant.conn())
                    .await?;
                attempt += 1;
            }
            other => break other,
        }
    };
    created.map_err(|err| match err {
        AppError::Validation(mut fields) => {
            if let Some(messages) = fields.remove("name") {
                fields.insert("organization".to_string(), messages);
            }
            AppError::Validation(fields)
        }
        other => other,
    })?;
    tenant.commit().await?;
    super::rate_limit::succeeded(limits.0, limits.1, reservation).await;

    let token = sign_in_new(&services, &parts, &email, &password).await?;
    set_cookie(&token::cookie(&token, services.secure_cookies));
    Ok(())
}

pub struct NewUser {
    pub name: String,
    pub email: String,
}

/// Field errors for a new account, or its normalised name and email.
pub fn validate_new_user(name: &str, email: &str, password: &str) -> Result<NewUser, AppError> {
    let mut errors = BTreeMap::new();
    let name = name.trim();
    let email = email.trim().to_lowercase();
    if name.is_empty() {
        errors.insert("name".to_string(), vec!["Enter a name.".to_string()]);
    } else if name.chars().count() > 200 {
        errors.insert(
            "name".to_string(),
            vec!["Use at most 200 characters.".to_string()],
        );
    }
    if let Some(problem) = email_problem(&email) {
        errors.insert("email".to_string(), vec![problem]);
    }
    if let Some(problem) = password::check_new(password) {
        errors.insert("password".to_string(), vec![problem]);
    }
    if errors.is_empty() {
        Ok(NewUser {
            name: name.to_string(),
            email,
        })
    } else {
        Err(AppError::Validation(errors))
    }
}

pub fn email_problem(email: &str) -> Option<String> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    (!valid).then(|| "Enter an email address like name@example.com.".to_string())
}

/// Inserts a user inside `org_id`'s transaction, which then acts as the new user.
pub async fn insert_user(
    conn: &mut PgConnection,
    org_id: Uuid,
    user_id: Uuid,
    email: &str,
    name: &str,
    hash: &str,
) -> Result<(), AppError> {
    // A new user is visible to the transaction as itself.
    gate::set_scope(&mut *conn, Some(org_id), user_id).await?;
    sqlx::query!(
        "insert into app_user (user_id, email, name, password_hash) values ($1, $2, $3, $4)",
        user_id,
        email,
        name,
        hash
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn create_first_superadmin(
    setup_token: String,
    name: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let expected = services
        .setup_token
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if expected.is_none() || expected.as_deref() != Some(setup_token.as_str()) {
        return Err(AppError::Forbidden(
            "This setup link is not valid (it works once, until a superadmin exists).".to_string(),
        ));
    }
    let user = validate_new_user(&name, &email, &password)?;
    let hash = password::hash(password.clone()).await?;
    let created = sqlx::query_scalar!(
        r#"select platform.create_first_superadmin($1, $2, $3, $4) as "created!""#,
        Uuid::new_v4(),
        user.email,
        user.name,
        hash
    )
    .fetch_one(gate::lookup(&services).pool())
    .await?;
    *services
        .setup_token
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = None;
    if !created {
        return Err(AppError::Conflict(
            "A superadmin already exists; sign in instead.".to_string(),
        ));
    }
    let client = Client::of(&parts);
    record(
        &services,
        None,
        None,
        "superadmin.created",
        &user.email,
        &client,
    )
    .await;
    let token = sign_in_new(&services, &parts, &email, &password).await?;
    set_cookie(&token::cookie(&token, services.secure_cookies));
    Ok(())
}

pub fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(value),
    ) {
        response.append_header(SET_COOKIE, value);
    }
}

/// An audit event outside any tenant transaction (sign-in and the like). Best effort.
async fn record(
    services: &Services,
    org: Option<Uuid>,
    actor: Option<Uuid>,
    action: &str,
    target: &str,
    client: &Client,
) {
    let result = sqlx::query!(
        "select platform.record_audit($1, $2, $3, $4, $5, $6, '{}')",
        org,
        actor,
        action,
        target,
        client.ip,
        client.user_agent
    )
    .execute(gate::lookup(services).pool())
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, action, "could not record an audit event");
    }
}
