//! Find a stored image from what a user typed: a name (`alpine`,
//! `docker.io/library/alpine:latest`, `127.0.0.1:5000/app:v1`), a name with a
//! digest (`app@sha256:…`), a full ID (`sha256:…`) or an ID prefix.

use crate::digest::Digest;
use crate::reference::{self, Reference};
use crate::storage::{ImageRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{0}: image not known")]
    NotFound(String),
    #[error("{query}: ambiguous, it matches {candidates}: use a full name or a longer ID")]
    Ambiguous { query: String, candidates: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a query matched an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// By this one of its names (`rmi NAME` then only untags it).
    Name(String),
    /// By a repository digest.
    Digest,
    /// By its ID or an ID prefix.
    Id,
}

/// The image `query` names. Names are tried before ID prefixes, as Docker does.
pub fn find_image(store: &Store, query: &str) -> Result<ImageRecord, LookupError> {
    find_image_match(store, query).map(|(img, _)| img)
}

/// Like [`find_image`], also saying how the query matched.
pub fn find_image_match(store: &Store, query: &str) -> Result<(ImageRecord, Match), LookupError> {
    let images = store.images()?;
    match find_match(&images, query)? {
        Some((i, m)) => Ok((images[i].clone(), m)),
        None => Err(LookupError::NotFound(query.to_string())),
    }
}

/// The index of the image `query` names in `images`, if any.
pub fn find_in(images: &[ImageRecord], query: &str) -> Result<Option<usize>, LookupError> {
    Ok(find_match(images, query)?.map(|(i, _)| i))
}

/// The index of the image `query` names in `images` and how it matched.
pub fn find_match(
    images: &[ImageRecord],
    query: &str,
) -> Result<Option<(usize, Match)>, LookupError> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(None);
    }
    // A full ID, with or without the algorithm.
    let full = if query.len() == 64 {
        Digest::from_hex(query).ok()
    } else {
        query.parse::<Digest>().ok()
    };
    if let Some(d) = full {
        return Ok(images
            .iter()
            .position(|i| i.id == d)
            .map(|i| (i, Match::Id)));
    }
    if let Ok(r) = Reference::parse(query) {
        if let Some(d) = &r.digest {
            let wanted = format!("{}@{}", r.name(), d);
            if let Some(i) = images.iter().position(|i| i.digests.contains(&wanted)) {
                return Ok(Some((i, Match::Digest)));
            }
        } else {
            let wanted = r.to_string();
            if let Some(i) = images.iter().position(|i| i.names.contains(&wanted)) {
                return Ok(Some((i, Match::Name(wanted))));
            }
        }
        if reference::is_short_name(query)
            && let Some(found) = match_short_name(images, query, &r)?
        {
            return Ok(Some(found));
        }
    }
    match_id_prefix(images, query)
}

/// A short name (`busybox`, `app:v1`) matches stored names from any registry
/// whose repository path ends the same way (`127.0.0.1:5000/busybox:latest`),
/// as Podman resolves local short names; more than one image is ambiguous.
fn match_short_name(
    images: &[ImageRecord],
    query: &str,
    r: &Reference,
) -> Result<Option<(usize, Match)>, LookupError> {
    // What the user typed, without Docker's `library/` insertion.
    let typed_repo = {
        let without_tag = query.split('@').next().unwrap_or(query);
        match without_tag.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
            _ => without_tag.to_string(),
        }
    };
    let tag = r.tag.clone().unwrap_or_else(|| "latest".to_string());
    let suffix = format!("/{typed_repo}:{tag}");
    let found: Vec<(usize, &String)> = images
        .iter()
        .enumerate()
        .filter_map(|(i, img)| {
            img.names
                .iter()
                .find(|n| n.ends_with(&suffix))
                .map(|n| (i, n))
        })
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [(i, name)] => Ok(Some((*i, Match::Name((*name).clone())))),
        _ => Err(LookupError::Ambiguous {
            query: query.to_string(),
            candidates: found
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn match_id_prefix(
    images: &[ImageRecord],
    query: &str,
) -> Result<Option<(usize, Match)>, LookupError> {
    let prefix = query.strip_prefix("sha256:").unwrap_or(query);
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hits: Vec<usize> = images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.id.hex().starts_with(prefix))
        .map(|(n, _)| n)
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(Some((hits[0], Match::Id))),
        _ => Err(LookupError::Ambiguous {
            query: query.to_string(),
            candidates: hits
                .iter()
                .map(|&i| images[i].id.short().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ImageRecord;

    fn img(hex_char: char, names: &[&str]) -> ImageRecord {
        let hex: String = std::iter::repeat_n(hex_char, 64).collect();
        let id = Digest::from_hex(&hex).unwrap();
        ImageRecord {
            id: id.clone(),
            names: names.iter().map(|s| s.to_string()).collect(),
            digests: names
                .iter()
                .map(|n| {
                    format!(
                        "{}@sha256:{}",
                        n.rsplit_once(':').unwrap().0,
                        "1".repeat(64)
                    )
                })
                .collect(),
            manifest_digest: id.clone(),
            manifest_media_type: String::new(),
            config_digest: id,
            layers: vec![],
            created: None,
            added: chrono::Utc::now(),
            size: 0,
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn finds_by_name_short_name_id_and_digest() {
        let images = vec![
            img('a', &["docker.io/library/alpine:latest"]),
            img(
                'b',
                &["127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:v1"],
            ),
            img('c', &["localhost/app:latest"]),
        ];
        assert_eq!(find_in(&images, "alpine").unwrap(), Some(0));
        assert_eq!(
            find_in(&images, "docker.io/library/alpine:latest").unwrap(),
            Some(0)
        );
        assert_eq!(find_in(&images, "busybox").unwrap(), Some(1));
        assert_eq!(find_in(&images, "busybox:v1").unwrap(), Some(1));
        assert_eq!(find_in(&images, "busybox:v2").unwrap(), None);
        assert_eq!(find_in(&images, "app").unwrap(), Some(2));
        assert_eq!(find_in(&images, "bbbb").unwrap(), Some(1));
        assert_eq!(
            find_in(&images, &format!("sha256:{}", "c".repeat(64))).unwrap(),
            Some(2)
        );
        assert_eq!(
            find_in(
                &images,
                &format!("127.0.0.1:5000/busybox@sha256:{}", "1".repeat(64))
            )
            .unwrap(),
            Some(1)
        );
        assert_eq!(find_in(&images, "nothing").unwrap(), None);
        let by_short = find_match(&images, "busybox:v1").unwrap().unwrap();
        assert_eq!(by_short.1, Match::Name("127.0.0.1:5000/busybox:v1".into()));
        assert_eq!(find_match(&images, "bbbb").unwrap().unwrap().1, Match::Id);
    }

    #[test]
    fn ambiguity_is_reported() {
        let images = vec![
            img('a', &["r1.example/app:latest"]),
            img('b', &["r2.example/app:latest"]),
        ];
        assert!(matches!(
            find_in(&images, "app"),
            Err(LookupError::Ambiguous { .. })
        ));
        let images = vec![img('a', &[]), {
            let mut i = img('a', &[]);
            i.id = Digest::from_hex(&format!("a{}", "b".repeat(63))).unwrap();
            i
        }];
        assert_eq!(find_in(&images, "aa").unwrap(), Some(0));
        assert!(matches!(
            find_in(&images, "a"),
            Err(LookupError::Ambiguous { .. })
        ));
    }
}
