//! Operating the gateway: the metrics listener, the access log, `-t` configuration checks and
//! a graceful stop that lets streams finish.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

fn chat(stream: bool, text: &str) -> serde_json::Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": stream,
           "messages": [{"role": "user", "content": text}]})
}

#[test]
fn metrics_cover_the_traffic_and_leak_no_secret() {
    let mock = start_mock(&["--pace-ms", "1"]);
    let metrics_port = free_port();
    let gw = start_gateway(
        &mock,
        &json!([social_credential("metered", 3600)]),
        &format!("  metrics_listen: 127.0.0.1:{metrics_port}\n"),
    );
    assert_eq!(
        post_json(&gw, "/v1/messages", &chat(true, "one")).status,
        200
    );
    assert_eq!(
        post_json(&gw, "/v1/messages", &chat(false, "two")).status,
        200
    );
    mock_faults(mock.addr, &json!(["500"]));
    assert_eq!(
        post_json(&gw, "/v1/messages", &chat(false, "three")).status,
        200
    );
    let bad = http(
        gw.proc.addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", "nope")],
        b"{}",
    );
    assert_eq!(bad.status, 401);

    let addr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    // A request is counted in the logging hook, which runs after the client has the whole
    // response: scrape until the last one has been counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let scrape = http(addr, "GET", "/metrics", &[], b"");
        assert_eq!(scrape.status, 200);
        let text = scrape.text();
        if text.contains("kiro_edge_active_requests 0") || Instant::now() >= deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for family in [
        "kiro_edge_requests_total",
        "kiro_edge_upstream_attempts_total",
        "kiro_edge_retries_total",
        "kiro_edge_failovers_total",
        "kiro_edge_time_to_first_byte_seconds_bucket",
        "kiro_edge_request_duration_seconds_bucket",
        "kiro_edge_tokens_total",
        "kiro_edge_active_requests",
        "kiro_edge_active_streams",
        "kiro_edge_response_bytes_total",
        "kiro_edge_open_connections",
        "kiro_edge_token_refreshes_total",
        "kiro_edge_account_state",
        "kiro_edge_account_token_expires_in_seconds",
        "kiro_edge_account_in_flight_requests",
        "kiro_edge_account_cooldown_remaining_seconds",
    ] {
        assert!(text.contains(family), "missing {family} in:\n{text}");
    }
    assert!(
        text.contains(r#"kiro_edge_requests_total{dialect="anthropic",model="claude-sonnet-4.5",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kiro_edge_upstream_attempts_total{outcome="server_error"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kiro_edge_account_state{account="metered",state="active"} 1"#),
        "{text}"
    );
    assert!(text.contains("kiro_edge_retries_total 1"), "{text}");

    // Nothing secret: not the client key, nor any token the mock saw.
    assert!(!text.contains(API_KEY));
    for r in mock_requests(mock.addr) {
        if let Some(bearer) = r["bearer"].as_str() {
            assert!(
                !text.contains(bearer),
                "a bearer token leaked into /metrics"
            );
        }
    }
    assert!(!text.contains("mock-rt-"));

    // One access line per request, with the facts and without the key.
    let log = std::fs::read_to_string(gw.dir.path().join("gateway.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" access] ")).collect();
    assert!(lines.len() >= 4, "{log}");
    let line = lines.iter().find(|l| l.contains("stream=true")).unwrap();
    // env_logger's line layout, uncoloured in a file: `[<RFC 3339 time> INFO  access] id=…`.
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");
    let (time, rest) = line
        .strip_prefix('[')
        .and_then(|l| l.split_once(' '))
        .unwrap_or_else(|| panic!("not env_logger's layout: {line}"));
    assert!(time.ends_with('Z') && time.contains('T'), "{line}");
    assert!(rest.starts_with("INFO  access] id="), "{line}");
    for field in [
        "id=",
        "dialect=anthropic",
        "kiro_model=claude-sonnet-4.5",
        "status=200",
        "attempts=1",
        "account=",
        "ttfb_ms=",
        "ms=",
        "tokens_in=",
        "tokens_out=",
        "error=-",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(!log.contains(API_KEY), "the API key must not be logged");
}

fn check_config(yaml: &str, credentials: Option<&str>) -> (bool, String) {
    let dir = TempDir::new("conf");
    let creds = dir.path().join("credentials.json");
    std::fs::write(
        &creds,
        credentials
            .unwrap_or(&serde_json::to_string(&json!([social_credential("t", 3600)])).unwrap()),
    )
    .unwrap();
    let conf = dir.path().join("kiro-edge.yaml");
    std::fs::write(
        &conf,
        format!(
            "version: 1\npid_file: {d}/p.pid\nupgrade_sock: {d}/u.sock\n{yaml}\n",
            d = dir.path().display()
        )
        .replace("CREDS", &creds.display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiro-edge"))
        .args(["-t", "-c"])
        .arg(&conf)
        .env_remove("KIRO_EDGE_API_KEYS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn dash_t_validates_both_sections_precisely() {
    let good = "kiro_edge:\n  credentials_file: CREDS\n  discover_local_login: false\n";
    let (ok, text) = check_config(good, None);
    assert!(ok, "{text}");
    assert!(text.contains("configuration OK (1 account(s)"), "{text}");

    let (ok, text) = check_config(
        "kiro_edge:\n  credentials_file: CREDS\n  retry:\n    max_attempts: 0\n",
        None,
    );
    assert!(!ok);
    assert!(
        text.contains("kiro-edge.yaml") && text.contains("kiro_edge.retry.max_attempts"),
        "{text}"
    );

    let (ok, text) = check_config("kiro_edge:\n  credentials_file: CREDS\n  lisen: x\n", None);
    assert!(!ok);
    assert!(text.contains("unknown field `lisen`"), "{text}");

    let (ok, text) = check_config(
        "kiro_edge:\n  listen: 0.0.0.0:8080\n  credentials_file: CREDS\n",
        None,
    );
    assert!(!ok, "a public listener without API keys is refused");
    assert!(text.contains("kiro_edge.api_keys"), "{text}");

    let (ok, text) = check_config(
        "threads: many\nkiro_edge:\n  credentials_file: CREDS\n  discover_local_login: false\n",
        None,
    );
    assert!(!ok, "Pingora's own section is checked too: {text}");

    let (ok, text) = check_config(good, Some("{\"refreshToken\": "));
    assert!(!ok);
    assert!(
        text.contains("credentials.json"),
        "the broken file is named: {text}"
    );
}

#[test]
fn sigterm_lets_open_streams_finish_then_exits() {
    let mock = start_mock(&[]);
    let mut gw = start_gateway(&mock, &json!([social_credential("stop", 3600)]), "");
    let addr = gw.proc.addr;
    let stream = std::thread::spawn(move || {
        let body = serde_json::to_vec(&chat(true, "slow [[mock:events 20 150]]")).unwrap();
        http(
            addr,
            "POST",
            "/v1/messages",
            &[("x-api-key", API_KEY)],
            &body,
        )
    });
    std::thread::sleep(Duration::from_millis(800));
    let pid = gw.proc.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let resp = stream.join().unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        resp.text()
            .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{}",
        resp.text()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = gw.proc.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn memory_is_given_back_once_idle() {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), "");
    let pid = gw.proc.child.id();
    assert_eq!(
        post_json(&gw, "/v1/messages", &chat(true, "warm up")).status,
        200
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (before, _) = rss_kb(pid);

    // 40 long conversations at once: each holds its body and its conversion for a while.
    let big = chat(true, &"long conversation ".repeat(25_000));
    assert!(burst(gw.proc.addr, 40, &big).iter().all(|s| *s == 200));
    let (_, peak) = rss_kb(pid);
    let grown = peak.saturating_sub(before);
    assert!(
        grown > 10_000,
        "the burst should need memory: {before} → {peak} KB"
    );

    // Idle for a moment: the pooled buffers and the heap's free pages go back to the OS.
    std::thread::sleep(Duration::from_millis(2000));
    let (after, _) = rss_kb(pid);
    assert!(
        after < before + grown / 3,
        "idle RSS {after} KB; before the burst {before} KB, peak {peak} KB"
    );
}
