//! The tenancy gate: which organization a request is for, whether the caller may act in it
//! (the need each endpoint declares in [`access`]), and the only way to reach tenant data.
//! See ../shared/DESIGN.md.

pub mod access;
#[cfg(feature = "ssr")]
pub mod agent;
#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod gate;
pub mod host;

/// The runtime role's connection pool, reachable only from inside `tenancy/`: capabilities get
/// handles from the gate (`Tenant`, `Platform`, the agent's, the system's, the account's, the
/// narrow lookups), never the pool. Start-up makes one with [`Db::new`], which also starts the
/// node's memory of verified sessions ([`cache::AccessCache`]); each node has its own.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct Db {
    pool: sqlx::PgPool,
    access: std::sync::Arc<cache::AccessCache>,
}

#[cfg(feature = "ssr")]
impl Db {
    /// Call it on the runtime that serves: the memory's listener runs there.
    pub fn new(pool: sqlx::PgPool) -> Self {
        let access = cache::AccessCache::start(&pool);
        Self { pool, access }
    }

    pub(in crate::tenancy) fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    pub(in crate::tenancy) fn access(&self) -> &std::sync::Arc<cache::AccessCache> {
        &self.access
    }

    /// How many sessions this node remembers as verified (for tests and the load bench).
    pub fn remembered_sessions(&self) -> usize {
        self.access.len()
    }

    /// How many requests this node answered from a remembered read (for tests and the load
    /// bench).
    pub fn answered_from_memory(&self) -> u64 {
        self.access.answered()
    }
}
