//! Which endpoint a request is for, from its method and path alone.

use crate::dialect::Dialect;

/// What the gateway does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A conversation turn, translated and sent to Kiro.
    Chat(Dialect),
    /// Token counting, answered locally.
    CountTokens(Dialect),
    /// The model list, answered locally.
    Models(Dialect),
    /// Pool and process health.
    Health,
    /// `HEAD /` and `GET /`: Claude Code's connectivity probe.
    Probe,
    /// A known path with the wrong method.
    MethodNotAllowed(Dialect),
    NotFound,
}

impl Route {
    /// Routes on the path only; the query (e.g. Claude Code's `?beta=true`) is ignored.
    pub fn of(method: &str, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        let is = |m: &str| method.eq_ignore_ascii_case(m);
        match path {
            "/v1/messages" if is("POST") => Route::Chat(Dialect::Anthropic),
            "/v1/messages/count_tokens" if is("POST") => Route::CountTokens(Dialect::Anthropic),
            "/v1/models" if is("GET") => Route::Models(Dialect::Anthropic),
            "/v1/messages" | "/v1/messages/count_tokens" | "/v1/models" => {
                Route::MethodNotAllowed(Dialect::Anthropic)
            }
            "/health" | "/healthz" if is("GET") || is("HEAD") => Route::Health,
            "" if is("GET") || is("HEAD") => Route::Probe,
            "/api/hello" if is("GET") || is("HEAD") => Route::Probe,
            _ => Route::NotFound,
        }
    }

    /// The dialect whose error format the answer should use.
    pub fn dialect(&self) -> Dialect {
        match self {
            Route::Chat(d) | Route::CountTokens(d) | Route::Models(d) | Route::MethodNotAllowed(d) => {
                *d
            }
            Route::Health | Route::Probe | Route::NotFound => Dialect::Anthropic,
        }
    }

    /// Whether the route needs a client API key.
    pub fn needs_auth(&self) -> bool {
        matches!(self, Route::Chat(_) | Route::CountTokens(_) | Route::Models(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_anthropic_api() {
        assert_eq!(Route::of("POST", "/v1/messages"), Route::Chat(Dialect::Anthropic));
        assert_eq!(Route::of("POST", "/v1/messages/"), Route::Chat(Dialect::Anthropic));
        assert_eq!(
            Route::of("POST", "/v1/messages/count_tokens"),
            Route::CountTokens(Dialect::Anthropic)
        );
        assert_eq!(Route::of("GET", "/v1/models"), Route::Models(Dialect::Anthropic));
        assert_eq!(
            Route::of("GET", "/v1/messages"),
            Route::MethodNotAllowed(Dialect::Anthropic)
        );
    }

    #[test]
    fn probes_and_health_need_no_key() {
        assert_eq!(Route::of("HEAD", "/"), Route::Probe);
        assert_eq!(Route::of("HEAD", "/api/hello"), Route::Probe);
        assert_eq!(Route::of("GET", "/health"), Route::Health);
        assert!(!Route::Health.needs_auth());
        assert!(Route::of("POST", "/v1/messages").needs_auth());
        assert_eq!(Route::of("GET", "/nope"), Route::NotFound);
    }
}
