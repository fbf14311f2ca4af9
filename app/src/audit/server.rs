use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, request::Parts, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use leptos::server_fn::ServerFn;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{AuditLog, AuditQuery, AuditRow, Filters, PAGE_SIZE};
use crate::{
    agents::api::ApiError,
    context::Services,
    tenancy::gate::{Gate, Platform, Tenant},
    AppError,
};

/// The CSV routes as [`crate::tenancy::access::NEEDS`] declares them.
pub const ORG_EXPORT: &str = "GET /api/audit/orgs/{org_id}/export.csv";
pub const PLATFORM_EXPORT: &str = "GET /api/audit/platform-export.csv";

/// Rows read at a time while exporting: the export's memory stays flat however long the log.
const EXPORT_BATCH: i64 = 1000;

/// How long one read of the log may take: a filter that matches almost nothing in a long log
/// ends with an error instead of holding a connection.
const READ_LIMIT: &str = "10s";

async fn limit_reads(conn: &mut PgConnection) -> Result<(), AppError> {
    sqlx::query!(
        r#"select set_config('statement_timeout', $1, true) as "set!""#,
        READ_LIMIT
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Up to `limit` of the org's events matching `f`, newest first.
async fn org_rows(
    conn: &mut PgConnection,
    org: Uuid,
    f: &Filters,
    limit: i64,
) -> Result<Vec<AuditRow>, AppError> {
    limit_reads(&mut *conn).await?;
    let rows = sqlx::query!(
        r#"select e.audit_event_id, e.org_id, e.actor_user_id, u.email as "actor_email?",
                  e.action, e.target, e.ip, e.user_agent, e.details, e.created_at, e.chain_seq
             from audit_event e
             left join app_user u on u.user_id = e.actor_user_id
            where e.org_id = $1
              and ($2::bigint is null
                   or (e.created_at, e.audit_event_id)
                      < (select b.created_at, b.audit_event_id from audit_event b
                          where b.org_id = $1 and b.audit_event_id = $2))
              and ($3 = '' or e.action = $3 or starts_with(e.action, $3 || '.'))
              and ($4 = '' or strpos(lower(e.target), lower($4)) > 0)
              and ($5 = '' or e.ip = $5)
              and ($6 = '' or strpos(lower(u.email), lower($6)) > 0
                   or strpos(lower(u.name), lower($6)) > 0)
              and ($7::timestamptz is null or e.created_at >= $7)
              and ($8::timestamptz is null or e.created_at < $8)
            order by e.created_at desc, e.audit_event_id desc
            limit $9"#,
        org,
        f.before,
        f.action,
        f.target,
        f.ip,
        f.actor,
        f.from,
        f.to,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRow {
            id: r.audit_event_id,
            org_id: r.org_id.map(|o| o.to_string()),
            org_name: None,
            actor_id: r.actor_user_id.map(|a| a.to_string()),
            actor_email: r.actor_email,
            action: r.action,
            target: r.target,
            ip: r.ip,
            user_agent: r.user_agent,
            details: r.details.to_string(),
            created_at: r.created_at,
            seq: r.chain_seq,
        })
        .collect())
}

/// Up to `limit` of the platform's events matching `f`: with no org, or `org`'s.
async fn platform_rows(
    platform: &Platform,
    org: Option<Uuid>,
    f: &Filters,
    limit: i64,
) -> Result<Vec<AuditRow>, AppError> {
    let mut tx = platform.begin().await?;
    limit_reads(&mut tx).await?;
    // The function checks again that the caller is a superadmin.
    sqlx::query!(
        r#"select set_config('app.user_id', $1::uuid::text, true) as "set!""#,
        platform.principal().user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let rows = sqlx::query!(
        r#"select audit_event_id as "id!", org_id, org_name, actor_user_id, actor_email,
                  action as "action!", target as "target!", ip as "ip!",
                  user_agent as "user_agent!", details as "details!",
                  created_at as "created_at!", chain_seq as "chain_seq!"
             from platform.audit_page($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        org,
        org.is_none(),
        f.actor,
        f.action,
        f.target,
        f.ip,
        f.from,
        f.to,
        f.before,
        limit as i32
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRow {
            id: r.id,
            org_id: r.org_id.map(|o| o.to_string()),
            org_name: r.org_name,
            actor_id: r.actor_user_id.map(|a| a.to_string()),
            actor_email: r.actor_email,
            action: r.action,
            target: r.target,
            ip: r.ip,
            user_agent: r.user_agent,
            details: r.details.to_string(),
            created_at: r.created_at,
            seq: r.chain_seq,
        })
        .collect())
}

/// A page from `limit + 1` rows: the rows, and the cursor of the next page if there is one.
fn paged(mut rows: Vec<AuditRow>) -> (Vec<AuditRow>, Option<i64>) {
    let older = (rows.len() as i64 > PAGE_SIZE).then(|| {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|r| r.id)
    });
    (rows, older.flatten())
}

fn platform_org(query: &AuditQuery) -> Result<Option<Uuid>, AppError> {
    match query.org.trim() {
        "" => Ok(None),
        id => crate::error::parse_uuid(id, "org", "an organization").map(Some),
    }
}

pub async fn org_events(query: AuditQuery) -> Result<AuditLog, AppError> {
    let filters = query.filters()?;
    let mut tenant = Gate::open(super::OrgEvents::PATH)?.tenant().await?;
    let org = tenant.org_id;
    let (rows, older) = paged(org_rows(tenant.conn(), org, &filters, PAGE_SIZE + 1).await?);
    let org_name = sqlx::query_scalar!("select name from organization where org_id = $1", org)
        .fetch_optional(tenant.conn())
        .await?;
    let superadmin = tenant.principal.superadmin;
    tenant.commit().await?;
    Ok(AuditLog {
        query,
        rows,
        older,
        org_id: Some(org.to_string()),
        org_name,
        superadmin,
    })
}

pub async fn platform_events(query: AuditQuery) -> Result<AuditLog, AppError> {
    let filters = query.filters()?;
    let org = platform_org(&query)?;
    let platform = Gate::open(super::PlatformEvents::PATH)?.platform().await?;
    let (rows, older) = paged(platform_rows(&platform, org, &filters, PAGE_SIZE + 1).await?);
    Ok(AuditLog {
        query,
        rows,
        older,
        org_id: None,
        org_name: None,
        superadmin: true,
    })
}

/// One CSV field: quoted when it must be, and a leading `= + - @` (a formula to a spreadsheet)
/// made plain text with a quote mark.
fn csv_field(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

const CSV_HEADER: &str =
    "id,time,org_id,org,actor_id,actor_email,action,target,ip,user_agent,details,chain_seq\n";

fn csv_rows(rows: &[AuditRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let fields = [
            r.id.to_string(),
            r.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.org_id.clone().unwrap_or_default(),
            r.org_name.clone().unwrap_or_default(),
            r.actor_id.clone().unwrap_or_default(),
            r.actor_email.clone().unwrap_or_default(),
            r.action.clone(),
            r.target.clone(),
            r.ip.clone(),
            r.user_agent.clone(),
            r.details.clone(),
            r.seq.to_string(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

fn csv_response(name: &str, body: Body) -> Response {
    let stamp: DateTime<Utc> = Utc::now();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{name}-audit-{}.csv\"",
                    stamp.format("%Y%m%d-%H%M%S")
                ),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// Exports streaming at once on this node, at most: each keeps a core busy formatting rows and
/// takes a connection per batch, so a burst of downloads must not crowd out the Admin App.
const MAX_EXPORTS: usize = 4;
static EXPORTS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_EXPORTS)));

/// A place among the running exports, held until the download ends (or is dropped).
fn export_slot() -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
    EXPORTS.clone().try_acquire_owned().map_err(|_| {
        AppError::Unavailable(format!(
            "{MAX_EXPORTS} audit exports are already running on this server; try again in a minute."
        ))
    })
}

/// Where an export is: the filters, the cursor, and whether it has ended; and its place among
/// the running exports.
struct Export<S> {
    source: Option<S>,
    filters: Filters,
    header: bool,
    done: bool,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

type Chunk = Result<String, std::io::Error>;

/// Streams the log as CSV in batches of [`EXPORT_BATCH`], each read after the last was sent.
/// `read` takes the source (a transaction, say) and gives it back with the batch.
fn stream<S, F, Fut>(
    source: S,
    filters: Filters,
    slot: tokio::sync::OwnedSemaphorePermit,
    read: F,
) -> Body
where
    S: Send + 'static,
    F: Fn(S, Filters) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = (S, Result<Vec<AuditRow>, AppError>)> + Send,
{
    let state = Export {
        source: Some(source),
        filters,
        header: true,
        done: false,
        _slot: slot,
    };
    // Fused: the body may be polled again after its end (a panic for a bare unfold).
    Body::from_stream(futures::StreamExt::fuse(futures::stream::unfold(
        state,
        move |mut s| async move {
            let source = s.source.take().filter(|_| !s.done)?;
            let (source, rows) = read(source, s.filters.clone()).await;
            s.source = Some(source);
            let rows = match rows {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(%err, "audit export stopped");
                    s.done = true;
                    return Some((Err(std::io::Error::other("the export stopped")), s));
                }
            };
            let mut chunk = if std::mem::take(&mut s.header) {
                CSV_HEADER.to_string()
            } else {
                String::new()
            };
            chunk.push_str(&csv_rows(&rows));
            s.done = (rows.len() as i64) < EXPORT_BATCH;
            s.filters.before = rows.last().map(|r| r.id).or(s.filters.before);
            Some((Ok::<_, std::io::Error>(chunk) as Chunk, s))
        },
    )))
}

/// `GET /api/audit/orgs/{org_id}/export.csv?…`: an org's log, as the viewer filters it.
pub async fn export_org(
    State(services): State<Services>,
    Path(org_id): Path<String>,
    Query(query): Query<AuditQuery>,
    parts: Parts,
) -> Response {
    let filters = match query.filters() {
        Ok(f) => f,
        Err(err) => return ApiError::from(err).into_response(),
    };
    // Refused before the first byte if the caller may not read this log.
    let first = match Gate::with(services.clone(), parts.clone(), ORG_EXPORT) {
        Ok(gate) => gate.tenant_in(&org_id).await,
        Err(err) => Err(err),
    };
    if let Err(err) = first {
        return ApiError::from(err).into_response();
    }
    drop(first);
    let slot = match export_slot() {
        Ok(slot) => slot,
        Err(err) => return ApiError::from(err).into_response(),
    };
    // Each batch is read in a short transaction of its own, through the gate again: a slow
    // download holds no connection between batches, and a session revoked meanwhile ends it.
    let source = (services, parts, org_id);
    csv_response(
        "org",
        stream(
            source,
            filters,
            slot,
            move |source: (Services, Parts, String), f| async move {
                let rows = async {
                    let (services, parts, org_id) = &source;
                    let mut tenant: Tenant =
                        Gate::with(services.clone(), parts.clone(), ORG_EXPORT)?
                            .tenant_in(org_id)
                            .await?;
                    let org = tenant.org_id;
                    let rows = org_rows(tenant.conn(), org, &f, EXPORT_BATCH).await?;
                    tenant.commit().await?;
                    Ok(rows)
                }
                .await;
                (source, rows)
            },
        ),
    )
}

/// `GET /api/audit/platform-export.csv?…`: the platform's log (superadmins).
pub async fn export_platform(
    State(services): State<Services>,
    Query(query): Query<AuditQuery>,
    parts: Parts,
) -> Response {
    let (filters, org) = match query.filters().and_then(|f| Ok((f, platform_org(&query)?))) {
        Ok(v) => v,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let platform = match Gate::with(services, parts, PLATFORM_EXPORT) {
        Ok(gate) => gate.platform().await,
        Err(err) => Err(err),
    };
    let platform = match platform {
        Ok(p) => p,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let slot = match export_slot() {
        Ok(slot) => slot,
        Err(err) => return ApiError::from(err).into_response(),
    };
    csv_response(
        "platform",
        stream(
            platform,
            filters,
            slot,
            move |platform: Platform, f| async move {
                let rows = platform_rows(&platform, org, &f, EXPORT_BATCH).await;
                (platform, rows)
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(1)"), "'@SUM(1)");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
