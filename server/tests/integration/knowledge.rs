//! Knowledge: partitioned per org, searched with ranking, shared knowledge readable by every org
//! and editable only in the platform owner's org, agents confined to their org, clear refusals.

use serde_json::Value;
use server::testing::World;
use uuid::Uuid;

async fn world() -> World {
    World::build()
        .org("Platform", &[("pam@platform.test", "owner")])
        .org("Alpha", &[("alice@alpha.test", "owner")])
        .org("Beta", &[("bob@beta.test", "owner")])
        .agent("Alpha Agent", Some("Alpha"))
        .agent("Beta Agent", Some("Beta"))
        .await
}

async fn save(w: &World, token: &str, fields: &[(&str, &str)]) -> server::testing::TestResponse {
    w.app
        .call("knowledge/save_entry", Some(token), fields)
        .await
}

async fn agent_search(w: &World, key: &str, q: &str) -> Value {
    let path = format!("/api/v1/knowledge/search?q={}", q.replace(' ', "+"));
    let response = w.app.agent_call("GET", &path, key, None, &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

fn titles(found: &Value) -> Vec<String> {
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_org_searches_its_own_knowledge_plus_what_the_platform_shares() {
    let w = world().await;
    for (token, title, body) in [
        (
            w.token("alice"),
            "Alpha refund policy",
            "Refunds within 30 days for the Alpha plan.",
        ),
        (
            w.token("alice"),
            "Alpha onboarding",
            "Welcome packets mention refunds only once.",
        ),
        (w.token("bob"), "Beta refund policy", "Beta never refunds."),
    ] {
        let saved = save(
            &w,
            token,
            &[
                ("title", title),
                ("body", body),
                ("tags", "policy, refund"),
                ("visibility", "organization"),
            ],
        )
        .await;
        assert_eq!(saved.status, 200, "{title}: {}", saved.body);
    }
    // Ranked: the entry about refunds in its title and tags comes first.
    let found = agent_search(&w, w.key("Alpha Agent"), "refund").await;
    assert_eq!(titles(&found), ["Alpha refund policy", "Alpha onboarding"]);
    assert!(found[0]["rank"].as_f64().unwrap() > found[1]["rank"].as_f64().unwrap());
    assert!(
        found[0]["snippet"].as_str().unwrap().contains("[Refunds]"),
        "{found}"
    );
    assert_eq!(
        titles(&agent_search(&w, w.key("Beta Agent"), "refund").await),
        ["Beta refund policy"]
    );

    // Sharing is the platform owner's org's alone.
    let refused = save(
        &w,
        w.token("alice"),
        &[
            ("title", "Not mine to share"),
            ("visibility", "organization"),
            ("shared", "on"),
        ],
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.json()["Validation"]["shared"].is_array());
    let marked = w
        .app
        .call(
            "knowledge/mark_platform_owner",
            Some(&w.root),
            &[("org_id", &w.org("Platform").to_string())],
        )
        .await;
    assert!(marked.status < 400, "{}", marked.body);
    let shared = save(
        &w,
        w.token("pam"),
        &[
            ("title", "Platform refund rules"),
            ("body", "Every refund follows these rules."),
            ("visibility", "organization"),
            ("shared", "on"),
        ],
    )
    .await;
    assert_eq!(shared.status, 200, "{}", shared.body);
    let shared_id = shared.json().as_str().unwrap().to_string();
    let unshared = save(
        &w,
        w.token("pam"),
        &[
            ("title", "Platform internal refund notes"),
            ("body", "refund"),
            ("visibility", "organization"),
        ],
    )
    .await;
    assert_eq!(unshared.status, 200);

    for key in [w.key("Alpha Agent"), w.key("Beta Agent")] {
        let found = titles(&agent_search(&w, key, "refund").await);
        assert!(
            found.contains(&"Platform refund rules".to_string()),
            "{found:?}"
        );
        assert!(
            !found.contains(&"Platform internal refund notes".to_string()),
            "{found:?}"
        );
    }
    let beta_sees = titles(&agent_search(&w, w.key("Beta Agent"), "refund").await);
    assert!(
        !beta_sees.iter().any(|t| t.starts_with("Alpha")),
        "{beta_sees:?}"
    );

    // Readable by Alpha's editors, marked read-only, and not editable or deletable there.
    let listed = w
        .app
        .call("knowledge/list_entries", Some(w.token("alice")), &[])
        .await
        .json();
    let entry = listed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == shared_id.as_str())
        .expect("the shared entry is listed");
    assert_eq!(entry["read_only"], true);
    let edit = save(
        &w,
        w.token("alice"),
        &[
            ("entry_id", &shared_id),
            ("title", "Hijacked"),
            ("visibility", "organization"),
        ],
    )
    .await;
    assert_eq!(edit.status, 403, "{}", edit.body);
    let delete = w
        .app
        .call(
            "knowledge/delete_entry",
            Some(w.token("alice")),
            &[("entry_id", &shared_id)],
        )
        .await;
    assert_eq!(delete.status, 403, "{}", delete.body);
    let title: String =
        sqlx::query_scalar("select title from knowledge_entry where entry_id = $1::uuid")
            .bind(&shared_id)
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(title, "Platform refund rules");
    // In the owner org it is edited as usual.
    let edit = save(
        &w,
        w.token("pam"),
        &[
            ("entry_id", &shared_id),
            ("title", "Platform refund rules v2"),
            ("visibility", "organization"),
            ("shared", "on"),
        ],
    )
    .await;
    assert_eq!(edit.status, 200, "{}", edit.body);
}

#[tokio::test]
async fn private_entries_stay_with_their_author_and_out_of_agent_search() {
    let w = world().await;
    let private = save(
        &w,
        w.token("alice"),
        &[
            ("title", "My draft about pricing"),
            ("body", "pricing draft"),
            ("visibility", "private"),
        ],
    )
    .await;
    assert_eq!(private.status, 200, "{}", private.body);
    assert!(titles(&agent_search(&w, w.key("Alpha Agent"), "pricing").await).is_empty());
    let mine = w
        .app
        .call(
            "knowledge/list_entries",
            Some(w.token("alice")),
            &[("q", "pricing")],
        )
        .await
        .json();
    assert_eq!(mine["matching"], 1);
    // A plain member of Alpha (with the Knowledge section) does not see it.
    let carol = w.app.user("carol@alpha.test", false, None).await;
    let alpha: Uuid = sqlx::query_scalar("select org_id from organization where name = 'Alpha'")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    w.app.add_member(alpha, carol, "member").await;
    let carol = w.app.sign_in("carol@alpha.test").await;
    let theirs = w
        .app
        .call("knowledge/list_entries", Some(&carol), &[("q", "pricing")])
        .await
        .json();
    assert_eq!(theirs["matching"], 0, "{theirs}");
}

#[tokio::test]
async fn bad_entries_and_searches_are_refused_naming_the_field() {
    let w = world().await;
    let long_tag = "t".repeat(51);
    let big = "x".repeat(100_001);
    for (fields, field) in [
        (
            vec![("title", " "), ("visibility", "organization")],
            "title",
        ),
        (
            vec![("title", "T"), ("visibility", "everyone")],
            "visibility",
        ),
        (
            vec![
                ("title", "T"),
                ("visibility", "team"),
                ("tags", long_tag.as_str()),
            ],
            "tags",
        ),
        (
            vec![
                ("title", "T"),
                ("visibility", "team"),
                ("body", big.as_str()),
            ],
            "body",
        ),
    ] {
        let response = save(&w, w.token("bob"), &fields).await;
        assert_eq!(response.status, 400, "{field}: {}", response.body);
        assert!(
            response.json()["Validation"][field].is_array(),
            "{field}: {}",
            response.body
        );
    }
    let empty = w
        .app
        .agent_call(
            "GET",
            "/api/v1/knowledge/search?q=",
            w.key("Beta Agent"),
            None,
            &[],
        )
        .await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert!(empty.json()["fields"]["q"].is_array(), "{}", empty.body);
    let long = format!("/api/v1/knowledge/search?q={}", "a".repeat(201));
    let long = w
        .app
        .agent_call("GET", &long, w.key("Beta Agent"), None, &[])
        .await;
    assert_eq!(long.status, 400, "{}", long.body);
    let bad_limit = w
        .app
        .agent_call(
            "GET",
            "/api/v1/knowledge/search?q=x&limit=many",
            w.key("Beta Agent"),
            None,
            &[],
        )
        .await;
    assert_eq!(bad_limit.status, 400, "{}", bad_limit.body);
    assert!(bad_limit.body.contains("limit"), "{}", bad_limit.body);
}
