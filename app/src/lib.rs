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
pub mod settings;
#[cfg(feature = "ssr")]
pub mod stores;
pub mod tenancy;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Outlet, ParentRoute, Redirect, Route, Router, Routes},
    hooks::use_location,
    path, Lazy, SsrMode,
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
    ui::start_in_browser();

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
                <Route path=path!("/setup") view={Lazy::<lazy::Setup>::new()} ssr=SsrMode::Async />
                <Route path=path!("/register") view={Lazy::<lazy::Register>::new()} ssr=SsrMode::Async />
                <Route path=path!("/invitations/accept") view={Lazy::<lazy::AcceptInvitation>::new()} ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=SignedIn ssr=SsrMode::Async>
                    <Route path=path!("/") view=home::HomePage ssr=SsrMode::Async />
                    <ParentRoute path=path!("/organizations") view=orgs::OrganizationsPage ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!("new") view={Lazy::<lazy::NewOrg>::new()} ssr=SsrMode::Async />
                        <Route path=path!(":id/edit") view={Lazy::<lazy::EditOrg>::new()} ssr=SsrMode::Async />
                        <Route path=path!(":id/confirm/:action") view={Lazy::<lazy::ConfirmOrg>::new()} ssr=SsrMode::Async />
                        // The detail view: one route per tab, each from its capability.
                        <ParentRoute path=path!(":id") view=orgs::OrgDetail ssr=SsrMode::Async>
                            <Route path=path!("") view=orgs::OverviewTab ssr=SsrMode::Async />
                            <Route path=path!("members") view={Lazy::<lazy::OrgMembers>::new()} ssr=SsrMode::Async />
                            <Route path=path!("agents") view={Lazy::<lazy::OrgAgents>::new()} ssr=SsrMode::Async />
                            <Route path=path!("credentials") view={Lazy::<lazy::Credentials>::new()} ssr=SsrMode::Async />
                            <Route path=path!("billing") view={Lazy::<lazy::OrgBilling>::new()} ssr=SsrMode::Async />
                            <Route path=path!("products") view={Lazy::<lazy::OrgProducts>::new()} ssr=SsrMode::Async />
                            <Route path=path!("analytics") view={Lazy::<lazy::OrgAnalytics>::new()} ssr=SsrMode::Async />
                            <Route path=path!("domains") view={Lazy::<lazy::Domains>::new()} ssr=SsrMode::Async />
                        </ParentRoute>
                    </ParentRoute>
                    <ParentRoute path=path!("/agents") view={Lazy::<lazy::Agents>::new()} ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!(":id") view={Lazy::<lazy::AgentKeys>::new()} ssr=SsrMode::Async />
                    </ParentRoute>
                    <ParentRoute path=path!("/knowledge") view={Lazy::<lazy::Knowledge>::new()} ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!(":id") view={Lazy::<lazy::KnowledgeEntry>::new()} ssr=SsrMode::Async />
                    </ParentRoute>
                    <ParentRoute path=path!("/guardrails") view={Lazy::<lazy::Guardrails>::new()} ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!(":id") view={Lazy::<lazy::Policy>::new()} ssr=SsrMode::Async />
                    </ParentRoute>
                    <Route path=path!("/products") view={Lazy::<lazy::Products>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/billing") view={Lazy::<lazy::Billing>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/llm-keys") view={Lazy::<lazy::LlmKeys>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/isolation") view={Lazy::<lazy::Isolation>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/settings") view={Lazy::<lazy::Settings>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/account") view={Lazy::<lazy::Account>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/audit") view={Lazy::<lazy::Audit>::new()} ssr=SsrMode::Async />
                    <ParentRoute path=path!("/users") view={Lazy::<lazy::Users>::new()} ssr=SsrMode::Async>
                        <Route path=path!("") view=|| () ssr=SsrMode::Async />
                        <Route path=path!("new") view={Lazy::<lazy::NewUser>::new()} ssr=SsrMode::Async />
                        <Route path=path!(":id") view={Lazy::<lazy::EditUser>::new()} ssr=SsrMode::Async />
                    </ParentRoute>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The pages a session seldom opens, each its own WASM chunk that the browser fetches on the
/// first visit (`cargo leptos build --split`; the browser's entry point hydrates a page rendered
/// on the server once its chunk is in, fetched after the main module: Leptos 0.8.23 names no
/// chunk in the page's preload links here). The frame, the Organizations page and the org
/// overview stay in the main module: they are what a session opens first.
mod lazy {
    use leptos::prelude::*;
    use leptos_router::{lazy_route, LazyRoute};

    macro_rules! lazy_pages {
        ($($route:ident => $page:path,)*) => {$(
            pub(super) struct $route;

            #[lazy_route]
            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                fn view(this: Self) -> AnyView {
                    let _ = this;
                    $page().into_any()
                }
            }
        )*};
    }

    lazy_pages! {
        Setup => super::auth::SetupPage,
        Register => super::auth::RegisterPage,
        AcceptInvitation => super::invitations::AcceptInvitationPage,
        NewOrg => super::orgs::NewOrgDialog,
        EditOrg => super::orgs::EditOrgDialog,
        ConfirmOrg => super::orgs::ConfirmOrgAction,
        OrgMembers => super::members::OrgMembersTab,
        OrgAgents => super::agents::OrgAgentsTab,
        Credentials => super::credentials::CredentialsTab,
        OrgBilling => super::billing::OrgBillingTab,
        OrgProducts => super::products::OrgProductsTab,
        OrgAnalytics => super::analytics::OrgAnalyticsTab,
        Domains => super::domains::DomainsTab,
        Agents => super::agents::AgentsPage,
        AgentKeys => super::agents::AgentKeysDialog,
        Knowledge => super::knowledge::KnowledgePage,
        KnowledgeEntry => super::knowledge::EntryEditor,
        Guardrails => super::guardrails::GuardrailsPage,
        Policy => super::guardrails::PolicyEditor,
        Products => super::products::ProductsPage,
        Billing => super::billing::BillingPage,
        LlmKeys => super::llm_keys::OwnLlmKeysPage,
        Isolation => super::isolation::IsolationPage,
        Settings => super::settings::SettingsPage,
        Account => super::account::AccountPage,
        Audit => super::audit::AuditPage,
        Users => super::members::UsersPage,
        NewUser => super::members::NewUserDialog,
        EditUser => super::members::EditUserDialog,
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
