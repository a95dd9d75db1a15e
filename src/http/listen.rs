//! The HTTP listener: accepts connections and serves each with hyper's
//! HTTP/1.1 server, until `parley serve` stops.
//!
//! Not `axum::serve`, for what a connection costs while it idles (a live
//! event stream idles for hours; bench/events holds 10,000): `axum::serve`
//! gives every connection its own copy of the route table (about 3.5 KB)
//! and goes through hyper-util's protocol sniffing, whose first short read
//! makes hyper double the connection's read buffer to 16 KB. Here the
//! route table is resolved once and shared, and hyper reads the
//! connection itself: an idle stream costs about half as much.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use std::time::Duration;
use tower_http::add_extension::AddExtension;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long the listener waits after `accept` failed for a reason of its
/// own (out of file descriptors, most likely) before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stopped` turns true: then the
/// listener closes, idle connections are closed, and requests in flight
/// get `grace` to finish before their connections are dropped.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) {
    let addr = listener.local_addr().ok();
    // Every route turned into its service once, shared by all connections.
    let router: Router = router.with_state(());
    let (closing, close) = watch::channel(false);
    let mut connections = JoinSet::new();
    let stop = async {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, router.clone(), close.clone()));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    tracing::warn!(addr = ?addr, error = %e, "HTTP listener: accept failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Connections that ended, forgotten as they go.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut stop => break,
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(addr = ?addr, grace = ?grace, "HTTP requests still in flight after the grace period: dropped");
        connections.shutdown().await;
    }
}

/// One connection, served until the client closes it or, once `close`
/// turns true, until its request in flight is answered (an idle one
/// closes at once).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut close: watch::Receiver<bool>,
) {
    // Small writes (an event, a comment line) go out at once.
    let _ = stream.set_nodelay(true);
    // The client's address, for what counts per address (console logins).
    let service = TowerToHyperService::new(AddExtension::new(router, ConnectInfo(peer)));
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let closing = async {
        let _ = close.wait_for(|close| *close).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = closing => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// Errors of one incoming connection (it was reset before we took it):
/// nothing wrong with the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
