//! The real router against a real PostgreSQL, as the runtime role the server uses.

use axum::{
    body::{to_bytes, Body},
    http::{header, Request, StatusCode},
    Router,
};
use serde_json::Value;
use server::{
    db,
    http::{router, AppState},
    testing::{TestApp, TestDb},
};
use sqlx::ConnectOptions;
use tower::ServiceExt;

async fn app(test_db: &TestDb) -> Router {
    let mut leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("tenantry")
        .build();
    leptos_options.site_root = "target/site".into();
    let pool = test_db.runtime_pool().await;
    router(AppState {
        leptos_options,
        trusted_proxies: Default::default(),
        pool: pool.clone(),
        services: server::testing::services(pool),
    })
}

async fn call(app: Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.oneshot(request).await.expect("router answers");
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("JSON body, got: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn healthz_answers_json() {
    let test_db = TestDb::new().await;
    let (status, body) = call(app(&test_db).await, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_ready_on_a_migrated_database() {
    let test_db = TestDb::new().await;
    let (status, body) = call(app(&test_db).await, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pending_migrations"], 0);
}

#[tokio::test]
async fn readyz_is_not_ready_before_migrations() {
    let test_db = TestDb::unmigrated().await;
    let (status, body) = call(app(&test_db).await, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["database"], "ok");
    assert_eq!(body["pending_migrations"], db::MIGRATOR.iter().count());
}

#[tokio::test]
async fn readyz_is_not_ready_when_the_database_is_gone() {
    let test_db = TestDb::new().await;
    let app = app(&test_db).await;
    let mut superuser = server::testing::cluster()
        .connect_options(server::embedded_pg::SUPERUSER, "postgres")
        .connect()
        .await
        .unwrap();
    sqlx::query(&format!("drop database {} with (force)", test_db.name))
        .execute(&mut superuser)
        .await
        .unwrap();
    let (status, body) = call(app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["database"], "unreachable");
}

#[tokio::test]
async fn the_overview_server_function_reads_the_database_for_signed_in_users() {
    let app = TestApp::new().await;
    let anonymous = app.call("home/check_database", None, &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    app.user("viewer@example.test", false, None).await;
    let token = app.sign_in("viewer@example.test").await;
    let response = app.call("home/check_database", Some(&token), &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    let version = body["server_version"].as_str().unwrap();
    assert!(
        version.split('.').next().unwrap().parse::<u32>().unwrap() >= 13,
        "{version}"
    );
    assert_eq!(body["migrations_applied"], db::MIGRATOR.iter().count());
    assert_eq!(
        body["latest_migration"],
        db::MIGRATOR.iter().last().unwrap().description.as_ref()
    );
}

#[tokio::test]
async fn the_overview_page_renders_on_the_server_once_signed_in() {
    let app = TestApp::new().await;
    // As a browser asks for a page (leptos_axum redirects with 302 only for text/html).
    let visitor = app
        .send(
            Request::get("/")
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(visitor.status, 302, "{:?}", visitor.headers);
    assert_eq!(visitor.headers[header::LOCATION], "/sign-in");

    app.user("viewer@example.test", false, None).await;
    let token = app.sign_in("viewer@example.test").await;
    let request = Request::get("/")
        .header(
            header::COOKIE,
            format!("{}={token}", app::auth::token::COOKIE),
        )
        .body(Body::empty())
        .unwrap();
    let page = app.send(request).await;
    assert_eq!(page.status, 200);
    let html = page.body;
    assert!(html.contains("<nav aria-label=\"Sections\""), "{html}");
    assert!(html.contains("viewer@example.test"), "{html}");
    assert!(
        html.contains("PostgreSQL "),
        "the database card is rendered, not deferred: {html}"
    );
}

#[tokio::test]
async fn the_runtime_role_owns_nothing_and_cannot_bypass_rls() {
    let test_db = TestDb::new().await;
    let superuser = test_db.superuser_pool().await;
    let (superuser_flag, bypass): (bool, bool) =
        sqlx::query_as("select rolsuper, rolbypassrls from pg_roles where rolname = $1")
            .bind(db::RUNTIME_ROLE)
            .fetch_one(&superuser)
            .await
            .unwrap();
    assert!(!superuser_flag && !bypass);
    let owned: i64 = sqlx::query_scalar(
        "select count(*) from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = $1",
    )
    .bind(db::RUNTIME_ROLE)
    .fetch_one(&superuser)
    .await
    .unwrap();
    assert_eq!(owned, 0);

    let runtime = test_db.runtime_pool().await;
    let err = sqlx::query("create table intruder (id int)")
        .execute(&runtime)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn bootstrap_is_idempotent() {
    let test_db = TestDb::new().await;
    let superuser = test_db.options(server::embedded_pg::SUPERUSER);
    let name = format!("{}_again", test_db.name);
    db::bootstrap(&superuser, &name).await.unwrap();
    db::bootstrap(&superuser, &name).await.unwrap();
}

#[tokio::test]
async fn responses_are_compressed_for_clients_that_accept_it() {
    let test_db = TestDb::new().await;
    let request = Request::get("/sign-in")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let response = app(&test_db).await.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn one_call_makes_a_new_table_a_tenant_table() {
    let test_db = TestDb::new().await;
    let owner = test_db.owner_pool().await;
    sqlx::raw_sql(
        "create table gadget (org_id uuid not null, name text not null,
                              updated_at timestamptz not null default now());
         select platform.tenant_table('gadget');
         create trigger gadget_touch before update on gadget
           for each row execute function platform.touch_updated_at();
         grant select, insert, update on gadget to tenantry_app;",
    )
    .execute(&owner)
    .await
    .unwrap();
    let (enabled, forced, policies): (bool, bool, i64) = sqlx::query_as(
        "select c.relrowsecurity, c.relforcerowsecurity,
                (select count(*) from pg_policy p where p.polrelid = c.oid)
           from pg_class c where c.oid = 'gadget'::regclass",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!((enabled, forced, policies), (true, true, 1));
    // The runtime role scoped to one org sees only that org's rows.
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    sqlx::query("insert into gadget (org_id, name) values ($1, 'a'), ($2, 'b')")
        .bind(a)
        .bind(b)
        .execute(&owner)
        .await
        .unwrap();
    let runtime = test_db.runtime_pool().await;
    let mut tx = runtime.begin().await.unwrap();
    sqlx::query("select set_config('app.org_id', $1::text, true)")
        .bind(a)
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: Vec<String> = sqlx::query_scalar("select name from gadget")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, vec!["a".to_string()]);
}

#[tokio::test]
async fn the_database_knows_the_same_sections_as_the_app() {
    let test_db = TestDb::new().await;
    let owner = test_db.owner_pool().await;
    let in_database: Vec<String> = sqlx::query_scalar("select unnest(platform.sections())")
        .fetch_all(&owner)
        .await
        .unwrap();
    let in_app: Vec<String> = app::tenancy::access::Section::ALL
        .iter()
        .map(|s| s.key().to_string())
        .collect();
    assert_eq!(in_database, in_app);
}
