//! The server side of the Users page and the permission editor.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use uuid::Uuid;

use super::{Membership, UserPage, UserQuery, UserRow, PAGE_SIZE};
use crate::{
    auth::{password, session_insert_user, validate_new_user},
    error::parse_uuid,
    orgs::{add_member, escape_like},
    tenancy::{
        access::{is_admin_role, role_level, Grant, Section},
        gate::{Access, Gate, Tenant},
    },
    AppError,
};

fn memberships(value: serde_json::Value) -> Vec<Membership> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Membership {
            org_id: m["org_id"].as_str().unwrap_or_default().to_string(),
            org_number: m["org_number"].as_i64().unwrap_or_default(),
            org_name: m["org_name"].as_str().unwrap_or_default().to_string(),
            org_active: m["org_active"].as_bool().unwrap_or_default(),
            role: m["role"].as_str().unwrap_or_default().to_string(),
            member_seq: m["member_seq"].as_i64().unwrap_or_default() as i32,
            pages: strings(&m["pages"]),
            roles: strings(&m["roles"]),
        })
        .collect()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(String::from))
        .collect()
}

/// Users across every org (superadmins only: the caller passes the proof's principal).
async fn platform_users(
    pool: &sqlx::PgPool,
    user_id: Option<Uuid>,
    query: &UserQuery,
) -> Result<(Vec<UserRow>, i64), AppError> {
    let search = (!query.q.is_empty()).then(|| escape_like(&query.q));
    let status = (!query.status.is_empty()).then(|| query.status.clone());
    let rows = sqlx::query!(
        r#"select user_id as "user_id!", email as "email!", name as "name!", status as "status!",
                  is_superadmin as "is_superadmin!", bound_org_id, last_login_at,
                  memberships as "memberships!", total as "total!"
             from platform.user_page($1, $2, $3, $4, $5)"#,
        user_id,
        search,
        status,
        PAGE_SIZE as i32,
        ((query.page - 1) * PAGE_SIZE).min(i32::MAX as i64) as i32
    )
    .fetch_all(pool)
    .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    Ok((
        rows.into_iter()
            .map(|r| UserRow {
                id: r.user_id.to_string(),
                email: r.email,
                name: r.name,
                status: r.status,
                superadmin: r.is_superadmin,
                bound_org: r.bound_org_id.map(|o| o.to_string()),
                last_login_at: r.last_login_at,
                memberships: memberships(r.memberships),
            })
            .collect(),
        total,
    ))
}

/// Members of the tenant's org (RLS shows nothing else).
async fn org_users(
    tenant: &mut Tenant,
    user_id: Option<Uuid>,
    query: &UserQuery,
) -> Result<(Vec<UserRow>, i64), AppError> {
    let org = tenant.org_id;
    let search = (!query.q.is_empty()).then(|| escape_like(&query.q));
    let status = (!query.status.is_empty()).then(|| query.status.clone());
    let rows = sqlx::query!(
        r#"select u.user_id, u.email, u.name, u.status, u.is_superadmin, u.bound_org_id,
                  u.last_login_at, m.role_name, m.member_seq, coalesce(m.pages, r.pages) as "pages!",
                  o.org_number, o.name as org_name, o.status as org_status,
                  array(select a.role_name from org_role a where a.org_id = m.org_id
                         order by not a.builtin, a.created_at, a.role_name) as "roles!",
                  count(*) over () as "total!"
             from membership m
             join app_user u on u.user_id = m.user_id
             join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
             join organization o on o.org_id = m.org_id
            where m.org_id = $1
              and ($2::uuid is null or u.user_id = $2)
              and ($3::text is null or u.email ilike '%' || $3 || '%' or u.name ilike '%' || $3 || '%')
              and ($4::text is null or u.status = $4)
            order by lower(u.name), u.email
            limit $5 offset $6"#,
        org,
        user_id,
        search,
        status,
        PAGE_SIZE,
        (query.page - 1) * PAGE_SIZE
    )
    .fetch_all(tenant.conn())
    .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    Ok((
        rows.into_iter()
            .map(|r| UserRow {
                id: r.user_id.to_string(),
                email: r.email,
                name: r.name,
                status: r.status,
                superadmin: r.is_superadmin,
                bound_org: r.bound_org_id.map(|o| o.to_string()),
                last_login_at: r.last_login_at,
                memberships: vec![Membership {
                    org_id: org.to_string(),
                    org_number: r.org_number,
                    org_name: r.org_name,
                    org_active: r.org_status == "active",
                    role: r.role_name,
                    member_seq: r.member_seq,
                    pages: r.pages,
                    roles: r.roles,
                }],
            })
            .collect(),
        total,
    ))
}

pub(crate) async fn role_names(tenant: &mut Tenant) -> Result<Vec<String>, AppError> {
    let org = tenant.org_id;
    Ok(sqlx::query_scalar!(
        "select role_name from org_role where org_id = $1 order by not builtin, created_at, role_name",
        org
    )
    .fetch_all(tenant.conn())
    .await?)
}

pub async fn list(query: UserQuery) -> Result<UserPage, AppError> {
    let gate = Gate::open(super::ListUsers::PATH)?;
    let query = query.normalized();
    let mut tenant = match gate.platform_or_tenant().await? {
        Access::Tenant(tenant) => tenant,
        Access::Platform(platform) => {
            let (rows, matching) = platform_users(platform.pool(), None, &query).await?;
            // New users go into the org the superadmin is acting in, if any.
            let acting = match platform.principal().active_org {
                Some(org) => platform.act_in(org).await,
                None => Err(AppError::NotFound("Organization".to_string())),
            };
            let (org_id, org_name, org_active, roles) = match acting {
                Ok(mut tenant) => {
                    let roles = role_names(&mut tenant).await?;
                    let org = tenant.org_id;
                    let (name, active) = org_name_and_status(&mut tenant).await?;
                    (Some(org.to_string()), Some(name), active, roles)
                }
                Err(_) => (None, None, false, Vec::new()),
            };
            return Ok(UserPage {
                query,
                rows,
                matching,
                all_orgs: true,
                org_id,
                org_name,
                org_active,
                roles,
            });
        }
    };
    let (rows, matching) = org_users(&mut tenant, None, &query).await?;
    let roles = role_names(&mut tenant).await?;
    let org = tenant.org_id;
    let (name, org_active) = org_name_and_status(&mut tenant).await?;
    tenant.commit().await?;
    Ok(UserPage {
        query,
        rows,
        matching,
        all_orgs: false,
        org_id: Some(org.to_string()),
        org_name: Some(name),
        org_active,
        roles,
    })
}

/// The tenant's org's name, and whether it is enabled (the Users page toggles it).
async fn org_name_and_status(tenant: &mut Tenant) -> Result<(String, bool), AppError> {
    let org = tenant.org_id;
    let row = sqlx::query!(
        r#"select name, status = 'active' as "active!" from organization where org_id = $1"#,
        org
    )
    .fetch_one(tenant.conn())
    .await?;
    Ok((row.name, row.active))
}

pub async fn get(user_id: &str) -> Result<UserRow, AppError> {
    let gate = Gate::open(super::GetUser::PATH)?;
    let user_id = parse_uuid(user_id, "user_id", "a user")?;
    let found = match gate.platform_or_tenant().await? {
        Access::Platform(platform) => {
            platform_users(
                platform.pool(),
                Some(user_id),
                &UserQuery::default().normalized(),
            )
            .await?
            .0
        }
        Access::Tenant(mut tenant) => {
            let rows = org_users(
                &mut tenant,
                Some(user_id),
                &UserQuery::default().normalized(),
            )
            .await?
            .0;
            tenant.commit().await?;
            rows
        }
    };
    found
        .into_iter()
        .next()
        .ok_or_else(|| AppError::NotFound("The user".to_string()))
}

pub async fn create(
    org_id: &str,
    name: String,
    email: String,
    password_text: String,
    role: &str,
) -> Result<String, AppError> {
    let mut tenant = Gate::open(super::CreateUser::PATH)?
        .tenant_in(org_id)
        .await?;
    let org_id = tenant.org_id;
    let user = validate_new_user(&name, &email, &password_text)?;
    let roles = role_names(&mut tenant).await?;
    if !roles.iter().any(|r| r == role) {
        return Err(AppError::field("role", "Choose a role."));
    }
    // A new member gets no more than the admin who makes them holds.
    let sections = role_sections(&mut tenant, role).await?;
    check_within_grant(&tenant.grant, role, &sections)?;
    let hash = password::hash(password_text).await?;
    let user_id = Uuid::new_v4();
    session_insert_user(
        tenant.conn(),
        org_id,
        user_id,
        &user.email,
        &user.name,
        &hash,
    )
    .await?;
    add_member(tenant.conn(), org_id, user_id, role).await?;
    tenant
        .audit("user.create", &user.email, json!({ "role": role }))
        .await?;
    tenant.commit().await?;
    Ok(user_id.to_string())
}

pub async fn update(
    user_id: &str,
    name: String,
    email: String,
    status: String,
    bound_org_id: String,
) -> Result<(), AppError> {
    let gate = Gate::open(super::UpdateUser::PATH)?;
    let user_id = parse_uuid(user_id, "user_id", "a user")?;
    let mut errors = BTreeMap::new();
    let name = name.trim().to_string();
    let email = email.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > 200 {
        errors.insert(
            "name".to_string(),
            vec!["Enter a name (at most 200 characters).".to_string()],
        );
    }
    if let Some(problem) = crate::auth::email_problem(&email) {
        errors.insert("email".to_string(), vec![problem]);
    }
    if !matches!(status.as_str(), "active" | "disabled") {
        errors.insert(
            "status".to_string(),
            vec!["Choose Active or Disabled.".to_string()],
        );
    }
    let bound = match bound_org_id.trim() {
        "" => None,
        other => match Uuid::parse_str(other) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.insert(
                    "bound_org_id".to_string(),
                    vec!["Choose an organization.".to_string()],
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let access = gate.platform_or_tenant().await?;
    let principal = match &access {
        Access::Platform(platform) => platform.principal().clone(),
        Access::Tenant(tenant) => tenant.principal.clone(),
    };
    if user_id == principal.user_id && status == "disabled" {
        return Err(AppError::field(
            "status",
            "You cannot disable your own account.",
        ));
    }
    let mut tenant = match access {
        Access::Tenant(tenant) => tenant,
        Access::Platform(platform) => {
            let updated = sqlx::query_scalar!(
                r#"select platform.admin_update_user($1, $2, $3, $4, $5) as "updated!""#,
                user_id,
                name,
                email,
                status,
                bound
            )
            .fetch_one(platform.pool())
            .await?;
            if !updated {
                return Err(AppError::NotFound("The user".to_string()));
            }
            let p = platform.principal();
            let _ = sqlx::query!(
                "select platform.record_audit($1, $2, 'user.update', $3, $4, $5, $6)",
                bound,
                p.user_id,
                email,
                p.client.ip,
                p.client.user_agent,
                json!({ "status": status, "bound_org_id": bound })
            )
            .execute(platform.pool())
            .await;
            return Ok(());
        }
    };
    // An org admin edits members of its own org who belong nowhere else; an owner's account
    // only an owner changes.
    let org = tenant.org_id;
    let target = sqlx::query!(
        "select u.is_superadmin, m.role_name
           from membership m join app_user u on u.user_id = m.user_id
          where m.org_id = $1 and m.user_id = $2",
        org,
        user_id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The user".to_string()))?;
    let elsewhere = sqlx::query_scalar!(
        r#"select count(*) as "n!" from platform.user_orgs($1) where org_id <> $2"#,
        user_id,
        org
    )
    .fetch_one(tenant.conn())
    .await?;
    if target.role_name == "owner" && !tenant.grant.is_owner() {
        return Err(AppError::Forbidden(
            "Only an owner of this organization can change an owner's account.".to_string(),
        ));
    }
    if target.is_superadmin || elsewhere > 0 {
        return Err(AppError::Forbidden(
            "This user also belongs to other organizations; a platform superadmin can edit it."
                .to_string(),
        ));
    }
    if bound.is_some_and(|b| b != org) {
        return Err(AppError::field(
            "bound_org_id",
            "You can bind users only to this organization.",
        ));
    }
    sqlx::query!(
        "update app_user set name = $2, email = $3, status = $4, bound_org_id = $5, updated_at = now()
          where user_id = $1",
        user_id,
        name,
        email,
        status,
        bound
    )
    .execute(tenant.conn())
    .await
    ?;
    tenant
        .audit(
            "user.update",
            &email,
            json!({ "status": status, "bound_org_id": bound }),
        )
        .await?;
    tenant.commit().await
}

pub async fn set_membership(
    org_id: &str,
    user_id: &str,
    role: &str,
    own_pages: bool,
    pages: BTreeMap<String, String>,
    bound_org_id: &str,
) -> Result<(), AppError> {
    let user_id = parse_uuid(user_id, "user_id", "a user")?;
    let bound = match bound_org_id.trim() {
        "" => None,
        "none" => Some(None),
        id => Some(Some(parse_uuid(id, "bound_org_id", "an organization")?)),
    };
    let mut tenant = Gate::open(super::SetMembership::PATH)?
        .tenant_in(org_id)
        .await?;
    let org_id = tenant.org_id;
    let roles = role_names(&mut tenant).await?;
    if !roles.iter().any(|r| r == role) {
        return Err(AppError::field("role", "Choose a role."));
    }
    lock_owners(&mut tenant).await?;
    if pages.keys().any(|p| Section::from_key(p).is_none()) {
        return Err(AppError::field("pages", "Choose only Admin App sections."));
    }
    let current = sqlx::query!(
        r#"select m.role_name, coalesce(m.pages, r.pages) as "pages!",
                  (select count(*) from membership o
                    where o.org_id = m.org_id and o.role_name = 'owner') as "owners!"
             from membership m
             join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
            where m.org_id = $1 and m.user_id = $2"#,
        org_id,
        user_id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The membership".to_string()))?;
    let new_sections = if own_pages {
        Section::parse_all(&pages.keys().collect::<Vec<_>>())
    } else {
        role_sections(&mut tenant, role).await?
    };
    check_membership_change(
        &tenant.grant,
        user_id == tenant.principal.user_id,
        &current.role_name,
        (role, &new_sections),
        current.owners,
    )?;
    let pages: Option<Vec<String>> = own_pages.then(|| pages.into_keys().collect());
    let updated = sqlx::query!(
        "update membership set role_name = $3, pages = $4, updated_at = now()
          where org_id = $1 and user_id = $2",
        org_id,
        user_id,
        role,
        pages.as_deref()
    )
    .execute(tenant.conn())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(AppError::NotFound("The membership".to_string()));
    }
    if current.role_name != role {
        revoke_invitations_by(&mut tenant, user_id).await?;
    }
    let mut details = json!({ "role": role, "pages": pages });
    if let Some(bound) = bound {
        if bind(&mut tenant, user_id, &current.role_name, bound).await? {
            details["bound_org_id"] = json!(bound);
        }
    }
    tenant
        .audit("membership.update", &user_id.to_string(), details)
        .await?;
    tenant.commit().await
}

/// Binds `user_id`, a member of the tenant's org, to `bound` (or frees them); whether that
/// changed anything. Under the user form's rules: an org admin binds only to its own org, and only
/// users who belong nowhere else (binding locks them out of their other orgs) and are not an
/// owner unless the admin is one; a superadmin binds to any org the user belongs to.
async fn bind(
    tenant: &mut Tenant,
    user_id: Uuid,
    role: &str,
    bound: Option<Uuid>,
) -> Result<bool, AppError> {
    let org = tenant.org_id;
    let target = sqlx::query!(
        r#"select u.bound_org_id, u.is_superadmin,
                  (select count(*) from platform.user_orgs(u.user_id) o
                    where o.org_id <> $1) as "elsewhere!",
                  $3::uuid is null
                    or exists (select from platform.user_orgs(u.user_id) o
                                where o.org_id = $3) as "belongs!"
             from app_user u where u.user_id = $2"#,
        org,
        user_id,
        bound
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The user".to_string()))?;
    if target.bound_org_id == bound {
        return Ok(false);
    }
    if !target.belongs {
        return Err(AppError::field(
            "bound_org_id",
            "A user can only be bound to an organization it belongs to.",
        ));
    }
    if !tenant.grant.superadmin {
        if bound.is_some_and(|b| b != org) || target.bound_org_id.is_some_and(|b| b != org) {
            return Err(AppError::field(
                "bound_org_id",
                "You can bind users only to this organization.",
            ));
        }
        if role == "owner" && !tenant.grant.is_owner() {
            return Err(AppError::Forbidden(
                "Only an owner of this organization can change an owner's account.".to_string(),
            ));
        }
        if target.is_superadmin || target.elsewhere > 0 {
            return Err(AppError::Forbidden(
                "This user also belongs to other organizations; a platform superadmin can \
                 bind it."
                    .to_string(),
            ));
        }
    }
    sqlx::query!(
        "update app_user set bound_org_id = $2, updated_at = now() where user_id = $1",
        user_id,
        bound
    )
    .execute(tenant.conn())
    .await?;
    Ok(true)
}

/// Whether `caller` may change a membership from `current_role` to `new` (role, sections):
/// - only an owner (or a superadmin) makes or unmakes an owner;
/// - the last owner stays an owner;
/// - nobody hands out more than they hold ([`check_within_grant`]), themselves included;
/// - an admin does not take away their own admin role.
pub fn check_membership_change(
    caller: &Grant,
    own: bool,
    current_role: &str,
    new: (&str, &[Section]),
    owners: i64,
) -> Result<(), AppError> {
    let (new_role, new_sections) = new;
    if caller.superadmin {
        if current_role == "owner" && new_role != "owner" && owners <= 1 {
            return Err(last_owner());
        }
        return Ok(());
    }
    if (current_role == "owner" || new_role == "owner") && !caller.is_owner() {
        return Err(AppError::field(
            "role",
            "Only an owner of this organization can make or change an owner.",
        ));
    }
    if current_role == "owner" && new_role != "owner" && owners <= 1 {
        return Err(last_owner());
    }
    // Nobody widens themselves or anyone else past what they hold (an admin's own membership
    // is the caller's grant, so this covers raising one's own role and sections too).
    check_within_grant(caller, new_role, new_sections)?;
    if own && !is_admin_role(new_role) {
        return Err(AppError::field(
            "role",
            "You cannot take away your own admin role.",
        ));
    }
    Ok(())
}

/// The sections `role` opens in the tenant's org (its own list, custom roles included).
pub(crate) async fn role_sections(
    tenant: &mut Tenant,
    role: &str,
) -> Result<Vec<Section>, AppError> {
    let org = tenant.org_id;
    let pages = sqlx::query_scalar!(
        "select pages from org_role where org_id = $1 and role_name = $2",
        org,
        role
    )
    .fetch_optional(tenant.conn())
    .await?
    .unwrap_or_default();
    Ok(Section::parse_all(&pages))
}

/// Nobody but a superadmin hands out more than they hold: a role above their own, an owner
/// unless they are one, or a section they cannot open themselves. Otherwise a narrowed admin
/// could widen a second account and sign in as it.
pub fn check_within_grant(
    caller: &Grant,
    role: &str,
    sections: &[Section],
) -> Result<(), AppError> {
    if caller.superadmin {
        return Ok(());
    }
    let caller_role = caller.role.as_deref().unwrap_or("guest");
    if (role == "owner" && caller_role != "owner") || role_level(role) > role_level(caller_role) {
        return Err(AppError::field(
            "role",
            "You cannot give a role above your own; ask an owner or a platform superadmin.",
        ));
    }
    if let Some(missing) = sections.iter().find(|s| !caller.sections.contains(s)) {
        return Err(AppError::field(
            "pages",
            format!(
                "You cannot give access to {}, which you do not have yourself.",
                missing.label()
            ),
        ));
    }
    Ok(())
}

pub async fn remove_member(org_id: &str, user_id: &str) -> Result<(), AppError> {
    let user_id = parse_uuid(user_id, "user_id", "a user")?;
    let mut tenant = Gate::open(super::RemoveMember::PATH)?
        .tenant_in(org_id)
        .await?;
    let org_id = tenant.org_id;
    lock_owners(&mut tenant).await?;
    let current = sqlx::query!(
        r#"select m.role_name, u.email, u.bound_org_id,
                  (select count(*) from membership o
                    where o.org_id = m.org_id and o.role_name = 'owner') as "owners!"
             from membership m
             join app_user u on u.user_id = m.user_id
            where m.org_id = $1 and m.user_id = $2
            for update of m"#,
        org_id,
        user_id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The membership".to_string()))?;
    let caller = &tenant.grant;
    if !caller.superadmin {
        let caller_role = caller.role.as_deref().unwrap_or("guest");
        if current.role_name == "owner" && !caller.is_owner() {
            return Err(AppError::Forbidden(
                "Only an owner of this organization can remove an owner.".to_string(),
            ));
        }
        if role_level(&current.role_name) > role_level(caller_role) {
            return Err(AppError::Forbidden(
                "You cannot remove a member whose role is above your own.".to_string(),
            ));
        }
    }
    if current.role_name == "owner" && current.owners <= 1 {
        return Err(last_owner());
    }
    let locked_here = current.bound_org_id == Some(org_id);
    if locked_here {
        // Before the membership goes: the account is visible to this org only through it.
        sqlx::query!(
            "update app_user set status = 'disabled', updated_at = now() where user_id = $1",
            user_id
        )
        .execute(tenant.conn())
        .await?;
    }
    sqlx::query!(
        "delete from membership where org_id = $1 and user_id = $2",
        org_id,
        user_id
    )
    .execute(tenant.conn())
    .await?;
    revoke_invitations_by(&mut tenant, user_id).await?;
    tenant
        .audit(
            "membership.remove",
            &current.email,
            json!({ "user": user_id, "role": current.role_name, "disabled": locked_here }),
        )
        .await?;
    tenant.commit().await
}

/// Serialises changes to the org's owners (each counts them before it changes one): two owners
/// removing or demoting each other at once would otherwise both see two and leave none.
async fn lock_owners(tenant: &mut Tenant) -> Result<(), AppError> {
    let org = tenant.org_id;
    sqlx::query!(
        "select org_id from organization where org_id = $1 for update",
        org
    )
    .fetch_optional(tenant.conn())
    .await?;
    Ok(())
}

/// Withdraws the open invitations `user` sent in the tenant's org: what they could hand out
/// ends with their membership or their role.
async fn revoke_invitations_by(tenant: &mut Tenant, user: Uuid) -> Result<(), AppError> {
    let org = tenant.org_id;
    sqlx::query!(
        "update invitation set revoked_at = now()
          where org_id = $1 and invited_by = $2 and accepted_at is null and revoked_at is null",
        org,
        user
    )
    .execute(tenant.conn())
    .await?;
    Ok(())
}

fn last_owner() -> AppError {
    AppError::Conflict(
        "This is the organization's last owner; make someone else an owner first.".to_string(),
    )
}

pub async fn org_members(org_id: &str) -> Result<Vec<UserRow>, AppError> {
    org_members_in(Gate::open(super::OrgMembers::PATH)?, org_id).await
}

/// The org's members, through `gate` (the detail view's Members tab opens it itself).
pub async fn org_members_in(gate: Gate, org_id: &str) -> Result<Vec<UserRow>, AppError> {
    let mut tenant = gate.tenant_in(org_id).await?;
    // The first 100, by name; the Users page pages through the rest.
    let rows = org_users(&mut tenant, None, &UserQuery::default().normalized())
        .await?
        .0;
    tenant.commit().await?;
    Ok(rows)
}
