//! The streaming `<thinking>` splitter (kiro-protocol §3.6).
//!
//! With prompt-tag thinking the model writes `<thinking>…</thinking>\n\n` at the start of its
//! answer. [`ThinkingSplitter`] separates that block from the text while the deltas stream in,
//! split at arbitrary points, and holds back only what could still turn out to be a tag.
//!
//! The rules, from the implementations that work against the live service:
//! - the opening tag counts only at the very start (after optional whitespace, which is then
//!   dropped), and the `\n` right after it is stripped;
//! - a tag next to a quote, backtick or punctuation character is the model talking *about* the
//!   tag, not using it;
//! - the closing tag counts when followed by `\n\n` (which is consumed), or by nothing but
//!   whitespace when the text ends or a tool call begins.

const OPEN: &str = "<thinking>";
const CLOSE: &str = "</thinking>";
const CLOSE_SEPARATOR: &str = "\n\n";

/// A piece of the model's output, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Thinking(String),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace (and maybe part of `<thinking>`) seen so far.
    Start,
    /// Inside the thinking block.
    Thinking,
    /// After the thinking block, or there was none: everything is text.
    Text,
}

/// Splits streamed text into thinking and text segments.
#[derive(Debug)]
pub struct ThinkingSplitter {
    state: State,
    /// Held-back input that may still be (part of) a tag.
    pending: String,
    /// The last thinking character emitted, to judge a closing tag at the start of `pending`.
    last_thinking_char: Option<char>,
}

impl Default for ThinkingSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl ThinkingSplitter {
    pub fn new() -> Self {
        ThinkingSplitter {
            state: State::Start,
            pending: String::new(),
            last_thinking_char: None,
        }
    }

    /// True while inside an unclosed thinking block.
    pub fn in_thinking(&self) -> bool {
        self.state == State::Thinking
    }

    /// True once the answer is past its opening thinking block (or had none): from then on
    /// every delta is plain text, passed on unchanged.
    pub fn is_past_thinking(&self) -> bool {
        self.state == State::Text
    }

    /// Takes the next text delta and appends whatever can already be classified to `out`.
    pub fn push(&mut self, delta: &str, out: &mut Vec<Segment>) {
        if self.state == State::Text {
            // The common case once past the start: no buffering at all.
            emit(out, Segment::Text(delta.to_owned()));
            return;
        }
        self.pending.push_str(delta);
        if self.state == State::Start {
            self.scan_start();
        }
        if self.state == State::Thinking {
            self.scan_thinking(out, false);
        }
        if self.state == State::Text && !self.pending.is_empty() {
            emit(out, Segment::Text(std::mem::take(&mut self.pending)));
        }
    }

    /// A tool call begins: a closing tag followed only by whitespace now counts, and nothing
    /// after the tool call can open or continue a thinking block.
    pub fn flush_before_tool(&mut self, out: &mut Vec<Segment>) {
        self.flush(out);
    }

    /// The text has ended: emits everything still held back.
    pub fn finish(&mut self, out: &mut Vec<Segment>) {
        self.flush(out);
    }

    fn flush(&mut self, out: &mut Vec<Segment>) {
        if self.state == State::Thinking {
            self.scan_thinking(out, true);
        }
        let rest = std::mem::take(&mut self.pending);
        match self.state {
            State::Thinking => emit_thinking(out, rest, &mut self.last_thinking_char),
            State::Start | State::Text => emit(out, Segment::Text(rest)),
        }
        self.state = State::Text;
    }

    /// Decides, as soon as possible, whether the text opens with a thinking block.
    fn scan_start(&mut self) {
        let trimmed = self.pending.trim_start();
        if trimmed.is_empty() || (trimmed.len() < OPEN.len() && OPEN.starts_with(trimmed)) {
            return; // could still become `<thinking>`
        }
        let Some(after) = trimmed.strip_prefix(OPEN) else {
            self.state = State::Text;
            return;
        };
        match after.chars().next() {
            None => {} // wait for the character that decides whether the tag is real
            Some(c) if is_quote(c) => self.state = State::Text,
            Some(_) => {
                // The whitespace before the block and the newline after the tag are dropped.
                let body = after.strip_prefix('\n').unwrap_or(after);
                self.pending = body.to_owned();
                self.state = State::Thinking;
            }
        }
    }

    /// Emits thinking up to the first real closing tag (switching to text after it) or up to
    /// what could still be one. `at_boundary`: the text ends here, so a closing tag followed
    /// by whitespace only is real.
    fn scan_thinking(&mut self, out: &mut Vec<Segment>, at_boundary: bool) {
        let mut from = 0;
        while let Some(found) = self.pending.get(from..).and_then(|s| s.find(CLOSE)) {
            let at = from + found;
            let before = self.pending[..at].chars().next_back();
            let after = &self.pending[at + CLOSE.len()..];
            if before.or(self.last_thinking_char).is_some_and(is_quote) {
                from = at + CLOSE.len();
                continue;
            }
            if let Some(text) = after.strip_prefix(CLOSE_SEPARATOR) {
                let text = text.to_owned();
                self.close_at(at, out);
                self.pending = text;
                return;
            }
            if after.chars().all(char::is_whitespace) {
                if at_boundary {
                    self.close_at(at, out);
                    self.pending.clear();
                } else {
                    // Undecided until more text, the end, or a tool call: hold the tag back.
                    self.emit_pending_thinking(at, out);
                }
                return;
            }
            from = at + CLOSE.len();
        }
        // No closing tag yet: keep back only a tail that could be the start of one.
        let hold = (1..CLOSE.len())
            .rev()
            .find(|&k| self.pending.ends_with(&CLOSE[..k]))
            .unwrap_or(0);
        self.emit_pending_thinking(self.pending.len() - hold, out);
    }

    /// Emits `pending[..at]` as thinking and ends the thinking block there.
    fn close_at(&mut self, at: usize, out: &mut Vec<Segment>) {
        self.emit_pending_thinking(at, out);
        self.state = State::Text;
    }

    /// Emits `pending[..at]` as thinking, keeping the rest.
    fn emit_pending_thinking(&mut self, at: usize, out: &mut Vec<Segment>) {
        if at == 0 {
            return;
        }
        let rest = self.pending.split_off(at);
        let thinking = std::mem::replace(&mut self.pending, rest);
        emit_thinking(out, thinking, &mut self.last_thinking_char);
    }
}

fn emit_thinking(out: &mut Vec<Segment>, text: String, last: &mut Option<char>) {
    if let Some(c) = text.chars().next_back() {
        *last = Some(c);
    }
    emit(out, Segment::Thinking(text));
}

/// Appends a segment, merging it into the previous one of the same kind.
fn emit(out: &mut Vec<Segment>, segment: Segment) {
    match (out.last_mut(), segment) {
        (_, Segment::Thinking(s) | Segment::Text(s)) if s.is_empty() => {}
        (Some(Segment::Thinking(prev)), Segment::Thinking(s))
        | (Some(Segment::Text(prev)), Segment::Text(s)) => prev.push_str(&s),
        (_, segment) => out.push(segment),
    }
}

/// Characters that, next to a tag, mean the model is quoting the tag rather than using it.
fn is_quote(c: char) -> bool {
    matches!(
        c,
        '`' | '"'
            | '\''
            | '\\'
            | '#'
            | '!'
            | '@'
            | '$'
            | '%'
            | '^'
            | '&'
            | '*'
            | '('
            | ')'
            | '-'
            | '_'
            | '='
            | '+'
            | '['
            | ']'
            | '{'
            | '}'
            | ';'
            | ':'
            | '<'
            | '>'
            | ','
            | '.'
            | '?'
            | '/'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `deltas`, then finishes; returns the merged segments.
    fn split(deltas: &[&str]) -> Vec<Segment> {
        let mut s = ThinkingSplitter::new();
        let mut out = Vec::new();
        for d in deltas {
            s.push(d, &mut out);
        }
        s.finish(&mut out);
        merged(out)
    }

    fn merged(segments: Vec<Segment>) -> Vec<Segment> {
        let mut out = Vec::new();
        for seg in segments {
            emit(&mut out, seg);
        }
        out
    }

    /// Every character as its own delta.
    fn split_chars(text: &str) -> Vec<Segment> {
        let chars: Vec<String> = text.chars().map(String::from).collect();
        split(&chars.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Checks `text` gives `want` whole, per character, and split at every char boundary.
    fn check(text: &str, want: &[Segment]) {
        assert_eq!(split(&[text]), want, "whole: {text:?}");
        assert_eq!(split_chars(text), want, "per char: {text:?}");
        for (at, _) in text.char_indices().skip(1) {
            let (a, b) = text.split_at(at);
            assert_eq!(split(&[a, b]), want, "split {a:?} | {b:?}");
        }
    }

    fn thinking(s: &str) -> Segment {
        Segment::Thinking(s.into())
    }

    fn text(s: &str) -> Segment {
        Segment::Text(s.into())
    }

    #[test]
    fn text_passes_through_once_past_the_thinking_block() {
        let mut s = ThinkingSplitter::new();
        let mut out = Vec::new();
        assert!(!s.is_past_thinking());
        s.push("<thinking>\nplan", &mut out);
        assert!(!s.is_past_thinking());
        s.push("</thinking>\n\nDone", &mut out);
        assert!(s.is_past_thinking());
        let mut plain = ThinkingSplitter::new();
        plain.push("No block here", &mut out);
        assert!(plain.is_past_thinking());
    }

    #[test]
    fn basic_block_then_text() {
        check(
            "<thinking>\nabc</thinking>\n\nHello",
            &[thinking("abc"), text("Hello")],
        );
    }

    #[test]
    fn leading_whitespace_before_the_block_is_dropped() {
        check(
            " \n<thinking>\nplan\n</thinking>\n\nDone.",
            &[thinking("plan\n"), text("Done.")],
        );
    }

    #[test]
    fn quoted_closing_tag_inside_thinking_is_ignored() {
        check(
            "<thinking>\nthe tag `</thinking>` closes it</thinking>\n\nok",
            &[thinking("the tag `</thinking>` closes it"), text("ok")],
        );
        // Not followed by "\n\n" or end: still thinking.
        check(
            "<thinking>a</thinking> b</thinking>\n\nc",
            &[thinking("a</thinking> b"), text("c")],
        );
    }

    #[test]
    fn closing_tag_before_a_tool_call_counts() {
        let mut s = ThinkingSplitter::new();
        let mut out = Vec::new();
        for c in ["<thinking>\nx", "</thinking>", "\n"] {
            s.push(c, &mut out);
        }
        assert_eq!(merged(out.clone()), [thinking("x")], "tag held back");
        s.flush_before_tool(&mut out);
        assert_eq!(merged(out.clone()), [thinking("x")]);
        assert!(!s.in_thinking());
        // Text after the tool call is plain text, even if it looks like a tag.
        s.push("<thinking>y", &mut out);
        assert_eq!(merged(out), [thinking("x"), text("<thinking>y")]);
    }

    #[test]
    fn thinking_only_at_end_of_stream() {
        check("<thinking>x</thinking>", &[thinking("x")]);
        check("<thinking>x</thinking>\n", &[thinking("x")]);
        check("<thinking>\nunfinished", &[thinking("unfinished")]);
    }

    #[test]
    fn text_without_thinking_passes_through() {
        for t in [
            "Hello world",
            "\n\n  indented",
            "<b>bold</b>",
            "<think>not quite",
            "`<thinking>` is a tag",
            "<thinking>\"quoted",
            "Say <thinking>\nlater</thinking>\n\n",
        ] {
            check(t, &[text(t)]);
        }
    }

    #[test]
    fn text_is_emitted_promptly() {
        let mut s = ThinkingSplitter::new();
        let mut out = Vec::new();
        s.push("Hi", &mut out);
        assert_eq!(out, [text("Hi")]);
        s.push(" <thinking>", &mut out);
        assert_eq!(merged(out), [text("Hi <thinking>")]);

        // Thinking is emitted as it comes, holding back only a possible closing tag.
        let mut s = ThinkingSplitter::new();
        let mut out = Vec::new();
        s.push("<thinking>\nstep one </thi", &mut out);
        assert_eq!(out, [thinking("step one ")]);
        s.push("s", &mut out);
        assert_eq!(merged(out), [thinking("step one </this")]);
    }

    #[test]
    fn cjk_text() {
        check(
            "<thinking>\n思考中，用户想要天气。</thinking>\n\n巴黎今天晴。",
            &[thinking("思考中，用户想要天气。"), text("巴黎今天晴。")],
        );
        check("你好，<thinking>世界", &[text("你好，<thinking>世界")]);
    }

    #[test]
    fn whitespace_only_text_is_kept_without_a_block() {
        check("\n \n", &[text("\n \n")]);
        assert_eq!(split(&[]), []);
    }
}
