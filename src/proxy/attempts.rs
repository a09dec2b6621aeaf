//! The attempt plan of one request: which account to try next, and after what pause.
//!
//! Pure state, kept out of the hooks so the failover policy is testable without sockets. The
//! proxy asks for the next attempt in `upstream_peer` (which Pingora calls again on every retry)
//! and reports each failed attempt's verdict in between.

use crate::config::RetryPolicy;
use std::time::Duration;

/// What the failed attempt calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Transient (throttled, 5xx, network): try the same account again after a backoff.
    RetrySame,
    /// The token was rejected: refresh it once, then try the same account again.
    RefreshThenRetry,
    /// An upstream hiccup (5xx, timeout): another account if there is one, else this one again
    /// after a backoff.
    PreferNext,
    /// This account cannot serve now: move on without waiting.
    NextAccount,
    /// Retrying cannot help.
    GiveUp,
}

/// One planned attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<Id> {
    pub account: Id,
    /// Wait this long before sending (backoff).
    pub delay: Duration,
    /// Refresh the account's token before sending.
    pub force_refresh: bool,
    /// 1-based attempt number of the request.
    pub number: u32,
}

#[derive(Debug, Clone)]
pub struct AttemptPlan<Id> {
    accounts: Vec<Id>,
    policy: RetryPolicy,
    /// Index in `accounts` of the account in use.
    current: usize,
    tries_on_current: u32,
    attempts: u32,
    refreshed_current: bool,
    pending: Option<Attempt<Id>>,
    exhausted: bool,
}

impl<Id: Copy + PartialEq> AttemptPlan<Id> {
    /// A plan over `accounts`, in the order they should be tried.
    pub fn new(accounts: Vec<Id>, policy: RetryPolicy) -> Self {
        let exhausted = accounts.is_empty();
        let pending = accounts.first().map(|&account| Attempt {
            account,
            delay: Duration::ZERO,
            force_refresh: false,
            number: 1,
        });
        AttemptPlan {
            accounts,
            policy,
            current: 0,
            tries_on_current: 0,
            attempts: 0,
            refreshed_current: false,
            pending,
            exhausted,
        }
    }

    /// The attempt to make now, if any is left. Call once per upstream attempt.
    pub fn next_attempt(&mut self) -> Option<Attempt<Id>> {
        let attempt = self.pending.take()?;
        self.attempts += 1;
        self.tries_on_current += 1;
        Some(attempt)
    }

    /// Whether another attempt would be made after a failure with this verdict (without
    /// recording anything). Used to decide if a failure may be retried at all.
    pub fn can_retry(&self, verdict: Verdict) -> bool {
        self.clone().record_failure(verdict)
    }

    /// Records the last attempt's failure; returns whether another attempt is planned.
    pub fn record_failure(&mut self, verdict: Verdict) -> bool {
        if self.exhausted || self.attempts >= self.policy.max_attempts {
            self.exhausted = true;
            return false;
        }
        let next = match verdict {
            Verdict::GiveUp => None,
            Verdict::RetrySame if self.tries_on_current < self.policy.attempts_per_account => {
                Some((self.current, self.backoff(), false))
            }
            Verdict::RefreshThenRetry if !self.refreshed_current => {
                self.refreshed_current = true;
                Some((self.current, Duration::ZERO, true))
            }
            Verdict::PreferNext if self.current + 1 < self.accounts.len() => {
                Some((self.current + 1, Duration::ZERO, false))
            }
            Verdict::PreferNext if self.tries_on_current < self.policy.attempts_per_account => {
                Some((self.current, self.backoff(), false))
            }
            Verdict::RetrySame
            | Verdict::RefreshThenRetry
            | Verdict::NextAccount
            | Verdict::PreferNext => (self.current + 1 < self.accounts.len())
                .then(|| (self.current + 1, Duration::ZERO, false)),
        };
        match next {
            Some((index, delay, force_refresh)) => {
                if index != self.current {
                    self.current = index;
                    self.tries_on_current = 0;
                    self.refreshed_current = false;
                }
                self.pending = Some(Attempt {
                    account: self.accounts[index],
                    delay,
                    force_refresh,
                    number: self.attempts + 1,
                });
                true
            }
            None => {
                self.exhausted = true;
                false
            }
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// `base × 2^(tries-1)`, capped, plus up to 25 % jitter so that retries of many requests
    /// do not arrive together.
    fn backoff(&self) -> Duration {
        let exp = self.tries_on_current.saturating_sub(1).min(16);
        let raw = self.policy.backoff_base.saturating_mul(1 << exp);
        let capped = raw.min(self.policy.backoff_max);
        let jitter_pct = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 26);
        capped + capped.mul_f64(jitter_pct as f64 / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32, per: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max,
            attempts_per_account: per,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1_000),
        }
    }

    fn accounts_tried(plan: &mut AttemptPlan<u8>, verdicts: &[Verdict]) -> Vec<u8> {
        let mut seen = vec![plan.next_attempt().unwrap().account];
        for &v in verdicts {
            if !plan.record_failure(v) {
                break;
            }
            seen.push(plan.next_attempt().unwrap().account);
        }
        seen
    }

    #[test]
    fn transient_failures_retry_the_same_account_then_move_on() {
        let mut plan = AttemptPlan::new(vec![1, 2], policy(9, 3));
        let seen = accounts_tried(&mut plan, &[Verdict::RetrySame; 5]);
        assert_eq!(seen, vec![1, 1, 1, 2, 2, 2]);
        assert!(!plan.record_failure(Verdict::RetrySame));
        assert!(plan.next_attempt().is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut plan = AttemptPlan::new(vec![1], policy(9, 9));
        plan.next_attempt();
        let mut delays = vec![];
        for _ in 0..6 {
            assert!(plan.record_failure(Verdict::RetrySame));
            delays.push(plan.next_attempt().unwrap().delay);
        }
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(125));
        assert!(delays[1] >= Duration::from_millis(200));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1_250)));
    }

    #[test]
    fn a_rejected_token_is_refreshed_once_then_the_next_account_is_used() {
        let mut plan = AttemptPlan::new(vec![1, 2], policy(9, 3));
        plan.next_attempt();
        assert!(plan.record_failure(Verdict::RefreshThenRetry));
        let a = plan.next_attempt().unwrap();
        assert_eq!((a.account, a.force_refresh), (1, true));
        assert!(plan.record_failure(Verdict::RefreshThenRetry));
        let a = plan.next_attempt().unwrap();
        assert_eq!((a.account, a.force_refresh), (2, false));
    }

    #[test]
    fn give_up_and_the_attempt_cap_end_the_plan() {
        let mut plan = AttemptPlan::new(vec![1, 2, 3], policy(2, 3));
        plan.next_attempt();
        assert!(!plan.can_retry(Verdict::GiveUp));
        assert!(plan.record_failure(Verdict::NextAccount));
        assert_eq!(plan.next_attempt().unwrap().account, 2);
        assert!(!plan.record_failure(Verdict::NextAccount));
        assert_eq!(plan.attempts(), 2);
    }

    #[test]
    fn can_retry_does_not_change_the_plan() {
        let mut plan = AttemptPlan::new(vec![1, 2], policy(9, 1));
        plan.next_attempt();
        assert!(plan.can_retry(Verdict::NextAccount));
        assert!(plan.can_retry(Verdict::NextAccount));
        assert!(plan.next_attempt().is_none());
    }

    #[test]
    fn hiccups_prefer_another_account_but_retry_a_lone_one() {
        let mut plan = AttemptPlan::new(vec![1, 2], policy(9, 2));
        assert_eq!(
            accounts_tried(&mut plan, &[Verdict::PreferNext; 3]),
            vec![1, 2, 2]
        );
        let mut lone = AttemptPlan::new(vec![7], policy(9, 3));
        let seen = accounts_tried(&mut lone, &[Verdict::PreferNext; 5]);
        assert_eq!(seen, vec![7, 7, 7]);
    }

    #[test]
    fn an_empty_pool_plans_nothing() {
        let mut plan: AttemptPlan<u8> = AttemptPlan::new(vec![], policy(9, 3));
        assert!(plan.next_attempt().is_none());
        assert!(!plan.record_failure(Verdict::RetrySame));
    }
}
