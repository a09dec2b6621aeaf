//! Load harness: `kiro-mock` upstream, the `kiro-edge` gateway in front of it, and a tokio
//! HTTP/1.1 load generator, all on 127.0.0.1. One run measures the gateway, then sends the same
//! load (the converted Kiro request, same headers) straight to the mock as the baseline, and
//! prints the overhead as ratios.
//!
//! ```text
//! cargo build --release --bins
//! cargo bench --bench load -- --clients 100 --requests 5000 --body-kb 20 --events 50 \
//!     --gap-ms 0 --pin-core 1
//! ```
//!
//! Every run is bounded by `--requests` and `--duration`. See `--help` and BENCHMARKS.md.

#[path = "support/body.rs"]
mod body;
#[path = "support/relay.rs"]
mod relay;

use kiro_edge::accounts::time;
use kiro_edge::dialect::openai_responses::store::ResponseStore;
use kiro_edge::dialect::{Dialect, RequestHints};
use kiro_edge::kiro::request::{self, with_profile_arn};
use kiro_edge::pipeline::{self, TranslateSettings};
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const HELP: &str = "\
load: drives C concurrent streaming requests through kiro-edge and straight to kiro-mock.

USAGE: cargo bench --bench load -- [OPTIONS]

  --clients C        concurrent connections (default 10)
  --requests N       requests per target (default 2000)
  --body-kb K        Claude-Code-like request body size in KB (default 20)
  --client NAME      claude-code (Anthropic Messages, --body-kb) or codex (OpenAI Responses,
                     Codex CLI's captured 40 KB request; --body-kb is ignored)
                     (default claude-code)
  --events E         text events per answer, `[[mock:events E G]]`; 0 = the mock's default
                     short answer (default 50)
  --gap-ms G         gap between events in ms (default 0)
  --duration S       stop starting requests after S seconds, per target (default 60)
  --ramp-ms R        spread the clients' first requests evenly over R ms, so that they
                     arrive like independent users rather than as one wave of C; req/s is
                     then counted over the run minus R (default: one paced answer,
                     events x gap; 0 for fast runs)
  --pin-core K       run the gateway on core K only, the mock and this client on the others
  --gw-threads T     gateway worker threads (default 1 when pinned, else 2)
  --target T         gateway | mock | relay | both (gateway, mock) | all (gateway, relay,
                     mock) (default both). The relay is a do-nothing Pingora proxy on the
                     gateway's core, sent the converted Kiro request: the floor of any
                     Pingora gateway for the same stream
  --rounds R         measure the targets R times, alternating, and also print the median
                     (and range) of each round's overheads (default 1)
  --perf FILE        record `perf record --call-graph dwarf` of the gateway during its load into FILE
                     (and of the relay into FILE with the extension relay.data)
  --warmup W         requests sent through the gateway before measuring, up to C at once
                     (default 20)
  --gw-log LEVEL     gateway RUST_LOG (default info, the shipped default)
  --gw-conf LINE     an extra top-level Pingora setting for the gateway (repeatable), e.g.
                     'upstream_keepalive_pool_size: 2048' (default 1024, as shipped)
  --edge-conf LINE   an extra line of the gateway's `kiro_edge:` section (repeatable), e.g.
                     'upstream: {ping_interval_ms: 0}'
  --gw-env K=V       extra environment for the gateway (repeatable), e.g. MALLOC_ARENA_MAX=2
  --wrap CMD         start the gateway and the relay under CMD (e.g. 'strace -f -o trace' or
                     heaptrack); their CPU and memory figures are then those of CMD. Wrapped,
                     they are stopped with SIGTERM (up to 60 s) so that e.g.
                     'valgrind --tool=callgrind' writes its output

Binaries: target/release/kiro-edge and target/release/kiro-mock (cargo build --release --bins).
";

const API_KEY: &str = "bench-key";
const MOCK_TOKEN: &str = "bench-token";
const PROFILE_ARN: &str = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";
/// One request may take this long before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a `--wrap`ped gateway or relay is given to exit after SIGTERM (their grace period
/// is 1 s; valgrind then writes its output).
const GRACEFUL_STOP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Args {
    clients: usize,
    requests: usize,
    body_kb: usize,
    client: Client,
    events: u32,
    gap_ms: u64,
    duration: Duration,
    ramp: Option<Duration>,
    pin_core: Option<usize>,
    gw_threads: Option<usize>,
    target: String,
    rounds: usize,
    perf: Option<PathBuf>,
    warmup: usize,
    gw_log: String,
    wrap: Vec<String>,
    gw_env: Vec<(String, String)>,
    gw_conf: Vec<String>,
    edge_conf: Vec<String>,
}

/// The client whose requests the load sends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    ClaudeCode,
    Codex,
}

impl Client {
    fn parse(name: &str) -> Result<Client, String> {
        match name {
            "claude-code" => Ok(Client::ClaudeCode),
            "codex" => Ok(Client::Codex),
            other => Err(format!("--client {other:?}: expected claude-code or codex")),
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Client::ClaudeCode => Dialect::Anthropic,
            Client::Codex => Dialect::OpenAiResponses,
        }
    }

    /// The streaming request body, asking the mock for `directive`'s answer.
    fn body(self, body_kb: usize, directive: &str) -> Vec<u8> {
        let body = match self {
            Client::ClaudeCode => body::claude_code_body(body_kb * 1000, directive),
            Client::Codex => body::codex_body(directive),
        };
        serde_json::to_vec(&body).expect("json")
    }

    /// The whole HTTP request to the gateway, and the bytes its answer must contain.
    fn request(self, body: &[u8]) -> Request {
        match self {
            Client::ClaudeCode => Request {
                bytes: http_request(
                    "/v1/messages?beta=true",
                    &[
                        ("x-api-key".into(), API_KEY.into()),
                        ("content-type".into(), "application/json".into()),
                        ("anthropic-version".into(), "2023-06-01".into()),
                    ],
                    body,
                ),
                expect: b"message_stop",
            },
            Client::Codex => Request {
                bytes: http_request(
                    "/v1/responses",
                    &[
                        ("authorization".into(), format!("Bearer {API_KEY}")),
                        ("content-type".into(), "application/json".into()),
                    ],
                    body,
                ),
                expect: b"response.completed",
            },
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        clients: 10,
        requests: 2000,
        body_kb: 20,
        client: Client::ClaudeCode,
        events: 50,
        gap_ms: 0,
        duration: Duration::from_secs(60),
        ramp: None,
        pin_core: None,
        gw_threads: None,
        target: "both".into(),
        rounds: 1,
        perf: None,
        warmup: 20,
        gw_log: "info".into(),
        wrap: Vec::new(),
        gw_env: Vec::new(),
        gw_conf: Vec::new(),
        edge_conf: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        }
        match flag.as_str() {
            "--clients" => a.clients = num(&flag, value()?)?,
            "--requests" => a.requests = num(&flag, value()?)?,
            "--body-kb" => a.body_kb = num(&flag, value()?)?,
            "--client" => a.client = Client::parse(&value()?)?,
            "--events" => a.events = num(&flag, value()?)?,
            "--gap-ms" => a.gap_ms = num(&flag, value()?)?,
            "--duration" => a.duration = Duration::from_secs(num(&flag, value()?)?),
            "--ramp-ms" => a.ramp = Some(Duration::from_millis(num(&flag, value()?)?)),
            "--pin-core" => a.pin_core = Some(num(&flag, value()?)?),
            "--gw-threads" => a.gw_threads = Some(num(&flag, value()?)?),
            "--target" => a.target = value()?,
            "--rounds" => a.rounds = num(&flag, value()?)?,
            "--perf" => a.perf = Some(PathBuf::from(value()?)),
            "--warmup" => a.warmup = num(&flag, value()?)?,
            "--gw-log" => a.gw_log = value()?,
            "--gw-conf" => a.gw_conf.push(value()?),
            "--edge-conf" => a.edge_conf.push(value()?),
            "--gw-env" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--gw-env {kv:?}: expected K=V"))?;
                a.gw_env.push((k.to_owned(), v.to_owned()));
            }
            "--wrap" => a.wrap = value()?.split_whitespace().map(String::from).collect(),
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if a.clients == 0 || a.requests == 0 || a.rounds == 0 {
        return Err("--clients, --requests and --rounds must be positive".into());
    }
    if !["gateway", "mock", "relay", "both", "all"].contains(&a.target.as_str()) {
        return Err("--target must be gateway, mock, relay, both or all".into());
    }
    if a.ramp.is_none() {
        a.ramp = Some(Duration::from_millis(u64::from(a.events) * a.gap_ms));
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process killed on drop.
struct Proc {
    child: Child,
    addr: SocketAddr,
    /// Asked to stop (SIGTERM) and given time to, before it is killed: a `--wrap` command
    /// such as `valgrind --tool=callgrind` writes its output only when the gateway exits.
    graceful: bool,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.graceful {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + GRACEFUL_STOP;
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The whole group: a `--wrap` command's own child (the gateway) goes too.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
}

fn wait_for_port(addr: SocketAddr, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // A connection to itself (the kernel picked `addr` as the source port: the port is
        // in the ephemeral range) succeeds without any listener, so it proves nothing.
        let connected = StdTcpStream::connect_timeout(&addr, Duration::from_millis(200));
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

fn release_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("release").join(name);
    if !path.exists() {
        eprintln!(
            "load: {} is missing: run `cargo build --release --bins` first",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

/// `binary` under `taskset -c CORES` when pinned, and under `wrap` (a command and its
/// arguments) if any.
fn command(binary: &Path, cores: Option<&str>, wrap: &[String]) -> Command {
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if let Some(cores) = cores {
        argv.extend(["taskset".into(), "-c".into(), cores.into()]);
    }
    argv.extend(wrap.iter().map(Into::into));
    argv.push(binary.into());
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    // Its own process group, killed as one (see `Proc`'s drop).
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    c
}

/// Pins every thread of this process (the load generator) to `cores`.
fn pin_self(cores: &str) {
    let pid = std::process::id().to_string();
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &pid])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("load: could not pin the load generator to cores {cores}");
    }
}

fn start_mock(bin: &Path, cores: Option<&str>) -> Proc {
    let addr = free_addr();
    let mut cmd = command(bin, cores, &[]);
    cmd.args([
        "--listen",
        &addr.to_string(),
        "--fast",
        "--stamp",
        "--accept-token",
        MOCK_TOKEN,
    ])
    .args(["--log-requests", "50"]);
    spawn_listening(cmd, addr, "kiro-mock")
}

/// Starts `cmd`, quiet, and waits until it listens on `addr`.
fn spawn_listening(mut cmd: Command, addr: SocketAddr, what: &str) -> Proc {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    wait_for_port(addr, &mut child, what);
    Proc {
        child,
        addr,
        graceful: false,
    }
}

/// The gateway's (and the relay's) worker threads.
fn gateway_threads(args: &Args) -> usize {
    args.gw_threads
        .unwrap_or(if args.pin_core.is_some() { 1 } else { 2 })
}

/// Starts the gateway against `mock` the way tests/common/mod.rs does: one social account
/// whose token the gateway refreshes at the mock on first use.
fn start_gateway(bin: &Path, mock: &Proc, dir: &Path, args: &Args, cores: Option<&str>) -> Proc {
    let creds = dir.join("credentials.json");
    let credential = serde_json::json!({
        "id": "bench",
        "authMethod": "social",
        "refreshToken": format!("mock-rt-bench-{}", "x".repeat(120)),
        "accessToken": "stale-bench",
        "expiresAt": time::format_rfc3339_millis(time::now_millis() - 60_000),
        "profileArn": PROFILE_ARN,
    });
    std::fs::write(&creds, credential.to_string()).expect("write credentials");
    let addr = free_addr();
    let threads = gateway_threads(args);
    let m = mock.addr;
    let mut extra: String = args.gw_conf.iter().map(|l| format!("{l}\n")).collect();
    if !extra.contains("upstream_keepalive_pool_size") {
        // As conf/kiro-edge.yaml ships; Pingora's default of 128 would open a new upstream
        // connection per request beyond 128 streams.
        extra.push_str("upstream_keepalive_pool_size: 1024\n");
    }
    let edge: String = args.edge_conf.iter().map(|l| format!("  {l}\n")).collect();
    let conf = format!(
        "version: 1\nthreads: {threads}\n{extra}pid_file: {dir}/kiro-edge.pid\nupgrade_sock: {dir}/upgrade.sock\n\
         grace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\nkiro_edge:\n  listen: {addr}\n  \
         api_keys: [{API_KEY}]\n  credentials_file: {creds}\n  discover_local_login: false\n  endpoints:\n    \
         chat: http://{m}/generateAssistantResponse\n    social_refresh: http://{m}/refreshToken\n    \
         idc_token: http://{m}/token\n{edge}",
        dir = dir.display(),
        creds = creds.display(),
    );
    let conf_path = dir.join("kiro-edge.yaml");
    std::fs::write(&conf_path, conf).expect("write config");
    let log = std::fs::File::create(dir.join("gateway.log")).expect("gateway log");
    let mut child = command(bin, cores, &args.wrap)
        .arg("-c")
        .arg(&conf_path)
        .env("RUST_LOG", &args.gw_log)
        .env_remove("KIRO_EDGE_API_KEYS")
        .envs(args.gw_env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn kiro-edge");
    wait_for_port(addr, &mut child, "kiro-edge");
    Proc {
        child,
        addr,
        graceful: !args.wrap.is_empty(),
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

struct ProcStats {
    cpu_ticks: u64,
    hwm_kb: u64,
    rss_kb: u64,
}

fn proc_stats(pid: u32) -> ProcStats {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    ProcStats {
        cpu_ticks: tick(11) + tick(12),
        hwm_kb: kb("VmHWM:"),
        rss_kb: kb("VmRSS:"),
    }
}

/// Resets the process's peak RSS (VmHWM) to its current RSS.
fn reset_peak(pid: u32) {
    if std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_err() {
        eprintln!("load: cannot reset VmHWM of {pid}; the peak includes the warm-up");
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// The HTTP/1.1 client

/// One prepared request: head and body in one buffer, written with one call.
struct Request {
    bytes: Vec<u8>,
    /// A successful response's body must contain this (empty: any complete body).
    expect: &'static [u8],
}

fn http_request(path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n").into_bytes();
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
    out
}

/// How much of a response body is kept to find the mock's stamp: the first event, in any dialect.
const BODY_START: usize = 4096;

#[derive(Clone, Copy)]
struct Sample {
    /// First byte of the response (status line).
    ttfb: Duration,
    /// First byte of the body (the first event).
    first_event: Duration,
    total: Duration,
    /// The mock's own time for this request, from its `--stamp` event: from the request's head
    /// to the answer's. `ttfb` minus this is what everything between client and mock added.
    mock_service: Option<Duration>,
}

impl Sample {
    /// Time to first byte with the mock's own time taken out.
    fn added(&self) -> Option<Duration> {
        self.mock_service.map(|m| self.ttfb.saturating_sub(m))
    }
}

/// The mock's stamp (`[[mock-service-ns:N]]`) in the first bytes of a response body.
fn mock_service(body_start: &[u8]) -> Option<Duration> {
    const STAMP: &[u8] = b"[[mock-service-ns:";
    let at = body_start.windows(STAMP.len()).position(|w| w == STAMP)? + STAMP.len();
    let digits = body_start[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let ns = std::str::from_utf8(&body_start[at..at + digits]).ok()?;
    Some(Duration::from_nanos(ns.parse().ok()?))
}

#[derive(Debug)]
enum Failure {
    Connect,
    Status(u16),
    Io,
    Timeout,
    Incomplete,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect => f.write_str("connect"),
            Failure::Status(s) => write!(f, "status {s}"),
            Failure::Io => f.write_str("io"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Incomplete => f.write_str("incomplete"),
        }
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    reusable: bool,
}

async fn connect(addr: SocketAddr) -> Result<Conn, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| Failure::Connect)?;
    stream.set_nodelay(true).map_err(|_| Failure::Connect)?;
    Ok(Conn {
        reader: BufReader::with_capacity(64 * 1024, stream),
        reusable: true,
    })
}

/// Appends the next line to `line`; `at_eof` when the connection has closed instead.
async fn next_line(conn: &mut Conn, line: &mut String, at_eof: Failure) -> Result<(), Failure> {
    match conn.reader.read_line(line).await {
        Ok(0) => Err(at_eof),
        Ok(_) => Ok(()),
        Err(_) => Err(Failure::Io),
    }
}

/// Sends one request and reads the whole chunked (or sized) response.
async fn exchange(conn: &mut Conn, req: &Request) -> Result<Sample, Failure> {
    let start = Instant::now();
    conn.reader
        .get_mut()
        .write_all(&req.bytes)
        .await
        .map_err(|_| Failure::Io)?;
    let mut line = String::new();
    next_line(conn, &mut line, Failure::Io).await?;
    let ttfb = start.elapsed();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(Failure::Io)?;
    let (mut chunked, mut length) = (false, None);
    loop {
        line.clear();
        next_line(conn, &mut line, Failure::Io).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                conn.reusable = false;
            }
        }
    }
    // To check that the stream finished properly.
    let mut marker = Marker::new(req.expect);
    let mut data = vec![0u8; 16 * 1024];
    let mut first_event = None;
    // The body's first bytes, where the mock's stamp is.
    let mut body_start = Vec::new();
    let mut keep_start = |piece: &[u8]| {
        let room = BODY_START.saturating_sub(body_start.len());
        body_start.extend_from_slice(&piece[..piece.len().min(room)]);
    };
    if chunked {
        loop {
            line.clear();
            next_line(conn, &mut line, Failure::Incomplete).await?;
            let size = line.trim_end().split(';').next().unwrap_or("");
            let mut n = usize::from_str_radix(size, 16).map_err(|_| Failure::Io)?;
            if n == 0 {
                line.clear();
                conn.reader
                    .read_line(&mut line)
                    .await
                    .map_err(|_| Failure::Io)?;
                break;
            }
            first_event.get_or_insert_with(|| start.elapsed());
            while n > 0 {
                let take = n.min(data.len());
                conn.reader
                    .read_exact(&mut data[..take])
                    .await
                    .map_err(|_| Failure::Incomplete)?;
                marker.feed(&data[..take]);
                keep_start(&data[..take]);
                n -= take;
            }
            let mut crlf = [0u8; 2];
            conn.reader
                .read_exact(&mut crlf)
                .await
                .map_err(|_| Failure::Incomplete)?;
        }
    } else if let Some(mut n) = length {
        while n > 0 {
            let take = n.min(data.len());
            conn.reader
                .read_exact(&mut data[..take])
                .await
                .map_err(|_| Failure::Incomplete)?;
            first_event.get_or_insert_with(|| start.elapsed());
            marker.feed(&data[..take]);
            keep_start(&data[..take]);
            n -= take;
        }
    } else {
        conn.reusable = false;
        return Err(Failure::Incomplete);
    }
    if status != 200 {
        return Err(Failure::Status(status));
    }
    if !marker.found() {
        return Err(Failure::Incomplete);
    }
    Ok(Sample {
        ttfb,
        first_event: first_event.unwrap_or(ttfb),
        total: start.elapsed(),
        mock_service: mock_service(&body_start),
    })
}

/// Looks for a response's success marker in its body, read piece by piece. Anywhere, not only
/// in the last bytes: Codex's final event carries a 20 KB response object after its name.
struct Marker {
    expect: &'static [u8],
    found: bool,
    /// The last `expect.len() - 1` bytes read, to see a marker split between two pieces.
    carry: Vec<u8>,
}

impl Marker {
    fn new(expect: &'static [u8]) -> Marker {
        Marker {
            expect,
            found: expect.is_empty(),
            carry: Vec::with_capacity(expect.len() * 2),
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if self.found {
            return;
        }
        let keep = self.expect.len() - 1;
        let contains = |hay: &[u8]| hay.windows(self.expect.len()).any(|w| w == self.expect);
        self.carry.extend_from_slice(&data[..data.len().min(keep)]);
        if contains(&self.carry) || contains(data) {
            self.found = true;
            return;
        }
        if data.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&data[data.len() - keep..]);
        } else {
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
    }

    fn found(&self) -> bool {
        self.found
    }
}

#[derive(Default)]
struct Outcome {
    samples: Vec<Sample>,
    failures: Vec<Failure>,
}

/// One client: a keep-alive connection serving requests, from `first` on, until the budget or
/// the deadline.
async fn client(
    addr: SocketAddr,
    req: Arc<Request>,
    issued: Arc<AtomicUsize>,
    budget: usize,
    (first, deadline): (Instant, Instant),
    mut conn: Option<Conn>,
) -> Outcome {
    let mut out = Outcome::default();
    tokio::time::sleep_until(first.into()).await;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < budget {
        if conn.as_ref().is_none_or(|c| !c.reusable) {
            conn = match connect(addr).await {
                Ok(c) => Some(c),
                Err(e) => {
                    out.failures.push(e);
                    continue;
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange(c, &req)).await {
            Ok(Ok(sample)) => out.samples.push(sample),
            Ok(Err(e)) => {
                conn = None;
                out.failures.push(e);
            }
            Err(_) => {
                conn = None;
                out.failures.push(Failure::Timeout);
            }
        }
    }
    out
}

struct Run {
    /// The run's wall time minus the ramp: all clients are busy for about this long.
    wall: Duration,
    outcome: Outcome,
}

/// Opens `clients` connections, then runs them all against `addr`, client `i` starting
/// `i / clients` of the ramp after the first.
async fn run_load(addr: SocketAddr, req: Arc<Request>, args: &Args) -> Run {
    let mut conns = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        conns.push(connect(addr).await.ok());
    }
    let issued = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + args.duration;
    let ramp = args.ramp.unwrap_or_default();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let first = start + ramp.mul_f64(i as f64 / args.clients as f64);
            tokio::spawn(client(
                addr,
                req.clone(),
                issued.clone(),
                args.requests,
                (first, deadline),
                conn,
            ))
        })
        .collect();
    let mut outcome = Outcome::default();
    for t in tasks {
        if let Ok(o) = t.await {
            outcome.samples.extend(o.samples);
            outcome.failures.extend(o.failures);
        }
    }
    // The clients start one ramp apart and, busy for the same time each, end about one ramp
    // apart too: without the ramp's length, the rate is that of all C clients at work.
    let wall = start.elapsed();
    Run {
        wall: wall
            .checked_sub(ramp)
            .filter(|w| !w.is_zero())
            .unwrap_or(wall),
        outcome,
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

struct Report {
    name: &'static str,
    ok: usize,
    errors: usize,
    error_kinds: String,
    rps: f64,
    ttfb: (f64, f64),
    /// Time to first byte at p90, p95, p99.9 and the maximum, for the shape of the tail.
    ttfb_tail: [f64; 4],
    first: (f64, f64),
    total: (f64, f64),
    /// Time to first byte minus the mock's own time, per request, p50/p99 (NaN without stamps).
    added: (f64, f64),
    /// CPU seconds of the process under test, and per 1000 requests.
    cpu_s: f64,
    /// CPU of the mock during the run (for the mock's own run, the same as `cpu_s`).
    mock_cpu_s: f64,
    hwm_mb: f64,
    rss_end_mb: f64,
    rss_idle_mb: f64,
}

/// The `quantiles` of `v`, in milliseconds.
fn quantiles<const N: usize>(mut v: Vec<Duration>, quantiles: [f64; N]) -> [f64; N] {
    if v.is_empty() {
        return [f64::NAN; N];
    }
    v.sort_unstable();
    quantiles.map(|p| v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3)
}

fn percentiles(v: Vec<Duration>) -> (f64, f64) {
    let [p50, p99] = quantiles(v, [0.50, 0.99]);
    (p50, p99)
}

fn error_kinds(failures: &[Failure]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for f in failures {
        let k = f.to_string();
        match counts.iter_mut().find(|(name, _)| *name == k) {
            Some((_, n)) => *n += 1,
            None => counts.push((k, 1)),
        }
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_header() {
    println!(
        "{:<8} {:>6} {:>5} {:>8} {:>15} {:>15} {:>15} {:>15} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "target",
        "ok",
        "err",
        "req/s",
        "ttfb p50/p99",
        "added p50/p99",
        "1st ev p50/p99",
        "total p50/p99",
        "cpu s",
        "µs/req",
        "mock µs",
        "hwm MB",
        "rss end",
        "rss idle"
    );
}

fn print_report(r: &Report) {
    let per = |s: f64| s * 1e6 / r.ok.max(1) as f64;
    println!(
        "{:<8} {:>6} {:>5} {:>8.0} {:>7.2}/{:<7.2} {:>7.2}/{:<7.2} {:>7.2}/{:<7.2} {:>7.1}/{:<7.1} {:>8.2} {:>9.0} {:>9.0} {:>8.1} {:>8.1} {:>8.1}",
        r.name,
        r.ok,
        r.errors,
        r.rps,
        r.ttfb.0,
        r.ttfb.1,
        r.added.0,
        r.added.1,
        r.first.0,
        r.first.1,
        r.total.0,
        r.total.1,
        r.cpu_s,
        per(r.cpu_s),
        per(r.mock_cpu_s),
        r.hwm_mb,
        r.rss_end_mb,
        r.rss_idle_mb
    );
    if r.errors > 0 {
        println!("         errors: {}", r.error_kinds);
    }
}

fn report_json(args: &Args, body_len: usize, r: &Report) -> String {
    serde_json::json!({
        "target": r.name,
        "clients": args.clients,
        "client": format!("{:?}", args.client),
        "body_kb": args.body_kb,
        "body_bytes": body_len,
        "events": args.events,
        "gap_ms": args.gap_ms,
        "ramp_ms": args.ramp.unwrap_or_default().as_millis(),
        "pinned": args.pin_core.is_some(),
        "ok": r.ok,
        "errors": r.errors,
        "rps": r.rps,
        "ttfb_ms": [r.ttfb.0, r.ttfb.1],
        "ttfb_p90_p95_p999_max_ms": r.ttfb_tail,
        "first_event_ms": [r.first.0, r.first.1],
        "added_ttfb_ms": [r.added.0, r.added.1],
        "total_ms": [r.total.0, r.total.1],
        "cpu_us_per_req": r.cpu_s * 1e6 / r.ok.max(1) as f64,
        "mock_cpu_us_per_req": r.mock_cpu_s * 1e6 / r.ok.max(1) as f64,
        "hwm_mb": r.hwm_mb,
        "rss_end_mb": r.rss_end_mb,
        "rss_idle_mb": r.rss_idle_mb,
    })
    .to_string()
}

/// What a load run is aimed at.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// The process under test.
    pid: u32,
}

/// Runs the load against `target` while watching it and the mock (`mock_pid`).
fn measure(
    rt: &tokio::runtime::Runtime,
    target: Target,
    req: Request,
    args: &Args,
    mock_pid: u32,
    perf: Option<&Path>,
) -> Report {
    let Target { name, addr, pid } = target;
    let ticks = clock_ticks();
    reset_peak(pid);
    let perf_child = perf.map(|file| {
        Command::new("perf")
            // DWARF: release builds have no frame pointers, so `-g` stops at the first Rust frame.
            .args(["record", "--call-graph", "dwarf,32768", "-F", "499", "-o"])
            .arg(file)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn perf (apt-get install linux-perf)")
    });
    let before = proc_stats(pid);
    let mock_before = proc_stats(mock_pid);
    let run = rt.block_on(run_load(addr, Arc::new(req), args));
    let after = proc_stats(pid);
    let mock_after = proc_stats(mock_pid);
    if let Some(mut child) = perf_child {
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    // The client's connections are closed now; give the process a moment to free their state.
    std::thread::sleep(Duration::from_secs(2));
    let idle = proc_stats(pid);
    let Outcome { samples, failures } = run.outcome;
    Report {
        name,
        ok: samples.len(),
        errors: failures.len(),
        error_kinds: error_kinds(&failures),
        rps: samples.len() as f64 / run.wall.as_secs_f64(),
        ttfb: percentiles(samples.iter().map(|s| s.ttfb).collect()),
        ttfb_tail: quantiles(
            samples.iter().map(|s| s.ttfb).collect(),
            [0.90, 0.95, 0.999, 1.0],
        ),
        first: percentiles(samples.iter().map(|s| s.first_event).collect()),
        total: percentiles(samples.iter().map(|s| s.total).collect()),
        added: percentiles(samples.iter().filter_map(Sample::added).collect()),
        cpu_s: after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks,
        mock_cpu_s: mock_after.cpu_ticks.saturating_sub(mock_before.cpu_ticks) as f64 / ticks,
        hwm_mb: after.hwm_kb as f64 / 1024.0,
        rss_end_mb: after.rss_kb as f64 / 1024.0,
        rss_idle_mb: idle.rss_kb as f64 / 1024.0,
    }
}

/// The mock's log entry of the last chat request (headers and body length).
fn last_chat_record(mock: SocketAddr) -> serde_json::Value {
    let mut s = StdTcpStream::connect(mock).expect("connect to the mock");
    s.write_all(b"GET /__mock/requests HTTP/1.1\r\nhost: mock\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut raw).expect("read");
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let log: serde_json::Value = serde_json::from_slice(&raw[at..]).unwrap_or_default();
    let items = log
        .as_array()
        .cloned()
        .or_else(|| log.get("requests").and_then(|v| v.as_array()).cloned())
        .unwrap_or_default();
    items
        .into_iter()
        .rev()
        .find(|r| r["path"] == "/generateAssistantResponse")
        .expect("the gateway sent a chat request to the mock")
}

/// Without `--bench` the binary runs under `cargo test --all-targets`: no processes, no load,
/// only a check that the bodies it would send convert.
fn smoke_test() {
    let settings = TranslateSettings {
        payload_budget: request::DEFAULT_PAYLOAD_BUDGET,
        max_image_bytes: request::DEFAULT_MAX_IMAGE_BYTES,
        ..TranslateSettings::default()
    };
    let store = ResponseStore::new(1, Duration::from_secs(1));
    let directive = "[[mock:events 5 0]]";
    // Codex's body is its capture, 40 KB whatever the size asked.
    let bodies = [2, 20, 300, 600].map(|kb| (Client::ClaudeCode, kb));
    for (client, kb) in bodies.into_iter().chain([(Client::Codex, 40)]) {
        let body = client.body(kb, directive);
        assert!(
            (kb * 1000..kb * 1000 + 5_000).contains(&body.len()),
            "{client:?} {kb} KB body is {} bytes",
            body.len()
        );
        let prepared = pipeline::prepare(
            client.dialect(),
            &body,
            &RequestHints::default(),
            &settings,
            &store,
        )
        .unwrap_or_else(|e| panic!("{client:?} {kb} KB body: {e:?}"));
        assert!(prepared.stream);
        assert!(
            String::from_utf8_lossy(&prepared.kiro.body).contains(directive),
            "{client:?}: the directive reaches Kiro's request"
        );
    }
    // The success marker is seen wherever the reads split it, and only when it is there.
    let stream = b"data: {}\n\nevent: response.completed\ndata: {\"a\":1}\n\n";
    for cut in 0..=stream.len() {
        let mut marker = Marker::new(b"response.completed");
        marker.feed(&stream[..cut]);
        marker.feed(&stream[cut..]);
        assert!(marker.found(), "split at {cut}");
    }
    let mut marker = Marker::new(b"response.completed");
    stream.chunks(1).for_each(|byte| marker.feed(byte));
    assert!(marker.found());
    let mut marker = Marker::new(b"response.completed");
    marker.feed(b"event: response.complete");
    marker.feed(b"x response.\n");
    assert!(!marker.found());
    // The mock's stamp is read from an SSE text delta and from a raw Kiro frame alike.
    let sse =
        b"event: content_block_delta\ndata: {\"delta\":{\"text\":\"[[mock-service-ns:1500]]\"}}";
    assert_eq!(mock_service(sse), Some(Duration::from_nanos(1500)));
    let frame = kiro_edge::kiro::eventstream::encode_event(
        "assistantResponseEvent",
        br#"{"content":"[[mock-service-ns:42]]"}"#,
    );
    assert_eq!(mock_service(&frame), Some(Duration::from_nanos(42)));
    assert_eq!(mock_service(b"data: [[mock-service-ns:]]"), None);
    assert_eq!(mock_service(b"data: hello"), None);
    println!("load: bodies convert; run the load with `cargo bench --bench load -- --help`");
}

/// `--serve-relay UPSTREAM LISTEN THREADS`: this binary as the relay's process.
fn serve_relay_if_asked() {
    let argv: Vec<String> = std::env::args().collect();
    let Some(at) = argv.iter().position(|a| a == "--serve-relay") else {
        return;
    };
    let addr = |k: usize| argv.get(at + k).and_then(|v| v.parse::<SocketAddr>().ok());
    let threads = argv.get(at + 3).and_then(|v| v.parse::<usize>().ok());
    match (addr(1), addr(2), threads) {
        (Some(upstream), Some(listen), Some(threads)) => relay::serve(upstream, listen, threads),
        _ => {
            eprintln!("load: --serve-relay UPSTREAM LISTEN THREADS");
            std::process::exit(2);
        }
    }
}

/// The relay (see `support/relay.rs`) in front of `mock`, on the gateway's cores.
fn start_relay(mock: &Proc, args: &Args, cores: Option<&str>) -> Proc {
    let addr = free_addr();
    let exe = std::env::current_exe().expect("the harness's own path");
    let mut cmd = command(&exe, cores, &args.wrap);
    cmd.args(["--bench", "--serve-relay"]).args([
        mock.addr.to_string(),
        addr.to_string(),
        gateway_threads(args).to_string(),
    ]);
    let mut relay = spawn_listening(cmd, addr, "relay");
    relay.graceful = !args.wrap.is_empty();
    relay
}

/// The pairs whose overhead is reported: (target, baseline).
const OVERHEADS: [(&str, &str); 3] = [("gateway", "mock"), ("relay", "mock"), ("gateway", "relay")];

fn find<'a>(reports: &'a [Report], name: &str) -> Option<&'a Report> {
    reports.iter().find(|r| r.name == name)
}

fn cpu_per_request(r: &Report) -> f64 {
    r.cpu_s * 1e6 / r.ok.max(1) as f64
}

/// The median and range of one overhead figure over the rounds.
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(lo), Some(hi)) => {
            let median = (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0;
            format!("{median:.3} ({lo:.3}..{hi:.3})")
        }
        _ => "-".into(),
    }
}

/// `a` against `b` over all rounds: the median of the per-round figures, and their range.
fn print_overhead_medians(rounds: &[Vec<Report>], a: &str, b: &str) {
    let pairs: Vec<(&Report, &Report)> = rounds
        .iter()
        .filter_map(|r| Some((find(r, a)?, find(r, b)?)))
        .collect();
    if pairs.is_empty() {
        return;
    }
    let of = |f: fn(&Report, &Report) -> f64| spread(pairs.iter().map(|(a, b)| f(a, b)).collect());
    println!(
        "median of {} rounds, {a} vs {b}: req/s ×{}; ttfb p50 +{} ms, p99 +{} ms; per request, added p50 +{} ms, p99 +{} ms; CPU ×{}",
        pairs.len(),
        of(|a, b| a.rps / b.rps),
        of(|a, b| a.ttfb.0 - b.ttfb.0),
        of(|a, b| a.ttfb.1 - b.ttfb.1),
        of(|a, b| a.added.0 - b.added.0),
        of(|a, b| a.added.1 - b.added.1),
        of(|a, b| cpu_per_request(a) / cpu_per_request(b)),
    );
}

/// How `a` compares with the baseline `b`, as printed after the table.
fn print_overhead(a: &Report, b: &Report) {
    let (a_cpu, b_cpu) = (cpu_per_request(a), cpu_per_request(b));
    println!(
        "overhead {} vs {}: req/s ×{:.3}; ttfb p50 +{:.2} ms, p99 +{:.2} ms; per request, added p50 +{:.2} ms, p99 +{:.2} ms; first event p99 +{:.2} ms; total p50 ×{:.2}, p99 ×{:.2}; CPU {:.0} µs/req = ×{:.2} the {}'s",
        a.name,
        b.name,
        a.rps / b.rps,
        a.ttfb.0 - b.ttfb.0,
        a.ttfb.1 - b.ttfb.1,
        a.added.0 - b.added.0,
        a.added.1 - b.added.1,
        a.first.1 - b.first.1,
        a.total.0 / b.total.0,
        a.total.1 / b.total.1,
        a_cpu,
        a_cpu / b_cpu,
        b.name,
    );
}

fn main() {
    serve_relay_if_asked();
    if !std::env::args().any(|a| a == "--bench") {
        smoke_test();
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (gw_cores, other_cores) = match args.pin_core {
        Some(k) => {
            let others: Vec<String> = (0..cores)
                .filter(|&c| c != k)
                .map(|c| c.to_string())
                .collect();
            (Some(k.to_string()), Some(others.join(",")))
        }
        None => (None, None),
    };
    if let Some(others) = &other_cores {
        pin_self(others);
    }
    let gw_bin = release_binary("kiro-edge");
    let mock_bin = release_binary("kiro-mock");
    let dir = TempDir(std::env::temp_dir().join(format!("kiro-edge-load-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");

    let directive = if args.events > 0 {
        format!("[[mock:events {} {}]]", args.events, args.gap_ms)
    } else {
        String::new()
    };
    let client_body = args.client.body(args.body_kb, &directive);

    let mock = start_mock(&mock_bin, other_cores.as_deref());
    let gw = start_gateway(&gw_bin, &mock, &dir.0, &args, gw_cores.as_deref());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if args.pin_core.is_some() {
            (cores - 1).max(1)
        } else {
            cores
        })
        .enable_all()
        .build()
        .expect("tokio runtime");

    let gw_req = || args.client.request(&client_body);

    // Warm up: the first request refreshes the account's token; the mock's log then shows the
    // exact headers the gateway sends upstream.
    let warm = Args {
        clients: args.clients.min(args.warmup).max(1),
        requests: args.warmup.max(1),
        ramp: Some(Duration::ZERO),
        ..args.clone()
    };
    let run = rt.block_on(run_load(gw.addr, Arc::new(gw_req()), &warm));
    if !run.outcome.failures.is_empty() {
        eprintln!(
            "load: warm-up through the gateway failed: {}; see {}/gateway.log",
            error_kinds(&run.outcome.failures),
            dir.0.display()
        );
        // `exit` runs no destructors: stop the processes here, and leave the log to be read.
        drop(gw);
        drop(mock);
        std::process::exit(1);
    }
    let record = last_chat_record(mock.addr);

    // The baseline request: what the gateway sends, built by the same library code.
    let settings = TranslateSettings {
        payload_budget: request::DEFAULT_PAYLOAD_BUDGET,
        max_image_bytes: request::DEFAULT_MAX_IMAGE_BYTES,
        ..TranslateSettings::default()
    };
    let prepared = pipeline::prepare(
        args.client.dialect(),
        &client_body,
        &RequestHints::default(),
        &settings,
        &ResponseStore::new(1, Duration::from_secs(1)),
    )
    .expect("the bench body converts");
    let kiro_body = with_profile_arn(&prepared.kiro.body, Some(PROFILE_ARN));
    if record["body_len"].as_u64() != Some(kiro_body.len() as u64) {
        eprintln!(
            "load: warning: the gateway sent {} body bytes upstream, the baseline sends {}",
            record["body_len"],
            kiro_body.len()
        );
    }
    let mut mock_headers: Vec<(String, String)> = Vec::new();
    if let Some(headers) = record["headers"].as_object() {
        for (k, v) in headers {
            if ["host", "content-length", "authorization"].contains(&k.as_str()) {
                continue;
            }
            mock_headers.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
        }
    }
    mock_headers.push(("authorization".into(), format!("Bearer {MOCK_TOKEN}")));
    let mock_req = || Request {
        bytes: http_request("/generateAssistantResponse", &mock_headers, &kiro_body),
        expect: b"",
    };

    println!(
        "load: {:?} C={} N={} body={} B (Kiro body {} B) events={} gap={}ms ramp={}ms pinned={} gateway pid {}",
        args.client,
        args.clients,
        args.requests,
        client_body.len(),
        kiro_body.len(),
        args.events,
        args.gap_ms,
        args.ramp.unwrap_or_default().as_millis(),
        gw_cores.as_deref().unwrap_or("no"),
        gw.pid()
    );
    print_header();
    let wants = |t: &str| {
        args.target == t || args.target == "all" || (args.target == "both" && t != "relay")
    };
    // Started after the gateway's first run, as a single run always did.
    let mut relay = None;
    // Rounds alternate the targets, so that a drift of the machine's load (shared hosts drift
    // by 10-30 % over minutes) falls on each of them alike; overheads are taken within a round.
    let mut rounds: Vec<Vec<Report>> = Vec::new();
    for round in 0..args.rounds {
        let mut reports = Vec::new();
        // Only the first round is profiled.
        let perf = args.perf.as_deref().filter(|_| round == 0);
        let mut run = |name, target: &Proc, req: Request, perf: Option<&Path>| {
            let target = Target {
                name,
                addr: target.addr,
                pid: target.pid(),
            };
            let r = measure(&rt, target, req, &args, mock.pid(), perf);
            print_report(&r);
            reports.push(r);
        };
        if wants("gateway") {
            run("gateway", &gw, gw_req(), perf);
        }
        if wants("relay") {
            let relay = relay.get_or_insert_with(|| start_relay(&mock, &args, gw_cores.as_deref()));
            let perf = perf.map(|file| file.with_extension("relay.data"));
            run("relay", relay, mock_req(), perf.as_deref());
        }
        if wants("mock") {
            run("mock", &mock, mock_req(), None);
        }
        for (a, b) in OVERHEADS {
            if let (Some(a), Some(b)) = (find(&reports, a), find(&reports, b)) {
                print_overhead(a, b);
            }
        }
        rounds.push(reports);
    }
    if rounds.len() > 1 {
        for (a, b) in OVERHEADS {
            print_overhead_medians(&rounds, a, b);
        }
    }
    let reports: Vec<&Report> = rounds.iter().flatten().collect();
    for r in reports {
        println!("RESULT {}", report_json(&args, client_body.len(), r));
    }
}
