//! Billing's pages, one file per page: the org's tab, the platform page, the model prices
//! (Settings → Models), and the allowance bars the first two use.

mod allowances;
mod models;
mod org_tab;
mod platform;

pub use allowances::Allowances;
pub use models::ModelPrices;
pub use org_tab::OrgBillingTab;
pub use platform::BillingPage;
