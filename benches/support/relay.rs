//! The floor under any Pingora gateway: a `ProxyHttp` that forwards each request to one
//! upstream and relays the answer, both unchanged. The load harness runs it (`--target relay`,
//! in a child process on the gateway's core) with the converted Kiro request, so that it does
//! the same socket work per event as kiro-edge (one upstream read, one client write) through
//! the same Pingora pipeline, but no translation at all.

use async_trait::async_trait;
use pingora::prelude::*;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::ServerConf;
use std::net::SocketAddr;
use std::sync::Arc;

struct Relay {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Relay {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

/// Serves on `listen` until killed, with the gateway's thread count, keep-alive pool and
/// client read buffer.
pub fn serve(upstream: SocketAddr, listen: SocketAddr, threads: usize) -> ! {
    let conf = ServerConf {
        threads,
        upstream_keepalive_pool_size: 1024,
        // As the harness configures the gateway: a wrapped relay exits soon after SIGTERM.
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&Arc::clone(&server.configuration), Relay { upstream });
    // The gateway's listener settings, so the two differ only in what the hooks do.
    service.add_listener(ListenerConfig::tcp(listen.to_string()).l4_buffer(
        L4BufferSettings::default().read(kiro_edge::config::DEFAULT_CLIENT_READ_BUFFER),
    ));
    server.add_service(service);
    server.run_forever()
}
