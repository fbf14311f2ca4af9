//! The Invitations panel (in an org's Members tab and on the Users page) and the accept page
//! (`/invitations/accept?token=…`).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{
    invitation_details, list_invitations, AcceptInvitation, Invitation, InvitationList,
    InvitationView, Invite, Invited, ResendInvitation, RevokeInvitation, ACCEPT_PATH, DEFAULT_DAYS,
    MAX_DAYS,
};
use crate::{
    auth::{submission_error, AuthCard, AUTH_BUTTON},
    orgs::role_label,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, READONLY, SECONDARY},
        FieldError,
    },
    AppError,
};

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// An org's pending invitations, and the form that invites someone.
#[component]
pub fn InvitationsPanel(#[prop(into)] org_id: String) -> impl IntoView {
    let invite = ServerAction::<Invite>::new();
    let resend = ServerAction::<ResendInvitation>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    // Read again after each success only: a refused form keeps what was typed.
    let changed = RwSignal::new(0u64);
    reload_after(invite, changed);
    reload_after(resend, changed);
    reload_after(revoke, changed);
    // What the last invite or resend did: one notice, the latest (two alike would confuse).
    let latest = RwSignal::new(None::<Result<Invited, AppError>>);
    Effect::new(move |_| {
        if let Some(done) = invite.value().get() {
            latest.set(Some(done));
        }
    });
    Effect::new(move |_| {
        if let Some(done) = resend.value().get() {
            latest.set(Some(done));
        }
    });
    let data = Resource::new(
        move || changed.get(),
        move |_| list_invitations(org_id.clone()),
    );
    view! {
        <section class="mt-8" data-testid="invitations" aria-labelledby="invitations-title">
            <h2 id="invitations-title" class="text-base font-semibold">"Invitations"</h2>
            <Transition fallback=|| view! { <p class="mt-2 text-sm text-slate-500">"Loading…"</p> }>
                {move || data.get().map(|result| match result {
                    Ok(list) => view! { <Invitations list invite resend revoke latest /> }.into_any(),
                    Err(err) => view! {
                        <p role="alert" class="mt-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// Bumps `changed` after each successful submission of `action`.
fn reload_after<S>(action: ServerAction<S>, changed: RwSignal<u64>)
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Effect::new(move |seen: Option<usize>| {
        let now = action.version().get();
        let succeeded = action.value().with_untracked(|v| matches!(v, Some(Ok(_))));
        if seen.is_some_and(|seen| seen != now) && succeeded {
            changed.update(|n| *n += 1);
        }
        now
    });
}

/// What the last invite or resend did: sent, or (without an email server) the link to pass on.
fn outcome(done: Option<Result<Invited, AppError>>) -> Option<AnyView> {
    let invited = done?.ok()?;
    Some(match invited.link {
        None => view! {
            <p role="status" class="mt-3 rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800" data-testid="invitation-sent">
                {format!("Invitation sent to {}. The link works until {} (UTC).", invited.email, invited.expires_at.format("%Y-%m-%d %H:%M"))}
            </p>
        }
        .into_any(),
        Some(link) => view! {
            <div role="status" class="mt-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="invitation-link-notice">
                <p>{format!("No email server is configured, so nothing was sent. Give {} this link yourself (it works once, until {} UTC):", invited.email, invited.expires_at.format("%Y-%m-%d %H:%M"))}</p>
                <label class="sr-only" for="invitation-link">"Invitation link"</label>
                <input id="invitation-link" readonly value=link class=READONLY data-testid="invitation-link" />
            </div>
        }
        .into_any(),
    })
}

#[component]
fn Invitations(
    list: InvitationList,
    invite: ServerAction<Invite>,
    resend: ServerAction<ResendInvitation>,
    revoke: ServerAction<RevokeInvitation>,
    latest: RwSignal<Option<Result<Invited, AppError>>>,
) -> impl IntoView {
    let error = submission_error(invite);
    let resend_error = submission_error(resend);
    let revoke_error = submission_error(revoke);
    let InvitationList {
        org_id,
        org_name,
        invitations,
        roles,
        mail,
        now,
    } = list;
    let default_role = if roles.iter().any(|r| r == "member") {
        "member".to_string()
    } else {
        roles.last().cloned().unwrap_or_default()
    };
    let form_org = org_id.clone();
    // After a successful invite the form is emptied for the next one (the list re-renders in
    // place, which keeps what the inputs hold).
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |seen: Option<usize>| {
        let now = invite.version().get();
        let sent = invite.value().with_untracked(|v| matches!(v, Some(Ok(_))));
        if seen.is_some_and(|seen| seen != now) && sent {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
        now
    });
    view! {
        <p class="mt-1 text-sm text-slate-600">
            {if mail {
                format!("Invite someone to {org_name} by email. The link works once and expires; resend to extend it.")
            } else {
                format!("Invite someone to {org_name}. No email server is configured: you get a link to pass on yourself.")
            }}
        </p>
        {move || outcome(latest.get())}
        <div class="mt-2">{form_alert(resend_error)}{form_alert(revoke_error)}</div>
        <ActionForm action=invite node_ref=form attr:class="mt-3 grid grid-cols-1 items-start gap-4 rounded-lg border border-slate-200 p-4 sm:grid-cols-6" attr:novalidate=true attr:data-testid="invite-form">
            <input type="hidden" name="org_id" value=form_org />
            <div class="sm:col-span-3">
                <label for="invite-email" class="block text-sm font-medium">"Email"</label>
                <input id="invite-email" name="email" type="email" autocomplete="off" required placeholder="name@example.com"
                    class=INPUT aria-invalid=invalid(error, "email") />
                <FieldError error field="email" />
            </div>
            <div class="sm:col-span-2">
                <label for="invite-role" class="block text-sm font-medium">"Role"</label>
                <select id="invite-role" name="role" class=INPUT aria-invalid=invalid(error, "role")>
                    {roles.iter().map(|r| {
                        let selected = *r == default_role;
                        view! { <option value=r.clone() selected=selected>{role_label(r).to_string()}</option> }
                    }).collect_view()}
                </select>
                <FieldError error field="role" />
            </div>
            <div class="sm:col-span-1">
                <label for="invite-days" class="block text-sm font-medium">"Days valid"</label>
                <input id="invite-days" name="days" type="number" min="1" max=MAX_DAYS.to_string() value=DEFAULT_DAYS.to_string()
                    class=INPUT aria-invalid=invalid(error, "days") />
                <FieldError error field="days" />
            </div>
            <label class="flex items-center gap-2 text-sm sm:col-span-4">
                <input type="checkbox" name="bound" value="on" class="h-4 w-4 rounded border-slate-300" />
                "Lock a new account to this organization (a client user)"
            </label>
            <div class="flex justify-end sm:col-span-2">
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || invite.pending().get()>
                    {move || if invite.pending().get() { "Sending…" } else { "Send invitation" }}
                </button>
            </div>
            <div class="sm:col-span-6">{form_alert(error)}</div>
        </ActionForm>
        {if invitations.is_empty() {
            view! {
                <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-4 text-center text-sm text-slate-600" data-testid="invitations-empty">
                    "No pending invitations."
                </p>
            }.into_any()
        } else {
            view! {
                <ul class="mt-4 divide-y divide-slate-100 rounded-lg border border-slate-200 text-sm" aria-label="Pending invitations">
                    <For each=move || invitations.clone() key=|i| (i.id.clone(), i.sends) children=move |i| {
                        view! { <PendingRow invitation=i org_id=org_id.clone() now resend revoke /> }
                    } />
                </ul>
            }.into_any()
        }}
    }
}

#[component]
fn PendingRow(
    invitation: Invitation,
    org_id: String,
    now: DateTime<Utc>,
    resend: ServerAction<ResendInvitation>,
    revoke: ServerAction<RevokeInvitation>,
) -> impl IntoView {
    let expired = invitation.expired(now);
    let email = invitation.email.clone();
    let status = if expired {
        view! { <span class="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-700" data-testid="invitation-status">"Expired"</span> }.into_any()
    } else {
        view! { <span class="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800" data-testid="invitation-status">"Pending"</span> }.into_any()
    };
    let sent = if invitation.sends == 1 {
        format!("sent {}", day(invitation.last_sent_at))
    } else {
        format!(
            "sent {} times, last {}",
            invitation.sends,
            day(invitation.last_sent_at)
        )
    };
    let expiry = if expired {
        format!("expired {}", day(invitation.expires_at))
    } else {
        format!("expires {}", day(invitation.expires_at))
    };
    let (resend_org, revoke_org) = (org_id.clone(), org_id);
    let (resend_id, revoke_id) = (invitation.id.clone(), invitation.id.clone());
    let resend_label = format!("Resend the invitation to {email}");
    let revoke_label = format!("Revoke the invitation to {email}");
    view! {
        <li class="px-4 py-3" data-testid="invitation" data-email=email.clone()>
            <div class="flex flex-wrap items-center justify-between gap-3">
                <span class="flex items-center gap-2">
                    <span class="font-medium">{email.clone()}</span>
                    {status}
                </span>
                <span class="text-xs text-slate-600">
                    {format!("{}{} · {sent} · {expiry}", role_label(&invitation.role), if invitation.bound { " (locked to this org)" } else { "" })}
                </span>
            </div>
            {invitation.delivery_error.clone().map(|why| view! {
                <p class="mt-1 text-xs text-amber-800" data-testid="invitation-delivery">{format!("Delivery is being retried: {why}")}</p>
            })}
            <div class="mt-2 flex flex-wrap items-start gap-3">
                <ActionForm action=resend>
                    <input type="hidden" name="org_id" value=resend_org />
                    <input type="hidden" name="invitation_id" value=resend_id />
                    <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}") aria-label=resend_label>
                        "Resend"
                    </button>
                </ActionForm>
                <details>
                    <summary class=format!("cursor-pointer py-2 text-sm font-medium text-rose-700 {FOCUS_RING}")>"Revoke…"</summary>
                    <ActionForm action=revoke attr:class="mt-2 flex items-center gap-3">
                        <input type="hidden" name="org_id" value=revoke_org />
                        <input type="hidden" name="invitation_id" value=revoke_id />
                        <span class="text-xs text-slate-600">"The link stops working at once."</span>
                        <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{revoke_label}</button>
                    </ActionForm>
                </details>
            </div>
        </li>
    }
}

/// `/invitations/accept?token=…`: who invites whom to what, then Accept (as the account signed
/// in), or a new account's name and password, or a way to sign in first.
#[component]
pub fn AcceptInvitationPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token").unwrap_or_default());
    let details = Resource::new(token, invitation_details);
    view! {
        <AuthCard title="Join an organization">
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
                {move || details.get().map(|result| match result {
                    Ok(view) => view! { <AcceptForm view token=token() /> }.into_any(),
                    Err(err) => {
                        // A bad link is a field error on the token: say its message.
                        let text = match &err {
                            AppError::Validation(fields) => fields.values().flatten().next().cloned().unwrap_or_else(|| err.to_string()),
                            _ => err.to_string(),
                        };
                        view! {
                            <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700" data-testid="invitation-refused">
                                {text}
                            </p>
                        }.into_any()
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

#[component]
fn AcceptForm(view: InvitationView, token: String) -> impl IntoView {
    let accept = ServerAction::<AcceptInvitation>::new();
    let error = submission_error(accept);
    let InvitationView {
        org_name,
        email,
        role,
        state,
        expires_at,
        account_exists,
        signed_in_as,
    } = view;
    let closed = match state.as_str() {
        "open" => None,
        "expired" => Some(format!(
            "This invitation expired on {}. Ask the person who invited you to send it again.",
            expires_at.format("%Y-%m-%d")
        )),
        "revoked" => Some(
            "This invitation was withdrawn. Ask the person who invited you for a new one."
                .to_string(),
        ),
        _ => Some(
            "This invitation has already been used. Sign in to reach the organization.".to_string(),
        ),
    };
    if let Some(why) = closed {
        // A used, withdrawn or expired link no longer says who was invited to what.
        return view! {
            <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700" data-testid="invitation-refused">{why}</p>
            <p class="mt-4 text-center text-sm"><a href="/sign-in" class="font-medium text-indigo-600 hover:text-indigo-500">"Sign in"</a></p>
        }
        .into_any();
    }
    let summary = view! {
        <p class="mt-2 text-sm text-slate-700" data-testid="invitation-summary">
            {format!("You are invited to join {org_name} as {} with {email}.", role_label(&role))}
        </p>
    };
    let here = format!("{ACCEPT_PATH}?token={}", crate::orgs::encode(&token));
    match signed_in_as {
        Some(current) if current != email => view! {
            {summary}
            <p role="alert" class="mt-4 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="invitation-other-account">
                {format!("You are signed in as {current}, but this invitation is for {email}. Sign out, then open the link again.")}
            </p>
        }
        .into_any(),
        Some(_) => view! {
            {summary}
            <ActionForm action=accept attr:class="mt-6 space-y-4">
                <input type="hidden" name="token" value=token />
                {form_alert(error)}
                <button type="submit" class=AUTH_BUTTON disabled=move || accept.pending().get()>
                    {format!("Accept and join {org_name}")}
                </button>
            </ActionForm>
        }
        .into_any(),
        None if account_exists => view! {
            {summary}
            <p class="mt-4 text-sm text-slate-700">{format!("{email} already has an account: sign in, and you come back here to accept.")}</p>
            <a href=format!("/sign-in?next={}", crate::orgs::encode(&here)) class=format!("mt-4 block text-center {AUTH_BUTTON}")>"Sign in to accept"</a>
        }
        .into_any(),
        None => view! {
            {summary}
            <ActionForm action=accept attr:class="mt-6 space-y-4" attr:novalidate=true>
                <input type="hidden" name="token" value=token />
                {form_alert(error)}
                <div>
                    <label for="accept-email" class="block text-sm font-medium">"Email"</label>
                    <input id="accept-email" type="email" readonly value=email class=READONLY />
                </div>
                <div>
                    <label for="accept-name" class="block text-sm font-medium">"Your name"</label>
                    <input id="accept-name" name="name" autocomplete="name" required autofocus class=INPUT aria-invalid=invalid(error, "name") />
                    <FieldError error field="name" />
                </div>
                <div>
                    <label for="accept-password" class="block text-sm font-medium">"Password"</label>
                    <input id="accept-password" name="password" type="password" autocomplete="new-password" required class=INPUT aria-invalid=invalid(error, "password") />
                    <FieldError error field="password" />
                </div>
                <button type="submit" class=AUTH_BUTTON disabled=move || accept.pending().get()>
                    {format!("Create account and join {org_name}")}
                </button>
            </ActionForm>
        }
        .into_any(),
    }
}
