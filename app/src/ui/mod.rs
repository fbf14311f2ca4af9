//! Shared widgets: the Admin App layout and small building blocks used by every page.

mod layout;

pub use layout::{AdminLayout, NotFound};

use leptos::prelude::*;

/// Sets `data-hydrated` on `<body>` once the WASM has taken over the page.
///
/// Browser tests wait for it: a click before hydration would be silently lost.
pub fn mark_hydrated() {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
