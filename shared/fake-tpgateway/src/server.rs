//! The HTTP/1.1 server: an accept loop, optional TLS, one hyper connection
//! per socket with a kill switch (so `AcceptThenDrop` can close a connection
//! without answering), and the per-request wrapper that counts requests,
//! adds latency and applies injected faults before normal handling.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::state::App;
use crate::{api, envelope, Fault};

/// A TLS handshake that takes longer than this is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts until told to stop (or until every handle is gone), then closes
/// every connection it serves.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, tls.clone(), Arc::clone(&app)));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little.
                    tracing::warn!(error = %e, "fake TPGateway: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn connection(stream: TcpStream, tls: Option<TlsAcceptor>, app: Arc<App>) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve(stream, app).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve(stream, app).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "fake TPGateway: TLS handshake failed"),
                Err(_) => tracing::debug!("fake TPGateway: TLS handshake timed out"),
            }
        }
    }
}

/// Serves one connection until the client closes it, or until a request
/// pulls the kill switch: then the connection future is dropped, which
/// closes the socket without writing the pending answer.
async fn serve<S>(stream: S, app: Arc<App>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = Arc::clone(&kill);
        service_fn(move |req| request(Arc::clone(&app), Arc::clone(&kill), req))
    };
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "fake TPGateway: connection ended");
            }
        }
        _ = kill.notified() => {
            tracing::debug!("fake TPGateway: connection dropped without an answer");
        }
    }
}

async fn request(
    app: Arc<App>,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let req = req.map(Body::new);
    let target = api::classify(req.method(), req.uri().path());
    let route = target.as_ref().map(|t| t.route);
    let (fault, latency) = app.arrive(route);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let drop_after = match fault {
        None => false,
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            false
        }
        Some(Fault::AcceptThenDrop) => true,
        Some(Fault::Hang) => {
            tracing::debug!(?route, "fake TPGateway: hanging (injected)");
            return std::future::pending().await;
        }
        Some(Fault::Status(code)) => return Ok(envelope::status(code)),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            return Ok(envelope::too_many_requests(retry_after_secs))
        }
        Some(Fault::Validation { field, message }) => {
            return Ok(envelope::bad_request(&field, &message))
        }
    };
    let method = req.method().clone();
    let response = api::handle(&app, target, req).await;
    tracing::debug!(%method, ?route, status = response.status().as_u16(), "fake TPGateway");
    if response.status().is_success() {
        app.count_accepted(route);
    }
    if drop_after {
        kill.notify_one();
        return std::future::pending().await;
    }
    Ok(response)
}
