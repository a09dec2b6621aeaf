//! The upstream side of an attempt: which account and peer, the headers, and the body.

use super::attempts::Verdict;
use super::{Ctx, Gateway};
use crate::chat::{ErrorKind, GatewayError};
use crate::kiro::headers::{self, ClientFingerprint};
use crate::kiro::request::{into_body_with_profile_arn, replace_profile_arn};
use crate::metrics;
use crate::upstream::pulse;
use bytes::Bytes;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, OrErr, Result};
use pingora_http::RequestHeader;
use pingora_proxy::Session;
use std::time::Duration;

/// Picks the next account of the plan, waits its backoff, gets it a valid token and builds the
/// peer. Pingora calls this again for every retry, with the same `ctx`.
pub async fn upstream_peer(gw: &Gateway, _s: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
    if ctx.prepared.is_none() {
        return Error::e_explain(
            ErrorType::InternalError,
            "upstream_peer without a prepared request",
        );
    }
    loop {
        let Some(attempt) = ctx.plan.as_mut().and_then(|plan| plan.next_attempt()) else {
            ctx.error.get_or_insert_with(|| {
                GatewayError::new(
                    ErrorKind::Unavailable,
                    "every Kiro account failed for this request",
                )
                .with_retry_after(30)
            });
            return Error::e_explain(ErrorType::HTTPStatus(503), "attempt plan exhausted");
        };
        if attempt.number > 1 {
            metrics::RETRIES.inc();
            if ctx.previous_account.is_some_and(|a| a != attempt.account) {
                metrics::FAILOVERS.inc();
            }
        }
        ctx.previous_account = Some(attempt.account);
        if !attempt.delay.is_zero() {
            tokio::time::sleep(attempt.delay).await;
        }
        ctx.permit = None;
        match gw.accounts.acquire(attempt.account).await {
            Ok(permit) => ctx.permit = Some(permit),
            Err(busy) => {
                // Paced out: not the account's fault; try the next one.
                ctx.error = Some(
                    GatewayError::new(
                        ErrorKind::RateLimited,
                        "every Kiro account is at its configured pace; retry shortly",
                    )
                    .with_retry_after(busy.retry_after.as_secs().max(1)),
                );
                if let Some(plan) = ctx.plan.as_mut() {
                    plan.record_failure(Verdict::NextAccount);
                }
                continue;
            }
        }
        let auth = if attempt.force_refresh {
            gw.accounts.force_refresh(attempt.account).await
        } else {
            gw.accounts.auth(attempt.account).await
        };
        match auth {
            Ok(auth) => {
                ctx.error = None;
                let arn = auth.profile_arn.as_deref();
                if let Some(prepared) = ctx.prepared.as_mut() {
                    ctx.upstream_body = if prepared.kiro.body.is_empty() {
                        // A retry: the previous attempt's body, with this account's profile.
                        replace_profile_arn(&ctx.upstream_body, ctx.upstream_arn.as_deref(), arn)
                    } else {
                        // The first attempt takes the built body: one copy of a long
                        // conversation per request.
                        into_body_with_profile_arn(std::mem::take(&mut prepared.kiro.body), arn)
                    };
                    ctx.upstream_arn = arn.map(str::to_owned);
                }
                ctx.current = Some((attempt.account, auth));
                break;
            }
            Err(e) => {
                log::warn!("account {} has no usable token: {e}", attempt.account);
                ctx.error = Some(GatewayError::new(
                    ErrorKind::Unavailable,
                    format!("no Kiro account has a usable token (last: {e})"),
                ));
                if let Some(plan) = ctx.plan.as_mut() {
                    plan.record_failure(Verdict::NextAccount);
                }
            }
        }
    }
    let url = &gw.cfg.chat_url;
    let addr = gw
        .resolver
        .resolve(&url.host, url.port)
        .await
        .or_err_with(ErrorType::ConnectNoRoute, || {
            format!("resolving {}", url.host)
        })?;
    let mut peer = HttpPeer::new(addr, url.tls, url.host.clone());
    peer.options.connection_timeout = Some(gw.cfg.connect_timeout);
    peer.options.total_connection_timeout = Some(gw.cfg.connect_timeout * 2);
    // Per read: the first-byte timeout and also the longest silence allowed mid-stream.
    peer.options.read_timeout = Some(gw.cfg.first_byte_timeout);
    peer.options.write_timeout = Some(Duration::from_secs(60));
    peer.options.idle_timeout = Some(Duration::from_secs(50));
    if !gw.cfg.ping_interval.is_zero() {
        pulse::use_pulses(&mut peer);
    }
    Ok(Box::new(peer))
}

/// Replaces the client's request head with Kiro's: nothing of the client's headers (its API
/// key, cookies, SDK headers) reaches the upstream.
pub fn upstream_request_filter(gw: &Gateway, req: &mut RequestHeader, ctx: &mut Ctx) -> Result<()> {
    let Some((_, auth)) = ctx.current.as_ref() else {
        return Error::e_explain(ErrorType::InternalError, "no account chosen");
    };
    let url = &gw.cfg.chat_url;
    let mut head = RequestHeader::build("POST", url.path.as_bytes(), Some(12))?;
    head.insert_header("host", url.authority())?;
    let fp = ClientFingerprint {
        kiro_version: &gw.cfg.kiro_version,
        machine_id: &auth.machine_id,
        os: headers::os_for(&auth.machine_id),
        node_version: "22.22.0",
    };
    let invocation = uuid::Uuid::new_v4().to_string();
    for (name, value) in headers::chat_headers(&fp, &auth.bearer, auth.token_type, &invocation) {
        head.insert_header(name, value)?;
    }
    head.insert_header("content-length", ctx.upstream_body.len().to_string())?;
    *req = head;
    Ok(())
}

/// Swaps the body for the converted one. With the tail trick Pingora calls this once per
/// attempt with the retry buffer's tail and `end_of_stream`; anything earlier is withheld
/// (`Some(empty)`, never `None`, which would end the upstream body).
pub fn request_body_filter(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut Ctx) {
    *body = Some(if end_of_stream {
        ctx.upstream_body.clone()
    } else {
        Bytes::new()
    });
}
