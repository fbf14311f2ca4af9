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
    testing::TestDb,
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
async fn the_overview_server_function_reads_the_database() {
    let test_db = TestDb::new().await;
    let request = Request::post("/api/home/check_database")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(app(&test_db).await, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
async fn the_overview_page_renders_on_the_server() {
    let test_db = TestDb::new().await;
    let response = app(&test_db).await.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(
        to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("<nav aria-label=\"Sections\""), "{html}");
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
    let request = Request::get("/")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let response = app(&test_db).await.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
}
