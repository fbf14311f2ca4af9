//! Credentials: encrypted at rest, shown masked, scoped to an org or one of its agents, handed
//! in full only to the agents they are for, and refused with the field named.

use server::testing::TestApp;

const SECRET: &str = "sk_live_51Hf0rEvErSeCrEt9876";

#[tokio::test]
async fn credentials_are_encrypted_masked_and_reach_only_their_agents() {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let alpha = app.create_org(&root, "Alpha", "alpha.example").await;
    let beta = app.create_org(&root, "Beta", "beta.example").await;
    let alice = app.user("alice@alpha.test", false, None).await;
    app.add_member(alpha, alice, "admin").await;
    let alice = app.sign_in("alice@alpha.test").await;
    let (sales, sales_key) = app.agent(&root, "Sales", Some(alpha)).await;
    let (_, ops_key) = app.agent(&root, "Ops", Some(alpha)).await;
    let (beta_agent, beta_key) = app.agent(&root, "Beta Bot", Some(beta)).await;
    let org = alpha.to_string();

    let save = |fields: Vec<(&'static str, String)>| {
        let token = alice.clone();
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call("credentials/save_credential", Some(&token), &fields)
                .await
        }
    };
    let org_wide = save(vec![
        ("org_id", org.clone()),
        ("name", "stripe".into()),
        ("kind", "api_key".into()),
        ("secret", "sk_org_wide_0000".into()),
    ])
    .await;
    assert_eq!(org_wide.status, 200, "{}", org_wide.body);
    let own = save(vec![
        ("org_id", org.clone()),
        ("name", "stripe".into()),
        ("kind", "api_key".into()),
        ("agent_id", sales.to_string()),
        ("secret", SECRET.into()),
    ])
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json(), "••••9876");
    assert!(!own.body.contains(SECRET));

    // Stored encrypted: neither the secret nor its start is in the row.
    let ciphertexts: Vec<Vec<u8>> = sqlx::query_scalar("select ciphertext from credential")
        .fetch_all(&app.owner)
        .await
        .unwrap();
    for ct in &ciphertexts {
        assert!(!ct.windows(8).any(|w| w == &SECRET.as_bytes()[..8]));
    }
    // Listed masked, never in full.
    let listed = app
        .call(
            "credentials/list_credentials",
            Some(&alice),
            &[("org_id", &org)],
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        !listed.body.contains(SECRET) && !listed.body.contains("sk_org_wide"),
        "{}",
        listed.body
    );
    assert_eq!(listed.json()["rows"].as_array().unwrap().len(), 2);

    // The agent it is scoped to gets its own; another agent of the org the org-wide one; an
    // agent of another org nothing.
    let reveal = |key: String| {
        let app = &app;
        async move {
            app.agent_call(
                "POST",
                "/api/v1/credentials/reveal",
                &key,
                Some(serde_json::json!({ "name": "STRIPE" })),
                &[],
            )
            .await
        }
    };
    let got = reveal(sales_key.clone()).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["secret"], SECRET);
    assert_eq!(reveal(ops_key).await.json()["secret"], "sk_org_wide_0000");
    let other = reveal(beta_key).await;
    assert_eq!(other.status, 404, "{}", other.body);

    // Replacing keeps one credential per name and scope.
    let replaced = save(vec![
        ("org_id", org.clone()),
        ("name", "stripe".into()),
        ("kind", "api_key".into()),
        ("agent_id", sales.to_string()),
        ("secret", "sk_rotated_abcd".into()),
    ])
    .await;
    assert_eq!(replaced.json(), "••••abcd");
    assert_eq!(reveal(sales_key).await.json()["secret"], "sk_rotated_abcd");
    let count: i64 = sqlx::query_scalar("select count(*) from credential where org_id = $1")
        .bind(alpha)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(count, 2);

    // Refusals name the field.
    for (fields, field) in [
        (
            vec![("name", "Has Spaces"), ("kind", "api_key"), ("secret", "x")],
            "name",
        ),
        (
            vec![("name", "ok"), ("kind", "magic"), ("secret", "x")],
            "kind",
        ),
        (
            vec![("name", "ok"), ("kind", "token"), ("secret", "  ")],
            "secret",
        ),
    ] {
        let mut all = vec![("org_id", org.clone())];
        all.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        let response = save(all).await;
        assert_eq!(response.status, 400, "{field}: {}", response.body);
        assert!(
            response.json()["Validation"][field].is_array(),
            "{field}: {}",
            response.body
        );
    }
    let foreign = save(vec![
        ("org_id", org.clone()),
        ("name", "github".into()),
        ("kind", "token".into()),
        ("agent_id", beta_agent.to_string()),
        ("secret", "ghp_x".into()),
    ])
    .await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(
        foreign.body.contains("does not serve this organization"),
        "{}",
        foreign.body
    );

    // Plain members are refused by the server.
    let carol = app.user("carol@alpha.test", false, None).await;
    app.add_member(alpha, carol, "member").await;
    let carol = app.sign_in("carol@alpha.test").await;
    let refused = app
        .call(
            "credentials/list_credentials",
            Some(&carol),
            &[("org_id", &org)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}
