//! Asynchronous name resolution with a short cache. `HttpPeer::new` resolves host names with a
//! blocking call (and panics on failure), so peers are always built from a `SocketAddr`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Resolver {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn resolve(&self, host: &str, port: u16) -> io::Result<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_string(), port);
        if let Ok(cache) = self.cache.lock() {
            if let Some((addr, at)) = cache.get(&key) {
                if at.elapsed() < TTL {
                    return Ok(*addr);
                }
            }
        }
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
            })?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (addr, Instant::now()));
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_ips_and_localhost() {
        let r = Resolver::new();
        assert_eq!(
            r.resolve("127.0.0.1", 80).await.unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert!(r.resolve("localhost", 81).await.unwrap().ip().is_loopback());
        assert!(r.resolve("localhost", 81).await.is_ok()); // cached
    }
}
