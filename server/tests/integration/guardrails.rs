//! Guardrails end to end: policies saved with their parameters checked, evaluation through the
//! agent API in the agent's own org only, interventions logged there, and clear refusals.

use serde_json::{json, Value};
use server::testing::World;

async fn world() -> World {
    World::build()
        .org("Alpha", &[("alice@alpha.test", "admin")])
        .org("Beta", &[("bob@beta.test", "admin")])
        .agent("Alpha Agent", Some("Alpha"))
        .agent("Beta Agent", Some("Beta"))
        .await
}

async fn save(w: &World, token: &str, fields: &[(&str, &str)]) -> server::testing::TestResponse {
    w.app
        .call("guardrails/save_policy", Some(token), fields)
        .await
}

async fn evaluate(w: &World, key: &str, body: Value) -> server::testing::TestResponse {
    w.app
        .agent_call("POST", "/api/v1/guardrails/evaluate", key, Some(body), &[])
        .await
}

#[tokio::test]
async fn an_agent_is_governed_by_its_own_orgs_policies_only() {
    let w = world().await;
    // Beta blocks "invoice"; Alpha redacts emails.
    let beta_policy = save(
        &w,
        w.token("bob"),
        &[
            ("name", "No invoices"),
            ("kind", "blocked_topics"),
            ("enabled", "on"),
            ("priority", "1"),
            ("params", r#"{"keywords": ["invoice"]}"#),
        ],
    )
    .await;
    assert_eq!(beta_policy.status, 200, "{}", beta_policy.body);
    let alpha_policy = save(
        &w,
        w.token("alice"),
        &[
            ("name", "Hide emails"),
            ("kind", "pii_redaction"),
            ("enabled", "on"),
            ("priority", "5"),
            ("params", r#"{"types": ["email"]}"#),
        ],
    )
    .await;
    assert_eq!(alpha_policy.status, 200, "{}", alpha_policy.body);

    let text = "Your invoice went to ana@client.example";
    let alpha = evaluate(&w, w.key("Alpha Agent"), json!({ "text": text }))
        .await
        .json();
    assert_eq!(alpha["action"], "redact", "{alpha}");
    assert_eq!(alpha["policy_name"], "Hide emails");
    assert_eq!(alpha["text"], "Your invoice went to [EMAIL]");
    let beta = evaluate(&w, w.key("Beta Agent"), json!({ "text": text }))
        .await
        .json();
    assert_eq!(beta["action"], "block", "{beta}");
    assert_eq!(beta["policy_name"], "No invoices");

    // Each org's log has its own intervention, and the redacted text only.
    let log = w
        .app
        .call("guardrails/list_interventions", Some(w.token("alice")), &[])
        .await
        .json();
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["agent_name"], "Alpha Agent");
    assert_eq!(log[0]["excerpt"], "Your invoice went to [EMAIL]");
    let blocks = w
        .app
        .call(
            "guardrails/list_interventions",
            Some(w.token("alice")),
            &[("action", "block")],
        )
        .await
        .json();
    assert!(blocks.as_array().unwrap().is_empty());
    let beta_log = w
        .app
        .call("guardrails/list_interventions", Some(w.token("bob")), &[])
        .await
        .json();
    assert_eq!(beta_log[0]["policy_name"], "No invoices");
    assert_eq!(beta_log.as_array().unwrap().len(), 1);

    // Disabled, Alpha's policy no longer applies; allowed texts are not logged.
    let id = alpha_policy.json().as_str().unwrap().to_string();
    let off = save(
        &w,
        w.token("alice"),
        &[
            ("policy_id", &id),
            ("name", "Hide emails"),
            ("kind", "pii_redaction"),
            ("priority", "5"),
            ("params", r#"{"types": ["email"]}"#),
        ],
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.body);
    let allowed = evaluate(&w, w.key("Alpha Agent"), json!({ "text": text }))
        .await
        .json();
    assert_eq!(allowed["action"], "allow");
    assert_eq!(allowed["text"], text);
    let log = w
        .app
        .call("guardrails/list_interventions", Some(w.token("alice")), &[])
        .await
        .json();
    assert_eq!(log.as_array().unwrap().len(), 1);

    // Bob cannot touch Alpha's policy by id.
    let theirs = save(
        &w,
        w.token("bob"),
        &[
            ("policy_id", &id),
            ("name", "Hijacked"),
            ("kind", "escalate"),
            ("priority", "1"),
            ("params", r#"{"keywords": ["x"]}"#),
        ],
    )
    .await;
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    let gone = w
        .app
        .call(
            "guardrails/delete_policy",
            Some(w.token("bob")),
            &[("policy_id", &id)],
        )
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    let names: Vec<String> =
        sqlx::query_scalar("select name from guardrail_policy where org_id = $1")
            .bind(w.org("Alpha"))
            .fetch_all(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(names, ["Hide emails"]);
}

#[tokio::test]
async fn bad_policies_and_bad_evaluations_are_refused_naming_the_problem() {
    let w = world().await;
    for (kind, params, field, expected) in [
        (
            "blocked_topics",
            r#"{"patterns": ["(unclosed"]}"#,
            "params",
            "is not a valid pattern",
        ),
        (
            "allowed_models",
            r#"{"models": ["gpt-9"]}"#,
            "params",
            "is not a known model",
        ),
        (
            "max_length",
            r#"{"max_chars": -3}"#,
            "params",
            "max_chars: must be a whole number",
        ),
        ("pii_redaction", "{not json", "params", "not valid JSON"),
        ("teleport", "{}", "kind", "is not one of"),
    ] {
        let response = save(
            &w,
            w.token("alice"),
            &[
                ("name", "Bad"),
                ("kind", kind),
                ("priority", "1"),
                ("params", params),
            ],
        )
        .await;
        assert_eq!(response.status, 400, "{kind}: {}", response.body);
        let messages = response.json()["Validation"][field].to_string();
        assert!(messages.contains(expected), "{kind}: {}", response.body);
    }
    let priority = save(
        &w,
        w.token("alice"),
        &[
            ("name", "P"),
            ("kind", "escalate"),
            ("priority", "first"),
            ("params", r#"{"keywords": ["a"]}"#),
        ],
    )
    .await;
    assert!(
        priority.json()["Validation"]["priority"].is_array(),
        "{}",
        priority.body
    );

    let too_long = evaluate(
        &w,
        w.key("Alpha Agent"),
        json!({ "text": "x".repeat(50_001) }),
    )
    .await;
    assert_eq!(too_long.status, 400, "{}", too_long.body);
    assert!(
        too_long.body.contains("at most 50000 characters"),
        "{}",
        too_long.body
    );
    let model = evaluate(
        &w,
        w.key("Alpha Agent"),
        json!({ "text": "hi", "model": "gpt-9" }),
    )
    .await;
    assert_eq!(model.status, 400, "{}", model.body);
    assert!(model.json()["fields"]["model"].is_array(), "{}", model.body);
    let no_text = evaluate(&w, w.key("Alpha Agent"), json!({ "words": "hi" })).await;
    assert_eq!(no_text.status, 400, "{}", no_text.body);
    assert!(no_text.body.contains("text"), "{}", no_text.body);

    // A member without the Guardrails section gets 403 from the server, not just a hidden link.
    let carol = w.app.user("carol@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha"), carol, "member").await;
    let carol = w.app.sign_in("carol@alpha.test").await;
    let refused = w
        .app
        .call("guardrails/list_policies", Some(&carol), &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}
