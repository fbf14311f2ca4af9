//! Products under load, measured side by side in one run: the time to install each catalog
//! product into an org (plan through the endpoint, then one worker to the end; p50 and p95 over
//! fresh orgs), installs into many orgs by two workers at once, and the lag from a step's
//! commit to a listener's `NOTIFY` (what a progress stream waits on), p95. Run with
//! `bench/products`.

use std::time::{Duration, Instant};

use server::testing::TestApp;
use support::{ms, percentile};

#[path = "support.rs"]
mod support;

/// Orgs per product for the install times.
const ORGS_PER_PRODUCT: usize = 15;
/// Orgs installed into at once.
const FLEET: usize = 60;
const NOTIFY_SAMPLES: usize = 300;

fn main() {
    support::run(run());
}

async fn install(app: &TestApp, root: &str, org: uuid::Uuid, product: &str) {
    let r = app
        .call(
            "products/install",
            Some(root),
            &[("org_id", &org.to_string()), ("product", product)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn run() {
    let app = TestApp::new().await;
    let root = app.root().await;
    let catalog = app::products::catalog::Catalog::builtin().unwrap();
    let worker = uuid::Uuid::new_v4();

    println!("install time per product ({ORGS_PER_PRODUCT} fresh orgs each, one worker):");
    let mut n = 0;
    for product in catalog.products() {
        let mut times = Vec::new();
        for _ in 0..ORGS_PER_PRODUCT {
            n += 1;
            let org = app
                .create_org(&root, &format!("Bench {n}"), &format!("bench{n}.example"))
                .await;
            let start = Instant::now();
            install(&app, &root, org, &product.product).await;
            let (_, _, outcome) = app::products::engine::work_once(&app.services, worker, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(outcome, app::products::engine::Outcome::Succeeded);
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "  {:<12} {} artifacts  p50 {:>6.1} ms  p95 {:>6.1} ms",
            product.product,
            product.artifacts.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        );
    }

    // Many orgs at once: every install planned, then two workers share the queue.
    let mut fleet = Vec::new();
    for i in 0..FLEET {
        fleet.push(
            app.create_org(&root, &format!("Fleet {i}"), &format!("fleet{i}.example"))
                .await,
        );
    }
    let start = Instant::now();
    for org in &fleet {
        install(&app, &root, *org, "crm").await;
    }
    let planned = start.elapsed();
    let work = |services: app::context::Services| async move {
        let worker = uuid::Uuid::new_v4();
        let mut done = 0;
        while let Some((_, _, outcome)) = app::products::engine::work_once(&services, worker, None)
            .await
            .unwrap()
        {
            assert_eq!(outcome, app::products::engine::Outcome::Succeeded);
            done += 1;
        }
        done
    };
    let (a, b) = tokio::join!(
        tokio::spawn(work(app.services.clone())),
        tokio::spawn(work(app.services.clone()))
    );
    let total = start.elapsed();
    assert_eq!(a.unwrap() + b.unwrap(), FLEET);
    println!(
        "CRM into {FLEET} orgs, two workers: planned in {:.0} ms, all installed in {:.0} ms ({:.1} installs/s)",
        ms(planned),
        ms(total),
        FLEET as f64 / total.as_secs_f64()
    );

    // Commit → NOTIFY received, on the channel the engine notifies.
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.owner)
        .await
        .unwrap();
    listener.listen("product_run").await.unwrap();
    let mut lags = Vec::with_capacity(NOTIFY_SAMPLES);
    for i in 0..NOTIFY_SAMPLES {
        let mut tx = app.owner.begin().await.unwrap();
        sqlx::query("select pg_notify('product_run', $1)")
            .bind(i.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let before = Instant::now();
        tx.commit().await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("a notification within 5 s")
            .unwrap();
        lags.push(before.elapsed());
        assert_eq!(got.payload(), i.to_string());
    }
    lags.sort();
    println!(
        "step commit → NOTIFY at a listener: p50 {:.2} ms  p95 {:.2} ms (goal for the browser: p95 < 200 ms)",
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.95))
    );
}
