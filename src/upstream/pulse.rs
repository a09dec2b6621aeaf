//! Kiro's HTTP/1.1 session, with a pulse during silences.
//!
//! Pingora 0.9.1 runs `response_body_filter` only when upstream bytes arrive, so a gateway
//! cannot, by itself, send a keep-alive while Kiro is silent (a long thinking turn, a big tool
//! input): intermediaries with idle timeouts then cut the client's stream. Pingora's one
//! extension point below the filters is the custom upstream connector, which this module fills
//! with nothing custom at all: [`PulseConnector`] opens an ordinary HTTP/1.1 session through
//! Pingora's own connector (same TLS, same connection pool) and wraps it in a [`PulseSession`]
//! whose body read gives up after `interval` of silence and returns a [`pulse`] instead of bytes.
//! The proxy turns a pulse into the dialect's keep-alive in `response_body_filter` (see
//! [`is_pulse`]); the bytes on the wire and the connection are untouched.
//!
//! Peers opt in with [`use_pulses`]; a peer without it takes Pingora's stock HTTP/1.1 path.
//! The session also owns the read timeout on the body, since each pulse restarts the inner read:
//! a silence longer than the peer's `read_timeout` still fails the response with `ReadTimedout`.
//!
//! It also corks the socket (`TCP_CORK`) from the request's head to the end of its body:
//! Pingora's HTTP/1 client flushes the head on its own, which costs a second transmission and
//! a second wakeup of the upstream for every request (BENCHMARKS.md, "Where a request's first
//! byte goes, and one segment per request").

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::connectors::http::custom::{Connection, Connector};
use pingora_core::connectors::http::v1::Connector as H1Connector;
use pingora_core::connectors::ConnectorOptions;
use pingora_core::protocols::http::custom::client::Session;
use pingora_core::protocols::http::custom::{BodyWrite, CustomMessageWrite};
use pingora_core::protocols::http::v1::client::HttpSession as H1Session;
use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_core::protocols::tls::CustomALPN;
use pingora_core::protocols::ALPN;
use pingora_core::protocols::{Digest, UniqueID, UniqueIDType};
use pingora_core::upstreams::peer::{HttpPeer, Peer};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// The marker chunk. Recognised by address, not content, so no upstream bytes can pass for it.
static PULSE_BYTES: [u8; 1] = [0];

/// A pulse: what a [`PulseSession`] returns as body after `interval` without upstream bytes.
pub fn pulse() -> Bytes {
    Bytes::from_static(&PULSE_BYTES)
}

/// Whether an upstream body chunk is a pulse rather than Kiro's bytes.
pub fn is_pulse(chunk: &Bytes) -> bool {
    std::ptr::eq(chunk.as_ptr(), PULSE_BYTES.as_ptr()) && chunk.len() == PULSE_BYTES.len()
}

/// The ALPN name that routes a peer to the [`PulseConnector`]. Never sent on the wire: the
/// connector dials an HTTP/1.1 peer.
const PULSE_ALPN: &[u8] = b"kiro-edge-pulse";

/// Sends this peer's exchanges through the [`PulseConnector`].
pub fn use_pulses(peer: &mut HttpPeer) {
    peer.options.alpn = ALPN::Custom(CustomALPN::new(PULSE_ALPN.to_vec()));
}

/// The same peer, as the plain HTTP/1.1 one Pingora's connector dials and pools.
fn h1_peer<P: Peer>(peer: &P) -> Result<HttpPeer> {
    let SocketAddr::Inet(addr) = peer.address() else {
        return Error::e_explain(ErrorType::ConnectError, "pulse peers are TCP peers");
    };
    let mut h1 = HttpPeer::new(*addr, peer.tls(), peer.sni().to_string());
    if let Some(options) = peer.get_peer_options() {
        h1.options = options.clone();
    }
    h1.options.alpn = ALPN::H1;
    Ok(h1)
}

/// Pingora's custom connector, holding Pingora's own HTTP/1.1 connector and pool.
pub struct PulseConnector {
    h1: H1Connector,
    interval: Duration,
}

impl PulseConnector {
    pub fn new(options: Option<ConnectorOptions>, interval: Duration) -> Self {
        PulseConnector {
            h1: H1Connector::new(options),
            interval,
        }
    }
}

#[async_trait]
impl Connector for PulseConnector {
    type Session = PulseSession;

    async fn get_http_session<P: Peer + Send + Sync + 'static>(
        &self,
        peer: &P,
    ) -> Result<(Connection<PulseSession>, bool)> {
        let peer = h1_peer(peer)?;
        let (session, reused) = self.h1.get_http_session(&peer).await?;
        let session = PulseSession::new(session, peer, self.interval);
        Ok((Connection::Session(session), reused))
    }

    async fn reused_http_session<P: Peer + Send + Sync + 'static>(
        &self,
        peer: &P,
    ) -> Option<PulseSession> {
        let peer = h1_peer(peer).ok()?;
        let session = self.h1.reused_http_session(&peer).await?;
        Some(PulseSession::new(session, peer, self.interval))
    }

    async fn release_http_session<P: Peer + Send + Sync + 'static>(
        &self,
        session: PulseSession,
        _peer: &P,
        idle_timeout: Option<Duration>,
    ) {
        // Pingora's release checks that both bodies were complete before pooling the stream.
        if session.request_done {
            self.h1
                .release_http_session(session.inner, &session.peer, idle_timeout)
                .await;
        }
    }
}

/// A piece of the request body on its way from Pingora's body writer to the session.
enum BodyPart {
    Data(Bytes),
    End,
}

/// One HTTP/1.1 exchange with Kiro.
pub struct PulseSession {
    inner: H1Session,
    peer: HttpPeer,
    interval: Duration,
    /// The longest silence allowed while reading the body.
    read_timeout: Option<Duration>,
    /// Pingora writes the request body through a separate [`BodyWrite`] while it reads the
    /// response; the parts wait here and are written before the response header is read.
    body_rx: Option<mpsc::UnboundedReceiver<BodyPart>>,
    body_writer: Option<PulseBodyWriter>,
    request_done: bool,
    body_done: bool,
    last_bytes: Instant,
    next_pulse: Instant,
    /// Armed at the next pulse or timeout and kept across reads: a read moves the real
    /// deadline later without touching the timer, which then fires early once and is re-armed.
    /// Resetting it on every read would cost a timer-wheel removal and insertion per event.
    timer: Option<Pin<Box<Sleep>>>,
    /// `TCP_CORK` is set: the head waits in the kernel for the body.
    corked: bool,
}

impl PulseSession {
    fn new(inner: H1Session, peer: HttpPeer, interval: Duration) -> Self {
        let now = Instant::now();
        PulseSession {
            inner,
            peer,
            interval,
            read_timeout: None,
            body_rx: None,
            body_writer: None,
            request_done: false,
            body_done: false,
            last_bytes: now,
            next_pulse: now,
            timer: None,
            corked: false,
        }
    }

    /// Holds whatever is written next in the kernel until [`Self::uncork`].
    fn cork(&mut self) {
        self.corked = set_cork(self.inner.stream().id(), true);
    }

    /// Sends what the cork held, in as few segments as it fits.
    fn uncork(&mut self) {
        if std::mem::take(&mut self.corked) {
            set_cork(self.inner.stream().id(), false);
        }
    }

    /// Writes whatever request body Pingora handed over, up to its end.
    async fn send_request_body(&mut self) -> Result<()> {
        let Some(rx) = self.body_rx.as_mut() else {
            return Ok(());
        };
        while !self.request_done {
            match rx.recv().await {
                Some(BodyPart::Data(data)) => {
                    self.inner.write_body(&data).await?;
                }
                Some(BodyPart::End) => {
                    self.inner.finish_body().await?;
                    self.request_done = true;
                }
                None => {
                    return Error::e_explain(ErrorType::WriteError, "request body abandoned");
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Session for PulseSession {
    async fn write_request_header(&mut self, req: Box<RequestHeader>, end: bool) -> Result<()> {
        if !end {
            self.cork();
        }
        self.inner.write_request_header(req).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.body_writer = Some(PulseBodyWriter { tx });
        self.body_rx = Some(rx);
        if end {
            self.inner.finish_body().await?;
            self.request_done = true;
        }
        Ok(())
    }

    async fn write_request_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        self.inner.write_body(&data).await?;
        if end {
            self.finish_request_body().await?;
        }
        Ok(())
    }

    async fn finish_request_body(&mut self) -> Result<()> {
        if !self.request_done {
            self.inner.finish_body().await?;
            self.request_done = true;
        }
        self.uncork();
        Ok(())
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
        self.inner.read_timeout = timeout;
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.write_timeout = timeout;
    }

    async fn read_response_header(&mut self) -> Result<()> {
        self.send_request_body().await?;
        // Whatever ended the body, nothing more is sent before the answer.
        self.uncork();
        self.inner.read_response().await?;
        // From here the session times silences itself (see `read_response_body`).
        self.inner.read_timeout = None;
        let now = Instant::now();
        self.last_bytes = now;
        self.next_pulse = now + self.interval;
        Ok(())
    }

    async fn read_response_body(&mut self) -> Result<Option<Bytes>> {
        if self.body_done {
            return Ok(None);
        }
        loop {
            let give_up = self.read_timeout.map(|t| self.last_bytes + t);
            let pulse_at = (!self.interval.is_zero()).then_some(self.next_pulse);
            let wake = match (give_up, pulse_at) {
                (Some(g), Some(p)) => Some(g.min(p)),
                (g, p) => g.or(p),
            };
            let timer = wake.map(|at| {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if timer.deadline() > at {
                    timer.as_mut().reset(at);
                }
                timer
            });
            tokio::select! {
                biased;
                read = self.inner.read_body_bytes() => {
                    let now = Instant::now();
                    self.last_bytes = now;
                    self.next_pulse = now + self.interval;
                    let Some(read) = read? else {
                        // The end (a chunked body's last chunk) comes as an empty read, so that
                        // Pingora's loop sends the filters an end-of-stream body.
                        self.body_done = true;
                        return Ok(Some(Bytes::new()));
                    };
                    if self.inner.is_body_done() {
                        self.body_done = true;
                    }
                    return Ok(Some(read));
                }
                // Pingora's body read keeps its state across cancellation (it is raced the same
                // way in Pingora's own HTTP/1 proxy loop), so giving up on it here loses no bytes.
                _ = async {
                    match timer {
                        Some(t) => t.await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    if give_up.is_some_and(|g| g <= now) {
                        return Error::e_explain(
                            ErrorType::ReadTimedout,
                            format!(
                                "no upstream bytes for {:?}",
                                self.read_timeout.unwrap_or_default()
                            ),
                        );
                    }
                    if pulse_at.is_some_and(|p| p <= now) {
                        self.next_pulse += self.interval;
                        return Ok(Some(pulse()));
                    }
                    // Armed before the last bytes came: wait again, for the deadline they set.
                    if let (Some(timer), Some(at)) = (self.timer.as_mut(), wake) {
                        timer.as_mut().reset(at);
                    }
                }
            }
        }
    }

    fn response_finished(&self) -> bool {
        self.body_done
    }

    async fn shutdown(&mut self, _code: u32, _ctx: &str) {
        self.inner.shutdown().await;
    }

    fn response_header(&self) -> Option<&ResponseHeader> {
        self.inner.resp_header()
    }

    fn was_upgraded(&self) -> bool {
        false
    }

    fn digest(&self) -> Option<&Digest> {
        Some(self.inner.digest())
    }

    fn digest_mut(&mut self) -> Option<&mut Digest> {
        Some(self.inner.digest_mut())
    }

    fn server_addr(&self) -> Option<&SocketAddr> {
        self.inner.server_addr()
    }

    fn client_addr(&self) -> Option<&SocketAddr> {
        self.inner.client_addr()
    }

    async fn read_trailers(&mut self) -> Result<Option<http::HeaderMap>> {
        Ok(None)
    }

    fn fd(&self) -> UniqueIDType {
        self.inner.id()
    }

    async fn check_response_end_or_error(&mut self, _headers: bool) -> Result<bool> {
        if self.inner.is_body_done() {
            self.body_done = true;
        }
        Ok(self.body_done)
    }

    fn take_request_body_writer(&mut self) -> Option<Box<dyn BodyWrite>> {
        self.body_writer
            .take()
            .map(|w| Box::new(w) as Box<dyn BodyWrite>)
    }

    async fn finish_custom(&mut self) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_reader(
        &mut self,
    ) -> Option<Box<dyn futures::Stream<Item = Result<Bytes>> + Unpin + Send + Sync + 'static>>
    {
        // HTTP/1.1 carries no custom messages: a reader that ends at once.
        Some(Box::new(futures::stream::empty()))
    }

    async fn drain_custom_messages(&mut self) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_writer(&mut self) -> Option<Box<dyn CustomMessageWrite>> {
        Some(Box::new(()))
    }
}

/// Sets or clears `TCP_CORK` on a socket; true when set. Best effort: a socket that refuses it
/// (not TCP) sends as it did.
#[cfg(target_os = "linux")]
fn set_cork(fd: UniqueIDType, on: bool) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` is the session's open socket, which outlives this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    match socket2::SockRef::from(&fd).set_tcp_cork(on) {
        Ok(()) => on,
        Err(e) => {
            log::debug!("TCP_CORK {on} on the upstream socket: {e}");
            false
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn set_cork(_fd: UniqueIDType, _on: bool) -> bool {
    false
}

/// Pingora's handle for the request body: queues the parts for the session.
struct PulseBodyWriter {
    tx: mpsc::UnboundedSender<BodyPart>,
}

impl PulseBodyWriter {
    fn send(&self, part: BodyPart) -> Result<()> {
        self.tx
            .send(part)
            .map_err(|_| Error::explain(ErrorType::WriteError, "upstream session is gone"))
    }
}

#[async_trait]
impl BodyWrite for PulseBodyWriter {
    async fn write_all_buf(&mut self, data: &mut Bytes) -> Result<()> {
        let part = data.split_to(data.len());
        if part.is_empty() {
            return Ok(());
        }
        self.send(BodyPart::Data(part))
    }

    async fn finish(&mut self) -> Result<()> {
        self.send(BodyPart::End)
    }

    async fn cleanup(&mut self) -> Result<()> {
        Ok(())
    }

    fn upgrade_body_writer(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_are_told_apart_from_equal_bytes() {
        assert!(is_pulse(&pulse()));
        assert!(!is_pulse(&Bytes::from_static(&[0])));
        assert!(!is_pulse(&Bytes::copy_from_slice(&PULSE_BYTES)));
        assert!(!is_pulse(&Bytes::new()));
    }

    /// A one-shot HTTP/1.1 server: reads a request with a 5-byte body, then answers with the
    /// given chunks, pausing `gap` between them (with no gap, it then hangs instead of ending
    /// the body). Returns its address and the request it read.
    async fn server(
        chunks: &'static [&'static str],
        gap: Duration,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"hello") {
                let n = sock.read(&mut buf).await.expect("read");
                assert!(n > 0, "request cut short");
                request.extend_from_slice(&buf[..n]);
            }
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            sock.write_all(head.as_bytes()).await.expect("write");
            for chunk in chunks {
                tokio::time::sleep(gap).await;
                let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
                sock.write_all(framed.as_bytes()).await.expect("write");
            }
            if gap.is_zero() {
                // Hang with the connection open.
                tokio::time::sleep(Duration::from_secs(5)).await;
            } else {
                sock.write_all(b"0\r\n\r\n").await.expect("write");
            }
            request
        });
        (addr, task)
    }

    async fn session(addr: std::net::SocketAddr, interval: Duration) -> PulseSession {
        let mut peer = HttpPeer::new(addr, false, String::new());
        use_pulses(&mut peer);
        let connector = PulseConnector::new(None, interval);
        match connector.get_http_session(&peer).await {
            Ok((Connection::Session(s), reused)) => {
                assert!(!reused);
                s
            }
            Ok((Connection::Stream(_), _)) => panic!("a pulse session, not a stream"),
            Err(e) => panic!("connect: {e}"),
        }
    }

    async fn send_request(s: &mut PulseSession) {
        let mut req = RequestHeader::build("POST", b"/chat", None).expect("head");
        req.insert_header("content-length", "5").expect("header");
        s.write_request_header(Box::new(req), false)
            .await
            .expect("head sent");
        let mut writer = s.take_request_body_writer().expect("a body writer");
        writer
            .write_all_buf(&mut Bytes::from_static(b"hello"))
            .await
            .expect("queued");
        writer.finish().await.expect("finished");
    }

    #[tokio::test]
    async fn silences_come_back_as_pulses_between_the_bytes() {
        let (addr, server) = server(&["abc", "def"], Duration::from_millis(400)).await;
        let mut s = session(addr, Duration::from_millis(100)).await;
        send_request(&mut s).await;
        s.read_response_header().await.expect("header");
        assert_eq!(s.response_header().map(|h| h.status.as_u16()), Some(200));
        let mut seen = Vec::new();
        while let Some(chunk) = s.read_response_body().await.expect("body") {
            seen.push(if is_pulse(&chunk) {
                "~".to_string()
            } else {
                String::from_utf8_lossy(&chunk).into_owned()
            });
        }
        let request = server.await.expect("server");
        assert!(request.ends_with(b"\r\n\r\nhello"));
        // The bytes in order, then the end; about three pulses in each 400 ms silence.
        let bytes: Vec<&str> = seen
            .iter()
            .map(String::as_str)
            .filter(|c| *c != "~")
            .collect();
        assert_eq!(bytes, ["abc", "def", ""], "{seen:?}");
        let joined = seen.concat();
        let silences: Vec<&str> = joined.split("abc").collect();
        let before = silences[0].len();
        let between = silences[1].split("def").next().map_or(0, str::len);
        assert!(
            (1..=5).contains(&before) && (1..=5).contains(&between),
            "{seen:?}"
        );
        assert!(s.response_finished());
    }

    #[tokio::test]
    async fn bytes_closer_than_the_interval_bring_no_pulse() {
        // The timer is armed once and left alone by each read: it fires early, finds bytes
        // came since, and waits again instead of pulsing.
        let chunks = &["a", "b", "c", "d", "e", "f", "g", "h"];
        let (addr, server) = server(chunks, Duration::from_millis(30)).await;
        let mut s = session(addr, Duration::from_millis(150)).await;
        send_request(&mut s).await;
        s.read_response_header().await.expect("header");
        let mut seen = Vec::new();
        while let Some(chunk) = s.read_response_body().await.expect("body") {
            assert!(!is_pulse(&chunk), "a pulse after {seen:?}");
            seen.push(String::from_utf8_lossy(&chunk).into_owned());
        }
        server.await.expect("server");
        assert_eq!(seen.concat(), "abcdefgh");
    }

    #[tokio::test]
    async fn the_head_waits_in_the_kernel_for_the_body() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (head_sent, head_was_sent) = tokio::sync::oneshot::channel::<()>();
        let (send_body, body_wanted) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            head_was_sent.await.expect("client alive");
            let mut buf = vec![0u8; 4096];
            // Corked, the head alone is held back (Linux releases it after 200 ms at most: the
            // wait stays well short of that however late this task is scheduled).
            let early = tokio::time::timeout(Duration::from_millis(50), sock.read(&mut buf)).await;
            assert!(early.is_err(), "the head went out alone: {early:?}");
            send_body.send(()).expect("client alive");
            let n = sock.read(&mut buf).await.expect("read");
            buf.truncate(n);
            buf
        });
        let mut s = session(addr, Duration::ZERO).await;
        let mut req = RequestHeader::build("POST", b"/chat", None).expect("head");
        req.insert_header("content-length", "5").expect("header");
        s.write_request_header(Box::new(req), false)
            .await
            .expect("head written");
        head_sent.send(()).expect("server alive");
        body_wanted.await.expect("server alive");
        s.write_request_body(Bytes::from_static(b"hello"), true)
            .await
            .expect("body written");
        let first_read = server.await.expect("server");
        let text = String::from_utf8_lossy(&first_read);
        assert!(
            text.starts_with("POST /chat HTTP/1.1\r\n") && text.ends_with("\r\n\r\nhello"),
            "one read held head and body: {text:?}"
        );
        assert!(!s.corked);
    }

    #[tokio::test]
    async fn a_silence_past_the_read_timeout_is_an_error() {
        let (addr, _server) = server(&["abc"], Duration::ZERO).await;
        let mut s = session(addr, Duration::from_millis(40)).await;
        s.set_read_timeout(Some(Duration::from_millis(150)));
        send_request(&mut s).await;
        s.read_response_header().await.expect("header");
        let mut pulses = 0;
        let err = loop {
            match s.read_response_body().await {
                Ok(Some(chunk)) if is_pulse(&chunk) => pulses += 1,
                Ok(Some(chunk)) => assert_eq!(&chunk[..], b"abc"),
                Ok(None) => panic!("the body never ends"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.etype, ErrorType::ReadTimedout);
        assert!((1..=4).contains(&pulses), "{pulses}");
    }

    #[test]
    fn a_pulse_peer_is_dialled_as_plain_http1() {
        let mut peer = HttpPeer::new("127.0.0.1:9", false, "kiro.test".into());
        peer.options.read_timeout = Some(Duration::from_secs(3));
        use_pulses(&mut peer);
        assert!(matches!(peer.options.alpn, ALPN::Custom(_)));
        let h1 = h1_peer(&peer).expect("inet peer");
        assert_eq!(h1.options.alpn, ALPN::H1);
        assert_eq!(h1.sni(), "kiro.test");
        assert_eq!(h1.options.read_timeout, Some(Duration::from_secs(3)));
        // Same peer, same pool key.
        assert_eq!(
            h1.reuse_hash(),
            h1_peer(&peer).expect("inet peer").reuse_hash()
        );
    }
}
