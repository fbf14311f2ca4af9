//! The audit log viewer (`/audit`): an org's admins read their org's log, superadmins the
//! platform's (events with no org, and any org's, deleted orgs' included). Filters by actor,
//! action, target, IP and date range; newest first, [`PAGE_SIZE`] a page, paged by time (the
//! cursor is the last event's id; its time keys the index, so a day deep in millions of rows is
//! as fast as the newest page: migration 26); CSV export, streamed (`GET /api/audit/orgs/{org_id}/export.csv`, and
//! `/api/audit/platform-export.csv` for superadmins). Each org's events form a hash chain
//! (migration 24) that `server audit verify` checks ([`chain`]).

#[cfg(feature = "ssr")]
pub mod chain;
mod page;
#[cfg(feature = "ssr")]
pub mod server;

use chrono::{DateTime, NaiveDate, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::AuditPage;

use crate::AppError;

/// Events a page.
pub const PAGE_SIZE: i64 = 50;

/// The view of the log a URL describes (`/audit?actor=&action=&target=&ip=&from=&to=&scope=&org=&before=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditQuery {
    /// Part of the actor's email or name.
    #[serde(default)]
    pub actor: String,
    /// An action (`invitation.create`) or its family (`invitation`).
    #[serde(default)]
    pub action: String,
    /// Part of the target.
    #[serde(default)]
    pub target: String,
    /// An IP address, exactly.
    #[serde(default)]
    pub ip: String,
    /// First day (UTC), `YYYY-MM-DD`.
    #[serde(default)]
    pub from: String,
    /// Last day (UTC), inclusive.
    #[serde(default)]
    pub to: String,
    /// `platform` for the platform's log (superadmins), else the org acted in.
    #[serde(default)]
    pub scope: String,
    /// In the platform's log: one org's id, or empty for events with no org.
    #[serde(default)]
    pub org: String,
    /// Events older than this id (the next page).
    #[serde(default)]
    pub before: String,
}

/// A query checked: the filters trimmed and bounded, the dates and the cursor parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive: the day after the last day asked for.
    pub to: Option<DateTime<Utc>>,
    pub before: Option<i64>,
}

fn bounded(text: &str) -> String {
    text.trim().chars().take(100).collect()
}

fn day(text: &str, field: &str) -> Result<Option<NaiveDate>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| AppError::field(field, "Enter a date as YYYY-MM-DD."))
}

impl AuditQuery {
    /// The filters, or field errors naming what is wrong.
    pub fn filters(&self) -> Result<Filters, AppError> {
        let from = day(&self.from, "from")?;
        let to = day(&self.to, "to")?;
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                return Err(AppError::field(
                    "to",
                    "The last day comes before the first.",
                ));
            }
        }
        let before = match self.before.trim() {
            "" => None,
            text => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| AppError::field("before", "Not a page of this log."))?,
            ),
        };
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        Ok(Filters {
            actor: bounded(&self.actor),
            action: bounded(&self.action),
            target: bounded(&self.target),
            ip: bounded(&self.ip),
            from: from.and_then(midnight),
            to: to.and_then(|d| d.succ_opt()).and_then(midnight),
            before,
        })
    }

    pub fn platform(&self) -> bool {
        self.scope == "platform"
    }

    /// The query string of this view (without `before` unless `page` is given).
    pub fn params(&self, before: Option<i64>) -> String {
        let mut params = Vec::new();
        for (key, value) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("ip", &self.ip),
            ("from", &self.from),
            ("to", &self.to),
            ("scope", &self.scope),
            ("org", &self.org),
        ] {
            if !value.trim().is_empty() {
                params.push(format!("{key}={}", crate::orgs::encode(value.trim())));
            }
        }
        if let Some(before) = before {
            params.push(format!("before={before}"));
        }
        params.join("&")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub actor_id: Option<String>,
    /// The actor's email, when the viewer may see the account.
    pub actor_email: Option<String>,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub user_agent: String,
    /// The event's details as JSON text.
    pub details: String,
    pub created_at: DateTime<Utc>,
    /// Its place in its chain (1, 2, 3 …).
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    pub query: AuditQuery,
    pub rows: Vec<AuditRow>,
    /// The cursor of the next (older) page, if there is one.
    pub older: Option<i64>,
    /// The org whose log this is (none: the platform's).
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    /// Whether the viewer may open the platform's log.
    pub superadmin: bool,
}

/// A page of the log of the org acted in (its admins, and superadmins).
#[server(endpoint = "audit/org_events")]
pub async fn org_events(#[server(default)] query: AuditQuery) -> Result<AuditLog, AppError> {
    server::org_events(query).await
}

/// A page of the platform's log (superadmins): events with no org, or one org's.
#[server(endpoint = "audit/platform_events")]
pub async fn platform_events(#[server(default)] query: AuditQuery) -> Result<AuditLog, AppError> {
    server::platform_events(query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_days_inclusively_and_name_bad_fields() {
        let q = AuditQuery {
            from: "2026-11-01".into(),
            to: "2026-11-02".into(),
            before: "42".into(),
            actor: format!("  {}  ", "a".repeat(300)),
            ..Default::default()
        };
        let f = q.filters().unwrap();
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(f.to.unwrap().to_rfc3339(), "2026-11-03T00:00:00+00:00");
        assert_eq!(f.before, Some(42));
        assert_eq!(f.actor.len(), 100);
        for (q, field) in [
            (
                AuditQuery {
                    from: "yesterday".into(),
                    ..Default::default()
                },
                "from",
            ),
            (
                AuditQuery {
                    to: "2026-13-01".into(),
                    ..Default::default()
                },
                "to",
            ),
            (
                AuditQuery {
                    from: "2026-11-02".into(),
                    to: "2026-11-01".into(),
                    ..Default::default()
                },
                "to",
            ),
            (
                AuditQuery {
                    before: "-1".into(),
                    ..Default::default()
                },
                "before",
            ),
            (
                AuditQuery {
                    before: "x".into(),
                    ..Default::default()
                },
                "before",
            ),
        ] {
            assert!(
                matches!(q.filters(), Err(AppError::Validation(ref f)) if f.contains_key(field)),
                "{q:?}"
            );
        }
    }
}
