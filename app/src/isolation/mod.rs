//! Isolation evidence for superadmins: the Isolation page (`/isolation`) shows the checks of
//! [`report`] read from the live database now, and links the same report as a dated,
//! printable HTML file to hand to a customer (`GET /api/platform/isolation-report.html`; the
//! CLI's `server isolation-report` writes the same page).

#[cfg(feature = "ssr")]
pub mod report;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::{
    domains::DomainConflictBanner,
    ui::style::{FOCUS_RING, PRIMARY},
    AppError,
};

/// The HTML report's address.
pub const REPORT_PATH: &str = "/api/platform/isolation-report.html";

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationCheck {
    pub area: String,
    pub subject: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationEvidence {
    pub generated_at: DateTime<Utc>,
    pub checks: Vec<IsolationCheck>,
}

#[server(endpoint = "isolation/isolation_checks")]
pub async fn isolation_checks() -> Result<IsolationEvidence, AppError> {
    let gate =
        crate::tenancy::gate::Gate::open(<IsolationChecks as leptos::server_fn::ServerFn>::PATH)?;
    let platform = gate.platform().await?;
    let checks = report::checks(platform.pool(), gate.services()).await?;
    Ok(IsolationEvidence {
        generated_at: Utc::now(),
        checks,
    })
}

/// `GET /api/platform/isolation-report.html`: the report as a file (Platform).
#[cfg(feature = "ssr")]
pub async fn report_file(
    axum::extract::State(services): axum::extract::State<crate::context::Services>,
    parts: axum::http::request::Parts,
) -> axum::response::Response {
    use axum::{http::header, response::IntoResponse};
    let made = async {
        let gate = crate::tenancy::gate::Gate::with(
            services,
            parts,
            "GET /api/platform/isolation-report.html",
        )?;
        let platform = gate.platform().await?;
        report::checks(platform.pool(), gate.services()).await
    }
    .await;
    match made {
        Ok(checks) => {
            let name = format!(
                "attachment; filename=\"tenantry-isolation-report-{}.html\"",
                Utc::now().format("%Y-%m-%d")
            );
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, name),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                report::render(&checks, "the live database"),
            )
                .into_response()
        }
        Err(err) => crate::agents::api::ApiError::from(err).into_response(),
    }
}

/// The Isolation page (superadmins).
#[component]
pub fn IsolationPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| isolation_checks());
    view! {
        <Title text="Isolation" />
        <div class="mx-auto max-w-6xl">
            <DomainConflictBanner />
            <div class="flex flex-wrap items-start justify-between gap-3">
                <div>
                    <h1 class="text-2xl font-semibold tracking-tight">"Isolation evidence"</h1>
                    <p class="mt-1 max-w-3xl text-sm text-slate-600">
                        "Read from the live database now: every tenant table's row-level security, the server's database role, the organizations' own schemas, custom domains, and the endpoints the authorization matrix and the cross-org probe hold on every test run."
                    </p>
                </div>
                <a href=REPORT_PATH rel="external" download class=format!("{PRIMARY} {FOCUS_RING}") data-testid="isolation-download">
                    "Download the report (HTML)"
                </a>
            </div>
            <Suspense fallback=|| view! { <p class="mt-6 text-sm text-slate-500">"Checking…"</p> }>
                {move || data.get().map(|result| match result {
                    Ok(report) => view! { <Checks report /> }.into_any(),
                    Err(err) => view! { <p role="alert" class="mt-6 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn Checks(report: IsolationEvidence) -> impl IntoView {
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    let summary = if failed == 0 {
        format!("All {} checks pass.", report.checks.len())
    } else {
        format!("{failed} of {} checks fail.", report.checks.len())
    };
    let tone = if failed == 0 {
        "bg-emerald-50 text-emerald-900"
    } else {
        "bg-rose-50 text-rose-900"
    };
    view! {
        <p class=format!("mt-6 rounded-md px-4 py-3 text-sm font-semibold {tone}") role="status" data-testid="isolation-summary" data-failed=failed.to_string()>
            {summary}
            <span class="ml-2 font-normal">{format!("Checked {} UTC.", report.generated_at.format("%Y-%m-%d %H:%M"))}</span>
        </p>
        <div class="mt-4 overflow-x-auto rounded-lg border border-slate-200">
            <table class="w-full text-left text-sm" data-testid="isolation-checks">
                <thead class="bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
                    <tr>
                        <th scope="col" class="px-3 py-2">"Area"</th>
                        <th scope="col" class="px-3 py-2">"Subject"</th>
                        <th scope="col" class="px-3 py-2">"State"</th>
                        <th scope="col" class="px-3 py-2">"Detail"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {report.checks.into_iter().map(|c| {
                        let row = if c.ok { "" } else { "bg-rose-50 text-rose-900" };
                        view! {
                            <tr class=row data-testid="isolation-check" data-ok=c.ok.to_string()>
                                <td class="px-3 py-2 text-slate-600">{c.area}</td>
                                <td class="px-3 py-2 font-mono text-xs">{c.subject}</td>
                                <td class="px-3 py-2 font-semibold">{if c.ok { "OK" } else { "FAIL" }}</td>
                                <td class="px-3 py-2">{c.detail}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
