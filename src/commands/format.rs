//! Presentation helpers: Go-template `--format`, Podman-style sizes and
//! relative times, and aligned tables.

use serde_json::Value;

pub use super::template::render_template;

/// Podman's human sizes: decimal units, three significant digits ("4.26 MB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// "3 hours ago", "2 weeks ago", as Docker and Podman print CREATED.
pub fn time_ago(then: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (now - then).num_seconds();
    if secs < 1 {
        return "Less than a second ago".to_string();
    }
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 14 => (s / 86_400, "day"),
        s if s < 86_400 * 60 => (s / (86_400 * 7), "week"),
        s if s < 86_400 * 365 * 2 => (s / (86_400 * 30), "month"),
        s => (s / (86_400 * 365), "year"),
    };
    match n {
        1 if unit == "hour" => "About an hour ago".to_string(),
        1 => format!("1 {unit} ago"),
        n => format!("{n} {unit}s ago"),
    }
}

/// Print `items` through a `--format` Go template: one line each, or with
/// `table TEMPLATE` a header (each `{{.Field}}` named by `column`, else by
/// itself) over aligned columns, as Docker and Podman do.
pub fn print_template(
    template: &str,
    items: &[Value],
    column: impl Fn(&str) -> Option<&'static str>,
) -> anyhow::Result<()> {
    let (table, template) = match template.strip_prefix("table ") {
        Some(t) => (true, t),
        None => (false, template),
    };
    let mut lines = Vec::new();
    for item in items {
        lines.push(render_template(template, item)?);
    }
    let header = table_header(template, column);
    let headers: Vec<&str> = header.split('\t').collect();
    print_rendered(&lines, table.then_some(headers.as_slice()));
    Ok(())
}

/// The header line of a `table` template: each `{{.Field}}` becomes the
/// column name `column` gives it (the field's own name otherwise).
fn table_header(template: &str, column: impl Fn(&str) -> Option<&'static str>) -> String {
    let template = template.replace("\\t", "\t");
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let field = rest[start + 2..start + end].trim().trim_start_matches('.');
        out.push_str(column(field).unwrap_or(field));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Print lines rendered from a template: as they are, or, for a `table`
/// template, as aligned columns (cells split at tabs) under `headers`.
pub fn print_rendered(lines: &[String], table: Option<&[&str]>) {
    match table {
        Some(headers) => {
            let cells: Vec<Vec<String>> = lines
                .iter()
                .map(|l| l.split('\t').map(str::to_string).collect())
                .collect();
            print_table(headers, &cells);
        }
        None => {
            for l in lines {
                println!("{l}");
            }
        }
    }
}

/// Whether tables print their header line (`--noheading` turns it off for
/// the one command this process runs).
static HEADING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `--noheading`: tables print their rows only.
pub fn omit_headings() {
    HEADING.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// Print rows as columns separated by at least two spaces, like Podman.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    if HEADING.load(std::sync::atomic::Ordering::Relaxed) {
        line(headers.to_vec());
    }
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_headers_name_the_columns() {
        let column = |f: &str| (f == "ID").then_some("IMAGE ID");
        assert_eq!(
            table_header("{{.Repository}}\\t{{.ID}}\\t{{ .Size }}", column),
            "Repository\tIMAGE ID\tSize"
        );
    }
    use serde_json::json;

    #[test]
    fn templates_render_fields_and_json() {
        let v = json!({"ID": "abc", "Names": ["x", "y"], "Size": 12});
        assert_eq!(
            render_template("{{.ID}}\\t{{.Size}}", &v).unwrap(),
            "abc\t12"
        );
        assert_eq!(
            render_template("{{json .Names}}", &v).unwrap(),
            "[\"x\",\"y\"]"
        );
        assert_eq!(render_template("{{upper .ID}}", &v).unwrap(), "ABC");
        assert!(render_template("{{.ID", &v).is_err());
    }

    #[test]
    fn sizes_like_podman() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(4_260_000), "4.26 MB");
        assert_eq!(human_size(42_600_000), "42.6 MB");
        assert_eq!(human_size(426_000_000), "426 MB");
    }

    #[test]
    fn relative_times() {
        let now = chrono::Utc::now();
        assert_eq!(
            time_ago(now - chrono::Duration::seconds(30), now),
            "30 seconds ago"
        );
        assert_eq!(
            time_ago(now - chrono::Duration::hours(1), now),
            "About an hour ago"
        );
        assert_eq!(time_ago(now - chrono::Duration::days(3), now), "3 days ago");
        assert_eq!(
            time_ago(now - chrono::Duration::days(800), now),
            "2 years ago"
        );
    }
}
