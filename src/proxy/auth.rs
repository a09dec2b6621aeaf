//! Client API keys: where clients put them, and a constant-time check.

use subtle::ConstantTimeEq;

/// The key a client presented: `x-api-key` (Anthropic), `Authorization: Bearer` (OpenAI, and
/// Claude Code with `ANTHROPIC_AUTH_TOKEN`), `x-goog-api-key` or `?key=` (Gemini).
pub fn presented_key<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    query: Option<&'a str>,
) -> Option<&'a str> {
    if let Some(k) = header("x-api-key").or_else(|| header("x-goog-api-key")) {
        return Some(k.trim());
    }
    if let Some(auth) = header("authorization") {
        let auth = auth.trim();
        if auth.len() > 7 && auth[..7].eq_ignore_ascii_case("bearer ") {
            return Some(auth[7..].trim());
        }
    }
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|k| !k.is_empty())
}

/// Whether `presented` is one of `keys`. Compares every key in constant time so the answer's
/// timing says nothing about how much of a key matched. No keys configured means open.
pub fn is_allowed(keys: &[String], presented: Option<&str>) -> bool {
    if keys.is_empty() {
        return true;
    }
    let Some(presented) = presented else {
        return false;
    };
    keys.iter().fold(false, |found, k| {
        found | bool::from(k.as_bytes().ct_eq(presented.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn finds_the_key_wherever_clients_put_it() {
        assert_eq!(
            presented_key(headers(&[("x-api-key", "k1")]), None),
            Some("k1")
        );
        assert_eq!(
            presented_key(headers(&[("authorization", "Bearer k2")]), None),
            Some("k2")
        );
        assert_eq!(
            presented_key(headers(&[("authorization", "bearer  k3 ")]), None),
            Some("k3")
        );
        assert_eq!(
            presented_key(headers(&[("x-goog-api-key", "g")]), None),
            Some("g")
        );
        assert_eq!(
            presented_key(headers(&[]), Some("alt=sse&key=q")),
            Some("q")
        );
        assert_eq!(
            presented_key(headers(&[("authorization", "Basic x")]), None),
            None
        );
        assert_eq!(presented_key(headers(&[]), Some("key=")), None);
    }

    #[test]
    fn checks_keys_exactly() {
        let keys = vec!["secret-1".to_string(), "secret-2".to_string()];
        assert!(is_allowed(&keys, Some("secret-2")));
        assert!(!is_allowed(&keys, Some("secret-")));
        assert!(!is_allowed(&keys, Some("secret-10")));
        assert!(!is_allowed(&keys, None));
        assert!(is_allowed(&[], None));
    }
}
