//! Audit coverage (issue 15): every endpoint the router serves (each server function, each route
//! outside Leptos, each page), found the way the authorization matrix finds them, is called once
//! successfully, and the database is compared before and after. A mutation leaves exactly one
//! audit event; a read changes nothing and records nothing, so a read that writes is caught too.
//! An endpoint with no arm in [`call`] fails here, so a new one cannot slip past.
//!
//! Refusals (`routing.denied`) and sampled `routing.allow` events are the routing log, not a
//! record of a change: they are not counted, and a successful call causes no refusal anyway.

use std::collections::BTreeMap;

use app::billing::stripe::{sign, Stripe};
use app::tenancy::access::{need_of, page_pattern, Need};
use axum::{body::Body, http::Request};
use serde_json::{json, Value};
use server::testing::{form_encode, server_fn_request, TestApp, TestResponse, TEST_PASSWORD};
use sqlx::PgPool;
use uuid::Uuid;

use crate::stripe::{customer_with_card, event, localstripe, stripe, WEBHOOK_SECRET};

/// What a successful call of an endpoint may leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Changes nothing and records nothing.
    Read,
    /// Changes something, and records it: exactly one audit event.
    Mutation,
    /// Changes nothing, but hands a secret to an agent: exactly one audit event, naming who took
    /// it (`llm_key.handout`, `credential.reveal`).
    Handout,
    /// Appends to its own log, which is the record (guardrail interventions, metered usage):
    /// changes only these tables, and no audit event. An event per metered call would copy the
    /// ledger into the audit log, and an intervention is the guardrails' decision, not a change
    /// anyone made.
    Ledger(&'static [&'static str]),
}

/// One call: what the endpoint is, and the request that calls it successfully.
struct Call {
    kind: Kind,
    request: Request<Body>,
}

/// What one call left behind.
struct Seen {
    response: TestResponse,
    /// The audit events written, outside the routing log.
    events: Vec<String>,
    /// The tables (outside `audit_event`) whose rows changed.
    changed: Vec<String>,
}

/// The platform the calls act on. Each call's own fixture (a credential to delete, say) is made
/// in its arm of [`call`], before the database is looked at.
struct Platform {
    app: TestApp,
    /// Stripe's fake, for the subscription calls (stopped when dropped).
    stripe: Stripe,
    root: String,
    /// An owner of Alpha, acting in it.
    alice: String,
    alpha: Uuid,
    /// Beta holds a failed CRM install (to roll back), Gamma a failed CRM upgrade (to stop),
    /// Delta is disabled and enabled, Epsilon deleted, Stripe Co subscribes through Stripe.
    beta: Uuid,
    gamma: Uuid,
    delta: Uuid,
    epsilon: Uuid,
    stripe_co: Uuid,
    /// Alpha's agent and its key; an agent in no org.
    agent: Uuid,
    key: String,
    spare_agent: Uuid,
    /// Alpha's CRM install that failed (to retry); an install that succeeded (to watch).
    failed_crm: String,
    finished_run: String,
    /// Distinct names for what the calls make.
    n: u32,
}

#[tokio::test]
async fn every_successful_mutation_records_exactly_one_audit_event_and_reads_none() {
    let ls = localstripe().await;
    let s = stripe(&ls.base);
    let app = TestApp::with_stripe(Some(s.clone())).await;
    let mut wrong = Vec::new();

    // The first superadmin is made on an empty platform: checked before anything else exists.
    *app.services.setup_token.lock().unwrap() = Some("setup-once".to_string());
    let first = server_fn_request(
        "auth/create_first_superadmin",
        None,
        &[
            ("token", "setup-once"),
            ("name", "Root"),
            ("email", "root@platform.test"),
            ("password", TEST_PASSWORD),
        ],
        &[],
    );
    let seen = measure(&app.owner, app.send(first)).await;
    judge(
        "/api/auth/create_first_superadmin",
        Kind::Mutation,
        &seen,
        &mut wrong,
    );

    let mut p = Platform::new(app, s).await;
    let server_fns: Vec<String> = {
        let mut paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.to_string())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    };
    let api_routes: Vec<String> = app::routes::routes()
        .iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    let mut unclassified = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for endpoint in server_fns.iter().chain(&api_routes) {
        if endpoint == "/api/auth/create_first_superadmin" {
            *counts.entry("mutation").or_default() += 1;
            continue;
        }
        let Some(Call { kind, request }) = call(&mut p, endpoint).await else {
            unclassified.push(endpoint.clone());
            continue;
        };
        *counts.entry(kind_name(kind)).or_default() += 1;
        let seen = measure(&p.app.owner, p.app.send(request)).await;
        judge(endpoint, kind, &seen, &mut wrong);
        p.app.reactivate_all().await;
    }
    // Accepting has a second way, as an account already signed in: it joins and switches the
    // session to the org, one act too.
    let (_, token) = p.invite("-signed-in").await;
    p.app
        .user("newcomer-signed-in@example.test", false, None)
        .await;
    let session = p.app.sign_in("newcomer-signed-in@example.test").await;
    let accept = server_fn_request(
        "invitations/accept_invitation",
        Some(&session),
        &[("token", &token)],
        &[],
    );
    let seen = measure(&p.app.owner, p.app.send(accept)).await;
    judge(
        "/api/invitations/accept_invitation (signed in)",
        Kind::Mutation,
        &seen,
        &mut wrong,
    );
    // Pages are GETs: reads, every one, with their ids naming something that exists.
    let pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|route| route.path().to_string())
        .collect();
    for page in &pages {
        let address = p.page_address(page).await;
        // The platform's pages as the superadmin, the rest as Alice, in Alpha.
        let platform = page_pattern(&address).and_then(need_of) == Some(Need::Platform);
        let token = if platform { &p.root } else { &p.alice };
        let request = Request::get(address.as_str())
            .header("cookie", format!("{}={token}", app::auth::token::COOKIE))
            .body(Body::empty())
            .unwrap();
        let mut seen = measure(&p.app.owner, p.app.send(request)).await;
        // A page that sends the caller elsewhere (the sign-in page, to someone signed in)
        // answered too.
        if (300..400).contains(&seen.response.status) {
            seen.response.status = 200;
        }
        judge(&format!("page {address}"), Kind::Read, &seen, &mut wrong);
    }

    assert!(
        unclassified.is_empty(),
        "endpoints this test does not classify (add an arm to `call`: a read, or a mutation with \
         a fixture that succeeds): {unclassified:?}"
    );
    assert!(
        wrong.is_empty(),
        "{} endpoints do not record as they should:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "audit coverage: {} server functions and {} routes outside Leptos ({counts:?}), {} \
             pages: each mutation recorded exactly once, no read recorded or changed anything\n",
            server_fns.len(),
            api_routes.len(),
            pages.len()
        )
        .as_bytes(),
    );
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Read => "read",
        Kind::Mutation => "mutation",
        Kind::Handout => "handout",
        Kind::Ledger(_) => "ledger",
    }
}

/// Whether what `endpoint` left behind is what its kind allows.
fn judge(endpoint: &str, kind: Kind, seen: &Seen, wrong: &mut Vec<String>) {
    let status = seen.response.status;
    if !(200..300).contains(&status) {
        wrong.push(format!(
            "{endpoint}: the fixture's call did not succeed: {status} {}",
            seen.response.body.chars().take(300).collect::<String>()
        ));
        return;
    }
    let events = &seen.events;
    let changed = &seen.changed;
    let problem = match kind {
        Kind::Read if !events.is_empty() || !changed.is_empty() => Some(format!(
            "a read recorded {events:?} and changed {changed:?}"
        )),
        Kind::Mutation if events.len() != 1 => Some(format!(
            "a mutation recorded {} events {events:?} (changed {changed:?})",
            events.len()
        )),
        Kind::Handout if events.len() != 1 || !changed.is_empty() => Some(format!(
            "a handout recorded {events:?} and changed {changed:?}"
        )),
        Kind::Ledger(tables)
            if !events.is_empty()
                || changed.is_empty()
                || changed.iter().any(|t| !tables.contains(&t.as_str())) =>
        {
            Some(format!(
                "appends to {tables:?}, but recorded {events:?} and changed {changed:?}"
            ))
        }
        _ => None,
    };
    if let Some(problem) = problem {
        wrong.push(format!("{endpoint}: {problem}"));
    }
}

/// Runs `call`, comparing the database before and after it.
async fn measure(owner: &PgPool, call: impl std::future::Future<Output = TestResponse>) -> Seen {
    let last: i64 = sqlx::query_scalar("select coalesce(max(audit_event_id), 0) from audit_event")
        .fetch_one(owner)
        .await
        .unwrap();
    let before = snapshot(owner).await;
    let response = call.await;
    let after = snapshot(owner).await;
    let events: Vec<String> = sqlx::query_scalar(
        "select action from audit_event
          where audit_event_id > $1 and action not like 'routing.%'
          order by audit_event_id",
    )
    .bind(last)
    .fetch_all(owner)
    .await
    .unwrap();
    let changed = after
        .iter()
        .filter(|(table, rows)| before.get(*table) != Some(rows))
        .map(|(table, _)| table.clone())
        .chain(before.keys().filter(|t| !after.contains_key(*t)).cloned())
        .collect();
    Seen {
        response,
        events,
        changed,
    }
}

/// A digest of every table's rows (the orgs' own schemas' too), but the audit log's, which is
/// counted apart. `last_used_at` is bookkeeping of a key's use, not a change of data.
async fn snapshot(owner: &PgPool) -> BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select format('%I.%I', n.nspname, c.relname)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p')
            and n.nspname not in ('pg_catalog', 'information_schema')
            and n.nspname not like 'pg\\_%'
            and c.relname <> 'audit_event'
          order by 1",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    let mut digest = BTreeMap::new();
    for table in tables {
        let rows: String = sqlx::query_scalar(&format!(
            "select count(*) || ':' || coalesce(md5(string_agg(r, '|' order by r)), '')
               from (select (to_jsonb(t) - 'last_used_at')::text as r from {table} t) rows"
        ))
        .fetch_one(owner)
        .await
        .unwrap();
        digest.insert(table, rows);
    }
    digest
}

/// A server function called as the person whose token this is (or nobody).
fn server_fn(kind: Kind, path: &str, token: Option<&str>, fields: &[(&str, &str)]) -> Call {
    Call {
        kind,
        request: server_fn_request(path.trim_start_matches("/api/"), token, fields, &[]),
    }
}

/// A route outside Leptos called with `bearer` (an agent key or a session token).
fn route(kind: Kind, method: &str, path: &str, bearer: &str, body: Option<Value>) -> Call {
    Call {
        kind,
        request: server::testing::agent_request(method, path, bearer, body, &[]),
    }
}

/// How `endpoint` is called successfully by an org admin (Alice, owner of Alpha), a superadmin
/// (for the platform's endpoints and the orgs Alice does not hold), the public or an agent, and
/// what it may leave behind; `None` for an endpoint this test does not know.
async fn call(p: &mut Platform, endpoint: &str) -> Option<Call> {
    use Kind::{Handout, Ledger, Mutation, Read};
    p.n += 1;
    let n = p.n.to_string();
    let alpha = p.alpha.to_string();
    let (root, alice) = (p.root.clone(), p.alice.clone());
    let (root, alice) = (Some(root.as_str()), Some(alice.as_str()));
    let agent = p.agent.to_string();
    let on_alpha = [("org_id", alpha.as_str())];
    Some(match endpoint {
        // Signing in opens a session (a row of its own): an audit trail is expected to show
        // who signed in, from where, and when they left, so these are mutations, each recorded
        // once. Switching orgs changes which org the session acts in.
        "/api/auth/sign_in" => server_fn(
            Mutation,
            endpoint,
            None,
            &[("email", "alice@alpha.test"), ("password", TEST_PASSWORD)],
        ),
        "/api/auth/sign_out" => {
            let leaving = p.app.sign_in("alice@alpha.test").await;
            server_fn(Mutation, endpoint, Some(&leaving), &[])
        }
        "/api/auth/switch_org" => server_fn(Mutation, endpoint, root, &on_alpha),
        // Registering makes an account, its org and its session: one act, recorded once.
        "/api/auth/register" => server_fn(
            Mutation,
            endpoint,
            None,
            &[
                ("name", "Reg"),
                ("email", &format!("reg{n}@example.test")),
                ("password", TEST_PASSWORD),
                ("organization", &format!("Registered {n}")),
            ],
        ),
        "/api/auth/current_session" => server_fn(Read, endpoint, alice, &[]),
        "/api/auth/registration_open" => server_fn(Read, endpoint, None, &[]),
        "/api/home/check_database" => server_fn(Read, endpoint, alice, &[]),

        // Your account, each on a person of its own (a changed password would break Alice's
        // later sign-ins).
        "/api/account/my_account" => server_fn(Read, endpoint, alice, &[]),
        "/api/account/change_password" => {
            let email = format!("pw{n}@alpha.test");
            p.member(&format!("pw{n}"), "viewer").await;
            let token = p.app.sign_in(&email).await;
            server_fn(
                Mutation,
                endpoint,
                Some(&token),
                &[
                    ("current_password", TEST_PASSWORD),
                    ("new_password", "another password 123"),
                    ("confirm_password", "another password 123"),
                ],
            )
        }
        "/api/account/revoke_session" | "/api/account/sign_out_others" => {
            let email = format!("sessions{n}@alpha.test");
            p.member(&format!("sessions{n}"), "viewer").await;
            let here = p.app.sign_in(&email).await;
            p.app.sign_in(&email).await;
            let mine = p.ok("account/my_account", Some(&here), &[]).await;
            let other = mine["sessions"]
                .as_array()
                .and_then(|all| all.iter().find(|s| s["current"] == false))
                .and_then(|s| s["id"].as_str())
                .unwrap_or_default()
                .to_string();
            let fields: Vec<(&str, &str)> = if endpoint.ends_with("revoke_session") {
                vec![("session_id", other.as_str())]
            } else {
                vec![]
            };
            server_fn(Mutation, endpoint, Some(&here), &fields)
        }

        "/api/audit/org_events" => server_fn(Read, endpoint, alice, &[]),
        "/api/audit/platform_events" => server_fn(Read, endpoint, root, &[]),

        "/api/orgs/list_orgs" | "/api/orgs/current_org" => server_fn(Read, endpoint, alice, &[]),
        "/api/orgs/org_header" | "/api/orgs/org_overview" | "/api/orgs/get_org" => {
            server_fn(Read, endpoint, alice, &on_alpha)
        }
        "/api/orgs/create_org" => server_fn(
            Mutation,
            endpoint,
            root,
            &[
                ("org[name]", &format!("Made {n}")),
                ("org[domain]", &format!("made{n}.example")),
                ("org[product]", "eloquent"),
                ("org[status]", "active"),
            ],
        ),
        "/api/orgs/update_org" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[("org_id", &alpha), ("details[description]", "Audited")],
        ),
        "/api/orgs/disable_org" | "/api/orgs/enable_org" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("org_id", &p.delta.to_string())],
        ),
        "/api/orgs/delete_org" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("org_id", &p.epsilon.to_string())],
        ),
        "/api/orgs/add_role" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[("org_id", &alpha), ("role_name", &format!("auditor{n}"))],
        ),
        "/api/orgs/remove_role" => {
            let role = format!("leaving{n}");
            p.ok(
                "orgs/add_role",
                alice,
                &[("org_id", &alpha), ("role_name", &role)],
            )
            .await;
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("role_name", &role)],
            )
        }

        "/api/isolation/isolation_checks" => server_fn(Read, endpoint, root, &[]),

        "/api/domains/list_domains" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/domains/domain_conflicts" => server_fn(Read, endpoint, root, &[]),
        "/api/domains/add_domain" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("org_id", &alpha),
                ("domain", &format!("claimed{n}.example")),
            ],
        ),
        // A look-up that finds no record yet is still recorded: the claim's status and the
        // time of its check changed.
        "/api/domains/check_domain" | "/api/domains/remove_domain" => {
            let claimed = p
                .ok(
                    "domains/add_domain",
                    alice,
                    &[("org_id", &alpha), ("domain", &format!("held{n}.example"))],
                )
                .await;
            let id = claimed["id"].as_str().unwrap_or_default().to_string();
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("domain_id", &id)],
            )
        }

        "/api/analytics/org_analytics" => server_fn(Read, endpoint, alice, &on_alpha),

        "/api/members/list_users" => server_fn(Read, endpoint, alice, &[]),
        "/api/members/org_members" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/members/get_user" => {
            let user = p.member("seen", "viewer").await.to_string();
            server_fn(Read, endpoint, alice, &[("user_id", &user)])
        }
        "/api/members/create_user" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("org_id", &alpha),
                ("name", "Made"),
                ("email", &format!("made{n}@alpha.test")),
                ("password", TEST_PASSWORD),
                ("role", "member"),
            ],
        ),
        "/api/members/update_user" => {
            let user = p.member(&format!("renamed{n}"), "viewer").await.to_string();
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[
                    ("user_id", &user),
                    ("name", "Renamed"),
                    ("email", &format!("renamed{n}@alpha.test")),
                    ("status", "active"),
                ],
            )
        }
        "/api/members/set_membership" => {
            let user = p
                .member(&format!("promoted{n}"), "viewer")
                .await
                .to_string();
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("user_id", &user), ("role", "member")],
            )
        }
        "/api/members/remove_member" => {
            let user = p.member(&format!("removed{n}"), "viewer").await.to_string();
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("user_id", &user)],
            )
        }

        "/api/invitations/list_invitations" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/invitations/invite" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("org_id", &alpha),
                ("email", &format!("invited{n}@example.test")),
                ("role", "member"),
            ],
        ),
        "/api/invitations/resend_invitation" | "/api/invitations/revoke_invitation" => {
            let (id, _) = p.invite(&n).await;
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("invitation_id", &id)],
            )
        }
        "/api/invitations/invitation_details" => {
            let (_, token) = p.invite(&n).await;
            server_fn(Read, endpoint, None, &[("token", &token)])
        }
        // A newcomer makes their account and joins: one act, recorded once.
        "/api/invitations/accept_invitation" => {
            let (_, token) = p.invite(&n).await;
            server_fn(
                Mutation,
                endpoint,
                None,
                &[
                    ("token", &token),
                    ("name", "Newcomer"),
                    ("password", TEST_PASSWORD),
                ],
            )
        }

        "/api/agents/list_agents" => server_fn(Read, endpoint, alice, &[]),
        "/api/agents/org_agents" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/agents/agent_keys" => server_fn(Read, endpoint, root, &[("agent_id", &agent)]),
        "/api/agents/create_agent" => server_fn(
            Mutation,
            endpoint,
            root,
            &[
                ("name", &format!("Made Agent {n}")),
                ("email", &format!("made-agent-{n}@agents.test")),
                ("model", "gpt-4o"),
            ],
        ),
        "/api/agents/issue_key" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("agent_id", &p.spare_agent.to_string()), ("label", "spare")],
        ),
        "/api/agents/revoke_key" => {
            let issued = p
                .ok(
                    "agents/issue_key",
                    root,
                    &[("agent_id", &p.spare_agent.to_string()), ("label", "old")],
                )
                .await;
            let key_id = issued["key_id"].as_str().unwrap_or_default().to_string();
            server_fn(Mutation, endpoint, root, &[("key_id", &key_id)])
        }
        "/api/agents/assign_agent" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("org_id", &alpha), ("agent_id", &p.spare_agent.to_string())],
        ),
        "/api/agents/unassign_agent" => {
            let (leaving, _) = p
                .app
                .agent(&p.root, &format!("Leaving Agent {n}"), Some(p.alpha))
                .await;
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("agent_id", &leaving.to_string())],
            )
        }

        "/api/credentials/list_credentials" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/credentials/save_credential" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("org_id", &alpha),
                ("name", &format!("token_{n}")),
                ("kind", "api_key"),
                ("secret", "sk-audited-secret"),
            ],
        ),
        "/api/credentials/delete_credential" => {
            let id = p.credential(&format!("old_{n}")).await;
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("credential_id", &id)],
            )
        }

        "/api/llm_keys/own_llm_keys" => server_fn(Read, endpoint, alice, &[]),
        "/api/llm_keys/save_llm_key" | "/api/llm_keys/save_own_llm_key" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("org_id", &alpha),
                ("provider", "mistral"),
                ("key", "sk-audited-llm-key-0000"),
            ],
        ),
        "/api/llm_keys/delete_llm_key" | "/api/llm_keys/delete_own_llm_key" => {
            let save = endpoint
                .trim_start_matches("/api/")
                .replace("delete_", "save_");
            p.ok(
                &save,
                alice,
                &[
                    ("org_id", &alpha),
                    ("provider", "anthropic"),
                    ("key", "sk-ant-deleted-0000"),
                ],
            )
            .await;
            let own = endpoint.contains("_own_");
            let id: Uuid = sqlx::query_scalar(
                "select llm_key_id from llm_key
                  where org_id = $1 and provider = 'anthropic' and (user_id is not null) = $2",
            )
            .bind(p.alpha)
            .bind(own)
            .fetch_one(&p.app.owner)
            .await
            .unwrap();
            server_fn(
                Mutation,
                endpoint,
                alice,
                &[("org_id", &alpha), ("llm_key_id", &id.to_string())],
            )
        }
        // Off (the box unticked): members' own keys are allowed until an admin says no.
        "/api/llm_keys/set_allow_user_keys" => server_fn(Mutation, endpoint, alice, &on_alpha),

        "/api/knowledge/list_entries" => server_fn(Read, endpoint, alice, &[]),
        "/api/knowledge/get_entry" => {
            let id = p.entry(&n).await;
            server_fn(Read, endpoint, alice, &[("entry_id", &id)])
        }
        "/api/knowledge/save_entry" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("title", &format!("Entry {n}")),
                ("body", "Written"),
                ("visibility", "organization"),
            ],
        ),
        "/api/knowledge/delete_entry" => {
            let id = p.entry(&n).await;
            server_fn(Mutation, endpoint, alice, &[("entry_id", &id)])
        }
        "/api/knowledge/mark_platform_owner" => server_fn(Mutation, endpoint, root, &on_alpha),

        "/api/guardrails/list_policies" => server_fn(Read, endpoint, alice, &[]),
        "/api/guardrails/list_interventions" => server_fn(Read, endpoint, alice, &[]),
        "/api/guardrails/save_policy" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[
                ("name", &format!("Policy {n}")),
                ("kind", "blocked_topics"),
                ("enabled", "on"),
                ("priority", "5"),
                ("params", r#"{"keywords": ["audited"]}"#),
            ],
        ),
        "/api/guardrails/delete_policy" => {
            let id = p.policy(&format!("Gone {n}"), "gone").await;
            server_fn(Mutation, endpoint, alice, &[("policy_id", &id)])
        }

        "/api/products/catalog" => server_fn(Read, endpoint, alice, &[]),
        "/api/products/org_products" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/products/uninstall_preview" => server_fn(
            Read,
            endpoint,
            alice,
            &[("org_id", &alpha), ("product", "fahim")],
        ),
        "/api/products/install" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[("org_id", &alpha), ("product", "done")],
        ),
        "/api/products/uninstall" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[("org_id", &alpha), ("product", "aafya")],
        ),
        "/api/products/retry_run" => server_fn(
            Mutation,
            endpoint,
            alice,
            &[("org_id", &alpha), ("run_id", &p.failed_crm)],
        ),
        "/api/products/roll_back_run" => {
            let run = p.latest_run(p.beta).await;
            server_fn(
                Mutation,
                endpoint,
                root,
                &[("org_id", &p.beta.to_string()), ("run_id", &run)],
            )
        }
        "/api/products/stop_upgrade" => {
            let run = p.latest_run(p.gamma).await;
            server_fn(
                Mutation,
                endpoint,
                root,
                &[("org_id", &p.gamma.to_string()), ("run_id", &run)],
            )
        }

        "/api/billing/org_billing" => server_fn(Read, endpoint, alice, &on_alpha),
        "/api/billing/overview" => server_fn(Read, endpoint, root, &[]),
        "/api/billing/model_prices" => server_fn(Read, endpoint, root, &[]),
        "/api/billing/update_subscription" => server_fn(
            Mutation,
            endpoint,
            root,
            &[
                ("org_id", &alpha),
                ("plan_name", "enterprise"),
                ("seats", "50"),
                ("platform", "custom"),
                ("status", "active"),
            ],
        ),
        "/api/billing/set_default_rate" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("org_id", &alpha), ("rate", "10")],
        ),
        "/api/billing/set_agent_rate" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("org_id", &alpha), ("agent_id", &agent), ("rate", "5")],
        ),
        "/api/billing/save_model_price" => server_fn(
            Mutation,
            endpoint,
            root,
            &[
                ("model", &format!("audited-model-{n}")),
                ("effective_from", "2099-01-01"),
                ("input_price", "1"),
                ("output_price", "2"),
            ],
        ),
        "/api/billing/delete_model_price" => {
            let model = format!("gone-model-{n}");
            let price = [
                ("model", model.as_str()),
                ("effective_from", "2099-01-01"),
                ("input_price", "1"),
                ("output_price", "2"),
            ];
            p.ok("billing/save_model_price", root, &price).await;
            server_fn(Mutation, endpoint, root, &price[..2])
        }
        "/api/billing/save_plan" => server_fn(
            Mutation,
            endpoint,
            root,
            &[("plan_name", &format!("audited_{n}")), ("max_agents", "3")],
        ),
        "/api/billing/delete_plan" => {
            let plan = format!("gone_{n}");
            p.ok("billing/save_plan", root, &[("plan_name", &plan)])
                .await;
            server_fn(Mutation, endpoint, root, &[("plan_name", &plan)])
        }
        "/api/billing/start_stripe_subscription" => {
            p.stripe_customer().await;
            server_fn(
                Mutation,
                endpoint,
                root,
                &[
                    ("org_id", &p.stripe_co.to_string()),
                    ("price", "pro_monthly"),
                ],
            )
        }

        // The agent API.
        "GET /api/v1/agent" | "GET /api/v1/memory" => {
            let path = endpoint.trim_start_matches("GET ");
            route(Read, "GET", path, &p.key, None)
        }
        // An agent's memory is the org's data, written by the agent: recorded like a person's
        // knowledge entry (the agent named, never the content).
        "POST /api/v1/memory" => route(
            Mutation,
            "POST",
            "/api/v1/memory",
            &p.key,
            Some(json!({ "content": "The customer prefers email." })),
        ),
        "GET /api/v1/knowledge/search" => route(
            Read,
            "GET",
            "/api/v1/knowledge/search?q=handbook",
            &p.key,
            None,
        ),
        "POST /api/v1/guardrails/evaluate" => route(
            Ledger(&["public.guardrail_intervention"]),
            "POST",
            "/api/v1/guardrails/evaluate",
            &p.key,
            Some(json!({ "text": "tell me something forbidden" })),
        ),
        "POST /api/v1/credentials/reveal" => route(
            Handout,
            "POST",
            "/api/v1/credentials/reveal",
            &p.key,
            Some(json!({ "name": "crm_token" })),
        ),
        "GET /api/v1/llm-key" => route(
            Handout,
            "GET",
            "/api/v1/llm-key?provider=openai",
            &p.key,
            None,
        ),
        "POST /api/v1/usage" => route(
            Ledger(&[
                "public.usage_event",
                "public.usage_month",
                "public.org_account",
            ]),
            "POST",
            "/api/v1/usage",
            &p.key,
            Some(json!({
                "idempotency_key": format!("audited-{n}"),
                "model": "audited-model",
                "input_tokens": 10,
                "output_tokens": 5,
                "timestamp": chrono::Utc::now().to_rfc3339(),
            })),
        ),
        "GET /api/events/product-runs/{org_id}/{run_id}" => route(
            Read,
            "GET",
            &format!("/api/events/product-runs/{alpha}/{}", p.finished_run),
            &p.alice,
            None,
        ),
        "GET /api/audit/orgs/{org_id}/export.csv" => route(
            Read,
            "GET",
            &format!("/api/audit/orgs/{alpha}/export.csv"),
            &p.alice,
            None,
        ),
        "GET /api/audit/platform-export.csv" => {
            route(Read, "GET", "/api/audit/platform-export.csv", &p.root, None)
        }
        "GET /api/platform/isolation-report.html" => route(
            Read,
            "GET",
            "/api/platform/isolation-report.html",
            &p.root,
            None,
        ),
        // Stripe says the subscription changed: the org's record follows Stripe, once.
        "POST /webhooks/stripe" => {
            let (subscription, customer) = p.stripe_subscription().await;
            let payload = event(
                &format!("evt_audited_{n}"),
                "customer.subscription.updated",
                &json!({ "id": subscription, "object": "subscription", "customer": customer }),
            )
            .to_string();
            let signature = sign(
                payload.as_bytes(),
                WEBHOOK_SECRET,
                chrono::Utc::now().timestamp(),
            );
            Call {
                kind: Mutation,
                request: Request::post("/webhooks/stripe")
                    .header("content-type", "application/json")
                    .header("stripe-signature", signature)
                    .body(Body::from(payload))
                    .unwrap(),
            }
        }
        _ => return None,
    })
}

impl Platform {
    async fn new(app: TestApp, stripe: Stripe) -> Self {
        let root = app.sign_in("root@platform.test").await;
        let alpha = app.create_org(&root, "Alpha", "alpha.example").await;
        let alice = app.user("alice@alpha.test", false, None).await;
        app.add_member(alpha, alice, "owner").await;
        let alice = app.sign_in("alice@alpha.test").await;
        let org = |name: &'static str| {
            let (app, root) = (&app, &root);
            async move {
                let domain = format!("{}.example", name.to_lowercase().replace(' ', "-"));
                app.create_org(root, name, &domain).await
            }
        };
        let beta = org("Beta").await;
        let gamma = org("Gamma").await;
        let delta = org("Delta").await;
        let epsilon = org("Epsilon").await;
        let stripe_co = org("Stripe Co").await;
        let (agent, key) = app.agent(&root, "Alpha Agent", Some(alpha)).await;
        let (spare_agent, _) = app.agent(&root, "Spare Agent", None).await;
        let mut p = Platform {
            app,
            stripe,
            root,
            alice,
            alpha,
            beta,
            gamma,
            delta,
            epsilon,
            stripe_co,
            agent,
            key,
            spare_agent,
            failed_crm: String::new(),
            finished_run: String::new(),
            n: 0,
        };
        // What the agent API calls find: a policy that blocks, a credential, the org's key, an
        // entry about the handbook.
        p.policy("No forbidden topics", "forbidden").await;
        p.credential("crm_token").await;
        let alice = Some(p.alice.clone());
        p.ok(
            "llm_keys/save_llm_key",
            alice.as_deref(),
            &[
                ("org_id", &alpha.to_string()),
                ("provider", "openai"),
                ("key", "sk-org-openai-0000"),
            ],
        )
        .await;
        p.ok(
            "knowledge/save_entry",
            alice.as_deref(),
            &[
                ("title", "Handbook"),
                ("body", "How we work"),
                ("visibility", "organization"),
            ],
        )
        .await;
        // A price for the model the agent reports usage of, in force since long ago.
        sqlx::query("insert into model_price values ('audited-model', '2000-01-01', 1, 1)")
            .execute(&p.app.owner)
            .await
            .unwrap();
        p.products().await;
        p
    }

    /// Alpha has Fahim and Aafya installed and a CRM install that failed; Beta a failed CRM
    /// install; Gamma a CRM upgrade that failed. No worker runs during the calls: a run they
    /// plan stays planned.
    async fn products(&mut self) {
        let (alpha, beta, gamma) = (self.alpha, self.beta, self.gamma);
        for (org, product) in [(alpha, "fahim"), (alpha, "aafya"), (gamma, "crm")] {
            self.install(org, product).await;
        }
        self.work_all().await;
        self.finished_run = self.latest_run(alpha).await;
        // A CRM version that drops a column: Gamma's upgrade to it fails.
        let released =
            server::testing::released(&self.app.services, crate::products::crm_v3_without_phone());
        app::products::engine::plan_upgrades(&released)
            .await
            .unwrap();
        self.work_all().await;
        // A table made by hand where CRM wants its own: the installs fail.
        for org in [alpha, beta] {
            sqlx::query(&format!("create table org_{}.deal (x int)", org.simple()))
                .execute(&self.app.owner)
                .await
                .unwrap();
            self.install(org, "crm").await;
        }
        self.work_all().await;
        self.failed_crm = self.latest_run(alpha).await;
    }

    async fn install(&self, org: Uuid, product: &str) {
        let root = Some(self.root.clone());
        self.ok(
            "products/install",
            root.as_deref(),
            &[("org_id", &org.to_string()), ("product", product)],
        )
        .await;
    }

    async fn work_all(&self) {
        let worker = Uuid::new_v4();
        while app::products::engine::work_once(&self.app.services, worker, None)
            .await
            .expect("the worker works")
            .is_some()
        {}
    }

    /// The org's latest product run.
    async fn latest_run(&self, org: Uuid) -> String {
        let run: Uuid = sqlx::query_scalar(
            "select run_id from product_run where org_id = $1 order by created_at desc limit 1",
        )
        .bind(org)
        .fetch_one(&self.app.owner)
        .await
        .unwrap();
        run.to_string()
    }

    /// Calls a server function that must succeed (a fixture's own setup); its JSON answer.
    async fn ok(&self, endpoint: &str, token: Option<&str>, fields: &[(&str, &str)]) -> Value {
        let r = self.app.call(endpoint, token, fields).await;
        assert!(
            r.status < 300,
            "fixture {endpoint}: {} {}",
            r.status,
            r.body
        );
        r.json()
    }

    /// A member of Alpha (only) with `role`: `<local>@alpha.test`.
    async fn member(&self, local: &str, role: &str) -> Uuid {
        let user = self
            .app
            .user(&format!("{local}@alpha.test"), false, None)
            .await;
        self.app.add_member(self.alpha, user, role).await;
        user
    }

    /// An open invitation to Alpha: its id and its link's token.
    async fn invite(&self, n: &str) -> (String, String) {
        let alice = Some(self.alice.clone());
        let email = format!("newcomer{n}@example.test");
        let invited = self
            .ok(
                "invitations/invite",
                alice.as_deref(),
                &[
                    ("org_id", &self.alpha.to_string()),
                    ("email", &email),
                    ("role", "member"),
                ],
            )
            .await;
        let link = invited["link"].as_str().expect("a link, without SMTP");
        let token = link.split("token=").nth(1).unwrap().to_string();
        let id: Uuid = sqlx::query_scalar("select invitation_id from invitation where email = $1")
            .bind(&email)
            .fetch_one(&self.app.owner)
            .await
            .unwrap();
        (id.to_string(), token)
    }

    async fn credential(&self, name: &str) -> String {
        let alice = Some(self.alice.clone());
        self.ok(
            "credentials/save_credential",
            alice.as_deref(),
            &[
                ("org_id", &self.alpha.to_string()),
                ("name", name),
                ("kind", "api_key"),
                ("secret", "sk-kept-secret"),
            ],
        )
        .await;
        let id: Uuid = sqlx::query_scalar(
            "select credential_id from credential where org_id = $1 and name = $2",
        )
        .bind(self.alpha)
        .bind(name)
        .fetch_one(&self.app.owner)
        .await
        .unwrap();
        id.to_string()
    }

    async fn entry(&self, n: &str) -> String {
        let alice = Some(self.alice.clone());
        let id = self
            .ok(
                "knowledge/save_entry",
                alice.as_deref(),
                &[
                    ("title", &format!("Note {n}")),
                    ("body", "Kept"),
                    ("visibility", "organization"),
                ],
            )
            .await;
        id.as_str().unwrap_or_default().to_string()
    }

    /// A blocking policy in Alpha on `keyword`.
    async fn policy(&self, name: &str, keyword: &str) -> String {
        let alice = Some(self.alice.clone());
        let params = json!({ "keywords": [keyword] }).to_string();
        let id = self
            .ok(
                "guardrails/save_policy",
                alice.as_deref(),
                &[
                    ("name", name),
                    ("kind", "blocked_topics"),
                    ("enabled", "on"),
                    ("priority", "1"),
                    ("params", &params),
                ],
            )
            .await;
        id.as_str().unwrap_or_default().to_string()
    }

    /// Stripe Co as a Stripe customer with a card, and a price to subscribe to.
    async fn stripe_customer(&self) {
        customer_with_card(&self.stripe, &self.app, self.stripe_co).await;
    }

    /// Stripe Co's subscription and customer, started through the endpoint if it has none yet.
    async fn stripe_subscription(&self) -> (String, String) {
        let found = || async {
            sqlx::query_as::<_, (Option<String>, Option<String>)>(
                "select stripe_subscription_id, stripe_customer_id from subscription
                  where org_id = $1",
            )
            .bind(self.stripe_co)
            .fetch_optional(&self.app.owner)
            .await
            .unwrap()
        };
        if let Some((Some(subscription), Some(customer))) = found().await {
            return (subscription, customer);
        }
        self.stripe_customer().await;
        let root = Some(self.root.clone());
        self.ok(
            "billing/start_stripe_subscription",
            root.as_deref(),
            &[
                ("org_id", &self.stripe_co.to_string()),
                ("price", "pro_monthly"),
            ],
        )
        .await;
        match found().await {
            Some((Some(subscription), Some(customer))) => (subscription, customer),
            other => panic!("no Stripe subscription after starting one: {other:?}"),
        }
    }

    /// `pattern` (a page's route) with each parameter naming something that exists.
    async fn page_address(&self, pattern: &str) -> String {
        let alpha = self.alpha.to_string();
        let user: Uuid = sqlx::query_scalar("select user_id from app_user where email = $1")
            .bind("alice@alpha.test")
            .fetch_one(&self.app.owner)
            .await
            .unwrap();
        let entry: Uuid =
            sqlx::query_scalar("select entry_id from knowledge_entry where org_id = $1 limit 1")
                .bind(self.alpha)
                .fetch_one(&self.app.owner)
                .await
                .unwrap();
        let policy: Uuid =
            sqlx::query_scalar("select policy_id from guardrail_policy where org_id = $1 limit 1")
                .bind(self.alpha)
                .fetch_one(&self.app.owner)
                .await
                .unwrap();
        let id = match pattern.split('/').nth(1).unwrap_or_default() {
            "users" => user.to_string(),
            "knowledge" => entry.to_string(),
            "guardrails" => policy.to_string(),
            "agents" => self.agent.to_string(),
            _ => alpha,
        };
        let address = pattern
            .split('/')
            .map(|segment| match segment {
                ":id" | "{id}" => id.clone(),
                ":action" | "{action}" => "disable".to_string(),
                s => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        match address.as_str() {
            "" => "/".to_string(),
            // The accept page needs a link; any token shows the page's answer to it.
            "/invitations/accept" => format!("{address}?token={}", form_encode("inv_x")),
            _ => address,
        }
    }
}
