//! Credentials and tokens through the real binaries: refresh ahead of expiry by the background
//! service, single-flight lazy refresh under load, and atomic writeback of rotated tokens.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn refreshes(mock: &Proc) -> u64 {
    let stats = http(mock.addr, "GET", "/__mock/stats", &[], b"").json();
    stats["refreshes"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

fn stored(gw: &Gateway) -> Value {
    serde_json::from_slice(&std::fs::read(gw.credentials_path()).unwrap()).unwrap()
}

#[test]
fn the_background_service_refreshes_ahead_of_expiry_and_writes_back() {
    let mock = start_mock(&["--rotate"]);
    // Valid for five more minutes: inside the 15-minute refresh-ahead margin.
    let cred = social_credential("ahead", -300);
    let old_refresh = cred["refreshToken"].as_str().unwrap().to_string();
    let gw = start_gateway(&mock, &json!([cred]), "");
    let deadline = Instant::now() + Duration::from_secs(10);
    while refreshes(&mock) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(refreshes(&mock), 1, "refreshed without any request");
    // The rotated refresh token reaches the file (atomically: always parseable).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let file = stored(&gw);
        let entry = &file[0];
        if entry["refreshToken"] != old_refresh.as_str() {
            assert!(entry["refreshToken"]
                .as_str()
                .unwrap()
                .starts_with("mock-rt-"));
            assert_ne!(entry["accessToken"], "stale-ahead");
            assert_eq!(entry["id"], "ahead", "other fields are kept");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rotated token never written back: {file}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(gw.credentials_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // And the new token works.
    let resp = post_json(
        &gw,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 9,
        "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(refreshes(&mock), 1);
}

#[test]
fn a_hundred_concurrent_requests_on_an_expired_token_refresh_once() {
    let mock = start_mock(&["--rotate", "--pace-ms", "1"]);
    let gw = start_gateway(&mock, &json!([social_credential("burst", 60)]), "");
    // The burst starts at once, racing the background service's start-up sweep: whoever
    // refreshes, the others must wait for that one refresh instead of starting their own.
    let statuses = burst(
        gw.proc.addr,
        100,
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 9,
                "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        refreshes(&mock),
        1,
        "exactly one refresh for the whole burst"
    );
}

#[test]
fn an_invalid_refresh_token_is_reported_not_retried_forever() {
    let mock = start_mock(&[]);
    let mut cred = social_credential("dead", 60);
    cred["refreshToken"] = json!(format!("mock-rt-invalid-{}", "x".repeat(120)));
    let gw = start_gateway(&mock, &json!([cred]), "");
    let resp = post_json(
        &gw,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 9,
        "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "overloaded_error");
    let health = http(gw.proc.addr, "GET", "/health", &[], b"").json();
    assert_eq!(health["status"], "degraded", "{health}");
    let text = health.to_string();
    assert!(!text.contains("mock-rt-"), "no secrets: {text}");
}

#[test]
fn the_credentials_file_survives_kill_9_during_refresh_writebacks() {
    // 40 expired accounts: the background service refreshes them one after another at start,
    // writing the file back after each; the gateway is killed at moments spread over that.
    let mock = start_mock(&["--rotate"]);
    let creds: Vec<Value> = (0..40)
        .map(|i| social_credential(&format!("k{i}"), 60))
        .collect();
    let gw = start_gateway(&mock, &Value::Array(creds), "");
    let conf = gw.dir.path().join("kiro-edge.yaml");
    let path = gw.credentials_path();
    let mut proc = gw.proc;
    for round in 0..6u64 {
        std::thread::sleep(Duration::from_millis(150 + round * 370));
        let _ = proc.child.kill(); // SIGKILL
        let _ = proc.child.wait();
        let file: Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| {
                panic!("round {round}: the file is not valid JSON after kill -9: {e}")
            });
        let entries = file.as_array().expect("still an array");
        assert_eq!(entries.len(), 40, "round {round}: no entry lost");
        assert!(entries.iter().all(|e| e["refreshToken"]
            .as_str()
            .is_some_and(|t| t.starts_with("mock-rt-"))));
        // The same file loads again.
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kiro-edge"))
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        proc = Proc {
            child,
            addr: proc.addr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(proc.addr).is_err() {
            assert!(Instant::now() < deadline, "round {round}: restart failed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(refreshes(&mock) > 0);
}
