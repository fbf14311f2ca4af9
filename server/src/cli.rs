//! The commands besides `serve`: `migrate` and `create-superadmin`.

use std::io;

use crate::cluster::*;
use crate::config::Config;
use crate::{db, Error};

pub(crate) async fn migrate(config: Config) -> Result<(), Error> {
    match &config.database_url {
        Some(url) => {
            let pool = connect_url(url).await?;
            db::MIGRATOR.run(&pool).await?;
        }
        None => {
            let embedded = Embedded::start(&config).await?;
            embedded.migrate().await?;
            embedded.stop().await?;
        }
    }
    tracing::info!("migrations are up to date");
    Ok(())
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
