//! The Your account page (`/account`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};

use super::{my_account, Account, AccountSession, ChangePassword, RevokeSession, SignOutOthers};
use crate::{
    auth::{submission_error, MIN_PASSWORD_LEN},
    ui::{
        form_alert, invalid,
        style::{FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Toast,
    },
};

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let revoke = ServerAction::<RevokeSession>::new();
    let others = ServerAction::<SignOutOthers>::new();
    let search = use_location().search;
    let data = Resource::new(
        move || {
            (
                search.get(),
                change.version().get(),
                revoke.version().get(),
                others.version().get(),
            )
        },
        |_| my_account(),
    );
    let notice = move || {
        use_query_map().with(|q| {
            q.get("changed").and_then(|what| match what.as_str() {
                "password" => Some("Password changed. Your other sessions were signed out."),
                "session" => Some("That session was signed out."),
                "others" => Some("Your other sessions were signed out."),
                _ => None,
            })
        })
    };
    view! {
        <Title text="Your account" />
        <div class="mx-auto max-w-3xl">
            <h1 class="text-2xl font-semibold tracking-tight">"Your account"</h1>
            {move || notice().map(|text| view! { <Toast text /> })}
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
                {move || data.get().map(|result| match result {
                    Ok(account) => view! { <AccountView account change revoke others /> }.into_any(),
                    Err(err) => view! { <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn AccountView(
    account: Account,
    change: ServerAction<ChangePassword>,
    revoke: ServerAction<RevokeSession>,
    others: ServerAction<SignOutOthers>,
) -> impl IntoView {
    let error = submission_error(change);
    let revoke_error = submission_error(revoke);
    let others_error = submission_error(others);
    let other_count = account.sessions.iter().filter(|s| !s.current).count();
    view! {
        <p class="mt-1 text-sm text-slate-600" data-testid="account-who">
            {format!("{} · {}", account.name, account.email)}
        </p>
        <section class="mt-8" aria-labelledby="password-title">
            <h2 id="password-title" class="text-base font-semibold">"Change password"</h2>
            <ActionForm action=change attr:class="mt-3 grid max-w-md gap-4 rounded-lg border border-slate-200 p-4" attr:novalidate=true attr:data-testid="password-form">
                <div>
                    <label for="current-password" class="block text-sm font-medium">"Current password"</label>
                    <input id="current-password" name="current_password" type="password" autocomplete="current-password" required
                        class=INPUT aria-invalid=invalid(error, "current_password") />
                    <FieldError error field="current_password" />
                </div>
                <div>
                    <label for="new-password" class="block text-sm font-medium">"New password"</label>
                    <input id="new-password" name="new_password" type="password" autocomplete="new-password" required
                        minlength=MIN_PASSWORD_LEN.to_string() aria-describedby="new-password-help"
                        class=INPUT aria-invalid=invalid(error, "new_password") />
                    <p id="new-password-help" class="mt-1 text-xs text-slate-500">{format!("At least {MIN_PASSWORD_LEN} characters. Your other sessions are signed out.")}</p>
                    <FieldError error field="new_password" />
                </div>
                <div>
                    <label for="confirm-password" class="block text-sm font-medium">"New password again"</label>
                    <input id="confirm-password" name="confirm_password" type="password" autocomplete="new-password" required
                        class=INPUT aria-invalid=invalid(error, "confirm_password") />
                    <FieldError error field="confirm_password" />
                </div>
                {form_alert(error)}
                <div>
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || change.pending().get()>
                        {move || if change.pending().get() { "Changing…" } else { "Change password" }}
                    </button>
                </div>
            </ActionForm>
        </section>
        <section class="mt-10" aria-labelledby="sessions-title">
            <div class="flex flex-wrap items-center justify-between gap-3">
                <h2 id="sessions-title" class="text-base font-semibold">"Where you are signed in"</h2>
                {(other_count > 0).then(|| view! {
                    <ActionForm action=others>
                        <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}") data-testid="sign-out-others">
                            {format!("Sign out the other {other_count} session{}", if other_count == 1 { "" } else { "s" })}
                        </button>
                    </ActionForm>
                })}
            </div>
            <div class="mt-2">{form_alert(revoke_error)}{form_alert(others_error)}</div>
            <ul class="mt-3 divide-y divide-slate-100 rounded-lg border border-slate-200 text-sm" aria-label="Your sessions">
                {account.sessions.into_iter().map(|s| view! { <SessionRow session=s revoke /> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn SessionRow(session: AccountSession, revoke: ServerAction<RevokeSession>) -> impl IntoView {
    let label = format!("Sign out {} ({})", session.device, session.ip);
    view! {
        <li class="flex flex-wrap items-center justify-between gap-3 px-4 py-3" data-testid="session" data-current=session.current.to_string()>
            <div>
                <span class="font-medium">{session.device.clone()}</span>
                {session.current.then(|| view! {
                    <span class="ml-2 rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-700">"This session"</span>
                })}
                <p class="text-xs text-slate-600">
                    {format!(
                        "{} · signed in {} UTC · expires {}",
                        if session.ip.is_empty() { "address unknown".to_string() } else { session.ip.clone() },
                        session.created_at.format("%Y-%m-%d %H:%M"),
                        session.expires_at.format("%Y-%m-%d"),
                    )}
                </p>
            </div>
            {(!session.current).then(|| view! {
                <ActionForm action=revoke>
                    <input type="hidden" name="session_id" value=session.id.clone() />
                    <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}") aria-label=label.clone()>"Sign out"</button>
                </ActionForm>
            })}
        </li>
    }
}
