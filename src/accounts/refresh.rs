//! The token refresh protocols (kiro-protocol.md §4.1–4.3): request building and response
//! classification are pure; [`refresh`] does the one HTTP call.
//!
//! - Social: `POST {social_url}` with `{"refreshToken"}` → `accessToken`, optional rotated
//!   `refreshToken`, `profileArn`, `expiresIn`.
//! - IdC (Builder ID / IAM Identity Center): `POST {idc_url}` with `clientId`, `clientSecret`,
//!   `refreshToken`, `grantType` → `accessToken`, optional `refreshToken`, `expiresIn`.
//! - External IdP: a form-encoded OAuth refresh at the credential's own `tokenEndpoint`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::credentials::AuthMethod;
use super::machine_id::system_version;
use crate::upstream::{HttpClient, OutboundRequest, OutboundResponse};

/// The Node.js version the Kiro IDE reports in its user agents.
pub(crate) const NODE_VERSION: &str = "22.22.0";
/// Kiro IDE tokens last an hour; used when a response leaves `expiresIn` out.
const DEFAULT_EXPIRES_IN_SECS: i64 = 3600;
/// Refresh tokens shorter than this are truncated copies (§4.3).
const MIN_REFRESH_TOKEN_LEN: usize = 100;
/// How much of an error body is kept for logs and `/health`.
const ERROR_BODY_SNIPPET: usize = 300;

/// Why a refresh failed. [`RefreshError::is_permanent`] tells the pool whether to disable the
/// account (a new login is needed) or to try again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// API-key credentials have nothing to refresh.
    NotRefreshable,
    /// No refresh token, or one that fails the sanity check (truncated, contains `...`).
    MissingRefreshToken,
    MalformedRefreshToken(&'static str),
    /// IdC without `clientId`/`clientSecret`, or External IdP without `tokenEndpoint`.
    MissingClientRegistration(&'static str),
    /// `invalid_grant` / "Invalid refresh token provided": the login is gone.
    InvalidRefreshToken(String),
    /// `invalid_client` / `unauthorized_client`: the OIDC client registration expired.
    InvalidClient(String),
    /// HTTP 429 from the token endpoint.
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// Any other non-2xx answer.
    Upstream {
        status: u16,
        body: String,
    },
    /// DNS, connect, TLS, timeout.
    Network(String),
    /// A 2xx answer without a usable token.
    InvalidResponse(String),
    /// The account is disabled (by configuration or after a permanent failure).
    AccountDisabled(String),
    /// No account has this id.
    UnknownAccount,
}

impl RefreshError {
    /// True when retrying cannot help until someone signs in again or edits the credential.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RefreshError::NotRefreshable
                | RefreshError::MissingRefreshToken
                | RefreshError::MalformedRefreshToken(_)
                | RefreshError::MissingClientRegistration(_)
                | RefreshError::InvalidRefreshToken(_)
                | RefreshError::InvalidClient(_)
                | RefreshError::AccountDisabled(_)
                | RefreshError::UnknownAccount
        )
    }
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshError::NotRefreshable => f.write_str("API-key credentials cannot be refreshed"),
            RefreshError::MissingRefreshToken => f.write_str("the credential has no refresh token"),
            RefreshError::MalformedRefreshToken(why) => {
                write!(f, "the refresh token looks corrupt: {why}")
            }
            RefreshError::MissingClientRegistration(what) => {
                write!(f, "the credential has no {what}")
            }
            RefreshError::InvalidRefreshToken(body) => {
                write!(f, "the refresh token was rejected (sign in again): {body}")
            }
            RefreshError::InvalidClient(body) => write!(
                f,
                "the OIDC client registration was rejected (sign in again): {body}"
            ),
            RefreshError::RateLimited { retry_after } => match retry_after {
                Some(d) => write!(
                    f,
                    "the token endpoint is rate limiting; retry after {}s",
                    d.as_secs()
                ),
                None => f.write_str("the token endpoint is rate limiting"),
            },
            RefreshError::Upstream { status, body } => {
                write!(f, "the token endpoint answered {status}: {body}")
            }
            RefreshError::Network(e) => write!(f, "token refresh failed: {e}"),
            RefreshError::InvalidResponse(e) => {
                write!(f, "the token endpoint sent an unusable answer: {e}")
            }
            RefreshError::AccountDisabled(why) => write!(f, "the account is disabled: {why}"),
            RefreshError::UnknownAccount => f.write_str("no such account"),
        }
    }
}

impl std::error::Error for RefreshError {}

/// Everything one refresh call needs.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTarget<'a> {
    pub method: AuthMethod,
    /// The token endpoint, `{region}` already expanded.
    pub url: &'a str,
    pub refresh_token: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    /// External IdP: the OAuth scopes, space separated.
    pub scopes: Option<&'a str>,
    pub kiro_version: &'a str,
    pub machine_id: &'a str,
}

/// A successful refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedToken {
    pub access_token: String,
    /// Present when the endpoint rotated the refresh token.
    pub refresh_token: Option<String>,
    pub profile_arn: Option<String>,
    pub expires_in_secs: i64,
}

/// Replaces `{region}` in a URL template.
pub fn expand_region(template: &str, region: &str) -> String {
    template.replace("{region}", region)
}

/// The §4.3 sanity check: Kiro IDE sometimes stores truncated tokens, which only waste a call.
pub fn check_refresh_token(token: Option<&str>) -> Result<&str, RefreshError> {
    let token = token.map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err(RefreshError::MissingRefreshToken);
    }
    if token.len() < MIN_REFRESH_TOKEN_LEN {
        return Err(RefreshError::MalformedRefreshToken(
            "shorter than 100 characters",
        ));
    }
    if token.contains("...") {
        return Err(RefreshError::MalformedRefreshToken("contains \"...\""));
    }
    Ok(token)
}

/// Builds the refresh request for `target`.
pub fn build_request(target: &RefreshTarget<'_>) -> Result<OutboundRequest, RefreshError> {
    if target.method == AuthMethod::ApiKey {
        return Err(RefreshError::NotRefreshable);
    }
    let refresh_token = check_refresh_token(target.refresh_token)?;
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let os = system_version(target.machine_id);
    let req = OutboundRequest::new(http::Method::POST, target.url);
    Ok(match target.method {
        AuthMethod::Social => {
            let body = serde_json::json!({ "refreshToken": refresh_token });
            // No Accept-Encoding: the client does not decompress (see upstream::http_client).
            req.header("accept", "application/json, text/plain, */*")
                .header("content-type", "application/json")
                .header(
                    "user-agent",
                    format!("KiroIDE-{}-{}", target.kiro_version, target.machine_id),
                )
                .body(body.to_string())
        }
        AuthMethod::Idc => {
            let (Some(client_id), Some(client_secret)) = (target.client_id, target.client_secret)
            else {
                return Err(RefreshError::MissingClientRegistration(
                    "clientId/clientSecret",
                ));
            };
            let body = serde_json::json!({
                "clientId": client_id,
                "clientSecret": client_secret,
                "refreshToken": refresh_token,
                "grantType": "refresh_token",
            });
            req.header("content-type", "application/json")
                .header("x-amz-user-agent", "aws-sdk-js/3.980.0 KiroIDE")
                .header(
                    "user-agent",
                    format!(
                        "aws-sdk-js/3.980.0 ua/2.1 os/{os} lang/js md/nodejs#{NODE_VERSION} \
                         api/sso-oidc#3.980.0 m/E KiroIDE"
                    ),
                )
                .header("amz-sdk-invocation-id", invocation_id)
                .header("amz-sdk-request", "attempt=1; max=4")
                .body(body.to_string())
        }
        AuthMethod::ExternalIdp => {
            let Some(client_id) = target.client_id else {
                return Err(RefreshError::MissingClientRegistration("clientId"));
            };
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("client_id", client_id),
                ("refresh_token", refresh_token),
            ];
            if let Some(scopes) = target.scopes.filter(|s| !s.is_empty()) {
                form.push(("scope", scopes));
            }
            req.header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(form_encode(&form))
        }
        AuthMethod::ApiKey => return Err(RefreshError::NotRefreshable),
    })
}

/// Classifies a token endpoint's answer.
pub fn parse_response(resp: &OutboundResponse) -> Result<RefreshedToken, RefreshError> {
    if !(200..300).contains(&resp.status) {
        return Err(classify_failure(resp));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        #[serde(alias = "access_token")]
        access_token: Option<String>,
        #[serde(alias = "refresh_token")]
        refresh_token: Option<String>,
        profile_arn: Option<String>,
        #[serde(alias = "expires_in")]
        expires_in: Option<serde_json::Value>,
    }
    let body: Body = serde_json::from_slice(&resp.body)
        .map_err(|e| RefreshError::InvalidResponse(format!("not JSON: {e}")))?;
    let access_token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| RefreshError::InvalidResponse("no accessToken".into()))?;
    let expires_in_secs = match body.expires_in {
        None => DEFAULT_EXPIRES_IN_SECS,
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|s| *s > 0)
            .ok_or_else(|| RefreshError::InvalidResponse(format!("bad expiresIn {v}")))?,
    };
    Ok(RefreshedToken {
        access_token,
        refresh_token: body.refresh_token.filter(|t| !t.is_empty()),
        profile_arn: body.profile_arn.filter(|a| !a.is_empty()),
        expires_in_secs,
    })
}

fn classify_failure(resp: &OutboundResponse) -> RefreshError {
    let body = resp.body_snippet(ERROR_BODY_SNIPPET);
    if resp.status == 429 {
        let retry_after = resp
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return RefreshError::RateLimited { retry_after };
    }
    if (400..500).contains(&resp.status) {
        // Either marker alone is enough: social endpoints have been seen sending only the
        // message (caidaoli/kiro2api#4).
        if body.contains("invalid_grant") || body.contains("Invalid refresh token provided") {
            return RefreshError::InvalidRefreshToken(body);
        }
        if body.contains("invalid_client") || body.contains("unauthorized_client") {
            return RefreshError::InvalidClient(body);
        }
    }
    RefreshError::Upstream {
        status: resp.status,
        body,
    }
}

/// Performs one refresh call.
pub async fn refresh(
    client: &HttpClient,
    target: &RefreshTarget<'_>,
) -> Result<RefreshedToken, RefreshError> {
    let req = build_request(target)?;
    let resp = client
        .send(req)
        .await
        .map_err(|e| RefreshError::Network(e.to_string()))?;
    parse_response(&resp)
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(k, &mut out);
        out.push('=');
        percent_encode(v, &mut out);
    }
    out
}

fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn token() -> String {
        format!("aorAAAAAG{}", "x".repeat(120))
    }

    fn target<'a>(method: AuthMethod, rt: &'a str) -> RefreshTarget<'a> {
        RefreshTarget {
            method,
            url: "https://prod.us-east-1.auth.desktop.kiro.dev/refreshToken",
            refresh_token: Some(rt),
            client_id: Some("cid"),
            client_secret: Some("csecret"),
            scopes: Some("openid offline_access"),
            kiro_version: "0.11.107",
            machine_id: ZEROS,
        }
    }

    fn response(status: u16, body: &str) -> OutboundResponse {
        OutboundResponse {
            status,
            headers: HeaderMap::new(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    fn header<'a>(req: &'a OutboundRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn expands_region_templates() {
        assert_eq!(
            expand_region("https://oidc.{region}.amazonaws.com/token", "eu-west-1"),
            "https://oidc.eu-west-1.amazonaws.com/token"
        );
    }

    #[test]
    fn sanity_checks_refresh_tokens() {
        assert_eq!(
            check_refresh_token(None),
            Err(RefreshError::MissingRefreshToken)
        );
        assert_eq!(
            check_refresh_token(Some("  ")),
            Err(RefreshError::MissingRefreshToken)
        );
        assert!(matches!(
            check_refresh_token(Some("short")),
            Err(RefreshError::MalformedRefreshToken(_))
        ));
        let truncated = format!("{}...", "a".repeat(120));
        assert!(matches!(
            check_refresh_token(Some(&truncated)),
            Err(RefreshError::MalformedRefreshToken(_))
        ));
        let ok = token();
        assert_eq!(check_refresh_token(Some(&ok)), Ok(ok.as_str()));
    }

    #[test]
    fn builds_the_social_request() {
        let rt = token();
        let req = build_request(&target(AuthMethod::Social, &rt)).unwrap();
        assert_eq!(req.method, http::Method::POST);
        assert_eq!(
            header(&req, "user-agent"),
            Some(format!("KiroIDE-0.11.107-{}", "0".repeat(64)).as_str())
        );
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        assert_eq!(header(&req, "accept-encoding"), None);
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body, serde_json::json!({ "refreshToken": rt }));
    }

    #[test]
    fn builds_the_idc_request() {
        let rt = token();
        let req = build_request(&target(AuthMethod::Idc, &rt)).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"clientId":"cid","clientSecret":"csecret","refreshToken":rt,
                               "grantType":"refresh_token"})
        );
        assert_eq!(header(&req, "amz-sdk-request"), Some("attempt=1; max=4"));
        assert_eq!(
            header(&req, "x-amz-user-agent"),
            Some("aws-sdk-js/3.980.0 KiroIDE")
        );
        assert!(header(&req, "user-agent")
            .unwrap()
            .contains("os/darwin#24.6.0 lang/js md/nodejs#22.22.0 api/sso-oidc#3.980.0"));
        assert_eq!(
            header(&req, "amz-sdk-invocation-id").map(str::len),
            Some(36)
        );

        let mut t = target(AuthMethod::Idc, &rt);
        t.client_secret = None;
        assert!(matches!(
            build_request(&t),
            Err(RefreshError::MissingClientRegistration(_))
        ));
    }

    #[test]
    fn builds_the_external_idp_form() {
        let rt = token();
        let req = build_request(&target(AuthMethod::ExternalIdp, &rt)).unwrap();
        assert_eq!(
            header(&req, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let body = std::str::from_utf8(&req.body).unwrap();
        assert_eq!(
            body,
            format!(
                "grant_type=refresh_token&client_id=cid&refresh_token={rt}&scope=openid+offline_access"
            )
        );
        assert_eq!(form_encode(&[("a b", "x/y=z&")]), "a+b=x%2Fy%3Dz%26");
    }

    #[test]
    fn api_keys_never_refresh() {
        let rt = token();
        assert_eq!(
            build_request(&target(AuthMethod::ApiKey, &rt)).unwrap_err(),
            RefreshError::NotRefreshable
        );
    }

    #[test]
    fn parses_success_bodies() {
        let t = parse_response(&response(
            200,
            r#"{"accessToken":"at","refreshToken":"rt2","profileArn":"arn:x","expiresIn":3600}"#,
        ))
        .unwrap();
        assert_eq!(
            t,
            RefreshedToken {
                access_token: "at".into(),
                refresh_token: Some("rt2".into()),
                profile_arn: Some("arn:x".into()),
                expires_in_secs: 3600
            }
        );
        let t = parse_response(&response(
            200,
            r#"{"access_token":"at","expires_in":"1800","token_type":"Bearer"}"#,
        ))
        .unwrap();
        assert_eq!(t.expires_in_secs, 1800);
        assert_eq!(t.refresh_token, None);
        let t =
            parse_response(&response(200, r#"{"accessToken":"at","refreshToken":""}"#)).unwrap();
        assert_eq!(t.expires_in_secs, DEFAULT_EXPIRES_IN_SECS);
        assert_eq!(t.refresh_token, None);
    }

    #[test]
    fn rejects_unusable_success_bodies() {
        for body in [
            "not json",
            r#"{"refreshToken":"x"}"#,
            r#"{"accessToken":"a","expiresIn":-5}"#,
        ] {
            assert!(
                matches!(
                    parse_response(&response(200, body)),
                    Err(RefreshError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn classifies_failures() {
        let e = parse_response(&response(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid refresh token provided"}"#,
        ))
        .unwrap_err();
        assert!(matches!(e, RefreshError::InvalidRefreshToken(_)));
        assert!(e.is_permanent());
        let e = parse_response(&response(
            400,
            r#"{"message":"Invalid refresh token provided"}"#,
        ))
        .unwrap_err();
        assert!(matches!(e, RefreshError::InvalidRefreshToken(_)));
        let e = parse_response(&response(400, r#"{"error":"invalid_client"}"#)).unwrap_err();
        assert!(matches!(e, RefreshError::InvalidClient(_)) && e.is_permanent());

        let mut limited = response(429, "slow down");
        limited
            .headers
            .insert("retry-after", http::HeaderValue::from_static("7"));
        let e = parse_response(&limited).unwrap_err();
        assert_eq!(
            e,
            RefreshError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(!e.is_permanent());

        let e = parse_response(&response(503, "busy")).unwrap_err();
        assert_eq!(
            e,
            RefreshError::Upstream {
                status: 503,
                body: "busy".into()
            }
        );
        assert!(!e.is_permanent());
        // A 5xx that happens to mention invalid_grant is still transient.
        let e = parse_response(&response(500, "invalid_grant")).unwrap_err();
        assert!(!e.is_permanent());
    }
}
