//! `--ulimit`: resource limits of the container's process (and exec's),
//! in Docker's syntax (`nofile=1024:2048`, `core=-1`), set with
//! setrlimit(2) just before the command is executed.

use serde::{Deserialize, Serialize};

/// One resource limit. `None` is unlimited (Docker's -1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Docker's name: nofile, nproc, core, ...
    pub name: String,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Why a `--ulimit` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UlimitError {
    #[error(
        "invalid --ulimit {0:?}: give NAME=SOFT[:HARD] such as nofile=1024:2048 (numbers, or -1 for unlimited)"
    )]
    Syntax(String),
    #[error(
        "invalid --ulimit {given:?}: unknown resource {name:?}; use one of {}",
        names()
    )]
    UnknownName { given: String, name: String },
    #[error(
        "invalid --ulimit {given:?}: the soft limit {soft} is above the hard limit {hard}; give SOFT <= HARD"
    )]
    SoftAboveHard {
        given: String,
        soft: String,
        hard: String,
    },
}

/// Docker's names and the resources they stand for.
const RESOURCES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

fn names() -> String {
    RESOURCES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string())
}

impl Ulimit {
    /// `NAME=SOFT[:HARD]`; HARD defaults to SOFT, -1 is unlimited.
    pub fn parse(given: &str) -> Result<Ulimit, UlimitError> {
        let syntax = || UlimitError::Syntax(given.to_string());
        let (name, values) = given.split_once('=').ok_or_else(syntax)?;
        if RESOURCES.iter().all(|(n, _)| *n != name) {
            return Err(UlimitError::UnknownName {
                given: given.to_string(),
                name: name.to_string(),
            });
        }
        let number = |s: &str| -> Result<Option<u64>, UlimitError> {
            match s {
                "-1" => Ok(None),
                _ => s.parse::<u64>().map(Some).map_err(|_| syntax()),
            }
        };
        let (soft, hard) = match values.split_once(':') {
            Some((s, h)) => (number(s)?, number(h)?),
            None => {
                let n = number(values)?;
                (n, n)
            }
        };
        // None (unlimited) is above every number.
        let above = match (soft, hard) {
            (None, Some(_)) => true,
            (Some(s), Some(h)) => s > h,
            (_, None) => false,
        };
        if above {
            return Err(UlimitError::SoftAboveHard {
                given: given.to_string(),
                soft: shown(soft),
                hard: shown(hard),
            });
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }

    /// The resource for setrlimit(2) (the name was checked by `parse`;
    /// a hand-edited record with another name gets none).
    pub fn resource(&self) -> Option<libc::__rlimit_resource_t> {
        RESOURCES
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, r)| *r)
    }

    /// As the kernel takes them.
    pub fn raw(&self) -> (u64, u64) {
        (
            self.soft.unwrap_or(libc::RLIM_INFINITY),
            self.hard.unwrap_or(libc::RLIM_INFINITY),
        )
    }

    /// Whether the hard limit is above `current_hard`, the caller's own:
    /// raising it needs CAP_SYS_RESOURCE on the host, which a rootless
    /// engine never has.
    pub fn exceeds(&self, current_hard: u64) -> bool {
        current_hard != libc::RLIM_INFINITY && self.raw().1 > current_hard
    }

    /// The caller's own (soft, hard) limit of this resource.
    pub fn current(&self) -> Option<(u64, u64)> {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into `cur`, a valid rlimit.
        (unsafe { libc::getrlimit(self.resource()?, &mut cur) } == 0)
            .then_some((cur.rlim_cur, cur.rlim_max))
    }
}

impl std::fmt::Display for Ulimit {
    /// Docker's form: `nofile=1024:2048`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |l: Option<u64>| l.map_or_else(|| "-1".to_string(), |n| n.to_string());
        write!(f, "{}={}:{}", self.name, n(self.soft), n(self.hard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_syntax_parses() {
        let u = Ulimit::parse("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (Some(1024), Some(2048)));
        assert_eq!(u.resource(), Some(libc::RLIMIT_NOFILE));
        let u = Ulimit::parse("nproc=50").unwrap();
        assert_eq!((u.soft, u.hard), (Some(50), Some(50)));
        let u = Ulimit::parse("core=-1").unwrap();
        assert_eq!(u.raw(), (libc::RLIM_INFINITY, libc::RLIM_INFINITY));
        let u = Ulimit::parse("core=0:-1").unwrap();
        assert_eq!((u.soft, u.hard), (Some(0), None));
        assert_eq!(u.to_string(), "core=0:-1");
    }

    #[test]
    fn bad_values_are_refused_with_the_fix() {
        for bad in [
            "nofile",
            "nofile=",
            "nofile=a",
            "nofile=1:x",
            "nofile=-2",
            "=5",
        ] {
            assert!(Ulimit::parse(bad).is_err(), "{bad}");
        }
        let e = Ulimit::parse("files=10").unwrap_err().to_string();
        assert!(
            e.contains("unknown resource \"files\"") && e.contains("nofile"),
            "{e}"
        );
        let e = Ulimit::parse("nofile=200:100").unwrap_err().to_string();
        assert!(
            e.contains("soft limit 200 is above the hard limit 100"),
            "{e}"
        );
        assert!(Ulimit::parse("nofile=-1:100").is_err());
    }

    #[test]
    fn a_hard_limit_above_the_callers_is_flagged() {
        let u = Ulimit::parse("nofile=10:20").unwrap();
        assert!(u.exceeds(19));
        assert!(!u.exceeds(20));
        assert!(!u.exceeds(libc::RLIM_INFINITY));
        assert!(Ulimit::parse("nofile=-1").unwrap().exceeds(1 << 20));
    }
}
