//! `request_filter`: route, authenticate, answer locally, or read and convert a chat body.

use super::attempts::AttemptPlan;
use super::body::{self, BodyError};
use super::route::{self, Route};
use super::{auth, local, respond, Ctx, Gateway};
use crate::chat::{ErrorKind, GatewayError};
use crate::dialect::RequestHints;
use crate::pipeline;
use pingora_error::{Error, ErrorType, Result};
use pingora_proxy::Session;

/// Returns `Ok(true)` when the response was written here (no upstream).
pub async fn request_filter(gw: &Gateway, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
    let header = session.req_header();
    let family = route::client_family(|name| header.headers.contains_key(name), header.uri.query());
    ctx.route = Route::of(header.method.as_str(), header.uri.path(), family);
    let dialect = ctx.route.dialect();

    if ctx.route.needs_auth() {
        let query = header.uri.query();
        let key = auth::presented_key(
            |name| header.headers.get(name).and_then(|v| v.to_str().ok()),
            query,
        );
        if !auth::is_allowed(&gw.cfg.api_keys, key) {
            let err = GatewayError::new(
                ErrorKind::Authentication,
                match key {
                    None => "no API key: send it in the x-api-key, Authorization: Bearer or x-goog-api-key header",
                    Some(_) => "invalid API key",
                },
            );
            respond::error(session, dialect, &err, &ctx.request_id).await?;
            return Ok(true);
        }
    }

    let route = ctx.route.clone();
    match route {
        Route::Chat(dialect) => {
            let hints = request_hints(session);
            // A burst of large uploads is read and converted a few at a time: the others wait
            // in the kernel's socket buffers instead of each holding its body (twice) in ours.
            let Ok(_slot) = gw.upload_slots.acquire().await else {
                return Error::e_explain(ErrorType::InternalError, "upload slots closed");
            };
            let body = match read_body(gw, session, ctx).await? {
                Some(body) => body,
                None => return Ok(true),
            };
            match pipeline::prepare(dialect, &body, &hints, &gw.translate, &gw.responses) {
                Ok(prepared) => {
                    let accounts = gw
                        .accounts
                        .plan_for(&prepared.model.kiro_id, prepared.session_key.as_deref());
                    if accounts.is_empty() {
                        let err = no_account_error(gw, &prepared.model.kiro_id);
                        respond::error(session, dialect, &err, &ctx.request_id).await?;
                        return Ok(true);
                    }
                    ctx.plan = Some(AttemptPlan::new(accounts, gw.cfg.retry.clone()));
                    ctx.prepared = Some(Box::new(prepared));
                    Ok(false)
                }
                Err(err) => {
                    respond::error(session, dialect, &err, &ctx.request_id).await?;
                    Ok(true)
                }
            }
        }
        Route::CountTokens(dialect) => {
            let hints = request_hints(session);
            let Some(body) = read_body(gw, session, ctx).await? else {
                return Ok(true);
            };
            match dialect.count_tokens(&body, &hints) {
                Ok(json) => respond::send(session, 200, "application/json", json, &[]).await?,
                Err(err) => respond::error(session, dialect, &err, &ctx.request_id).await?,
            }
            Ok(true)
        }
        Route::Models(dialect) => {
            let available = gw.accounts.available_models();
            let body = dialect.models_body(&crate::kiro::models::catalog_for(&available));
            respond::send(session, 200, "application/json", body, &[]).await?;
            Ok(true)
        }
        Route::Health => {
            let body = local::health(gw);
            respond::send(session, 200, "application/json", body, &[]).await?;
            Ok(true)
        }
        Route::Probe => {
            respond::send(
                session,
                200,
                "application/json",
                b"{\"status\":\"ok\"}".to_vec(),
                &[],
            )
            .await?;
            Ok(true)
        }
        Route::MethodNotAllowed(dialect) => {
            let err = GatewayError::new(
                ErrorKind::MethodNotAllowed,
                "method not allowed on this path",
            );
            respond::error(session, dialect, &err, &ctx.request_id).await?;
            Ok(true)
        }
        Route::StoredResponse { id, delete } => {
            local::stored_response(gw, session, &id, delete, &ctx.request_id).await?;
            Ok(true)
        }
        Route::NotFound(dialect) => {
            let path = session.req_header().uri.path().to_string();
            let err = GatewayError::new(ErrorKind::NotFound, format!("no such endpoint: {path}"));
            respond::error(session, dialect, &err, &ctx.request_id).await?;
            Ok(true)
        }
    }
}

/// Reads the body; on a client error writes the answer and returns `None`.
async fn read_body(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<Option<bytes::Bytes>> {
    let encoding = session
        .req_header()
        .headers
        .get(http::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let deadline = gw.cfg.body_read_timeout;
    let read = match tokio::time::timeout(
        deadline,
        body::read_whole(session, gw.cfg.max_body_bytes),
    )
    .await
    {
        Ok(read) => read,
        Err(_) => Err(BodyError::Client(GatewayError::new(
            ErrorKind::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs()
            ),
        ))),
    }
    .and_then(|raw| match encoding.as_deref() {
        None => Ok(raw),
        Some(enc) => body::decode(enc, &raw, gw.cfg.max_body_bytes)
            .map(bytes::Bytes::from)
            .map_err(BodyError::Client),
    });
    match read {
        Ok(body) => Ok(Some(body)),
        Err(BodyError::Io(e)) => Err(e),
        Err(BodyError::Client(err)) => {
            respond::error(session, ctx.route.dialect(), &err, &ctx.request_id).await?;
            Ok(None)
        }
    }
}

/// Facts from headers and path that the body does not carry.
fn request_hints(session: &Session) -> RequestHints {
    let req = session.req_header();
    let headers = &req.headers;
    let gemini = route::gemini_call(req.uri.path());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    RequestHints {
        path_model: gemini.as_ref().map(|c| c.model.to_string()),
        path_stream: gemini.as_ref().map(|c| c.action == "streamGenerateContent"),
        query: session.req_header().uri.query().map(String::from),
        session_header: header("x-claude-code-session-id")
            .or_else(|| header("session_id"))
            .or_else(|| header("session-id"))
            .or_else(|| header("x-session-id")),
    }
}

/// Why no account can take a request: all cooling down (429 with the wait), or none able to
/// serve the model at all (503).
fn no_account_error(gw: &Gateway, model: &str) -> GatewayError {
    match gw.accounts.earliest_available() {
        Some(wait) if !wait.is_zero() => GatewayError::new(
            ErrorKind::RateLimited,
            format!(
                "every Kiro account is cooling down after upstream limits; retry in {} s",
                wait.as_secs().max(1)
            ),
        )
        .with_retry_after(wait.as_secs().max(1)),
        Some(_) => GatewayError::new(
            ErrorKind::Unavailable,
            format!(
                "no Kiro account in the pool may serve {model} (see allowedModels and GET /health)"
            ),
        ),
        None => GatewayError::new(
            ErrorKind::Unavailable,
            "every Kiro account is disabled (see GET /health for the reasons)",
        )
        .with_retry_after(60),
    }
}
