//! A small outbound HTTP(S) client on Pingora's own connector, for the calls the gateway makes
//! on its own behalf (token refresh, usage, model lists), as opposed to the proxied chat traffic.
//!
//! Design choices:
//! - Host names are resolved with `tokio::net::lookup_host`. `HttpPeer::new(hostname, ..)`
//!   resolves with blocking DNS and panics when resolution fails, so it only ever sees a
//!   `SocketAddr` here.
//! - Every request uses a fresh connection that is closed afterwards (`Connection: close`, the
//!   session is never released to the pool). The callers live on different Tokio runtimes
//!   (Pingora gives each service its own), and these calls are rare enough that a handshake per
//!   call costs nothing worth a cross-runtime pool.
//! - The whole response body is read into memory, up to a cap.
//! - No `Accept-Encoding` is added: bodies are returned as sent, so callers must not ask for
//!   compression they cannot decode.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use pingora_core::connectors::http::Connector;
use pingora_core::connectors::ConnectorOptions;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;

/// Responses larger than this are refused unless the client is configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How many resolved addresses are tried before a connect failure is reported.
const MAX_ADDRESSES_TRIED: usize = 3;

/// How many informational (1xx) responses are skipped before the real one.
const MAX_INFORMATIONAL_RESPONSES: usize = 4;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An absolute URL split into what the connector needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub scheme: Scheme,
    /// The host without brackets (an IPv6 literal is stored as `::1`).
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path_and_query: String,
}

impl ParsedUrl {
    /// The value for the `Host` header: the port is left out when it is the scheme's default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Only `http://` and `https://` are supported.
    UnsupportedScheme,
    MissingHost,
    /// `user:pass@host` is refused: credentials belong in headers.
    UserInfo,
    InvalidPort,
    /// Whitespace or control characters, which would corrupt the request line.
    InvalidCharacter,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            UrlError::UnsupportedScheme => "the URL must start with http:// or https://",
            UrlError::MissingHost => "the URL has no host",
            UrlError::UserInfo => "user info (user:pass@) in URLs is not supported",
            UrlError::InvalidPort => "the URL has an invalid port",
            UrlError::InvalidCharacter => "the URL contains whitespace or control characters",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for UrlError {}

/// Parses an absolute `http://` or `https://` URL. The fragment, if any, is dropped.
pub fn parse_url(url: &str) -> Result<ParsedUrl, UrlError> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::InvalidCharacter);
    }
    let (scheme, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (Scheme::Http, rest)
    } else {
        return Err(UrlError::UnsupportedScheme);
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let port = match port {
        Some(p) => p,
        None => scheme.default_port(),
    };
    let path_and_query = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(ParsedUrl {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        path_and_query,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let close = inner.find(']').ok_or(UrlError::MissingHost)?;
        let (host, after) = inner.split_at(close);
        let after = after.strip_prefix(']').unwrap_or(after);
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(UrlError::InvalidPort),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(UrlError::InvalidPort)?,
        ),
        None => None,
    };
    Ok((host, port))
}

/// One outbound request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: http::Method,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Extra headers. `Host`, `Content-Length` and `Connection` are set by the client.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// The whole exchange, from DNS to the last body byte.
    pub total_timeout: Duration,
}

impl OutboundRequest {
    /// A request with the timeouts used for token and usage calls (10 s connect, 60 s total).
    pub fn new(method: http::Method, url: impl Into<String>) -> Self {
        OutboundRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl OutboundResponse {
    /// A header value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text, lossily decoded, cut to `max` characters: for logs and error messages.
    pub fn body_snippet(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(max)
            .collect()
    }
}

/// Why an outbound request failed.
#[derive(Debug)]
pub enum HttpClientError {
    Url(UrlError),
    /// DNS failed or returned no address.
    Resolve {
        host: String,
        reason: String,
    },
    /// TCP or TLS setup failed on every address tried.
    Connect {
        host: String,
        reason: String,
    },
    /// A header name or value was rejected.
    InvalidRequest(String),
    /// Writing the request or reading the response failed.
    Io(String),
    /// The server sent no usable response header.
    NoResponse,
    /// The response body exceeded the client's cap.
    BodyTooLarge {
        limit: usize,
    },
    /// The total timeout elapsed.
    Timeout(Duration),
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpClientError::Url(e) => write!(f, "invalid URL: {e}"),
            HttpClientError::Resolve { host, reason } => {
                write!(f, "cannot resolve {host}: {reason}")
            }
            HttpClientError::Connect { host, reason } => {
                write!(f, "cannot connect to {host}: {reason}")
            }
            HttpClientError::InvalidRequest(e) => write!(f, "invalid request: {e}"),
            HttpClientError::Io(e) => write!(f, "I/O error: {e}"),
            HttpClientError::NoResponse => f.write_str("the server sent no response header"),
            HttpClientError::BodyTooLarge { limit } => {
                write!(f, "the response body is larger than {limit} bytes")
            }
            HttpClientError::Timeout(d) => write!(f, "timed out after {} ms", d.as_millis()),
        }
    }
}

impl std::error::Error for HttpClientError {}

impl From<UrlError> for HttpClientError {
    fn from(e: UrlError) -> Self {
        HttpClientError::Url(e)
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct HttpClientConfig {
    pub max_body_bytes: usize,
    /// A PEM file that replaces the system trust store (tests, corporate proxies).
    pub ca_file: Option<String>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ca_file: None,
        }
    }
}

/// Outbound HTTP/1.1 over Pingora's connector. Build it once and share it; it holds no
/// connections between calls, so it may be used from any Tokio runtime.
pub struct HttpClient {
    connector: Connector,
    max_body_bytes: usize,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(HttpClientConfig::default())
    }
}

impl HttpClient {
    /// Builds the connector. This loads the TLS trust store (blocking file I/O), so call it at
    /// start-up. Pingora's rustls connector panics when the trust store cannot be loaded.
    pub fn new(config: HttpClientConfig) -> Self {
        let options = config.ca_file.map(|ca| {
            let mut options = ConnectorOptions::new(1);
            options.ca_file = Some(ca);
            options
        });
        HttpClient {
            connector: Connector::new(options),
            max_body_bytes: config.max_body_bytes,
        }
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&self, req: OutboundRequest) -> Result<OutboundResponse, HttpClientError> {
        let total = req.total_timeout;
        match tokio::time::timeout(total, self.send_inner(req)).await {
            Ok(result) => result,
            Err(_) => Err(HttpClientError::Timeout(total)),
        }
    }

    async fn send_inner(&self, req: OutboundRequest) -> Result<OutboundResponse, HttpClientError> {
        let url = parse_url(&req.url)?;
        let header = build_request_header(&req, &url)?;
        let addrs = resolve(&url).await?;

        let mut last_error = String::from("no address");
        for addr in addrs.into_iter().take(MAX_ADDRESSES_TRIED) {
            let peer = make_peer(addr, &url, req.connect_timeout);
            let mut session = match self.connector.get_http_session(&peer).await {
                Ok((session, _reused)) => session,
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            };
            session.set_read_timeout(Some(req.total_timeout));
            session.set_write_timeout(Some(req.total_timeout));
            let result = self
                .exchange(&mut session, header, req.body, req.total_timeout)
                .await;
            // Never pooled: see the module comment.
            session.shutdown().await;
            return result;
        }
        Err(HttpClientError::Connect {
            host: url.authority(),
            reason: last_error,
        })
    }

    async fn exchange(
        &self,
        session: &mut pingora_core::protocols::http::client::HttpSession,
        header: RequestHeader,
        body: Bytes,
        timeout: Duration,
    ) -> Result<OutboundResponse, HttpClientError> {
        // The session's own timeouts equal the whole request's and may fire in the same timer
        // tick as `send`'s: either way the request timed out.
        let io = |e: Box<pingora_error::Error>| match e.etype() {
            pingora_error::ErrorType::ReadTimedout | pingora_error::ErrorType::WriteTimedout => {
                HttpClientError::Timeout(timeout)
            }
            _ => HttpClientError::Io(e.to_string()),
        };
        session
            .write_request_header(Box::new(header))
            .await
            .map_err(io)?;
        if !body.is_empty() {
            session.write_request_body(body, true).await.map_err(io)?;
        }
        session.finish_request_body().await.map_err(io)?;

        let mut status = 0;
        for _ in 0..MAX_INFORMATIONAL_RESPONSES {
            session.read_response_header().await.map_err(io)?;
            status = session
                .response_header()
                .map(|h| h.status.as_u16())
                .ok_or(HttpClientError::NoResponse)?;
            if !(100..200).contains(&status) {
                break;
            }
        }
        if (100..200).contains(&status) {
            return Err(HttpClientError::NoResponse);
        }
        let headers = session
            .response_header()
            .map(|h| h.headers.clone())
            .ok_or(HttpClientError::NoResponse)?;

        let mut buf = BytesMut::new();
        while let Some(chunk) = session.read_response_body().await.map_err(io)? {
            if buf.len() + chunk.len() > self.max_body_bytes {
                return Err(HttpClientError::BodyTooLarge {
                    limit: self.max_body_bytes,
                });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body: buf.freeze(),
        })
    }
}

fn build_request_header(
    req: &OutboundRequest,
    url: &ParsedUrl,
) -> Result<RequestHeader, HttpClientError> {
    let invalid = |e: Box<pingora_error::Error>| HttpClientError::InvalidRequest(e.to_string());
    let mut header = RequestHeader::build(req.method.clone(), url.path_and_query.as_bytes(), None)
        .map_err(invalid)?;
    header
        .insert_header("host", url.authority())
        .map_err(invalid)?;
    for (name, value) in &req.headers {
        if is_managed_header(name) {
            continue;
        }
        header
            .append_header(name.clone(), value.as_str())
            .map_err(invalid)?;
    }
    // A body-carrying method always states its length, even when it is zero.
    if !req.body.is_empty() || matches!(req.method, http::Method::POST | http::Method::PUT) {
        header
            .insert_header("content-length", req.body.len().to_string())
            .map_err(invalid)?;
    }
    header
        .insert_header("connection", "close")
        .map_err(invalid)?;
    Ok(header)
}

fn is_managed_header(name: &str) -> bool {
    ["host", "content-length", "connection", "transfer-encoding"]
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m))
}

async fn resolve(url: &ParsedUrl) -> Result<Vec<SocketAddr>, HttpClientError> {
    let resolve_error = |reason: String| HttpClientError::Resolve {
        host: url.host.clone(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| resolve_error(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_error("no address".into()));
    }
    Ok(addrs)
}

fn make_peer(addr: SocketAddr, url: &ParsedUrl, connect_timeout: Duration) -> HttpPeer {
    let tls = url.scheme == Scheme::Https;
    // An IP literal is not a valid SNI name; an empty SNI turns SNI off.
    let sni = if tls && url.host.parse::<std::net::IpAddr>().is_err() {
        url.host.clone()
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, tls, sni);
    peer.options.connection_timeout = Some(connect_timeout);
    peer.options.total_connection_timeout = Some(connect_timeout);
    peer
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn parses_https_with_default_port() {
        let u = parse_url("https://prod.us-east-1.auth.desktop.kiro.dev/refreshToken").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.host, "prod.us-east-1.auth.desktop.kiro.dev");
        assert_eq!(u.port, 443);
        assert_eq!(u.path_and_query, "/refreshToken");
        assert_eq!(u.authority(), "prod.us-east-1.auth.desktop.kiro.dev");
    }

    #[test]
    fn parses_port_query_and_drops_fragment() {
        let u = parse_url("http://127.0.0.1:8080/a/b?x=1&y=2#frag").unwrap();
        assert_eq!(u.scheme, Scheme::Http);
        assert_eq!(u.port, 8080);
        assert_eq!(u.path_and_query, "/a/b?x=1&y=2");
        assert_eq!(u.authority(), "127.0.0.1:8080");
    }

    #[test]
    fn parses_bare_host_and_query_without_path() {
        assert_eq!(
            parse_url("HTTPS://Example.COM").unwrap().path_and_query,
            "/"
        );
        let u = parse_url("http://example.com?q=1").unwrap();
        assert_eq!(u.host, "example.com");
        assert_eq!(u.path_and_query, "/?q=1");
    }

    #[test]
    fn parses_ipv6_literals() {
        let u = parse_url("http://[::1]:9000/x").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 9000);
        assert_eq!(u.authority(), "[::1]:9000");
        assert_eq!(parse_url("https://[::1]/").unwrap().port, 443);
    }

    #[test]
    fn rejects_bad_urls() {
        assert_eq!(parse_url("ftp://x/"), Err(UrlError::UnsupportedScheme));
        assert_eq!(parse_url("example.com/x"), Err(UrlError::UnsupportedScheme));
        assert_eq!(parse_url("https:///x"), Err(UrlError::MissingHost));
        assert_eq!(parse_url("https://:80/x"), Err(UrlError::MissingHost));
        assert_eq!(parse_url("https://u:p@h/"), Err(UrlError::UserInfo));
        assert_eq!(parse_url("https://h:0/"), Err(UrlError::InvalidPort));
        assert_eq!(parse_url("https://h:99999/"), Err(UrlError::InvalidPort));
        assert_eq!(parse_url("https://h:abc/"), Err(UrlError::InvalidPort));
        assert_eq!(parse_url("https://[::1]x/"), Err(UrlError::InvalidPort));
        assert_eq!(parse_url("https://[::1/"), Err(UrlError::MissingHost));
        assert_eq!(parse_url("https://h/a b"), Err(UrlError::InvalidCharacter));
        assert_eq!(
            parse_url("https://h/\r\nX: y"),
            Err(UrlError::InvalidCharacter)
        );
        assert_eq!(parse_url("htt"), Err(UrlError::UnsupportedScheme));
    }

    /// Serves one connection: reads the request head and `Content-Length` body, then writes
    /// `response` verbatim. Returns the raw request.
    async fn one_shot_server(response: Vec<u8>) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let request = read_request(&mut sock).await;
            sock.write_all(&response).await.unwrap();
            sock.shutdown().await.ok();
            request
        });
        (url, handle)
    }

    pub(crate) async fn read_request(sock: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                return buf;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return buf;
                }
            }
        }
    }

    #[tokio::test]
    async fn posts_a_body_and_reads_the_response() {
        let (base, server) = one_shot_server(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
                .to_vec(),
        )
        .await;
        let client = HttpClient::default();
        let req = OutboundRequest::new(http::Method::POST, format!("{base}/token?x=1"))
            .header("content-type", "application/json")
            .header("x-custom", "yes")
            .body(r#"{"a":1}"#);
        let resp = client.send(req).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(&resp.body[..], br#"{"ok":true}"#);

        let raw = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(raw.starts_with("POST /token?x=1 HTTP/1.1\r\n"), "{raw}");
        let lower = raw.to_ascii_lowercase();
        assert!(lower.contains(&format!("host: {}", base.trim_start_matches("http://"))));
        assert!(lower.contains("content-length: 7\r\n"));
        assert!(lower.contains("connection: close\r\n"));
        assert!(lower.contains("x-custom: yes\r\n"));
        assert!(raw.ends_with("\r\n\r\n{\"a\":1}"));
    }

    #[tokio::test]
    async fn reads_chunked_and_close_delimited_bodies() {
        let (base, _s) = one_shot_server(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec(),
        )
        .await;
        let client = HttpClient::default();
        let resp = client
            .send(OutboundRequest::new(http::Method::GET, base))
            .await
            .unwrap();
        assert_eq!(resp.status, 400);
        assert_eq!(&resp.body[..], b"hello world");

        let (base, _s) =
            one_shot_server(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof".to_vec())
                .await;
        let resp = client
            .send(OutboundRequest::new(http::Method::GET, base))
            .await
            .unwrap();
        assert_eq!(&resp.body[..], b"until-eof");
    }

    #[tokio::test]
    async fn caps_the_body_size() {
        let body = vec![b'x'; 2048];
        let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n".to_vec();
        response.extend_from_slice(&body);
        let (base, _s) = one_shot_server(response).await;
        let client = HttpClient::new(HttpClientConfig {
            max_body_bytes: 1024,
            ca_file: None,
        });
        let err = client
            .send(OutboundRequest::new(http::Method::GET, base))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpClientError::BodyTooLarge { limit: 1024 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn times_out_when_the_server_is_silent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let _hold = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(sock);
        });
        let mut req = OutboundRequest::new(http::Method::GET, base);
        req.total_timeout = Duration::from_millis(200);
        let err = HttpClient::default().send(req).await.unwrap_err();
        assert!(matches!(err, HttpClientError::Timeout(_)), "{err}");
    }

    #[tokio::test]
    async fn reports_connect_and_resolve_failures() {
        // Bind then drop to get a port that refuses connections.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = HttpClient::default();
        let err = client
            .send(OutboundRequest::new(
                http::Method::GET,
                format!("http://127.0.0.1:{port}/"),
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpClientError::Connect { .. }), "{err}");

        let err = client
            .send(OutboundRequest::new(
                http::Method::GET,
                "http://no-such-host.invalid/",
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpClientError::Resolve { .. }), "{err}");
    }
}
