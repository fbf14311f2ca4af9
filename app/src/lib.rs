//! The Tenantry Admin App: the HTML shell, the router, and one folder per capability.
//!
//! Compiled twice: for the server (feature `ssr`, which renders pages and runs the server
//! functions) and for the browser (feature `hydrate`, which makes the rendered pages live).

// Both sides of the app must be built with components erased (see .cargo/config.toml): a
// browser build that differs from the server's fails to hydrate.
#[cfg(not(erase_components))]
compile_error!(
    "build with `--cfg erase_components` (.cargo/config.toml sets it; a RUSTFLAGS variable replaces it)"
);

pub mod account;
pub mod agents;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod billing;
#[cfg(feature = "ssr")]
pub mod context;
pub mod credentials;
pub mod domains;
pub mod error;
pub mod guardrails;
pub mod home;
pub mod invitations;
pub mod isolation;
pub mod knowledge;
pub mod llm_keys;
#[cfg(feature = "ssr")]
pub mod mail;
pub mod members;
pub mod orgs;
pub mod products;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod stores;
pub mod tenancy;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Outlet, ParentRoute, Redirect, Route, Router, Routes},
    hooks::use_location,
    path, SsrMode,
};

pub use error::AppError;

/// The HTML document every page is rendered into.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" class="h-full bg-slate-50">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="h-full text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The Admin App: layout around the routed pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    ui::mark_hydrated();

    view! {
        <Stylesheet id="leptos" href="/pkg/tenantry.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Tenantry".to_string() } else { format!("{page} · Tenantry") }
        } />
        <Router>
            // Pages render completely on the server (`Async`), so every page works before
            // hydration and with JavaScript switched off.
            <Routes fallback=ui::NotFound>
                <Route path=path!("/sign-in") view=auth::SignInPage ssr=SsrMode::Async />
                <Route path=path!("/setup") view=auth::SetupPage ssr=SsrMode::Async />
                <Route path=path!("/register") view=auth::RegisterPage ssr=SsrMode::Async />
                <Route path=path!("/invitations/accept") view=invitations::AcceptInvitationPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=SignedIn ssr=SsrMode::Async>
                    <Route path=path!("/") view=home::HomePage ssr=SsrMode::Async />
                    <ParentRoute path=path!("/organizations") view=orgs::OrganizationsPage ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!("new") view=orgs::NewOrgDialog ssr=SsrMode::Async />
                        <Route path=path!(":id/edit") view=orgs::EditOrgDialog ssr=SsrMode::Async />
                        <Route path=path!(":id/confirm/:action") view=orgs::ConfirmOrgAction ssr=SsrMode::Async />
                        // The detail view: one route per tab, each from its capability.
                        <ParentRoute path=path!(":id") view=orgs::OrgDetail ssr=SsrMode::Async>
                            <Route path=path!("") view=orgs::OverviewTab ssr=SsrMode::Async />
                            <Route path=path!("members") view=members::OrgMembersTab ssr=SsrMode::Async />
                            <Route path=path!("agents") view=agents::OrgAgentsTab ssr=SsrMode::Async />
                            <Route path=path!("credentials") view=credentials::CredentialsTab ssr=SsrMode::Async />
                            <Route path=path!("billing") view=billing::OrgBillingTab ssr=SsrMode::Async />
                            <Route path=path!("products") view=products::OrgProductsTab ssr=SsrMode::Async />
                            <Route path=path!("analytics") view=analytics::OrgAnalyticsTab ssr=SsrMode::Async />
                            <Route path=path!("domains") view=domains::DomainsTab ssr=SsrMode::Async />
                        </ParentRoute>
                    </ParentRoute>
                    <ParentRoute path=path!("/agents") view=agents::AgentsPage ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!(":id") view=agents::AgentKeysDialog ssr=SsrMode::Async />
                    </ParentRoute>
                    <ParentRoute path=path!("/knowledge") view=knowledge::KnowledgePage ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!(":id") view=knowledge::EntryEditor ssr=SsrMode::Async />
                    </ParentRoute>
                    <ParentRoute path=path!("/guardrails") view=guardrails::GuardrailsPage ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!(":id") view=guardrails::PolicyEditor ssr=SsrMode::Async />
                    </ParentRoute>
                    <Route path=path!("/products") view=products::ProductsPage ssr=SsrMode::Async />
                    <Route path=path!("/billing") view=billing::BillingPage ssr=SsrMode::Async />
                    <Route path=path!("/llm-keys") view=llm_keys::OwnLlmKeysPage ssr=SsrMode::Async />
                    <Route path=path!("/isolation") view=isolation::IsolationPage ssr=SsrMode::Async />
                    <Route path=path!("/account") view=account::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/audit") view=audit::AuditPage ssr=SsrMode::Async />
                    <ParentRoute path=path!("/users") view=members::UsersPage ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!("new") view=members::NewUserDialog ssr=SsrMode::Async />
                        <Route path=path!(":id") view=members::EditUserDialog ssr=SsrMode::Async />
                    </ParentRoute>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The Admin App frame for a signed-in user; visitors are sent to the sign-in page.
#[component]
fn SignedIn() -> impl IntoView {
    let switch = ServerAction::<auth::SwitchOrg>::new();
    // The session the server read before rendering, carried into the browser with the page; no
    // Suspense around the pages (see `auth::PageSession`).
    let session = RwSignal::new(SharedValue::new(auth::page_session).into_inner());
    // In the browser: read again after each switch (the active org and the list may have
    // changed), and when this frame was built without the server's reading.
    Effect::new(move |seen: Option<usize>| {
        let version = switch.version().get();
        if seen.is_some() || session.with_untracked(Option::is_none) {
            leptos::task::spawn_local(async move {
                session.set(Some(auth::current_session().await));
            });
        }
        version
    });
    let location = use_location();
    move || match session.get() {
        None => ().into_any(),
        Some(Ok(Some(info))) => {
            provide_context(info.clone());
            view! {
                <ui::AdminLayout session=info switch>
                    <Outlet />
                </ui::AdminLayout>
            }
            .into_any()
        }
        Some(Ok(None) | Err(AppError::Unauthorized)) => {
            let next = location.pathname.get_untracked();
            let target = if next == "/" {
                "/sign-in".to_string()
            } else {
                format!("/sign-in?next={next}")
            };
            view! { <Redirect path=target /> }.into_any()
        }
        Some(Err(err)) => view! {
            <main id="main" class="mx-auto max-w-lg px-6 py-16 text-center">
                <h1 class="text-xl font-semibold">"Cannot open the Admin App"</h1>
                <p role="alert" class="mt-2 text-slate-600">{err.to_string()}</p>
            </main>
        }
        .into_any(),
    }
}
