//! Roles, migrations and connection pools.
//!
//! Two roles, created by [`bootstrap`] on the embedded cluster (and by hand on an external one):
//! - `tenantry_owner` owns the database and every object in it and runs the migrations. It has
//!   `BYPASSRLS` (an owner can switch RLS off anyway) because it owns the `platform` schema's
//!   security-definer functions, the narrow cross-org lookups;
//! - `tenantry_app`, the runtime role, owns nothing and has `NOBYPASSRLS`: row-level security
//!   always applies to it. Migrations grant it what it needs through default privileges.

use std::{collections::BTreeSet, time::Duration};

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Connection, PgConnection, PgPool,
};

pub const OWNER_ROLE: &str = "tenantry_owner";
pub const RUNTIME_ROLE: &str = "tenantry_app";
pub const DATABASE: &str = "tenantry";

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Creates the two roles and a database owned by the owner role, if missing. Needs a superuser
/// connection; idempotent.
pub async fn bootstrap(superuser: &PgConnectOptions, database: &str) -> Result<(), sqlx::Error> {
    let mut conn = superuser.clone().database("postgres").connect().await?;
    create_roles(&mut conn).await?;
    let exists = sqlx::query_scalar!(
        r#"select exists (select from pg_database where datname = $1) as "exists!""#,
        database
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        // Identifiers cannot be bound; `database` comes from our code, never from a request.
        let name = quote_ident(database);
        // One statement per call: `create database` refuses to run inside the implicit
        // transaction of a multi-statement batch.
        sqlx::raw_sql(&format!(
            "create database {name} owner {OWNER_ROLE} encoding 'UTF8' template template0"
        ))
        .execute(&mut conn)
        .await?;
        restrict_database(&mut conn, &name).await?;
    }
    conn.close().await
}

async fn create_roles(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Roles are cluster-wide; `do` blocks keep this idempotent and race-free enough for start-up.
    sqlx::raw_sql(&format!(
        "do $$ begin
           if not exists (select from pg_roles where rolname = '{OWNER_ROLE}') then
             create role {OWNER_ROLE} login nosuperuser nocreatedb createrole bypassrls;
           end if;
           -- Clusters made before the platform functions (bypassrls) and the per-org roles
           -- that own each org's schema (createrole) existed.
           alter role {OWNER_ROLE} bypassrls createrole;
           if not exists (select from pg_roles where rolname = '{RUNTIME_ROLE}') then
             create role {RUNTIME_ROLE} login nosuperuser nocreatedb nocreaterole nobypassrls noinherit;
           end if;
         end $$;"
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Only the runtime role (besides the owner) may connect.
pub async fn restrict_database(
    conn: &mut PgConnection,
    quoted_name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!(
        "revoke all on database {quoted_name} from public;
         grant connect, temporary on database {quoted_name} to {RUNTIME_ROLE};"
    ))
    .execute(conn)
    .await?;
    Ok(())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A small pool that fails fast when the database cannot be reached. A connection is tested
/// when it comes back to the pool (sqlx's check on release), not again when it is handed out:
/// that second check was one more round trip at the start of every request.
pub async fn connect(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect_with(options.log_statements(tracing::log::LevelFilter::Trace))
        .await
}

/// Why the connected role must not serve requests, if it must not (the isolation report's
/// check, which `serve` also makes before serving).
pub use app::isolation::report::runtime_role_violation;

/// Versions of the migrations this build knows that the database has not applied.
pub async fn pending_migrations(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let applied: BTreeSet<i64> =
        match sqlx::query_scalar!("select version from _sqlx_migrations where success")
            .fetch_all(pool)
            .await
        {
            Ok(versions) => versions.into_iter().collect(),
            // 42P01: undefined_table, a database never migrated.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
                BTreeSet::new()
            }
            Err(e) => return Err(e),
        };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| m.version)
        .collect())
}
