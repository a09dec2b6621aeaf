//! The gateway's canonical client-facing error. Each dialect renders it in its own shape.

use std::fmt;

/// The class of an error as the client should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400: the request cannot be served as sent.
    InvalidRequest,
    /// 401: missing or wrong API key.
    Authentication,
    /// 403: the key is valid but not allowed.
    Permission,
    /// 404: unknown route, model or stored object.
    NotFound,
    /// 405: wrong HTTP method for the route.
    MethodNotAllowed,
    /// 408: the client took too long to send its request body.
    RequestTimeout,
    /// 411: the body has no Content-Length.
    LengthRequired,
    /// 413: the body or the converted request is too large.
    PayloadTooLarge,
    /// 429: rate limited (by us or by every upstream account).
    RateLimited,
    /// 500: a bug or an unexpected state in the gateway.
    Internal,
    /// 502: the upstream answered something unusable.
    BadGateway,
    /// 503: no account can serve the request right now.
    Unavailable,
    /// 504: the upstream did not answer in time.
    Timeout,
    /// 529: the upstream is overloaded.
    Overloaded,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::LengthRequired => 411,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Overloaded => 529,
        }
    }

    /// The kind a bare HTTP status maps to.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            402 | 403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            408 => ErrorKind::RequestTimeout,
            411 => ErrorKind::LengthRequired,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            502 => ErrorKind::BadGateway,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::Timeout,
            529 => ErrorKind::Overloaded,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error to show the client, in plain words.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub message: String,
    /// Seconds the client should wait before retrying (sent as `retry-after`).
    pub retry_after: Option<u64>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.status())
    }
}

impl std::error::Error for GatewayError {}
