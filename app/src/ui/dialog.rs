//! A dialog over a list page: a real address, so it opens and closes without JavaScript. With
//! it, focus starts on the first field, Tab stays inside, Escape goes back to the list, and
//! focus returns to whatever opened the dialog.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_navigate};

use super::style::FOCUS_RING;

#[component]
pub fn Modal(
    /// The dialog's heading and the page's title. It may read a resource: it is read inside
    /// a `Suspense` of its own, so that waiting for it holds up only the heading (read outside
    /// one, it would hold up, and then re-render, whatever `Suspense` encloses the dialog).
    #[prop(into)]
    title: Signal<String>,
    /// Where closing goes (the list behind the dialog).
    #[prop(into)]
    close: String,
    children: Children,
) -> impl IntoView {
    let navigate = use_navigate();
    let panel = NodeRef::<leptos::html::Div>::new();
    // Escape closes; Tab and Shift+Tab cycle within the dialog, as `aria-modal` promises.
    let keys = {
        let close = close.clone();
        window_event_listener(leptos::ev::keydown, move |ev| match ev.key().as_str() {
            "Escape" => navigate(&close, Default::default()),
            "Tab" => {
                if let Some(panel) = panel.get_untracked() {
                    if trap_tab(&panel, ev.shift_key()) {
                        ev.prevent_default();
                    }
                }
            }
            _ => {}
        })
    };
    on_cleanup(move || keys.remove());
    // On opening, focus moves to the first field (`autofocus` acts once per document, so a
    // dialog opened by client-side navigation takes it itself); on closing, it goes back to
    // the link or button that opened the dialog.
    // The opener is the element focused last outside dialogs (by the time this effect runs an
    // `autofocus` field may hold the focus already).
    // (Browser only: on the server there is no focus, and the element must not cross threads.)
    #[cfg(feature = "hydrate")]
    let opener =
        send_wrapper::SendWrapper::new(LAST_FOCUS_OUTSIDE.with(|last| last.borrow().clone()));
    // Once, when the panel is in the page.
    Effect::new(move |focused: Option<bool>| {
        if focused == Some(true) {
            return true;
        }
        let Some(_panel) = panel.get() else {
            return false;
        };
        #[cfg(feature = "hydrate")]
        focus_first_field(_panel, SETTLE_TICKS);
        true
    });
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let opener = opener.clone();
            on_cleanup(move || {
                if let Some(opener) = opener.take() {
                    // After the dialog is gone and the list behind has settled (a save may have
                    // re-rendered its rows, and with them the opener: then its twin link).
                    set_timeout(
                        move || return_focus(opener, SETTLE_TICKS, None),
                        std::time::Duration::ZERO,
                    );
                }
            });
        }
    });
    view! {
        <Suspense fallback=|| ()>{move || view! { <Title text=title.get() /> }}</Suspense>
        <div class="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-slate-900/40 px-4 py-12">
            <div node_ref=panel role="dialog" aria-modal="true" aria-labelledby="dialog-title"
                class="w-full max-w-2xl rounded-lg bg-white p-6 shadow-xl">
                <div class="flex items-start justify-between gap-4">
                    <h2 id="dialog-title" class="text-lg font-semibold"><Suspense fallback=|| ()>{move || title.get()}</Suspense></h2>
                    <A href=close attr:aria-label="Close" attr:class=format!("rounded p-1 text-slate-500 hover:bg-slate-100 {FOCUS_RING}")>
                        "✕"
                    </A>
                </div>
                {children()}
            </div>
        </div>
    }
}

#[cfg(feature = "hydrate")]
const FIELDS: &str = "input:not([type=hidden]):not([readonly]), select, textarea";
const TABBABLE: &str = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), \
                        select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

fn focusable(root: &leptos::web_sys::Element, selector: &str) -> Vec<leptos::web_sys::HtmlElement> {
    use leptos::wasm_bindgen::JsCast;
    let all = root.get_elements_by_tag_name("*");
    (0..all.length())
        .filter_map(|i| all.item(i))
        .filter(|el| el.matches(selector).unwrap_or(false))
        .filter_map(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        .collect()
}

/// Keeps Tab inside `panel`: from the last control to the first and back. Returns whether it
/// moved the focus itself.
fn trap_tab(panel: &leptos::web_sys::HtmlDivElement, backwards: bool) -> bool {
    let controls = focusable(panel, TABBABLE);
    let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
        return false;
    };
    let active = document().active_element();
    let inside = active.as_ref().is_some_and(|a| panel.contains(Some(&**a)));
    let at = |el: &leptos::web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a == AsRef::<leptos::web_sys::Element>::as_ref(el))
    };
    let target = match (inside, backwards) {
        (false, false) => first,
        (false, true) => last,
        (true, false) if at(last) => first,
        (true, true) if at(first) => last,
        _ => return false,
    };
    let _ = target.focus();
    true
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The element focused last outside any dialog: the opener of the next one.
    static LAST_FOCUS_OUTSIDE: std::cell::RefCell<Option<leptos::web_sys::Element>> =
        const { std::cell::RefCell::new(None) };
}

/// Remembers, for the page's lifetime, which element outside dialogs had the focus last (a
/// clicked link counts), so a dialog knows where to give it back. Called once, at hydration.
pub(super) fn track_focus_outside_dialogs() {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let listener = window_event_listener(leptos::ev::focusin, |ev| {
            let Some(el) = ev
                .target()
                .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            else {
                return;
            };
            if let Ok(None) = el.closest("[role=dialog]") {
                LAST_FOCUS_OUTSIDE.with(|last| *last.borrow_mut() = Some(el));
            }
        });
        // For as long as the page lives.
        std::mem::forget(listener);
    }
}

#[cfg(feature = "hydrate")]
/// How long, after a dialog closes, focus is kept on its opener while the page behind settles.
const SETTLE_TICKS: u32 = 20;
#[cfg(feature = "hydrate")]
const TICK: std::time::Duration = std::time::Duration::from_millis(50);

/// Focuses the dialog's first field; a dialog whose fields wait for data (its own `Suspense`)
/// gets them a little later, so this looks again each tick for a while. Stops when the person
/// has put the focus inside the dialog, or when the dialog is gone.
#[cfg(feature = "hydrate")]
fn focus_first_field(panel: leptos::web_sys::HtmlDivElement, ticks_left: u32) {
    if !panel.is_connected() {
        return;
    }
    let active = document().active_element();
    if active.as_ref().is_some_and(|a| panel.contains(Some(&**a))) {
        return;
    }
    match focusable(&panel, FIELDS).into_iter().next() {
        Some(first) => {
            let _ = first.focus();
        }
        None if ticks_left > 0 => {
            set_timeout(move || focus_first_field(panel, ticks_left - 1), TICK);
        }
        None => {}
    }
}

/// Focuses the dialog's opener once the dialog is gone, and again if the list behind re-renders
/// it (a save reloads the rows): then the link with the same address takes its place. Stops when
/// the person moves the focus elsewhere, or when another dialog has taken this one's place (a
/// tab of the same dialog, say): that one keeps the focus.
#[cfg(feature = "hydrate")]
fn return_focus(opener: leptos::web_sys::Element, ticks_left: u32, page: Option<String>) {
    use leptos::wasm_bindgen::JsCast;
    let here = window().location().href().ok();
    // The person went on to another address (opened the next dialog, say): leave the focus be.
    if page.is_some() && page != here {
        return;
    }
    let again = move |opener, page| {
        if ticks_left > 0 {
            set_timeout(move || return_focus(opener, ticks_left - 1, page), TICK);
        }
    };
    if let Ok(Some(_)) = document().query_selector("[role=dialog]") {
        return again(opener, page);
    }
    let target = if opener.is_connected() {
        Some(opener.clone())
    } else {
        opener.get_attribute("href").and_then(|href| {
            let selector = format!("a[href=\"{}\"]", href.replace('"', "\\\""));
            document().query_selector(&selector).ok().flatten()
        })
    };
    let active = document().active_element();
    let unfocused = active.as_ref().is_none_or(|a| a.tag_name() == "BODY");
    let on_target = active.is_some() && active == target;
    if unfocused {
        if let Some(el) = target.and_then(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok()) {
            let _ = el.focus();
        }
        again(opener, here);
    } else if on_target {
        again(opener, here);
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

/// Tabs as links, so each tab has an address and works without JavaScript: `<base>?tab=<key>`,
/// or, for tabs that are nested routes, `<base>/<key>` (the first tab is `<base>` itself).
#[component]
pub fn TabNav(
    label: &'static str,
    tabs: &'static [(&'static str, &'static str)],
    /// The key of the tab shown.
    #[prop(into)]
    current: Signal<String>,
    /// The address the tabs are made from.
    base: String,
    /// Whether the tabs are nested routes (`<base>/<key>`) rather than `?tab=<key>`.
    #[prop(optional)]
    nested: bool,
) -> impl IntoView {
    view! {
        <nav aria-label=label class="mt-4 border-b border-slate-200">
            <ul class="-mb-px flex flex-wrap gap-4 text-sm">
                {tabs.iter().enumerate().map(|(i, (key, text))| {
                    let selected = move || current.with(|c| c == key);
                    let href = match (nested, i) {
                        (true, 0) => base.clone(),
                        (true, _) => format!("{base}/{key}"),
                        (false, _) => format!("{base}?tab={key}"),
                    };
                    view! {
                        <li>
                            <A href
                                attr:aria-current=move || selected().then_some("page")
                                attr:class=move || format!("inline-block border-b-2 px-1 pb-2 {FOCUS_RING} {}",
                                    if selected() { "border-indigo-600 font-medium text-indigo-700" }
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
