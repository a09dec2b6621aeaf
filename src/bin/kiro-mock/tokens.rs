//! The mock's token authority: access tokens it issued (with an expiry), static tokens from
//! `--accept-token`, API keys, and refresh-token rotation. Pure: the caller passes `now`.
//!
//! Refresh-token rule: any refresh token starting with `mock-rt-` is accepted, unless it starts
//! with `mock-rt-invalid` (always refused, for tests of permanent refresh failure) or it was
//! rotated away by an earlier refresh under `--rotate`. Bearers starting with `ksk_` are API
//! keys and always valid.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

pub const REFRESH_PREFIX: &str = "mock-rt-";
pub const INVALID_REFRESH_PREFIX: &str = "mock-rt-invalid";
/// Beyond this many live access tokens the one closest to expiry is forgotten.
const MAX_ACCESS_TOKENS: usize = 65_536;
/// Beyond this many rotated-away refresh tokens, older revocations are no longer remembered.
const MAX_REVOKED: usize = 65_536;
/// Beyond this many distinct refresh tokens, refreshes are counted under `"(other)"`.
const MAX_COUNTED: usize = 4_096;

/// What a refresh hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    /// Issued by the mock and not expired, or given with `--accept-token`.
    Valid,
    /// A `ksk_…` API key.
    ApiKey,
    /// Unknown or expired.
    Invalid,
}

#[derive(Debug)]
pub struct TokenStore {
    access_ttl: Duration,
    rotate: bool,
    static_tokens: HashSet<String>,
    access: HashMap<String, Instant>,
    revoked: HashSet<String>,
    refreshes: HashMap<String, u64>,
    issued: u64,
}

impl TokenStore {
    pub fn new(access_ttl: Duration, rotate: bool, static_tokens: Vec<String>) -> Self {
        TokenStore {
            access_ttl,
            rotate,
            static_tokens: static_tokens.into_iter().collect(),
            access: HashMap::new(),
            revoked: HashSet::new(),
            refreshes: HashMap::new(),
            issued: 0,
        }
    }

    pub fn check(&self, bearer: Option<&str>, now: Instant) -> Bearer {
        let Some(token) = bearer else {
            return Bearer::Invalid;
        };
        if token.starts_with("ksk_") {
            return Bearer::ApiKey;
        }
        if self.static_tokens.contains(token) {
            return Bearer::Valid;
        }
        match self.access.get(token) {
            Some(expiry) if *expiry > now => Bearer::Valid,
            _ => Bearer::Invalid,
        }
    }

    /// Exchange a refresh token; `None` means `invalid_grant`.
    pub fn refresh(&mut self, refresh_token: &str, now: Instant) -> Option<Issued> {
        if !refresh_token.starts_with(REFRESH_PREFIX)
            || refresh_token.starts_with(INVALID_REFRESH_PREFIX)
            || self.revoked.contains(refresh_token)
        {
            return None;
        }
        self.count_refresh(refresh_token);
        self.issued += 1;
        let access_token = format!("mock-at-{}-{}", self.issued, uuid::Uuid::new_v4().simple());
        self.remember_access(access_token.clone(), now + self.access_ttl, now);
        let refresh_token = if self.rotate {
            if self.revoked.len() < MAX_REVOKED {
                self.revoked.insert(refresh_token.to_owned());
            }
            new_refresh_token()
        } else {
            refresh_token.to_owned()
        };
        Some(Issued {
            access_token,
            refresh_token,
            expires_in: self.access_ttl.as_secs(),
        })
    }

    /// Refresh counts per refresh token (for `/__mock/stats`).
    pub fn refreshes(&self) -> &HashMap<String, u64> {
        &self.refreshes
    }

    fn count_refresh(&mut self, refresh_token: &str) {
        let key =
            if self.refreshes.contains_key(refresh_token) || self.refreshes.len() < MAX_COUNTED {
                refresh_token
            } else {
                "(other)"
            };
        *self.refreshes.entry(key.to_owned()).or_default() += 1;
    }

    fn remember_access(&mut self, token: String, expiry: Instant, now: Instant) {
        if self.access.len() >= MAX_ACCESS_TOKENS {
            self.access.retain(|_, e| *e > now);
        }
        if self.access.len() >= MAX_ACCESS_TOKENS {
            let soonest = self
                .access
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(t, _)| t.clone());
            if let Some(t) = soonest {
                self.access.remove(&t);
            }
        }
        self.access.insert(token, expiry);
    }
}

/// A fresh refresh token in the mock's format: `mock-rt-` and 96 hex digits (≥ 100 characters,
/// like real ones, so the gateway's length sanity check passes).
pub fn new_refresh_token() -> String {
    let mut t = String::from(REFRESH_PREFIX);
    for _ in 0..3 {
        t.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(tag: &str) -> String {
        format!("{REFRESH_PREFIX}{tag}{}", "x".repeat(100))
    }

    #[test]
    fn issued_access_tokens_expire_after_the_ttl() {
        let mut store = TokenStore::new(Duration::from_secs(60), false, vec![]);
        let t0 = Instant::now();
        let issued = store.refresh(&rt("a"), t0).unwrap();
        assert_eq!(issued.expires_in, 60);
        assert_eq!(issued.refresh_token, rt("a"), "no rotation by default");
        let bearer = Some(issued.access_token.as_str());
        assert_eq!(store.check(bearer, t0), Bearer::Valid);
        assert_eq!(
            store.check(bearer, t0 + Duration::from_secs(61)),
            Bearer::Invalid
        );
        assert_eq!(store.check(Some("made-up"), t0), Bearer::Invalid);
        assert_eq!(store.check(None, t0), Bearer::Invalid);
    }

    #[test]
    fn static_tokens_and_api_keys_are_always_valid() {
        let store = TokenStore::new(Duration::ZERO, false, vec!["static-1".into()]);
        let later = Instant::now() + Duration::from_secs(86_400);
        assert_eq!(store.check(Some("static-1"), later), Bearer::Valid);
        assert_eq!(store.check(Some("ksk_abc"), later), Bearer::ApiKey);
    }

    #[test]
    fn refresh_rule() {
        let mut store = TokenStore::new(Duration::from_secs(60), false, vec![]);
        let now = Instant::now();
        assert!(store.refresh("aorAAAAAGsomething", now).is_none());
        assert!(store
            .refresh(&format!("{INVALID_REFRESH_PREFIX}-x"), now)
            .is_none());
        assert!(store.refresh(&rt("b"), now).is_some());
        assert!(
            store.refresh(&rt("b"), now).is_some(),
            "reusable without --rotate"
        );
        assert_eq!(store.refreshes().get(&rt("b")), Some(&2));
    }

    #[test]
    fn rotation_invalidates_the_old_refresh_token() {
        let mut store = TokenStore::new(Duration::from_secs(60), true, vec![]);
        let now = Instant::now();
        let first = store.refresh(&rt("c"), now).unwrap();
        assert_ne!(first.refresh_token, rt("c"));
        assert!(first.refresh_token.starts_with(REFRESH_PREFIX));
        assert!(first.refresh_token.len() >= 100);
        assert!(store.refresh(&rt("c"), now).is_none(), "old one is revoked");
        let second = store.refresh(&first.refresh_token, now).unwrap();
        assert_ne!(second.access_token, first.access_token);
    }

    #[test]
    fn the_access_table_is_bounded() {
        let mut store = TokenStore::new(Duration::from_secs(60), false, vec![]);
        let now = Instant::now();
        for i in 0..MAX_ACCESS_TOKENS + 10 {
            store.remember_access(format!("t{i}"), now + Duration::from_secs(i as u64), now);
        }
        assert_eq!(store.access.len(), MAX_ACCESS_TOKENS);
        assert_eq!(
            store.check(Some("t0"), now),
            Bearer::Invalid,
            "soonest evicted"
        );
        let newest = format!("t{}", MAX_ACCESS_TOKENS + 9);
        assert_eq!(store.check(Some(&newest), now), Bearer::Valid);
    }
}
