//! Which endpoint a request is for, from its method, path and (for the one path several APIs
//! share, `GET /v1/models`) the family of client, told by its headers.

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
    /// `GET /v1/responses/{id}` (or `DELETE` when `delete`): a stored Responses object.
    StoredResponse {
        id: String,
        delete: bool,
    },
    /// Pool and process health.
    Health,
    /// `HEAD /` and `GET /`: Claude Code's connectivity probe.
    Probe,
    /// A known path with the wrong method.
    MethodNotAllowed(Dialect),
    NotFound(Dialect),
}

/// A Gemini model action from a path like `/v1beta/models/gemini-2.5-flash:streamGenerateContent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeminiCall<'a> {
    pub model: &'a str,
    pub action: &'a str,
}

/// Splits a Gemini model path (`/v1beta/models/…` or `/v1/models/…`) into model and action.
pub fn gemini_call(path: &str) -> Option<GeminiCall<'_>> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, action) = rest.rsplit_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some(GeminiCall { model, action })
}

impl Route {
    /// Routes on the path; the query (e.g. Claude Code's `?beta=true`) is ignored. `family` is
    /// the dialect the client's headers suggest.
    pub fn of(method: &str, path: &str, family: Dialect) -> Route {
        let path = path.trim_end_matches('/');
        let is = |m: &str| method.eq_ignore_ascii_case(m);
        let post = |d: Dialect, r: Route| {
            if is("POST") {
                r
            } else {
                Route::MethodNotAllowed(d)
            }
        };
        if let Some(call) = gemini_call(path) {
            return match call.action {
                "generateContent" | "streamGenerateContent" => {
                    post(Dialect::Gemini, Route::Chat(Dialect::Gemini))
                }
                "countTokens" => post(Dialect::Gemini, Route::CountTokens(Dialect::Gemini)),
                _ => Route::NotFound(Dialect::Gemini),
            };
        }
        if let Some(id) = path.strip_prefix("/v1/responses/") {
            if !id.is_empty() && !id.contains('/') {
                return match method {
                    m if m.eq_ignore_ascii_case("GET") => Route::StoredResponse {
                        id: id.to_string(),
                        delete: false,
                    },
                    m if m.eq_ignore_ascii_case("DELETE") => Route::StoredResponse {
                        id: id.to_string(),
                        delete: true,
                    },
                    _ => Route::MethodNotAllowed(Dialect::OpenAiResponses),
                };
            }
        }
        match path {
            "/v1/messages" => post(Dialect::Anthropic, Route::Chat(Dialect::Anthropic)),
            "/v1/messages/count_tokens" => {
                post(Dialect::Anthropic, Route::CountTokens(Dialect::Anthropic))
            }
            "/v1/chat/completions" | "/chat/completions" => {
                post(Dialect::OpenAiChat, Route::Chat(Dialect::OpenAiChat))
            }
            "/v1/responses" | "/responses" => post(
                Dialect::OpenAiResponses,
                Route::Chat(Dialect::OpenAiResponses),
            ),
            "/v1beta/models" if is("GET") => Route::Models(Dialect::Gemini),
            "/v1/models" | "/models" if is("GET") => Route::Models(family),
            "/v1beta/models" | "/v1/models" | "/models" => Route::MethodNotAllowed(family),
            "/health" | "/healthz" if is("GET") || is("HEAD") => Route::Health,
            "" | "/api/hello" if is("GET") || is("HEAD") => Route::Probe,
            _ => Route::NotFound(family),
        }
    }

    /// The dialect whose error format the answer should use.
    pub fn dialect(&self) -> Dialect {
        match self {
            Route::Chat(d)
            | Route::CountTokens(d)
            | Route::Models(d)
            | Route::MethodNotAllowed(d)
            | Route::NotFound(d) => *d,
            Route::StoredResponse { .. } => Dialect::OpenAiResponses,
            Route::Health | Route::Probe => Dialect::Anthropic,
        }
    }

    /// Whether the route needs a client API key.
    pub fn needs_auth(&self) -> bool {
        matches!(
            self,
            Route::Chat(_)
                | Route::CountTokens(_)
                | Route::Models(_)
                | Route::StoredResponse { .. }
        )
    }
}

/// The client family its headers suggest: Anthropic SDKs send `anthropic-version` (and
/// usually `x-api-key`), Google's send `x-goog-api-key` or `?key=`; anything else is OpenAI.
pub fn client_family(has_header: impl Fn(&str) -> bool, query: Option<&str>) -> Dialect {
    if has_header("anthropic-version") || has_header("x-api-key") {
        Dialect::Anthropic
    } else if has_header("x-goog-api-key")
        || query.is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")))
    {
        Dialect::Gemini
    } else {
        Dialect::OpenAiChat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Dialect = Dialect::Anthropic;

    #[test]
    fn routes_the_anthropic_api() {
        assert_eq!(Route::of("POST", "/v1/messages", A), Route::Chat(A));
        assert_eq!(Route::of("POST", "/v1/messages/", A), Route::Chat(A));
        assert_eq!(
            Route::of("POST", "/v1/messages/count_tokens", A),
            Route::CountTokens(A)
        );
        assert_eq!(Route::of("GET", "/v1/models", A), Route::Models(A));
        assert_eq!(
            Route::of("GET", "/v1/messages", A),
            Route::MethodNotAllowed(A)
        );
    }

    #[test]
    fn routes_the_openai_apis() {
        let o = Dialect::OpenAiChat;
        assert_eq!(Route::of("POST", "/v1/chat/completions", o), Route::Chat(o));
        assert_eq!(
            Route::of("POST", "/v1/responses", o),
            Route::Chat(Dialect::OpenAiResponses)
        );
        assert_eq!(
            Route::of("GET", "/v1/responses/resp_1", o),
            Route::StoredResponse {
                id: "resp_1".into(),
                delete: false
            }
        );
        assert_eq!(
            Route::of("DELETE", "/v1/responses/resp_1", o),
            Route::StoredResponse {
                id: "resp_1".into(),
                delete: true
            }
        );
        assert_eq!(Route::of("GET", "/v1/models", o), Route::Models(o));
    }

    #[test]
    fn routes_gemini_model_actions() {
        let g = Dialect::Gemini;
        assert_eq!(
            Route::of(
                "POST",
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                g
            ),
            Route::Chat(g)
        );
        assert_eq!(
            Route::of("POST", "/v1/models/gemini-2.5-flash:generateContent", A),
            Route::Chat(g)
        );
        assert_eq!(
            Route::of("POST", "/v1beta/models/x:countTokens", g),
            Route::CountTokens(g)
        );
        assert_eq!(Route::of("GET", "/v1beta/models", A), Route::Models(g));
        assert_eq!(
            Route::of("GET", "/v1beta/models/x:generateContent", g),
            Route::MethodNotAllowed(g)
        );
        assert_eq!(
            gemini_call("/v1beta/models/gemini-3.1-pro-preview:streamGenerateContent"),
            Some(GeminiCall {
                model: "gemini-3.1-pro-preview",
                action: "streamGenerateContent"
            })
        );
        assert_eq!(gemini_call("/v1beta/models/:x"), None);
    }

    #[test]
    fn probes_and_health_need_no_key() {
        assert_eq!(Route::of("HEAD", "/", A), Route::Probe);
        assert_eq!(Route::of("HEAD", "/api/hello", A), Route::Probe);
        assert_eq!(Route::of("GET", "/health", A), Route::Health);
        assert!(!Route::Health.needs_auth());
        assert!(Route::of("POST", "/v1/messages", A).needs_auth());
        assert_eq!(Route::of("GET", "/nope", A), Route::NotFound(A));
    }

    #[test]
    fn tells_client_families_by_headers() {
        let none = |_: &str| false;
        assert_eq!(
            client_family(|h| h == "anthropic-version", None),
            Dialect::Anthropic
        );
        assert_eq!(
            client_family(|h| h == "x-goog-api-key", None),
            Dialect::Gemini
        );
        assert_eq!(client_family(none, Some("alt=sse&key=k")), Dialect::Gemini);
        assert_eq!(client_family(none, None), Dialect::OpenAiChat);
    }
}
