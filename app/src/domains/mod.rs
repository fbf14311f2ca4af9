//! Custom domains: an org's admins claim domains (`assistant.acme.com`) and prove each with a DNS
//! TXT record; requests reach the org at a domain only once it is proven.
//!
//! - A claim is **pending** until a lookup of `_tenantry-challenge.<domain>` finds the claim's
//!   token (**verified**), or for [`FAIL_AFTER_DAYS`] days (**failed**, as WorkOS does).
//! - Lookups use a real resolver ([`dns`]) against `TENANTRY_DNS_SERVER`, or the system's.
//!   An admin checks now; each node also checks pending claims in the background.
//! - Any org may claim a domain nobody has proven: the first to prove it gets it, and a verified
//!   domain belongs to one org (a unique index). Routing reads verified claims only
//!   (`platform.org_by_domain`).
//! - `server check-domains` is the deploy-time check: it fails naming every domain verified by
//!   two orgs, every verified domain the base domain would shadow, and every domain that routes
//!   without being verified. Superadmins see a banner while a conflict exists.

#[cfg(feature = "ssr")]
pub mod dns;
mod page;
#[cfg(feature = "ssr")]
pub mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{DomainConflictBanner, DomainsTab};

use crate::AppError;

/// Where the TXT record goes: this label before the domain.
pub const CHALLENGE_LABEL: &str = "_tenantry-challenge";
/// A claim not proven within this many days fails.
pub const FAIL_AFTER_DAYS: i64 = 30;
/// The most domains one org may claim.
pub const MAX_DOMAINS: i64 = 20;

/// The name of a domain's TXT record.
pub fn record_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub domain: String,
    /// `pending`, `verified` or `failed`.
    pub status: String,
    /// The TXT record's value.
    pub token: String,
    pub created_at: DateTime<Utc>,
    pub checked_at: Option<DateTime<Utc>>,
    /// What the last lookup found, in words.
    pub check_result: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

impl Domain {
    /// When a pending claim fails if still unproven.
    pub fn fails_at(&self) -> DateTime<Utc> {
        self.created_at + chrono::Duration::days(FAIL_AFTER_DAYS)
    }
}

/// An org's domain claims, and whether the caller may change them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainList {
    pub domains: Vec<Domain>,
    pub can_manage: bool,
    /// The org's primary domain (from its details), offered when not yet claimed.
    pub primary_domain: Option<String>,
}

/// A domain claimed in ways that break routing, for superadmins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainConflict {
    pub domain: String,
    /// What is wrong, naming the orgs.
    pub problem: String,
}

#[server(endpoint = "domains/list_domains")]
pub async fn list_domains(org_id: String) -> Result<DomainList, AppError> {
    server::list(&org_id).await
}

/// Claims `domain` for the org: pending until its TXT record is seen.
#[server(endpoint = "domains/add_domain")]
pub async fn add_domain(org_id: String, domain: String) -> Result<Domain, AppError> {
    server::add(&org_id, &domain).await
}

/// Looks the claim's TXT record up now.
#[server(endpoint = "domains/check_domain")]
pub async fn check_domain(org_id: String, domain_id: String) -> Result<Domain, AppError> {
    server::check_now(&org_id, &domain_id).await
}

/// Drops the claim: a verified domain stops routing at once.
#[server(endpoint = "domains/remove_domain")]
pub async fn remove_domain(org_id: String, domain_id: String) -> Result<(), AppError> {
    server::remove(&org_id, &domain_id).await
}

/// Every domain conflict on the platform (for the superadmins' banner).
#[server(endpoint = "domains/domain_conflicts")]
pub async fn domain_conflicts() -> Result<Vec<DomainConflict>, AppError> {
    server::conflicts_for_banner().await
}
