//! A private PostgreSQL cluster run from the system's `initdb` and `postgres` binaries.
//!
//! - The cluster listens only on a Unix socket inside its own directory (mode 0700), so no TCP
//!   port can clash and only its owner (and root) can connect; local connections are trusted.
//! - PostgreSQL refuses to run as root. When we are root, the cluster directory is owned by, and
//!   the server runs as, the unprivileged `postgres` user.
//! - The postmaster is our child in its own process group, so a terminal's Ctrl-C reaches only
//!   us and we shut it down in order. It also carries a parent-death signal (fast shutdown), so
//!   it never outlives us, even when we are killed outright.
//! - A postmaster left over from an earlier run, or a stale pid file, is cleared before starting.

use std::{
    fs, io,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use nix::{
    sys::signal::Signal,
    unistd::{Pid, Uid, User},
};

use crate::daemon::{self, Daemon};
use sqlx::postgres::PgConnectOptions;

/// The bootstrap superuser `initdb` creates. Used only to create roles and databases.
pub const SUPERUSER: &str = "postgres";
/// The port only names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
const PORT: u16 = 5432;
/// `sun_path` holds 108 bytes, including the socket file name and a terminating NUL.
const MAX_SOCKET_DIR_LEN: usize = 107 - ".s.PGSQL.5432".len() - 1;
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How a postmaster is stopped: fast shutdown (open transactions roll back, then a checkpoint),
/// then immediate shutdown, then SIGKILL, each given this long to take effect.
const SHUTDOWN_LADDER: [(Signal, Duration); 3] = [
    (Signal::SIGINT, Duration::from_secs(60)),
    (Signal::SIGQUIT, Duration::from_secs(10)),
    (Signal::SIGKILL, Duration::from_secs(10)),
];

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found in {searched}; \
         install PostgreSQL (apt-get install postgresql) or set TENANTRY_PG_BIN_DIR"
    )]
    BinariesNotFound { searched: String },
    #[error(
        "running as root, but the unprivileged `postgres` user that must own the embedded \
         cluster does not exist; install PostgreSQL (apt-get install postgresql) to create it"
    )]
    NoPostgresUser,
    #[error("cannot prepare the PostgreSQL directory {path}: {source}")]
    Dir { path: PathBuf, source: io::Error },
    #[error(
        "the PostgreSQL directory {0} is not empty but holds no cluster; move it away or choose \
         another TENANTRY_DATA_DIR"
    )]
    NotACluster(PathBuf),
    #[error(
        "the data directory path {0} is too long for a Unix socket (at most {MAX_SOCKET_DIR_LEN} \
         bytes); choose a shorter TENANTRY_DATA_DIR"
    )]
    PathTooLong(PathBuf),
    #[error(
        "the `postgres` user cannot reach {0}; make its parent directories searchable \
         (chmod o+x) or choose a TENANTRY_DATA_DIR outside them"
    )]
    Unreachable(PathBuf),
    #[error("initdb failed: {0}")]
    Initdb(String),
    #[error("PostgreSQL could not be started: {0}")]
    Start(String),
}

/// Where the `initdb` and `postgres` programs are.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

impl PgBinaries {
    /// Looks in `dir` if given; otherwise on `PATH`, then in `/usr/lib/postgresql/<newest>/bin`.
    pub fn locate(dir: Option<&Path>) -> Result<Self, PgError> {
        let candidates: Vec<PathBuf> = match dir {
            Some(dir) => vec![dir.to_path_buf()],
            None => {
                let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
                    .map(|path| std::env::split_paths(&path).collect())
                    .unwrap_or_default();
                dirs.extend(debian_versioned_dirs());
                dirs
            }
        };
        candidates
            .iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
            .map(|dir| Self {
                initdb: dir.join("initdb"),
                postgres: dir.join("postgres"),
            })
            .ok_or_else(|| PgError::BinariesNotFound {
                searched: match dir {
                    Some(dir) => dir.display().to_string(),
                    None => "PATH and /usr/lib/postgresql/*/bin".to_string(),
                },
            })
    }
}

/// `/usr/lib/postgresql/<major>/bin`, newest major first.
fn debian_versioned_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The cluster directory (`PGDATA`); also holds the socket.
    pub dir: PathBuf,
    /// PostgreSQL's own output is appended here.
    pub log_file: PathBuf,
    /// `false` trades crash safety for speed (`fsync=off`): for throwaway test clusters only.
    pub durable: bool,
}

/// A running cluster. Stopped by [`Cluster::stop`] or when dropped.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    postmaster: Daemon,
}

/// Options to connect over the socket of the cluster in `dir` (started by this process or,
/// for a joining node, by another).
pub fn socket_options(dir: &Path, user: &str, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(dir)
        .port(PORT)
        .username(user)
        .database(database)
}

impl Cluster {
    /// Creates the cluster on first use, clears what a crashed run left, starts the postmaster
    /// and waits until it accepts connections. Blocking.
    pub fn start(bins: &PgBinaries, options: &ClusterOptions) -> Result<Self, PgError> {
        let owner = cluster_owner()?;
        let dir = prepare_dir(&options.dir, owner.as_ref())?;
        if dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            return Err(PgError::PathTooLong(dir));
        }
        if !dir.join("PG_VERSION").is_file() {
            initdb(bins, &dir, owner.as_ref())?;
        }
        clear_leftovers(&dir)?;
        Self::spawn(bins, &dir, options, owner.as_ref())
    }

    fn spawn(
        bins: &PgBinaries,
        dir: &Path,
        options: &ClusterOptions,
        owner: Option<&User>,
    ) -> Result<Self, PgError> {
        let mut cmd = Command::new(&bins.postgres);
        cmd.arg("-D")
            .arg(dir)
            .arg("-k")
            .arg(dir)
            .arg("-p")
            .arg(PORT.to_string())
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_permissions=0700",
            ]);
        if !options.durable {
            cmd.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        cmd.current_dir(dir);
        let postmaster = Daemon::spawn(
            "PostgreSQL",
            cmd,
            owner,
            &options.log_file,
            Signal::SIGINT,
            SHUTDOWN_LADDER,
        )
        .map_err(PgError::Start)?;
        let pid = postmaster.pid();
        postmaster
            .wait_until(START_TIMEOUT, &options.log_file, || {
                postmaster_status(dir).is_some_and(|(p, status)| p == pid && status == "ready")
            })
            .map_err(PgError::Start)?;
        let cluster = Self {
            dir: dir.to_path_buf(),
            postmaster,
        };
        tracing::info!(dir = %cluster.dir.display(), pid = pid.as_raw(), "embedded PostgreSQL is ready");
        Ok(cluster)
    }

    /// The cluster directory, which is also where its socket is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.postmaster.pid().as_raw() as u32
    }

    /// Options to connect over the cluster's socket.
    pub fn connect_options(&self, user: &str, database: &str) -> PgConnectOptions {
        socket_options(&self.dir, user, database)
    }

    /// A URL for tools that take one (`psql`, `cargo sqlx`).
    pub fn url(&self, user: &str, database: &str) -> String {
        format!(
            "postgres://{user}@localhost:{PORT}/{database}?host={}",
            self.dir.display()
        )
    }

    /// Stops the postmaster along [`SHUTDOWN_LADDER`]. Blocking; a second call does nothing.
    pub fn stop(&self) -> Result<(), PgError> {
        self.postmaster.stop().map_err(PgError::Start)
    }
}

/// `Some(postgres)` when we are root and must hand the cluster to an unprivileged user.
fn cluster_owner() -> Result<Option<User>, PgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(SUPERUSER) {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(PgError::NoPostgresUser),
    }
}

/// Creates the cluster directory (0700, owned by the cluster's user) and returns its absolute path.
fn prepare_dir(dir: &Path, owner: Option<&User>) -> Result<PathBuf, PgError> {
    daemon::private_dir(dir, owner).map_err(|message| match owner {
        Some(_) if message.contains("cannot reach") => PgError::Unreachable(dir.to_path_buf()),
        _ => PgError::Dir {
            path: dir.to_path_buf(),
            source: io::Error::other(message),
        },
    })
}

fn initdb(bins: &PgBinaries, dir: &Path, owner: Option<&User>) -> Result<(), PgError> {
    let not_empty = fs::read_dir(dir)
        .map_err(|source| PgError::Dir {
            path: dir.to_path_buf(),
            source,
        })?
        .next()
        .is_some();
    if not_empty {
        return Err(PgError::NotACluster(dir.to_path_buf()));
    }
    tracing::info!(dir = %dir.display(), "creating the embedded PostgreSQL cluster");
    let mut cmd = Command::new(&bins.initdb);
    cmd.arg("-D")
        .arg(dir)
        .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale"])
        .args([
            "--auth-local=trust",
            "--auth-host=reject",
            "--no-instructions",
        ])
        .current_dir(dir)
        .stdin(Stdio::null());
    if let Some(user) = owner {
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let output = cmd
        .output()
        .map_err(|e| PgError::Initdb(format!("{}: {e}", bins.initdb.display())))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(PgError::Initdb(daemon::last_lines(&stderr, 3)))
    }
}

/// Clears what a crashed run may have left: a postmaster still running on this directory is
/// stopped (the data directory lock guarantees it is not another live server's); a pid file
/// naming a dead or unrelated process is removed.
fn clear_leftovers(dir: &Path) -> Result<(), PgError> {
    let Some((pid, _)) = postmaster_status(dir) else {
        return Ok(());
    };
    if is_postmaster_of(pid, dir) {
        tracing::warn!(%pid, "a PostgreSQL server from an earlier run is still running; stopping it");
        if !daemon::stop_pid(pid, SHUTDOWN_LADDER) {
            return Err(PgError::Start(format!(
                "a PostgreSQL server from an earlier run (pid {pid}) would not stop"
            )));
        }
    }
    // After a clean stop the file is already gone; after a crash it is stale.
    if dir.join("postmaster.pid").exists() {
        tracing::info!("removing a stale PostgreSQL pid file");
        fs::remove_file(dir.join("postmaster.pid")).map_err(|source| PgError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// The pid and status line ("starting", "ready", "stopping") of `postmaster.pid`.
fn postmaster_status(dir: &Path) -> Option<(Pid, String)> {
    let text = fs::read_to_string(dir.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let status = lines.nth(6).unwrap_or_default().trim().to_string();
    Some((Pid::from_raw(pid), status))
}

/// Whether `pid` is a live postgres process working in `dir` (postgres chdirs into its PGDATA),
/// so that a recycled pid is never mistaken for our postmaster.
fn is_postmaster_of(pid: Pid, dir: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let comm = fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
    let cwd = fs::read_link(proc_dir.join("cwd")).ok();
    comm.trim() == "postgres" && cwd.as_deref() == Some(dir)
}
