//! Outbound HTTP(S) for the gateway's own calls (token refresh, usage, model lists), built on
//! Pingora's connector.

pub mod http_client;

pub use http_client::{
    parse_url, HttpClient, HttpClientConfig, HttpClientError, OutboundRequest, OutboundResponse,
    ParsedUrl, Scheme, UrlError,
};
