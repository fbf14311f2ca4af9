//! Product installs survive the crashes an operator meets, with the real `server` binary on its
//! embedded PostgreSQL: the server killed (SIGKILL) after k of n steps and started again, and
//! PostgreSQL stopped mid-run and started again. Each time the run resumes at its first step
//! not done and finishes, and a check compares the org's schema and the artifact rows with the
//! plan: every artifact exactly once, nothing half-made.
//!
//! A step is held mid-run the way production meets it: another session holds a lock the step
//! needs (the step waits up to its lock timeout), and the crash comes while it waits.
//!
//! Then a release: CRM v2 in `TENANTRY_CATALOG_DIR`, and `server migrate` upgrades the org's
//! schema and says so.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use sqlx::{postgres::PgPoolOptions, ConnectOptions, PgConnection, PgPool};
use uuid::Uuid;

use crate::cli::{
    create_superadmin, http_post_as, run_to_exit, server_cmd, start_leftover_postmaster,
    superuser_options, wait_with_timeout, Running,
};

const PASSWORD: &str = "a long enough password";

/// The session cookie a sign-in answer sets.
fn session_cookie(response: &str) -> String {
    response
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("set-cookie: {}=", app::auth::token::COOKIE))
                .then(|| {
                    l["set-cookie: ".len()..]
                        .split(';')
                        .next()
                        .unwrap()
                        .to_string()
                })
        })
        .unwrap_or_else(|| panic!("no session cookie in {response}"))
}

/// The JSON body of a server function's answer (a string: an id).
fn answer_id(response: &str) -> Uuid {
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    serde_json::from_str::<String>(body.trim())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {response}"))
}

fn post(port: u16, path: &str, body: &str, cookie: &str) -> String {
    let (code, response) = http_post_as(port, path, body, Some(cookie)).expect("an answer");
    assert_eq!(code, 200, "{path}: {response}");
    response
}

/// (status, steps done) of the run, read as the superuser.
async fn progress(db: &PgPool, run: Uuid) -> (String, i32) {
    sqlx::query_as("select status, done from product_run where run_id = $1")
        .bind(run)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Waits for the run to reach `done` steps, still running (its next step is held).
async fn wait_for_step(db: &PgPool, run: Uuid, done: i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, at) = progress(db, run).await;
        assert!(
            status == "pending" || status == "running",
            "the run is {status} while a step was held"
        );
        if at == done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the run stayed at {at} of its steps"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the run to succeed; the server's log if it does not.
async fn wait_for_success(db: &PgPool, run: Uuid, server: &Running) {
    // A dead worker's lease (15 s) has to run out before another takes the run.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, _) = progress(db, run).await;
        if status == "succeeded" {
            return;
        }
        assert!(
            status != "failed" && Instant::now() < deadline,
            "the run is {status}:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A session that holds `table` locked until it is dropped or its server goes away.
async fn hold(cluster: &Path, table: &str) -> PgConnection {
    let mut conn = superuser_options(cluster).connect().await.unwrap();
    sqlx::raw_sql(&format!(
        "begin; lock table {table} in access exclusive mode"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn
}

async fn superuser_pool(cluster: &Path) -> PgPool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match PgPoolOptions::new()
            .max_connections(2)
            .connect_with(superuser_options(cluster))
            .await
        {
            Ok(pool) => return pool,
            Err(err) => assert!(Instant::now() < deadline, "{err}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_exactly(db: &PgPool, org: Uuid, product: &str) {
    server::testing::assert_installed_exactly(db, org, product).await;
    // And the run's steps: each done once, none pending or failed.
    let steps: Vec<String> = sqlx::query_scalar(
        "select s.status from product_step s join product_run r using (org_id, run_id)
          where r.org_id = $1 and r.product = $2 order by s.seq",
    )
    .bind(org)
    .bind(product)
    .fetch_all(db)
    .await
    .unwrap();
    assert!(steps.iter().all(|s| s == "done"), "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_resume_after_the_server_is_killed_and_after_postgres_restarts_and_migrate_upgrades_them(
) {
    let tmp = server::testing::TempDir::new("crash");
    let data = tmp.path().join("data");
    let cluster = data.join("pg");
    let created = create_superadmin(&data, "root@crash.test", PASSWORD);
    assert!(created.status.success(), "{created:?}");
    let server = Running::start(&data);
    let (_, signed_in) = http_post_as(
        server.port,
        "/api/auth/sign_in",
        &format!(
            "email=root%40crash.test&password={}",
            PASSWORD.replace(' ', "+")
        ),
        None,
    )
    .unwrap();
    let cookie = session_cookie(&signed_in);
    let org = answer_id(&post(
        server.port,
        "/api/orgs/create_org",
        "org%5Bname%5D=Crash+Co&org%5Bdomain%5D=crash.example&org%5Bproduct%5D=crm&org%5Bstatus%5D=active",
        &cookie,
    ));
    let db = superuser_pool(&cluster).await;

    // 1. CRM's fifth step (a skill) waits for a lock; the server is killed after 4 of 8 steps.
    let held = hold(&cluster, "org_skill").await;
    let run = answer_id(&post(
        server.port,
        "/api/products/install",
        &format!("org_id={org}&product=crm"),
        &cookie,
    ));
    wait_for_step(&db, run, 4).await;
    server.kill_hard();
    drop(held);
    db.close().await;
    // Started again: the run resumes at its fifth step once the dead worker's lease runs out.
    let server = Running::start(&data);
    let db = superuser_pool(&cluster).await;
    wait_for_success(&db, run, &server).await;
    assert_exactly(&db, org, "crm").await;

    // 2. Aafya's third step (a guardrail policy) waits; PostgreSQL stops (immediate shutdown,
    // as a crash or an operator's restart does) and starts again.
    let held = hold(&cluster, "guardrail_policy").await;
    let run = answer_id(&post(
        server.port,
        "/api/products/install",
        &format!("org_id={org}&product=aafya"),
        &cookie,
    ));
    wait_for_step(&db, run, 2).await;
    let postmaster: i32 = std::fs::read_to_string(cluster.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    db.close().await;
    // Stopped while the step still waits: the lock goes with the server, not before it.
    kill(Pid::from_raw(postmaster), Signal::SIGQUIT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while kill(Pid::from_raw(postmaster), None).is_ok() {
        assert!(Instant::now() < deadline, "PostgreSQL did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    let mut restarted = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || start_leftover_postmaster(&cluster)
    })
    .await
    .unwrap();
    let db = superuser_pool(&cluster).await;
    wait_for_success(&db, run, &server).await;
    assert_exactly(&db, org, "aafya").await;
    assert_exactly(&db, org, "crm").await;
    db.close().await;

    let (status, output) = server.signal_group(Signal::SIGINT);
    assert!(status.success(), "{output}");
    // The server stops the PostgreSQL it finds in its directory; the one this test started
    // goes with it (or is stopped here).
    let _ = kill(Pid::from_raw(restarted.id() as i32), Signal::SIGINT);
    wait_with_timeout(&mut restarted, Duration::from_secs(30));

    // 3. The release: CRM v2 as a catalog file. `server migrate` upgrades the org, one line per
    // org schema; a second run has nothing to do.
    let catalog = tmp.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let v2 = server::testing::crm_v2();
    std::fs::write(
        catalog.join("crm.json"),
        serde_json::to_string_pretty(&v2).unwrap(),
    )
    .unwrap();
    let migrate = || {
        let output = run_to_exit(
            server_cmd(&data)
                .env("TENANTRY_CATALOG_DIR", &catalog)
                .arg("migrate"),
        );
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let first = migrate();
    assert!(
        first.contains(&format!(
            "upgraded: crm v1 -> v2 in org schema org_{}",
            org.simple()
        )),
        "{first}"
    );
    assert!(
        first.contains("Org schemas upgraded: 1 of 1 behind the catalog."),
        "{first}"
    );
    assert!(
        migrate().contains("Org schemas upgraded: 0 of 0 behind the catalog."),
        "nothing left to upgrade"
    );
    let server = Running::start_with(
        &data,
        &[("TENANTRY_CATALOG_DIR", catalog.to_str().unwrap())],
    );
    let db = superuser_pool(&cluster).await;
    let drift = server::testing::product_drift(&db, org, &v2).await;
    assert!(drift.is_empty(), "after migrate: {drift:#?}");
    db.close().await;
    let (status, output) = server.signal_group(Signal::SIGINT);
    assert!(status.success(), "{output}");
}
