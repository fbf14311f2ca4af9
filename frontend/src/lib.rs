//! Hydrates the server-rendered Admin App in the browser.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Waits for the WASM chunk of a lazily loaded page rendered on the server before hydrating it.
    leptos::mount::hydrate_lazy(app::App);
}
