//! Answers computed locally: the health report, stored responses.

use super::{respond, Gateway};
use crate::dialect::openai_responses;
use crate::dialect::Dialect;
use pingora_error::Result;
use pingora_proxy::Session;
use serde_json::json;

/// `GET /health`: process and pool state, with no secrets.
pub fn health(gw: &Gateway) -> Vec<u8> {
    let accounts = gw.accounts.status();
    let usable = gw.accounts.usable_count("");
    let body = json!({
        "status": if usable > 0 { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "accounts_total": accounts.len(),
        "accounts_usable": usable,
        "accounts": accounts,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `GET /v1/responses/{id}` returns a stored response; `DELETE` forgets it.
pub async fn stored_response(
    gw: &Gateway,
    session: &mut Session,
    id: &str,
    delete: bool,
    request_id: &str,
) -> Result<()> {
    let found = if delete {
        gw.responses
            .remove(id)
            .then(|| json!({"id": id, "object": "response", "deleted": true}))
    } else {
        gw.responses.get(id).map(|stored| stored.document.clone())
    };
    match found {
        Some(body) => {
            let body = serde_json::to_vec(&body).unwrap_or_default();
            respond::send(session, 200, "application/json", body, &[]).await
        }
        None => {
            let err = openai_responses::error::response_not_found(id);
            respond::error(session, Dialect::OpenAiResponses, &err, request_id).await
        }
    }
}
