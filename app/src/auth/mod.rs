//! Sign-in, sign-out, registration, the first superadmin, and switching the active org.
//!
//! Email and password (argon2id), a session row per sign-in (revocable; checked by the gate on
//! every request), and a short-lived HS256 token carrying it: in an HttpOnly cookie for browsers,
//! as Bearer for API clients.

mod pages;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod rate_limit;
#[cfg(feature = "ssr")]
mod session;
#[cfg(feature = "ssr")]
pub mod token;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use pages::{submission_error, RegisterPage, SetupPage, SignInPage, SignOutButton};
pub(crate) use pages::{AuthCard, BUTTON as AUTH_BUTTON};
#[cfg(feature = "ssr")]
pub use password::check_new as password_problem;
#[cfg(feature = "ssr")]
pub use session::{
    current_with as session_for_request, email_problem, insert_user as session_insert_user,
    set_cookie, sign_in_new, sign_in_with, switch_org_with, switch_to_joined_org,
    validate_new_user,
};

/// The shortest password we accept.
pub const MIN_PASSWORD_LEN: usize = 10;

use crate::AppError;

/// An organization as the switcher and headers show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    pub id: String,
    pub number: i64,
    pub name: String,
    pub slug: String,
    pub active: bool,
    /// The viewer's role in it; `None` for a superadmin who is not a member.
    pub role: Option<String>,
}

impl OrgSummary {
    /// `ORG{n}`, the number people quote.
    pub fn label(&self) -> String {
        format!("ORG{}", self.number)
    }
}

/// Who is signed in and where they are acting, for the header and the switcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub superadmin: bool,
    /// A client user locked to one org: the switcher shows "Locked".
    pub locked: bool,
    pub active_org: Option<OrgSummary>,
    /// The orgs the switcher offers (all of them for a superadmin, up to a limit).
    pub orgs: Vec<OrgSummary>,
    /// The Admin App sections this user may open in the active org; navigation shows only
    /// these (the server checks them again on every call).
    pub pages: Vec<String>,
}

/// The session a page renders with, read by the server's page guard before the page renders
/// (put into the request's extensions) and carried to the browser in the page
/// ([`page_session`]). The frame then needs no `Suspense` around the pages: under one, Leptos
/// builds the pages again each time the boundary re-checks its pending reads, and every build
/// fetched the page's data again (31 statements for an org's detail view became 43 under load).
#[derive(Debug, Clone)]
pub struct PageSession(pub Result<Option<SessionInfo>, AppError>);

/// The session the server read for this page; `None` when there is none to hand (in the
/// browser, outside hydration: the frame then asks the server).
pub fn page_session() -> Option<Result<Option<SessionInfo>, AppError>> {
    #[cfg(feature = "ssr")]
    {
        use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<PageSession>().map(|s| s.0.clone()))
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// The signed-in user, or `None` for a visitor (an invalid or revoked token included).
#[server(endpoint = "auth/current_session")]
pub async fn current_session() -> Result<Option<SessionInfo>, AppError> {
    session::current().await
}

/// Signs in and lands on `next` (a path on this site), or the overview.
#[server(endpoint = "auth/sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    #[server(default)] next: Option<String>,
) -> Result<(), AppError> {
    session::sign_in(email, password).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends this session (revoked in the database, so a copied token dies too).
#[server(endpoint = "auth/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    session::sign_out().await?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// Makes `org_id` the active org, if the caller may act in it, re-issues the token, and lands on
/// `next` (a path on this site) or the overview.
#[server(endpoint = "auth/switch_org")]
pub async fn switch_org(
    org_id: String,
    #[server(default)] next: Option<String>,
) -> Result<(), AppError> {
    session::switch_org(&org_id).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Self-registration (when enabled): a user and a personal organization it owns.
#[server(endpoint = "auth/register")]
pub async fn register(
    name: String,
    email: String,
    password: String,
    organization: String,
) -> Result<(), AppError> {
    session::register(name, email, password, organization).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Whether self-registration is open (the sign-in page links to it only then).
#[server(endpoint = "auth/registration_open")]
pub async fn registration_open() -> Result<bool, AppError> {
    Ok(crate::context::services()?.allow_registration)
}

/// The first superadmin, through the one-time setup path `serve` printed.
#[server(endpoint = "auth/create_first_superadmin")]
pub async fn create_first_superadmin(
    token: String,
    name: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    session::create_first_superadmin(token, name, email, password).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Only paths on this site: never another origin (`//evil`, `https://…`), and nothing a
/// browser might read differently from us: a control character or whitespace (browsers drop
/// a tab, so `/\t/evil` would become `//evil`), a backslash, or anything but printable ASCII
/// (percent-encode the rest).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}
