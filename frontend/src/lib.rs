//! Hydrates the server-rendered Admin App in the browser.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `leptos::mount::hydrate_lazy`, spelled out to know when it is done: a lazily loaded page
    // rendered on the server is hydrated once its chunk is in, after the frame around it. Only
    // then is the page marked hydrated (a click before that would be a plain form post).
    wasm_bindgen_futures::spawn_local(async {
        leptos::mount::hydrate_from_async(leptos::tachys::dom::body(), app::App)
            .await
            .forget();
        app::ui::mark_hydrated();
    });
}
