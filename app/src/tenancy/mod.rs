//! The tenancy gate: which organization a request is for, whether the caller may act in it
//! (the need each endpoint declares in [`access`]), and the only way to reach tenant data.
//! See ../shared/DESIGN.md.

pub mod access;
#[cfg(feature = "ssr")]
pub mod agent;
#[cfg(feature = "ssr")]
pub mod gate;
pub mod host;

/// The runtime role's connection pool, reachable only from inside `tenancy/`: capabilities get
/// handles from the gate (`Tenant`, `Platform`, the agent's, the system's, the account's, the
/// narrow lookups), never the pool. Start-up makes one with [`Db::new`].
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct Db(sqlx::PgPool);

#[cfg(feature = "ssr")]
impl Db {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self(pool)
    }

    pub(in crate::tenancy) fn pool(&self) -> &sqlx::PgPool {
        &self.0
    }
}
