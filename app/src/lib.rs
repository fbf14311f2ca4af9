//! The Tenantry Admin App: the HTML shell, the router, and one folder per capability.
//!
//! Compiled twice: for the server (feature `ssr`, which renders pages and runs the server
//! functions) and for the browser (feature `hydrate`, which makes the rendered pages live).

#[cfg(feature = "ssr")]
pub mod context;
pub mod error;
pub mod home;
pub mod tenancy;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
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
                <link rel="icon" href="data:," />
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
            <ui::AdminLayout>
                // Pages render completely on the server (`Async`), so every page works before
                // hydration and with JavaScript switched off.
                <Routes fallback=ui::NotFound>
                    <Route path=path!("/") view=home::HomePage ssr=SsrMode::Async />
                </Routes>
            </ui::AdminLayout>
        </Router>
    }
}
