//! The tenancy gate, sign-in and the org lifecycle, through the real router and a real
//! PostgreSQL, as the runtime role.

use app::auth::token::Claims;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use server::testing::{server_fn_request, TestApp, TestResponse, World};
use uuid::Uuid;

async fn world() -> World {
    World::build()
        .org("Alpha Corp", &[("alice@alpha.test", "admin")])
        .org("Beta Corp", &[("bob@beta.test", "admin")])
        .await
}

fn error_text(response: &TestResponse) -> String {
    response.json().to_string()
}

#[tokio::test]
async fn a_member_reads_its_own_org_and_sign_in_lands_in_it() {
    let w = world().await;
    let response = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["id"], w.org("Alpha Corp").to_string());
    assert_eq!(response.json()["details"]["name"], "Alpha Corp");
}

#[tokio::test]
async fn org_resolution_refuses_missing_conflicting_unknown_and_disabled() {
    let w = world().await;
    // A superadmin with no membership has no org in its token.
    let none = w.app.call("orgs/current_org", Some(&w.root), &[]).await;
    assert_eq!(none.status, 400, "{}", none.body);
    assert!(error_text(&none).contains("organization context required"));

    // Token says Alpha, the header says Beta.
    let conflicting = w
        .app
        .send(server_fn_request(
            "orgs/current_org",
            Some(w.token("alice")),
            &[],
            &[("x-tenantry-org", &w.org("Beta Corp").to_string())],
        ))
        .await;
    // Alice may not enter Beta: "conflicting" would tell her Beta exists.
    assert_eq!(conflicting.status, 403);
    assert!(error_text(&conflicting).contains("not a member"));

    // Token says Alpha, the subdomain says Beta.
    let by_host = w
        .app
        .send(server_fn_request(
            "orgs/current_org",
            Some(w.token("alice")),
            &[],
            &[("host", "beta-corp.tenantry.test")],
        ))
        .await;
    // Alice may not enter Beta: the same answer as for an unknown org.
    assert_eq!(by_host.status, 403, "{}", by_host.body);

    let unknown = w
        .app
        .send(server_fn_request(
            "orgs/current_org",
            Some(&w.root),
            &[],
            &[("host", "nobody.tenantry.test")],
        ))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    let disable = w
        .app
        .call(
            "orgs/disable_org",
            Some(&w.root),
            &[("org_id", &w.org("Beta Corp").to_string())],
        )
        .await;
    assert_eq!(disable.status, 200, "{}", disable.body);
    let disabled = w
        .app
        .send(server_fn_request(
            "orgs/current_org",
            Some(&w.root),
            &[],
            &[("x-tenantry-org", &w.org("Beta Corp").to_string())],
        ))
        .await;
    assert_eq!(disabled.status, 403);
    assert!(error_text(&disabled).contains("organization disabled"));
}

#[tokio::test]
async fn subdomain_and_custom_domain_resolve_the_org() {
    let w = world().await;
    for host in [
        "alpha-corp.tenantry.test",
        "ALPHA.example.",
        "alpha-corp.tenantry.test:8443",
    ] {
        let response = w
            .app
            .send(server_fn_request(
                "orgs/current_org",
                Some(w.token("alice")),
                &[],
                &[("host", host)],
            ))
            .await;
        assert_eq!(response.status, 200, "{host}: {}", response.body);
        assert_eq!(
            response.json()["id"],
            w.org("Alpha Corp").to_string(),
            "{host}"
        );
    }
}

#[tokio::test]
async fn a_member_of_one_org_is_refused_in_another_and_the_refusal_is_audited() {
    let w = world().await;
    let response = w
        .app
        .call(
            "orgs/get_org",
            Some(w.token("alice")),
            &[("org_id", &w.org("Beta Corp").to_string())],
        )
        .await;
    assert_eq!(
        response.status, 403,
        "token org Alpha vs argument Beta: {}",
        response.body
    );
    assert!(!response.body.contains("Beta Corp"));

    // Switching into Beta is refused too, and recorded in Alice's org and the platform's log,
    // not in Beta's (an outsider must not be able to write there).
    let switch = w
        .app
        .call(
            "auth/switch_org",
            Some(w.token("alice")),
            &[("org_id", &w.org("Beta Corp").to_string())],
        )
        .await;
    assert_eq!(switch.status, 403, "{}", switch.body);
    let owner = &w.app.owner;
    let audited = |org: Option<Uuid>| async move {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from audit_event
              where org_id is not distinct from $1 and action = 'org.switch.refused'",
        )
        .bind(org)
        .fetch_one(owner)
        .await
        .unwrap()
    };
    assert_eq!(audited(Some(w.org("Beta Corp"))).await, 0);
    assert_eq!(audited(Some(w.org("Alpha Corp"))).await, 1);
    assert_eq!(audited(None).await, 1);
}

#[tokio::test]
async fn disabling_an_org_locks_its_members_out_at_once_and_enabling_restores_access() {
    let w = world().await;
    let before: i64 = sqlx::query_scalar("select count(*) from membership where org_id = $1")
        .bind(w.org("Alpha Corp"))
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    // Alice's admin rights let her disable her own org…
    let disable = w
        .app
        .call(
            "orgs/disable_org",
            Some(w.token("alice")),
            &[("org_id", &w.org("Alpha Corp").to_string())],
        )
        .await;
    assert_eq!(disable.status, 200, "{}", disable.body);
    // …and her existing session is refused on the very next request.
    let locked = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await;
    assert_eq!(locked.status, 403);
    assert!(error_text(&locked).contains("organization disabled"));
    // Only a superadmin can enable it again.
    let refused = w
        .app
        .call(
            "orgs/enable_org",
            Some(w.token("alice")),
            &[("org_id", &w.org("Alpha Corp").to_string())],
        )
        .await;
    assert_eq!(refused.status, 403);
    let enable = w
        .app
        .call(
            "orgs/enable_org",
            Some(&w.root),
            &[("org_id", &w.org("Alpha Corp").to_string())],
        )
        .await;
    assert_eq!(enable.status, 200, "{}", enable.body);
    let back = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.json()["details"]["name"], "Alpha Corp");
    let after: i64 = sqlx::query_scalar("select count(*) from membership where org_id = $1")
        .bind(w.org("Alpha Corp"))
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(before, after, "no data lost");
}

fn forge(claims: &Claims, alg: Algorithm, secret: &[u8]) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test]
async fn bad_tokens_get_401() {
    let w = world().await;
    let good = w
        .app
        .services
        .tokens
        .verify(w.token("alice"))
        .expect("a valid token");
    let now = chrono::Utc::now().timestamp();
    let b64 = |s: &str| {
        use std::fmt::Write;
        // base64url without padding, by hand (no extra dependency for one test).
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = s.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                let _ = write!(out, "{}", T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    };
    let payload = serde_json::to_string(&good).unwrap();
    // The forging works: HS256 with our secret is accepted.
    let genuine = forge(&good, Algorithm::HS256, &w.app.token_secret);
    assert_eq!(
        w.app
            .call("orgs/current_org", Some(&genuine), &[])
            .await
            .status,
        200
    );
    let mut cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&payload)
            ),
        ),
        (
            "HS384 with our secret",
            forge(&good, Algorithm::HS384, &w.app.token_secret),
        ),
        (
            "HS512 with our secret",
            forge(&good, Algorithm::HS512, &w.app.token_secret),
        ),
        (
            "wrong secret",
            forge(
                &good,
                Algorithm::HS256,
                b"another secret of at least thirty-two bytes",
            ),
        ),
        (
            "expired",
            w.app.services.tokens.sign(&Claims {
                exp: now - 10,
                iat: now - 100,
                ..good.clone()
            }),
        ),
        ("tampered", {
            let mut parts: Vec<String> = w.token("alice").split('.').map(String::from).collect();
            let other = Claims {
                sub: Uuid::new_v4(),
                ..good.clone()
            };
            parts[1] = b64(&serde_json::to_string(&other).unwrap());
            parts.join(".")
        }),
        (
            "unknown session",
            w.app.services.tokens.sign(&Claims {
                sid: Uuid::new_v4(),
                ..good.clone()
            }),
        ),
        ("garbage", "not-a-token".to_string()),
    ];
    // A revoked session: sign out, then reuse the token.
    let bob = w.app.sign_in("bob@beta.test").await;
    let out = w.app.call("auth/sign_out", Some(&bob), &[]).await;
    assert!(out.status < 400, "{}", out.body);
    cases.push(("revoked session", bob));

    for (case, token) in cases {
        let response = w.app.call("orgs/current_org", Some(&token), &[]).await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
    }
    // And the untouched token still works, so the 401s above are about the tokens.
    let ok = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_email_with_a_time_to_retry() {
    let w = world().await;
    for _ in 0..5 {
        let r = w
            .app
            .call(
                "auth/sign_in",
                None,
                &[
                    ("email", "alice@alpha.test"),
                    ("password", "wrong password"),
                ],
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("incorrect"));
    }
    let limited = w
        .app
        .call(
            "auth/sign_in",
            None,
            &[
                ("email", "alice@alpha.test"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(
        error_text(&limited).contains("RateLimited"),
        "{}",
        limited.body
    );
    let retry = limited.json()["RateLimited"]["retry_after_secs"]
        .as_u64()
        .unwrap();
    // A backoff since the last failure (1 s, doubling, at most 2 s in tests), not a lockout
    // for the whole window.
    assert!((1..=2).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_bound_user_cannot_switch_and_a_superadmin_can_switch_anywhere() {
    let w = world().await;
    let carol = w
        .app
        .user("carol@alpha.test", false, Some(w.org("Alpha Corp")))
        .await;
    w.app.add_member(w.org("Alpha Corp"), carol, "member").await;
    w.app.add_member(w.org("Beta Corp"), carol, "member").await;
    let carol_token = w.app.sign_in("carol@alpha.test").await;
    let forged = w
        .app
        .call(
            "auth/switch_org",
            Some(&carol_token),
            &[("org_id", &w.org("Beta Corp").to_string())],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("locked"));
    // Even a token naming Beta does not get a bound user in.
    let claims = w.app.services.tokens.verify(&carol_token).unwrap();
    let beta_token = w.app.services.tokens.sign(&Claims {
        org: Some(w.org("Beta Corp")),
        ..claims
    });
    let refused = w.app.call("orgs/current_org", Some(&beta_token), &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let root_in_beta = w.app.switch(&w.root, w.org("Beta Corp")).await;
    let response = w
        .app
        .call("orgs/current_org", Some(&root_in_beta), &[])
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["details"]["name"], "Beta Corp");
}

#[tokio::test]
async fn cross_site_posts_are_refused_before_they_run() {
    let w = world().await;
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("origin", "https://evil.example"),
            ("host", "localhost:3000"),
        ],
        vec![("origin", "null")],
    ] {
        let response = w
            .app
            .send(server_fn_request(
                "orgs/disable_org",
                Some(w.token("alice")),
                &[("org_id", &w.org("Alpha Corp").to_string())],
                &headers,
            ))
            .await;
        assert_eq!(response.status, 403, "{headers:?}");
    }
    let status: String = sqlx::query_scalar("select status from organization where org_id = $1")
        .bind(w.org("Alpha Corp"))
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(status, "active");
    let same_origin = w
        .app
        .send(server_fn_request(
            "orgs/current_org",
            Some(w.token("alice")),
            &[],
            &[("sec-fetch-site", "same-origin")],
        ))
        .await;
    assert_eq!(same_origin.status, 200);
}

#[tokio::test]
async fn creating_an_org_provisions_its_schema_and_deleting_drops_it() {
    let w = world().await;
    let gamma = w.app.create_org(&w.root, "Gamma", "gamma.example").await;
    assert!(app::orgs::schema_exists(&w.app.owner, gamma).await.unwrap());

    let duplicate = w
        .app
        .call(
            "orgs/create_org",
            Some(&w.root),
            &[
                ("org[name]", "gamma"),
                ("org[domain]", "alpha.example"),
                ("org[product]", "nope"),
                ("org[status]", "active"),
            ],
        )
        .await;
    assert_eq!(duplicate.status, 400, "{}", duplicate.body);
    assert!(duplicate.body.contains("product"), "{}", duplicate.body);
    let duplicate = w
        .app
        .call(
            "orgs/create_org",
            Some(&w.root),
            &[
                ("org[name]", "GAMMA"),
                ("org[domain]", "other-gamma.example"),
                ("org[product]", "crm"),
                ("org[status]", "active"),
            ],
        )
        .await;
    assert_eq!(duplicate.status, 400, "{}", duplicate.body);
    assert!(
        duplicate.body.contains("already exists"),
        "{}",
        duplicate.body
    );
    let taken_domain = w
        .app
        .call(
            "orgs/create_org",
            Some(&w.root),
            &[
                ("org[name]", "Delta"),
                ("org[domain]", "Alpha.Example"),
                ("org[product]", "crm"),
                ("org[status]", "active"),
            ],
        )
        .await;
    assert!(
        taken_domain.body.contains("already used"),
        "{}",
        taken_domain.body
    );

    // Only superadmins create orgs.
    let by_admin = w
        .app
        .call(
            "orgs/create_org",
            Some(w.token("alice")),
            &[
                ("org[name]", "Rogue"),
                ("org[domain]", "rogue.example"),
                ("org[product]", "crm"),
                ("org[status]", "active"),
            ],
        )
        .await;
    assert_eq!(by_admin.status, 403);

    // Alpha has a member: refused, nothing dropped.
    let refused = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &w.org("Alpha Corp").to_string())],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(app::orgs::schema_exists(&w.app.owner, w.org("Alpha Corp"))
        .await
        .unwrap());

    let deleted = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &gamma.to_string())],
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(!app::orgs::schema_exists(&w.app.owner, gamma).await.unwrap());
    let platform_log: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id is null and action = 'org.delete'",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(platform_log, 1);
}

#[tokio::test]
async fn the_slug_is_permanent() {
    let w = world().await;
    let org = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await
        .json();
    let id = w.org("Alpha Corp").to_string();
    let mut fields = vec![
        ("org_id", id.as_str()),
        ("details[name]", "Alpha Corporation"),
        ("details[domain]", "alpha.example"),
        ("details[description]", ""),
        ("details[contact_email]", "ops@alpha.example"),
        ("details[contact_phone]", ""),
        ("details[address_line1]", ""),
        ("details[address_line2]", ""),
        ("details[city]", "Riyadh"),
        ("details[state]", ""),
        ("details[country]", "SA"),
        ("details[zip]", ""),
        ("details[product]", "crm"),
    ];
    let ok = w
        .app
        .call("orgs/update_org", Some(w.token("alice")), &fields)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    fields.push(("slug", "renamed"));
    let refused = w
        .app
        .call("orgs/update_org", Some(w.token("alice")), &fields)
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("cannot be changed"),
        "{}",
        refused.body
    );
    // Even the database refuses, for any writer.
    let err = sqlx::query("update organization set slug = 'renamed' where org_id = $1")
        .bind(w.org("Alpha Corp"))
        .execute(&w.app.owner)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be changed"));
    let after = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await
        .json();
    assert_eq!(after["slug"], org["slug"]);
    assert_eq!(after["details"]["name"], "Alpha Corporation");
    // The primary domain is required: it can be changed, not removed.
    let cleared = w
        .app
        .call(
            "orgs/update_org",
            Some(w.token("alice")),
            &[("org_id", id.as_str()), ("details[domain]", " ")],
        )
        .await;
    assert_eq!(cleared.status, 400, "{}", cleared.body);
    assert!(
        cleared.json()["Validation"]["domain"].is_array(),
        "{}",
        cleared.body
    );
}

#[tokio::test]
async fn self_registration_makes_a_personal_org_owned_by_the_new_user() {
    let app = TestApp::new().await;
    let register = |name: &'static str, email: &'static str, organization: &'static str| {
        let app = &app;
        async move {
            app.call(
                "auth/register",
                None,
                &[
                    ("name", name),
                    ("email", email),
                    ("password", "long enough pw"),
                    ("organization", organization),
                ],
            )
            .await
        }
    };
    let response = register("Dana", "Dana@Example.com", "").await;
    let token = response
        .session_cookie()
        .unwrap_or_else(|| panic!("{response:?}"));
    let org = app.call("orgs/current_org", Some(&token), &[]).await;
    assert_eq!(org.status, 200, "{}", org.body);
    assert_eq!(org.json()["details"]["name"], "Dana's workspace");
    let role: String = sqlx::query_scalar(
        "select m.role_name from membership m join app_user u using (user_id) where u.email = 'dana@example.com'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(role, "owner");

    let again = register("Dana", "dana@example.com", "Other").await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("already exists"), "{}", again.body);
    let orgs: i64 = sqlx::query_scalar("select count(*) from organization")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(orgs, 1, "the failed registration left no org behind");

    // Another Dana leaving the organization blank gets the next free default name, and the
    // name a person chose is still theirs to fix when taken.
    for (email, expected) in [
        ("dana2@example.com", "Dana's workspace 2"),
        ("dana3@example.com", "Dana's workspace 3"),
    ] {
        let response = register("Dana", email, "").await;
        let token = response
            .session_cookie()
            .unwrap_or_else(|| panic!("{response:?}"));
        let org = app.call("orgs/current_org", Some(&token), &[]).await;
        assert_eq!(org.json()["details"]["name"], expected, "{}", org.body);
    }
    let chosen = register("Eve", "eve@example.com", "Dana's workspace").await;
    assert_eq!(chosen.status, 400, "{}", chosen.body);
    assert!(
        chosen.json()["Validation"]["organization"].is_array(),
        "{}",
        chosen.body
    );
}

#[tokio::test]
async fn every_org_has_the_built_in_roles_at_most_20_custom_ones_and_keeps_admin_and_member() {
    let w = world().await;
    let runtime = w.app.db.runtime_pool().await;
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query("select set_config('app.org_id', $1, true)")
        .bind(w.org("Alpha Corp").to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let builtin: Vec<String> =
        sqlx::query_scalar("select role_name from org_role where builtin order by role_name")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(
        builtin,
        ["admin", "guest", "manager", "member", "owner", "viewer"]
    );
    for n in 1..=20 {
        sqlx::query("insert into org_role (org_id, role_name, pages) values ($1, $2, '{agents}')")
            .bind(w.org("Alpha Corp"))
            .bind(format!("custom-{n}"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let err = sqlx::query("insert into org_role (org_id, role_name) values ($1, 'one-too-many')")
        .bind(w.org("Alpha Corp"))
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 20 custom roles"), "{err}");
    tx.rollback().await.unwrap();

    for role in ["admin", "member"] {
        let mut tx = runtime.begin().await.unwrap();
        sqlx::query("select set_config('app.org_id', $1, true)")
            .bind(w.org("Alpha Corp").to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = sqlx::query("delete from org_role where org_id = $1 and role_name = $2")
            .bind(w.org("Alpha Corp"))
            .bind(role)
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("cannot be removed"),
            "{role}: {err}"
        );
    }
    // Page permissions name only the Admin App's sections.
    let err = sqlx::query("update org_role set pages = '{secrets}' where org_id = $1")
        .bind(w.org("Alpha Corp"))
        .execute(&w.app.owner)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("org_role_pages_check"), "{err}");
}

#[tokio::test]
async fn member_numbers_count_up_per_org() {
    let w = world().await;
    let extra = w.app.user("erin@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha Corp"), extra, "member").await;
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "select o.org_number, m.member_seq from membership m join organization o using (org_id)
          where m.org_id = $1 order by m.member_seq",
    )
    .bind(w.org("Alpha Corp"))
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    let labels: Vec<String> = rows.iter().map(|(n, s)| format!("ORG{n}-U-{s}")).collect();
    let n = rows[0].0;
    assert_eq!(labels, [format!("ORG{n}-U-1"), format!("ORG{n}-U-2")]);
}

#[tokio::test]
async fn the_setup_link_creates_one_superadmin_once() {
    let app = TestApp::new().await;
    *app.services.setup_token.lock().unwrap() = Some("the-token".to_string());
    let fields = |token: &'static str, email: &'static str| {
        vec![
            ("token", token),
            ("name", "Root"),
            ("email", email),
            ("password", "a long enough password"),
        ]
    };
    let wrong = app
        .call(
            "auth/create_first_superadmin",
            None,
            &fields("guess", "root@x.test"),
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let weak = app
        .call(
            "auth/create_first_superadmin",
            None,
            &[
                ("token", "the-token"),
                ("name", ""),
                ("email", "nope"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    for field in ["name", "email", "password"] {
        assert!(
            weak.json()["Validation"][field].is_array(),
            "{field}: {}",
            weak.body
        );
    }
    let created = app
        .call(
            "auth/create_first_superadmin",
            None,
            &fields("the-token", "root@x.test"),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let token = created.session_cookie().expect("signed in");
    assert!(app.services.tokens.verify(&token).unwrap().superadmin);
    let replay = app
        .call(
            "auth/create_first_superadmin",
            None,
            &fields("the-token", "second@x.test"),
        )
        .await;
    assert_eq!(replay.status, 403, "the link works once: {}", replay.body);
    let superadmins: i64 = sqlx::query_scalar("select count(*) from app_user where is_superadmin")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(superadmins, 1);
}

#[tokio::test]
async fn the_runtime_role_cannot_make_a_superadmin() {
    let app = TestApp::new().await;
    let runtime = app.db.runtime_pool().await;
    let user = app.user("someone@x.test", false, None).await;
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query("select set_config('app.user_id', $1, true)")
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("update app_user set is_superadmin = true where user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().code().as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn disabling_a_user_refuses_its_live_session_at_once() {
    let w = world().await;
    assert_eq!(
        w.app
            .call("orgs/current_org", Some(w.token("alice")), &[])
            .await
            .status,
        200
    );
    sqlx::query("update app_user set status = 'disabled' where email = 'alice@alpha.test'")
        .execute(&w.app.owner)
        .await
        .unwrap();
    let refused = w
        .app
        .call("orgs/current_org", Some(w.token("alice")), &[])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("account is disabled"),
        "{}",
        refused.body
    );
    let sign_in = w
        .app
        .call(
            "auth/sign_in",
            None,
            &[
                ("email", "alice@alpha.test"),
                ("password", server::testing::TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(sign_in.status, 403, "{}", sign_in.body);
    assert!(sign_in.session_cookie().is_none());
}

#[tokio::test]
async fn the_overview_shows_who_created_the_org_when_and_its_members_recent_sign_ins() {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let org = app.create_org(&root, "Origin Co", "origin.example").await;
    let org_id = org.to_string();
    let admin_user = app.user("admin@origin.test", false, None).await;
    app.add_member(org, admin_user, "admin").await;
    let quiet = app.user("quiet@origin.test", false, None).await;
    app.add_member(org, quiet, "member").await;
    let admin = app.sign_in("admin@origin.test").await;
    let admin = app.switch(&admin, org).await;
    let overview = |token: String| {
        let app = &app;
        let org_id = org_id.clone();
        async move {
            let response = app
                .call("orgs/org_overview", Some(&token), &[("org_id", &org_id)])
                .await;
            assert_eq!(response.status, 200, "{}", response.body);
            response.json()
        }
    };

    // The superadmin who made it sees their own name; the org's admin, who may not see a
    // platform account, is told what stands in for it.
    let seen = overview(root.clone()).await;
    assert_eq!(seen["created_by"], "root", "{seen}");
    assert!(seen["created_at"].is_string(), "{seen}");
    assert_eq!(
        seen["recently_signed_in"], 1,
        "only the admin signed in: {seen}"
    );
    assert!(seen["last_sign_in"].is_string(), "{seen}");
    let seen = overview(admin.clone()).await;
    assert_eq!(
        seen["created_by"], "A platform administrator or former member",
        "{seen}"
    );

    // Nobody signed in for 40 days: no active users.
    sqlx::query(
        "update app_user set last_login_at = now() - interval '40 days' where user_id = $1",
    )
    .bind(admin_user)
    .execute(&app.owner)
    .await
    .unwrap();
    let seen = overview(root).await;
    assert_eq!(seen["recently_signed_in"], 0, "{seen}");
    assert!(seen["last_sign_in"].is_string(), "{seen}");
}
