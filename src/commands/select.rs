//! The containers a lifecycle command acts on: those the user named, or
//! all of them (`--all`), with Docker's and Podman's handling of names
//! that match nothing (`--ignore`).

use burrow::runtime::{ContainerError, ContainerRecord, ContainerStore};

/// One container to act on, and how to name it in the output: as the user
/// typed it, or by its ID when `--all` chose it.
pub struct Target {
    pub shown: String,
    pub record: ContainerRecord,
}

/// The containers `queries` name, or with `all` every container `wanted`
/// keeps (newest first). A query that matches nothing is reported on
/// stderr, raising the exit status to `missing_code`, unless `ignore`.
/// Returns the targets and the exit status so far.
pub fn select(
    containers: &ContainerStore,
    queries: &[String],
    all: bool,
    ignore: bool,
    wanted: impl Fn(&ContainerRecord) -> bool,
    missing_code: i32,
) -> anyhow::Result<(Vec<Target>, i32)> {
    if all && !queries.is_empty() {
        anyhow::bail!("give container names or --all, not both");
    }
    let mut code = 0;
    let mut out: Vec<Target> = Vec::new();
    if all {
        let mut list = containers.list()?;
        list.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        for record in list.into_iter().filter(|c| wanted(c)) {
            out.push(Target {
                shown: record.id.clone(),
                record,
            });
        }
        return Ok((out, code));
    }
    for q in queries {
        match containers.find(q) {
            Ok(c) if out.iter().any(|t| t.record.id == c.id) => {}
            Ok(record) => out.push(Target {
                shown: q.clone(),
                record,
            }),
            Err(ContainerError::NotFound(_)) if ignore => {}
            Err(e @ (ContainerError::NotFound(_) | ContainerError::Ambiguous { .. })) => {
                eprintln!("Error: {e}");
                code = code.max(missing_code);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((out, code))
}
