//! The audit log at a million events, measured in one run: the viewer's server function (p50,
//! p95; goal p95 < 50 ms) unfiltered, by action family, by actor, by a day, and deep in the
//! log; and the CSV export streamed through the router, its time and this process's peak
//! memory, for 100,000 and for 1,000,000 events side by side (flat memory: the second should
//! not need ten times the first). Run with `bench/audit`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use server::testing::TestApp;
use support::{ms, percentile};

#[path = "support.rs"]
mod support;

const EVENTS: i64 = 1_000_000;
const SMALL: i64 = 100_000;
const RUNS: usize = 100;

fn main() {
    support::run(run());
}

/// This process's resident memory high-water mark, in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// Streams an export through the router, counting its bytes and lines without keeping them.
async fn export(app: &TestApp, token: &str, address: &str) -> (Duration, usize, usize) {
    use tower::ServiceExt;
    let request = axum::http::Request::get(address)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let start = Instant::now();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body().into_data_stream();
    let (mut bytes, mut lines) = (0, 0);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("the export streams to its end");
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    (start.elapsed(), bytes, lines)
}

async fn run() {
    let app = TestApp::new().await;
    app.user("root@bench.test", true, None).await;
    let root = app.sign_in("root@bench.test").await;
    let big = app.create_org(&root, "Big Log", "big-log.example").await;
    let small = app
        .create_org(&root, "Small Log", "small-log.example")
        .await;
    let admin = app.user("admin@big-log.test", false, None).await;
    app.add_member(big, admin, "admin").await;
    app.add_member(small, admin, "admin").await;
    let token = app.sign_in("admin@big-log.test").await;
    let token = app.switch(&token, big).await;

    // A million events in Big Log over the last 100 days (each chained by the trigger, as in
    // production), a tenth as many in Small Log.
    let seeded = Instant::now();
    for (org, n) in [(big, EVENTS), (small, SMALL)] {
        sqlx::query(
            "insert into audit_event (org_id, actor_user_id, action, target, ip, user_agent,
                                      details, created_at)
             select $1, case when g % 10 = 0 then $2 else null end,
                    (array['invitation.create', 'knowledge.save', 'agent.assign',
                           'routing.denied', 'membership.update'])[1 + g % 5],
                    'target-' || g, '10.0.' || (g % 250) || '.' || (g % 200), 'bench',
                    jsonb_build_object('n', g, 'note', 'a, \"quoted\" note'),
                    now() - make_interval(secs => (($3 - g) * 8.64)::float8)
               from generate_series(1, $3) g",
        )
        .bind(org)
        .bind(admin)
        .bind(n)
        .execute(&app.owner)
        .await
        .expect("seed");
    }
    sqlx::query("analyze audit_event")
        .execute(&app.owner)
        .await
        .unwrap();
    println!(
        "seeded {EVENTS} + {SMALL} events (chained by the trigger) in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    let deep = sqlx::query_scalar::<_, i64>(
        "select audit_event_id from audit_event where org_id = $1 order by audit_event_id
          offset 1000 limit 1",
    )
    .bind(big)
    .fetch_one(&app.owner)
    .await
    .unwrap()
    .to_string();
    let day = (chrono::Utc::now() - chrono::Duration::days(50))
        .format("%Y-%m-%d")
        .to_string();
    let views: [(&str, Vec<(&str, &str)>); 5] = [
        ("newest 50", vec![]),
        ("action family", vec![("query[action]", "membership")]),
        ("actor", vec![("query[actor]", "admin@big-log")]),
        ("one day", vec![("query[from]", &day), ("query[to]", &day)]),
        ("deep page", vec![("query[before]", &deep)]),
    ];
    println!("viewer (audit/org_events) at {EVENTS} events, {RUNS} calls each:");
    for (label, fields) in &views {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            let r = app.call("audit/org_events", Some(&token), fields).await;
            times.push(start.elapsed());
            assert_eq!(r.status, 200, "{}", r.body);
            // A full page each time: a fast empty answer would measure nothing.
            let shown = r.json()["rows"].as_array().map_or(0, Vec::len);
            assert_eq!(shown, 50, "{label}: {shown} rows");
        }
        times.sort();
        println!(
            "  {label:<14} p50 {:6.2} ms  p95 {:6.2} ms (goal p95 < 50 ms)",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        );
    }

    let small_token = app.switch(&token, small).await;
    let before = peak_rss_mib();
    let (t_small, bytes_small, lines_small) = export(
        &app,
        &small_token,
        &format!("/api/audit/orgs/{small}/export.csv"),
    )
    .await;
    let after_small = peak_rss_mib();
    let (t_big, bytes_big, lines_big) =
        export(&app, &token, &format!("/api/audit/orgs/{big}/export.csv")).await;
    let after_big = peak_rss_mib();
    assert!(lines_small as i64 > SMALL && lines_big as i64 > EVENTS);
    println!(
        "CSV export, streamed: {lines_small} lines ({:.0} MB) in {:.1} s; {lines_big} lines ({:.0} MB) in {:.1} s ({:.0} rows/s)",
        bytes_small as f64 / 1e6,
        t_small.as_secs_f64(),
        bytes_big as f64 / 1e6,
        t_big.as_secs_f64(),
        lines_big as f64 / t_big.as_secs_f64()
    );
    println!(
        "peak RSS of this process: {before:.0} MiB before, {after_small:.0} MiB after {SMALL} rows, {after_big:.0} MiB after {EVENTS} rows (growth {:.0} MiB then {:.0} MiB: flat when the second is not ten times the first)",
        after_small - before,
        after_big - after_small
    );
}
