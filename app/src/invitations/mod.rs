//! Invitations: an org admin invites an email address with a role (and, for a client user, a
//! lock to the org); the invitee follows the emailed link and joins, with a new account or the
//! one they have. Pending invitations are listed with Resend and Revoke.
//!
//! - The link's token (`inv_` and 256 random bits) is single use and only its SHA-256 is kept.
//! - An invitation expires after 7 days by default (1 to 30). Resending extends the same
//!   invitation with a fresh token: the older link stops working, and an address never has two
//!   open invitations to one org.
//! - The email goes through the outbox ([`crate::mail`]); without SMTP the link is logged and
//!   shown to the inviting admin instead.
//! - Accepting while signed in as another account is refused; an address that already has an
//!   account signs in first. A lock to the org applies to a new account only.

mod page;
#[cfg(feature = "ssr")]
mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{AcceptInvitationPage, InvitationsPanel};

use crate::AppError;

/// Days an invitation lasts unless the admin chooses otherwise, and the most they may choose.
pub const DEFAULT_DAYS: i64 = 7;
pub const MAX_DAYS: i64 = 30;

/// The accept page's address.
pub const ACCEPT_PATH: &str = "/invitations/accept";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: String,
    /// A new account made by accepting is locked to the org.
    pub bound: bool,
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub sends: i32,
    pub last_sent_at: DateTime<Utc>,
    /// The last email's delivery error, while it is being retried.
    pub delivery_error: Option<String>,
}

impl Invitation {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// The org's open invitations (pending or expired), and what the invite form offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationList {
    pub org_id: String,
    pub org_name: String,
    pub invitations: Vec<Invitation>,
    /// The roles the caller may give, built-in first.
    pub roles: Vec<String>,
    /// Whether emails are sent (else links are shown to the admin).
    pub mail: bool,
    pub now: DateTime<Utc>,
}

/// What an invite or resend did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    pub email: String,
    pub expires_at: DateTime<Utc>,
    /// The link, when no email server is configured: the admin passes it on.
    pub link: Option<String>,
}

/// An invitation as its link's holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub org_name: String,
    pub email: String,
    pub role: String,
    /// `open`, `expired`, `revoked` or `accepted`.
    pub state: String,
    pub expires_at: DateTime<Utc>,
    /// An account has the invited address (it signs in to accept).
    pub account_exists: bool,
    /// The email of the account signed in now, if any.
    pub signed_in_as: Option<String>,
}

#[server(endpoint = "invitations/list_invitations")]
pub async fn list_invitations(org_id: String) -> Result<InvitationList, AppError> {
    server::list(&org_id).await
}

/// Invites `email` to `org_id` with `role`, for `days` (empty: [`DEFAULT_DAYS`]); `bound`
/// non-empty locks a new account to the org.
#[server(endpoint = "invitations/invite")]
pub async fn invite(
    org_id: String,
    email: String,
    role: String,
    #[server(default)] days: String,
    #[server(default)] bound: String,
) -> Result<Invited, AppError> {
    server::invite(&org_id, &email, &role, &days, !bound.is_empty()).await
}

/// Sends an open invitation again with a fresh link, extended by `days` from now.
#[server(endpoint = "invitations/resend_invitation")]
pub async fn resend_invitation(
    org_id: String,
    invitation_id: String,
    #[server(default)] days: String,
) -> Result<Invited, AppError> {
    server::resend(&org_id, &invitation_id, &days).await
}

/// Ends an open invitation: its link stops working.
#[server(endpoint = "invitations/revoke_invitation")]
pub async fn revoke_invitation(org_id: String, invitation_id: String) -> Result<(), AppError> {
    server::revoke(&org_id, &invitation_id).await
}

/// The invitation a link's token names, for the accept page.
#[server(endpoint = "invitations/invitation_details")]
pub async fn invitation_details(token: String) -> Result<InvitationView, AppError> {
    server::details(&token).await
}

/// Accepts the invitation: as the account signed in (whose address it must be), else as a new
/// account with `name` and `password`. Signs in and goes to the org's overview.
#[server(endpoint = "invitations/accept_invitation")]
pub async fn accept_invitation(
    token: String,
    #[server(default)] name: String,
    #[server(default)] password: String,
) -> Result<(), AppError> {
    server::accept(&token, &name, &password).await?;
    leptos_axum::redirect("/?joined=1");
    Ok(())
}

/// Parses the days field: empty is [`DEFAULT_DAYS`].
pub fn parse_days(days: &str) -> Result<i64, AppError> {
    let days = days.trim();
    if days.is_empty() {
        return Ok(DEFAULT_DAYS);
    }
    days.parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .ok_or_else(|| {
            AppError::field(
                "days",
                format!("Choose a number of days from 1 to {MAX_DAYS}."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_default_to_seven_and_stay_within_a_month() {
        assert_eq!(parse_days("").unwrap(), 7);
        assert_eq!(parse_days(" 30 ").unwrap(), 30);
        assert_eq!(parse_days("1").unwrap(), 1);
        for bad in ["0", "31", "-1", "seven", "1e3", "99999999999999999999"] {
            assert!(
                matches!(parse_days(bad), Err(AppError::Validation(ref f)) if f.contains_key("days")),
                "{bad}"
            );
        }
    }
}
