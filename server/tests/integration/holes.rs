//! One test per authority hole found by attacking a running server (issue "One gate for who may
//! do what", under Why). Each failed on the code before the gate took declared needs.

use std::{collections::BTreeMap, sync::Arc};

use server::testing::{server_fn_request, TestApp, TEST_PASSWORD};
use uuid::Uuid;

/// Org A with an owner, an admin, two members and a viewer; org B with an owner.
struct Orgs {
    app: TestApp,
    root: String,
    a: Uuid,
    owner: String,
    admin: String,
    member: String,
    other_member: String,
    viewer: String,
}

async fn orgs(app: TestApp) -> Orgs {
    let root = app.root().await;
    let (a, tokens) = app
        .org_with(
            &root,
            "Hole A",
            "hole-a.example",
            &[
                ("owner@a.test", "owner"),
                ("admin@a.test", "admin"),
                ("member@a.test", "member"),
                ("member2@a.test", "member"),
                ("viewer@a.test", "viewer"),
            ],
        )
        .await;
    let [owner, admin, member, other_member, viewer] = <[String; 5]>::try_from(tokens).unwrap();
    Orgs {
        app,
        root,
        a,
        owner,
        admin,
        member,
        other_member,
        viewer,
    }
}

async fn user_id(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

/// A superadmin narrows org A's admin to the Users section.
async fn narrow_admin_to_users(w: &Orgs) {
    let admin_id = user_id(&w.app, "admin@a.test").await.to_string();
    let narrowed = w
        .app
        .call(
            "members/set_membership",
            Some(&w.root),
            &[
                ("org_id", &w.a.to_string()),
                ("user_id", &admin_id),
                ("role", "admin"),
                ("own_pages", "on"),
                ("pages[users]", "on"),
            ],
        )
        .await;
    assert!(narrowed.status < 400, "{}", narrowed.body);
}

#[tokio::test]
async fn an_org_admin_cannot_set_its_own_plan_seats_or_rates() {
    let w = orgs(TestApp::new().await).await;
    let a = w.a.to_string();
    let (agent, _) = w.app.agent(&w.root, "Billed Agent", Some(w.a)).await;
    for (endpoint, fields) in [
        (
            "billing/update_subscription",
            vec![
                ("org_id", a.as_str()),
                ("plan_name", "enterprise"),
                ("seats", "1000000"),
                ("platform", "custom"),
                ("status", "active"),
            ],
        ),
        (
            "billing/set_default_rate",
            vec![("org_id", a.as_str()), ("rate", "0")],
        ),
        (
            "billing/set_agent_rate",
            vec![
                ("org_id", a.as_str()),
                ("agent_id", &agent.to_string()),
                ("rate", "0"),
            ],
        ),
    ] {
        for token in [&w.owner, &w.admin] {
            let r = w.app.call(endpoint, Some(token), &fields).await;
            assert_eq!(r.status, 403, "{endpoint}: {}", r.body);
        }
    }
    let seats: Option<i32> = sqlx::query_scalar("select seats from subscription where org_id = $1")
        .bind(w.a)
        .fetch_optional(&w.app.owner)
        .await
        .unwrap();
    assert_ne!(seats, Some(1_000_000));
    let overrides: i64 = sqlx::query_scalar("select count(*) from agent_rate")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(overrides, 0);
    // The database holds to it too: a tenant-scoped transaction of the runtime role, with the
    // admin as its user, cannot write an entitlement, whatever code runs in it.
    let runtime = w.app.db.runtime_pool().await;
    let admin_id = user_id(&w.app, "admin@a.test").await;
    for statement in [
        "insert into subscription (org_id, plan_name, seats) values ($1, 'enterprise', 1000000)
         on conflict (org_id) do update set seats = 1000000",
        "update org_account set default_rate_cents = 12345 where org_id = $1",
        "insert into agent_rate (org_id, agent_id, rate_cents)
         select $1, agent_id, 0 from agent where org_id = $1",
    ] {
        let mut tx = runtime.begin().await.unwrap();
        sqlx::query("select set_config('app.org_id', $1::text, true), set_config('app.user_id', $2::text, true)")
            .bind(w.a)
            .bind(admin_id)
            .execute(&mut *tx)
            .await
            .unwrap();
        let refused = sqlx::query(statement).bind(w.a).execute(&mut *tx).await;
        let code = refused.err().and_then(|e| {
            e.as_database_error()
                .and_then(|d| d.code().map(|c| c.to_string()))
        });
        assert_eq!(code.as_deref(), Some("42501"), "{statement}");
    }
    // The platform still can.
    let r = w
        .app
        .call(
            "billing/set_default_rate",
            Some(&w.root),
            &[("org_id", &a), ("rate", "50")],
        )
        .await;
    assert!(r.status < 400, "{}", r.body);
}

#[tokio::test]
async fn the_unassigned_agent_pool_is_the_platforms() {
    let w = orgs(TestApp::new().await).await;
    let (free, _) = w.app.agent(&w.root, "Free Agent", None).await;
    let a = w.a.to_string();
    let seen = w
        .app
        .call("agents/org_agents", Some(&w.owner), &[("org_id", &a)])
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(!seen.body.contains("Free Agent"), "{}", seen.body);
    assert!(
        !seen.body.contains("free-agent@agents.test"),
        "{}",
        seen.body
    );
    let listed = w.app.call("agents/list_agents", Some(&w.owner), &[]).await;
    assert!(!listed.body.contains("Free Agent"), "{}", listed.body);
    let taken = w
        .app
        .call(
            "agents/assign_agent",
            Some(&w.owner),
            &[("org_id", &a), ("agent_id", &free.to_string())],
        )
        .await;
    assert_eq!(taken.status, 403, "{}", taken.body);
    // The database holds to it too: in the owner's tenant-scoped transaction the pool is
    // empty and taking an agent from it is refused.
    let runtime = w.app.db.runtime_pool().await;
    let owner_id = user_id(&w.app, "owner@a.test").await;
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query(
        "select set_config('app.org_id', $1::text, true), set_config('app.user_id', $2::text, true)",
    )
    .bind(w.a)
    .bind(owner_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let pool: i64 = sqlx::query_scalar("select count(*) from platform.unassigned_agents()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(pool, 0);
    let taken = sqlx::query("select platform.assign_agent($1)")
        .bind(free)
        .execute(&mut *tx)
        .await;
    let code = taken.err().and_then(|e| {
        e.as_database_error()
            .and_then(|d| d.code().map(|c| c.to_string()))
    });
    assert_eq!(code.as_deref(), Some("42501"));
    drop(tx);
    let org: Option<Uuid> = sqlx::query_scalar("select org_id from agent where agent_id = $1")
        .bind(free)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(org, None);
}

#[tokio::test]
async fn roles_mean_what_they_say() {
    let w = orgs(TestApp::new().await).await;
    let a = w.a.to_string();
    let admin_id = user_id(&w.app, "admin@a.test").await.to_string();
    let owner_id = user_id(&w.app, "owner@a.test").await.to_string();
    // A superadmin narrows the admin to Users alone.
    narrow_admin_to_users(&w).await;
    // The admin cannot widen it again …
    let widened = w
        .app
        .call(
            "members/set_membership",
            Some(&w.admin),
            &[
                ("org_id", &a),
                ("user_id", &admin_id),
                ("role", "admin"),
                ("own_pages", "on"),
                ("pages[users]", "on"),
                ("pages[billing]", "on"),
            ],
        )
        .await;
    assert_eq!(widened.status, 400, "{}", widened.body);
    assert!(widened.body.contains("pages"), "{}", widened.body);
    // … nor demote or disable the owner.
    let demoted = w
        .app
        .call(
            "members/set_membership",
            Some(&w.admin),
            &[("org_id", &a), ("user_id", &owner_id), ("role", "viewer")],
        )
        .await;
    assert_eq!(demoted.status, 400, "{}", demoted.body);
    assert!(demoted.body.contains("owner"), "{}", demoted.body);
    let disabled = w
        .app
        .call(
            "members/update_user",
            Some(&w.admin),
            &[
                ("user_id", &owner_id),
                ("name", "Owner"),
                ("email", "owner@a.test"),
                ("status", "disabled"),
                ("bound_org_id", ""),
            ],
        )
        .await;
    assert_eq!(disabled.status, 403, "{}", disabled.body);
    let status: String =
        sqlx::query_scalar("select status from app_user where email = 'owner@a.test'")
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(status, "active");
    // The last owner stays an owner, even by their own hand.
    let stepped_down = w
        .app
        .call(
            "members/set_membership",
            Some(&w.owner),
            &[("org_id", &a), ("user_id", &owner_id), ("role", "admin")],
        )
        .await;
    assert_eq!(stepped_down.status, 409, "{}", stepped_down.body);
}

#[tokio::test]
async fn knowledge_is_written_by_members_and_changed_by_its_author_or_an_admin() {
    let w = orgs(TestApp::new().await).await;
    let save = |token: &str, id: &str, title: &str, visibility: &str| {
        let (token, id, title, visibility) = (
            token.to_string(),
            id.to_string(),
            title.to_string(),
            visibility.to_string(),
        );
        let app = &w.app;
        async move {
            app.call(
                "knowledge/save_entry",
                Some(&token),
                &[
                    ("entry_id", id.as_str()),
                    ("title", title.as_str()),
                    ("body", "text"),
                    ("tags", ""),
                    ("source", ""),
                    ("visibility", visibility.as_str()),
                ],
            )
            .await
        }
    };
    let r = save(&w.viewer, "", "Viewer's note", "organization").await;
    assert_eq!(r.status, 403, "a viewer writes nothing: {}", r.body);
    let public = save(&w.member, "", "Member's note", "organization").await;
    assert_eq!(public.status, 200, "{}", public.body);
    let public_id = public.json().as_str().unwrap().to_string();
    let private = save(&w.member, "", "Member's diary", "private").await;
    let private_id = private.json().as_str().unwrap().to_string();

    // Another member may read the public entry but not change or delete it.
    let r = save(&w.other_member, &public_id, "Hijacked", "organization").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = w
        .app
        .call(
            "knowledge/delete_entry",
            Some(&w.other_member),
            &[("entry_id", &public_id)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The private one is invisible to everyone else, admins included, and unwritable.
    for token in [&w.other_member, &w.admin, &w.owner] {
        let listed = w.app.call("knowledge/list_entries", Some(token), &[]).await;
        assert!(!listed.body.contains("Member's diary"), "{}", listed.body);
        let got = w
            .app
            .call(
                "knowledge/get_entry",
                Some(token),
                &[("entry_id", &private_id)],
            )
            .await;
        assert_eq!(got.status, 404, "{}", got.body);
        let r = save(token, &private_id, "Read you", "organization").await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
    // An admin changes the public entry; only the platform owner's admins share.
    let r = save(&w.admin, &public_id, "Edited by an admin", "organization").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let shared = w
        .app
        .call(
            "knowledge/save_entry",
            Some(&w.member),
            &[
                ("entry_id", ""),
                ("title", "For everyone"),
                ("body", "text"),
                ("tags", ""),
                ("source", ""),
                ("visibility", "organization"),
                ("shared", "on"),
            ],
        )
        .await;
    assert_eq!(shared.status, 400, "{}", shared.body);
    assert!(shared.body.contains("shared"), "{}", shared.body);
}

#[tokio::test]
async fn the_servers_llm_keys_stop_at_the_allowance_and_a_disabled_members_key_is_not_handed_out() {
    let app = TestApp::with_services(|s| {
        s.llm_env_keys = Arc::new(BTreeMap::from([(
            "openai".to_string(),
            "sk-environment-key".to_string(),
        )]))
    })
    .await;
    let w = orgs(app).await;
    let (_, key) = w.app.agent(&w.root, "Keyed Agent", Some(w.a)).await;
    let ask = |query: String| {
        let key = key.clone();
        let app = &w.app;
        async move {
            app.agent_call("GET", &format!("/api/v1/llm-key?{query}"), &key, None, &[])
                .await
        }
    };
    let r = ask("provider=openai".into()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["source"], "environment");

    // Past the monthly token allowance: no more of the server's keys.
    sqlx::raw_sql(&format!(
        "insert into plan (plan_name, max_tokens_per_month) values ('tiny', 10);
         insert into subscription (org_id, plan_name) values ('{}', 'tiny')
           on conflict (org_id) do update set plan_name = 'tiny';
         update org_account set tokens_used = 10 where org_id = '{}';",
        w.a, w.a
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    let r = ask("provider=openai".into()).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("allowance"), "{}", r.body);
    // Back within it, but on a plan without the platform's keys.
    sqlx::raw_sql(&format!(
        "update org_account set tokens_used = 0 where org_id = '{}';
         update plan set server_llm_keys = false where plan_name = 'tiny';",
        w.a
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    let r = ask("provider=openai".into()).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("plan"), "{}", r.body);

    // A member's own key, then the member is disabled: the org's key is used for them.
    let a = w.a.to_string();
    for (endpoint, token, secret) in [
        (
            "llm_keys/save_own_llm_key",
            &w.member,
            "sk-members-own-key-1111",
        ),
        ("llm_keys/save_llm_key", &w.admin, "sk-the-orgs-key-2222"),
    ] {
        let r = w
            .app
            .call(
                endpoint,
                Some(token),
                &[("org_id", &a), ("provider", "openai"), ("key", secret)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let member = user_id(&w.app, "member@a.test").await;
    let r = ask(format!("provider=openai&user_id={member}")).await;
    assert_eq!(r.json()["key"], "sk-members-own-key-1111", "{}", r.body);
    sqlx::query("update app_user set status = 'disabled' where user_id = $1")
        .bind(member)
        .execute(&w.app.owner)
        .await
        .unwrap();
    let r = ask(format!("provider=openai&user_id={member}")).await;
    assert_eq!(r.json()["key"], "sk-the-orgs-key-2222", "{}", r.body);
}

#[tokio::test]
async fn sign_in_never_lands_on_another_site() {
    let w = orgs(TestApp::new().await).await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/ok path",
    ] {
        let r = w
            .app
            .call(
                "auth/sign_in",
                None,
                &[
                    ("email", "member@a.test"),
                    ("password", TEST_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        let location = r
            .headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("/");
        assert_eq!(location, "/", "next {next:?}: {r:?}");
    }
    let _ = &w.owner;
}

#[tokio::test]
async fn hostile_ids_pages_and_characters_get_a_field_error_not_a_broken_answer() {
    let w = orgs(TestApp::new().await).await;
    let a = w.a.to_string();
    // A newline after an id: refused before anything changes (it used to save, then break
    // the redirect).
    let r = w
        .app
        .call(
            "orgs/add_role",
            Some(&w.admin),
            &[("org_id", &format!("{a}\n")), ("role_name", "auditor")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("org_id"), "{}", r.body);
    let roles: i64 =
        sqlx::query_scalar("select count(*) from org_role where role_name = 'auditor'")
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(roles, 0);
    // A page past any list's end.
    for (endpoint, field) in [
        ("orgs/list_orgs", "query[page]"),
        ("members/list_users", "query[page]"),
        ("agents/list_agents", "page"),
    ] {
        let r = w
            .app
            .call(endpoint, Some(&w.root), &[(field, "1106804644508472444")])
            .await;
        assert_eq!(r.status, 200, "{endpoint}: {}", r.body);
    }
    // NUL in a name or a body: the field is named.
    for (endpoint, fields, field) in [
        (
            "knowledge/save_entry",
            vec![
                ("title", "Note"),
                ("body", "a\0b"),
                ("visibility", "organization"),
            ],
            "body",
        ),
        (
            "orgs/add_role",
            vec![("org_id", a.as_str()), ("role_name", "a\0b")],
            "role_name",
        ),
    ] {
        let r = w.app.call(endpoint, Some(&w.admin), &fields).await;
        assert_eq!(r.status, 400, "{endpoint}: {}", r.body);
        assert!(r.body.contains(field), "{endpoint}: {}", r.body);
        assert!(!r.body.contains("22021"), "{}", r.body);
    }
    // And through the agent API, whose JSON bodies the form check does not see.
    let (_, key) = w.app.agent(&w.root, "Nul Agent", Some(w.a)).await;
    let r = w
        .app
        .agent_call(
            "POST",
            "/api/v1/memory",
            &key,
            Some(serde_json::json!({ "content": "a\0b" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        !r.body.contains("22021") && !r.body.contains("byte sequence"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn members_of_a_disabled_org_cannot_sign_in() {
    let w = orgs(TestApp::new().await).await;
    let r = w
        .app
        .call(
            "orgs/disable_org",
            Some(&w.root),
            &[("org_id", &w.a.to_string())],
        )
        .await;
    assert!(r.status < 400, "{}", r.body);
    let r = w
        .app
        .call(
            "auth/sign_in",
            None,
            &[("email", "member@a.test"), ("password", TEST_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("disabled"), "{}", r.body);
    assert!(r.session_cookie().is_none());
    // The platform still signs in, to enable it again.
    w.app.sign_in("root@platform.test").await;
}

#[tokio::test]
async fn an_orgs_existence_does_not_leak_through_the_host() {
    let w = orgs(TestApp::new().await).await;
    let (_, b_tokens) = w
        .app
        .org_with(
            &w.root,
            "Hole B",
            "hole-b.example",
            &[("b@b.test", "owner")],
        )
        .await;
    let a_slug: String = sqlx::query_scalar("select slug from organization where org_id = $1")
        .bind(w.a)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    let ask = |token: &str, host: String| {
        let request = server_fn_request(
            "orgs/current_org",
            Some(token),
            &[],
            &[("host", host.as_str())],
        );
        w.app.send(request)
    };
    let existing = format!("{a_slug}.tenantry.test");
    let unknown = "no-such-org.tenantry.test".to_string();
    // B's owner: A exists, the other does not; the same answer for both.
    let real = ask(&b_tokens[0], existing.clone()).await;
    let fake = ask(&b_tokens[0], unknown.clone()).await;
    assert_eq!(
        (real.status, real.body.clone()),
        (fake.status, fake.body.clone())
    );
    assert_eq!(real.status, 403, "{}", real.body);
    // A revoked session is refused before any org is looked up.
    let revoked = w.app.sign_in("b@b.test").await;
    w.app.call("auth/sign_out", Some(&revoked), &[]).await;
    let real = ask(&revoked, existing).await;
    let fake = ask(&revoked, unknown).await;
    assert_eq!(real.status, 401, "{}", real.body);
    assert_eq!(fake.status, 401, "{}", fake.body);
}

#[tokio::test]
async fn parallel_wrong_passwords_are_held_to_the_limit_and_the_owner_gets_in_after_the_backoff() {
    let w = orgs(TestApp::new().await).await;
    let attempts = (0..200).map(|i| {
        // Each from its own address, so only the email's limit holds them.
        let request = server_fn_request(
            "auth/sign_in",
            None,
            &[("email", "member@a.test"), ("password", "wrong password")],
            &[],
        );
        let (mut parts, body) = request.into_parts();
        parts
            .extensions
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [10, 0, (i / 256) as u8, (i % 256) as u8],
                40000,
            ))));
        let app = &w.app;
        async move { app.send(axum::http::Request::from_parts(parts, body)).await }
    });
    let answers = futures::future::join_all(attempts).await;
    assert!(answers.iter().all(|r| r.status < 500));
    let checked: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'sign_in.failed' and target = 'member@a.test'",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    let limited = answers.iter().filter(|r| r.status == 429).count();
    assert!(
        checked <= 5,
        "{checked} passwords were checked; the limit is 5"
    );
    assert_eq!(limited as i64 + checked, 200);
    // The owner waits out the backoff (at most 2 s in tests) and signs in.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    w.app.sign_in("member@a.test").await;
    let _ = &w.member;
}

#[tokio::test]
async fn answers_carry_security_headers_and_nothing_secret_is_cached() {
    let app = TestApp::new().await;
    let root = app.root().await;
    let page = app
        .send(
            axum::http::Request::get("/sign-in")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let issued = app
        .call(
            "agents/create_agent",
            Some(&root),
            &[
                ("name", "Cached"),
                ("email", "cached@agents.test"),
                ("model", "gpt-4o"),
            ],
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    for response in [&page, &issued] {
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(header("cache-control"), "no-store");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(
            header("strict-transport-security"),
            "",
            "no HSTS over plain HTTP"
        );
    }
    // One TestApp at a time per process (server::testing): this one's turn ends first.
    drop(app);
    let secure = TestApp::with_services(|s| s.secure_cookies = true).await;
    let page = secure
        .send(
            axum::http::Request::get("/sign-in")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(page.headers.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn a_blocked_text_is_logged_without_its_personal_data() {
    let w = orgs(TestApp::new().await).await;
    let (agent, key) = w.app.agent(&w.root, "Guarded", Some(w.a)).await;
    sqlx::raw_sql(&format!(
        "insert into guardrail_policy (policy_id, org_id, name, kind, params)
         values ('{agent}', '{}', 'No secrets', 'blocked_topics', '{{\"keywords\": [\"secret\"]}}')",
        w.a
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    let r = w
        .app
        .agent_call(
            "POST",
            "/api/v1/guardrails/evaluate",
            &key,
            Some(serde_json::json!({
                "text": "the secret is with jane.doe@example.com, card 4111 1111 1111 1111"
            })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["action"], "block", "{}", r.body);
    let excerpt: String = sqlx::query_scalar("select excerpt from guardrail_intervention")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert!(!excerpt.contains("jane.doe@example.com"), "{excerpt}");
    assert!(!excerpt.contains("4111 1111 1111 1111"), "{excerpt}");
    assert!(excerpt.contains("[EMAIL]"), "{excerpt}");
}

#[tokio::test]
async fn two_tabs_saved_from_the_same_version_do_not_overwrite_each_other() {
    let w = orgs(TestApp::new().await).await;
    let a = w.a.to_string();
    let version = |token: String| {
        let (app, a) = (&w.app, a.clone());
        async move {
            app.call("orgs/get_org", Some(&token), &[("org_id", &a)])
                .await
                .json()["version"]
                .as_i64()
                .unwrap()
                .to_string()
        }
    };
    let save = |token: String, version: String, field: &'static str, value: &'static str| {
        let (app, a) = (&w.app, a.clone());
        async move {
            app.call(
                "orgs/update_org",
                Some(&token),
                &[("org_id", &a), ("version", &version), (field, value)],
            )
            .await
        }
    };
    let opened = version(w.admin.clone()).await;
    // One admin renames the org on Basic Info …
    let basic = save(
        w.admin.clone(),
        opened.clone(),
        "details[name]",
        "Renamed A",
    )
    .await;
    assert_eq!(basic.status, 200, "{}", basic.body);
    // … the owner, with the dialog opened before that, saves the Address tab: refused, not
    // saved over the new name.
    let address = save(w.owner.clone(), opened, "details[city]", "Riyadh").await;
    assert_eq!(address.status, 409, "{}", address.body);
    assert!(
        address.body.contains("changed since you opened it"),
        "{}",
        address.body
    );
    // Reloaded, the Address tab saves its own field and leaves the name alone.
    let fresh = version(w.owner.clone()).await;
    let address = save(w.owner.clone(), fresh, "details[city]", "Riyadh").await;
    assert_eq!(address.status, 200, "{}", address.body);
    let (name, city): (String, String) =
        sqlx::query_as("select name, city from organization where org_id = $1")
            .bind(w.a)
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!((name.as_str(), city.as_str()), ("Renamed A", "Riyadh"));
}

#[tokio::test]
async fn members_and_a_subscription_changed_meanwhile_do_not_refuse_an_open_form() {
    let w = orgs(TestApp::new().await).await;
    let a = w.a.to_string();
    let opened = w
        .app
        .call("orgs/get_org", Some(&w.admin), &[("org_id", &a)])
        .await
        .json()["version"]
        .as_i64()
        .expect("the org's version")
        .to_string();
    // While the form is open: a member added, one's role changed, the subscription saved.
    let late = w.app.user("late@a.test", false, None).await;
    w.app.add_member(w.a, late, "viewer").await;
    sqlx::raw_sql(&format!(
        "update membership set role_name = 'member' where user_id = '{late}';
         insert into subscription (org_id, seats) values ('{a}', 9)
           on conflict (org_id) do update set seats = 9;"
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    // Saves the city from the form opened above.
    let save_city = |city: &'static str| {
        let (app, a, opened, admin) = (&w.app, a.clone(), opened.clone(), w.admin.clone());
        async move {
            app.call(
                "orgs/update_org",
                Some(&admin),
                &[
                    ("org_id", &a),
                    ("version", &opened),
                    ("details[city]", city),
                ],
            )
            .await
        }
    };
    let saved = save_city("Jeddah").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    // A change to the org's own details still refuses a form opened before it.
    let stale = save_city("Mecca").await;
    assert_eq!(stale.status, 409, "{}", stale.body);
}

#[tokio::test]
async fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
    use app::tenancy::gate::ClientAddr;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
    let cases = [
        // A client's own header is ignored.
        ("203.0.113.5", Some("198.51.100.1"), "203.0.113.5"),
        // Through one trusted proxy: the address it saw.
        ("10.0.0.1", Some("198.51.100.1"), "198.51.100.1"),
        // A client that forges the start of the chain is still counted as itself.
        ("10.0.0.1", Some("1.2.3.4, 198.51.100.1"), "198.51.100.1"),
        // Through two trusted proxies.
        ("10.0.0.2", Some("198.51.100.1, 10.0.0.1"), "198.51.100.1"),
        // A trusted proxy that says nothing: itself.
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", Some("not an address"), "10.0.0.1"),
        // An unreadable entry stops the walk: what the client put before it is not believed.
        ("10.0.0.1", Some("1.2.3.4, garbage"), "10.0.0.1"),
        ("10.0.0.2", Some("1.2.3.4, garbage, 10.0.0.1"), "10.0.0.1"),
        // With a port.
        ("10.0.0.1", Some("198.51.100.1:4711"), "198.51.100.1"),
    ];
    for (peer, header, expected) in cases {
        assert_eq!(
            ClientAddr::resolve(ip(peer), header, &trusted).0,
            ip(expected),
            "{peer} {header:?}"
        );
    }
    // Through the router: the test app trusts 127.0.0.9 only; the limiter counts the client.
    let w = orgs(TestApp::new().await).await;
    let attempt = |peer: [u8; 4], forwarded: &'static str| {
        let request = server_fn_request(
            "auth/sign_in",
            None,
            &[("email", "viewer@a.test"), ("password", "wrong password")],
            &[("x-forwarded-for", forwarded)],
        );
        let (mut parts, body) = request.into_parts();
        parts
            .extensions
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 4000,
            ))));
        w.app.send(axum::http::Request::from_parts(parts, body))
    };
    attempt([127, 0, 0, 9], "198.51.100.7").await;
    attempt([203, 0, 113, 5], "198.51.100.8").await;
    // A proxy that adds its own header line: the client's forged line does not win.
    let request = server_fn_request(
        "auth/sign_in",
        None,
        &[("email", "viewer@a.test"), ("password", "wrong password")],
        &[
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-for", "198.51.100.9"),
        ],
    );
    let (mut parts, body) = request.into_parts();
    parts
        .extensions
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 9],
            4000,
        ))));
    w.app
        .send(axum::http::Request::from_parts(parts, body))
        .await;
    let ips: Vec<String> = sqlx::query_scalar(
        "select ip from audit_event where action = 'sign_in.failed' order by audit_event_id",
    )
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(ips, vec!["198.51.100.7", "203.0.113.5", "198.51.100.9"]);
}

#[tokio::test]
async fn an_admin_cannot_hand_out_more_than_it_holds_through_another_account() {
    let w = orgs(TestApp::new().await).await;
    let a = w.a.to_string();
    let member_id = user_id(&w.app, "member@a.test").await.to_string();
    let create = |token: String, email: &'static str, role: &'static str| {
        let (app, a) = (&w.app, a.clone());
        async move {
            app.call(
                "members/create_user",
                Some(&token),
                &[
                    ("org_id", a.as_str()),
                    ("name", "Second"),
                    ("email", email),
                    ("password", TEST_PASSWORD),
                    ("role", role),
                ],
            )
            .await
        }
    };
    // An admin who is no owner cannot create an owner.
    let r = create(w.admin.clone(), "second-owner@a.test", "owner").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("role"), "{}", r.body);
    // Narrowed to Users by a superadmin, the admin cannot create a full admin …
    narrow_admin_to_users(&w).await;
    let r = create(w.admin.clone(), "second-admin@a.test", "admin").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("pages"), "{}", r.body);
    // … nor give another member a section it does not hold itself.
    let r = w
        .app
        .call(
            "members/set_membership",
            Some(&w.admin),
            &[
                ("org_id", &a),
                ("user_id", &member_id),
                ("role", "member"),
                ("own_pages", "on"),
                ("pages[billing]", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Billing"), "{}", r.body);
    let accounts: i64 = sqlx::query_scalar(
        "select count(*) from app_user where email in ('second-owner@a.test', 'second-admin@a.test')",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(accounts, 0);
}
