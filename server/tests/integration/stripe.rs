//! Stripe subscriptions against localstripe (a stateful fake Stripe server from PyPI, installed
//! by `scripts/setup` and started here): creating a subscription, and webhooks that are
//! duplicated, arrive out of order, or carry a bad signature.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use app::billing::stripe::{sign, Stripe};
use serde_json::{json, Value};
use server::testing::TestApp;
use uuid::Uuid;

const SECRET_KEY: &str = "sk_test_tenantry";
pub(crate) const WEBHOOK_SECRET: &str = "whsec_tenantry_test";

/// A localstripe process on a free port, stopped when dropped.
pub(crate) struct LocalStripe {
    child: Child,
    pub(crate) base: String,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn localstripe_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TENANTRY_LOCALSTRIPE") {
        return PathBuf::from(path);
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/localstripe/bin/localstripe");
    assert!(
        path.exists(),
        "localstripe is missing at {}: run scripts/setup (it installs it from PyPI)",
        path.display()
    );
    path
}

pub(crate) async fn localstripe() -> LocalStripe {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Owned by the guard at once, so it is stopped (and waited for) on every path.
    let server = LocalStripe {
        child: Command::new(localstripe_binary())
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start localstripe"),
        base: format!("http://127.0.0.1:{port}/"),
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("localstripe did not start on port {port}");
}

pub(crate) fn stripe(base: &str) -> Stripe {
    Stripe::new(SECRET_KEY, Some(base), WEBHOOK_SECRET, 7).unwrap()
}

async fn webhook(app: &TestApp, event: &Value, secret: &str) -> (u16, Value) {
    let payload = event.to_string();
    let request = axum::http::Request::post("/webhooks/stripe")
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            sign(payload.as_bytes(), secret, chrono::Utc::now().timestamp()),
        )
        .body(axum::body::Body::from(payload))
        .unwrap();
    let r = app.send(request).await;
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::Null),
    )
}

pub(crate) fn event(id: &str, kind: &str, object: &Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": 1, "livemode": false,
           "pending_webhooks": 1, "data": {"object": object}})
}

/// The price `pro_monthly`, and `org` as a Stripe customer with a card (as Checkout would have
/// left it), recorded in the org's subscription row. The customer's id.
pub(crate) async fn customer_with_card(s: &Stripe, app: &TestApp, org: Uuid) -> String {
    s.post(
        "/products",
        &[("id", "prod_tenantry"), ("name", "Tenantry")],
    )
    .await
    .unwrap();
    s.post(
        "/plans",
        &[
            ("id", "pro_monthly"),
            ("product", "prod_tenantry"),
            ("amount", "5000"),
            ("currency", "usd"),
            ("interval", "month"),
        ],
    )
    .await
    .unwrap();
    let card = s
        .post(
            "/tokens",
            &[
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2040"),
                ("card[cvc]", "123"),
            ],
        )
        .await
        .unwrap();
    let customer = s
        .post(
            "/customers",
            &[
                ("name", "Stripe Co"),
                ("source", card["id"].as_str().unwrap()),
            ],
        )
        .await
        .unwrap();
    let customer = customer["id"].as_str().unwrap().to_string();
    sqlx::query(
        "insert into subscription (org_id, platform, stripe_customer_id, seats)
         values ($1, 'stripe', $2, 3)",
    )
    .bind(org)
    .bind(&customer)
    .execute(&app.owner)
    .await
    .unwrap();
    customer
}

async fn subscription_row(app: &TestApp, org: Uuid) -> Value {
    sqlx::query_scalar::<_, Value>("select to_jsonb(s) from subscription s where org_id = $1")
        .bind(org)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

async fn syncs(app: &TestApp, org: Uuid) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_event where org_id = $1 and action = 'subscription.stripe_sync'",
    )
    .bind(org)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn subscriptions_follow_stripe_through_duplicate_reordered_and_forged_webhooks() {
    let ls = localstripe().await;
    let s = stripe(&ls.base);
    let app = TestApp::with_stripe(Some(s.clone())).await;
    app.user("root@platform.test", true, None).await;
    let root = app.sign_in("root@platform.test").await;
    let org = app
        .create_org(&root, "Stripe Co", "stripe-co.example")
        .await;

    // The customer entered a card (as Checkout would have done); the org knows its customer.
    let customer = customer_with_card(&s, &app, org).await;

    // A bad price id is refused naming the field; then the subscription is created.
    let r = app
        .call(
            "billing/start_stripe_subscription",
            Some(&root),
            &[("org_id", &org.to_string()), ("price", "not a price!")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("\"price\""), "{}", r.body);
    let r = app
        .call(
            "billing/start_stripe_subscription",
            Some(&root),
            &[("org_id", &org.to_string()), ("price", "pro_monthly")],
        )
        .await;
    assert!(r.status < 400, "{}", r.body);
    let row = subscription_row(&app, org).await;
    assert_eq!(row["status"], json!("active"), "{row}");
    assert_eq!(row["plan_name"], json!("pro_monthly"));
    assert_eq!(row["stripe_customer_id"], json!(customer));
    assert!(row["current_period_end"].is_string(), "{row}");
    let sub_id = row["stripe_subscription_id"].as_str().unwrap().to_string();
    let stale = s.get(&format!("/subscriptions/{sub_id}")).await.unwrap();
    assert_eq!(stale["status"], json!("active"));

    // A forged or unsigned event: 400, and nothing recorded or changed.
    let updated = event("evt_1", "customer.subscription.updated", &stale);
    let (status, body) = webhook(&app, &updated, "whsec_wrong").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    let unsigned = app
        .send(
            axum::http::Request::post("/webhooks/stripe")
                .body(axum::body::Body::from(updated.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(unsigned.status, 400);
    let before = syncs(&app, org).await;

    // The real one, delivered twice: handled once.
    let (status, body) = webhook(&app, &updated, WEBHOOK_SECRET).await;
    assert_eq!(
        (status, body["handled"].as_str()),
        (200, Some("synchronised")),
        "{body}"
    );
    let (status, body) = webhook(&app, &updated, WEBHOOK_SECRET).await;
    assert_eq!((status, &body), (200, &json!({"duplicate": true})));
    assert_eq!(syncs(&app, org).await, before + 1);

    // Cancelled in Stripe; the deletion event arrives before an older update that still says
    // "active". Both re-read Stripe, so the final state is cancelled whatever the order.
    let cancelled = s.delete(&format!("/subscriptions/{sub_id}")).await.unwrap();
    assert_eq!(cancelled["status"], json!("canceled"));
    let (status, _) = webhook(
        &app,
        &event("evt_3", "customer.subscription.deleted", &cancelled),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = webhook(
        &app,
        &event("evt_2", "customer.subscription.updated", &stale),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(status, 200);
    let row = subscription_row(&app, org).await;
    assert_eq!(row["status"], json!("cancelled"), "{row}");
    assert!(row["cancelled_at"].is_string(), "{row}");
    assert!(!row["cancel_reason"].as_str().unwrap().is_empty(), "{row}");
    assert!(row["grace_period_end"].is_null(), "{row}");

    // The Subscription tab reads the same through the Admin App.
    let r = app
        .call("orgs/get_org", Some(&root), &[("org_id", &org.to_string())])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tab = &r.json()["subscription"];
    assert_eq!(tab["status"], json!("cancelled"), "{tab}");
    assert_eq!(tab["platform"], json!("stripe"));
    assert_eq!(tab["stripe_subscription_id"], json!(sub_id));

    // Without a card Stripe refuses the subscription: the admin reads why, and the customer
    // made on the way is kept for the retry rather than made twice.
    let late = app.create_org(&root, "Late Payer", "late.example").await;
    for _ in 0..2 {
        let r = app
            .call(
                "billing/start_stripe_subscription",
                Some(&root),
                &[("org_id", &late.to_string()), ("price", "pro_monthly")],
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("payment method"), "{}", r.body);
    }
    let row = subscription_row(&app, late).await;
    assert!(row["stripe_customer_id"].is_string(), "{row}");
    assert!(row["stripe_subscription_id"].is_null(), "{row}");
    let customers = s.get("/customers").await.unwrap();
    let named = customers["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == json!("Late Payer"))
        .count();
    assert_eq!(
        named, 1,
        "one Stripe customer for the org, however many attempts"
    );

    // Custom billing is never touched by webhooks, even for a subscription Stripe knows.
    let custom = app.create_org(&root, "Hand Billed", "hand.example").await;
    let other = s
        .post(
            "/subscriptions",
            &[("customer", &customer), ("items[0][plan]", "pro_monthly")],
        )
        .await
        .unwrap();
    let other_id = other["id"].as_str().unwrap();
    sqlx::query(
        "insert into subscription (org_id, platform, status, stripe_subscription_id, plan_name)
                 values ($1, 'custom', 'trialing', $2, 'enterprise')",
    )
    .bind(custom)
    .bind(other_id)
    .execute(&app.owner)
    .await
    .unwrap();
    let before = subscription_row(&app, custom).await;
    let (status, body) = webhook(
        &app,
        &event("evt_4", "customer.subscription.updated", &other),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["handled"], json!("custom billing: left as edited"));
    assert_eq!(subscription_row(&app, custom).await, before);
}
