//! The listening side around the proxy: Pingora's HTTP/1 connection loop, with what a
//! zero-downtime upgrade needs and stock Pingora 0.9.1 does not do.
//!
//! When the old process starts shutting down (SIGQUIT after the sockets went to the new process,
//! or SIGTERM), Pingora drops every keep-alive connection as soon as its current response ends,
//! without having said `Connection: close`. A client that reuses the connection then gets EOF
//! before any byte. So, while shutting down, `serve_connection` keeps each connection open for a
//! short while to see whether the client sends another request; if it does, that request is
//! served (Pingora answers it with `Connection: close`), if not, the connection is closed.
//!
//! Pingora also sleeps its whole grace period after a shutdown, whatever is left. The
//! [`DrainService`] ends the process as soon as no connection is open, so an upgrade or a stop
//! takes as long as the longest stream, not `grace_period_seconds` (which stays the upper bound).

use super::Gateway;
use crate::accounts::Accounts;
use crate::upstream::pulse::PulseConnector;
use async_trait::async_trait;
use once_cell::sync::Lazy;
use pingora_core::apps::{HttpServerApp, HttpServerOptions};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::Stream;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use pingora_core::services::listening::Service;
use pingora_prometheus::prometheus::{register_int_gauge, IntGauge};
use pingora_proxy::{HttpProxy, ProxyServiceBuilder};
use std::sync::Arc;
use std::time::Duration;

/// How long a keep-alive connection is kept open during shutdown, waiting for the client's
/// next request. Clients that reuse connections send at once; idle ones are let go.
const KEEPALIVE_DRAIN: Duration = Duration::from_secs(5);

/// Idle keep-alive timeout in normal operation (Pingora's default).
const KEEPALIVE_SECS: u64 = 60;

pub static OPEN_CONNECTIONS: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "kiro_edge_open_connections",
        "Client connections open (including idle keep-alive ones)."
    )
    .unwrap_or_else(|e| panic!("metric registers once: {e}"))
});

/// The proxy, with Kiro's streams going through the [`PulseConnector`].
pub type GatewayProxy = HttpProxy<Gateway, PulseConnector>;

/// The listening service: Pingora's proxy, served over HTTP/1.1 with an upgrade-safe keep-alive
/// loop (`serve_connection`).
///
/// Pingora hands a connection to its custom-session handler (rather than its own HTTP loop)
/// when `force_custom` is set; that handler gets the proxy itself, which is what lets the loop
/// live here while the proxy keeps its custom upstream connector.
pub fn gateway_service(
    conf: &Arc<ServerConf>,
    gateway: Gateway,
    connector: PulseConnector,
) -> Service<GatewayProxy> {
    let mut options = HttpServerOptions::default();
    options.force_custom = true;
    ProxyServiceBuilder::new(conf, gateway)
        .name("kiro-edge")
        .custom(
            connector,
            Arc::new(|proxy, stream, shutdown| {
                Box::pin(serve_connection(proxy, stream, shutdown.clone()))
            }),
        )
        .server_options(options)
        .build()
}

/// Counts a connection as open for as long as it lives.
struct ConnectionGuard;

impl ConnectionGuard {
    fn new() -> Self {
        OPEN_CONNECTIONS.inc();
        ConnectionGuard
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        OPEN_CONNECTIONS.dec();
    }
}

/// During shutdown, waits (bounded) for the client to start its next request. True when bytes
/// are there to be read.
async fn next_request_arrives(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(KEEPALIVE_DRAIN, stream.try_peek(&mut byte)).await,
        Ok(Ok(true))
    )
}

/// One client connection: its requests, one after another, until it closes or goes idle.
async fn serve_connection(
    proxy: Arc<GatewayProxy>,
    mut stream: Stream,
    shutdown: ShutdownWatch,
) -> Option<Stream> {
    let _open = ConnectionGuard::new();
    let mut settings = None;
    loop {
        if *shutdown.borrow() && !next_request_arrives(&mut stream).await {
            return None;
        }
        let mut session = ServerSession::new_http1(stream);
        match settings.take() {
            Some(persistent) => {
                pingora_core::apps::HttpPersistentSettings::apply_to_session(
                    persistent,
                    &mut session,
                );
            }
            None => session.set_keepalive(Some(KEEPALIVE_SECS)),
        }
        let reused = proxy.process_new_http(session, &shutdown).await?;
        let (next, persistent) = reused.consume();
        stream = next;
        settings = persistent;
    }
}

/// Ends the process once a shutdown has begun and the last connection has closed, after
/// saving any token not yet written back.
pub struct DrainService {
    accounts: Arc<Accounts>,
}

impl DrainService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        DrainService { accounts }
    }
}

#[async_trait]
impl BackgroundService for DrainService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        Lazy::force(&OPEN_CONNECTIONS);
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        log::info!(
            "shutting down: waiting for {} open connection(s) to finish",
            OPEN_CONNECTIONS.get()
        );
        while OPEN_CONNECTIONS.get() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let unsaved = self.accounts.flush_pending_writes().await;
        if unsaved > 0 {
            log::warn!("exiting with {unsaved} credentials file(s) not saved");
        }
        log::info!("all connections finished; exiting");
        std::process::exit(0);
    }
}
