//! Isolation proofs over the whole system rather than chosen examples:
//! - the catalog test: every table with an `org_id` column, now or added later, has row-level
//!   security enabled and forced, and the runtime role scoped to org A can neither see nor
//!   change org B's rows in it;
//! - the cross-org probe: every server function and page the router serves, called by a member
//!   of org A aiming at org B in every way a request can name an org, returns none of B's data
//!   and changes none of it.

use std::collections::BTreeMap;

use app::auth::token::Claims;
use server::testing::{probe_fields, server_fn_request, Aim, TestApp};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Tables (schema-qualified) with an `org_id` column, outside the system schemas.
async fn org_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select format('%I.%I', n.nspname, c.relname)
           from pg_attribute a
           join pg_class c on c.oid = a.attrelid
           join pg_namespace n on n.oid = c.relnamespace
          where a.attname = 'org_id' and not a.attisdropped
            and c.relkind in ('r', 'p')
            and n.nspname not in ('pg_catalog', 'information_schema')
          order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// What is wrong with the row-level security of `table`, if anything.
async fn rls_problems(pool: &PgPool, table: &str) -> Vec<String> {
    let row = sqlx::query(
        "select c.relrowsecurity, c.relforcerowsecurity,
                (select count(*) from pg_policy p where p.polrelid = c.oid) as policies
           from pg_class c where c.oid = $1::regclass",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut problems = Vec::new();
    if !row.get::<bool, _>(0) {
        problems.push(format!("{table}: row-level security is not enabled"));
    }
    if !row.get::<bool, _>(1) {
        problems.push(format!("{table}: row-level security is not forced"));
    }
    if row.get::<i64, _>(2) == 0 {
        problems.push(format!("{table}: has no policy"));
    }
    problems
}

/// Two orgs with rows in every tenant table.
async fn two_orgs() -> (TestApp, Uuid, Uuid) {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let a = app.create_org(&root, "Org A", "a.example").await;
    let b = app.create_org(&root, "Org B", "b.example").await;
    for (org, email, agent) in [(a, "a@a.test", "Agent A"), (b, "b@b.test", "Agent B")] {
        let user = app.user(email, false, None).await;
        app.add_member(org, user, "admin").await;
        let (agent, _) = app.agent(&root, agent, Some(org)).await;
        sqlx::query("insert into agent_memory (agent_id, content) values ($1, 'remembered')")
            .bind(agent)
            .execute(&app.owner)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "insert into guardrail_policy (policy_id, org_id, name, kind, params)
             values ('{agent}', '{org}', 'No secrets', 'blocked_topics', '{{\"keywords\": [\"secret\"]}}');
             insert into guardrail_intervention (org_id, agent_id, policy_id, policy_name, action, excerpt)
             values ('{org}', '{agent}', '{agent}', 'No secrets', 'block', 'a secret');
             insert into knowledge_entry (org_id, title, body) values ('{org}', 'Handbook', 'text');
             insert into credential (org_id, name, kind, nonce, ciphertext, last4)
             values ('{org}', 'stripe', 'api_key', '\\x000102030405060708090a0b', '\\x00', '1234');
             insert into model_price values ('fixture-model', '2000-01-01', 1, 1) on conflict do nothing;
             insert into agent_rate (org_id, agent_id, rate_cents) values ('{org}', '{agent}', 100);
             insert into usage_event (org_id, idempotency_key, agent_id, model, input_tokens,
                                      output_tokens, occurred_at)
             values ('{org}', 'fixture', '{agent}', 'fixture-model', 1, 1, now());
             insert into billing_record (org_id, month, agent_id, agent_name, rate_cents,
                                         input_tokens, output_tokens, cost_micros)
             values ('{org}', '2000-01-01', '{agent}', 'Agent', 100, 1, 1, 0);
             insert into quota_alert (org_id, resource, period_start, threshold, used, quota)
             values ('{org}', 'tokens', '2000-01-01', 80, 8, 10);
             insert into llm_key (org_id, provider, nonce, ciphertext, last4)
             values ('{org}', 'openai', '\\x000102030405060708090a0b', '\\x00', '1234');"
        ))
        .execute(&app.owner)
        .await
        .unwrap();
        // Rows for the tables no endpoint writes yet.
        sqlx::raw_sql(&format!(
            "insert into subscription (org_id, plan_name) values ('{org}', 'pro_monthly');
             insert into org_product (org_id, product) values ('{org}', 'crm');
             insert into org_skill (org_id, name, product) values ('{org}', 'probe_skill', 'crm');
             insert into org_config (org_id, key, product, value) values ('{org}', 'probe.key', 'crm', '1');
             insert into product_run (org_id, run_id, product, version, action, status, total)
               values ('{org}', '{org}', 'crm', 1, 'install', 'succeeded', 1);
             insert into product_step (org_id, run_id, seq, kind, name, op)
               values ('{org}', '{org}', 0, 'skill', 'probe_skill', 'create');
             insert into product_artifact (org_id, kind, name, product, definition, run_id, seq)
               values ('{org}', 'skill', 'probe_skill', 'crm', '{{}}', '{org}', 0);
             insert into invitation (org_id, email, role_name, token_hash, expires_at)
               values ('{org}', 'probe@invited.test', 'member', sha256(('{org}')::bytea),
                       now() + interval '7 days');
             insert into email_outbox (org_id, recipient, subject, body)
               values ('{org}', 'probe@invited.test', 'Probe', 'A probe message');"
        ))
        .execute(&app.owner)
        .await
        .unwrap();
    }
    (app, a, b)
}

#[tokio::test]
async fn every_org_table_forces_rls_and_hides_other_orgs_rows_from_the_runtime_role() {
    let (app, a, b) = two_orgs().await;
    let superuser = app.db.superuser_pool().await;
    let tables = org_tables(&superuser).await;
    assert!(tables.len() >= 4, "the catalog query found only {tables:?}");
    let problems: Vec<String> =
        futures_join(tables.iter().map(|t| rls_problems(&superuser, t))).await;
    assert!(problems.is_empty(), "{problems:#?}");

    let runtime = app.db.runtime_pool().await;
    for table in &tables {
        // Every table needs an org-A row to try the writes with; a new table without a fixture
        // row fails here, which is the point: add one above.
        let a_rows: i64 =
            sqlx::query_scalar(&format!("select count(*) from {table} where org_id = $1"))
                .bind(a)
                .fetch_one(&app.owner)
                .await
                .unwrap();
        assert!(a_rows > 0, "{table}: no org-A fixture row to probe with");

        let mut tx = runtime.begin().await.unwrap();
        sqlx::query("select set_config('app.org_id', $1, true)")
            .bind(a.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let seen: i64 =
            sqlx::query_scalar(&format!("select count(*) from {table} where org_id = $1"))
                .bind(b)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(seen, 0, "{table}: org B's rows are visible from org A");
        let own: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(own, a_rows, "{table}: org A sees exactly its own rows");
        if has_privilege(&runtime, table, "update").await {
            let updated = sqlx::query(&format!(
                "update {table} set org_id = org_id where org_id = $1"
            ))
            .bind(b)
            .execute(&mut *tx)
            .await
            .unwrap();
            assert_eq!(updated.rows_affected(), 0, "{table}: updated org B's rows");
        }
        if has_privilege(&runtime, table, "delete").await {
            let deleted = sqlx::query(&format!("delete from {table} where org_id = $1"))
                .bind(b)
                .execute(&mut *tx)
                .await
                .unwrap();
            assert_eq!(deleted.rows_affected(), 0, "{table}: deleted org B's rows");
        }
        tx.rollback().await.unwrap();

        // Writing a row into org B, or moving an org-A row there, is refused by the policy.
        for (what, sql) in [
            (
                "insert",
                format!(
                    "insert into {table} overriding system value
                     select (jsonb_populate_record(null::{table},
                               to_jsonb(x) || jsonb_build_object('org_id', $2::uuid))).*
                       from {table} x where org_id = $1 limit 1"
                ),
            ),
            (
                "update",
                format!("update {table} set org_id = $2 where org_id = $1"),
            ),
        ] {
            let mut tx = runtime.begin().await.unwrap();
            sqlx::query("select set_config('app.org_id', $1, true)")
                .bind(a.to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
            let result = sqlx::query(&sql).bind(a).bind(b).execute(&mut *tx).await;
            let code = match &result {
                Err(sqlx::Error::Database(e)) => e.code().map(|c| c.to_string()),
                _ => None,
            };
            // 42501: the row-level security policy (or a missing privilege) refused it.
            assert_eq!(
                code.as_deref(),
                Some("42501"),
                "{table}: {what} into org B was not refused: {result:?}"
            );
            tx.rollback().await.unwrap();
        }
    }
    report(&format!(
        "catalog test: {} org tables checked: {tables:?}",
        tables.len()
    ));
}

async fn has_privilege(pool: &PgPool, table: &str, privilege: &str) -> bool {
    sqlx::query_scalar("select has_table_privilege(current_user, $1::regclass, $2)")
        .bind(table)
        .bind(privilege)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T::Item>
where
    F: std::future::Future<Output = T>,
    T: IntoIterator,
{
    let mut out = Vec::new();
    for f in futures {
        out.extend(f.await);
    }
    out
}

#[tokio::test]
async fn the_catalog_check_catches_a_table_without_forced_rls() {
    let app = TestApp::new().await;
    let superuser = app.db.superuser_pool().await;
    sqlx::raw_sql(
        "create table careless (org_id uuid not null, note text);
         create table half_done (org_id uuid not null);
         alter table half_done enable row level security;",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    let tables = org_tables(&superuser).await;
    assert!(tables.contains(&"public.careless".to_string()));
    assert_eq!(
        rls_problems(&superuser, "public.careless").await,
        [
            "public.careless: row-level security is not enabled",
            "public.careless: row-level security is not forced",
            "public.careless: has no policy"
        ]
    );
    assert_eq!(
        rls_problems(&superuser, "public.half_done").await,
        [
            "public.half_done: row-level security is not forced",
            "public.half_done: has no policy"
        ]
    );
}

/// A way of aiming at org B: its name, the token sent, extra headers.
type Scenario<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

/// Everything of org B a response must never contain, and a snapshot of B's rows.
struct OrgB {
    id: Uuid,
    markers: Vec<String>,
}

async fn snapshot(owner: &PgPool, org: Uuid) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in org_tables(owner).await {
        // Refusals are recorded in the log of the org the caller's session acts in (or the
        // platform's). The probe's "by token claim" scenario holds a session whose active org
        // is B (as a member removed since would), so its refusals (of a request or of a
        // switch) are B's record to keep: the one write a probe may cause in org B.
        let refusals = if table == "public.audit_event" {
            "and action not in ('routing.denied', 'org.switch.refused')"
        } else {
            ""
        };
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "select to_jsonb(t)::text from {table} t where org_id = $1 {refusals} order by 1"
        ))
        .bind(org)
        .fetch_all(owner)
        .await
        .unwrap();
        out.insert(table, rows);
    }
    let users: Vec<String> = sqlx::query_scalar(
        "select to_jsonb(u)::text from app_user u
          where exists (select from membership m where m.org_id = $1 and m.user_id = u.user_id)
          order by 1",
    )
    .bind(org)
    .fetch_all(owner)
    .await
    .unwrap();
    out.insert("members' users".to_string(), users);
    let sessions: Vec<String> = sqlx::query_scalar(
        "select to_jsonb(s)::text from session s
          where exists (select from membership m where m.org_id = $1 and m.user_id = s.user_id)
          order by 1",
    )
    .bind(org)
    .fetch_all(owner)
    .await
    .unwrap();
    out.insert("members' sessions".to_string(), sessions);
    let keys: Vec<String> = sqlx::query_scalar(
        "select to_jsonb(k)::text from agent_key k
          where exists (select from agent a where a.org_id = $1 and a.agent_id = k.agent_id)
          order by 1",
    )
    .bind(org)
    .fetch_all(owner)
    .await
    .unwrap();
    out.insert("agents' keys".to_string(), keys);
    out
}

#[tokio::test]
async fn cross_org_probe_over_every_route_and_server_function() {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let a = app
        .create_org(&root, "Alpha Probe", "alpha-probe.example")
        .await;
    let b = app
        .create_org(&root, "Zebra Secret Holdings", "zebra-secret.example")
        .await;
    let alice = app.user("alice@alpha.test", false, None).await;
    app.add_member(a, alice, "owner").await;
    let bob = app.user("bob.zebra.secret@zebra.test", false, None).await;
    app.add_member(b, bob, "owner").await;
    // Bob has a live session too, which must survive the probe; he keeps a credential in B
    // whose secret is one of B's markers.
    let bob_token = app.sign_in("bob.zebra.secret@zebra.test").await;
    let saved = app
        .call(
            "credentials/save_credential",
            Some(&bob_token),
            &[
                ("org_id", &b.to_string()),
                ("name", "zebra_key"),
                ("kind", "api_key"),
                ("secret", "sk-Zebra Secret-credential"),
            ],
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    // Each org has an agent with a key and a memory; B's must stay out of reach.
    let (a_agent, a_key) = app.agent(&root, "Alpha Helper", Some(a)).await;
    let (b_agent, _b_key) = app.agent(&root, "Zebra Secret Agent", Some(b)).await;
    for agent in [a_agent, b_agent] {
        sqlx::query(
            "insert into agent_memory (agent_id, content) values ($1, 'zebra secret memory')",
        )
        .bind(agent)
        .execute(&app.owner)
        .await
        .unwrap();
    }
    // And a guardrail policy, a knowledge entry and a failed product run (their ids are the
    // agent's, which the dictionary aims at); the entry mentions "probe", what the agent API searches for.
    sqlx::raw_sql(&format!(
        "insert into guardrail_policy (policy_id, org_id, name, kind, params)
         values ('{b_agent}', '{b}', 'Zebra Secret Policy', 'escalate', '{{\"keywords\": [\"zebra\"]}}');
         insert into knowledge_entry (entry_id, org_id, title, body, visibility)
         values ('{b_agent}', '{b}', 'Zebra Secret Handbook', 'probe probe', 'public');
         insert into product_run (org_id, run_id, product, version, action, status, total, error)
         values ('{b}', '{b_agent}', 'crm', 1, 'install', 'failed', 0, 'Zebra Secret failure');"
    ))
    .execute(&app.owner)
    .await
    .unwrap();
    let b_key_id: Uuid = sqlx::query_scalar("select key_id from agent_key where agent_id = $1")
        .bind(b_agent)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let b_slug: String = sqlx::query_scalar("select slug from organization where org_id = $1")
        .bind(b)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let org_b = OrgB {
        id: b,
        markers: vec![
            b.to_string(),
            "Zebra Secret".to_string(),
            "zebra-secret".to_string(),
            "bob.zebra.secret".to_string(),
            bob.to_string(),
            b_agent.to_string(),
            "zebra-secret-agent".to_string(),
        ],
    };
    let before = snapshot(&app.owner, b).await;

    let server_fns: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    let pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|route| route.path().to_string())
        .collect();
    assert!(server_fns.len() >= 10, "{server_fns:?}");
    assert!(pages.len() >= 3, "{pages:?}");
    // A page whose path has parameters is requested with org B's ids in them: every parameter
    // once as B's org id and once as B's member's user id (`:action` as each action word).
    let requested_pages: Vec<String> = pages
        .iter()
        .flat_map(|path| {
            // Axum's form is `{id}`, Leptos's `:id`.
            if !path.contains(':') && !path.contains('{') {
                return vec![path.clone()];
            }
            [b.to_string(), bob.to_string()]
                .into_iter()
                .flat_map(|id| {
                    ["disable", "delete"].map(|action| {
                        path.split('/')
                            .map(|segment| match segment {
                                ":action" | "{action}" => action.to_string(),
                                s if s.starts_with(':') || s.starts_with('{') => id.clone(),
                                s => s.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect();

    // Every field name any server function takes, aimed at org B where it names an org.
    let b_id = b.to_string();
    let bob_id = bob.to_string();
    let b_agent_id = b_agent.to_string();
    let b_run = b_agent_id.clone();
    let b_key_id = b_key_id.to_string();
    let aimed = probe_fields(&Aim {
        org: &b_id,
        user: &bob_id,
        agent: &b_agent_id,
        key: &b_key_id,
        record: &b_agent_id,
        slug: &b_slug,
        email: "alice@alpha.test",
        domain: "zebra-secret.example",
    });
    let fields: Vec<(&str, &str)> = aimed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let b_host = format!("{b_slug}.tenantry.test");
    let a_header = a.to_string();

    let sent_by_the_probe = [
        b_id.clone(),
        bob_id.clone(),
        b_agent_id.clone(),
        b_slug.clone(),
    ];
    let mut requests = 0;
    for endpoint in server_fns.iter().chain(requested_pages.iter()) {
        // A fresh session per endpoint, so one that signs out cannot weaken the next.
        let token = app.sign_in("alice@alpha.test").await;
        let claims = app.services.tokens.verify(&token).unwrap();
        assert_eq!(claims.org, Some(a));
        let b_claim = app.services.tokens.sign(&Claims {
            org: Some(b),
            ..claims.clone()
        });
        let no_org = app.services.tokens.sign(&Claims {
            org: None,
            ..claims.clone()
        });
        let scenarios: Vec<Scenario> = vec![
            ("by id (argument)", &token, vec![]),
            ("by header", &token, vec![("x-tenantry-org", &b_id)]),
            ("by subdomain", &token, vec![("host", &b_host)]),
            (
                "by custom domain",
                &token,
                vec![("host", "zebra-secret.example")],
            ),
            ("by token claim", &b_claim, vec![]),
            ("with no org", &no_org, vec![]),
            (
                "conflicting",
                &token,
                vec![("x-tenantry-org", &a_header), ("host", &b_host)],
            ),
        ];
        for (scenario, token, headers) in &scenarios {
            let (token, headers) = (*token, headers.clone());
            let request = if server_fns.contains(endpoint) {
                let endpoint = endpoint.trim_start_matches("/api/");
                server_fn_request(endpoint, Some(token), &fields, &headers)
            } else {
                let mut request = axum::http::Request::get(endpoint.as_str())
                    .header("cookie", format!("{}={token}", app::auth::token::COOKIE));
                for (name, value) in &headers {
                    request = request.header(*name, *value);
                }
                request.body(axum::body::Body::empty()).unwrap()
            };
            let response = app.send(request).await;
            requests += 1;
            // An answer that never reached the gate proves nothing: the dictionary must hold
            // every field (server::testing::probe_fields).
            assert!(
                !response.body.contains("could not be read"),
                "{endpoint} {scenario}: the probe's arguments miss a field: {}",
                response.body
            );
            assert!(
                response.status < 500,
                "{endpoint} {scenario}: {} {}",
                response.status,
                response.body
            );
            for marker in &org_b.markers {
                // The audit log records the caller's own refused attempts, with the ids and
                // addresses they aimed at B (the probe's own input, shown back to A's admins);
                // B's data itself never appears there either.
                if endpoint.contains("audit") && sent_by_the_probe.contains(marker) {
                    continue;
                }
                assert!(
                    !response.body.contains(marker.as_str()),
                    "{endpoint} {scenario}: the response contains org B's {marker:?}: {}",
                    response.body
                );
            }
        }
        let after = snapshot(&app.owner, org_b.id).await;
        assert_eq!(before, after, "{endpoint} changed org B's data");
    }
    // The routes outside Leptos (the agent API, webhooks, progress streams), as org A's agent
    // aiming at org B every way a request can name an org,
    // and with credentials that are not an agent key.
    let api_routes = app::routes::routes();
    assert!(!api_routes.is_empty());
    let alice_token = app.sign_in("alice@alpha.test").await;
    let b_domain_host = "zebra-secret.example";
    let mut api_requests = 0;
    for (method, path, _) in &api_routes {
        // Aimed at org B (a route that names its org in the path) and at one of B's runs.
        let aimed = path.replace("{org_id}", &b_id).replace("{run_id}", &b_run);
        // A GET searches for "probe", which B's knowledge mentions (other GETs ignore it).
        let address = if *method == axum::http::Method::GET {
            format!("{aimed}?q=probe")
        } else {
            aimed
        };
        let body = (*method == axum::http::Method::POST).then(|| {
            serde_json::json!({
                "content": "probe", "text": "a zebra secret", "name": "zebra_key", "org_id": b_id
            })
        });
        let scenarios: Vec<Scenario> = vec![
            ("own org", &a_key, vec![]),
            ("by header", &a_key, vec![("x-tenantry-org", &b_id)]),
            ("by subdomain", &a_key, vec![("host", &b_host)]),
            ("by custom domain", &a_key, vec![("host", b_domain_host)]),
            ("with a person's token", &alice_token, vec![]),
            ("with no key", "", vec![]),
        ];
        for (scenario, key, headers) in scenarios {
            let response = app
                .agent_call(method.as_str(), &address, key, body.clone(), &headers)
                .await;
            api_requests += 1;
            assert!(
                response.status < 500,
                "{method} {path} {scenario}: {} {}",
                response.status,
                response.body
            );
            if scenario != "own org" {
                assert!(
                    response.status >= 400,
                    "{method} {path} {scenario} was let through: {}",
                    response.body
                );
            }
            for marker in &org_b.markers {
                assert!(
                    !response.body.contains(marker.as_str()),
                    "{method} {path} {scenario}: the response contains org B's {marker:?}: {}",
                    response.body
                );
            }
        }
        let after = snapshot(&app.owner, org_b.id).await;
        assert_eq!(before, after, "{method} {path} changed org B's data");
    }
    report(&format!(
        "cross-org probe: {} endpoints ({} server functions, {} pages as {} addresses, {} routes \
         outside Leptos), {} requests, no org-B data returned or changed",
        server_fns.len() + pages.len() + api_routes.len(),
        server_fns.len(),
        pages.len(),
        requested_pages.len(),
        api_routes.len(),
        requests + api_requests
    ));
}

/// Straight to the test run's stderr: libtest captures `println!` of passing tests, and these
/// counts belong in every run's output.
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
