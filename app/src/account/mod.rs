//! Your account (`/account`), for everyone signed in: change your password, see where you are
//! signed in (device, address, when), and sign out any other session or all of them.
//!
//! - Changing the password needs the current one, and signs out every other session (a stolen
//!   session does not survive the change that answers it).
//! - A session signed out here is refused on its very next request (the gate checks the
//!   session row on every request).
//! - Each change is one audit event: `password.change`, `session.revoke`,
//!   `session.revoke_others`.

mod page;
#[cfg(feature = "ssr")]
mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::AccountPage;

use crate::AppError;

/// One live session of yours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSession {
    pub id: String,
    /// The browser and system, from its user agent ("Firefox on Linux").
    pub device: String,
    pub ip: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session this page was loaded with.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub email: String,
    pub sessions: Vec<AccountSession>,
}

#[server(endpoint = "account/my_account")]
pub async fn my_account() -> Result<Account, AppError> {
    server::account().await
}

/// Sets a new password (`new_password`, typed twice) after checking `current_password`, and
/// signs out every other session.
#[server(endpoint = "account/change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    server::change_password(current_password, new_password, confirm_password).await?;
    leptos_axum::redirect("/account?changed=password");
    Ok(())
}

/// Signs out one of your other sessions.
#[server(endpoint = "account/revoke_session")]
pub async fn revoke_session(session_id: String) -> Result<(), AppError> {
    server::revoke(&session_id).await?;
    leptos_axum::redirect("/account?changed=session");
    Ok(())
}

/// Signs out every session of yours but this one.
#[server(endpoint = "account/sign_out_others")]
pub async fn sign_out_others() -> Result<(), AppError> {
    server::sign_out_others().await?;
    leptos_axum::redirect("/account?changed=others");
    Ok(())
}

/// "Firefox on Linux" from a user agent; "Unknown device" when it names nothing known.
pub fn device(user_agent: &str) -> String {
    // Order matters: Edge and Opera say Chrome too, Chrome says Safari.
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(mark, _)| user_agent.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| user_agent.contains(mark))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => "Unknown device".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn devices_read_from_user_agents() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36", "Chrome on Android"),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
        ];
        for (ua, expected) in cases {
            assert_eq!(device(ua), expected, "{ua}");
        }
    }
}
