//! OS/architecture/variant triples, and choosing one image from an index.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}")]
pub struct PlatformError {
    pub input: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on, in OCI/Go naming.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            "mips" if cfg!(target_endian = "little") => ("mipsle", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// `OS/ARCH[/VARIANT]`, e.g. `linux/arm64/v8`. Common aliases
    /// (`x86_64`, `aarch64`, `armhf`) are accepted.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let err = |reason: &str| PlatformError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(err(
                "expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8",
            ));
        }
        let valid = |p: &str| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(|p| valid(p)) {
            return Err(err(
                "OS, architecture and variant are letters, digits, '_', '-' and '.'",
            ));
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }

    /// Build with normalization of architecture aliases.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = os.to_ascii_lowercase();
        let arch = architecture.to_ascii_lowercase();
        let variant = variant
            .filter(|v| !v.is_empty())
            .map(str::to_ascii_lowercase);
        let (arch, variant) = match (arch.as_str(), variant) {
            ("x86_64" | "x86-64", v) => ("amd64".to_string(), v),
            ("i386" | "i686", v) => ("386".to_string(), v),
            ("aarch64", v) => ("arm64".to_string(), v),
            ("armhf", _) => ("arm".to_string(), Some("v7".to_string())),
            ("armel", _) => ("arm".to_string(), Some("v6".to_string())),
            (_, v) => (arch, v),
        };
        Platform {
            os,
            architecture: arch,
            variant,
        }
    }

    /// The variant used for comparisons: arm64 is v8 whether or not it is
    /// written, arm defaults to v7 and amd64 to v1 (as containerd does).
    fn effective_variant(&self) -> Option<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None) => Some("v8"),
            ("arm", None) => Some("v7"),
            ("amd64", None) => Some("v1"),
            (_, v) => v,
        }
    }

    /// How well an image built for `candidate` suits a request for `self`:
    /// `None` if it cannot run, higher is better.
    pub fn match_score(&self, candidate: &Platform) -> Option<u8> {
        let cand = Platform::new(
            &candidate.os,
            &candidate.architecture,
            candidate.variant.as_deref(),
        );
        if cand.os != self.os || cand.architecture != self.architecture {
            return None;
        }
        let (want, have) = (self.effective_variant(), cand.effective_variant());
        if self.variant.is_none() && self.architecture != "arm" {
            // No variant asked for: any variant will do, the default one best.
            return Some(if have == want { 200 } else { 100 });
        }
        if want == have {
            return Some(200);
        }
        // Older ARM variants run on newer cores (v7 runs v6 and v5).
        if self.architecture == "arm"
            && let (Some(w), Some(h)) = (want, have)
            && let (Some(w), Some(h)) = (w.strip_prefix('v'), h.strip_prefix('v'))
            && let (Ok(w), Ok(h)) = (w.parse::<u32>(), h.parse::<u32>())
            && h < w
        {
            // The newest older variant is the best of them.
            return Some(100 + h.min(99) as u8);
        }
        None
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The index of the best candidate for `wanted`; the first one wins ties.
pub fn select<'a>(
    wanted: &Platform,
    candidates: impl IntoIterator<Item = &'a Platform>,
) -> Option<usize> {
    let mut best: Option<(usize, u8)> = None;
    for (i, c) in candidates.into_iter().enumerate() {
        if let Some(score) = wanted.match_score(c)
            && best.is_none_or(|(_, s)| score > s)
        {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(
            p("linux/amd64"),
            Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None
            }
        );
        assert_eq!(p("linux/x86_64").architecture, "amd64");
        assert_eq!(p("Linux/AArch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/armhf").to_string(), "linux/arm/v7");
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "",
            "linux/am d64",
        ] {
            let e = Platform::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid platform"), "{e}");
        }
    }

    #[test]
    fn host_platform_is_normalized() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(!["x86_64", "aarch64"].contains(&h.architecture.as_str()));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(h.to_string(), "linux/amd64");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(h.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn selection() {
        let list = [
            p("linux/amd64"),
            p("linux/arm/v6"),
            p("linux/arm/v7"),
            p("linux/arm64"),
            p("windows/amd64"),
        ];
        assert_eq!(select(&p("linux/amd64"), &list), Some(0));
        assert_eq!(select(&p("linux/arm64/v8"), &list), Some(3));
        assert_eq!(select(&p("linux/arm64"), &list), Some(3));
        assert_eq!(select(&p("linux/arm/v7"), &list), Some(2));
        assert_eq!(select(&p("linux/arm"), &list), Some(2));
        assert_eq!(select(&p("linux/arm/v6"), &list), Some(1));
        assert_eq!(select(&p("linux/arm/v8"), &list), Some(2));
        assert_eq!(select(&p("windows/amd64"), &list), Some(4));
        assert_eq!(select(&p("linux/s390x"), &list), None);
        assert_eq!(select(&p("linux/arm64/v9"), &list), None);
        // Without a requested variant, the default variant beats others.
        let amd = [p("linux/amd64/v3"), p("linux/amd64")];
        assert_eq!(select(&p("linux/amd64"), &amd), Some(1));
        assert_eq!(select(&p("linux/amd64/v3"), &amd), Some(0));
        assert_eq!(select(&p("linux/amd64"), &amd[..1]), Some(0));
    }
}
