//! Billing against a real PostgreSQL: prices with effective dates, rates and overrides across
//! months, frozen closed months, usage ingestion (validation, idempotency, batches), the
//! allowances under concurrent writes, and the monthly jobs.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use server::testing::World;
use uuid::Uuid;

fn month_start(n_back: i32) -> NaiveDate {
    let today = Utc::now().date_naive();
    let total = today.year() * 12 + today.month0() as i32 - n_back;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap()
}

fn at(day: NaiveDate) -> String {
    format!("{day}T10:00:00Z")
}

async fn world() -> World {
    World::build().org("Acme", &[]).await
}

/// What the billing tests do over and over, as the superadmin in Acme.
trait Billing {
    fn acme(&self) -> Uuid;
    async fn ok(&self, endpoint: &str, fields: &[(&str, &str)]) -> Value;
    async fn price(&self, model: &str, from: NaiveDate, input: &str, output: &str);
    async fn tab(&self, month: NaiveDate) -> Value;
    async fn usage(&self, key: &str, body: Value) -> server::testing::TestResponse;
}

impl Billing for World {
    fn acme(&self) -> Uuid {
        self.org("Acme")
    }

    async fn ok(&self, endpoint: &str, fields: &[(&str, &str)]) -> Value {
        let r = self.app.call(endpoint, Some(&self.root), fields).await;
        assert!(r.status < 400, "{endpoint}: {} {}", r.status, r.body);
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    async fn price(&self, model: &str, from: NaiveDate, input: &str, output: &str) {
        self.ok(
            "billing/save_model_price",
            &[
                ("model", model),
                ("effective_from", &from.to_string()),
                ("input_price", input),
                ("output_price", output),
            ],
        )
        .await;
    }

    async fn tab(&self, month: NaiveDate) -> Value {
        let org = self.acme().to_string();
        let month = month.format("%Y-%m").to_string();
        self.ok(
            "billing/org_billing",
            &[("org_id", &org), ("month", &month)],
        )
        .await
    }

    async fn usage(&self, key: &str, body: Value) -> server::testing::TestResponse {
        self.app
            .agent_call("POST", "/api/v1/usage", key, Some(body), &[])
            .await
    }
}

fn revenue(tab: &Value) -> i64 {
    tab["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rate_cents"].as_i64().unwrap())
        .sum()
}

fn cost(tab: &Value) -> i128 {
    tab["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cost_micros"].as_i64().unwrap() as i128)
        .sum()
}

#[tokio::test]
async fn usage_is_priced_when_it_happened_and_closed_months_stay_frozen() {
    let w = world().await;
    let (m2, m1, now) = (month_start(2), month_start(1), month_start(0));
    // Past prices, as if they had been set then (the app takes prices from this month on).
    sqlx::query("insert into model_price values ('m1', $1, 2500000, 10000000), ('m1', $2, 5000000, 20000000)")
        .bind(m2)
        .bind(m1)
        .execute(&w.app.owner)
        .await
        .unwrap();
    let org = w.acme().to_string();
    let (x, x_key) = w.app.agent(&w.root, "Xavier", Some(w.acme())).await;
    let (y, y_key) = w.app.agent(&w.root, "Yolanda", Some(w.acme())).await;
    // Both have served the org since before the first month.
    sqlx::query("update agent set assigned_at = $1 where agent_id = any($2)")
        .bind(
            (m2 - Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
        )
        .bind(vec![x, y])
        .execute(&w.app.owner)
        .await
        .unwrap();
    w.ok(
        "billing/set_default_rate",
        &[("org_id", &org), ("rate", "50")],
    )
    .await;
    w.ok(
        "billing/set_agent_rate",
        &[
            ("org_id", &org),
            ("agent_id", &y.to_string()),
            ("rate", "75.00"),
        ],
    )
    .await;

    let million = json!(1_000_000);
    for (key, day, n) in [
        (&x_key, m2 + Duration::days(9), "a"),
        (&x_key, m1 + Duration::days(9), "b"),
    ] {
        let r = w
            .usage(
                key,
                json!({"model": "m1", "input_tokens": million, "output_tokens": million,
                               "timestamp": at(day), "idempotency_key": n}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = w
        .usage(
            &y_key,
            json!({"model": "m1", "input_tokens": million, "output_tokens": 0,
                               "timestamp": Utc::now().to_rfc3339(), "idempotency_key": "c"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Before the months are closed they are live.
    let live = w.tab(m2).await;
    assert_eq!(live["live"], json!(true));
    assert_eq!(cost(&live), 12_500_000, "1M in at $2.50 + 1M out at $10");

    let (_, closed) = app::billing::server::run_monthly_jobs(&w.app.services)
        .await
        .unwrap();
    assert!(closed >= 2, "closed {closed} months");

    // Rates change after the close: closed months keep theirs, the live month uses the new.
    w.ok(
        "billing/set_default_rate",
        &[("org_id", &org), ("rate", "60")],
    )
    .await;
    w.ok(
        "billing/set_agent_rate",
        &[
            ("org_id", &org),
            ("agent_id", &y.to_string()),
            ("rate", "100"),
        ],
    )
    .await;
    // A price added now for the current month leaves everything closed alone.
    w.price("m1", now, "1", "1").await;

    let cases = [
        // month, live, revenue (cents), cost (micro-dollars)
        (m2, false, 12_500, 12_500_000),
        (m1, false, 12_500, 25_000_000),
    ];
    for (month, live, want_revenue, want_cost) in cases {
        let tab = w.tab(month).await;
        assert_eq!(tab["live"], json!(live), "{month}");
        assert_eq!(revenue(&tab), want_revenue, "{month} revenue");
        assert_eq!(cost(&tab), want_cost, "{month} cost");
    }
    let current = w.tab(now).await;
    assert_eq!(current["live"], json!(true));
    assert_eq!(revenue(&current), 16_000, "$60 default + $100 override");
    // Y's current-month usage was priced when it happened (the old m1 price), not now.
    assert_eq!(cost(&current), 5_000_000);
    let history = current["history"].as_array().unwrap();
    assert_eq!(history.len(), 12);
    let point = |m: NaiveDate| {
        let key = m.format("%Y-%m").to_string();
        history
            .iter()
            .find(|p| p["month"] == json!(key))
            .cloned()
            .unwrap()
    };
    assert_eq!(point(m2)["revenue_cents"], json!(12_500));
    assert_eq!(point(m1)["cost_micros"], json!(25_000_000));
    assert_eq!(point(now)["revenue_cents"], json!(16_000));
    let bp = app::billing::money::margin_basis_points(16_000, 5_000_000);
    assert_eq!(app::billing::money::format_margin(bp), "96.88%");

    // Usage for a closed month, and a price for one, are refused naming the field.
    let r = w
        .usage(
            &x_key,
            json!({"model": "m1", "input_tokens": 1, "output_tokens": 1,
                               "timestamp": at(m1 + Duration::days(2)), "idempotency_key": "late"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["fields"]["timestamp"][0]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{}",
        r.body
    );
    let r = w
        .app
        .call(
            "billing/save_model_price",
            Some(&w.root),
            &[
                ("model", "m1"),
                ("effective_from", &m1.to_string()),
                ("input_price", "9"),
                ("output_price", "9"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("effective_from"), "{}", r.body);
}

#[tokio::test]
async fn usage_is_validated_field_by_field_and_counted_once() {
    let w = world().await;
    w.price("gpt-test", month_start(0), "0.15", "0.60").await;
    let (_, key) = w.app.agent(&w.root, "Ingest", Some(w.acme())).await;
    let now = Utc::now().to_rfc3339();

    let cases = [
        (
            json!({"model": "nope", "input_tokens": 1, "output_tokens": 1, "timestamp": now, "idempotency_key": "k"}),
            "model",
            "Unknown model",
        ),
        (
            json!({"model": "gpt-test", "input_tokens": -5, "output_tokens": 1, "timestamp": now, "idempotency_key": "k"}),
            "input_tokens",
            "0 or more",
        ),
        (
            json!({"model": "gpt-test", "input_tokens": 1.5, "output_tokens": 1, "timestamp": now, "idempotency_key": "k"}),
            "input_tokens",
            "whole number",
        ),
        (
            json!({"model": "gpt-test", "input_tokens": 1, "output_tokens": 1, "timestamp": "yesterday", "idempotency_key": "k"}),
            "timestamp",
            "RFC 3339",
        ),
        (
            json!({"model": "gpt-test", "input_tokens": 1, "output_tokens": 1, "timestamp": now}),
            "idempotency_key",
            "unique key",
        ),
        (
            json!({"model": "gpt-test", "input_tokens": 1, "output_tokens": 1, "timestamp": now, "idempotency_key": "k", "agent_id": Uuid::new_v4()}),
            "agent_id",
            "another agent",
        ),
        (
            json!({"events": [
            {"model": "gpt-test", "input_tokens": 1, "output_tokens": 1, "timestamp": now, "idempotency_key": "k1"},
            {"model": "gpt-test", "input_tokens": 1, "output_tokens": -1, "timestamp": now, "idempotency_key": "k2"}]}),
            "events[1].output_tokens",
            "0 or more",
        ),
        (json!({"events": []}), "events", "at least one"),
    ];
    for (body, field, message) in cases {
        let r = w.usage(&key, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let got = r.json()["fields"][field][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(got.contains(message), "{body}: {field} said {:?}", r.body);
    }
    // Nothing of a refused batch was written.
    let events: i64 = sqlx::query_scalar("select count(*) from usage_event")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(events, 0);

    let event = |k: &str, n: i64| json!({"model": "gpt-test", "input_tokens": n, "output_tokens": n, "timestamp": now, "idempotency_key": k});
    let batch = json!({"events": [event("a", 100), event("b", 200), event("a", 100)]});
    let r = w.usage(&key, batch.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"accepted": 2, "duplicates": 1}));
    let r = w.usage(&key, batch).await;
    assert_eq!(
        r.json(),
        json!({"accepted": 0, "duplicates": 3}),
        "a retried batch counts once"
    );
    // 300 in at $0.15/M + 300 out at $0.60/M = 45 + 180 micro-dollars, compared exactly.
    let (tokens, exact): (i64, bool) = sqlx::query_as(
        "select (sum(input_tokens + output_tokens))::bigint, sum(cost_micros) = 225 from usage_month",
    )
    .fetch_one(&w.app.owner).await.unwrap();
    assert_eq!((tokens, exact), (600, true));

    // A price that usage was priced with cannot be deleted (the superadmin acts in no org, so
    // this needs the platform's view of every org's usage).
    let from = month_start(0).to_string();
    let r = w
        .app
        .call(
            "billing/delete_model_price",
            Some(&w.root),
            &[("model", "gpt-test"), ("effective_from", &from)],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    w.price("unused", month_start(0), "1", "1").await;
    w.ok(
        "billing/delete_model_price",
        &[("model", "unused"), ("effective_from", &from)],
    )
    .await;
}

async fn set_plan(w: &World, agents: Option<i32>, seats: Option<i32>, tokens: Option<i64>) {
    sqlx::query("insert into plan (plan_name, max_agents, max_seats, max_tokens_per_month) values ('edge', $1, $2, $3)")
        .bind(agents).bind(seats).bind(tokens)
        .execute(&w.app.owner).await.unwrap();
    sqlx::query("insert into subscription (org_id, plan_name, seats) values ($1, 'edge', 1000)")
        .bind(w.acme())
        .execute(&w.app.owner)
        .await
        .unwrap();
}

#[tokio::test]
async fn parallel_usage_at_the_edge_of_the_allowance_never_overshoots_and_alerts_once() {
    let w = world().await;
    w.price("gpt-test", month_start(0), "1", "1").await;
    set_plan(&w, None, None, Some(1_000)).await;
    let (_, key) = w.app.agent(&w.root, "Busy", Some(w.acme())).await;
    let w = Arc::new(w);
    let now = Utc::now().to_rfc3339();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (w, key, now) = (w.clone(), key.clone(), now.clone());
        tasks.push(tokio::spawn(async move {
            w.usage(
                &key,
                json!({"model": "gpt-test", "input_tokens": 30, "output_tokens": 20,
                                  "timestamp": now, "idempotency_key": format!("e{i}")}),
            )
            .await
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => accepted += 1,
            429 => {
                refused += 1;
                assert!(r.body.contains("monthly AI token allowance"), "{}", r.body);
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(
        (accepted, refused),
        (20, 20),
        "1,000 tokens hold exactly twenty 50-token events"
    );
    let used: i64 = sqlx::query_scalar("select tokens_used from org_account where org_id = $1")
        .bind(w.acme())
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(used, 1_000);
    let alerts: Vec<i32> = sqlx::query_scalar(
        "select threshold from quota_alert where org_id = $1 and resource = 'tokens' order by 1",
    )
    .bind(w.acme())
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(alerts, vec![80, 90, 100]);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1 and action = 'quota.alert'",
    )
    .bind(w.acme())
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(audited, 3);
    // The org's health shows the pressure.
    let org = w.acme().to_string();
    let v = w.ok("orgs/org_overview", &[("org_id", &org)]).await;
    let allowances = v["allowances"].as_array().cloned().unwrap_or_default();
    let tokens = allowances
        .iter()
        .find(|a| a["resource"] == json!("tokens"))
        .cloned();
    assert_eq!(
        tokens,
        Some(json!({"resource": "tokens", "used": 1000, "quota": 1000})),
        "{v}"
    );
}

#[tokio::test]
async fn agents_and_seats_are_held_to_the_plan() {
    let w = world().await;
    set_plan(&w, Some(1), Some(1), None).await;
    w.app.agent(&w.root, "First", Some(w.acme())).await;
    let (second, _) = w.app.agent(&w.root, "Second", None).await;
    let r = w
        .app
        .call(
            "agents/assign_agent",
            Some(&w.root),
            &[
                ("org_id", &w.acme().to_string()),
                ("agent_id", &second.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("agent allowance"), "{}", r.body);
    // An org a superadmin made has no members yet: the first seat fits, the second does not.
    let members: i64 = sqlx::query_scalar("select count(*) from membership where org_id = $1")
        .bind(w.acme())
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(members, 0);
    for i in 0..2 {
        let user = w.app.user(&format!("u{i}@acme.test"), false, None).await;
        let result = sqlx::query(
            "with seq as (update organization set member_seq = member_seq + 1 where org_id = $1 returning member_seq)
             insert into membership (org_id, user_id, role_name, member_seq) select $1, $2, 'member', member_seq from seq")
            .bind(w.acme()).bind(user).execute(&w.app.owner).await;
        let code = result
            .as_ref()
            .err()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .map(|c| c.to_string());
        if i == 0 {
            assert!(result.is_ok(), "{result:?}");
        } else {
            assert_eq!(code.as_deref(), Some("TQ001"), "{result:?}");
        }
    }
    let alerts: Vec<(String, i32)> = sqlx::query_as(
        "select resource, threshold from quota_alert where org_id = $1 order by 1, 2",
    )
    .bind(w.acme())
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(
        alerts.iter().filter(|(r, _)| r == "agents").count(),
        3,
        "{alerts:?}"
    );
}

#[tokio::test]
async fn superadmins_edit_plans_and_bad_limits_are_named() {
    let w = world().await;
    for (fields, field) in [
        (vec![("plan_name", "Bad Name!")], "plan_name"),
        (
            vec![("plan_name", "team"), ("max_agents", "-1")],
            "max_agents",
        ),
        (
            vec![("plan_name", "team"), ("max_tokens_per_month", "lots")],
            "max_tokens_per_month",
        ),
    ] {
        let r = w
            .app
            .call("billing/save_plan", Some(&w.root), &fields)
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains(&format!("\"{field}\"")), "{}", r.body);
    }
    w.ok(
        "billing/save_plan",
        &[
            ("plan_name", "team"),
            ("max_agents", "1"),
            ("max_storage_mb", "2"),
            ("max_tokens_per_month", "1,000"),
        ],
    )
    .await;
    let row: (Option<i32>, Option<i32>, Option<i64>, Option<i64>) = sqlx::query_as(
        "select max_agents, max_seats, max_storage_bytes, max_tokens_per_month
           from plan where plan_name = 'team'",
    )
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(row, (Some(1), None, Some(2 * 1_048_576), Some(1_000)));
    // Someone who is not a superadmin is refused.
    w.app.user("plain@else.test", false, None).await;
    let plain = w.app.sign_in("plain@else.test").await;
    let r = w
        .app
        .call("billing/save_plan", Some(&plain), &[("plan_name", "team")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn the_database_prices_usage_as_the_arithmetic_says() {
    // The trigger that prices events and `money::cost_micros` must agree on every known answer.
    let w = world().await;
    let cases: [(i64, i64, i64, i64); 5] = [
        (0, 0, 2_500_000, 10_000_000),
        (1_000_000, 1_000_000, 2_500_000, 10_000_000),
        (1_500, 0, 150_000, 600_000),
        (4, 0, 150_000, 0),
        (1_000_000_000_000, 1_000_000_000_000, 15_000_000, 75_000_000),
    ];
    for (n, (input, output, pin, pout)) in cases.into_iter().enumerate() {
        sqlx::query("insert into model_price values ($1, '2000-01-01', $2, $3)")
            .bind(format!("case-{n}"))
            .bind(pin)
            .bind(pout)
            .execute(&w.app.owner)
            .await
            .unwrap();
        let stored: String = sqlx::query_scalar(
            "insert into usage_event (org_id, idempotency_key, agent_id, model, input_tokens,
                                      output_tokens, occurred_at)
             values ($1, $2, gen_random_uuid(), $2, $3, $4, now())
             returning round(cost_micros)::text",
        )
        .bind(w.acme())
        .bind(format!("case-{n}"))
        .bind(input)
        .bind(output)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
        let want =
            app::billing::money::cost_micros(input as u64, output as u64, pin as u64, pout as u64);
        assert_eq!(stored, want.to_string(), "case {n}");
    }
}

#[tokio::test]
async fn the_monthly_jobs_are_safe_to_rerun() {
    let w = world().await;
    let last = month_start(1);
    sqlx::query("update org_account set period_start = $2, tokens_used = 900 where org_id = $1")
        .bind(w.acme())
        .bind(last)
        .execute(&w.app.owner)
        .await
        .unwrap();
    let (reset, _) = app::billing::server::run_monthly_jobs(&w.app.services)
        .await
        .unwrap();
    assert!(reset >= 1);
    let (used, period): (i64, NaiveDate) =
        sqlx::query_as("select tokens_used, period_start from org_account where org_id = $1")
            .bind(w.acme())
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!((used, period), (0, month_start(0)));
    let records: i64 = sqlx::query_scalar("select count(*) from billing_record")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    let again = app::billing::server::run_monthly_jobs(&w.app.services)
        .await
        .unwrap();
    assert_eq!(again, (0, 0), "a second run finds nothing to do");
    let after: i64 = sqlx::query_scalar("select count(*) from billing_record")
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(records, after);
}

/// The platform ranking: best margin first, then by cost and number; 50 to a page, a page past
/// the end shows the last one, and ranks run on across pages.
#[tokio::test]
async fn the_margin_ranking_is_paged_with_ranks_running_on() {
    let w = world().await;
    let mut orgs = vec![w.acme()];
    for n in 1..55 {
        orgs.push(
            w.app
                .create_org(
                    &w.root,
                    &format!("Ranked {n:02}"),
                    &format!("r{n:02}.example"),
                )
                .await,
        );
    }
    // One org with revenue (an agent at $100.00 a month, no cost): a 100 % margin tops the list.
    let top = orgs[40];
    w.app.agent(&w.root, "Earner", Some(top)).await;
    sqlx::query("update org_account set default_rate_cents = 10000 where org_id = $1")
        .bind(top)
        .execute(&w.app.owner)
        .await
        .unwrap();
    let page = |n: &'static str| {
        let w = &w;
        async move { w.ok("billing/overview", &[("page", n)]).await }
    };
    let first = page("1").await;
    assert_eq!(first["ranked"], 55);
    assert_eq!(
        (first["page"].as_i64(), first["first_rank"].as_i64()),
        (Some(1), Some(1))
    );
    let rows = first["orgs"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[0]["org_id"], top.to_string());
    assert_eq!(rows[0]["revenue_cents"], 10000);
    let second = page("2").await;
    assert_eq!(second["first_rank"], 51);
    assert_eq!(second["orgs"].as_array().unwrap().len(), 5);
    assert_eq!(page("99").await, second, "past the end: the last page");
    // Every org once across the two pages.
    let mut seen: Vec<String> = rows
        .iter()
        .chain(second["orgs"].as_array().unwrap())
        .map(|r| r["org_id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 55);
    // The page renders its position and the way on.
    let html = w
        .app
        .send(
            axum::http::Request::get("/billing?page=2")
                .header("cookie", format!("{}={}", app::auth::token::COOKIE, w.root))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(html.status, 200);
    assert!(
        html.body.contains("Ranks 51–55 of 55 · page 2 of 2"),
        "{}",
        html.body
    );
    assert!(
        html.body.contains("href=\"/billing?page=1\""),
        "{}",
        html.body
    );
}

/// A plan goes only when no org's subscription is on it (its orgs would lose their limits);
/// the refusal says how many are.
#[tokio::test]
async fn a_plan_is_deleted_only_when_no_org_is_on_it() {
    let w = world().await;
    let plans = |o: &Value| -> Vec<String> {
        o["plans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["plan_name"].as_str().unwrap().to_string())
            .collect()
    };
    w.ok(
        "billing/save_plan",
        &[
            ("plan_name", "starter"),
            ("max_agents", "2"),
            ("max_seats", ""),
            ("max_storage_mb", ""),
            ("max_tokens_per_month", ""),
        ],
    )
    .await;
    assert!(plans(&w.ok("billing/overview", &[]).await).contains(&"starter".to_string()));
    w.ok("billing/delete_plan", &[("plan_name", "starter")])
        .await;
    assert!(!plans(&w.ok("billing/overview", &[]).await).contains(&"starter".to_string()));
    let again = w
        .app
        .call(
            "billing/delete_plan",
            Some(&w.root),
            &[("plan_name", "starter")],
        )
        .await;
    assert_eq!(again.status, 404, "{}", again.body);

    sqlx::query(
        "insert into subscription (org_id, plan_name, status) values ($1, 'pro_monthly', 'active')",
    )
    .bind(w.acme())
    .execute(&w.app.owner)
    .await
    .unwrap();
    let refused = w
        .app
        .call(
            "billing/delete_plan",
            Some(&w.root),
            &[("plan_name", "pro_monthly")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("1 organization is on this plan"),
        "{}",
        refused.body
    );
    assert!(plans(&w.ok("billing/overview", &[]).await).contains(&"pro_monthly".to_string()));
}
