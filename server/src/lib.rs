//! The Tenantry server: configuration, embedded PostgreSQL, database roles and migrations, and
//! the HTTP router. `main.rs` only parses the command line and reports the outcome of [`run`].

pub mod config;
pub mod db;
pub mod embedded_pg;
pub mod http;
#[cfg(feature = "testing")]
pub mod testing;

use std::{
    fs::{self, File, OpenOptions},
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use config::{Cli, Command, Config};
use embedded_pg::{Cluster, ClusterOptions, PgBinaries, PgError};
use nix::fcntl::{Flock, FlockArg};
use sqlx::{postgres::PgConnectOptions, PgPool};
use tracing_subscriber::EnvFilter;

/// Why the server could not start or finish; each reads as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid TENANTRY_LOG filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },
    #[error("Stripe configuration: {0}")]
    Stripe(String),
    #[error("invalid TENANTRY_BASE_DOMAIN {domain:?}: {reason}")]
    BaseDomain { domain: String, reason: String },
    #[error("invalid Leptos configuration: {0}")]
    Leptos(String),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("another Tenantry server is already using the data directory {0}")]
    DataDirBusy(PathBuf),
    #[error("cannot listen on {addr}: {source}; set TENANTRY_BIND to a free address")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("cannot connect to the database at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("preparing the embedded database failed: {0}")]
    Bootstrap(sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "refusing to serve: {0}; connect as a role that owns nothing and has NOBYPASSRLS \
         (see README, Configuration)"
    )]
    UnsafeRole(String),
    #[error(
        "the database has {0} pending migration(s); run `server migrate` with DATABASE_URL set \
         to the owner role first"
    )]
    PendingMigrations(usize),
    #[error("invalid TENANTRY_TOKEN_SECRET: use at least 32 bytes")]
    TokenSecret,
    #[error(
        "invalid TENANTRY_CREDENTIALS_KEY (or <data dir>/credentials-key): use 64 hexadecimal \
         characters, e.g. from `openssl rand -hex 32`"
    )]
    CredentialsKey,
    #[error("cannot create the superadmin: {0}")]
    Superadmin(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub fn run(cli: Cli) -> Result<(), Error> {
    init_tracing(&cli.config.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(cli.config)),
        Command::Migrate => runtime.block_on(migrate(cli.config)),
        Command::CreateSuperadmin { email, name } => {
            let password = read_password()?;
            runtime.block_on(create_superadmin(cli.config, email, name, password))
        }
    }
}

fn init_tracing(filter: &str) -> Result<(), Error> {
    let env_filter = EnvFilter::try_new(filter).map_err(|e| Error::LogFilter {
        filter: filter.to_string(),
        reason: e.to_string(),
    })?;
    // Logs go to stderr; stdout carries what a command answers (create-superadmin, the setup
    // link).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    Ok(())
}

async fn serve(config: Config) -> Result<(), Error> {
    let base_domain =
        app::tenancy::host::base_domain(&config.base_domain).map_err(|e| Error::BaseDomain {
            domain: config.base_domain.clone(),
            reason: e.to_string(),
        })?;
    let leptos_options = leptos_options()?;
    let addr = config.bind.unwrap_or(leptos_options.site_addr);
    // Bind before touching the database, so a busy port fails in a moment.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let addr = listener.local_addr()?;

    let (pool, embedded, target) = match &config.database_url {
        Some(url) => (connect_url(url).await?, None, redact(url)),
        None => {
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

    let services = app::context::Services {
        db: app::tenancy::Db::new(pool.clone()),
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
    };
    offer_first_superadmin(&pool, &services, addr).await?;
    spawn_monthly_jobs(services.clone());
    let app = http::router(http::AppState {
        leptos_options,
        trusted_proxies: std::sync::Arc::new(config.trusted_proxies.clone()),
        pool: pool.clone(),
        services,
    });
    tracing::info!(%addr, %base_domain, "serving the Admin App on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;

    tracing::info!("shutting down");
    pool.close().await;
    if let Some(embedded) = embedded {
        embedded.stop().await?;
    }
    Ok(())
}

/// The Stripe connection, when a secret key is configured (it then needs the webhook secret).
fn stripe(config: &Config) -> Result<Option<app::billing::stripe::Stripe>, Error> {
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

/// New allowance periods and frozen billing months, at start and every hour after: both jobs
/// are safe to re-run, so a restart or a missed hour only delays them.
fn spawn_monthly_jobs(services: app::context::Services) {
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            match app::billing::server::run_monthly_jobs(&services).await {
                Ok((reset, closed)) => tracing::info!(reset, closed, "monthly billing jobs ran"),
                Err(err) => {
                    tracing::warn!(%err, "monthly billing jobs failed; retrying in an hour")
                }
            }
        }
    });
}

async fn migrate(config: Config) -> Result<(), Error> {
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

/// Failed sign-ins allowed per email, and per IP address (shared by offices and proxies), within
/// the window.
const SIGN_IN_ATTEMPTS: usize = 5;
const SIGN_IN_ATTEMPTS_PER_IP: usize = 50;
/// After an email's free attempts, each more waits 1, 2, 4 … seconds, at most this long.
const SIGN_IN_MAX_BACKOFF_SECS: u64 = 60;
const SIGN_IN_WINDOW_SECS: u64 = 15 * 60;

/// The token-signing secret: configured, else created once in the data directory (0600).
fn token_secret(config: &Config) -> Result<Vec<u8>, Error> {
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
fn credentials_key(config: &Config) -> Result<app::credentials::cipher::Cipher, Error> {
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
fn secret_file(config: &Config, name: &str, bytes: usize) -> Result<Vec<u8>, Error> {
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
async fn offer_first_superadmin(
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

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String, Error> {
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

async fn create_superadmin(
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

/// The embedded cluster, with the data directory lock held for as long as it runs.
struct Embedded {
    cluster: Cluster,
    _lock: Flock<File>,
}

impl Embedded {
    async fn start(config: &Config) -> Result<Self, Error> {
        let data_dir = config.data_dir.clone();
        let lock = lock_data_dir(&data_dir)?;
        let bins = PgBinaries::locate(config.pg_bin_dir.as_deref())?;
        let options = ClusterOptions {
            dir: data_dir.join("pg"),
            log_file: data_dir.join("postgres.log"),
            durable: true,
        };
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(&bins, &options))
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))??;
        let superuser = cluster.connect_options(embedded_pg::SUPERUSER, "postgres");
        db::bootstrap(&superuser, db::DATABASE)
            .await
            .map_err(Error::Bootstrap)?;
        Ok(Self {
            cluster,
            _lock: lock,
        })
    }

    async fn migrate(&self) -> Result<(), Error> {
        let owner = self.cluster.connect_options(db::OWNER_ROLE, db::DATABASE);
        let pool = connect(owner, 1, "the embedded PostgreSQL").await?;
        db::MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    async fn owner_pool(&self) -> Result<PgPool, Error> {
        let options = self.cluster.connect_options(db::OWNER_ROLE, db::DATABASE);
        connect(options, 2, "the embedded PostgreSQL").await
    }

    async fn runtime_pool(&self) -> Result<PgPool, Error> {
        let options = self.cluster.connect_options(db::RUNTIME_ROLE, db::DATABASE);
        connect(options, 10, "the embedded PostgreSQL").await
    }

    async fn stop(self) -> Result<(), Error> {
        tokio::task::spawn_blocking(move || self.cluster.stop())
            .await
            .map_err(|e| Error::Io(io::Error::other(e)))??;
        Ok(())
    }
}

/// Creates the data directory and takes its lock, so two servers never share one cluster.
fn lock_data_dir(data_dir: &Path) -> Result<Flock<File>, Error> {
    let err = |source| Error::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(data_dir).map_err(err)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("server.lock"))
        .map_err(err)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| Error::DataDirBusy(data_dir.to_path_buf()))
}

async fn connect_url(url: &str) -> Result<PgPool, Error> {
    let options: PgConnectOptions = url.parse().map_err(|source| Error::Connect {
        target: redact(url),
        source,
    })?;
    connect(options, 10, &redact(url)).await
}

async fn connect(options: PgConnectOptions, max: u32, target: &str) -> Result<PgPool, Error> {
    db::connect(options, max)
        .await
        .map_err(|source| Error::Connect {
            target: target.to_string(),
            source,
        })
}

/// The URL with its password replaced, fit for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Leptos settings from the environment cargo-leptos sets, with defaults that work from the
/// repository root when the binary is started directly.
fn leptos_options() -> Result<leptos::config::LeptosOptions, Error> {
    let mut options = leptos::config::get_config_from_env()
        .map_err(|e| Error::Leptos(e.to_string()))?
        .leptos_options;
    if options.output_name.is_empty() {
        options.output_name = "tenantry".into();
    }
    Ok(options)
}

async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact("not a url"), "not a url");
    }
}
