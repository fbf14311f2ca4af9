//! The one error type shared by server functions and the browser.
//!
//! Variants are things a person can act on. Internal detail is logged on the server and never
//! serialised: the browser only ever sees the short sentence.

use std::collections::BTreeMap;

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthorized,
    /// The request itself is unusable, e.g. "conflicting organization context".
    #[error("{0}")]
    BadRequest(String),
    /// Signed in, but not allowed: says why ("organization disabled").
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} was not found.")]
    NotFound(String),
    /// Field name → what is wrong with it.
    #[error("Please correct the highlighted fields.")]
    Validation(BTreeMap<String, Vec<String>>),
    #[error("{0}")]
    Conflict(String),
    /// An allowance of the org's plan would be exceeded: says which, and how much is used.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("Too many attempts. Try again in {}.", wait_words(*retry_after_secs))]
    RateLimited { retry_after_secs: u64 },
    #[error("Something went wrong on our side. It has been logged; please try again.")]
    Internal,
    /// The server is overloaded for a moment (every database connection busy): try again.
    #[error("The server is busy; please try again in a moment.")]
    Busy,
    /// A service the request needs (a data store) is unreachable: says which, and that nothing
    /// was changed.
    #[error("{0}")]
    Unavailable(String),
    /// The request never reached the function or its answer could not be read.
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

/// An id argument, or a field error saying what it should have been ("This is not an agent id.").
#[cfg(feature = "ssr")]
pub fn parse_uuid(value: &str, field: &str, what: &str) -> Result<uuid::Uuid, AppError> {
    // Exactly an id: a stray newline or space would otherwise ride along into a redirect.
    uuid::Uuid::parse_str(value)
        .map_err(|_| AppError::field(field, format!("This is not {what} id.")))
}

impl AppError {
    /// A validation error for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(field.to_string(), vec![message.into()])]))
    }

    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Validation(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::RateLimited { .. } | Self::QuotaExceeded(_) => 429,
            Self::Internal => 500,
            Self::Busy | Self::Unavailable(_) => 503,
            Self::Transport(_) => 502,
        }
    }

    /// Logs the internal cause with its detail and returns the plain [`AppError::Internal`].
    #[cfg(feature = "ssr")]
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::Internal
    }
}

fn wait_words(secs: u64) -> String {
    match secs {
        0..=1 => "a second".to_string(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "a minute".to_string(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The server could not read what it was sent: the caller's request is at fault.
            ServerFnErrorErr::Args(msg)
            | ServerFnErrorErr::MissingArg(msg)
            | ServerFnErrorErr::UnsupportedRequestMethod(msg) => {
                Self::BadRequest(format!("The request could not be read: {msg}"))
            }
            other => Self::Transport(other.to_string()),
        }
    }
}

/// What a new org's name taken by another org is told.
pub const ORG_NAME_TAKEN: &str = "An organization with this name already exists.";

/// What each named constraint means to a person: the field it is about and what to do. One
/// message per constraint wherever it is hit; `?` on a database error makes the field error.
/// (Name every constraint in the migration; ones that need more than a field, such as a
/// limit with its number, are mapped where they are hit.)
#[cfg(feature = "ssr")]
const CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "app_user_email_key",
        "email",
        "An account with this email already exists.",
    ),
    (
        "app_user_bound_org_member",
        "bound_org_id",
        "A user can only be bound to an organization it belongs to.",
    ),
    (
        "agent_email_key",
        "email",
        "Another agent already has this email.",
    ),
    ("organization_name_key", "name", ORG_NAME_TAKEN),
    (
        "organization_primary_domain_key",
        "domain",
        "This domain is already used by another organization.",
    ),
    (
        "org_domain_org_domain_key",
        "domain",
        "This organization has already added this domain.",
    ),
    (
        "org_domain_verified_key",
        "domain",
        "Another organization has already verified this domain.",
    ),
    (
        "organization_slug_immutable",
        "slug",
        "The slug of an organization cannot be changed.",
    ),
    ("org_role_pkey", "role_name", "This role already exists."),
    (
        "guardrail_policy_org_id_name_key",
        "name",
        "Another policy of this organization has this name.",
    ),
];

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if let Some((_, field, message)) = err
            .as_database_error()
            .and_then(|db| db.constraint())
            .and_then(|name| CONSTRAINTS.iter().find(|(c, _, _)| *c == name))
        {
            return Self::field(field, *message);
        }
        match err {
            sqlx::Error::RowNotFound => Self::NotFound("The record".to_string()),
            // 42501: insufficient_privilege, which is how row-level security refuses a write.
            sqlx::Error::Database(ref e) if e.code().as_deref() == Some("42501") => {
                tracing::warn!(error = %err, "refused by the database");
                Self::Forbidden("You do not have access to this.".to_string())
            }
            // 22021/22P05: text PostgreSQL cannot store (a NUL from a JSON body, say); 22003: a
            // number out of range. The caller's input, not our fault, and no database words.
            sqlx::Error::Database(ref e)
                if matches!(e.code().as_deref(), Some("22021" | "22P05")) =>
            {
                Self::BadRequest(
                    "A text contains a character that cannot be stored (such as NUL); remove it."
                        .to_string(),
                )
            }
            sqlx::Error::Database(ref e) if e.code().as_deref() == Some("22003") => {
                Self::BadRequest("A number is out of range.".to_string())
            }
            // TQ001: an allowance trigger refused the write; its message is written for people.
            sqlx::Error::Database(ref e) if e.code().as_deref() == Some("TQ001") => {
                Self::QuotaExceeded(e.message().to_string())
            }
            sqlx::Error::PoolTimedOut => {
                tracing::warn!("every database connection is busy");
                Self::Busy
            }
            other => Self::internal("database error", other),
        }
    }
}
