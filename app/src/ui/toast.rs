//! The confirmation after a save: a toast in the corner that goes away by itself once the page
//! is hydrated (or at once with its ✕). Without JavaScript it stays, as the page's notice.

use std::time::Duration;

use leptos::prelude::*;

use super::style::FOCUS_RING;

/// How long a toast stays up.
const SHOWN_FOR: Duration = Duration::from_secs(6);

#[component]
pub fn Toast(#[prop(into)] text: String) -> impl IntoView {
    let shown = RwSignal::new(true);
    // Effects run only in the browser: the server-rendered toast stays for JS-less readers.
    Effect::new(move |_| set_timeout(move || shown.set(false), SHOWN_FOR));
    move || {
        shown.get().then(|| {
            view! {
                <div role="status" data-testid="toast"
                    class="fixed bottom-6 right-6 z-50 flex max-w-sm items-start gap-3 rounded-md border border-emerald-200 bg-emerald-50 px-4 py-3 text-sm text-emerald-800 shadow-lg">
                    <span class="mt-0.5" aria-hidden="true">"✓"</span>
                    <span>{text.clone()}</span>
                    <button type="button" aria-label="Dismiss" on:click=move |_| shown.set(false)
                        class=format!("ml-2 rounded px-1 text-emerald-700 hover:bg-emerald-100 {FOCUS_RING}")>
                        "✕"
                    </button>
                </div>
            }
        })
    }
}
