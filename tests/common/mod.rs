//! Test harness: starts `kiro-mock` and `kiro-edge` as real processes on 127.0.0.1 and talks to
//! them with a small HTTP/1.1 client, so every test exercises the shipped binaries.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const API_KEY: &str = "test-key-123";

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kiro-edge-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free now and never handed out before in this test binary. The tests of one binary
/// run in parallel and the port is only bound later by a child process, so without the record
/// two servers could be given the same port: the second fails to bind, and its test talks to
/// the first one's server until that one exits.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

fn wait_for_port(addr: SocketAddr, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // A connection to itself (the kernel picked `addr` as the source port: the port is
        // in the ephemeral range) succeeds without any listener, so it proves nothing.
        let connected = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        if connected.is_ok_and(|s| s.local_addr().ok() != Some(addr)) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr}");
}

/// Starts `kiro-mock` with extra arguments; it prints its address on its first stdout line.
pub fn start_mock(args: &[&str]) -> Proc {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiro-mock"))
        .arg("--listen")
        .arg(addr.to_string())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kiro-mock");
    // Drain stdout so the mock never blocks on a full pipe.
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
    }
    wait_for_port(addr, &mut child, "kiro-mock");
    Proc { child, addr }
}

/// A running gateway with its scratch directory.
pub struct Gateway {
    pub proc: Proc,
    pub dir: TempDir,
    pub mock: SocketAddr,
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.proc.addr)
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.dir.path().join("credentials.json")
    }
}

/// A social credential the mock accepts (its refresh-token rule). Its access token is one the
/// mock never issued, expired `expired_secs_ago` seconds ago (negative: still valid for that
/// long, which makes the mock answer 403 until a forced refresh).
pub fn social_credential(name: &str, expired_secs_ago: i64) -> serde_json::Value {
    serde_json::json!({
        "id": name,
        "authMethod": "social",
        "refreshToken": format!("mock-rt-{name}-{}", "x".repeat(120)),
        "accessToken": format!("stale-{name}"),
        "expiresAt": chrono_like_rfc3339(-expired_secs_ago),
        "profileArn": "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK",
    })
}

/// RFC 3339 UTC time `offset` seconds from now (no date crate in the tests).
pub fn chrono_like_rfc3339(offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = now + offset;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Starts `kiro-edge` against `mock` with these credentials and extra `kiro_edge:` YAML lines.
/// An `upstream:` section for `start_gateway` with keep-alives every 200 ms, so that clients
/// meet them within a test's time.
pub const FAST_PINGS: &str =
    "  upstream:\n    connect_timeout_ms: 2000\n    first_byte_timeout_ms: 3000\n    ping_interval_ms: 200\n";

pub fn start_gateway(mock: &Proc, credentials: &serde_json::Value, extra_yaml: &str) -> Gateway {
    let dir = TempDir::new("gw");
    let creds = dir.path().join("credentials.json");
    std::fs::write(&creds, serde_json::to_vec_pretty(credentials).unwrap()).unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let m = mock.addr;
    let conf = format!(
        "version: 1\nthreads: 2\npid_file: {dir}/kiro-edge.pid\nupgrade_sock: {dir}/upgrade.sock\ngrace_period_seconds: 60\ngraceful_shutdown_timeout_seconds: 5\nkiro_edge:\n  listen: {addr}\n  api_keys: [{API_KEY}]\n  credentials_file: {creds}\n  discover_local_login: false\n  endpoints:\n    chat: http://{m}/generateAssistantResponse\n    social_refresh: http://{m}/refreshToken\n    idc_token: http://{m}/token\n    usage: http://{m}/getUsageLimits\n    models: http://{m}/ListAvailableModels\n{upstream}  retry:\n    backoff_base_ms: 10\n    backoff_max_ms: 50\n{extra_yaml}",
        dir = dir.path().display(),
        creds = creds.display(),
        upstream = if extra_yaml.contains("  upstream:") {
            ""
        } else {
            "  upstream:\n    connect_timeout_ms: 2000\n    first_byte_timeout_ms: 3000\n"
        },
    );
    // A test may bring its own `upstream:` section (which replaces the short timeouts above).
    // Tests that exhaust the retries with 429s go on using the same gateway: unless a test
    // configures the pool itself, a throttled account does not rest.
    let conf = if extra_yaml.contains("  pool:") {
        conf
    } else {
        format!("{conf}  pool:\n    throttle_cooldown_secs: 0\n")
    };
    let conf_path = dir.path().join("kiro-edge.yaml");
    std::fs::write(&conf_path, conf).unwrap();
    let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiro-edge"))
        .arg("-c")
        .arg(&conf_path)
        .env("RUST_LOG", "info")
        .env_remove(kiro_edge_env_keys())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn kiro-edge");
    wait_for_port(addr, &mut child, "kiro-edge");
    Gateway {
        proc: Proc { child, addr },
        dir,
        mock: mock.addr,
    }
}

fn kiro_edge_env_keys() -> &'static str {
    "KIRO_EDGE_API_KEYS"
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request on a fresh connection and reads the whole response (chunked or not).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    send_request(&mut stream, method, path, headers, body);
    read_response(&mut BufReader::new(stream), method == "HEAD")
}

pub fn send_request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

pub fn read_response<R: BufRead>(r: &mut R, head_only: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = vec![];
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = vec![];
    if !head_only {
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16)
                    .unwrap_or_else(|_| panic!("chunk size {size:?}"));
                if n == 0 {
                    let mut end = String::new();
                    r.read_line(&mut end).unwrap();
                    break;
                }
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk).unwrap();
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(len, 0);
            r.read_exact(&mut body).unwrap();
        } else {
            r.read_to_end(&mut body).unwrap();
        }
    }
    Response {
        status,
        headers,
        body,
    }
}

/// POSTs JSON to the gateway with the test API key.
pub fn post_json(gw: &Gateway, path: &str, body: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    http(
        gw.proc.addr,
        "POST",
        path,
        &[
            ("x-api-key", API_KEY),
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        &bytes,
    )
}

/// The mock's request log.
pub fn mock_requests(mock: SocketAddr) -> Vec<serde_json::Value> {
    let r = http(mock, "GET", "/__mock/requests", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    match r.json() {
        serde_json::Value::Array(items) => items,
        other => other
            .get("requests")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default(),
    }
}

/// Queues faults for the mock's next chat requests.
pub fn mock_faults(mock: SocketAddr, faults: &serde_json::Value) {
    let body = serde_json::to_vec(faults).unwrap();
    let r = http(
        mock,
        "POST",
        "/__mock/faults",
        &[("content-type", "application/json")],
        &body,
    );
    assert!(r.status < 300, "{}", r.text());
}

/// Parses an SSE body into (event, data-JSON) pairs.
pub fn sse_events(body: &str) -> Vec<(Option<String>, serde_json::Value)> {
    body.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let json = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
            (event, json)
        })
        .collect()
}

/// Runs a pytest file from tests/sdk against a running gateway and mock, bounded to 180 s;
/// panics with pytest's output unless every test passed. `KIRO_EDGE_SKIP_SDK=1` skips it on a
/// machine without Python; otherwise a missing SDK fails rather than passes.
pub fn run_pytest(file: &str, gw: &Gateway) {
    use std::io::Read;
    if std::env::var_os("KIRO_EDGE_SKIP_SDK").is_some() {
        eprintln!("KIRO_EDGE_SKIP_SDK is set: skipping {file}");
        return;
    }
    // scripts/test.sh points this at a virtualenv when the system python3 lacks the SDKs.
    let python = std::env::var("KIRO_EDGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KIRO_EDGE_URL", gw.url())
        .env("KIRO_EDGE_KEY", API_KEY)
        .env("KIRO_MOCK_URL", format!("http://{}", gw.mock))
        .env("NO_PROXY", "127.0.0.1,localhost")
        // The SDKs read these; a developer's own settings must not redirect the tests.
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e} (scripts/test.sh installs Python and the SDKs)"));
    // Both pipes are read on threads, so a chatty failure cannot fill one and stall pytest.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pytest") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pytest {file} did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    println!("{text}");
    assert!(status.success(), "pytest {file} failed:\n{text}");
}

/// Sends `n` copies of a chat body at once, each on its own connection with the test key;
/// their statuses, in the order the requests were started.
pub fn burst(addr: SocketAddr, n: usize, body: &serde_json::Value) -> Vec<u16> {
    let body = serde_json::to_vec(body).unwrap();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                http(
                    addr,
                    "POST",
                    "/v1/messages",
                    &[("x-api-key", API_KEY)],
                    &body,
                )
                .status
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
