//! Configuration: one clap struct, every setting by flag or environment variable.
//! `.env.example` at the repository root documents each one.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "server",
    version,
    about = "Tenantry: the multi-tenant control plane for AI-agent SaaS"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the Admin App (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// The audit trail: `verify` checks every org's hash chain (and the platform's), names the
    /// first broken link of each, prints each chain's head hash, and exits 1 if any is broken.
    /// With DATABASE_URL, connect as the owner role (which reads every org's events).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// The deploy-time domain check: exits 1 naming every custom domain verified by two
    /// organizations, every verified domain under the base domain, and every domain that routes
    /// to an org without its verified claim; each conflict is also recorded in the platform's
    /// audit log. With DATABASE_URL, connect as the role `serve` uses.
    CheckDomains,
    /// Check tenant isolation in the live database (row-level security of every tenant table,
    /// the server's role, the per-org schemas, custom domains) and write a dated HTML report;
    /// exits 1 if any check fails. With DATABASE_URL, connect as the role `serve` uses.
    IsolationReport {
        /// Write the report here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Create a superadmin (or make an existing user one), reading the password from standard
    /// input. With DATABASE_URL, connect as the owner role, as for `migrate`.
    CreateSuperadmin {
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before the @].
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AuditAction {
    /// Check the hash chains of the audit trail.
    Verify,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// PostgreSQL to use instead of the embedded one. `serve` connects with it as the runtime
    /// role; `migrate` connects with it as the owner role.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Address to listen on [default: LEPTOS_SITE_ADDR, else 127.0.0.1:3000].
    #[arg(long, env = "TENANTRY_BIND", global = true)]
    pub bind: Option<SocketAddr>,

    /// Where the embedded PostgreSQL cluster and its log live.
    #[arg(long, env = "TENANTRY_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Serve as a second app node of the server running on this machine with that data
    /// directory: its embedded PostgreSQL, Redis, NATS and ClickHouse, and its secrets, are
    /// used; nothing is started or written in a data directory of this node's own. Takes the
    /// place of DATABASE_URL and the store addresses.
    #[arg(long, env = "TENANTRY_JOIN", global = true)]
    pub join: Option<PathBuf>,

    /// Directory holding `initdb` and `postgres` [default: search PATH, then /usr/lib/postgresql/*/bin].
    #[arg(long, env = "TENANTRY_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,

    /// Redis to use instead of the embedded one (`redis://user:password@host:port`, or
    /// `redis+unix:///path/to/socket?user=…&pass=…`), as a user that may manage ACL users.
    #[arg(
        long,
        env = "TENANTRY_REDIS_URL",
        hide_env_values = true,
        global = true
    )]
    pub redis_url: Option<String>,

    /// NATS (with JetStream) to use instead of the embedded one (`nats://user:password@host:port`).
    /// Its orgs' users are then the operator's to configure (see README).
    #[arg(long, env = "TENANTRY_NATS_URL", hide_env_values = true, global = true)]
    pub nats_url: Option<String>,

    /// ClickHouse to use instead of the embedded one (`http://user:password@host:port`, its HTTP
    /// interface), as a user that may create databases and users.
    #[arg(
        long,
        env = "TENANTRY_CLICKHOUSE_URL",
        hide_env_values = true,
        global = true
    )]
    pub clickhouse_url: Option<String>,

    /// SMTP server for invitation emails (`smtp://host:port`, `smtp://user:pass@host:587?tls=required`
    /// for STARTTLS, `smtps://user:pass@host` for TLS). Without it, `serve` logs each invitation
    /// link and the Admin App shows it to the inviting admin.
    #[arg(long, env = "TENANTRY_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// The sender of emails [default: `Tenantry <noreply@<base domain>>`].
    #[arg(long, env = "TENANTRY_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// The address people reach the Admin App at (`https://admin.example.com`), for links in
    /// emails [default: the address `serve` listens on; never a request's Host header].
    #[arg(long, env = "TENANTRY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Organizations are reached at `<slug>.<base domain>`.
    #[arg(
        long,
        env = "TENANTRY_BASE_DOMAIN",
        default_value = "localhost",
        global = true
    )]
    pub base_domain: String,

    /// Secret that signs session tokens, at least 32 bytes [default: generated once and kept in
    /// `<data dir>/token-secret`]. Every app node of one deployment needs the same one.
    #[arg(
        long,
        env = "TENANTRY_TOKEN_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub token_secret: Option<String>,

    /// Key that encrypts stored credentials (AES-256-GCM), 64 hexadecimal characters [default:
    /// generated once and kept in `<data dir>/credentials-key`]. Keep it with your backups:
    /// without it the credentials cannot be read.
    #[arg(
        long,
        env = "TENANTRY_CREDENTIALS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub credentials_key: Option<String>,

    /// Stripe secret key (`sk_…`); without it the Admin App bills by hand only.
    #[arg(
        long,
        env = "TENANTRY_STRIPE_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub stripe_secret_key: Option<String>,

    /// Stripe's API address [default: https://api.stripe.com/]; tests point it at localstripe.
    #[arg(long, env = "TENANTRY_STRIPE_API_BASE", global = true)]
    pub stripe_api_base: Option<String>,

    /// The webhook endpoint's signing secret (`whsec_…`) that `POST /webhooks/stripe` checks.
    #[arg(
        long,
        env = "TENANTRY_STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub stripe_webhook_secret: Option<String>,

    /// Days a past-due Stripe subscription keeps working (its grace period).
    #[arg(
        long,
        env = "TENANTRY_STRIPE_GRACE_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub stripe_grace_days: i64,

    /// A directory of product files (`<key>.json`, as in app/src/products/catalog/): each
    /// replaces the built-in product of its key, a newer version of it, say: `serve` plans
    /// the upgrade of every org that has it, and `migrate` applies it.
    #[arg(long, env = "TENANTRY_CATALOG_DIR", global = true)]
    pub catalog_dir: Option<PathBuf>,

    /// Let anyone register, getting a personal organization they own.
    #[arg(
        long,
        env = "TENANTRY_ALLOW_REGISTRATION",
        default_value_t = false,
        global = true
    )]
    pub allow_registration: bool,

    /// Mark the session cookie `Secure` (when the Admin App is served over HTTPS).
    #[arg(
        long,
        env = "TENANTRY_SECURE_COOKIES",
        default_value_t = false,
        global = true
    )]
    pub secure_cookies: bool,

    /// Addresses of reverse proxies in front of the server (comma-separated IPs). Only from
    /// these is `X-Forwarded-For` believed, for the sign-in limit and the audit log; from any
    /// other peer it is ignored, so no client can choose the address it is counted under.
    #[arg(
        long,
        env = "TENANTRY_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// The fraction of allowed tenant requests (0 to 1) whose routing decision (the sources of
    /// org context seen, the org, the caller, the path) is also kept in the audit log as
    /// `routing.allow`; refusals always are, as `routing.denied`. Every decision goes to the
    /// structured log (target `tenancy`).
    #[arg(
        long,
        env = "TENANTRY_ROUTING_SAMPLE",
        default_value_t = 0.0,
        global = true
    )]
    pub routing_sample: f64,

    /// The nameserver that verifies custom domains' TXT records (`ip:port`, e.g. `127.0.0.1:53`).
    /// Without it, the system's resolvers (`/etc/resolv.conf`).
    #[arg(long, env = "TENANTRY_DNS_SERVER", global = true)]
    pub dns_server: Option<std::net::SocketAddr>,

    /// Log filter, e.g. `info` or `server=debug,sqlx=warn`.
    #[arg(long, env = "TENANTRY_LOG", default_value = "info", global = true)]
    pub log: String,
}
