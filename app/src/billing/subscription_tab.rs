//! The Subscription tab of the org's Edit dialog, and starting a Stripe subscription from it.

use leptos::prelude::*;

use super::{UpdateSubscription, SUBSCRIPTION_STATUSES};
use crate::{
    auth::submission_error,
    orgs::Organization,
    ui::{
        form_alert, invalid,
        style::{FOCUS_RING, INPUT, PRIMARY, READONLY},
        FieldError,
    },
};

fn date(value: Option<chrono::DateTime<chrono::Utc>>) -> String {
    value
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "—".to_string())
}

/// The Subscription tab of the org's Edit dialog: editable by superadmins, read-only to the
/// org (entitlements are the platform's).
#[component]
pub fn SubscriptionTab(org: Organization) -> impl IntoView {
    let action = ServerAction::<UpdateSubscription>::new();
    let error = submission_error(action);
    let sub = org.subscription.clone();
    let plan = sub
        .as_ref()
        .map(|s| s.plan_name.clone())
        .unwrap_or_default();
    let seats = sub.as_ref().map(|s| s.seats).unwrap_or(1).to_string();
    let platform = sub
        .as_ref()
        .map(|s| s.platform.clone())
        .unwrap_or_else(|| "custom".to_string());
    let status = sub
        .as_ref()
        .map(|s| s.status.clone())
        .unwrap_or_else(|| "active".to_string());
    let superadmin = use_context::<crate::auth::SessionInfo>().is_some_and(|s| s.superadmin);
    let stripe_org = org.id.clone();
    let stripe_start = superadmin
        && sub.as_ref().is_none_or(|s| {
            s.stripe_subscription_id.is_none()
                || (s.platform == "stripe" && s.status == "cancelled")
        });
    let readonly = |label: &'static str, value: String| {
        view! {
            <div>
                <span class="block text-sm font-medium text-slate-500">{label}</span>
                <span class=READONLY>{value}</span>
            </div>
        }
    };
    // What Stripe and the platform set: shown read-only to everyone.
    let set_by_platform = [
        (
            "Stripe customer ID",
            sub.as_ref()
                .and_then(|s| s.stripe_customer_id.clone())
                .unwrap_or_else(|| "—".into()),
        ),
        (
            "Stripe subscription ID",
            sub.as_ref()
                .and_then(|s| s.stripe_subscription_id.clone())
                .unwrap_or_else(|| "—".into()),
        ),
        (
            "Trial end date",
            date(sub.as_ref().and_then(|s| s.trial_end)),
        ),
        (
            "Current period end",
            date(sub.as_ref().and_then(|s| s.current_period_end)),
        ),
    ];
    let read_only_set = set_by_platform.clone();
    let status_label = SUBSCRIPTION_STATUSES
        .iter()
        .find(|(value, _)| *value == status)
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| status.clone());
    view! {
        {(sub.is_none() && superadmin).then(|| view! {
            <p class="mt-4 rounded-md bg-slate-50 px-3 py-2 text-sm text-slate-600">
                "No subscription yet. Saving this form creates one."
            </p>
        })}
        {sub.as_ref().filter(|s| s.status == "past_due").map(|s| view! {
            <p role="alert" class="mt-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800">
                {format!("Payment is past due. The grace period ends {}; after that, access may be suspended.", date(s.grace_period_end))}
            </p>
        })}
        {sub.as_ref().filter(|s| s.status == "cancelled").map(|s| view! {
            <p class="mt-4 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800" data-testid="cancelled-info">
                {format!("Cancelled on {}{}", date(s.cancelled_at),
                    if s.cancel_reason.is_empty() { String::new() } else { format!(": {}", s.cancel_reason) })}
            </p>
        })}
        {(!superadmin).then(|| view! {
            <div class="mt-4 space-y-4" data-testid="subscription-readonly">
                <p class="rounded-md bg-slate-50 px-3 py-2 text-sm text-slate-600">
                    {if sub.is_none() {
                        "No subscription yet. The plan, seats and billing are set by the platform (and by Stripe); ask your platform administrator."
                    } else {
                        "The plan, seats and billing are set by the platform (and by Stripe). Ask your platform administrator to change them."
                    }}
                </p>
                {sub.is_some().then(|| view! {
                <div class="grid grid-cols-2 gap-4">
                    {readonly("Plan", if plan.is_empty() { "—".to_string() } else { plan.clone() })}
                    {readonly("Seats", seats.clone())}
                    {readonly("Platform", if platform == "stripe" { "Stripe".to_string() } else { "Custom".to_string() })}
                    {readonly("Status", status_label.clone())}
                    {read_only_set.into_iter().map(|(label, value)| readonly(label, value)).collect_view()}
                </div>
                })}
            </div>
        })}
        {superadmin.then(|| view! {
        <ActionForm action=action attr:class="mt-4 space-y-4" attr:novalidate=true>
            {form_alert(error)}
            <input type="hidden" name="org_id" value=org.id.clone() />
            <div class="grid grid-cols-2 gap-4">
                <div>
                    <label for="sub-plan" class="block text-sm font-medium">"Plan name"</label>
                    <input id="sub-plan" name="plan_name" value=plan placeholder="pro_monthly" class=INPUT aria-invalid=invalid(error, "plan_name") />
                    <FieldError error field="plan_name" />
                </div>
                <div>
                    <label for="sub-seats" class="block text-sm font-medium">"Seats"</label>
                    <input id="sub-seats" name="seats" type="number" min="0" value=seats class=INPUT aria-invalid=invalid(error, "seats") />
                    <FieldError error field="seats" />
                </div>
                <div>
                    <label for="sub-platform" class="block text-sm font-medium">"Platform"</label>
                    <select id="sub-platform" name="platform" class=INPUT aria-invalid=invalid(error, "platform")>
                        <option value="stripe" selected=platform == "stripe">"Stripe"</option>
                        <option value="custom" selected=platform == "custom">"Custom"</option>
                    </select>
                    <FieldError error field="platform" />
                </div>
                <div>
                    <label for="sub-status" class="block text-sm font-medium">"Status"</label>
                    <select id="sub-status" name="status" class=INPUT aria-invalid=invalid(error, "status")>
                        {SUBSCRIPTION_STATUSES.iter().map(|(value, label)| view! {
                            <option value=*value selected=*value == status>{*label}</option>
                        }).collect_view()}
                    </select>
                    <FieldError error field="status" />
                </div>
            </div>
            <div>
                <label for="sub-cancel-reason" class="block text-sm font-medium">
                    "Cancellation reason " <span class="font-normal text-slate-500">"(when cancelled)"</span>
                </label>
                <input id="sub-cancel-reason" name="cancel_reason"
                    value=sub.as_ref().map(|s| s.cancel_reason.clone()).unwrap_or_default() class=INPUT aria-invalid=invalid(error, "cancel_reason") />
                <FieldError error field="cancel_reason" />
            </div>
            <div class="grid grid-cols-2 gap-4">
                {set_by_platform.into_iter().map(|(label, value)| readonly(label, value)).collect_view()}
            </div>
            <div class="flex justify-end border-t border-slate-100 pt-4">
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || action.pending().get()>"Save"</button>
            </div>
        </ActionForm>
        })}
        {stripe_start.then(|| view! { <StripeStart org_id=stripe_org /> })}
    }
}

/// Superadmins start a Stripe subscription on a price; from then on Stripe's webhooks keep the
/// fields above in step.
#[component]
fn StripeStart(org_id: String) -> impl IntoView {
    let action = ServerAction::<super::StartStripeSubscription>::new();
    let error = submission_error(action);
    view! {
        <ActionForm action=action attr:class="mt-6 rounded-lg border border-slate-200 p-4" attr:novalidate=true>
            <h3 class="text-sm font-semibold">"Bill through Stripe"</h3>
            <p class="mt-1 text-xs text-slate-500">"Creates the Stripe customer if there is none, then the subscription; Stripe's webhooks keep this tab in step from then on."</p>
            <div class="mt-2">{form_alert(error)}</div>
            <input type="hidden" name="org_id" value=org_id />
            <div class="mt-2 flex items-end gap-3">
                <div class="flex-1">
                    <label for="stripe-price" class="block text-sm font-medium">"Stripe price or plan ID"</label>
                    <input id="stripe-price" name="price" placeholder="price_… or pro_monthly" class=INPUT aria-invalid=invalid(error, "price") />
                    <FieldError error field="price" />
                </div>
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || action.pending().get()>"Start subscription"</button>
            </div>
        </ActionForm>
    }
}
