//! Prometheus metrics, served on their own listener by `pingora-prometheus`.
//!
//! Names follow Prometheus conventions (`_total` counters, base units in the name). Labels are
//! bounded: dialects and outcome classes are fixed sets, models are Kiro model ids (a short
//! list) and accounts are the configured ones. No label ever carries a key or a token.

use crate::accounts::Accounts;
use once_cell::sync::Lazy;
use pingora_prometheus::prometheus::core::{Collector, Desc};
use pingora_prometheus::prometheus::proto::MetricFamily;
use pingora_prometheus::prometheus::{
    self, register_histogram_vec, register_int_counter, register_int_counter_vec,
    register_int_gauge, GaugeVec, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
};
use std::sync::Arc;

/// Latency buckets from 5 ms to 10 min: LLM answers span that whole range.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register_int_counter_vec!(name, help, labels)
        .unwrap_or_else(|e| panic!("metric {name} registers once: {e}"))
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    register_histogram_vec!(name, help, labels, SECONDS_BUCKETS.to_vec())
        .unwrap_or_else(|e| panic!("metric {name} registers once: {e}"))
}

fn counter(name: &str, help: &str) -> IntCounter {
    register_int_counter!(name, help)
        .unwrap_or_else(|e| panic!("metric {name} registers once: {e}"))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    register_int_gauge!(name, help).unwrap_or_else(|e| panic!("metric {name} registers once: {e}"))
}

/// Client requests by dialect, Kiro model and final status.
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "kiro_edge_requests_total",
        "Client requests by dialect, Kiro model and HTTP status.",
        &["dialect", "model", "status"],
    )
});

/// Upstream attempts by outcome class.
pub static UPSTREAM_ATTEMPTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "kiro_edge_upstream_attempts_total",
        "Attempts sent to Kiro, by outcome (ok, throttled, unauthorized, quota, client_error, server_error, timeout, connect_error, network_error).",
        &["outcome"],
    )
});

pub static RETRIES: Lazy<IntCounter> = Lazy::new(|| {
    counter(
        "kiro_edge_retries_total",
        "Upstream attempts after the first of a request.",
    )
});

pub static FAILOVERS: Lazy<IntCounter> = Lazy::new(|| {
    counter(
        "kiro_edge_failovers_total",
        "Retries that moved a request to another account.",
    )
});

pub static TTFB: Lazy<HistogramVec> = Lazy::new(|| {
    histogram_vec(
        "kiro_edge_time_to_first_byte_seconds",
        "From request arrival to Kiro's first response byte.",
        &["dialect"],
    )
});

pub static DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    histogram_vec(
        "kiro_edge_request_duration_seconds",
        "From request arrival to the end of the response.",
        &["dialect", "stream"],
    )
});

pub static TOKENS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "kiro_edge_tokens_total",
        "Tokens by direction (input from Kiro's context usage or an estimate, output estimated).",
        &["direction"],
    )
});

pub static ACTIVE_REQUESTS: Lazy<IntGauge> = Lazy::new(|| {
    gauge(
        "kiro_edge_active_requests",
        "Requests being processed (including open streams).",
    )
});

pub static ACTIVE_STREAMS: Lazy<IntGauge> = Lazy::new(|| {
    gauge(
        "kiro_edge_active_streams",
        "Streaming responses in progress.",
    )
});

pub static STREAMED_BYTES: Lazy<IntCounter> = Lazy::new(|| {
    counter(
        "kiro_edge_response_bytes_total",
        "Response body bytes sent to clients for translated answers.",
    )
});

pub static REFRESHES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "kiro_edge_token_refreshes_total",
        "Token refresh calls by outcome (ok, failed, rejected: the login needs renewing).",
        &["outcome"],
    )
});

/// Per-account gauges, read from the pool at every scrape so they are never stale.
pub struct AccountsCollector {
    accounts: Arc<Accounts>,
    state: GaugeVec,
    token_expires: GaugeVec,
    quota_left: GaugeVec,
    in_flight: GaugeVec,
    cooldown: GaugeVec,
    requests: GaugeVec,
}

impl AccountsCollector {
    pub fn new(accounts: Arc<Accounts>) -> Result<Self, prometheus::Error> {
        let gauge =
            |name: &str, help: &str, labels: &[&str]| GaugeVec::new(Opts::new(name, help), labels);
        Ok(AccountsCollector {
            accounts,
            state: gauge(
                "kiro_edge_account_state",
                "1 for the state each account is in (active, cooling, exhausted, disabled).",
                &["account", "state"],
            )?,
            token_expires: gauge(
                "kiro_edge_account_token_expires_in_seconds",
                "Seconds until the account's access token expires (negative: expired).",
                &["account"],
            )?,
            quota_left: gauge(
                "kiro_edge_account_quota_remaining_credits",
                "Credits left in the account's current period, as last polled.",
                &["account"],
            )?,
            in_flight: gauge(
                "kiro_edge_account_in_flight_requests",
                "Requests the account is serving now.",
                &["account"],
            )?,
            cooldown: gauge(
                "kiro_edge_account_cooldown_remaining_seconds",
                "Seconds until a cooling or exhausted account returns (0 when active).",
                &["account"],
            )?,
            requests: gauge(
                "kiro_edge_account_requests",
                "Requests the account served, by result (success, failure), since start.",
                &["account", "result"],
            )?,
        })
    }
}

impl Collector for AccountsCollector {
    fn desc(&self) -> Vec<&Desc> {
        [
            &self.state,
            &self.token_expires,
            &self.quota_left,
            &self.in_flight,
            &self.cooldown,
            &self.requests,
        ]
        .into_iter()
        .flat_map(|g| g.desc())
        .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for g in [
            &self.state,
            &self.token_expires,
            &self.quota_left,
            &self.in_flight,
            &self.cooldown,
            &self.requests,
        ] {
            g.reset();
        }
        for a in self.accounts.status() {
            let name = a.name.as_str();
            for state in ["active", "cooling", "exhausted", "disabled"] {
                let on = if a.state == state { 1.0 } else { 0.0 };
                self.state.with_label_values(&[name, state]).set(on);
            }
            if let Some(secs) = a.token_expires_in_secs {
                self.token_expires
                    .with_label_values(&[name])
                    .set(secs as f64);
            }
            if let Some(q) = &a.quota {
                self.quota_left.with_label_values(&[name]).set(q.left);
            }
            self.in_flight
                .with_label_values(&[name])
                .set(f64::from(a.in_flight));
            self.cooldown
                .with_label_values(&[name])
                .set(a.cooldown_secs_left.unwrap_or(0) as f64);
            self.requests
                .with_label_values(&[name, "success"])
                .set(a.successes as f64);
            self.requests
                .with_label_values(&[name, "failure"])
                .set(a.failures as f64);
        }
        [
            &self.state,
            &self.token_expires,
            &self.quota_left,
            &self.in_flight,
            &self.cooldown,
            &self.requests,
        ]
        .into_iter()
        .flat_map(|g| g.collect())
        .collect()
    }
}

/// Forces registration, so every family shows up in the first scrape.
pub fn init() {
    Lazy::force(&REFRESHES);
    Lazy::force(&REQUESTS);
    Lazy::force(&UPSTREAM_ATTEMPTS);
    Lazy::force(&RETRIES);
    Lazy::force(&FAILOVERS);
    Lazy::force(&TTFB);
    Lazy::force(&DURATION);
    Lazy::force(&TOKENS);
    Lazy::force(&ACTIVE_REQUESTS);
    Lazy::force(&ACTIVE_STREAMS);
    Lazy::force(&STREAMED_BYTES);
}

/// Registers a collector (e.g. the per-account gauges) in the registry the metrics service serves.
pub fn register(collector: Box<dyn prometheus::core::Collector>) {
    if let Err(e) = prometheus::register(collector) {
        log::warn!("could not register a metrics collector: {e}");
    }
}

/// The outcome class of one upstream status, for `kiro_edge_upstream_attempts_total`.
pub fn attempt_outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        429 => "throttled",
        401 | 403 => "unauthorized",
        402 => "quota",
        408 | 504 | 524 => "timeout",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_classes_are_a_fixed_set() {
        assert_eq!(attempt_outcome(200), "ok");
        assert_eq!(attempt_outcome(429), "throttled");
        assert_eq!(attempt_outcome(403), "unauthorized");
        assert_eq!(attempt_outcome(400), "client_error");
        assert_eq!(attempt_outcome(503), "server_error");
        assert_eq!(attempt_outcome(524), "timeout");
    }

    #[test]
    fn families_register_once_and_gather() {
        init();
        init();
        REQUESTS
            .with_label_values(&["anthropic", "claude-sonnet-4.5", "200"])
            .inc();
        let names: Vec<String> = prometheus::gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert!(
            names.contains(&"kiro_edge_requests_total".to_string()),
            "{names:?}"
        );
    }
}
