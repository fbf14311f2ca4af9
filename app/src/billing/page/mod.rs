//! Billing's pages, one file per page: the org's tab, the platform page, and the allowance bars
//! both use.

mod allowances;
mod org_tab;
mod platform;

pub use allowances::Allowances;
pub use org_tab::OrgBillingTab;
pub use platform::BillingPage;
