//! Background jobs the server runs while it serves.

/// New allowance periods and frozen billing months, at start and every hour after: both jobs
/// are safe to re-run, so a restart or a missed hour only delays them.
pub(crate) fn spawn_monthly_jobs(services: app::context::Services) {
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            match app::billing::server::run_monthly_jobs(&services).await {
                Ok((reset, closed)) => tracing::info!(reset, closed, "monthly billing jobs ran"),
                Err(err) => {
                    tracing::warn!(%err, "monthly billing jobs failed; retrying in an hour")
                }
            }
        }
    });
}
