//! The server side of knowledge: entries under the gate (the policies add the owner org's shared
//! entries to what an org reads), search ranked by `ts_rank_cd`, and search for agents.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Entry, EntryPage, PAGE_SIZE, VISIBILITIES};
use crate::{
    error::parse_uuid,
    tenancy::{
        access::{Level, Section},
        gate::Gate,
    },
    AppError,
};

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// Whether the org is the platform owner's.
async fn is_owner_org(conn: &mut PgConnection, org: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select platform.owner_org_id() is not distinct from $1 as "owner!""#,
        org
    )
    .fetch_one(conn)
    .await?)
}

/// Entries the org reads (its own, and shared ones of the owner org), newest first, or ranked
/// by a search. `viewer` sees their own private entries (nobody else's, admins included);
/// `None` (an agent) sees no private ones.
pub async fn search(
    conn: &mut PgConnection,
    org: Uuid,
    viewer: Option<Uuid>,
    q: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), AppError> {
    let query = (!q.trim().is_empty()).then(|| q.trim().to_string());
    let rows = sqlx::query!(
        r#"with q as (select websearch_to_tsquery('english', coalesce($3, '')) as tsq)
           select e.entry_id, e.org_id, e.title, e.body, e.tags, e.source, e.visibility,
                  e.shared, e.updated_at,
                  case when $3::text is null then null
                       else ts_headline('english', e.body, q.tsq,
                              'StartSel=[,StopSel=],MaxFragments=1,MaxWords=30,MinWords=10') end
                    as snippet,
                  case when $3::text is null then null else ts_rank_cd(e.search, q.tsq) end
                    as rank,
                  count(*) over () as "total!"
             from knowledge_entry e, q
            where (e.org_id = $1 or (e.shared and e.org_id = (select platform.owner_org_id())))
              and (e.visibility <> 'private' or (e.org_id = $1 and e.created_by = $2))
              and ($3::text is null or e.search @@ q.tsq)
            order by rank desc nulls last, e.updated_at desc, e.entry_id
            limit $4 offset $5"#,
        org,
        viewer,
        query,
        limit,
        offset
    )
    .fetch_all(conn)
    .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    Ok((
        rows.into_iter()
            .map(|r| Entry {
                read_only: r.org_id != org,
                id: r.entry_id.to_string(),
                title: r.title,
                body: r.body,
                tags: r.tags,
                source: r.source,
                visibility: r.visibility,
                shared: r.shared,
                updated_at: r.updated_at,
                snippet: r.snippet,
                rank: r.rank,
            })
            .collect(),
        total,
    ))
}

fn check_query(q: &str) -> Result<String, AppError> {
    let q = q.trim().to_string();
    let chars = q.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(AppError::field(
            "q",
            format!("Search with at most {MAX_QUERY_CHARS} characters (this has {chars})."),
        ));
    }
    Ok(q)
}

pub async fn list(q: String, page: i64) -> Result<EntryPage, AppError> {
    let mut tenant = Gate::open(super::ListEntries::PATH)?.tenant().await?;
    let q = check_query(&q)?;
    let page = crate::ui::clamp_page(page);
    let org = tenant.org_id;
    let viewer = Some(tenant.principal.user_id);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let (rows, matching) = search(tenant.conn(), org, viewer, &q, PAGE_SIZE, offset).await?;
    tenant.commit().await?;
    Ok(EntryPage {
        q,
        page,
        rows,
        matching,
    })
}

pub async fn get(entry_id: &str) -> Result<Entry, AppError> {
    let mut tenant = Gate::open(super::GetEntry::PATH)?.tenant().await?;
    let id = parse_uuid(entry_id, "entry_id", "an entry")?;
    let org = tenant.org_id;
    let me = tenant.principal.user_id;
    let row = sqlx::query!(
        "select entry_id, org_id, title, body, tags, source, visibility, shared, updated_at
           from knowledge_entry
          where entry_id = $1
            and (org_id = $2 or (shared and org_id = (select platform.owner_org_id())))
            and (visibility <> 'private' or (org_id = $2 and created_by = $3))",
        id,
        org,
        me
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The entry".to_string()))?;
    tenant.commit().await?;
    Ok(Entry {
        read_only: row.org_id != org,
        id: row.entry_id.to_string(),
        title: row.title,
        body: row.body,
        tags: row.tags,
        source: row.source,
        visibility: row.visibility,
        shared: row.shared,
        updated_at: row.updated_at,
        snippet: None,
        rank: None,
    })
}

/// The tags of a comma-separated list: trimmed, lower-cased, without repeats.
fn parse_tags(tags: &str, errors: &mut BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
    {
        if tag.chars().count() > 50 {
            errors.insert(
                "tags".to_string(),
                vec![format!(
                    "Tags have at most 50 characters; {tag:?} is longer."
                )],
            );
        } else if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > 20 {
        errors.insert("tags".to_string(), vec!["Use at most 20 tags.".to_string()]);
    }
    out
}

pub async fn save(
    entry_id: String,
    title: String,
    body: String,
    tags: String,
    source: String,
    visibility: String,
    shared: bool,
) -> Result<String, AppError> {
    let mut tenant = Gate::open(super::SaveEntry::PATH)?.tenant().await?;
    let org = tenant.org_id;
    let admin = tenant.may(Section::Knowledge, Level::Admin);
    let mut errors = BTreeMap::new();
    let title = title.trim().to_string();
    if title.is_empty() || title.chars().count() > 300 {
        errors.insert(
            "title".to_string(),
            vec!["Enter a title of at most 300 characters.".to_string()],
        );
    }
    let body_chars = body.chars().count();
    if body_chars > 100_000 {
        errors.insert(
            "body".to_string(),
            vec![format!(
                "Use at most 100000 characters (this has {body_chars})."
            )],
        );
    }
    let tags = parse_tags(&tags, &mut errors);
    let source = source.trim().to_string();
    if source.chars().count() > 500 {
        errors.insert(
            "source".to_string(),
            vec!["Use at most 500 characters.".to_string()],
        );
    }
    let visibility = visibility.trim().to_string();
    if !VISIBILITIES.iter().any(|(v, _)| *v == visibility) {
        errors.insert(
            "visibility".to_string(),
            vec!["Choose organization, team, public or private.".to_string()],
        );
    }
    if shared && !(admin && is_owner_org(tenant.conn(), org).await?) {
        errors.insert(
            "shared".to_string(),
            vec![
                "Only admins of the platform owner's organization share knowledge with every organization."
                    .to_string(),
            ],
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let me = tenant.principal.user_id;
    let id = if entry_id.trim().is_empty() {
        sqlx::query_scalar!(
            "insert into knowledge_entry
               (org_id, title, body, tags, source, visibility, shared, created_by)
             values ($1, $2, $3, $4, $5, $6, $7, $8) returning entry_id",
            org,
            title,
            body,
            &tags,
            source,
            visibility,
            shared,
            me
        )
        .fetch_one(tenant.conn())
        .await?
    } else {
        let id = parse_uuid(&entry_id, "entry_id", "an entry")?;
        match sqlx::query_scalar!(
            "update knowledge_entry
                set title = $3, body = $4, tags = $5, source = $6, visibility = $7, shared = $8,
                    updated_at = now()
              where entry_id = $1 and org_id = $2
                and (created_by = $9 or ($10 and visibility <> 'private'))
              returning entry_id",
            id,
            org,
            title,
            body,
            &tags,
            source,
            visibility,
            shared,
            me,
            admin
        )
        .fetch_optional(tenant.conn())
        .await?
        {
            Some(id) => id,
            None => return Err(not_editable(tenant.conn(), id, org, me).await),
        }
    };
    tenant
        .audit(
            "knowledge.save",
            &id.to_string(),
            json!({ "title": title, "shared": shared }),
        )
        .await?;
    tenant.commit().await?;
    Ok(id.to_string())
}

/// Why an entry the caller cannot write is out of reach: shared from the owner org, someone
/// else's (changed only by its author or an admin), or unknown (other people's private entries
/// are unknown to everyone else).
async fn not_editable(conn: &mut PgConnection, id: Uuid, org: Uuid, me: Uuid) -> AppError {
    let seen = sqlx::query!(
        "select org_id from knowledge_entry
          where entry_id = $1 and (visibility <> 'private' or created_by = $2)",
        id,
        me
    )
    .fetch_optional(conn)
    .await;
    match seen {
        Ok(Some(row)) if row.org_id != org => AppError::Forbidden(
            "Shared knowledge is edited only in the platform owner's organization.".to_string(),
        ),
        Ok(Some(_)) => AppError::Forbidden(
            "Only the entry's author or an admin of this organization can change it.".to_string(),
        ),
        Ok(None) => AppError::NotFound("The entry".to_string()),
        Err(e) => e.into(),
    }
}

pub async fn delete(entry_id: &str) -> Result<(), AppError> {
    let mut tenant = Gate::open(super::DeleteEntry::PATH)?.tenant().await?;
    let id = parse_uuid(entry_id, "entry_id", "an entry")?;
    let org = tenant.org_id;
    let me = tenant.principal.user_id;
    let admin = tenant.may(Section::Knowledge, Level::Admin);
    let deleted = sqlx::query!(
        "delete from knowledge_entry
          where entry_id = $1 and org_id = $2
            and (created_by = $3 or ($4 and visibility <> 'private'))",
        id,
        org,
        me,
        admin
    )
    .execute(tenant.conn())
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(not_editable(tenant.conn(), id, org, me).await);
    }
    tenant
        .audit("knowledge.delete", &id.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

pub async fn mark_platform_owner(org_id: &str) -> Result<(), AppError> {
    let platform = Gate::open(super::MarkPlatformOwner::PATH)?
        .platform()
        .await?;
    let org = parse_uuid(org_id, "org_id", "an organization")?;
    let mut tenant = platform.act_in(org).await?;
    sqlx::query!("select platform.mark_platform_owner($1)", org)
        .fetch_one(tenant.conn())
        .await?;
    tenant
        .audit("org.platform_owner", &org.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

/// An agent's search: its org's entries and the shared ones, private entries excluded.
pub async fn search_for_agent(
    conn: &mut PgConnection,
    org: Uuid,
    q: &str,
    limit: i64,
) -> Result<Vec<Entry>, AppError> {
    let q = check_query(q)?;
    if q.is_empty() {
        return Err(AppError::field("q", "Enter something to search for."));
    }
    Ok(search(conn, org, None, &q, limit.clamp(1, 50), 0).await?.0)
}
