//! Billing under load, measured side by side in one run: usage ingestion through the router
//! (events/s, one event per request and batched), and the Billing & Costs tab's server function
//! at 1,000 orgs × 12 months of records against the same org's Overview tab. Run with
//! `bench/billing`.

use std::time::Instant;

use serde_json::json;
use server::testing::TestApp;
use support::{ms, percentile};

#[path = "support.rs"]
mod support;

const ORGS: i64 = 1_000;
const AGENTS_PER_ORG: i64 = 3;
const TAB_RUNS: usize = 200;
const SINGLE_EVENTS: usize = 2_000;
const BATCHES: usize = 40;
const BATCH: usize = 100;

fn main() {
    support::run(run());
}

async fn run() {
    let app = TestApp::new().await;
    app.user("bench@platform.test", true, None).await;
    let root = app.sign_in("bench@platform.test").await;

    let t0 = Instant::now();
    // 1,000 orgs, three agents each, twelve months of usage, eleven of them closed.
    sqlx::raw_sql(&format!(
        "insert into organization (org_id, name, slug, product, status)
         select gen_random_uuid(), 'Bench Org ' || n, 'bench-org-' || n, 'eloquent', 'active'
           from generate_series(1, {ORGS}) n;
         update org_account set default_rate_cents = 5000 + (random() * 5000)::int;
         insert into agent (name, email, model, org_id, assigned_at)
         select 'Agent ' || o.org_number || '-' || a, 'a' || o.org_number || '-' || a || '@bench.test',
                'gpt-4o', o.org_id, now() - interval '2 years'
           from organization o, generate_series(1, {AGENTS_PER_ORG}) a
          where o.name like 'Bench Org %';
         insert into usage_month (org_id, month, agent_id, model, input_tokens, output_tokens,
                                  cost_micros, events)
         select a.org_id, (date_trunc('month', now()) - m * interval '1 month')::date, a.agent_id,
                'gpt-4o', 1000000 + (random() * 1e7)::bigint, 200000 + (random() * 1e6)::bigint,
                (random() * 5e7)::numeric, 100
           from agent a, generate_series(0, 11) m where a.org_id is not null;
         insert into model_price values ('gpt-4o', '2000-01-01', 2500000, 10000000);
         analyze;"
    ))
    .execute(&app.owner)
    .await
    .expect("seed");
    let (reset, closed) = app::billing::server::run_monthly_jobs(&app.services)
        .await
        .expect("close the months");
    let records: i64 = sqlx::query_scalar("select count(*) from billing_record")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    println!(
        "seeded {ORGS} orgs × {AGENTS_PER_ORG} agents × 12 months ({records} frozen billing records, {closed} org-months closed, {reset} periods reset) in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // The tab through the router, for orgs spread over the range, against the Overview tab.
    let orgs: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select org_id from organization where name like 'Bench Org %' order by org_number",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    let mut results = Vec::new();
    for (tab, endpoint) in [
        ("overview", "orgs/org_overview"),
        ("billing", "billing/org_billing"),
    ] {
        let mut times = Vec::with_capacity(TAB_RUNS);
        for i in 0..TAB_RUNS {
            let org = orgs[(i * 997) % orgs.len()].to_string();
            let start = Instant::now();
            let r = app.call(endpoint, Some(&root), &[("org_id", &org)]).await;
            times.push(start.elapsed());
            assert_eq!(r.status, 200, "{}", r.body);
            if tab == "billing" {
                assert!(r.body.contains("\"history\""), "{}", r.body);
            }
        }
        times.sort();
        println!(
            "{tab:<8} tab p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms ({TAB_RUNS} runs)",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap())
        );
        results.push(percentile(&times, 0.5));
    }
    println!(
        "billing tab / overview tab, p50: {:.2}×",
        results[1].as_secs_f64() / results[0].as_secs_f64()
    );

    // Ingestion through the router: one org's agent, one event per request, then batches.
    let (_, key) = app.agent(&root, "Ingest Bench", Some(orgs[0])).await;
    let now = chrono::Utc::now().to_rfc3339();
    let event = |k: String| {
        json!({"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300,
               "timestamp": now, "idempotency_key": k})
    };
    let start = Instant::now();
    for i in 0..SINGLE_EVENTS {
        let r = app
            .agent_call(
                "POST",
                "/api/v1/usage",
                &key,
                Some(event(format!("s{i}"))),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let single = SINGLE_EVENTS as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for b in 0..BATCHES {
        let events: Vec<_> = (0..BATCH).map(|i| event(format!("b{b}-{i}"))).collect();
        let r = app
            .agent_call(
                "POST",
                "/api/v1/usage",
                &key,
                Some(json!({ "events": events })),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let batched = (BATCHES * BATCH) as f64 / start.elapsed().as_secs_f64();
    println!("usage ingestion, one event per request: {single:.0} events/s ({SINGLE_EVENTS} events, sequential)");
    println!(
        "usage ingestion, batches of {BATCH}:        {batched:.0} events/s ({} events, sequential)",
        BATCHES * BATCH
    );
    println!("batched / single: {:.1}×", batched / single);
    let counted: i64 = sqlx::query_scalar("select count(*) from usage_event")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(counted as usize, SINGLE_EVENTS + BATCHES * BATCH);
}
