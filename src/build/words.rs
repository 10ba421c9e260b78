//! The word-level rules of Dockerfiles: `$VAR`, `${VAR}`, `${VAR:-word}`
//! and `${VAR:+word}` substitution, and the `KEY=VALUE ...` (or legacy
//! `KEY VALUE`) lists of ENV, LABEL and ARG, with Docker's quoting.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WordError {
    #[error("unterminated quote in {0:?}")]
    Quote(String),
    #[error("missing '}}' in {0:?}")]
    Brace(String),
    #[error("{0:?} is not KEY=VALUE")]
    NotKeyValue(String),
}

/// Substitute variables in `s` from `vars` (unset ones expand to nothing).
/// `\$` keeps a literal dollar; single quotes keep their text as is.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> Result<String, WordError> {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut single = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            single = !single;
            out.push(c);
            i += 1;
            continue;
        }
        if c == '\\' && i + 1 < chars.len() && chars[i + 1] == '$' {
            out.push('\\');
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' || single || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        if chars[i + 1] == '{' {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '}')
                .ok_or_else(|| WordError::Brace(s.to_string()))?;
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let value = match inner.split_once(":-") {
                Some((name, default)) => match vars.get(name).filter(|v| !v.is_empty()) {
                    Some(v) => v.clone(),
                    None => expand(default, vars)?,
                },
                None => match inner.split_once(":+") {
                    Some((name, alt)) => {
                        if vars.get(name).is_some_and(|v| !v.is_empty()) {
                            expand(alt, vars)?
                        } else {
                            String::new()
                        }
                    }
                    None => vars.get(&inner).cloned().unwrap_or_default(),
                },
            };
            out.push_str(&value);
            i += 3 + close;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
            end += 1;
        }
        if end == start {
            out.push('$');
            i += 1;
            continue;
        }
        let name: String = chars[start..end].iter().collect();
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
        i = end;
    }
    Ok(out)
}

/// Split on unquoted whitespace, removing quotes and backslash escapes
/// (as Docker reads ENV and LABEL values).
pub fn split_words(s: &str) -> Result<Vec<String>, WordError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    // A line continuation left in the value.
                    Some('\n') => {}
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(WordError::Quote(s.to_string()));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `KEY=VALUE KEY2="V 2"`, or the legacy `KEY VALUE WITH SPACES` (one pair).
pub fn key_values(s: &str) -> Result<Vec<(String, String)>, WordError> {
    let trimmed = s.trim();
    let first = trimmed.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        // Legacy form: the first word is the key, the rest the value.
        let (k, v) = trimmed
            .split_once(char::is_whitespace)
            .ok_or_else(|| WordError::NotKeyValue(s.to_string()))?;
        let value = split_words(v)?.join(" ");
        return Ok(vec![(k.to_string(), value)]);
    }
    split_words(trimmed)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(WordError::NotKeyValue(w)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("A", "one"), ("EMPTY", ""), ("P", "/srv")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variables_expand_as_docker_does() {
        let v = vars();
        assert_eq!(expand("$A ${A}x", &v).unwrap(), "one onex");
        assert_eq!(expand("${NOPE:-def} ${EMPTY:-d2}", &v).unwrap(), "def d2");
        assert_eq!(expand("${A:+set} ${NOPE:+set}.", &v).unwrap(), "set .");
        assert_eq!(
            expand("${P}/app \\$A '$A'", &v).unwrap(),
            "/srv/app \\$A '$A'"
        );
        assert_eq!(expand("cost $5 $", &v).unwrap(), "cost  $");
        assert!(expand("${A", &v).is_err());
    }

    #[test]
    fn key_value_lists_and_quotes() {
        assert_eq!(
            key_values(r#"A=1 B="two words" C=three\ words D='x y'"#).unwrap(),
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "three words".into()),
                ("D".into(), "x y".into()),
            ]
        );
        assert_eq!(
            key_values("LEGACY some value").unwrap(),
            [("LEGACY".into(), "some value".into())]
        );
        assert!(key_values("A=1 junk").is_err());
        assert!(key_values(r#"A="open"#).is_err());
    }
}
