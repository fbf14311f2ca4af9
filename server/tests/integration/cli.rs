//! The `server` binary as an operator runs it: bad configuration, and the embedded PostgreSQL's
//! life across starts, Ctrl-C, SIGTERM, a crash, a stale pid file and a leftover postmaster.

use std::{
    fs,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, killpg, Signal},
    unistd::{Pid, Uid, User},
};
use server::{
    db,
    testing::{TempDir, TestDb},
};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection};

const BIN: &str = env!("CARGO_BIN_EXE_server");

/// The binary with a clean environment: nothing from the developer's shell leaks in.
pub(crate) fn server_cmd(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "TENANTRY_BIND",
        "TENANTRY_PG_BIN_DIR",
        "TENANTRY_CATALOG_DIR",
        "LEPTOS_SITE_ADDR",
        "RUST_BACKTRACE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("TENANTRY_DATA_DIR", data_dir)
        .env("TENANTRY_LOG", "info");
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a command that should exit by itself, killing it (and failing) after a minute: a
/// server that wrongly starts serving must fail the test, not hang it.
pub(crate) fn run_to_exit(cmd: &mut Command) -> Output {
    let dir = TempDir::new("out");
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    let mut child = cmd
        .stdout(fs::File::create(&stdout_path).unwrap())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after 60 s; it should have refused to start. stderr:\n{}",
                fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: fs::read(&stdout_path).unwrap(),
        stderr: fs::read(&stderr_path).unwrap(),
    }
}

/// Runs a command expected to fail and returns its stderr, checked to be one clear sentence.
fn expect_one_sentence_failure(cmd: &mut Command) -> String {
    let output = run_to_exit(cmd);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "should fail; stderr: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "no panic: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn an_unreachable_database_url_is_one_sentence() {
    let dir = TempDir::new("cli");
    let stderr = expect_one_sentence_failure(
        server_cmd(dir.path())
            .env(
                "DATABASE_URL",
                "postgres://tenantry_app:secret@127.0.0.1:1/tenantry",
            )
            .env("TENANTRY_BIND", format!("127.0.0.1:{}", free_port())),
    );
    assert!(
        stderr
            .contains("cannot connect to the database at postgres://tenantry_app:***@127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret"),
        "the password is never printed: {stderr}"
    );
}

#[test]
fn a_busy_port_is_one_sentence() {
    let dir = TempDir::new("cli");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let stderr =
        expect_one_sentence_failure(server_cmd(dir.path()).env("TENANTRY_BIND", addr.to_string()));
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn an_unwritable_data_directory_is_one_sentence() {
    let dir = TempDir::new("cli");
    // A regular file where a directory is needed: unwritable even for root.
    let file = dir.path().join("a-file");
    fs::write(&file, "").unwrap();
    let data_dir = file.join("data");
    let stderr = expect_one_sentence_failure(
        server_cmd(&data_dir).env("TENANTRY_BIND", format!("127.0.0.1:{}", free_port())),
    );
    assert!(
        stderr.contains(&format!(
            "cannot use the data directory {}",
            data_dir.display()
        )),
        "{stderr}"
    );
}

#[test]
fn missing_postgres_binaries_are_one_sentence() {
    let dir = TempDir::new("cli");
    let stderr = expect_one_sentence_failure(
        server_cmd(dir.path())
            .env("TENANTRY_PG_BIN_DIR", "/nonexistent/postgresql/bin")
            .env("TENANTRY_BIND", format!("127.0.0.1:{}", free_port())),
    );
    assert!(
        stderr.contains(
            "PostgreSQL server binaries (initdb, postgres) were not found in /nonexistent"
        ),
        "{stderr}"
    );
}

#[test]
fn a_data_directory_the_postgres_user_cannot_reach_is_one_sentence() {
    if !Uid::effective().is_root() {
        return; // only root hands the cluster to another user
    }
    let dir = TempDir::new("cli");
    let private = dir.path().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let stderr = expect_one_sentence_failure(
        server_cmd(&private.join("data"))
            .env("TENANTRY_BIND", format!("127.0.0.1:{}", free_port())),
    );
    assert!(
        stderr.contains("the `postgres` user cannot reach"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_base_domain_is_one_sentence() {
    let dir = TempDir::new("cli");
    let stderr = expect_one_sentence_failure(
        server_cmd(dir.path()).env("TENANTRY_BASE_DOMAIN", "tenants_r.us"),
    );
    assert!(
        stderr.contains("invalid TENANTRY_BASE_DOMAIN \"tenants_r.us\""),
        "{stderr}"
    );
}

#[test]
fn an_invalid_log_filter_is_one_sentence() {
    let dir = TempDir::new("cli");
    let stderr =
        expect_one_sentence_failure(server_cmd(dir.path()).env("TENANTRY_LOG", "server=loud"));
    assert!(stderr.contains("invalid TENANTRY_LOG filter"), "{stderr}");
}

/// A server started in its own process group, as a shell starts a foreground job.
pub(crate) struct Running {
    child: Child,
    pub(crate) port: u16,
    log: PathBuf,
}

impl Running {
    pub(crate) fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    pub(crate) fn start_with(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = data_dir.with_extension(format!("{port}.log"));
        let out = fs::File::create(&log).unwrap();
        let child = server_cmd(data_dir)
            .envs(envs.iter().copied())
            .env("TENANTRY_BIND", format!("127.0.0.1:{port}"))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut running = Self { child, port, log };
        running.wait_ready();
        running
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("server exited ({status}) before ready:\n{}", self.output());
            }
            if http_get(self.port, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("server not ready in time:\n{}", self.output());
    }

    pub(crate) fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Signals the whole process group, as a terminal does on Ctrl-C, and waits for the exit.
    pub(crate) fn signal_group(mut self, signal: Signal) -> (ExitStatus, String) {
        killpg(Pid::from_raw(self.child.id() as i32), signal).unwrap();
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(90));
        (status, self.output())
    }

    pub(crate) fn kill_hard(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL).unwrap();
        self.child.wait().unwrap();
    }
}

pub(crate) fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit in time");
        thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

/// Live postgres processes working in `cluster_dir`.
fn postgres_processes(cluster_dir: &Path) -> Vec<u32> {
    let cluster_dir = cluster_dir.canonicalize().unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(entry.path().join("comm")).ok()?;
            let cwd = fs::read_link(entry.path().join("cwd")).ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat.rsplit(')').next()?.trim_start().starts_with('Z');
            (comm.trim() == "postgres" && cwd == cluster_dir && !zombie).then_some(pid)
        })
        .collect()
}

fn assert_no_postgres_left(cluster_dir: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = postgres_processes(cluster_dir);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "postgres processes left behind: {left:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn superuser_options(cluster_dir: &Path) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(cluster_dir)
        .port(5432)
        .username("postgres")
        .database("tenantry")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn the_embedded_cluster_survives_restarts_signals_and_crashes() {
    let tmp = TempDir::new("cli");
    let data_dir = tmp.path().join("data");
    let cluster_dir = data_dir.join("pg");

    // First start creates the cluster; leave a marker in it.
    let first = Running::start(&data_dir);
    let (code, body) = http_get(first.port, "/healthz").unwrap();
    assert_eq!((code, body.contains("\"ok\"")), (200, true));
    block_on(async {
        let mut conn = superuser_options(&cluster_dir).connect().await.unwrap();
        sqlx::raw_sql(
            "create table public.marker (note text); insert into public.marker values ('kept');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });

    // Ctrl-C: a clean exit and no postgres left behind.
    let (status, output) = first.signal_group(Signal::SIGINT);
    assert!(status.success(), "exit after Ctrl-C: {status}\n{output}");
    assert!(output.contains("embedded PostgreSQL stopped"), "{output}");
    assert_no_postgres_left(&cluster_dir, Duration::from_secs(1));

    // A second start keeps the first start's data.
    let second = Running::start(&data_dir);
    let note: String = block_on(async {
        let mut conn = superuser_options(&cluster_dir).connect().await.unwrap();
        sqlx::query_scalar("select note from public.marker")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(note, "kept");

    // A crash (SIGKILL, no chance to clean up): postgres still goes away on its own...
    second.kill_hard();
    assert_no_postgres_left(&cluster_dir, Duration::from_secs(60));

    // ...and a stale pid file naming a live process that is not our postmaster is cleared.
    let bogus = format!("{}\n{}\n", std::process::id(), cluster_dir.display());
    fs::write(cluster_dir.join("postmaster.pid"), bogus).unwrap();
    let third = Running::start(&data_dir);
    let (status, output) = third.signal_group(Signal::SIGTERM);
    assert!(status.success(), "exit after SIGTERM: {status}\n{output}");
    assert!(
        output.contains("removing a stale PostgreSQL pid file"),
        "{output}"
    );
    assert_no_postgres_left(&cluster_dir, Duration::from_secs(1));

    // A postmaster still running from an earlier run is stopped, then ours starts.
    let mut leftover = start_leftover_postmaster(&cluster_dir);
    let fourth = Running::start(&data_dir);
    // The leftover was stopped (this panics if it is still running).
    wait_with_timeout(&mut leftover, Duration::from_secs(5));
    let (status, output) = fourth.signal_group(Signal::SIGINT);
    assert!(status.success(), "{output}");
    assert!(output.contains("still running; stopping it"), "{output}");
    assert_no_postgres_left(&cluster_dir, Duration::from_secs(1));
}

/// Starts a postmaster on the cluster directly, as an earlier run that crashed would leave it.
#[allow(clippy::zombie_processes)] // the child is returned, and the caller waits for it
pub(crate) fn start_leftover_postmaster(cluster_dir: &Path) -> Child {
    let bins = server::embedded_pg::PgBinaries::locate(None).unwrap();
    let mut cmd = Command::new(&bins.postgres);
    cmd.arg("-D")
        .arg(cluster_dir)
        .arg("-k")
        .arg(cluster_dir)
        .args(["-c", "listen_addresses="])
        .current_dir(cluster_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if Uid::effective().is_root() {
        let user = User::from_name("postgres").unwrap().unwrap();
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = fs::read_to_string(cluster_dir.join("postmaster.pid")).unwrap_or_default();
        if status.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("leftover postmaster did not start");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Row-level security protects tenants only from a role that cannot escape it.
#[tokio::test]
async fn serve_refuses_a_role_that_could_escape_row_level_security() {
    let test_db = TestDb::new().await;
    let superuser = test_db.superuser_pool().await;
    let bypasser = format!("{}_bypasser", test_db.name);
    let member = format!("{}_member", test_db.name);
    let owner = format!("{}_owner", test_db.name);
    sqlx::raw_sql(&format!(
        "create role {bypasser} login bypassrls;
         create role {member} login nobypassrls;
         create role {owner} login nobypassrls;
         grant {bypasser} to {member};
         grant connect on database {db} to {bypasser}, {member}, {owner};
         create table owned_by_mistake (org_id uuid);
         alter table owned_by_mistake owner to {owner};",
        db = test_db.name
    ))
    .execute(&superuser)
    .await
    .unwrap();

    let dir = TempDir::new("cli");
    for (role, reason) in [
        ("postgres", "it is a superuser".to_string()),
        (
            bypasser.as_str(),
            "it can bypass row-level security".to_string(),
        ),
        (
            member.as_str(),
            "it can bypass row-level security".to_string(),
        ),
        // The owner role has BYPASSRLS for its platform functions; it never serves.
        (
            db::OWNER_ROLE,
            "it can bypass row-level security".to_string(),
        ),
        (
            owner.as_str(),
            "it owns table public.owned_by_mistake".to_string(),
        ),
    ] {
        let stderr = expect_one_sentence_failure(
            server_cmd(dir.path())
                .env("DATABASE_URL", test_db.url(role))
                .env("TENANTRY_BIND", format!("127.0.0.1:{}", free_port())),
        );
        assert!(
            stderr.contains(&format!(
                "refusing to serve: database role {role} must not serve requests: {reason}"
            )),
            "{role}: {stderr}"
        );
    }

    // The runtime role is the one that may.
    let running = Running::start_with(
        dir.path(),
        &[("DATABASE_URL", &test_db.url(db::RUNTIME_ROLE))],
    );
    let (status, output) = running.signal_group(Signal::SIGINT);
    assert!(status.success(), "{output}");
}

#[tokio::test]
async fn serve_refuses_an_unmigrated_external_database() {
    let test_db = TestDb::unmigrated().await;
    let dir = TempDir::new("cli");
    let stderr = expect_one_sentence_failure(
        server_cmd(dir.path())
            .env("DATABASE_URL", test_db.url(db::RUNTIME_ROLE))
            .env("TENANTRY_BIND", format!("127.0.0.1:{}", free_port())),
    );
    let count = db::MIGRATOR.iter().count();
    assert!(
        stderr.contains(&format!("the database has {count} pending migration(s)")),
        "{stderr}"
    );
}

fn http_post_form(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    http_post_as(port, path, body, None)
}

/// Posts a form, with the session `cookie` (`name=value`) if given; the status and the whole
/// response, headers included.
pub(crate) fn http_post_as(
    port: u16,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response))
}

pub(crate) fn create_superadmin(data_dir: &Path, email: &str, password: &str) -> Output {
    let mut child = server_cmd(data_dir)
        .args(["create-superadmin", "--email", email])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// The first superadmin: a one-time setup link while none exists, or the CLI, which reads the
/// password from standard input.
#[test]
fn the_first_superadmin_comes_from_the_setup_link_or_the_cli() {
    let dir = TempDir::new("cli");
    let data = dir.path().join("data");
    let running = Running::start(&data);
    let (status, output) = running.signal_group(Signal::SIGINT);
    assert!(status.success(), "{output}");
    assert!(output.contains("/setup?token="), "{output}");
    use std::os::unix::fs::PermissionsExt;
    let secret = fs::metadata(data.join("token-secret")).unwrap();
    assert_eq!(secret.permissions().mode() & 0o777, 0o600);

    let short = create_superadmin(&data, "root@example.test", "short");
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("at least 10 characters"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let created = create_superadmin(&data, "Root@Example.test", "a long enough password");
    assert!(created.status.success(), "{created:?}");
    assert_eq!(
        String::from_utf8_lossy(&created.stdout).trim(),
        "Created superadmin root@example.test"
    );
    let again = create_superadmin(&data, "root@example.test", "another long password");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "Promoted superadmin root@example.test"
    );

    let running = Running::start(&data);
    assert!(
        !running.output().contains("/setup?token="),
        "{}",
        running.output()
    );
    let (code, response) = http_post_form(
        running.port,
        "/api/auth/sign_in",
        "email=root%40example.test&password=another+long+password",
    )
    .expect("an answer");
    assert_eq!(code, 200, "{response}");
    assert!(response.contains("tenantry_session="), "{response}");
    assert!(response.to_lowercase().contains("httponly"), "{response}");
    let (code, _) = http_post_form(
        running.port,
        "/api/auth/sign_in",
        "email=root%40example.test&password=a+long+enough+password",
    )
    .expect("an answer");
    assert_eq!(code, 400, "the old password no longer works");
    let (status, output) = running.signal_group(Signal::SIGINT);
    assert!(status.success(), "{output}");
}

/// `server isolation-report` names every tenant table with its row-level security, passes on a
/// fresh database, and fails, naming the table, when someone switches a table's RLS off.
#[tokio::test]
async fn the_isolation_report_names_every_tenant_table_and_fails_when_rls_is_switched_off() {
    let test_db = TestDb::new().await;
    let dir = TempDir::new("report");
    let out = dir.path().join("report.html");
    let run = |out: &std::path::Path| {
        run_to_exit(
            server_cmd(dir.path())
                .env("DATABASE_URL", test_db.url(db::RUNTIME_ROLE))
                .arg("isolation-report")
                .arg("--out")
                .arg(out),
        )
    };
    let clean = run(&out);
    assert!(clean.status.success(), "{clean:?}");
    let html = fs::read_to_string(&out).unwrap();
    for table in [
        "public.knowledge_entry",
        "public.invitation",
        "public.usage_event",
        "public.membership",
    ] {
        let row = html
            .lines()
            .find(|l| l.contains(&format!("<code>{table}</code>")))
            .unwrap_or_else(|| panic!("{table} is not in the report"));
        assert!(row.contains("<td>OK</td>"), "{row}");
        assert!(row.contains("enabled and forced"), "{row}");
    }
    assert!(html.contains("data-failed=\"0\""), "{html}");
    assert!(html.contains("tenantry_app"), "the server role is named");

    let superuser = test_db.superuser_pool().await;
    sqlx::raw_sql("alter table knowledge_entry no force row level security")
        .execute(&superuser)
        .await
        .unwrap();
    let broken = run(&out);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains(
            "FAIL tenant table: public.knowledge_entry: row-level security is not forced"
        ),
        "{stderr}"
    );
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains("data-failed=\"1\""), "{html}");
}

/// `server audit verify` passes on an intact trail and exits 1 naming an altered event.
#[tokio::test]
async fn audit_verify_names_an_altered_event() {
    let test_db = TestDb::new().await;
    let owner = test_db.owner_pool().await;
    for action in ["probe.one", "probe.two", "probe.three"] {
        sqlx::query("select platform.record_audit(null, null, $1, 'cli', '', '', '{}')")
            .bind(action)
            .execute(&owner)
            .await
            .unwrap();
    }
    let dir = TempDir::new("verify");
    let run = || {
        run_to_exit(
            server_cmd(dir.path())
                .env("DATABASE_URL", test_db.url(db::OWNER_ROLE))
                .args(["audit", "verify"]),
        )
    };
    let clean = run();
    assert!(clean.status.success(), "{clean:?}");
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert!(
        stdout.contains("ok      platform: 3 events, head "),
        "{stdout}"
    );
    // The server's own role sees no org's events: refused, not a pass over nothing.
    let blind = run_to_exit(
        server_cmd(dir.path())
            .env("DATABASE_URL", test_db.url(db::RUNTIME_ROLE))
            .args(["audit", "verify"]),
    );
    assert_eq!(blind.status.code(), Some(1), "{blind:?}");
    assert!(
        String::from_utf8_lossy(&blind.stderr)
            .contains("needs a role that reads every org's events"),
        "{blind:?}"
    );
    let superuser = test_db.superuser_pool().await;
    sqlx::raw_sql("update audit_event set action = 'probe.forged' where action = 'probe.two'")
        .execute(&superuser)
        .await
        .unwrap();
    let broken = run();
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(
        stdout.contains("BROKEN  the platform: event #2 (id") && stdout.contains("was altered"),
        "{stdout}"
    );
}
