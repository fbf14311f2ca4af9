//! The data stores beside PostgreSQL, each isolated per org (server only):
//!
//! | store | an org's own | used for |
//! |---|---|---|
//! | Redis | an ACL user limited to the key prefix `org:<id>:` | sign-in limits, API rate limits |
//! | NATS JetStream | the stream `ORG_<id>` on subjects `org.<id>.>`, a user limited to them | usage events |
//! | ClickHouse | the database `org_<id>` and a user allowed only it | usage analytics |
//!
//! The server connects as the platform's user to each. An org's resources are made by the
//! provisioning steps of the product engine ([`provision`]) and removed when the org goes.

pub mod clickhouse;
pub mod nats;
pub mod provision;
pub mod redis;
pub mod usage;

use std::sync::Arc;

use hmac::Mac;
use uuid::Uuid;

/// The stores this deployment has; `None` where one is not configured (tests that do not need
/// it). `serve` always has all three: embedded, or at the configured addresses.
#[derive(Clone, Default)]
pub struct Stores {
    pub redis: Option<redis::Redis>,
    pub nats: Option<nats::Nats>,
    pub clickhouse: Option<clickhouse::ClickHouse>,
    pub secrets: Secrets,
}

/// Where the orgs' own passwords come from: derived from the deployment's credentials key, so
/// every node computes the same ones and none is stored.
#[derive(Clone)]
pub struct Secrets(Arc<[u8; 32]>);

impl Default for Secrets {
    fn default() -> Self {
        Self(Arc::new([0; 32]))
    }
}

impl Secrets {
    /// Derived from the deployment's credentials key (its hexadecimal text).
    pub fn from_credentials_key(key: &[u8]) -> Self {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
            .expect("HMAC takes a key of any length");
        mac.update(b"tenantry stores");
        Self(Arc::new(mac.finalize().into_bytes().into()))
    }

    /// The password of `who` (the platform, or an org) in `store`: 32 hexadecimal characters.
    pub fn password(&self, store: &str, who: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0[..])
            .expect("HMAC takes a key of any length");
        mac.update(format!("tenantry store password\0{store}\0{who}").as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn org_password(&self, store: &str, org: Uuid) -> String {
        self.password(store, &org_user(org))
    }
}

/// SHA-256 of `text`, in hexadecimal (how Redis and ClickHouse take a password's hash).
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An org's user name in every store: `org_<id without dashes>`.
pub fn org_user(org: Uuid) -> String {
    format!("org_{}", org.simple())
}

/// One store's state for `/readyz` and the org detail view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub store: &'static str,
    pub ok: bool,
    /// What is wrong, in a sentence; empty when all is well.
    pub detail: String,
}

impl Stores {
    /// Whether any store is configured (an org then gets its resources in each).
    pub fn configured(&self) -> bool {
        self.redis.is_some() || self.nats.is_some() || self.clickhouse.is_some()
    }

    /// Each configured store, asked now.
    pub async fn health(&self) -> Vec<Health> {
        let mut out = Vec::new();
        let verdict = |store, result: Result<(), String>| Health {
            store,
            ok: result.is_ok(),
            detail: result.err().unwrap_or_default(),
        };
        if let Some(redis) = &self.redis {
            out.push(verdict("redis", redis.ping().await));
        }
        if let Some(nats) = &self.nats {
            out.push(verdict("nats", nats.ping().await));
        }
        if let Some(clickhouse) = &self.clickhouse {
            out.push(verdict("clickhouse", clickhouse.ping().await));
        }
        out
    }
}

/// How the embedded servers learn of an org's user, where users live in the server's own
/// configuration (NATS, ClickHouse 18.16): the server process rewrites that file and has it
/// read again. `None` for a server at a configured address.
pub type UsersHook = Arc<dyn Fn(UserChange) -> Result<(), String> + Send + Sync>;

#[derive(Debug, Clone)]
pub enum UserChange {
    /// Add (or replace) the org's user with this configuration entry.
    Put {
        org: Uuid,
        entry: String,
    },
    Remove {
        org: Uuid,
    },
}
