//! The Pingora glue: a [`ProxyHttp`] whose hooks route, authenticate, convert and move bytes.
//! Protocol logic lives below (pipeline, dialect, kiro); each hook group has its own file.
//!
//! A chat request goes through the hooks in this order (Pingora calls the middle part again on
//! every retry):
//! ```text
//! request_filter            route, client auth, local answers, read + convert the body, plan
//! ┌ upstream_peer           next account of the plan (backoff, fresh token), HttpPeer
//! │ upstream_request_filter Kiro's path and headers, exact Content-Length
//! │ request_body_filter     the converted body (with this account's profileArn)
//! │ upstream_response_filter  non-200: retry per the plan, or let the error through
//! └ error_while_proxy / fail_to_connect: retry while nothing reached the client
//! response_filter           client headers (SSE or JSON), or the mapped error status
//! response_body_filter      event-stream → client SSE/JSON, chunk by chunk
//! fail_to_proxy             error in the client's format (or an in-stream error event)
//! logging                   access log, account bookkeeping
//! ```

pub mod attempts;
pub mod auth;
mod body;
mod ctx;
mod failure;
mod local;
mod request;
mod resolve;
mod respond;
mod response;
pub mod route;
pub mod service;
mod upstream;

pub use ctx::Ctx;

use crate::accounts::Accounts;
use crate::config::GatewayConfig;
use crate::dialect::openai_responses::store::ResponseStore;
use crate::pipeline::TranslateSettings;
use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::modules::http::HttpModules;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::Duration;

/// The gateway: shared, read-mostly state for every request.
pub struct Gateway {
    pub(crate) cfg: Arc<GatewayConfig>,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) translate: TranslateSettings,
    pub(crate) resolver: resolve::Resolver,
    /// OpenAI Responses kept for `previous_response_id` and `GET /v1/responses/{id}`.
    pub(crate) responses: ResponseStore,
    /// Slots for reading and converting request bodies (see `proxy/request.rs`).
    pub(crate) upload_slots: tokio::sync::Semaphore,
}

impl Gateway {
    pub fn new(cfg: Arc<GatewayConfig>, accounts: Arc<Accounts>) -> Self {
        let translate = TranslateSettings {
            models: crate::kiro::models::ModelSettings {
                aliases: cfg.model_aliases.clone(),
                fallback: cfg.model_fallback.clone(),
            },
            payload_budget: cfg.payload_budget_bytes,
            max_image_bytes: cfg.max_image_bytes,
        };
        Gateway {
            cfg: cfg.clone(),
            accounts,
            translate,
            resolver: resolve::Resolver::new(),
            responses: ResponseStore::new(cfg.responses_max_stored, cfg.responses_max_age),
            upload_slots: tokio::sync::Semaphore::new(cfg.concurrent_uploads),
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new()
    }

    /// No modules: Pingora's default is a response-compression module that is switched off but
    /// still runs on every chunk, and event streams are not compressed.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        request::request_filter(self, session, ctx).await
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        upstream::upstream_peer(self, session, ctx).await
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        upstream::upstream_request_filter(self, upstream_request, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        upstream::request_body_filter(body, end_of_stream, ctx);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        response::upstream_response_filter(self, upstream_response, ctx)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        response::response_filter(session, upstream_response, ctx)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        response::response_body_filter(self, body, end_of_stream, ctx);
        Ok(None)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        _client_reused: bool,
    ) -> Box<Error> {
        failure::error_while_proxy(self, peer, session, e, ctx)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        e: Box<Error>,
    ) -> Box<Error> {
        failure::fail_to_connect(self, e, ctx)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        failure::fail_to_proxy(self, session, e, ctx).await
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        failure::logging(self, session, e, ctx);
    }
}
