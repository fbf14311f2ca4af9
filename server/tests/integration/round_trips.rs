//! What opening an org's detail view costs the database: every statement the server sends for
//! one `GET /organizations/:id` (the page, its session and its data, server-rendered), counted
//! from sqlx's own query log. The budget below is a ceiling for regressions, not a benchmark.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use server::testing::TestApp;
use tracing_subscriber::{layer::SubscriberExt, Layer};

/// Counts sqlx's query events (one per statement sent).
struct Statements(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
            if std::env::var("ROUND_TRIPS_SHOW").is_ok() {
                struct Show;
                impl tracing::field::Visit for Show {
                    fn record_debug(
                        &mut self,
                        field: &tracing::field::Field,
                        value: &dyn std::fmt::Debug,
                    ) {
                        if field.name() == "summary" {
                            eprintln!("  statement: {value:?}");
                        }
                    }
                }
                event.record(&mut Show);
            }
        }
    }
}

/// Statements sent while serving `request`, on this test's thread only.
async fn statements(app: &TestApp, request: axum::http::Request<axum::body::Body>) -> (usize, u16) {
    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(Statements(count.clone()));
    let guard = tracing::subscriber::set_default(subscriber);
    let response = app.send(request).await;
    drop(guard);
    (count.load(Ordering::Relaxed), response.status)
}

/// The most statements one detail view may take. Measured 2026-11-28 (BEGIN and COMMIT
/// included): superadmin 31 and org admin 33, with the frame and the tab as two calls (each tab
/// a nested route with its own endpoint) and org lookups and grants read once per request; the
/// one-call fan-out before took 26 and 35, the code before the gate's rework 52 and 62.
const BUDGET: usize = 40;

#[tokio::test]
async fn opening_an_org_detail_view_stays_within_its_statement_budget() {
    let app = TestApp::new().await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let org = app
        .create_org(&root, "Round Trip Co", "round-trip.example")
        .await;
    let admin = app.user("admin@round-trip.test", false, None).await;
    app.add_member(org, admin, "admin").await;
    let admin = app.sign_in("admin@round-trip.test").await;
    let admin = app.switch(&admin, org).await;
    let mut report = Vec::new();
    for (who, token) in [("superadmin", &root), ("org admin", &admin)] {
        let request = || {
            axum::http::Request::get(format!("/organizations/{org}"))
                .header("cookie", format!("{}={token}", app::auth::token::COOKIE))
                .body(axum::body::Body::empty())
                .unwrap()
        };
        // Once to warm what is warmed once per process, then counted.
        statements(&app, request()).await;
        let (count, status) = statements(&app, request()).await;
        assert_eq!(status, 200, "{who}");
        assert!(count > 0, "the count must see the statements");
        assert!(
            count <= BUDGET,
            "{who}: {count} statements, over the budget of {BUDGET}"
        );
        report.push(format!("{who} {count}"));
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "org detail view (overview tab): statements per page load: {}\n",
            report.join(", ")
        )
        .as_bytes(),
    );
}
