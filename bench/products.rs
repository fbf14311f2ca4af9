//! Products under load, measured side by side in one run: the time to install each catalog
//! product into an org (plan through the endpoint, then one worker to the end; p50 and p95 over
//! fresh orgs), installs into many orgs by two workers at once, the lag from a run's change
//! committed to the progress event at the streams watching it (p95), a v1 → v2 upgrade across
//! every org with CRM (the 1,000 made for it and the earlier sections' ones), and the upgrade
//! check over 10,000 orgs when there is nothing to do. Run with
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
/// Changes watched, and streams watching each.
const PROGRESS_SAMPLES: usize = 200;
const WATCHERS: usize = 10;
/// Orgs upgraded from CRM v1 to v2.
const UPGRADED: usize = 1_000;
/// Orgs with CRM when the no-op upgrade check runs.
const CHECKED: usize = 10_000;

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
    let worked = work_with_two(&app).await;
    let total = start.elapsed();
    assert_eq!(worked, FLEET);
    println!(
        "CRM into {FLEET} orgs, two workers: planned in {:.0} ms, all installed in {:.0} ms ({:.1} installs/s)",
        ms(planned),
        ms(total),
        FLEET as f64 / total.as_secs_f64()
    );

    progress_lag(&app, &root).await;
    upgrades(&app, &root).await;
}

/// Works every run there is with two workers at once; the runs worked.
async fn work_with_two(app: &TestApp) -> usize {
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
    a.unwrap() + b.unwrap()
}

/// A run's change committed → the progress event at each of the streams watching it: the
/// database's notification, the node's listener, each stream's fresh read through the gate,
/// the event written (in-process through the router; the browser's socket adds its own hop).
async fn progress_lag(app: &TestApp, root: &str) {
    app::products::engine::spawn_progress_listener(app.services.clone());
    let org = app.create_org(root, "Watched", "watched.example").await;
    let run = app
        .call(
            "products/install",
            Some(root),
            &[("org_id", &org.to_string()), ("product", "crm")],
        )
        .await
        .json()
        .as_str()
        .unwrap()
        .to_string();
    let address = app::products::progress_address(&org.to_string(), &run);
    let mut streams = Vec::new();
    for _ in 0..WATCHERS {
        // A session each (a session may have only a few streams open).
        let token = app.sign_in("root@platform.test").await;
        let (status, stream) = app.events(&address, &token, None).await;
        assert_eq!(status, 200);
        let mut stream = stream.unwrap();
        stream.next_event(Duration::from_secs(5)).await.unwrap();
        streams.push(stream);
    }
    // Events carry the run's state, not each change: a stream that reads after two commits
    // sends the newer state once. A change counts as arrived when a state at least as new does.
    let watch =
        |mut stream: server::testing::EventStream,
         mut changes: tokio::sync::mpsc::UnboundedReceiver<(usize, Instant)>| async move {
            let mut lags = Vec::new();
            let mut pending: std::collections::VecDeque<(usize, Instant)> = Default::default();
            let mut seen: Option<usize> = None;
            while let Some(change) = changes.recv().await {
                pending.push_back(change);
                while let Some(&(i, committed)) = pending.front() {
                    if seen.is_some_and(|s| s >= i) {
                        pending.pop_front();
                        lags.push(committed.elapsed());
                        continue;
                    }
                    match stream.next_event(Duration::from_secs(5)).await {
                        Some(server::testing::SseFrame::Event { data, .. }) => {
                            let run: serde_json::Value = serde_json::from_str(&data).unwrap();
                            seen = run["error"]
                                .as_str()
                                .and_then(|e| e.strip_prefix("bench change "))
                                .and_then(|n| n.parse().ok())
                                .or(seen);
                        }
                        Some(_) => {}
                        None => panic!("the stream ended"),
                    }
                }
            }
            lags
        };
    let mut senders = Vec::new();
    let mut watchers = Vec::new();
    for stream in streams {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        watchers.push(tokio::spawn(watch(stream, rx)));
    }
    // Each change is a committed update of the run's state, as a step's end is (the run stays
    // pending, so no worker takes it meanwhile).
    let run_id: uuid::Uuid = run.parse().unwrap();
    for i in 0..PROGRESS_SAMPLES {
        let marker = format!("bench change {i}");
        let mut tx = app.owner.begin().await.unwrap();
        sqlx::query("update product_run set error = $2 where run_id = $1")
            .bind(run_id)
            .bind(&marker)
            .execute(&mut *tx)
            .await
            .unwrap();
        let committed = Instant::now();
        tx.commit().await.unwrap();
        for tx in &senders {
            tx.send((i, committed)).unwrap();
        }
        // Changes a step apart, not a flood.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(senders);
    let mut lags = Vec::new();
    for w in watchers {
        lags.extend(w.await.unwrap());
    }
    lags.sort();
    println!(
        "run change committed → progress event at each of {WATCHERS} streams ({} events): p50 {:.2} ms  p95 {:.2} ms (goal p95 < 200 ms)",
        lags.len(),
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.95))
    );
    // The watched install, left pending meanwhile, is finished.
    assert_eq!(work_with_two(app).await, 1);
}

/// Gives every org named `prefix …` that has none its dedicated schema and role, as creating
/// an org through the endpoint does, a few hundred per transaction.
async fn provision(app: &TestApp, prefix: &str) {
    loop {
        let left: i64 = sqlx::query_scalar(
            "select count(*) from organization
              where name like $1 and to_regnamespace(platform.org_schema_name(org_id)) is null",
        )
        .bind(format!("{prefix} %"))
        .fetch_one(&app.owner)
        .await
        .unwrap();
        if left == 0 {
            return;
        }
        sqlx::raw_sql(&format!(
            "do $$ declare o record; begin
               for o in select org_id from organization
                         where name like '{prefix} %'
                           and to_regnamespace(platform.org_schema_name(org_id)) is null
                         limit 250 loop
                 perform set_config('app.org_id', o.org_id::text, true);
                 perform platform.provision_org_schema(o.org_id);
               end loop;
             end $$"
        ))
        .execute(&app.owner)
        .await
        .unwrap();
    }
}

/// CRM v1 → v2 across [`UPGRADED`] orgs (really installed), then the check a start or `server
/// migrate` makes when every org is up to date, over [`CHECKED`] orgs that have CRM.
async fn upgrades(app: &TestApp, root: &str) {
    sqlx::raw_sql(&format!(
        "insert into organization (org_id, name, slug, product, status)
         select gen_random_uuid(), 'Upgraded ' || n, 'upgraded-' || n, 'crm', 'active'
           from generate_series(1, {UPGRADED}) n"
    ))
    .execute(&app.owner)
    .await
    .unwrap();
    provision(app, "Upgraded").await;
    let orgs: Vec<uuid::Uuid> =
        sqlx::query_scalar("select org_id from organization where name like 'Upgraded %'")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    for org in &orgs {
        install(app, root, *org, "crm").await;
    }
    let start = Instant::now();
    assert_eq!(work_with_two(app).await, UPGRADED);
    println!(
        "CRM v1 into {UPGRADED} orgs (two workers): {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let v2 = server::testing::crm_v2();
    let released = server::testing::released(&app.services, v2.clone());
    let start = Instant::now();
    let planned = app::products::engine::plan_upgrades(&released)
        .await
        .unwrap();
    let planning = start.elapsed();
    // Every org with CRM: the bench's earlier ones too.
    assert!(planned.len() >= UPGRADED && planned.iter().all(|u| u.run.is_ok()));
    let upgraded = work_with_two(app).await;
    let total = start.elapsed();
    assert_eq!(upgraded, planned.len());
    for org in orgs.iter().step_by(UPGRADED / 10) {
        let drift = server::testing::product_drift(&app.owner, *org, &v2).await;
        assert!(drift.is_empty(), "{drift:?}");
    }
    let steps: i64 = sqlx::query_scalar("select count(*) from product_step where run_id = $1")
        .bind(planned[0].run.clone().unwrap())
        .fetch_one(&app.owner)
        .await
        .unwrap();
    println!(
        "CRM v1 → v2 across {} orgs ({steps} steps each, two workers): planned in {:.1} s, all upgraded in {:.1} s ({:.0} orgs/s)",
        planned.len(),
        planning.as_secs_f64(),
        total.as_secs_f64(),
        planned.len() as f64 / total.as_secs_f64()
    );

    // Up to date everywhere: the check at start and in `server migrate`, over CHECKED orgs with
    // CRM (the rest made here with CRM recorded at v2).
    let have: i64 = sqlx::query_scalar("select count(*) from org_product where product = 'crm'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let more = CHECKED as i64 - have;
    let made = Instant::now();
    sqlx::raw_sql(&format!(
        "insert into organization (org_id, name, slug, product, status)
         select gen_random_uuid(), 'Checked ' || n, 'checked-' || n, 'crm', 'active'
           from generate_series(1, {more}) n;
         insert into org_product (org_id, product, version)
         select org_id, 'crm', 2 from organization where name like 'Checked %'"
    ))
    .execute(&app.owner)
    .await
    .unwrap();
    provision(app, "Checked").await;
    let setup = made.elapsed();
    let mut checks = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let planned = app::products::engine::plan_upgrades(&released)
            .await
            .unwrap();
        checks.push(start.elapsed());
        assert!(planned.is_empty());
    }
    checks.sort();
    println!(
        "no-op upgrade check, {CHECKED} org schemas with CRM, every one up to date: p50 {:.2} ms  p95 {:.2} ms (goal < 5 s; making the {more} extra orgs' schemas and roles took {:.1} s, {:.0} ms an org)",
        ms(percentile(&checks, 0.5)),
        ms(percentile(&checks, 0.95)),
        setup.as_secs_f64(),
        ms(setup) / more as f64
    );
}
