//! The operator's checks: `server isolation-report` (the isolation evidence of
//! [`app::isolation::report`], as a dated, printable HTML page an operator can hand to a
//! customer), `server check-domains` (the deploy-time custom-domain check) and `server audit
//! verify` (the audit trail's hash chains). Each exits non-zero, naming each failure on
//! standard error, when a check fails.

use std::path::PathBuf;

use sqlx::PgPool;

use app::isolation::report::{checks, render};

use crate::{cluster::*, config::Config, Error};

/// Which role a command connects as on the embedded cluster (with `DATABASE_URL`, the URL's).
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// The one `serve` uses.
    Runtime,
    /// The owner, which reads every org's rows.
    Owner,
}

/// The database (`DATABASE_URL`, else the embedded cluster, started and migrated, as `role`),
/// what to call it in messages, and the embedded cluster to stop after.
async fn database(
    config: &Config,
    role: Role,
) -> Result<(PgPool, Option<Embedded>, String), Error> {
    Ok(match &config.database_url {
        Some(url) => (connect_url(url).await?, None, redact(url)),
        None => {
            let embedded = Embedded::start(config).await?;
            embedded.migrate().await?;
            let pool = match role {
                Role::Runtime => embedded.runtime_pool().await?,
                Role::Owner => embedded.owner_pool().await?,
            };
            (pool, Some(embedded), "the embedded PostgreSQL".to_string())
        }
    })
}

async fn close(pool: PgPool, embedded: Option<Embedded>) -> Result<(), Error> {
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    Ok(())
}

pub(crate) async fn isolation_report(config: Config, out: Option<PathBuf>) -> Result<(), Error> {
    let (pool, embedded, target) = database(&config, Role::Runtime).await?;
    let services =
        crate::start::services(&config, pool.clone(), crate::start::base_domain(&config)?)?;
    let checked = checks(&pool, &services).await;
    close(pool, embedded).await?;
    let checks = checked.map_err(|e| Error::Report(format!("{target}: {e}")))?;
    let html = render(&checks, &target);
    match out {
        Some(path) => std::fs::write(&path, html).map_err(|source| Error::DataDir {
            path: path.clone(),
            source,
        })?,
        None => print!("{html}"),
    }
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
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

/// `server check-domains`: the deploy-time domain check. Prints each problem and records it in
/// the platform's audit log (`domain.conflict`; the superadmins' banner shows it while it
/// lasts); exits 1 if there is any.
pub(crate) async fn check_domains(config: Config) -> Result<(), Error> {
    let (pool, embedded, target) = database(&config, Role::Runtime).await?;
    let services =
        crate::start::services(&config, pool.clone(), crate::start::base_domain(&config)?)?;
    let checked = async {
        let problems = app::domains::server::deploy_check(&services).await?;
        let counts = app::domains::server::claim_counts(&services).await?;
        Ok::<_, app::AppError>((problems, counts))
    }
    .await;
    // Named before anything else can fail, then recorded (the alert).
    let recorded = match &checked {
        Ok((problems, (claims, verified))) => {
            for p in problems {
                eprintln!("CONFLICT {}: {}", p.domain, p.problem);
            }
            println!(
                "check-domains: {claims} domain claim(s), {verified} verified, {} problem(s)",
                problems.len()
            );
            app::domains::server::record_problems(&services, problems).await
        }
        Err(_) => Ok(()),
    };
    close(pool, embedded).await?;
    let (problems, _) = checked.map_err(|e| Error::DomainCheck(format!("{target}: {e}")))?;
    recorded
        .map_err(|e| Error::DomainCheck(format!("recording the conflicts in {target}: {e}")))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Domains(problems.len()))
    }
}

/// `server audit verify`: every hash chain of the audit trail checked, one line each (its
/// events, its head hash, or its first broken link); exits 1 if any is broken.
pub(crate) async fn audit_verify(config: Config) -> Result<(), Error> {
    let (pool, embedded, target) = database(&config, Role::Owner).await?;
    let connect_err = |source| Error::Connect {
        target: target.clone(),
        source,
    };
    let chains = match app::audit::chain::reads_everything(&pool).await {
        Ok(true) => app::audit::chain::verify(&pool).await.map_err(connect_err),
        Ok(false) => Err(Error::AuditRole),
        Err(source) => Err(connect_err(source)),
    };
    close(pool, embedded).await?;
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
