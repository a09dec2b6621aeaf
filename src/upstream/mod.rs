//! Outbound HTTP(S), built on Pingora's connector: the gateway's own calls (token refresh,
//! usage, model lists) and the session Kiro's streams go through.

pub mod http_client;
pub mod pulse;

pub use http_client::{
    parse_url, HttpClient, HttpClientConfig, HttpClientError, OutboundRequest, OutboundResponse,
    ParsedUrl, Scheme, UrlError,
};
