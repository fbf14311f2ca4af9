//! A dialog over a list page: a real address, so it opens and closes without JavaScript. With
//! it, focus starts on the first field and Escape goes back to the list.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_navigate};

use super::style::FOCUS_RING;

#[component]
pub fn Modal(
    title: String,
    /// Where closing goes (the list behind the dialog).
    #[prop(into)]
    close: String,
    children: Children,
) -> impl IntoView {
    let navigate = use_navigate();
    let escape = {
        let close = close.clone();
        window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.key() == "Escape" {
                navigate(&close, Default::default());
            }
        })
    };
    on_cleanup(move || escape.remove());
    // `autofocus` acts once per document; a dialog opened by client-side navigation takes the
    // focus itself.
    let panel = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if let Some(panel) = panel.get() {
            if let Ok(Some(first)) =
                panel.query_selector("input:not([type=hidden]):not([readonly]), select")
            {
                use leptos::wasm_bindgen::JsCast;
                if let Ok(el) = first.dyn_into::<leptos::web_sys::HtmlElement>() {
                    let _ = el.focus();
                }
            }
        }
    });
    view! {
        <Title text=title.clone() />
        <div class="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-slate-900/40 px-4 py-12">
            <div node_ref=panel role="dialog" aria-modal="true" aria-labelledby="dialog-title"
                class="w-full max-w-2xl rounded-lg bg-white p-6 shadow-xl">
                <div class="flex items-start justify-between gap-4">
                    <h2 id="dialog-title" class="text-lg font-semibold">{title}</h2>
                    <A href=close attr:aria-label="Close" attr:class=format!("rounded p-1 text-slate-500 hover:bg-slate-100 {FOCUS_RING}")>
                        "✕"
                    </A>
                </div>
                {children()}
            </div>
        </div>
    }
}

/// A form-level message for an error that belongs to no single field.
pub fn form_alert(error: Signal<Option<crate::AppError>>) -> impl IntoView {
    move || {
        error.get().and_then(|err| match err {
            crate::AppError::Validation(_) => None,
            other => Some(view! {
                <p role="alert" class="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{other.to_string()}</p>
            }),
        })
    }
}

/// Tabs as links (`<base>?tab=<key>`), so each tab has an address and works without JavaScript.
#[component]
pub fn TabNav(
    label: &'static str,
    tabs: &'static [(&'static str, &'static str)],
    current: String,
    /// The address the tabs add `?tab=` to.
    base: String,
) -> impl IntoView {
    view! {
        <nav aria-label=label class="mt-4 border-b border-slate-200">
            <ul class="-mb-px flex flex-wrap gap-4 text-sm">
                {tabs.iter().map(|(key, text)| {
                    let selected = *key == current;
                    view! {
                        <li>
                            <A href=format!("{base}?tab={key}")
                                attr:aria-current=selected.then_some("page")
                                attr:class=format!("inline-block border-b-2 px-1 pb-2 {FOCUS_RING} {}",
                                    if selected { "border-indigo-600 font-medium text-indigo-700" }
                                    else { "border-transparent text-slate-600 hover:text-slate-900" })>
                                {*text}
                            </A>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </nav>
    }
}
