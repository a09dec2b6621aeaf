//! The tools a request declares, shared between the requests that declare the same ones.
//!
//! Coding agents send the same `tools` array on every turn, and it is much of the JSON: 47 of
//! the 88 KB of a Claude Code request, and half the work of converting it.
//! `crate::dialect::tool_cache` hands every request whose `tools` bytes are the same one
//! [`Tools`], and what the gateway derives from the list (its token estimate, the names it
//! declares them under, their declarations rendered as Kiro's JSON) is computed once and kept
//! with it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use super::Tool;

/// An immutable, cheaply cloned list of tools with what is derived from it.
#[derive(Clone, Default)]
pub struct Tools(Arc<Shared>);

#[derive(Default)]
struct Shared {
    list: Vec<Tool>,
    tokens: OnceLock<u64>,
    upstream_specs: OnceLock<Vec<Box<[u8]>>>,
    declared_names: OnceLock<DeclaredNames>,
}

/// A copy of the list alone: what was derived belongs to the original.
impl Clone for Shared {
    fn clone(&self) -> Self {
        Shared {
            list: self.list.clone(),
            ..Shared::default()
        }
    }
}

impl Tools {
    pub fn new(list: Vec<Tool>) -> Self {
        Tools(Arc::new(Shared {
            list,
            ..Shared::default()
        }))
    }

    /// The list to change, for the rare request that edits its own (OpenAI's
    /// `allowed_tools`, Gemini's `allowedFunctionNames`, legacy `functions`): copied if it is
    /// shared, and stripped of the derived values, which would no longer match it.
    pub fn make_mut(&mut self) -> &mut Vec<Tool> {
        let own = Arc::make_mut(&mut self.0);
        own.tokens = OnceLock::new();
        own.upstream_specs = OnceLock::new();
        own.declared_names = OnceLock::new();
        &mut own.list
    }

    /// The estimated tokens of the list, computed by `count` once per shared list.
    pub fn tokens(&self, count: impl FnOnce(&[Tool]) -> u64) -> u64 {
        *self.0.tokens.get_or_init(|| count(&self.0.list))
    }

    /// The declarations the upstream is sent for the list, as JSON rendered by `render` once
    /// per shared list: escaping 34 KB of Claude Code's tool descriptions on every turn was
    /// 40 % of building its Kiro body.
    pub fn upstream_specs(&self, render: impl FnOnce(&[Tool]) -> Vec<Box<[u8]>>) -> &[Box<[u8]>] {
        self.0.upstream_specs.get_or_init(|| render(&self.0.list))
    }

    /// The names the list's tools are declared under upstream, `upstream_name` giving each
    /// tool's, worked out once per shared list.
    pub fn declared_names(&self, upstream_name: impl Fn(&str) -> Cow<'_, str>) -> &DeclaredNames {
        self.0.declared_names.get_or_init(|| {
            let mut names = DeclaredNames::default();
            for (i, tool) in self.0.list.iter().enumerate() {
                let upstream = upstream_name(&tool.name);
                if names.declare(&upstream, &tool.name) {
                    names.declared.push((i, upstream.into_owned()));
                }
            }
            names
        })
    }

    /// Whether `other` is this very list (not only an equal one).
    #[cfg(test)]
    pub(crate) fn is_shared_with(&self, other: &Tools) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Tools {
    type Target = [Tool];

    fn deref(&self) -> &[Tool] {
        &self.0.list
    }
}

/// The names tools are declared under upstream, which matches them ignoring case.
#[derive(Debug, Default, Clone)]
pub struct DeclaredNames {
    /// The tools declared, by index in their list, with their upstream names. A name that
    /// repeats an earlier one, ignoring case, is not declared again: the first wins.
    pub declared: Vec<(usize, String)>,
    /// Lower-cased client name → upstream name, for every declared tool.
    by_client: HashMap<String, String>,
    /// Upstream name → client name, for the tools whose names differ (only a few, if any:
    /// a response's names map back through it).
    pub renamed: HashMap<String, String>,
}

impl DeclaredNames {
    /// Declares `client` as `upstream`, unless a tool of that name, ignoring case, already is;
    /// true if it was declared.
    pub fn declare(&mut self, upstream: &str, client: &str) -> bool {
        if self.upstream_name(client).is_some() {
            return false;
        }
        if upstream != client {
            self.renamed.insert(upstream.to_owned(), client.to_owned());
        }
        self.by_client
            .insert(client.to_lowercase(), upstream.to_owned());
        true
    }

    /// The upstream name of a client's tool name, ignoring case.
    pub fn upstream_name(&self, client: &str) -> Option<&str> {
        with_lowercase(client, |key| self.by_client.get(key).map(String::as_str))
    }

    /// The client's name of a declared upstream name.
    pub fn client_name<'n>(&'n self, upstream: &'n str) -> &'n str {
        self.renamed.get(upstream).map_or(upstream, String::as_str)
    }
}

/// Calls `f` with `name` lower-cased: on the stack when it is short ASCII, as tool names are
/// (a history names a tool in each of its calls, hundreds in a long session).
fn with_lowercase<T>(name: &str, f: impl FnOnce(&str) -> T) -> T {
    let mut buf = [0u8; 64];
    if let Some(lower) = buf.get_mut(..name.len()).filter(|_| name.is_ascii()) {
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        if let Ok(lower) = std::str::from_utf8(lower) {
            return f(lower);
        }
    }
    f(&name.to_lowercase())
}

impl From<Vec<Tool>> for Tools {
    fn from(list: Vec<Tool>) -> Self {
        Tools::new(list)
    }
}

impl FromIterator<Tool> for Tools {
    fn from_iter<I: IntoIterator<Item = Tool>>(tools: I) -> Self {
        Tools::new(tools.into_iter().collect())
    }
}

impl PartialEq for Tools {
    fn eq(&self, other: &Self) -> bool {
        self.0.list == other.0.list
    }
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.list.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
        }
    }

    #[test]
    fn declared_names_ignore_case_and_map_back_the_renamed() {
        let long = format!("Tool_{}", "é".repeat(40));
        let tools = Tools::new(vec![tool("Bash"), tool("BASH"), tool(&long), tool("read")]);
        fn shorten(name: &str) -> Cow<'_, str> {
            if name.len() > 20 {
                Cow::Owned(name.chars().take(8).collect())
            } else {
                Cow::Borrowed(name)
            }
        }
        let names = tools.declared_names(shorten);
        let short: String = long.chars().take(8).collect();
        assert_eq!(
            names.declared,
            [
                (0, "Bash".to_owned()),
                (2, short.clone()),
                (3, "read".to_owned())
            ]
        );
        assert_eq!(names.upstream_name("bAsH"), Some("Bash"));
        assert_eq!(names.upstream_name("READ"), Some("read"));
        assert_eq!(
            names.upstream_name(&long.to_uppercase()),
            Some(short.as_str())
        );
        assert_eq!(names.upstream_name(&"x".repeat(65)), None);
        assert_eq!(names.client_name(&short), long);
        assert_eq!(names.client_name("Bash"), "Bash");
        assert_eq!(names.renamed, HashMap::from([(short, long)]));

        let mut more = names.clone();
        assert!(
            !more.declare("Read", "Read"),
            "declared already, ignoring case"
        );
        assert!(more.declare("Grep", "Grep"));
        assert_eq!(more.upstream_name("grep"), Some("Grep"));
    }

    #[test]
    fn derived_values_are_computed_once_per_shared_list() {
        let tools = Tools::new(vec![tool("a"), tool("b")]);
        let copy = tools.clone();
        assert!(copy.is_shared_with(&tools));
        let mut counted = 0;
        assert_eq!(tools.tokens(|list| list.len() as u64 * 10), 20);
        assert_eq!(
            copy.tokens(|_| {
                counted += 1;
                0
            }),
            20
        );
        assert_eq!(counted, 0, "the clone reuses the count");

        let mut rendered = 0;
        let specs = copy.upstream_specs(|list| {
            rendered += 1;
            list.iter()
                .map(|t| format!("\"{}\"", t.name).into_bytes().into())
                .collect()
        });
        assert_eq!(specs.len(), 2);
        assert_eq!(&*specs[1], b"\"b\"");
        tools.upstream_specs(|_| panic!("already rendered"));
        assert_eq!(rendered, 1);
    }

    #[test]
    fn editing_a_shared_list_copies_it_and_forgets_what_was_derived() {
        let original = Tools::new(vec![tool("a"), tool("b")]);
        assert_eq!(original.tokens(|_| 7), 7);
        let mut edited = original.clone();
        edited.make_mut().retain(|t| t.name == "b");
        assert_eq!(edited.len(), 1);
        assert_eq!(original.len(), 2, "the shared list is untouched");
        assert!(!edited.is_shared_with(&original));
        assert_eq!(edited.tokens(|_| 3), 3, "recounted for the edited list");
        assert_eq!(original.tokens(|_| 0), 7);

        // An unshared list is edited in place, and still forgets.
        let mut own = Tools::new(vec![tool("a")]);
        assert_eq!(own.tokens(|_| 1), 1);
        own.make_mut().push(tool("c"));
        assert_eq!(own.len(), 2);
        assert_eq!(own.tokens(|_| 2), 2);
        assert_eq!(own, Tools::new(vec![tool("a"), tool("c")]));
    }
}
