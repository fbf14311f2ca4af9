//! The commands besides `serve`: `migrate` and `create-superadmin`.

use std::io;

use crate::cluster::*;
use crate::config::Config;
use crate::{db, Error};

/// Brings the database's schema up to date, then every org's product schemas: each org on an
/// older version of a catalog product is upgraded, as a resumable run, and reported on
/// standard output. On the embedded database the runs are worked to their end here; with
/// `DATABASE_URL` (the owner's, which may not take the orgs' roles) they are planned, and the
/// servers' workers apply them.
pub(crate) async fn migrate(config: Config) -> Result<(), Error> {
    let base_domain = crate::start::base_domain(&config)?;
    let upgrade_err = |e: app::AppError| Error::Upgrades(e.to_string());
    let (pool, embedded) = match &config.database_url {
        Some(url) => {
            let pool = connect_url(url).await?;
            db::MIGRATOR.run(&pool).await?;
            (pool, None)
        }
        None => {
            let embedded = Embedded::start(&config).await?;
            embedded.migrate().await?;
            (embedded.runtime_pool().await?, Some(embedded))
        }
    };
    tracing::info!("migrations are up to date");
    let services = crate::start::services(&config, pool.clone(), base_domain)?;
    let planned = app::products::engine::plan_upgrades(&services)
        .await
        .map_err(upgrade_err)?;
    let outcomes = match embedded {
        Some(_) => Some(
            work_upgrades(&services, &planned)
                .await
                .map_err(upgrade_err)?,
        ),
        None => None,
    };
    print_upgrades(&planned, outcomes.as_ref());
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    Ok(())
}

/// Works runs until every planned upgrade has ended; each run's outcome.
async fn work_upgrades(
    services: &app::context::Services,
    planned: &[app::products::engine::Upgrade],
) -> Result<std::collections::HashMap<uuid::Uuid, app::products::engine::Outcome>, app::AppError> {
    use app::products::engine::{work_once, Outcome};
    let worker = uuid::Uuid::new_v4();
    let mut outcomes = std::collections::HashMap::new();
    let mut waiting: Vec<(uuid::Uuid, uuid::Uuid)> = planned
        .iter()
        .filter_map(|u| u.run.as_ref().ok().map(|run| (u.org, *run)))
        .collect();
    while !waiting.is_empty() {
        match work_once(services, worker, None).await? {
            Some((_, run, outcome)) => {
                if outcome != Outcome::LostLease {
                    outcomes.insert(run, outcome);
                }
            }
            None => {
                // Nothing to claim: the rest ended elsewhere, or wait for a lease that a dead
                // worker holds to run out.
                for (org, run) in &waiting {
                    if let Some(ended) = app::products::engine::ended(services, *org, *run).await? {
                        outcomes.insert(*run, ended);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        waiting.retain(|(_, run)| !outcomes.contains_key(run));
    }
    Ok(outcomes)
}

/// One line per org schema upgraded (or not), then the count.
fn print_upgrades(
    planned: &[app::products::engine::Upgrade],
    outcomes: Option<&std::collections::HashMap<uuid::Uuid, app::products::engine::Outcome>>,
) {
    use app::products::engine::Outcome;
    let mut upgraded = 0;
    for u in planned {
        let what = format!(
            "{} v{} -> v{} in org schema org_{}",
            u.product,
            u.from,
            u.to,
            u.org.simple()
        );
        match (&u.run, outcomes) {
            (Err(why), _) => println!("not upgraded: {what}: {why}"),
            (Ok(run), None) => {
                println!("planned: {what} (run {run}; a server's worker applies it)")
            }
            (Ok(run), Some(outcomes)) => match outcomes.get(run) {
                Some(Outcome::Succeeded) => {
                    upgraded += 1;
                    println!("upgraded: {what}");
                }
                Some(Outcome::Failed(why)) => println!(
                    "failed: {what}: {why} (run {run}: retry it from the org's Products tab)"
                ),
                _ => println!("unfinished: {what} (run {run})"),
            },
        }
    }
    match outcomes {
        Some(_) => println!(
            "Org schemas upgraded: {upgraded} of {} behind the catalog.",
            planned.len()
        ),
        None => println!(
            "Org schema upgrades planned: {}.",
            planned.iter().filter(|u| u.run.is_ok()).count()
        ),
    }
}

/// The first line of standard input, without its line ending.
pub(crate) fn read_password() -> Result<String, Error> {
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if let Some(problem) = app::auth::password_problem(&password) {
        return Err(Error::Superadmin(format!(
            "the password read from standard input is not acceptable: {problem}"
        )));
    }
    Ok(password)
}

pub(crate) async fn create_superadmin(
    config: Config,
    email: String,
    name: Option<String>,
    password: String,
) -> Result<(), Error> {
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
    let user = app::auth::validate_new_user(&name, &email, &password).map_err(|e| match e {
        app::AppError::Validation(fields) => Error::Superadmin(
            fields
                .into_iter()
                .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => Error::Superadmin(other.to_string()),
    })?;
    let hash = app::auth::password::hash(password)
        .await
        .map_err(|e| Error::Superadmin(e.to_string()))?;
    let (pool, embedded) = match &config.database_url {
        Some(url) => (connect_url(url).await?, None),
        None => {
            let embedded = Embedded::start(&config).await?;
            embedded.migrate().await?;
            let pool = embedded.owner_pool().await?;
            (pool, Some(embedded))
        }
    };
    // As the owner (it bypasses RLS): the runtime role may not write the superadmin flag.
    let created = sqlx::query_scalar!(
        r#"insert into app_user (user_id, email, name, password_hash, is_superadmin)
           values ($1, $2, $3, $4, true)
           on conflict (email) do update
             set is_superadmin = true, password_hash = excluded.password_hash, updated_at = now()
           returning (xmax = 0) as "created!""#,
        uuid::Uuid::new_v4(),
        user.email,
        user.name,
        hash
    )
    .fetch_one(&pool)
    .await
    .map_err(|e| Error::Superadmin(e.to_string()))?;
    // A password set from the command line ends the account's sessions: whoever held one
    // signs in again with it.
    sqlx::query!(
        "update session set revoked_at = now()
          where revoked_at is null
            and user_id = (select user_id from app_user where email = $1)",
        user.email
    )
    .execute(&pool)
    .await
    .map_err(|e| Error::Superadmin(e.to_string()))?;
    sqlx::query!(
        "select platform.record_audit(null, null, 'superadmin.created', $1, '', 'cli', '{}')",
        user.email
    )
    .execute(&pool)
    .await
    .map_err(|e| Error::Superadmin(e.to_string()))?;
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    println!(
        "{} superadmin {}",
        if created { "Created" } else { "Promoted" },
        user.email
    );
    Ok(())
}
