//! A server program we run as our child: embedded PostgreSQL, Redis, NATS and ClickHouse.
//!
//! - It runs in its own process group, so a terminal's Ctrl-C reaches only us and we stop it in
//!   order, and with a parent-death signal, so it never outlives us, even when we are killed.
//! - When we are root it runs as an unprivileged system user (each program's own: `postgres`,
//!   `redis`, `nats`, `clickhouse`), owning its directory.
//! - [`Daemon::stop`] walks a ladder of signals, each given a while to take effect.

use std::{
    fs::{self, File, OpenOptions},
    io,
    os::unix::{
        fs::{chown, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{mpsc, Mutex},
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, Signal},
    unistd::{Pid, Uid, User},
};

/// How a program is stopped: each signal in turn, each given its time.
pub type Ladder = [(Signal, Duration); 3];

/// A running child program. Stopped by [`Daemon::stop`] or when dropped.
pub struct Daemon {
    name: &'static str,
    pid: Pid,
    ladder: Ladder,
    /// Reports the program's exit; taken by the first `stop`.
    exited: Mutex<Option<mpsc::Receiver<String>>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish()
    }
}

impl Daemon {
    /// Starts `cmd` (as `owner` when given), its output appended to `log_file`. `pdeathsig` is
    /// what the program receives when we die (its orderly shutdown signal).
    pub fn spawn(
        name: &'static str,
        mut cmd: Command,
        owner: Option<&User>,
        log_file: &Path,
        pdeathsig: Signal,
        ladder: Ladder,
    ) -> Result<Self, String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file)
            .map_err(|e| format!("cannot open {}: {e}", log_file.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        if let Some(user) = owner {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let signal = pdeathsig as libc::c_int;
        // SAFETY: prctl is async-signal-safe; nothing is allocated between fork and exec.
        // It runs after the uid switch, which would otherwise clear the setting.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, signal) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        // The parent-death signal fires when the *thread* that forked the child ends, so a
        // dedicated thread forks it and then lives exactly as long as it, reaping it.
        let (spawned_tx, spawned_rx) = mpsc::channel();
        let (exited_tx, exited_rx) = mpsc::channel();
        thread::Builder::new()
            .name(name.into())
            .spawn(move || match cmd.spawn() {
                Err(err) => {
                    let _ = spawned_tx.send(Err(err));
                }
                Ok(mut child) => {
                    let _ = spawned_tx.send(Ok(child.id()));
                    let status = child
                        .wait()
                        .map_or_else(|e| e.to_string(), |s| s.to_string());
                    let _ = exited_tx.send(status);
                }
            })
            .map_err(|e| e.to_string())?;
        let pid = spawned_rx
            .recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{program}: {e}"))?;
        Ok(Self {
            name,
            pid: Pid::from_raw(pid as i32),
            ladder,
            exited: Mutex::new(Some(exited_rx)),
        })
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The exit status, if the program has exited.
    pub fn exit_status(&self) -> Option<String> {
        self.exited
            .lock()
            .ok()
            .and_then(|rx| rx.as_ref()?.try_recv().ok())
    }

    /// Waits until `ready` says so, failing when the program exits first or `timeout` passes
    /// (then it is stopped). The error ends with the last lines of `log_file`.
    pub fn wait_until(
        &self,
        timeout: Duration,
        log_file: &Path,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!(
                    "it exited ({status}); its log ends with: {}",
                    log_tail(log_file)
                ));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.stop();
                return Err(format!(
                    "not ready after {}s; its log ends with: {}",
                    timeout.as_secs(),
                    log_tail(log_file)
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the program along its ladder. Blocking; a second call does nothing.
    pub fn stop(&self) -> Result<(), String> {
        let Some(exited) = self.exited.lock().ok().and_then(|mut rx| rx.take()) else {
            return Ok(());
        };
        let name = self.name;
        for (signal, wait) in self.ladder {
            if let Ok(status) = exited.try_recv() {
                tracing::info!(%status, "embedded {name} stopped");
                return Ok(());
            }
            let _ = kill(self.pid, signal);
            match exited.recv_timeout(wait) {
                Ok(status) => {
                    tracing::info!(%status, "embedded {name} stopped");
                    return Ok(());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tracing::warn!(?signal, "embedded {name} did not stop in time; escalating");
                }
            }
        }
        Err(format!("{name} (pid {}) would not stop", self.pid))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::error!(%err, "stopping embedded {}", self.name);
        }
    }
}

/// `Some(user)` when we are root and a program must run as the unprivileged `name`.
pub fn owner(name: &str) -> Result<Option<User>, String> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(name) {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(format!(
            "running as root, but the unprivileged `{name}` user that must run it does not \
             exist; install its Debian package (scripts/setup does)"
        )),
    }
}

/// Creates `dir` (0700, owned by `owner`) and returns its absolute path, after checking that
/// `owner` can reach it (every parent searchable).
pub fn private_dir(dir: &Path, owner: Option<&User>) -> Result<PathBuf, String> {
    let err = |e: io::Error| format!("cannot prepare {}: {e}", dir.display());
    fs::create_dir_all(dir).map_err(err)?;
    let dir = dir.canonicalize().map_err(err)?;
    if let Some(user) = owner {
        chown(&dir, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(err)?;
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    if let Some(user) = owner {
        // Entering the directory as that user proves every parent is searchable, which
        // otherwise fails later with a misleading "Permission denied".
        let reachable = Command::new("/bin/true")
            .current_dir(&dir)
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .status()
            .is_ok_and(|status| status.success());
        if !reachable {
            return Err(format!(
                "the `{}` user cannot reach {}; make its parent directories searchable \
                 (chmod o+x) or choose a TENANTRY_DATA_DIR outside them",
                user.name,
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// Writes `text` to `path` (mode 0600, owned by `owner`), replacing it in one rename so that a
/// reader never sees half a file.
pub fn write_private(path: &Path, text: &str, owner: Option<&User>) -> Result<(), String> {
    let err = |e: io::Error| format!("cannot write {}: {e}", path.display());
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).map_err(err)?;
    // A reader that watches the modification time in whole seconds (ClickHouse does) would
    // miss a second change within the same second: each version is at least a second newer.
    let now = std::time::SystemTime::now();
    let modified = match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(previous) => now.max(previous + Duration::from_secs(1)),
        Err(_) => now,
    };
    File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(modified))
        .map_err(err)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(err)?;
    if let Some(user) = owner {
        chown(&tmp, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(err)?;
    }
    fs::rename(&tmp, path).map_err(err)
}

/// Stops a program an earlier run of ours left behind: `pid_file` names it, and it is only
/// touched when it still is `comm` (exactly, as `/proc/<pid>/comm` shows it: at most 15
/// characters) working in the pid file's directory. The file is then removed.
pub fn clear_leftover(pid_file: &Path, comm: &str, ladder: Ladder) -> Result<(), String> {
    let Some(pid) = fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .map(Pid::from_raw)
    else {
        let _ = fs::remove_file(pid_file);
        return Ok(());
    };
    // That program, working in this directory (we start each in its own): never a recycled pid
    // of another process, nor the system's own instance of the same program.
    let dir = pid_file.parent().unwrap_or(Path::new("/"));
    let is_it = fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        && fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
    if is_it && process_alive(pid) {
        tracing::warn!(%pid, "{comm} from an earlier run is still running; stopping it");
        if !stop_pid(pid, ladder) {
            return Err(format!(
                "{comm} from an earlier run (pid {pid}) would not stop"
            ));
        }
    }
    let _ = fs::remove_file(pid_file);
    Ok(())
}

/// Signals `pid` along `ladder` until it is gone; `false` if it outlived the ladder.
pub fn stop_pid(pid: Pid, ladder: Ladder) -> bool {
    for (signal, wait) in ladder {
        let _ = kill(pid, signal);
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && process_alive(pid) {
            thread::sleep(Duration::from_millis(50));
        }
        if !process_alive(pid) {
            return true;
        }
    }
    !process_alive(pid)
}

pub fn process_alive(pid: Pid) -> bool {
    // A zombie counts as gone: it holds no resources and cannot answer.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A loopback TCP port nobody listens on now, kept in `file` so that a restart listens where
/// the last run did (clients given the address keep reaching it).
pub fn loopback_port(file: &Path) -> Result<u16, String> {
    if let Some(port) = fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse::<u16>().ok())
    {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
        tracing::warn!(port, file = %file.display(), "the port used last time is taken; choosing another");
    }
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    fs::write(file, port.to_string())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(port)
}

pub fn log_tail(log_file: &Path) -> String {
    File::open(log_file)
        .and_then(|mut f| {
            let mut text = String::new();
            io::Read::read_to_string(&mut f, &mut text)?;
            Ok(last_lines(&text, 3))
        })
        .unwrap_or_else(|_| "(no log)".to_string())
}

pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}
