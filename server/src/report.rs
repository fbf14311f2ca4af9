//! `server isolation-report`: evidence of tenant isolation, read from the live database, as a
//! dated, printable HTML page an operator can hand to a customer. It checks:
//!
//! - every table with an `org_id` column (the tenant tables, in any schema): row-level
//!   security enabled, forced (the table's owner too), with a policy;
//! - the role the server connects as: no superuser, no BYPASSRLS, owns nothing, does not
//!   inherit the per-org schema roles (it takes one only inside that org's transaction);
//! - the per-org schemas: each owned by its own org role, none usable by the server's role
//!   directly;
//! - custom domains: no domain claimed by two organizations;
//! - the endpoints declared in the one table of needs, which the authorization matrix and the
//!   cross-org probe (`server/tests/integration/authority.rs`, `isolation.rs`) hold on every
//!   test run.
//!
//! Exits non-zero, naming each failure on standard error, when any check fails.

use std::{fmt::Write as _, path::PathBuf};

use sqlx::PgPool;

use crate::{cluster::*, config::Config, db, Error};

/// One line of the report.
struct Check {
    area: &'static str,
    subject: String,
    ok: bool,
    detail: String,
}

pub(crate) async fn isolation_report(config: Config, out: Option<PathBuf>) -> Result<(), Error> {
    let (pool, embedded, target) = match &config.database_url {
        Some(url) => (connect_url(url).await?, None, redact(url)),
        None => {
            let embedded = Embedded::start(&config).await?;
            embedded.migrate().await?;
            let pool = embedded.runtime_pool().await?;
            (pool, Some(embedded), "the embedded PostgreSQL".to_string())
        }
    };
    let checks = checks(&pool).await.map_err(|source| Error::Connect {
        target: target.clone(),
        source,
    })?;
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    let html = render(&checks, &target);
    match out {
        Some(path) => std::fs::write(&path, html).map_err(|source| Error::DataDir {
            path: path.clone(),
            source,
        })?,
        None => print!("{html}"),
    }
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    for c in &failed {
        eprintln!("FAIL {}: {}: {}", c.area, c.subject, c.detail);
    }
    eprintln!(
        "isolation report: {} checks, {} failed",
        checks.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Isolation(failed.len()))
    }
}

async fn checks(pool: &PgPool) -> Result<Vec<Check>, sqlx::Error> {
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
        checks.push(Check {
            area: "tenant table",
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
    let violation = db::runtime_role_violation(pool).await?;
    checks.push(Check {
        area: "server role",
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
    checks.push(Check {
        area: "server role",
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
    checks.push(Check {
        area: "org schemas",
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

    let conflicts: Vec<(String, i64)> = sqlx::query_as(
        "select lower(domain), count(*) from platform.org_domains()
          group by 1 having count(*) > 1",
    )
    .fetch_all(pool)
    .await?;
    let domains: i64 = sqlx::query_scalar("select count(*) from platform.org_domains()")
        .fetch_one(pool)
        .await?;
    checks.push(Check {
        area: "custom domains",
        subject: format!("{domains} domain(s)"),
        ok: conflicts.is_empty(),
        detail: if conflicts.is_empty() {
            "no domain is claimed by two organizations".to_string()
        } else {
            format!(
                "claimed by more than one organization: {}",
                conflicts
                    .iter()
                    .map(|(d, n)| format!("{d} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    });

    let needs = app::tenancy::access::NEEDS;
    let count = |f: fn(&str) -> bool| needs.iter().filter(|(e, _)| f(e)).count();
    checks.push(Check {
        area: "endpoints",
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

fn render(checks: &[Check], target: &str) -> String {
    let failed = checks.iter().filter(|c| !c.ok).count();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut rows = String::new();
    for c in checks {
        let _ = writeln!(
            rows,
            "<tr class=\"{cls}\"><td>{area}</td><td><code>{subject}</code></td><td>{state}</td><td>{detail}</td></tr>",
            cls = if c.ok { "ok" } else { "fail" },
            area = escape(c.area),
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

/// `server audit verify`: every hash chain of the audit trail checked, one line each (its
/// events, its head hash, or its first broken link); exits 1 if any is broken.
pub(crate) async fn audit_verify(config: Config) -> Result<(), Error> {
    let (pool, embedded, target) = match &config.database_url {
        Some(url) => (connect_url(url).await?, None, redact(url)),
        None => {
            let embedded = Embedded::start(&config).await?;
            embedded.migrate().await?;
            let pool = embedded.owner_pool().await?;
            (pool, Some(embedded), "the embedded PostgreSQL".to_string())
        }
    };
    let connect_err = |source| Error::Connect {
        target: target.clone(),
        source,
    };
    let chains = match app::audit::chain::reads_everything(&pool).await {
        Ok(true) => app::audit::chain::verify(&pool).await.map_err(connect_err),
        Ok(false) => Err(Error::AuditRole),
        Err(source) => Err(connect_err(source)),
    };
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    let chains = chains?;
    let mut broken = 0;
    for chain in &chains {
        let whose = match chain.org {
            Some(org) => format!("org {org}"),
            None => "platform".to_string(),
        };
        match &chain.broken {
            None => println!(
                "ok      {whose}: {} events, head {}",
                chain.events, chain.head
            ),
            Some(why) => {
                broken += 1;
                println!("BROKEN  {why}");
            }
        }
    }
    eprintln!("audit verify: {} chain(s), {broken} broken", chains.len());
    if broken == 0 {
        Ok(())
    } else {
        Err(Error::AuditBroken(broken))
    }
}
