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

/// A small pool that fails fast when the database cannot be reached.
pub async fn connect(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.log_statements(tracing::log::LevelFilter::Trace))
        .await
}

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
