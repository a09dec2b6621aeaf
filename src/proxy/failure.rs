//! Failures: which ones are retried, how the client hears about the rest, and the log line
//! every request leaves.

use super::attempts::Verdict;
use super::ctx::ResponseMode;
use super::{respond, Ctx, Gateway};
use crate::accounts::Outcome as AccountOutcome;
use crate::chat::{ErrorKind, GatewayError};
use crate::metrics;
use crate::pipeline::Outcome;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_proxy::{FailToProxy, Session};

/// Nothing but a 1xx has reached the client, so another attempt is invisible to it.
fn nothing_sent(session: &Session) -> bool {
    session
        .response_written()
        .is_none_or(|r| r.status.is_informational())
}

/// Pingora's default never retries a POST. Ours retries while nothing reached the client and
/// the plan has attempts left: status rejections (already recorded by
/// `upstream_response_filter`), and transport failures such as a first-byte timeout or a
/// connection closed before the response head.
pub fn error_while_proxy(
    gw: &Gateway,
    peer: &HttpPeer,
    session: &mut Session,
    e: Box<Error>,
    ctx: &mut Ctx,
) -> Box<Error> {
    let mut e = e.more_context(format!("Peer: {peer}"));
    if std::mem::take(&mut ctx.retry_planned) {
        e.set_retry(nothing_sent(session));
        return e;
    }
    let transport = match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => Some("timeout"),
        ErrorType::ConnectionClosed
        | ErrorType::ReadError
        | ErrorType::WriteError
        | ErrorType::H1Error
        | ErrorType::InvalidHTTPHeader => Some("network_error"),
        _ => None,
    };
    let upstream_fault = *e.esource() != ErrorSource::Downstream;
    let retry = match transport {
        Some(outcome) if upstream_fault => {
            metrics::UPSTREAM_ATTEMPTS
                .with_label_values(&[outcome])
                .inc();
            if let Some((account, _)) = &ctx.current {
                gw.accounts.report(*account, AccountOutcome::Network);
            }
            nothing_sent(session)
                && ctx
                    .plan
                    .as_mut()
                    .is_some_and(|p| p.record_failure(Verdict::PreferNext))
        }
        _ => false,
    };
    e.set_retry(retry);
    e
}

/// Connection failures never sent anything: retry per the plan.
pub fn fail_to_connect(gw: &Gateway, mut e: Box<Error>, ctx: &mut Ctx) -> Box<Error> {
    metrics::UPSTREAM_ATTEMPTS
        .with_label_values(&["connect_error"])
        .inc();
    if let Some((account, _)) = &ctx.current {
        gw.accounts.report(*account, AccountOutcome::Network);
    }
    let retry = ctx
        .plan
        .as_mut()
        .is_some_and(|p| p.record_failure(Verdict::PreferNext));
    e.set_retry(retry);
    e
}

/// The client-facing error for a failure Pingora reports.
fn client_error(e: &Error, ctx: &Ctx, gw: &Gateway) -> GatewayError {
    if let Some(err) = &ctx.error {
        return err.clone();
    }
    match e.etype() {
        ErrorType::HTTPStatus(code) => GatewayError::new(
            ErrorKind::from_status(*code),
            format!("the request failed with status {code}"),
        ),
        ErrorType::ReadTimedout => GatewayError::new(
            ErrorKind::Timeout,
            format!(
                "Kiro sent nothing for {} s; the request was given up",
                gw.cfg.first_byte_timeout.as_secs()
            ),
        ),
        ErrorType::ConnectTimedout
        | ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::TLSHandshakeFailure => GatewayError::new(
            ErrorKind::BadGateway,
            format!(
                "could not connect to Kiro at {}",
                gw.cfg.chat_url.authority()
            ),
        ),
        _ if *e.esource() == ErrorSource::Upstream => GatewayError::new(
            ErrorKind::BadGateway,
            format!("the connection to Kiro failed: {}", e.etype().as_str()),
        ),
        _ => GatewayError::new(
            ErrorKind::Internal,
            "the gateway failed to process the request",
        ),
    }
}

/// Writes the final error: a JSON error before the response started, the dialect's in-stream
/// error event (and a clean end of the stream) after.
pub async fn fail_to_proxy(
    gw: &Gateway,
    session: &mut Session,
    e: &Error,
    ctx: &mut Ctx,
) -> FailToProxy {
    let err = client_error(e, ctx, gw);
    if *e.esource() == ErrorSource::Downstream
        && matches!(
            e.etype(),
            ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed
        )
    {
        // The client went away: nobody to tell.
        return FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        };
    }
    if !nothing_sent(session) {
        if let ResponseMode::Translate(translator) = &mut ctx.response {
            let tail = translator.fail(err);
            if let Err(write) = session.write_response_body(Some(tail), true).await {
                log::debug!("could not end the stream after an upstream failure: {write}");
            }
        }
        return FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        };
    }
    let code = err.status();
    if let Err(write) = respond::error(session, ctx.route.dialect(), &err, &ctx.request_id).await {
        log::debug!("could not send the error response: {write}");
    }
    FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}

/// One structured line per request, the request metrics, and the account's bookkeeping.
pub fn logging(gw: &Gateway, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    let outcome = match &ctx.response {
        ResponseMode::Translate(t) => t.outcome().cloned(),
        _ => None,
    };
    if let (Some((account, _)), Some(Outcome::Finished { usage, .. })) = (&ctx.current, &outcome) {
        if e.is_none() {
            gw.accounts.report(
                *account,
                AccountOutcome::Success {
                    credits: usage.credits,
                },
            );
            if let Some(session) = ctx.prepared.as_ref().and_then(|p| p.session_key.as_deref()) {
                gw.accounts.pin(session, *account);
            }
        }
    }
    let dialect = ctx.route.dialect().name();
    let elapsed = ctx.started.elapsed();
    let (model, kiro_model, stream) = match ctx.prepared.as_ref() {
        Some(p) => (p.meta.model.as_str(), p.model.kiro_id.as_str(), p.stream),
        None => ("-", "-", false),
    };
    let (tokens_in, tokens_out) = match &outcome {
        Some(Outcome::Finished { usage, .. }) => (usage.input_tokens, usage.output_tokens),
        _ => (0, 0),
    };
    if ctx.prepared.is_some() {
        metrics::REQUESTS
            .with_label_values(&[dialect, kiro_model, &status.to_string()])
            .inc();
        metrics::DURATION
            .with_label_values(&[dialect, if stream { "true" } else { "false" }])
            .observe(elapsed.as_secs_f64());
        metrics::TOKENS
            .with_label_values(&["input"])
            .inc_by(tokens_in);
        metrics::TOKENS
            .with_label_values(&["output"])
            .inc_by(tokens_out);
    }
    let error = match (&outcome, &ctx.response, e) {
        (Some(Outcome::Failed(kind)), _, _) => format!("{kind:?}"),
        (_, ResponseMode::UpstreamError { status, .. }, _) => format!("upstream_{status}"),
        (_, _, Some(e)) => e.etype().as_str().to_string(),
        _ => "-".to_string(),
    };
    let path = session.req_header().uri.path();
    log::info!(
        target: "access",
        "id={} method={} path={} dialect={} model={} kiro_model={} stream={} status={} attempts={} account={} ttfb_ms={} ms={} tokens_in={} tokens_out={} error={}",
        ctx.request_id,
        session.req_header().method.as_str(),
        logfmt(path),
        dialect,
        logfmt(model),
        kiro_model,
        stream,
        status,
        ctx.attempts(),
        ctx.current.as_ref().map_or_else(|| "-".to_string(), |(a, _)| a.to_string()),
        ctx.first_byte
            .map_or(-1, |t| t.duration_since(ctx.started).as_millis() as i64),
        elapsed.as_millis(),
        tokens_in,
        tokens_out,
        error,
    );
}

/// A logfmt value: as is when plain, quoted and escaped otherwise, cut to a sane length so a
/// client cannot flood the log through a field it controls.
fn logfmt(value: &str) -> String {
    let cut: String = value.chars().take(128).collect();
    if !cut.is_empty()
        && cut
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
    {
        cut
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::logfmt;

    #[test]
    fn logfmt_values_cannot_break_the_line() {
        assert_eq!(logfmt("claude-sonnet-4-5"), "claude-sonnet-4-5");
        assert_eq!(logfmt("a b"), "\"a b\"");
        assert_eq!(logfmt("x\ny=1"), "\"x\\ny=1\"");
        assert_eq!(logfmt(""), "\"\"");
        assert_eq!(logfmt(&"m".repeat(500)).len(), 128);
    }
}
