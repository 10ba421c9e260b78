//! Capability set of the container's process: Docker/Podman semantics for
//! `--cap-add`, `--cap-drop` and `--privileged`.

use std::str::FromStr;

use ::caps::{CapSet as Which, Capability, CapsHashSet};

use super::ConfineError;

/// Podman's default capability set for containers.
pub const DEFAULT_CAPABILITIES: [Capability; 11] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETGID,
    Capability::CAP_SETPCAP,
    Capability::CAP_SETUID,
    Capability::CAP_SYS_CHROOT,
];

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityOptions {
    pub add: Vec<String>,
    pub drop: Vec<String>,
    pub privileged: bool,
}

/// A set of capabilities, kept as the kernel's bit mask (bit N = capability N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapSet {
    mask: u64,
}

impl CapSet {
    pub fn empty() -> Self {
        CapSet { mask: 0 }
    }

    /// The set whose kernel mask is `mask` (as [`CapSet::mask`] gives it).
    pub fn from_mask(mask: u64) -> Self {
        CapSet { mask }
    }

    /// Podman's default set.
    pub fn default_set() -> Self {
        DEFAULT_CAPABILITIES.iter().copied().collect()
    }

    pub fn contains(&self, cap: Capability) -> bool {
        self.mask & cap.bitmask() != 0
    }

    pub fn insert(&mut self, cap: Capability) {
        self.mask |= cap.bitmask();
    }

    pub fn remove(&mut self, cap: Capability) {
        self.mask &= !cap.bitmask();
    }

    /// The mask as /proc/PID/status prints it in CapEff and friends.
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Capabilities in the set that the caps crate knows by name, ordered by number.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        let mut all: Vec<Capability> = ::caps::all().into_iter().collect();
        all.sort_by_key(|c| c.index());
        all.into_iter().filter(move |c| self.contains(*c))
    }

    fn to_hash_set(self) -> CapsHashSet {
        self.iter().collect()
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut s = CapSet::empty();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

/// A name from `--cap-add`/`--cap-drop`: `ALL` or one capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapName {
    All,
    One(Capability),
}

/// Accepts `chown`, `CHOWN`, `cap_chown`, `CAP_CHOWN` and `ALL`.
fn parse_name(name: &str) -> Result<CapName, ConfineError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(CapName::All);
    }
    let canonical = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&canonical)
        .map(CapName::One)
        .map_err(|_| ConfineError::UnknownCapability(name.to_string()))
}

/// One capability name, with or without `CAP_`, any case.
pub(crate) fn parse_capability(name: &str) -> Option<Capability> {
    match parse_name(name) {
        Ok(CapName::One(c)) => Some(c),
        _ => None,
    }
}

/// Every capability the running kernel supports (from
/// /proc/sys/kernel/cap_last_cap).
pub fn kernel_capabilities() -> Result<CapSet, ConfineError> {
    let all = ::caps::runtime::procfs_all_supported(None)
        .map_err(|e| ConfineError::KernelCapabilities(e.to_string()))?;
    Ok(all.into_iter().collect())
}

/// Resolves the options to the set the container's process will hold.
///
/// Docker's rules: names are validated first; `--privileged` gives every
/// capability and ignores adds and drops; `--cap-add ALL` gives every
/// capability minus the named drops; `--cap-drop ALL` leaves only the adds;
/// otherwise the default set minus drops plus adds (an add wins over a drop
/// of the same capability).
pub fn resolve(opts: &CapabilityOptions) -> Result<CapSet, ConfineError> {
    let add: Vec<CapName> = opts
        .add
        .iter()
        .map(|n| parse_name(n))
        .collect::<Result<_, _>>()?;
    let drop: Vec<CapName> = opts
        .drop
        .iter()
        .map(|n| parse_name(n))
        .collect::<Result<_, _>>()?;
    let add_all = add.contains(&CapName::All);
    let drop_all = drop.contains(&CapName::All);

    let ones = |names: &[CapName]| -> Vec<Capability> {
        names
            .iter()
            .filter_map(|n| match n {
                CapName::One(c) => Some(*c),
                CapName::All => None,
            })
            .collect()
    };
    if opts.privileged {
        return kernel_capabilities();
    }
    let mut set = if add_all {
        kernel_capabilities()?
    } else if drop_all {
        CapSet::empty()
    } else {
        CapSet::default_set()
    };
    if !drop_all || add_all {
        for c in ones(&drop) {
            set.remove(c);
        }
    }
    for c in ones(&add) {
        set.insert(c);
    }
    Ok(set)
}

/// Reduces the calling thread's capabilities to `set`, as runc/crun do for a
/// container whose process runs as uid 0: the bounding set loses everything
/// outside `set` (so nothing can be regained through file capabilities or
/// setuid binaries), permitted and effective become `set`, and the
/// inheritable set is empty: with it set, a non-root user in the container
/// could gain capabilities by executing a program whose file inheritable
/// capabilities name them (runc's CVE-2022-29162; Podman's containers show
/// CapInh 0).
///
/// The ambient set is cleared: like Docker, a non-root user (`-u`) gets no
/// capabilities after execve, since ambient capabilities would hand the set to
/// every unprivileged program the container runs.
///
/// Must run in the single-threaded init process before execve; it needs
/// CAP_SETPCAP in the current namespace to shrink the bounding set.
pub fn apply(set: &CapSet) -> Result<(), ConfineError> {
    let err = |action: &'static str| {
        move |e: ::caps::errors::CapsError| ConfineError::ApplyCapabilities {
            action,
            reason: e.to_string(),
        }
    };
    // Bounding first: dropping from it needs CAP_SETPCAP, which `set` may lack.
    for cap in kernel_capabilities()?.iter() {
        if !set.contains(cap) {
            ::caps::drop(None, Which::Bounding, cap).map_err(err("drop bounding"))?;
        }
    }
    let wanted = set.to_hash_set();
    ::caps::clear(None, Which::Ambient).map_err(err("clear ambient"))?;
    // Effective must stay within permitted: shrink in that order.
    ::caps::clear(None, Which::Inheritable).map_err(err("clear inheritable"))?;
    ::caps::set(None, Which::Effective, &wanted).map_err(err("set effective"))?;
    ::caps::set(None, Which::Permitted, &wanted).map_err(err("set permitted"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::testutil::{is_helper, run_helper, status_field};

    fn opts(add: &[&str], drop: &[&str]) -> CapabilityOptions {
        CapabilityOptions {
            add: add.iter().map(|s| s.to_string()).collect(),
            drop: drop.iter().map(|s| s.to_string()).collect(),
            privileged: false,
        }
    }

    #[test]
    fn names_with_or_without_prefix_any_case() {
        for n in [
            "chown",
            "CHOWN",
            "cap_chown",
            "CAP_CHOWN",
            "Cap_Chown",
            " chown ",
        ] {
            assert_eq!(
                parse_name(n).unwrap(),
                CapName::One(Capability::CAP_CHOWN),
                "{n}"
            );
        }
        assert_eq!(parse_name("all").unwrap(), CapName::All);
        assert_eq!(parse_name("ALL").unwrap(), CapName::All);
        assert_eq!(
            parse_name("net_admin").unwrap(),
            CapName::One(Capability::CAP_NET_ADMIN)
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve(&opts(&["FOO"], &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"unknown capability "FOO": see capabilities(7) for names"#
        );
        assert!(resolve(&opts(&[], &["CAP_"])).is_err());
        assert!(resolve(&opts(&[], &["CAP_ALL"])).is_err());
    }

    #[test]
    fn default_set_is_podmans() {
        let s = resolve(&CapabilityOptions::default()).unwrap();
        assert_eq!(s, CapSet::default_set());
        // Bits 0,1,3,4,5,6,7,8,10,18,31 as in podman's CapEff 00000000800405fb.
        assert_eq!(s.mask(), 0x8000_05fb | (1 << 18));
        assert_eq!(s.mask(), 0x0000_0000_8004_05fb);
        assert!(!s.contains(Capability::CAP_SYS_ADMIN));
        assert!(!s.contains(Capability::CAP_NET_RAW));
    }

    #[test]
    fn add_and_drop() {
        let s = resolve(&opts(&["net_raw", "SYS_PTRACE"], &["chown", "CAP_KILL"])).unwrap();
        assert!(s.contains(Capability::CAP_NET_RAW));
        assert!(s.contains(Capability::CAP_SYS_PTRACE));
        assert!(!s.contains(Capability::CAP_CHOWN));
        assert!(!s.contains(Capability::CAP_KILL));
        assert!(s.contains(Capability::CAP_SETUID));
        // An add wins over a drop of the same capability.
        let s = resolve(&opts(&["chown"], &["chown"])).unwrap();
        assert!(s.contains(Capability::CAP_CHOWN));
    }

    #[test]
    fn all_semantics() {
        let s = resolve(&opts(&["NET_ADMIN"], &["ALL"])).unwrap();
        assert_eq!(s, [Capability::CAP_NET_ADMIN].into_iter().collect());
        assert_eq!(resolve(&opts(&[], &["all"])).unwrap(), CapSet::empty());

        let kernel = kernel_capabilities().unwrap();
        assert!(kernel.contains(Capability::CAP_SYS_ADMIN));
        assert_eq!(resolve(&opts(&["ALL"], &[])).unwrap(), kernel);
        let mut expected = kernel;
        expected.remove(Capability::CAP_SYS_ADMIN);
        assert_eq!(resolve(&opts(&["ALL"], &["sys_admin"])).unwrap(), expected);

        let p = CapabilityOptions {
            privileged: true,
            ..Default::default()
        };
        assert_eq!(resolve(&p).unwrap(), kernel);
    }

    #[test]
    fn kernel_set_matches_cap_last_cap() {
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let expected = if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        };
        assert_eq!(kernel_capabilities().unwrap().mask(), expected);
    }

    fn check_apply(add: &[&str], drop: &[&str]) {
        let set = resolve(&opts(add, drop)).unwrap();
        run_helper(
            "confine::caps::tests::helper_apply",
            true,
            &[
                ("BURROW_CAP_ADD", add.join(",")),
                ("BURROW_CAP_DROP", drop.join(",")),
                ("BURROW_CAP_MASK", format!("{:016x}", set.mask())),
            ],
        );
    }

    #[test]
    fn apply_default_set_in_child() {
        check_apply(&[], &[]);
    }

    #[test]
    fn apply_custom_set_in_child() {
        check_apply(&["net_admin"], &["ALL"]);
    }

    #[test]
    #[ignore = "helper: runs in a child under unshare --user --map-root-user"]
    fn helper_apply() {
        if !is_helper() {
            return;
        }
        let split = |k: &str| -> Vec<String> {
            std::env::var(k)
                .unwrap()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let set = resolve(&CapabilityOptions {
            add: split("BURROW_CAP_ADD"),
            drop: split("BURROW_CAP_DROP"),
            privileged: false,
        })
        .unwrap();
        let want = std::env::var("BURROW_CAP_MASK").unwrap();
        assert_eq!(format!("{:016x}", set.mask()), want);
        // Before: full root in the new namespace.
        assert_ne!(status_field("CapBnd"), want);
        apply(&set).unwrap();
        for field in ["CapBnd", "CapEff", "CapPrm"] {
            assert_eq!(status_field(field), want, "{field}");
        }
        assert_eq!(status_field("CapInh"), "0000000000000000");
        assert_eq!(status_field("CapAmb"), "0000000000000000");
    }
}
