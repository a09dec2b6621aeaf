//! The output items of one response, built from canonical events, and the response object
//! around them. Both writers share this state machine; the SSE writer also listens to its
//! item transitions ([`ItemEvents`]) to emit the fine-grained events.
//!
//! Items follow the upstream order: a run of thinking is one `reasoning` item, a run of text one
//! `message` item, each tool call one `function_call` (or `custom_tool_call`) item. Exactly one
//! item is open at a time, and `output_index` counts 0, 1, 2… in opening order.

use std::collections::BTreeMap;

use once_cell::sync::Lazy;
use serde_json::{json, Map, Value};

use super::error::failure_code;
use super::tools::{wire_tool, WireTool};
use super::ECHO_RESPONSE;
use crate::chat::{estimate, GatewayError, ResponseMeta, StreamEvent, Usage};
use crate::json::{push_json_array, push_json_object, push_json_value, SharedJson};

/// The message OpenAI gives with `context_length_exceeded`.
pub(super) const CONTEXT_EXCEEDED_MESSAGE: &str =
    "Your input exceeds the context window of this model. Please adjust your input and try again.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemKind {
    Reasoning,
    Message,
    FunctionCall,
    CustomToolCall,
}

/// The item being produced.
#[derive(Debug)]
pub(super) struct OpenItem {
    pub kind: ItemKind,
    pub id: String,
    pub output_index: u64,
    /// The text, the reasoning summary, or the tool call's arguments JSON so far.
    pub text: String,
    /// Tool calls only: the upstream tool id, which clients send back as `call_id`.
    pub call_id: String,
    /// Tool calls only: the name and namespace the client declared.
    pub tool: WireTool,
}

impl OpenItem {
    /// The item as `response.output_item.added` announces it.
    pub fn added(&self) -> Value {
        match self.kind {
            ItemKind::Reasoning => json!({"id": self.id, "type": "reasoning", "summary": []}),
            ItemKind::Message => json!({
                "id": self.id, "type": "message", "status": "in_progress",
                "role": "assistant", "content": [],
            }),
            ItemKind::FunctionCall => self.tool_item("in_progress", "arguments", String::new()),
            ItemKind::CustomToolCall => self.tool_item("in_progress", "input", String::new()),
        }
    }

    /// The finished item, as `output_item.done` and the response's `output` carry it.
    pub fn finished(&self, status: &str) -> Value {
        match self.kind {
            ItemKind::Reasoning => json!({
                "id": self.id, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": self.text}],
            }),
            ItemKind::Message => json!({
                "id": self.id, "type": "message", "status": status, "role": "assistant",
                "content": [output_text(&self.text)],
            }),
            ItemKind::FunctionCall => self.tool_item(status, "arguments", self.arguments()),
            ItemKind::CustomToolCall => self.tool_item(status, "input", self.custom_input()),
        }
    }

    /// A function call's arguments: the fragments joined, `{}` when there were none.
    pub fn arguments(&self) -> String {
        if self.text.trim().is_empty() {
            "{}".to_owned()
        } else {
            self.text.clone()
        }
    }

    /// A custom tool call's free text: the `input` of the `{"input": …}` the model was asked
    /// for. Arguments of another shape are passed on as they are rather than lost.
    pub fn custom_input(&self) -> String {
        match serde_json::from_str::<Value>(&self.text) {
            Ok(Value::Object(mut args)) => match args.remove("input") {
                Some(Value::String(input)) => input,
                Some(other) => other.to_string(),
                None => self.text.clone(),
            },
            _ => self.text.clone(),
        }
    }

    fn tool_item(&self, status: &str, field: &str, value: String) -> Value {
        let mut item = Map::new();
        let (item_type, _) = wire_type(self.kind);
        item.insert("id".into(), self.id.clone().into());
        item.insert("type".into(), item_type.into());
        item.insert("status".into(), status.into());
        item.insert("call_id".into(), self.call_id.clone().into());
        item.insert("name".into(), self.tool.name.clone().into());
        if let Some(ns) = &self.tool.namespace {
            item.insert("namespace".into(), ns.clone().into());
        }
        item.insert(field.into(), value.into());
        Value::Object(item)
    }
}

/// The item `type` and id prefix of a kind.
fn wire_type(kind: ItemKind) -> (&'static str, &'static str) {
    match kind {
        ItemKind::Reasoning => ("reasoning", "rs"),
        ItemKind::Message => ("message", "msg"),
        ItemKind::FunctionCall => ("function_call", "fc"),
        ItemKind::CustomToolCall => ("custom_tool_call", "ctc"),
    }
}

/// An `output_text` content part.
pub(super) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// Listens to item transitions (the SSE writer turns them into events).
pub(super) trait ItemEvents {
    fn added(&mut self, item: &OpenItem);
    /// New text, reasoning or function arguments (custom tool input arrives whole at `done`).
    fn delta(&mut self, item: &OpenItem, delta: &str);
    fn done(&mut self, item: &OpenItem, finished: &Value);
}

/// For the non-streaming writer, which needs only the result.
pub(super) struct NoEvents;

impl ItemEvents for NoEvents {
    fn added(&mut self, _: &OpenItem) {}
    fn delta(&mut self, _: &OpenItem, _: &str) {}
    fn done(&mut self, _: &OpenItem, _: &Value) {}
}

/// The output of one response.
#[derive(Debug)]
pub(super) struct Output {
    meta: ResponseMeta,
    /// Finished items, in order.
    items: Vec<Value>,
    open: Option<OpenItem>,
    next_index: u64,
    reasoning_tokens: u64,
}

impl Output {
    pub fn new(meta: ResponseMeta) -> Self {
        Output {
            meta,
            items: Vec::new(),
            open: None,
            next_index: 0,
            reasoning_tokens: 0,
        }
    }

    pub fn response_id(&self) -> String {
        format!("resp_{}", self.meta.id)
    }

    /// Feeds a content event (text, thinking or a piece of a tool call) to the items. `false`
    /// for the other events, which each writer answers in its own way.
    pub fn content(&mut self, event: &StreamEvent, events: &mut impl ItemEvents) -> bool {
        match event {
            StreamEvent::TextDelta(text) => self.text(text, events),
            StreamEvent::ThinkingDelta(text) => self.thinking(text, events),
            StreamEvent::ToolCallStart { id, name } => self.tool_start(id, name, events),
            StreamEvent::ToolCallDelta(fragment) => self.tool_delta(fragment, events),
            StreamEvent::ToolCallEnd => self.tool_end(events),
            StreamEvent::Start
            | StreamEvent::Ping
            | StreamEvent::Finish { .. }
            | StreamEvent::Error(_) => return false,
        }
        true
    }

    pub fn text(&mut self, text: &str, events: &mut impl ItemEvents) {
        self.append(ItemKind::Message, text, events);
    }

    pub fn thinking(&mut self, text: &str, events: &mut impl ItemEvents) {
        self.append(ItemKind::Reasoning, text, events);
    }

    /// Appends to the open reasoning or message item, opening one first if needed.
    fn append(&mut self, kind: ItemKind, text: &str, events: &mut impl ItemEvents) {
        if text.is_empty() {
            return;
        }
        if self.open.as_ref().map(|item| item.kind) != Some(kind) {
            self.close("completed", events);
            self.open_item(kind, String::new(), WireTool::default(), events);
        }
        if let Some(item) = self.open.as_mut() {
            item.text.push_str(text);
            events.delta(item, text);
        }
    }

    pub fn tool_start(&mut self, id: &str, name: &str, events: &mut impl ItemEvents) {
        self.close("completed", events);
        let wire = self.meta.shared_echo.as_ref().map(|e| &e.tool_names);
        let tool = wire
            .and_then(|map| wire_tool(map, name))
            .unwrap_or_else(|| WireTool {
                name: name.to_owned(),
                ..WireTool::default()
            });
        let kind = if tool.custom {
            ItemKind::CustomToolCall
        } else {
            ItemKind::FunctionCall
        };
        self.open_item(kind, id.to_owned(), tool, events);
    }

    /// A fragment of the open tool call's arguments; dropped outside a tool call.
    pub fn tool_delta(&mut self, fragment: &str, events: &mut impl ItemEvents) {
        if let Some(item) = self.open.as_mut() {
            match item.kind {
                ItemKind::FunctionCall => {
                    item.text.push_str(fragment);
                    if !fragment.is_empty() {
                        events.delta(item, fragment);
                    }
                }
                ItemKind::CustomToolCall => item.text.push_str(fragment),
                ItemKind::Reasoning | ItemKind::Message => {}
            }
        }
    }

    pub fn tool_end(&mut self, events: &mut impl ItemEvents) {
        if matches!(
            self.open.as_ref().map(|item| item.kind),
            Some(ItemKind::FunctionCall | ItemKind::CustomToolCall)
        ) {
            self.close("completed", events);
        }
    }

    fn open_item(
        &mut self,
        kind: ItemKind,
        call_id: String,
        tool: WireTool,
        events: &mut impl ItemEvents,
    ) {
        let (_, prefix) = wire_type(kind);
        // Tool call items are named after the call, so a replayed call keeps its ids.
        let id = if call_id.is_empty() {
            format!("{prefix}_{}_{}", self.meta.id, self.next_index)
        } else {
            format!("{prefix}_{call_id}")
        };
        let item = OpenItem {
            kind,
            id,
            output_index: self.next_index,
            text: String::new(),
            call_id,
            tool,
        };
        self.next_index += 1;
        events.added(&item);
        self.open = Some(item);
    }

    /// Finishes the open item, if any, with `status` (`completed`, or `incomplete` when the
    /// output limit cut it).
    pub fn close(&mut self, status: &str, events: &mut impl ItemEvents) {
        let Some(item) = self.open.take() else {
            return;
        };
        if item.kind == ItemKind::Reasoning {
            self.reasoning_tokens += estimate::output_tokens(&item.text);
        }
        let finished = item.finished(status);
        events.done(&item, &finished);
        self.items.push(finished);
    }

    /// The response object with the finished items. `usage` and `error` are the already
    /// rendered values, `null` when absent.
    pub fn document(
        &self,
        status: &str,
        usage: Option<&Usage>,
        error: Option<Value>,
        incomplete_reason: Option<&str>,
    ) -> Document<'_> {
        let mut doc = self.envelope(status);
        doc.set("output", Field::Items(&self.items));
        doc.set("usage", owned(usage.map_or(Value::Null, |u| self.usage(u))));
        doc.set("error", owned(error.unwrap_or(Value::Null)));
        doc.set(
            "incomplete_details",
            owned(incomplete_reason.map_or(Value::Null, |reason| json!({ "reason": reason }))),
        );
        doc
    }

    /// The response object before any output (`response.created`).
    pub fn initial_document(&self) -> Document<'_> {
        let mut doc = self.envelope("in_progress");
        doc.set("output", Field::Items(&[]));
        for key in ["usage", "error", "incomplete_details"] {
            doc.set(key, owned(Value::Null));
        }
        doc
    }

    /// The response object of a response that failed with `err` after it started; an item
    /// still open stays unfinished, as the response failed in the middle of it.
    pub fn failed_document(&self, err: &GatewayError) -> Document<'_> {
        self.document(
            "failed",
            None,
            Some(failure(failure_code(err.kind), &err.message)),
            None,
        )
    }

    /// Identity and status only: the keep-alive `response.in_progress` carries no more, so a
    /// long silence costs a few bytes rather than the echoed tools every time.
    pub fn progress_document(&self) -> Document<'_> {
        let mut doc = Document::default();
        self.identify(&mut doc, "in_progress");
        doc
    }

    /// The echoed request fields with OpenAI's defaults, plus identity and status.
    fn envelope(&self, status: &str) -> Document<'_> {
        let mut doc = Document::default();
        for (key, value) in DEFAULT_ECHO.iter() {
            doc.set(key, Field::Borrowed(value));
        }
        if let Some(Value::Object(echo)) =
            self.meta.echo.as_deref().and_then(|e| e.get(ECHO_RESPONSE))
        {
            for (key, value) in echo {
                doc.set(key, Field::Borrowed(value));
            }
        }
        if let Some(tools) = self
            .meta
            .shared_echo
            .as_ref()
            .and_then(|e| e.tools.as_ref())
        {
            doc.set("tools", Field::Shared(tools));
        }
        self.identify(&mut doc, status);
        doc
    }

    fn identify(&self, doc: &mut Document<'_>, status: &str) {
        doc.set("id", owned(self.response_id().into()));
        doc.set("object", owned("response".into()));
        doc.set("created_at", owned(self.meta.created.into()));
        doc.set("status", owned(status.into()));
        doc.set("model", owned(self.meta.model.as_str().into()));
    }

    fn usage(&self, usage: &Usage) -> Value {
        json!({
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens.min(usage.output_tokens),
            },
            "total_tokens": usage.input_tokens.saturating_add(usage.output_tokens),
        })
    }
}

/// What the response object says for request fields the client left out.
static DEFAULT_ECHO: Lazy<Map<String, Value>> = Lazy::new(|| {
    let defaults = json!({
        "background": false,
        "instructions": null,
        "max_output_tokens": null,
        "metadata": {},
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "user": null,
    });
    match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    }
});

/// A response object to write out. The echoed request fields are borrowed from the request's
/// echo, not copied, and its tool list (18 KB from Codex) is written from the bytes serialised
/// once for every request that sent it: a streamed response writes the object three times.
#[derive(Debug, Default)]
pub(super) struct Document<'a> {
    /// Sorted by key, as `serde_json::Map` is, so the bytes are those of the same `Value`.
    fields: BTreeMap<&'a str, Field<'a>>,
}

#[derive(Debug)]
pub(super) enum Field<'a> {
    Borrowed(&'a Value),
    Owned(Value),
    Items(&'a [Value]),
    /// Written from the bytes serialised once for every request that shares it.
    Shared(&'a SharedJson),
}

fn owned(value: Value) -> Field<'static> {
    Field::Owned(value)
}

impl<'a> Document<'a> {
    fn set(&mut self, key: &'a str, field: Field<'a>) {
        self.fields.insert(key, field);
    }

    /// Appends the object as `serde_json::to_writer` would write [`Document::to_value`].
    pub fn write_json(&self, out: &mut Vec<u8>) {
        push_json_object(out, &self.fields, |_, field, out| match field {
            Field::Borrowed(value) => push_json_value(out, value),
            Field::Owned(value) => push_json_value(out, value),
            Field::Items(items) => {
                push_json_array(out, items, |item, out| push_json_value(out, item))
            }
            Field::Shared(json) => out.extend_from_slice(json.compact()),
        });
    }

    /// An owned copy, for a response kept for `previous_response_id`.
    pub fn to_value(&self) -> Value {
        let fields = self.fields.iter().map(|(key, field)| {
            let value = match field {
                Field::Borrowed(value) => (*value).clone(),
                Field::Owned(value) => value.clone(),
                Field::Items(items) => Value::Array(items.to_vec()),
                Field::Shared(json) => json.value().clone(),
            };
            ((*key).to_owned(), value)
        });
        Value::Object(fields.collect())
    }
}

/// The `error` of a failed response: `{code, message}`.
pub(super) fn failure(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::openai_responses::testing::split_echo;
    use crate::dialect::openai_responses::ECHO_TOOLS;

    /// Records transitions as short strings.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl ItemEvents for Log {
        fn added(&mut self, item: &OpenItem) {
            self.0
                .push(format!("added {} {}", item.output_index, item.id));
        }
        fn delta(&mut self, item: &OpenItem, delta: &str) {
            self.0.push(format!("delta {} {delta}", item.output_index));
        }
        fn done(&mut self, item: &OpenItem, finished: &Value) {
            self.0
                .push(format!("done {} {}", item.output_index, finished["type"]));
        }
    }

    fn meta(echo: Option<Value>) -> ResponseMeta {
        let (echo, shared_echo) = split_echo(echo);
        ResponseMeta {
            id: "abc".into(),
            model: "gpt-x".into(),
            input_tokens: 10,
            created: 1_700_000_000,
            thinking: true,
            echo,
            shared_echo,
        }
    }

    #[test]
    fn items_open_and_close_in_order() {
        let mut out = Output::new(meta(None));
        let mut log = Log::default();
        out.thinking("hm", &mut log);
        out.thinking("m", &mut log);
        out.text("", &mut log);
        out.text("Hi", &mut log);
        out.tool_delta("ignored", &mut log);
        out.tool_start("tooluse_1", "exec", &mut log);
        out.tool_delta("{\"a\":", &mut log);
        out.tool_delta("", &mut log);
        out.tool_delta("1}", &mut log);
        out.tool_end(&mut log);
        out.tool_end(&mut log);
        out.close("completed", &mut log);
        assert_eq!(
            log.0,
            [
                "added 0 rs_abc_0",
                "delta 0 hm",
                "delta 0 m",
                "done 0 \"reasoning\"",
                "added 1 msg_abc_1",
                "delta 1 Hi",
                "done 1 \"message\"",
                "added 2 fc_tooluse_1",
                "delta 2 {\"a\":",
                "delta 2 1}",
                "done 2 \"function_call\"",
            ]
        );
        let doc = out.document("completed", None, None, None).to_value();
        assert_eq!(doc["output"][0]["summary"][0]["text"], "hmm");
        assert_eq!(doc["output"][1]["content"][0]["text"], "Hi");
        assert_eq!(
            doc["output"][2],
            json!({"id": "fc_tooluse_1", "type": "function_call", "status": "completed",
                   "call_id": "tooluse_1", "name": "exec", "arguments": "{\"a\":1}"})
        );
    }

    #[test]
    fn custom_and_namespaced_tools_use_their_wire_names() {
        let echo = json!({ECHO_TOOLS: {
            "apply_patch": {"name": "apply_patch", "custom": true},
            "ns__send": {"name": "send", "namespace": "ns"},
        }});
        let mut out = Output::new(meta(Some(echo)));
        let mut log = Log::default();
        out.tool_start("t1", "apply_patch", &mut log);
        out.tool_delta("{\"input\":\"*** Begin", &mut log);
        out.tool_delta(" Patch\"}", &mut log);
        out.tool_end(&mut log);
        out.tool_start("t2", "ns__send", &mut log);
        out.tool_end(&mut log);
        // Custom input arrives whole at `done`, never as argument deltas.
        assert!(log.0.iter().all(|l| !l.starts_with("delta")), "{:?}", log.0);
        let doc = out.document("completed", None, None, None).to_value();
        assert_eq!(
            doc["output"][0],
            json!({"id": "ctc_t1", "type": "custom_tool_call", "status": "completed",
                   "call_id": "t1", "name": "apply_patch", "input": "*** Begin Patch"})
        );
        assert_eq!(
            doc["output"][1],
            json!({"id": "fc_t2", "type": "function_call", "status": "completed",
                   "call_id": "t2", "name": "send", "namespace": "ns", "arguments": "{}"})
        );
    }

    #[test]
    fn custom_input_of_another_shape_is_kept() {
        let item = |text: &str| OpenItem {
            kind: ItemKind::CustomToolCall,
            id: "ctc_1".into(),
            output_index: 0,
            text: text.into(),
            call_id: "1".into(),
            tool: WireTool::default(),
        };
        assert_eq!(item("{\"input\":\"x\"}").custom_input(), "x");
        assert_eq!(item("{\"input\":[1]}").custom_input(), "[1]");
        assert_eq!(item("{\"other\":1}").custom_input(), "{\"other\":1}");
        assert_eq!(item("not json").custom_input(), "not json");
    }

    #[test]
    fn document_echoes_the_request_with_defaults() {
        let echo = json!({ECHO_RESPONSE: {
            "store": false, "instructions": "Be brief.", "tools": [{"type": "function", "name": "f"}],
            "previous_response_id": "resp_prev", "metadata": {"k": "v"},
        }});
        let mut out = Output::new(meta(Some(echo)));
        out.thinking("think", &mut NoEvents);
        out.text("Hello", &mut NoEvents);
        out.close("incomplete", &mut NoEvents);
        let usage = Usage {
            input_tokens: 100,
            output_tokens: 7,
            credits: None,
        };
        let view = out.document("incomplete", Some(&usage), None, Some("max_output_tokens"));
        let doc = view.to_value();
        // Written straight from the borrowed fields, the bytes are the owned copy's.
        let mut written = Vec::new();
        view.write_json(&mut written);
        assert_eq!(written, serde_json::to_vec(&doc).unwrap());
        assert_eq!(doc["id"], "resp_abc");
        assert_eq!(doc["object"], "response");
        assert_eq!(doc["created_at"], 1_700_000_000);
        assert_eq!(doc["model"], "gpt-x");
        assert_eq!(doc["status"], "incomplete");
        assert_eq!(
            doc["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(doc["store"], false);
        assert_eq!(doc["instructions"], "Be brief.");
        assert_eq!(doc["previous_response_id"], "resp_prev");
        assert_eq!(doc["tools"][0]["name"], "f");
        assert_eq!(doc["metadata"], json!({"k": "v"}));
        assert_eq!(doc["tool_choice"], "auto");
        assert_eq!(doc["parallel_tool_calls"], true);
        assert_eq!(doc["truncation"], "disabled");
        assert_eq!(doc["text"], json!({"format": {"type": "text"}}));
        assert_eq!(doc["error"], Value::Null);
        assert_eq!(doc["output"][1]["status"], "incomplete");
        assert_eq!(
            doc["usage"],
            json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 2},
                   "total_tokens": 107})
        );
        let initial = out.initial_document().to_value();
        assert_eq!(initial["status"], "in_progress");
        assert_eq!(initial["output"], json!([]));
        assert_eq!(initial["usage"], Value::Null);
        assert_eq!(out.progress_document().to_value()["id"], "resp_abc");
    }
}
