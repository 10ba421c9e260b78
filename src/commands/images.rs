//! `burrow images`

use burrow::image::lookup::{Match, find_match};
use burrow::storage::ImageRecord;
use clap::Args;
use serde_json::{Value, json};

use super::format::{human_size, print_table, print_template, time_ago};
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show only images whose name matches (NAME[:TAG], short names allowed)
    pub reference: Option<String>,
    /// Print only image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: table, json, a Go template such as '{{.Repository}}:{{.Tag}}',
    /// or 'table TEMPLATE' for aligned columns with a header
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Show intermediate images too. burrow keeps none (a build's steps live in its cache, not
    /// as images), so every image is listed either way; accepted for scripts written for
    /// Docker and Podman
    #[arg(short, long)]
    pub all: bool,
    /// Print no header line
    #[arg(short = 'n', long)]
    pub noheading: bool,
}

/// One row: an image under one of its names (or <none>).
fn rows(images: &[ImageRecord]) -> Vec<(&ImageRecord, String, String)> {
    let mut out = Vec::new();
    for img in images {
        if img.names.is_empty() {
            out.push((img, "<none>".to_string(), "<none>".to_string()));
        }
        for name in &img.names {
            let (repo, tag) = split_name(name);
            out.push((img, repo, tag));
        }
    }
    out
}

/// `registry/repo:tag` → (`registry/repo`, `tag`); the colon of a port is
/// not a tag separator.
pub(super) fn split_name(name: &str) -> (String, String) {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (name.to_string(), "<none>".to_string()),
    }
}

fn digest_of(img: &ImageRecord) -> String {
    img.digests
        .first()
        .and_then(|d| d.rsplit_once('@'))
        .map(|(_, d)| d.to_string())
        .unwrap_or_default()
}

pub fn run(ctx: &Engine, args: &ImagesArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let mut images = store.images()?;
    if let Some(r) = &args.reference {
        images = match find_match(&images, r).ok().flatten() {
            // Listed under the names the reference matches only.
            Some((i, Match::Name(_))) => {
                let mut img = images[i].clone();
                let all = img.clone();
                img.names.retain(|n| {
                    let one = ImageRecord {
                        names: vec![n.clone()],
                        ..all.clone()
                    };
                    matches!(find_match(&[one], r), Ok(Some((_, Match::Name(_)))))
                });
                vec![img]
            }
            Some((i, _)) => vec![images[i].clone()],
            None => Vec::new(),
        };
    }
    if args.noheading {
        super::format::omit_headings();
    }
    // Newest first, as Docker and Podman list them.
    images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let now = chrono::Utc::now();

    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for img in &images {
            if seen.insert(img.id.clone()) {
                println!(
                    "{}",
                    if args.no_trunc {
                        img.id.to_string()
                    } else {
                        img.id.short().to_string()
                    }
                );
            }
        }
        return Ok(0);
    }

    match args.format.as_deref() {
        Some("json") => {
            let list: Vec<Value> = images
                .iter()
                .map(|img| {
                    json!({
                        "Id": img.id.hex(),
                        "ParentId": "",
                        "RepoTags": img.names,
                        "RepoDigests": img.digests,
                        "Size": img.size,
                        "VirtualSize": img.size,
                        "Created": img.created.map(|c| c.timestamp()).unwrap_or(0),
                        "CreatedAt": img.created.map(|c| c.to_rfc3339()),
                        "Names": img.names,
                        "Digest": digest_of(img),
                        "Containers": 0,
                        "Labels": Value::Null,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Some("table") | None => {
            let mut headers = vec!["REPOSITORY", "TAG"];
            if args.digests {
                headers.push("DIGEST");
            }
            headers.extend(["IMAGE ID", "CREATED", "SIZE"]);
            let table: Vec<Vec<String>> = rows(&images)
                .into_iter()
                .map(|(img, repo, tag)| {
                    let mut row = vec![repo, tag];
                    if args.digests {
                        row.push(digest_of(img));
                    }
                    row.push(if args.no_trunc {
                        img.id.to_string()
                    } else {
                        img.id.short().to_string()
                    });
                    row.push(img.created.map(|c| time_ago(c, now)).unwrap_or_default());
                    row.push(human_size(img.size));
                    row
                })
                .collect();
            print_table(&headers, &table);
        }
        Some(template) => {
            let items: Vec<Value> = rows(&images)
                .into_iter()
                .map(|(img, repo, tag)| {
                    let id = if args.no_trunc {
                        img.id.to_string()
                    } else {
                        img.id.short().to_string()
                    };
                    json!({
                        "ID": id,
                        "Id": id,
                        "Repository": repo,
                        "Tag": tag,
                        "Digest": digest_of(img),
                        "Created": img.created.map(|c| c.to_rfc3339()).unwrap_or_default(),
                        "CreatedSince": img.created.map(|c| time_ago(c, now)).unwrap_or_default(),
                        "CreatedAt": img.created.map(|c| c.to_rfc3339()).unwrap_or_default(),
                        "Size": human_size(img.size),
                        "Names": img.names,
                    })
                })
                .collect();
            print_template(template, &items, column)?;
        }
    }
    Ok(0)
}

/// The column Docker prints for an image field.
fn column(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" | "Id" => "IMAGE ID",
        "Repository" => "REPOSITORY",
        "Tag" => "TAG",
        "Digest" => "DIGEST",
        "CreatedSince" | "Created" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "Size" => "SIZE",
        "Names" => "NAMES",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_headers_name_the_columns() {
        assert_eq!(column("ID"), Some("IMAGE ID"));
        assert_eq!(column("Tag"), Some("TAG"));
        assert_eq!(column("Other"), None);
    }

    #[test]
    fn names_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_name("127.0.0.1:5000/app:v1"),
            ("127.0.0.1:5000/app".into(), "v1".into())
        );
        assert_eq!(
            split_name("docker.io/library/alpine:latest"),
            ("docker.io/library/alpine".into(), "latest".into())
        );
        assert_eq!(
            split_name("localhost:5000/app"),
            ("localhost:5000/app".into(), "<none>".into())
        );
    }
}
