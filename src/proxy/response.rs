//! The response side: retry decisions on the upstream status, the client's headers, and the
//! body translation.

use super::attempts::Verdict;
use super::ctx::{GaugeGuard, ResponseMode};
use super::{Ctx, Gateway};
use crate::accounts::{Advice, Outcome};
use crate::kiro::errors::{classify, UpstreamError, UpstreamErrorClass};
use crate::metrics;
use crate::upstream::pulse;
use bytes::Bytes;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use std::time::Instant;

/// Upstream error bodies are short JSON; anything longer is cut for classification.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The pool's advice, as a step of the request's attempt plan.
fn verdict(advice: Advice) -> Verdict {
    match advice {
        Advice::RetrySame => Verdict::RetrySame,
        Advice::RefreshThenRetry => Verdict::RefreshThenRetry,
        Advice::PreferNext => Verdict::PreferNext,
        Advice::NextAccount => Verdict::NextAccount,
        Advice::Stop => Verdict::GiveUp,
    }
}

/// What a classified Kiro error says about the account that got it.
pub fn account_outcome(error: &UpstreamError) -> Outcome {
    match error.class {
        UpstreamErrorClass::QuotaExhausted => Outcome::Quota,
        UpstreamErrorClass::BearerInvalid => Outcome::Unauthorized,
        UpstreamErrorClass::Suspended => Outcome::Suspended {
            reason: error.message.clone(),
        },
        UpstreamErrorClass::SuspiciousActivity => Outcome::Suspicious,
        UpstreamErrorClass::Throttled => Outcome::Throttled,
        UpstreamErrorClass::Transient
        | UpstreamErrorClass::EdgeTimeout
        | UpstreamErrorClass::ProfileArnRequired
        | UpstreamErrorClass::ModelUnsupported => Outcome::Transient,
        UpstreamErrorClass::BadRequest
        | UpstreamErrorClass::ContextTooLong
        | UpstreamErrorClass::ToolSchemaInvalid
        | UpstreamErrorClass::ToolResultMismatch
        | UpstreamErrorClass::Other => Outcome::BadRequest,
    }
}

/// A non-200 answer either triggers another attempt (returned as an error that
/// `error_while_proxy` marks retryable) or goes on to the client, mapped.
pub fn upstream_response_filter(gw: &Gateway, resp: &ResponseHeader, ctx: &mut Ctx) -> Result<()> {
    let status = resp.status.as_u16();
    metrics::UPSTREAM_ATTEMPTS
        .with_label_values(&[metrics::attempt_outcome(status)])
        .inc();
    if status == 200 {
        let now = Instant::now();
        ctx.first_byte = Some(now);
        metrics::TTFB
            .with_label_values(&[ctx.route.dialect().name()])
            .observe(now.duration_since(ctx.started).as_secs_f64());
        return Ok(());
    }
    // Pingora has not read the error body yet and nothing may reach the client before we
    // decide, so intermediate attempts are judged by status; the final one by its body.
    let outcome = Outcome::from_status(status);
    let Some((account, _)) = ctx.current.as_ref() else {
        return Ok(());
    };
    let account = *account;
    let verdict = verdict(gw.accounts.advise(account, &outcome));
    let retry = ctx
        .plan
        .as_mut()
        .is_some_and(|plan| plan.record_failure(verdict));
    if retry {
        gw.accounts.report(account, outcome);
        log::info!(
            "request {} attempt {}: Kiro answered {status}, retrying ({verdict:?})",
            ctx.request_id,
            ctx.attempts()
        );
        ctx.retry_planned = true;
        return Error::e_explain(ErrorType::HTTPStatus(status), "retrying the upstream");
    }
    Ok(())
}

/// Replaces the upstream head with the client's: SSE or JSON for a 200, the mapped error
/// status otherwise. Upstream headers (x-amzn-*, …) are not passed on.
pub fn response_filter(
    session: &mut Session,
    resp: &mut ResponseHeader,
    ctx: &mut Ctx,
) -> Result<()> {
    if session.is_process_shutting_down() {
        // This process is handing over to a new one: tell the client not to reuse the
        // connection, so its next request goes to the new process instead of hitting a close.
        session.set_keepalive(None);
    }
    let Some(prepared) = ctx.prepared.as_deref() else {
        return Ok(());
    };
    let status = resp.status.as_u16();
    let mut head;
    if status == 200 {
        let translator = prepared.translator();
        head = ResponseHeader::build(200, Some(6))?;
        head.insert_header("content-type", translator.content_type())?;
        head.insert_header("cache-control", "no-cache")?;
        if prepared.stream {
            // Tell buffering reverse proxies in front of us to pass events through at once.
            head.insert_header("x-accel-buffering", "no")?;
            ctx.stream_guard = Some(GaugeGuard::new(&metrics::ACTIVE_STREAMS));
        }
        ctx.response = ResponseMode::Translate(Box::new(translator));
        // No retry is possible once the client's head is written: the converted body kept for
        // retries (hundreds of KB for a long conversation) can go now, not at the end of a
        // minutes-long stream. The copy Pingora is still sending is its own reference.
        ctx.upstream_body = Bytes::new();
    } else {
        let err = classify(status, b"").to_client();
        head = ResponseHeader::build(err.status(), Some(6))?;
        head.insert_header("content-type", "application/json")?;
        if let Some(secs) = err.retry_after {
            head.insert_header("retry-after", secs.to_string())?;
        }
        ctx.response = ResponseMode::UpstreamError {
            status,
            body: Vec::new(),
        };
    }
    head.insert_header("x-request-id", ctx.request_id.as_str())?;
    // Length unknown until the end; chunked also makes Pingora flush every piece at once.
    head.insert_header("transfer-encoding", "chunked")?;
    *resp = head;
    Ok(())
}

/// Translates each upstream chunk; at the end, closes the client's stream or renders the
/// collected upstream error. A pulse (upstream silence) becomes the dialect's keep-alive, and so
/// does a long run of upstream bytes that produce nothing for the client (a tool call's input is
/// sent whole, once complete).
pub fn response_body_filter(
    gw: &Gateway,
    body: &mut Option<Bytes>,
    end_of_stream: bool,
    ctx: &mut Ctx,
) {
    let silent = body.as_ref().is_some_and(pulse::is_pulse);
    if silent {
        *body = Some(Bytes::new());
    }
    let dialect = ctx.route.dialect();
    match &mut ctx.response {
        ResponseMode::Translate(translator) => {
            let mut out = match body.take() {
                _ if silent => translator.keepalive(),
                Some(chunk) => translator.push(chunk),
                None => Bytes::new(),
            };
            if end_of_stream {
                let tail = translator.finish();
                // Stored before the last bytes go out, so a client that fetches the response
                // (or continues it) right after reading it finds it.
                if let Some(prepared) = ctx.prepared.as_ref() {
                    if let Some((id, stored)) = translator
                        .take_stored_document()
                        .and_then(|d| prepared.stored_response(d))
                    {
                        gw.responses.insert(id, stored);
                    }
                }
                out = if out.is_empty() {
                    tail
                } else {
                    let mut joined = Vec::with_capacity(out.len() + tail.len());
                    joined.extend_from_slice(&out);
                    joined.extend_from_slice(&tail);
                    Bytes::from(joined)
                };
            }
            let ping_after = gw.cfg.ping_interval;
            if out.is_empty() {
                let quiet_since = ctx.last_client_bytes.or(ctx.first_byte);
                if !ping_after.is_zero() && quiet_since.is_some_and(|t| t.elapsed() >= ping_after) {
                    out = translator.keepalive();
                }
            }
            if !out.is_empty() {
                ctx.last_client_bytes = Some(Instant::now());
            }
            metrics::STREAMED_BYTES.inc_by(out.len() as u64);
            *body = Some(out);
        }
        ResponseMode::UpstreamError {
            status,
            body: collected,
        } => {
            if let Some(chunk) = body.take() {
                let room = MAX_ERROR_BODY.saturating_sub(collected.len());
                collected.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            *body = Some(if end_of_stream {
                let upstream = classify(*status, collected);
                if let Some((account, _)) = &ctx.current {
                    gw.accounts.report(*account, account_outcome(&upstream));
                }
                log::warn!(
                    "request {}: Kiro error {} {:?}: {}",
                    ctx.request_id,
                    upstream.status,
                    upstream.class,
                    upstream.message
                );
                Bytes::from(dialect.error_body(&upstream.to_client()))
            } else {
                Bytes::new()
            });
        }
        ResponseMode::Pending => {}
    }
}
