//! Email: a durable outbox in PostgreSQL (`email_outbox`, migration 23) and a sender on each
//! node that delivers it over SMTP (`TENANTRY_SMTP_URL`, through `lettre`).
//!
//! - A message is written in the transaction of what caused it ([`enqueue`]): it goes out if
//!   and only if that commits, and a restart loses none.
//! - A sender claims one due message at a time (`platform.claim_email`, a lease of
//!   [`LEASE`]), reads it in its org's scope, sends it, and marks it sent, clearing its body
//!   (an invitation's link does not stay in the database). A failure is kept as `last_error`
//!   and retried after 10 s, 20 s, 40 s … at most an hour, [`MAX_ATTEMPTS`] times in all.
//! - Without SMTP nothing is queued: the caller logs what it would have sent (see
//!   [`Mail::configured`]).

use std::{sync::Arc, time::Duration};

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use sqlx::PgConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    context::Services,
    tenancy::gate::{lookup, shutting_down, system_scope},
    AppError,
};

/// How long a claimed message is the claimer's before another sender may take it.
pub const LEASE: Duration = Duration::from_secs(60);

/// Tries before a message is given up (its error stays, its body is cleared).
pub const MAX_ATTEMPTS: i32 = 10;

/// How often a sender looks for due messages when nobody on its node wakes it.
pub const POLL: Duration = Duration::from_secs(5);

/// The SMTP connection and the sender's address, when configured; where links point.
#[derive(Clone, Default)]
pub struct Mail {
    smtp: Option<Arc<AsyncSmtpTransport<Tokio1Executor>>>,
    from: Option<Mailbox>,
    /// `TENANTRY_PUBLIC_URL`: the address links in emails start with (else the request's).
    pub public_url: Option<String>,
    /// Wakes this node's sender after a message is queued.
    pub wake: Arc<Notify>,
}

impl Mail {
    /// `smtp_url` as `lettre` reads it: `smtp://host:port` (plain, for a relay on the same
    /// network), `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://host` (TLS).
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        public_url: Option<String>,
    ) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("TENANTRY_MAIL_FROM {from:?} is not an address: {e}"))?;
        let smtp = match smtp_url {
            None => None,
            Some(url) => Some(Arc::new(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("TENANTRY_SMTP_URL is not usable: {e}"))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            )),
        };
        let public_url = public_url.map(|u| u.trim_end_matches('/').to_string());
        Ok(Self {
            smtp,
            from: Some(from),
            public_url,
            wake: Arc::default(),
        })
    }

    /// Whether messages are sent (else the caller shows or logs what it would send).
    pub fn configured(&self) -> bool {
        self.smtp.is_some()
    }
}

/// The most emails one org may queue in an hour: an admin's invitations cannot make the platform
/// a spam cannon (nor spend its sender's reputation).
pub const MAX_EMAILS_PER_HOUR: i64 = 200;

/// Queues a message to `recipient` in the caller's transaction (scoped to `org`), within the
/// org's hourly allowance ([`MAX_EMAILS_PER_HOUR`]; one org's queueing at a time, so it holds).
pub async fn enqueue(
    conn: &mut PgConnection,
    org: Uuid,
    recipient: &str,
    subject: &str,
    body: &str,
) -> Result<(), AppError> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('email_outbox:' || $1::uuid::text, 0))",
        org
    )
    .execute(&mut *conn)
    .await?;
    let recent = sqlx::query_scalar!(
        r#"select count(*) as "n!" from email_outbox
            where org_id = $1 and created_at > now() - interval '1 hour'"#,
        org
    )
    .fetch_one(&mut *conn)
    .await?;
    if recent >= MAX_EMAILS_PER_HOUR {
        return Err(AppError::QuotaExceeded(format!(
            "This organization has sent {MAX_EMAILS_PER_HOUR} emails in the last hour, the most it may; try again later."
        )));
    }
    sqlx::query!(
        "insert into email_outbox (org_id, recipient, subject, body) values ($1, $2, $3, $4)",
        org,
        recipient,
        subject,
        body
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The delay before another try after `attempts` failed ones.
fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    Duration::from_secs(10u64.saturating_mul(1 << exp.min(12)).min(3600))
}

/// Starts this node's sender, when SMTP is configured.
pub fn spawn_sender(services: Services) {
    if !services.mail.configured() {
        return;
    }
    tokio::spawn(async move {
        loop {
            match send_next(&services).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    if shutting_down(&services) {
                        return;
                    }
                    tracing::warn!(%err, "email sender");
                }
            }
            let _ = tokio::time::timeout(POLL, services.mail.wake.notified()).await;
        }
    });
}

/// Sends the next due message, if any: `Ok(true)` when one was tried.
pub async fn send_next(services: &Services) -> Result<bool, AppError> {
    let (Some(smtp), Some(from)) = (&services.mail.smtp, &services.mail.from) else {
        return Ok(false);
    };
    let claimed = sqlx::query!(
        r#"select org_id as "org_id!", email_id as "email_id!", attempts as "attempts!"
             from platform.claim_email($1)"#,
        LEASE.as_secs() as i32
    )
    .fetch_optional(lookup(services).pool())
    .await?;
    let Some(claimed) = claimed else {
        return Ok(false);
    };
    let (org, id) = (claimed.org_id, claimed.email_id);
    let mut tx = system_scope(services, org, "mail").await?;
    let Some(row) = sqlx::query!(
        "select recipient, subject, body from email_outbox
          where org_id = $1 and email_id = $2 and sent_at is null",
        org,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(true);
    };
    tx.commit().await?;
    let outcome = match row.recipient.parse::<Mailbox>() {
        Err(e) => Err(format!("the recipient is not an address: {e}")),
        Ok(to) => match Message::builder()
            .from(from.clone())
            .to(to)
            .subject(row.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(row.body)
        {
            Err(e) => Err(format!("the message cannot be built: {e}")),
            Ok(message) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("the SMTP server refused it: {e}")),
        },
    };
    let mut tx = system_scope(services, org, "mail").await?;
    match &outcome {
        Ok(()) => {
            sqlx::query!(
                "update email_outbox set sent_at = now(), body = '', last_error = null
                  where org_id = $1 and email_id = $2",
                org,
                id
            )
            .execute(&mut *tx)
            .await?;
            tracing::info!(org = %org, email = %id, "email sent");
        }
        Err(why) if claimed.attempts >= MAX_ATTEMPTS => {
            sqlx::query!(
                "update email_outbox
                    set last_error = $3, body = '', next_attempt_at = 'infinity'
                  where org_id = $1 and email_id = $2",
                org,
                id,
                format!("Gave up after {MAX_ATTEMPTS} attempts: {why}")
            )
            .execute(&mut *tx)
            .await?;
            tracing::warn!(org = %org, email = %id, error = %why, "email given up");
        }
        Err(why) => {
            let retry = backoff(claimed.attempts);
            sqlx::query!(
                "update email_outbox
                    set last_error = $3,
                        next_attempt_at = now() + make_interval(secs => $4)
                  where org_id = $1 and email_id = $2",
                org,
                id,
                why,
                retry.as_secs_f64()
            )
            .execute(&mut *tx)
            .await?;
            tracing::warn!(org = %org, email = %id, error = %why, retry_secs = retry.as_secs(), "email not sent");
        }
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(80));
        assert_eq!(backoff(20), Duration::from_secs(3600));
        assert_eq!(backoff(i32::MAX), Duration::from_secs(3600));
    }
}
