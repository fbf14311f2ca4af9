//! The Organizations page's server side: who sees which orgs, search, product filter, sorting by
//! every column, pagination and the summary cards; and the page rendered without JavaScript.

use serde_json::Value;
use server::testing::TestApp;
use uuid::Uuid;

struct Platform {
    app: TestApp,
    root: String,
    orgs: Vec<Uuid>,
}

/// 30 orgs named "Org 00" … "Org 29", products cycling through three, a few subscriptions.
async fn platform() -> Platform {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let products = ["eloquent", "crm", "shop_assist"];
    let mut orgs = Vec::new();
    for n in 0..30 {
        let response = app
            .call(
                "orgs/create_org",
                Some(&root),
                &[
                    ("org[name]", &format!("Org {n:02}")),
                    ("org[domain]", &format!("org{n:02}.example")),
                    ("org[product]", products[n % 3]),
                    ("org[status]", "active"),
                ],
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.body);
        orgs.push(response.json().as_str().unwrap().parse().unwrap());
    }
    for (i, status) in ["active", "active", "trialing", "past_due", "cancelled"]
        .iter()
        .enumerate()
    {
        sqlx::query(
            "insert into subscription (org_id, plan_name, status) values ($1, 'pro_monthly', $2)",
        )
        .bind(orgs[i])
        .bind(status)
        .execute(&app.owner)
        .await
        .unwrap();
    }
    Platform { app, root, orgs }
}

async fn list(p: &Platform, token: &str, fields: &[(&str, &str)]) -> Value {
    let mut prefixed: Vec<(String, &str)> = fields
        .iter()
        .map(|(k, v)| (format!("query[{k}]"), *v))
        .collect();
    if prefixed.is_empty() {
        prefixed.push(("query[q]".to_string(), ""));
    }
    let fields: Vec<(&str, &str)> = prefixed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let response = p.app.call("orgs/list_orgs", Some(token), &fields).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

fn names(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_superadmin_sees_every_org_with_cards_and_pages() {
    let p = platform().await;
    let first = list(&p, &p.root, &[]).await;
    assert_eq!(first["matching"], 30);
    assert_eq!(first["rows"].as_array().unwrap().len(), 25);
    assert_eq!(first["query"]["sort"], "created");
    assert_eq!(first["query"]["dir"], "desc");
    assert_eq!(names(&first)[0], "Org 29", "newest first");
    let counts = &first["counts"];
    assert_eq!(
        [
            counts["total"].clone(),
            counts["active"].clone(),
            counts["trialing"].clone(),
            counts["past_due"].clone(),
            counts["cancelled"].clone(),
            counts["no_subscription"].clone()
        ],
        [30, 2, 1, 1, 1, 25].map(Value::from)
    );
    let second = list(&p, &p.root, &[("page", "2")]).await;
    assert_eq!(
        names(&second),
        ["Org 04", "Org 03", "Org 02", "Org 01", "Org 00"]
    );
    let beyond = list(&p, &p.root, &[("page", "99999999999")]).await;
    assert_eq!(beyond["rows"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn search_matches_name_slug_or_domain_literally() {
    let p = platform().await;
    assert_eq!(
        names(&list(&p, &p.root, &[("q", "org 07")]).await),
        ["Org 07"]
    );
    assert_eq!(
        names(&list(&p, &p.root, &[("q", "org-12")]).await),
        ["Org 12"],
        "slug"
    );
    assert_eq!(
        names(&list(&p, &p.root, &[("q", "org21.example")]).await),
        ["Org 21"],
        "domain"
    );
    // LIKE's wildcards are plain characters here.
    assert_eq!(list(&p, &p.root, &[("q", "%")]).await["matching"], 0);
    assert_eq!(list(&p, &p.root, &[("q", "Org _1")]).await["matching"], 0);
}

#[tokio::test]
async fn the_product_filter_and_sorting_by_every_column() {
    let p = platform().await;
    let crm = list(
        &p,
        &p.root,
        &[("product", "crm"), ("sort", "title"), ("dir", "asc")],
    )
    .await;
    assert_eq!(crm["matching"], 10);
    assert!(crm["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["product"] == "crm"));
    assert_eq!(names(&crm)[..3], ["Org 01", "Org 04", "Org 07"]);

    // Give the columns something to sort: users, installed products, templates, a disabled org.
    let someone = p.app.user("member@x.test", false, None).await;
    p.app.add_member(p.orgs[3], someone, "member").await;
    sqlx::query("insert into org_product (org_id, product) values ($1, 'crm'), ($1, 'done')")
        .bind(p.orgs[5])
        .execute(&p.app.owner)
        .await
        .unwrap();
    sqlx::query("update organization set template = 'retail' where org_id = $1")
        .bind(p.orgs[8])
        .execute(&p.app.owner)
        .await
        .unwrap();
    sqlx::query("update organization set status = 'disabled' where org_id = $1")
        .bind(p.orgs[9])
        .execute(&p.app.owner)
        .await
        .unwrap();
    for (sort, dir, first) in [
        ("id", "asc", "Org 00"),
        ("id", "desc", "Org 29"),
        ("title", "desc", "Org 29"),
        ("users", "desc", "Org 03"),
        ("products", "desc", "Org 05"),
        ("template", "desc", "Org 08"),
        ("status", "asc", "Org 00"),
        ("status", "desc", "Org 09"),
        ("subscription", "asc", "Org 00"),
        ("product", "desc", "Org 29"),
        ("created", "asc", "Org 00"),
    ] {
        let page = list(&p, &p.root, &[("sort", sort), ("dir", dir)]).await;
        assert_eq!(names(&page)[0], first, "sorted by {sort} {dir}");
    }
    let users = list(&p, &p.root, &[("sort", "users"), ("dir", "desc")]).await;
    assert_eq!(users["rows"][0]["users"], 1);
    // Nonsense in the URL falls back to the default view instead of failing.
    let odd = list(
        &p,
        &p.root,
        &[
            ("sort", "name; drop table organization"),
            ("dir", "up"),
            ("product", "nope"),
            ("page", "-3"),
        ],
    )
    .await;
    assert_eq!(odd["query"]["sort"], "created");
    assert_eq!(odd["query"]["page"], 1);
    assert_eq!(odd["matching"], 30);
}

#[tokio::test]
async fn an_org_admin_sees_only_the_orgs_it_administers_and_cannot_create() {
    let p = platform().await;
    let admin = p.app.user("admin@x.test", false, None).await;
    p.app.add_member(p.orgs[1], admin, "admin").await;
    p.app.add_member(p.orgs[2], admin, "owner").await;
    p.app.add_member(p.orgs[3], admin, "member").await;
    let token = p.app.sign_in("admin@x.test").await;
    let page = list(&p, &token, &[("sort", "title"), ("dir", "asc")]).await;
    assert_eq!(names(&page), ["Org 01", "Org 02"]);
    assert_eq!(page["counts"]["total"], 2);
    assert_eq!(page["can_create"], false);

    let member = p.app.user("member@x.test", false, None).await;
    p.app.add_member(p.orgs[4], member, "member").await;
    let token = p.app.sign_in("member@x.test").await;
    let page = list(&p, &token, &[]).await;
    assert_eq!(page["matching"], 0);
    assert_eq!(page["counts"]["total"], 0);
}

#[tokio::test]
async fn a_bound_client_admin_sees_only_its_client_org_even_where_it_administers_more() {
    let p = platform().await;
    let client = p.app.user("client@x.test", false, None).await;
    p.app.add_member(p.orgs[5], client, "owner").await;
    p.app.add_member(p.orgs[6], client, "admin").await;
    let token = p.app.sign_in("client@x.test").await;
    assert_eq!(
        names(&list(&p, &token, &[("sort", "title"), ("dir", "asc")]).await),
        ["Org 05", "Org 06"]
    );

    sqlx::query("update app_user set bound_org_id = $2 where user_id = $1")
        .bind(client)
        .bind(p.orgs[6])
        .execute(&p.app.owner)
        .await
        .unwrap();
    let page = list(&p, &token, &[]).await;
    assert_eq!(names(&page), ["Org 06"]);
    assert_eq!(page["matching"], 1);
    assert_eq!(page["counts"]["total"], 1);
}

#[tokio::test]
async fn the_page_renders_on_the_server_with_links_for_sort_filter_and_pages() {
    let p = platform().await;
    let page = p
        .app
        .send(
            axum::http::Request::get("/organizations?sort=title&dir=asc&product=crm")
                .header("accept", "text/html")
                .header("cookie", format!("{}={}", app::auth::token::COOKIE, p.root))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, 200);
    let html = page.body;
    // The table only (the header's org switcher lists every org).
    let start = html.find(r#"data-testid="orgs-table""#).expect("a table");
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let first = table.find("Org 01").expect("Org 01 is listed");
    let second = table.find("Org 04").expect("Org 04 is listed");
    assert!(first < second, "sorted by title");
    assert!(!table.contains("Org 00"), "filtered to CRM");
    assert!(
        html.contains(r#"href="/organizations?product=crm&amp;sort=title&amp;dir=desc""#),
        "the Title header flips the order"
    );
    assert!(
        html.contains(r#"href="/organizations?product=shop_assist&amp;sort=title&amp;dir=asc""#),
        "product chips keep the sort"
    );
    assert!(html.contains("Showing 1–10 of 10"), "{html}");
    assert!(html.contains(r#"aria-sort="ascending""#));
}

#[tokio::test]
async fn the_new_org_dialog_requires_every_field_and_redirects_to_the_list() {
    let p = platform().await;
    let empty = p
        .app
        .call(
            "orgs/create_org",
            Some(&p.root),
            &[
                ("org[name]", " "),
                ("org[domain]", ""),
                ("org[product]", ""),
                ("org[status]", ""),
            ],
        )
        .await;
    assert_eq!(empty.status, 400);
    let fields = &empty.json()["Validation"];
    for field in ["name", "domain", "product", "status"] {
        assert!(fields[field].is_array(), "{field}: {}", empty.body);
    }
    let bad_domain = p
        .app
        .call(
            "orgs/create_org",
            Some(&p.root),
            &[
                ("org[name]", "New"),
                ("org[domain]", "https://x.example/path"),
                ("org[product]", "crm"),
                ("org[status]", "active"),
            ],
        )
        .await;
    assert!(bad_domain.json()["Validation"]["domain"][0]
        .as_str()
        .unwrap()
        .contains("domain name only"));
    let ok = p
        .app
        .call(
            "orgs/create_org",
            Some(&p.root),
            &[
                ("org[name]", "Brand New"),
                ("org[domain]", "brand-new.example"),
                ("org[product]", "crm"),
                ("org[status]", "active"),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.headers["location"], "/organizations?created=Brand%20New");
}

/// Many pages rendered at once on one multi-threaded runtime, as `serve` runs them: none stalls
/// (each page waits for its own data only) and each shows its own org.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_render_concurrently_on_one_runtime() {
    let p = std::sync::Arc::new(platform().await);
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..4 {
        for (n, org) in p.orgs.iter().enumerate() {
            let (p, org) = (p.clone(), *org);
            let path = match (round + n) % 3 {
                0 => format!("/organizations/{org}"),
                1 => format!("/organizations/{org}/edit"),
                _ => format!("/organizations/{org}/billing"),
            };
            tasks.spawn(async move {
                let request = axum::http::Request::get(path.as_str())
                    .header("cookie", format!("{}={}", app::auth::token::COOKIE, p.root))
                    .body(axum::body::Body::empty())
                    .unwrap();
                let response =
                    tokio::time::timeout(std::time::Duration::from_secs(60), p.app.send(request))
                        .await
                        .unwrap_or_else(|_| panic!("{path} did not render within 60 s"));
                (path, n, response)
            });
        }
    }
    let mut rendered = 0;
    while let Some(done) = tasks.join_next().await {
        let (path, n, response) = done.unwrap();
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        assert!(
            response.body.contains(&format!("Org {n:02}")),
            "{path} does not show its own org"
        );
        rendered += 1;
    }
    assert_eq!(rendered, 120);
}
