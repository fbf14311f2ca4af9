//! The isolation evidence, read from the live database: what `server isolation-report` prints
//! and the superadmins' Isolation page shows. It checks:
//!
//! - every table with an `org_id` column (the tenant tables, in any schema): row-level
//!   security enabled, forced (the table's owner too), with a policy;
//! - the role the server connects as: no superuser, no BYPASSRLS, owns nothing, does not
//!   inherit the per-org schema roles (it takes one only inside that org's transaction);
//! - the per-org schemas: each owned by its own org role, none usable by the server's role
//!   directly;
//! - custom domains: the deploy-time domain check's problems (`server check-domains`);
//! - the endpoints declared in the one table of needs, which the authorization matrix and the
//!   cross-org probe (`server/tests/integration/authority.rs`, `isolation.rs`) hold on every
//!   test run.

use std::fmt::Write as _;

use sqlx::PgPool;

use super::IsolationCheck;
use crate::{context::Services, AppError};

/// Why the connected role must not serve requests, if it must not: row-level security only
/// protects tenants from a role that is not a superuser, cannot bypass RLS (itself or through a
/// role it belongs to), and owns nothing (an owner can switch RLS off on its own tables). The
/// per-org roles it may take inside an org's transaction (members of `tenantry_org`) own that
/// org's schema (named after the role) and the product tables in it: those are isolated by
/// schema privileges, not RLS, and are not counted here; anything such a role owns elsewhere is.
pub async fn runtime_role_violation(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query!(
        r#"with org_roles as (
             select m.member as org_role from pg_auth_members m
               join pg_roles g on g.oid = m.roleid where g.rolname = 'tenantry_org')
           select current_user::text as "role!",
                  exists (select from pg_roles r
                           where pg_has_role(current_user, r.oid, 'member') and r.rolsuper)
                    as "superuser!",
                  exists (select from pg_roles r
                           where pg_has_role(current_user, r.oid, 'member') and r.rolbypassrls)
                    as "bypass!",
                  array(select format('%s %I.%I', case c.relkind when 'S' then 'sequence'
                                        when 'v' then 'view' else 'table' end,
                                      n.nspname, c.relname)
                          from pg_class c join pg_namespace n on n.oid = c.relnamespace
                         where pg_has_role(current_user, c.relowner, 'member')
                           and not (c.relowner in (select org_role from org_roles)
                                    and n.nspname = pg_get_userbyid(c.relowner))
                           and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
                           and n.nspname not in ('pg_catalog', 'information_schema')
                        union all
                        select format('schema %I', n.nspname) from pg_namespace n
                         where pg_has_role(current_user, n.nspowner, 'member')
                           and not (n.nspowner in (select org_role from org_roles)
                                    and n.nspname = pg_get_userbyid(n.nspowner))
                           and n.nspname not like 'pg\_%' and n.nspname <> 'information_schema'
                         order by 1 limit 5) as "owned!""#
    )
    .fetch_one(pool)
    .await?;
    let reason = if row.superuser {
        "it is a superuser".to_string()
    } else if row.bypass {
        "it can bypass row-level security (BYPASSRLS)".to_string()
    } else if !row.owned.is_empty() {
        format!("it owns {}", row.owned.join(", "))
    } else {
        return Ok(None);
    };
    Ok(Some(format!(
        "database role {} must not serve requests: {reason}",
        row.role
    )))
}

/// Every check, read from the live database as the role `pool` connects as (the server's).
pub async fn checks(pool: &PgPool, services: &Services) -> Result<Vec<IsolationCheck>, AppError> {
    let mut checks = Vec::new();
    let tables: Vec<(String, bool, bool, i64)> = sqlx::query_as(
        "select format('%I.%I', n.nspname, c.relname), c.relrowsecurity, c.relforcerowsecurity,
                (select count(*) from pg_policy p where p.polrelid = c.oid)
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p')
            and n.nspname not in ('pg_catalog', 'information_schema')
            and exists (select from pg_attribute a where a.attrelid = c.oid
                          and a.attname = 'org_id' and not a.attisdropped)
          order by n.nspname <> 'public', 1",
    )
    .fetch_all(pool)
    .await?;
    for (table, enabled, forced, policies) in tables {
        let mut missing = Vec::new();
        if !enabled {
            missing.push("row-level security is off");
        }
        if !forced {
            missing.push("row-level security is not forced");
        }
        if policies == 0 {
            missing.push("no policy");
        }
        checks.push(IsolationCheck {
            area: "tenant table".to_string(),
            subject: table,
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("row-level security enabled and forced, {policies} polic(ies)")
            } else {
                missing.join("; ")
            },
        });
    }

    let role: (String, bool) = sqlx::query_as(
        "select current_user::text, rolinherit from pg_roles where rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    let violation = runtime_role_violation(pool).await?;
    checks.push(IsolationCheck {
        area: "server role".to_string(),
        subject: role.0.clone(),
        ok: violation.is_none(),
        detail: violation.unwrap_or_else(|| {
            "not a superuser, no BYPASSRLS, owns no table or schema".to_string()
        }),
    });
    let org_roles: i64 = sqlx::query_scalar(
        "select count(*) from pg_auth_members m join pg_roles g on g.oid = m.roleid
          where g.rolname = 'tenantry_org' and pg_has_role(current_user, m.member, 'member')",
    )
    .fetch_one(pool)
    .await?;
    checks.push(IsolationCheck {
        area: "server role".to_string(),
        subject: format!("{} and the per-org roles", role.0),
        ok: org_roles == 0 || !role.1,
        detail: if role.1 && org_roles > 0 {
            format!("it inherits {org_roles} org role(s): their schemas are open to every request")
        } else {
            format!("NOINHERIT: it takes an org's role ({org_roles} known) only inside that org's transaction")
        },
    });

    let schemas: Vec<(String, String, bool)> = sqlx::query_as(
        "select n.nspname, pg_get_userbyid(n.nspowner),
                has_schema_privilege(current_user, n.oid, 'USAGE')
           from pg_namespace n
          where n.nspname ~ '^org_[0-9a-f]{32}$'
          order by 1",
    )
    .fetch_all(pool)
    .await?;
    let misowned: Vec<&str> = schemas
        .iter()
        .filter(|(schema, owner, _)| schema != owner)
        .map(|(s, _, _)| s.as_str())
        .collect();
    let open: Vec<&str> = schemas
        .iter()
        .filter(|(_, _, usable)| *usable)
        .map(|(s, _, _)| s.as_str())
        .collect();
    checks.push(IsolationCheck {
        area: "org schemas".to_string(),
        subject: format!("{} org schema(s)", schemas.len()),
        ok: misowned.is_empty() && open.is_empty(),
        detail: if !misowned.is_empty() {
            format!("not owned by their org's role: {}", first(&misowned))
        } else if !open.is_empty() {
            format!(
                "usable by the server's role outside an org's transaction: {}",
                first(&open)
            )
        } else {
            "each owned by its org's own role; none usable by the server's role directly"
                .to_string()
        },
    });

    let (claims, verified) = crate::domains::server::claim_counts(services).await?;
    let problems = crate::domains::server::deploy_check(services).await?;
    checks.push(IsolationCheck {
        area: "custom domains".to_string(),
        subject: format!("{claims} claim(s), {verified} verified"),
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            "only verified domains route; none is verified by two organizations or lies under \
             the base domain"
                .to_string()
        } else {
            // Counted, not named: the report goes to customers, and the problems name other
            // organizations (`server check-domains` and the superadmins' banner name them).
            format!(
                "{} domain(s) verified by two organizations, under the base domain, or routed \
                 without verification; `server check-domains` names them",
                problems.len()
            )
        },
    });

    let needs = crate::tenancy::access::NEEDS;
    let count = |f: fn(&str) -> bool| needs.iter().filter(|(e, _)| f(e)).count();
    checks.push(IsolationCheck {
        area: "endpoints".to_string(),
        subject: format!("{} declared", needs.len()),
        ok: true,
        detail: format!(
            "{} server functions, {} pages, {} other routes; each declares who may call it, and \
             the authorization matrix and the cross-org probe hold every one of them on every \
             test run",
            count(|e| e.starts_with("/api/")),
            count(|e| e.starts_with('/') && !e.starts_with("/api/")),
            count(|e| !e.starts_with('/')),
        ),
    });
    Ok(checks)
}

fn first(items: &[&str]) -> String {
    let shown: Vec<&str> = items.iter().take(5).copied().collect();
    let more = items.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report as a standalone, printable HTML page, dated now.
pub fn render(checks: &[IsolationCheck], target: &str) -> String {
    let failed = checks.iter().filter(|c| !c.ok).count();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut rows = String::new();
    for c in checks {
        let _ = writeln!(
            rows,
            "<tr class=\"{cls}\"><td>{area}</td><td><code>{subject}</code></td><td>{state}</td><td>{detail}</td></tr>",
            cls = if c.ok { "ok" } else { "fail" },
            area = escape(&c.area),
            subject = escape(&c.subject),
            state = if c.ok { "OK" } else { "FAIL" },
            detail = escape(&c.detail),
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tenantry isolation report {now}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #0f172a; }}
h1 {{ font-size: 1.4rem; margin: 0 0 .25rem; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 1rem; }}
th, td {{ border: 1px solid #cbd5e1; padding: .35rem .5rem; text-align: left; vertical-align: top; }}
th {{ background: #f1f5f9; }}
tr.fail td {{ background: #fef2f2; color: #991b1b; font-weight: 600; }}
.summary {{ font-weight: 600; }}
@media print {{ body {{ margin: 0; }} }}
</style></head>
<body>
<h1>Tenant isolation report</h1>
<p>Generated {now} from {target}.</p>
<p class="summary" data-failed="{failed}">{summary}</p>
<table>
<thead><tr><th>Area</th><th>Subject</th><th>State</th><th>Detail</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<p>Each tenant table is read through row-level security keyed on the organization the request
acts in; the server's role cannot bypass it. Per-org product tables live in a schema of the
org's own, owned by a role the server takes only inside that org's transaction.</p>
</body></html>
"#,
        target = escape(target),
        summary = if failed == 0 {
            format!("All {} checks pass.", checks.len())
        } else {
            format!("{failed} of {} checks FAIL.", checks.len())
        },
    )
}
