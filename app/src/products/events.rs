//! A run's progress as Server-Sent Events (`GET /api/events/product-runs/{org_id}/{run_id}`):
//! the run as [`RunView`] JSON, sent again whenever it changes, until it ends.
//!
//! - Each event's id is the run's revision (bumped by every change, migration 17): a browser
//!   that reconnects with `Last-Event-ID` is sent the run only if it changed since, and a
//!   stream reconnecting to a run that has ended is answered 204, which stops `EventSource`.
//! - A change anywhere (any node) reaches every stream through the database's notification
//!   ([`super::engine::spawn_progress_listener`]); each stream also re-reads its run every
//!   [`REREAD`], so a notification lost while the database restarted only delays an event (a
//!   read that fails for a moment is skipped, not the end of the stream).
//! - Nothing new for [`super::engine::Products::heartbeat`]: a `:heartbeat` comment, so
//!   proxies keep the connection and the browser notices one that died.
//! - Every read opens the gate afresh in the caller's tenant scope: a session signed out or a
//!   membership removed ends the stream at its next read, with a `refused` event.
//! - A session has at most [`STREAMS_PER_SESSION`] streams open (429 beyond), and a stream
//!   lasts at most [`LIFETIME`]; the browser then reconnects with `Last-Event-ID`.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Path, State},
    http::{request::Parts, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::stream;
use tokio::sync::broadcast::{error::RecvError, Receiver};
use uuid::Uuid;

use super::RunView;
use crate::{
    agents::api::ApiError,
    context::Services,
    tenancy::gate::{Gate, RequestCache},
    AppError,
};

/// The route as [`crate::tenancy::access::NEEDS`] declares it.
pub const ENDPOINT: &str = "GET /api/events/product-runs/{org_id}/{run_id}";

/// How often a stream reads its run without being told to.
pub const REREAD: Duration = Duration::from_secs(10);

/// Streams one session may have open at once (a tab each, with room for a few).
pub const STREAMS_PER_SESSION: usize = 8;

/// How long one stream lasts before the browser is made to reconnect.
pub const LIFETIME: Duration = Duration::from_secs(600);

/// One of a session's open streams; the count goes down when it is dropped.
struct Slot {
    streams: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<Uuid, usize>>>,
    session: Uuid,
}

impl Slot {
    /// A slot for `session`, if it has room.
    fn take(services: &Services, session: Uuid) -> Option<Slot> {
        let streams = services.products.streams.clone();
        let mut open = streams.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(session).or_default();
        if *n >= STREAMS_PER_SESSION {
            return None;
        }
        *n += 1;
        drop(open);
        Some(Slot { streams, session })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

/// One caller watching one run.
struct Watch {
    services: Services,
    parts: Parts,
    org_id: String,
    run: Uuid,
}

impl Watch {
    /// The run, and the session reading it.
    async fn read(&self) -> Result<(RunView, Uuid), AppError> {
        let mut tenant = Gate::with(self.services.clone(), self.parts.clone(), ENDPOINT)?
            .tenant_in(&self.org_id)
            .await?;
        let org = tenant.org_id;
        let view = super::server::runs(tenant.conn(), org, &[self.run])
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound("Run".to_string()))?;
        let session = tenant.principal.session_id;
        tenant.commit().await?;
        Ok((view, session))
    }
}

pub async fn run_events(
    State(services): State<Services>,
    Path((org_id, run_id)): Path<(String, String)>,
    mut parts: Parts,
) -> Response {
    // No per-request cache: each read checks the session and membership again.
    parts.extensions.remove::<RequestCache>();
    let last_seen: Option<i64> = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let run = match crate::error::parse_uuid(&run_id, "run_id", "a run") {
        Ok(run) => run,
        Err(err) => return ApiError::from(err).into_response(),
    };
    // Listening before the first read: a change between the two is not missed.
    let updates = services.products.progress.subscribe();
    let heartbeat = services.products.heartbeat;
    let watch = Watch {
        services,
        parts,
        org_id,
        run,
    };
    let (first, session) = match watch.read().await {
        Ok(read) => read,
        Err(err) => return ApiError::from(err).into_response(),
    };
    if !first.active() && last_seen == Some(first.revision) {
        return StatusCode::NO_CONTENT.into_response();
    }
    let Some(slot) = Slot::take(&watch.services, session) else {
        let mut response = ApiError::from(AppError::RateLimited {
            retry_after_secs: 5,
        })
        .into_response();
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("5"));
        return response;
    };
    let mut reread = tokio::time::interval_at(tokio::time::Instant::now() + REREAD, REREAD);
    reread.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Stream {
        sent: last_seen.map(|revision| (revision, first.live)),
        ready: Some(first),
        watch,
        updates,
        reread,
        ended: false,
        first: true,
        until: tokio::time::Instant::now() + LIFETIME,
        _slot: slot,
    };
    Sse::new(stream::unfold(state, next_event))
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response()
}

struct Stream {
    watch: Watch,
    updates: Receiver<Uuid>,
    reread: tokio::time::Interval,
    /// A read not yet compared with what was sent.
    ready: Option<RunView>,
    /// The (revision, live) last sent.
    sent: Option<(i64, bool)>,
    ended: bool,
    first: bool,
    /// When the stream ends even if the run has not.
    until: tokio::time::Instant,
    _slot: Slot,
}

async fn next_event(mut s: Stream) -> Option<(Result<Event, Infallible>, Stream)> {
    if s.ended {
        return None;
    }
    loop {
        if let Some(view) = s.ready.take() {
            let key = (view.revision, view.live);
            if s.sent != Some(key) {
                s.sent = Some(key);
                s.ended = !view.active();
                let mut event = Event::default()
                    .id(view.revision.to_string())
                    .data(serde_json::to_string(&view).unwrap_or_default());
                if std::mem::take(&mut s.first) {
                    event = event.retry(Duration::from_secs(1));
                }
                return Some((Ok(event), s));
            }
            if !view.active() {
                return None;
            }
        }
        let changed = tokio::select! {
            got = s.updates.recv() => match got {
                Ok(run) => run == s.watch.run,
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return None,
            },
            _ = s.reread.tick() => true,
            _ = tokio::time::sleep_until(s.until) => return None,
        };
        if !changed {
            continue;
        }
        match s.watch.read().await {
            Ok((view, _)) => s.ready = Some(view),
            // The database for a moment (restarting, every connection busy): read again later.
            Err(AppError::Internal | AppError::Busy) => continue,
            Err(err) => {
                s.ended = true;
                let event = Event::default().event("refused").data(err.to_string());
                return Some((Ok(event), s));
            }
        }
    }
}
