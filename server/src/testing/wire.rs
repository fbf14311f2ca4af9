//! A counting relay between the app and the test PostgreSQL: it passes every byte on unchanged
//! and reads the client's side of the protocol to count what the app asked of the database.
//!
//! - a **round trip** is one exchange the client waits for that runs something: a simple
//!   `Query`, or a `Sync` ending extended-protocol messages with an `Execute` among them;
//! - a **prepare** is such an exchange without an `Execute` (sqlx preparing a statement the
//!   first time a connection sees it), counted apart: it happens once per connection;
//! - a **statement** is an `Execute`, or one statement of a simple query;
//! - a **ping** is a `Sync` with nothing before it (sqlx's check of a connection returned to
//!   its pool), counted apart: the request does not wait for it. The `ROLLBACK` of a read
//!   ended without a `COMMIT` (`Tenant::end_read`) goes out just before that ping, after the
//!   answer; it is still counted as a round trip.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{UnixListener, UnixStream},
};

use super::TempDir;

/// What the app sent since the last [`Wire::take`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub round_trips: u64,
    pub statements: u64,
    pub pings: u64,
    pub prepares: u64,
    /// The statements' text, in order (simple queries as sent, extended ones by their parse).
    pub sent: Vec<String>,
}

#[derive(Default)]
struct Counts {
    round_trips: AtomicU64,
    statements: AtomicU64,
    pings: AtomicU64,
    prepares: AtomicU64,
    sent: Mutex<Vec<String>>,
}

/// The relay; connect to [`Wire::dir`] (port 5432) instead of the cluster's socket directory.
pub struct Wire {
    dir: TempDir,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Wire {
    /// A relay to the cluster socket in `target_dir`, on the current runtime.
    pub fn start(target_dir: PathBuf) -> Self {
        let dir = TempDir::new("wire");
        let listener =
            UnixListener::bind(dir.path().join(".s.PGSQL.5432")).expect("bind the relay socket");
        let counts = Arc::new(Counts::default());
        let target = target_dir.join(".s.PGSQL.5432");
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (counts, target) = (shared.clone(), target.clone());
                tokio::spawn(async move {
                    if let Ok(server) = UnixStream::connect(&target).await {
                        relay(client, server, counts).await;
                    }
                });
            }
        });
        Self { dir, counts, task }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// What was counted since the last call, and starts counting again: once every connection
    /// of `pool` is back in it, so that what a request's connection sends as it goes back (after
    /// the answer) is counted with that request, not the next. A connection is back only when
    /// the database has answered that, and each message is counted before it is passed on.
    pub async fn take(&self, pool: &sqlx::PgPool) -> Counted {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while pool.num_idle() < pool.size() as usize {
            assert!(
                std::time::Instant::now() < deadline,
                "the pool's connections did not come back within 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Counted {
            round_trips: self.counts.round_trips.swap(0, Ordering::SeqCst),
            statements: self.counts.statements.swap(0, Ordering::SeqCst),
            pings: self.counts.pings.swap(0, Ordering::SeqCst),
            prepares: self.counts.prepares.swap(0, Ordering::SeqCst),
            sent: std::mem::take(&mut *self.counts.sent.lock().expect("not poisoned")),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: UnixStream, server: UnixStream, counts: Arc<Counts>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    let _ = forward(&mut client_read, &mut server_write, &counts).await;
    back.abort();
}

/// Passes the client's messages to the server, counting them.
async fn forward(
    from: &mut tokio::net::unix::OwnedReadHalf,
    to: &mut tokio::net::unix::OwnedWriteHalf,
    counts: &Counts,
) -> std::io::Result<()> {
    // The start-up messages carry no type byte; an SSL or GSS request is followed by another.
    loop {
        let len = from.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from.read_exact(&mut body).await?;
        to.write_all(&len.to_be_bytes()).await?;
        to.write_all(&body).await?;
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if !matches!(code, Some(80877103) | Some(80877104)) {
            break;
        }
    }
    let mut extended = false;
    let mut executed = false;
    // Prepared statements by name, and the one the last bind named.
    let mut prepared = std::collections::HashMap::<Vec<u8>, String>::new();
    let mut bound = String::new();
    loop {
        let kind = from.read_u8().await?;
        let len = from.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from.read_exact(&mut body).await?;
        match kind {
            b'Q' => {
                let text = String::from_utf8_lossy(&body)
                    .trim_end_matches('\0')
                    .to_string();
                let statements = text.split(';').filter(|s| !s.trim().is_empty()).count();
                counts.round_trips.fetch_add(1, Ordering::SeqCst);
                counts
                    .statements
                    .fetch_add(statements as u64, Ordering::SeqCst);
                counts.sent.lock().expect("not poisoned").push(text);
            }
            b'P' => {
                extended = true;
                // Parse: statement name, NUL, query text, NUL, …
                let mut fields = body.split(|b| *b == 0);
                let name = fields.next().unwrap_or_default().to_vec();
                let text = String::from_utf8_lossy(fields.next().unwrap_or_default());
                prepared.insert(name, text.into_owned());
            }
            b'B' => {
                extended = true;
                // Bind: portal name, NUL, statement name, NUL, …
                let mut fields = body.split(|b| *b == 0);
                let _portal = fields.next();
                let name = fields.next().unwrap_or_default();
                bound = prepared.get(name).cloned().unwrap_or_default();
            }
            b'D' => extended = true,
            b'E' => {
                (extended, executed) = (true, true);
                counts.statements.fetch_add(1, Ordering::SeqCst);
                counts
                    .sent
                    .lock()
                    .expect("not poisoned")
                    .push(std::mem::take(&mut bound));
            }
            b'S' => {
                let counter = match (std::mem::take(&mut extended), std::mem::take(&mut executed)) {
                    (_, true) => &counts.round_trips,
                    (true, false) => &counts.prepares,
                    (false, false) => &counts.pings,
                };
                counter.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        // Passed on only once counted: whoever sees the answer sees the count.
        to.write_all(&[kind]).await?;
        to.write_all(&len.to_be_bytes()).await?;
        to.write_all(&body).await?;
        if kind == b'X' {
            return Ok(());
        }
    }
}
