//! The server side of the organization lifecycle.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{NewOrg, OrgDetails, Organization, PRODUCTS};
use crate::{
    context::Services,
    error::parse_uuid,
    tenancy::{
        access::BUILTIN_ROLES,
        gate::{Gate, Recalled, Tenant},
    },
    AppError,
};

pub async fn create(input: NewOrg) -> Result<String, AppError> {
    let gate = Gate::open(super::CreateOrg::PATH)?;
    let services = gate.services().clone();
    let platform = gate.platform().await?;
    let org_id = Uuid::new_v4();
    let mut tenant = Tenant::for_new_org(&services, org_id, platform.principal().clone()).await?;
    if input.domain.trim().is_empty() {
        // Checked with the other fields so every problem shows at once.
        let mut errors = match validate_new(&input, &services) {
            Err(AppError::Validation(errors)) => errors,
            _ => Default::default(),
        };
        errors.insert(
            "domain".to_string(),
            vec!["Enter the organization's domain, like example.com.".to_string()],
        );
        return Err(AppError::Validation(errors));
    }
    create_in(&mut tenant, &services, input, None).await?;
    tenant.commit().await?;
    services.products.wake.notify_one();
    Ok(org_id.to_string())
}

/// Writes a new org, its built-in roles, its schema and (if given) its owner's membership, in
/// the tenant transaction `for_new_org` opened. Nothing is kept unless the caller commits.
pub async fn create_in(
    tenant: &mut Tenant,
    services: &Services,
    input: NewOrg,
    owner: Option<Uuid>,
) -> Result<(), AppError> {
    let org = validate_new(&input, services)?;
    let org_id = tenant.org_id;
    // On the org's own transaction: a second connection while holding one deadlocks the pool
    // under a burst of creations.
    let slug = free_slug(tenant.conn(), &org.name).await?;
    let created_by = owner.unwrap_or(tenant.principal.user_id);
    let number = sqlx::query_scalar!(
        "insert into organization (org_id, name, slug, primary_domain, product, status, created_by,
                                   template)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         returning org_number",
        org_id,
        org.name,
        slug,
        org.domain,
        org.product,
        org.status,
        created_by,
        org.template.map(|(label, _)| label).unwrap_or_default()
    )
    .fetch_one(tenant.conn())
    .await
    .map_err(unique_field_errors)?;
    for (role, _, sections) in BUILTIN_ROLES {
        let pages: Vec<String> = sections.iter().map(|s| s.key().to_string()).collect();
        sqlx::query!(
            "insert into org_role (org_id, role_name, builtin, pages) values ($1, $2, true, $3)",
            org_id,
            role,
            &pages
        )
        .execute(tenant.conn())
        .await?;
    }
    if let Some(user_id) = owner {
        add_member(tenant.conn(), org_id, user_id, "owner").await?;
    }
    let schema = sqlx::query_scalar!(
        r#"select platform.provision_org_schema($1) as "schema!""#,
        org_id
    )
    .fetch_one(tenant.conn())
    .await?;
    tenant
        .audit(
            "org.create",
            &format!("ORG{number}"),
            json!({ "name": org.name, "slug": slug, "schema": schema }),
        )
        .await?;
    // Its resources in the data stores, then the template's products: each planned as a run in
    // this same transaction (the org and its plans exist together or not at all); the worker
    // runs them once it commits.
    if services.stores.configured() {
        let resources = crate::products::catalog::resources();
        let steps = crate::products::engine::install_steps(&resources);
        crate::products::server::plan_audited(
            tenant,
            &resources,
            "install",
            &steps,
            "org.resources_started",
            |run| json!({ "run": run }),
        )
        .await?;
    }
    if let Some((label, products)) = org.template {
        let catalog = services.products.catalog.clone();
        for key in products {
            let product = catalog.get(key).ok_or_else(|| {
                AppError::internal("templates", format!("{key} is not in the catalog"))
            })?;
            let steps = crate::products::engine::install_steps(product);
            crate::products::server::plan_audited(
                tenant,
                product,
                "install",
                &steps,
                "product.install_started",
                |run| json!({ "run": run, "version": product.version, "template": label }),
            )
            .await?;
        }
    }
    tracing::info!(org = %org_id, %slug, %schema, "organization created");
    Ok(())
}

/// Adds a member with the org's next member number (ORG{n}-U-{seq}).
pub async fn add_member(
    conn: &mut PgConnection,
    org_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<(), AppError> {
    sqlx::query!(
        "with seq as (
           update organization set member_seq = member_seq + 1 where org_id = $1
           returning member_seq)
         insert into membership (org_id, user_id, role_name, member_seq)
         select $1, $2, $3, member_seq from seq",
        org_id,
        user_id,
        role
    )
    .execute(conn)
    .await?;
    Ok(())
}

struct ValidOrg {
    name: String,
    domain: Option<String>,
    product: String,
    status: String,
    /// (label, products) of the template, if one was chosen.
    template: Option<(&'static str, &'static [&'static str])>,
}

fn validate_new(input: &NewOrg, services: &Services) -> Result<ValidOrg, AppError> {
    let mut errors = BTreeMap::new();
    let name = check_name(&input.name, &mut errors);
    let domain = check_domain(&input.domain, services, &mut errors);
    let product = check_product(&input.product, &mut errors);
    let status = match input.status.trim() {
        "active" | "disabled" => input.status.trim().to_string(),
        _ => {
            errors.insert(
                "status".to_string(),
                vec!["Choose Active or Disabled.".to_string()],
            );
            String::new()
        }
    };
    let template = match input.template.trim() {
        "" => None,
        key => match crate::products::TEMPLATES
            .iter()
            .find(|(k, _, _)| *k == key)
        {
            Some((_, label, products)) => Some((*label, *products)),
            None => {
                errors.insert(
                    "template".to_string(),
                    vec!["Choose a template from the list, or none.".to_string()],
                );
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(ValidOrg {
            name,
            domain,
            product,
            status,
            template,
        })
    } else {
        Err(AppError::Validation(errors))
    }
}

fn check_name(name: &str, errors: &mut BTreeMap<String, Vec<String>>) -> String {
    let name = name.trim();
    if name.is_empty() {
        errors.insert("name".to_string(), vec!["Enter a name.".to_string()]);
    } else if name.chars().count() > 200 {
        errors.insert(
            "name".to_string(),
            vec!["Use at most 200 characters.".to_string()],
        );
    } else if !name.chars().any(|c| c.is_alphanumeric()) {
        errors.insert(
            "name".to_string(),
            vec!["Use at least one letter or digit.".to_string()],
        );
    }
    name.to_string()
}

/// An empty domain is `None`; anything else must be a domain an org could claim
/// ([`crate::domains::server::claimable`]). The primary domain describes the org; requests route
/// only by the domains it has verified.
fn check_domain(
    domain: &str,
    services: &Services,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<String> {
    if domain.trim().is_empty() {
        return None;
    }
    match crate::domains::server::claimable(domain, &services.base_domain) {
        Ok(name) => Some(name),
        Err(why) => {
            errors.insert("domain".to_string(), vec![why]);
            None
        }
    }
}

fn check_product(product: &str, errors: &mut BTreeMap<String, Vec<String>>) -> String {
    let product = product.trim();
    if PRODUCTS.iter().any(|(value, _)| *value == product) {
        product.to_string()
    } else {
        errors.insert("product".to_string(), vec!["Choose a product.".to_string()]);
        String::new()
    }
}

/// The slug made from `name`, with `-2`, `-3`, … if taken. Checked through the platform lookup;
/// the unique index settles a race.
async fn free_slug(conn: &mut PgConnection, name: &str) -> Result<String, AppError> {
    let mut base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base = base
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    base.truncate(50);
    let base = base.trim_matches('-').to_string();
    let base = if base.is_empty() {
        "org".to_string()
    } else {
        base
    };
    for n in 1..1000 {
        let candidate = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let taken = sqlx::query_scalar!(
            r#"select exists (select from platform.org_by_slug($1)) as "taken!""#,
            candidate
        )
        .fetch_one(&mut *conn)
        .await?;
        if !taken {
            return Ok(candidate);
        }
    }
    Err(AppError::Conflict(
        "Too many organizations share this name; choose another.".to_string(),
    ))
}

/// Named unique constraints as the field errors a person can fix.
/// The one constraint that is no field's fault: two orgs named alike created at once (the
/// rest map through `AppError`'s constraint table).
fn unique_field_errors(err: sqlx::Error) -> AppError {
    match err.as_database_error().and_then(|db| db.constraint()) {
        Some("organization_slug_key") => AppError::Conflict(
            "Another organization was just created with this name; try again.".to_string(),
        ),
        _ => err.into(),
    }
}

pub async fn header(org_id: &str) -> Result<super::OrgTitle, AppError> {
    let mut tenant = Gate::open(super::OrgHeader::PATH)?
        .tenant_in(org_id)
        .await?;
    let org_id = tenant.org_id;
    let row = sqlx::query!(
        "select org_number, name, slug, status from organization where org_id = $1",
        org_id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("Organization".to_string()))?;
    tenant.end_read();
    Ok(super::OrgTitle {
        id: org_id.to_string(),
        number: row.org_number,
        name: row.name,
        slug: row.slug,
        active: row.status == "active",
    })
}

/// The org and its health, in one transaction.
pub async fn overview(org_id: &str) -> Result<super::OrgOverviewData, AppError> {
    let gate = Gate::open(super::OrgOverview::PATH)?;
    let stores = gate.services().stores.clone();
    let mut tenant = gate.tenant_in(org_id).await?;
    let org_id = tenant.org_id;
    let org = read(tenant.conn(), org_id).await?;
    let health = crate::billing::server::health(&mut tenant).await?;
    let created_by = match (health.creator, health.creator_recorded) {
        (Some(name), _) => name,
        // The creator's account is not the caller's to see (a platform administrator, or
        // someone no longer a member), or no longer exists.
        (None, true) => "A platform administrator or former member".to_string(),
        (None, false) => "—".to_string(),
    };
    let provisioning = if stores.configured() {
        sqlx::query!(
            "select status, error from product_run where org_id = $1 and product = $2
              order by created_at desc limit 1",
            org_id,
            crate::products::catalog::RESOURCES
        )
        .fetch_optional(tenant.conn())
        .await?
        .map(|r| (r.status, r.error))
    } else {
        None
    };
    tenant.end_read();
    Ok(super::OrgOverviewData {
        org,
        allowances: health.allowances,
        plan: health.plan,
        created_at: health.created_at,
        created_by,
        recently_signed_in: health.recently_signed_in,
        last_sign_in: health.last_sign_in,
        resources: crate::stores::provision::describe(&stores, org_id, provisioning).await,
    })
}

pub async fn get(org_id: Option<&str>) -> Result<Organization, AppError> {
    let gate = match org_id {
        Some(_) => Gate::open(super::GetOrg::PATH)?,
        None => Gate::open(super::CurrentOrg::PATH)?,
    };
    get_in(&gate, org_id).await
}

/// The org named (or the one acting in), through `gate`.
pub async fn get_in(gate: &Gate, org_id: Option<&str>) -> Result<Organization, AppError> {
    let mut tenant = match org_id {
        Some(org_id) => gate.tenant_in(org_id).await?,
        None => match gate.remembered_read::<Organization>(ORG_READ).await? {
            Recalled::Remembered(org) => return Ok(org),
            Recalled::Read(since) => {
                let mut tenant = gate.tenant().await?;
                let org_id = tenant.org_id;
                let (org, data_version) = read_at(tenant.conn(), org_id).await?;
                gate.keep_read(&tenant, ORG_READ, since, data_version, &org);
                tenant.end_read();
                return Ok(org);
            }
        },
    };
    let org_id = tenant.org_id;
    let org = read(tenant.conn(), org_id).await?;
    tenant.end_read();
    Ok(org)
}

/// The org read, as the node remembers it ([`Gate::remembered_read`]).
const ORG_READ: &str = "org";

fn changed_meanwhile() -> AppError {
    AppError::Conflict(
        "This organization was changed since you opened it (by someone else, or in another \
         tab). Reload to see the changes, then make yours again."
            .to_string(),
    )
}

/// The org with its subscription and roles, in one statement (the detail view and the app's
/// frame read it on every page). Plain columns and arrays rather than JSON built by the
/// database and parsed again here: this is the most read statement of all (`bench/load`).
async fn read(conn: &mut PgConnection, org_id: Uuid) -> Result<Organization, AppError> {
    Ok(read_at(conn, org_id).await?.0)
}

/// [`read`], with the org's data version in the same snapshot (`organization.data_version`).
async fn read_at(conn: &mut PgConnection, org_id: Uuid) -> Result<(Organization, i64), AppError> {
    let row = sqlx::query!(
        r#"select o.org_id, o.org_number, o.name, o.slug, o.primary_domain, o.description,
                  o.contact_email, o.contact_phone, o.address_line1, o.address_line2, o.city,
                  o.state, o.country, o.zip, o.product, o.status, o.parent_org_id,
                  o.member_count, o.product_count, o.data_version,
                  platform.org_schema_name(o.org_id) as "schema!",
                  (extract(epoch from o.updated_at) * 1000000)::bigint as "version!",
                  s.plan_name as "plan_name?", s.seats as "seats?", s.platform as "platform?",
                  s.status as "subscription_status?",
                  s.stripe_customer_id as "stripe_customer_id?",
                  s.stripe_subscription_id as "stripe_subscription_id?",
                  s.trial_end as "trial_end?", s.current_period_end as "current_period_end?",
                  s.cancelled_at as "cancelled_at?", s.cancel_reason as "cancel_reason?",
                  s.grace_period_end as "grace_period_end?",
                  roles.names as "role_names!", roles.builtins as "role_builtins!",
                  roles.members as "role_members!"
             from organization o
             left join subscription s on s.org_id = o.org_id
             cross join lateral (
               -- In the order the Roles tab lists them: built-in first, then by age. Each
               -- array sorted by the same total order (names are unique), so they line up.
               select coalesce(array_agg(x.role_name order by x.rank), '{}') as names,
                      coalesce(array_agg(x.builtin order by x.rank), '{}') as builtins,
                      coalesce(array_agg(x.members order by x.rank), '{}') as members
                 from (select r.role_name, r.builtin, coalesce(c.members, 0) as members,
                              row_number() over (order by not r.builtin, r.created_at,
                                                          r.role_name) as rank
                         from org_role r
                         left join (select m.role_name, count(*) as members
                                      from membership m where m.org_id = $1
                                     group by m.role_name) c on c.role_name = r.role_name
                        where r.org_id = o.org_id) x) roles
            where o.org_id = $1"#,
        org_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::NotFound("Organization".to_string()))?;
    // Every subscription column is `not null` but the Stripe ids and dates: all present, or no
    // subscription row.
    let subscription = match (
        row.plan_name,
        row.seats,
        row.platform,
        row.subscription_status,
        row.cancel_reason,
    ) {
        (Some(plan_name), Some(seats), Some(platform), Some(status), Some(cancel_reason)) => {
            Some(crate::billing::Subscription {
                plan_name,
                seats,
                platform,
                status,
                stripe_customer_id: row.stripe_customer_id,
                stripe_subscription_id: row.stripe_subscription_id,
                trial_end: row.trial_end,
                current_period_end: row.current_period_end,
                cancelled_at: row.cancelled_at,
                cancel_reason,
                grace_period_end: row.grace_period_end,
            })
        }
        _ => None,
    };
    let roles = row
        .role_names
        .into_iter()
        .zip(row.role_builtins)
        .zip(row.role_members)
        .map(|((name, builtin), members)| super::RoleInfo {
            required: name == "admin" || name == "member",
            name,
            builtin,
            members,
        })
        .collect();
    let org = Organization {
        version: row.version,
        members: row.member_count,
        products: row.product_count,
        subscription,
        roles,
        id: row.org_id.to_string(),
        number: row.org_number,
        slug: row.slug,
        status: row.status,
        parent_id: row.parent_org_id.map(|p| p.to_string()),
        schema: row.schema,
        details: OrgDetails {
            name: row.name,
            domain: row.primary_domain.unwrap_or_default(),
            description: row.description,
            contact_email: row.contact_email,
            contact_phone: row.contact_phone,
            address_line1: row.address_line1,
            address_line2: row.address_line2,
            city: row.city,
            state: row.state,
            country: row.country,
            zip: row.zip,
            product: row.product,
        },
    };
    Ok((org, row.data_version))
}

pub async fn update(
    org_id: &str,
    changes: super::OrgChanges,
    slug: Option<String>,
    version: &str,
) -> Result<(), AppError> {
    let seen = match version.trim() {
        "" => None,
        v => Some(v.parse::<i64>().map_err(|_| {
            AppError::field("version", "Reload the page, then make your change again.")
        })?),
    };
    let gate = Gate::open(super::UpdateOrg::PATH)?;
    let services = gate.services().clone();
    let mut tenant = gate.tenant_in(org_id).await?;
    let org_id = tenant.org_id;
    let current = read(tenant.conn(), org_id).await?;
    if let Some(slug) = slug.filter(|s| s.trim() != current.slug) {
        tenant
            .audit(
                "org.update.refused",
                &slug,
                json!({ "reason": "slug is permanent" }),
            )
            .await?;
        return Err(AppError::field(
            "slug",
            "The slug of an organization cannot be changed.",
        ));
    }
    if seen.is_some_and(|seen| seen != current.version) {
        return Err(changed_meanwhile());
    }
    let details = changes.apply(current.details.clone());
    let mut errors = BTreeMap::new();
    let name = check_name(&details.name, &mut errors);
    let domain = check_domain(&details.domain, &services, &mut errors);
    // Required since the New Organization dialog; an org made at registration may have none yet.
    if domain.is_none() && !current.details.domain.is_empty() && !errors.contains_key("domain") {
        errors.insert(
            "domain".to_string(),
            vec![
                "Enter the organization's domain, like example.com; it cannot be removed."
                    .to_string(),
            ],
        );
    }
    let product = check_product(&details.product, &mut errors);
    let contact_email = details.contact_email.trim().to_lowercase();
    if !contact_email.is_empty() {
        if let Some(problem) = crate::auth::email_problem(&contact_email) {
            errors.insert("contact_email".to_string(), vec![problem]);
        }
    }
    for (field, value, max) in [
        ("description", &details.description, 2000),
        ("contact_phone", &details.contact_phone, 40),
        ("address_line1", &details.address_line1, 200),
        ("address_line2", &details.address_line2, 200),
        ("city", &details.city, 100),
        ("state", &details.state, 100),
        ("country", &details.country, 100),
        ("zip", &details.zip, 20),
    ] {
        if value.trim().chars().count() > max {
            errors.insert(
                field.to_string(),
                vec![format!("Use at most {max} characters.")],
            );
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let updated = sqlx::query!(
        "update organization
            set name = $2, primary_domain = $3, description = $4, contact_email = $5,
                contact_phone = $6, address_line1 = $7, address_line2 = $8, city = $9,
                state = $10, country = $11, zip = $12, product = $13, updated_at = now()
          where org_id = $1
            and (extract(epoch from updated_at) * 1000000)::bigint = $14",
        org_id,
        name,
        domain,
        details.description.trim(),
        contact_email,
        details.contact_phone.trim(),
        details.address_line1.trim(),
        details.address_line2.trim(),
        details.city.trim(),
        details.state.trim(),
        details.country.trim(),
        details.zip.trim(),
        product,
        current.version
    )
    .execute(tenant.conn())
    .await
    .map_err(unique_field_errors)?;
    // Changed between our read and our write: the same answer as a stale form.
    if updated.rows_affected() == 0 {
        return Err(changed_meanwhile());
    }
    tenant
        .audit(
            "org.update",
            &format!("ORG{}", current.number),
            json!({ "name": name }),
        )
        .await?;
    tenant.commit().await
}

/// Disabling: the org's owners and admins, or a superadmin. Enabling: a superadmin, because
/// nobody else can reach a disabled org.
/// Returns the org's name, for the confirmation.
pub async fn set_status(org_id: &str, enable: bool) -> Result<String, AppError> {
    let mut tenant = if enable {
        let platform = Gate::open(super::EnableOrg::PATH)?.platform().await?;
        platform
            .act_in(parse_uuid(org_id, "org_id", "an organization")?)
            .await?
    } else {
        Gate::open(super::DisableOrg::PATH)?
            .tenant_in(org_id)
            .await?
    };
    let org_id = tenant.org_id;
    let status = if enable { "active" } else { "disabled" };
    let org = sqlx::query!(
        "update organization set status = $2 where org_id = $1 returning org_number, name",
        org_id,
        status
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("Organization".to_string()))?;
    let action = if enable { "org.enable" } else { "org.disable" };
    tenant
        .audit(action, &format!("ORG{}", org.org_number), json!({}))
        .await?;
    tenant.commit().await?;
    tracing::info!(org = %org_id, status, "organization status changed");
    Ok(org.name)
}

/// Returns the deleted org's name, for the confirmation.
pub async fn delete(org_id: &str) -> Result<String, AppError> {
    let gate = Gate::open(super::DeleteOrg::PATH)?;
    let platform = gate.platform().await?;
    let org_id = parse_uuid(org_id, "org_id", "an organization")?;
    let mut tenant = platform.act_in(org_id).await?;
    let agents = crate::agents::assigned_count(tenant.conn(), org_id).await?;
    if agents > 0 {
        return Err(AppError::Conflict(format!(
            "This organization has {agents} assigned agent(s); unassign them before deleting it."
        )));
    }
    let members = sqlx::query_scalar!(
        r#"select count(*) as "n!" from membership where org_id = $1"#,
        org_id
    )
    .fetch_one(tenant.conn())
    .await?;
    if members > 0 {
        return Err(AppError::Conflict(format!(
            "This organization still has {members} member(s); remove them before deleting it."
        )));
    }
    let products = sqlx::query_scalar!(
        r#"select count(*) as "n!" from org_product where org_id = $1"#,
        org_id
    )
    .fetch_one(tenant.conn())
    .await?;
    if products > 0 {
        return Err(AppError::Conflict(format!(
            "This organization has {products} installed product(s); uninstall them before deleting it."
        )));
    }
    // Its resources in the data stores go first (each removal may run again): if a store is
    // unreachable, the org stays, whole, and the deletion can be tried again.
    let stores = &gate.services().stores;
    for store in crate::stores::provision::RESOURCES {
        crate::stores::provision::remove(stores, org_id, store)
            .await
            .map_err(|e| {
                tracing::warn!(org = %org_id, store, error = %e, "could not remove an org's store resource");
                AppError::Unavailable(format!(
                    "The organization's {store} resources could not be removed just now ({e}); nothing was deleted, try again."
                ))
            })?;
    }
    sqlx::query!("select platform.drop_org_schema($1)", org_id)
        .execute(tenant.conn())
        .await?;
    let deleted = sqlx::query!(
        "delete from organization where org_id = $1 returning org_number, name",
        org_id
    )
    .fetch_optional(tenant.conn())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => AppError::Conflict(
            "Other organizations or users are still assigned to this organization.".to_string(),
        ),
        _ => e.into(),
    })?
    .ok_or_else(|| AppError::NotFound("Organization".to_string()))?;
    tenant.commit().await?;
    // The org's own audit log went with it; the platform log keeps the deletion.
    let principal = platform.principal();
    let _ = sqlx::query!(
        "select platform.record_audit(null, $1, 'org.delete', $2, $3, $4, $5)",
        principal.user_id,
        format!("ORG{}", deleted.org_number),
        principal.client.ip,
        principal.client.user_agent,
        json!({ "org_id": org_id })
    )
    .execute(platform.pool())
    .await
    .map_err(|e| tracing::warn!(error = %e, "could not record an org deletion"));
    Ok(deleted.name)
}

/// Whether the org's dedicated schema exists (tests, diagnostics).
pub async fn schema_exists(pool: &sqlx::PgPool, org_id: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select from pg_namespace
                           where nspname = platform.org_schema_name($1)) as "exists!""#,
        org_id
    )
    .fetch_one(pool)
    .await?)
}
