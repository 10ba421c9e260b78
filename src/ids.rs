//! Identities: the random ids of containers and networks, the names users
//! give them, and a process reference that survives pid reuse. Leaf module:
//! records of containers and network members both use it.

use std::fs::{self, File};
use std::io;

use serde::{Deserialize, Serialize};

/// The longest container name (a DNS name's length, as Kubernetes bounds
/// its objects' names).
pub const NAME_MAX: usize = 253;

/// A name Docker would accept: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and at most
/// [`NAME_MAX`] characters.
pub fn valid_name(name: &str) -> bool {
    if name.len() > NAME_MAX {
        return false;
    }
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A new random id (64 hex digits), read from /dev/urandom.
pub fn new_id() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    let mut f = File::open("/dev/urandom")?;
    io::Read::read_exact(&mut f, &mut bytes)?;
    Ok(hex::encode(bytes))
}

/// A process, identified so that a recycled pid or a reboot is noticed:
/// pid, the kernel's start time of that pid, and the boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: i32,
    pub start_time: u64,
    pub boot_id: String,
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Field 22 of /proc/PID/stat (after the parenthesised command name,
/// which may itself contain spaces and parentheses); None for a process
/// that is gone or a zombie (dead, not yet reaped).
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 2..].split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

impl ProcessRef {
    /// The calling process.
    pub fn current() -> Option<ProcessRef> {
        let pid = std::process::id() as i32;
        Some(ProcessRef {
            pid,
            start_time: start_time(pid)?,
            boot_id: boot_id(),
        })
    }

    /// Whether this very process still exists.
    pub fn alive(&self) -> bool {
        self.boot_id == boot_id() && start_time(self.pid) == Some(self.start_time)
    }
}
