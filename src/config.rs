//! Configuration.
//!
//! One YAML file holds both Pingora's own server settings (top level, read by Pingora) and the
//! gateway's (under `kiro_edge:`, read here; Pingora ignores unknown keys). As in River, the
//! file format ([`FileConfig`]) is kept apart from the validated internal form
//! ([`GatewayConfig`]) the rest of the code uses, so the file can evolve without touching it.

use crate::accounts::credentials::Credential;
use crate::accounts::{PoolSettings, Strategy};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable holding client API keys (comma-separated); overrides `api_keys`.
pub const ENV_API_KEYS: &str = "KIRO_EDGE_API_KEYS";

/// A configuration problem: which file, which key, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub key: String,
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}: {}", file.display(), self.key, self.why),
            None => write!(f, "{}: {}", self.key, self.why),
        }
    }
}

impl std::error::Error for ConfigError {}

// ---- File format -------------------------------------------------------------------------

/// The whole YAML document; only our section is read here.
#[derive(Debug, Default, Deserialize)]
struct FileDocument {
    #[serde(default)]
    kiro_edge: FileConfig,
}

/// The `kiro_edge:` section as written in the file. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub api_keys: Option<Vec<String>>,
    pub region: Option<String>,
    pub credentials_file: Option<PathBuf>,
    pub discover_local_login: Option<bool>,
    pub kiro_version: Option<String>,
    pub machine_id: Option<String>,
    pub endpoints: Option<FileEndpoints>,
    pub upstream: Option<FileUpstream>,
    pub retry: Option<FileRetry>,
    pub limits: Option<FileLimits>,
    pub models: Option<FileModels>,
    pub refresh: Option<FileRefresh>,
    pub responses: Option<FileResponses>,
    pub pool: Option<FilePool>,
    /// Accounts, in the credentials-file schema (camelCase keys).
    pub accounts: Option<Vec<Credential>>,
}

/// The `pool:` section; durations in seconds or milliseconds as the key says.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePool {
    pub strategy: Option<String>,
    pub sticky_ttl_secs: Option<u64>,
    pub sticky_capacity: Option<usize>,
    pub throttle_cooldown_secs: Option<u64>,
    pub suspicious_cooldown_secs: Option<u64>,
    pub exhausted_cooldown_secs: Option<u64>,
    pub max_concurrent: Option<u32>,
    pub min_interval_ms: Option<u64>,
    pub min_interval_jitter_ms: Option<u64>,
    pub rpm: Option<u32>,
    pub global_rpm: Option<u32>,
    pub max_pacing_wait_ms: Option<u64>,
    pub usage_poll_interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileResponses {
    pub max_stored: Option<usize>,
    pub max_age_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpoints {
    pub chat: Option<String>,
    pub social_refresh: Option<String>,
    pub idc_token: Option<String>,
    pub usage: Option<String>,
    pub models: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpstream {
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub ping_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRetry {
    pub max_attempts: Option<u32>,
    pub attempts_per_account: Option<u32>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub max_body_bytes: Option<usize>,
    pub payload_budget_bytes: Option<usize>,
    pub max_image_bytes: Option<usize>,
    pub concurrent_uploads: Option<usize>,
    pub body_read_timeout_ms: Option<u64>,
    pub client_read_buffer_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileModels {
    pub aliases: Option<HashMap<String, String>>,
    pub fallback: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRefresh {
    pub ahead_secs: Option<u64>,
    pub lazy_margin_secs: Option<u64>,
}

// ---- Internal form -----------------------------------------------------------------------

/// An upstream URL split into the parts the proxy needs per request.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl UpstreamUrl {
    /// Parses `http(s)://host[:port]/path` after substituting `{region}`.
    pub fn parse(template: &str, region: &str) -> Result<UpstreamUrl, String> {
        let url = template.replace("{region}", region);
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("`{url}` must start with http:// or https://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (h, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("`{url}` has an unclosed IPv6 bracket"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("`{url}` has a bad port `{p}`"))?,
            None if tls => 443,
            None => 80,
        };
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        Ok(UpstreamUrl {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Retry and failover policy for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Upstream attempts per request, all accounts together.
    pub max_attempts: u32,
    /// Attempts on one account before moving to the next.
    pub attempts_per_account: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// The validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// Where Prometheus metrics are served; `None` disables them.
    pub metrics_listen: Option<SocketAddr>,
    /// Client API keys; empty means open (only allowed on loopback).
    pub api_keys: Vec<String>,
    pub region: String,
    pub credentials_file: Option<PathBuf>,
    pub discover_local_login: bool,
    pub kiro_version: String,
    pub machine_id: Option<String>,
    pub chat_url: UpstreamUrl,
    /// Templates (with `{region}`) since each account may have its own auth region.
    pub social_refresh_url: String,
    pub idc_token_url: String,
    pub usage_url: String,
    pub models_url: String,
    pub connect_timeout: Duration,
    /// Longest wait for the first upstream byte, and between two upstream chunks.
    pub first_byte_timeout: Duration,
    /// A keep-alive goes to a streaming client after this long without upstream bytes; zero
    /// turns keep-alives (and the pulse session behind them) off.
    pub ping_interval: Duration,
    pub retry: RetryPolicy,
    pub max_body_bytes: usize,
    pub payload_budget_bytes: usize,
    pub max_image_bytes: usize,
    /// Request bodies read and converted at once; the others wait in the kernel's buffers.
    pub concurrent_uploads: usize,
    /// Longest time a client may take to send its whole request body.
    pub body_read_timeout: Duration,
    /// Read buffer of each client connection, held for the connection's life (Pingora's
    /// default is 64 KiB).
    pub client_read_buffer: usize,
    pub model_aliases: HashMap<String, String>,
    pub model_fallback: Option<String>,
    pub refresh_ahead: Duration,
    pub refresh_lazy_margin: Duration,
    /// Stored OpenAI Responses (for `previous_response_id` and GET): at most this many…
    pub responses_max_stored: usize,
    /// …kept at most this long.
    pub responses_max_age: Duration,
    /// Strategy, stickiness, cool-downs, pacing and quota polling of the account pool.
    pub pool: PoolSettings,
    /// Accounts declared here: policy overrides for accounts of the credentials file (matched by
    /// `id` or `name`), or accounts of their own.
    pub accounts: Vec<Credential>,
}

/// The Kiro model that serves model names Kiro does not know, unless configured otherwise.
pub const DEFAULT_MODEL_FALLBACK: &str = "claude-sonnet-4.5";
pub const DEFAULT_CHAT_URL: &str = "https://q.{region}.amazonaws.com/generateAssistantResponse";
pub const DEFAULT_SOCIAL_REFRESH_URL: &str =
    "https://prod.{region}.auth.desktop.kiro.dev/refreshToken";
pub const DEFAULT_IDC_TOKEN_URL: &str = "https://oidc.{region}.amazonaws.com/token";
pub const DEFAULT_USAGE_URL: &str = "https://q.{region}.amazonaws.com/getUsageLimits";
pub const DEFAULT_MODELS_URL: &str = "https://q.{region}.amazonaws.com/ListAvailableModels";

/// A connection's read buffer: a typical request arrives in one read, and a thousand open
/// connections hold 16 MB instead of Pingora's 64 MB (BENCHMARKS.md, cause 12).
pub const DEFAULT_CLIENT_READ_BUFFER: usize = 16 * 1024;
const MAX_CLIENT_READ_BUFFER: usize = 1024 * 1024;

impl GatewayConfig {
    /// Reads the `kiro_edge:` section of a YAML file, then applies environment overrides.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let err = |key: &str, why: String| ConfigError {
            file: Some(path.to_path_buf()),
            key: key.to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err("(file)", e.to_string()))?;
        Self::from_yaml(&text, std::env::var(ENV_API_KEYS).ok().as_deref()).map_err(|mut e| {
            e.file = Some(path.to_path_buf());
            e
        })
    }

    /// Defaults only (no file), with environment overrides.
    pub fn from_env() -> Result<GatewayConfig, ConfigError> {
        Self::from_yaml("{}", std::env::var(ENV_API_KEYS).ok().as_deref())
    }

    /// Parses and validates a YAML document; `env_keys` overrides `api_keys` when set.
    pub fn from_yaml(text: &str, env_keys: Option<&str>) -> Result<GatewayConfig, ConfigError> {
        let doc: FileDocument = serde_yaml::from_str(text).map_err(|e| ConfigError {
            file: None,
            key: yaml_error_key(&e),
            why: e.to_string(),
        })?;
        Self::from_file_config(doc.kiro_edge, env_keys)
    }

    fn from_file_config(f: FileConfig, env_keys: Option<&str>) -> Result<Self, ConfigError> {
        let bad = |key: &str, why: String| ConfigError {
            file: None,
            key: format!("kiro_edge.{key}"),
            why,
        };
        let listen_str = f.listen.unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let listen: SocketAddr = listen_str.parse().map_err(|_| {
            bad(
                "listen",
                format!("`{listen_str}` is not an IP:port address"),
            )
        })?;
        let metrics_listen = match f.metrics_listen.as_deref() {
            None | Some("") => None,
            Some(addr) => Some(addr.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "metrics_listen",
                    format!("`{addr}` is not an IP:port address"),
                )
            })?),
        };
        if metrics_listen == Some(listen) {
            return Err(bad("metrics_listen", "must differ from `listen`".into()));
        }
        let api_keys: Vec<String> = match env_keys {
            Some(keys) => keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect(),
            None => f.api_keys.unwrap_or_default(),
        };
        if api_keys.iter().any(|k| k.trim().is_empty()) {
            return Err(bad("api_keys", "an API key is empty".into()));
        }
        if api_keys.is_empty() && !listen.ip().is_loopback() {
            return Err(bad(
                "api_keys",
                format!("no API key is set but `listen` ({listen}) is not a loopback address; set api_keys or {ENV_API_KEYS}"),
            ));
        }
        let region = f.region.unwrap_or_else(|| "us-east-1".to_string());
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad(
                "region",
                format!("`{region}` is not an AWS region name"),
            ));
        }
        let endpoints = f.endpoints.unwrap_or_default();
        let chat = endpoints
            .chat
            .unwrap_or_else(|| DEFAULT_CHAT_URL.to_string());
        let chat_url =
            UpstreamUrl::parse(&chat, &region).map_err(|why| bad("endpoints.chat", why))?;
        let social_refresh_url = endpoints
            .social_refresh
            .unwrap_or_else(|| DEFAULT_SOCIAL_REFRESH_URL.to_string());
        UpstreamUrl::parse(&social_refresh_url, &region)
            .map_err(|why| bad("endpoints.social_refresh", why))?;
        let idc_token_url = endpoints
            .idc_token
            .unwrap_or_else(|| DEFAULT_IDC_TOKEN_URL.to_string());
        UpstreamUrl::parse(&idc_token_url, &region)
            .map_err(|why| bad("endpoints.idc_token", why))?;
        let usage_url = endpoints
            .usage
            .unwrap_or_else(|| DEFAULT_USAGE_URL.to_string());
        UpstreamUrl::parse(&usage_url, &region).map_err(|why| bad("endpoints.usage", why))?;
        let models_url = endpoints
            .models
            .unwrap_or_else(|| DEFAULT_MODELS_URL.to_string());
        UpstreamUrl::parse(&models_url, &region).map_err(|why| bad("endpoints.models", why))?;
        let pool = pool_settings(f.pool.unwrap_or_default()).map_err(|(key, why)| bad(key, why))?;
        let accounts = f.accounts.unwrap_or_default();
        for (i, a) in accounts.iter().enumerate() {
            if a.label().is_none() {
                return Err(bad(
                    &format!("accounts[{i}]"),
                    "needs an `id` or a `name`".into(),
                ));
            }
        }

        let upstream = f.upstream.unwrap_or_default();
        let retry = f.retry.unwrap_or_default();
        let retry = RetryPolicy {
            max_attempts: retry.max_attempts.unwrap_or(9),
            attempts_per_account: retry.attempts_per_account.unwrap_or(3),
            backoff_base: Duration::from_millis(retry.backoff_base_ms.unwrap_or(200)),
            backoff_max: Duration::from_millis(retry.backoff_max_ms.unwrap_or(2_000)),
        };
        if retry.max_attempts == 0 || retry.max_attempts > 32 {
            return Err(bad("retry.max_attempts", "must be between 1 and 32".into()));
        }
        if retry.attempts_per_account == 0 {
            return Err(bad(
                "retry.attempts_per_account",
                "must be at least 1".into(),
            ));
        }
        let ping_interval = Duration::from_millis(upstream.ping_interval_ms.unwrap_or(15_000));
        if !ping_interval.is_zero() && ping_interval < Duration::from_millis(100) {
            return Err(bad(
                "upstream.ping_interval_ms",
                "must be 0 (off) or at least 100".into(),
            ));
        }
        let limits = f.limits.unwrap_or_default();
        let max_body_bytes = limits.max_body_bytes.unwrap_or(16 * 1024 * 1024);
        if max_body_bytes < 1024 {
            return Err(bad("limits.max_body_bytes", "must be at least 1024".into()));
        }
        let client_read_buffer = limits
            .client_read_buffer_bytes
            .unwrap_or(DEFAULT_CLIENT_READ_BUFFER);
        if client_read_buffer > MAX_CLIENT_READ_BUFFER {
            return Err(bad(
                "limits.client_read_buffer_bytes",
                format!("must be at most {MAX_CLIENT_READ_BUFFER}"),
            ));
        }
        let models = f.models.unwrap_or_default();
        let refresh = f.refresh.unwrap_or_default();
        let responses = f.responses.unwrap_or_default();
        if let Some(id) = &f.machine_id {
            let ok = (id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()))
                || uuid::Uuid::parse_str(id).is_ok();
            if !ok {
                return Err(bad(
                    "machine_id",
                    "must be 64 hex characters or a UUID".into(),
                ));
            }
        }
        Ok(GatewayConfig {
            listen,
            metrics_listen,
            api_keys,
            region,
            credentials_file: f.credentials_file,
            discover_local_login: f.discover_local_login.unwrap_or(true),
            kiro_version: f.kiro_version.unwrap_or_else(|| "0.11.107".to_string()),
            machine_id: f.machine_id,
            chat_url,
            social_refresh_url,
            idc_token_url,
            usage_url,
            models_url,
            connect_timeout: Duration::from_millis(upstream.connect_timeout_ms.unwrap_or(5_000)),
            first_byte_timeout: Duration::from_millis(
                upstream.first_byte_timeout_ms.unwrap_or(180_000),
            ),
            ping_interval,
            retry,
            max_body_bytes,
            payload_budget_bytes: limits.payload_budget_bytes.unwrap_or(615_000),
            max_image_bytes: limits.max_image_bytes.unwrap_or(3_750_000),
            concurrent_uploads: limits.concurrent_uploads.unwrap_or(64).max(1),
            body_read_timeout: Duration::from_millis(limits.body_read_timeout_ms.unwrap_or(60_000)),
            client_read_buffer,
            model_aliases: models.aliases.unwrap_or_default(),
            // Clients that insist on their own names (gpt-5, gemini-3-pro, …) work out of the
            // box; an explicit empty `fallback` turns this off (unknown names get a 400).
            model_fallback: match models.fallback {
                None => Some(DEFAULT_MODEL_FALLBACK.to_string()),
                Some(f) if f.trim().is_empty() => None,
                Some(f) => Some(f),
            },
            refresh_ahead: Duration::from_secs(refresh.ahead_secs.unwrap_or(900)),
            refresh_lazy_margin: Duration::from_secs(refresh.lazy_margin_secs.unwrap_or(600)),
            responses_max_stored: responses.max_stored.unwrap_or(10_000),
            responses_max_age: Duration::from_secs(responses.max_age_secs.unwrap_or(6 * 3600)),
            pool,
            accounts,
        })
    }
}

/// The `pool:` section over [`PoolSettings::default`]; errors name the key.
fn pool_settings(f: FilePool) -> Result<PoolSettings, (&'static str, String)> {
    let mut p = PoolSettings::default();
    if let Some(s) = f.strategy {
        p.strategy = s
            .parse::<Strategy>()
            .map_err(|why| ("pool.strategy", why))?;
    }
    let secs = Duration::from_secs;
    let millis = Duration::from_millis;
    if let Some(v) = f.sticky_ttl_secs {
        p.sticky_ttl = secs(v);
    }
    if let Some(v) = f.sticky_capacity {
        if v == 0 {
            return Err(("pool.sticky_capacity", "must be at least 1".into()));
        }
        p.sticky_capacity = v;
    }
    if let Some(v) = f.throttle_cooldown_secs {
        p.throttle_cooldown = secs(v);
    }
    if let Some(v) = f.suspicious_cooldown_secs {
        p.suspicious_cooldown = secs(v);
    }
    if let Some(v) = f.exhausted_cooldown_secs {
        p.exhausted_cooldown = Some(secs(v));
    }
    let positive = |key: &'static str, v: Option<u32>| match v {
        Some(0) => Err((
            key,
            "must be at least 1 (leave it out to turn the limit off)".to_string(),
        )),
        other => Ok(other),
    };
    p.pacing.max_concurrent = positive("pool.max_concurrent", f.max_concurrent)?;
    p.pacing.rpm = positive("pool.rpm", f.rpm)?;
    p.global_rpm = positive("pool.global_rpm", f.global_rpm)?;
    if let Some(v) = f.min_interval_ms {
        p.pacing.min_interval = millis(v);
    }
    if let Some(v) = f.min_interval_jitter_ms {
        p.pacing.min_interval_jitter = millis(v);
    }
    if let Some(v) = f.max_pacing_wait_ms {
        p.max_pacing_wait = millis(v);
    }
    if let Some(v) = f.usage_poll_interval_secs {
        p.usage_poll_interval = secs(v);
    }
    Ok(p)
}

/// Best-effort dotted key of a YAML error (serde_yaml reports paths like `kiro_edge.retry`).
fn yaml_error_key(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match msg.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_string(),
        _ => e
            .location()
            .map(|l| format!("line {} column {}", l.line(), l.column()))
            .unwrap_or_else(|| "(document)".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_with_real_hosts() {
        let c = GatewayConfig::from_yaml("{}", None).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.chat_url.host, "q.us-east-1.amazonaws.com");
        assert!(c.chat_url.tls);
        assert_eq!(c.chat_url.port, 443);
        assert_eq!(c.chat_url.path, "/generateAssistantResponse");
        assert_eq!(c.retry.max_attempts, 9);
        assert!(c.api_keys.is_empty());
        assert_eq!(c.metrics_listen, None);
        assert_eq!(c.model_fallback.as_deref(), Some("claude-sonnet-4.5"));
        assert_eq!(c.client_read_buffer, 16 * 1024);
        let strict =
            GatewayConfig::from_yaml("kiro_edge:\n  models:\n    fallback: \"\"\n", None).unwrap();
        assert_eq!(strict.model_fallback, None);
    }

    #[test]
    fn the_client_read_buffer_is_bounded() {
        let yaml = |n: usize| format!("kiro_edge:\n  limits:\n    client_read_buffer_bytes: {n}\n");
        assert_eq!(
            GatewayConfig::from_yaml(&yaml(0), None)
                .unwrap()
                .client_read_buffer,
            0
        );
        let e = GatewayConfig::from_yaml(&yaml(2 << 20), None).unwrap_err();
        assert_eq!(e.key, "kiro_edge.limits.client_read_buffer_bytes");
    }

    #[test]
    fn the_pool_section_maps_to_pool_settings() {
        let c = GatewayConfig::from_yaml(
            "kiro_edge:\n  pool:\n    strategy: round-robin\n    throttle_cooldown_secs: 5\n    max_concurrent: 4\n    max_pacing_wait_ms: 250\n",
            None,
        )
        .unwrap();
        assert_eq!(c.pool.strategy, Strategy::RoundRobin);
        assert_eq!(c.pool.throttle_cooldown, Duration::from_secs(5));
        assert_eq!(c.pool.pacing.max_concurrent, Some(4));
        assert_eq!(c.pool.max_pacing_wait, Duration::from_millis(250));
        let e = GatewayConfig::from_yaml("kiro_edge:\n  pool:\n    strategy: random\n", None)
            .unwrap_err();
        assert_eq!(e.key, "kiro_edge.pool.strategy");
        let e = GatewayConfig::from_yaml("kiro_edge:\n  pool:\n    rpm: 0\n", None).unwrap_err();
        assert_eq!(e.key, "kiro_edge.pool.rpm");
    }

    #[test]
    fn the_shipped_configurations_are_valid() {
        let c = GatewayConfig::from_yaml(include_str!("../conf/kiro-edge.yaml"), None).unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.pool.strategy, Strategy::Priority);
        // The container listens on all interfaces, so it needs keys from the environment.
        let docker = include_str!("../conf/docker.yaml");
        assert!(GatewayConfig::from_yaml(docker, None).is_err());
        assert!(GatewayConfig::from_yaml(docker, Some("k")).is_ok());
    }

    #[test]
    fn keepalives_are_on_by_default_and_bounded() {
        let c = GatewayConfig::from_yaml("kiro_edge:\n  listen: 127.0.0.1:1\n", None).unwrap();
        assert_eq!(c.ping_interval, Duration::from_secs(15));
        let off = "kiro_edge:\n  upstream:\n    ping_interval_ms: 0\n";
        assert!(GatewayConfig::from_yaml(off, None)
            .unwrap()
            .ping_interval
            .is_zero());
        let e =
            GatewayConfig::from_yaml("kiro_edge:\n  upstream:\n    ping_interval_ms: 5\n", None)
                .unwrap_err();
        assert_eq!(e.key, "kiro_edge.upstream.ping_interval_ms");
    }

    #[test]
    fn accounts_can_be_declared_in_the_config() {
        let c = GatewayConfig::from_yaml(
            "kiro_edge:\n  accounts:\n    - id: work\n      priority: 5\n      allowedModels: [claude-sonnet-*]\n    - name: key\n      authMethod: api_key\n      kiroApiKey: ksk_x\n",
            None,
        )
        .unwrap();
        assert_eq!(c.accounts.len(), 2);
        assert_eq!(c.accounts[0].priority, Some(5));
        assert_eq!(c.accounts[1].kiro_api_key.as_deref(), Some("ksk_x"));
        let e = GatewayConfig::from_yaml("kiro_edge:\n  accounts:\n    - priority: 1\n", None)
            .unwrap_err();
        assert_eq!(e.key, "kiro_edge.accounts[0]");
    }

    #[test]
    fn metrics_get_their_own_listener() {
        let c = GatewayConfig::from_yaml("kiro_edge:\n  metrics_listen: 127.0.0.1:9464\n", None)
            .unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        let e = GatewayConfig::from_yaml("kiro_edge:\n  metrics_listen: 127.0.0.1:8080\n", None)
            .unwrap_err();
        assert_eq!(e.key, "kiro_edge.metrics_listen");
    }

    #[test]
    fn reads_its_section_beside_pingoras() {
        let yaml = "version: 1\nthreads: 2\nkiro_edge:\n  listen: 127.0.0.1:9999\n  api_keys: [k1, k2]\n  region: eu-central-1\n  endpoints:\n    chat: http://127.0.0.1:7000/generateAssistantResponse\n";
        let c = GatewayConfig::from_yaml(yaml, None).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.api_keys, vec!["k1", "k2"]);
        assert_eq!(c.chat_url.authority(), "127.0.0.1:7000");
        assert!(!c.chat_url.tls);
    }

    #[test]
    fn environment_overrides_api_keys() {
        let c = GatewayConfig::from_yaml("kiro_edge:\n  api_keys: [a]\n", Some("x, y")).unwrap();
        assert_eq!(c.api_keys, vec!["x", "y"]);
    }

    #[test]
    fn errors_name_the_key_and_why() {
        let e = GatewayConfig::from_yaml("kiro_edge:\n  listen: nowhere\n", None).unwrap_err();
        assert_eq!(e.key, "kiro_edge.listen");
        assert!(e.why.contains("nowhere"));

        let e = GatewayConfig::from_yaml("kiro_edge:\n  retyr: {}\n", None).unwrap_err();
        assert!(e.why.contains("unknown field `retyr`"), "{e}");

        let e = GatewayConfig::from_yaml("kiro_edge:\n  listen: 0.0.0.0:80\n", None).unwrap_err();
        assert_eq!(e.key, "kiro_edge.api_keys");

        let e = GatewayConfig::from_yaml("kiro_edge:\n  endpoints:\n    chat: ftp://x/y\n", None)
            .unwrap_err();
        assert_eq!(e.key, "kiro_edge.endpoints.chat");
    }

    #[test]
    fn urls_take_region_and_ports() {
        let u = UpstreamUrl::parse("https://q.{region}.amazonaws.com/x?y=1", "eu-west-1").unwrap();
        assert_eq!(u.host, "q.eu-west-1.amazonaws.com");
        assert_eq!(u.path, "/x?y=1");
        let u = UpstreamUrl::parse("http://localhost:81", "r").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 81, "/")
        );
        assert!(UpstreamUrl::parse("http://:81/", "r").is_err());
        assert!(UpstreamUrl::parse("http://h:99999/", "r").is_err());
    }
}
