//! Session pins: which account a conversation stays on. A bounded LRU map with a sliding TTL.
//!
//! Keys are client-supplied strings of any length, so only a 128-bit digest of each is kept:
//! memory is bounded by the capacity alone, and no session id sits in memory or in a dump.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::pool::AccountId;

type Key = u128;

#[derive(Debug, Clone, Copy)]
struct Pin {
    account: AccountId,
    expires: Instant,
    /// Position in the recency order.
    tick: u64,
}

/// Session → account, at most `capacity` entries, each living `ttl` after its last refresh.
#[derive(Debug)]
pub struct StickyMap {
    ttl: Duration,
    capacity: usize,
    pins: HashMap<Key, Pin>,
    /// tick → key, oldest first.
    recency: BTreeMap<u64, Key>,
    next_tick: u64,
}

impl StickyMap {
    /// A capacity of zero turns stickiness off.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        StickyMap {
            ttl,
            capacity,
            pins: HashMap::new(),
            recency: BTreeMap::new(),
            next_tick: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.pins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }

    /// The account `session` is pinned to, unless the pin has expired. Does not extend it.
    pub fn get(&mut self, session: &str, now: Instant) -> Option<AccountId> {
        let key = digest(session);
        let pin = *self.pins.get(&key)?;
        if pin.expires <= now {
            self.remove(key);
            return None;
        }
        Some(pin.account)
    }

    /// Pins `session` to `account` (or refreshes the pin) for another TTL.
    pub fn pin(&mut self, session: &str, account: AccountId, now: Instant) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let key = digest(session);
        if let Some(old) = self.pins.get(&key) {
            self.recency.remove(&old.tick);
        }
        let tick = self.next_tick;
        self.next_tick += 1;
        self.pins.insert(
            key,
            Pin {
                account,
                expires: now + self.ttl,
                tick,
            },
        );
        self.recency.insert(tick, key);
        while self.pins.len() > self.capacity {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.pins.remove(&oldest);
        }
    }

    /// Drops every pin to `account` (e.g. when it is disabled for good).
    pub fn forget_account(&mut self, account: AccountId) {
        let gone: Vec<Key> = self
            .pins
            .iter()
            .filter(|(_, p)| p.account == account)
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            self.remove(key);
        }
    }

    fn remove(&mut self, key: Key) {
        if let Some(pin) = self.pins.remove(&key) {
            self.recency.remove(&pin.tick);
        }
    }
}

fn digest(session: &str) -> Key {
    let hash = Sha256::digest(session.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3600);

    #[test]
    fn pins_slide_and_expire() {
        let t0 = Instant::now();
        let mut map = StickyMap::new(TTL, 10);
        assert_eq!(map.get("s", t0), None);
        map.pin("s", AccountId(2), t0);
        assert_eq!(map.get("s", t0 + TTL / 2), Some(AccountId(2)));
        // A refresh at half time carries it past the first deadline.
        map.pin("s", AccountId(2), t0 + TTL / 2);
        assert_eq!(map.get("s", t0 + TTL), Some(AccountId(2)));
        assert_eq!(map.get("s", t0 + TTL + TTL / 2), None);
        assert!(map.is_empty(), "expired pins are dropped on lookup");
    }

    #[test]
    fn a_pin_moves_when_repinned() {
        let t0 = Instant::now();
        let mut map = StickyMap::new(TTL, 10);
        map.pin("s", AccountId(0), t0);
        map.pin("s", AccountId(1), t0);
        assert_eq!(map.get("s", t0), Some(AccountId(1)));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn capacity_evicts_the_least_recently_pinned() {
        let t0 = Instant::now();
        let mut map = StickyMap::new(TTL, 3);
        for (i, s) in ["a", "b", "c"].iter().enumerate() {
            map.pin(s, AccountId(i as u32), t0);
        }
        map.pin("a", AccountId(0), t0); // "a" is now the most recent
        map.pin("d", AccountId(3), t0);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("b", t0), None, "b was the least recent");
        assert_eq!(map.get("a", t0), Some(AccountId(0)));
        assert_eq!(map.get("d", t0), Some(AccountId(3)));
        for i in 0..10_000 {
            map.pin(&format!("k{i}"), AccountId(0), t0);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.recency.len(), 3);
    }

    #[test]
    fn zero_capacity_or_ttl_turns_it_off_and_accounts_can_be_forgotten() {
        let t0 = Instant::now();
        let mut off = StickyMap::new(TTL, 0);
        off.pin("s", AccountId(0), t0);
        assert_eq!(off.get("s", t0), None);
        let mut map = StickyMap::new(TTL, 10);
        map.pin("x", AccountId(0), t0);
        map.pin("y", AccountId(1), t0);
        map.forget_account(AccountId(0));
        assert_eq!(map.get("x", t0), None);
        assert_eq!(map.get("y", t0), Some(AccountId(1)));
    }
}
