//! What requests cost the database, counted on the wire between the server and PostgreSQL
//! (`server::testing::wire`): the round trips a request waits for and the statements it runs,
//! BEGIN and COMMIT included, once the node has seen the session (warm). The budgets are the
//! issue's goals; the test prints every count, so a regression shows what it added.

use server::testing::{wire::Counted, TestApp};

/// Round trips per call, warm. An org-scoped read with one query: the check, BEGIN and scope
/// in one, the read, COMMIT (or the read's ROLLBACK, which goes out with the pool's check of
/// the connection after the answer, counted all the same). Each further query of an endpoint
/// adds one. The org read is answered from the node's memory once the database confirms it in
/// one statement (shared with other requests under load; alone here).
const BUDGETS: [(&str, u64); 5] = [
    ("auth/current_session", 4),
    ("orgs/current_org", 1),
    ("orgs/org_header", 3),
    ("orgs/org_overview", 4),
    ("orgs/list_orgs", 3),
];
/// Opening an org's detail view (`GET /organizations/:id`, server-rendered with its data: the
/// Organizations list beneath it, the title and the Overview tab).
const DETAIL_STATEMENTS: u64 = 15;

fn report(label: &str, counted: &Counted) -> String {
    format!(
        "{label:<44} {:>3} round trips {:>3} statements {:>3} pings {:>3} prepares",
        counted.round_trips, counted.statements, counted.pings, counted.prepares
    )
}

#[tokio::test]
async fn requests_stay_within_their_round_trip_budgets() {
    let (app, wire) = TestApp::counted().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let org = app
        .create_org(&root, "Round Trip Co", "round-trip.example")
        .await;
    let admin = app.user("admin@round-trip.test", false, None).await;
    app.add_member(org, admin, "admin").await;
    let admin = app.sign_in("admin@round-trip.test").await;
    let admin = app.switch(&admin, org).await;
    let org_id = org.to_string();

    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let calls: [(&str, &str, &String, Vec<(&str, &str)>); 6] = [
        ("auth/current_session", "org admin", &admin, vec![]),
        ("orgs/current_org", "org admin", &admin, vec![]),
        (
            "orgs/org_header",
            "org admin",
            &admin,
            vec![("org_id", &org_id)],
        ),
        (
            "orgs/org_overview",
            "org admin",
            &admin,
            vec![("org_id", &org_id)],
        ),
        (
            "orgs/org_overview",
            "superadmin",
            &root,
            vec![("org_id", &org_id)],
        ),
        ("orgs/list_orgs", "superadmin", &root, vec![]),
    ];
    for (endpoint, who, token, fields) in calls {
        // Once to warm the node (its memory of the session, sqlx's prepared statements).
        app.call(endpoint, Some(token), &fields).await;
        wire.take(app::tenancy::gate::lookup(&app.services).pool())
            .await;
        let response = app.call(endpoint, Some(token), &fields).await;
        let counted = wire
            .take(app::tenancy::gate::lookup(&app.services).pool())
            .await;
        assert_eq!(response.status, 200, "{endpoint} as {who}: {response:?}");
        assert!(counted.statements > 0, "the relay must see the statements");
        lines.push(report(&format!("{endpoint} ({who})"), &counted));
        let budget = BUDGETS
            .iter()
            .find(|(e, _)| *e == endpoint)
            .map(|(_, b)| *b)
            .expect("a budget for every endpoint measured");
        if counted.round_trips > budget {
            failures.push(format!(
                "{endpoint} as {who}: {} round trips, over {budget}:\n  {}",
                counted.round_trips,
                counted.sent.join("\n  ")
            ));
        }
    }

    for (who, token) in [("superadmin", &root), ("org admin", &admin)] {
        let request = || {
            axum::http::Request::get(format!("/organizations/{org}"))
                .header("cookie", format!("{}={token}", app::auth::token::COOKIE))
                .body(axum::body::Body::empty())
                .unwrap()
        };
        app.send(request()).await;
        wire.take(app::tenancy::gate::lookup(&app.services).pool())
            .await;
        let response = app.send(request()).await;
        let counted = wire
            .take(app::tenancy::gate::lookup(&app.services).pool())
            .await;
        assert_eq!(response.status, 200, "the detail view as {who}");
        lines.push(report(&format!("GET /organizations/:id ({who})"), &counted));
        if counted.statements > DETAIL_STATEMENTS {
            failures.push(format!(
                "the detail view as {who}: {} statements, over {DETAIL_STATEMENTS}:\n  {}",
                counted.statements,
                counted.sent.join("\n  ")
            ));
        }
    }
    eprintln!("warm, per request:\n{}", lines.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
