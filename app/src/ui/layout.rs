//! The Admin App frame: sidebar of sections, header with room for the organization switcher.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// One entry of the sidebar. `href` is `None` until the section is built.
struct Section {
    label: &'static str,
    href: Option<&'static str>,
}

const SECTIONS: &[Section] = &[
    Section {
        label: "Overview",
        href: Some("/"),
    },
    Section {
        label: "Organizations",
        href: None,
    },
    Section {
        label: "Users",
        href: None,
    },
    Section {
        label: "Products",
        href: None,
    },
    Section {
        label: "Agents",
        href: None,
    },
    Section {
        label: "Knowledge",
        href: None,
    },
    Section {
        label: "Guardrails",
        href: None,
    },
    Section {
        label: "Billing",
        href: None,
    },
    Section {
        label: "Audit",
        href: None,
    },
];

const FOCUS_RING: &str =
    "focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2";

#[component]
pub fn AdminLayout(children: Children) -> impl IntoView {
    view! {
        <a
            href="#main"
            class="sr-only focus:not-sr-only focus:absolute focus:left-4 focus:top-4 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow"
        >
            "Skip to content"
        </a>
        <div class="flex min-h-full">
            <aside class="hidden w-60 shrink-0 flex-col bg-slate-900 text-slate-100 md:flex">
                <div class="flex h-14 items-center gap-2 px-5 text-lg font-semibold tracking-tight">
                    <span aria-hidden="true" class="inline-block h-6 w-6 rounded-md bg-indigo-500"></span>
                    "Tenantry"
                </div>
                <nav aria-label="Sections" class="flex-1 px-3 py-4">
                    <SectionList />
                </nav>
                <p class="px-5 py-4 text-xs text-slate-400">"Multi-tenant control plane"</p>
            </aside>
            <div class="flex min-w-0 flex-1 flex-col">
                <header class="flex h-14 items-center justify-between border-b border-slate-200 bg-white px-6">
                    // Narrow screens hide the sidebar; the same sections open from here, with
                    // or without JavaScript.
                    <details class="relative md:hidden">
                        <summary class=format!(
                            "flex cursor-pointer list-none items-center gap-2 rounded-md px-2 py-1 text-sm font-semibold {FOCUS_RING}",
                        )>
                            <span aria-hidden="true" class="inline-block h-5 w-5 rounded bg-indigo-500"></span>
                            "Tenantry"
                            <span class="text-slate-400">"Menu"</span>
                        </summary>
                        <nav
                            aria-label="Sections"
                            class="absolute left-0 z-20 mt-2 w-60 rounded-lg bg-slate-900 p-3 shadow-lg"
                        >
                            <SectionList />
                        </nav>
                    </details>
                    // The organization switcher takes this slot once organizations exist.
                    <div
                        id="org-switcher"
                        class="ml-auto flex items-center gap-2 text-sm text-slate-500"
                        aria-live="polite"
                    >
                        <span class="rounded-md border border-dashed border-slate-300 px-3 py-1">
                            "No organization selected"
                        </span>
                    </div>
                </header>
                <main id="main" tabindex="-1" class="flex-1 px-6 py-8 focus:outline-none">
                    {children()}
                </main>
            </div>
        </div>
    }
}

#[component]
fn SectionList() -> impl IntoView {
    view! { <ul class="space-y-1">{SECTIONS.iter().map(section_link).collect_view()}</ul> }
}

fn section_link(section: &'static Section) -> impl IntoView {
    let base = "flex items-center justify-between rounded-md px-3 py-2 text-sm";
    match section.href {
        Some(href) => view! {
            <li>
                <A
                    href=href
                    exact=true
                    attr:class=format!(
                        "{base} {FOCUS_RING} text-slate-200 hover:bg-slate-800 aria-[current=page]:bg-slate-800 aria-[current=page]:text-white",
                    )
                >
                    {section.label}
                </A>
            </li>
        }
        .into_any(),
        None => view! {
            <li>
                <span
                    class=format!("{base} cursor-not-allowed text-slate-500")
                    aria-disabled="true"
                    title="Not available yet"
                >
                    <span>{section.label}</span>
                    <span class="rounded bg-slate-800 px-1.5 py-0.5 text-[10px] uppercase tracking-wide text-slate-400">
                        "Soon"
                    </span>
                </span>
            </li>
        }
        .into_any(),
    }
}

/// Shown for any path the router does not know.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found" />
        <section class="mx-auto max-w-lg text-center">
            <h1 class="text-2xl font-semibold">"Page not found"</h1>
            <p class="mt-2 text-slate-600">"There is nothing at this address."</p>
            <A href="/" attr:class=format!("mt-6 inline-block rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-500 {FOCUS_RING}")>
                "Back to the overview"
            </A>
        </section>
    }
}
