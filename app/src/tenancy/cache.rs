//! What this node has verified of sessions: the person behind each, and what they hold in each
//! org they have acted in, so that a request answered from here needs one round trip for its
//! check, its BEGIN and its scope together instead of several reads.
//!
//! Memory never allows what the database would refuse: each remembered answer carries the
//! database's fingerprint of the facts it rests on (`platform.access_state`, migration 30), and
//! the request's first statement checks it (`platform.access_check`) before the transaction
//! begins; a changed fingerprint sends the request down the full path. The database also
//! announces every change that can alter an answer (`tenantry_access`); a listener forgets
//! the answers it names at once. Until the listener is listening, and after it lost its
//! connection (announcements may have been missed), nothing is remembered or answered from
//! memory.

use std::{
    any::Any,
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

use sqlx::{postgres::PgListener, PgConnection, PgPool};
use uuid::Uuid;

use super::access::{Grant, Section};

/// The channel the database announces access changes on (migration 30).
const CHANNEL: &str = "tenantry_access";
/// Sessions remembered at most; past it the memory starts again (a node's working set is far
/// smaller: live sessions of people using it now).
const MAX_SESSIONS: usize = 200_000;

/// One session's verified access in one org.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub superadmin: bool,
    pub bound_org: Option<Uuid>,
    pub grant: Grant,
    pub org_active: bool,
    /// The database's fingerprint of the facts above (hex).
    pub stamp: String,
}

struct Session {
    user: Uuid,
    /// When the session's token expires (seconds since the epoch): past it the entry is only
    /// taking room.
    expires: i64,
    orgs: HashMap<Uuid, Verified>,
}

/// Orgs remembered per session at most (a superadmin may open many); past it the session's
/// start again.
const MAX_ORGS: usize = 64;

/// Which session an answer is remembered for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub session: Uuid,
    pub user: Uuid,
    /// The token's expiry (seconds since the epoch).
    pub expires: i64,
}

/// Org-wide reads remembered at most (each org's read of each kind); past it they start again.
const MAX_READS: usize = 20_000;
/// How long a remembered read may answer. Its data version is confirmed on every answer; the
/// age bounds what a change the triggers never saw (a hand edit with them switched off) can
/// leave behind.
const READ_LIFE: Duration = Duration::from_secs(30);
/// How long a request waits for its confirmation before it takes the full path instead.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);
/// Asks waiting at most; past it a request takes the full path rather than queue.
const MAX_WAITING: usize = 10_000;

/// The node's memory of verified sessions. One per node (per `Db`).
#[derive(Default)]
pub struct AccessCache {
    sessions: Mutex<HashMap<Uuid, Session>>,
    /// Bumped by every forgetting: an answer read before it is not remembered after it.
    generation: AtomicU64,
    listening: AtomicBool,
    /// Reads of org-wide data (the same for everyone who may read them), by org and kind, with
    /// the org's data version they were read at (`organization.data_version`, migration 32).
    reads: Mutex<HashMap<(Uuid, &'static str), Kept>>,
    /// Bumped when the listener stops or starts again (the database may have been restored or
    /// failed over, and its data versions with it): reads made before are not kept after.
    reads_epoch: AtomicU64,
    /// Requests answered from remembered reads (for tests and the load bench).
    answered: AtomicU64,
    /// Confirmations asked for and not yet sent, and whether one is out.
    confirming: Mutex<Confirming>,
}

struct Kept {
    data_version: i64,
    at: std::time::Instant,
    value: Arc<dyn Any + Send + Sync>,
}

/// When a read that was not remembered began: [`AccessCache::keep_read`] keeps it only if the
/// listener did not stop or start since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadsSince(u64);

/// One request's confirmation: the session's access in the org, and the org's data version.
pub(crate) struct Ask {
    pub org: Uuid,
    pub user: Uuid,
    pub session: Uuid,
}

/// What the database said of an [`Ask`], after it was asked: the access stamp (`None`: no live
/// session) and the org's data version (`None`: no such org).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Confirmed {
    pub stamp: Option<String>,
    pub data_version: Option<i64>,
}

type Answer = tokio::sync::oneshot::Sender<Result<Confirmed, String>>;

#[derive(Default)]
struct Confirming {
    queue: Vec<(Ask, Answer)>,
    out: bool,
}

/// Asks sent in one statement at most.
const MAX_ASKS: usize = 512;

impl AccessCache {
    /// A memory whose listener runs on the current tokio runtime (none outside one: then it is
    /// never used).
    pub(crate) fn start(pool: &PgPool) -> Arc<Self> {
        let cache = Arc::new(Self::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(listen(Arc::downgrade(&cache), pool.clone()));
        }
        cache
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.sessions).len()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// What `session` (of `user`) was verified to hold in `org`, if remembered.
    pub(crate) fn get(&self, session: Uuid, user: Uuid, org: Uuid) -> Option<Verified> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let sessions = lock(&self.sessions);
        let entry = sessions.get(&session).filter(|s| s.user == user)?;
        entry.orgs.get(&org).cloned()
    }

    /// Remembers `verified` unless anything was forgotten since `since` (a generation read
    /// before the facts were).
    fn remember(&self, key: Key, org: Uuid, verified: Verified, since: u64) {
        let mut sessions = lock(&self.sessions);
        if !self.listening.load(Ordering::Acquire) || self.generation() != since {
            return;
        }
        if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(&key.session) {
            // Expired sessions go first; if that frees less than a tenth, everything goes
            // (rather than sweeping the whole map again on the next new session).
            let now = chrono::Utc::now().timestamp();
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS * 9 / 10 {
                sessions.clear();
            }
        }
        let entry = sessions.entry(key.session).or_insert_with(|| Session {
            user: key.user,
            expires: key.expires,
            orgs: HashMap::new(),
        });
        if entry.user == key.user {
            if entry.orgs.len() >= MAX_ORGS && !entry.orgs.contains_key(&org) {
                entry.orgs.clear();
            }
            entry.orgs.insert(org, verified);
        }
    }

    /// Now, for a read about to be made (see [`ReadsSince`]).
    pub(crate) fn reads_since(&self) -> ReadsSince {
        ReadsSince(self.reads_epoch.load(Ordering::Acquire))
    }

    /// The org-wide read of `kind` remembered for `org`, with the data version it was read at,
    /// if it may still answer.
    pub(crate) fn read<T: Any + Send + Sync>(
        &self,
        org: Uuid,
        kind: &'static str,
    ) -> Option<(i64, Arc<T>)> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let reads = lock(&self.reads);
        let kept = reads
            .get(&(org, kind))
            .filter(|k| k.at.elapsed() < READ_LIFE)?;
        Some((kept.data_version, kept.value.clone().downcast::<T>().ok()?))
    }

    /// Counts a request answered from a remembered read.
    pub(crate) fn answered_from_memory(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Remembers `value`, the org-wide read of `kind` for `org` made at `data_version` (read in
    /// the same statement as the value) by a read that began at `since`.
    pub(crate) fn keep_read<T: Any + Send + Sync>(
        &self,
        org: Uuid,
        kind: &'static str,
        since: ReadsSince,
        data_version: i64,
        value: T,
    ) {
        let mut reads = lock(&self.reads);
        if !self.listening.load(Ordering::Acquire)
            || self.reads_epoch.load(Ordering::Acquire) != since.0
        {
            return;
        }
        if reads.len() >= MAX_READS && !reads.contains_key(&(org, kind)) {
            reads.retain(|_, k| k.at.elapsed() < READ_LIFE);
            if reads.len() >= MAX_READS * 9 / 10 {
                reads.clear();
            }
        }
        let kept = Kept {
            data_version,
            at: std::time::Instant::now(),
            value: Arc::new(value),
        };
        reads.insert((org, kind), kept);
    }

    /// Forgets every remembered read (the listener stopped or started).
    fn forget_reads(&self) {
        let mut reads = lock(&self.reads);
        self.reads_epoch.fetch_add(1, Ordering::AcqRel);
        reads.clear();
    }

    /// Asks the database, after this call, what [`Confirmed`] says of `ask`. Asks that arrive
    /// while a confirmation is out go together in the next one: one statement for all of them
    /// (`platform.access_confirm`, migration 32), each sent after its ask arrived. An `Err`
    /// (the database failed, did not answer within [`CONFIRM_WAIT`], or too many wait
    /// already): take the full path.
    pub(crate) async fn confirm(
        self: &Arc<Self>,
        pool: &PgPool,
        ask: Ask,
    ) -> Result<Confirmed, String> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let start = {
            let mut confirming = lock(&self.confirming);
            if confirming.queue.len() >= MAX_WAITING {
                return Err("too many confirmations waiting".to_string());
            }
            confirming.queue.push((ask, answer));
            !std::mem::replace(&mut confirming.out, true)
        };
        if start {
            tokio::spawn(confirm_all(self.clone(), pool.clone()));
        }
        match tokio::time::timeout(CONFIRM_WAIT, answered).await {
            Ok(Ok(confirmed)) => confirmed,
            Ok(Err(_)) => Err("the confirmation was dropped".to_string()),
            Err(_) => Err("no confirmation in time".to_string()),
        }
    }

    /// Forgets everything about `session` (its check failed).
    pub(crate) fn forget_session(&self, session: Uuid) {
        let mut sessions = lock(&self.sessions);
        self.generation.fetch_add(1, Ordering::AcqRel);
        sessions.remove(&session);
    }

    /// Forgets what an announcement names; an unreadable one, everything.
    fn announced(&self, payload: &str) {
        let mut sessions = lock(&self.sessions);
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut parts = payload.split(':');
        let kind = parts.next().unwrap_or_default();
        let ids: Vec<Option<Uuid>> = parts.map(|p| Uuid::parse_str(p).ok()).collect();
        match (kind, ids.as_slice()) {
            ("session", [Some(session)]) => {
                sessions.remove(session);
            }
            ("user", [Some(user)]) => sessions.retain(|_, s| s.user != *user),
            ("org", [Some(org)]) => sessions.values_mut().for_each(|s| {
                s.orgs.remove(org);
            }),
            ("member", [Some(org), Some(user)]) => sessions
                .values_mut()
                .filter(|s| s.user == *user)
                .for_each(|s| {
                    s.orgs.remove(org);
                }),
            _ => {
                tracing::warn!(
                    payload,
                    "unreadable access announcement: forgetting everything"
                );
                sessions.clear();
            }
        }
    }

    /// Stops answering from memory and forgets everything (the listener is not listening).
    fn deafened(&self) {
        {
            let mut sessions = lock(&self.sessions);
            self.listening.store(false, Ordering::Release);
            self.generation.fetch_add(1, Ordering::AcqRel);
            sessions.clear();
        }
        self.forget_reads();
    }

    fn listening_again(&self) {
        self.forget_reads();
        let mut sessions = lock(&self.sessions);
        self.generation.fetch_add(1, Ordering::AcqRel);
        sessions.clear();
        self.listening.store(true, Ordering::Release);
    }

    /// Remembers what the full path just allowed: `grant` in `org`, for the principal's
    /// session, if the database's facts (read now, on `conn`, in the request's transaction)
    /// say exactly that. `since`: the generation read before the full path began.
    pub(crate) async fn remember_allowed(
        &self,
        conn: &mut PgConnection,
        principal: &super::gate::Principal,
        expires: i64,
        org: Uuid,
        grant: &Grant,
        since: u64,
    ) -> Result<(), sqlx::Error> {
        if !self.listening.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(row) = sqlx::query!(
            r#"select stamp as "stamp!", user_status as "user_status!",
                      is_superadmin as "is_superadmin!", bound_org_id, org_status, role_name,
                      pages
                 from platform.access_state($1, $2, $3)"#,
            org,
            principal.user_id,
            principal.session_id
        )
        .fetch_optional(conn)
        .await?
        else {
            return Ok(());
        };
        let facts = if row.is_superadmin {
            Some(Grant {
                superadmin: true,
                role: None,
                sections: Section::ALL.to_vec(),
            })
        } else {
            row.role_name.map(|role| Grant {
                superadmin: false,
                role: Some(role),
                sections: Section::parse_all(&row.pages.unwrap_or_default()),
            })
        };
        let agrees = row.user_status == "active"
            && row.is_superadmin == principal.superadmin
            && row.bound_org_id == principal.bound_org
            && facts.as_ref() == Some(grant)
            && row.stamp.len() == 64
            && row.stamp.bytes().all(|b| b.is_ascii_hexdigit());
        if agrees {
            let verified = Verified {
                superadmin: row.is_superadmin,
                bound_org: row.bound_org_id,
                grant: grant.clone(),
                org_active: row.org_status.as_deref() == Some("active"),
                stamp: row.stamp,
            };
            let key = Key {
                session: principal.session_id,
                user: principal.user_id,
                expires,
            };
            self.remember(key, org, verified, since);
        }
        Ok(())
    }
}

/// Sends the asks waiting, in rounds, until none are left; each round's asks arrived before it
/// was sent.
async fn confirm_all(cache: Arc<AccessCache>, pool: PgPool) {
    // However this ends (a panic, the runtime shutting down), the next ask starts another, and
    // the asks still waiting take the full path (their answers dropped).
    struct Out(Arc<AccessCache>, bool);
    impl Drop for Out {
        fn drop(&mut self) {
            if self.1 {
                let mut confirming = lock(&self.0.confirming);
                confirming.out = false;
                confirming.queue.clear();
            }
        }
    }
    let mut out = Out(cache.clone(), true);
    loop {
        let asks = {
            let mut confirming = lock(&cache.confirming);
            if confirming.queue.is_empty() {
                confirming.out = false;
                out.1 = false;
                return;
            }
            let n = confirming.queue.len().min(MAX_ASKS);
            confirming.queue.drain(..n).collect::<Vec<_>>()
        };
        let (orgs, users, sessions): (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) = asks
            .iter()
            .map(|(ask, _)| (ask.org, ask.user, ask.session))
            .fold(Default::default(), |(mut o, mut u, mut s), (a, b, c)| {
                o.push(a);
                u.push(b);
                s.push(c);
                (o, u, s)
            });
        let rows = sqlx::query!(
            r#"select stamp, data_version from platform.access_confirm($1, $2, $3)"#,
            &orgs,
            &users,
            &sessions
        )
        .fetch_all(&pool);
        // Never out for longer than a request waits for it (a lock on `organization` during a
        // migration, a lost connection): the rounds after it go on.
        let rows = match tokio::time::timeout(CONFIRM_WAIT, rows).await {
            Ok(rows) => rows.map_err(|e| e.to_string()),
            Err(_) => Err("no answer in time".to_string()),
        };
        match rows {
            Ok(rows) if rows.len() == asks.len() => {
                for ((_, answer), row) in asks.into_iter().zip(rows) {
                    let _ = answer.send(Ok(Confirmed {
                        stamp: row.stamp,
                        data_version: row.data_version,
                    }));
                }
            }
            Ok(rows) => {
                let error = format!("{} answers to {} asks", rows.len(), asks.len());
                for (_, answer) in asks {
                    let _ = answer.send(Err(error.clone()));
                }
            }
            Err(error) => {
                for (_, answer) in asks {
                    let _ = answer.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Listens for announcements while the memory and the node's pool exist, reconnecting after a
/// lost connection, on a connection of its own (not one of the pool's).
async fn listen(cache: Weak<AccessCache>, pool: PgPool) {
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let gone = || cache.strong_count() == 0 || pool.is_closed();
    loop {
        if gone() {
            return;
        }
        let mut listener = match PgListener::connect_with(&own).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "access listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "access listener cannot listen; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        match cache.upgrade() {
            Some(cache) => cache.listening_again(),
            None => return,
        }
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = pool.close_event() => return,
            };
            let Some(cache) = cache.upgrade() else { return };
            match received {
                Ok(Some(notification)) => cache.announced(notification.payload()),
                Ok(None) => {
                    tracing::warn!("access listener lost its connection: forgetting everything");
                    cache.deafened();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "access listener failed: forgetting everything");
                    cache.deafened();
                    break;
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
