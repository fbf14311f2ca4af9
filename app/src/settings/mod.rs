//! Settings (`/settings`, superadmins): the platform's own configuration. Its one section so
//! far is **Models**, the price of each model per million tokens (owned by billing, which
//! prices agents' usage with it).

use leptos::prelude::*;
use leptos_meta::Title;

/// The Settings page: a list of its sections, then each section.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings" />
        <div class="mx-auto max-w-6xl" data-testid="settings-page">
            <h1 class="text-2xl font-semibold tracking-tight">"Settings"</h1>
            <p class="mt-1 text-sm text-slate-600">"The platform's configuration, the same for every organization."</p>
            <nav aria-label="Settings sections" class="mt-4 border-b border-slate-200">
                <ul class="-mb-px flex gap-4 text-sm">
                    <li>
                        <a href="#models" aria-current="page" class="inline-block border-b-2 border-indigo-600 px-1 pb-2 font-medium text-indigo-700">"Models"</a>
                    </li>
                </ul>
            </nav>
            <div id="models" class="mt-6">
                <crate::billing::ModelPrices />
            </div>
        </div>
    }
}
