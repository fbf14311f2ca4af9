//! Previous/Next links under a long list. Each is a plain link to the list's own address with
//! another page, so paging works without JavaScript and a page can be linked and reloaded.

use leptos::prelude::*;
use leptos_router::components::A;

use super::style::{FOCUS_RING, SECONDARY};

/// `info` is what the list says of itself ("Showing 1–50 of 120 · page 1 of 3"); `href` gives
/// the address of a page; `page` is the current one of `pages`.
#[component]
pub fn Pager(
    info: String,
    #[prop(into)] testid: String,
    page: i64,
    pages: i64,
    href: impl Fn(i64) -> String + 'static,
) -> impl IntoView {
    let link = |target: i64, label: &'static str, rel: &'static str| {
        if target >= 1 && target <= pages && target != page {
            view! { <A href=href(target) attr:rel=rel attr:class=format!("{SECONDARY} {FOCUS_RING}")>{label}</A> }
                .into_any()
        } else {
            view! { <span class=format!("{SECONDARY} cursor-not-allowed opacity-50") aria-disabled="true">{label}</span> }
                .into_any()
        }
    };
    view! {
        <nav aria-label="Pagination" class="mt-4 flex items-center justify-between text-sm text-slate-600">
            <p data-testid=testid>{info}</p>
            <div class="flex gap-2">
                {link(page - 1, "Previous", "prev")}
                {link(page + 1, "Next", "next")}
            </div>
        </nav>
    }
}

/// The largest page number a list answers; past it a list shows its last page anyway, and the
/// arithmetic of an offset can never overflow.
pub const MAX_PAGE: i64 = 1_000_000;

/// A requested page number made safe: at least 1, at most [`MAX_PAGE`].
pub fn clamp_page(page: i64) -> i64 {
    page.clamp(1, MAX_PAGE)
}
