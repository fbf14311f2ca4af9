//! Settings → Models (`/settings`, superadmins): the price of each model per million tokens,
//! from a date on. Agents' token costs are priced with them (the Billing & Costs tabs).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::super::{money::format_price, DeleteModelPrice, SaveModelPrice};
use crate::{
    auth::submission_error,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY},
        FieldError, Toast,
    },
};

/// The Models section of Settings: the prices in force and before, and a form for a new one.
#[component]
pub fn ModelPrices() -> impl IntoView {
    let save = ServerAction::<SaveModelPrice>::new();
    let delete = ServerAction::<DeleteModelPrice>::new();
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    let prices = Resource::new(
        move || (save.version().get(), delete.version().get()),
        |_| super::super::list_model_prices(),
    );
    let query = use_query_map();
    // Read as the address changes: a save with JavaScript lands here by client-side navigation.
    let notice = move || {
        query.with(|q| {
            q.get("saved").map(|k| match k.as_str() {
                "price-deleted" => "Price deleted.",
                _ => "Price saved.",
            })
        })
    };
    view! {
        {move || notice().map(|text| view! { <Toast text /> })}
        <section aria-labelledby="models-title" data-testid="model-settings">
            <h2 id="models-title" class="text-lg font-semibold">"Models"</h2>
            <p class="mt-1 text-sm text-slate-600">"Price per million tokens, input and output. An agent's token cost is its usage times the price of its model in force that day; usage of a model with no price is refused."</p>
            <div class="mt-2">{form_alert(delete_error)}</div>
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
                {move || prices.get().map(|result| match result {
                    Err(err) => view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                    Ok(prices) if prices.is_empty() => view! {
                        <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="prices-empty">
                            "No model prices yet: usage is refused for a model until it has one."
                        </p>
                    }.into_any(),
                    Ok(prices) => view! {
                        <table class="mt-4 min-w-full text-sm" data-testid="model-prices">
                            <thead class="text-left text-xs uppercase text-slate-500">
                                <tr>
                                    <th scope="col" class="py-1">"Model"</th>
                                    <th scope="col">"From"</th>
                                    <th scope="col" class="text-right">"Input"</th>
                                    <th scope="col" class="text-right">"Output"</th>
                                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                // Keyed, so after a delete no other row inherits an opened confirmation.
                                <For
                                    each=move || prices.clone()
                                    key=|p| (p.model.clone(), p.effective_from)
                                    children=move |p| view! {
                                    <tr data-testid="model-price">
                                        <td class="py-1 font-mono">{p.model.clone()}</td>
                                        <td>{p.effective_from.to_string()}</td>
                                        <td class="text-right tabular-nums">{format_price(p.input_micros)}</td>
                                        <td class="text-right tabular-nums">{format_price(p.output_micros)}</td>
                                        <td class="text-right">
                                            <details class="inline-block text-left">
                                                <summary aria-label=format!("Delete the {} price from {}…", p.model, p.effective_from) class=format!("cursor-pointer text-xs text-slate-500 hover:text-red-600 {FOCUS_RING}")>"Delete…"</summary>
                                                <ActionForm action=delete attr:class="mt-1 flex items-center justify-end gap-2">
                                                    <input type="hidden" name="model" value=p.model.clone() />
                                                    <input type="hidden" name="effective_from" value=p.effective_from.to_string() />
                                                    <span class="text-xs text-slate-600">"Only a price no usage was priced at can go."</span>
                                                    <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Delete the {} price from {}", p.model, p.effective_from)}</button>
                                                </ActionForm>
                                            </details>
                                        </td>
                                    </tr>
                                } />
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Suspense>
            <ActionForm action=save attr:class="mt-6 max-w-2xl rounded-lg border border-slate-200 p-4" attr:novalidate=true>
                <h3 class="text-sm font-semibold">"Set a model price"</h3>
                <p class="mt-1 text-xs text-slate-500">"A new price applies from its date on; usage before it keeps the price then in force."</p>
                <div class="mt-2">{form_alert(error)}</div>
                <div class="mt-2 grid grid-cols-2 gap-4">
                    <div>
                        <label for="price-model" class="block text-sm font-medium">"Model"</label>
                        <input id="price-model" name="model" placeholder="gpt-4o-mini" autocomplete="off" class=INPUT aria-invalid=invalid(error, "model") />
                        <FieldError error field="model" />
                    </div>
                    <div>
                        <label for="price-from" class="block text-sm font-medium">"Effective from"</label>
                        <input id="price-from" name="effective_from" type="date" class=INPUT aria-invalid=invalid(error, "effective_from") />
                        <FieldError error field="effective_from" />
                    </div>
                    <div>
                        <label for="price-input" class="block text-sm font-medium">"Input, USD per 1M tokens"</label>
                        <input id="price-input" name="input_price" inputmode="decimal" placeholder="0.15" class=INPUT aria-invalid=invalid(error, "input_price") />
                        <FieldError error field="input_price" />
                    </div>
                    <div>
                        <label for="price-output" class="block text-sm font-medium">"Output, USD per 1M tokens"</label>
                        <input id="price-output" name="output_price" inputmode="decimal" placeholder="0.60" class=INPUT aria-invalid=invalid(error, "output_price") />
                        <FieldError error field="output_price" />
                    </div>
                </div>
                <div class="mt-4 flex justify-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save price"</button>
                </div>
            </ActionForm>
        </section>
    }
}
