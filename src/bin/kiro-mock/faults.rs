//! Faults the mock can inject, and the exact upstream error bodies it answers with.
//!
//! The bodies are the ones recorded in `docs/kiro-protocol.md` §5.2 (and §4.3 for the token
//! endpoints), so the gateway's error classifier is exercised against the real wording.

/// Error bodies of the real upstream, byte for byte where the sources quote them.
pub mod body {
    pub const MALFORMED: &str = r#"{"message":"Improperly formed request.","reason":null}"#;
    pub const PROFILE_ARN_REQUIRED: &str =
        r#"{"message":"profileArn is required for this request.","reason":null}"#;
    pub const CONTENT_LENGTH: &str =
        r#"{"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"}"#;
    pub const TOOL_SCHEMA_INVALID: &str = r#"{"__type":"ValidationException","message":"input_schema does not support oneOf, allOf, or anyOf at the top level","reason":"TOOL_SCHEMA_INVALID"}"#;
    pub const BEARER_INVALID: &str =
        r#"{"message":"The bearer token included in the request is invalid."}"#;
    pub const SUSPENDED: &str = r#"{"__type":"com.amazon.aws.codewhisperer#AccessDeniedException","message":"Your User ID (d-0000000000) temporarily is suspended. We've locked your account as a security precaution. To restore access, please contact our support team to verify your identity: https://aws.amazon.com/contact-us/","reason":"TEMPORARILY_SUSPENDED"}"#;
    pub const QUOTA: &str =
        r#"{"message":"You have reached the limit.","reason":"MONTHLY_REQUEST_COUNT"}"#;
    pub const THROTTLED: &str =
        r#"{"message":"Too many requests, please wait before trying again.","reason":null}"#;
    pub const SUSPICIOUS: &str = r#"{"message":"Due to suspicious activity, we are imposing temporary limits on how frequently your account (d-0000000000) can send a request to Kiro while we investigate.","reason":null}"#;
    pub const INTERNAL: &str = r#"{"message":"Encountered an unexpected error when processing the request, please try again.","reason":null}"#;
    pub const UNAVAILABLE: &str = r#"{"message":"Service is temporarily unavailable. Please try again later.","reason":null}"#;
    pub const INVALID_GRANT: &str =
        r#"{"error":"invalid_grant","error_description":"Invalid refresh token provided"}"#;
}

/// One injectable failure (or `Ok`, which consumes a queue slot and answers normally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Ok,
    Throttled,
    Suspicious,
    BearerInvalid,
    Suspended,
    Quota,
    Internal,
    Unavailable,
    Malformed,
    ContentLength,
    /// Read the request, never answer (until the client leaves or the hang bound passes).
    Hang,
    /// Send the 200 headers, then nothing.
    HangAfterHeaders,
    /// Send a few events, then close the connection without the chunked terminator.
    Cut,
    /// A frame with a bad message CRC in the middle of otherwise valid frames.
    Garbage,
    /// A `ContentLengthExceededException` exception frame after some text.
    Exception,
    /// An `:message-type=error` frame after some text.
    ErrorFrame,
}

impl Fault {
    /// Every fault, in the order `--help` lists them.
    pub const ALL: [Fault; 16] = [
        Fault::Ok,
        Fault::Throttled,
        Fault::Suspicious,
        Fault::BearerInvalid,
        Fault::Suspended,
        Fault::Quota,
        Fault::Internal,
        Fault::Unavailable,
        Fault::Malformed,
        Fault::ContentLength,
        Fault::Hang,
        Fault::HangAfterHeaders,
        Fault::Cut,
        Fault::Garbage,
        Fault::Exception,
        Fault::ErrorFrame,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Throttled => "429",
            Fault::Suspicious => "429-suspicious",
            Fault::BearerInvalid => "403",
            Fault::Suspended => "403-suspended",
            Fault::Quota => "402",
            Fault::Internal => "500",
            Fault::Unavailable => "503",
            Fault::Malformed => "400",
            Fault::ContentLength => "content-length",
            Fault::Hang => "hang",
            Fault::HangAfterHeaders => "hang-after-headers",
            Fault::Cut => "cut",
            Fault::Garbage => "garbage",
            Fault::Exception => "exception",
            Fault::ErrorFrame => "error-frame",
        }
    }

    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The HTTP status and body of a fault that is a plain error response, if it is one.
    pub fn http_error(self) -> Option<(u16, &'static str)> {
        let reply = match self {
            Fault::Throttled => (429, body::THROTTLED),
            Fault::Suspicious => (429, body::SUSPICIOUS),
            Fault::BearerInvalid => (403, body::BEARER_INVALID),
            Fault::Suspended => (403, body::SUSPENDED),
            Fault::Quota => (402, body::QUOTA),
            Fault::Internal => (500, body::INTERNAL),
            Fault::Unavailable => (503, body::UNAVAILABLE),
            Fault::Malformed => (400, body::MALFORMED),
            Fault::ContentLength => (400, body::CONTENT_LENGTH),
            Fault::Ok
            | Fault::Hang
            | Fault::HangAfterHeaders
            | Fault::Cut
            | Fault::Garbage
            | Fault::Exception
            | Fault::ErrorFrame => return None,
        };
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for fault in Fault::ALL {
            assert_eq!(Fault::parse(fault.name()), Some(fault));
        }
        let mut names: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Fault::ALL.len());
        assert_eq!(Fault::parse("418"), None);
    }

    #[test]
    fn error_faults_carry_the_documented_markers() {
        let (status, b) = Fault::Quota.http_error().unwrap();
        assert_eq!(status, 402);
        assert!(b.contains("MONTHLY_REQUEST_COUNT"));
        let (status, b) = Fault::Suspended.http_error().unwrap();
        assert_eq!(status, 403);
        assert!(b.contains("temporarily is suspended") && b.contains("locked your account"));
        let (status, b) = Fault::Suspicious.http_error().unwrap();
        assert_eq!(status, 429);
        assert!(b.contains("suspicious activity"));
        assert!(Fault::Cut.http_error().is_none());
        assert!(Fault::Ok.http_error().is_none());
    }

    #[test]
    fn every_body_is_json() {
        for b in [
            body::MALFORMED,
            body::PROFILE_ARN_REQUIRED,
            body::CONTENT_LENGTH,
            body::TOOL_SCHEMA_INVALID,
            body::BEARER_INVALID,
            body::SUSPENDED,
            body::QUOTA,
            body::THROTTLED,
            body::SUSPICIOUS,
            body::INTERNAL,
            body::UNAVAILABLE,
            body::INVALID_GRANT,
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(b).is_ok(), "{b}");
        }
    }
}
