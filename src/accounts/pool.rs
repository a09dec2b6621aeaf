//! The account pool: which accounts to try for a request, in what order, and their health.
//!
//! This is the basic version: accounts in priority order (lowest `priority` first, file order
//! on ties), disabled ones skipped. Three consecutive failures disable an account until every
//! account is in that state, at which point they are all given another chance (kiro-protocol.md
//! §5.3 "self-heal"). Accounts disabled for a permanent reason (configuration, a rejected
//! refresh token) are never re-enabled.

use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

use super::credentials::AuthMethod;

/// Consecutive failures after which an account is taken out of rotation.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// An account's index in the pool; cheap to copy into a request context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AccountId(pub u32);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why an account is out of rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisableReason {
    /// `"disabled": true` in the credentials file.
    Configured,
    /// The credential record cannot be used (e.g. an unknown `authMethod`).
    InvalidCredential(String),
    /// The token endpoint rejected the login for good; a new sign-in is needed.
    LoginRejected(String),
    /// Too many consecutive failures; lifted by the self-heal.
    TooManyFailures,
}

impl DisableReason {
    fn heals(&self) -> bool {
        matches!(self, DisableReason::TooManyFailures)
    }
}

impl fmt::Display for DisableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisableReason::Configured => f.write_str("disabled in the credentials file"),
            DisableReason::InvalidCredential(why) => write!(f, "invalid credential: {why}"),
            DisableReason::LoginRejected(why) => write!(f, "login rejected: {why}"),
            DisableReason::TooManyFailures => {
                write!(f, "{MAX_CONSECUTIVE_FAILURES} consecutive failures")
            }
        }
    }
}

/// What `/health` shows about one account. Holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountStatus {
    pub id: AccountId,
    pub name: String,
    pub auth_method: &'static str,
    /// `active` or `disabled`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Seconds until the access token expires (negative: already expired); `None` for API keys
    /// and unknown expiry.
    pub token_expires_in_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub successes: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
}

#[derive(Debug)]
struct Entry {
    name: String,
    method: AuthMethod,
    disabled: Option<DisableReason>,
    consecutive_failures: u32,
    successes: u64,
    failures: u64,
    last_error: Option<String>,
}

/// Registration data for one account.
#[derive(Debug, Clone)]
pub struct PoolMember {
    pub name: String,
    pub method: AuthMethod,
    pub priority: i64,
    pub disabled: Option<DisableReason>,
}

/// The pool. Methods take `&self`; the state sits behind a short-lived mutex that is never held
/// across an `.await`.
#[derive(Debug)]
pub struct Pool {
    /// Account ids sorted by priority, then registration order.
    order: Vec<AccountId>,
    entries: Mutex<Vec<Entry>>,
}

impl Pool {
    /// Builds the pool; `AccountId(i)` is the i-th member.
    pub fn new(members: Vec<PoolMember>) -> Self {
        let mut order: Vec<(i64, AccountId)> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.priority, AccountId(i as u32)))
            .collect();
        order.sort_by_key(|&(priority, id)| (priority, id));
        let entries = members
            .into_iter()
            .map(|m| Entry {
                name: m.name,
                method: m.method,
                disabled: m.disabled,
                consecutive_failures: 0,
                successes: 0,
                failures: 0,
                last_error: None,
            })
            .collect();
        Pool {
            order: order.into_iter().map(|(_, id)| id).collect(),
            entries: Mutex::new(entries),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic elsewhere while holding the lock leaves counters, nothing unsafe: carry on.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The accounts to try for `model`, best first. Empty when every account is out.
    pub fn plan(&self, _model: &str) -> Vec<AccountId> {
        let mut entries = self.lock();
        let active = |entries: &[Entry]| -> Vec<AccountId> {
            self.order
                .iter()
                .copied()
                .filter(|id| {
                    entries
                        .get(id.0 as usize)
                        .is_some_and(|e| e.disabled.is_none())
                })
                .collect()
        };
        let plan = active(&entries);
        if !plan.is_empty() {
            return plan;
        }
        // Self-heal: if the only thing keeping every account out is the failure counter, give
        // them all another chance, like a restart would.
        let mut healed = false;
        for e in entries.iter_mut() {
            if e.disabled.as_ref().is_some_and(DisableReason::heals) {
                e.disabled = None;
                e.consecutive_failures = 0;
                healed = true;
            }
        }
        if healed {
            log::warn!("every account had failed repeatedly; re-enabling them");
        }
        active(&entries)
    }

    /// A request on `id` succeeded.
    pub fn report_success(&self, id: AccountId) {
        if let Some(e) = self.lock().get_mut(id.0 as usize) {
            e.successes += 1;
            e.consecutive_failures = 0;
            e.last_error = None;
        }
    }

    /// A request (or refresh) on `id` failed for a reason that may pass.
    pub fn report_failure(&self, id: AccountId, reason: &str) {
        let mut entries = self.lock();
        let Some(e) = entries.get_mut(id.0 as usize) else {
            return;
        };
        e.failures += 1;
        e.consecutive_failures = e.consecutive_failures.saturating_add(1);
        e.last_error = Some(reason.to_string());
        if e.consecutive_failures >= MAX_CONSECUTIVE_FAILURES && e.disabled.is_none() {
            log::warn!(
                "account {} ({}) taken out of rotation after {} consecutive failures: {reason}",
                id,
                e.name,
                e.consecutive_failures
            );
            e.disabled = Some(DisableReason::TooManyFailures);
        }
    }

    /// Takes `id` out of rotation for a reason that does not pass by itself.
    pub fn disable(&self, id: AccountId, reason: DisableReason) {
        if let Some(e) = self.lock().get_mut(id.0 as usize) {
            log::warn!("account {} ({}) disabled: {reason}", id, e.name);
            e.last_error = Some(reason.to_string());
            e.disabled = Some(reason);
        }
    }

    /// Why `id` is out of rotation, if it is.
    pub fn disabled_reason(&self, id: AccountId) -> Option<DisableReason> {
        self.lock()
            .get(id.0 as usize)
            .and_then(|e| e.disabled.clone())
    }

    /// Per-account facts in priority order; `expires_in` supplies the token expiry.
    pub fn status(&self, expires_in: impl Fn(AccountId) -> Option<i64>) -> Vec<AccountStatus> {
        let entries = self.lock();
        self.order
            .iter()
            .filter_map(|&id| {
                let e = entries.get(id.0 as usize)?;
                Some(AccountStatus {
                    id,
                    name: e.name.clone(),
                    auth_method: e.method.as_str(),
                    state: if e.disabled.is_some() {
                        "disabled"
                    } else {
                        "active"
                    },
                    disabled_reason: e.disabled.as_ref().map(ToString::to_string),
                    token_expires_in_secs: expires_in(id),
                    last_error: e.last_error.clone(),
                    successes: e.successes,
                    failures: e.failures,
                    consecutive_failures: e.consecutive_failures,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, priority: i64, disabled: Option<DisableReason>) -> PoolMember {
        PoolMember {
            name: name.into(),
            method: AuthMethod::Social,
            priority,
            disabled,
        }
    }

    #[test]
    fn plans_in_priority_order_skipping_disabled() {
        let pool = Pool::new(vec![
            member("a", 2, None),
            member("b", 0, None),
            member("c", 1, Some(DisableReason::Configured)),
            member("d", 0, None),
        ]);
        assert_eq!(
            pool.plan("claude-sonnet-4.5"),
            vec![AccountId(1), AccountId(3), AccountId(0)]
        );
        assert_eq!(pool.len(), 4);
    }

    #[test]
    fn three_failures_disable_and_success_resets() {
        let pool = Pool::new(vec![member("a", 0, None), member("b", 1, None)]);
        pool.report_failure(AccountId(0), "503");
        pool.report_failure(AccountId(0), "503");
        pool.report_success(AccountId(0));
        pool.report_failure(AccountId(0), "503");
        pool.report_failure(AccountId(0), "503");
        assert_eq!(pool.plan("m"), vec![AccountId(0), AccountId(1)]);
        pool.report_failure(AccountId(0), "timeout");
        assert_eq!(pool.plan("m"), vec![AccountId(1)]);
        assert_eq!(
            pool.disabled_reason(AccountId(0)),
            Some(DisableReason::TooManyFailures)
        );
        let status = pool.status(|_| Some(60));
        assert_eq!(status[0].state, "disabled");
        assert_eq!(status[0].last_error.as_deref(), Some("timeout"));
        assert_eq!(status[0].failures, 5);
        assert_eq!(status[0].successes, 1);
        assert_eq!(status[1].token_expires_in_secs, Some(60));
    }

    #[test]
    fn self_heals_only_failure_disabled_accounts() {
        let pool = Pool::new(vec![member("a", 0, None), member("b", 1, None)]);
        pool.disable(
            AccountId(1),
            DisableReason::LoginRejected("invalid_grant".into()),
        );
        for _ in 0..3 {
            pool.report_failure(AccountId(0), "503");
        }
        // Everything is out; the failure-disabled account comes back, the rejected one not.
        assert_eq!(pool.plan("m"), vec![AccountId(0)]);
        assert_eq!(pool.disabled_reason(AccountId(0)), None);

        let pool = Pool::new(vec![member("a", 0, Some(DisableReason::Configured))]);
        assert!(pool.plan("m").is_empty());
    }

    #[test]
    fn unknown_ids_are_ignored() {
        let pool = Pool::new(vec![member("a", 0, None)]);
        pool.report_failure(AccountId(9), "x");
        pool.report_success(AccountId(9));
        pool.disable(AccountId(9), DisableReason::Configured);
        assert_eq!(pool.disabled_reason(AccountId(9)), None);
        assert_eq!(pool.plan("m"), vec![AccountId(0)]);
    }

    #[test]
    fn status_serialises_without_secrets() {
        let pool = Pool::new(vec![member("work", 0, None)]);
        let json = serde_json::to_value(pool.status(|_| None)).unwrap();
        assert_eq!(json[0]["id"], 0);
        assert_eq!(json[0]["name"], "work");
        assert_eq!(json[0]["auth_method"], "social");
        assert_eq!(json[0]["state"], "active");
        assert!(json[0].get("last_error").is_none());
    }
}
