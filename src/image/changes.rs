//! Dockerfile-style changes (`import -c`, `commit -c`) applied to an image
//! config's `config` object (Docker's key names: Cmd, Entrypoint, Env,
//! ExposedPorts, Labels, User, WorkingDir, Volumes, StopSignal).
//!
//! The argument rules are the Dockerfile's: CMD, ENTRYPOINT and VOLUME take
//! a JSON array or, if what follows is not one, the shell form; ENV and
//! LABEL take `KEY=VALUE` pairs with quotes and backslash escapes, or the
//! legacy `KEY VALUE` form.

use serde_json::{Map, Value, json};

/// The instructions a change may use.
pub const INSTRUCTIONS: [&str; 9] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "USER",
    "WORKDIR",
    "VOLUME",
    "STOPSIGNAL",
];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("change {0:?} is empty: use INSTRUCTION ARGUMENTS, e.g. 'CMD [\"/bin/sh\"]'")]
    Empty(String),
    #[error(
        "change {change:?}: {instruction} cannot be applied to an image config; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL"
    )]
    Unsupported { change: String, instruction: String },
    #[error("change {change:?}: {reason}")]
    Invalid { change: String, reason: String },
}

/// Apply one change (`CMD ["/bin/sh","-c","echo hi"]`, `ENV A=1 B=2`,
/// `EXPOSE 80/tcp`, ...) to `config`, an OCI image config's `config` object
/// (made an object if it is null).
pub fn apply_change(config: &mut Value, change: &str) -> Result<(), ChangeError> {
    let trimmed = change.trim();
    let (word, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (trimmed, ""),
    };
    if word.is_empty() {
        return Err(ChangeError::Empty(change.to_string()));
    }
    let instruction = word.to_ascii_uppercase();
    let invalid = |reason: &str| ChangeError::Invalid {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    if !INSTRUCTIONS.contains(&instruction.as_str()) {
        return Err(ChangeError::Unsupported {
            change: change.to_string(),
            instruction,
        });
    }
    if rest.is_empty() {
        return Err(invalid(&format!("{instruction} needs an argument")));
    }
    if !config.is_object() {
        *config = Value::Object(Map::new());
    }
    let obj = config
        .as_object_mut()
        .ok_or_else(|| invalid("the image config is not an object"))?;
    match instruction.as_str() {
        "CMD" => {
            obj.insert("Cmd".into(), json!(command_form(rest)));
        }
        "ENTRYPOINT" => {
            obj.insert("Entrypoint".into(), json!(command_form(rest)));
        }
        "ENV" => {
            let pairs = pairs(rest).map_err(|r| invalid(&r))?;
            let env = obj
                .entry("Env")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or_else(|| invalid("the image's Env is not a list"))?;
            for (k, v) in pairs {
                let prefix = format!("{k}=");
                env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                env.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let pairs = pairs(rest).map_err(|r| invalid(&r))?;
            let labels = object_entry(obj, "Labels")
                .ok_or_else(|| invalid("the image's Labels are not an object"))?;
            for (k, v) in pairs {
                labels.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            let mut ports = Vec::new();
            for spec in words(rest).map_err(|r| invalid(&r))? {
                ports.extend(exposed_ports(&spec).map_err(|r| invalid(&r))?);
            }
            let exposed = object_entry(obj, "ExposedPorts")
                .ok_or_else(|| invalid("the image's ExposedPorts are not an object"))?;
            for p in ports {
                exposed.insert(p, json!({}));
            }
        }
        "VOLUME" => {
            let paths = match json_array(rest) {
                Some(a) => a,
                None => words(rest).map_err(|r| invalid(&r))?,
            };
            if paths.iter().any(|p| p.is_empty()) {
                return Err(invalid("VOLUME paths cannot be empty"));
            }
            let volumes = object_entry(obj, "Volumes")
                .ok_or_else(|| invalid("the image's Volumes are not an object"))?;
            for p in paths {
                volumes.insert(p, json!({}));
            }
        }
        "USER" => {
            obj.insert("User".into(), json!(single(rest).map_err(|r| invalid(&r))?));
        }
        "WORKDIR" => {
            let dir = single(rest).map_err(|r| invalid(&r))?;
            // A relative WORKDIR continues from the current one, as in a Dockerfile.
            let dir = if dir.starts_with('/') {
                dir
            } else {
                let base = obj.get("WorkingDir").and_then(Value::as_str).unwrap_or("/");
                format!("{}/{dir}", base.trim_end_matches('/'))
            };
            obj.insert("WorkingDir".into(), json!(dir));
        }
        "STOPSIGNAL" => {
            let sig = single(rest).map_err(|r| invalid(&r))?;
            obj.insert("StopSignal".into(), json!(sig));
        }
        _ => unreachable!("checked against INSTRUCTIONS"),
    }
    Ok(())
}

/// The `Labels`/`ExposedPorts`/`Volumes` object, made if missing or null.
fn object_entry<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let v = obj.entry(key).or_insert_with(|| json!({}));
    if v.is_null() {
        *v = json!({});
    }
    v.as_object_mut()
}

/// A JSON array of strings, if `s` is one.
fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str(s).ok()
}

/// CMD/ENTRYPOINT: the exec form, or the shell form run by `/bin/sh -c`.
/// Text that starts with `[` but is not a JSON array is the shell form, as
/// Docker treats it.
fn command_form(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

/// One word (USER, WORKDIR, STOPSIGNAL).
fn single(s: &str) -> Result<String, String> {
    let w = words(s)?;
    match w.as_slice() {
        [one] if !one.is_empty() => Ok(one.clone()),
        _ => Err(format!("expected one argument, got {}", w.len())),
    }
}

/// ENV/LABEL arguments: `K=V ...` pairs, or the legacy `K V` (the rest of
/// the line is the value).
fn pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{s:?} has no value: use KEY=VALUE (or KEY VALUE)"))?;
        return Ok(vec![(k.to_string(), unquote(v.trim())?)]);
    }
    words(s)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

fn unquote(s: &str) -> Result<String, String> {
    let w = words(s)?;
    // A legacy value keeps its inner spaces.
    if w.len() == 1 {
        Ok(w[0].clone())
    } else {
        Ok(s.to_string())
    }
}

/// Split at unquoted whitespace; quotes group and are removed, a backslash
/// escapes the next character (inside double quotes only `"` and `\`).
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\')) => cur.push(n),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => return Err(format!("{s:?} ends with a lone backslash")),
            },
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                cur.push(
                    chars
                        .next()
                        .ok_or_else(|| format!("{s:?} ends with a lone backslash"))?,
                );
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("{s:?} has an unterminated quote"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `80`, `80/udp`, `8000-8002/tcp` as ExposedPorts keys.
fn exposed_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("{spec:?}: the protocol must be tcp, udp or sctp"));
    }
    let port = |p: &str| -> Result<u16, String> {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{spec:?} is not a port number (1-65535)"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(format!("{spec:?}: the range ends before it starts"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut c = Value::Null;
        for ch in changes {
            apply_change(&mut c, ch).unwrap();
        }
        c
    }

    #[test]
    fn cmd_and_entrypoint_take_exec_and_shell_forms() {
        let c = applied(&[r#"CMD ["/bin/sh","-c","echo hi"]"#, "entrypoint exec env"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "exec env"]));
        // Not valid JSON: Docker runs it as a shell command.
        let c = applied(&["CMD [oops"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "[oops"]));
    }

    #[test]
    fn env_and_labels_take_pairs_quotes_and_the_legacy_form() {
        let mut c = json!({"Env": ["PATH=/bin", "A=old"]});
        apply_change(&mut c, r#"ENV A=new B="two words" C=a\ b"#).unwrap();
        apply_change(&mut c, "ENV D legacy value here").unwrap();
        assert_eq!(
            c["Env"],
            json!([
                "PATH=/bin",
                "A=new",
                "B=two words",
                "C=a b",
                "D=legacy value here"
            ])
        );
        apply_change(&mut c, r#"LABEL org.x="1" y='z z'"#).unwrap();
        assert_eq!(c["Labels"], json!({"org.x": "1", "y": "z z"}));
        assert!(apply_change(&mut c, r#"ENV A="unterminated"#).is_err());
        assert!(apply_change(&mut c, "ENV =x").is_err());
        assert!(apply_change(&mut c, "ENV lonely").is_err());
    }

    #[test]
    fn ports_volumes_and_single_values() {
        let c = applied(&[
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "USER app:app",
            "WORKDIR /srv",
            "WORKDIR www",
            "STOPSIGNAL SIGUSR1",
        ]);
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(
            c["Volumes"],
            json!({"/data": {}, "/logs": {}, "/cache": {}})
        );
        assert_eq!(c["User"], "app:app");
        assert_eq!(c["WorkingDir"], "/srv/www");
        assert_eq!(c["StopSignal"], "SIGUSR1");
    }

    #[test]
    fn bad_changes_are_refused_with_the_reason() {
        let mut c = json!({});
        let e = apply_change(&mut c, "RUN rm -rf /").unwrap_err();
        assert!(e.to_string().contains("RUN cannot be applied"), "{e}");
        assert!(matches!(
            apply_change(&mut c, "  "),
            Err(ChangeError::Empty(_))
        ));
        assert!(apply_change(&mut c, "CMD").is_err());
        assert!(apply_change(&mut c, "EXPOSE 0").is_err());
        assert!(apply_change(&mut c, "EXPOSE 80/icmp").is_err());
        assert!(apply_change(&mut c, "USER a b").is_err());
        assert_eq!(c, json!({}), "failed changes leave the config alone");
    }
}
