//! The edit dialog's server functions: a superadmin edits any org from the list, an org admin
//! only the org it acts in; subscription rules; custom roles and their limits; delete refused
//! while products are installed.

use server::testing::World;

async fn world() -> World {
    // Beta has no members: a test deletes it.
    World::build()
        .org("Alpha", &[("alice@alpha.test", "admin")])
        .org("Beta", &[])
        .await
}

#[tokio::test]
async fn a_superadmin_edits_any_org_and_an_admin_only_its_active_org() {
    let w = world().await;
    // The superadmin's token names no org (or another one): the platform path applies.
    let beta = w
        .app
        .call(
            "orgs/get_org",
            Some(&w.root),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await;
    assert_eq!(beta.status, 200, "{}", beta.body);
    assert_eq!(beta.json()["details"]["name"], "Beta");
    assert_eq!(beta.json()["roles"].as_array().unwrap().len(), 6);
    let alpha = w
        .app
        .call(
            "orgs/get_org",
            Some(w.token("alice")),
            &[("org_id", &w.org("Alpha").to_string())],
        )
        .await;
    assert_eq!(alpha.status, 200, "{}", alpha.body);
    let refused = w
        .app
        .call(
            "orgs/get_org",
            Some(w.token("alice")),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await;
    // Not a member of Beta: the same answer as for an org that does not exist.
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not a member"), "{}", refused.body);
    assert!(!refused.body.contains("Beta"));
}

#[tokio::test]
async fn the_subscription_tab_validates_and_records_cancellation_and_grace() {
    let w = world().await;
    let id = w.org("Alpha").to_string();
    let save =
        |plan: &'static str, seats: &'static str, status: &'static str, reason: &'static str| {
            let id = id.clone();
            let app = &w.app;
            // Entitlements are the platform's to set.
            let token = w.root.clone();
            async move {
                app.call(
                    "billing/update_subscription",
                    Some(&token),
                    &[
                        ("org_id", &id),
                        ("plan_name", plan),
                        ("seats", seats),
                        ("platform", "custom"),
                        ("status", status),
                        ("cancel_reason", reason),
                    ],
                )
                .await
            }
        };
    let bad = save("Pro Monthly!", "-1", "paused", "").await;
    assert_eq!(bad.status, 400);
    for field in ["plan_name", "seats", "status"] {
        assert!(
            bad.json()["Validation"][field].is_array(),
            "{field}: {}",
            bad.body
        );
    }
    assert_eq!(save("pro_monthly", "12", "active", "").await.status, 200);
    assert_eq!(save("pro_monthly", "12", "past_due", "").await.status, 200);
    let org = w
        .app
        .call("orgs/get_org", Some(w.token("alice")), &[("org_id", &id)])
        .await
        .json();
    assert_eq!(org["subscription"]["seats"], 12);
    assert!(
        org["subscription"]["grace_period_end"].is_string(),
        "past due starts a grace period"
    );
    assert_eq!(
        save("pro_monthly", "12", "cancelled", "Moved to another vendor")
            .await
            .status,
        200
    );
    let org = w
        .app
        .call("orgs/get_org", Some(w.token("alice")), &[("org_id", &id)])
        .await
        .json();
    assert!(org["subscription"]["cancelled_at"].is_string());
    assert!(org["subscription"]["grace_period_end"].is_null());
    assert_eq!(
        org["subscription"]["cancel_reason"],
        "Moved to another vendor"
    );
    let cards = w
        .app
        .call("orgs/list_orgs", Some(&w.root), &[])
        .await
        .json();
    assert_eq!(cards["counts"]["cancelled"], 1);
}

#[tokio::test]
async fn custom_roles_up_to_twenty_and_admin_and_user_stay() {
    let w = world().await;
    let id = w.org("Alpha").to_string();
    for n in 1..=20 {
        let r = w
            .app
            .call(
                "orgs/add_role",
                Some(w.token("alice")),
                &[("org_id", &id), ("role_name", &format!("team-{n}"))],
            )
            .await;
        assert_eq!(r.status, 200, "{n}: {}", r.body);
    }
    let too_many = w
        .app
        .call(
            "orgs/add_role",
            Some(w.token("alice")),
            &[("org_id", &id), ("role_name", "team-21")],
        )
        .await;
    assert_eq!(too_many.status, 400);
    assert!(too_many.json()["Validation"]["role_name"][0]
        .as_str()
        .unwrap()
        .contains("at most 20 custom roles"));
    let duplicate = w
        .app
        .call(
            "orgs/add_role",
            Some(&w.root),
            &[("org_id", &id), ("role_name", "Team-3")],
        )
        .await;
    assert!(
        duplicate.body.contains("already exists"),
        "{}",
        duplicate.body
    );
    let bad = w
        .app
        .call(
            "orgs/add_role",
            Some(&w.root),
            &[("org_id", &id), ("role_name", "9 lives")],
        )
        .await;
    assert_eq!(bad.status, 400);
    for required in ["admin", "member", "user"] {
        let r = w
            .app
            .call(
                "orgs/remove_role",
                Some(w.token("alice")),
                &[("org_id", &id), ("role_name", required)],
            )
            .await;
        assert_eq!(r.status, 409, "{required}: {}", r.body);
        assert!(r.body.contains("cannot be removed"));
    }
    // A role somebody holds stays until they get another.
    let carol = w.app.user("carol@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha"), carol, "team-1").await;
    let held = w
        .app
        .call(
            "orgs/remove_role",
            Some(w.token("alice")),
            &[("org_id", &id), ("role_name", "team-1")],
        )
        .await;
    assert_eq!(held.status, 409, "{}", held.body);
    let removed = w
        .app
        .call(
            "orgs/remove_role",
            Some(w.token("alice")),
            &[("org_id", &id), ("role_name", "team-2")],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let org = w
        .app
        .call("orgs/get_org", Some(w.token("alice")), &[("org_id", &id)])
        .await
        .json();
    let names: Vec<&str> = org["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"team-2") && names.contains(&"team-1"));
    assert_eq!(names.len(), 6 + 19);
}

#[tokio::test]
async fn delete_is_refused_while_products_are_installed() {
    let w = world().await;
    sqlx::query("insert into org_product (org_id, product) values ($1, 'crm')")
        .bind(w.org("Beta"))
        .execute(&w.app.owner)
        .await
        .unwrap();
    let refused = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(
        refused.body.contains("1 installed product"),
        "{}",
        refused.body
    );
    sqlx::query("delete from org_product where org_id = $1")
        .bind(w.org("Beta"))
        .execute(&w.app.owner)
        .await
        .unwrap();
    let deleted = w
        .app
        .call(
            "orgs/delete_org",
            Some(&w.root),
            &[("org_id", &w.org("Beta").to_string())],
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.headers["location"], "/organizations?deleted=Beta");
}

#[tokio::test]
async fn page_permissions_are_enforced_on_the_server_and_shape_the_navigation() {
    let w = world().await;
    let id = w.org("Alpha").to_string();
    let sub = [
        ("org_id", id.as_str()),
        ("plan_name", "pro"),
        ("seats", "3"),
        ("platform", "custom"),
        ("status", "active"),
    ];
    assert_eq!(
        w.app
            .call("billing/update_subscription", Some(&w.root), &sub)
            .await
            .status,
        200
    );
    let session = w
        .app
        .call("auth/current_session", Some(w.token("alice")), &[])
        .await
        .json();
    assert!(session["pages"]
        .as_array()
        .unwrap()
        .contains(&"billing".into()));

    // Alice keeps her admin role but loses Billing.
    sqlx::query("update membership set pages = '{organizations,users}' where org_id = $1 and user_id = (select user_id from app_user where email = 'alice@alpha.test')")
        .bind(w.org("Alpha"))
        .execute(&w.app.owner)
        .await
        .unwrap();
    let refused = w
        .app
        .call(
            "billing/org_billing",
            Some(w.token("alice")),
            &[("org_id", w.org("Alpha").to_string().as_str())],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("access to Billing"),
        "{}",
        refused.body
    );
    let session = w
        .app
        .call("auth/current_session", Some(w.token("alice")), &[])
        .await
        .json();
    assert_eq!(
        session["pages"],
        serde_json::json!(["organizations", "users"])
    );
    // Organizations she still has: her org's details stay editable.
    let get = w
        .app
        .call("orgs/get_org", Some(w.token("alice")), &[("org_id", &id)])
        .await;
    assert_eq!(get.status, 200);

    // A plain member's role opens neither.
    let dan = w.app.user("dan@alpha.test", false, None).await;
    w.app.add_member(w.org("Alpha"), dan, "member").await;
    let dan = w.app.sign_in("dan@alpha.test").await;
    let session = w
        .app
        .call("auth/current_session", Some(&dan), &[])
        .await
        .json();
    assert_eq!(session["pages"], serde_json::json!(["agents", "knowledge"]));
    let page = w
        .app
        .send(
            axum::http::Request::get("/")
                .header("accept", "text/html")
                .header("cookie", format!("{}={dan}", app::auth::token::COOKIE))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let nav_start = page.body.find(r#"aria-label="Sections""#).unwrap();
    let nav = &page.body[nav_start..nav_start + page.body[nav_start..].find("</nav>").unwrap()];
    assert!(
        nav.contains("Agents") && nav.contains("Knowledge") && nav.contains("Overview"),
        "{nav}"
    );
    assert!(
        !nav.contains("Organizations") && !nav.contains("Billing"),
        "{nav}"
    );
}
