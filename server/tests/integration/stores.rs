//! Each org's own resources in Redis, NATS and ClickHouse: made by the product engine when the
//! org is made, removed when it is deleted, and out of reach of every other org's credentials.
//! Against the real servers (Debian's), started by the test process.

use app::stores::{clickhouse, nats, org_user, provision};
use futures::StreamExt;
use server::testing::{test_store_secrets, test_stores, TestApp};
use uuid::Uuid;

/// Works every planned run to its end; each must succeed.
async fn work_all(app: &TestApp) {
    let worker = Uuid::new_v4();
    while let Some((_, _, outcome)) = app::products::engine::work_once(&app.services, worker, None)
        .await
        .expect("the worker works")
    {
        assert_eq!(
            format!("{outcome:?}"),
            "Succeeded",
            "a provisioning run must succeed"
        );
    }
}

/// Whether each of `org`'s store resources is there, as `expected`.
async fn assert_resources(stores: &app::stores::Stores, org: Uuid, expected: bool, when: &str) {
    for store in provision::RESOURCES {
        assert_eq!(
            provision::present(stores, org, store).await.expect("asked"),
            expected,
            "{store} resource of {org} {when}"
        );
    }
}

/// A Redis connection as `org`'s own user.
async fn redis_as(org: Uuid) -> redis::aio::MultiplexedConnection {
    let platform = &test_stores().urls()[0];
    let socket = platform.split('?').next().expect("a socket address");
    let password = test_store_secrets().org_password("redis", org);
    let url = format!("{socket}?user={}&pass={password}", org_user(org));
    redis::Client::open(url)
        .expect("a Redis address")
        .get_multiplexed_async_connection()
        .await
        .expect("the org's user signs in")
}

async fn redis_cmd(
    conn: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> Result<redis::Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async::<redis::Value>(conn)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orgs_store_credentials_reach_nothing_of_another_org_and_deletion_removes_its_resources()
{
    let app = TestApp::with_stores().await;
    app.user("root@stores.test", true, None).await;
    let root = app.sign_in("root@stores.test").await;
    let a = app
        .create_org(&root, "Store Alpha", "store-alpha.example")
        .await;
    let b = app
        .create_org(&root, "Store Beta", "store-beta.example")
        .await;
    let started = std::time::Instant::now();
    work_all(&app).await;
    eprintln!(
        "stores: two orgs provisioned in {} ms",
        started.elapsed().as_millis()
    );
    let stores = &app.services.stores;
    for org in [a, b] {
        assert_resources(stores, org, true, "after its provisioning").await;
    }

    // The org detail view lists the three, ready.
    let overview = app
        .call(
            "orgs/org_overview",
            Some(&root),
            &[("org_id", &a.to_string())],
        )
        .await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let listed = overview.json()["resources"].clone();
    let states: Vec<(String, String)> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["store"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("Redis", "ready"),
            ("NATS JetStream", "ready"),
            ("ClickHouse", "ready")
        ]
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .to_vec(),
        "{listed}"
    );

    // Redis: A reads and writes its own prefix, and nothing else, not even by scanning.
    let redis = stores.redis.as_ref().expect("Redis");
    let b_key = redis.org(b).key("secret");
    let mut platform = redis.platform();
    redis::cmd("SET")
        .arg(&b_key)
        .arg("beta's")
        .query_async::<()>(&mut platform)
        .await
        .expect("the platform writes anywhere");
    let mut as_a = redis_as(a).await;
    let a_key = redis.org(a).key("mine");
    redis_cmd(&mut as_a, &["SET", &a_key, "alpha's"])
        .await
        .expect("A writes its own key");
    assert_eq!(
        redis_cmd(&mut as_a, &["GET", &a_key])
            .await
            .expect("A reads its own key"),
        redis::Value::BulkString(b"alpha's".to_vec())
    );
    for (what, args) in [
        ("read B's key", vec!["GET", b_key.as_str()]),
        ("write B's key", vec!["SET", b_key.as_str(), "overwritten"]),
        ("delete B's key", vec!["DEL", b_key.as_str()]),
        ("scan every key", vec!["SCAN", "0"]),
        ("list every key", vec!["KEYS", "*"]),
        ("take a random key", vec!["RANDOMKEY"]),
        ("write outside any prefix", vec!["SET", "loose", "x"]),
        ("flush the database", vec!["FLUSHALL"]),
        (
            "change its rights",
            vec!["ACL", "SETUSER", "default", "off"],
        ),
        (
            "track every key changed",
            vec!["CLIENT", "TRACKING", "on", "BCAST"],
        ),
        (
            "move a key out of its database",
            vec!["MOVE", a_key.as_str(), "1"],
        ),
        ("load a function", vec!["FUNCTION", "FLUSH"]),
        (
            "run a script",
            vec![
                "EVAL",
                "return redis.call('GET', KEYS[1])",
                "1",
                b_key.as_str(),
            ],
        ),
        ("count every key", vec!["DBSIZE"]),
    ] {
        let refused = redis_cmd(&mut as_a, &args).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("NOPERM") || e.contains("permission")),
            "A's Redis user may not {what}: {refused:?}"
        );
    }
    let still: String = redis::cmd("GET")
        .arg(&b_key)
        .query_async(&mut platform)
        .await
        .expect("read");
    assert_eq!(still, "beta's");

    // NATS: A publishes to and reads its own stream only.
    let nats = stores.nats.as_ref().expect("NATS");
    let js = nats.jetstream();
    let count = |org: Uuid| {
        let js = js.clone();
        async move {
            let mut stream = js
                .get_stream(nats::stream_name(org))
                .await
                .expect("a stream");
            stream.info().await.expect("its info").state.messages
        }
    };
    let as_a_nats = nats::org_client(
        nats.address(),
        a,
        &test_store_secrets().org_password("nats", a),
    )
    .await
    .expect("A's NATS user connects");
    let a_js = async_nats::jetstream::with_prefix(as_a_nats.clone(), "$JS.API");
    a_js.publish(format!("org.{}.events", a.simple()), "alpha".into())
        .await
        .expect("A publishes to its subjects")
        .await
        .expect("its stream stores it");
    assert_eq!(count(a).await, 1);
    // Not to its usage subject (the platform's: what is there is billed).
    let _ = as_a_nats
        .publish(format!("org.{}.usage", a.simple()), "forged usage".into())
        .await;
    let _ = as_a_nats.flush().await;
    assert_eq!(count(a).await, 1, "A's forged usage is not stored");
    // Not to its usage subject (the platform's: what is there is billed), and no consumers.
    let _ = as_a_nats
        .publish(format!("org.{}.usage", a.simple()), "forged usage".into())
        .await;
    let _ = as_a_nats.flush().await;
    assert_eq!(count(a).await, 1, "A's forged usage is not stored");
    // Refused by the server (reported asynchronously, never stored).
    let _ = as_a_nats
        .publish(format!("org.{}.usage", b.simple()), "forged".into())
        .await;
    let _ = as_a_nats.flush().await;
    let mut spy = as_a_nats
        .subscribe(format!("org.{}.>", b.simple()))
        .await
        .expect("the subscription is sent (and refused by the server)");
    let _ = as_a_nats.flush().await;
    nats.client()
        .publish(format!("org.{}.usage", b.simple()), "beta".into())
        .await
        .expect("the platform publishes");
    nats.client().flush().await.expect("flushed");
    assert_eq!(
        count(b).await,
        1,
        "only the platform's message reached B's stream"
    );
    let overheard = tokio::time::timeout(std::time::Duration::from_millis(500), spy.next()).await;
    assert!(
        !matches!(overheard, Ok(Some(_))),
        "A must not hear B's subjects: {overheard:?}"
    );
    assert!(
        a_js.get_stream(nats::stream_name(b)).await.is_err(),
        "A must not open B's stream"
    );
    let b_stream = a_js
        .get_stream_no_info(nats::stream_name(b))
        .await
        .expect("a handle, without asking the server");
    assert!(
        b_stream.get_raw_message(1).await.is_err(),
        "A must not read B's stream's messages"
    );
    let a_stream = a_js
        .get_stream_no_info(nats::stream_name(a))
        .await
        .expect("a handle");
    let own = a_stream
        .get_raw_message(1)
        .await
        .expect("A reads its own stream");
    assert_eq!(&own.payload[..], b"alpha");
    let consumer = a_stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await;
    assert!(
        consumer.is_err(),
        "A may not make consumers (their deliveries go wherever they say)"
    );

    // ClickHouse: A's user reads its own database only.
    let ch = stores.clickhouse.as_ref().expect("ClickHouse");
    ch.query(&format!(
        "INSERT INTO {}.usage_events (event_id, at, day, agent_id, model, tokens_in, tokens_out, cost_micros) \
         VALUES ('e1', now(), today(), 'agent', 'gpt-4o', 10, 20, 30)",
        clickhouse::database(b)
    ))
    .await
    .expect("the platform writes B's database");
    let a_password = test_store_secrets().org_password("clickhouse", a);
    let a_user = org_user(a);
    let own = ch
        .query_as(
            &a_user,
            &a_password,
            &format!(
                "SELECT count() FROM {}.usage_events",
                clickhouse::database(a)
            ),
        )
        .await
        .expect("A reads its own database");
    assert_eq!(own.trim(), "0");
    let refused = ch
        .query_as(
            &a_user,
            &a_password,
            &format!(
                "SELECT count() FROM {}.usage_events",
                clickhouse::database(b)
            ),
        )
        .await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("Access denied")),
        "A's ClickHouse user must not read B's database: {refused:?}"
    );
    let databases = ch
        .query_as(&a_user, &a_password, "SELECT name FROM system.databases")
        .await
        .expect("A lists what it may see");
    assert!(
        !databases.contains(&clickhouse::database(b)),
        "A must not even see B's database: {databases}"
    );
    let written = ch
        .query_as(
            &a_user,
            &a_password,
            &format!(
                "INSERT INTO {}.usage_events (event_id) VALUES ('forged')",
                clickhouse::database(a)
            ),
        )
        .await;
    assert!(
        written.is_err(),
        "A's user reads; only the platform writes: {written:?}"
    );
    let fetched = ch
        .query_as(
            &a_user,
            &a_password,
            "SELECT * FROM url('http://127.0.0.1:9/', CSV, 'a String')",
        )
        .await;
    assert!(
        fetched.is_err(),
        "A's user may not reach addresses from the server: {fetched:?}"
    );

    // Deleting B removes its user, key space, stream and database; A's stay.
    let deleted = app
        .call(
            "orgs/delete_org",
            Some(&root),
            &[("org_id", &b.to_string())],
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_resources(stores, b, false, "of the deleted org").await;
    assert_resources(stores, a, true, "of the org that stays").await;
    let gone: Option<String> = redis::cmd("GET")
        .arg(&b_key)
        .query_async(&mut platform)
        .await
        .expect("read");
    assert_eq!(gone, None, "the deleted org's keys go with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_rate_limits_per_org_and_per_agent_hold_across_two_nodes() {
    let app = TestApp::with_stores().await;
    app.user("root@limits.test", true, None).await;
    let root = app.sign_in("root@limits.test").await;
    let org = app.create_org(&root, "Limited Co", "limited.example").await;
    let other = app
        .create_org(&root, "Unlimited Co", "unlimited.example")
        .await;
    work_all(&app).await;
    let (_, first) = app.agent(&root, "Limited One", Some(org)).await;
    let (_, second) = app.agent(&root, "Limited Two", Some(org)).await;
    let (_, elsewhere) = app.agent(&root, "Elsewhere", Some(other)).await;
    sqlx::query(
        "insert into plan (plan_name, api_requests_per_minute, agent_requests_per_minute)
         values ('tiny', 5, 3)",
    )
    .execute(&app.owner)
    .await
    .expect("a plan");
    sqlx::query(
        "insert into subscription (org_id, plan_name) values ($1, 'tiny')
         on conflict (org_id) do update set plan_name = 'tiny'",
    )
    .bind(org)
    .execute(&app.owner)
    .await
    .expect("on the plan");
    let node2 = app.second_node().await;
    let call = |key: &str, node: usize| {
        let request = server::testing::agent_request("GET", "/api/v1/agent", key, None, &[]);
        let router = if node == 1 {
            app.router.clone()
        } else {
            node2.clone()
        };
        let app = &app;
        async move { app.send_via(&router, request).await }
    };
    // The agent's 3 a minute, taken on both nodes: the 4th is refused on either.
    for (i, node) in [1, 2, 1].into_iter().enumerate() {
        let r = call(&first, node).await;
        assert_eq!(
            r.status,
            200,
            "request {} of the first agent: {}",
            i + 1,
            r.body
        );
    }
    for node in [2, 1] {
        let refused = call(&first, node).await;
        assert_eq!(
            refused.status, 429,
            "past the agent's limit on node {node}: {}",
            refused.body
        );
        let wait: u64 = refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(refused.body.contains("Too many"), "{}", refused.body);
    }
    // The org's 5 a minute (the refused calls counted too: 5 so far): the second agent, under
    // its own limit, is refused by the org's.
    let refused = call(&second, 2).await;
    assert_eq!(
        refused.status, 429,
        "past the org's limit: {}",
        refused.body
    );
    // Another org's agent is not touched by this org's count.
    for node in [1, 2] {
        let r = call(&elsewhere, node).await;
        assert_eq!(
            r.status, 200,
            "another org's agent on node {node}: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_limit_holds_across_two_nodes_and_a_success_resets_it() {
    let app = TestApp::with_stores().await;
    app.user("dana@limits.test", false, None).await;
    let node2 = app.second_node().await;
    let attempt = |password: &str, node: usize| {
        let request = server::testing::server_fn_request(
            "auth/sign_in",
            None,
            &[("email", "dana@limits.test"), ("password", password)],
            &[],
        );
        let router = if node == 1 {
            app.router.clone()
        } else {
            node2.clone()
        };
        let app = &app;
        async move { app.send_via(&router, request).await }
    };
    // Five failures (the email's allowance in tests), spread over both nodes: each node alone
    // has seen fewer than five, and still the sixth is refused on either.
    for node in [1, 2, 1, 2, 1] {
        let r = attempt("wrong password", node).await;
        assert_eq!(r.status, 400, "a failure on node {node}: {}", r.body);
    }
    for node in [2, 1] {
        let limited = attempt("wrong password", node).await;
        assert_eq!(limited.status, 429, "node {node}: {}", limited.body);
        let retry = limited.json()["RateLimited"]["retry_after_secs"]
            .as_u64()
            .expect("a wait");
        assert!(
            (1..=2).contains(&retry),
            "a backoff, not a lockout: {retry}"
        );
    }
    // After the backoff the owner signs in on the other node, and the count starts again.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let ok = attempt(server::testing::TEST_PASSWORD, 2).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let r = attempt("wrong password", 1).await;
    assert_eq!(r.status, 400, "a success forgets the failures: {}", r.body);
}

/// What PostgreSQL and ClickHouse hold of `org`'s usage: events and tokens.
async fn totals(app: &TestApp, org: Uuid) -> ((i64, i64), (i64, i64)) {
    let pg: (i64, i64) = sqlx::query_as(
        "select count(*), coalesce(sum(input_tokens + output_tokens), 0)::bigint
           from usage_event where org_id = $1",
    )
    .bind(org)
    .fetch_one(&app.owner)
    .await
    .expect("PostgreSQL totals");
    let ch = app
        .services
        .stores
        .clickhouse
        .as_ref()
        .expect("ClickHouse")
        .query(&format!(
            "SELECT count(), sum(tokens_in + tokens_out) FROM {}.usage_events FINAL",
            clickhouse::database(org)
        ))
        .await
        .map(|text| {
            let mut parts = text
                .split_whitespace()
                .map(|n| n.parse::<i64>().unwrap_or(-1));
            (parts.next().unwrap_or(-1), parts.next().unwrap_or(-1))
        })
        .unwrap_or((-1, -1));
    (pg, ch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_through_nats_is_billed_once_and_analysed_once_while_each_store_is_killed_and_restarted(
) {
    // Stores of this test's own: it kills them.
    let dir = server::testing::TempDir::new("store-faults");
    let secrets = test_store_secrets();
    let mut embedded = tokio::task::spawn_blocking({
        let (dir, secrets) = (dir.path().to_path_buf(), secrets.clone());
        move || server::stores::Embedded::start(&dir, Default::default(), &secrets)
    })
    .await
    .unwrap()
    .expect("the stores start");
    let stores = embedded.connect(&secrets).await.expect("connected");
    let app = TestApp::with_services(|s| s.stores = stores).await;
    app::stores::usage::spawn_consumer(app.services.clone(), std::time::Duration::from_millis(300));
    app.user("root@faults.test", true, None).await;
    let root = app.sign_in("root@faults.test").await;
    let org = app.create_org(&root, "Faulty Co", "faulty.example").await;
    work_all(&app).await;
    let price = app
        .call(
            "billing/save_model_price",
            Some(&root),
            &[
                ("model", "gpt-4o"),
                (
                    "effective_from",
                    &chrono::Utc::now().format("%Y-%m-01").to_string(),
                ),
                ("input_price", "2.50"),
                ("output_price", "10.00"),
            ],
        )
        .await;
    assert_eq!(price.status, 200, "{}", price.body);
    let (_, key) = app.agent(&root, "Metered", Some(org)).await;

    // Every batch the API accepted, by its first key; a refused one is sent again later.
    let mut sent = Sent::default();
    let mut next = 0u32;
    let batch = |from: u32| {
        let events: Vec<serde_json::Value> = (from..from + 5)
            .map(|n| {
                serde_json::json!({
                    "model": "gpt-4o", "input_tokens": 100 + n, "output_tokens": 10,
                    "timestamp": chrono::Utc::now().to_rfc3339(),
                    "idempotency_key": format!("event-{n}"),
                })
            })
            .collect();
        serde_json::json!({ "events": events })
    };
    let tokens_of = |from: u32| (from..from + 5).map(|n| 110 + n as i64).sum::<i64>();
    let send = |from: u32| {
        let body = batch(from);
        let (app, key) = (&app, key.clone());
        async move {
            app.agent_call("POST", "/api/v1/usage", &key, Some(body), &[])
                .await
        }
    };

    // All up.
    for _ in 0..3 {
        sent.accept(send(next).await, tokens_of(next));
        next += 5;
    }
    // ClickHouse down: the API still takes usage, and PostgreSQL bills it.
    embedded.kill("clickhouse").expect("killed");
    for _ in 0..3 {
        sent.accept(send(next).await, tokens_of(next));
        next += 5;
    }
    let billed_while_down =
        wait_for(|| async { totals(&app, org).await.0 == (sent.events, sent.tokens) }).await;
    assert!(
        billed_while_down,
        "billed while ClickHouse is down: {:?}",
        totals(&app, org).await
    );
    tokio::task::block_in_place(|| embedded.restart("clickhouse", &secrets)).expect("restarted");
    // NATS down: the API answers 503 and records nothing; the same batch later counts once.
    embedded.kill("nats").expect("killed");
    let refused = send(next).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        refused.body.contains("same idempotency keys"),
        "{}",
        refused.body
    );
    tokio::task::block_in_place(|| embedded.restart("nats", &secrets)).expect("restarted");
    let mut again = send(next).await;
    for _ in 0..50 {
        if again.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        again = send(next).await;
    }
    sent.accept(again, tokens_of(next));
    // The same batch once more (a client's retry): nothing new.
    let repeat = send(next).await;
    assert_eq!(repeat.status, 200, "{}", repeat.body);
    assert_eq!(repeat.json()["accepted"], 0, "{}", repeat.body);
    next += 5;
    // Redis down: rate limits are not enforced, usage goes on.
    embedded.kill("redis").expect("killed");
    sent.accept(send(next).await, tokens_of(next));
    next += 5;
    tokio::task::block_in_place(|| embedded.restart("redis", &secrets)).expect("restarted");
    sent.accept(send(next).await, tokens_of(next));

    // A message on the usage subject that the agent API did not sign is not billed.
    let nats = app.services.stores.nats.as_ref().expect("NATS");
    nats.jetstream()
        .publish(
            format!("org.{}.usage", org.simple()),
            serde_json::json!({
                "agent": Uuid::new_v4(),
                "event": {"key": "forged", "model": "gpt-4o", "input": 1000000, "output": 0,
                          "at": chrono::Utc::now()},
                "signature": "0".repeat(32),
            })
            .to_string()
            .into(),
        )
        .await
        .expect("published")
        .await
        .expect("stored");
    let agree = wait_for(|| async {
        let (pg, ch) = totals(&app, org).await;
        pg == (sent.events, sent.tokens) && ch == pg
    })
    .await;
    let (pg, ch) = totals(&app, org).await;
    assert!(
        agree,
        "sent {} events ({} tokens); PostgreSQL {pg:?}; ClickHouse {ch:?}",
        sent.events, sent.tokens
    );
    // The Analytics tab reads the same totals from ClickHouse.
    let analytics = app
        .call(
            "analytics/org_analytics",
            Some(&root),
            &[("org_id", &org.to_string())],
        )
        .await;
    assert_eq!(analytics.status, 200, "{}", analytics.body);
    let days = analytics.json()["days"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(days.len(), 30, "the last 30 days by default");
    let charted: i64 = days.iter().map(|d| d["tokens"].as_i64().unwrap_or(0)).sum();
    assert_eq!(charted, sent.tokens, "{}", analytics.body);
    assert_eq!(
        analytics.json()["agents"][0]["label"],
        "Metered",
        "{}",
        analytics.body
    );
    let bad = app
        .call(
            "analytics/org_analytics",
            Some(&root),
            &[("org_id", &org.to_string()), ("from", "2026-13-01'; DROP")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("from"), "{}", bad.body);
    tokio::task::spawn_blocking(move || embedded.stop())
        .await
        .unwrap()
        .expect("stopped");
}

/// The usage the API accepted.
#[derive(Default)]
struct Sent {
    events: i64,
    tokens: i64,
}

impl Sent {
    fn accept(&mut self, r: server::testing::TestResponse, tokens: i64) {
        assert_eq!(r.status, 200, "{}", r.body);
        self.events += 5;
        self.tokens += tokens;
    }
}

/// Whether `check` holds within 30 s.
async fn wait_for<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_orgs_are_all_provisioned_their_streams_reserving_nothing_up_front() {
    // The embedded NATS has 10 GB of file storage: streams that reserved their plan's bytes
    // (1 GiB each without a plan) ran out after about ten orgs.
    let app = TestApp::with_stores().await;
    app.user("root@many.test", true, None).await;
    let root = app.sign_in("root@many.test").await;
    let mut orgs = Vec::new();
    for n in 0..14 {
        orgs.push(
            app.create_org(&root, &format!("Many {n}"), &format!("many-{n}.example"))
                .await,
        );
    }
    work_all(&app).await;
    let nats = app.services.stores.nats.as_ref().expect("NATS");
    for org in orgs {
        let mut stream = nats
            .jetstream()
            .get_stream(nats::stream_name(org))
            .await
            .expect("a stream");
        let config = stream.info().await.expect("its info").config.clone();
        assert_eq!(config.max_bytes, -1, "no bytes reserved");
        assert_eq!(config.max_messages, nats::DEFAULT_STREAM_MESSAGES);
    }
}
