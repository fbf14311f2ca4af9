//! Agents: one org at a time, assignment and its refusals, the delete guard, the agent gate
//! (keys, disabled orgs, conflicting org sources), memory that follows reassignment, and clear
//! errors for bad input.

use serde_json::{json, Value};
use server::testing::World;
use uuid::Uuid;

async fn world() -> World {
    World::build()
        .org("Alpha", &[])
        .org("Beta", &[("bob@beta.test", "owner")])
        .await
}

async fn assign(w: &World, token: &str, org: Uuid, agent: Uuid) -> server::testing::TestResponse {
    w.app
        .call(
            "agents/assign_agent",
            Some(token),
            &[
                ("org_id", &org.to_string()),
                ("agent_id", &agent.to_string()),
            ],
        )
        .await
}

fn assigned_names(page: &Value) -> Vec<String> {
    page["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_agent_serves_one_org_and_a_taken_agent_is_refused_naming_the_org_to_superadmins_only() {
    let w = world().await;
    let (agent, _) = w
        .app
        .agent(&w.root, "Sales Bot", Some(w.org("Alpha")))
        .await;

    let refused = assign(&w, &w.root, w.org("Beta"), agent).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("ORG1 · Alpha"), "{}", refused.body);

    // The pool is the platform's: Beta's owner may not assign at all, nor learn who has it.
    let refused = assign(&w, w.token("bob"), w.org("Beta"), agent).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!refused.body.contains("Alpha"), "{}", refused.body);
    // Nor can it unassign Alpha's agent, or see it.
    let unassign = w
        .app
        .call(
            "agents/unassign_agent",
            Some(w.token("bob")),
            &[
                ("org_id", &w.org("Beta").to_string()),
                ("agent_id", &agent.to_string()),
            ],
        )
        .await;
    assert_eq!(unassign.status, 404, "{}", unassign.body);
    let beta_agents = w
        .app
        .call(
            "agents/org_agents",
            Some(w.token("bob")),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await
        .json();
    assert!(assigned_names(&beta_agents).is_empty());
    assert!(beta_agents["unassigned"].as_array().unwrap().is_empty());

    // Unassigned, it is offered to Beta, and assigning it takes effect at once.
    let unassign = w
        .app
        .call(
            "agents/unassign_agent",
            Some(&w.root),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("agent_id", &agent.to_string()),
            ],
        )
        .await;
    assert!(unassign.status < 400, "{}", unassign.body);
    let beta_agents = w
        .app
        .call(
            "agents/org_agents",
            Some(w.token("bob")),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await
        .json();
    // The unassigned pool is the platform's: Beta's owner does not see it; a superadmin does.
    assert_eq!(beta_agents["unassigned"], serde_json::json!([]));
    let pool = w
        .app
        .call(
            "agents/org_agents",
            Some(&w.root),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await
        .json();
    assert_eq!(pool["unassigned"][0]["name"], "Sales Bot");
    let assigned = assign(&w, &w.root, w.org("Beta"), agent).await;
    assert!(assigned.status < 400, "{}", assigned.body);
    let beta_agents = w
        .app
        .call(
            "agents/org_agents",
            Some(w.token("bob")),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await
        .json();
    assert_eq!(assigned_names(&beta_agents), ["Sales Bot"]);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1 and action = 'agent.assign'",
    )
    .bind(w.org("Beta"))
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // A plain member sees the org's agents but may not assign.
    let carol = w.app.user("carol@beta.test", false, None).await;
    w.app.add_member(w.org("Beta"), carol, "member").await;
    let carol = w.app.sign_in("carol@beta.test").await;
    let (spare, _) = w.app.agent(&w.root, "Spare", None).await;
    let refused = assign(&w, &carol, w.org("Beta"), spare).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let seen = w
        .app
        .call(
            "agents/org_agents",
            Some(&carol),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await
        .json();
    assert_eq!(assigned_names(&seen), ["Sales Bot"]);
    assert_eq!(seen["can_assign"], false);
}

#[tokio::test]
async fn deleting_an_org_is_refused_while_agents_are_assigned() {
    let w = world().await;
    let empty = w.app.create_org(&w.root, "Empty", "empty.example").await;
    let (agent, _) = w.app.agent(&w.root, "Lonely", Some(empty)).await;
    let refused = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &empty.to_string())],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("1 assigned agent"),
        "{}",
        refused.body
    );
    w.app
        .call(
            "agents/unassign_agent",
            Some(&w.root),
            &[
                ("org_id", &empty.to_string()),
                ("agent_id", &agent.to_string()),
            ],
        )
        .await;
    let deleted = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &empty.to_string())],
        )
        .await;
    assert!(deleted.status < 400, "{}", deleted.body);
}

#[tokio::test]
async fn the_agent_gate_admits_a_key_only_in_the_org_its_agent_serves() {
    let w = world().await;
    let (agent, key) = w
        .app
        .agent(&w.root, "Gatekeeper", Some(w.org("Alpha")))
        .await;
    let who = w
        .app
        .agent_call("GET", "/api/v1/agent", &key, None, &[])
        .await;
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(who.json()["org_id"], w.org("Alpha").to_string());

    let beta = w.org("Beta").to_string();
    let alpha = w.org("Alpha").to_string();
    let flipped = if key.ends_with('0') { '1' } else { '0' };
    let wrong_secret = format!("{}{flipped}", &key[..key.len() - 1]);
    for (what, key, headers, status) in [
        (
            "another org by header",
            key.as_str(),
            vec![("x-tenantry-org", beta.as_str())],
            400,
        ),
        (
            "another org by subdomain",
            &key,
            vec![("host", "beta.tenantry.test")],
            400,
        ),
        (
            "another org by domain",
            &key,
            vec![("host", "beta.example")],
            400,
        ),
        (
            "its own org by header",
            &key,
            vec![("x-tenantry-org", alpha.as_str())],
            200,
        ),
        ("no key", "", vec![], 401),
        ("a malformed key", "tnt_nope", vec![], 401),
        ("a wrong secret", &wrong_secret, vec![], 401),
    ] {
        let response = w
            .app
            .agent_call("GET", "/api/v1/agent", key, None, &headers)
            .await;
        assert_eq!(response.status, status, "{what}: {}", response.body);
    }

    // A disabled org stops its agents: refused, and listed as stopped.
    let disable = w
        .app
        .call("orgs/disable_org", Some(&w.root), &[("org_id", &alpha)])
        .await;
    assert!(disable.status < 400, "{}", disable.body);
    let stopped = w
        .app
        .agent_call("GET", "/api/v1/agent", &key, None, &[])
        .await;
    assert_eq!(stopped.status, 403, "{}", stopped.body);
    assert!(stopped.body.contains("stopped"), "{}", stopped.body);
    let registry = w
        .app
        .call("agents/list_agents", Some(&w.root), &[])
        .await
        .json();
    assert_eq!(registry["rows"][0]["status"], "stopped");
    w.app
        .call("orgs/enable_org", Some(&w.root), &[("org_id", &alpha)])
        .await;
    assert_eq!(
        w.app
            .agent_call("GET", "/api/v1/agent", &key, None, &[])
            .await
            .status,
        200
    );

    // A revoked key is refused at once; a new one works.
    let keys = w
        .app
        .call(
            "agents/agent_keys",
            Some(&w.root),
            &[("agent_id", &agent.to_string())],
        )
        .await
        .json();
    let key_id = keys[0]["id"].as_str().unwrap().to_string();
    assert!(
        !keys.to_string().contains(&key[12..]),
        "a listed key shows its prefix only"
    );
    let revoked = w
        .app
        .call("agents/revoke_key", Some(&w.root), &[("key_id", &key_id)])
        .await;
    assert!(revoked.status < 400, "{}", revoked.body);
    assert_eq!(
        w.app
            .agent_call("GET", "/api/v1/agent", &key, None, &[])
            .await
            .status,
        401
    );
    let fresh = w
        .app
        .call(
            "agents/issue_key",
            Some(&w.root),
            &[("agent_id", &agent.to_string())],
        )
        .await
        .json();
    let fresh = fresh["key"].as_str().unwrap();
    assert_eq!(
        w.app
            .agent_call("GET", "/api/v1/agent", fresh, None, &[])
            .await
            .status,
        200
    );

    // Unassigned, the agent has no org to act in.
    w.app
        .call(
            "agents/unassign_agent",
            Some(&w.root),
            &[("org_id", &alpha), ("agent_id", &agent.to_string())],
        )
        .await;
    let homeless = w
        .app
        .agent_call("GET", "/api/v1/agent", fresh, None, &[])
        .await;
    assert_eq!(homeless.status, 403, "{}", homeless.body);
}

#[tokio::test]
async fn memory_stays_in_the_org_it_was_written_in() {
    let w = world().await;
    let (agent, key) = w
        .app
        .agent(&w.root, "Memorious", Some(w.org("Alpha")))
        .await;
    let wrote = w
        .app
        .agent_call(
            "POST",
            "/api/v1/memory",
            &key,
            Some(json!({ "content": "Alpha's secret" })),
            &[],
        )
        .await;
    assert_eq!(wrote.status, 201, "{}", wrote.body);
    let org_of_memory = || async {
        sqlx::query_scalar::<_, Option<Uuid>>("select org_id from agent_memory where agent_id = $1")
            .bind(agent)
            .fetch_one(&w.app.owner)
            .await
            .unwrap()
    };
    assert_eq!(org_of_memory().await, Some(w.org("Alpha")));

    for (org, then) in [(w.org("Alpha"), None), (w.org("Beta"), Some(w.org("Beta")))] {
        let _ = then;
        let path = if then.is_none() {
            "agents/unassign_agent"
        } else {
            "agents/assign_agent"
        };
        let response = w
            .app
            .call(
                path,
                Some(&w.root),
                &[
                    ("org_id", &org.to_string()),
                    ("agent_id", &agent.to_string()),
                ],
            )
            .await;
        assert!(response.status < 400, "{}", response.body);
        assert_eq!(org_of_memory().await, Some(w.org("Alpha")), "after {path}");
    }
    // In Beta now: what it learnt for Alpha stays Alpha's, out of Beta's reach.
    let read = w
        .app
        .agent_call("GET", "/api/v1/memory", &key, None, &[])
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(!read.body.contains("Alpha's secret"), "{}", read.body);
    let runtime = w.app.db.runtime_pool().await;
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query("select set_config('app.org_id', $1, true)")
        .bind(w.org("Alpha").to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from agent_memory")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 1);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_problem() {
    let w = world().await;
    let (_, key) = w.app.agent(&w.root, "Careful", Some(w.org("Alpha"))).await;
    let post = |body: &str| {
        let request = axum::http::Request::post("/api/v1/memory")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        w.app.send(request)
    };
    let broken = post("{not json").await;
    assert_eq!(broken.status, 400, "{}", broken.body);
    assert!(
        broken.json()["error"].as_str().unwrap().contains("JSON"),
        "{}",
        broken.body
    );
    let missing = post("{}").await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(missing.body.contains("content"), "{}", missing.body);
    let empty = post(r#"{"content": "   "}"#).await;
    assert_eq!(empty.status, 400);
    assert!(
        empty.json()["fields"]["content"].is_array(),
        "{}",
        empty.body
    );
    let huge = post(&json!({ "content": "x".repeat(10_001) }).to_string()).await;
    assert_eq!(huge.status, 400);
    assert!(
        huge.body.contains("at most 10000 characters"),
        "{}",
        huge.body
    );

    for (fields, field) in [
        (
            vec![
                ("name", "X"),
                ("email", "x@agents.test"),
                ("model", "gpt-9"),
            ],
            "model",
        ),
        (
            vec![
                ("name", "X"),
                ("email", "not an email"),
                ("model", "gpt-4o"),
            ],
            "email",
        ),
        (
            vec![
                ("name", " "),
                ("email", "y@agents.test"),
                ("model", "gpt-4o"),
            ],
            "name",
        ),
    ] {
        let response = w
            .app
            .call("agents/create_agent", Some(&w.root), &fields)
            .await;
        assert_eq!(response.status, 400, "{}", response.body);
        assert!(
            response.json()["Validation"][field].is_array(),
            "{field}: {}",
            response.body
        );
    }
    let taken = w
        .app
        .call(
            "agents/create_agent",
            Some(&w.root),
            &[
                ("name", "Again"),
                ("email", "careful@agents.test"),
                ("model", "gpt-4o"),
            ],
        )
        .await;
    assert_eq!(taken.status, 400, "{}", taken.body);
    assert!(
        taken.body.contains("Another agent already has this email"),
        "{}",
        taken.body
    );
    let not_an_id = w
        .app
        .call("agents/org_agents", Some(&w.root), &[("org_id", "nope")])
        .await;
    assert_eq!(not_an_id.status, 400, "{}", not_an_id.body);
}

#[tokio::test]
async fn the_registry_follows_the_superadmins_org_switcher_unless_asked_for_all() {
    let w = world().await;
    w.app
        .agent(&w.root, "Alpha Bot", Some(w.org("Alpha")))
        .await;
    w.app.agent(&w.root, "Beta Bot", Some(w.org("Beta"))).await;
    w.app.agent(&w.root, "Free Bot", None).await;
    let names = |page: Value| -> Vec<String> {
        page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |token: String, scope: &'static str| {
        let app = &w.app;
        async move {
            app.call("agents/list_agents", Some(&token), &[("scope", scope)])
                .await
                .json()
        }
    };
    // Acting in no org: every agent.
    let all = list(w.root.clone(), "").await;
    assert_eq!(all["scope"], "all");
    assert_eq!(names(all), ["Alpha Bot", "Beta Bot", "Free Bot"]);
    // Switched into Alpha: Alpha's agents and the free ones; never Beta's.
    let in_alpha = w.app.switch(&w.root, w.org("Alpha")).await;
    let scoped = list(in_alpha.clone(), "").await;
    assert_eq!(scoped["scope"], "org");
    assert_eq!(scoped["org_name"], "Alpha");
    assert_eq!(scoped["matching"], 2);
    assert_eq!(names(scoped), ["Alpha Bot", "Free Bot"]);
    assert_eq!(
        names(list(in_alpha.clone(), "unassigned").await),
        ["Free Bot"]
    );
    assert_eq!(
        names(list(in_alpha.clone(), "all").await),
        ["Alpha Bot", "Beta Bot", "Free Bot"]
    );
    // The previous release's registry (kept for its nodes) answers every agent still.
    let previous: Vec<String> =
        sqlx::query_scalar("select name from platform.agent_registry(null, 50, 0)")
            .fetch_all(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(previous, ["Alpha Bot", "Beta Bot", "Free Bot"]);
    // An unknown scope is the default.
    assert_eq!(
        names(list(in_alpha, "everything'; --").await),
        ["Alpha Bot", "Free Bot"]
    );
}
