//! Shared widgets: the Admin App layout and small building blocks used by every page.

mod dialog;
mod layout;
mod pager;
pub mod style;
mod toast;

pub use dialog::{form_alert, Modal, TabNav};
pub use layout::{AdminLayout, NotFound};
pub use pager::{clamp_page, Pager, MAX_PAGE};
pub use toast::Toast;

use leptos::prelude::*;

/// Starts what every page needs in the browser: where focus was before a dialog opened.
pub fn start_in_browser() {
    Effect::new(move |_| dialog::track_focus_outside_dialogs());
}

/// Sets `data-hydrated` on `<body>`; the browser's entry point calls it once the WASM has taken
/// over the whole page, a lazily loaded page's chunk included.
///
/// Browser tests wait for it: a click before hydration would be silently lost.
#[cfg(feature = "hydrate")]
pub fn mark_hydrated() {
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

/// `aria-invalid` for a field's control while the last submission failed on that field.
pub fn invalid(
    error: Signal<Option<crate::AppError>>,
    field: &'static str,
) -> impl Fn() -> Option<&'static str> + Clone + Send + Sync + 'static {
    move || {
        error
            .with(|e| matches!(e, Some(crate::AppError::Validation(fields)) if fields.contains_key(field)))
            .then_some("true")
    }
}

/// The messages for one field of a failed submission, tied to the input by `id`.
#[component]
pub fn FieldError(error: Signal<Option<crate::AppError>>, field: &'static str) -> impl IntoView {
    move || {
        error.get().and_then(|err| match err {
            crate::AppError::Validation(fields) => fields.get(field).map(|messages| {
                view! {
                    <p id=format!("{field}-error") class="mt-1 text-sm text-red-600" data-field-error=field>
                        {messages.join(" ")}
                    </p>
                }
            }),
            _ => None,
        })
    }
}
