//! The Users page's server functions: who lists whom, creating users, enabling and disabling
//! them, the client-org binding, and the permission editor.

use serde_json::Value;
use server::testing::{World, TEST_PASSWORD};

async fn world() -> World {
    World::alpha_beta().await
}

fn emails(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["email"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn superadmins_list_everyone_and_org_admins_their_members() {
    let w = world().await;
    let all = w
        .app
        .call("members/list_users", Some(&w.root), &[])
        .await
        .json();
    assert_eq!(all["all_orgs"], true);
    assert_eq!(
        emails(&all),
        ["alice@alpha.test", "bob@beta.test", "root@platform.test"]
    );
    let alice_row = &all["rows"][0];
    assert_eq!(alice_row["memberships"][0]["org_name"], "Alpha");
    // The permission editor's role choices: the org's own roles, built-in first.
    let builtin = ["admin", "guest", "manager", "member", "owner", "viewer"];
    let roles = |row: &Value| -> Vec<String> {
        let mut roles: Vec<String> = row["memberships"][0]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        roles.sort();
        roles
    };
    assert_eq!(roles(alice_row), builtin);
    let searched = w
        .app
        .call("members/list_users", Some(&w.root), &[("query[q]", "BOB")])
        .await
        .json();
    assert_eq!(emails(&searched), ["bob@beta.test"]);

    let mine = w
        .app
        .call("members/list_users", Some(w.token("alice")), &[])
        .await
        .json();
    assert_eq!(mine["all_orgs"], false);
    assert_eq!(emails(&mine), ["alice@alpha.test"]);
    w.app
        .call(
            "orgs/add_role",
            Some(&w.root),
            &[
                ("org_id", &w.org("Beta").to_string()),
                ("role_name", "auditor"),
            ],
        )
        .await;
    w.app
        .call(
            "orgs/add_role",
            Some(&w.root),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("role_name", "analyst"),
            ],
        )
        .await;
    let mine = w
        .app
        .call("members/list_users", Some(w.token("alice")), &[])
        .await
        .json();
    let mut expected: Vec<&str> = builtin.to_vec();
    expected.push("analyst");
    expected.sort();
    assert_eq!(
        roles(&mine["rows"][0]),
        expected,
        "Alpha's roles, not Beta's"
    );
    let other = w
        .app
        .call(
            "members/get_user",
            Some(w.token("alice")),
            &[("user_id", all["rows"][1]["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(other.status, 404, "bob is not in Alpha: {}", other.body);

    let carol = w.app.user("carol@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha"), carol, "member").await;
    let carol = w.app.sign_in("carol@alpha.test").await;
    let refused = w.app.call("members/list_users", Some(&carol), &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}

#[tokio::test]
async fn an_admin_creates_a_user_who_can_sign_in_with_a_member_number() {
    let w = world().await;
    let org = w.org("Alpha").to_string();
    let create = |email: &'static str, role: &'static str| {
        let org = org.clone();
        let app = &w.app;
        let token = w.token("alice").to_string();
        async move {
            app.call(
                "members/create_user",
                Some(&token),
                &[
                    ("org_id", &org),
                    ("name", "Dana"),
                    ("email", email),
                    ("password", TEST_PASSWORD),
                    ("role", role),
                ],
            )
            .await
        }
    };
    let ok = create("dana@alpha.test", "manager").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let dup = create("DANA@alpha.test", "member").await;
    assert_eq!(dup.status, 400);
    assert!(dup.body.contains("already exists"), "{}", dup.body);
    let bad_role = create("erin@alpha.test", "pilot").await;
    assert!(
        bad_role.json()["Validation"]["role"].is_array(),
        "{}",
        bad_role.body
    );
    // Alice cannot create users in Beta.
    let elsewhere = w
        .app
        .call(
            "members/create_user",
            Some(w.token("alice")),
            &[
                ("org_id", &w.org("Beta").to_string()),
                ("name", "X"),
                ("email", "x@x.test"),
                ("password", TEST_PASSWORD),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);

    let dana = w.app.sign_in("dana@alpha.test").await;
    let session = w
        .app
        .call("auth/current_session", Some(&dana), &[])
        .await
        .json();
    assert_eq!(session["active_org"]["name"], "Alpha");
    let listed = w
        .app
        .call(
            "members/list_users",
            Some(w.token("alice")),
            &[("query[q]", "dana")],
        )
        .await
        .json();
    assert_eq!(
        listed["rows"][0]["memberships"][0]["member_seq"], 2,
        "ORGn-U-2"
    );
}

#[tokio::test]
async fn disabling_binding_and_the_permission_editor() {
    let w = world().await;
    let erin = w.app.user("erin@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha"), erin, "member").await;
    let erin_token = w.app.sign_in("erin@alpha.test").await;
    let id = erin.to_string();
    let save = |status: &'static str, bound: String, token: String| {
        let id = id.clone();
        let app = &w.app;
        async move {
            app.call(
                "members/update_user",
                Some(&token),
                &[
                    ("user_id", &id),
                    ("name", "Erin"),
                    ("email", "erin@alpha.test"),
                    ("status", status),
                    ("bound_org_id", &bound),
                ],
            )
            .await
        }
    };
    // An org admin disables her: her open session is refused on its next request.
    assert_eq!(
        save("disabled", String::new(), w.token("alice").to_string())
            .await
            .status,
        200
    );
    assert_eq!(
        w.app
            .call("orgs/current_org", Some(&erin_token), &[])
            .await
            .status,
        403
    );
    assert_eq!(
        save(
            "active",
            w.org("Alpha").to_string(),
            w.token("alice").to_string()
        )
        .await
        .status,
        200
    );
    let erin_token = w.app.sign_in("erin@alpha.test").await;
    assert_eq!(
        w.app
            .call("auth/current_session", Some(&erin_token), &[])
            .await
            .json()["locked"],
        true
    );
    // Binding to an org she does not belong to is refused, for a superadmin too.
    let wrong = save("active", w.org("Beta").to_string(), w.root.clone()).await;
    assert!(
        wrong.json()["Validation"]["bound_org_id"].is_array(),
        "{}",
        wrong.body
    );
    // Someone else's email.
    let taken = w
        .app
        .call(
            "members/update_user",
            Some(&w.root),
            &[
                ("user_id", &id),
                ("name", "Erin"),
                ("email", "alice@alpha.test"),
                ("status", "active"),
                ("bound_org_id", ""),
            ],
        )
        .await;
    assert!(
        taken.json()["Validation"]["email"][0]
            .as_str()
            .unwrap()
            // One message per constraint, whether the account is created or edited.
            .contains("An account with this email already exists."),
        "{}",
        taken.body
    );
    // Nobody disables themselves.
    let own = w
        .app
        .call(
            "members/update_user",
            Some(w.token("alice")),
            &[
                ("user_id", &w.user("alice").to_string()),
                ("name", "Alice"),
                ("email", "alice@alpha.test"),
                ("status", "disabled"),
                ("bound_org_id", ""),
            ],
        )
        .await;
    assert_eq!(own.status, 400);

    // The permission editor: role and sections.
    let set = w
        .app
        .call(
            "members/set_membership",
            Some(w.token("alice")),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("user_id", &id),
                ("role", "viewer"),
                ("own_pages", "on"),
                ("pages[billing]", "on"),
                ("pages[audit]", "on"),
            ],
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let session = w
        .app
        .call("auth/current_session", Some(&erin_token), &[])
        .await
        .json();
    assert_eq!(session["pages"], serde_json::json!(["billing", "audit"]));
    let bogus = w
        .app
        .call(
            "members/set_membership",
            Some(w.token("alice")),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("user_id", &id),
                ("role", "viewer"),
                ("own_pages", "on"),
                ("pages[secrets]", "on"),
            ],
        )
        .await;
    assert_eq!(bogus.status, 400);
    let demote_self = w
        .app
        .call(
            "members/set_membership",
            Some(w.token("alice")),
            &[
                ("org_id", &w.org("Alpha").to_string()),
                ("user_id", &w.user("alice").to_string()),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(demote_self.status, 400, "{}", demote_self.body);
}

#[tokio::test]
async fn the_permission_editor_saves_the_client_organization_with_the_permissions() {
    let w = world().await;
    let erin = w.app.user("erin@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha"), erin, "member").await;
    let erin_token = w.app.sign_in("erin@alpha.test").await;
    let alpha = w.org("Alpha").to_string();
    let save = |user: uuid::Uuid, bound: Option<String>| {
        let app = &w.app;
        let token = w.token("alice").to_string();
        let alpha = alpha.clone();
        async move {
            let user = user.to_string();
            let mut fields = vec![
                ("org_id", alpha.as_str()),
                ("user_id", user.as_str()),
                ("role", "member"),
                ("own_pages", "on"),
                ("pages[agents]", "on"),
                ("pages[knowledge]", "on"),
            ];
            if let Some(bound) = &bound {
                fields.push(("bound_org_id", bound));
            }
            app.call("members/set_membership", Some(&token), &fields)
                .await
        }
    };
    let locked = |token: String| {
        let app = &w.app;
        async move {
            app.call("auth/current_session", Some(&token), &[])
                .await
                .json()["locked"]
                .clone()
        }
    };
    // Chosen as the Client Organization and saved with the permissions: her open session is
    // locked at once.
    let saved = save(erin, Some(alpha.clone())).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(locked(erin_token.clone()).await, true);
    // Permissions saved without the field leave the binding as it is.
    assert_eq!(save(erin, None).await.status, 200);
    assert_eq!(locked(erin_token.clone()).await, true);
    // "None" frees her, from her next request on.
    assert_eq!(save(erin, Some("none".to_string())).await.status, 200);
    assert_eq!(locked(erin_token).await, false);
    // An org admin binds only to its own org, and only users who belong nowhere else.
    let elsewhere = save(erin, Some(w.org("Beta").to_string())).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(
        elsewhere.json()["Validation"]["bound_org_id"].is_array(),
        "{}",
        elsewhere.body
    );
    let root_binds_elsewhere = w
        .app
        .call(
            "members/set_membership",
            Some(&w.root),
            &[
                ("org_id", alpha.as_str()),
                ("user_id", &erin.to_string()),
                ("role", "member"),
                ("bound_org_id", &w.org("Beta").to_string()),
            ],
        )
        .await;
    assert!(
        root_binds_elsewhere.json()["Validation"]["bound_org_id"].is_array(),
        "a superadmin too binds only to an org the user belongs to: {}",
        root_binds_elsewhere.body
    );
    let forged = save(erin, Some("not-an-id".to_string())).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let frank = w.app.user("frank@both.test", false, None).await;
    w.app.add_member(w.org("Alpha"), frank, "member").await;
    w.app.add_member(w.org("Beta"), frank, "member").await;
    let shared = save(frank, Some(alpha.clone())).await;
    assert_eq!(shared.status, 403, "{}", shared.body);
    let bound: Option<uuid::Uuid> =
        sqlx::query_scalar("select bound_org_id from app_user where user_id = $1")
            .bind(frank)
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(bound, None, "the refused save changed nothing");
}
