//! Seccomp filters: a default allowlist of the same scope as Docker's and
//! Podman's default profile, and Docker-format JSON profiles.
//!
//! seccompiler compiles a filter with one action for matches and one for
//! misses, while profiles give each rule its own action. A profile is
//! therefore compiled to a stack of filters, one per action, installed in
//! order. The kernel runs every installed filter and keeps the most
//! restrictive action (KILL > TRAP > ERRNO > TRACE > LOG > ALLOW); among equal
//! actions the most recently installed filter's data wins, which is how a
//! rule's errno (clone3 → ENOSYS) overrides the default action's EPERM.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ::caps::Capability;
use seccompiler::{BpfProgram, TargetArch};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ConfineError;
use super::caps::CapSet;

/// What `--security-opt seccomp=...` selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompMode {
    Default,
    Unconfined,
    Profile(PathBuf),
}

/// One `--security-opt` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOpt {
    Seccomp(SeccompMode),
    /// no_new_privs is always set (seccomp requires it unprivileged); the
    /// option is accepted for Docker compatibility.
    NoNewPrivileges,
}

/// Parses `seccomp=unconfined`, `seccomp=PATH` (also `seccomp:...`) and
/// `no-new-privileges[=true|:true]` (`=false` is refused: see
/// [`ConfineError::NoNewPrivsFalse`]).
pub fn parse_security_opt(s: &str) -> Result<SecurityOpt, ConfineError> {
    let unsupported = || ConfineError::SecurityOpt(s.to_string());
    let (key, value) = match s.split_once(['=', ':']) {
        Some((k, v)) => (k, Some(v)),
        None => (s, None),
    };
    match (key, value) {
        ("seccomp", Some("unconfined")) => Ok(SecurityOpt::Seccomp(SeccompMode::Unconfined)),
        ("seccomp", Some("")) | ("seccomp", None) => Err(unsupported()),
        ("seccomp", Some(path)) => Ok(SecurityOpt::Seccomp(SeccompMode::Profile(PathBuf::from(
            path,
        )))),
        ("no-new-privileges", None | Some("true")) => Ok(SecurityOpt::NoNewPrivileges),
        ("no-new-privileges", Some("false")) => Err(ConfineError::NoNewPrivsFalse),
        _ => Err(unsupported()),
    }
}

/// A compiled filter: BPF programs to install in order (possibly none, for a
/// profile that allows everything).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    programs: Vec<BpfProgram>,
    /// Syscall names the profile gave that this architecture lacks.
    ignored: Vec<String>,
}

impl Filter {
    /// Number of BPF instructions over all programs.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }
}

/// Builds the filter `mode` asks for, or None for `unconfined`. Call it
/// before entering the container (a profile path names a host file, and
/// compiling allocates): the result is plain data the init process can
/// install after fork.
pub fn prepare(mode: &SeccompMode, caps: &CapSet) -> Result<Option<Filter>, ConfineError> {
    prepare_with(mode, caps, compile)
}

/// [`prepare`], keeping compiled filters in `cache_dir` (a per-user runtime
/// directory): compiling the default profile is a tenth of a container
/// start, and the same few filters are asked for again and again.
pub fn prepare_cached(
    mode: &SeccompMode,
    caps: &CapSet,
    cache_dir: &std::path::Path,
) -> Result<Option<Filter>, ConfineError> {
    prepare_with(mode, caps, |profile| {
        cache::compile_cached(profile, cache_dir, compile)
    })
}

fn prepare_with(
    mode: &SeccompMode,
    caps: &CapSet,
    compile: impl FnOnce(Profile) -> Result<Filter, ConfineError>,
) -> Result<Option<Filter>, ConfineError> {
    match mode {
        SeccompMode::Unconfined => Ok(None),
        SeccompMode::Default => compile(default_profile(caps)).map(Some),
        SeccompMode::Profile(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfineError::ProfileRead {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            docker_profile(&text, caps)
                .and_then(compile)
                .map(Some)
                .map_err(|e| match e {
                    ConfineError::ProfileSyntax {
                        line,
                        column,
                        reason,
                    } => ConfineError::ProfileFileSyntax {
                        path: path.clone(),
                        line,
                        column,
                        reason,
                    },
                    other => other,
                })
        }
    }
}

/// Sets no_new_privs, then installs the filter on the calling thread. Run it
/// in the single-threaded init process as the last step before execve.
pub fn install(filter: &Filter) -> Result<(), ConfineError> {
    set_no_new_privs()?;
    for p in &filter.programs {
        seccompiler::apply_filter(p).map_err(|e| ConfineError::Install(e.to_string()))?;
    }
    Ok(())
}

/// Sets no_new_privs alone (for `seccomp=unconfined`).
pub fn set_no_new_privs() -> Result<(), ConfineError> {
    rustix::thread::set_no_new_privs(true).map_err(|e| ConfineError::NoNewPrivs(e.into()))
}

fn target_arch() -> Result<TargetArch, ConfineError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        other => Err(ConfineError::UnsupportedArch(other.to_string())),
    }
}

/// Docker's architecture names, used by `includes`/`excludes`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    Trace(u32),
}

impl Action {
    fn to_json(&self) -> Value {
        match self {
            Action::Allow => json!("allow"),
            Action::Errno(e) => json!({ "errno": e }),
            Action::KillThread => json!("kill_thread"),
            Action::KillProcess => json!("kill_process"),
            Action::Trap => json!("trap"),
            Action::Log => json!("log"),
            Action::Trace(n) => json!({ "trace": n }),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// (arg & mask) == value
    MaskedEq(u64),
}

#[derive(Debug, Clone, PartialEq)]
struct Cond {
    index: u8,
    op: Op,
    value: u64,
}

impl Cond {
    fn to_json(&self) -> Value {
        let op = match &self.op {
            Op::Eq => json!("eq"),
            Op::Ne => json!("ne"),
            Op::Lt => json!("lt"),
            Op::Le => json!("le"),
            Op::Gt => json!("gt"),
            Op::Ge => json!("ge"),
            Op::MaskedEq(m) => json!({ "masked_eq": m }),
        };
        json!({ "index": self.index, "type": "qword", "op": op, "val": self.value })
    }
}

/// One rule: its syscalls match (with all `conds` true) and get `action`.
#[derive(Debug, Clone)]
struct Rule {
    names: Vec<String>,
    action: Action,
    conds: Vec<Cond>,
}

/// A profile in the form the compiler works on.
#[derive(Debug, Clone)]
struct Profile {
    default: Action,
    rules: Vec<Rule>,
}

/// Appends one seccompiler JSON filter to `out`. Written by hand rather than
/// through serde_json::Value: building a Value tree for the ~350 rules of
/// the default profile cost more than compiling it.
fn seccompiler_filter(
    out: &mut String,
    key: &str,
    mismatch: &Action,
    matched: &Action,
    rules: &[&Rule],
) {
    use std::fmt::Write;
    // Per syscall: an unconditional rule makes any conditional one moot,
    // and seccompiler would otherwise read the mix as "conditions required".
    let mut per_call: BTreeMap<&str, Option<Vec<&[Cond]>>> = BTreeMap::new();
    for r in rules {
        for n in &r.names {
            let e = per_call
                .entry(n.as_str())
                .or_insert_with(|| Some(Vec::new()));
            match (e.as_mut(), r.conds.is_empty()) {
                (Some(_), true) => *e = None,
                (Some(v), false) => v.push(&r.conds),
                (None, _) => {}
            }
        }
    }
    let _ = write!(
        out,
        r#"{}:{{"mismatch_action":{},"match_action":{},"filter":["#,
        Value::from(key),
        mismatch.to_json(),
        matched.to_json()
    );
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    for (name, conds) in per_call {
        let name = Value::from(name);
        match conds {
            None => {
                sep(out);
                let _ = write!(out, r#"{{"syscall":{name}}}"#);
            }
            Some(sets) => {
                for c in sets {
                    sep(out);
                    let args: Vec<Value> = c.iter().map(Cond::to_json).collect();
                    let _ = write!(out, r#"{{"syscall":{name},"args":{}}}"#, Value::from(args));
                }
            }
        }
    }
    out.push_str("]}");
}

/// Removes `name` from every rule (a syscall this architecture lacks).
fn forget_syscall(p: &mut Profile, name: &str) {
    for r in &mut p.rules {
        r.names.retain(|n| n != name);
    }
    p.rules.retain(|r| !r.names.is_empty());
}

/// The name in seccompiler's "Invalid syscall name: NAME for given arch" error.
fn unknown_syscall(msg: &str) -> Option<&str> {
    let rest = &msg[msg.find("Invalid syscall name: ")? + "Invalid syscall name: ".len()..];
    rest.split(" for given arch").next()
}

fn compile(mut profile: Profile) -> Result<Filter, ConfineError> {
    let arch = target_arch()?;
    let mut ignored = Vec::new();
    loop {
        // Group by action, keeping first-appearance order; allow rules go
        // with the default action in the first filter. A rule repeating a
        // non-allow default still gets its own filter: it may deny
        // something another rule allows.
        let mut groups: Vec<(Action, Vec<&Rule>)> = Vec::new();
        for r in &profile.rules {
            if r.action == Action::Allow && profile.default == Action::Allow {
                continue;
            }
            match groups.iter_mut().find(|(a, _)| *a == r.action) {
                Some((_, v)) => v.push(r),
                None => groups.push((r.action.clone(), vec![r])),
            }
        }
        let mut text = String::with_capacity(16 * 1024);
        text.push('{');
        let mut order: Vec<String> = Vec::new();
        if profile.default != Action::Allow {
            let allowed = groups
                .iter()
                .position(|(a, _)| *a == Action::Allow)
                .map(|i| groups.remove(i).1)
                .unwrap_or_default();
            seccompiler_filter(&mut text, "0", &profile.default, &Action::Allow, &allowed);
            order.push("0".to_string());
        }
        for (action, rules) in &groups {
            let key = order.len().to_string();
            if !order.is_empty() {
                text.push(',');
            }
            seccompiler_filter(&mut text, &key, &Action::Allow, action, rules);
            order.push(key);
        }
        text.push('}');
        match seccompiler::compile_from_json(text.as_bytes(), arch) {
            Ok(mut map) => {
                let programs = order
                    .iter()
                    .map(|k| {
                        map.remove(k)
                            .ok_or_else(|| ConfineError::Compile(format!("filter {k} missing")))
                    })
                    .collect::<Result<_, _>>()?;
                return Ok(Filter { programs, ignored });
            }
            Err(e @ seccompiler::Error::JsonFrontend(_)) => {
                // seccompiler does not export the variant: its message is
                // the only way to learn which name it lacks.
                let msg = e.to_string();
                let name = unknown_syscall(&msg)
                    .filter(|n| profile.rules.iter().any(|r| r.names.iter().any(|x| x == n)))
                    .ok_or_else(|| ConfineError::Compile(msg.clone()))?
                    .to_string();
                // As libseccomp does for syscalls of other architectures.
                log::debug!("seccomp: ignoring syscall {name}, unknown on {arch:?}");
                forget_syscall(&mut profile, &name);
                ignored.push(name);
            }
            Err(e) => return Err(ConfineError::Compile(e.to_string())),
        }
    }
}

// ---------------------------------------------------------------------------
// Default profile

/// Syscalls allowed unconditionally (the scope of moby's
/// profiles/seccomp/default.json); names in [`X86_64_ONLY`] are left out on
/// aarch64.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_adjtime",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_requeue",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
    "arch_prctl",
    "modify_ldt",
];

/// Names in the lists above that only x86_64 has (aarch64 has just the
/// `*at` and newer forms), left out on aarch64 so the profile compiles in
/// one pass.
const X86_64_ONLY: &[&str] = &[
    "access",
    "alarm",
    "arch_prctl",
    "chmod",
    "chown",
    "creat",
    "dup2",
    "epoll_create",
    "epoll_wait",
    "eventfd",
    "fork",
    "futimesat",
    "get_thread_area",
    "getdents",
    "getpgrp",
    "inotify_init",
    "ioperm",
    "iopl",
    "lchown",
    "link",
    "lstat",
    "mkdir",
    "mknod",
    "modify_ldt",
    "open",
    "pause",
    "pipe",
    "poll",
    "readlink",
    "rename",
    "rmdir",
    "select",
    "set_thread_area",
    "signalfd",
    "stat",
    "symlink",
    "time",
    "unlink",
    "utime",
    "utimes",
    "vfork",
];

/// Values of `personality` Docker allows: PER_LINUX, PER_LINUX32,
/// UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff.
const PERSONALITY_VALUES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// AF_VSOCK: Docker blocks it so containers cannot reach the host's vsock.
const AF_VSOCK: u64 = 40;

/// Syscalls the default profile allows only when the process holds the
/// capability, as Docker's `includes.caps` do.
const BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (
        Capability::CAP_SYS_ADMIN,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::CAP_SYS_BOOT, &["reboot"]),
    (Capability::CAP_SYS_CHROOT, &["chroot"]),
    (
        Capability::CAP_SYS_MODULE,
        &["delete_module", "init_module", "finit_module"],
    ),
    (Capability::CAP_SYS_PACCT, &["acct"]),
    (
        Capability::CAP_SYS_PTRACE,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    (Capability::CAP_SYS_RAWIO, &["iopl", "ioperm"]),
    (Capability::CAP_SYS_TIME, &["settimeofday", "clock_settime"]),
    (Capability::CAP_SYS_TTY_CONFIG, &["vhangup"]),
    (
        Capability::CAP_SYS_NICE,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (Capability::CAP_SYSLOG, &["syslog"]),
    (Capability::CAP_BPF, &["bpf"]),
    (Capability::CAP_PERFMON, &["perf_event_open"]),
    (Capability::CAP_DAC_READ_SEARCH, &["open_by_handle_at"]),
];

fn names(list: &[&str]) -> Vec<String> {
    let x86_64 = std::env::consts::ARCH == "x86_64";
    list.iter()
        .filter(|n| x86_64 || !X86_64_ONLY.contains(n))
        .map(|s| s.to_string())
        .collect()
}

fn default_profile(caps: &CapSet) -> Profile {
    let allow = |list: &[&str], conds: Vec<Cond>| Rule {
        names: names(list),
        action: Action::Allow,
        conds,
    };
    let mut rules = vec![allow(ALLOWED, vec![])];
    for v in PERSONALITY_VALUES {
        rules.push(allow(
            &["personality"],
            vec![Cond {
                index: 0,
                op: Op::Eq,
                value: *v,
            }],
        ));
    }
    rules.push(allow(
        &["socket"],
        vec![Cond {
            index: 0,
            op: Op::Ne,
            value: AF_VSOCK,
        }],
    ));
    let sys_admin = caps.contains(Capability::CAP_SYS_ADMIN);
    if !sys_admin {
        // clone's flags are in arg 0 on x86_64 and aarch64.
        rules.push(allow(
            &["clone"],
            vec![Cond {
                index: 0,
                op: Op::MaskedEq(CLONE_NAMESPACE_FLAGS),
                value: 0,
            }],
        ));
        // clone3's flags are behind a pointer seccomp cannot read: make
        // glibc fall back to clone, which the rule above can check.
        rules.push(Rule {
            names: names(&["clone3"]),
            action: Action::Errno(libc::ENOSYS as u32),
            conds: vec![],
        });
    }
    for (cap, list) in BY_CAPABILITY {
        if caps.contains(*cap) {
            rules.push(allow(list, vec![]));
        }
    }
    rules.retain(|r| !r.names.is_empty());
    Profile {
        default: Action::Errno(libc::EPERM as u32),
        rules,
    }
}

/// The default filter for a process holding `caps`.
pub fn default_filter(caps: &CapSet) -> Result<Filter, ConfineError> {
    compile(default_profile(caps))
}

// ---------------------------------------------------------------------------
// Docker JSON profiles

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Vec<DockerSyscall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerSyscall {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<DockerArg>>,
    #[serde(default)]
    includes: Filterset,
    #[serde(default)]
    excludes: Filterset,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filterset {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
}

fn docker_action(name: &str, errno: Option<u32>) -> Result<Action, ConfineError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(libc::EPERM as u32)),
        other => {
            return Err(ConfineError::Profile(format!(
                "unsupported action {other:?}: use SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, \
                 SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE or SCMP_ACT_LOG"
            )));
        }
    })
}

fn docker_arg(a: &DockerArg) -> Result<Cond, ConfineError> {
    let (op, value) = match a.op.as_str() {
        "SCMP_CMP_EQ" => (Op::Eq, a.value),
        "SCMP_CMP_NE" => (Op::Ne, a.value),
        "SCMP_CMP_LT" => (Op::Lt, a.value),
        "SCMP_CMP_LE" => (Op::Le, a.value),
        "SCMP_CMP_GT" => (Op::Gt, a.value),
        "SCMP_CMP_GE" => (Op::Ge, a.value),
        // libseccomp: (arg & value) == valueTwo.
        "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(a.value), a.value_two),
        other => {
            return Err(ConfineError::Profile(format!(
                "unsupported argument operator {other:?}: use SCMP_CMP_EQ, NE, LT, LE, GT, GE or MASKED_EQ"
            )));
        }
    };
    if a.index > 5 {
        return Err(ConfineError::Profile(format!(
            "argument index {} out of range 0-5",
            a.index
        )));
    }
    Ok(Cond {
        index: a.index,
        op,
        value,
    })
}

/// Unknown capability names in a profile count as not held, so such a rule
/// never applies (the caller cannot hold what the kernel does not know).
fn cap_names_held(names: &[String], caps: &CapSet) -> bool {
    names
        .iter()
        .all(|n| super::caps::parse_capability(n).is_some_and(|c| caps.contains(c)))
}

fn cap_names_any_held(names: &[String], caps: &CapSet) -> bool {
    names
        .iter()
        .any(|n| cap_names_held(std::slice::from_ref(n), caps))
}

/// Parses a profile in Docker's format (`--security-opt seccomp=FILE.json`)
/// and compiles it for a process holding `caps`. Rules whose `includes` or
/// `excludes` (capabilities, architectures) do not fit are skipped;
/// `minKernel` is not checked. Syscall names this architecture lacks are
/// ignored, as libseccomp does.
pub fn from_docker_json(text: &str, caps: &CapSet) -> Result<Filter, ConfineError> {
    compile(docker_profile(text, caps)?)
}

fn docker_profile(text: &str, caps: &CapSet) -> Result<Profile, ConfineError> {
    let doc: DockerProfile =
        serde_json::from_str(text).map_err(|e| ConfineError::ProfileSyntax {
            line: e.line(),
            column: e.column(),
            // serde_json appends the position, which the message already has.
            reason: e
                .to_string()
                .rsplit_once(" at line ")
                .map_or_else(|| e.to_string(), |(r, _)| r.to_string()),
        })?;
    let default = docker_action(&doc.default_action, doc.default_errno_ret)?;
    let arch = go_arch();
    let mut rules = Vec::new();
    for s in &doc.syscalls {
        let action = docker_action(&s.action, s.errno_ret)?;
        let conds = s
            .args
            .iter()
            .flatten()
            .map(docker_arg)
            .collect::<Result<Vec<_>, _>>()?;
        if !s.includes.arches.is_empty() && !s.includes.arches.iter().any(|a| a == arch) {
            continue;
        }
        if s.excludes.arches.iter().any(|a| a == arch) {
            continue;
        }
        if !cap_names_held(&s.includes.caps, caps) {
            continue;
        }
        if cap_names_any_held(&s.excludes.caps, caps) {
            continue;
        }
        let mut names = s.names.clone();
        names.extend(s.name.clone());
        if names.is_empty() {
            continue;
        }
        rules.push(Rule {
            names,
            action,
            conds,
        });
    }
    Ok(Profile { default, rules })
}

mod cache;

#[cfg(test)]
mod tests;
