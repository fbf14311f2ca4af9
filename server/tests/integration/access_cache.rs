//! Each node's memory of verified sessions (`app::tenancy::cache`): with it warm on two nodes,
//! a session is revoked, a user disabled, a membership removed and an org disabled, each
//! through an endpoint on one node, and each is refused on the very next request on both. A
//! change made with the database's announcements switched off is refused too: the memory's
//! check in the request's first round trip does not depend on them.

use std::time::Duration;

use server::testing::{server_fn_request, TestApp, TestResponse};

/// An endpoint and its fields.
type Call<'a> = (&'a str, &'a [(&'a str, &'a str)]);

struct Nodes {
    app: TestApp,
    second: axum::Router,
    second_services: app::context::Services,
}

impl Nodes {
    /// Two nodes, a superadmin, and an org with these admins, each signed in and acting in
    /// it: the superadmin's token (acting in the org), the org and the admins' tokens.
    async fn with_org(
        name: &str,
        domain: &str,
        admins: &[&str],
    ) -> (Self, String, uuid::Uuid, Vec<String>) {
        let app = TestApp::new().await;
        let (second, second_services) = app.second_node_with_services().await;
        app.user("root@platform.test", true, None).await;
        let root = app.sign_in("root@platform.test").await;
        let members: Vec<(&str, &str)> = admins.iter().map(|email| (*email, "admin")).collect();
        let (org, tokens) = app.org_with(&root, name, domain, &members).await;
        let root = app.switch(&root, org).await;
        let nodes = Self {
            app,
            second,
            second_services,
        };
        (nodes, root, org, tokens)
    }

    async fn call(&self, node: usize, (endpoint, fields): Call<'_>, token: &str) -> TestResponse {
        let request = server_fn_request(endpoint, Some(token), fields, &[]);
        match node {
            0 => self.app.send(request).await,
            _ => self.app.send_via(&self.second, request).await,
        }
    }

    /// How many sessions each node remembers.
    fn remembered(&self) -> (usize, usize) {
        (
            self.app.services.db.remembered_sessions(),
            self.second_services.db.remembered_sessions(),
        )
    }

    /// Calls `endpoint` on both nodes until each answers it from memory (its listener may
    /// still be connecting at first), and expects 200 every time.
    async fn warm(&self, endpoint: Call<'_>, token: &str) {
        for (node, services) in [(0, &self.app.services), (1, &self.second_services)] {
            let before = services.db.remembered_sessions();
            let mut remembered = false;
            for _ in 0..50 {
                let response = self.call(node, endpoint, token).await;
                assert_eq!(response.status, 200, "warming node {node}: {response:?}");
                if services.db.remembered_sessions() > before {
                    remembered = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(remembered, "node {node} never remembered the session");
            // Answered from memory now.
            let response = self.call(node, endpoint, token).await;
            assert_eq!(
                response.status, 200,
                "node {node} from memory: {response:?}"
            );
        }
    }

    /// The very next request on each node is refused with `status`.
    async fn refused(&self, endpoint: Call<'_>, token: &str, status: u16, what: &str) {
        for node in [1, 0] {
            let response = self.call(node, endpoint, token).await;
            assert_eq!(
                response.status, status,
                "{what}: node {node} must refuse at once: {response:?}"
            );
        }
    }
}

async fn user_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar::<_, uuid::Uuid>("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.owner)
        .await
        .expect("the user")
        .to_string()
}

#[tokio::test]
async fn every_change_is_refused_on_the_next_request_on_every_node() {
    let (nodes, root, org, tokens) = Nodes::with_org(
        "Cache Co",
        "cache.example",
        &[
            "signs-out@cache.test",
            "disabled@cache.test",
            "removed@cache.test",
            "stays@cache.test",
        ],
    )
    .await;
    let app = &nodes.app;
    let read: Call = ("orgs/current_org", &[]);

    // A session revoked (signing out on the first node).
    nodes.warm(read, &tokens[0]).await;
    let remembered = nodes.remembered();
    let out = nodes.call(0, ("auth/sign_out", &[]), &tokens[0]).await;
    assert!(out.status < 400, "sign-out: {out:?}");
    // The announcement reaches both nodes, which forget the session before anyone asks.
    let mut forgot = false;
    for _ in 0..50 {
        let now = nodes.remembered();
        if now.0 < remembered.0 && now.1 < remembered.1 {
            forgot = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        forgot,
        "both nodes forget a revoked session when it is announced"
    );
    nodes
        .refused(read, &tokens[0], 401, "a revoked session")
        .await;

    // A user disabled by the superadmin.
    nodes.warm(read, &tokens[1]).await;
    let disabled = user_id(app, "disabled@cache.test").await;
    let response = app
        .call(
            "members/update_user",
            Some(&root),
            &[
                ("user_id", &disabled),
                ("name", "disabled"),
                ("email", "disabled@cache.test"),
                ("status", "disabled"),
            ],
        )
        .await;
    assert_eq!(response.status, 200, "disabling: {response:?}");
    nodes
        .refused(read, &tokens[1], 403, "a disabled user")
        .await;

    // A membership removed.
    nodes.warm(read, &tokens[2]).await;
    let removed = user_id(app, "removed@cache.test").await;
    let response = app
        .call(
            "members/remove_member",
            Some(&root),
            &[("org_id", &org.to_string()), ("user_id", &removed)],
        )
        .await;
    assert_eq!(response.status, 200, "removing: {response:?}");
    nodes
        .refused(read, &tokens[2], 403, "a removed membership")
        .await;

    // An org disabled.
    nodes.warm(read, &tokens[3]).await;
    let response = app
        .call(
            "orgs/disable_org",
            Some(&root),
            &[("org_id", &org.to_string())],
        )
        .await;
    assert!(response.status < 400, "disabling the org: {response:?}");
    nodes.refused(read, &tokens[3], 403, "a disabled org").await;
}

#[tokio::test]
async fn a_change_nobody_announced_is_still_refused() {
    let (nodes, _root, org, tokens) =
        Nodes::with_org("Quiet Co", "quiet.example", &["quiet@quiet.test"]).await;
    let app = &nodes.app;
    // An endpoint only administrators may call.
    let org = org.to_string();
    let admin_only: Call = ("members/org_members", &[("org_id", &org)]);
    nodes.warm(admin_only, &tokens[0]).await;

    // Demoted to viewer with the triggers (and so the announcements) off, as a restore or a
    // hand edit might: both nodes still remember an admin.
    let superuser = app.db.superuser_pool().await;
    let mut conn = superuser.acquire().await.unwrap();
    sqlx::raw_sql(
        "set session_replication_role = replica;
         update membership set role_name = 'viewer'
          where user_id = (select user_id from app_user where email = 'quiet@quiet.test');
         set session_replication_role = origin;",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.services.db.remembered_sessions() > 0);
    assert!(nodes.second_services.db.remembered_sessions() > 0);
    nodes
        .refused(admin_only, &tokens[0], 403, "a silent demotion")
        .await;
    // And the read a viewer may make still works, through the full path.
    for node in [0, 1] {
        let response = nodes
            .call(node, ("orgs/current_org", &[]), &tokens[0])
            .await;
        assert_eq!(response.status, 200, "node {node}: {response:?}");
    }
}

/// The org read each node keeps (`orgs/current_org`, answered without a transaction while the
/// database confirms the org's data version): every change to what it shows is in the very
/// next answer on both nodes, whoever made it and however, and once read again it is answered
/// from memory again.
#[tokio::test]
async fn a_remembered_org_read_shows_every_change_at_once() {
    let (nodes, root, org, tokens) = Nodes::with_org(
        "Fresh Co",
        "fresh.example",
        &["reader@fresh.test", "other@fresh.test"],
    )
    .await;
    let app = &nodes.app;
    let read: Call = ("orgs/current_org", &[]);
    nodes.warm(read, &tokens[0]).await;
    let other = user_id(app, "other@fresh.test").await;

    let (nodes, token) = (&nodes, &tokens[0]);
    let answered = |node: usize| match node {
        0 => nodes.app.services.db.answered_from_memory(),
        _ => nodes.second_services.db.answered_from_memory(),
    };
    let read_on = |node: usize| async move {
        let response = nodes.call(node, read, token).await;
        assert_eq!(response.status, 200, "node {node}: {response:?}");
        response.json()
    };
    // What each node answers: read once (from memory, or read again after a change), then
    // once more, which must come from memory and say the same.
    let seen = |node: usize| async move {
        let first = read_on(node).await;
        let before = answered(node);
        let again = read_on(node).await;
        assert_eq!(
            answered(node),
            before + 1,
            "node {node} answers from memory"
        );
        assert_eq!(
            first, again,
            "node {node}: memory says what the database said"
        );
        first
    };
    let owner = |sql: &'static str| {
        let pool = app.owner.clone();
        async move {
            sqlx::query(sql)
                .bind(org)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };
    let members_of = |org: &serde_json::Value, role: &str| {
        org["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|r| r["name"] == role))
            .map(|r| r["members"].as_i64().unwrap_or(-1))
    };
    for node in [0, 1] {
        let org = seen(node).await;
        assert_eq!(org["details"]["name"], "Fresh Co", "node {node}: {org}");
        assert_eq!(members_of(&org, "admin"), Some(2), "node {node}: {org}");
    }

    // Through an endpoint on the first node (the runtime role, scoped to the org): a member's
    // role, which moves the roles' member counts.
    let response = app
        .call(
            "members/set_membership",
            Some(&root),
            &[
                ("org_id", &org.to_string()),
                ("user_id", &other),
                ("role", "viewer"),
            ],
        )
        .await;
    assert!(response.status < 400, "changing the role: {response:?}");
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(members_of(&org, "viewer"), Some(1), "node {node}: {org}");
        assert_eq!(members_of(&org, "admin"), Some(1), "node {node}: {org}");
    }
    // By hand: the org's own row.
    owner("update organization set description = 'Renamed by hand' where org_id = $1").await;
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(
            org["details"]["description"], "Renamed by hand",
            "node {node}: {org}"
        );
    }
    // Its subscription, made and changed.
    owner("insert into subscription (org_id, seats) values ($1, 77)").await;
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(org["subscription"]["seats"], 77, "node {node}: {org}");
    }
    owner("update subscription set seats = 78 where org_id = $1").await;
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(org["subscription"]["seats"], 78, "node {node}: {org}");
    }
    // A new role, and the member moved to it.
    owner(
        "insert into org_role (org_id, role_name, pages, builtin)
         select $1, 'auditor', pages, false from org_role where org_id = $1 and role_name = 'viewer'",
    )
    .await;
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(members_of(&org, "auditor"), Some(0), "node {node}: {org}");
    }
    owner(
        "update membership set role_name = 'auditor'
          where org_id = $1
            and user_id = (select user_id from app_user where email = 'other@fresh.test')",
    )
    .await;
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(members_of(&org, "auditor"), Some(1), "node {node}: {org}");
        assert_eq!(members_of(&org, "viewer"), Some(0), "node {node}: {org}");
    }
    // The member removed.
    owner(
        "delete from membership
          where org_id = $1
            and user_id = (select user_id from app_user where email = 'other@fresh.test')",
    )
    .await;
    for node in [1, 0] {
        let org = seen(node).await;
        assert_eq!(members_of(&org, "auditor"), Some(0), "node {node}: {org}");
        assert_eq!(org["members"], 1, "node {node}: {org}");
    }
}
