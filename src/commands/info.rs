//! `burrow info`

use clap::Args;
use serde_json::{Map, Value};

use super::format::render_template;
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format: json, or a Go template with Podman's field names such as
    /// '{{.Host.CgroupManager}}' or '{{.Store.GraphRoot}}' (the JSON's names work too)
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(ctx: &Engine, args: &InfoArgs) -> anyhow::Result<i32> {
    let info = serde_json::to_value(ctx.info()?)?;
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&info)?),
        Some(t) => println!("{}", render_template(t, &with_go_names(&info))?),
        None => print_yaml(&info, 0),
    }
    Ok(0)
}

/// `v` with each key under its Go field name as well, as Podman's
/// templates name them (`.Host.OCIRuntime.Name` for `host.ociRuntime.name`).
fn with_go_names(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = with_go_names(v);
                out.insert(go_name(k), v.clone());
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(with_go_names).collect()),
        other => other.clone(),
    }
}

/// Podman's Go name for a JSON key of `podman info`.
fn go_name(key: &str) -> String {
    match key {
        "ociRuntime" => "OCIRuntime".into(),
        "cgroupVersion" => "CgroupsVersion".into(),
        "idMappings" => "IDMappings".into(),
        "os" => "OS".into(),
        "seccompEnabled" => "SECCOMPEnabled".into(),
        "selinuxEnabled" => "SELinuxEnabled".into(),
        "apparmorEnabled" => "AppArmorEnabled".into(),
        _ => {
            let mut c = key.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// A YAML-looking rendition, as `podman info` prints by default.
fn print_yaml(v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::Object(_) => {
                        println!("{pad}{k}:");
                        print_yaml(v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        println!("{pad}{k}:");
                        for item in a {
                            match item {
                                Value::Object(_) => {
                                    println!("{pad}- ");
                                    print_yaml(item, indent + 2);
                                }
                                other => println!("{pad}- {}", scalar(other)),
                            }
                        }
                    }
                    other => println!("{pad}{k}: {}", scalar(other)),
                }
            }
        }
        other => println!("{pad}{}", scalar(other)),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn podmans_template_names_reach_the_json_fields() {
        let v = with_go_names(&json!({
            "host": {"ociRuntime": {"name": "burrow"}, "cgroupManager": "cgroupfs"},
            "store": {"graphRoot": "/r", "graphOptions": {}},
            "version": {"Version": "1"},
        }));
        let t = |s: &str| render_template(s, &v).unwrap();
        assert_eq!(t("{{.Host.OCIRuntime.Name}}"), "burrow");
        assert_eq!(
            t("{{.Host.CgroupManager}} {{.host.cgroupManager}}"),
            "cgroupfs cgroupfs"
        );
        assert_eq!(
            t("{{.Store.GraphRoot}} {{.Store.GraphOptions}}"),
            "/r map[]"
        );
        assert_eq!(t("{{.Version.Version}}"), "1");
    }
}
