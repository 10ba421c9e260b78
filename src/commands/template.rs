//! Go templates (`--format '{{.ID}}\t{{.Names}}'`) rendered as Docker's
//! and Podman's `text/template` does: values print in Go's `%v` form
//! (`[a b]`, `map[k:v]`), not Rust's, and a missing field is named.

use anyhow::anyhow;
use gtmpl_value::Value as TValue;
use serde_json::Value;

/// Render a Go template (`{{.ID}}\t{{.Repository}}`) against a JSON value,
/// as Docker's and Podman's `--format` do. `{{json .X}}` prints X as JSON.
pub fn render_template(template: &str, data: &Value) -> anyhow::Result<String> {
    // Docker accepts `\t` and `\n` escapes written literally on the command line.
    let template = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut t = gtmpl::Template::default();
    t.add_func("json", json_func);
    t.add_func("upper", upper_func);
    t.add_func("lower", lower_func);
    t.add_func(GO_PRINT, go_print_func);
    t.parse(with_go_printing(&template).as_str())
        .map_err(|e| anyhow!("invalid --format template: {e}"))?;
    let ctx = gtmpl::Context::from(to_tvalue(data));
    t.render(&ctx).map_err(|e| match e {
        gtmpl::error::ExecError::NoFiledFor(field, _) => anyhow!(
            "--format template failed: no field {field:?} here (--format json shows the fields)"
        ),
        e => anyhow!("--format template failed: {e}"),
    })
}

/// The function every printing action ends in.
const GO_PRINT: &str = "_goprint";

/// Words that start actions that print nothing themselves.
const CONTROL: [&str; 10] = [
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// `template` with every printing action piped into [`GO_PRINT`]
/// (`{{.Config.Cmd}}` becomes `{{.Config.Cmd | _goprint}}`): gtmpl would
/// print values with Rust's debug form.
fn with_go_printing(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(len) = action_len(after) else {
            // Unclosed: the parser reports it.
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..len];
        out.push_str("{{");
        out.push_str(&printing(inner));
        out.push_str("}}");
        rest = &after[len + 2..];
    }
    out.push_str(rest);
    out
}

/// The length of an action's text up to its closing `}}`, quotes
/// respected.
fn action_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q != b'`' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if matches!(b, b'"' | b'`' | b'\'') => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// An action's text, piped into [`GO_PRINT`] when it prints.
fn printing(inner: &str) -> String {
    let (lead, body) = match inner.strip_prefix('-') {
        Some(b) if b.starts_with(char::is_whitespace) => ("-", b),
        _ => ("", inner),
    };
    let (body, trail) = match body.strip_suffix('-') {
        Some(b) if b.ends_with(char::is_whitespace) => (b, "-"),
        _ => (body, ""),
    };
    let trimmed = body.trim();
    let first = trimmed
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let declares = trimmed.starts_with('$') && trimmed.contains(":=");
    if trimmed.is_empty() || trimmed.starts_with("/*") || declares || CONTROL.contains(&first) {
        return inner.to_string();
    }
    format!("{lead}{body} | {GO_PRINT} {trail}")
}

fn go_print_func(args: &[TValue]) -> Result<TValue, gtmpl_value::FuncError> {
    Ok(TValue::String(
        args.first().map(go_format).unwrap_or_default(),
    ))
}

/// A value as Go's `%v` prints it.
fn go_format(v: &TValue) -> String {
    match v {
        TValue::NoValue => "<no value>".to_string(),
        TValue::Nil => "<nil>".to_string(),
        TValue::String(s) => s.clone(),
        TValue::Array(a) => {
            let items: Vec<String> = a.iter().map(go_format).collect();
            format!("[{}]", items.join(" "))
        }
        TValue::Object(m) | TValue::Map(m) => {
            // Go prints a map's keys sorted.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_format(&m[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn json_func(args: &[TValue]) -> Result<TValue, gtmpl_value::FuncError> {
    let v = args.first().map(from_tvalue).unwrap_or(Value::Null);
    Ok(TValue::String(
        serde_json::to_string(&v).unwrap_or_default(),
    ))
}

fn upper_func(args: &[TValue]) -> Result<TValue, gtmpl_value::FuncError> {
    Ok(TValue::String(
        args.first()
            .map(tvalue_string)
            .unwrap_or_default()
            .to_uppercase(),
    ))
}

fn lower_func(args: &[TValue]) -> Result<TValue, gtmpl_value::FuncError> {
    Ok(TValue::String(
        args.first()
            .map(tvalue_string)
            .unwrap_or_default()
            .to_lowercase(),
    ))
}

fn tvalue_string(v: &TValue) -> String {
    match v {
        TValue::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn to_tvalue(v: &Value) -> TValue {
    match v {
        Value::Null => TValue::Nil,
        Value::Bool(b) => TValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                TValue::from(i)
            } else if let Some(u) = n.as_u64() {
                TValue::from(u)
            } else {
                TValue::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => TValue::String(s.clone()),
        Value::Array(a) => TValue::Array(a.iter().map(to_tvalue).collect()),
        Value::Object(m) => {
            TValue::Object(m.iter().map(|(k, v)| (k.clone(), to_tvalue(v))).collect())
        }
    }
}

fn from_tvalue(v: &TValue) -> Value {
    match v {
        TValue::Nil | TValue::NoValue => Value::Null,
        TValue::Bool(b) => Value::Bool(*b),
        TValue::String(s) => Value::String(s.clone()),
        TValue::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        TValue::Array(a) => Value::Array(a.iter().map(from_tvalue).collect()),
        TValue::Object(m) | TValue::Map(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), from_tvalue(v))).collect())
        }
        TValue::Function(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_go_prints_them() {
        let v = json!({
            "Cmd": ["/bin/sh", "-c", "x"],
            "Empty": {},
            "Labels": {"b": "2", "a": "1"},
            "Nested": [["a"], {"k": null}],
            "Null": null,
            "N": 3,
        });
        let r = |t: &str| render_template(t, &v).unwrap();
        assert_eq!(r("{{.Cmd}}"), "[/bin/sh -c x]");
        assert_eq!(r("{{.Empty}}"), "map[]");
        assert_eq!(r("{{.Labels}}"), "map[a:1 b:2]");
        assert_eq!(r("{{.Nested}}"), "[[a] map[k:<nil>]]");
        assert_eq!(r("{{.Null}}"), "<nil>");
        assert_eq!(r("{{.N}} {{ .Labels.a -}} !"), "3 1!");
        assert_eq!(r("{{json .Cmd}}"), r#"["/bin/sh","-c","x"]"#);
        assert_eq!(r("{{.Cmd | json}}"), r#"["/bin/sh","-c","x"]"#);
        assert_eq!(r("{{range .Cmd}}<{{.}}>{{end}}"), "</bin/sh><-c><x>");
        assert_eq!(r("{{if .N}}yes{{else}}no{{end}}"), "yes");
        assert_eq!(r("{{with .Labels}}{{.b}}{{end}}"), "2");
        assert_eq!(r("{{\"}}\"}}"), "}}");
    }

    #[test]
    fn a_missing_field_is_named_without_the_data() {
        let v = json!({"Config": {"Cmd": ["sh"], "Secret": "x".repeat(100)}});
        let e = render_template("{{.Config.Nope}}", &v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"Nope\""), "{e}");
        assert!(!e.contains("xxxx"), "{e}");
    }
}
