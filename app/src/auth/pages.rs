//! The sign-in and first-superadmin pages, and the sign-out button. Plain forms over server
//! actions: they work before hydration and with JavaScript off.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{CreateFirstSuperadmin, Register, SignIn, SignOut};
use crate::{
    ui::{form_alert, invalid, style::INPUT, FieldError},
    AppError,
};

pub(crate) const BUTTON: &str = "w-full rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60";

/// A centred card for pages shown to people who are not signed in.
#[component]
pub(crate) fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=title />
        <main id="main" class="flex min-h-full items-center justify-center px-4 py-12">
            <div class="w-full max-w-sm">
                <div class="mb-6 flex items-center justify-center gap-2 text-lg font-semibold">
                    <span aria-hidden="true" class="inline-block h-6 w-6 rounded-md bg-indigo-500"></span>
                    "Tenantry"
                </div>
                <section class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                    <h1 class="text-xl font-semibold tracking-tight">{title}</h1>
                    {children()}
                </section>
            </div>
        </main>
    }
}

/// The error of the last submission: from the action with JavaScript, and from the URL the
/// server redirected a plain form post back to without it (server_fn's form redirects).
pub fn submission_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = submission_error(action);
    let registration = Resource::new(|| (), |_| super::registration_open());
    let next = use_query_map().with_untracked(|q| q.get("next").unwrap_or_else(|| "/".into()));
    view! {
        <AuthCard title="Sign in">
            <ActionForm action=action attr:class="mt-6 space-y-4" attr:novalidate=true>
                <input type="hidden" name="next" value=next />
                {form_alert(error)}
                <div>
                    <label for="email" class="block text-sm font-medium">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required
                        autofocus class=INPUT aria-invalid=invalid(error, "email") />
                    <FieldError error field="email" />
                </div>
                <div>
                    <label for="password" class="block text-sm font-medium">"Password"</label>
                    <input id="password" name="password" type="password"
                        autocomplete="current-password" required class=INPUT aria-invalid=invalid(error, "password") />
                    <FieldError error field="password" />
                </div>
                <button type="submit" class=BUTTON disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <Suspense fallback=|| ()>
                {move || {
                    registration.get().and_then(|open| open.ok()).filter(|open| *open).map(|_| view! {
                        <p class="mt-6 text-center text-sm text-slate-600">
                            "New here? "
                            <a href="/register" class="font-medium text-indigo-600 hover:text-indigo-500">
                                "Create an account"
                            </a>
                        </p>
                    })
                }}
            </Suspense>
        </AuthCard>
    }
}

/// Self-registration: an account and a personal organization it owns.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let action = ServerAction::<Register>::new();
    let error = submission_error(action);
    view! {
        <AuthCard title="Create an account">
            <ActionForm action=action attr:class="mt-6 space-y-4" attr:novalidate=true>
                {form_alert(error)}
                <div>
                    <label for="name" class="block text-sm font-medium">"Your name"</label>
                    <input id="name" name="name" autocomplete="name" required class=INPUT aria-invalid=invalid(error, "name") />
                    <FieldError error field="name" />
                </div>
                <div>
                    <label for="email" class="block text-sm font-medium">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required class=INPUT aria-invalid=invalid(error, "email") />
                    <FieldError error field="email" />
                </div>
                <div>
                    <label for="password" class="block text-sm font-medium">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password"
                        minlength=super::MIN_PASSWORD_LEN required class=INPUT aria-invalid=invalid(error, "password") />
                    <p class="mt-1 text-xs text-slate-500">
                        {format!("At least {} characters.", super::MIN_PASSWORD_LEN)}
                    </p>
                    <FieldError error field="password" />
                </div>
                <div>
                    <label for="organization" class="block text-sm font-medium">
                        "Organization name " <span class="font-normal text-slate-500">"(optional)"</span>
                    </label>
                    <input id="organization" name="organization" autocomplete="organization" class=INPUT aria-invalid=invalid(error, "organization") />
                    <FieldError error field="organization" />
                </div>
                <button type="submit" class=BUTTON disabled=move || action.pending().get()>
                    "Create account"
                </button>
            </ActionForm>
            <p class="mt-6 text-center text-sm text-slate-600">
                "Have an account? "
                <a href="/sign-in" class="font-medium text-indigo-600 hover:text-indigo-500">"Sign in"</a>
            </p>
        </AuthCard>
    }
}

/// The one-time page `serve` prints while no superadmin exists.
#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<CreateFirstSuperadmin>::new();
    let error = submission_error(action);
    let token = use_query_map().with_untracked(|q| q.get("token").unwrap_or_default());
    view! {
        <AuthCard title="Create the first superadmin">
            <p class="mt-1 text-sm text-slate-600">
                "This link works once. The account you create here can manage every organization."
            </p>
            <ActionForm action=action attr:class="mt-6 space-y-4" attr:novalidate=true>
                <input type="hidden" name="token" value=token />
                {form_alert(error)}
                <div>
                    <label for="name" class="block text-sm font-medium">"Name"</label>
                    <input id="name" name="name" autocomplete="name" required class=INPUT aria-invalid=invalid(error, "name") />
                    <FieldError error field="name" />
                </div>
                <div>
                    <label for="email" class="block text-sm font-medium">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required class=INPUT aria-invalid=invalid(error, "email") />
                    <FieldError error field="email" />
                </div>
                <div>
                    <label for="password" class="block text-sm font-medium">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="new-password"
                        minlength=super::MIN_PASSWORD_LEN required class=INPUT aria-invalid=invalid(error, "password") />
                    <p class="mt-1 text-xs text-slate-500">
                        {format!("At least {} characters.", super::MIN_PASSWORD_LEN)}
                    </p>
                    <FieldError error field="password" />
                </div>
                <button type="submit" class=BUTTON disabled=move || action.pending().get()>
                    "Create superadmin"
                </button>
            </ActionForm>
        </AuthCard>
    }
}

/// Signs out; a POST, so a link or an image elsewhere cannot sign anyone out.
#[component]
pub fn SignOutButton() -> impl IntoView {
    let action = ServerAction::<SignOut>::new();
    view! {
        <ActionForm action=action>
            <button
                type="submit"
                class="rounded-md px-3 py-1.5 text-sm text-slate-600 hover:bg-slate-100 hover:text-slate-900 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
            >
                "Sign out"
            </button>
        </ActionForm>
    }
}
