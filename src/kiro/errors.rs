//! Kiro's non-200 answers: what they mean (§5.2), what the client should see, and what the
//! account pool should do next (§5.3).
//!
//! Kiro's error bodies are JSON like `{"message":…,"reason":…}` (sometimes nested under
//! `error`, sometimes with a Bedrock `__type`), and several conditions share one status code,
//! so the class is decided from the markers in the body first and the status second.

use std::time::Duration;

use serde_json::Value;

use crate::chat::{ErrorKind, GatewayError};

/// How long a "suspicious activity" account rests before it is tried again (\[Z\] default).
pub const SUSPICIOUS_COOLDOWN: Duration = Duration::from_secs(30 * 60);
/// Backoff for "too many requests" on the same account (\[Z\]: 1 s doubling to 8 s).
pub const THROTTLE_BACKOFF_BASE: Duration = Duration::from_secs(1);
pub const THROTTLE_BACKOFF_CAP: Duration = Duration::from_secs(8);
/// `retry-after` suggested to clients when every account was throttled.
const THROTTLED_RETRY_AFTER_SECS: u64 = 10;
/// `retry-after` suggested to clients when every account is cooling down.
const SUSPICIOUS_RETRY_AFTER_SECS: u64 = 60;
/// Upstream text quoted to clients is cut to this many characters.
const MAX_QUOTED_CHARS: usize = 300;

/// What an upstream error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamErrorClass {
    /// 400 "Improperly formed request." and other validation failures of our request.
    BadRequest,
    /// `CONTENT_LENGTH_EXCEEDS_THRESHOLD` / "Input is too long.".
    ContextTooLong,
    /// The account needs a `profileArn` it does not have (§1.8).
    ProfileArnRequired,
    /// `TOOL_SCHEMA_INVALID`: a tool's JSON Schema was refused.
    ToolSchemaInvalid,
    /// `TOOL_USE_RESULT_MISMATCH`: tool calls and results not paired (often sent as 5xx).
    ToolResultMismatch,
    /// `INVALID_MODEL_ID`: this account cannot use this model right now.
    ModelUnsupported,
    /// 402 / `MONTHLY_REQUEST_COUNT`: the account's quota is used up.
    QuotaExhausted,
    /// 401/403: the access token is expired, revoked, or does not match the profile ARN.
    BearerInvalid,
    /// 403 "temporarily is suspended … locked your account": the account is banned.
    Suspended,
    /// 429 "Too many requests": a short, service-wide rate limit.
    Throttled,
    /// 429 "Due to suspicious activity …": a per-account throttle lasting minutes.
    SuspiciousActivity,
    /// 408 / 5xx: worth trying elsewhere.
    Transient,
    /// 524: the edge timed out; the work may still be running, so never repeat it.
    EdgeTimeout,
    Other,
}

/// A classified upstream error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub class: UpstreamErrorClass,
    pub status: u16,
    /// Kiro's message (or the start of a non-JSON body), bounded.
    pub message: String,
    /// Kiro's `reason` code, if any.
    pub reason: Option<String>,
}

/// What the account pool should do after an upstream error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Return the error to the client; another account would fail the same way.
    GiveUp,
    /// Same account, after this delay.
    RetrySameAfter(Duration),
    /// Refresh this account's token and retry once; if that fails too, treat as `NextAccount`.
    RefreshThenRetry,
    /// Try the next account; this one is fine otherwise.
    NextAccount,
    /// Rest this account for the duration, then try the next one.
    CoolDownAccount(Duration),
    /// Take this account out of rotation until an operator acts, then try the next one.
    DisableAccount,
}

/// Classifies an upstream error from its status and body.
pub fn classify(status: u16, body: &[u8]) -> UpstreamError {
    let (message, reason) = extract_message(body);
    let class = class_from_markers(status, &message, reason.as_deref())
        .unwrap_or_else(|| classify_status(status));
    UpstreamError {
        class,
        status,
        message,
        reason,
    }
}

/// The class when only the status is known (before the body is read).
pub fn classify_status(status: u16) -> UpstreamErrorClass {
    match status {
        400 | 413 | 422 => UpstreamErrorClass::BadRequest,
        401 | 403 => UpstreamErrorClass::BearerInvalid,
        402 => UpstreamErrorClass::QuotaExhausted,
        429 => UpstreamErrorClass::Throttled,
        524 => UpstreamErrorClass::EdgeTimeout,
        408 | 500..=599 => UpstreamErrorClass::Transient,
        _ => UpstreamErrorClass::Other,
    }
}

/// Markers in the body override the status: Kiro sends the same condition under different
/// codes (a tool pairing error arrives as 400 or 503).
fn class_from_markers(
    status: u16,
    message: &str,
    reason: Option<&str>,
) -> Option<UpstreamErrorClass> {
    use UpstreamErrorClass::*;
    let reason = reason.unwrap_or("");
    let lower = message.to_ascii_lowercase();
    let class = if reason == "TOOL_USE_RESULT_MISMATCH" || lower.contains("expected toolresult") {
        ToolResultMismatch
    } else if reason == "CONTENT_LENGTH_EXCEEDS_THRESHOLD" || lower.contains("input is too long") {
        ContextTooLong
    } else if lower.contains("profilearn is required") {
        ProfileArnRequired
    } else if reason == "TOOL_SCHEMA_INVALID" || lower.contains("input_schema does not support") {
        ToolSchemaInvalid
    } else if reason == "INVALID_MODEL_ID" || lower.contains("invalid model") {
        ModelUnsupported
    } else if matches!(
        reason,
        "MONTHLY_REQUEST_COUNT" | "OVERAGE_REQUEST_LIMIT_EXCEEDED"
    ) {
        QuotaExhausted
    } else if lower.contains("suspended") && lower.contains("locked your account") {
        Suspended
    } else if reason == "TEMPORARILY_SUSPENDED" || lower.contains("suspicious activity") {
        SuspiciousActivity
    } else if lower.contains("bearer token") && lower.contains("invalid") {
        BearerInvalid
    } else if reason == "SERVICE_REQUEST_RATE_EXCEEDED" || lower.contains("too many requests") {
        Throttled
    } else if status == 524 || (lower.contains("524") && lower.contains("timeout")) {
        EdgeTimeout
    } else {
        return None;
    };
    Some(class)
}

/// Pulls `message` and `reason` out of the body (top level or under `error`); a non-JSON
/// body becomes the message as text.
fn extract_message(body: &[u8]) -> (String, Option<String>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(json) = parsed.as_ref().filter(|v| v.is_object()) else {
        let text = String::from_utf8_lossy(body);
        return (bounded(text.trim()), None);
    };
    let field = |name: &str| -> Option<&str> {
        json.get(name)
            .or_else(|| json.get("error").and_then(|e| e.get(name)))
            .and_then(Value::as_str)
    };
    let message = field("message")
        .or_else(|| field("Message"))
        .or_else(|| json.get("error").and_then(Value::as_str))
        .unwrap_or("");
    let reason = field("reason").filter(|r| !r.is_empty()).map(bounded);
    (bounded(message), reason)
}

fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

impl UpstreamError {
    /// Kiro's own words for quoting, or a stand-in when it said nothing.
    fn quoted(&self) -> String {
        if self.message.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {}", self.status, self.message)
        }
    }

    /// The error the client sees when no (further) retry is possible.
    pub fn to_client(&self) -> GatewayError {
        use UpstreamErrorClass::*;
        let upstream = self.quoted();
        match self.class {
            BadRequest => GatewayError::invalid(format!(
                "The upstream refused the request as malformed ({upstream}). Usual causes: tool \
                 calls and tool results that do not pair up, a tool schema it does not accept, \
                 too many tools (over about 120), or a request over about 600 KB. Try /compact \
                 or a new conversation; if it keeps happening, report it with the request."
            )),
            ContextTooLong => GatewayError::invalid(format!(
                "Prompt is too long: the conversation no longer fits the model's context window \
                 upstream ({upstream}). Compact the conversation or start a new one."
            )),
            ToolSchemaInvalid => GatewayError::invalid(format!(
                "The upstream refused a tool's input schema ({upstream}). Simplify the schema \
                 of the tool named in the message (no oneOf/anyOf/allOf at the top level)."
            )),
            ToolResultMismatch => GatewayError::invalid(format!(
                "The upstream says tool calls and tool results do not pair up ({upstream}). \
                 Every tool_use needs exactly one tool_result in the next user message."
            )),
            ModelUnsupported => GatewayError::invalid(format!(
                "None of the upstream accounts can use this model right now ({upstream}). \
                 Pick another model."
            )),
            ProfileArnRequired => GatewayError::new(
                ErrorKind::BadGateway,
                format!(
                    "The upstream account has no profile ARN and Kiro requires one \
                     ({upstream}). The gateway operator must re-import or re-login the account."
                ),
            ),
            // ErrorKind has no 402, and 402 is in no client SDK's error taxonomy. OpenAI
            // reports exhausted quota as 429 `insufficient_quota`, and the clients show a
            // 429's message instead of failing opaquely, so 429 it is. No retry-after: the
            // quota renews monthly, a quick retry cannot help.
            QuotaExhausted => GatewayError::new(
                ErrorKind::RateLimited,
                format!(
                    "Every upstream account has used up its Kiro quota ({upstream}). Add an \
                     account or wait for the quota to renew."
                ),
            ),
            BearerInvalid => GatewayError::new(
                ErrorKind::Unavailable,
                format!(
                    "The upstream rejected the gateway's account credentials ({upstream}). The \
                     gateway operator must log the account in again."
                ),
            ),
            Suspended => GatewayError::new(
                ErrorKind::Permission,
                format!("The upstream account is suspended ({upstream})."),
            ),
            Throttled => GatewayError::new(
                ErrorKind::RateLimited,
                format!("The upstream is rate limiting requests ({upstream}). Retry shortly."),
            )
            .with_retry_after(THROTTLED_RETRY_AFTER_SECS),
            SuspiciousActivity => GatewayError::new(
                ErrorKind::RateLimited,
                format!(
                    "Every upstream account is temporarily throttled by Kiro ({upstream}). Retry \
                     in a few minutes."
                ),
            )
            .with_retry_after(SUSPICIOUS_RETRY_AFTER_SECS),
            EdgeTimeout => GatewayError::new(
                ErrorKind::Timeout,
                format!("The upstream timed out ({upstream})."),
            ),
            Transient => {
                let kind = match self.status {
                    // Clients (Claude Code) retry `overloaded_error` on their own.
                    503 | 529 => ErrorKind::Overloaded,
                    408 | 504 => ErrorKind::Timeout,
                    _ => ErrorKind::BadGateway,
                };
                GatewayError::new(
                    kind,
                    format!("The upstream failed ({upstream}). Retry shortly."),
                )
            }
            Other => GatewayError::new(
                ErrorKind::BadGateway,
                format!("The upstream answered with an unexpected error ({upstream})."),
            ),
        }
    }

    /// What to do on the first occurrence of this error.
    pub fn action(&self) -> RetryAction {
        self.action_at(0)
    }

    /// What to do when this error ends attempt number `attempt` (0-based) on the same account;
    /// only the throttle backoff depends on it.
    pub fn action_at(&self, attempt: u32) -> RetryAction {
        use UpstreamErrorClass::*;
        match self.class {
            // Our request is at fault: every account would refuse it the same way, and
            // retrying only multiplies the bill.
            BadRequest | ContextTooLong | ToolSchemaInvalid | ToolResultMismatch | Other => {
                RetryAction::GiveUp
            }
            // The edge may still be running the request; repeating it doubles the work.
            EdgeTimeout => RetryAction::GiveUp,
            // Account-specific: another account may have the ARN or the entitlement.
            ProfileArnRequired | ModelUnsupported | Transient => RetryAction::NextAccount,
            BearerInvalid => RetryAction::RefreshThenRetry,
            QuotaExhausted | Suspended => RetryAction::DisableAccount,
            Throttled => RetryAction::RetrySameAfter(backoff(
                attempt,
                THROTTLE_BACKOFF_BASE,
                THROTTLE_BACKOFF_CAP,
            )),
            SuspiciousActivity => RetryAction::CoolDownAccount(SUSPICIOUS_COOLDOWN),
        }
    }
}

/// `base × 2^attempt`, capped at `cap`, plus 0–25 % jitter so that retries from many
/// requests do not arrive in lockstep.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 1u32 << attempt.min(16);
    let delay = base.saturating_mul(factor).min(cap);
    // A v4 UUID is 122 random bits from the OS: plenty for jitter, and no new crate.
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let jitter_per_mille = random % 251; // 0..=250 ‰
    delay + delay.mul_f64(jitter_per_mille as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use UpstreamErrorClass::*;

    fn class(status: u16, body: &str) -> UpstreamErrorClass {
        classify(status, body.as_bytes()).class
    }

    #[test]
    fn every_documented_error_is_classified() {
        assert_eq!(
            class(
                400,
                r#"{"message":"Improperly formed request.","reason":null}"#
            ),
            BadRequest
        );
        assert_eq!(
            class(
                400,
                r#"{"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"}"#
            ),
            ContextTooLong
        );
        assert_eq!(
            class(
                400,
                r#"{"message":"profileArn is required for this request.","reason":null}"#
            ),
            ProfileArnRequired
        );
        assert_eq!(
            class(
                400,
                r#"{"__type":"ValidationException","message":"input_schema does not support oneOf, allOf, or anyOf at the top level","reason":"TOOL_SCHEMA_INVALID"}"#
            ),
            ToolSchemaInvalid
        );
        assert_eq!(
            class(
                503,
                r#"{"message":"Expected toolResult blocks at messages.3.content"}"#
            ),
            ToolResultMismatch
        );
        assert_eq!(
            class(
                400,
                r#"{"message":"x","reason":"TOOL_USE_RESULT_MISMATCH"}"#
            ),
            ToolResultMismatch
        );
        assert_eq!(
            class(
                400,
                r#"{"message":"Invalid model. Please select a different model to continue.","reason":"INVALID_MODEL_ID"}"#
            ),
            ModelUnsupported
        );
        assert_eq!(
            class(
                402,
                r#"{"message":"You have reached the limit.","reason":"MONTHLY_REQUEST_COUNT"}"#
            ),
            QuotaExhausted
        );
        assert_eq!(
            class(
                402,
                r#"{"error":{"message":"limit","reason":"OVERAGE_REQUEST_LIMIT_EXCEEDED"}}"#
            ),
            QuotaExhausted
        );
        assert_eq!(
            class(
                403,
                r#"{"message":"The bearer token included in the request is invalid."}"#
            ),
            BearerInvalid
        );
        assert_eq!(
            class(
                401,
                r#"{"message":"The bearer token included in the request is invalid."}"#
            ),
            BearerInvalid
        );
        assert_eq!(
            class(
                403,
                r#"{"message":"Your User ID (abc) temporarily is suspended. We've locked your account as a security precaution."}"#
            ),
            Suspended
        );
        assert_eq!(class(403, r#"{"message":"Invalid token"}"#), BearerInvalid);
        assert_eq!(
            class(
                429,
                r#"{"message":"Due to suspicious activity, we are imposing temporary limits on how frequently your account (d-123) can send a request to Kiro."}"#
            ),
            SuspiciousActivity
        );
        assert_eq!(
            class(429, r#"{"message":"x","reason":"TEMPORARILY_SUSPENDED"}"#),
            SuspiciousActivity
        );
        assert_eq!(
            class(
                429,
                r#"{"message":"Too many requests, please wait before trying again."}"#
            ),
            Throttled
        );
        assert_eq!(class(429, ""), Throttled);
        assert_eq!(class(408, ""), Transient);
        assert_eq!(class(500, "<html>oops</html>"), Transient);
        assert_eq!(
            class(503, r#"{"message":"Service unavailable"}"#),
            Transient
        );
        assert_eq!(class(524, "error code: 524 gateway timeout"), EdgeTimeout);
        assert_eq!(class(418, ""), Other);
    }

    #[test]
    fn message_and_reason_are_extracted_and_bounded() {
        let e = classify(
            400,
            br#"{"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"}"#,
        );
        assert_eq!(e.message, "Input is too long.");
        assert_eq!(
            e.reason.as_deref(),
            Some("CONTENT_LENGTH_EXCEEDS_THRESHOLD")
        );
        let e = classify(500, &[b'x'; 10_000]);
        assert!(e.message.chars().count() <= MAX_QUOTED_CHARS + 1);
        let e = classify(500, &[0xff, 0xfe, 0x00]);
        assert_eq!(e.class, Transient);
    }

    #[test]
    fn status_only_classification() {
        assert_eq!(classify_status(400), BadRequest);
        assert_eq!(classify_status(401), BearerInvalid);
        assert_eq!(classify_status(402), QuotaExhausted);
        assert_eq!(classify_status(403), BearerInvalid);
        assert_eq!(classify_status(429), Throttled);
        assert_eq!(classify_status(502), Transient);
        assert_eq!(classify_status(524), EdgeTimeout);
        assert_eq!(classify_status(404), Other);
    }

    #[test]
    fn client_errors_are_plain_and_well_coded() {
        let too_long = classify(
            400,
            br#"{"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"}"#,
        )
        .to_client();
        assert_eq!(too_long.status(), 400);
        assert!(too_long.message.starts_with("Prompt is too long:"));

        let malformed = classify(400, br#"{"message":"Improperly formed request."}"#).to_client();
        assert_eq!(malformed.status(), 400);
        assert!(malformed.message.contains("Usual causes"));

        let throttled = classify(429, b"").to_client();
        assert_eq!(throttled.status(), 429);
        assert!(throttled.retry_after.is_some());

        assert_eq!(classify(402, b"").to_client().status(), 429);
        assert_eq!(
            classify(
                403,
                br#"{"message":"temporarily is suspended. We've locked your account"}"#
            )
            .to_client()
            .status(),
            403
        );
        assert_eq!(classify(503, b"").to_client().status(), 529);
        assert_eq!(classify(504, b"").to_client().status(), 504);
        assert_eq!(classify(500, b"").to_client().status(), 502);
        assert_eq!(classify(524, b"").to_client().status(), 504);
    }

    #[test]
    fn retry_policy() {
        let action = |status: u16, body: &str| classify(status, body.as_bytes()).action();
        assert_eq!(
            action(400, r#"{"message":"Improperly formed request."}"#),
            RetryAction::GiveUp
        );
        assert_eq!(
            action(400, r#"{"reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"}"#),
            RetryAction::GiveUp
        );
        assert_eq!(action(403, ""), RetryAction::RefreshThenRetry);
        assert_eq!(
            action(402, r#"{"reason":"MONTHLY_REQUEST_COUNT"}"#),
            RetryAction::DisableAccount
        );
        assert_eq!(
            action(
                429,
                r#"{"message":"Due to suspicious activity, we are imposing limits"}"#
            ),
            RetryAction::CoolDownAccount(SUSPICIOUS_COOLDOWN)
        );
        assert_eq!(action(502, ""), RetryAction::NextAccount);
        assert_eq!(action(524, ""), RetryAction::GiveUp);
        assert_eq!(
            action(
                400,
                r#"{"message":"profileArn is required for this request."}"#
            ),
            RetryAction::NextAccount
        );
        match action(429, "") {
            RetryAction::RetrySameAfter(d) => {
                assert!(d >= THROTTLE_BACKOFF_BASE && d <= THROTTLE_BACKOFF_BASE * 5 / 4)
            }
            other => panic!("unexpected {other:?}"),
        }
        match classify(429, b"").action_at(10) {
            RetryAction::RetrySameAfter(d) => assert!(d <= THROTTLE_BACKOFF_CAP * 5 / 4),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_within_a_quarter() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(2);
        for (attempt, expected) in [
            (0, 200),
            (1, 400),
            (2, 800),
            (3, 1600),
            (4, 2000),
            (99, 2000),
        ] {
            for _ in 0..20 {
                let d = backoff(attempt, base, cap).as_millis();
                assert!(d >= expected && d <= expected * 5 / 4, "{attempt}: {d}");
            }
        }
    }
}
