//! The agent API under load: knowledge search latency at 100,000 entries across 1,000 orgs
//! (through the real router: agent gate, row-level security, ranked search), and guardrail
//! evaluation throughput (five policies of every kind), both in process and through the router,
//! measured side by side in one run. Run with `bench/agent-api`.

use std::time::Instant;

use server::testing::TestApp;
use support::{ms, percentile};

#[path = "support.rs"]
mod support;

const ORGS: i64 = 1_000;
const ENTRIES_PER_ORG: i64 = 100;
const SEARCHES: usize = 300;
const EVALUATIONS: usize = 2_000;

fn main() {
    support::run(run());
}

async fn run() {
    let app = TestApp::new().await;
    app.user("bench@platform.test", true, None).await;
    let root = app.sign_in("bench@platform.test").await;

    let t0 = Instant::now();
    // 1,000 orgs with 100 entries each, their text drawn from a 60-word vocabulary.
    sqlx::raw_sql(&format!(
        "insert into organization (org_id, name, slug, product, status)
         select gen_random_uuid(), 'Bench Org ' || n, 'bench-org-' || n, 'eloquent', 'active'
           from generate_series(1, {ORGS}) n;
         with words as (
           select array['refund','invoice','shipping','delivery','warranty','return','account',
             'password','billing','payment','subscription','upgrade','downgrade','cancel','trial',
             'discount','coupon','order','tracking','parcel','customs','address','profile',
             'security','privacy','export','import','report','dashboard','integration','webhook',
             'api','token','limit','quota','storage','backup','restore','support','ticket',
             'escalation','agent','policy','compliance','audit','invoice','tax','receipt',
             'currency','exchange','plan','seat','license','renewal','contract','legal','gdpr',
             'retention','deletion','archive'] as w
         )
         insert into knowledge_entry (org_id, title, body, tags)
         select o.org_id,
                w[1 + (e * 7 + o.org_number) % 60] || ' ' || w[1 + (e * 11) % 60] || ' guide ' || e,
                (select string_agg(w[1 + ((e * 31 + g * 17 + o.org_number) % 60)], ' ')
                   from generate_series(1, 60) g),
                array[w[1 + (e * 13) % 60]]
           from organization o, generate_series(1, {ENTRIES_PER_ORG}) e, words
          where o.name like 'Bench Org %';
         analyze;"
    ))
    .execute(&app.owner)
    .await
    .expect("seed");
    let entries: i64 = sqlx::query_scalar("select count(*) from knowledge_entry")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    println!(
        "seeded {ORGS} orgs and {entries} knowledge entries in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Agents in five orgs spread over the range, and one org's five guardrails.
    let orgs: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select org_id from organization where name like 'Bench Org %'
          order by org_number limit 5 offset 0",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    let mut keys = Vec::new();
    for (n, org) in orgs.iter().enumerate() {
        let (_, key) = app
            .agent(&root, &format!("Bench Agent {n}"), Some(*org))
            .await;
        keys.push(key);
    }
    sqlx::raw_sql(&format!(
        "insert into guardrail_policy (org_id, name, kind, priority, params) values
           ('{o}', 'topics', 'blocked_topics', 1, '{{\"keywords\": [\"lawsuit\", \"competitor\"], \"patterns\": [\"crypto\\\\w*\"]}}'),
           ('{o}', 'pii', 'pii_redaction', 2, '{{\"types\": [\"email\", \"phone\", \"card\"]}}'),
           ('{o}', 'length', 'max_length', 3, '{{\"max_chars\": 4000, \"truncate\": true}}'),
           ('{o}', 'models', 'allowed_models', 4, '{{\"models\": [\"gpt-4o\", \"gpt-4o-mini\"]}}'),
           ('{o}', 'humans', 'escalate', 5, '{{\"keywords\": [\"complaint\"]}}');",
        o = orgs[0]
    ))
    .execute(&app.owner)
    .await
    .expect("policies");

    // Knowledge search through the router.
    let queries = [
        "refund",
        "shipping delivery",
        "billing payment",
        "gdpr retention",
        "api token",
    ];
    let mut times = Vec::with_capacity(SEARCHES);
    for i in 0..SEARCHES {
        let key = &keys[i % keys.len()];
        let q = queries[i % queries.len()].replace(' ', "+");
        let path = format!("/api/v1/knowledge/search?q={q}&limit=10");
        let start = Instant::now();
        let response = app.agent_call("GET", &path, key, None, &[]).await;
        times.push(start.elapsed());
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            response.json().as_array().is_some_and(|a| !a.is_empty()),
            "{path}"
        );
    }
    times.sort();
    println!(
        "knowledge search, {entries} entries in {ORGS} orgs, {SEARCHES} searches through the router: \
         p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.95)),
        ms(*times.last().unwrap())
    );

    // Guardrail evaluation: the same five policies and texts, in process and through the router.
    let texts = [
        "Thanks for reaching out; your order ships tomorrow.",
        "Write to ana@example.com or call +966 55 123 4567 about card 4111 1111 1111 1111.",
        "I will file a complaint about this.",
        "Is crypto accepted as payment?",
    ];
    let policies = {
        let mut conn = app.owner.acquire().await.unwrap();
        let rows: Vec<(String, String, String, i32, serde_json::Value)> = sqlx::query_as(
            "select policy_id::text, name, kind, priority, params from guardrail_policy
              where org_id = $1",
        )
        .bind(orgs[0])
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        rows.into_iter()
            .map(
                |(id, name, kind, priority, params)| app::guardrails::eval::Policy {
                    id,
                    name,
                    priority,
                    enabled: true,
                    rule: app::guardrails::eval::Rule::parse(&kind, &params, &app::agents::MODELS)
                        .unwrap(),
                },
            )
            .collect::<Vec<_>>()
    };
    let start = Instant::now();
    for i in 0..EVALUATIONS * 10 {
        let outcome =
            app::guardrails::eval::evaluate(&policies, texts[i % texts.len()], Some("gpt-4o"));
        std::hint::black_box(outcome);
    }
    let in_process = (EVALUATIONS * 10) as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..EVALUATIONS {
        let body = serde_json::json!({ "text": texts[i % texts.len()], "model": "gpt-4o" });
        let response = app
            .agent_call(
                "POST",
                "/api/v1/guardrails/evaluate",
                &keys[0],
                Some(body),
                &[],
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.body);
    }
    let routed = EVALUATIONS as f64 / start.elapsed().as_secs_f64();
    println!(
        "guardrail evaluation, 5 policies, 4 texts: {in_process:.0} evaluations/s in process, \
         {routed:.0}/s through the router (key check, RLS-scoped read of the policies, logging \
         blocks and redactions); ratio {:.0}x",
        in_process / routed
    );
}
