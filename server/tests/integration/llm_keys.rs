//! LLM keys against a real PostgreSQL: saved per org and per member (encrypted, shown masked),
//! and resolved for agents user → org → environment, with the org's "allow user keys" policy.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::Value;
use server::testing::TestApp;

const USER_KEY: &str = "sk-user-openai-secret-5678";
const ORG_KEY: &str = "sk-org-openai-secret-1234";
const ENV_KEY: &str = "sk-env-openai-secret-9999";

#[tokio::test]
async fn keys_resolve_user_then_org_then_environment_and_stay_masked() {
    let app = TestApp::with_services(|s| {
        s.llm_env_keys = Arc::new(BTreeMap::from([(
            "openai".to_string(),
            ENV_KEY.to_string(),
        )]));
    })
    .await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let org = app.create_org(&root, "Keys Co", "keys.example").await;
    let admin = app.user("admin@keys.test", false, None).await;
    app.add_member(org, admin, "admin").await;
    let member = app.user("member@keys.test", false, None).await;
    app.add_member(org, member, "member").await;
    let outsider = app.user("outsider@else.test", false, None).await;
    let admin_token = app.switch(&app.sign_in("admin@keys.test").await, org).await;
    let member_token = app
        .switch(&app.sign_in("member@keys.test").await, org)
        .await;
    let org_id = org.to_string();
    let save = |token: &str, scope: &str, key: &str, provider: &str| {
        let fields = [
            ("org_id", org_id.clone()),
            ("provider", provider.to_string()),
            ("key", key.to_string()),
        ];
        // The org's keys and a member's own have endpoints (and needs) of their own.
        let endpoint = if scope == "user" {
            "llm_keys/save_own_llm_key"
        } else {
            "llm_keys/save_llm_key"
        };
        let token = token.to_string();
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call(endpoint, Some(&token), &fields).await
        }
    };

    let r = save(&admin_token, "organization", ORG_KEY, "openai").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), Value::from("••••1234"));
    let r = save(
        &member_token,
        "organization",
        "sk-member-tries-org",
        "openai",
    )
    .await;
    assert_eq!(
        r.status, 403,
        "a member cannot set the org's key: {}",
        r.body
    );
    let r = save(&member_token, "user", USER_KEY, "openai").await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (scope, key, provider, field) in [
        ("user", "short", "openai", "key"),
        ("user", "has a space in it", "openai", "key"),
        ("user", "sk-fine-key-0000", "skynet", "provider"),
    ] {
        let r = save(&member_token, scope, key, provider).await;
        assert_eq!(r.status, 400, "{scope} {key} {provider}: {}", r.body);
        assert!(r.body.contains(&format!("\"{field}\"")), "{}", r.body);
    }

    // At rest: ciphertext only, and the last four characters.
    let stored: Vec<(Vec<u8>, String)> =
        sqlx::query_as("select ciphertext, last4 from llm_key order by last4")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(
        stored.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
        ["1234", "5678"]
    );
    for (ciphertext, _) in &stored {
        assert!(!String::from_utf8_lossy(ciphertext).contains("secret"));
    }
    // Admins see them masked in the Credentials tab.
    let r = app
        .call(
            "credentials/list_credentials",
            Some(&admin_token),
            &[("org_id", &org_id)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("••••1234") && r.body.contains("••••5678"),
        "{}",
        r.body
    );
    assert!(!r.body.contains(ORG_KEY) && !r.body.contains(USER_KEY));

    let (_, agent_key) = app.agent(&root, "Caller", Some(org)).await;
    let ask = |query: String| {
        let agent_key = agent_key.clone();
        let app = &app;
        async move {
            app.agent_call(
                "GET",
                &format!("/api/v1/llm-key?{query}"),
                &agent_key,
                None,
                &[],
            )
            .await
        }
    };
    let resolved = |r: &server::testing::TestResponse| {
        let v = r.json();
        (
            v["source"].as_str().unwrap_or_default().to_string(),
            v["key"].as_str().unwrap_or_default().to_string(),
            v["reason"].as_str().unwrap_or_default().to_string(),
        )
    };

    let r = ask(format!("provider=openai&user_id={member}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(resolved(&r).0, "user");
    assert_eq!(resolved(&r).1, USER_KEY);
    let r = ask(format!("provider=openai&user_id={admin}")).await;
    assert_eq!(
        (resolved(&r).0.as_str(), resolved(&r).1.as_str()),
        ("organization", ORG_KEY)
    );

    // The policy switched off: the member's own key is passed over, and the reason says so.
    let r = app
        .call(
            "llm_keys/set_allow_user_keys",
            Some(&member_token),
            &[("org_id", &org_id)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app
        .call(
            "llm_keys/set_allow_user_keys",
            Some(&admin_token),
            &[("org_id", &org_id)],
        )
        .await;
    assert!(r.status < 400, "{}", r.body);
    let r = ask(format!("provider=openai&user_id={member}")).await;
    let (source, key, reason) = resolved(&r);
    assert_eq!((source.as_str(), key.as_str()), ("organization", ORG_KEY));
    assert!(reason.contains("does not allow user keys"), "{reason}");

    // Without the org's key: the environment's.
    let org_key_id: uuid::Uuid =
        sqlx::query_scalar("select llm_key_id from llm_key where user_id is null")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    let r = app
        .call(
            "llm_keys/delete_llm_key",
            Some(&member_token),
            &[("org_id", &org_id), ("llm_key_id", &org_key_id.to_string())],
        )
        .await;
    assert_eq!(
        r.status, 403,
        "members delete only their own keys: {}",
        r.body
    );
    let r = app
        .call(
            "llm_keys/delete_llm_key",
            Some(&admin_token),
            &[("org_id", &org_id), ("llm_key_id", &org_key_id.to_string())],
        )
        .await;
    assert!(r.status < 400, "{}", r.body);
    let r = ask("provider=openai".into()).await;
    let (source, key, reason) = resolved(&r);
    assert_eq!((source.as_str(), key.as_str()), ("environment", ENV_KEY));
    assert!(reason.contains("TENANTRY_LLM_KEY_OPENAI"), "{reason}");

    // None anywhere, a bad provider, a user from elsewhere.
    let r = ask("provider=anthropic".into()).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body.contains("TENANTRY_LLM_KEY_ANTHROPIC is not set"),
        "{}",
        r.body
    );
    let r = ask("provider=skynet".into()).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["fields"]["provider"].is_array(), "{}", r.body);
    let r = ask(format!("provider=openai&user_id={outsider}")).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["fields"]["user_id"].is_array(), "{}", r.body);
}

/// A member's own page: their keys only (masked), the org's policy, and every key an agent is
/// handed is on the org's audit log with the agent, the source and the user it acted for.
#[tokio::test]
async fn members_see_only_their_own_keys_and_every_handout_is_audited() {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let org = app
        .create_org(&root, "Own Keys Co", "own-keys.example")
        .await;
    let org_id = org.to_string();
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for email in ["ann@own.test", "ben@own.test"] {
        let user = app.user(email, false, None).await;
        app.add_member(org, user, "member").await;
        tokens.push(app.switch(&app.sign_in(email).await, org).await);
        ids.push(user);
    }
    for (token, key) in tokens
        .iter()
        .zip(["sk-ann-own-key-AAAA", "sk-ben-own-key-BBBB"])
    {
        let r = app
            .call(
                "llm_keys/save_own_llm_key",
                Some(token),
                &[("org_id", &org_id), ("provider", "anthropic"), ("key", key)],
            )
            .await;
        assert!(r.status < 400, "{}", r.body);
    }
    let own = app
        .call("llm_keys/own_llm_keys", Some(&tokens[0]), &[])
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    let own = own.json();
    assert_eq!(own["org_name"], "Own Keys Co");
    assert_eq!(own["allow_user_keys"], true);
    let keys = own["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "Ann sees her key only: {own}");
    assert_eq!(keys[0]["masked"], "••••AAAA");
    assert_eq!(keys[0]["provider"], "anthropic");
    // The page itself, rendered for Ben: his key, not Ann's, and never a whole key.
    let page = app
        .send(
            axum::http::Request::get("/llm-keys")
                .header(
                    "cookie",
                    format!("{}={}", app::auth::token::COOKIE, tokens[1]),
                )
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("••••BBBB"), "{}", page.body);
    assert!(!page.body.contains("AAAA") && !page.body.contains("sk-ben-own-key"));

    // Handouts: Ann's key for Ann; with no user named, the org has no key: a 404, unaudited.
    let (agent, agent_key) = app.agent(&root, "Handout Agent", Some(org)).await;
    let r = app
        .agent_call(
            "GET",
            &format!("/api/v1/llm-key?provider=anthropic&user_id={}", ids[0]),
            &agent_key,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["key"], "sk-ann-own-key-AAAA");
    let audited: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "select action, target, details from audit_event
          where org_id = $1 and action = 'llm_key.handout'",
    )
    .bind(org)
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    let (_, target, details) = &audited[0];
    assert_eq!(target, "anthropic");
    assert_eq!(details["agent_id"], agent.to_string());
    assert_eq!(details["source"], "user");
    assert_eq!(details["for_user_id"], ids[0].to_string());
    assert!(!details.to_string().contains("sk-ann"), "{details}");
    let r = app
        .agent_call(
            "GET",
            "/api/v1/llm-key?provider=anthropic",
            &agent_key,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let count: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1 and action = 'llm_key.handout'",
    )
    .bind(org)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(count, 1, "a refused handout hands nothing out");
}
