//! The request path under load, against the database's own speed, in one run (`bench/load`):
//!
//! 1. starts the release server (`target/release/server serve`, built by `bench/load`) on a
//!    fresh data directory with its embedded PostgreSQL and stores, makes a superadmin with
//!    `server create-superadmin`, then through the endpoints: 1,000 orgs, 10 members each,
//!    and a sign-in (and switch into their org) for each of the 10,000 members;
//! 2. `pgbench -S` (8 clients, prepared statements) on the same cluster;
//! 3. the floor under any answer: `/healthz` (every middleware and the router, no database)
//!    from 64 connections without pause;
//! 4. the authenticated read (`orgs/current_org`) from 64 connections again: its rate, and
//!    its ratios to pgbench's and to the floor;
//! 5. 10,000 connected users, each on its own keep-alive connection, each waiting 5–15 s
//!    (think time) between reads of its org;
//!
//! and prints requests/s, p50/p95/p99, errors, and the server's resident memory after each
//! step and at its peak. The stores' provisioning of the new orgs finishes before anything is
//! measured. `TENANTRY_LOAD_SERVER` names another server binary (an allocator build, say) to
//! measure instead; with `TENANTRY_LOAD_PERF` set to a file, `perf record` samples the server
//! during the authenticated reads.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use support::{ms, percentile};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

#[path = "support.rs"]
mod support;

/// Orgs and members per org; `TENANTRY_LOAD_ORGS` and `TENANTRY_LOAD_MEMBERS` change them (a
/// quicker run while profiling, say).
fn scale() -> (usize, usize) {
    let read = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        read("TENANTRY_LOAD_ORGS", 1_000),
        read("TENANTRY_LOAD_MEMBERS", 10),
    )
}
const PASSWORD: &str = "load bench password";
const READ: &str = "/api/orgs/current_org";

fn main() {
    raise_open_files();
    support::run(run());
}

/// 10,000 connections on each side need more descriptors than the usual 1,024: the soft limit
/// is raised to the hard one (the server, started from here, inherits it).
fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct they are given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    if limit.rlim_cur < 10_500 {
        eprintln!(
            "warning: {} open files at most; 10,000 connections will fail",
            limit.rlim_cur
        );
    }
}

async fn run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = std::env::var_os("TENANTRY_LOAD_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/server"));
    assert!(
        binary.is_file(),
        "{} is missing: run bench/load, which builds it",
        binary.display()
    );
    let data = tempdir();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let env = [
        ("TENANTRY_DATA_DIR", data.display().to_string()),
        ("TENANTRY_BIND", addr.clone()),
        ("TENANTRY_LOG", "warn".to_string()),
        (
            "TENANTRY_TOKEN_SECRET",
            "load-bench-token-secret-0123456789abcdef".to_string(),
        ),
        ("TENANTRY_CREDENTIALS_KEY", "ab".repeat(32)),
    ];

    let mut made = Command::new(&binary)
        .args(["create-superadmin", "--email", "root@load.test"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("server create-superadmin");
    {
        use std::io::Write;
        let mut stdin = made.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("the password");
    }
    assert!(made.wait().expect("create-superadmin").success());

    let mut server = Command::new(&binary)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .expect("server serve");
    let pid = server.id();
    let started = Instant::now();
    while TcpStream::connect(&addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the server did not listen within 3 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "server listening after {:.1} s; RSS {} MiB",
        started.elapsed().as_secs_f64(),
        rss(pid).0
    );

    let result = std::panic::AssertUnwindSafe(measure(&addr, pid, &data));
    let outcome = futures::FutureExt::catch_unwind(result).await;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn measure(addr: &str, pid: u32, data: &Path) {
    let (orgs_wanted, members_per_org) = scale();
    println!("server pid {pid}; {orgs_wanted} orgs, {members_per_org} members each");
    let root = sign_in(addr, "root@load.test").await;

    // Orgs and members, through the endpoints, a few at a time.
    let t0 = Instant::now();
    let orgs = parallel(orgs_wanted, 8, |i| {
        let (addr, root) = (addr.to_string(), root.clone());
        async move {
            let name = format!("Load Org {i}");
            let domain = format!("load{i}.example");
            let response = call(
                &addr,
                "/api/orgs/create_org",
                Some(&root),
                &[
                    ("org[name]", name.as_str()),
                    ("org[domain]", domain.as_str()),
                    ("org[product]", "eloquent"),
                    ("org[status]", "active"),
                ],
            )
            .await;
            assert_eq!(response.status, 200, "create {name}: {}", response.body);
            response.body.trim_matches('"').to_string()
        }
    })
    .await;
    println!(
        "{orgs_wanted} orgs in {:.1} s; RSS {} MiB",
        t0.elapsed().as_secs_f64(),
        rss(pid).0
    );

    let t0 = Instant::now();
    let users: Vec<(String, String)> = parallel(orgs_wanted * members_per_org, 4, |i| {
        let (addr, root) = (addr.to_string(), root.clone());
        let org = orgs[i / members_per_org].clone();
        async move {
            let email = format!("user{i}@load.test");
            let response = call(
                &addr,
                "/api/members/create_user",
                Some(&root),
                &[
                    ("org_id", org.as_str()),
                    ("name", &format!("User {i}")),
                    ("email", &email),
                    ("password", PASSWORD),
                    (
                        "role",
                        if i % members_per_org == 0 {
                            "admin"
                        } else {
                            "member"
                        },
                    ),
                ],
            )
            .await;
            assert_eq!(response.status, 200, "create {email}: {}", response.body);
            (email, org)
        }
    })
    .await;
    println!(
        "{} members in {:.1} s; RSS {} MiB",
        users.len(),
        t0.elapsed().as_secs_f64(),
        rss(pid).0
    );

    let t0 = Instant::now();
    let signed = Arc::new(AtomicU64::new(0));
    let tokens: Vec<(String, String)> = parallel(users.len(), 16, |i| {
        let addr = addr.to_string();
        let (email, org) = users[i].clone();
        let signed = signed.clone();
        async move {
            let token = sign_in(&addr, &email).await;
            let switched = call(
                &addr,
                "/api/auth/switch_org",
                Some(&token),
                &[("org_id", &org)],
            )
            .await
            .cookie
            .unwrap_or_else(|| panic!("{email} could not switch into their org"));
            if signed.fetch_add(1, Ordering::AcqRel) + 1 == 2_000 {
                println!("2,000 sign-ins: RSS {} MiB", rss(pid).0);
            }
            (switched, org)
        }
    })
    .await;
    println!(
        "{} sign-ins in {:.1} s; RSS {} MiB (peak so far {} MiB)",
        tokens.len(),
        t0.elapsed().as_secs_f64(),
        rss(pid).0,
        rss(pid).1
    );

    let t0 = Instant::now();
    let psql = |sql: &str| {
        let out = Command::new(pg_bin().join("psql"))
            .args([
                "-h",
                &data.join("pg").display().to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "tenantry", "-tAq", "-c", sql])
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Provisioning takes about 2 s an org (each one's NATS account, Redis user, ClickHouse
    // database): the measurement waits for it at most `TENANTRY_LOAD_PROVISION_WAIT` seconds
    // (120), then runs beside what is left, and says how much that was.
    let wait = std::env::var("TENANTRY_LOAD_PROVISION_WAIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let open_runs =
        || psql("select count(*) from product_run where status in ('pending', 'running')");
    while open_runs() != "0" && t0.elapsed() < Duration::from_secs(wait) {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "after {:.0} s more, {} of the stores' provisioning runs are still open (they run beside \
         the measurements), {} failed; RSS {} MiB",
        t0.elapsed().as_secs_f64(),
        open_runs(),
        psql("select count(*) from product_run where status in ('failed', 'rolled_back')"),
        rss(pid).0
    );

    let pgbench = pgbench(data, 8, 15).await;
    println!("pgbench -S (8 clients, prepared, 15 s): {pgbench:.0} transactions/s");

    // The floor under any answer: as many connections, the same client, on `/healthz`, which
    // passes every middleware and the router but touches no database.
    let (floor, mut stats) = closed_loop(
        addr,
        ("GET", "/healthz"),
        &tokens,
        64,
        Duration::from_secs(10),
    )
    .await;
    println!(
        "HTTP floor (/healthz, 64 connections, no pause, 10 s): {floor:.0} requests/s, {}",
        stats.line()
    );

    // The authenticated read, 64 connections, no pause, 15 s.
    let perf = std::env::var_os("TENANTRY_LOAD_PERF").map(|file| {
        Command::new("perf")
            .args([
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-g",
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(file)
            .args(["--", "sleep", "10"])
            .stderr(Stdio::null())
            .spawn()
            .expect("perf record")
    });
    let (rate, mut stats) =
        closed_loop(addr, ("POST", READ), &tokens, 64, Duration::from_secs(15)).await;
    if let Some(mut perf) = perf {
        let _ = perf.wait();
    }
    println!(
        "authenticated read (64 connections, no pause, 15 s): {rate:.0} requests/s, {}, \
         ratio to pgbench {:.3} (goal >= 0.25), to the HTTP floor {:.3}; RSS {} MiB",
        stats.line(),
        rate / pgbench,
        rate / floor,
        rss(pid).0
    );

    // 10,000 users with think time.
    let (rate, mut stats) = thinking_users(addr, &tokens, Duration::from_secs(60), pid).await;
    let (now, peak) = rss(pid);
    println!(
        "{} connected users, 5-15 s think time, 60 s: {rate:.0} requests/s, {} \
         (goal: no errors, p99 < 50 ms); RSS {now} MiB",
        tokens.len(),
        stats.line()
    );
    println!("server peak RSS over the whole run: {peak} MiB (goal < 300 MiB)");
}

/// Latencies and errors of one phase.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
}

impl Stats {
    fn line(&mut self) -> String {
        self.latencies.sort();
        if self.latencies.is_empty() {
            return format!("no answers, {} errors", self.errors);
        }
        format!(
            "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} errors",
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.95)),
            ms(percentile(&self.latencies, 0.99)),
            ms(*self.latencies.last().expect("not empty")),
            self.errors
        )
    }
}

async fn closed_loop(
    addr: &str,
    (method, path): (&'static str, &'static str),
    tokens: &[(String, String)],
    connections: usize,
    length: Duration,
) -> (f64, Stats) {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, stats) = (addr.to_string(), stats.clone());
        let token = tokens[c * tokens.len() / connections].0.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let mut mine = Stats::default();
            while start.elapsed() < length {
                let t = Instant::now();
                match conn.send(method, path, Some(&token), "").await {
                    Ok(r) if r.status == 200 => mine.latencies.push(t.elapsed()),
                    _ => {
                        mine.errors += 1;
                        conn = Conn::open(&addr).await;
                    }
                }
            }
            let mut all = stats.lock().unwrap();
            all.latencies.extend(mine.latencies);
            all.errors += mine.errors;
        }));
    }
    for task in tasks {
        task.await.expect("a load task");
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = Arc::try_unwrap(stats)
        .ok()
        .expect("tasks done")
        .into_inner()
        .unwrap();
    (stats.latencies.len() as f64 / secs, stats)
}

/// Every user on a connection of their own, reading their org, then thinking 5–15 s. The
/// connections open over the first 10 s; the measurement is the `length` after that.
async fn thinking_users(
    addr: &str,
    tokens: &[(String, String)],
    length: Duration,
    pid: u32,
) -> (f64, Stats) {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let ramp = Duration::from_secs(10);
    let start = Instant::now();
    let end = start + ramp + length;
    let mut tasks = Vec::new();
    for (i, (token, _)) in tokens.iter().enumerate() {
        let (addr, stats, token) = (addr.to_string(), stats.clone(), token.clone());
        let delay = ramp.mul_f64(i as f64 / tokens.len() as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut conn = match Conn::try_open(&addr).await {
                Ok(conn) => conn,
                Err(_) => {
                    stats.lock().unwrap().errors += 1;
                    return;
                }
            };
            let mut mine = Stats::default();
            let mut seed = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            while Instant::now() < end {
                let t = Instant::now();
                let answer = conn.post(READ, Some(&token), "").await;
                if t >= start + ramp {
                    match answer {
                        Ok(r) if r.status == 200 => mine.latencies.push(t.elapsed()),
                        _ => mine.errors += 1,
                    }
                }
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let think = Duration::from_millis(5_000 + seed % 10_000);
                tokio::time::sleep(think.min(end.saturating_duration_since(Instant::now()))).await;
            }
            let mut all = stats.lock().unwrap();
            all.latencies.extend(mine.latencies);
            all.errors += mine.errors;
        }));
    }
    tokio::time::sleep(ramp).await;
    println!("{} users connected; RSS {} MiB", tokens.len(), rss(pid).0);
    for task in tasks {
        task.await.expect("a user task");
    }
    let stats = Arc::try_unwrap(stats)
        .ok()
        .expect("tasks done")
        .into_inner()
        .unwrap();
    (stats.latencies.len() as f64 / length.as_secs_f64(), stats)
}

/// `pgbench -S` on the server's own cluster, in a database of its own.
async fn pgbench(data: &Path, clients: u32, secs: u32) -> f64 {
    let socket = data.join("pg");
    let bin = pg_bin();
    let psql = |sql: &str| {
        let status = Command::new(bin.join("psql"))
            .args([
                "-h",
                &socket.display().to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-q", "-c", sql])
            .status()
            .expect("psql");
        assert!(status.success(), "psql {sql}");
    };
    psql("drop database if exists pgbench");
    psql("create database pgbench");
    let host = socket.display().to_string();
    let init = Command::new(bin.join("pgbench"))
        .args([
            "-h", &host, "-U", "postgres", "-i", "-q", "-s", "10", "pgbench",
        ])
        .stderr(Stdio::null())
        .status()
        .expect("pgbench -i");
    assert!(init.success(), "pgbench -i");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin.join("pgbench"))
            .args(["-h", &host, "-U", "postgres", "-S", "-M", "prepared", "-n"])
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &secs.to_string(),
            ])
            .arg("pgbench")
            .output()
            .expect("pgbench -S")
    })
    .await
    .expect("pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench's output:\n{text}"))
}

fn pg_bin() -> PathBuf {
    let initdb = Command::new("sh")
        .args([
            "-c",
            "readlink -f \"$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)\"",
        ])
        .output()
        .expect("find initdb");
    PathBuf::from(String::from_utf8_lossy(&initdb.stdout).trim())
        .parent()
        .expect("a bin dir")
        .to_path_buf()
}

/// The server's resident memory now and at its peak, MiB.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `count` results of `make(i)`, at most `width` at once, in order.
async fn parallel<T, F, Fut>(count: usize, width: usize, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    use futures::StreamExt;
    futures::stream::iter((0..count).map(|i| tokio::spawn(make(i))))
        .buffered(width)
        .map(|r| r.expect("a task"))
        .collect()
        .await
}

async fn sign_in(addr: &str, email: &str) -> String {
    let response = call(
        addr,
        "/api/auth/sign_in",
        None,
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    response
        .cookie
        .unwrap_or_else(|| panic!("sign-in of {email}: {} {}", response.status, response.body))
}

/// One server-function call on a connection of its own.
async fn call(addr: &str, path: &str, token: Option<&str>, fields: &[(&str, &str)]) -> Answer {
    let body = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                server::testing::form_encode(k),
                server::testing::form_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut conn = Conn::open(addr).await;
    conn.post(path, token, &body).await.expect("an answer")
}

struct Answer {
    status: u16,
    body: String,
    cookie: Option<String>,
}

/// A keep-alive HTTP/1.1 connection speaking just enough to call server functions.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> Self {
        Self::try_open(addr).await.expect("connect to the server")
    }

    async fn try_open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    async fn post(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Answer> {
        self.send("POST", path, token, body).await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Answer> {
        let auth = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\naccept: application/json\r\n\
             content-type: application/x-www-form-urlencoded\r\n{auth}content-length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked, mut cookie) = (0usize, false, None);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "set-cookie" => {
                    let prefix = format!("{}=", app::auth::token::COOKIE);
                    if let Some(rest) = value.strip_prefix(&prefix) {
                        let token = rest.split(';').next().unwrap_or_default();
                        if !token.is_empty() {
                            cookie = Some(token.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            cookie,
        })
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenantry-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a data directory");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
