//! `burrow search`: repositories of a registry whose name contains a term.

use burrow::registry::Client;
use clap::Args;
use serde_json::{Value, json};

use super::format::{print_table, print_template};
use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "The registry API has no search: burrow reads the registry's catalog \
                  (GET /v2/_catalog, as many pages as needed) and keeps the names that contain \
                  TERM. Registries that do not publish their catalog (Docker Hub, quay.io and \
                  most public ones) answer with an error, shown as such; their own web search \
                  is the way there. Descriptions, stars and official marks are not part of a \
                  catalog, so those columns are empty."
)]
pub struct SearchArgs {
    /// At most this many results per registry
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub limit: usize,
    /// Output format: table, json, or a Go template such as '{{.Name}}'
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[command(flatten)]
    pub registry: super::pull::RegistryFlags,
    /// REGISTRY/TERM, or TERM to search the unqualified-search registries of registries.conf
    #[arg(value_name = "TERM")]
    pub term: String,
}

/// `host[:port]/rest` names a registry when its first part looks like a
/// host (a dot, a port, or localhost), as in image references.
fn split_term(term: &str) -> (Option<&str>, &str) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (Some(host), rest)
        }
        _ => (None, term),
    }
}

pub fn run(ctx: &Engine, args: &SearchArgs) -> anyhow::Result<i32> {
    if args.limit == 0 {
        anyhow::bail!("--limit 0: give at least 1");
    }
    let mut opts = args.registry.options().client_options()?;
    opts.timeout = Some(ctx.config.registry.timeout());
    let (host, term) = split_term(&args.term);
    let registries: Vec<String> = match host {
        Some(h) => vec![h.to_string()],
        None => opts.registries.unqualified_search_registries.clone(),
    };
    if registries.is_empty() {
        anyhow::bail!(
            "no registry to search: give REGISTRY/{term}, or list unqualified-search-registries in registries.conf"
        );
    }
    let client = Client::new(opts)?;
    let mut rows: Vec<Value> = Vec::new();
    let mut failures = 0;
    for reg in &registries {
        match client.search_catalog(reg, term, args.limit) {
            Ok(names) => rows.extend(names.into_iter().map(|n| {
                json!({ "Index": reg, "Name": format!("{reg}/{n}"), "Description": "", "Stars": 0, "Official": "", "Automated": "" })
            })),
            Err(e) => {
                failures += 1;
                eprintln!("Error: searching {reg}: {e}");
            }
        }
    }
    if failures == registries.len() {
        return Ok(super::EXIT_ENGINE);
    }
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&rows)?),
        Some("table") | None => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| vec![r["Name"].as_str().unwrap_or("").to_string(), String::new()])
                .collect();
            print_table(&["NAME", "DESCRIPTION"], &table);
        }
        Some(template) => print_template(template, &rows, |f| match f {
            "Name" => Some("NAME"),
            "Description" => Some("DESCRIPTION"),
            "Index" => Some("INDEX"),
            _ => None,
        })?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_a_registry_like_references_do() {
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            (Some("127.0.0.1:5000"), "busy")
        );
        assert_eq!(split_term("quay.io/app"), (Some("quay.io"), "app"));
        assert_eq!(split_term("localhost/x"), (Some("localhost"), "x"));
        assert_eq!(split_term("library/alpine"), (None, "library/alpine"));
        assert_eq!(split_term("alpine"), (None, "alpine"));
    }
}
