//! Custom domains against a real nameserver (dnsmasq): a claim is pending until its TXT record
//! holds its token, a wrong token leaves it pending, only verified domains route, a verified
//! domain belongs to one org, unproven claims fail after 30 days, and `server check-domains`
//! passes on a clean database and fails naming a conflict.

use server::{
    db,
    testing::{dns::DnsServer, server_fn_request, TestResponse, World},
};
use uuid::Uuid;

use crate::cli::{run_to_exit, server_cmd};

async fn world(dns: &DnsServer) -> World {
    let resolver = dns.resolver();
    World::build()
        .org(
            "Alpha",
            &[("alice@alpha.test", "admin"), ("vic@alpha.test", "viewer")],
        )
        .org("Beta", &[("bob@beta.test", "admin")])
        .services(move |services| services.dns = resolver)
        .await
}

async fn add(w: &World, who: &str, org: &str, domain: &str) -> TestResponse {
    w.app
        .call(
            "domains/add_domain",
            Some(w.token(who)),
            &[("org_id", &w.org(org).to_string()), ("domain", domain)],
        )
        .await
}

async fn check(w: &World, who: &str, org: &str, id: &str) -> TestResponse {
    w.app
        .call(
            "domains/check_domain",
            Some(w.token(who)),
            &[("org_id", &w.org(org).to_string()), ("domain_id", id)],
        )
        .await
}

/// The org a request with `Host: host` acts in, as the superadmin (who may enter any); a host
/// that names no org answers 404, one two orgs hold 409, and anything else fails the test.
async fn routed_to(w: &World, host: &str) -> Option<String> {
    match route(w, host).await {
        Ok(org) => Some(org),
        Err(404) => None,
        Err(status) => panic!("{host}: {status}, neither an org nor 404"),
    }
}

async fn route(w: &World, host: &str) -> Result<String, u16> {
    let response = w
        .app
        .send(server_fn_request(
            "orgs/current_org",
            Some(&w.root),
            &[],
            &[("host", host)],
        ))
        .await;
    match response.status {
        200 => Ok(response.json()["id"].as_str().unwrap().to_string()),
        status => Err(status),
    }
}

/// Moves the claim's last check a minute back, past the pause between two checks.
async fn rest(w: &World, id: &str) {
    sqlx::query(
        "update org_domain set checked_at = checked_at - interval '1 minute'
          where domain_id = $1::uuid",
    )
    .bind(id)
    .execute(&w.app.owner)
    .await
    .unwrap();
}

async fn actions(w: &World, org: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "select action from audit_event where org_id = $1 and action like 'domain.%' order by audit_event_id",
    )
    .bind(org)
    .fetch_all(&w.app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_domain_routes_only_once_its_txt_record_holds_its_token() {
    let mut dns = DnsServer::start().await;
    let w = world(&dns).await;
    let alpha = w.org("Alpha");
    let domain = "assistant.alpha-corp.example";

    let added = add(&w, "alice", "Alpha", " Assistant.Alpha-Corp.example. ").await;
    assert_eq!(added.status, 200, "{}", added.body);
    let claim = added.json();
    assert_eq!(claim["domain"], domain);
    assert_eq!(claim["status"], "pending");
    let (id, token) = (
        claim["id"].as_str().unwrap().to_string(),
        claim["token"].as_str().unwrap().to_string(),
    );
    assert!(token.starts_with("tenantry-verify-"), "{token}");
    assert_eq!(
        routed_to(&w, domain).await,
        None,
        "a pending domain routes nowhere"
    );

    // No record yet, then a record with another value: still pending, saying why.
    let none = check(&w, "alice", "Alpha", &id).await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert_eq!(none.json()["status"], "pending");
    let words = none.json()["check_result"].as_str().unwrap().to_string();
    assert!(
        words.contains("No TXT record at _tenantry-challenge.assistant.alpha-corp.example"),
        "{words}"
    );
    // A second check right away is refused: each claim rests a few seconds between checks.
    let hurried = check(&w, "alice", "Alpha", &id).await;
    assert_eq!(hurried.status, 409, "{}", hurried.body);
    assert!(
        hurried.body.contains("checked a moment ago"),
        "{}",
        hurried.body
    );
    rest(&w, &id).await;
    let record = format!("_tenantry-challenge.{domain}");
    dns.publish(&[(&record, "tenantry-verify-00000000000000000000000000000000")])
        .await;
    let wrong = check(&w, "alice", "Alpha", &id).await;
    assert_eq!(wrong.json()["status"], "pending", "{}", wrong.body);
    assert!(wrong.json()["check_result"]
        .as_str()
        .unwrap()
        .contains("does not hold"));
    assert_eq!(
        routed_to(&w, domain).await,
        None,
        "a wrong token proves nothing"
    );

    // The record with the token (beside another TXT value): verified, and it routes.
    rest(&w, &id).await;
    dns.publish(&[(&record, "v=spf1 -all"), (&record, &token)])
        .await;
    let verified = check(&w, "alice", "Alpha", &id).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert_eq!(verified.json()["status"], "verified", "{}", verified.body);
    assert_eq!(routed_to(&w, domain).await, Some(alpha.to_string()));
    assert_eq!(
        routed_to(&w, "ASSISTANT.alpha-corp.example.:8443").await,
        Some(alpha.to_string())
    );
    let again = check(&w, "alice", "Alpha", &id).await;
    assert_eq!(
        again.status, 409,
        "checking a verified domain: {}",
        again.body
    );

    // A verified domain belongs to one org: Beta can neither claim nor take it.
    let taken = add(&w, "bob", "Beta", domain).await;
    assert_eq!(taken.status, 400, "{}", taken.body);
    assert!(taken
        .body
        .contains("Another organization has already verified this domain"));

    // Who may: a viewer (no Organizations section) neither reads nor changes the org's
    // domains; Beta's admin cannot touch Alpha's.
    let list = w
        .app
        .call(
            "domains/list_domains",
            Some(w.token("vic")),
            &[("org_id", &alpha.to_string())],
        )
        .await;
    assert_eq!(list.status, 403, "{}", list.body);
    assert_eq!(
        add(&w, "vic", "Alpha", "other.alpha-corp.example")
            .await
            .status,
        403
    );
    let cross = w
        .app
        .call(
            "domains/remove_domain",
            Some(w.token("bob")),
            &[("org_id", &alpha.to_string()), ("domain_id", &id)],
        )
        .await;
    assert!(matches!(cross.status, 403 | 404), "{}", cross.body);
    assert_eq!(routed_to(&w, domain).await, Some(alpha.to_string()));

    // Removing it stops routing at once.
    let removed = w
        .app
        .call(
            "domains/remove_domain",
            Some(w.token("alice")),
            &[("org_id", &alpha.to_string()), ("domain_id", &id)],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(routed_to(&w, domain).await, None);
    assert_eq!(
        actions(&w, alpha).await,
        [
            "domain.add",
            "domain.check",
            "domain.check",
            "domain.verify",
            "domain.remove"
        ]
    );
}

#[tokio::test]
async fn the_background_check_verifies_proven_claims_and_fails_old_ones() {
    let mut dns = DnsServer::start().await;
    let w = world(&dns).await;
    let alpha = w.org("Alpha");
    let proven = add(&w, "alice", "Alpha", "proven.alpha-corp.example")
        .await
        .json();
    let stale = add(&w, "alice", "Alpha", "stale.alpha-corp.example")
        .await
        .json();
    let fresh = add(&w, "alice", "Alpha", "fresh.alpha-corp.example")
        .await
        .json();
    dns.publish(&[(
        "_tenantry-challenge.proven.alpha-corp.example",
        proven["token"].as_str().unwrap(),
    )])
    .await;
    // The stale claim was made 31 days ago.
    sqlx::query(
        "update org_domain set created_at = now() - interval '31 days' where domain_id = $1::uuid",
    )
    .bind(stale["id"].as_str().unwrap())
    .execute(&w.app.owner)
    .await
    .unwrap();

    let checked = app::domains::server::check_due(&w.app.services)
        .await
        .unwrap();
    assert_eq!(checked, 3);
    let status = |id: &serde_json::Value| {
        let id = id.as_str().unwrap().to_string();
        let owner = w.app.owner.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select status from org_domain where domain_id = $1::uuid",
            )
            .bind(id)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    assert_eq!(status(&proven["id"]).await, "verified");
    assert_eq!(status(&stale["id"]).await, "failed");
    assert_eq!(status(&fresh["id"]).await, "pending");
    assert_eq!(
        routed_to(&w, "proven.alpha-corp.example").await,
        Some(alpha.to_string())
    );
    assert_eq!(routed_to(&w, "stale.alpha-corp.example").await, None);
    // Changes are audited; a claim that stays pending is not. Checked claims rest before the
    // next round.
    let audited = actions(&w, alpha).await;
    assert_eq!(
        audited
            .iter()
            .filter(|a| a.as_str() == "domain.verify" || a.as_str() == "domain.fail")
            .count(),
        2,
        "{audited:?}"
    );
    assert_eq!(
        app::domains::server::check_due(&w.app.services)
            .await
            .unwrap(),
        0
    );
    // A round takes what it checks: a claim leased by one node is not another's to check.
    add(&w, "alice", "Alpha", "leased.alpha-corp.example").await;
    let take = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from platform.domains_due(300, 20)")
            .fetch_one(&w.app.owner)
            .await
            .unwrap()
    };
    assert_eq!(take().await, 1, "the first node takes the new claim");
    assert_eq!(take().await, 0, "a second node finds it taken");
    assert_eq!(
        app::domains::server::check_due(&w.app.services)
            .await
            .unwrap(),
        0
    );
}

/// A verified domain is checked daily: a record still in place keeps it (and forgets earlier
/// misses), a failed lookup counts for nothing, and 7 misses in a row fail it: it stops routing.
#[tokio::test]
async fn a_verified_domain_whose_record_is_gone_fails_after_seven_daily_checks() {
    let mut dns = DnsServer::start().await;
    let w = world(&dns).await;
    let alpha = w.org("Alpha");
    // Alpha's fixture domain is verified; its record was never published.
    let (id, token): (Uuid, String) =
        sqlx::query_as("select domain_id, token from org_domain where domain = 'alpha.example'")
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    let a_day_later = || async {
        sqlx::query(
            "update org_domain set checked_at = checked_at - interval '25 hours'
              where domain_id = $1",
        )
        .bind(id)
        .execute(&w.app.owner)
        .await
        .unwrap();
        app::domains::server::check_due(&w.app.services)
            .await
            .unwrap()
    };
    let state = || async {
        sqlx::query_as::<_, (String, i32, String)>(
            "select status, recheck_failures, check_result from org_domain where domain_id = $1",
        )
        .bind(id)
        .fetch_one(&w.app.owner)
        .await
        .unwrap()
    };
    for miss in 1..=3 {
        assert_eq!(a_day_later().await, 1);
        let (status, misses, words) = state().await;
        assert_eq!((status.as_str(), misses), ("verified", miss), "{words}");
        assert!(
            words.contains(&format!("({miss} of 7 daily checks)")),
            "{words}"
        );
    }
    assert_eq!(
        routed_to(&w, "alpha.example").await,
        Some(alpha.to_string())
    );
    // The record comes back: the misses are forgotten.
    dns.publish(&[("_tenantry-challenge.alpha.example", &token)])
        .await;
    a_day_later().await;
    let (status, misses, words) = state().await;
    assert_eq!((status.as_str(), misses), ("verified", 0), "{words}");
    assert!(words.starts_with("Still verified"), "{words}");
    // The nameserver does not answer: nothing counts, the domain stays.
    dns.stop();
    a_day_later().await;
    let (status, misses, words) = state().await;
    assert_eq!((status.as_str(), misses), ("verified", 0), "{words}");
    assert!(words.contains("could not ask the nameserver"), "{words}");
    // Gone for good: the seventh miss in a row fails it.
    dns.publish(&[]).await;
    for _ in 1..7 {
        a_day_later().await;
        assert_eq!(state().await.0, "verified");
    }
    a_day_later().await;
    let (status, _, words) = state().await;
    assert_eq!(status, "failed", "{words}");
    assert!(words.contains("stopped routing"), "{words}");
    assert_eq!(routed_to(&w, "alpha.example").await, None);
    assert_eq!(
        actions(&w, alpha).await.last().map(String::as_str),
        Some("domain.fail")
    );
}

#[tokio::test]
async fn bad_domains_get_field_errors() {
    let dns = DnsServer::start().await;
    let w = world(&dns).await;
    for (input, words) in [
        ("", "Enter a domain"),
        ("https://acme.example/x", "domain name only"),
        ("acme.example:8443", "domain name only"),
        ("localhost", "full domain"),
        ("10.1.2.3", "not an IP address"),
        ("alpha.tenantry.test", "assigned by the platform"),
        ("tenantry.test", "assigned by the platform"),
        ("acme..example", "not a valid domain"),
        ("-acme.example", "not a valid domain"),
        ("<script>.example", "not a valid domain"),
        ("ácme.example", "xn--"),
    ] {
        let response = add(&w, "alice", "Alpha", input).await;
        assert_eq!(response.status, 400, "{input}: {}", response.body);
        let message = response.json()["Validation"]["domain"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains(words), "{input}: {message}");
    }
    // The same domain twice in one org; and at most 20 per org.
    assert_eq!(
        add(&w, "alice", "Alpha", "one.alpha-corp.example")
            .await
            .status,
        200
    );
    let twice = add(&w, "alice", "Alpha", "ONE.alpha-corp.example").await;
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert!(
        twice.body.contains("already added this domain"),
        "{}",
        twice.body
    );
    // Alpha has its primary domain (verified by the fixture) and one more: 18 more fit.
    for n in 0..18 {
        let r = add(&w, "alice", "Alpha", &format!("d{n}.alpha-corp.example")).await;
        assert_eq!(r.status, 200, "{n}: {}", r.body);
    }
    let over = add(&w, "alice", "Alpha", "d18.alpha-corp.example").await;
    assert_eq!(over.status, 400, "{}", over.body);
    assert!(over.body.contains("up to 20 domains"), "{}", over.body);
    let forged = check(&w, "alice", "Alpha", "not-an-id").await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let missing = check(&w, "alice", "Alpha", &Uuid::new_v4().to_string()).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
}

/// `server check-domains`: 0 on a clean database; 1 naming the conflict when two orgs hold the
/// same verified domain (which only a restore or a hand edit can do: the unique index is
/// dropped here to do it), recorded in the platform's audit log and shown to superadmins.
#[tokio::test]
async fn check_domains_passes_clean_and_names_a_conflict() {
    let dns = DnsServer::start().await;
    let w = world(&dns).await;
    let dir = server::testing::TempDir::new("check-domains");
    let run = || {
        run_to_exit(
            server_cmd(dir.path())
                .env("DATABASE_URL", w.app.db.url(db::RUNTIME_ROLE))
                .env("TENANTRY_BASE_DOMAIN", "tenantry.test")
                .arg("check-domains"),
        )
    };
    let clean = run();
    assert!(clean.status.success(), "{clean:?}");
    assert!(
        String::from_utf8_lossy(&clean.stdout)
            .contains("2 domain claim(s), 2 verified, 0 problem(s)"),
        "{clean:?}"
    );

    let superuser = w.app.db.superuser_pool().await;
    sqlx::raw_sql("drop index org_domain_verified_key")
        .execute(&superuser)
        .await
        .unwrap();
    w.app.verified_domain(w.org("Beta"), "alpha.example").await;
    let conflict = run();
    assert_eq!(conflict.status.code(), Some(1), "{conflict:?}");
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains("CONFLICT alpha.example: verified by 2 organizations: Alpha"),
        "{stderr}"
    );
    assert!(stderr.contains("Beta"), "{stderr}");
    let alerts: Vec<String> = sqlx::query_scalar(
        "select target from audit_event where org_id is null and action = 'domain.conflict'",
    )
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(alerts, ["alpha.example"]);
    // Requests to it route to neither org; superadmins see the conflict, others may not ask.
    assert_eq!(route(&w, "alpha.example").await, Err(409));
    let banner = w
        .app
        .call("domains/domain_conflicts", Some(&w.root), &[])
        .await;
    assert_eq!(banner.status, 200, "{}", banner.body);
    assert_eq!(banner.json()[0]["domain"], "alpha.example");
    let refused = w
        .app
        .call("domains/domain_conflicts", Some(w.token("alice")), &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // Routing that drifted from the claims (back to the primary domain, say) is caught: Beta's
    // primary domain routes although Beta never verified it.
    sqlx::raw_sql(
        "delete from org_domain where domain = 'beta.example';
         create or replace function platform.org_by_domain(p_domain text)
         returns table (org_id uuid, status text)
         language sql stable security definer set search_path = public, pg_temp as $$
           select o.org_id, o.status from organization o where o.primary_domain = lower(p_domain)
         $$;",
    )
    .execute(&superuser)
    .await
    .unwrap();
    let drifted = run();
    assert_eq!(drifted.status.code(), Some(1), "{drifted:?}");
    let stderr = String::from_utf8_lossy(&drifted.stderr);
    assert!(
        stderr.contains("CONFLICT beta.example: routes to Beta")
            && stderr.contains("which has not verified it"),
        "{stderr}"
    );
}
