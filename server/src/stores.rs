//! The embedded Redis, NATS (with JetStream) and ClickHouse, started beside the embedded
//! PostgreSQL from Debian's programs when no address is configured for them.
//!
//! - Each lives in its own directory under the data dir (0700, owned by the program's own
//!   system user when we are root), so two data dirs never share anything.
//! - Redis listens only on a Unix socket in its directory; NATS and ClickHouse on a loopback
//!   port chosen once and kept (`port` in their directory), so that a restart listens where the
//!   last run did and other nodes given the address keep reaching it.
//! - Each requires the platform's password (derived from the credentials key, see
//!   [`app::stores::Secrets`]); the orgs' own users are added by provisioning.
//! - Redis keeps its data in an append-only file, NATS its streams in files, ClickHouse its
//!   tables: a crash loses at most the last second.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::User};

use crate::daemon::{self, Daemon, Ladder};

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Orderly shutdown first (each program saves on SIGTERM), then SIGKILL.
const LADDER: Ladder = [
    (Signal::SIGTERM, Duration::from_secs(30)),
    (Signal::SIGTERM, Duration::from_secs(5)),
    (Signal::SIGKILL, Duration::from_secs(10)),
];

/// One running store: the program, and the address the app connects to.
pub struct Running {
    pub daemon: Daemon,
    /// With the platform's credentials.
    pub url: String,
    pub dir: PathBuf,
}

/// The pid of the program we started last in a store's directory, written by us (a program's
/// own pid file may be written late or removed early): a start after a crash stops that
/// program first, if it still runs (ClickHouse takes seconds to stop, and holds its directory's
/// lock until then).
const OUR_PID: &str = "server.pid";

fn remember_pid(dir: &Path, daemon: &Daemon) -> Result<(), String> {
    std::fs::write(dir.join(OUR_PID), daemon.pid().to_string())
        .map_err(|e| format!("cannot write {}: {e}", dir.join(OUR_PID).display()))
}

impl std::fmt::Debug for Running {
    // Not the address: it holds the platform's password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("daemon", &self.daemon)
            .field("dir", &self.dir)
            .finish()
    }
}

fn prepare(
    data_dir: &Path,
    name: &str,
    user: &str,
) -> Result<(PathBuf, Option<User>, PathBuf), String> {
    let owner = daemon::owner(user)?;
    let dir = daemon::private_dir(&data_dir.join(name), owner.as_ref())?;
    let log = data_dir.join(format!("{name}.log"));
    Ok((dir, owner, log))
}

/// Redis on a Unix socket (no TCP), its users in an ACL file it rewrites on `ACL SAVE`.
pub fn start_redis(data_dir: &Path, password: &str) -> Result<Running, String> {
    let (dir, owner, log) = prepare(data_dir, "redis", "redis")?;
    let socket = dir.join("redis.sock");
    // sun_path holds 108 bytes.
    if socket.as_os_str().len() > 100 {
        return Err(format!(
            "the data directory path {} is too long for a Unix socket; choose a shorter \
             TENANTRY_DATA_DIR",
            data_dir.display()
        ));
    }
    let pid_file = dir.join("redis.pid");
    daemon::clear_leftover(&dir.join(OUR_PID), "redis-server", LADDER)?;
    let _ = std::fs::remove_file(&socket);
    let acl = dir.join("users.acl");
    let hash = app::stores::sha256_hex(password);
    // The platform's user is set on every start (the password follows the credentials key);
    // the orgs' users, from provisioning, are kept.
    let mut users: Vec<String> = std::fs::read_to_string(&acl)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("user ") && !l.starts_with("user default "))
        .map(str::to_string)
        .collect();
    users.insert(0, format!("user default on #{hash} ~* &* +@all"));
    daemon::write_private(&acl, &(users.join("\n") + "\n"), owner.as_ref())?;
    let mut cmd = Command::new(program("redis-server", "TENANTRY_REDIS_SERVER"));
    cmd.args(["--port", "0", "--bind", "127.0.0.1"])
        .arg("--unixsocket")
        .arg(&socket)
        .args(["--unixsocketperm", "700"])
        .arg("--dir")
        .arg(&dir)
        .arg("--aclfile")
        .arg(&acl)
        .arg("--pidfile")
        .arg(&pid_file)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--protected-mode",
            "yes",
        ])
        .current_dir(&dir);
    let daemon = Daemon::spawn("Redis", cmd, owner.as_ref(), &log, Signal::SIGTERM, LADDER)?;
    remember_pid(&dir, &daemon)?;
    daemon.wait_until(START_TIMEOUT, &log, || redis_answers(&socket))?;
    tracing::info!(socket = %socket.display(), "embedded Redis is ready");
    Ok(Running {
        daemon,
        url: redis_url(&socket, password),
        dir,
    })
}

fn redis_url(socket: &Path, password: &str) -> String {
    format!(
        "redis+unix://{}?user=default&pass={password}",
        socket.display()
    )
}

fn nats_url(port: u16, password: &str) -> String {
    format!("nats://platform:{password}@127.0.0.1:{port}")
}

fn clickhouse_url(port: u16, password: &str) -> String {
    format!("http://platform:{password}@127.0.0.1:{port}")
}

/// Whether Redis answers on `socket` (asked without a password: "NOAUTH" is an answer too;
/// "LOADING" is not yet).
fn redis_answers(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 64];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read(&mut reply).is_ok_and(|n| {
            let reply = &reply[..n];
            reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH")
        })
}

/// NATS with JetStream on a loopback port. Its users are in `accounts.conf`, which
/// provisioning rewrites (then the server is told to reload).
pub fn start_nats(data_dir: &Path, password: &str) -> Result<Running, String> {
    let (dir, owner, log) = prepare(data_dir, "nats", "nats")?;
    let pid_file = dir.join("nats.pid");
    daemon::clear_leftover(&dir.join(OUR_PID), "nats-server", LADDER)?;
    let port = daemon::loopback_port(&dir.join("port"))?;
    let store = dir.join("jetstream");
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\n\
         pid_file: \"{pid}\"\n\
         max_payload: 1MB\n\
         jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 64MB\n  max_file_store: 10GB\n}}\n\
         include \"accounts.conf\"\n",
        pid = pid_file.display(),
        store = store.display(),
    );
    daemon::write_private(&dir.join("nats.conf"), &config, owner.as_ref())?;
    write_nats_accounts(&dir, password, &org_entries(&dir), owner.as_ref())?;
    let mut cmd = Command::new(program("nats-server", "TENANTRY_NATS_SERVER"));
    cmd.arg("-c").arg(dir.join("nats.conf")).current_dir(&dir);
    let daemon = Daemon::spawn("NATS", cmd, owner.as_ref(), &log, Signal::SIGTERM, LADDER)?;
    remember_pid(&dir, &daemon)?;
    daemon.wait_until(START_TIMEOUT, &log, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    tracing::info!(port, "embedded NATS is ready");
    Ok(Running {
        daemon,
        url: nats_url(port, password),
        dir,
    })
}

/// The users NATS accepts: the platform's (everything) and the orgs' (`entries`, each limited
/// to its own subjects, from [`app::stores::nats::user_entry`]).
fn write_nats_accounts(
    dir: &Path,
    password: &str,
    entries: &[String],
    owner: Option<&User>,
) -> Result<(), String> {
    let mut text = String::from("accounts {\n  TENANTS {\n    jetstream: enabled\n    users: [\n");
    let _ = writeln!(
        text,
        "      {{ user: \"platform\", password: \"{password}\" }}"
    );
    for entry in entries {
        let _ = writeln!(text, "      {entry}");
    }
    text.push_str("    ]\n  }\n}\n");
    daemon::write_private(&dir.join("accounts.conf"), &text, owner)
}

/// ClickHouse on a loopback HTTP port (no native port). Its users are in `users.xml`, which
/// provisioning rewrites and ClickHouse reads again within seconds.
pub fn start_clickhouse(data_dir: &Path, password: &str) -> Result<Running, String> {
    let (dir, owner, log) = prepare(data_dir, "clickhouse", "clickhouse")?;
    let pid_file = dir.join("clickhouse.pid");
    daemon::clear_leftover(&dir.join(OUR_PID), "clickhouse-serv", LADDER)?;
    let port = daemon::loopback_port(&dir.join("port"))?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    if let Some(user) = &owner {
        let _ = std::os::unix::fs::chown(&data, Some(user.uid.as_raw()), Some(user.gid.as_raw()));
    }
    let config = format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>{port}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{data}/</path>
  <tmp_path>{data}/tmp/</tmp_path>
  <format_schema_path>{data}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
"#,
        data = data.display()
    );
    daemon::write_private(&dir.join("config.xml"), &config, owner.as_ref())?;
    write_clickhouse_users(&dir, password, &org_entries(&dir), owner.as_ref())?;
    let mut cmd = Command::new(program("clickhouse-server", "TENANTRY_CLICKHOUSE_SERVER"));
    cmd.arg(format!(
        "--config-file={}",
        dir.join("config.xml").display()
    ))
    .arg(format!("--pid-file={}", pid_file.display()))
    .current_dir(&dir);
    let daemon = Daemon::spawn(
        "ClickHouse",
        cmd,
        owner.as_ref(),
        &log,
        Signal::SIGTERM,
        LADDER,
    )?;
    remember_pid(&dir, &daemon)?;
    daemon.wait_until(START_TIMEOUT, &log, || clickhouse_answers(port))?;
    tracing::info!(port, "embedded ClickHouse is ready");
    Ok(Running {
        daemon,
        url: clickhouse_url(port, password),
        dir,
    })
}

/// The users ClickHouse accepts: the platform's (everything) and the orgs' (`entries`, each
/// allowed only its own database, from [`app::stores::clickhouse::user_entry`]).
fn write_clickhouse_users(
    dir: &Path,
    password: &str,
    entries: &[String],
    owner: Option<&User>,
) -> Result<(), String> {
    let users: String = entries.iter().map(|e| format!("    {e}\n")).collect();
    let text = format!(
        r#"<?xml version="1.0"?>
<yandex>
  <profiles>
    <default></default>
    <org>
      <readonly>1</readonly>
      <allow_ddl>0</allow_ddl>
      <max_execution_time>30</max_execution_time>
      <max_memory_usage>1000000000</max_memory_usage>
    </org>
  </profiles>
  <quotas><default></default></quotas>
  <users>
    <platform>
      <password_sha256_hex>{hash}</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </platform>
{users}  </users>
</yandex>
"#,
        hash = app::stores::sha256_hex(password)
    );
    daemon::write_private(&dir.join("users.xml"), &text, owner)
}

/// The orgs' users of the server in `dir`, kept one per line (`<org id>\t<entry>`) in
/// `org-users` beside its configuration, which is written from them.
const ORG_USERS: &str = "org-users";

fn org_lines(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join(ORG_USERS))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(org, entry)| (org.to_string(), entry.to_string()))
        .collect()
}

fn org_entries(dir: &Path) -> Vec<String> {
    org_lines(dir).into_iter().map(|(_, entry)| entry).collect()
}

/// How provisioning changes the orgs' users of an embedded server: the `org-users` file is
/// updated, the configuration written again from it, and `reload` tells the server (NATS reads
/// its configuration again on SIGHUP; ClickHouse notices a changed users file by itself).
/// Each change holds `org-users.lock` (an advisory lock): a joining node on this machine
/// changes the same files, and two changes at once would lose one.
fn users_hook(
    dir: PathBuf,
    owner: Option<User>,
    write: fn(&Path, &str, &[String], Option<&User>) -> Result<(), String>,
    password: String,
    reload: bool,
) -> app::stores::UsersHook {
    std::sync::Arc::new(move |change| {
        let _held = lock_users(&dir)?;
        let mut lines = org_lines(&dir);
        match change {
            app::stores::UserChange::Put { org, entry } => {
                let org = org.to_string();
                lines.retain(|(o, _)| *o != org);
                lines.push((org, entry));
            }
            app::stores::UserChange::Remove { org } => {
                let org = org.to_string();
                lines.retain(|(o, _)| *o != org);
            }
        }
        let text: String = lines.iter().map(|(o, e)| format!("{o}\t{e}\n")).collect();
        daemon::write_private(&dir.join(ORG_USERS), &text, owner.as_ref())?;
        let entries: Vec<String> = lines.into_iter().map(|(_, e)| e).collect();
        write(&dir, &password, &entries, owner.as_ref())?;
        if reload {
            // The program running now (it may have been restarted since the hook was made).
            let pid = std::fs::read_to_string(dir.join(OUR_PID))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
                .ok_or("the embedded server's pid is not known")?;
            // Only the program we started: a pid file outliving its process may name another.
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() != "nats-server" {
                return Err("the embedded NATS is not running".to_string());
            }
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP)
                .map_err(|e| format!("cannot tell the embedded server to reload: {e}"))?;
        }
        Ok(())
    })
}

/// Holds the advisory lock on the orgs' users of the server in `dir` until dropped (waiting for
/// another thread or node that holds it).
fn lock_users(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    let path = dir.join("org-users.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", path.display()))
}

/// The stores the server runs itself (none that has an address configured), and how to reach
/// all three.
#[derive(Default)]
pub struct Embedded {
    running: Vec<Running>,
    /// Redis, NATS, ClickHouse: configured, or the embedded one's.
    urls: [String; 3],
    /// How the orgs' users of the embedded NATS and ClickHouse are changed.
    nats_users: Option<app::stores::UsersHook>,
    clickhouse_users: Option<app::stores::UsersHook>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("running", &self.running)
            .finish()
    }
}

impl Embedded {
    /// Starts the stores that have no address in `urls` (Redis, NATS, ClickHouse), under
    /// `data_dir`. Blocking.
    pub fn start(
        data_dir: &Path,
        urls: [Option<String>; 3],
        secrets: &app::stores::Secrets,
    ) -> Result<Self, String> {
        let [redis_url, nats_url, clickhouse_url] = urls;
        let mut embedded = Self::default();
        let mut keep = |running: Running| {
            let url = running.url.clone();
            embedded.running.push(running);
            url
        };
        let redis = match redis_url {
            Some(url) => url,
            None => keep(start_redis(
                data_dir,
                &secrets.password("redis", "platform"),
            )?),
        };
        let mut nats_users = None;
        let nats = match nats_url {
            Some(url) => url,
            None => {
                let password = secrets.password("nats", "platform");
                let running = start_nats(data_dir, &password)?;
                nats_users = Some(users_hook(
                    running.dir.clone(),
                    daemon::owner("nats")?,
                    write_nats_accounts,
                    password,
                    true,
                ));
                keep(running)
            }
        };
        let mut clickhouse_users = None;
        let clickhouse = match clickhouse_url {
            Some(url) => url,
            None => {
                let password = secrets.password("clickhouse", "platform");
                let running = start_clickhouse(data_dir, &password)?;
                clickhouse_users = Some(users_hook(
                    running.dir.clone(),
                    daemon::owner("clickhouse")?,
                    write_clickhouse_users,
                    password,
                    false,
                ));
                keep(running)
            }
        };
        embedded.urls = [redis, nats, clickhouse];
        embedded.nats_users = nats_users;
        embedded.clickhouse_users = clickhouse_users;
        Ok(embedded)
    }

    /// The stores of the server running on `data_dir` (this machine), for a node that joins
    /// it: nothing is started or stopped, and the orgs' users of its NATS and ClickHouse are
    /// changed in its files, as it changes them. Blocking.
    pub fn join(data_dir: &Path, secrets: &app::stores::Secrets) -> Result<Self, String> {
        let port = |store: &str| -> Result<u16, String> {
            let file = data_dir.join(store).join("port");
            std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| format!("the embedded {store}'s port is not in {}", file.display()))
        };
        let socket = data_dir.join("redis").join("redis.sock");
        if !socket.exists() {
            return Err(format!(
                "the embedded Redis's socket {} is not there",
                socket.display()
            ));
        }
        let (nats_dir, clickhouse_dir) = (data_dir.join("nats"), data_dir.join("clickhouse"));
        let (nats_password, clickhouse_password) = (
            secrets.password("nats", "platform"),
            secrets.password("clickhouse", "platform"),
        );
        Ok(Self {
            running: Vec::new(),
            urls: [
                redis_url(&socket, &secrets.password("redis", "platform")),
                nats_url(port("nats")?, &nats_password),
                clickhouse_url(port("clickhouse")?, &clickhouse_password),
            ],
            nats_users: Some(users_hook(
                nats_dir,
                daemon::owner("nats")?,
                write_nats_accounts,
                nats_password,
                true,
            )),
            clickhouse_users: Some(users_hook(
                clickhouse_dir,
                daemon::owner("clickhouse")?,
                write_clickhouse_users,
                clickhouse_password,
                false,
            )),
        })
    }

    /// Clients of all three, on the current runtime.
    pub async fn connect(
        &self,
        secrets: &app::stores::Secrets,
    ) -> Result<app::stores::Stores, String> {
        let [redis, nats, clickhouse] = &self.urls;
        Ok(app::stores::Stores {
            redis: Some(app::stores::redis::Redis::connect(redis, Duration::from_secs(2)).await?),
            nats: Some(app::stores::nats::Nats::connect(nats, self.nats_users.clone()).await?),
            clickhouse: Some(app::stores::clickhouse::ClickHouse::new(
                clickhouse,
                self.clickhouse_users.clone(),
            )?),
            secrets: secrets.clone(),
        })
    }

    /// The address of Redis, NATS and ClickHouse (with the platform's credentials), for a
    /// second node.
    pub fn urls(&self) -> &[String; 3] {
        &self.urls
    }

    /// Kills the embedded `store` (`redis`, `nats`, `clickhouse`) outright, as a crash would;
    /// [`Self::restart`] starts it again on the same directory and address. For fault tests.
    pub fn kill(&mut self, store: &str) -> Result<(), String> {
        let i = self.index(store)?;
        let pid = self.running[i].daemon.pid();
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        self.running[i].daemon.stop()
    }

    /// Starts the embedded `store` again (after [`Self::kill`]). Blocking.
    pub fn restart(&mut self, store: &str, secrets: &app::stores::Secrets) -> Result<(), String> {
        let i = self.index(store)?;
        let data_dir = self.running[i]
            .dir
            .parent()
            .ok_or("a store directory has a parent")?
            .to_path_buf();
        let password = secrets.password(store, "platform");
        self.running[i] = match store {
            "redis" => start_redis(&data_dir, &password)?,
            "nats" => start_nats(&data_dir, &password)?,
            _ => start_clickhouse(&data_dir, &password)?,
        };
        Ok(())
    }

    fn index(&self, store: &str) -> Result<usize, String> {
        let name = match store {
            "redis" => "redis",
            "nats" => "nats",
            "clickhouse" => "clickhouse",
            other => return Err(format!("no store is called {other:?}")),
        };
        self.running
            .iter()
            .position(|r| r.dir.file_name().is_some_and(|n| n == name))
            .ok_or_else(|| format!("{store} is not embedded here"))
    }

    /// Stops each (ClickHouse first, Redis last: the reverse of starting). Blocking.
    pub fn stop(mut self) -> Result<(), String> {
        while let Some(store) = self.running.pop() {
            store.daemon.stop()?;
        }
        Ok(())
    }
}

/// `GET /ping` answers "Ok." once ClickHouse serves.
fn clickhouse_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = Vec::new();
    stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_ok()
        && stream.read_to_end(&mut reply).is_ok()
        && reply.ends_with(b"Ok.\n")
}

/// The program `name` from the PATH (Debian puts the servers in /usr/bin or /usr/sbin, which a
/// non-login root shell may not have), or the path in `env`.
fn program(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    PathBuf::from(name)
}
