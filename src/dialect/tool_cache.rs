//! Requests that send the same `tools` bytes share one parsed [`Tools`].
//!
//! A coding agent repeats its whole tool list, unchanged, on every turn: in Claude Code's
//! requests it is most of the JSON nodes (330 of ~410) and half the work of converting a
//! request, the more so as the conversation is parsed cold between streamed events. So the
//! root object is parsed with `tools` left as borrowed bytes
//! ([`super::lean::root_object`]), and those bytes are looked up here. A hit costs
//! one comparison of the bytes; the list and everything derived from it (token estimate,
//! declarations rendered for Kiro) are reused. Anthropic, OpenAI Chat and Gemini requests go
//! through it for their [`Tools`]; OpenAI Responses keeps more per list (the list as sent, for
//! the echo in its response object, and the names its calls map back to), in a cache of its
//! own of the same kind (`openai_responses::tools`).
//!
//! The cache memoises a pure function of (dialect, bytes), so what a request gets does not
//! depend on whether it hit. It is bounded in entries and bytes and forgets the least
//! recently used list first. A list is kept only the second time it is seen: one sent once
//! would only push out a useful one, and dropping that one's parsed tree long after it was
//! built, from cold memory, made a first sight cost a third more than no cache at all.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use once_cell::sync::Lazy;
use serde_json::Value;

use super::fields::{array, Path, Result};
use super::Dialect;
use crate::chat::{GatewayError, Tool, Tools};

/// Distinct tool lists kept: a few clients, each with a few tool configurations.
const MAX_ENTRIES: usize = 32;
/// Bytes of `tools` JSON kept in all (the parsed lists take several times more).
const MAX_TOTAL_BYTES: usize = 2 << 20;
/// A single list above this is parsed every time rather than crowd out the others.
const MAX_ENTRY_BYTES: usize = 512 << 10;
/// Lists not kept are remembered by fingerprint for this many first sightings.
const SEEN_ONCE: usize = 64;

static SHARED: Lazy<ToolCache<Tools>> = Lazy::new(ToolCache::with_default_bounds);

/// The request's `tools` (`raw`, as sent; absent or `null` is no tools), parsed by `parse`
/// unless a request of this dialect sent the same bytes before.
pub(crate) fn shared_tools(
    dialect: Dialect,
    raw: Option<&[u8]>,
    at: &Path,
    parse: impl FnOnce(Vec<Value>, &Path) -> Result<Vec<Tool>>,
) -> Result<Tools> {
    SHARED.get_or_parse(dialect, raw, at, parse)
}

/// A bounded, least-recently-used map from (dialect, `tools` bytes) to what was parsed from
/// them, a cheaply cloned `T`.
pub(crate) struct ToolCache<T> {
    entries: Mutex<Entries<T>>,
    max_entries: usize,
    max_total_bytes: usize,
    max_entry_bytes: usize,
}

struct Entries<T> {
    list: Vec<Entry<T>>,
    total_bytes: usize,
    clock: u64,
    /// Fingerprints of lists seen once and not kept, oldest first.
    seen_once: VecDeque<Fingerprint>,
}

/// Identifies a list's bytes well enough to decide whether to keep it; hits still compare
/// the bytes themselves.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dialect: Dialect,
    len: usize,
    crc: u32,
}

struct Entry<T> {
    dialect: Dialect,
    raw: Box<[u8]>,
    value: T,
    last_used: u64,
}

impl<T: Clone> ToolCache<T> {
    pub(crate) fn new(max_entries: usize, max_total_bytes: usize, max_entry_bytes: usize) -> Self {
        ToolCache {
            entries: Mutex::new(Entries {
                list: Vec::new(),
                total_bytes: 0,
                clock: 0,
                seen_once: VecDeque::new(),
            }),
            max_entries,
            max_total_bytes,
            max_entry_bytes,
        }
    }

    /// Bounds for a process-wide cache: a few clients, each with a few tool configurations.
    pub(crate) fn with_default_bounds() -> Self {
        Self::new(MAX_ENTRIES, MAX_TOTAL_BYTES, MAX_ENTRY_BYTES)
    }

    /// What `parse` makes of `raw`, unless a request of this dialect sent the same bytes
    /// before. Errors are not kept: a bad list costs its parse every time, as any bad request.
    pub(crate) fn get_or_insert_with(
        &self,
        dialect: Dialect,
        raw: &[u8],
        parse: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if let Some(hit) = self.get(dialect, raw) {
            return Ok(hit);
        }
        let value = parse()?;
        // Dropped once the lock is released.
        let _evicted = self.admit(dialect, raw, &value);
        Ok(value)
    }

    fn get(&self, dialect: Dialect, raw: &[u8]) -> Option<T> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries
            .list
            .iter_mut()
            .find(|e| e.dialect == dialect && *e.raw == *raw)?;
        entry.last_used = now;
        Some(entry.value.clone())
    }
}

impl ToolCache<Tools> {
    /// See [`shared_tools`].
    pub(crate) fn get_or_parse(
        &self,
        dialect: Dialect,
        raw: Option<&[u8]>,
        at: &Path,
        parse: impl FnOnce(Vec<Value>, &Path) -> Result<Vec<Tool>>,
    ) -> Result<Tools> {
        let Some(raw) = raw.filter(|raw| *raw != b"null") else {
            return Ok(Tools::default());
        };
        self.get_or_insert_with(dialect, raw, || {
            Ok(Tools::new(parse(array(parse_raw(raw)?, at)?, at)?))
        })
    }
}

/// A `tools` member left raw by the root's parse, as a `Value`. The root's parse only found
/// where the member ends, so this is where a list's JSON is checked.
pub(crate) fn parse_raw(raw: &[u8]) -> Result<Value> {
    serde_json::from_slice(raw).map_err(|e| {
        GatewayError::invalid(format!("the request body is not valid JSON: tools: {e}"))
    })
}

impl<T: Clone> ToolCache<T> {
    /// Keeps a freshly parsed list if it was seen before; returns the lists it pushed out.
    fn admit(&self, dialect: Dialect, raw: &[u8], value: &T) -> Vec<Entry<T>> {
        let mut evicted = Vec::new();
        if raw.len() > self.max_entry_bytes || self.max_entries == 0 {
            return evicted;
        }
        let fingerprint = Fingerprint {
            dialect,
            len: raw.len(),
            crc: crc32fast::hash(raw),
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.seen_once.iter().position(|f| *f == fingerprint) {
            Some(i) => {
                entries.seen_once.remove(i);
            }
            None => {
                if entries.seen_once.len() >= SEEN_ONCE {
                    entries.seen_once.pop_front();
                }
                entries.seen_once.push_back(fingerprint);
                return evicted;
            }
        }
        // Another request may have put the same list in since the lookup.
        if entries
            .list
            .iter()
            .any(|e| e.dialect == dialect && *e.raw == *raw)
        {
            return evicted;
        }
        while entries.list.len() >= self.max_entries
            || (!entries.list.is_empty() && entries.total_bytes + raw.len() > self.max_total_bytes)
        {
            evicted.extend(entries.evict_least_recently_used());
        }
        entries.clock += 1;
        let last_used = entries.clock;
        entries.total_bytes += raw.len();
        entries.list.push(Entry {
            dialect,
            raw: raw.into(),
            value: value.clone(),
            last_used,
        });
        evicted
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .list
            .len()
    }
}

impl<T> Entries<T> {
    fn evict_least_recently_used(&mut self) -> Option<Entry<T>> {
        let oldest = self
            .list
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(i, _)| i)?;
        let entry = self.list.swap_remove(oldest);
        self.total_bytes -= entry.raw.len();
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::fields::object;
    use crate::dialect::fields::{require, string, ROOT};
    use serde_json::json;

    fn names(raw: Vec<Value>, at: &Path) -> Result<Vec<Tool>> {
        raw.into_iter()
            .enumerate()
            .map(|(i, tool)| {
                let at = at.index(i);
                let mut obj = object(tool, &at)?;
                Ok(Tool {
                    name: require(&mut obj, &at, "name", string)?,
                    description: String::new(),
                    input_schema: json!({}),
                })
            })
            .collect()
    }

    fn lookup(cache: &ToolCache<Tools>, dialect: Dialect, json: &str) -> Result<Tools> {
        cache.get_or_parse(dialect, Some(json.as_bytes()), &ROOT.key("tools"), names)
    }

    /// Seen twice, so kept: what a third request gets.
    fn kept(cache: &ToolCache<Tools>, dialect: Dialect, json: &str) -> Tools {
        let once = lookup(cache, dialect, json).expect("parse");
        let twice = lookup(cache, dialect, json).expect("parse");
        assert!(
            !twice.is_shared_with(&once),
            "kept from its second sighting"
        );
        twice
    }

    fn named(name: impl std::fmt::Display) -> String {
        format!(r#"[{{"name":"{name}"}}]"#)
    }

    #[test]
    fn the_same_bytes_share_one_list_per_dialect() {
        let cache = ToolCache::new(4, 1 << 20, 1 << 20);
        let first = kept(&cache, Dialect::Anthropic, &named("a"));
        let again = lookup(&cache, Dialect::Anthropic, &named("a")).expect("hit");
        assert!(again.is_shared_with(&first));
        assert_eq!(again[0].name, "a");

        // Other bytes (even equal JSON) and another dialect are other lists.
        let spaced = kept(&cache, Dialect::Anthropic, r#"[ {"name":"a"}]"#);
        assert!(!spaced.is_shared_with(&first));
        let gemini = kept(&cache, Dialect::Gemini, &named("a"));
        assert!(!gemini.is_shared_with(&first));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_list_that_is_not_json_is_refused_every_time_and_never_kept() {
        // The root's parse steps over `tools` without validating it: this is where it is checked.
        let cache = ToolCache::new(4, 1 << 20, 1 << 20);
        for _ in 0..3 {
            let err = lookup(&cache, Dialect::Anthropic, r#"[{"name":"a"},}]"#).unwrap_err();
            assert!(
                err.message
                    .starts_with("the request body is not valid JSON: tools: "),
                "{}",
                err.message
            );
        }
        assert_eq!(cache.len(), 0);
        let absent = cache.get_or_parse(Dialect::Anthropic, Some(b"null"), &ROOT, names);
        assert!(absent.expect("no tools").is_empty());
    }

    #[test]
    fn a_list_seen_once_is_not_kept() {
        let cache = ToolCache::new(4, 1 << 20, 1 << 20);
        for i in 0..=SEEN_ONCE {
            lookup(&cache, Dialect::Anthropic, &named(i)).expect("ok");
        }
        assert_eq!(cache.len(), 0);
        // The first was forgotten among the later first sightings; the last is remembered.
        lookup(&cache, Dialect::Anthropic, &named(0)).expect("ok");
        assert_eq!(cache.len(), 0);
        lookup(&cache, Dialect::Anthropic, &named(SEEN_ONCE)).expect("ok");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn absent_null_and_bad_lists() {
        let cache = ToolCache::new(4, 1 << 20, 1 << 20);
        let none = cache
            .get_or_parse(Dialect::Anthropic, None, &ROOT.key("tools"), names)
            .expect("none");
        assert!(none.is_empty());
        assert!(lookup(&cache, Dialect::Anthropic, "null")
            .expect("null")
            .is_empty());

        let error = lookup(&cache, Dialect::Anthropic, r#"{"name":"a"}"#).expect_err("object");
        assert_eq!(error.message, "tools: expected an array, got an object");
        let error = lookup(&cache, Dialect::Anthropic, r#"[{"name":1}]"#).expect_err("bad");
        assert_eq!(
            error.message,
            "tools[0].name: expected a string, got a number"
        );
        // Errors are not kept; asking again gives the same error.
        assert_eq!(cache.len(), 0);
        let again = lookup(&cache, Dialect::Anthropic, r#"[{"name":1}]"#).expect_err("bad");
        assert_eq!(again.message, error.message);
    }

    #[test]
    fn bounded_by_entries_and_bytes_forgetting_the_least_recently_used() {
        let cache = ToolCache::new(2, 1 << 20, 1 << 20);
        let a = kept(&cache, Dialect::Anthropic, &named("a"));
        let b = kept(&cache, Dialect::Anthropic, &named("b"));
        // `a` used last, so `b` goes when `c` comes.
        lookup(&cache, Dialect::Anthropic, &named("a")).expect("a");
        kept(&cache, Dialect::Anthropic, &named("c"));
        assert_eq!(cache.len(), 2);
        let a2 = lookup(&cache, Dialect::Anthropic, &named("a")).expect("a");
        assert!(a2.is_shared_with(&a));
        let b2 = lookup(&cache, Dialect::Anthropic, &named("b")).expect("b");
        assert!(!b2.is_shared_with(&b), "b was forgotten and parsed again");

        // 14 bytes per list; room for two in 30 bytes, none over 20 bytes each.
        let cache = ToolCache::new(8, 30, 20);
        for name in ["a", "b", "c"] {
            kept(&cache, Dialect::Anthropic, &named(name));
        }
        assert_eq!(cache.len(), 2);
        for _ in 0..2 {
            lookup(&cache, Dialect::Anthropic, &named("long-name")).expect("ok");
        }
        assert_eq!(cache.len(), 2, "a list over the entry limit is not kept");
    }
}
