//! Image references (`[registry/]repository[:tag][@digest]`) with Docker's
//! normalization: `alpine` means `docker.io/library/alpine:latest`.
//!
//! The grammar is docker/distribution's `reference` package:
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [domain '/'] path-component ['/' path-component]*
//! domain         := host [':' port-number]
//! host           := domain-name | IPv4address | '[' IPv6address ']'
//! path-component := [a-z0-9]+ (separator [a-z0-9]+)*
//! separator      := [_.] | '__' | '-'+
//! tag            := [\w][\w.-]{0,127}
//! ```

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry that references without a domain resolve to.
pub const DOCKER_HUB: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, already normalized (`docker.io`, never `index.docker.io`).
    pub registry: String,
    /// Path inside the registry, e.g. `library/alpine`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalize. A reference with neither tag nor digest gets the
    /// tag `latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err("empty reference"));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                "cannot specify 64-byte hexadecimal strings as an image name",
            ));
        }

        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::from_str(d).map_err(|e| err(&e.to_string()))?;
                (rest, Some(digest))
            }
            None => (s, None),
        };

        // A ':' after the last '/' starts the tag; an earlier ':' is a port.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|r| err(&r))?;
        }
        if name.is_empty() {
            return Err(err("repository name is empty"));
        }

        let (registry, repository) = split_domain(name);
        if let Some(domain) = registry {
            validate_domain(domain).map_err(|r| err(&r))?;
        }
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("repository name must be lowercase"));
        }
        validate_path(repository).map_err(|r| err(&r))?;
        if name.len() > NAME_MAX {
            return Err(err(&format!("name is longer than {NAME_MAX} characters")));
        }

        let registry = match registry {
            None | Some("index.docker.io") => DOCKER_HUB.to_string(),
            Some(d) => d.to_string(),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with `tag` (the digest is dropped: it pins other content).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag).map_err(|reason| ReferenceError {
            input: tag.to_string(),
            reason,
        })?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository and tag, pinned to `digest`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// A name to give an image (`tag`, `load`, `import`): normalized as
/// [`Reference::parse`] does (`app` is `docker.io/library/app:latest`),
/// without a digest, which would pin other content.
pub fn tag_name(s: &str) -> Result<String, ReferenceError> {
    let r = Reference::parse(s)?;
    if r.digest.is_some() {
        return Err(ReferenceError {
            input: s.to_string(),
            reason: "a tag cannot contain a digest; use NAME[:TAG]".into(),
        });
    }
    Ok(r.to_string())
}

/// True when the user gave no registry, so the search registries of
/// registries.conf apply (`alpine`, `library/alpine`, `user/app:1`).
pub fn is_short_name(s: &str) -> bool {
    let name = s.split_once('@').map_or(s, |(n, _)| n);
    split_domain(name).0.is_none()
}

/// Docker's rule: the first component is a domain if it contains `.` or `:`,
/// is `localhost`, or has uppercase letters (which a path cannot have).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let bad = || format!("invalid tag {tag:?}: tags are [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}");
    let mut bytes = tag.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => {}
        _ => return Err(bad()),
    }
    if tag.len() > TAG_MAX
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(bad());
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), String> {
    let bad = |why: &str| format!("invalid registry {domain:?}: {why}");
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("unterminated IPv6 address"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("invalid IPv6 address"));
        }
        match after {
            "" => ("", None),
            p => (
                "",
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected ':' and a port after the IPv6 address"))?,
                ),
            ),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5)
    {
        return Err(bad("port must be a number"));
    }
    if !domain.starts_with('[') {
        if host.is_empty() {
            return Err(bad("empty host name"));
        }
        for comp in host.split('.') {
            let ok = !comp.is_empty()
                && comp.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !comp.starts_with('-')
                && !comp.ends_with('-');
            if !ok {
                return Err(bad("host names are letters, digits, '-' and '.'"));
            }
        }
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<(), String> {
    for comp in path.split('/') {
        if comp.is_empty() {
            return Err("repository name has an empty path component".to_string());
        }
        if !valid_path_component(comp) {
            return Err(format!(
                "invalid repository path component {comp:?}: use lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

fn valid_path_component(comp: &str) -> bool {
    let b = comp.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__', or any number of '-'.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &comp[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_normalization() {
        let r = p("alpine");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/alpine")
        );
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.digest, None);
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");

        let r = p("user/app:1.2");
        assert_eq!(r.to_string(), "docker.io/user/app:1.2");
        assert_eq!(
            p("index.docker.io/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            p("docker.io/library/alpine:3").to_string(),
            "docker.io/library/alpine:3"
        );
    }

    #[test]
    fn registries_and_ports() {
        let r = p("localhost:5000/foo/bar:v1");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "foo/bar");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(p("localhost/foo").registry, "localhost");
        assert_eq!(p("quay.io/a/b").name(), "quay.io/a/b");
        assert_eq!(p("127.0.0.1:5000/x").registry, "127.0.0.1:5000");
        assert_eq!(p("[::1]:5000/x:t").registry, "[::1]:5000");
        assert_eq!(p("[::1]/x").registry, "[::1]");
        // Without a dot, colon or 'localhost' the first component is a path.
        assert_eq!(p("myhost/x").to_string(), "docker.io/myhost/x:latest");
    }

    #[test]
    fn digests() {
        let r = p(&format!("alpine@sha256:{HEX}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().hex(), HEX);
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/alpine@sha256:{HEX}")
        );
        assert_eq!(r.manifest_ref(), format!("sha256:{HEX}"));

        let r = p(&format!("example.com:443/a/b:3.1@sha256:{HEX}"));
        assert_eq!(r.tag.as_deref(), Some("3.1"));
        assert!(r.digest.is_some());
        assert_eq!(
            r.to_string(),
            format!("example.com:443/a/b:3.1@sha256:{HEX}")
        );
        assert_eq!(r.manifest_ref(), format!("sha256:{HEX}"));
    }

    #[test]
    fn path_component_separators() {
        for ok in ["a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2/c3", "x.y_z-w"] {
            p(ok);
        }
        for bad in [
            "a..b", "a___b", "a_.b", "-a", "a-", ".a", "a/", "/a", "a//b", "a_",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn rejections_are_clear() {
        let e = Reference::parse("Alpine").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference \"Alpine\": repository name must be lowercase"
        );
        assert!(
            Reference::parse("example.com/Foo")
                .unwrap_err()
                .to_string()
                .contains("lowercase")
        );
        assert!(Reference::parse("").is_err());
        assert!(
            Reference::parse("alpine:")
                .unwrap_err()
                .to_string()
                .contains("invalid tag")
        );
        assert!(Reference::parse("alpine:-x").is_err());
        assert!(Reference::parse(&format!("alpine:{}", "a".repeat(129))).is_err());
        p(&format!("alpine:{}", "a".repeat(128)));
        assert!(Reference::parse("alpine@sha256:abc").is_err());
        assert!(
            Reference::parse(&format!("alpine@sha512:{HEX}"))
                .unwrap_err()
                .to_string()
                .contains("sha512")
        );
        assert!(
            Reference::parse(HEX)
                .unwrap_err()
                .to_string()
                .contains("64-byte")
        );
        assert!(Reference::parse("exa_mple.com/foo").is_err());
        assert!(Reference::parse("example.com:port/foo").is_err());
        assert!(Reference::parse("example.com:/foo").is_err());
        assert!(Reference::parse("[::1/foo").is_err());
        assert!(Reference::parse(&format!("example.com/{}", "a".repeat(250))).is_err());
        assert!(Reference::parse("a b").is_err());
    }

    #[test]
    fn short_names() {
        assert!(is_short_name("alpine"));
        assert!(is_short_name("library/alpine:3"));
        assert!(is_short_name(&format!("user/app@sha256:{HEX}")));
        assert!(!is_short_name("docker.io/alpine"));
        assert!(!is_short_name("localhost/foo"));
        assert!(!is_short_name("host:5000/foo"));
    }

    #[test]
    fn helpers() {
        let r = p("alpine:3");
        assert_eq!(
            r.with_tag("edge").unwrap().to_string(),
            "docker.io/library/alpine:edge"
        );
        assert!(r.with_tag("bad tag").is_err());
        let d = Digest::of(b"x");
        assert_eq!(
            r.with_digest(d.clone()).to_string(),
            format!("docker.io/library/alpine:3@{d}")
        );
        assert_eq!(r.name(), "docker.io/library/alpine");
        assert_eq!(
            "alpine".parse::<Reference>().unwrap(),
            r.with_tag("latest").unwrap()
        );
    }
}
