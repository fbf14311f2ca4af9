//! Test support: one throwaway PostgreSQL cluster per test process, started on first use with
//! the same code `serve` uses, and a fresh database per test copied from a migrated template.
//!
//! The cluster dies with the test process (see [`crate::embedded_pg`]); directories left by
//! earlier runs are removed when the next run starts.

use std::{
    fs,
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
};

use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection, PgPool};

pub mod dns;
pub mod smtp;
pub mod wire;
mod world;
pub use world::{World, WorldBuilder};

use crate::{
    db,
    embedded_pg::{Cluster, ClusterOptions, PgBinaries, SUPERUSER},
};

const TEMPLATE: &str = "tenantry_template";

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The process-wide test cluster, started and given a migrated template on first call.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start_cluster) {
        Ok(cluster) => cluster,
        Err(err) => panic!("cannot start the test PostgreSQL: {err}"),
    }
}

fn start_cluster() -> Result<Cluster, String> {
    let base = std::env::temp_dir().join("tenantry-test-pg");
    sweep_dead_runs(&base);
    let dir = base.join(std::process::id().to_string());
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for path in [&base, &dir] {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    }
    let bins = PgBinaries::locate(None).map_err(|e| e.to_string())?;
    let cluster = Cluster::start(
        &bins,
        &ClusterOptions {
            dir: dir.join("pg"),
            log_file: dir.join("postgres.log"),
            durable: false,
        },
    )
    .map_err(|e| e.to_string())?;

    // Tests each run their own tokio runtime; this one-off setup gets a runtime of its own.
    let superuser = cluster.connect_options(SUPERUSER, "postgres");
    let owner = cluster.connect_options(db::OWNER_ROLE, TEMPLATE);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            db::bootstrap(&superuser, TEMPLATE).await?;
            let mut conn = owner.connect().await?;
            db::MIGRATOR.run(&mut conn).await?;
            conn.close().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .join()
    .map_err(|_| "template setup panicked".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(cluster)
}

/// The secrets of the test process's stores (their platform and org passwords).
pub fn test_store_secrets() -> app::stores::Secrets {
    app::stores::Secrets::from_credentials_key(b"tenantry test stores")
}

/// Redis, NATS and ClickHouse for this test process, started on first use beside its
/// PostgreSQL from Debian's programs, as `serve` starts them. They stop when the process exits
/// (their parent-death signal); each test connects its own clients (`TestApp::with_stores`),
/// since a client lives on the runtime that made it.
pub fn test_stores() -> &'static crate::stores::Embedded {
    static STORES: std::sync::OnceLock<Result<crate::stores::Embedded, String>> =
        std::sync::OnceLock::new();
    STORES
        .get_or_init(|| {
            let dir = std::env::temp_dir()
                .join("tenantry-test-pg")
                .join(std::process::id().to_string())
                .join("stores");
            fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            use std::os::unix::fs::PermissionsExt;
            for path in [dir.parent().expect("a parent"), &dir] {
                fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                    .map_err(|e| e.to_string())?;
            }
            crate::stores::Embedded::start(&dir, Default::default(), &test_store_secrets())
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("the test stores did not start: {e}"))
}

/// Removes cluster directories of test processes that no longer exist.
fn sweep_dead_runs(base: &std::path::Path) {
    for entry in fs::read_dir(base).into_iter().flatten().flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
            .is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh directory under the system temp dir, readable by the `postgres` user (which runs
/// clusters when tests run as root), removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "tenantry-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&path).expect("create a temp dir");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod a temp dir");
        Self(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A database of its own for one test, migrated, reachable as each role.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// A migrated database.
    pub async fn new() -> Self {
        Self::create(TEMPLATE).await
    }

    /// A database no migration has touched.
    pub async fn unmigrated() -> Self {
        Self::create("template0").await
    }

    async fn create(template: &str) -> Self {
        let cluster = cluster();
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = cluster
            .connect_options(SUPERUSER, "postgres")
            .connect()
            .await
            .expect("connect to the test cluster as superuser");
        sqlx::raw_sql(&format!(
            "create database {name} template {template} owner {}",
            db::OWNER_ROLE
        ))
        .execute(&mut conn)
        .await
        .expect("create a test database from the template");
        db::restrict_database(&mut conn, &name)
            .await
            .expect("restrict the test database");
        conn.close().await.ok();
        Self { name }
    }

    pub fn options(&self, role: &str) -> PgConnectOptions {
        cluster().connect_options(role, &self.name)
    }

    /// As the runtime role, the one the server uses.
    pub async fn runtime_pool(&self) -> PgPool {
        db::connect(self.options(db::RUNTIME_ROLE), 5)
            .await
            .expect("runtime pool")
    }

    /// As the owner role (migrations, fixtures that need it).
    pub async fn owner_pool(&self) -> PgPool {
        db::connect(self.options(db::OWNER_ROLE), 5)
            .await
            .expect("owner pool")
    }

    /// As the bootstrap superuser: for inspecting the catalog, never for code under test.
    pub async fn superuser_pool(&self) -> PgPool {
        db::connect(self.options(SUPERUSER), 2)
            .await
            .expect("superuser pool")
    }

    /// A URL for external tools.
    pub fn url(&self, role: &str) -> String {
        cluster().url(role, &self.name)
    }
}

/// The real router over a fresh migrated database, with helpers that make users, orgs and
/// sign-ins through the same endpoints a browser uses (the owner role only for what no endpoint
/// does yet: superadmins and memberships).
pub struct TestApp {
    /// This app's turn: one `TestApp` at a time per test process (see [`APP_TURN`]).
    _turn: tokio::sync::SemaphorePermit<'static>,
    pub db: TestDb,
    /// The token-signing secret, for tests that forge tokens.
    pub token_secret: Vec<u8>,
    pub services: app::context::Services,
    pub router: axum::Router,
    pub owner: PgPool,
}

/// What a request got back.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The token a `Set-Cookie` header carries, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix(&format!("{}=", app::auth::token::COOKIE)))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
            .find(|v| !v.is_empty())
    }
}

/// Services as `serve` builds them, with a random token secret and `tenantry.test` as the base
/// domain.
pub fn services(pool: PgPool) -> app::context::Services {
    services_with_secret(pool, uuid::Uuid::new_v4().simple().to_string().as_bytes())
}

pub fn services_with_secret(pool: PgPool, secret: &[u8]) -> app::context::Services {
    app::context::ServiceSet {
        db: app::tenancy::Db::new(pool),
        base_domain: "tenantry.test".to_string(),
        tokens: app::auth::token::TokenKeys::new(secret),
        sign_in_limiter: std::sync::Arc::new(app::auth::rate_limit::RateLimiter::new(
            5,
            50,
            std::time::Duration::from_secs(900),
            // Short, so a test can wait out the backoff.
            std::time::Duration::from_secs(2),
        )),
        allow_registration: true,
        secure_cookies: false,
        credentials: app::credentials::cipher::Cipher::from_hex(
            &uuid::Uuid::new_v4().simple().to_string().repeat(2),
        )
        .expect("64 hex characters"),
        setup_token: Default::default(),
        stripe: None,
        llm_env_keys: Default::default(),
        products: app::products::engine::Products {
            // Short, so a test can wait out a dead worker's lease, and see a heartbeat.
            lease: std::time::Duration::from_secs(2),
            heartbeat: std::time::Duration::from_millis(300),
            ..app::products::engine::Products::new(
                app::products::catalog::Catalog::builtin().expect("the catalog checks"),
            )
        },
        // None: tests that need them attach the test process's stores (`TestApp::with_stores`).
        stores: Default::default(),
        // No SMTP: tests that send mail attach a real server (`TestApp::with_smtp`).
        mail: Default::default(),
        routing_sample: 0.0,
        // The system's resolvers: tests that verify domains attach a real local nameserver
        // (`testing::dns::DnsServer`).
        dns: app::domains::dns::Dns::new(None),
    }
    .into()
}

/// Tests whose apps render pages take turns. Each test runs its own tokio runtime, and with two
/// apps rendering pages at once on two runtimes a page render was seen to wait forever (about
/// one whole-suite run in two, always mid-render, with both runtimes idle): Leptos keeps some
/// rendering state process-wide. `serve` runs one runtime, and
/// `pages_render_concurrently_on_one_runtime` shows many renders at once there finish. Tests
/// without a `TestApp` (the CLI's, most database tests) still run alongside.
static APP_TURN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

pub const TEST_PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn new() -> Self {
        Self::with_stripe(None).await
    }

    /// An app with Redis, NATS and ClickHouse (the test process's, see [`test_stores`]): every
    /// org it makes gets its resources there.
    pub async fn with_stores() -> Self {
        let stores = test_stores()
            .connect(&test_store_secrets())
            .await
            .expect("the test stores answer");
        Self::with_services(|services| services.stores = stores).await
    }

    /// An app whose Stripe connection is `stripe` (tests point it at localstripe).
    pub async fn with_stripe(stripe: Option<app::billing::stripe::Stripe>) -> Self {
        Self::with_services(|services| services.stripe = stripe).await
    }

    /// An app whose server reaches its database through a [`wire::Wire`], which counts what
    /// each request asks of it.
    pub async fn counted() -> (Self, wire::Wire) {
        let wire = wire::Wire::start(cluster().dir().to_path_buf());
        let options = crate::embedded_pg::socket_options(wire.dir(), db::RUNTIME_ROLE, "");
        let app = Self::build(|_| {}, Some(options)).await;
        (app, wire)
    }

    /// An app whose services `configure` adjusts (Stripe, environment keys).
    pub async fn with_services(configure: impl FnOnce(&mut app::context::Services)) -> Self {
        Self::build(configure, None).await
    }

    /// `runtime`: how the server connects, if not straight to this test's database (its name
    /// is filled in).
    async fn build(
        configure: impl FnOnce(&mut app::context::Services),
        runtime: Option<PgConnectOptions>,
    ) -> Self {
        // A test that holds one TestApp while making another would wait here forever; say so
        // instead (the whole suite's TestApps take about a minute).
        let turn = tokio::time::timeout(std::time::Duration::from_secs(600), APP_TURN.acquire())
            .await
            .expect("no TestApp turn in 10 minutes: does a test hold two TestApps at once?")
            .expect("the semaphore is never closed");
        let db = TestDb::new().await;
        let token_secret = uuid::Uuid::new_v4().simple().to_string().into_bytes();
        let runtime = match runtime {
            Some(options) => db::connect(options.database(&db.name), 5)
                .await
                .expect("runtime pool through the relay"),
            None => db.runtime_pool().await,
        };
        let mut services = services_with_secret(runtime.clone(), &token_secret);
        configure(&mut services);
        let mut leptos_options = leptos::config::LeptosOptions::builder()
            .output_name("tenantry")
            .build();
        leptos_options.site_root = "target/site".into();
        let router = crate::http::router(crate::http::AppState {
            leptos_options,
            trusted_proxies: std::sync::Arc::new(vec!["127.0.0.9".parse().expect("an address")]),
            pool: runtime,
            services: services.clone(),
        });
        let owner = db.owner_pool().await;
        Self {
            _turn: turn,
            db,
            token_secret,
            services,
            router,
            owner,
        }
    }

    /// Opens a Server-Sent Events stream at `path` as the person whose token this is
    /// (`last_event_id`: as a browser reconnecting). The status, and the stream if it is one.
    pub async fn events(
        &self,
        path: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> (u16, Option<EventStream>) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::get(path)
            .header("cookie", format!("{}={token}", app::auth::token::COOKIE))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(axum::body::Body::empty()).expect("a request"))
            .await
            .expect("the router answers");
        let status = response.status().as_u16();
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let stream = is_stream.then(|| EventStream {
            body: response.into_body().into_data_stream(),
            buffer: Vec::new(),
        });
        (status, stream)
    }

    pub async fn send(&self, request: axum::http::Request<axum::body::Body>) -> TestResponse {
        self.send_via(&self.router, request).await
    }

    /// A second app node over the same database and stores: its own router, store clients and
    /// in-process state (a fresh sign-in limiter and memory of verified sessions), as a second
    /// `serve` would have.
    pub async fn second_node(&self) -> axum::Router {
        self.second_node_with_services().await.0
    }

    /// [`Self::second_node`], with the services it serves with.
    pub async fn second_node_with_services(&self) -> (axum::Router, app::context::Services) {
        let mut services = self.services.clone();
        if self.services.stores.configured() {
            services.stores = test_stores()
                .connect(&test_store_secrets())
                .await
                .expect("the test stores answer");
        }
        // Its own pool, and so its own memory of verified sessions and its own listener.
        let pool = self.db_runtime_pool().await;
        let own = services_with_secret(pool.clone(), &self.token_secret);
        services.db = own.db.clone();
        services.sign_in_limiter = own.sign_in_limiter.clone();
        let mut leptos_options = leptos::config::LeptosOptions::builder()
            .output_name("tenantry")
            .build();
        leptos_options.site_root = "target/site".into();
        let router = crate::http::router(crate::http::AppState {
            leptos_options,
            trusted_proxies: std::sync::Arc::new(vec!["127.0.0.9".parse().expect("an address")]),
            pool,
            services: services.clone(),
        });
        (router, services)
    }

    async fn db_runtime_pool(&self) -> PgPool {
        self.db.runtime_pool().await
    }

    /// `request` answered by `router` (this app's, or a [`Self::second_node`]).
    pub async fn send_via(
        &self,
        router: &axum::Router,
        request: axum::http::Request<axum::body::Body>,
    ) -> TestResponse {
        use tower::ServiceExt;
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 8 << 20)
            .await
            .expect("a body");
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// POSTs a server function like the hydrated app does (form-encoded, JSON back).
    pub async fn call(
        &self,
        endpoint: &str,
        token: Option<&str>,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        self.send(server_fn_request(endpoint, token, fields, &[]))
            .await
    }

    /// A user with [`TEST_PASSWORD`], made as the owner role (as `create-superadmin` does).
    pub async fn user(
        &self,
        email: &str,
        superadmin: bool,
        bound: Option<uuid::Uuid>,
    ) -> uuid::Uuid {
        let hash = app::auth::password::hash(TEST_PASSWORD.to_string())
            .await
            .expect("hash");
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "insert into app_user (user_id, email, name, password_hash, is_superadmin, bound_org_id)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(email)
        .bind(email.split('@').next().unwrap())
        .bind(hash)
        .bind(superadmin)
        .bind(bound)
        .execute(&self.owner)
        .await
        .expect("insert a user");
        id
    }

    /// Makes `user` a member of `org` with the org's next member number.
    pub async fn add_member(&self, org: uuid::Uuid, user: uuid::Uuid, role: &str) {
        sqlx::query(
            "with seq as (update organization set member_seq = member_seq + 1
                           where org_id = $1 returning member_seq)
             insert into membership (org_id, user_id, role_name, member_seq)
             select $1, $2, $3, member_seq from seq",
        )
        .bind(org)
        .bind(user)
        .bind(role)
        .execute(&self.owner)
        .await
        .expect("insert a membership");
    }

    /// Signs in through the endpoint and returns the session token.
    pub async fn sign_in(&self, email: &str) -> String {
        let response = self
            .call(
                "auth/sign_in",
                None,
                &[("email", email), ("password", TEST_PASSWORD)],
            )
            .await;
        response
            .session_cookie()
            .unwrap_or_else(|| panic!("sign-in of {email} failed: {response:?}"))
    }

    /// Switches the session to `org` and returns the re-issued token.
    pub async fn switch(&self, token: &str, org: uuid::Uuid) -> String {
        let response = self
            .call(
                "auth/switch_org",
                Some(token),
                &[("org_id", &org.to_string())],
            )
            .await;
        response
            .session_cookie()
            .unwrap_or_else(|| panic!("switch to {org} failed: {response:?}"))
    }

    /// An org made by the superadmin `root`, with one member per `(email, role)`, each signed
    /// in and acting in it. Returns the org and the members' tokens, in order.
    pub async fn org_with(
        &self,
        root: &str,
        name: &str,
        domain: &str,
        members: &[(&str, &str)],
    ) -> (uuid::Uuid, Vec<String>) {
        let org = self.create_org(root, name, domain).await;
        let mut tokens = Vec::new();
        for (email, role) in members {
            let user = self.user(email, false, None).await;
            self.add_member(org, user, role).await;
            let token = self.sign_in(email).await;
            tokens.push(self.switch(&token, org).await);
        }
        (org, tokens)
    }

    /// [`probe_fields`] aimed at `org` (its id, slug, `email` and `domain`), with every other id
    /// naming nothing, so that no call destroys a fixture.
    pub async fn fields_aimed_at(
        &self,
        org: uuid::Uuid,
        email: &str,
        domain: &str,
    ) -> Vec<(&'static str, String)> {
        let slug: String = sqlx::query_scalar("select slug from organization where org_id = $1")
            .bind(org)
            .fetch_one(&self.owner)
            .await
            .expect("the org's slug");
        let (org, nothing) = (org.to_string(), uuid::Uuid::new_v4().to_string());
        probe_fields(&Aim {
            org: &org,
            user: &nothing,
            agent: &nothing,
            key: &nothing,
            record: &nothing,
            slug: &slug,
            email,
            domain,
        })
    }

    /// Makes every org and user active again: tests that call endpoints with arguments they do
    /// not control put back what a let-through call may have switched off.
    pub async fn reactivate_all(&self) {
        sqlx::raw_sql(
            "update organization set status = 'active';
             update app_user set status = 'active';",
        )
        .execute(&self.owner)
        .await
        .expect("reactivate every org and user");
    }

    /// A superadmin, signed in: `root@platform.test`.
    pub async fn root(&self) -> String {
        self.user("root@platform.test", true, None).await;
        self.sign_in("root@platform.test").await
    }

    /// Creates an org through the endpoint, as the superadmin whose token this is.
    pub async fn create_org(&self, superadmin_token: &str, name: &str, domain: &str) -> uuid::Uuid {
        let response = self
            .call(
                "orgs/create_org",
                Some(superadmin_token),
                &[
                    ("org[name]", name),
                    ("org[domain]", domain),
                    ("org[product]", "eloquent"),
                    ("org[status]", "active"),
                ],
            )
            .await;
        assert_eq!(response.status, 200, "create {name}: {}", response.body);
        let org: uuid::Uuid = response
            .json()
            .as_str()
            .expect("an org id")
            .parse()
            .expect("a uuid");
        self.verified_domain(org, domain).await;
        org
    }

    /// Gives `org` the verified custom domain `domain`, as if its TXT record had been checked:
    /// so tests of routing by custom domain have one. (Verification itself is tested against a
    /// real nameserver in `domains.rs`.)
    pub async fn verified_domain(&self, org: uuid::Uuid, domain: &str) {
        sqlx::query(
            "insert into org_domain (org_id, domain, token, status, verified_at, checked_at,
                                     check_result)
             values ($1, lower($2), 'tenantry-verify-' || substr(md5(random()::text), 1, 32),
                     'verified', now(), now(), 'Verified by the test fixture.')",
        )
        .bind(org)
        .bind(domain)
        .execute(&self.owner)
        .await
        .expect("the fixture's domain is stored");
    }

    /// Registers an agent through the endpoint (as the superadmin whose token this is) and, if
    /// `org` is given, assigns it there. Returns its id and its API key.
    pub async fn agent(
        &self,
        superadmin_token: &str,
        name: &str,
        org: Option<uuid::Uuid>,
    ) -> (uuid::Uuid, String) {
        let email = format!("{}@agents.test", name.to_lowercase().replace(' ', "-"));
        let response = self
            .call(
                "agents/create_agent",
                Some(superadmin_token),
                &[("name", name), ("email", &email), ("model", "gpt-4o")],
            )
            .await;
        assert_eq!(
            response.status, 200,
            "create agent {name}: {}",
            response.body
        );
        let issued = response.json();
        let id: uuid::Uuid = issued["agent_id"].as_str().unwrap().parse().unwrap();
        if let Some(org) = org {
            let response = self
                .call(
                    "agents/assign_agent",
                    Some(superadmin_token),
                    &[("org_id", &org.to_string()), ("agent_id", &id.to_string())],
                )
                .await;
            assert!(response.status < 400, "assign {name}: {}", response.body);
        }
        (id, issued["key"].as_str().unwrap().to_string())
    }

    /// A request to the agent API with an agent key, a JSON body and extra headers.
    pub async fn agent_call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        self.send(agent_request(method, path, key, body, headers))
            .await
    }
}

/// A request to the agent API with an agent key, a JSON body and extra headers.
pub fn agent_request(
    method: &str,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> axum::http::Request<axum::body::Body> {
    {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string())),
            None => request.body(axum::body::Body::empty()),
        }
        .unwrap();
        request
    }
}

/// Where a probe's arguments point: the org named by `org_id`, and the ids, slug, email and
/// domain every other field names.
pub struct Aim<'a> {
    pub org: &'a str,
    pub user: &'a str,
    pub agent: &'a str,
    pub key: &'a str,
    /// Any other record's id (policy, entry, credential, LLM key).
    pub record: &'a str,
    pub slug: &'a str,
    pub email: &'a str,
    pub domain: &'a str,
}

/// Every field any server function takes, with a value that passes its parsing, aimed as
/// `aim` says: the cross-org probe and the authorization matrix call every endpoint with these.
/// A server function with a field missing here answers "the request could not be read", which
/// both tests refuse, naming the field.
pub fn probe_fields(aim: &Aim) -> Vec<(&'static str, String)> {
    let fixed: &[(&'static str, &str)] = &[
        ("model", "gpt-4o"),
        ("label", "probe"),
        ("q", ""),
        ("kind", "escalate"),
        ("priority", "1"),
        ("params", r#"{"keywords": ["probe"]}"#),
        ("enabled", "on"),
        ("action", "block"),
        ("month", ""),
        ("rate", "1"),
        ("effective_from", "2099-01-01"),
        ("input_price", "1"),
        ("output_price", "1"),
        ("provider", "openai"),
        ("allow", "on"),
        ("key", "sk-probe-llm-key-0000"),
        ("price", "pro_monthly"),
        ("plan_name", "probe_plan"),
        ("max_agents", "1"),
        ("max_seats", "1"),
        ("max_storage_mb", "1"),
        ("max_tokens_per_month", "1"),
        ("title", "Probe"),
        ("body", "probe"),
        ("tags", "probe"),
        ("source", ""),
        ("visibility", "organization"),
        ("shared", "on"),
        ("secret", "probe-secret"),
        ("role", "viewer"),
        ("status", "disabled"),
        ("role_name", "probe-role"),
        ("seats", "5"),
        ("platform", "custom"),
        ("cancel_reason", ""),
        ("version", ""),
        ("password", TEST_PASSWORD),
        ("name", "Probe"),
        ("organization", "Probe Org"),
        ("token", "probe"),
        ("next", "/"),
        ("org[name]", "Probe Org"),
        ("org[domain]", "probe.example"),
        ("org[product]", "crm"),
        ("org[status]", "active"),
        ("details[name]", "Renamed by probe"),
        ("details[description]", "probe"),
        ("details[contact_email]", "probe@probe.example"),
        ("details[contact_phone]", ""),
        ("details[address_line1]", ""),
        ("details[address_line2]", ""),
        ("details[city]", ""),
        ("details[state]", ""),
        ("details[country]", ""),
        ("details[zip]", ""),
        ("details[product]", "crm"),
        ("product", "done"),
        ("days", ""),
        ("bound", ""),
        // A password change the probes cannot complete (the new one is not typed twice alike):
        // probing must not change the probing person's password.
        ("current_password", TEST_PASSWORD),
        ("new_password", "probe password 123"),
        ("confirm_password", "probe password 321"),
    ];
    let aimed: [(&'static str, &str); 18] = [
        ("org_id", aim.org),
        ("user_id", aim.user),
        ("agent_id", aim.agent),
        ("key_id", aim.key),
        ("policy_id", aim.record),
        ("entry_id", aim.record),
        ("credential_id", aim.record),
        ("llm_key_id", aim.record),
        ("run_id", aim.record),
        ("invitation_id", aim.record),
        ("domain_id", aim.record),
        ("session_id", aim.record),
        ("slug", aim.slug),
        ("email", aim.email),
        ("details[domain]", aim.domain),
        ("domain", aim.domain),
        ("bound_org_id", ""),
        ("own_pages", ""),
    ];
    aimed
        .iter()
        .chain(fixed)
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

/// A server-function request: form-encoded fields, an optional Bearer token, extra headers.
pub fn server_fn_request(
    endpoint: &str,
    token: Option<&str>,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> axum::http::Request<axum::body::Body> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = axum::http::Request::post(format!("/api/{endpoint}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(axum::body::Body::from(body))
        .expect("a request")
}

pub fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One thing a Server-Sent Events stream sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseFrame {
    Event {
        id: Option<String>,
        event: Option<String>,
        data: String,
    },
    /// A `:comment` line (the heartbeat).
    Comment(String),
}

/// A Server-Sent Events response, read a frame at a time.
pub struct EventStream {
    body: axum::body::BodyDataStream,
    /// Bytes read and not yet a whole frame (a character may be split between chunks).
    buffer: Vec<u8>,
}

impl EventStream {
    /// The next frame; `None` when the server ended the stream. Panics if nothing comes
    /// `within`.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<SseFrame> {
        use futures::StreamExt;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse_frame(&String::from_utf8_lossy(&block)));
            }
            match tokio::time::timeout(within, self.body.next()).await {
                Err(_) => panic!("nothing on the event stream within {within:?}"),
                Ok(None) => return None,
                Ok(Some(chunk)) => self
                    .buffer
                    .extend_from_slice(&chunk.expect("the stream reads")),
            }
        }
    }

    /// The next event, skipping heartbeats.
    pub async fn next_event(&mut self, within: std::time::Duration) -> Option<SseFrame> {
        loop {
            match self.next(within).await {
                Some(SseFrame::Comment(_)) => continue,
                other => return other,
            }
        }
    }
}

fn parse_frame(block: &str) -> SseFrame {
    let (mut id, mut event, mut data, mut comment) = (None, None, Vec::new(), None);
    for line in block.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim().to_string());
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value).to_string();
            match field {
                "id" => id = Some(value),
                "event" => event = Some(value),
                "data" => data.push(value),
                _ => {}
            }
        }
    }
    match (comment, data.is_empty() && id.is_none() && event.is_none()) {
        (Some(text), true) => SseFrame::Comment(text),
        _ => SseFrame::Event {
            id,
            event,
            data: data.join("\n"),
        },
    }
}

/// `services` with `product` released: in its catalog in place of the product of its key.
pub fn released(
    services: &app::context::Services,
    product: app::products::catalog::Product,
) -> app::context::Services {
    let mut released = services.clone();
    let mut products: Vec<_> = released.products.catalog.products().to_vec();
    products.retain(|p| p.product != product.product);
    products.push(product);
    released.products.catalog = std::sync::Arc::new(
        app::products::catalog::Catalog::new(products).expect("the released product checks"),
    );
    released
}

/// Panics unless `org` has the built-in catalog's `product` exactly ([`product_drift`]).
pub async fn assert_installed_exactly(owner: &PgPool, org: uuid::Uuid, product: &str) {
    let catalog = app::products::catalog::Catalog::builtin().expect("the catalog checks");
    let drift = product_drift(owner, org, catalog.get(product).expect("a catalog product")).await;
    assert!(drift.is_empty(), "{product} in {org}: {drift:#?}");
}

/// CRM's next version, as a release would bring it: contacts get a LinkedIn address (and an
/// index on it), deals get notes (a new table, which an activity may point at: an older table
/// referencing a newer one), the pipeline gets a stage, and the playbook entry is gone. For the upgrade tests, the bench and `server migrate`'s test.
pub fn crm_v2() -> app::products::catalog::Product {
    use app::products::catalog::{Artifact, Column, Entity};
    let catalog = app::products::catalog::Catalog::builtin().expect("the catalog checks");
    let mut crm = catalog.get("crm").expect("CRM is in the catalog").clone();
    crm.version = 2;
    for artifact in &mut crm.artifacts {
        match artifact {
            Artifact::Entity(e) if e.name == "contact" => {
                e.columns.push(Column {
                    name: "linkedin_url".to_string(),
                    ty: "text".to_string(),
                    primary_key: false,
                    required: false,
                    default: None,
                    references: None,
                });
                e.indexes.push(vec!["linkedin_url".to_string()]);
            }
            Artifact::Entity(e) if e.name == "activity" => e.columns.push(Column {
                name: "note_id".to_string(),
                ty: "uuid".to_string(),
                primary_key: false,
                required: false,
                default: None,
                references: Some("deal_note".to_string()),
            }),
            Artifact::Config { name, value } if name == "crm.pipeline_stages" => {
                *value = serde_json::json!([
                    "lead",
                    "qualified",
                    "demo",
                    "proposal",
                    "negotiation",
                    "won",
                    "lost"
                ]);
            }
            _ => {}
        }
    }
    crm.artifacts.retain(|a| a.kind() != "knowledge");
    let column = |name: &str, ty: &str| Column {
        name: name.to_string(),
        ty: ty.to_string(),
        primary_key: false,
        required: true,
        default: None,
        references: None,
    };
    let note = Entity {
        name: "deal_note".to_string(),
        columns: vec![
            Column {
                primary_key: true,
                default: Some(serde_json::json!("gen_random_uuid()")),
                ..column("note_id", "uuid")
            },
            Column {
                references: Some("deal".to_string()),
                ..column("deal_id", "uuid")
            },
            column("body", "text"),
            Column {
                default: Some(serde_json::json!("now()")),
                ..column("created_at", "timestamptz")
            },
        ],
        unique: vec![],
        indexes: vec![vec!["deal_id".to_string()]],
    };
    let after_deal = crm
        .artifacts
        .iter()
        .position(|a| a.kind() == "entity" && a.name() == "deal")
        .expect("CRM has deals")
        + 1;
    crm.artifacts.insert(after_deal, Artifact::Entity(note));
    assert!(
        app::products::catalog::check(&crm).is_empty(),
        "{:?}",
        app::products::catalog::check(&crm)
    );
    crm
}

/// What differs between `org` and `product` installed exactly, read as the database owner:
/// empty when every artifact is made once and recorded once with its definition, each table
/// has exactly its columns, nothing is half-made, and the org has the product's version.
pub async fn product_drift(
    owner: &PgPool,
    org: uuid::Uuid,
    product: &app::products::catalog::Product,
) -> Vec<String> {
    use app::products::catalog::Artifact;
    let mut drift = Vec::new();
    let ledger: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "select kind, name, definition from product_artifact where org_id = $1 and product = $2",
    )
    .bind(org)
    .bind(&product.product)
    .fetch_all(owner)
    .await
    .expect("the ledger reads");
    for a in &product.artifacts {
        match ledger
            .iter()
            .find(|(k, n, _)| k == a.kind() && n == a.name())
        {
            None => drift.push(format!("{} {} is not recorded", a.kind(), a.name())),
            Some((_, _, d)) if *d != a.definition() => drift.push(format!(
                "{} {} is recorded with another definition",
                a.kind(),
                a.name()
            )),
            Some(_) => {}
        }
    }
    for (kind, name, _) in &ledger {
        if !product
            .artifacts
            .iter()
            .any(|a| a.kind() == kind && a.name() == name)
        {
            drift.push(format!("{kind} {name} is recorded but not in the plan"));
        }
    }
    let schema = format!("org_{}", org.simple());
    let columns: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns
          where table_schema = $1",
    )
    .bind(&schema)
    .fetch_all(owner)
    .await
    .expect("the columns read");
    let mut tables: Vec<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
    tables.sort();
    tables.dedup();
    let mut entities: Vec<&str> = Vec::new();
    for a in &product.artifacts {
        if let Artifact::Entity(e) = a {
            entities.push(&e.name);
            let mut want: Vec<&str> = e.columns.iter().map(|c| c.name.as_str()).collect();
            let mut have: Vec<&str> = columns
                .iter()
                .filter(|(t, _)| *t == e.name)
                .map(|(_, c)| c.as_str())
                .collect();
            want.sort();
            have.sort();
            if want != have {
                drift.push(format!(
                    "table {} has columns {have:?}, not {want:?}",
                    e.name
                ));
            }
        }
    }
    // Each table of the plan is there, and every table in the schema is recorded as some
    // product's (a table made but not recorded is half-made).
    let recorded: Vec<String> = sqlx::query_scalar(
        "select name from product_artifact where org_id = $1 and kind = 'entity'",
    )
    .bind(org)
    .fetch_all(owner)
    .await
    .expect("the ledger reads");
    for e in &entities {
        if !tables.contains(e) {
            drift.push(format!("table {e} is missing"));
        }
    }
    for t in &tables {
        if !recorded.iter().any(|r| r == t) {
            drift.push(format!(
                "table {t} is in the schema but no product recorded it"
            ));
        }
    }
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(org)
            .bind(&product.product)
            .fetch_one(owner)
            .await
            .expect("a count")
    };
    let planned = |kind: &str| {
        product
            .artifacts
            .iter()
            .filter(|a| a.kind() == kind)
            .count() as i64
    };
    let named = |sql: &'static str, kind: &'static str| async move {
        let names: Vec<&str> = product
            .artifacts
            .iter()
            .filter(|a| a.kind() == kind)
            .map(|a| a.name())
            .collect();
        sqlx::query_scalar::<_, i64>(sql)
            .bind(org)
            .bind(names)
            .fetch_one(owner)
            .await
            .expect("a count")
    };
    for (kind, made) in [
        ("skill", count("select count(*) from org_skill where org_id = $1 and product = $2").await),
        ("config", count("select count(*) from org_config where org_id = $1 and product = $2").await),
        (
            "knowledge",
            count("select count(*) from knowledge_entry where org_id = $1 and source = 'product:' || $2")
                .await,
        ),
        // By the plan's names, not through the ledger: one made but not recorded counts too.
        (
            "guardrail",
            named(
                "select count(*) from guardrail_policy where org_id = $1 and name = any($2)",
                "guardrail",
            )
            .await,
        ),
        (
            "agent",
            named(
                "select count(*) from agent where org_id = $1 and name = any($2)
                    and email like '%@products.tenantry.invalid'",
                "agent",
            )
            .await,
        ),
    ] {
        if made != planned(kind) {
            drift.push(format!("{made} {kind} artifact(s) made, the plan has {}", planned(kind)));
        }
    }
    let version: Option<i32> =
        sqlx::query_scalar("select version from org_product where org_id = $1 and product = $2")
            .bind(org)
            .bind(&product.product)
            .fetch_optional(owner)
            .await
            .expect("the version reads");
    if version != Some(product.version) {
        drift.push(format!(
            "the org has version {version:?}, the plan {}",
            product.version
        ));
    }
    drift
}
