//! Pool settings: the strategy, stickiness, cool-downs, pacing and quota polling. Gateway-wide
//! values live in [`PoolSettings`]; per-account values come from the credential record
//! ([`AccountLimits`]) and override the pacing defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the pool orders the accounts of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The lowest `priority` first; the others only when it cannot serve (fail over in order).
    #[default]
    Priority,
    /// The account with the fewest requests in flight, then the least used relative to its
    /// weight; ties go to the lower `priority`.
    Balanced,
    /// Each request starts at the next account, in proportion to the weights.
    RoundRobin,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Balanced => "balanced",
            Strategy::RoundRobin => "round-robin",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;

    /// Accepts `priority`, `balanced`, `round-robin` (also `round_robin`, `roundrobin`),
    /// case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        match norm.as_str() {
            "priority" => Ok(Strategy::Priority),
            "balanced" => Ok(Strategy::Balanced),
            "roundrobin" => Ok(Strategy::RoundRobin),
            _ => Err(format!(
                "unknown pool strategy {s:?} (expected priority, balanced or round-robin)"
            )),
        }
    }
}

/// Outbound pacing of one account. Every limit is off when `None` / zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacingLimits {
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
    /// Least time between two request starts.
    pub min_interval: Duration,
    /// Up to this much random time is added to each `min_interval`, so that the gaps do not
    /// look machine-made.
    pub min_interval_jitter: Duration,
    /// Request starts per rolling minute.
    pub rpm: Option<u32>,
}

/// Gateway-wide pool settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    pub strategy: Strategy,
    /// How long a session stays pinned to its account after its last success (sliding).
    pub sticky_ttl: Duration,
    /// At most this many pinned sessions are remembered; the least recently used go first.
    pub sticky_capacity: usize,
    /// Rest after a second 429 "too many requests" in a row on one account.
    pub throttle_cooldown: Duration,
    /// Rest after a 429 "suspicious activity" / `TEMPORARILY_SUSPENDED`.
    pub suspicious_cooldown: Duration,
    /// How long an account whose quota ran out rests when its reset date is unknown; `None`
    /// means until the start of the next month (UTC), when Kiro renews monthly quotas.
    pub exhausted_cooldown: Option<Duration>,
    /// Pacing for accounts that set none of their own.
    pub pacing: PacingLimits,
    /// Request starts per rolling minute over all accounts.
    pub global_rpm: Option<u32>,
    /// A request waits at most this long for a pacing slot before it tries another account.
    pub max_pacing_wait: Duration,
    /// How often quota and models are polled per account; zero turns polling off.
    pub usage_poll_interval: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            strategy: Strategy::Priority,
            sticky_ttl: Duration::from_secs(60 * 60),
            sticky_capacity: 10_000,
            throttle_cooldown: Duration::from_secs(60),
            suspicious_cooldown: Duration::from_secs(30 * 60),
            exhausted_cooldown: None,
            pacing: PacingLimits::default(),
            global_rpm: None,
            max_pacing_wait: Duration::from_secs(2),
            usage_poll_interval: Duration::from_secs(10 * 60),
        }
    }
}

/// What the credential record says about one account's place in the pool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountLimits {
    /// Lower is preferred.
    pub priority: i64,
    /// Share under `balanced` and `round-robin`; at least 1.
    pub weight: u32,
    /// Kiro model ids or globs (`claude-sonnet-*`); empty means every model.
    pub allowed_models: Vec<String>,
    pub max_concurrent: Option<u32>,
    pub min_interval: Option<Duration>,
    pub rpm: Option<u32>,
}

impl AccountLimits {
    /// The effective pacing: the account's own values over the pool defaults.
    pub fn pacing(&self, defaults: &PacingLimits) -> PacingLimits {
        PacingLimits {
            max_concurrent: self.max_concurrent.or(defaults.max_concurrent),
            min_interval: self.min_interval.unwrap_or(defaults.min_interval),
            min_interval_jitter: defaults.min_interval_jitter,
            rpm: self.rpm.or(defaults.rpm),
        }
    }

    /// Whether `model` is allowed by `allowed_models`.
    pub fn allows(&self, model: &str) -> bool {
        model.is_empty()
            || self.allowed_models.is_empty()
            || self.allowed_models.iter().any(|p| glob_match(p, model))
    }
}

/// `*` matches any run of characters, `?` one character; everything else literally, ignoring
/// ASCII case. Iterative with one backtrack point, so hostile patterns stay linear-ish.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_leniently() {
        assert_eq!("priority".parse(), Ok(Strategy::Priority));
        assert_eq!("Balanced".parse(), Ok(Strategy::Balanced));
        for s in ["round-robin", "round_robin", "RoundRobin"] {
            assert_eq!(s.parse(), Ok(Strategy::RoundRobin), "{s}");
        }
        assert!("random".parse::<Strategy>().is_err());
        assert_eq!(Strategy::RoundRobin.to_string(), "round-robin");
    }

    #[test]
    fn globs_match_model_ids() {
        assert!(glob_match("claude-sonnet-*", "claude-sonnet-4.5"));
        assert!(glob_match("CLAUDE-*-4.?", "claude-opus-4.6"));
        assert!(glob_match("*", ""));
        assert!(glob_match("claude-haiku-4.5", "claude-haiku-4.5"));
        assert!(!glob_match("claude-sonnet-*", "claude-opus-4.6"));
        assert!(!glob_match("claude-sonnet-4", "claude-sonnet-4.5"));
        assert!(glob_match("*opus*", "claude-opus-4.6"));
        assert!(!glob_match("a*b", "acbc"));
        // A pathological pattern finishes quickly.
        let text = "a".repeat(2_000);
        assert!(!glob_match(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn account_values_override_pool_defaults() {
        let defaults = PacingLimits {
            max_concurrent: Some(4),
            min_interval: Duration::from_millis(100),
            min_interval_jitter: Duration::from_millis(10),
            rpm: None,
        };
        let limits = AccountLimits {
            max_concurrent: Some(1),
            rpm: Some(30),
            ..AccountLimits::default()
        };
        let p = limits.pacing(&defaults);
        assert_eq!(p.max_concurrent, Some(1));
        assert_eq!(p.min_interval, Duration::from_millis(100));
        assert_eq!(p.rpm, Some(30));
        assert!(limits.allows("anything"));
        let only_sonnet = AccountLimits {
            allowed_models: vec!["claude-sonnet-*".into()],
            ..AccountLimits::default()
        };
        assert!(only_sonnet.allows("claude-sonnet-4.6"));
        assert!(!only_sonnet.allows("claude-opus-4.6"));
        assert!(only_sonnet.allows(""), "no model: not a filter");
    }
}
