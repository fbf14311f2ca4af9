//! `serve`: start-up. Reads the configuration and its secrets, reaches the database (the
//! embedded cluster or a URL), builds the services and the router, offers the first
//! superadmin, starts the jobs, and serves until a signal.

use std::{
    fs::{self, File, OpenOptions},
    io,
    net::SocketAddr,
};

use crate::cluster::*;
use crate::config::Config;
use crate::jobs::*;
use crate::{db, http, Error};

pub(crate) async fn serve(mut config: Config) -> Result<(), Error> {
    if let Some(dir) = config.join.clone() {
        let addresses = [
            &config.database_url,
            &config.redis_url,
            &config.nats_url,
            &config.clickhouse_url,
        ];
        if addresses.iter().any(|a| a.is_some()) {
            return Err(Error::Join {
                path: dir,
                reason: "a joining node uses that server's database and stores; unset \
                         DATABASE_URL and TENANTRY_REDIS_URL, TENANTRY_NATS_URL and \
                         TENANTRY_CLICKHOUSE_URL"
                    .to_string(),
            });
        }
        // Its secrets (token secret, credentials key) are read from there.
        config.data_dir = dir;
    }
    let base_domain = base_domain(&config)?;
    let leptos_options = leptos_options()?;
    let addr = config.bind.unwrap_or(leptos_options.site_addr);
    // Bind before touching the database, so a busy port fails in a moment.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let addr = listener.local_addr()?;

    let (pool, embedded, target) = match (&config.join, &config.database_url) {
        (Some(dir), _) => (
            join(dir).await?,
            None,
            format!("the PostgreSQL of the server on {}", dir.display()),
        ),
        (None, Some(url)) => (connect_url(url).await?, None, redact(url)),
        (None, None) => {
            let embedded = Embedded::start(&config).await?;
            embedded.migrate().await?;
            let pool = embedded.runtime_pool().await?;
            (pool, Some(embedded), "the embedded PostgreSQL".to_string())
        }
    };
    let connect_err = |source| Error::Connect {
        target: target.clone(),
        source,
    };
    // Tenant isolation rests on row-level security; never serve as a role that escapes it.
    if let Some(violation) = db::runtime_role_violation(&pool)
        .await
        .map_err(connect_err)?
    {
        return Err(Error::UnsafeRole(violation));
    }
    let pending = db::pending_migrations(&pool).await.map_err(connect_err)?;
    if !pending.is_empty() {
        return Err(Error::PendingMigrations(pending.len()));
    }

    let mut services = services(&config, pool.clone(), base_domain.clone())?;
    // Links in emails point at this server unless TENANTRY_PUBLIC_URL says where it is reached.
    if services.mail.public_url.is_none() {
        services.mail.public_url = Some(if addr.ip().is_unspecified() {
            format!("http://{base_domain}:{}", addr.port())
        } else {
            format!("http://{addr}")
        });
    }
    // Embedded stores live in the data directory: with PostgreSQL at a URL nothing holds its
    // lock yet, and two servers must never run one directory's stores.
    let any_embedded = [&config.redis_url, &config.nats_url, &config.clickhouse_url]
        .iter()
        .any(|url| url.is_none());
    let _stores_lock = match (&embedded, any_embedded, &config.join) {
        (None, true, None) => Some(lock_data_dir(&config.data_dir)?),
        _ => None,
    };
    let embedded_stores = {
        let (dir, secrets) = (config.data_dir.clone(), services.stores.secrets.clone());
        let urls = [
            config.redis_url.clone(),
            config.nats_url.clone(),
            config.clickhouse_url.clone(),
        ];
        let joining = config.join.is_some();
        tokio::task::spawn_blocking(move || match joining {
            true => crate::stores::Embedded::join(&dir, &secrets),
            false => crate::stores::Embedded::start(&dir, urls, &secrets),
        })
        .await
        .map_err(|e| Error::Io(io::Error::other(e)))?
        .map_err(Error::Stores)?
    };
    services.stores = embedded_stores
        .connect(&services.stores.secrets)
        .await
        .map_err(Error::Stores)?;
    offer_first_superadmin(&pool, &services, addr).await?;
    spawn_monthly_jobs(services.clone());
    app::products::engine::spawn_worker(services.clone());
    app::products::engine::spawn_progress_listener(services.clone());
    app::mail::spawn_sender(services.clone());
    app::domains::server::spawn_checker(services.clone());
    app::stores::usage::spawn_consumer(services.clone(), std::time::Duration::from_secs(10));
    // Orgs on an older version of a product are upgraded by the workers, as runs: planned
    // beside serving, not before it.
    tokio::spawn({
        let services = services.clone();
        async move {
            match app::products::engine::plan_upgrades(&services).await {
                Ok(upgrades) => report_upgrades(&upgrades),
                Err(err) => tracing::warn!(%err, "could not plan product upgrades"),
            }
        }
    });
    let app = http::router(http::AppState {
        leptos_options,
        trusted_proxies: std::sync::Arc::new(config.trusted_proxies.clone()),
        pool: pool.clone(),
        services,
    });
    tracing::info!(%addr, %base_domain, "serving the Admin App on http://{addr}");
    crate::listen::serve(listener, app, shutdown_signal()).await;

    tracing::info!("shutting down");
    pool.close().await;
    tokio::task::spawn_blocking(move || embedded_stores.stop())
        .await
        .map_err(|e| Error::Io(io::Error::other(e)))?
        .map_err(Error::Stores)?;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    Ok(())
}

/// Logs the product upgrades planned.
fn report_upgrades(upgrades: &[app::products::engine::Upgrade]) {
    for u in upgrades {
        match &u.run {
            Ok(run) => {
                tracing::info!(org = %u.org, product = %u.product, from = u.from, to = u.to, %run, "product upgrade planned")
            }
            Err(why) => {
                tracing::warn!(org = %u.org, product = %u.product, from = u.from, to = u.to, %why, "product upgrade not planned")
            }
        }
    }
}

/// The product catalog: the built-in one, with the files of `TENANTRY_CATALOG_DIR` in place
/// of the products of their keys.
fn catalog(config: &Config) -> Result<app::products::catalog::Catalog, Error> {
    let builtin = app::products::catalog::Catalog::builtin().map_err(Error::Catalog)?;
    match &config.catalog_dir {
        Some(dir) => builtin.with_dir(dir).map_err(Error::Catalog),
        None => Ok(builtin),
    }
}

/// The services every request and job shares, over `pool`.
pub(crate) fn services(
    config: &Config,
    pool: sqlx::PgPool,
    base_domain: String,
) -> Result<app::context::Services, Error> {
    Ok(app::context::ServiceSet {
        db: app::tenancy::Db::new(pool),
        base_domain: base_domain.clone(),
        tokens: app::auth::token::TokenKeys::new(&token_secret(&config)?),
        sign_in_limiter: std::sync::Arc::new(app::auth::rate_limit::RateLimiter::new(
            SIGN_IN_ATTEMPTS,
            SIGN_IN_ATTEMPTS_PER_IP,
            std::time::Duration::from_secs(SIGN_IN_WINDOW_SECS),
            std::time::Duration::from_secs(SIGN_IN_MAX_BACKOFF_SECS),
        )),
        allow_registration: config.allow_registration,
        secure_cookies: config.secure_cookies,
        credentials: credentials_key(&config)?,
        setup_token: Default::default(),
        stripe: stripe(&config)?,
        llm_env_keys: std::sync::Arc::new(
            app::llm_keys::PROVIDERS
                .iter()
                .filter_map(|(p, _)| {
                    std::env::var(app::llm_keys::env_var(p))
                        .ok()
                        .filter(|k| !k.trim().is_empty())
                        .map(|k| (p.to_string(), k.trim().to_string()))
                })
                .collect(),
        ),
        products: app::products::engine::Products::new(catalog(config)?),
        // Connected by `serve` (stores::open); none for the commands that do not serve.
        stores: app::stores::Stores {
            secrets: store_secrets(config)?,
            ..Default::default()
        },
        mail: mail(config, &base_domain)?,
        routing_sample: if (0.0..=1.0).contains(&config.routing_sample) {
            config.routing_sample
        } else {
            return Err(Error::RoutingSample(config.routing_sample));
        },
        dns: app::domains::dns::Dns::new(config.dns_server),
    }
    .into())
}

/// `TENANTRY_BASE_DOMAIN`, checked and normalised.
pub(crate) fn base_domain(config: &Config) -> Result<String, Error> {
    app::tenancy::host::base_domain(&config.base_domain).map_err(|e| Error::BaseDomain {
        domain: config.base_domain.clone(),
        reason: e.to_string(),
    })
}

/// Email: SMTP when `TENANTRY_SMTP_URL` is set (else invitation links are logged and shown to
/// the inviting admin), from `TENANTRY_MAIL_FROM` (default `Tenantry <noreply@<base domain>>`).
pub(crate) fn mail(config: &Config, base_domain: &str) -> Result<app::mail::Mail, Error> {
    let from = config
        .mail_from
        .clone()
        .unwrap_or_else(|| format!("Tenantry <noreply@{base_domain}>"));
    let smtp = config.smtp_url.as_deref().filter(|u| !u.trim().is_empty());
    app::mail::Mail::new(smtp, &from, config.public_url.clone()).map_err(Error::Mail)
}

/// Where the stores' passwords come from: the credentials key, which every node of a
/// deployment shares.
pub(crate) fn store_secrets(config: &Config) -> Result<app::stores::Secrets, Error> {
    let key = match &config.credentials_key {
        Some(key) => key.as_bytes().to_vec(),
        None => secret_file(config, "credentials-key", 32)?,
    };
    Ok(app::stores::Secrets::from_credentials_key(&key))
}

/// Failed sign-ins allowed per email, and per IP address (shared by offices and proxies), within
/// the window.
const SIGN_IN_ATTEMPTS: usize = 5;

const SIGN_IN_ATTEMPTS_PER_IP: usize = 50;

/// After an email's free attempts, each more waits 1, 2, 4 … seconds, at most this long.
const SIGN_IN_MAX_BACKOFF_SECS: u64 = 60;

const SIGN_IN_WINDOW_SECS: u64 = 15 * 60;

/// The Stripe connection, when a secret key is configured (it then needs the webhook secret).
pub(crate) fn stripe(config: &Config) -> Result<Option<app::billing::stripe::Stripe>, Error> {
    let Some(key) = config
        .stripe_secret_key
        .as_deref()
        .filter(|k| !k.is_empty())
    else {
        return Ok(None);
    };
    let Some(secret) = config
        .stripe_webhook_secret
        .as_deref()
        .filter(|s| !s.is_empty())
    else {
        return Err(Error::Stripe(
            "TENANTRY_STRIPE_WEBHOOK_SECRET is required with TENANTRY_STRIPE_SECRET_KEY".into(),
        ));
    };
    app::billing::stripe::Stripe::new(
        key,
        config.stripe_api_base.as_deref(),
        secret,
        config.stripe_grace_days.max(0),
    )
    .map(Some)
    .map_err(Error::Stripe)
}

/// The token-signing secret: configured, else created once in the data directory (0600).
pub(crate) fn token_secret(config: &Config) -> Result<Vec<u8>, Error> {
    if let Some(secret) = &config.token_secret {
        return if secret.len() >= 32 {
            Ok(secret.as_bytes().to_vec())
        } else {
            Err(Error::TokenSecret)
        };
    }
    secret_file(config, "token-secret", 48)
}

/// The credentials key (64 hexadecimal characters): configured, else created once in the data
/// directory (0600). Losing it makes every stored credential unreadable.
pub(crate) fn credentials_key(config: &Config) -> Result<app::credentials::cipher::Cipher, Error> {
    let hex = match &config.credentials_key {
        Some(key) => key.as_bytes().to_vec(),
        None => secret_file(config, "credentials-key", 32)?,
    };
    std::str::from_utf8(&hex)
        .ok()
        .and_then(app::credentials::cipher::Cipher::from_hex)
        .ok_or(Error::CredentialsKey)
}

/// `<data dir>/<name>`: `bytes` random bytes in hexadecimal, created (0600) if missing.
pub(crate) fn secret_file(config: &Config, name: &str, bytes: usize) -> Result<Vec<u8>, Error> {
    let path = config.data_dir.join(name);
    let err = |source| Error::DataDir {
        path: path.clone(),
        source,
    };
    match fs::read(&path) {
        Ok(secret) if secret.len() >= 2 * bytes => return Ok(secret),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    // A joining node reads the first node's secrets; it never makes one there (the first may
    // have its own from the environment: give the joiner the same).
    if config.join.is_some() {
        return Err(Error::Join {
            path: config.data_dir.clone(),
            reason: format!(
                "it has no {name} file: give this node the same {} as the first node",
                if name == "token-secret" {
                    "TENANTRY_TOKEN_SECRET"
                } else {
                    "TENANTRY_CREDENTIALS_KEY"
                }
            ),
        });
    }
    fs::create_dir_all(&config.data_dir).map_err(err)?;
    let mut secret = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut secret))
        .map_err(err)?;
    let secret: Vec<u8> = secret
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes();
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(err)?;
    io::Write::write_all(&mut file, &secret).map_err(err)?;
    Ok(secret)
}

/// While no superadmin exists, prints a one-time link that creates the first one.
pub(crate) async fn offer_first_superadmin(
    pool: &sqlx::PgPool,
    services: &app::context::Services,
    addr: SocketAddr,
) -> Result<(), Error> {
    let count = sqlx::query_scalar!(r#"select platform.superadmin_count() as "n!""#)
        .fetch_one(pool)
        .await
        .map_err(|source| Error::Connect {
            target: "the database".to_string(),
            source,
        })?;
    if count == 0 {
        let token = uuid::Uuid::new_v4().simple().to_string();
        *services
            .setup_token
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        // stdout, not the log: it is meant for the person starting the server.
        println!(
            "No superadmin exists yet. Create one at http://{addr}/setup?token={token} \
             (works once), or run `server create-superadmin --email …`."
        );
    }
    Ok(())
}

/// Leptos settings from the environment cargo-leptos sets, with defaults that work from the
/// repository root when the binary is started directly.
pub(crate) fn leptos_options() -> Result<leptos::config::LeptosOptions, Error> {
    let mut options = leptos::config::get_config_from_env()
        .map_err(|e| Error::Leptos(e.to_string()))?
        .leptos_options;
    if options.output_name.is_empty() {
        options.output_name = "tenantry".into();
    }
    Ok(options)
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("received SIGINT"),
        _ = terminate.recv() => tracing::info!("received SIGTERM"),
    }
}
