//! The HTTP side of the mock, on Pingora's [`HttpServerApp`]: routing, bounded body reads,
//! token checks, recording, and replaying answer plans with real pauses.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::Method;
use log::debug;
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_http::ResponseHeader;
use serde_json::{json, Value};

use crate::faults::{body, Fault};
use crate::script::{self, AnswerKind, Opts, Step, StreamPlan, CREDITS_PER_ANSWER};
use crate::state::{MockState, Record};
use crate::tokens::Bearer;
use crate::validate::{self, ChatHeaders, ChatSummary, KNOWN_MODELS};

/// Largest request body read (a chat body over 615 000 bytes is read, then refused by Kiro's
/// own rule; beyond this the connection is answered 413 and closed).
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// How long a hang fault holds the connection at most.
const HANG_MAX: Duration = Duration::from_secs(120);
/// Bounds on slow clients.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The shared ARN a social refresh hands back (§1.8).
const SOCIAL_PROFILE_ARN: &str =
    "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";

/// Streaming knobs from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Gap between events; zero with `--fast`.
    pub pace: Duration,
    /// Streams open with [`script::stamp_frame`] (`--stamp`).
    pub stamp: bool,
}

pub struct MockApp {
    state: Mutex<MockState>,
    pacing: Pacing,
}

/// What to send back.
enum Reply {
    Json { status: u16, body: Vec<u8> },
    Chat(script::Answer),
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply::Json {
            status,
            body: v.to_string().into_bytes(),
        }
    }

    fn raw(status: u16, body: &str) -> Reply {
        Reply::Json {
            status,
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Whether the connection may serve another request.
enum Flow {
    Reuse,
    Close,
}

/// The parts of a request the handlers need, copied out of the session.
struct Incoming {
    method: Method,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(validate::bearer_token)
    }

    fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// A log record for this request, to be completed by the handler. Built before taking the
    /// state lock: hashing an 8 MiB body should not stall the other connections.
    fn record(&self, raw: &[u8]) -> Record {
        let mut r = Record {
            seq: 0,
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            method: self.method.to_string(),
            path: if self.query.is_empty() {
                self.path.clone()
            } else {
                format!("{}?{}", self.path, self.query)
            },
            headers: self.headers.clone(),
            body_len: 0,
            body_sha256: String::new(),
            body_json: None,
            bearer: self.bearer().map(str::to_owned),
            status: 200,
            verdict: "accepted",
            reason: None,
            fault: None,
        };
        r.set_body(raw);
        r
    }
}

fn incoming(session: &ServerSession) -> Incoming {
    let req = session.req_header();
    let mut headers = BTreeMap::new();
    for (name, value) in req.headers.iter() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Incoming {
        method: req.method.clone(),
        path: req.uri.path().to_owned(),
        query: req.uri.query().unwrap_or("").to_owned(),
        headers,
    }
}

enum BodyError {
    TooLarge,
    Io,
}

async fn read_body(session: &mut ServerSession, limit: usize) -> Result<Bytes, BodyError> {
    let declared = session
        .get_header(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0));
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => {
                debug!("reading request body: {e}");
                return Err(BodyError::Io);
            }
        }
    }
}

impl MockApp {
    pub fn new(state: MockState, pacing: Pacing) -> Self {
        MockApp {
            state: Mutex::new(state),
            pacing,
        }
    }

    fn state(&self) -> MutexGuard<'_, MockState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters to a test double, so a poisoned lock is simply reused.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn serve(&self, session: &mut ServerSession) -> Flow {
        // The request's head has been read: the mock's own time starts here.
        let received = std::time::Instant::now();
        let req = incoming(session);
        let raw = match read_body(session, MAX_BODY).await {
            Ok(raw) => raw,
            Err(BodyError::TooLarge) => {
                session.set_keepalive(None);
                let reply = Reply::json(413, &json!({"message": "Request body too large"}));
                let _ = self.send(session, reply, received).await;
                return Flow::Close;
            }
            Err(BodyError::Io) => return Flow::Close,
        };
        let reply = self.route(&req, &raw);
        self.send(session, reply, received).await
    }

    fn route(&self, req: &Incoming, raw: &[u8]) -> Reply {
        let m = &req.method;
        match req.path.as_str() {
            "/generateAssistantResponse" if m == Method::POST => self.chat(req, raw),
            "/refreshToken" if m == Method::POST => self.refresh(req, raw, false),
            "/token" if m == Method::POST => self.refresh(req, raw, true),
            "/getUsageLimits" if m == Method::GET => self.usage(req, raw),
            "/ListAvailableModels" if m == Method::GET => self.models(req, raw),
            "/__mock/requests" if m == Method::GET => Reply::json(200, &self.state().log_json()),
            "/__mock/requests" if m == Method::DELETE => {
                self.state().clear_log();
                Reply::json(200, &json!({"cleared": true}))
            }
            "/__mock/stats" if m == Method::GET => Reply::json(200, &self.state().stats_json()),
            "/__mock/faults" if m == Method::POST => {
                let parsed = serde_json::from_slice::<Value>(raw).map_err(|e| e.to_string());
                match parsed.and_then(|v| self.state().faults.push_json(&v)) {
                    Ok(n) => Reply::json(200, &json!({"queued": n})),
                    Err(e) => Reply::json(400, &json!({"error": e})),
                }
            }
            "/__mock/faults" if m == Method::DELETE => {
                self.state().faults.clear();
                Reply::json(200, &json!({"cleared": true}))
            }
            "/__mock/health" if m == Method::GET => Reply::json(200, &json!({"ok": true})),
            "/generateAssistantResponse"
            | "/refreshToken"
            | "/token"
            | "/getUsageLimits"
            | "/ListAvailableModels"
            | "/__mock/requests"
            | "/__mock/stats"
            | "/__mock/faults"
            | "/__mock/health" => Reply::json(405, &json!({"message": "Method not allowed"})),
            _ => Reply::json(404, &json!({"message": "Not found"})),
        }
    }

    fn chat(&self, req: &Incoming, raw: &[u8]) -> Reply {
        let bearer = req.bearer();
        let headers = ChatHeaders {
            content_type: req.header("content-type"),
            optout: req.header("x-amzn-codewhisperer-optout"),
            invocation_id: req.header("amz-sdk-invocation-id"),
            user_agent: req.header("user-agent"),
        };
        let api_key = bearer.is_some_and(validate::is_api_key);
        let verdict =
            validate::check_headers(&headers).and_then(|()| validate::validate_body(raw, api_key));

        let mut record = req.record(raw);
        let mut state = self.state();
        let seq = state.begin("generateAssistantResponse");
        record.seq = seq;
        let queued = state.faults.pop(bearer);
        let auth = state.tokens.check(bearer, Instant::now());
        record.reason = verdict.as_ref().err().map(|r| r.reason.clone());
        let opts = Opts {
            pace: self.pacing.pace,
            seq,
        };

        let answer = match (queued, auth, verdict) {
            (Some(fault), _, verdict) if fault != Fault::Ok => {
                // A queued fault stands for the upstream's own state, so it wins even over a bad
                // request; the validator's reason is still logged.
                record.verdict = "fault";
                record.fault = Some(fault.name());
                let summary = verdict.unwrap_or_default();
                script::answer(&summary, Some(fault), &opts)
            }
            (_, Bearer::Invalid, _) => {
                record.verdict = "rejected";
                record.reason = Some("bearer token unknown or expired".into());
                script::Answer {
                    delay: Duration::ZERO,
                    kind: AnswerKind::Error {
                        status: 403,
                        body: body::BEARER_INVALID,
                    },
                }
            }
            (_, _, Err(rejection)) => {
                record.verdict = "rejected";
                script::Answer {
                    delay: Duration::ZERO,
                    kind: AnswerKind::Error {
                        status: 400,
                        body: rejection.kind.body(),
                    },
                }
            }
            (queued, _, Ok(summary)) => {
                let answer = script::answer(&summary, queued, &opts);
                if let Some(fault) = directive_fault(&summary, queued) {
                    record.verdict = "fault";
                    record.fault = Some(fault.name());
                }
                answer
            }
        };
        record.status = match &answer.kind {
            AnswerKind::Error { status, .. } => *status,
            _ => 200,
        };
        state.record(record);
        Reply::Chat(answer)
    }

    fn refresh(&self, req: &Incoming, raw: &[u8], idc: bool) -> Reply {
        let endpoint = if idc { "token" } else { "refreshToken" };
        let mut record = req.record(raw);
        let parsed: Option<Value> = serde_json::from_slice(raw).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let refresh_token = field("refreshToken");
        let problem = if refresh_token.is_none() {
            Some("refreshToken missing")
        } else if idc && (field("clientId").is_none() || field("clientSecret").is_none()) {
            Some("clientId and clientSecret are required")
        } else if idc && field("grantType") != Some("refresh_token") {
            Some("grantType must be refresh_token")
        } else {
            None
        };
        let mut state = self.state();
        record.seq = state.begin(endpoint);
        let reply = match (problem, refresh_token) {
            (None, Some(rt)) => match state.tokens.refresh(rt, Instant::now()) {
                Some(issued) if idc => Reply::json(
                    200,
                    &json!({
                        "accessToken": issued.access_token,
                        "refreshToken": issued.refresh_token,
                        "expiresIn": issued.expires_in,
                        "tokenType": "Bearer",
                    }),
                ),
                Some(issued) => Reply::json(
                    200,
                    &json!({
                        "accessToken": issued.access_token,
                        "refreshToken": issued.refresh_token,
                        "profileArn": SOCIAL_PROFILE_ARN,
                        "expiresIn": issued.expires_in,
                    }),
                ),
                None => {
                    record.reason = Some("refresh token not accepted".into());
                    Reply::raw(400, body::INVALID_GRANT)
                }
            },
            (problem, _) => {
                let why = problem.unwrap_or("bad request");
                record.reason = Some(why.into());
                Reply::json(
                    400,
                    &json!({"error": "invalid_request", "error_description": why}),
                )
            }
        };
        if let Reply::Json { status, .. } = &reply {
            record.status = *status;
            if *status != 200 {
                record.verdict = "rejected";
            }
        }
        state.record(record);
        reply
    }

    /// Shared checks of the REST endpoints: a valid bearer and `origin=AI_EDITOR`.
    fn rest(&self, req: &Incoming, raw: &[u8], endpoint: &'static str, ok: Value) -> Reply {
        let mut record = req.record(raw);
        let mut state = self.state();
        record.seq = state.begin(endpoint);
        let reply = if state.tokens.check(req.bearer(), Instant::now()) == Bearer::Invalid {
            record.reason = Some("bearer token unknown or expired".into());
            Reply::raw(403, body::BEARER_INVALID)
        } else if req.query_param("origin") != Some("AI_EDITOR") {
            record.reason = Some("origin=AI_EDITOR missing from the query".into());
            Reply::raw(400, body::MALFORMED)
        } else {
            Reply::json(200, &ok)
        };
        if let Reply::Json { status, .. } = &reply {
            record.status = *status;
            if *status != 200 {
                record.verdict = "rejected";
            }
        }
        state.record(record);
        reply
    }

    fn usage(&self, req: &Incoming, raw: &[u8]) -> Reply {
        let used = self.state().accepted_chats() as f64 * CREDITS_PER_ANSWER;
        let body = json!({
            "daysUntilReset": 12,
            "nextDateReset": 1_767_225_600.0,
            "subscriptionInfo": {"subscriptionTitle": "KIRO PRO+", "type": "Q_DEVELOPER_STANDALONE_PRO_PLUS"},
            "overageConfiguration": {"overageStatus": "DISABLED"},
            "userInfo": {"email": "mock@example.com", "userId": "mock-user"},
            "usageBreakdownList": [{
                "resourceType": "CREDIT",
                "unit": "INVOCATIONS",
                "displayName": "Credit",
                "displayNamePlural": "Credits",
                "currentUsage": used.floor(),
                "currentUsageWithPrecision": used,
                "usageLimit": 1000,
                "usageLimitWithPrecision": 1000.0,
                "currentOverages": 0,
                "currentOveragesWithPrecision": 0.0,
                "overageCap": 0,
                "overageRate": 0.04,
                "currency": "USD",
                "nextDateReset": 1_767_225_600.0,
                "freeTrialInfo": {"freeTrialStatus": "EXPIRED"},
                "bonuses": []
            }]
        });
        self.rest(req, raw, "getUsageLimits", body)
    }

    fn models(&self, req: &Incoming, raw: &[u8]) -> Reply {
        let models: Vec<Value> = KNOWN_MODELS
            .iter()
            .map(|id| {
                json!({
                    "modelId": id,
                    "modelName": id,
                    "tokenLimits": {
                        "maxInputTokens": validate::context_window(id),
                        "maxOutputTokens": 64_000
                    }
                })
            })
            .collect();
        self.rest(req, raw, "ListAvailableModels", json!({ "models": models }))
    }

    async fn send(
        &self,
        session: &mut ServerSession,
        reply: Reply,
        received: std::time::Instant,
    ) -> Flow {
        match reply {
            Reply::Json { status, body } => send_json(session, status, body).await,
            Reply::Chat(answer) => {
                if !answer.delay.is_zero() {
                    tokio::time::sleep(answer.delay).await;
                }
                match answer.kind {
                    AnswerKind::Error { status, body } => {
                        send_json(session, status, body.as_bytes().to_vec()).await
                    }
                    AnswerKind::Hang => {
                        wait_for_close(session).await;
                        Flow::Close
                    }
                    AnswerKind::HangAfterHeaders => {
                        if write_stream_header(session).await.is_ok() {
                            wait_for_close(session).await;
                        }
                        Flow::Close
                    }
                    AnswerKind::Stream(plan) => {
                        let stamp = self.pacing.stamp.then_some(received);
                        send_stream(session, plan, stamp).await
                    }
                }
            }
        }
    }
}

/// Holds the connection until the client leaves or [`HANG_MAX`] passes.
async fn wait_for_close(session: &mut ServerSession) {
    tokio::select! {
        _ = tokio::time::sleep(HANG_MAX) => {}
        _ = session.read_body_or_idle(true) => {}
    }
}

fn response_header(status: u16, content_type: &str) -> pingora_error::Result<ResponseHeader> {
    let mut h = ResponseHeader::build(status, Some(4))?;
    h.insert_header("content-type", content_type)?;
    h.insert_header(
        "x-amzn-requestid",
        uuid::Uuid::new_v4().hyphenated().to_string(),
    )?;
    Ok(h)
}

async fn send_json(session: &mut ServerSession, status: u16, body: Vec<u8>) -> Flow {
    let result = async {
        let mut h = response_header(status, "application/json")?;
        h.insert_header("content-length", body.len().to_string())?;
        session.write_response_header(Box::new(h)).await?;
        session.write_response_body(Bytes::from(body), true).await
    }
    .await;
    match result {
        Ok(()) => Flow::Reuse,
        Err(e) => {
            debug!("writing response: {e}");
            Flow::Close
        }
    }
}

async fn write_stream_header(session: &mut ServerSession) -> pingora_error::Result<()> {
    let mut h = response_header(200, "application/vnd.amazon.eventstream")?;
    h.insert_header("transfer-encoding", "chunked")?;
    session.write_response_header(Box::new(h)).await
}

/// Streams `plan`; with a `stamp` (the request's arrival), a first frame saying how long the
/// mock took to answer.
async fn send_stream(
    session: &mut ServerSession,
    plan: StreamPlan,
    stamp: Option<std::time::Instant>,
) -> Flow {
    let result = async {
        let service = stamp.map(|received| received.elapsed());
        write_stream_header(session).await?;
        if let Some(service) = service {
            let frame = script::stamp_frame(service);
            session.write_response_body(frame.into(), false).await?;
        }
        for step in plan.steps {
            match step {
                Step::Send(frame) => session.write_response_body(frame.into(), false).await?,
                Step::Pause(gap) => tokio::time::sleep(gap).await,
            }
        }
        if plan.cut {
            return Ok(Flow::Close);
        }
        session.write_response_body(Bytes::new(), true).await?;
        Ok(Flow::Reuse)
    }
    .await;
    result.unwrap_or_else(|e: Box<pingora_error::Error>| {
        debug!("streaming response: {e}");
        Flow::Close
    })
}

/// The fault a message's own `[[mock:fault …]]` directive injects, when no queued fault overrode it.
fn directive_fault(summary: &ChatSummary, queued: Option<Fault>) -> Option<Fault> {
    if queued.is_some() {
        return None;
    }
    script::parse_directives(&summary.content)
        .into_iter()
        .find_map(|f| match f.directive {
            Ok(script::Directive::Fault(fault)) if fault != Fault::Ok => Some(fault),
            _ => None,
        })
}

#[async_trait]
impl HttpServerApp for MockApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match session.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                debug!("reading request: {e}");
                return None;
            }
        }
        if *shutdown.borrow() {
            session.set_keepalive(None);
        }
        session.set_read_timeout(Some(READ_TIMEOUT));
        session.set_write_timeout(Some(WRITE_TIMEOUT));
        match self.serve(&mut session).await {
            // Dropping the session closes the connection, without a chunked terminator if a
            // stream was under way: that is the `cut` fault.
            Flow::Close => None,
            Flow::Reuse => {
                let settings = HttpPersistentSettings::for_session(&session);
                match session.finish().await {
                    Ok(stream) => {
                        stream.map(|s| ReusedHttpStream::from_reusable_stream(s, settings))
                    }
                    Err(e) => {
                        debug!("finishing session: {e}");
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::TokenStore;

    const ARN: &str = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";

    fn app() -> MockApp {
        let tokens = TokenStore::new(Duration::from_secs(60), false, vec!["tok".into()]);
        MockApp::new(
            MockState::new(tokens, 100),
            Pacing {
                pace: Duration::ZERO,
                stamp: false,
            },
        )
    }

    fn incoming(method: Method, path_and_query: &str, bearer: Option<&str>) -> Incoming {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut headers: BTreeMap<String, String> = [
            ("content-type", "application/json"),
            ("x-amzn-codewhisperer-optout", "true"),
            (
                "amz-sdk-invocation-id",
                "6d1c5c4e-1111-4a4a-8888-123456789abc",
            ),
            ("user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.11.107-abcd"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(b) = bearer {
            headers.insert("authorization".into(), format!("Bearer {b}"));
        }
        Incoming {
            method,
            path: path.into(),
            query: query.into(),
            headers,
        }
    }

    fn chat_body(content: &str, arn: bool) -> Vec<u8> {
        let mut v = json!({"conversationState": {
            "chatTriggerType": "MANUAL",
            "conversationId": "c-1",
            "currentMessage": {"userInputMessage": {
                "content": content, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}}
        }});
        if arn {
            v["profileArn"] = json!(ARN);
        }
        v.to_string().into_bytes()
    }

    fn chat(app: &MockApp, bearer: Option<&str>, body: &[u8]) -> script::Answer {
        let req = incoming(Method::POST, "/generateAssistantResponse", bearer);
        match app.route(&req, body) {
            Reply::Chat(answer) => answer,
            Reply::Json { status, .. } => panic!("chat answered plain JSON {status}"),
        }
    }

    fn status_of(answer: &script::Answer) -> u16 {
        match answer.kind {
            AnswerKind::Error { status, .. } => status,
            _ => 200,
        }
    }

    fn json_reply(app: &MockApp, req: &Incoming, body: &[u8]) -> (u16, Value) {
        match app.route(req, body) {
            Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
            Reply::Chat(_) => panic!("expected a JSON reply"),
        }
    }

    fn last_log(app: &MockApp) -> Value {
        app.state()
            .log_json()
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone()
    }

    #[test]
    fn accepted_chat_streams_and_is_logged() {
        let app = app();
        let answer = chat(&app, Some("tok"), &chat_body("hi", true));
        assert!(matches!(answer.kind, AnswerKind::Stream(_)));
        let log = last_log(&app);
        assert_eq!(log["verdict"], "accepted");
        assert_eq!(log["bearer"], "tok");
        assert_eq!(log["body"]["profileArn"], ARN);
        assert_eq!(
            log["headers"]["user-agent"],
            "aws-sdk-js/1.0.34 KiroIDE-0.11.107-abcd"
        );
    }

    #[test]
    fn bad_bearer_gets_403_before_validation() {
        let app = app();
        assert_eq!(status_of(&chat(&app, Some("nope"), b"{}")), 403);
        assert_eq!(status_of(&chat(&app, None, &chat_body("hi", true))), 403);
        assert_eq!(last_log(&app)["verdict"], "rejected");
    }

    #[test]
    fn invalid_requests_get_the_specific_400_and_a_logged_reason() {
        let app = app();
        let answer = chat(&app, Some("tok"), &chat_body("hi", false));
        assert_eq!(
            answer.kind,
            AnswerKind::Error {
                status: 400,
                body: body::PROFILE_ARN_REQUIRED
            }
        );
        assert_eq!(last_log(&app)["reason"], "profileArn missing at the root");
        // API keys need no profileArn.
        let answer = chat(&app, Some("ksk_key"), &chat_body("hi", false));
        assert!(matches!(answer.kind, AnswerKind::Stream(_)));
    }

    #[test]
    fn queued_faults_win_per_bearer_then_global() {
        let app = app();
        let faults = incoming(Method::POST, "/__mock/faults", None);
        let body = br#"[{"fault":"429"},{"fault":"402","bearer":"ksk_b"}]"#;
        assert_eq!(json_reply(&app, &faults, body), (200, json!({"queued": 2})));

        assert_eq!(
            status_of(&chat(&app, Some("ksk_b"), &chat_body("x", false))),
            402
        );
        // Even a malformed request gets the queued fault; the reason is still logged.
        assert_eq!(status_of(&chat(&app, Some("tok"), b"{")), 429);
        let log = last_log(&app);
        assert_eq!(
            (log["verdict"].as_str(), log["fault"].as_str()),
            (Some("fault"), Some("429"))
        );
        assert!(log["reason"].as_str().unwrap().contains("not JSON"));
        assert_eq!(
            status_of(&chat(&app, Some("tok"), &chat_body("x", true))),
            200
        );

        let stats = json_reply(&app, &incoming(Method::GET, "/__mock/stats", None), b"").1;
        assert_eq!(stats["faults_served"], json!({"402": 1, "429": 1}));
        assert_eq!(stats["chat"]["fault"], json!(2));
    }

    #[test]
    fn directive_faults_are_recorded() {
        let app = app();
        let answer = chat(&app, Some("tok"), &chat_body("[[mock:fault 503]]", true));
        assert_eq!(status_of(&answer), 503);
        assert_eq!(last_log(&app)["fault"], "503");
    }

    #[test]
    fn refresh_then_use_the_issued_token() {
        let app = app();
        let rt = format!("mock-rt-{}", "a".repeat(100));
        let req = incoming(Method::POST, "/refreshToken", None);
        let (status, issued) = json_reply(
            &app,
            &req,
            json!({"refreshToken": rt}).to_string().as_bytes(),
        );
        assert_eq!(status, 200);
        assert_eq!(issued["profileArn"], SOCIAL_PROFILE_ARN);
        let at = issued["accessToken"].as_str().unwrap();
        assert_eq!(
            status_of(&chat(&app, Some(at), &chat_body("hi", true))),
            200
        );

        let idc = incoming(Method::POST, "/token", None);
        let good = json!({"clientId": "c", "clientSecret": "s", "refreshToken": rt, "grantType": "refresh_token"});
        let (status, issued) = json_reply(&app, &idc, good.to_string().as_bytes());
        assert_eq!(
            (status, issued["tokenType"].as_str()),
            (200, Some("Bearer"))
        );
        let (status, err) = json_reply(
            &app,
            &idc,
            json!({"refreshToken": rt}).to_string().as_bytes(),
        );
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_request"))
        );
        let (status, err) = json_reply(&app, &req, br#"{"refreshToken":"aorAAAA"}"#);
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        let stats = json_reply(&app, &incoming(Method::GET, "/__mock/stats", None), b"").1;
        assert_eq!(stats["refreshes"][&rt], json!(2));
    }

    #[test]
    fn rest_endpoints_check_bearer_and_origin() {
        let app = app();
        let ok = incoming(
            Method::GET,
            "/ListAvailableModels?origin=AI_EDITOR",
            Some("tok"),
        );
        let (status, models) = json_reply(&app, &ok, b"");
        assert_eq!(status, 200);
        assert!(models["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["modelId"] == "claude-opus-4.6"
                && m["tokenLimits"]["maxInputTokens"] == 1_000_000));
        let no_origin = incoming(Method::GET, "/getUsageLimits", Some("tok"));
        assert_eq!(json_reply(&app, &no_origin, b"").0, 400);
        let bad = incoming(
            Method::GET,
            "/getUsageLimits?origin=AI_EDITOR",
            Some("nope"),
        );
        assert_eq!(json_reply(&app, &bad, b"").0, 403);
        let usage = incoming(
            Method::GET,
            "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST",
            Some("tok"),
        );
        let (status, body) = json_reply(&app, &usage, b"");
        assert_eq!(status, 200);
        assert_eq!(
            body["usageBreakdownList"][0]["usageLimitWithPrecision"],
            json!(1000.0)
        );
    }

    #[test]
    fn control_api_and_unknown_routes() {
        let app = app();
        chat(&app, Some("tok"), &chat_body("hi", true));
        let list = incoming(Method::GET, "/__mock/requests", None);
        assert_eq!(json_reply(&app, &list, b"").1.as_array().unwrap().len(), 1);
        json_reply(
            &app,
            &incoming(Method::DELETE, "/__mock/requests", None),
            b"",
        );
        assert_eq!(json_reply(&app, &list, b"").1, json!([]));
        let faults = incoming(Method::POST, "/__mock/faults", None);
        assert_eq!(json_reply(&app, &faults, b"[\"teapot\"]").0, 400);
        assert_eq!(
            json_reply(&app, &incoming(Method::GET, "/nope", None), b"").0,
            404
        );
        assert_eq!(
            json_reply(
                &app,
                &incoming(Method::GET, "/generateAssistantResponse", None),
                b""
            )
            .0,
            405
        );
    }

    #[test]
    fn query_params() {
        let req = incoming(
            Method::GET,
            "/x?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST",
            None,
        );
        assert_eq!(req.query_param("origin"), Some("AI_EDITOR"));
        assert_eq!(req.query_param("resourceType"), Some("AGENTIC_REQUEST"));
        assert_eq!(req.query_param("profileArn"), None);
    }
}
