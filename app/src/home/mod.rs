//! The overview page. Its database card comes from a server function that reads PostgreSQL,
//! which proves rendering, hydration, server functions and the database end to end.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// What the database told us the last time we asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    /// e.g. `15.18`
    pub server_version: String,
    pub migrations_applied: i64,
    /// Description of the newest applied migration.
    pub latest_migration: Option<String>,
    /// The database's clock when it answered.
    pub checked_at: DateTime<Utc>,
}

/// Asks the database for its version, its migration state and its clock.
#[server(endpoint = "home/check_database")]
pub async fn check_database() -> Result<DatabaseStatus, AppError> {
    let gate =
        crate::tenancy::gate::Gate::open(<CheckDatabase as leptos::server_fn::ServerFn>::PATH)?;
    gate.principal().await?;
    let lookup = crate::tenancy::gate::lookup(gate.services());
    let pool = lookup.pool();
    let row = sqlx::query!(
        r#"select current_setting('server_version') as "server_version!",
                  (select count(*) from _sqlx_migrations where success) as "migrations_applied!",
                  (select description from _sqlx_migrations where success
                    order by version desc limit 1) as latest_migration,
                  now() as "checked_at!""#
    )
    .fetch_one(pool)
    .await?;
    Ok(DatabaseStatus {
        server_version: row
            .server_version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
        migrations_applied: row.migrations_applied,
        latest_migration: row.latest_migration,
        checked_at: row.checked_at,
    })
}

#[component]
pub fn HomePage() -> impl IntoView {
    let check = ServerAction::<CheckDatabase>::new();
    let initial = Resource::new(|| (), |_| check_database());
    // The newest answer wins: the one from the last click, else the one rendered with the page.
    let status = move || check.value().get().or_else(|| initial.get());

    view! {
        <Title text="Overview" />
        <div class="mx-auto max-w-4xl">
            <h1 class="text-2xl font-semibold tracking-tight">"Overview"</h1>
            <p class="mt-1 text-slate-600">
                "One deployment, many organizations, each isolated from the others."
            </p>
            <ActiveOrg />

            <section
                aria-labelledby="database-heading"
                class="mt-8 rounded-lg border border-slate-200 bg-white p-6 shadow-sm"
            >
                <div class="flex items-start justify-between gap-4">
                    <div>
                        <h2 id="database-heading" class="text-base font-semibold">
                            "Database"
                        </h2>
                        <p class="text-sm text-slate-500">
                            "Read live from PostgreSQL by a server function."
                        </p>
                    </div>
                    <ActionForm action=check>
                        <button
                            type="submit"
                            class="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60"
                            disabled=move || check.pending().get()
                        >
                            {move || if check.pending().get() { "Checking…" } else { "Check again" }}
                        </button>
                    </ActionForm>
                </div>
                <div aria-live="polite" class="mt-4">
                    <Suspense fallback=|| {
                        view! { <p class="text-sm text-slate-500">"Asking the database…"</p> }
                    }>{move || status().map(status_view)}</Suspense>
                </div>
            </section>
        </div>
    }
}

/// Where the signed-in user is acting, from the session the frame read.
#[component]
fn ActiveOrg() -> impl IntoView {
    let session = use_context::<crate::auth::SessionInfo>();
    let Some(session) = session else {
        return ().into_any();
    };
    let body = match session.active_org {
        Some(org) => {
            let role = match (&org.role, session.superadmin) {
                (Some(role), _) => format!("Your role: {role}"),
                (None, true) => "Acting as superadmin (not a member)".to_string(),
                (None, false) => String::new(),
            };
            view! {
                <dl class="grid grid-cols-1 gap-4 text-sm sm:grid-cols-3" data-testid="active-org-card">
                    <div>
                        <dt class="text-slate-500">"Organization"</dt>
                        <dd class="font-medium">{org.name.clone()}</dd>
                    </div>
                    <div>
                        <dt class="text-slate-500">"ID"</dt>
                        <dd class="font-medium tabular-nums">{org.label()}</dd>
                    </div>
                    <div>
                        <dt class="text-slate-500">"Access"</dt>
                        <dd class="font-medium">
                            {role}
                            {session.locked.then_some(" · locked to this organization")}
                        </dd>
                    </div>
                </dl>
            }
            .into_any()
        }
        None => view! {
            <p class="text-sm text-slate-600">
                {if session.superadmin && session.orgs.is_empty() {
                    "No organizations exist yet. Create the first one on the Organizations page."
                } else if session.orgs.is_empty() {
                    "You do not belong to any organization yet. Ask an administrator to add you."
                } else {
                    "Choose an organization in the switcher at the top to work in it."
                }}
            </p>
        }
        .into_any(),
    };
    view! {
        <section
            aria-labelledby="active-org-heading"
            class="mt-8 rounded-lg border border-slate-200 bg-white p-6 shadow-sm"
        >
            <h2 id="active-org-heading" class="mb-4 text-base font-semibold">
                "Active organization"
            </h2>
            {body}
        </section>
    }
    .into_any()
}

fn status_view(result: Result<DatabaseStatus, AppError>) -> AnyView {
    match result {
        Ok(status) => view! {
            <dl data-testid="database-status" class="grid grid-cols-1 gap-4 text-sm sm:grid-cols-3">
                <div>
                    <dt class="text-slate-500">"Server"</dt>
                    <dd class="font-medium" data-testid="server-version">
                        {format!("PostgreSQL {}", status.server_version)}
                    </dd>
                </div>
                <div>
                    <dt class="text-slate-500">"Migrations applied"</dt>
                    <dd class="font-medium">
                        {status.migrations_applied}
                        {status.latest_migration.map(|m| format!(" (latest: {m})"))}
                    </dd>
                </div>
                <div>
                    <dt class="text-slate-500">"Checked at"</dt>
                    <dd class="font-medium tabular-nums" data-testid="checked-at">
                        <time datetime=status.checked_at.to_rfc3339()>
                            {status.checked_at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()}
                        </time>
                    </dd>
                </div>
            </dl>
        }
        .into_any(),
        Err(err) => view! {
            <p role="alert" class="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
                {err.to_string()}
            </p>
        }
        .into_any(),
    }
}
