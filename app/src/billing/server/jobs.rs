//! The monthly jobs (system scope): close last month's billing records and reset the periods.

use crate::AppError;

/// The monthly jobs: start new allowance periods and freeze the months that ended. Both are
/// safe to re-run; the server runs them at start and every hour.
/// The hourly job (a system caller): resets ended allowance periods, freezes ended months.
pub async fn run_monthly_jobs(services: &crate::context::Services) -> Result<(i32, i32), AppError> {
    let lookup = crate::tenancy::gate::lookup(services);
    let pool = lookup.pool();
    let reset = sqlx::query_scalar!(r#"select platform.reset_quota_periods() as "n!""#)
        .fetch_one(pool)
        .await?;
    let closed = sqlx::query_scalar!(r#"select platform.close_billing_months() as "n!""#)
        .fetch_one(pool)
        .await?;
    Ok((reset, closed))
}
