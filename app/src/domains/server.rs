use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use chrono::{DateTime, Utc};
use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    dns::Txt, record_name, Domain, DomainConflict, DomainList, FAIL_AFTER_DAYS, MAX_DOMAINS,
};
use crate::{
    context::Services,
    error::parse_uuid,
    tenancy::{
        access::{Level, Section},
        gate::{lookup, shutting_down, system_scope, Gate},
        host::{self, HostError, HostTarget},
    },
    AppError,
};

/// How often each node looks for pending claims to check, and how long a claim rests between
/// two background checks.
const CHECK_EVERY: Duration = Duration::from_secs(60);
const RECHECK_AFTER_SECS: i32 = 300;
/// Claims checked per round, per node.
const CHECK_BATCH: i32 = 20;
/// The longest a lookup may take, CNAMEs followed included.
const LOOKUP_LIMIT: Duration = Duration::from_secs(6);
/// Daily checks in a row that miss a verified domain's record before it fails.
const RECHECK_MISSES: i32 = 7;
/// An admin's "Check now" waits this long after the claim's last check.
const CHECK_PAUSE_SECS: i64 = 5;

/// A claim's token: the TXT record's value (128 random bits).
fn new_token() -> String {
    let mut secret = [0u8; 16];
    OsRng.fill_bytes(&mut secret);
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    format!("tenantry-verify-{hex}")
}

/// Top-level names no public domain can have (special-use names, RFC 6761 and 6762).
const RESERVED_TLDS: [&str; 6] = ["localhost", "local", "internal", "arpa", "invalid", "onion"];

/// `input` as a domain an org may claim (lowercase, no trailing dot), or what is wrong with it.
/// Shared with the org's primary domain field.
pub(crate) fn claimable(input: &str, base_domain: &str) -> Result<String, String> {
    let input = input.trim();
    if input.contains(':') || input.contains('/') {
        return Err(
            "Enter a domain name only, like example.com (no scheme, port or path).".to_string(),
        );
    }
    let name = match host::classify(input, base_domain) {
        Ok(HostTarget::Custom(name)) if name.contains('.') => name,
        Ok(HostTarget::Custom(_)) => return Err("Enter a full domain, like example.com.".to_string()),
        Ok(HostTarget::Platform) if input.parse::<std::net::IpAddr>().is_ok() => {
            return Err("Enter a domain name, not an IP address.".to_string())
        }
        Ok(_) | Err(HostError::NestedSubdomain) => {
            return Err(format!(
                "Domains under {base_domain} are assigned by the platform; enter the organization's own domain."
            ))
        }
        Err(HostError::NotAscii) => {
            return Err(
                "This is not a valid domain: enter an internationalised name in its xn-- form."
                    .to_string(),
            )
        }
        Err(HostError::Invalid(why)) => return Err(format!("This is not a valid domain: {why}.")),
        Err(_) => return Err("This is not a valid domain.".to_string()),
    };
    let tld = name.rsplit('.').next().unwrap_or_default();
    if tld.bytes().all(|b| b.is_ascii_digit()) || RESERVED_TLDS.contains(&tld) {
        return Err(format!(
            "This is not a public domain (.{tld}); enter one people can reach."
        ));
    }
    // Its TXT record's name must fit in a DNS name too.
    if record_name(&name).len() > 253 {
        return Err("This domain is too long to verify (at most 233 characters).".to_string());
    }
    Ok(name)
}

struct DomainRow {
    domain_id: Uuid,
    domain: String,
    status: String,
    token: String,
    created_at: DateTime<Utc>,
    checked_at: Option<DateTime<Utc>>,
    check_result: Option<String>,
    verified_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Self {
        Domain {
            id: r.domain_id.to_string(),
            domain: r.domain,
            status: r.status,
            token: r.token,
            created_at: r.created_at,
            checked_at: r.checked_at,
            check_result: r.check_result,
            verified_at: r.verified_at,
            failed_at: r.failed_at,
        }
    }
}

pub async fn list(org_id: &str) -> Result<DomainList, AppError> {
    let gate = Gate::open(super::ListDomains::PATH)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let rows = sqlx::query_as!(
        DomainRow,
        "select domain_id, domain, status, token, created_at, checked_at, check_result,
                verified_at, failed_at
           from org_domain where org_id = $1
          order by domain",
        org
    )
    .fetch_all(tenant.conn())
    .await?;
    let primary = sqlx::query_scalar!(
        "select primary_domain from organization where org_id = $1",
        org
    )
    .fetch_optional(tenant.conn())
    .await?
    .flatten();
    let can_manage = tenant.may(Section::Organizations, Level::Admin);
    tenant.commit().await?;
    let domains: Vec<Domain> = rows.into_iter().map(Domain::from).collect();
    let primary_domain = primary
        .and_then(|p| claimable(&p, &gate.services().base_domain).ok())
        .filter(|p| !domains.iter().any(|d| d.domain == *p));
    Ok(DomainList {
        domains,
        can_manage,
        primary_domain,
    })
}

pub async fn add(org_id: &str, domain: &str) -> Result<Domain, AppError> {
    let gate = Gate::open(super::AddDomain::PATH)?;
    if domain.trim().is_empty() {
        return Err(AppError::field(
            "domain",
            "Enter a domain, like assistant.example.com.",
        ));
    }
    let domain = claimable(domain, &gate.services().base_domain)
        .map_err(|why| AppError::field("domain", why))?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    // One add at a time per org, so the limit holds against concurrent adds.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('org_domain.add:' || $1::uuid::text, 0))",
        org
    )
    .execute(tenant.conn())
    .await?;
    let claimed = sqlx::query_scalar!(
        r#"select count(*) as "n!" from org_domain where org_id = $1"#,
        org
    )
    .fetch_one(tenant.conn())
    .await?;
    if claimed >= MAX_DOMAINS {
        return Err(AppError::field(
            "domain",
            format!("An organization can add up to {MAX_DOMAINS} domains. Remove one first."),
        ));
    }
    if verified_elsewhere(tenant.conn(), &domain, org).await? {
        return Err(AppError::field(
            "domain",
            "Another organization has already verified this domain.",
        ));
    }
    let row = sqlx::query_as!(
        DomainRow,
        "insert into org_domain (org_id, domain, token, created_by) values ($1, $2, $3, $4)
         returning domain_id, domain, status, token, created_at, checked_at, check_result,
                   verified_at, failed_at",
        org,
        domain,
        new_token(),
        tenant.principal.user_id
    )
    .fetch_one(tenant.conn())
    .await?;
    tenant
        .audit(
            "domain.add",
            &domain,
            json!({ "domain_id": row.domain_id, "record": record_name(&domain) }),
        )
        .await?;
    tenant.commit().await?;
    Ok(row.into())
}

/// Whether an org other than `org` has verified `domain`.
async fn verified_elsewhere(
    conn: &mut PgConnection,
    domain: &str,
    org: Uuid,
) -> Result<bool, AppError> {
    let owners = sqlx::query_scalar!(
        r#"select org_id as "org_id!" from platform.org_by_domain($1)"#,
        domain
    )
    .fetch_all(conn)
    .await?;
    Ok(owners.iter().any(|o| *o != org))
}

/// A claim's row; with `lock`, locked until the transaction ends (briefly: never across a
/// lookup).
async fn claim_row(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<DomainRow>, AppError> {
    let row = if lock {
        sqlx::query_as!(
            DomainRow,
            "select domain_id, domain, status, token, created_at, checked_at, check_result,
                    verified_at, failed_at
               from org_domain where org_id = $1 and domain_id = $2
                for update",
            org,
            id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            DomainRow,
            "select domain_id, domain, status, token, created_at, checked_at, check_result,
                    verified_at, failed_at
               from org_domain where org_id = $1 and domain_id = $2",
            org,
            id
        )
        .fetch_optional(conn)
        .await?
    };
    Ok(row)
}

/// Whether a lookup found `token` among the record's values.
fn holds_token(txt: &Txt, token: &str) -> bool {
    matches!(txt, Txt::Found(values) if values.iter().any(|v| v.trim() == token))
}

/// What a lookup means for a claim: its next status and the words the admin reads.
fn judge(row: &DomainRow, txt: &Txt, taken: bool, now: DateTime<Utc>) -> (&'static str, String) {
    let name = record_name(&row.domain);
    let finding = match txt {
        txt if holds_token(txt, &row.token) => {
            if taken {
                "The TXT record holds the token, but another organization verified this domain first.".to_string()
            } else {
                return ("verified", format!("Verified: {name} holds the token."));
            }
        }
        Txt::Found(_) => {
            format!("A TXT record is at {name}, but it does not hold this domain's token.")
        }
        Txt::None => format!("No TXT record at {name} yet."),
        Txt::Failed(why) => format!("The DNS lookup failed: {why}."),
    };
    let expired = now >= row.created_at + chrono::Duration::days(FAIL_AFTER_DAYS);
    match row.status.as_str() {
        "failed" => ("failed", finding),
        _ if expired => (
            "failed",
            format!("{finding} Not proven within {FAIL_AFTER_DAYS} days."),
        ),
        _ => ("pending", finding),
    }
}

/// The claim's TXT record, asked with no transaction open and within [`LOOKUP_LIMIT`] in all
/// (a resolver may follow CNAMEs, each with its own timeout).
async fn look_up(services: &Services, domain: &str) -> Txt {
    tokio::time::timeout(LOOKUP_LIMIT, services.dns.txt(&record_name(domain)))
        .await
        .unwrap_or_else(|_| Txt::Failed("the nameserver did not answer in time".to_string()))
}

/// Stores what the lookup found for `row` (locked in `conn`); the new status and the words.
async fn store(
    conn: &mut PgConnection,
    org: Uuid,
    row: &DomainRow,
    txt: &Txt,
) -> Result<(&'static str, String), AppError> {
    let taken = verified_elsewhere(&mut *conn, &row.domain, org).await?;
    let now: DateTime<Utc> = sqlx::query_scalar!(r#"select now() as "now!""#)
        .fetch_one(&mut *conn)
        .await?;
    let (status, result) = judge(row, txt, taken, now);
    sqlx::query!(
        "update org_domain
            set status = $3, checked_at = now(), check_result = $4, check_lease_until = null, recheck_failures = 0,
                verified_at = case when $3 = 'verified' then now() end,
                failed_at = case when $3 = 'failed' then coalesce(failed_at, now()) end
          where org_id = $1 and domain_id = $2",
        org,
        row.domain_id,
        status,
        result
    )
    .execute(&mut *conn)
    .await?;
    Ok((status, result))
}

/// Whether the claim changed in a way that makes a lookup made for `before` meaningless.
fn changed(before: &DomainRow, now: &DomainRow) -> bool {
    now.status == "verified" || now.token != before.token || now.domain != before.domain
}

pub async fn check_now(org_id: &str, domain_id: &str) -> Result<Domain, AppError> {
    let gate = Gate::open(super::CheckDomain::PATH)?;
    let id = parse_uuid(domain_id, "domain_id", "a domain")?;
    let not_found = || AppError::NotFound("Domain".to_string());
    // Read, look up with nothing held (the lookup may take seconds), then store.
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let row = claim_row(tenant.conn(), org, id, false)
        .await?
        .ok_or_else(not_found)?;
    tenant.commit().await?;
    if row.status == "verified" {
        return Err(AppError::Conflict(format!(
            "{} is already verified.",
            row.domain
        )));
    }
    if row
        .checked_at
        .is_some_and(|at| Utc::now() - at < chrono::Duration::seconds(CHECK_PAUSE_SECS))
    {
        return Err(AppError::Conflict(format!(
            "{} was checked a moment ago. Wait a few seconds before checking again.",
            row.domain
        )));
    }
    let txt = look_up(gate.services(), &row.domain).await;
    let mut tenant = gate.tenant_in(org_id).await?;
    let current = claim_row(tenant.conn(), org, id, true)
        .await?
        .ok_or_else(not_found)?;
    if changed(&row, &current) {
        return Err(AppError::Conflict(format!(
            "{} changed while it was being checked; see its state below.",
            row.domain
        )));
    }
    let (status, result) = store(tenant.conn(), org, &current, &txt).await?;
    let action = if status == "verified" {
        "domain.verify"
    } else {
        "domain.check"
    };
    tenant
        .audit(
            action,
            &row.domain,
            json!({ "domain_id": id, "status": status, "result": result }),
        )
        .await?;
    let row = claim_row(tenant.conn(), org, id, false)
        .await?
        .ok_or_else(not_found)?;
    tenant.commit().await?;
    Ok(row.into())
}

pub async fn remove(org_id: &str, domain_id: &str) -> Result<(), AppError> {
    let gate = Gate::open(super::RemoveDomain::PATH)?;
    let id = parse_uuid(domain_id, "domain_id", "a domain")?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let removed = sqlx::query!(
        "delete from org_domain where org_id = $1 and domain_id = $2 returning domain, status",
        org,
        id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("Domain".to_string()))?;
    tenant
        .audit(
            "domain.remove",
            &removed.domain,
            json!({ "domain_id": id, "status": removed.status }),
        )
        .await?;
    tenant.commit().await
}

/// One background round: checks claims that are due, each in its org's own scope, one at a
/// time; a claim that fails is logged and the round goes on. Status changes are audited (no
/// person acted); a check that changes nothing but the time of the check is bookkeeping, like
/// a key's last use, and is not.
pub async fn check_due(services: &Services) -> Result<usize, AppError> {
    let due = sqlx::query!(
        r#"select org_id as "org_id!", domain_id as "domain_id!"
             from platform.domains_due($1, $2)"#,
        RECHECK_AFTER_SECS,
        CHECK_BATCH
    )
    .fetch_all(lookup(services).pool())
    .await?;
    let mut checked = 0;
    for claim in due {
        match check_one(services, claim.org_id, claim.domain_id).await {
            Ok(true) => checked += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(
                org = %claim.org_id, domain_id = %claim.domain_id, error = %e,
                "checking a pending domain failed; it is tried again next round"
            ),
        }
    }
    Ok(checked)
}

/// Checks one due claim, unless another node (or an admin) checked it meanwhile.
async fn check_one(services: &Services, org: Uuid, id: Uuid) -> Result<bool, AppError> {
    let mut tx = system_scope(services, org, "domains").await?;
    let row = claim_row(&mut tx, org, id, false).await?;
    tx.commit().await?;
    let Some(row) = row.filter(|r| r.status == "pending" || r.status == "verified") else {
        return Ok(false);
    };
    let txt = look_up(services, &row.domain).await;
    let mut tx = system_scope(services, org, "domains").await?;
    let Some(current) = claim_row(&mut tx, org, id, true).await? else {
        return Ok(false);
    };
    let moved = current.status != row.status
        || current.token != row.token
        || current.checked_at != row.checked_at;
    if moved {
        return Ok(false);
    }
    let (status, result) = if row.status == "verified" {
        recheck(&mut tx, org, &current, &txt).await?
    } else {
        store(&mut tx, org, &current, &txt).await?
    };
    if status != row.status {
        sqlx::query!(
            "insert into audit_event (org_id, action, target, details) values ($1, $2, $3, $4)",
            org,
            if status == "verified" {
                "domain.verify"
            } else {
                "domain.fail"
            },
            row.domain,
            json!({ "domain_id": row.domain_id, "result": result, "by": "background check" })
        )
        .execute(&mut *tx)
        .await?;
        tracing::info!(org = %org, domain = %row.domain, status, "domain claim changed");
    }
    tx.commit().await?;
    Ok(true)
}

/// The daily check of a verified domain: its record still holds the token (the count of
/// misses starts again), the lookup failed (nothing counts), or the record is gone: a miss, and
/// after [`RECHECK_MISSES`] in a row the domain fails and stops routing.
async fn recheck(
    conn: &mut PgConnection,
    org: Uuid,
    row: &DomainRow,
    txt: &Txt,
) -> Result<(&'static str, String), AppError> {
    let name = record_name(&row.domain);
    let (misses, result) = match txt {
        txt if holds_token(txt, &row.token) => {
            (0, format!("Still verified: {name} holds the token."))
        }
        Txt::Failed(why) => {
            let result = format!(
                "The daily check could not ask the nameserver ({why}); the domain stays verified."
            );
            sqlx::query!(
                "update org_domain set checked_at = now(), check_result = $3, check_lease_until = null
                  where org_id = $1 and domain_id = $2",
                org,
                row.domain_id,
                result
            )
            .execute(&mut *conn)
            .await?;
            return Ok(("verified", result));
        }
        _ => {
            let misses = sqlx::query_scalar!(
                "select recheck_failures + 1 from org_domain where org_id = $1 and domain_id = $2",
                org,
                row.domain_id
            )
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(1);
            (
                misses,
                if misses >= RECHECK_MISSES {
                    format!("The TXT record at {name} no longer holds the token ({RECHECK_MISSES} daily checks in a row): the domain stopped routing. Publish the record again and check it.")
                } else {
                    format!("The TXT record at {name} no longer holds the token ({misses} of {RECHECK_MISSES} daily checks): keep it published, or the domain stops routing.")
                },
            )
        }
    };
    let status = if misses >= RECHECK_MISSES {
        "failed"
    } else {
        "verified"
    };
    sqlx::query!(
        "update org_domain
            set status = $3, checked_at = now(), check_result = $4, check_lease_until = null, recheck_failures = $5,
                verified_at = case when $3 = 'verified' then verified_at end,
                failed_at = case when $3 = 'failed' then now() end
          where org_id = $1 and domain_id = $2",
        org,
        row.domain_id,
        status,
        result,
        misses
    )
    .execute(&mut *conn)
    .await?;
    Ok((status, result))
}

/// Checks due claims every minute, on each node, for as long as the server runs.
pub fn spawn_checker(services: Services) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = check_due(&services).await {
                if shutting_down(&services) {
                    return;
                }
                tracing::warn!(error = %e, "checking pending domains failed; trying again later");
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

/// The conflicts the database holds, in words.
async fn conflicts(services: &Services) -> Result<Vec<DomainConflict>, AppError> {
    let rows = sqlx::query!(
        r#"select domain as "domain!", kind as "kind!", org_ids as "org_ids!",
                  org_names as "org_names!"
             from platform.domain_conflicts($1)"#,
        services.base_domain
    )
    .fetch_all(lookup(services).pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let orgs = r
                .org_names
                .iter()
                .zip(&r.org_ids)
                .map(|(name, id)| format!("{name} ({id})"))
                .collect::<Vec<_>>()
                .join(", ");
            let problem = if r.kind == "duplicate" {
                format!(
                    "verified by {} organizations: {orgs}. Requests to it cannot be routed to one; remove all claims but the rightful one.",
                    r.org_ids.len()
                )
            } else {
                format!(
                    "verified by {orgs}, but it lies under the base domain {}, where requests route by subdomain.",
                    services.base_domain
                )
            };
            DomainConflict {
                domain: r.domain,
                problem,
            }
        })
        .collect())
}

/// The deploy-time check: every conflict, and every claimed domain that routes to an org
/// without that org's verified claim (asked of the routing function itself, so a routing that
/// drifted from the claims is caught too).
pub async fn deploy_check(services: &Services) -> Result<Vec<DomainConflict>, AppError> {
    let mut problems = conflicts(services).await?;
    // One query whatever the number of domains: each claimed one asked of the routing function.
    let unverified = sqlx::query!(
        r#"with claims as (select * from platform.org_domains())
           select d.domain as "domain!", r.org_id as "org_id!",
                  coalesce((select c.org_name from claims c where c.org_id = r.org_id limit 1),
                           'an organization') as "org_name!"
             from (select distinct domain from claims) d
            cross join lateral platform.org_by_domain(d.domain) r
            where not exists (select from claims c where c.domain = d.domain
                                and c.org_id = r.org_id and c.status = 'verified')
            order by 1, 2"#
    )
    .fetch_all(lookup(services).pool())
    .await?;
    problems.extend(unverified.into_iter().map(|u| DomainConflict {
        domain: u.domain,
        problem: format!(
            "routes to {} ({}), which has not verified it.",
            u.org_name, u.org_id
        ),
    }));
    Ok(problems)
}

/// How many domains orgs have claimed, and how many of those are verified.
pub async fn claim_counts(services: &Services) -> Result<(i64, i64), AppError> {
    let row = sqlx::query!(
        r#"select count(*) filter (where status <> 'primary') as "claims!",
                  count(*) filter (where status = 'verified') as "verified!"
             from platform.org_domains()"#
    )
    .fetch_one(lookup(services).pool())
    .await?;
    Ok((row.claims, row.verified))
}

/// Records each problem in the platform's audit log (`domain.conflict`): the alert of a
/// deploy-time check.
pub async fn record_problems(
    services: &Services,
    problems: &[DomainConflict],
) -> Result<(), AppError> {
    for p in problems {
        sqlx::query!(
            "select platform.record_audit(null, null, 'domain.conflict', $1, '', '', $2)",
            p.domain,
            json!({ "problem": p.problem, "by": "check-domains" })
        )
        .execute(lookup(services).pool())
        .await?;
    }
    Ok(())
}

/// For the superadmins' banner.
pub async fn conflicts_for_banner() -> Result<Vec<DomainConflict>, AppError> {
    let gate = Gate::open(super::DomainConflicts::PATH)?;
    gate.platform().await?;
    conflicts(gate.services()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, age_days: i64, now: DateTime<Utc>) -> DomainRow {
        DomainRow {
            domain_id: Uuid::nil(),
            domain: "assistant.acme.com".to_string(),
            status: status.to_string(),
            token: "tenantry-verify-00112233445566778899aabbccddeeff".to_string(),
            created_at: now - chrono::Duration::days(age_days),
            checked_at: None,
            check_result: None,
            verified_at: None,
            failed_at: None,
        }
    }

    #[test]
    fn only_the_token_verifies_and_thirty_days_unproven_fail() {
        let now = Utc::now();
        let token = row("pending", 0, now).token;
        let found = Txt::Found(vec!["v=spf1 -all".into(), format!(" {token} ")]);
        assert_eq!(
            judge(&row("pending", 1, now), &found, false, now).0,
            "verified"
        );
        // Another org verified it first: the proof does not take it over.
        assert_eq!(
            judge(&row("pending", 1, now), &found, true, now).0,
            "pending"
        );
        let wrong = Txt::Found(vec![
            "tenantry-verify-ffffffffffffffffffffffffffffffff".into()
        ]);
        let (status, words) = judge(&row("pending", 1, now), &wrong, false, now);
        assert_eq!(status, "pending");
        assert!(words.contains("does not hold"), "{words}");
        assert_eq!(
            judge(&row("pending", 29, now), &Txt::None, false, now).0,
            "pending"
        );
        let (status, words) = judge(&row("pending", 30, now), &Txt::None, false, now);
        assert_eq!(status, "failed");
        assert!(words.contains("30 days"), "{words}");
        // A failed claim proven later verifies; unproven it stays failed.
        assert_eq!(
            judge(&row("failed", 40, now), &found, false, now).0,
            "verified"
        );
        let lookup_failed = Txt::Failed("timed out".into());
        assert_eq!(
            judge(&row("failed", 40, now), &lookup_failed, false, now).0,
            "failed"
        );
    }

    #[test]
    fn claimable_domains_are_plain_names_outside_the_base_domain() {
        let base = "tenantry.test";
        assert_eq!(
            claimable(" Assistant.ACME.com. ", base).unwrap(),
            "assistant.acme.com"
        );
        // A valid name (239 characters) whose TXT record's name would not be.
        let too_long = format!("{0}.{0}.{0}.{0}.com", "a".repeat(58));
        for bad in [
            "acme",
            "https://acme.com",
            "acme.com:443",
            "10.0.0.1",
            "tenantry.test",
            "acme.tenantry.test",
            "a.b.tenantry.test",
            "acme..com",
            "-acme.com",
            "ac me.com",
            "ácme.com",
            "printer.local",
            "db.internal",
            "1.2.3.example.127",
            too_long.as_str(),
        ] {
            assert!(claimable(bad, base).is_err(), "{bad}");
        }
    }
}
