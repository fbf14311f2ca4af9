//! Serving HTTP/1.1 connections: hyper's own connection, not axum's `serve`.
//!
//! `axum::serve` hands each connection to hyper-util's auto builder (HTTP/1 and HTTP/2 side by
//! side) with upgrades; an idle keep-alive connection held about 27 KiB of the server's memory
//! that way, 20 KiB with hyper's HTTP/1 connection alone (its 8 KiB read and write buffers and
//! its task). The Admin App is served over HTTP/1.1 (TLS and HTTP/2 end at the proxy in front of
//! it): with 10,000 connected users `bench/load` measured the server at 330 MiB before, 257 MiB
//! after (2026-11-29).

use std::{net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, serve::Listener, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, task::JoinSet};
use tower::ServiceExt;

/// A client that has not sent a request's whole head this long after connecting, or after its
/// previous answer, is disconnected: against connections held open by sending nothing, and the
/// idle timeout of a keep-alive connection. Longer than the 60 s a proxy in front (nginx's
/// upstream `keepalive_timeout`, a cloud load balancer's idle timeout) usually keeps an idle
/// connection, so the proxy closes first and never sends a request on one closing here.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(75);

/// After the shutdown signal, open requests (and progress streams) get this long to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets each
/// connection finish the request it is answering, closes the idle ones, and after [`DRAIN`]
/// ends the rest. Each request carries its peer's address as [`ConnectInfo`].
pub(crate) async fn serve(
    mut listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // axum's `Listener` sleeps over accept errors (too many open files) instead of failing.
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            // Ended connections are let go of as they end, not at the next accept.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        connections.spawn(async move {
            if let Err(err) = connection.await {
                tracing::trace!(%err, %peer, "connection ended with an error");
            }
        });
    }
    // Refuse new connections at once rather than leave them in the backlog during the drain.
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            while connections.try_join_next().is_some() {}
            tracing::warn!(
                open = connections.len(),
                "connections still open {} s after the signal; ending them",
                DRAIN.as_secs()
            );
            connections.shutdown().await;
        }
    }
}
