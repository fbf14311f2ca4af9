//! Stripe subscriptions, through async-stripe's client: a customer and a subscription for an
//! org, and the webhook that keeps the Subscription tab in step.
//!
//! The webhook trusts only what it re-reads from Stripe: an event says *which* subscription
//! changed, never *how*, so duplicates and events out of order end in the same state. Events
//! are handled once per id. Orgs billed on the "custom" platform are never touched.

use std::collections::BTreeMap;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use stripe_client_core::{RequestBuilder, StripeMethod};
use uuid::Uuid;

use crate::{context::Services, AppError};

/// How old a signed webhook may be, in seconds (Stripe's own tolerance).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// The Stripe connection, from configuration.
#[derive(Clone)]
pub struct Stripe {
    client: stripe::Client,
    webhook_secret: String,
    /// Days a past-due subscription keeps working before access should stop.
    pub grace_days: i64,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("grace_days", &self.grace_days)
            .finish_non_exhaustive()
    }
}

impl Stripe {
    /// `api_base`: Stripe's API (`https://api.stripe.com/`) or a stand-in such as localstripe.
    pub fn new(
        secret_key: &str,
        api_base: Option<&str>,
        webhook_secret: &str,
        grace_days: i64,
    ) -> Result<Self, String> {
        let mut builder = stripe::ClientBuilder::new(secret_key);
        if let Some(base) = api_base {
            let base = if base.ends_with('/') {
                base.to_string()
            } else {
                format!("{base}/")
            };
            builder = builder.url(base);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            webhook_secret: webhook_secret.to_string(),
            grace_days,
        })
    }

    async fn send(&self, request: RequestBuilder) -> Result<Value, AppError> {
        self.send_with(request, None).await
    }

    /// Sends a request; with `idempotency_key`, Stripe performs it at most once for that key
    /// (a retry after a lost answer gets the first answer back, not a second subscription).
    async fn send_with(
        &self,
        request: RequestBuilder,
        idempotency_key: Option<&str>,
    ) -> Result<Value, AppError> {
        let mut request = request.customize::<miniserde::json::Value>();
        if let Some(key) = idempotency_key {
            let key = stripe_client_core::IdempotencyKey::new(key)
                .map_err(|e| AppError::internal("stripe idempotency key", e))?;
            request =
                request.request_strategy(stripe_client_core::RequestStrategy::Idempotent(key));
        }
        let value: miniserde::json::Value =
            request.send(&self.client).await.map_err(|e| match e {
                // Stripe said no (a missing card, an unknown price): the admin can act on it.
                stripe::StripeError::Stripe(errors, status) if (400..500).contains(&status) => {
                    AppError::Conflict(format!(
                        "Stripe refused this: {}",
                        errors.message.as_deref().unwrap_or("no reason given")
                    ))
                }
                other => AppError::internal("stripe", other),
            })?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| AppError::internal("stripe response", e))
    }

    /// A form POST to any Stripe path (`/plans`, `/tokens`…), answering its JSON.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Value, AppError> {
        let form: Vec<(&str, String)> = form.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.send(RequestBuilder::new(StripeMethod::Post, path).form(&form_map(&form)))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, AppError> {
        self.send(RequestBuilder::new(StripeMethod::Delete, path))
            .await
    }

    pub async fn get(&self, path: &str) -> Result<Value, AppError> {
        self.send(RequestBuilder::new(StripeMethod::Get, path))
            .await
    }

    /// The subscription as Stripe has it now.
    pub async fn subscription(&self, id: &str) -> Result<StripeSubscription, AppError> {
        let value = self
            .send(RequestBuilder::new(
                StripeMethod::Get,
                format!("/subscriptions/{id}"),
            ))
            .await?;
        StripeSubscription::from_json(&value)
            .ok_or_else(|| AppError::internal("stripe", "a subscription without id or status"))
    }

    pub async fn create_customer(
        &self,
        org: Uuid,
        name: &str,
        email: &str,
    ) -> Result<String, AppError> {
        let mut form = vec![
            ("name", name.to_string()),
            ("metadata[org_id]", org.to_string()),
        ];
        if !email.is_empty() {
            form.push(("email", email.to_string()));
        }
        let value = self
            .send(RequestBuilder::new(StripeMethod::Post, "/customers").form(&form_map(&form)))
            .await?;
        value["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| AppError::internal("stripe", "a customer without an id"))
    }

    /// `idempotency_key` names this attempt (see [`start`]): retrying it never makes a second
    /// subscription.
    pub async fn create_subscription(
        &self,
        org: Uuid,
        customer: &str,
        price: &str,
        seats: i32,
        idempotency_key: &str,
    ) -> Result<StripeSubscription, AppError> {
        let form = [
            ("customer", customer.to_string()),
            ("items[0][plan]", price.to_string()),
            ("items[0][quantity]", seats.max(1).to_string()),
            ("metadata[org_id]", org.to_string()),
        ];
        let value = self
            .send_with(
                RequestBuilder::new(StripeMethod::Post, "/subscriptions").form(&form_map(&form)),
                Some(idempotency_key),
            )
            .await?;
        StripeSubscription::from_json(&value)
            .ok_or_else(|| AppError::internal("stripe", "a subscription without id or status"))
    }
}

fn form_map(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// What we read of a Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSubscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub trial_end: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub plan: Option<String>,
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_i64().and_then(|t| DateTime::from_timestamp(t, 0))
}

impl StripeSubscription {
    pub fn from_json(v: &Value) -> Option<Self> {
        let item = &v["items"]["data"][0];
        Some(Self {
            id: v["id"].as_str()?.to_string(),
            customer: v["customer"]
                .as_str()
                .or_else(|| v["customer"]["id"].as_str())
                .unwrap_or_default()
                .to_string(),
            status: v["status"].as_str()?.to_string(),
            trial_end: time(&v["trial_end"]),
            // Newer API versions keep the period on the item.
            current_period_end: time(&v["current_period_end"])
                .or_else(|| time(&item["current_period_end"])),
            canceled_at: time(&v["canceled_at"]).or_else(|| time(&v["ended_at"])),
            cancel_reason: v["cancellation_details"]["reason"]
                .as_str()
                .or_else(|| v["cancellation_details"]["comment"].as_str())
                .map(str::to_string),
            plan: item["plan"]["id"]
                .as_str()
                .or_else(|| item["price"]["id"].as_str())
                .or_else(|| v["plan"]["id"].as_str())
                .map(str::to_string),
        })
    }
}

/// The Subscription tab's fields as a Stripe subscription sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabFields {
    pub status: &'static str,
    pub trial_end: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: String,
    pub grace_period_end: Option<DateTime<Utc>>,
}

/// Maps Stripe's statuses onto ours. Past due (and unpaid, and a first payment still
/// outstanding) gets a grace period, started the first time it is seen past due and kept on
/// later events; ended subscriptions read cancelled, with the date and the reason.
pub fn map_status(
    sub: &StripeSubscription,
    previous_grace_end: Option<DateTime<Utc>>,
    grace_days: i64,
    now: DateTime<Utc>,
) -> TabFields {
    let status = match sub.status.as_str() {
        "active" => "active",
        "trialing" => "trialing",
        "past_due" | "unpaid" | "incomplete" | "paused" => "past_due",
        // canceled, incomplete_expired, and anything new: not a paying subscription.
        _ => "cancelled",
    };
    let cancelled = status == "cancelled";
    TabFields {
        status,
        trial_end: sub.trial_end,
        current_period_end: sub.current_period_end,
        cancelled_at: cancelled.then(|| sub.canceled_at.unwrap_or(now)),
        cancel_reason: if cancelled {
            match sub.cancel_reason.as_deref() {
                Some("cancellation_requested") => "Cancelled at the customer's request".into(),
                Some("payment_failed") => "Payment failed".into(),
                Some("payment_disputed") => "Payment disputed".into(),
                Some(other) if !other.is_empty() => other.replace('_', " "),
                _ if sub.status == "incomplete_expired" => {
                    "The first payment was never made".into()
                }
                _ => "Cancelled in Stripe".into(),
            }
        } else {
            String::new()
        },
        grace_period_end: (status == "past_due")
            .then(|| previous_grace_end.unwrap_or(now + Duration::days(grace_days))),
    }
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) against the payload.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("the signature header has no timestamp")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| "bad secret")?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matches = signatures
        .iter()
        .any(|s| decode_hex(s).is_some_and(|bytes| mac.clone().verify_slice(&bytes).is_ok()));
    if !matches {
        return Err("the signature does not match");
    }
    if (now - timestamp).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err("the signature is too old");
    }
    Ok(())
}

/// A `Stripe-Signature` header for a payload (tests sign their events with it).
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// `POST /webhooks/stripe`.
pub async fn webhook(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(stripe) = services.stripe.clone() else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "Stripe is not configured on this server."}),
        );
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Err(why) = verify_signature(
        &body,
        signature,
        &stripe.webhook_secret,
        Utc::now().timestamp(),
    ) {
        tracing::warn!(target: "stripe", why, "webhook refused");
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("Invalid Stripe signature: {why}.")}),
        );
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "The event is not JSON."}),
        );
    };
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "The event has no id or type."}),
        );
    };
    let object = &event["data"]["object"];
    let subscription = match object["object"].as_str() {
        Some("subscription") => object["id"].as_str(),
        _ => object["subscription"].as_str(),
    };
    let Some(subscription) = subscription else {
        return answer(
            StatusCode::OK,
            json!({"ignored": "not about a subscription"}),
        );
    };
    match sync(
        &services,
        &stripe,
        subscription,
        object["customer"].as_str(),
        Some((id, kind)),
    )
    .await
    {
        Ok("duplicate") => answer(StatusCode::OK, json!({ "duplicate": true })),
        Ok(outcome) => answer(StatusCode::OK, json!({ "handled": outcome })),
        Err(err) => {
            // Nothing was recorded (the event is marked handled only with its effect), so
            // Stripe's retry is handled, not skipped as a duplicate.
            tracing::error!(target: "stripe", %err, event = id, "webhook handling failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "Try again later."}),
            )
        }
    }
}

/// Re-reads a subscription from Stripe and writes it onto its org's Subscription tab.
/// `event` (id, type), when the sync answers a webhook, is marked handled in the same
/// transaction as the change it brings: both happen, or neither, and a repeat is a no-op.
pub async fn sync(
    services: &Services,
    stripe: &Stripe,
    subscription_id: &str,
    customer: Option<&str>,
    event: Option<(&str, &str)>,
) -> Result<&'static str, AppError> {
    let org = sqlx::query_scalar!(
        "select platform.org_for_stripe($1, $2)",
        subscription_id,
        customer
    )
    .fetch_one(crate::tenancy::gate::lookup(services).pool())
    .await?;
    let Some(org) = org else {
        return Ok("no organization has this subscription");
    };
    let current = stripe.subscription(subscription_id).await?;
    let mut tx = crate::tenancy::gate::system_scope(services, org, "stripe").await?;
    if let Some((id, kind)) = event {
        let first = sqlx::query_scalar!(
            r#"select platform.stripe_event_first($1, $2) as "first!""#,
            id,
            kind
        )
        .fetch_one(&mut *tx)
        .await?;
        if !first {
            return Ok("duplicate");
        }
    }
    let row = sqlx::query!(
        "select platform, grace_period_end, stripe_subscription_id from subscription
          where org_id = $1 for update",
        org
    )
    .fetch_optional(&mut *tx)
    .await?;
    // Events that change nothing are still marked handled (with the commit).
    let skip = match &row {
        None => Some("no subscription record"),
        Some(row) if row.platform == "custom" => Some("custom billing: left as edited"),
        Some(row)
            if row
                .stripe_subscription_id
                .as_deref()
                .is_some_and(|s| s != current.id) =>
        {
            Some("not the org's current subscription")
        }
        Some(_) => None,
    };
    if let Some(outcome) = skip {
        tx.commit().await?;
        return Ok(outcome);
    }
    let row = row.expect("checked above");
    let status = write(
        &mut tx,
        org,
        &current,
        row.grace_period_end,
        stripe.grace_days,
    )
    .await?;
    sqlx::query!(
        "insert into audit_event (org_id, action, target, details)
         values ($1, 'subscription.stripe_sync', $2, $3)",
        org,
        current.id,
        json!({ "status": status, "stripe_status": current.status })
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok("synchronised")
}

/// Writes Stripe's state of `sub` onto the org's subscription; the status it wrote. The caller
/// records why (a webhook's sync, a start), once.
async fn write(
    tx: &mut sqlx::PgConnection,
    org: Uuid,
    sub: &StripeSubscription,
    previous_grace: Option<DateTime<Utc>>,
    grace_days: i64,
) -> Result<&'static str, AppError> {
    let fields = map_status(sub, previous_grace, grace_days, Utc::now());
    sqlx::query!(
        "update subscription
            set status = $2, trial_end = $3, current_period_end = $4, cancelled_at = $5,
                cancel_reason = $6, grace_period_end = $7, stripe_customer_id = $8,
                stripe_subscription_id = $9, platform = 'stripe',
                plan_name = coalesce($10, plan_name), updated_at = now()
          where org_id = $1",
        org,
        fields.status,
        fields.trial_end,
        fields.current_period_end,
        fields.cancelled_at,
        fields.cancel_reason,
        fields.grace_period_end,
        sub.customer,
        sub.id,
        sub.plan.as_deref().filter(|p| p.len() <= 60
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)))
    )
    .execute(&mut *tx)
    .await?;
    Ok(fields.status)
}

/// Starts a Stripe subscription for an org on a price (superadmins): a customer if it has none,
/// then the subscription, recorded on the Subscription tab.
pub async fn start(
    gate: crate::tenancy::gate::Gate,
    org_id: &str,
    price: &str,
) -> Result<(), AppError> {
    let org = crate::error::parse_uuid(org_id, "org_id", "an organization")?;
    let services = gate.services().clone();
    let admin = gate.platform().await?;
    let Some(stripe) = services.stripe.clone() else {
        return Err(AppError::Conflict(
            "Stripe is not configured on this server (TENANTRY_STRIPE_SECRET_KEY).".into(),
        ));
    };
    let price = price.trim();
    if price.is_empty()
        || price.len() > 100
        || !price
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(AppError::field(
            "price",
            "Enter the Stripe price or plan id, like price_1Nx… or pro_monthly.",
        ));
    }
    let mut tenant = admin.act_in(org).await?;
    let found = sqlx::query!(
        r#"select o.name, o.contact_email, s.stripe_customer_id, s.stripe_subscription_id,
                  s.seats as "seats?", s.status as "status?", s.platform as "platform?"
           from organization o left join subscription s on s.org_id = o.org_id
          where o.org_id = $1"#,
        org
    )
    .fetch_one(tenant.conn())
    .await?;
    if found.platform.as_deref() == Some("custom") && found.stripe_subscription_id.is_some() {
        return Err(AppError::Conflict(
            "This organization is billed by hand (Custom).".into(),
        ));
    }
    if found.stripe_subscription_id.is_some() && found.status.as_deref() != Some("cancelled") {
        return Err(AppError::Conflict(
            "This organization already has a Stripe subscription; cancel it in Stripe first."
                .into(),
        ));
    }
    // Stripe calls happen outside the transaction; the record is written in one statement after.
    tenant.commit().await?;
    // Resumable: the customer is recorded as soon as it exists, so a retry after a refused
    // subscription reuses it instead of making another.
    let customer = match found.stripe_customer_id {
        Some(c) => c,
        None => {
            let customer = stripe
                .create_customer(org, &found.name, &found.contact_email)
                .await?;
            let mut tenant = admin.act_in(org).await?;
            sqlx::query!(
                "insert into subscription (org_id, platform, stripe_customer_id)
                 values ($1, 'stripe', $2)
                 on conflict (org_id) do update set stripe_customer_id = $2",
                org,
                customer
            )
            .execute(tenant.conn())
            .await?;
            tenant.commit().await?;
            customer
        }
    };
    // The same attempt (org, customer, price, and the subscription it replaces) has the same
    // key: a retry after a lost answer cannot start a second subscription.
    let key = format!(
        "tenantry-subscription-{org}-{customer}-{price}-{}",
        found.stripe_subscription_id.as_deref().unwrap_or("first")
    );
    let sub = stripe
        .create_subscription(org, &customer, price, found.seats.unwrap_or(1), &key)
        .await?;
    let mut tenant = admin.act_in(org).await?;
    sqlx::query!(
        "insert into subscription (org_id, platform) values ($1, 'stripe')
         on conflict (org_id) do update set platform = 'stripe', stripe_subscription_id = null",
        org
    )
    .execute(tenant.conn())
    .await?;
    let status = write(tenant.conn(), org, &sub, None, stripe.grace_days).await?;
    tenant
        .audit(
            "subscription.stripe_start",
            &sub.id,
            json!({ "price": price, "customer": customer, "status": status }),
        )
        .await?;
    tenant.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(status: &str) -> StripeSubscription {
        StripeSubscription {
            id: "sub_1".into(),
            customer: "cus_1".into(),
            status: status.into(),
            trial_end: None,
            current_period_end: DateTime::from_timestamp(1_800_000_000, 0),
            canceled_at: DateTime::from_timestamp(1_790_000_000, 0),
            cancel_reason: None,
            plan: Some("pro_monthly".into()),
        }
    }

    #[test]
    fn stripe_statuses_map_onto_the_subscription_tab() {
        let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let earlier_grace = DateTime::from_timestamp(1_795_100_000, 0);
        // Stripe status, grace already running → our status, cancelled?, grace end.
        type Case = (
            &'static str,
            Option<DateTime<Utc>>,
            &'static str,
            bool,
            Option<DateTime<Utc>>,
        );
        let cases: [Case; 9] = [
            ("active", None, "active", false, None),
            ("trialing", None, "trialing", false, None),
            (
                "past_due",
                None,
                "past_due",
                false,
                Some(now + Duration::days(7)),
            ),
            // A later past-due event keeps the grace period already running.
            ("past_due", earlier_grace, "past_due", false, earlier_grace),
            (
                "unpaid",
                None,
                "past_due",
                false,
                Some(now + Duration::days(7)),
            ),
            (
                "incomplete",
                None,
                "past_due",
                false,
                Some(now + Duration::days(7)),
            ),
            ("canceled", None, "cancelled", true, None),
            ("incomplete_expired", None, "cancelled", true, None),
            ("something_new", None, "cancelled", true, None),
        ];
        for (stripe, grace, want, cancelled, want_grace) in cases {
            let got = map_status(&sub(stripe), grace, 7, now);
            assert_eq!(got.status, want, "{stripe}");
            assert_eq!(got.cancelled_at.is_some(), cancelled, "{stripe}");
            assert_eq!(got.cancel_reason.is_empty(), !cancelled, "{stripe}");
            assert_eq!(got.grace_period_end, want_grace, "{stripe}");
            assert_eq!(got.current_period_end, sub(stripe).current_period_end);
        }
        let mut requested = sub("canceled");
        requested.cancel_reason = Some("cancellation_requested".into());
        assert_eq!(
            map_status(&requested, None, 7, now).cancel_reason,
            "Cancelled at the customer's request"
        );
    }

    #[test]
    fn signatures_are_checked_for_key_payload_and_age() {
        let payload = br#"{"id":"evt_1"}"#;
        let now = 1_795_000_000;
        let good = sign(payload, "whsec_test", now);
        assert_eq!(verify_signature(payload, &good, "whsec_test", now), Ok(()));
        assert_eq!(
            verify_signature(payload, &format!("{good},v1=00"), "whsec_test", now),
            Ok(())
        );
        for (header, secret, at, why) in [
            (good.as_str(), "whsec_other", now, "does not match"),
            (good.as_str(), "whsec_test", now + 301, "too old"),
            ("v1=abcd", "whsec_test", now, "no timestamp"),
            ("", "whsec_test", now, "no timestamp"),
        ] {
            let err = verify_signature(payload, header, secret, at).unwrap_err();
            assert!(err.contains(why), "{header}: {err}");
        }
        assert!(verify_signature(br#"{"id":"evt_2"}"#, &good, "whsec_test", now).is_err());
    }
}
