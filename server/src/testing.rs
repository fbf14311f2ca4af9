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
