//! Answers computed locally: the health report.

use super::Gateway;
use serde_json::json;

/// `GET /health`: process and pool state, with no secrets.
pub fn health(gw: &Gateway) -> Vec<u8> {
    let accounts = gw.accounts.status();
    let usable = gw.accounts.plan("").len();
    let body = json!({
        "status": if usable > 0 { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "accounts_total": accounts.len(),
        "accounts_usable": usable,
        "accounts": accounts,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}
