//! Products: install and uninstall as runs of artifact steps, through the endpoints and the
//! engine's worker, against a real PostgreSQL: exactly-once after a worker dies mid-run, one
//! operation per product at a time, a failing step that is retried or rolled back, and the
//! per-org schema roles that keep one org's scope out of another's product tables.

use serde_json::Value;
use server::testing::World;
use uuid::Uuid;

/// CRM version 3: its contacts table drops the `phone` column, which an upgrade must refuse.
pub(crate) fn crm_v3_without_phone() -> app::products::catalog::Product {
    let mut v3 = app::products::catalog::Catalog::builtin()
        .unwrap()
        .get("crm")
        .unwrap()
        .clone();
    v3.version = 3;
    if let app::products::catalog::Artifact::Entity(e) = &mut v3.artifacts[1] {
        e.columns.retain(|c| c.name != "phone");
    }
    v3
}

async fn world() -> World {
    World::build()
        .org("Alpha", &[("alice@alpha.test", "owner")])
        .org("Beta", &[("bob@beta.test", "owner")])
        .await
}

async fn install(
    w: &World,
    token: &str,
    org: Uuid,
    product: &str,
) -> server::testing::TestResponse {
    w.app
        .call(
            "products/install",
            Some(token),
            &[("org_id", &org.to_string()), ("product", product)],
        )
        .await
}

async fn uninstall(
    w: &World,
    token: &str,
    org: Uuid,
    product: &str,
) -> server::testing::TestResponse {
    w.app
        .call(
            "products/uninstall",
            Some(token),
            &[("org_id", &org.to_string()), ("product", product)],
        )
        .await
}

/// Calls `endpoint` on the run `run_id` of `org`, as the person whose token this is.
async fn on_run(
    w: &World,
    token: &str,
    endpoint: &str,
    org: Uuid,
    run_id: &str,
) -> server::testing::TestResponse {
    w.app
        .call(
            endpoint,
            Some(token),
            &[("org_id", &org.to_string()), ("run_id", run_id)],
        )
        .await
}

/// Works every run there is to its end, as one worker.
async fn work_all(w: &World) -> Vec<app::products::engine::Outcome> {
    let worker = Uuid::new_v4();
    let mut outcomes = Vec::new();
    while let Some((_, _, outcome)) =
        app::products::engine::work_once(&w.app.services, worker, None)
            .await
            .expect("the worker works")
    {
        outcomes.push(outcome);
    }
    outcomes
}

async fn products_of(w: &World, token: &str, org: Uuid) -> Value {
    let r = w
        .app
        .call(
            "products/org_products",
            Some(token),
            &[("org_id", &org.to_string())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn row<'a>(list: &'a Value, product: &str) -> &'a Value {
    list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product"] == product)
        .unwrap()
}

/// The org's product tables, as the database has them.
async fn tables(w: &World, org: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "select table_name::text from information_schema.tables
          where table_schema = $1 order by 1",
    )
    .bind(format!("org_{}", org.simple()))
    .fetch_all(&w.app.owner)
    .await
    .unwrap()
}

/// The Organizations table's row of the org named `name`, as the superadmin sees it.
async fn org_row(w: &World, name: &str) -> Value {
    let orgs = w
        .app
        .call("orgs/list_orgs", Some(&w.root), &[])
        .await
        .json();
    orgs["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
        .clone()
}

/// Compares the org with the plan of the catalog's `product`: every artifact made exactly once
/// and recorded once, nothing half-made.
async fn assert_installed_exactly(w: &World, org: Uuid, product: &str) {
    server::testing::assert_installed_exactly(&w.app.owner, org, product).await;
}

#[tokio::test]
async fn crm_installs_step_by_step_uninstalls_exactly_and_installs_again() {
    let w = world().await;
    let alpha = w.org("Alpha");
    let r = install(&w, w.token("alice"), alpha, "crm").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The plan is saved before anything runs.
    let before = products_of(&w, w.token("alice"), alpha).await;
    let run = &row(&before, "crm")["run"];
    assert_eq!(run["status"], "pending");
    assert_eq!(run["total"], 8);
    assert_eq!(run["steps"].as_array().unwrap().len(), 8);

    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    let after = products_of(&w, w.token("alice"), alpha).await;
    let crm = row(&after, "crm");
    assert_eq!(crm["installed"], 1);
    assert_eq!(crm["run"]["status"], "succeeded");
    assert_eq!(crm["run"]["done"], 8);
    assert!(crm["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "done" && s["duration_ms"].is_number()));
    assert_installed_exactly(&w, alpha, "crm").await;
    // The Organizations table counts it.
    let listed = org_row(&w, "Alpha").await;
    assert_eq!(listed["installed_products"], 1);

    // Installed once: a second install is refused, saying so.
    let again = install(&w, w.token("alice"), alpha, "crm").await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again
        .body
        .contains("installed in this organization already"));

    // Rows in a product table, then the uninstall preview counts them.
    sqlx::query(&format!(
        "insert into org_{}.company (name) values ('Acme'), ('Globex')",
        alpha.simple()
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    let preview = w
        .app
        .call(
            "products/uninstall_preview",
            Some(w.token("alice")),
            &[("org_id", &alpha.to_string()), ("product", "crm")],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let artifacts = preview.json()["artifacts"].as_array().unwrap().clone();
    assert_eq!(artifacts.len(), 8);
    assert!(
        artifacts.iter().any(|a| a[1] == "company" && a[2] == 2),
        "{artifacts:?}"
    );

    let r = uninstall(&w, w.token("alice"), alpha, "crm").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert!(tables(&w, alpha).await.is_empty(), "every table goes");
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from product_artifact where org_id = $1)
              + (select count(*) from org_skill where org_id = $1)
              + (select count(*) from org_config where org_id = $1)
              + (select count(*) from knowledge_entry where org_id = $1)
              + (select count(*) from org_product where org_id = $1)",
    )
    .bind(alpha)
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(left, 0, "nothing is left behind");

    // Install after uninstall always works.
    assert_eq!(
        install(&w, w.token("alice"), alpha, "crm").await.status,
        200
    );
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert_installed_exactly(&w, alpha, "crm").await;
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1 and action like 'product.%'",
    )
    .bind(alpha)
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert!(
        audited >= 6,
        "installs and the uninstall are audited ({audited})"
    );
}

#[tokio::test]
async fn a_worker_that_dies_mid_run_is_taken_over_and_every_artifact_exists_once() {
    let w = world().await;
    let alpha = w.org("Alpha");
    assert_eq!(
        install(&w, w.token("alice"), alpha, "shop_assist")
            .await
            .status,
        200
    );
    // The first worker does three steps and dies (its lease is left to run out).
    let dead = Uuid::new_v4();
    let (_, _, outcome) = app::products::engine::work_once(&w.app.services, dead, Some(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, app::products::engine::Outcome::Stopped);
    let mid = products_of(&w, w.token("alice"), alpha).await;
    assert_eq!(row(&mid, "shop_assist")["run"]["done"], 3);
    assert_eq!(row(&mid, "shop_assist")["run"]["status"], "running");
    // While its lease lasts, nobody else takes the run.
    let other = Uuid::new_v4();
    assert!(
        app::products::engine::work_once(&w.app.services, other, None)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(w.app.services.products.lease + std::time::Duration::from_millis(300)).await;
    let late = products_of(&w, w.token("alice"), alpha).await;
    assert_eq!(
        late["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["product"] == "shop_assist")
            .unwrap()["run"]["live"],
        false,
        "a running run without a live lease reads as interrupted"
    );
    let (_, _, outcome) = app::products::engine::work_once(&w.app.services, other, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, app::products::engine::Outcome::Succeeded);
    assert_installed_exactly(&w, alpha, "shop_assist").await;
    // The product's agent was made once, in the org.
    let agents: i64 = sqlx::query_scalar("select count(*) from agent where org_id = $1")
        .bind(alpha)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(agents, 1);
}

#[tokio::test]
async fn one_operation_per_product_at_a_time_and_twenty_orgs_at_once() {
    let w = world().await;
    let alpha = w.org("Alpha");
    let (a, b) = tokio::join!(
        install(&w, w.token("alice"), alpha, "done"),
        install(&w, w.token("alice"), alpha, "done")
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
    let refused = if a.status == 409 { a } else { b };
    assert!(
        refused.body.contains("being installed or changed"),
        "{}",
        refused.body
    );

    let mut orgs = Vec::new();
    for n in 0..20 {
        orgs.push(
            w.app
                .create_org(&w.root, &format!("Fleet {n}"), &format!("fleet{n}.example"))
                .await,
        );
    }
    for org in &orgs {
        assert_eq!(install(&w, &w.root, *org, "eloquent").await.status, 200);
    }
    // Two workers share the queue.
    let (x, y) = tokio::join!(work_all(&w), work_all(&w));
    assert_eq!(x.len() + y.len(), 21);
    for org in orgs {
        assert_installed_exactly(&w, org, "eloquent").await;
    }
}

#[tokio::test]
async fn a_failing_step_is_retried_after_the_fix_or_rolled_back_to_nothing() {
    let w = world().await;
    let (alpha, beta) = (w.org("Alpha"), w.org("Beta"));
    // A table someone made by hand where the product wants one of its own.
    for org in [alpha, beta] {
        sqlx::query(&format!("create table org_{}.deal (x int)", org.simple()))
            .execute(&w.app.owner)
            .await
            .unwrap();
    }
    assert_eq!(
        install(&w, w.token("alice"), alpha, "crm").await.status,
        200
    );
    let outcomes = work_all(&w).await;
    assert!(
        matches!(&outcomes[..], [app::products::engine::Outcome::Failed(e)] if e.contains("entity deal")),
        "{outcomes:?}"
    );
    let failed = products_of(&w, w.token("alice"), alpha).await;
    let run = &row(&failed, "crm")["run"];
    assert_eq!(run["status"], "failed");
    assert_eq!(run["done"], 2);
    let step = &run["steps"][2];
    assert_eq!(step["status"], "failed");
    assert!(step["error"]
        .as_str()
        .unwrap()
        .contains("already in the organization's schema"));
    let run_id = run["run_id"].as_str().unwrap().to_string();
    // The fix, then Retry resumes at the failed step.
    sqlx::query(&format!("drop table org_{}.deal", alpha.simple()))
        .execute(&w.app.owner)
        .await
        .unwrap();
    let retried = on_run(&w, w.token("alice"), "products/retry_run", alpha, &run_id).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert_installed_exactly(&w, alpha, "crm").await;

    // Beta rolls back instead: the org is as before the install.
    assert_eq!(install(&w, w.token("bob"), beta, "crm").await.status, 200);
    work_all(&w).await;
    let failed = products_of(&w, w.token("bob"), beta).await;
    let run_id = row(&failed, "crm")["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rolled = on_run(&w, w.token("bob"), "products/roll_back_run", beta, &run_id).await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert_eq!(
        tables(&w, beta).await,
        ["deal"],
        "only the hand-made table is left"
    );
    let ledger: i64 = sqlx::query_scalar("select count(*) from product_artifact where org_id = $1")
        .bind(beta)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(ledger, 0);
    let after = products_of(&w, w.token("bob"), beta).await;
    assert_eq!(row(&after, "crm")["installed"], Value::Null);
    // A second rollback of the same run is refused, saying why.
    let again = on_run(&w, w.token("bob"), "products/roll_back_run", beta, &run_id).await;
    assert_eq!(again.status, 409, "{}", again.body);
}

#[tokio::test]
async fn postgres_keeps_one_orgs_scope_out_of_another_orgs_product_tables() {
    let w = world().await;
    let (alpha, beta) = (w.org("Alpha"), w.org("Beta"));
    assert_eq!(
        install(&w, w.token("alice"), alpha, "crm").await.status,
        200
    );
    work_all(&w).await;
    let runtime = w.app.db.runtime_pool().await;
    let mut tx = runtime.begin().await.unwrap();
    // Org B's tenant scope, as its own schema role.
    sqlx::query("select set_config('app.org_id', $1, true)")
        .bind(beta.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("select platform.enter_org_schema()")
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query(&format!(
        "select count(*) from org_{}.company",
        alpha.simple()
    ))
    .execute(&mut *tx)
    .await
    .expect_err("org B's role cannot read org A's table");
    assert_eq!(
        refused
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("42501"),
        "{refused}"
    );
    tx.rollback().await.unwrap();
    // Nor can the runtime role without a scope: it holds no org role's privileges itself.
    let refused = sqlx::query(&format!(
        "select count(*) from org_{}.company",
        alpha.simple()
    ))
    .execute(&runtime)
    .await
    .expect_err("the runtime role alone cannot read an org's table");
    assert_eq!(
        refused
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("42501")
    );
    // A manager of org A may look but not install.
    let viewer = w.app.user("vera@alpha.test", false, None).await;
    w.app.add_member(alpha, viewer, "manager").await;
    let vera = w.app.sign_in("vera@alpha.test").await;
    assert_eq!(products_of(&w, &vera, alpha).await["can_manage"], false);
    assert_eq!(install(&w, &vera, alpha, "done").await.status, 403);
    // Bob (Beta's owner) cannot reach Alpha's products at all.
    let r = w
        .app
        .call(
            "products/org_products",
            Some(w.token("bob")),
            &[("org_id", &alpha.to_string())],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn an_agent_past_the_plans_allowance_fails_its_step_naming_the_limit() {
    let w = world().await;
    let alpha = w.org("Alpha");
    // A plan with room for no agent.
    sqlx::raw_sql(&format!(
        "insert into plan (plan_name, max_agents) values ('no_agents', 0);
         insert into subscription (org_id, plan_name, status) values ('{alpha}', 'no_agents', 'active')"
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(
        install(&w, w.token("alice"), alpha, "shop_assist")
            .await
            .status,
        200
    );
    let outcomes = work_all(&w).await;
    let [app::products::engine::Outcome::Failed(error)] = &outcomes[..] else {
        panic!("{outcomes:?}");
    };
    assert!(error.contains("agent Shopping Assistant"), "{error}");
    assert!(error.contains("allows 0 agent(s)"), "{error}");
    // The steps before it are done and stay; nothing of the agent step is left.
    let after = products_of(&w, w.token("alice"), alpha).await;
    let run = &row(&after, "shop_assist")["run"];
    assert_eq!(run["status"], "failed");
    assert_eq!(run["done"], 3);
    let agents: i64 = sqlx::query_scalar("select count(*) from agent where org_id = $1")
        .bind(alpha)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(agents, 0);
    // Roll back: the org is as before.
    let run_id = run["run_id"].as_str().unwrap();
    let rolled = on_run(
        &w,
        w.token("alice"),
        "products/roll_back_run",
        alpha,
        run_id,
    )
    .await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert!(tables(&w, alpha).await.is_empty());
}

/// The JSON of a progress event.
fn event_run(frame: &server::testing::SseFrame) -> (i64, Value) {
    match frame {
        server::testing::SseFrame::Event {
            id: Some(id),
            event: None,
            data,
        } => (
            id.parse().expect("a numeric id"),
            serde_json::from_str(data).expect("a run as JSON"),
        ),
        other => panic!("not a progress event: {other:?}"),
    }
}

#[tokio::test]
async fn progress_streams_to_every_watcher_resume_after_the_last_event_beat_and_end_with_the_run() {
    let w = world().await;
    app::products::engine::spawn_progress_listener(w.app.services.clone());
    let alpha = w.org("Alpha");
    let r = install(&w, w.token("alice"), alpha, "crm").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let run = r.json().as_str().unwrap().to_string();
    let address = app::products::progress_address(&alpha.to_string(), &run);
    let wait = std::time::Duration::from_secs(10);

    // Two pages watch. Each is sent the run as it is, then a heartbeat while nothing changes.
    let (status, first) = w.app.events(&address, w.token("alice"), None).await;
    assert_eq!(status, 200);
    let (_, second) = w.app.events(&address, w.token("alice"), None).await;
    let (mut first, mut second) = (first.unwrap(), second.unwrap());
    let (pending_id, pending) = event_run(&first.next(wait).await.unwrap());
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["steps"].as_array().unwrap().len(), 8);
    assert_eq!(
        first.next(wait).await,
        Some(server::testing::SseFrame::Comment("heartbeat".to_string()))
    );
    event_run(&second.next_event(wait).await.unwrap());

    // A worker does two steps (and stops, its lease still live): both pages see each change,
    // in order.
    let worker = Uuid::new_v4();
    app::products::engine::work_once(&w.app.services, worker, Some(2))
        .await
        .unwrap()
        .unwrap();
    for stream in [&mut first, &mut second] {
        let mut last = pending_id;
        loop {
            let (id, run) = event_run(&stream.next_event(wait).await.unwrap());
            assert!(id > last, "event ids only grow: {id} after {last}");
            last = id;
            if run["done"] == 2 {
                assert_eq!(run["status"], "running");
                assert_eq!(run["steps"][1]["status"], "done");
                break;
            }
        }
    }
    // A page that lost its connection reconnects with the last id it saw: nothing is sent again
    // until something changes; with an older id it is sent the run as it is now.
    let current = products_of(&w, w.token("alice"), alpha).await;
    let revision = row(&current, "crm")["run"]["revision"].as_i64().unwrap();
    drop(first);
    let (_, resumed) = w
        .app
        .events(&address, w.token("alice"), Some(&revision.to_string()))
        .await;
    let mut resumed = resumed.unwrap();
    assert_eq!(
        resumed.next(wait).await,
        Some(server::testing::SseFrame::Comment("heartbeat".to_string())),
        "nothing new since the last event"
    );
    let (_, older) = w
        .app
        .events(&address, w.token("alice"), Some(&pending_id.to_string()))
        .await;
    let (id, now) = event_run(&older.unwrap().next(wait).await.unwrap());
    assert_eq!((id, now["done"].as_i64()), (revision, Some(2)));

    // Another worker finishes the run once the first one's lease runs out; the stream sends the
    // end and closes.
    tokio::time::sleep(w.app.services.products.lease + std::time::Duration::from_millis(300)).await;
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    let mut last_id = revision;
    let end = loop {
        match resumed.next_event(wait).await {
            Some(frame) => {
                let (id, run) = event_run(&frame);
                assert!(id >= last_id);
                last_id = id;
                if run["status"] == "succeeded" {
                    break run;
                }
            }
            None => panic!("the stream ended before the run did"),
        }
    };
    assert_eq!(end["done"], 8);
    assert_eq!(
        resumed.next_event(wait).await,
        None,
        "the stream ends with the run"
    );
    // A browser reconnecting after the end is told there is nothing more (204 stops it); a new
    // page is sent the end once.
    let (status, none) = w
        .app
        .events(&address, w.token("alice"), Some(&last_id.to_string()))
        .await;
    assert_eq!((status, none.is_none()), (204, true));
    let (_, fresh) = w.app.events(&address, w.token("alice"), None).await;
    let mut fresh = fresh.unwrap();
    assert_eq!(
        event_run(&fresh.next_event(wait).await.unwrap()).1["status"],
        "succeeded"
    );
    assert_eq!(fresh.next_event(wait).await, None);

    // Nobody else's: Beta's owner aiming at Alpha is refused; through Beta's own address the
    // run does not exist.
    let beta = w.org("Beta");
    let (status, _) = w.app.events(&address, w.token("bob"), None).await;
    assert!(matches!(status, 403 | 404), "{status}");
    let (status, _) = w
        .app
        .events(
            &app::products::progress_address(&beta.to_string(), &run),
            w.token("bob"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_new_version_upgrades_every_org_that_has_it_as_resumable_runs_and_keeps_the_rows() {
    let w = world().await;
    let (alpha, beta) = (w.org("Alpha"), w.org("Beta"));
    for (org, who) in [(alpha, "alice"), (beta, "bob")] {
        assert_eq!(install(&w, w.token(who), org, "crm").await.status, 200);
    }
    work_all(&w).await;
    sqlx::query(&format!(
        "insert into org_{}.contact (full_name, email) values ('Ada', 'ada@alpha.test')",
        alpha.simple()
    ))
    .execute(&w.app.owner)
    .await
    .unwrap();
    // Beta's admin has changed the pipeline's stages: an upgrade keeps that.
    sqlx::query(
        "update org_config set value = '[\"ours\"]' where org_id = $1 and key = 'crm.pipeline_stages'",
    )
    .bind(beta)
    .execute(&w.app.owner)
    .await
    .unwrap();

    // The release: CRM v2 in the catalog.
    let v2 = server::testing::crm_v2();
    let released = server::testing::released(&w.app.services, v2.clone());
    let planned = app::products::engine::plan_upgrades(&released)
        .await
        .unwrap();
    let mut orgs: Vec<Uuid> = planned.iter().map(|u| u.org).collect();
    orgs.sort();
    let mut expected = vec![alpha, beta];
    expected.sort();
    assert_eq!(orgs, expected);
    assert!(planned
        .iter()
        .all(|u| u.product == "crm" && (u.from, u.to) == (1, 2) && u.run.is_ok()));
    // The plan is only what changed: the new table, the altered one, the setting, the entry
    // that goes.
    let steps: Vec<(String, String, String)> = sqlx::query_as(
        "select op, kind, name from product_step where org_id = $1 and run_id = $2 order by seq",
    )
    .bind(alpha)
    .bind(
        planned
            .iter()
            .find(|u| u.org == alpha)
            .unwrap()
            .run
            .clone()
            .unwrap(),
    )
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    let steps: Vec<(&str, &str, &str)> = steps
        .iter()
        .map(|(o, k, n)| (o.as_str(), k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("alter", "entity", "contact"),
            ("create", "entity", "deal_note"),
            ("alter", "entity", "activity"),
            ("alter", "config", "crm.pipeline_stages"),
            ("remove", "knowledge", "crm-playbook"),
        ]
    );

    // A worker dies after one step; another takes over and finishes both orgs.
    let dead = Uuid::new_v4();
    app::products::engine::work_once(&released, dead, Some(1))
        .await
        .unwrap();
    tokio::time::sleep(w.app.services.products.lease + std::time::Duration::from_millis(300)).await;
    let outcomes = work_all(&w).await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| *o == app::products::engine::Outcome::Succeeded));
    for org in [alpha, beta] {
        let drift = server::testing::product_drift(&w.app.owner, org, &v2).await;
        assert!(drift.is_empty(), "{org}: {drift:#?}");
    }
    let kept: (String, Option<String>) = sqlx::query_as(&format!(
        "select full_name, linkedin_url from org_{}.contact",
        alpha.simple()
    ))
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(
        kept,
        ("Ada".to_string(), None),
        "the rows stay, the new column is empty"
    );
    let stages: Vec<Value> = sqlx::query_scalar(
        "select value from org_config where key = 'crm.pipeline_stages' and org_id = any($1)
          order by org_id = $2",
    )
    .bind(vec![alpha, beta])
    .bind(beta)
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(stages[0][2], "demo", "Alpha's stages are v2's");
    assert_eq!(
        stages[1],
        serde_json::json!(["ours"]),
        "Beta's own stages stay"
    );
    let shown = products_of(&w, w.token("alice"), alpha).await;
    assert_eq!(row(&shown, "crm")["installed"], 2);
    assert_eq!(row(&shown, "crm")["run"]["action"], "upgrade");
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1
            and action in ('product.upgrade_started', 'product.upgraded')",
    )
    .bind(alpha)
    .fetch_one(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(audited, 2, "the upgrade's start and end are audited");

    // Up to date: the check plans nothing.
    assert!(app::products::engine::plan_upgrades(&released)
        .await
        .unwrap()
        .is_empty());
    // Uninstalling v2 removes everything both versions made.
    let gone = uninstall(&w, w.token("alice"), alpha, "crm").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert_eq!(tables(&w, alpha).await, Vec::<String>::new());
    let left: i64 = sqlx::query_scalar("select count(*) from product_artifact where org_id = $1")
        .bind(alpha)
        .fetch_one(&w.app.owner)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn an_upgrade_that_would_drop_a_column_fails_saying_so_and_leaves_the_table() {
    let w = world().await;
    let alpha = w.org("Alpha");
    assert_eq!(
        install(&w, w.token("alice"), alpha, "crm").await.status,
        200
    );
    work_all(&w).await;
    let released = server::testing::released(&w.app.services, crm_v3_without_phone());
    app::products::engine::plan_upgrades(&released)
        .await
        .unwrap();
    let outcomes = work_all(&w).await;
    assert!(
        matches!(&outcomes[..], [app::products::engine::Outcome::Failed(e)]
            if e.contains("entity contact") && e.contains("\"phone\"") && e.contains("never drops a column")),
        "{outcomes:?}"
    );
    let drift = server::testing::product_drift(
        &w.app.owner,
        alpha,
        app::products::catalog::Catalog::builtin()
            .unwrap()
            .get("crm")
            .unwrap(),
    )
    .await;
    assert!(drift.is_empty(), "still v1, whole: {drift:#?}");

    // Such a version never succeeds: the admin stops the upgrade (a failed install is rolled
    // back instead), and the product is free again: uninstalled here.
    let run_id = row(&products_of(&w, w.token("alice"), alpha).await, "crm")["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stopped = on_run(
        &w,
        w.token("alice"),
        "products/stop_upgrade",
        alpha,
        &run_id,
    )
    .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let shown = products_of(&w, w.token("alice"), alpha).await;
    assert_eq!(row(&shown, "crm")["run"]["status"], "stopped");
    assert_eq!(row(&shown, "crm")["installed"], 1);
    let again = on_run(
        &w,
        w.token("alice"),
        "products/stop_upgrade",
        alpha,
        &run_id,
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    // A stopped upgrade is not planned again at the next start (it would only fail again).
    assert!(app::products::engine::plan_upgrades(&released)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        uninstall(&w, w.token("alice"), alpha, "crm").await.status,
        200
    );
    assert_eq!(
        work_all(&w).await,
        [app::products::engine::Outcome::Succeeded]
    );
    assert!(tables(&w, alpha).await.is_empty());
}

#[tokio::test]
async fn a_session_has_a_few_progress_streams_at_most() {
    let w = world().await;
    let alpha = w.org("Alpha");
    let run = install(&w, w.token("alice"), alpha, "crm").await.json();
    let address = app::products::progress_address(&alpha.to_string(), run.as_str().unwrap());
    let mut open = Vec::new();
    for _ in 0..app::products::events::STREAMS_PER_SESSION {
        let (status, stream) = w.app.events(&address, w.token("alice"), None).await;
        assert_eq!(status, 200);
        open.push(stream.unwrap());
    }
    let (status, _) = w.app.events(&address, w.token("alice"), None).await;
    assert_eq!(status, 429, "one stream too many");
    // Another session of another person is not held back; a closed stream frees its place.
    let (status, _) = w.app.events(&address, &w.root, None).await;
    assert_eq!(status, 200);
    open.pop();
    let (status, _) = w.app.events(&address, w.token("alice"), None).await;
    assert_eq!(status, 200);

    // A stream whose session signs out ends at its next read, saying it was refused.
    app::products::engine::spawn_progress_listener(w.app.services.clone());
    let leaving = w.app.sign_in("alice@alpha.test").await;
    let (_, stream) = w.app.events(&address, &leaving, None).await;
    let mut stream = stream.unwrap();
    let wait = std::time::Duration::from_secs(10);
    stream.next_event(wait).await.unwrap();
    assert_eq!(
        w.app
            .call("auth/sign_out", Some(&leaving), &[])
            .await
            .status,
        200
    );
    sqlx::query("update product_run set error = 'changed' where run_id = $1")
        .bind(run.as_str().unwrap().parse::<Uuid>().unwrap())
        .execute(&w.app.owner)
        .await
        .unwrap();
    match stream.next_event(wait).await {
        Some(server::testing::SseFrame::Event { event, .. }) => {
            assert_eq!(event.as_deref(), Some("refused"))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(stream.next_event(wait).await, None, "and the stream ends");

    // Hostile addresses are refused plainly: a NUL, a control character, a huge number, quotes.
    let alpha_id = alpha.to_string();
    for (org_id, run_id) in [
        (alpha_id.as_str(), "%00"),
        (alpha_id.as_str(), "%1b%5b31m"),
        (alpha_id.as_str(), "99999999999999999999999999"),
        ("%27%3b%20drop%20table%20product_run%3b--", "x"),
    ] {
        let (status, stream) = w
            .app
            .events(
                &format!("/api/events/product-runs/{org_id}/{run_id}"),
                w.token("alice"),
                None,
            )
            .await;
        assert!(
            (400..500).contains(&status) && stream.is_none(),
            "{org_id}/{run_id}: {status}"
        );
    }
}

#[tokio::test]
async fn an_org_made_from_a_template_gets_its_products_and_shows_the_template() {
    let w = world().await;
    let create = |name: &'static str, domain: &'static str, template: &'static str| {
        let root = w.root.clone();
        let app = &w.app;
        async move {
            app.call(
                "orgs/create_org",
                Some(&root),
                &[
                    ("org[name]", name),
                    ("org[domain]", domain),
                    ("org[product]", "shop_assist"),
                    ("org[status]", "active"),
                    ("org[template]", template),
                ],
            )
            .await
        }
    };
    // An unknown template is refused, naming the field; nothing is made.
    let bad = create("Nowhere Co", "nowhere.example", "nonsense").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("template") && bad.body.contains("Choose a template"),
        "{}",
        bad.body
    );
    let made = create("Shop Co", "shop.example", "retail").await;
    assert_eq!(made.status, 200, "{}", made.body);
    let org: Uuid = made.json().as_str().unwrap().parse().unwrap();
    // Its installs were planned with the org, one run per product of the template.
    let runs: Vec<(String, String)> = sqlx::query_as(
        "select product, status from product_run where org_id = $1 order by product",
    )
    .bind(org)
    .fetch_all(&w.app.owner)
    .await
    .unwrap();
    assert_eq!(
        runs,
        [
            ("crm".to_string(), "pending".to_string()),
            ("shop_assist".to_string(), "pending".to_string())
        ]
    );
    assert_eq!(
        work_all(&w).await,
        [
            app::products::engine::Outcome::Succeeded,
            app::products::engine::Outcome::Succeeded
        ]
    );
    assert_installed_exactly(&w, org, "shop_assist").await;
    assert_installed_exactly(&w, org, "crm").await;
    let listed = org_row(&w, "Shop Co").await;
    assert_eq!(listed["template"], "Retail");
    assert_eq!(listed["installed_products"], 2);
    let nowhere: i64 =
        sqlx::query_scalar("select count(*) from organization where name = 'Nowhere Co'")
            .fetch_one(&w.app.owner)
            .await
            .unwrap();
    assert_eq!(nowhere, 0);
}
