//! The Tenantry server: configuration, embedded PostgreSQL, database roles and migrations, and
//! the HTTP router. `main.rs` only parses the command line and reports the outcome of [`run`];
//! [`run`] hands each command to its module (`start` for `serve`, `cli` for the others).

mod cli;
mod cluster;
pub mod config;
pub mod daemon;
pub mod db;
pub mod embedded_pg;
pub mod http;
mod jobs;
mod listen;
mod report;
mod start;
pub mod stores;
#[cfg(feature = "testing")]
pub mod testing;

use std::{io, net::SocketAddr, path::PathBuf};

use config::{Cli, Command};
use embedded_pg::PgError;
use tracing_subscriber::EnvFilter;

/// Why the server could not start or finish; each reads as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid TENANTRY_LOG filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },
    #[error(
        "audit verify needs a role that reads every org's events: set DATABASE_URL to the owner \
         role (as for `migrate`), not the one `serve` uses"
    )]
    AuditRole,
    #[error("the audit trail has {0} broken chain(s)")]
    AuditBroken(usize),
    #[error("the domain check found {0} problem(s)")]
    Domains(usize),
    #[error("the domain check could not run: {0}")]
    DomainCheck(String),
    #[error("the isolation report could not be made: {0}")]
    Report(String),
    #[error("the isolation report found {0} failure(s)")]
    Isolation(usize),
    #[error("invalid TENANTRY_ROUTING_SAMPLE {0}: use a fraction from 0 to 1")]
    RoutingSample(f64),
    #[error("email: {0}")]
    Mail(String),
    #[error("the data stores: {0}")]
    Stores(String),
    #[error("the product catalog is invalid: {0}")]
    Catalog(String),
    #[error("product upgrades: {0}")]
    Upgrades(String),
    #[error("Stripe configuration: {0}")]
    Stripe(String),
    #[error("invalid TENANTRY_BASE_DOMAIN {domain:?}: {reason}")]
    BaseDomain { domain: String, reason: String },
    #[error("invalid Leptos configuration: {0}")]
    Leptos(String),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot join the server on {path}: {reason}")]
    Join { path: PathBuf, reason: String },
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
        Command::Serve => runtime.block_on(start::serve(cli.config)),
        Command::Migrate => runtime.block_on(cli::migrate(cli.config)),
        Command::Audit {
            action: config::AuditAction::Verify,
        } => runtime.block_on(report::audit_verify(cli.config)),
        Command::CheckDomains => runtime.block_on(report::check_domains(cli.config)),
        Command::IsolationReport { out } => {
            runtime.block_on(report::isolation_report(cli.config, out))
        }
        Command::CreateSuperadmin { email, name } => {
            let password = cli::read_password()?;
            runtime.block_on(cli::create_superadmin(cli.config, email, name, password))
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
