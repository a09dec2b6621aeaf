//! Zero-downtime upgrade under streaming load.
//!
//! N clients keep streaming requests going (each stream lasts a few seconds) over keep-alive
//! connections. They are strict: a request that fails is never resent, and a connection is only
//! given up when the server said `Connection: close`. Meanwhile the test performs Pingora's
//! graceful upgrade several times: start a new process with `-u`, then SIGQUIT the old one,
//! which hands its sockets over, finishes its streams and exits.
//!
//! The bar: no failed request, no cut stream, and every old process exits by itself.
//! `KIRO_EDGE_UPGRADE_CLIENTS` and `KIRO_EDGE_UPGRADE_ROUNDS` change the load (defaults 200, 3).

mod common;

use common::*;
use serde_json::json;
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cut: AtomicU64,
    reconnects: AtomicU64,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One strict keep-alive client: streams until `stop`, tallying every request.
fn client(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let body = serde_json::to_vec(&json!({
        "model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": "stream [[mock:events 25 120]]"}],
    }))
    .unwrap();
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut stream = match conn.take() {
            Some(s) => s,
            None => match TcpStream::connect(addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
                    s
                }
                Err(_) => {
                    // Refused connections are failures too: the listener must never be closed.
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        tally.started.fetch_add(1, Ordering::Relaxed);
        send_request(
            &mut stream,
            "POST",
            "/v1/messages",
            &[("x-api-key", API_KEY)],
            &body,
        );
        let reader = stream.try_clone().unwrap();
        let outcome = std::panic::catch_unwind(move || {
            let mut r = BufReader::new(reader);
            read_response(&mut r, false)
        });
        match outcome {
            Ok(resp)
                if resp.status == 200
                    && resp.text().ends_with(
                        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                    ) =>
            {
                tally.completed.fetch_add(1, Ordering::Relaxed);
                if resp
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                {
                    tally.reconnects.fetch_add(1, Ordering::Relaxed);
                } else {
                    conn = Some(stream);
                }
            }
            Ok(resp) if resp.status == 200 => {
                eprintln!("cut stream: {:?}", resp.text().lines().last());
                tally.cut.fetch_add(1, Ordering::Relaxed);
            }
            Ok(resp) => {
                eprintln!("failed: {} {}", resp.status, resp.text());
                tally.failed.fetch_add(1, Ordering::Relaxed);
            }
            // No status line (EOF before any byte) or a body cut mid-chunk.
            Err(_) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn spawn_gateway(conf: &std::path::Path, upgrade: bool, log: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiro-edge"));
    if upgrade {
        cmd.arg("-u");
    }
    cmd.arg("-c")
        .arg(conf)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn kiro-edge")
}

fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn upgrades_under_streaming_load_lose_nothing() {
    let clients = env_or("KIRO_EDGE_UPGRADE_CLIENTS", 200);
    let rounds = env_or("KIRO_EDGE_UPGRADE_ROUNDS", 3);
    let mock = start_mock(&["--fast"]);
    let first = start_gateway(
        &mock,
        &serde_json::json!([social_credential("up", 3600)]),
        "",
    );
    let addr = first.proc.addr;
    let conf = first.dir.path().join("kiro-edge.yaml");
    let dir = first.dir.path().to_path_buf();

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, tally) = (stop.clone(), tally.clone());
            std::thread::spawn(move || client(addr, stop, tally))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));

    // The first gateway is owned by the harness; later ones by this test.
    let mut old_pid = first.proc.child.id();
    let mut first = Some(first);
    let mut spawned: Vec<Child> = Vec::new();
    let mut old_exited = 0;
    for round in 0..rounds {
        let mut new = spawn_gateway(&conf, true, &dir.join(format!("upgrade-{round}.log")));
        std::thread::sleep(Duration::from_millis(800));
        let quit = Command::new("kill")
            .args(["-QUIT", &old_pid.to_string()])
            .status()
            .unwrap();
        assert!(quit.success());
        // The old process keeps accepting for 5 s, then drains its streams and exits.
        let exited = match (round, first.as_mut()) {
            (0, Some(gw)) => wait_exit(&mut gw.proc.child, Duration::from_secs(40)),
            _ => wait_exit(spawned.last_mut().unwrap(), Duration::from_secs(40)),
        };
        if exited {
            old_exited += 1;
        }
        assert!(
            new.try_wait().unwrap().is_none(),
            "the new process is running"
        );
        old_pid = new.id();
        spawned.push(new);
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    for mut child in spawned {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(first);

    let t = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "upgrade report: clients={clients} rounds={rounds} old_processes_exited={old_exited} started={} completed={} failed={} cut={} reconnects_after_connection_close={}",
        t(&tally.started),
        t(&tally.completed),
        t(&tally.failed),
        t(&tally.cut),
        t(&tally.reconnects),
    );
    assert_eq!(t(&tally.failed), 0, "no request may fail");
    assert_eq!(t(&tally.cut), 0, "no stream may be cut");
    assert!(t(&tally.completed) >= clients as u64 * 2);
    assert_eq!(
        old_exited, rounds,
        "every old process drained and exited by itself"
    );
}
