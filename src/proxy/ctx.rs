//! Per-request state carried across the hooks (and across upstream attempts).

use super::attempts::AttemptPlan;
use super::route::Route;
use crate::accounts::{AccountId, Permit, UpstreamAuth};
use crate::chat::GatewayError;
use crate::metrics;
use crate::pipeline::{PreparedRequest, ResponseTranslator};
use bytes::Bytes;
use pingora_prometheus::prometheus::IntGauge;
use std::time::Instant;

/// How the response body is being produced.
pub enum ResponseMode {
    /// Not decided yet (no upstream response header seen).
    Pending,
    /// Kiro answered 200: translate its event-stream.
    Translate(Box<ResponseTranslator>),
    /// Kiro's final answer was an error: collect its body and render it in the client's format.
    UpstreamError { status: u16, body: Vec<u8> },
}

/// Holds a gauge up while alive: a request or stream counted as active until its context drops,
/// whatever path the request took.
pub struct GaugeGuard(&'static IntGauge);

impl GaugeGuard {
    pub fn new(gauge: &'static IntGauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub struct Ctx {
    pub started: Instant,
    _active: GaugeGuard,
    /// Held while a streaming response is open.
    pub stream_guard: Option<GaugeGuard>,
    /// The account of the previous attempt, to count failovers.
    pub previous_account: Option<AccountId>,
    pub request_id: String,
    pub route: Route,
    pub prepared: Option<Box<PreparedRequest>>,
    pub plan: Option<AttemptPlan<AccountId>>,
    /// The account and credentials of the attempt in flight.
    pub current: Option<(AccountId, UpstreamAuth)>,
    /// The pacing slot of the attempt in flight; released when replaced or dropped.
    pub permit: Option<Permit>,
    /// The converted body of the attempt in flight (with this account's profileArn), and that
    /// profileArn. Retries derive their body from it.
    pub upstream_body: Bytes,
    pub upstream_arn: Option<String>,
    /// `upstream_response_filter` rejected an attempt and planned another.
    pub retry_planned: bool,
    pub response: ResponseMode,
    /// An error decided before any upstream response, to render in `fail_to_proxy`.
    pub error: Option<GatewayError>,
    /// When the first upstream byte arrived.
    pub first_byte: Option<Instant>,
    /// When the client last got bytes of the response body.
    pub last_client_bytes: Option<Instant>,
}

impl Ctx {
    pub fn new() -> Self {
        crate::memory::request_begun();
        Ctx {
            started: Instant::now(),
            _active: GaugeGuard::new(&metrics::ACTIVE_REQUESTS),
            stream_guard: None,
            previous_account: None,
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            route: Route::NotFound(crate::dialect::Dialect::Anthropic),
            prepared: None,
            plan: None,
            current: None,
            permit: None,
            upstream_body: Bytes::new(),
            upstream_arn: None,
            retry_planned: false,
            response: ResponseMode::Pending,
            error: None,
            first_byte: None,
            last_client_bytes: None,
        }
    }

    pub fn attempts(&self) -> u32 {
        self.plan.as_ref().map_or(0, |p| p.attempts())
    }
}

impl Default for Ctx {
    fn default() -> Self {
        Self::new()
    }
}
