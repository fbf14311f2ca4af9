//! The Products page (the catalog) and an org's Products tab (`/organizations/:id/products`,
//! also opened from the package icon on each Organizations row): install, uninstall after a
//! confirmation that lists what goes, and each run's progress, live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use super::{
    catalog, org_products, uninstall_preview, Install, OrgProductRow, ProductsOfOrg, RetryRun,
    RollBackRun, RunView, StopUpgrade, Uninstall,
};
use crate::{
    auth::submission_error,
    orgs::{detail_tab, refresh_detail, tab_error},
    ui::{
        form_alert,
        style::{DANGER, FOCUS_RING, PRIMARY, SECONDARY},
    },
};

/// The catalog: what each product brings.
#[component]
pub fn ProductsPage() -> impl IntoView {
    let products = Resource::new(|| (), |_| catalog());
    view! {
        <Title text="Products" />
        <section class="p-6" data-testid="products-page">
            <h1 class="text-xl font-semibold">"Products"</h1>
            <p class="mt-1 text-sm text-slate-600">"Install a product into an organization from its row on the Organizations page (the package icon) or its detail view's Products tab."</p>
            <Suspense fallback=|| ()>
                {move || products.get().map(|result| match result {
                    Ok(list) => view! {
                        <ul class="mt-6 grid gap-4 sm:grid-cols-2 xl:grid-cols-3">
                            {list.into_iter().map(|p| view! {
                                <li class="rounded-lg border border-slate-200 bg-white p-4" data-testid="catalog-product">
                                    <div class="flex items-baseline justify-between gap-2">
                                        <h2 class="font-semibold">{p.name.clone()}</h2>
                                        <span class="text-xs text-slate-500">{format!("v{}", p.version)}</span>
                                    </div>
                                    <p class="mt-1 text-sm text-slate-600">{p.description.clone()}</p>
                                    <p class="mt-3 text-xs text-slate-500">{summary(&p.artifacts)}</p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(err) => tab_error(err),
                })}
            </Suspense>
        </section>
    }
}

/// "4 tables, 2 skills, …" for a list of (kind, name).
fn summary(artifacts: &[(String, String)]) -> String {
    let mut parts = Vec::new();
    for (kind, one, many) in [
        ("entity", "table", "tables"),
        ("skill", "skill", "skills"),
        ("agent", "agent", "agents"),
        ("guardrail", "guardrail policy", "guardrail policies"),
        ("knowledge", "knowledge entry", "knowledge entries"),
        ("config", "setting", "settings"),
    ] {
        let n = artifacts.iter().filter(|(k, _)| k == kind).count();
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    parts.join(", ")
}

/// An org's products: each installed or not, with its latest run's progress.
#[component]
pub fn OrgProductsTab() -> impl IntoView {
    let query = use_query_map();
    let refresh = refresh_detail();
    detail_tab(
        |id, _| org_products(id),
        move |org_id, result| match result {
            Ok(list) => {
                let uninstalling = query.with_untracked(|q| q.get("uninstall"));
                let active = list
                    .rows
                    .iter()
                    .any(|r| r.run.as_ref().is_some_and(RunView::active));
                // An active run's progress is pushed (`LiveRun`); the list is read again now and
                // then to notice a run started on another page, and, while one is active, in
                // case its stream cannot be opened. (Without JavaScript the page reloads itself
                // while a run is active, below.)
                let refresh = refresh.clone();
                let every = std::time::Duration::from_millis(if active { 30_000 } else { 3000 });
                Effect::new(move |_| {
                    let refresh = refresh.clone();
                    set_timeout(refresh, every);
                });
                view! {
                    {active.then(|| view! { <noscript><meta http-equiv="refresh" content="2" /></noscript> })}
                    {match uninstalling {
                        Some(product) => view! { <UninstallConfirm org_id=org_id.clone() product /> }.into_any(),
                        None => view! { <ProductList org_id list /> }.into_any(),
                    }}
                }
                .into_any()
            }
            Err(err) => tab_error(err),
        },
    )
}

#[component]
fn ProductList(org_id: String, list: ProductsOfOrg) -> impl IntoView {
    let install = ServerAction::<Install>::new();
    let retry = ServerAction::<RetryRun>::new();
    let roll_back = ServerAction::<RollBackRun>::new();
    let stop = ServerAction::<StopUpgrade>::new();
    crate::orgs::refetch_detail_after(stop);
    crate::orgs::refetch_detail_after(install);
    crate::orgs::refetch_detail_after(retry);
    crate::orgs::refetch_detail_after(roll_back);
    let error = Signal::derive(move || {
        submission_error(install)
            .get()
            .or_else(|| submission_error(retry).get())
            .or_else(|| submission_error(roll_back).get())
            .or_else(|| submission_error(stop).get())
    });
    let can_manage = list.can_manage;
    view! {
        <div data-testid="org-products">
            <div class="mt-4">{form_alert(error)}</div>
            <ul class="mt-4 space-y-3">
                {list.rows.into_iter().map(|row| view! {
                    <ProductRow org_id=org_id.clone() row can_manage install retry roll_back stop />
                }.into_any()).collect_view()}
            </ul>
        </div>
    }
    .into_any()
}

#[component]
fn ProductRow(
    org_id: String,
    row: OrgProductRow,
    can_manage: bool,
    install: ServerAction<Install>,
    retry: ServerAction<RetryRun>,
    roll_back: ServerAction<RollBackRun>,
    stop: ServerAction<StopUpgrade>,
) -> impl IntoView {
    let product_key = row.product.clone();
    let (title, description, version, run) = (
        row.name.clone(),
        row.description.clone(),
        row.version,
        row.run.clone(),
    );
    let busy = row
        .run
        .as_ref()
        .is_some_and(|r| r.active() || r.status == "failed");
    let badge = match row.installed {
        Some(v) => view! {
            <span class="inline-flex items-center gap-1 rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800" data-testid="product-status">
                <span aria-hidden="true">"✓"</span>{format!("Installed · v{v}")}
            </span>
        }
        .into_any(),
        None => view! {
            <span class="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600" data-testid="product-status">"Not Installed"</span>
        }
        .into_any(),
    };
    let (org, key, name) = (org_id.clone(), row.product.clone(), row.name.clone());
    let actions = (can_manage && !busy).then(move || match row.installed {
        None => view! {
            <ActionForm action=install>
                <input type="hidden" name="org_id" value=org.clone() />
                <input type="hidden" name="product" value=key.clone() />
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") aria-label=format!("Install {name}")>"Install"</button>
            </ActionForm>
        }
        .into_any(),
        Some(_) => view! {
            <A href=format!("/organizations/{org}/products?uninstall={key}")
                attr:class=format!("{SECONDARY} {FOCUS_RING}") attr:aria-label=format!("Uninstall {name}")>"Uninstall…"</A>
        }
        .into_any(),
    });
    let live_org = org_id.clone();
    let failed = row.run.clone().filter(|r| r.status == "failed" && can_manage).map(|r| {
        let run_id = r.run_id.clone();
        let install_failed = r.action == "install";
        let upgrade_failed = r.action == "upgrade";
        let (org2, run2) = (org_id.clone(), run_id.clone());
        let (org3, run3) = (org_id.clone(), run_id.clone());
        view! {
            <div class="mt-3 flex gap-2">
                <ActionForm action=retry>
                    <input type="hidden" name="org_id" value=org_id.clone() />
                    <input type="hidden" name="run_id" value=run_id.clone() />
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}")>"Retry"</button>
                </ActionForm>
                {install_failed.then(move || view! {
                    <ActionForm action=roll_back>
                        <input type="hidden" name="org_id" value=org2.clone() />
                        <input type="hidden" name="run_id" value=run2.clone() />
                        <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>"Roll back"</button>
                    </ActionForm>
                })}
                {upgrade_failed.then(move || view! {
                    <ActionForm action=stop>
                        <input type="hidden" name="org_id" value=org3.clone() />
                        <input type="hidden" name="run_id" value=run3.clone() />
                        <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")
                            title="What the upgrade already changed stays; the organization keeps the version it had.">"Stop upgrade"</button>
                    </ActionForm>
                })}
            </div>
        }
    });
    view! {
        <li class="rounded-md border border-slate-200 p-3" data-testid="org-product" data-product=product_key>
            <div class="flex flex-wrap items-center justify-between gap-3">
                <div>
                    <p class="font-medium">{title} " " <span class="text-xs text-slate-500">{format!("v{version}")}</span></p>
                    <p class="text-sm text-slate-600">{description}</p>
                </div>
                <div class="flex items-center gap-3">{badge}{actions}</div>
            </div>
            {run.filter(|r| r.active() || matches!(r.status.as_str(), "failed" | "succeeded" | "stopped")).map(|run| view! { <LiveRun org_id=live_org.clone() run /> })}
            {failed}
        </li>
    }
    .into_any()
}

/// A run's progress, kept live while it is active: each change arrives as a Server-Sent Event
/// (`products::events`); when the run ends the tab is read again (the badge, the actions).
#[component]
fn LiveRun(org_id: String, run: RunView) -> impl IntoView {
    let current = RwSignal::new(run.clone());
    #[cfg(feature = "hydrate")]
    if run.active() {
        follow(&org_id, &run.run_id, current, refresh_detail());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = org_id;
    move || view! { <Progress run=current.get() /> }
}

/// Opens the run's progress stream and feeds `current` from it until the run ends (then
/// `ended`) or the component goes.
#[cfg(feature = "hydrate")]
fn follow(
    org_id: &str,
    run_id: &str,
    current: RwSignal<RunView>,
    ended: impl Fn() + Clone + Send + Sync + 'static,
) {
    use leptos::{
        wasm_bindgen::{closure::Closure, JsCast},
        web_sys::{EventSource, MessageEvent},
    };
    let Ok(source) = EventSource::new(&super::progress_address(org_id, run_id)) else {
        return;
    };
    let on_message = {
        let source = source.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(view) = event
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str::<RunView>(&text).ok())
            else {
                return;
            };
            let over = !view.active();
            current.set(view);
            if over {
                source.close();
                ended();
            }
        })
    };
    // The server ends a stream it may no longer send (signed out, membership gone).
    let on_refused = {
        let source = source.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| source.close())
    };
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let _ = source.add_event_listener_with_callback("refused", on_refused.as_ref().unchecked_ref());
    let kept = send_wrapper::SendWrapper::new((source, on_message, on_refused));
    on_cleanup(move || {
        kept.0.close();
        drop(kept);
    });
}

/// What a step's op does, as the current step says it and as the log lists it.
fn doing(op: &str) -> (&'static str, &'static str) {
    match op {
        "remove" => ("Removing", "remove"),
        "alter" => ("Changing", "change"),
        _ => ("Making", "make"),
    }
}

/// A run's progress: the bar, the current step, and the artifact log.
#[component]
fn Progress(run: RunView) -> impl IntoView {
    let percent = if run.total == 0 {
        100
    } else {
        run.done * 100 / run.total
    };
    // The step running: the first one not done of an active run.
    let running = run
        .steps
        .iter()
        .find(|s| s.status == "pending")
        .filter(|_| run.active());
    let current = running.map(|s| format!("{} {} {}", doing(&s.op).0, s.kind, s.name));
    let running_seq = running.map(|s| s.seq);
    let verb = match run.action.as_str() {
        "uninstall" => "Uninstall",
        "rollback" => "Rollback",
        "upgrade" => "Upgrade",
        _ => "Install",
    };
    let state = match (run.status.as_str(), run.live) {
        ("pending", _) => "waiting for a worker".to_string(),
        ("running", true) => "running".to_string(),
        ("running", false) => "interrupted: resuming".to_string(),
        (other, _) => other.replace('_', " "),
    };
    view! {
        <div class="mt-3" data-testid="run" data-status=run.status.clone()>
            <div class="flex items-center justify-between text-xs text-slate-600">
                <span>{format!("{verb} {state}")}</span>
                <span data-testid="run-count">{format!("{} of {}", run.done, run.total)}</span>
            </div>
            <div class="mt-1 h-2 w-full overflow-hidden rounded bg-slate-100" role="progressbar"
                aria-valuemin="0" aria-valuemax=run.total.to_string() aria-valuenow=run.done.to_string()
                aria-label=format!("{verb} progress")>
                <div class=format!("h-2 {}", if run.status == "failed" { "bg-red-500" } else { "bg-indigo-600" })
                    style=format!("width: {percent}%")></div>
            </div>
            {current.map(|text| view! { <p class="mt-1 text-xs text-slate-700" data-testid="run-current">{text}</p> })}
            {(!run.error.is_empty()).then(|| view! { <p role="alert" class="mt-2 text-sm text-red-700">{run.error.clone()}</p> })}
            <ol class="mt-2 max-h-48 overflow-y-auto rounded border border-slate-100 text-xs" data-testid="run-log" tabindex="0" aria-label="Artifact log">
                {run.steps.iter().map(|s| {
                    let (icon, label) = match (s.status.as_str(), Some(s.seq) == running_seq) {
                        ("done", _) => ("✓", "done"),
                        ("skipped", _) => ("–", "skipped"),
                        ("failed", _) => ("✗", "failed"),
                        (_, true) => ("⟳", "running"),
                        _ => ("·", "waiting"),
                    };
                    view! {
                        <li class="flex items-center justify-between gap-2 px-2 py-1" data-testid="run-step" data-status=label>
                            <span><span aria-label=label class=if label == "running" { "inline-block w-4 motion-safe:animate-spin" } else { "inline-block w-4" }>{icon}</span>{format!("{} {} {}", doing(&s.op).1, s.kind, s.name)}</span>
                            <span class="text-slate-500">{s.duration_ms.map(|ms| format!("{ms} ms")).unwrap_or_default()}</span>
                            {(!s.error.is_empty()).then(|| view! { <span class="block text-red-700">{s.error.clone()}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ol>
        </div>
    }
    .into_any()
}

/// Before uninstalling: what goes, with each table's rows.
#[component]
fn UninstallConfirm(org_id: String, product: String) -> impl IntoView {
    let uninstall = ServerAction::<Uninstall>::new();
    crate::orgs::refetch_detail_after(uninstall);
    let error = submission_error(uninstall);
    let preview = {
        let (org_id, product) = (org_id.clone(), product.clone());
        Resource::new(
            move || (org_id.clone(), product.clone()),
            |(o, p)| uninstall_preview(o, p),
        )
    };
    let back = format!("/organizations/{org_id}/products");
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let (org_id, back) = (org_id.clone(), back.clone());
                preview.get().map(move |result| match result {
                Ok(p) => {
                    let tables: i64 = p.artifacts.iter().filter_map(|(_, _, n)| *n).sum();
                    view! {
                        <div class="mt-4 rounded-md border border-red-200 bg-red-50 p-4" data-testid="uninstall-confirm">
                            <h3 class="font-semibold text-red-900">{format!("Uninstall {}?", p.name)}</h3>
                            <p class="mt-1 text-sm text-red-900">{format!("This removes everything {} made in this organization ({} row(s) in its tables are deleted with them):", p.name, tables)}</p>
                            <ul class="mt-2 list-disc pl-5 text-sm text-red-900">
                                {p.artifacts.iter().map(|(kind, name, rows)| view! {
                                    <li>{match rows {
                                        Some(n) => format!("table {name} ({n} row(s))"),
                                        None => format!("{kind} {name}"),
                                    }}</li>
                                }).collect_view()}
                            </ul>
                            <div class="mt-3">{form_alert(error)}</div>
                            <ActionForm action=uninstall attr:class="mt-3 flex gap-2">
                                <input type="hidden" name="org_id" value=org_id.clone() />
                                <input type="hidden" name="product" value=p.product.clone() />
                                <A href=back.clone() attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
                                <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Uninstall {}", p.name)}</button>
                            </ActionForm>
                        </div>
                    }.into_any()
                }
                Err(err) => tab_error(err),
            })}}
        </Suspense>
    }
}
