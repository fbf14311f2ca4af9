//! Making and removing one artifact inside the step's transaction, and recording it in the
//! ledger (`product_artifact`) in that same transaction: a step and its artifact commit
//! together or not at all.

use sqlx::PgConnection;
use uuid::Uuid;

use super::catalog::{entity_ddl, quoted, Artifact};
use crate::stores::{provision, Stores};

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Did {
    Done,
    /// The artifact was there already, with the same definition.
    Skipped,
}

/// Why a step failed: a sentence for the admin (database detail goes to the log only).
pub type Failure = String;

fn db_failure(what: &str, err: sqlx::Error) -> Failure {
    tracing::warn!(%err, what, "product step failed in the database");
    let db = err.as_database_error();
    match db.and_then(|e| e.code()) {
        Some(code) if code == "42501" => format!("{what}: not permitted"),
        // Our own refusals (allowances) are written for people.
        Some(code) if code.starts_with("TQ") => {
            format!("{what}: {}", db.map(|e| e.message()).unwrap_or_default())
        }
        Some(code) if code == "55P03" || code == "57014" => {
            format!("{what}: timed out waiting for the database (another session holds what it needs); retry")
        }
        _ => format!("{what}: the database refused it (see the server log)"),
    }
}

/// The ledger's row of an artifact: the product that made it, its definition, and the id of
/// the row it is.
struct Recorded {
    product: String,
    definition: serde_json::Value,
    ref_id: Option<Uuid>,
}

async fn recorded(
    conn: &mut PgConnection,
    org: Uuid,
    kind: &str,
    name: &str,
) -> Result<Option<Recorded>, Failure> {
    sqlx::query_as!(
        Recorded,
        "select product, definition, ref_id from product_artifact
          where org_id = $1 and kind = $2 and name = $3",
        org,
        kind,
        name
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_failure(&format!("{kind} {name}"), e))
}

/// Runs `statements` (built here from checked, quoted names) as the org's own role, the only
/// one that may change its schema, and returns to the runtime role.
async fn as_org_role(conn: &mut PgConnection, statements: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("select platform.enter_org_schema()")
        .fetch_one(&mut *conn)
        .await?;
    execute_batch(conn, format!("{statements};\nset local role none")).await
}

/// The org's dedicated schema (as `platform.org_schema_name`).
pub fn schema_of(org: Uuid) -> String {
    format!("org_{}", org.simple())
}

/// Makes `artifact` for `product` in the org the transaction is scoped to, unless it is there
/// with the same definition; records it in the ledger with `run_id`.
pub async fn create(
    conn: &mut PgConnection,
    stores: &Stores,
    org: Uuid,
    product: &str,
    run_id: Uuid,
    seq: i32,
    artifact: &Artifact,
) -> Result<Did, Failure> {
    let (kind, name, definition) = (artifact.kind(), artifact.name(), artifact.definition());
    let here = format!("{kind} {name}");
    let recorded = recorded(conn, org, kind, name).await?;
    if let Some(r) = &recorded {
        if r.product != product {
            return Err(format!(
                "{here} already belongs to the product {:?}",
                r.product
            ));
        }
        if r.definition != definition {
            return Err(format!("{here} exists with another definition"));
        }
        if exists(conn, org, artifact, r.ref_id).await? {
            return Ok(Did::Skipped);
        }
    }
    let ref_id = match artifact {
        // Outside PostgreSQL, so outside its transaction: made idempotently (again, after a
        // crash between making it and committing the step), then recorded with the step.
        Artifact::Store { name } => {
            let max_messages = stream_messages(conn, org)
                .await
                .map_err(|e| db_failure(&here, e))?;
            provision::make(stores, org, name, max_messages)
                .await
                .map_err(|e| format!("{here}: {e}"))?;
            None
        }
        _ => make(conn, org, product, artifact, &here).await?,
    };
    sqlx::query!(
        "insert into product_artifact (org_id, kind, name, product, definition, run_id, seq, ref_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (org_id, kind, name) do update
           set run_id = excluded.run_id, seq = excluded.seq, ref_id = excluded.ref_id",
        org,
        kind,
        name,
        product,
        definition,
        run_id,
        seq,
        ref_id
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| db_failure(&here, e))?;
    Ok(Did::Done)
}

/// How many events an org's stream keeps: one per KiB of its plan's storage allowance (at least
/// 10,000, at most 10 million); no plan, 1 million; a plan without a limit, 10 million. A count,
/// not bytes: JetStream reserves a stream's byte limit on the server up front, and the orgs'
/// allowances together would soon exceed any disk.
async fn stream_messages(conn: &mut PgConnection, org: Uuid) -> Result<i64, sqlx::Error> {
    let limit = sqlx::query_scalar!(
        r#"select p.max_storage_bytes from subscription s join plan p using (plan_name)
            where s.org_id = $1"#,
        org
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match limit {
        None => crate::stores::nats::DEFAULT_STREAM_MESSAGES,
        Some(None) => crate::stores::nats::MAX_STREAM_MESSAGES,
        Some(Some(bytes)) => (bytes / 1024).clamp(10_000, crate::stores::nats::MAX_STREAM_MESSAGES),
    })
}

/// Whether a recorded artifact is still there (someone may have removed it by hand).
async fn exists(
    conn: &mut PgConnection,
    org: Uuid,
    artifact: &Artifact,
    ref_id: Option<Uuid>,
) -> Result<bool, Failure> {
    let here = format!("{} {}", artifact.kind(), artifact.name());
    let found = match artifact {
        // Made again each time (idempotently): whether it is all still there, only making it
        // can tell (a user may be gone while its database is there).
        Artifact::Store { .. } => return Ok(false),
        Artifact::Entity(e) => {
            // The catalog, which anyone may read (the schema itself is the org role's).
            sqlx::query_scalar!(
                r#"select exists (select from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                   where n.nspname = $1 and c.relname = $2) as "found!""#,
                schema_of(org),
                e.name
            )
            .fetch_one(&mut *conn)
            .await
        }
        // A row: found by its key (skills, settings) or by the id it was made with.
        _ => {
            sqlx::query_scalar!(
                r#"select case $2
                     when 'skill' then exists (select from org_skill where org_id = $1 and name = $3)
                     when 'config' then exists (select from org_config where org_id = $1 and key = $3)
                     when 'guardrail' then exists (select from guardrail_policy
                                                    where org_id = $1 and policy_id = $4)
                     when 'knowledge' then exists (select from knowledge_entry
                                                    where org_id = $1 and entry_id = $4)
                     when 'agent' then exists (select from agent where org_id = $1 and agent_id = $4)
                     else false
                   end as "found!""#,
                org,
                artifact.kind(),
                artifact.name(),
                ref_id
            )
            .fetch_one(&mut *conn)
            .await
        }
    };
    found.map_err(|e| db_failure(&here, e))
}

/// Makes the artifact; returns the id of the row it is, if it is a row with an id.
async fn make(
    conn: &mut PgConnection,
    org: Uuid,
    product: &str,
    artifact: &Artifact,
    here: &str,
) -> Result<Option<Uuid>, Failure> {
    let fail = |e| db_failure(here, e);
    match artifact {
        Artifact::Store { .. } => Err(format!("{here}: made by provisioning, not here")),
        Artifact::Entity(e) => {
            let schema = schema_of(org);
            // The org's own role, the only one that may write in its schema.
            sqlx::query!("select platform.enter_org_schema()")
                .fetch_one(&mut *conn)
                .await
                .map_err(fail)?;
            let taken = sqlx::query_scalar!(
                r#"select to_regclass(format('%I.%I', $1::text, $2::text)) is not null as "taken!""#,
                schema,
                e.name
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
            if taken {
                return Err(format!(
                    "{here}: a table of that name is already in the organization's schema and was not made by this product; rename or drop it, then retry"
                ));
            }
            // One batch: the table, its indexes, and back to the runtime role.
            let mut batch = entity_ddl(&schema, e).join(";\n");
            batch.push_str(";\nset local role none");
            execute_batch(conn, batch).await.map_err(fail)?;
            Ok(None)
        }
        Artifact::Skill {
            name,
            description,
            definition,
        } => {
            let made = sqlx::query!(
                "insert into org_skill (org_id, name, product, description, definition)
                 values ($1, $2, $3, $4, $5) on conflict (org_id, name) do nothing",
                org,
                name,
                product,
                description,
                definition
            )
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
            taken_by_hand(made.rows_affected(), here)?;
            Ok(None)
        }
        Artifact::Config { name, value } => {
            let made = sqlx::query!(
                "insert into org_config (org_id, key, product, value) values ($1, $2, $3, $4)
                 on conflict (org_id, key) do nothing",
                org,
                name,
                product,
                value
            )
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
            taken_by_hand(made.rows_affected(), here)?;
            Ok(None)
        }
        Artifact::Guardrail {
            name,
            policy_kind,
            params,
        } => {
            let id = sqlx::query_scalar!(
                "insert into guardrail_policy (org_id, name, kind, params) values ($1, $2, $3, $4)
                 on conflict (org_id, name) do nothing returning policy_id",
                org,
                name,
                policy_kind,
                params
            )
            .fetch_optional(&mut *conn)
            .await
            .map_err(fail)?;
            taken_by_hand(id.is_some() as u64, here)?;
            Ok(id)
        }
        Artifact::Knowledge {
            title, body, tags, ..
        } => {
            let id = sqlx::query_scalar!(
                "insert into knowledge_entry (org_id, title, body, tags, source, visibility)
                 values ($1, $2, $3, $4, $5, 'organization') returning entry_id",
                org,
                title,
                body,
                tags,
                format!("product:{product}")
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
            Ok(Some(id))
        }
        Artifact::Agent { name, model } => {
            let room = sqlx::query!(
                r#"select used as "used!", quota from org_allowances($1) where resource = 'agents'"#,
                org
            )
            .fetch_optional(&mut *conn)
            .await
            .map_err(fail)?;
            if let Some(room) = room {
                if room.quota.is_some_and(|quota| room.used >= quota) {
                    return Err(format!(
                        "{here}: the plan allows {} agent(s) and the organization has {}; raise the plan's agent allowance or unassign an agent, then retry",
                        room.quota.unwrap_or_default(),
                        room.used
                    ));
                }
            }
            // Unique per org, product and agent name (hashed: names may differ only in case
            // or punctuation), and short enough for an address.
            let digest = {
                use sha2::Digest;
                let hash = sha2::Sha256::digest(format!("{org}/{product}/{name}"));
                hash.iter()
                    .take(10)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            };
            let email = format!(
                "{}-{digest}@products.tenantry.invalid",
                product.replace('_', "-")
            );
            let id = sqlx::query_scalar!(
                r#"select platform.create_agent($1, $2, $3, null) as "id!""#,
                name,
                email,
                model
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
            sqlx::query!("select platform.assign_agent($1)", id)
                .fetch_one(&mut *conn)
                .await
                .map_err(fail)?;
            Ok(Some(id))
        }
    }
}

/// Changes an artifact the product made into its definition in a new version (an upgrade's
/// `alter` step), and records the new definition in the ledger. One already at that definition
/// is skipped.
pub async fn alter(
    conn: &mut PgConnection,
    org: Uuid,
    product: &str,
    artifact: &Artifact,
) -> Result<Did, Failure> {
    let (kind, name, definition) = (artifact.kind(), artifact.name(), artifact.definition());
    let here = format!("{kind} {name}");
    let fail = |e| db_failure(&here, e);
    let Some(recorded) = recorded(conn, org, kind, name).await? else {
        return Err(format!(
            "{here}: this organization has no record of the product making it, so it cannot be upgraded; uninstall and install the product again"
        ));
    };
    if recorded.product != product {
        return Err(format!(
            "{here} belongs to the product {:?}",
            recorded.product
        ));
    }
    if recorded.definition == definition {
        return Ok(Did::Skipped);
    }
    let old: Artifact = serde_json::from_value(recorded.definition)
        .map_err(|e| format!("{here}: its recorded definition cannot be read ({e})"))?;
    // Rows are changed only while they are still as the product made them: an admin's own
    // edit of a policy, an entry, a skill or a setting is kept (the step reads "skipped").
    let changed = match (&old, artifact) {
        (Artifact::Entity(old), Artifact::Entity(new)) => {
            let statements = super::catalog::entity_alter_ddl(&schema_of(org), old, new)
                .map_err(|why| format!("{here}: {why}"))?;
            as_org_role(conn, &statements.join(";\n"))
                .await
                .map_err(fail)?;
            1
        }
        (
            Artifact::Skill {
                description: was,
                definition: was_definition,
                ..
            },
            Artifact::Skill {
                description,
                definition,
                ..
            },
        ) => sqlx::query!(
            "update org_skill set description = $3, definition = $4
              where org_id = $1 and name = $2 and description = $5 and definition = $6",
            org,
            name,
            description,
            definition,
            was,
            was_definition
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        (Artifact::Config { value: was, .. }, Artifact::Config { value, .. }) => sqlx::query!(
            "update org_config set value = $3 where org_id = $1 and key = $2 and value = $4",
            org,
            name,
            value,
            was
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        (
            Artifact::Guardrail {
                policy_kind: was_kind,
                params: was_params,
                ..
            },
            Artifact::Guardrail {
                policy_kind,
                params,
                ..
            },
        ) => sqlx::query!(
            "update guardrail_policy set kind = $3, params = $4
              where org_id = $1 and policy_id = $2 and kind = $5 and params = $6",
            org,
            recorded.ref_id,
            policy_kind,
            params,
            was_kind,
            was_params
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        (
            Artifact::Knowledge {
                title: was_title,
                body: was_body,
                tags: was_tags,
                ..
            },
            Artifact::Knowledge {
                title, body, tags, ..
            },
        ) => sqlx::query!(
            "update knowledge_entry set title = $3, body = $4, tags = $5
              where org_id = $1 and entry_id = $2 and title = $6 and body = $7 and tags = $8",
            org,
            recorded.ref_id,
            title,
            body,
            tags,
            was_title,
            was_body,
            was_tags
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        (_, Artifact::Agent { .. }) => {
            return Err(format!(
                "{here}: an upgrade does not change an agent (its keys and usage are the platform's); give the new version's agent a new name"
            ))
        }
        _ => return Err(format!("{here}: its recorded definition is of another kind")),
    };
    let did = match changed {
        0 if exists(conn, org, artifact, recorded.ref_id).await? => Did::Skipped,
        0 => {
            return Err(format!(
                "{here}: it was removed by hand since the product made it; uninstall and install the product again"
            ))
        }
        _ => Did::Done,
    };
    sqlx::query!(
        "update product_artifact set definition = $4 where org_id = $1 and kind = $2 and name = $3",
        org,
        kind,
        name,
        definition
    )
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    Ok(did)
}

/// An insert that did nothing: the row is there, made by someone else.
fn taken_by_hand(inserted: u64, here: &str) -> Result<(), Failure> {
    if inserted == 0 {
        return Err(format!(
            "{here}: one of that name already exists in the organization and was not made by this product; rename or remove it, then retry"
        ));
    }
    Ok(())
}

/// Removes a recorded artifact and its ledger row; one that is gone already is skipped.
pub async fn remove(
    conn: &mut PgConnection,
    stores: &Stores,
    org: Uuid,
    kind: &str,
    name: &str,
) -> Result<Did, Failure> {
    let here = format!("{kind} {name}");
    let fail = |e| db_failure(&here, e);
    let Some(r) = recorded(conn, org, kind, name).await? else {
        return Ok(Did::Skipped);
    };
    let removed = match kind {
        "entity" => {
            let drop = format!(
                "drop table if exists {}.{}",
                quoted(&schema_of(org)),
                quoted(name)
            );
            as_org_role(conn, &drop).await.map_err(fail)?;
            1
        }
        "skill" => sqlx::query!(
            "delete from org_skill where org_id = $1 and name = $2",
            org,
            name
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        "config" => sqlx::query!(
            "delete from org_config where org_id = $1 and key = $2",
            org,
            name
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        "guardrail" => sqlx::query!(
            "delete from guardrail_policy where org_id = $1 and policy_id = $2",
            org,
            r.ref_id
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        "knowledge" => sqlx::query!(
            "delete from knowledge_entry where org_id = $1 and entry_id = $2",
            org,
            r.ref_id
        )
        .execute(&mut *conn)
        .await
        .map_err(fail)?
        .rows_affected(),
        // Assigned here still, or unassigned by hand since: either way it leaves with the
        // product.
        "agent" => {
            let gone = sqlx::query_scalar!(
                r#"select platform.delete_unassigned_agent($1) as "gone!""#,
                r.ref_id
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
            gone as u64
        }
        "store" => {
            provision::remove(stores, org, name)
                .await
                .map_err(|e| format!("{here}: {e}"))?;
            1
        }
        _ => return Err(format!("{here}: unknown kind of artifact")),
    };
    sqlx::query!(
        "delete from product_artifact where org_id = $1 and kind = $2 and name = $3",
        org,
        kind,
        name
    )
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    Ok(if removed > 0 { Did::Done } else { Did::Skipped })
}

/// Runs statements built here (quoted, checked names) as one batch.
async fn execute_batch(conn: &mut PgConnection, batch: String) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute(sqlx::raw_sql(&batch)).await?;
    Ok(())
}

/// The rows in each of the product's tables that exist: what an uninstall would delete.
pub async fn table_rows(
    conn: &mut PgConnection,
    org: Uuid,
    tables: &[String],
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let schema = schema_of(org);
    // As the org's role: only it may look names up in the org's schema.
    sqlx::query!("select platform.enter_org_schema()")
        .fetch_one(&mut *conn)
        .await?;
    let present = sqlx::query_scalar!(
        r#"select t as "t!" from unnest($1::text[]) t
            where to_regclass(format('%I.%I', $2::text, t)) is not null"#,
        tables,
        schema
    )
    .fetch_all(&mut *conn)
    .await?;
    let present: Vec<String> = present
        .into_iter()
        .filter(|t| super::catalog::plain_name(t))
        .collect();
    if present.is_empty() {
        execute_batch(conn, "set local role none".to_string()).await?;
        return Ok(Vec::new());
    }
    let counts = present
        .iter()
        .map(|t| {
            format!(
                "select '{t}'::text, count(*) from {}.{}",
                quoted(&schema),
                quoted(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" union all ");
    let rows: Vec<(String, i64)> = sqlx::query_as(&counts).fetch_all(&mut *conn).await?;
    execute_batch(conn, "set local role none".to_string()).await?;
    Ok(rows)
}
