//! Responses tool declarations → canonical [`Tool`]s, and the names that map back.
//!
//! Three shapes reach Kiro as plain functions:
//! - `function` tools as they are (the flat Responses shape, no nested `function:{}`);
//! - `custom` tools (free text, often constrained by a Lark grammar, like Codex's
//!   `apply_patch`) as a function taking `{"input": string}`, with the grammar spelled out in
//!   the description. The response writer turns calls back into `custom_tool_call` items;
//! - the members of `namespace` tools, flattened. A member keeps its plain name when no other
//!   tool has it, because namespaced descriptions refer to their siblings by plain name and a
//!   client that replays a call without its `namespace` still resolves. Only a clash makes it
//!   `<namespace>__<name>`. Calls go back out with `name` and `namespace` split again.
//!
//! Hosted tools (`web_search`, `file_search`, `code_interpreter`, `mcp`, …) run on OpenAI's
//! servers, which Kiro cannot do, so they are dropped.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use once_cell::sync::Lazy;
use serde_json::{json, Map, Value};

use crate::chat::{SharedEcho, Tool, Tools};
use crate::dialect::fields::{array, get_str, invalid, require_str, wrong_type, Obj, Path, Result};
use crate::dialect::tool_cache::{parse_raw, ToolCache};
use crate::dialect::Dialect;
use crate::json::SharedJson;

static DECLARED: Lazy<ToolCache<Arc<Declarations>>> = Lazy::new(ToolCache::with_default_bounds);

/// What a request's top-level `tools` list declares, parsed once per distinct list and shared
/// by the requests that send the same bytes ([`crate::dialect::tool_cache`]): Codex repeats
/// its 18 KB list, unchanged, on every turn.
#[derive(Debug)]
pub struct Declarations {
    pending: Vec<PendingTool>,
    /// The list named on its own, as a request without `additional_tools` items uses it,
    /// and what is derived from that.
    named: ToolSet,
    tools: Tools,
    /// The list as sent (`None` when empty or absent) and `named`'s wire map.
    echo: Arc<SharedEcho>,
}

impl Declarations {
    /// The declarations of `raw`, the request's `tools` left unparsed by the root's parse
    /// (absent or `null`: none).
    pub fn shared(raw: Option<&[u8]>, at: &Path) -> Result<Arc<Declarations>> {
        let Some(raw) = raw.filter(|raw| *raw != b"null") else {
            return Declarations::parse(Vec::new(), at).map(Arc::new);
        };
        DECLARED.get_or_insert_with(Dialect::OpenAiResponses, raw, || {
            Declarations::parse(array(parse_raw(raw)?, at)?, at).map(Arc::new)
        })
    }

    fn parse(list: Vec<Value>, at: &Path) -> Result<Declarations> {
        let mut pending = Vec::new();
        ToolSet::collect(&list, at, &mut pending)?;
        let named = ToolSet::finish(pending.clone());
        let echo = SharedEcho {
            tools: (!list.is_empty()).then(|| Arc::new(SharedJson::new(Value::Array(list)))),
            tool_names: named.wire_map(),
        };
        Ok(Declarations {
            tools: named.tools().into(),
            echo: Arc::new(echo),
            named,
            pending,
        })
    }

    /// The request's tool set, canonical tools and shared echo (the list as sent and the
    /// set's [`ToolSet::wire_map`]): the shared ones, unless `additional_tools` items declare
    /// `more`, which are named together with these.
    pub fn with(&self, more: Vec<PendingTool>) -> (Cow<'_, ToolSet>, Tools, Arc<SharedEcho>) {
        if more.is_empty() {
            return (
                Cow::Borrowed(&self.named),
                self.tools.clone(),
                self.echo.clone(),
            );
        }
        let mut pending = self.pending.clone();
        pending.extend(more);
        let set = ToolSet::finish(pending);
        let echo = SharedEcho {
            tools: self.echo.tools.clone(),
            tool_names: set.wire_map(),
        };
        let tools = set.tools().into();
        (Cow::Owned(set), tools, Arc::new(echo))
    }
}

/// How a canonical tool name looks on the Responses wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireTool {
    pub name: String,
    pub namespace: Option<String>,
    /// Called through `custom_tool_call` items with a free-text `input`.
    pub custom: bool,
}

/// One declared tool before naming.
#[derive(Debug, Clone, PartialEq)]
struct Declared {
    wire: WireTool,
    description: String,
    schema: Value,
}

/// The tools a request declares, with canonical names assigned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolSet {
    declared: Vec<(String, Declared)>,
}

impl ToolSet {
    /// Collects the declarations of one `tools` array (top-level, or an `additional_tools`
    /// item's). Call [`ToolSet::finish`] once every array is in.
    pub fn collect(raw: &[Value], at: &Path, pending: &mut Vec<PendingTool>) -> Result<()> {
        for (i, tool) in raw.iter().enumerate() {
            let tool_at = at.index(i);
            let obj = tool
                .as_object()
                .ok_or_else(|| wrong_type(&tool_at, "an object", tool))?;
            match get_str(obj, &tool_at, "type")? {
                None | Some("function") => {
                    pending.push(PendingTool(function(obj, &tool_at, None)?))
                }
                Some("custom") => pending.push(PendingTool(custom(obj, &tool_at, None)?)),
                Some("namespace") => namespace(obj, &tool_at, pending)?,
                // Hosted tools, or a tool type newer than this code.
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Assigns canonical names: plain names unless two tools share one (case-insensitively,
    /// as Kiro compares them), then `<namespace>__<name>` for the namespaced ones. A second
    /// top-level tool with a name already taken is a duplicate declaration and is dropped.
    pub fn finish(pending: Vec<PendingTool>) -> ToolSet {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for PendingTool(tool) in &pending {
            *counts.entry(tool.wire.name.to_lowercase()).or_default() += 1;
        }
        let mut used: HashSet<String> = HashSet::new();
        let mut declared = Vec::with_capacity(pending.len());
        // Top-level tools claim their names first, so a namespace never pushes them aside.
        let (top, namespaced): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|PendingTool(t)| t.wire.namespace.is_none());
        for PendingTool(tool) in top {
            if used.insert(tool.wire.name.to_lowercase()) {
                declared.push((tool.wire.name.clone(), tool));
            }
        }
        for PendingTool(tool) in namespaced {
            let clash = counts
                .get(&tool.wire.name.to_lowercase())
                .is_some_and(|n| *n > 1);
            let base = match (&tool.wire.namespace, clash) {
                (Some(ns), true) => format!("{ns}__{}", tool.wire.name),
                _ => tool.wire.name.clone(),
            };
            let mut name = base.clone();
            let mut n = 2;
            while !used.insert(name.to_lowercase()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            declared.push((name, tool));
        }
        ToolSet { declared }
    }

    /// The canonical tools for the request, in declaration order of kind (top-level first).
    pub fn tools(&self) -> Vec<Tool> {
        self.declared
            .iter()
            .map(|(name, tool)| Tool {
                name: name.clone(),
                description: tool.description.clone(),
                input_schema: tool.schema.clone(),
            })
            .collect()
    }

    /// The canonical name of a call the client replays (`name` plus optional `namespace`).
    pub fn canonical(&self, namespace: Option<&str>, name: &str) -> String {
        let found = match namespace {
            Some(ns) => self
                .declared
                .iter()
                .find(|(_, t)| t.wire.name == name && t.wire.namespace.as_deref() == Some(ns)),
            // No namespace: a top-level tool of that name, else the one namespaced tool.
            None => self
                .declared
                .iter()
                .find(|(_, t)| t.wire.name == name && t.wire.namespace.is_none())
                .or_else(|| {
                    let mut matches = self.declared.iter().filter(|(_, t)| t.wire.name == name);
                    match (matches.next(), matches.next()) {
                        (Some(only), None) => Some(only),
                        _ => None,
                    }
                }),
        };
        found.map_or_else(|| name.to_owned(), |(canonical, _)| canonical.clone())
    }

    /// The map the response writer needs, for the tools whose wire form differs from a plain
    /// function of the same name: `{"<canonical>": {"name", "namespace"?, "custom"?}}`.
    pub fn wire_map(&self) -> Value {
        let mut map = Map::new();
        for (canonical, tool) in &self.declared {
            let wire = &tool.wire;
            if wire.namespace.is_none() && !wire.custom && *canonical == wire.name {
                continue;
            }
            let mut entry = Map::new();
            entry.insert("name".into(), Value::String(wire.name.clone()));
            if let Some(ns) = &wire.namespace {
                entry.insert("namespace".into(), Value::String(ns.clone()));
            }
            if wire.custom {
                entry.insert("custom".into(), Value::Bool(true));
            }
            map.insert(canonical.clone(), Value::Object(entry));
        }
        Value::Object(map)
    }
}

/// A declaration waiting for its canonical name (see [`ToolSet::finish`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTool(Declared);

/// How tool `canonical` is named on the wire, from a [`ToolSet::wire_map`]; `None` when the
/// map does not list it (its wire name is its canonical one) or its entry is malformed.
pub fn wire_tool(map: &Value, canonical: &str) -> Option<WireTool> {
    let entry = map.get(canonical)?;
    Some(WireTool {
        name: entry.get("name")?.as_str()?.to_owned(),
        namespace: entry
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_owned),
        custom: entry.get("custom").and_then(Value::as_bool) == Some(true),
    })
}

fn function(obj: &Obj, at: &Path, namespace: Option<&Namespace>) -> Result<Declared> {
    let name = require_name(obj, at)?;
    let description = get_str(obj, at, "description")?.unwrap_or_default();
    let schema = match obj.get("parameters") {
        None | Some(Value::Null) => empty_object_schema(),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(other) => return Err(wrong_type(&at.key("parameters"), "an object", other)),
    };
    Ok(Declared {
        description: with_namespace(description, namespace),
        wire: WireTool {
            name,
            namespace: namespace.map(|ns| ns.name.clone()),
            custom: false,
        },
        schema,
    })
}

/// A free-text tool, exposed as a function of one string argument. The grammar goes into the
/// description, since the model can follow it only if it reads it.
fn custom(obj: &Obj, at: &Path, namespace: Option<&Namespace>) -> Result<Declared> {
    let name = require_name(obj, at)?;
    let mut description = get_str(obj, at, "description")?
        .unwrap_or_default()
        .to_owned();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(
        "This tool takes free-form text, not JSON arguments: put the whole text in the \
         `input` string.",
    );
    let format_at = at.key("format");
    match obj.get("format") {
        None | Some(Value::Null) => {}
        Some(Value::Object(format)) => {
            if get_str(format, &format_at, "type")? == Some("grammar") {
                let syntax = get_str(format, &format_at, "syntax")?.unwrap_or("lark");
                let definition = require_str(format, &format_at, "definition")?;
                if syntax == "regex" {
                    description.push_str(" The text must match this regular expression:\n");
                    description.push_str(definition);
                } else {
                    description.push_str(" The text must follow this ");
                    description.push_str(syntax);
                    description.push_str(" grammar:\n```\n");
                    description.push_str(definition);
                    description.push_str("\n```");
                }
            }
        }
        Some(other) => return Err(wrong_type(&format_at, "an object", other)),
    }
    Ok(Declared {
        description: with_namespace(&description, namespace),
        wire: WireTool {
            name,
            namespace: namespace.map(|ns| ns.name.clone()),
            custom: true,
        },
        schema: json!({
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The raw text input."}},
            "required": ["input"],
        }),
    })
}

struct Namespace {
    name: String,
    description: String,
}

/// A `namespace` tool: its `function` and `custom` members, flattened.
fn namespace(obj: &Obj, at: &Path, pending: &mut Vec<PendingTool>) -> Result<()> {
    let ns = Namespace {
        name: require_name(obj, at)?,
        description: get_str(obj, at, "description")?
            .unwrap_or_default()
            .to_owned(),
    };
    let tools_at = at.key("tools");
    let members = match obj.get("tools") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(members)) => members,
        Some(other) => return Err(wrong_type(&tools_at, "an array", other)),
    };
    for (i, member) in members.iter().enumerate() {
        let member_at = tools_at.index(i);
        let member_obj = member
            .as_object()
            .ok_or_else(|| wrong_type(&member_at, "an object", member))?;
        match get_str(member_obj, &member_at, "type")? {
            None | Some("function") => {
                pending.push(PendingTool(function(member_obj, &member_at, Some(&ns))?))
            }
            Some("custom") => pending.push(PendingTool(custom(member_obj, &member_at, Some(&ns))?)),
            Some(_) => {}
        }
    }
    Ok(())
}

fn require_name(obj: &Obj, at: &Path) -> Result<String> {
    let name = require_str(obj, at, "name")?;
    if name.trim().is_empty() {
        return Err(invalid(&at.key("name"), "must not be empty"));
    }
    Ok(name.to_owned())
}

/// A namespaced member's description, followed by what its group is for.
fn with_namespace(description: &str, namespace: Option<&Namespace>) -> String {
    match namespace {
        Some(ns) if !ns.description.trim().is_empty() => {
            format!(
                "{description}\n\n(Tool group `{}`: {})",
                ns.name,
                ns.description.trim()
            )
        }
        _ => description.to_owned(),
    }
}

pub(super) fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::fields::ROOT;

    fn set(tools: Value) -> ToolSet {
        let mut pending = Vec::new();
        ToolSet::collect(tools.as_array().unwrap(), &ROOT.key("tools"), &mut pending).unwrap();
        ToolSet::finish(pending)
    }

    fn names(set: &ToolSet) -> Vec<String> {
        set.tools().into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn function_tools_and_hosted_tools() {
        let set = set(json!([
            {"type": "function", "name": "get_weather", "description": "Weather",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false},
            {"type": "function", "name": "no_params"},
            {"type": "web_search", "external_web_access": false},
            {"type": "file_search", "vector_store_ids": []},
            {"type": "image_generation"},
        ]));
        let tools = set.tools();
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0].name, "get_weather");
        assert_eq!(tools[0].description, "Weather");
        assert_eq!(
            tools[0].input_schema["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(tools[1].input_schema, empty_object_schema());
        // Plain functions need no mapping back.
        assert_eq!(set.wire_map(), json!({}));
    }

    #[test]
    fn custom_tools_take_one_string_and_describe_their_grammar() {
        let set = set(json!([
            {"type": "custom", "name": "apply_patch", "description": "Edit files.",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin Patch\""}},
            {"type": "custom", "name": "shout"},
            {"type": "custom", "name": "digits", "format": {"type": "grammar", "syntax": "regex", "definition": "\\d+"}},
        ]));
        let tools = set.tools();
        assert_eq!(tools[0].input_schema["required"], json!(["input"]));
        assert_eq!(
            tools[0].input_schema["properties"]["input"]["type"],
            "string"
        );
        let d = &tools[0].description;
        assert!(d.starts_with("Edit files.\n\n"), "{d}");
        assert!(
            d.contains("lark grammar:\n```\nstart: \"*** Begin Patch\"\n```"),
            "{d}"
        );
        assert!(tools[1]
            .description
            .starts_with("This tool takes free-form text"));
        assert!(tools[2].description.ends_with("regular expression:\n\\d+"));
        assert_eq!(
            wire_tool(&set.wire_map(), "apply_patch").unwrap(),
            WireTool {
                name: "apply_patch".into(),
                namespace: None,
                custom: true
            }
        );
    }

    #[test]
    fn namespaces_flatten_with_plain_names_unless_they_clash() {
        let set = set(json!([
            {"type": "function", "name": "send_input"},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
                {"type": "function", "name": "spawn_agent", "description": "Spawn."},
                {"type": "function", "name": "send_input", "description": "Send."},
                {"type": "custom", "name": "exec"},
                {"type": "namespace", "name": "nested", "tools": []},
            ]},
        ]));
        assert_eq!(
            names(&set),
            [
                "send_input",
                "spawn_agent",
                "multi_agent_v1__send_input",
                "exec"
            ]
        );
        let tools = set.tools();
        assert_eq!(
            tools[1].description,
            "Spawn.\n\n(Tool group `multi_agent_v1`: Sub-agents.)"
        );
        // Replayed calls find their canonical names, with or without the namespace.
        assert_eq!(
            set.canonical(Some("multi_agent_v1"), "send_input"),
            "multi_agent_v1__send_input"
        );
        assert_eq!(set.canonical(None, "send_input"), "send_input");
        assert_eq!(set.canonical(None, "spawn_agent"), "spawn_agent");
        assert_eq!(
            set.canonical(Some("multi_agent_v1"), "spawn_agent"),
            "spawn_agent"
        );
        assert_eq!(set.canonical(Some("other"), "unknown"), "unknown");
        let map = set.wire_map();
        assert_eq!(map.as_object().unwrap().len(), 3);
        assert_eq!(
            wire_tool(&map, "multi_agent_v1__send_input").unwrap(),
            WireTool {
                name: "send_input".into(),
                namespace: Some("multi_agent_v1".into()),
                custom: false
            }
        );
        let exec = wire_tool(&map, "exec").unwrap();
        assert_eq!(exec.namespace.as_deref(), Some("multi_agent_v1"));
        assert!(exec.custom);
        assert_eq!(wire_tool(&map, "send_input"), None);
    }

    #[test]
    fn duplicates_are_dropped_and_clashing_namespaces_stay_unique() {
        let set = set(json!([
            {"type": "function", "name": "Read", "description": "first"},
            {"type": "function", "name": "read", "description": "second"},
            {"type": "namespace", "name": "a", "tools": [{"type": "function", "name": "x"}]},
            {"type": "namespace", "name": "b", "tools": [{"type": "function", "name": "x"}]},
            {"type": "function", "name": "a__x"},
        ]));
        assert_eq!(names(&set), ["Read", "a__x", "a__x_2", "b__x"]);
        assert_eq!(set.tools()[0].description, "first");
        assert_eq!(set.canonical(Some("a"), "x"), "a__x_2");
        assert_eq!(set.canonical(Some("b"), "x"), "b__x");
        // Ambiguous without a namespace: left as sent.
        assert_eq!(set.canonical(None, "x"), "x");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!([5]), "tools[0]: expected an object, got a number"),
            (
                json!([{"type": "function"}]),
                "tools[0].name: field required",
            ),
            (
                json!([{"type": "function", "name": " "}]),
                "tools[0].name: must not be empty",
            ),
            (
                json!([{"type": "function", "name": "a", "parameters": "{}"}]),
                "tools[0].parameters: expected an object, got a string",
            ),
            (
                json!([{"type": "custom", "name": "a", "format": {"type": "grammar"}}]),
                "tools[0].format.definition: field required",
            ),
            (
                json!([{"type": "namespace", "name": "n", "tools": {}}]),
                "tools[0].tools: expected an array, got an object",
            ),
            (
                json!([{"type": "namespace", "name": "n", "tools": [{"type": "function", "name": 1}]}]),
                "tools[0].tools[0].name: expected a string, got a number",
            ),
        ];
        for (tools, expected) in cases {
            let mut pending = Vec::new();
            let err = ToolSet::collect(tools.as_array().unwrap(), &ROOT.key("tools"), &mut pending)
                .unwrap_err();
            assert_eq!(err.message, expected);
        }
        let malformed = json!({"a": {"namespace": "x"}, "b": 1});
        assert_eq!(wire_tool(&malformed, "a"), None);
        assert_eq!(wire_tool(&malformed, "b"), None);
        assert_eq!(wire_tool(&Value::Null, "a"), None);
    }
}
