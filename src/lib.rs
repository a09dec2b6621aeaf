//! kiro-edge: a Pingora gateway that serves Anthropic, OpenAI and Gemini clients from a pool of
//! Kiro (AWS CodeWhisperer / Amazon Q) accounts.
//!
//! Layers, each only calling the ones below it (see `docs/architecture.md`):
//! - [`proxy`]: the Pingora glue (`ProxyHttp` hooks). No protocol logic.
//! - [`pipeline`]: upstream bytes → client bytes, one request's response translation.
//! - [`dialect`]: client APIs ↔ the canonical model.
//! - [`chat`]: the canonical model.
//! - [`kiro`]: the upstream protocol.
//! - [`accounts`]: credentials, token refresh, the account pool.
//! - [`upstream`]: outbound HTTP(S) on Pingora's connector (refresh, usage, models).
//! - [`config`]: the YAML configuration.
//! - [`metrics`]: Prometheus metrics.
//! - [`json`]: JSON output written by hand, for the Kiro body and the SSE frames.

pub mod accounts;
pub mod chat;
pub mod config;
pub mod dialect;
pub mod json;
pub mod kiro;
pub mod memory;
pub mod metrics;
pub mod pipeline;
pub mod proxy;
pub mod upstream;
