//! The account pool through the real binaries: strategies, session stickiness, the failure
//! policy per error class, cool-down expiry, pacing, and what `/health` shows.
//!
//! Every account gets a static access token the mock always accepts (`tok-<name>`), valid for
//! hours, so no refresh happens and the mock's request log says which account served each
//! request (its `bearer`). Faults are queued per bearer to script one account's behaviour.
//!
//! Tests marked `needs proxy wiring` depend on the `pool:` YAML section and on the proxy calling
//! `plan_for` / `acquire` / `report` / `pin`; the pool itself is unit-tested in
//! `src/accounts/pool.rs`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const ARN: &str = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";

/// A social account whose access token `tok-<name>` the mock accepts for hours.
fn account(name: &str) -> Value {
    json!({
        "id": name,
        "authMethod": "social",
        "refreshToken": format!("mock-rt-{name}-{}", "x".repeat(120)),
        "accessToken": bearer(name),
        "expiresAt": chrono_like_rfc3339(10 * 3600),
        "profileArn": ARN,
    })
}

fn bearer(name: &str) -> String {
    format!("tok-{name}")
}

/// A mock that accepts the static tokens of `names`.
fn mock_for(names: &[&str], extra: &[&str]) -> Proc {
    let tokens: Vec<String> = names.iter().map(|n| bearer(n)).collect();
    let mut args: Vec<&str> = Vec::new();
    for t in &tokens {
        args.extend(["--accept-token", t.as_str()]);
    }
    args.extend_from_slice(extra);
    start_mock(&args)
}

/// `pool:` settings under `kiro_edge:`; quota polling off so no test calls the real hosts.
fn pool_yaml(lines: &[&str]) -> String {
    let mut out = String::from("  pool:\n    usage_poll_interval_secs: 0\n");
    for line in lines {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ask(text: &str) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
           "messages": [{"role": "user", "content": text}]})
}

/// A Claude Code style request of `session`: the session in `metadata.user_id` and the header.
fn ask_in_session(gw: &Gateway, session: &str, turn: usize) -> Response {
    let body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 16,
        "metadata": {"user_id": format!("user_abc_account__session_{session}")},
        "messages": [{"role": "user", "content": format!("turn {turn}")}],
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    http(
        gw.proc.addr,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", API_KEY),
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
            ("x-claude-code-session-id", session),
        ],
        &bytes,
    )
}

fn send(gw: &Gateway, text: &str) -> Response {
    post_json(gw, "/v1/messages", &ask(text))
}

/// The bearers of the chat requests the mock answered with a 200, in order.
fn served(mock: &Proc) -> Vec<String> {
    mock_requests(mock.addr)
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/generateAssistantResponse"))
                && r["status"] == 200
        })
        .filter_map(|r| r["bearer"].as_str().map(str::to_owned))
        .collect()
}

/// Every chat attempt the mock saw: (bearer, status).
fn attempts(mock: &Proc) -> Vec<(String, u64)> {
    mock_requests(mock.addr)
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/generateAssistantResponse"))
        })
        .map(|r| {
            (
                r["bearer"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn clear_log(mock: &Proc) {
    let r = http(mock.addr, "DELETE", "/__mock/requests", &[], b"");
    assert!(r.status < 300, "{}", r.text());
}

fn counts(bearers: &[String]) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for b in bearers {
        *map.entry(b.clone()).or_insert(0) += 1;
    }
    map
}

fn health(gw: &Gateway) -> Value {
    let r = http(gw.proc.addr, "GET", "/health", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The `/health` entry of the account named `name`.
fn account_health(gw: &Gateway, name: &str) -> Value {
    let h = health(gw);
    h["accounts"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no account {name} in {h}"))
}

fn faults_for(mock: &Proc, name: &str, faults: &[&str]) {
    mock_faults(
        mock.addr,
        &json!({"bearer": bearer(name), "faults": faults}),
    );
}

fn run(gw: &Gateway, n: usize) {
    for i in 0..n {
        let r = send(gw, &format!("request {i}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
}

/// `n` requests spread over three accounts land `n / 3` each, within `tolerance` (a fraction).
fn assert_even(mock: &Proc, n: usize, tolerance: f64) {
    let c = counts(&served(mock));
    for name in ["a", "b", "c"] {
        let got = c.get(&bearer(name)).copied().unwrap_or(0) as f64;
        let want = n as f64 / 3.0;
        assert!(
            (got - want).abs() <= want * tolerance,
            "{name}: {got} of {n}, want {want} ± {}%: {c:?}",
            tolerance * 100.0
        );
    }
}

#[test]
fn priority_keeps_every_request_on_the_first_account() {
    let mock = mock_for(&["a", "b", "c"], &["--fast"]);
    let mut creds = json!([account("a"), account("b"), account("c")]);
    creds[0]["priority"] = json!(5);
    let gw = start_gateway(&mock, &creds, "");
    run(&gw, 30);
    assert_eq!(counts(&served(&mock)), HashMap::from([(bearer("b"), 30)]));
}

#[test]
fn round_robin_spreads_300_requests_evenly() {
    let mock = mock_for(&["a", "b", "c"], &["--fast"]);
    let creds = json!([account("a"), account("b"), account("c")]);
    let gw = start_gateway(&mock, &creds, &pool_yaml(&["strategy: round-robin"]));
    run(&gw, 300);
    assert_even(&mock, 300, 0.05);
}

#[test]
fn round_robin_follows_the_weights() {
    let mock = mock_for(&["a", "b", "c"], &["--fast"]);
    let mut creds = json!([account("a"), account("b"), account("c")]);
    creds[0]["weight"] = json!(3);
    creds[2]["weight"] = json!(2);
    let gw = start_gateway(&mock, &creds, &pool_yaml(&["strategy: round-robin"]));
    run(&gw, 300);
    let c = counts(&served(&mock));
    assert_eq!(c.get(&bearer("a")), Some(&150), "{c:?}");
    assert_eq!(c.get(&bearer("b")), Some(&50), "{c:?}");
    assert_eq!(c.get(&bearer("c")), Some(&100), "{c:?}");
}

#[test]
fn balanced_spreads_300_requests_evenly() {
    let mock = mock_for(&["a", "b", "c"], &["--fast"]);
    let creds = json!([account("a"), account("b"), account("c")]);
    let gw = start_gateway(&mock, &creds, &pool_yaml(&["strategy: balanced"]));
    run(&gw, 300);
    assert_even(&mock, 300, 0.10);
}

#[test]
fn a_sticky_session_stays_for_20_turns_and_moves_exactly_once() {
    let mock = mock_for(&["a", "b", "c"], &["--fast"]);
    let creds = json!([account("a"), account("b"), account("c")]);
    // Round-robin would move every request: only the pin keeps the session in place.
    let gw = start_gateway(&mock, &creds, &pool_yaml(&["strategy: round-robin"]));
    for turn in 0..20 {
        let r = ask_in_session(&gw, "s-1", turn);
        assert_eq!(r.status, 200, "{}", r.text());
        // Another session's traffic in between moves the rotation.
        assert_eq!(ask_in_session(&gw, &format!("other-{turn}"), 0).status, 200);
    }
    // Requests are sequential, so the session's turns are every other entry of the log.
    let log = served(&mock);
    let pinned: Vec<&String> = log.iter().step_by(2).collect();
    assert_eq!(pinned.len(), 20);
    let home = pinned[0].clone();
    assert!(pinned.iter().all(|b| **b == home), "{pinned:?}");

    // The pinned account starts failing: the session moves once and stays on its new account.
    let name = home.trim_start_matches("tok-").to_string();
    faults_for(&mock, &name, &["429-suspicious"; 10]);
    clear_log(&mock);
    for turn in 20..40 {
        let r = ask_in_session(&gw, "s-1", turn);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let after = served(&mock);
    assert_eq!(after.len(), 20);
    let new_home = after[0].clone();
    assert_ne!(new_home, home);
    assert!(
        after.iter().all(|b| *b == new_home),
        "moved once: {after:?}"
    );
}

#[test]
fn a_single_429_is_retried_on_the_same_account() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    let gw = start_gateway(&mock, &json!([account("a"), account("b")]), "");
    faults_for(&mock, "a", &["429"]);
    let r = send(&gw, "hi");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        attempts(&mock),
        vec![(bearer("a"), 429), (bearer("a"), 200)],
        "retried on the same account"
    );
    assert_eq!(account_health(&gw, "a")["state"], "active");
}

#[test]
fn two_429s_in_a_row_cool_the_account_down_and_it_returns() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    let gw = start_gateway(
        &mock,
        &json!([account("a"), account("b")]),
        &pool_yaml(&["throttle_cooldown_secs: 2"]),
    );
    faults_for(&mock, "a", &["429", "429"]);
    let r = send(&gw, "hi");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        attempts(&mock),
        vec![(bearer("a"), 429), (bearer("a"), 429), (bearer("b"), 200)]
    );
    let a = account_health(&gw, "a");
    assert_eq!(a["state"], "cooling", "{a}");
    assert!(a["cooldown_secs_left"].as_u64().unwrap() <= 2, "{a}");
    assert!(a["cooldown_until"].as_str().unwrap().ends_with('Z'), "{a}");
    // While it cools, requests go to b.
    clear_log(&mock);
    run(&gw, 3);
    assert_eq!(served(&mock), vec![bearer("b"); 3]);
    // The cool-down ends by itself.
    std::thread::sleep(Duration::from_millis(2_200));
    assert_eq!(account_health(&gw, "a")["state"], "active");
    // A new conversation goes to `a` again (the ones above stay pinned to `b`).
    clear_log(&mock);
    assert_eq!(send(&gw, "a new conversation").status, 200);
    assert_eq!(served(&mock), vec![bearer("a")]);
}

#[test]
fn suspicious_activity_cools_the_account_down_for_long() {
    // One account: the last attempt's body is read and classified.
    let mock = mock_for(&["a"], &["--fast"]);
    let gw = start_gateway(&mock, &json!([account("a")]), &pool_yaml(&[]));
    faults_for(&mock, "a", &["429-suspicious"; 5]);
    let r = send(&gw, "hi");
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    let a = account_health(&gw, "a");
    assert_eq!(a["state"], "cooling", "{a}");
    assert!(a["cooldown_secs_left"].as_u64().unwrap() > 25 * 60, "{a}");
    assert!(a["reason"].as_str().unwrap().contains("suspicious"), "{a}");
    // A fully cooled pool answers at once with retry-after, without calling Kiro.
    clear_log(&mock);
    let r = send(&gw, "again");
    assert!(matches!(r.status, 429 | 503), "{}", r.text());
    let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 25 * 60, "{retry_after}");
    assert!(attempts(&mock).is_empty());
}

#[test]
fn quota_402_exhausts_the_account_and_fails_over() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    let gw = start_gateway(&mock, &json!([account("a"), account("b")]), &pool_yaml(&[]));
    faults_for(&mock, "a", &["402"]);
    let r = send(&gw, "hi");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        attempts(&mock),
        vec![(bearer("a"), 402), (bearer("b"), 200)]
    );
    let a = account_health(&gw, "a");
    assert_eq!(a["state"], "exhausted", "{a}");
    assert!(a["cooldown_until"].is_string(), "{a}");
    clear_log(&mock);
    run(&gw, 3);
    assert_eq!(served(&mock), vec![bearer("b"); 3]);
}

#[test]
fn a_suspended_account_is_disabled_with_the_reason() {
    // One account, so the last attempt's body is classified. The 403 first forces one
    // refresh (a new bearer), hence the faults are queued globally.
    let mock = mock_for(&["a"], &["--fast"]);
    let gw = start_gateway(&mock, &json!([account("a")]), &pool_yaml(&[]));
    mock_faults(
        mock.addr,
        &json!(["403-suspended", "403-suspended", "403-suspended"]),
    );
    let r = send(&gw, "hi");
    assert!(matches!(r.status, 403 | 503), "{}", r.text());
    let a = account_health(&gw, "a");
    assert_eq!(a["state"], "disabled", "{a}");
    assert!(a["reason"].as_str().unwrap().contains("suspended"), "{a}");
    assert_eq!(health(&gw)["status"], "degraded");
}

#[test]
fn server_errors_fail_over_without_penalty() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    let gw = start_gateway(&mock, &json!([account("a"), account("b")]), "");
    faults_for(&mock, "a", &["503"]);
    let r = send(&gw, "hi");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        attempts(&mock),
        vec![(bearer("a"), 503), (bearer("b"), 200)]
    );
    let a = account_health(&gw, "a");
    assert_eq!(a["state"], "active", "{a}");
    // a is still first in line.
    clear_log(&mock);
    run(&gw, 2);
    assert_eq!(served(&mock), vec![bearer("a"); 2]);
}

#[test]
fn allowed_models_and_disabled_accounts_are_skipped() {
    let mock = mock_for(&["a", "b", "c"], &["--fast"]);
    let mut creds = json!([account("a"), account("b"), account("c")]);
    creds[0]["allowedModels"] = json!(["claude-haiku-*"]);
    creds[1]["disabled"] = json!(true);
    let gw = start_gateway(&mock, &creds, "");
    run(&gw, 3);
    assert_eq!(served(&mock), vec![bearer("c"); 3]);
    let r = post_json(
        &gw,
        "/v1/messages",
        &json!({"model": "claude-haiku-4-5", "max_tokens": 16,
                "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(served(&mock).last(), Some(&bearer("a")));
    assert_eq!(account_health(&gw, "b")["state"], "disabled");
}

#[test]
fn min_interval_spaces_a_burst() {
    let mock = mock_for(&["a"], &["--fast"]);
    let mut creds = json!([account("a")]);
    creds[0]["minIntervalMs"] = json!(300);
    let gw = start_gateway(&mock, &creds, &pool_yaml(&["max_pacing_wait_ms: 3000"]));
    assert_eq!(burst(gw.proc.addr, 5, &ask("burst")), vec![200; 5]);
    let mut times: Vec<u64> = mock_requests(mock.addr)
        .into_iter()
        .filter(|r| r["status"] == 200)
        .filter_map(|r| r["time_ms"].as_u64())
        .collect();
    times.sort_unstable();
    assert_eq!(times.len(), 5);
    // Pacing spaces the starts at the gateway; where the mock sees them adds a little jitter
    // on a loaded machine, so allow some per gap but none over the whole burst.
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= 240, "starts too close: {times:?}");
    }
    assert!(
        times[4] - times[0] >= 4 * 300 - 40,
        "burst too short: {times:?}"
    );
}

#[test]
fn max_concurrent_holds_and_overflow_moves_to_another_account() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    let mut creds = json!([account("a"), account("b")]);
    creds[0]["maxConcurrent"] = json!(1);
    creds[1]["maxConcurrent"] = json!(1);
    let gw = start_gateway(&mock, &creds, &pool_yaml(&["max_pacing_wait_ms: 100"]));
    // Each answer takes 800 ms; three at once: one per account, the third finds both busy.
    let mut statuses = burst(gw.proc.addr, 3, &ask("[[mock:slow 800]] burst"));
    statuses.sort_unstable();
    assert_eq!(&statuses[..2], &[200, 200]);
    assert!(matches!(statuses[2], 429 | 503), "{statuses:?}");
    let c = counts(&served(&mock));
    assert_eq!(c.get(&bearer("a")), Some(&1), "{c:?}");
    assert_eq!(c.get(&bearer("b")), Some(&1), "{c:?}");
}

#[test]
fn health_shows_the_pool_without_secrets() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    let gw = start_gateway(&mock, &json!([account("a"), account("b")]), "");
    run(&gw, 2);
    let h = health(&gw);
    let text = h.to_string();
    assert!(
        !text.contains("tok-") && !text.contains("mock-rt-"),
        "{text}"
    );
    // A success is recorded in the logging phase, just after the client has its last byte.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let a = loop {
        let a = account_health(&gw, "a");
        if a["successes"] == 2 || std::time::Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(a["state"], "active");
    assert!(
        a["token_expires_in_secs"].as_i64().unwrap() > 9 * 3600,
        "{a}"
    );
    assert_eq!(a["successes"], 2, "{a}");
}

#[test]
fn quota_and_models_are_polled_and_shown() {
    // Needs `endpoints: usage/models` pointing at the mock (tests/common) and a short interval.
    let mock = mock_for(&["a"], &["--fast"]);
    let gw = start_gateway(
        &mock,
        &json!([account("a")]),
        "  pool:\n    usage_poll_interval_secs: 1\n",
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let a = loop {
        let a = account_health(&gw, "a");
        if a.get("quota").is_some() || std::time::Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(a["quota"]["limit"], 1000.0, "{a}");
    assert_eq!(a["quota"]["subscription"], "KIRO PRO+", "{a}");
    // The model list is polled after the quota, so it may land a moment later.
    let models = loop {
        let models = http(
            gw.proc.addr,
            "GET",
            "/v1/models",
            &[("x-api-key", API_KEY), ("anthropic-version", "2023-06-01")],
            b"",
        );
        if models.text().contains("\"deepseek-3.2\"") || std::time::Instant::now() > deadline {
            break models;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(models.text().contains("claude-opus"), "{}", models.text());
    // Only the polled ListAvailableModels names this one: the list is what the pool serves.
    assert!(
        models.text().contains("\"deepseek-3.2\""),
        "{}",
        models.text()
    );
}

#[test]
fn accounts_declared_in_the_config_override_and_add() {
    let mock = mock_for(&["a", "b"], &["--fast"]);
    // The config demotes `a` (priority 5) and adds an API-key account of its own, first in line.
    let extra = format!(
        "{}  accounts:\n    - id: a\n      priority: 5\n    - name: key\n      authMethod: api_key\n      kiroApiKey: ksk_config\n      priority: -1\n",
        pool_yaml(&[])
    );
    let gw = start_gateway(&mock, &json!([account("a"), account("b")]), &extra);
    run(&gw, 3);
    assert_eq!(
        served(&mock),
        vec!["ksk_config".to_string(); 3],
        "the config account comes first"
    );
    let names: Vec<String> = http(gw.proc.addr, "GET", "/health", &[], b"").json()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["key", "b", "a"],
        "listed in priority order: `a` was demoted"
    );
    // An API key never needs a profileArn, and its secret never shows.
    let health = http(gw.proc.addr, "GET", "/health", &[], b"").text();
    assert!(!health.contains("ksk_config"));
    // The demoted account now comes after `b`.
    mock_faults(
        mock.addr,
        &json!({"bearer": "ksk_config", "faults": ["402"]}),
    );
    clear_log(&mock);
    assert_eq!(send(&gw, "quota gone").status, 200);
    let bearers: Vec<String> = attempts(&mock).into_iter().map(|(b, _)| b).collect();
    assert_eq!(bearers, vec!["ksk_config".to_string(), bearer("b")]);
    // The retry's body is the first attempt's, with b's profileArn put in.
    let bodies: Vec<serde_json::Value> = mock_requests(mock.addr)
        .into_iter()
        .filter(|r| r["path"] == "/generateAssistantResponse")
        .map(|r| r["body"].clone())
        .collect();
    assert!(bodies[0].get("profileArn").is_none(), "{}", bodies[0]);
    assert_eq!(bodies[1]["profileArn"], ARN);
    assert_eq!(
        bodies[0]["conversationState"],
        bodies[1]["conversationState"]
    );
}
