//! The user's mounts (`-v`, `--mount`, `--tmpfs`, `--read-only`), parsed and
//! checked before anything is created, with Docker's and Podman's syntax
//! and messages that say how to fix the input.

use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid volume spec {0:?}: use -v /host/path:/container/path[:OPTIONS]")]
    VolumeSyntax(String),
    #[error(
        "invalid volume spec {spec:?}: the host path {path:?} is relative; start it with ./ or give an absolute path such as $PWD/{path}"
    )]
    RelativeSource { spec: String, path: String },
    #[error(
        "invalid volume name {name:?} in {spec:?}: use letters, digits, '_', '.' or '-', starting with a letter or digit, or a host path starting with / or ./"
    )]
    BadVolumeName { spec: String, name: String },
    #[error("mount destination {0:?} must be an absolute path other than /")]
    BadDestination(String),
    #[error("bind mount source {0} does not exist: create it first")]
    MissingSource(PathBuf),
    #[error("cannot use {path} as a bind mount source: {reason}")]
    BadSource { path: PathBuf, reason: String },
    #[error("duplicate mount destination {0}: give each container path once")]
    Duplicate(String),
    #[error("unknown option {option:?} in {spec:?}; {known}")]
    UnknownOption {
        option: String,
        spec: String,
        known: &'static str,
    },
    #[error("option {option:?} in {spec:?} is not supported: {why}")]
    Unsupported {
        option: String,
        spec: String,
        why: &'static str,
    },
    #[error("invalid value {value:?} for {key} in {spec:?}: {why}")]
    BadValue {
        key: String,
        value: String,
        spec: String,
        why: &'static str,
    },
    #[error("--mount {0:?} has no {1}")]
    MissingKey(String, &'static str),
}

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MountKind {
    /// A host file or directory.
    Bind {
        source: PathBuf,
        /// Submounts of the source come along (`rbind`, Docker's default).
        recursive: bool,
        /// The source is a directory (set by [`finish`], which looks).
        dir: bool,
    },
    /// A fresh tmpfs; `options` is its data string (size, mode, ...).
    Tmpfs { options: String },
    /// A volume of the store (`-v NAME:/path`, `-v /path`, `--mount
    /// type=volume`, the image's `VOLUME`).
    Volume(VolumeMount),
}

/// A volume as a container mounts it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct VolumeMount {
    /// The volume's name; None in a request for an anonymous one, which
    /// `create` makes and names.
    pub name: Option<String>,
    /// Made for this container alone (removed with it by `rm -v`).
    #[serde(default)]
    pub anonymous: bool,
    /// The image's content at the destination is copied into the volume
    /// at its first mount (Docker's copy-up); false with `nocopy`.
    pub copy_up: bool,
    /// `:U`: the volume's files are given to the container's user at
    /// each start (Podman).
    #[serde(default)]
    pub chown: bool,
    /// `volume-opt=K=V` and `volume-label=K=V` (`--mount`), for a volume
    /// this mount makes.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// What is mounted, from the volume's record (set by `create`).
    #[serde(default)]
    pub source: Option<VolumeSource>,
}

/// Where a volume's files are, as `create` found its record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VolumeSource {
    /// The volume's `_data` directory in the store.
    Dir(PathBuf),
    /// A fresh tmpfs at each start, with these options.
    Tmpfs(String),
    /// A host directory (`device=`, `o=bind`).
    Bind { device: PathBuf, recursive: bool },
}

impl VolumeMount {
    /// The name of a mount made by `create` (every one has a name then).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// One mount of the user's, in container terms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    pub destination: String,
    pub kind: MountKind,
    pub readonly: bool,
    /// nosuid, nodev, noexec asked for.
    #[serde(with = "flag_bits")]
    pub flags: MsFlags,
}

/// Mount flags kept as the kernel's bits in a container's saved spec.
mod flag_bits {
    use nix::mount::MsFlags;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(flags: &MsFlags, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(flags.bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MsFlags, D::Error> {
        Ok(MsFlags::from_bits_truncate(u64::deserialize(d)?))
    }
}

const VOLUME_OPTIONS: &str = "known options: ro, rw, z, Z, bind, rbind, private, rprivate, suid, nosuid, dev, nodev, exec, noexec";
const NAMED_VOLUME_OPTIONS: &str =
    "known options for a volume: ro, rw, nocopy, U, z, Z, suid, nosuid, dev, nodev, exec, noexec";
const TMPFS_OPTIONS: &str = "known options: ro, rw, size=, mode=, uid=, gid=, nr_inodes=, suid, nosuid, dev, nodev, exec, noexec";
const MOUNT_KEYS: &str = "known keys: type, source/src, target/destination/dst, readonly/ro, bind-propagation, bind-nonrecursive, tmpfs-size, tmpfs-mode, volume-nocopy, volume-opt, volume-label";

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn check_destination(dest: &str) -> Result<String, MountError> {
    let p = Path::new(dest);
    if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(MountError::BadDestination(dest.to_string()));
    }
    // Normalised: no "." parts, no doubled or trailing slashes.
    let mut out = String::new();
    for c in p.components() {
        if let Component::Normal(n) = c {
            out.push('/');
            out.push_str(&n.to_string_lossy());
        }
    }
    if out.is_empty() {
        return Err(MountError::BadDestination(dest.to_string()));
    }
    Ok(out)
}

/// Shared by `-v` options and `--mount` keys: propagation modes that a
/// rootless container could not honour are refused, not half done.
fn propagation(option: &str, spec: &str) -> Result<(), MountError> {
    match option {
        "private" | "rprivate" => Ok(()),
        "shared" | "rshared" | "slave" | "rslave" => Err(MountError::Unsupported {
            option: option.to_string(),
            spec: spec.to_string(),
            why: "mounts cannot propagate between a rootless container and the host; drop it (private is the default)",
        }),
        _ => Err(MountError::UnknownOption {
            option: option.to_string(),
            spec: spec.to_string(),
            known: "bind-propagation is private or rprivate",
        }),
    }
}

/// Apply a nosuid/nodev/noexec-style option; false if `option` is not one.
fn security_flag(option: &str, flags: &mut MsFlags) -> bool {
    let (flag, set) = match option {
        "suid" => (MsFlags::MS_NOSUID, false),
        "nosuid" => (MsFlags::MS_NOSUID, true),
        "dev" => (MsFlags::MS_NODEV, false),
        "nodev" => (MsFlags::MS_NODEV, true),
        "exec" => (MsFlags::MS_NOEXEC, false),
        "noexec" => (MsFlags::MS_NOEXEC, true),
        _ => return false,
    };
    flags.set(flag, set);
    true
}

/// `-v HOST:CONTAINER[:OPTIONS]`. `cwd` resolves host paths starting with
/// `.` (as Docker 23+ and Podman do).
pub fn parse_volume(spec: &str, cwd: &Path) -> Result<Mount, MountError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, options) = match parts.as_slice() {
        [dest] if !dest.is_empty() => {
            return Ok(Mount {
                destination: check_destination(dest)?,
                kind: MountKind::Volume(VolumeMount {
                    anonymous: true,
                    copy_up: true,
                    ..VolumeMount::default()
                }),
                readonly: false,
                flags: MsFlags::empty(),
            });
        }
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(MountError::VolumeSyntax(spec.to_string())),
    };
    if source.is_empty() || dest.is_empty() {
        return Err(MountError::VolumeSyntax(spec.to_string()));
    }
    let destination = check_destination(dest)?;
    let source = if source.starts_with('/') {
        PathBuf::from(source)
    } else if source.starts_with('.') {
        cwd.join(source)
    } else if source.contains('/') {
        return Err(MountError::RelativeSource {
            spec: spec.to_string(),
            path: source.to_string(),
        });
    } else {
        return named_volume(spec, source, destination, options);
    };
    let mut mount = Mount {
        destination,
        kind: MountKind::Bind {
            source,
            recursive: true,
            dir: true,
        },
        readonly: false,
        flags: MsFlags::empty(),
    };
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => mount.readonly = true,
            "rw" => mount.readonly = false,
            "z" | "Z" if !selinux_enabled() => {} // nothing to relabel without SELinux
            "z" | "Z" => {
                return Err(MountError::Unsupported {
                    option: o.to_string(),
                    spec: spec.to_string(),
                    why: "SELinux relabeling is not implemented; label the directory yourself (chcon -t container_file_t DIR) and drop the option",
                });
            }
            "bind" | "rbind" => {
                if let MountKind::Bind { recursive, .. } = &mut mount.kind {
                    *recursive = o == "rbind";
                }
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                propagation(o, spec)?
            }
            _ if security_flag(o, &mut mount.flags) => {}
            _ => {
                return Err(MountError::UnknownOption {
                    option: o.to_string(),
                    spec: spec.to_string(),
                    known: VOLUME_OPTIONS,
                });
            }
        }
    }
    Ok(mount)
}

/// `-v NAME:/path[:OPTIONS]`.
fn named_volume(
    spec: &str,
    name: &str,
    destination: String,
    options: &str,
) -> Result<Mount, MountError> {
    if !crate::ids::valid_name(name) {
        return Err(MountError::BadVolumeName {
            spec: spec.to_string(),
            name: name.to_string(),
        });
    }
    let mut volume = VolumeMount {
        name: Some(name.to_string()),
        copy_up: true,
        ..VolumeMount::default()
    };
    let mut mount = Mount {
        destination,
        kind: MountKind::Volume(VolumeMount::default()),
        readonly: false,
        flags: MsFlags::empty(),
    };
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => mount.readonly = true,
            "rw" => mount.readonly = false,
            "nocopy" => volume.copy_up = false,
            "copy" => volume.copy_up = true,
            "U" => volume.chown = true,
            "z" | "Z" if !selinux_enabled() => {}
            "z" | "Z" => {
                return Err(MountError::Unsupported {
                    option: o.to_string(),
                    spec: spec.to_string(),
                    why: "SELinux relabeling is not implemented; drop the option",
                });
            }
            _ if security_flag(o, &mut mount.flags) => {}
            _ => {
                return Err(MountError::UnknownOption {
                    option: o.to_string(),
                    spec: spec.to_string(),
                    known: NAMED_VOLUME_OPTIONS,
                });
            }
        }
    }
    if mount.readonly && volume.chown {
        return Err(MountError::Unsupported {
            option: "U".into(),
            spec: spec.to_string(),
            why: "a read-only mount cannot be given to the container's user; drop ro or U",
        });
    }
    mount.kind = MountKind::Volume(volume);
    Ok(mount)
}

/// `K=V` of `volume-opt=` and `volume-label=`.
fn key_value(key: &str, value: &str, spec: &str) -> Result<(String, String), MountError> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(MountError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            spec: spec.to_string(),
            why: "use KEY=VALUE",
        }),
    }
}

fn bool_value(key: &str, value: Option<&str>, spec: &str) -> Result<bool, MountError> {
    match value {
        None | Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(MountError::BadValue {
            key: key.to_string(),
            value: v.to_string(),
            spec: spec.to_string(),
            why: "use true or false",
        }),
    }
}

fn tmpfs_size(key: &str, value: &str, spec: &str) -> Result<String, MountError> {
    let digits = value.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || value.len() - digits.len() > 1
    {
        return Err(MountError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            spec: spec.to_string(),
            why: "use a size such as 64m, 1g or 65536",
        });
    }
    Ok(value.to_string())
}

fn tmpfs_mode(key: &str, value: &str, spec: &str) -> Result<String, MountError> {
    match u32::from_str_radix(value, 8) {
        Ok(m) if m <= 0o7777 => Ok(format!("{m:o}")),
        _ => Err(MountError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            spec: spec.to_string(),
            why: "use an octal mode such as 1777",
        }),
    }
}

/// `--mount type=bind|tmpfs,KEY=VALUE,...` (Docker's keys and aliases).
pub fn parse_mount(spec: &str, cwd: &Path) -> Result<Mount, MountError> {
    let mut kind = None;
    let mut source = None;
    let mut target = None;
    let mut readonly = false;
    let mut recursive = true;
    let mut size = None;
    let mut mode = None;
    let mut volume = VolumeMount {
        copy_up: true,
        ..VolumeMount::default()
    };
    let mut volume_keys = false;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let need = |v: Option<&str>| -> Result<String, MountError> {
            v.filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| MountError::BadValue {
                    key: key.to_string(),
                    value: String::new(),
                    spec: spec.to_string(),
                    why: "it needs a value",
                })
        };
        match key {
            "type" => kind = Some(need(value)?),
            "source" | "src" => source = Some(need(value)?),
            "target" | "destination" | "dst" => target = Some(need(value)?),
            "readonly" | "ro" => readonly = bool_value(key, value, spec)?,
            "bind-propagation" => propagation(&need(value)?, spec)?,
            "bind-nonrecursive" => recursive = !bool_value(key, value, spec)?,
            "tmpfs-size" => size = Some(tmpfs_size(key, &need(value)?, spec)?),
            "tmpfs-mode" => mode = Some(tmpfs_mode(key, &need(value)?, spec)?),
            "volume-nocopy" => {
                volume.copy_up = !bool_value(key, value, spec)?;
                volume_keys = true;
            }
            "volume-opt" => {
                let (k, v) = key_value(key, &need(value)?, spec)?;
                volume.options.insert(k, v);
                volume_keys = true;
            }
            "volume-label" => {
                let (k, v) = key_value(key, &need(value)?, spec)?;
                volume.labels.insert(k, v);
                volume_keys = true;
            }
            _ => {
                return Err(MountError::UnknownOption {
                    option: key.to_string(),
                    spec: spec.to_string(),
                    known: MOUNT_KEYS,
                });
            }
        }
    }
    let target = target.ok_or(MountError::MissingKey(spec.to_string(), "target"))?;
    let destination = check_destination(&target)?;
    let tmpfs_only = size.is_some() || mode.is_some();
    if volume_keys && kind.as_deref() != Some("volume") {
        return Err(MountError::Unsupported {
            option: "volume-nocopy/volume-opt/volume-label".into(),
            spec: spec.to_string(),
            why: "they apply to type=volume only",
        });
    }
    match kind.as_deref() {
        Some("bind") => {
            if tmpfs_only {
                return Err(MountError::Unsupported {
                    option: "tmpfs-size/tmpfs-mode".into(),
                    spec: spec.to_string(),
                    why: "they apply to type=tmpfs only",
                });
            }
            let source = source.ok_or(MountError::MissingKey(spec.to_string(), "source"))?;
            let source = if source.starts_with('/') {
                PathBuf::from(source)
            } else {
                // --mount never took relative paths in Docker.
                return Err(MountError::RelativeSource {
                    spec: spec.to_string(),
                    path: source,
                });
            };
            let _ = cwd;
            Ok(Mount {
                destination,
                kind: MountKind::Bind {
                    source,
                    recursive,
                    dir: true,
                },
                readonly,
                flags: MsFlags::empty(),
            })
        }
        Some("tmpfs") => {
            if source.is_some() {
                return Err(MountError::Unsupported {
                    option: "source".into(),
                    spec: spec.to_string(),
                    why: "a tmpfs has no source",
                });
            }
            let mut options = vec![format!("mode={}", mode.unwrap_or_else(|| "1777".into()))];
            if let Some(s) = size {
                options.push(format!("size={s}"));
            }
            Ok(Mount {
                destination,
                kind: MountKind::Tmpfs {
                    options: options.join(","),
                },
                readonly,
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            })
        }
        Some("volume") => {
            if tmpfs_only || !recursive {
                return Err(MountError::Unsupported {
                    option: "tmpfs-size/tmpfs-mode/bind-nonrecursive".into(),
                    spec: spec.to_string(),
                    why: "they do not apply to type=volume",
                });
            }
            match source {
                Some(name) if !crate::ids::valid_name(&name) => {
                    return Err(MountError::BadVolumeName {
                        spec: spec.to_string(),
                        name,
                    });
                }
                Some(name) => volume.name = Some(name),
                None => volume.anonymous = true,
            }
            Ok(Mount {
                destination,
                kind: MountKind::Volume(volume),
                readonly,
                flags: MsFlags::empty(),
            })
        }
        Some(other) => Err(MountError::BadValue {
            key: "type".into(),
            value: other.to_string(),
            spec: spec.to_string(),
            why: "use bind, volume or tmpfs",
        }),
        None => Err(MountError::MissingKey(spec.to_string(), "type")),
    }
}

/// `--tmpfs /path[:OPTIONS]`; Docker's defaults are rw,noexec,nosuid,nodev.
pub fn parse_tmpfs(spec: &str) -> Result<Mount, MountError> {
    let (dest, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = check_destination(dest)?;
    let mut flags = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let mut readonly = false;
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = match o.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (o, None),
        };
        match (key, value) {
            ("ro", None) => readonly = true,
            ("rw", None) => readonly = false,
            ("size", Some(v)) => data.push(format!("size={}", tmpfs_size(key, v, spec)?)),
            ("mode", Some(v)) => data.push(format!("mode={}", tmpfs_mode(key, v, spec)?)),
            ("uid" | "gid" | "nr_inodes", Some(v)) => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(MountError::BadValue {
                        key: key.to_string(),
                        value: v.to_string(),
                        spec: spec.to_string(),
                        why: "use a number",
                    });
                }
                data.push(format!("{key}={v}"));
            }
            (_, None) if security_flag(key, &mut flags) => {}
            _ => {
                return Err(MountError::UnknownOption {
                    option: o.to_string(),
                    spec: spec.to_string(),
                    known: TMPFS_OPTIONS,
                });
            }
        }
    }
    if !data.iter().any(|d| d.starts_with("mode=")) {
        data.insert(0, "mode=1777".into());
    }
    Ok(Mount {
        destination,
        kind: MountKind::Tmpfs {
            options: data.join(","),
        },
        readonly,
        flags,
    })
}

/// The tmpfs mounts `--read-only` adds (Podman's `--read-only-tmpfs`),
/// unless the user mounts something there already.
pub fn read_only_tmpfs(existing: &[Mount]) -> Vec<Mount> {
    ["/run", "/tmp", "/var/tmp"]
        .into_iter()
        .filter(|d| !existing.iter().any(|m| m.destination == *d))
        .map(|d| Mount {
            destination: d.to_string(),
            kind: MountKind::Tmpfs {
                options: "mode=1777".into(),
            },
            readonly: false,
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        })
        .collect()
}

/// Check the whole list: sources exist, destinations are unique. Returns
/// the mounts in the order to mount them: parents before children.
pub fn finish(mut mounts: Vec<Mount>) -> Result<Vec<Mount>, MountError> {
    for i in 0..mounts.len() {
        let (before, rest) = mounts.split_at_mut(i);
        let m = &mut rest[0];
        if before.iter().any(|o| o.destination == m.destination) {
            return Err(MountError::Duplicate(m.destination.clone()));
        }
        if let MountKind::Bind { source, dir, .. } = &mut m.kind {
            // Followed like mount(2) follows it.
            match std::fs::metadata(&*source) {
                Ok(meta) => *dir = meta.is_dir(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(MountError::MissingSource(source.clone()));
                }
                Err(e) => {
                    return Err(MountError::BadSource {
                        path: source.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
    // Stable: equal depths keep the user's order.
    mounts.sort_by_key(|m| m.destination.matches('/').count());
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(spec: &str) -> Result<Mount, MountError> {
        parse_volume(spec, Path::new("/home/u/proj"))
    }

    #[test]
    fn volumes() {
        let m = v("/src:/dst").unwrap();
        assert_eq!(m.destination, "/dst");
        assert_eq!(
            m.kind,
            MountKind::Bind {
                source: "/src".into(),
                recursive: true,
                dir: true,
            }
        );
        assert!(!m.readonly);
        let m = v("/src:/a/./b/:ro,nosuid,noexec,bind,rprivate").unwrap();
        assert_eq!(m.destination, "/a/b");
        assert!(m.readonly);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert!(matches!(
            m.kind,
            MountKind::Bind {
                recursive: false,
                ..
            }
        ));
        let m = v("./data:/my_folder").unwrap();
        assert!(
            matches!(&m.kind, MountKind::Bind { source, .. } if source == Path::new("/home/u/proj/./data"))
        );
        if !selinux_enabled() {
            assert!(v("/s:/d:z").is_ok());
        }
    }

    #[test]
    fn bad_volumes_say_how_to_fix_them() {
        let msg = |s: &str| v(s).unwrap_err().to_string();
        assert!(
            msg("data/x:/d")
                .contains("start it with ./ or give an absolute path such as $PWD/data/x")
        );
        assert!(msg("da$ta:/d").contains("invalid volume name"));
        assert!(msg("data:/d:bogus").contains("known options for a volume"));
        assert!(msg("/s:rel").contains("must be an absolute path"));
        assert!(msg("/s:/").contains("must be an absolute path other than /"));
        assert!(msg("/s:/a/../b").contains("must be an absolute path"));
        assert!(msg("/s:/d:bogus").contains("unknown option \"bogus\""));
        assert!(msg("/s:/d:rshared").contains("cannot propagate"));
        assert!(msg("/a:/b:ro:x").contains("invalid volume spec"));
        assert!(msg(":/d").contains("invalid volume spec"));
    }

    #[test]
    fn volume_mounts() {
        let vol = |m: &Mount| match &m.kind {
            MountKind::Volume(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        assert!(
            v("data:/d:ro,U")
                .unwrap_err()
                .to_string()
                .contains("drop ro or U")
        );
        let m = v("data:/d:rw,nocopy,U,nosuid").unwrap();
        assert!(!m.readonly && m.flags == MsFlags::MS_NOSUID);
        let d = vol(&m);
        assert_eq!(d.name.as_deref(), Some("data"));
        assert!(!d.copy_up && d.chown && !d.anonymous);
        let m = v("/anon/").unwrap();
        assert_eq!(m.destination, "/anon");
        assert!(vol(&m).anonymous && vol(&m).name.is_none() && vol(&m).copy_up);
        let c = Path::new("/");
        let m = parse_mount(
            "type=volume,src=db,dst=/var/db,ro,volume-nocopy,volume-opt=type=tmpfs,volume-label=a=b",
            c,
        )
        .unwrap();
        let d = vol(&m);
        assert!(m.readonly && !d.copy_up);
        assert_eq!(d.options["type"], "tmpfs");
        assert_eq!(d.labels["a"], "b");
        assert!(vol(&parse_mount("type=volume,dst=/x", c).unwrap()).anonymous);
    }

    #[test]
    fn mount_flag() {
        let c = Path::new("/");
        let m = parse_mount("type=bind,src=/s,dst=/d,readonly", c).unwrap();
        assert!(m.readonly);
        assert_eq!(m.destination, "/d");
        let m = parse_mount(
            "type=bind,source=/s,target=/d,ro=false,bind-nonrecursive=true",
            c,
        )
        .unwrap();
        assert!(!m.readonly);
        assert!(matches!(
            m.kind,
            MountKind::Bind {
                recursive: false,
                ..
            }
        ));
        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=700", c).unwrap();
        assert_eq!(
            m.kind,
            MountKind::Tmpfs {
                options: "mode=700,size=64m".into()
            }
        );
        let msg = |s: &str| parse_mount(s, c).unwrap_err().to_string();
        assert!(msg("type=volume,src=../x,dst=/d").contains("invalid volume name"));
        assert!(msg("type=bind,src=/s,dst=/d,volume-nocopy").contains("type=volume only"));
        assert!(msg("type=volume,dst=/d,volume-opt=x").contains("use KEY=VALUE"));
        assert!(msg("type=bind,dst=/d").contains("has no source"));
        assert!(msg("src=/s,dst=/d").contains("has no type"));
        assert!(msg("type=bind,src=/s").contains("has no target"));
        assert!(msg("type=bind,src=rel,dst=/d").contains("relative"));
        assert!(msg("type=nfs,dst=/d").contains("use bind, volume or tmpfs"));
        assert!(msg("type=bind,src=/s,dst=/d,color=red").contains("unknown option \"color\""));
        assert!(msg("type=bind,src=/s,dst=/d,readonly=maybe").contains("use true or false"));
        assert!(msg("type=tmpfs,dst=/d,tmpfs-size=lots").contains("use a size"));
        assert!(
            msg("type=bind,src=/s,dst=/d,bind-propagation=rslave").contains("cannot propagate")
        );
    }

    #[test]
    fn tmpfs_flag() {
        let m = parse_tmpfs("/t").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Tmpfs {
                options: "mode=1777".into()
            }
        );
        assert_eq!(
            m.flags,
            MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV
        );
        let m = parse_tmpfs("/t:size=10m,mode=0750,exec,uid=5").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Tmpfs {
                options: "size=10m,mode=750,uid=5".into()
            }
        );
        assert!(!m.flags.contains(MsFlags::MS_NOEXEC));
        assert!(parse_tmpfs("/t:size=1x").is_err());
        assert!(parse_tmpfs("/t:mode=999").is_err());
        assert!(parse_tmpfs("/t:uid=-1").is_err());
        assert!(
            parse_tmpfs("/t:huge")
                .unwrap_err()
                .to_string()
                .contains("known options")
        );
        assert!(parse_tmpfs("rel").is_err());
    }

    #[test]
    fn finishing_checks_and_orders() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().to_str().unwrap().to_string();
        let mounts = vec![
            v(&format!("{src}:/a/b/c")).unwrap(),
            v(&format!("{src}:/a")).unwrap(),
            parse_tmpfs("/a/b").unwrap(),
        ];
        let done = finish(mounts).unwrap();
        let order: Vec<&str> = done.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(order, ["/a", "/a/b", "/a/b/c"]);
        let dup = vec![
            v(&format!("{src}:/a")).unwrap(),
            parse_tmpfs("/a/").unwrap(),
        ];
        assert_eq!(finish(dup).unwrap_err(), MountError::Duplicate("/a".into()));
        let missing = vec![v("/nonexistent/x:/a").unwrap()];
        assert!(
            finish(missing)
                .unwrap_err()
                .to_string()
                .contains("does not exist: create it first")
        );
        let ro = read_only_tmpfs(&[parse_tmpfs("/tmp").unwrap()]);
        let dests: Vec<&str> = ro.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dests, ["/run", "/var/tmp"]);
    }
}
