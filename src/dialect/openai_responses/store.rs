//! Stored responses: what `store:true` keeps, so that `GET`/`DELETE /v1/responses/{id}` and
//! `previous_response_id` work.
//!
//! Kiro keeps no state between calls, so continuing from a stored response means replaying
//! its whole conversation: each entry holds the canonical conversation up to and including
//! that response's answer, next to the response object clients fetch. The store is bounded
//! by entry count (the oldest go first) and by age, and is safe to share between threads.
//! No I/O: time comes from [`Instant`], and the `*_at` variants take it as an argument.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::tools::{PendingTool, ToolSet};
use super::ECHO_RESPONSE;
use crate::chat::{Block, Message};
use crate::dialect::fields;

/// One stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// The response object, as `GET /v1/responses/{id}` returns it.
    pub document: Value,
    /// The system prompt the conversation ran with.
    pub system: Vec<String>,
    /// The whole canonical conversation, ending with this response's assistant turn.
    pub messages: Vec<Message>,
}

/// A bounded, thread-safe map from response id to [`StoredResponse`].
#[derive(Debug)]
pub struct ResponseStore {
    max_entries: usize,
    max_age: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Insertion number → id, oldest first.
    order: BTreeMap<u64, String>,
    entries: HashMap<String, Entry>,
    next: u64,
}

#[derive(Debug)]
struct Entry {
    number: u64,
    stored_at: Instant,
    response: Arc<StoredResponse>,
}

impl ResponseStore {
    /// A store of at most `max_entries` responses, each kept at most `max_age`.
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        ResponseStore {
            max_entries,
            max_age,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn insert(&self, id: impl Into<String>, response: StoredResponse) {
        self.insert_at(id, response, Instant::now());
    }

    pub fn get(&self, id: &str) -> Option<Arc<StoredResponse>> {
        self.get_at(id, Instant::now())
    }

    /// Forgets `id`; `false` if it was not stored (or had expired).
    pub fn remove(&self, id: &str) -> bool {
        self.remove_at(id, Instant::now())
    }

    /// Responses currently held (expired ones may still count until the next access).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`ResponseStore::insert`] at a given time. Replacing an id makes it the newest entry.
    pub fn insert_at(&self, id: impl Into<String>, response: StoredResponse, now: Instant) {
        if self.max_entries == 0 {
            return;
        }
        let id = id.into();
        let mut inner = self.lock();
        inner.expire(now, self.max_age);
        if let Some(old) = inner.entries.remove(&id) {
            inner.order.remove(&old.number);
        }
        while inner.entries.len() >= self.max_entries {
            if !inner.evict_oldest() {
                break;
            }
        }
        let number = inner.next;
        inner.next += 1;
        inner.order.insert(number, id.clone());
        inner.entries.insert(
            id,
            Entry {
                number,
                stored_at: now,
                response: Arc::new(response),
            },
        );
    }

    /// [`ResponseStore::get`] at a given time.
    pub fn get_at(&self, id: &str, now: Instant) -> Option<Arc<StoredResponse>> {
        let mut inner = self.lock();
        inner.expire(now, self.max_age);
        inner.entries.get(id).map(|e| Arc::clone(&e.response))
    }

    /// [`ResponseStore::remove`] at a given time.
    pub fn remove_at(&self, id: &str, now: Instant) -> bool {
        let mut inner = self.lock();
        inner.expire(now, self.max_age);
        match inner.entries.remove(id) {
            Some(entry) => {
                inner.order.remove(&entry.number);
                true
            }
            None => false,
        }
    }

    /// The map stays consistent even if a holder panicked: every change is completed before
    /// anything that could panic, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Drops entries older than `max_age`. Insertion order is age order, so this stops at
    /// the first young entry.
    fn expire(&mut self, now: Instant, max_age: Duration) {
        while let Some((_, id)) = self.order.first_key_value() {
            let expired = self
                .entries
                .get(id)
                .is_none_or(|e| now.saturating_duration_since(e.stored_at) > max_age);
            if !expired || !self.evict_oldest() {
                break;
            }
        }
    }

    fn evict_oldest(&mut self) -> bool {
        match self.order.pop_first() {
            Some((_, id)) => {
                self.entries.remove(&id);
                true
            }
            None => false,
        }
    }
}

/// The `previous_response_id` a parsed request asked to continue from (from its echo).
pub fn previous_response_id(echo: Option<&Value>) -> Option<&str> {
    echo?
        .get(ECHO_RESPONSE)?
        .get("previous_response_id")?
        .as_str()
}

/// Whether a parsed request wants its response stored (`store`, default `true`).
pub fn wants_store(echo: Option<&Value>) -> bool {
    echo.and_then(|e| e.get(ECHO_RESPONSE))
        .and_then(|r| r.get("store"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The assistant turn of a response object, for the conversation a later
/// `previous_response_id` continues: reasoning → thinking, messages → text, function and
/// custom tool calls → tool uses named as the request that produced them named its tools.
/// `None` when the response produced nothing.
pub fn output_message(document: &Value) -> Option<Message> {
    let tools = document_tools(document);
    let mut content = Vec::new();
    for item in document.get("output")?.as_array()? {
        let text_of = |v: &Value| v.get("text").and_then(Value::as_str).map(str::to_owned);
        match item.get("type").and_then(Value::as_str) {
            Some("reasoning") => {
                let parts = item.get("summary").and_then(Value::as_array);
                let text: Vec<String> = parts.into_iter().flatten().filter_map(text_of).collect();
                let text = text.join("\n\n");
                if !text.trim().is_empty() {
                    content.push(Block::Thinking(text));
                }
            }
            Some("message") => {
                let parts = item.get("content").and_then(Value::as_array);
                let text: String = parts.into_iter().flatten().filter_map(text_of).collect();
                if !text.is_empty() {
                    content.push(Block::Text(text));
                }
            }
            Some(kind @ ("function_call" | "custom_tool_call")) => {
                let field = |name: &str| item.get(name).and_then(Value::as_str);
                let (Some(call_id), Some(name)) = (field("call_id"), field("name")) else {
                    continue;
                };
                let input = if kind == "function_call" {
                    match field("arguments").map(serde_json::from_str::<Value>) {
                        Some(Ok(args @ Value::Object(_))) => args,
                        _ => Value::Object(Map::new()),
                    }
                } else {
                    let mut input = Map::new();
                    input.insert("input".into(), field("input").unwrap_or_default().into());
                    Value::Object(input)
                };
                content.push(Block::ToolUse {
                    id: call_id.to_owned(),
                    name: tools.canonical(field("namespace"), name),
                    input,
                });
            }
            _ => {}
        }
    }
    (!content.is_empty()).then(|| Message::assistant(content))
}

/// The canonical names of the tools the response object echoes; unusable declarations are
/// skipped (the document was produced from a request that already passed the parser).
fn document_tools(document: &Value) -> ToolSet {
    let mut pending: Vec<PendingTool> = Vec::new();
    if let Some(tools) = document.get("tools").and_then(Value::as_array) {
        let at = fields::ROOT.key("tools");
        for (i, tool) in tools.iter().enumerate() {
            let one = std::slice::from_ref(tool);
            // One at a time, so a bad declaration costs only itself.
            let _ = ToolSet::collect(one, &at.index(i), &mut pending);
        }
    }
    ToolSet::finish(pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(tag: &str) -> StoredResponse {
        StoredResponse {
            document: json!({"id": tag}),
            system: vec!["sys".into()],
            messages: vec![Message::user(vec![Block::Text(tag.into())])],
        }
    }

    #[test]
    fn insert_get_remove() {
        let store = ResponseStore::new(10, Duration::from_secs(60));
        assert!(store.is_empty());
        store.insert("resp_1", stored("one"));
        let got = store.get("resp_1").unwrap();
        assert_eq!(got.document["id"], "one");
        assert_eq!(got.system, ["sys"]);
        assert!(store.get("resp_2").is_none());
        // Replacing keeps one entry.
        store.insert("resp_1", stored("uno"));
        assert_eq!(store.len(), 1);
        assert_eq!(store.get("resp_1").unwrap().document["id"], "uno");
        // A reader keeps its copy after removal.
        assert!(store.remove("resp_1"));
        assert!(!store.remove("resp_1"));
        assert!(store.get("resp_1").is_none());
        assert_eq!(got.document["id"], "one");
    }

    #[test]
    fn bounded_by_count_oldest_first() {
        let store = ResponseStore::new(2, Duration::from_secs(60));
        store.insert("a", stored("a"));
        store.insert("b", stored("b"));
        store.insert("a", stored("a2")); // now the newest
        store.insert("c", stored("c"));
        assert!(store.get("b").is_none());
        assert!(store.get("a").is_some());
        assert!(store.get("c").is_some());
        assert_eq!(store.len(), 2);

        let none = ResponseStore::new(0, Duration::from_secs(60));
        none.insert("a", stored("a"));
        assert!(none.get("a").is_none());
    }

    #[test]
    fn bounded_by_age() {
        let store = ResponseStore::new(10, Duration::from_secs(60));
        let t0 = Instant::now();
        store.insert_at("old", stored("old"), t0);
        store.insert_at("new", stored("new"), t0 + Duration::from_secs(30));
        assert!(store.get_at("old", t0 + Duration::from_secs(60)).is_some());
        assert!(store.get_at("old", t0 + Duration::from_secs(61)).is_none());
        assert!(store.get_at("new", t0 + Duration::from_secs(61)).is_some());
        assert_eq!(store.len(), 1);
        assert!(!store.remove_at("new", t0 + Duration::from_secs(91)));
        assert!(store.is_empty());
    }

    #[test]
    fn shared_between_threads() {
        let store = Arc::new(ResponseStore::new(1000, Duration::from_secs(60)));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let id = format!("resp_{t}_{i}");
                        store.insert(id.clone(), stored(&id));
                        assert!(store.get(&id).is_some());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(store.len(), 400);
    }

    #[test]
    fn echo_accessors() {
        let echo = json!({ECHO_RESPONSE: {"previous_response_id": "resp_9", "store": false}});
        assert_eq!(previous_response_id(Some(&echo)), Some("resp_9"));
        assert!(!wants_store(Some(&echo)));
        let echo = json!({ECHO_RESPONSE: {}});
        assert_eq!(previous_response_id(Some(&echo)), None);
        assert!(wants_store(Some(&echo)));
        assert!(wants_store(None));
        assert_eq!(previous_response_id(None), None);
    }

    #[test]
    fn output_message_from_a_response_object() {
        let doc = json!({
            "tools": [
                {"type": "function", "name": "send"},
                {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "send"}]},
                {"type": "custom", "name": "apply_patch"},
            ],
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}]},
                {"type": "message", "id": "msg_1", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hel"}, {"type": "output_text", "text": "lo"}]},
                {"type": "function_call", "id": "fc_t1", "call_id": "t1", "name": "send",
                 "namespace": "ns", "arguments": "{\"a\":1}"},
                {"type": "function_call", "call_id": "t2", "name": "send", "arguments": "oops"},
                {"type": "custom_tool_call", "call_id": "t3", "name": "apply_patch", "input": "patch"},
                {"type": "function_call", "name": "no_call_id"},
                {"type": "web_search_call", "id": "ws_1"},
            ],
        });
        let message = output_message(&doc).unwrap();
        assert_eq!(
            message,
            Message::assistant(vec![
                Block::Thinking("think".into()),
                Block::Text("Hello".into()),
                Block::ToolUse {
                    id: "t1".into(),
                    name: "ns__send".into(),
                    input: json!({"a": 1})
                },
                Block::ToolUse {
                    id: "t2".into(),
                    name: "send".into(),
                    input: json!({})
                },
                Block::ToolUse {
                    id: "t3".into(),
                    name: "apply_patch".into(),
                    input: json!({"input": "patch"})
                },
            ])
        );
        assert_eq!(output_message(&json!({"output": []})), None);
        assert_eq!(output_message(&json!({})), None);
    }
}
