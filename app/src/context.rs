//! What the server hands to every server function through Leptos context (server only).

use std::sync::{Arc, Mutex};

use crate::{
    auth::{rate_limit::RateLimiter, token::TokenKeys},
    AppError,
};

/// Everything a server function may need besides the request itself ([`ServiceSet`]), built
/// once by the server and shared: a clone is one reference count, since every request clones
/// it several times (its context, each gate). Changing a field (tests, start-up) copies the set
/// if it is shared.
#[derive(Clone)]
pub struct Services(Arc<ServiceSet>);

impl From<ServiceSet> for Services {
    fn from(set: ServiceSet) -> Self {
        Self(Arc::new(set))
    }
}

impl std::ops::Deref for Services {
    type Target = ServiceSet;

    fn deref(&self) -> &ServiceSet {
        &self.0
    }
}

impl std::ops::DerefMut for Services {
    fn deref_mut(&mut self) -> &mut ServiceSet {
        Arc::make_mut(&mut self.0)
    }
}

/// What [`Services`] holds.
#[derive(Clone)]
pub struct ServiceSet {
    /// The runtime role's pool (it owns nothing and cannot bypass row-level security), behind
    /// the gate: only `tenancy/` reaches it.
    pub db: crate::tenancy::Db,
    /// Organizations are reached at `<slug>.<base_domain>`; normalised.
    pub base_domain: String,
    pub tokens: TokenKeys,
    pub sign_in_limiter: Arc<RateLimiter>,
    /// Whether anyone may register, getting a personal organization.
    pub allow_registration: bool,
    /// Whether the session cookie carries `Secure` (serve over HTTPS).
    pub secure_cookies: bool,
    /// Encrypts and decrypts credentials (AES-256-GCM; the key comes from configuration).
    pub credentials: crate::credentials::cipher::Cipher,
    /// The one-time first-superadmin setup token, while no superadmin exists.
    pub setup_token: Arc<Mutex<Option<String>>>,
    /// The Stripe connection, when configured.
    pub stripe: Option<crate::billing::stripe::Stripe>,
    /// The server's fallback LLM keys by provider (`TENANTRY_LLM_KEY_<PROVIDER>`).
    pub llm_env_keys: Arc<std::collections::BTreeMap<String, String>>,
    /// The product catalog and the install engine's settings.
    pub products: crate::products::engine::Products,
    /// Redis, NATS and ClickHouse, each holding every org's own resources.
    pub stores: crate::stores::Stores,
    /// Email over SMTP (invitations), when configured, and where links point.
    pub mail: crate::mail::Mail,
    /// The fraction of allowed tenant requests also kept in the audit log as `routing.allow`
    /// (refusals always are, as `routing.denied`): `TENANTRY_ROUTING_SAMPLE`.
    pub routing_sample: f64,
    /// The resolver that verifies custom domains' TXT records (`TENANTRY_DNS_SERVER`, else the
    /// system's).
    pub dns: crate::domains::dns::Dns,
}

/// The request's services. Names the caller when they are missing (a server function run
/// outside the render's reactive owner), so the log says which one.
#[track_caller]
pub fn services() -> Result<Services, AppError> {
    let caller = std::panic::Location::caller();
    leptos::prelude::use_context::<Services>().ok_or_else(|| {
        AppError::internal(
            "server function context",
            format!("no services provided (called from {caller})"),
        )
    })
}
