//! The server side of billing, one file per gate and concern: the org's tab, its rates, the
//! platform's prices and plans, usage from agents, the monthly jobs, and the subscription.

mod jobs;
mod platform;
mod rates;
mod subscription;
mod tab;
pub mod usage;

pub use jobs::run_monthly_jobs;
pub use platform::{
    delete_model_price, delete_plan, list_model_prices, model_prices, overview, save_model_price,
    save_plan,
};
pub use rates::{set_agent_rate, set_default_rate};
pub use subscription::{subscription, update_subscription};
pub(crate) use tab::health;
pub use tab::tab_in;
pub use usage::{ingest, Ingested, MAX_BATCH};

use chrono::{Datelike, NaiveDate};

use crate::AppError;

/// The first day of the month a date is in.
pub fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("every month has a first day")
}

fn add_months(month: NaiveDate, n: i32) -> NaiveDate {
    let total = month.year() * 12 + month.month0() as i32 + n;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        .expect("a valid month")
}

fn month_key(month: NaiveDate) -> String {
    month.format("%Y-%m").to_string()
}

/// `YYYY-MM` into its first day, or a field error.
fn parse_month(text: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| AppError::field("month", "Pick a month, like 2026-11."))
}

fn big(text: Option<String>) -> i128 {
    text.and_then(|t| t.parse().ok()).unwrap_or(0)
}
