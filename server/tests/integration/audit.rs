//! The audit log: each org's events (and the platform's) form a hash chain that the check
//! recomputes, naming the first broken link; org admins read and filter their org's log, and
//! export it as CSV; superadmins read the platform's, deleted orgs' trails included.

use server::testing::World;

async fn world() -> World {
    World::build()
        .org(
            "Alpha",
            &[("alice@alpha.test", "admin"), ("vic@alpha.test", "viewer")],
        )
        .org("Beta", &[("bob@beta.test", "admin")])
        .await
}

/// Some Alpha events by alice: three invitations.
async fn invite_three(w: &World) {
    for email in ["one@example.test", "two@example.test", "not an address"] {
        let r = w
            .app
            .call(
                "invitations/invite",
                Some(w.token("alice")),
                &[
                    ("org_id", &w.org("Alpha").to_string()),
                    ("email", email),
                    ("role", "member"),
                ],
            )
            .await;
        // The third is not an address: its refusal is no event.
        assert!(r.status == 200 || email.contains(' '), "{}", r.body);
    }
}

#[tokio::test]
async fn the_chains_hold_and_the_check_names_the_first_broken_link() {
    let w = world().await;
    invite_three(&w).await;
    let chains = app::audit::chain::verify(&w.app.owner).await.unwrap();
    assert!(chains.iter().all(|c| c.broken.is_none()), "{chains:#?}");
    let alpha = chains
        .iter()
        .find(|c| c.org == Some(w.org("Alpha")))
        .expect("Alpha has a chain");
    assert!(alpha.events >= 3, "{alpha:?}");
    assert_eq!(alpha.head.len(), 64);
    assert!(
        chains.iter().any(|c| c.org.is_none()),
        "the platform's chain"
    );

    // Alter Alpha's second event (as the database's superuser could): named.
    let superuser = w.app.db.superuser_pool().await;
    sqlx::query(
        "update audit_event set target = 'rewritten'
          where org_id = $1 and chain_seq = 2",
    )
    .bind(w.org("Alpha"))
    .execute(&superuser)
    .await
    .unwrap();
    // Remove Beta's first event: named as missing.
    sqlx::query("delete from audit_event where org_id = $1 and chain_seq = 1")
        .bind(w.org("Beta"))
        .execute(&superuser)
        .await
        .unwrap();
    let chains = app::audit::chain::verify(&w.app.owner).await.unwrap();
    let broken = |org| {
        chains
            .iter()
            .find(|c| c.org == Some(org))
            .and_then(|c| c.broken.clone())
            .unwrap_or_default()
    };
    assert!(
        broken(w.org("Alpha")).ends_with("event #2 (id")
            || broken(w.org("Alpha")).contains("event #2 (id"),
        "{chains:#?}"
    );
    assert!(
        broken(w.org("Alpha")).contains("was altered"),
        "{chains:#?}"
    );
    assert!(
        broken(w.org("Beta")).contains("event #1 is missing"),
        "{chains:#?}"
    );
    // New events keep chaining after a broken link (the break stays named).
    let platform = chains.iter().find(|c| c.org.is_none()).unwrap();
    assert!(platform.broken.is_none(), "{platform:?}");
}

#[tokio::test]
async fn admins_filter_their_orgs_log_and_export_it_and_superadmins_read_the_platforms() {
    let w = world().await;
    invite_three(&w).await;
    let alpha = w.org("Alpha").to_string();
    let events = |token: &str, fields: &[(&str, &str)]| {
        let (token, fields) = (
            token.to_string(),
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        );
        let w = &w;
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            w.app.call("audit/org_events", Some(&token), &fields).await
        }
    };
    let r = events(w.token("alice"), &[("query[action]", "invitation")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2, "two invitations: {}", r.body);
    assert!(rows
        .iter()
        .all(|e| e["action"] == "invitation.create" && e["org_id"] == alpha.as_str()));
    assert_eq!(rows[0]["actor_email"], "alice@alpha.test");
    // By actor, and by a date range with nothing in it.
    let by_actor = events(w.token("alice"), &[("query[actor]", "alice@")])
        .await
        .json();
    assert!(by_actor["rows"].as_array().unwrap().len() >= 2);
    let none = events(
        w.token("alice"),
        &[("query[from]", "2000-01-01"), ("query[to]", "2000-01-31")],
    )
    .await
    .json();
    assert_eq!(none["rows"].as_array().unwrap().len(), 0);
    // Filters are plain text: a pattern character matches only itself.
    for (field, value) in [
        ("query[action]", "%"),
        ("query[target]", "%"),
        ("query[actor]", "_"),
    ] {
        let r = events(w.token("alice"), &[(field, value)]).await.json();
        assert_eq!(
            r["rows"].as_array().unwrap().len(),
            0,
            "{field}={value}: {r}"
        );
    }
    let bad = events(w.token("alice"), &[("query[from]", "last week")]).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json()["Validation"]["from"].is_array(), "{}", bad.body);
    // Beta's admin reads Beta's log: none of Alpha's events.
    let beta = events(w.token("bob"), &[]).await.json();
    assert!(beta["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["org_id"] == w.org("Beta").to_string()));
    // A viewer may not read the log.
    assert_eq!(events(w.token("vic"), &[]).await.status, 403);

    // CSV, streamed, as filtered: a header and the two invitations.
    let csv = w
        .app
        .agent_call(
            "GET",
            &format!("/api/audit/orgs/{alpha}/export.csv?action=invitation"),
            w.token("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "id,time,org_id,org,actor_id,actor_email,action,target,ip,user_agent,details,chain_seq"
    );
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(lines[1..]
        .iter()
        .all(|l| l.contains(",invitation.create,") && l.contains(&alpha)));
    // Details are JSON with commas and quotes: quoted as CSV.
    assert!(lines[1].contains("\"{\"\""), "{}", lines[1]);
    let refused = w
        .app
        .agent_call(
            "GET",
            "/api/audit/platform-export.csv",
            w.token("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // The platform's log: events with no org, and a deleted org's trail.
    let gone = w.app.create_org(&w.root, "Gone", "gone.example").await;
    let deleted = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &gone.to_string())],
        )
        .await;
    assert!(deleted.status < 400, "{}", deleted.body);
    let platform = w
        .app
        .call(
            "audit/platform_events",
            Some(&w.root),
            &[("query[scope]", "platform")],
        )
        .await;
    assert_eq!(platform.status, 200, "{}", platform.body);
    assert!(platform.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["org_id"].is_null()));
    let trail = w
        .app
        .call(
            "audit/platform_events",
            Some(&w.root),
            &[
                ("query[scope]", "platform"),
                ("query[org]", &gone.to_string()),
            ],
        )
        .await
        .json();
    assert!(
        !trail["rows"].as_array().unwrap().is_empty(),
        "the deleted org's events stay: {trail}"
    );
    let csv = w
        .app
        .agent_call(
            "GET",
            "/api/audit/platform-export.csv?scope=platform",
            &w.root,
            None,
            &[],
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.body.lines().count() >= 2, "{}", csv.body);
    assert_eq!(
        w.app
            .call("audit/platform_events", Some(w.token("alice")), &[])
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn routing_decisions_are_kept_and_read_as_routing() {
    let w = World::build()
        .org("Alpha", &[("alice@alpha.test", "admin")])
        .org("Beta", &[("bob@beta.test", "admin")])
        .services(|services| services.routing_sample = 1.0)
        .await;
    // An allowed request (every one is kept at a sample of 1), and one aimed at Beta by header.
    let allowed = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let refused = w
        .app
        .send(server::testing::server_fn_request(
            "orgs/current_org",
            Some(w.token("alice")),
            &[],
            &[("x-tenantry-org", &w.org("Beta").to_string())],
        ))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let log = w
        .app
        .call(
            "audit/org_events",
            Some(w.token("alice")),
            &[("query[action]", "routing")],
        )
        .await
        .json();
    let rows = log["rows"].as_array().unwrap();
    let of = |action: &str| {
        rows.iter()
            .find(|r| r["action"] == action && r["target"] == "/api/orgs/current_org")
            .unwrap_or_else(|| panic!("no {action} in {log}"))
            .clone()
    };
    let allow: serde_json::Value =
        serde_json::from_str(of("routing.allow")["details"].as_str().unwrap()).unwrap();
    assert_eq!(allow["sources"], serde_json::json!(["token"]));
    assert_eq!(allow["role"], "admin");
    let deny: serde_json::Value =
        serde_json::from_str(of("routing.denied")["details"].as_str().unwrap()).unwrap();
    assert_eq!(deny["sources"], serde_json::json!(["header", "token"]));
    assert_eq!(deny["status"], 403);
    // Beta's log has nothing of alice's attempt.
    let beta = w
        .app
        .call(
            "audit/org_events",
            Some(w.token("bob")),
            &[("query[action]", "routing")],
        )
        .await
        .json();
    assert!(
        beta["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor_id"] != w.user("alice").to_string()),
        "{beta}"
    );
}

/// At most 4 exports stream at once on a node: a fifth is told to try again (503) rather than
/// crowd out the Admin App, and a place frees as soon as a download ends or is dropped.
#[tokio::test]
async fn exports_beyond_four_at_once_are_told_to_wait() {
    use tower::ServiceExt;
    let w = World::alpha_beta().await;
    let path = format!("/api/audit/orgs/{}/export.csv", w.org("Alpha"));
    let start = || {
        w.app.router.clone().oneshot(server::testing::agent_request(
            "GET",
            &path,
            w.token("alice"),
            None,
            &[],
        ))
    };
    // Four downloads begun and not read: each holds its place.
    let mut open = Vec::new();
    for n in 0..4 {
        let response = start().await.unwrap();
        assert_eq!(response.status(), 200, "export {n}");
        open.push(response);
    }
    let fifth = start().await.unwrap();
    assert_eq!(fifth.status(), 503);
    let body = axum::body::to_bytes(fifth.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("try again in a minute"),
        "{body:?}"
    );
    // One download ends (read to its end): the next may start.
    let done = open.pop().unwrap();
    axum::body::to_bytes(done.into_body(), 1 << 30)
        .await
        .unwrap();
    assert_eq!(start().await.unwrap().status(), 200);
}
