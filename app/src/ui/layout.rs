//! The Admin App frame: sidebar of sections, header with room for the organization switcher.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::style::FOCUS_RING;
use crate::auth::{SessionInfo, SignOutButton, SwitchOrg};

/// One entry of the sidebar. `href` is `None` until the section is built; `page` is the
/// permission that shows it (`None`: everyone).
/// A sidebar entry: a link, and the section (of `tenancy::access::Section`, the one list) it
/// opens, if any: shown only to callers who hold it.
struct Section {
    label: &'static str,
    href: Option<&'static str>,
    page: Option<crate::tenancy::access::Section>,
}

const SECTIONS: &[Section] = &[
    Section {
        label: "Overview",
        href: Some("/"),
        page: None,
    },
    Section {
        label: "Organizations",
        href: Some("/organizations"),
        page: Some(crate::tenancy::access::Section::Organizations),
    },
    Section {
        label: "Users",
        href: Some("/users"),
        page: Some(crate::tenancy::access::Section::Users),
    },
    Section {
        label: "Products",
        href: Some("/products"),
        page: Some(crate::tenancy::access::Section::Products),
    },
    Section {
        label: "Agents",
        href: Some("/agents"),
        page: Some(crate::tenancy::access::Section::Agents),
    },
    Section {
        label: "Knowledge",
        href: Some("/knowledge"),
        page: Some(crate::tenancy::access::Section::Knowledge),
    },
    Section {
        label: "Guardrails",
        href: Some("/guardrails"),
        page: Some(crate::tenancy::access::Section::Guardrails),
    },
    Section {
        label: "Billing",
        href: Some("/billing"),
        page: Some(crate::tenancy::access::Section::Billing),
    },
    Section {
        label: "Your LLM keys",
        href: Some("/llm-keys"),
        page: None,
    },
    Section {
        label: "Your account",
        href: Some("/account"),
        page: None,
    },
    Section {
        label: "Audit",
        href: Some("/audit"),
        page: Some(crate::tenancy::access::Section::Audit),
    },
    Section {
        label: "Isolation",
        href: Some("/isolation"),
        page: None,
    },
    Section {
        label: "Settings",
        href: Some("/settings"),
        page: None,
    },
];

#[component]
pub fn AdminLayout(
    session: SessionInfo,
    switch: ServerAction<SwitchOrg>,
    children: Children,
) -> impl IntoView {
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
                    <SectionList pages=session.pages.clone() superadmin=session.superadmin />
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
                            <SectionList pages=session.pages.clone() superadmin=session.superadmin />
                        </nav>
                    </details>
                    <div class="ml-auto flex items-center gap-3 text-sm">
                        <OrgSwitcher session=session.clone() switch />
                        <span class="hidden text-slate-500 sm:inline" data-testid="signed-in-as">
                            {session.email.clone()}
                            {session.superadmin.then(|| view! {
                                <span class="ml-2 rounded bg-indigo-50 px-1.5 py-0.5 text-xs font-medium text-indigo-700">
                                    "Superadmin"
                                </span>
                            })}
                        </span>
                        <SignOutButton />
                    </div>
                </header>
                <main id="main" tabindex="-1" class="flex-1 px-6 py-8 focus:outline-none">
                    {children()}
                </main>
            </div>
        </div>
    }
}

/// The active organization, and a form to switch to another. A client user bound to one org
/// sees it with a "Locked" badge and no way to switch (the server refuses forged switches too).
#[component]
fn OrgSwitcher(session: SessionInfo, switch: ServerAction<SwitchOrg>) -> impl IntoView {
    let active = session.active_org.clone();
    let active_label = active
        .as_ref()
        .map(|o| format!("{} · {}", o.name, o.label()))
        .unwrap_or_else(|| "No organization selected".to_string());
    if session.locked {
        return view! {
            <div id="org-switcher" class="flex items-center gap-2" data-testid="org-switcher">
                <span class="font-medium" data-testid="active-org">{active_label}</span>
                <span
                    class="rounded bg-amber-100 px-1.5 py-0.5 text-xs font-medium text-amber-800"
                    title="This account is locked to its organization"
                    data-testid="org-locked"
                >
                    "Locked"
                </span>
            </div>
        }
        .into_any();
    }
    // Nothing to switch between: no select, only where the account stands.
    if session.orgs.is_empty() {
        return view! {
            <div id="org-switcher" class="flex items-center gap-2" data-testid="org-switcher">
                <span class="text-slate-500" data-testid="active-org">"No organizations yet"</span>
            </div>
        }
        .into_any();
    }
    let active_id = active.map(|o| o.id).unwrap_or_default();
    let error = crate::auth::submission_error(switch);
    view! {
        <div id="org-switcher" class="flex items-center gap-2" data-testid="org-switcher">
            <span class="sr-only" data-testid="active-org">{active_label}</span>
            <ActionForm action=switch attr:class="flex items-center gap-2">
                <label for="org-switch" class="sr-only">"Organization"</label>
                <select
                    id="org-switch"
                    name="org_id"
                    class=format!("max-w-[22rem] rounded-md border border-slate-300 bg-white py-1.5 pl-2 pr-8 text-sm {FOCUS_RING}")
                >
                    {(active_id.is_empty()).then(|| view! {
                        <option value="" selected=true disabled=true>"Choose an organization"</option>
                    })}
                    {session.orgs.iter().map(|org| {
                        let label = format!(
                            "{} · {}{}",
                            org.name,
                            org.label(),
                            if org.active { "" } else { " (disabled)" },
                        );
                        view! {
                            <option value=org.id.clone() selected=org.id == active_id>{label}</option>
                        }
                    }).collect_view()}
                </select>
                <button
                    type="submit"
                    class=format!("rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium hover:bg-slate-50 {FOCUS_RING}")
                    disabled=move || switch.pending().get()
                >
                    "Switch"
                </button>
            </ActionForm>
            {move || error.get().map(|e| view! {
                <span role="alert" class="text-sm text-red-600">{e.to_string()}</span>
            })}
        </div>
    }
    .into_any()
}

#[component]
fn SectionList(pages: Vec<String>, superadmin: bool) -> impl IntoView {
    // A section opens for those who hold it; one that is no section's (a personal page, a
    // platform page) for whoever its declared need admits.
    let allowed = move |section: &&Section| match section.page {
        Some(page) => pages.iter().any(|p| p == page.key()),
        None => {
            superadmin
                || section.href.and_then(crate::tenancy::access::need_of)
                    != Some(crate::tenancy::access::Need::Platform)
        }
    };
    view! {
        <ul class="space-y-1">
            {SECTIONS.iter().filter(allowed).map(section_link).collect_view()}
        </ul>
    }
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
