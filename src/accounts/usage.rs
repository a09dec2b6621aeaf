//! Quota and model lists per account: `getUsageLimits` (kiro-protocol.md §1.4) and
//! `ListAvailableModels` (§1.5). Building the requests and reading the answers is pure;
//! [`fetch_usage`] and [`fetch_models`] make the calls.
//!
//! The \[Z\] variant is used: no `profileArn` in the query (a real Enterprise ARN makes the
//! legacy call fail), the `KiroIDE-0.9.2` user agent (newer versions make these endpoints
//! demand a profile ARN), and only the `us-east-1` / `eu-central-1` hosts, with one retry on
//! the other region after a 403.

use std::fmt;

use serde_json::Value;

use super::machine_id::system_version;
use super::refresh::{expand_region, NODE_VERSION};
use crate::upstream::{HttpClient, OutboundRequest, OutboundResponse};

/// The IDE version these REST endpoints are called with (\[Z\] `USAGE_API_KIRO_VERSION`).
pub const USAGE_API_KIRO_VERSION: &str = "0.9.2";
/// At most this many models are kept per account.
const MAX_MODELS: usize = 256;
/// Longer model ids are not model ids.
const MAX_MODEL_ID_LEN: usize = 128;
/// A subscription title is cut to this many characters.
const MAX_TITLE_LEN: usize = 100;
const ERROR_BODY_SNIPPET: usize = 300;

/// What `getUsageLimits` said about one account, in credits.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSnapshot {
    /// The monthly limit plus active free-trial and bonus credits.
    pub limit: f64,
    /// Used so far, counted the same way.
    pub used: f64,
    /// When the quota renews, Unix milliseconds.
    pub resets_at_millis: Option<i64>,
    /// e.g. `KIRO PRO+`, `KIRO FREE`.
    pub subscription: Option<String>,
    /// Overage billing is on: running past the limit is allowed (and billed).
    pub overage_enabled: bool,
}

impl UsageSnapshot {
    pub fn remaining(&self) -> f64 {
        (self.limit - self.used).max(0.0)
    }

    /// The limit is reached and overage billing will not carry the account past it.
    pub fn is_exhausted(&self) -> bool {
        !self.overage_enabled && self.limit > 0.0 && self.used >= self.limit
    }

    /// Free subscriptions cannot use Opus (§1.4, §5.1).
    pub fn is_free_tier(&self) -> bool {
        self.subscription
            .as_deref()
            .is_some_and(|t| t.to_ascii_uppercase().contains("FREE"))
    }
}

/// Why a usage or model call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    Network(String),
    Status { status: u16, body: String },
    Parse(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Network(e) => write!(f, "request failed: {e}"),
            UsageError::Status { status, body } => write!(f, "HTTP {status}: {body}"),
            UsageError::Parse(e) => write!(f, "unreadable answer: {e}"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Who is asking: the account's bearer and identity.
#[derive(Debug, Clone, Copy)]
pub struct RestCaller<'a> {
    pub bearer: &'a str,
    /// `API_KEY` / `EXTERNAL_IDP`, for the `tokentype` header.
    pub token_type: Option<&'a str>,
    pub machine_id: &'a str,
    /// The account's sign-in (SSO) region, which picks the REST region.
    pub auth_region: &'a str,
}

/// The region of the REST endpoints: they exist only in `us-east-1` and `eu-central-1`.
pub fn rest_region(auth_region: &str) -> &'static str {
    if auth_region.trim().to_ascii_lowercase().starts_with("eu-") {
        "eu-central-1"
    } else {
        "us-east-1"
    }
}

fn other_rest_region(region: &str) -> &'static str {
    if region == "eu-central-1" {
        "us-east-1"
    } else {
        "eu-central-1"
    }
}

/// `GET {usage_url}?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST`, `{region}` expanded.
pub fn usage_request(url_template: &str, region: &str, caller: &RestCaller<'_>) -> OutboundRequest {
    let url = format!(
        "{}?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST",
        expand_region(url_template, region)
    );
    rest_request(url, caller)
}

/// `GET {models_url}?origin=AI_EDITOR`, `{region}` expanded.
pub fn models_request(
    url_template: &str,
    region: &str,
    caller: &RestCaller<'_>,
) -> OutboundRequest {
    let url = format!("{}?origin=AI_EDITOR", expand_region(url_template, region));
    rest_request(url, caller)
}

fn rest_request(url: String, caller: &RestCaller<'_>) -> OutboundRequest {
    let ide = format!("KiroIDE-{USAGE_API_KIRO_VERSION}-{}", caller.machine_id);
    let os = system_version(caller.machine_id);
    let mut req = OutboundRequest::new(http::Method::GET, url)
        .header("accept", "application/json")
        .header("x-amz-user-agent", format!("aws-sdk-js/1.0.0 {ide}"))
        .header(
            "user-agent",
            format!(
                "aws-sdk-js/1.0.0 ua/2.1 os/{os} lang/js md/nodejs#{NODE_VERSION} \
                 api/codewhispererruntime#1.0.0 m/N,E {ide}"
            ),
        )
        .header("amz-sdk-invocation-id", uuid::Uuid::new_v4().to_string())
        .header("amz-sdk-request", "attempt=1; max=1")
        .header("authorization", format!("Bearer {}", caller.bearer));
    if let Some(kind) = caller.token_type {
        req = req.header("tokentype", kind);
    }
    req
}

/// Reads a `getUsageLimits` answer. The credit breakdown (`resourceType: CREDIT`, else the
/// first) gives the limit and usage; active free-trial and bonus credits are added to both.
pub fn parse_usage(body: &[u8]) -> Result<UsageSnapshot, UsageError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| UsageError::Parse(e.to_string()))?;
    let list = json
        .get("usageBreakdownList")
        .and_then(Value::as_array)
        .ok_or_else(|| UsageError::Parse("no usageBreakdownList".into()))?;
    let breakdown = list
        .iter()
        .find(|b| b.get("resourceType").and_then(Value::as_str) == Some("CREDIT"))
        .or_else(|| list.first())
        .ok_or_else(|| UsageError::Parse("empty usageBreakdownList".into()))?;

    let mut limit = precise(breakdown, "usageLimit").unwrap_or(0.0);
    let mut used = precise(breakdown, "currentUsage").unwrap_or(0.0);
    if let Some(trial) = breakdown.get("freeTrialInfo") {
        if trial.get("freeTrialStatus").and_then(Value::as_str) == Some("ACTIVE") {
            limit += precise(trial, "usageLimit").unwrap_or(0.0);
            used += precise(trial, "currentUsage").unwrap_or(0.0);
        }
    }
    for bonus in breakdown
        .get("bonuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if bonus.get("status").and_then(Value::as_str) == Some("ACTIVE") {
            limit += precise(bonus, "usageLimit").unwrap_or(0.0);
            used += precise(bonus, "currentUsage").unwrap_or(0.0);
        }
    }
    let resets_at_millis = breakdown
        .get("nextDateReset")
        .or_else(|| json.get("nextDateReset"))
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e12)
        .map(|secs| (secs * 1000.0) as i64);
    let subscription = json
        .pointer("/subscriptionInfo/subscriptionTitle")
        .and_then(Value::as_str)
        .map(|t| t.chars().take(MAX_TITLE_LEN).collect());
    let overage_enabled = json
        .pointer("/overageConfiguration/overageStatus")
        .and_then(Value::as_str)
        == Some("ENABLED");
    Ok(UsageSnapshot {
        limit: finite(limit),
        used: finite(used),
        resets_at_millis,
        subscription,
        overage_enabled,
    })
}

/// `{name}WithPrecision`, else `{name}`.
fn precise(v: &Value, name: &str) -> Option<f64> {
    v.get(format!("{name}WithPrecision"))
        .and_then(Value::as_f64)
        .or_else(|| v.get(name).and_then(Value::as_f64))
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x.max(0.0)
    } else {
        0.0
    }
}

/// Reads a `ListAvailableModels` answer: the `modelId`s, deduplicated, bounded.
pub fn parse_models(body: &[u8]) -> Result<Vec<String>, UsageError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| UsageError::Parse(e.to_string()))?;
    let models = json
        .get("models")
        .and_then(Value::as_array)
        .ok_or_else(|| UsageError::Parse("no models list".into()))?;
    let mut ids: Vec<String> = Vec::new();
    for id in models
        .iter()
        .filter_map(|m| m.get("modelId").and_then(Value::as_str))
    {
        let ok = !id.is_empty()
            && id.len() <= MAX_MODEL_ID_LEN
            && id.chars().all(|c| c.is_ascii_graphic());
        if ok && !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
            if ids.len() == MAX_MODELS {
                break;
            }
        }
    }
    Ok(ids)
}

/// Calls `getUsageLimits` for one account.
pub async fn fetch_usage(
    client: &HttpClient,
    url_template: &str,
    caller: &RestCaller<'_>,
) -> Result<UsageSnapshot, UsageError> {
    let resp = call_with_region_fallback(client, url_template, caller, usage_request).await?;
    parse_usage(&resp.body)
}

/// Calls `ListAvailableModels` for one account.
pub async fn fetch_models(
    client: &HttpClient,
    url_template: &str,
    caller: &RestCaller<'_>,
) -> Result<Vec<String>, UsageError> {
    let resp = call_with_region_fallback(client, url_template, caller, models_request).await?;
    parse_models(&resp.body)
}

/// One call, and on a 403 one more against the other REST region (only when the URL has a
/// `{region}` to change).
async fn call_with_region_fallback(
    client: &HttpClient,
    url_template: &str,
    caller: &RestCaller<'_>,
    build: fn(&str, &str, &RestCaller<'_>) -> OutboundRequest,
) -> Result<OutboundResponse, UsageError> {
    let region = rest_region(caller.auth_region);
    let resp = send(client, build(url_template, region, caller)).await?;
    let resp = if resp.status == 403 && url_template.contains("{region}") {
        send(
            client,
            build(url_template, other_rest_region(region), caller),
        )
        .await?
    } else {
        resp
    };
    if (200..300).contains(&resp.status) {
        Ok(resp)
    } else {
        Err(UsageError::Status {
            status: resp.status,
            body: resp.body_snippet(ERROR_BODY_SNIPPET),
        })
    }
}

async fn send(client: &HttpClient, req: OutboundRequest) -> Result<OutboundResponse, UsageError> {
    client
        .send(req)
        .await
        .map_err(|e| UsageError::Network(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The §1.4 sample (values made up there), with an active trial and bonus.
    const SAMPLE: &str = r#"{
      "daysUntilReset": 12,
      "nextDateReset": 1767225600.0,
      "subscriptionInfo": {"subscriptionTitle": "KIRO PRO+", "type": "x"},
      "overageConfiguration": {"overageStatus": "DISABLED"},
      "userInfo": {"email": "alice@example.com", "userId": "u-123"},
      "usageBreakdownList": [{
        "resourceType": "CREDIT", "unit": "x", "displayName": "Credit",
        "currentUsage": 12, "currentUsageWithPrecision": 12.37,
        "usageLimit": 1000, "usageLimitWithPrecision": 1000.0,
        "currentOverages": 0, "overageCap": 0, "overageRate": 0.04, "currency": "USD",
        "nextDateReset": 1767225600.0,
        "freeTrialInfo": {"freeTrialStatus": "ACTIVE", "freeTrialExpiry": 1767225600.0,
                          "usageLimit": 500, "usageLimitWithPrecision": 500.0,
                          "currentUsage": 3, "currentUsageWithPrecision": 3.2},
        "bonuses": [{"status": "ACTIVE", "usageLimit": 100.0, "currentUsage": 0.0},
                    {"status": "EXPIRED", "usageLimit": 900.0, "currentUsage": 0.0}]
      }]
    }"#;

    const MACHINE: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn caller(region: &str) -> RestCaller<'_> {
        RestCaller {
            bearer: "tok",
            token_type: None,
            machine_id: MACHINE,
            auth_region: region,
        }
    }

    fn header<'a>(req: &'a OutboundRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn parses_the_documented_sample() {
        let u = parse_usage(SAMPLE.as_bytes()).unwrap();
        assert!((u.limit - 1600.0).abs() < 1e-9, "{}", u.limit);
        assert!((u.used - 15.57).abs() < 1e-9, "{}", u.used);
        assert!((u.remaining() - 1584.43).abs() < 1e-9);
        assert_eq!(u.resets_at_millis, Some(1_767_225_600_000));
        assert_eq!(u.subscription.as_deref(), Some("KIRO PRO+"));
        assert!(!u.is_free_tier() && !u.is_exhausted() && !u.overage_enabled);
    }

    #[test]
    fn exhaustion_free_tier_and_overage() {
        let body = r#"{"subscriptionInfo":{"subscriptionTitle":"Kiro Free"},
            "usageBreakdownList":[{"resourceType":"OTHER","usageLimit":5,"currentUsage":1},
                                  {"resourceType":"CREDIT","usageLimit":50,"currentUsage":50}]}"#;
        let u = parse_usage(body.as_bytes()).unwrap();
        assert_eq!((u.limit, u.used), (50.0, 50.0), "the CREDIT breakdown wins");
        assert!(u.is_exhausted() && u.is_free_tier());
        assert_eq!(u.resets_at_millis, None);
        let over = body.replace(
            r#""subscriptionInfo""#,
            r#""overageConfiguration":{"overageStatus":"ENABLED"},"subscriptionInfo""#,
        );
        assert!(!parse_usage(over.as_bytes()).unwrap().is_exhausted());
    }

    #[test]
    fn rejects_unusable_answers() {
        for bad in ["", "[]", "{}", r#"{"usageBreakdownList":[]}"#, "not json"] {
            assert!(parse_usage(bad.as_bytes()).is_err(), "{bad}");
        }
        let odd = r#"{"usageBreakdownList":[{"usageLimit":"many","nextDateReset":-5}]}"#;
        let u = parse_usage(odd.as_bytes()).unwrap();
        assert_eq!((u.limit, u.resets_at_millis), (0.0, None));
        assert!(
            !u.is_exhausted(),
            "an unknown limit is not an exhausted one"
        );
    }

    #[test]
    fn parses_models_bounded_and_deduplicated() {
        let body = r#"{"models":[
            {"modelId":"claude-sonnet-4.5","modelName":"Claude Sonnet 4.5",
             "tokenLimits":{"maxInputTokens":200000,"maxOutputTokens":64000}},
            {"modelId":"claude-opus-4.6"}, {"modelId":"claude-opus-4.6"},
            {"modelId":"has space"}, {"modelName":"no id"}, {"modelId":""}]}"#;
        assert_eq!(
            parse_models(body.as_bytes()).unwrap(),
            vec!["claude-sonnet-4.5", "claude-opus-4.6"]
        );
        let many: Vec<Value> = (0..1000)
            .map(|i| serde_json::json!({"modelId": format!("m{i}")}))
            .collect();
        let body = serde_json::json!({ "models": many }).to_string();
        assert_eq!(parse_models(body.as_bytes()).unwrap().len(), MAX_MODELS);
        assert!(parse_models(b"{}").is_err());
    }

    #[test]
    fn picks_the_rest_region_from_the_sign_in_region() {
        assert_eq!(rest_region("eu-west-1"), "eu-central-1");
        assert_eq!(rest_region("EU-central-1"), "eu-central-1");
        assert_eq!(rest_region("us-west-2"), "us-east-1");
        assert_eq!(rest_region("ap-southeast-2"), "us-east-1");
        assert_eq!(other_rest_region("us-east-1"), "eu-central-1");
        assert_eq!(other_rest_region("eu-central-1"), "us-east-1");
    }

    #[test]
    fn builds_the_z_variant_requests() {
        let c = RestCaller {
            token_type: Some("API_KEY"),
            ..caller("eu-west-1")
        };
        let req = usage_request(
            "https://q.{region}.amazonaws.com/getUsageLimits",
            rest_region(c.auth_region),
            &c,
        );
        assert_eq!(req.method, http::Method::GET);
        assert_eq!(
            req.url,
            "https://q.eu-central-1.amazonaws.com/getUsageLimits\
             ?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"
        );
        assert!(!req.url.contains("profileArn"));
        assert_eq!(header(&req, "authorization"), Some("Bearer tok"));
        assert_eq!(header(&req, "tokentype"), Some("API_KEY"));
        assert_eq!(header(&req, "amz-sdk-request"), Some("attempt=1; max=1"));
        let ide = format!("KiroIDE-0.9.2-{MACHINE}");
        assert_eq!(
            header(&req, "x-amz-user-agent"),
            Some(format!("aws-sdk-js/1.0.0 {ide}").as_str())
        );
        let ua = header(&req, "user-agent").unwrap();
        assert!(ua.starts_with("aws-sdk-js/1.0.0 ua/2.1 os/darwin#24.6.0 lang/js md/nodejs#"));
        assert!(ua.ends_with(&format!("api/codewhispererruntime#1.0.0 m/N,E {ide}")));

        let req = models_request(
            "http://127.0.0.1:9/ListAvailableModels",
            "us-east-1",
            &caller("x"),
        );
        assert_eq!(
            req.url,
            "http://127.0.0.1:9/ListAvailableModels?origin=AI_EDITOR"
        );
        assert_eq!(header(&req, "tokentype"), None);
    }
}
