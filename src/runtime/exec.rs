//! `exec`: run another process in a running container. The caller joins
//! the container's namespaces itself (it owns the user namespace, so it
//! holds every capability there), forks a child inside the container's
//! pid namespace, and that child is confined exactly as the container's
//! own process was before it execs.

use std::ffi::CString;
use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{ForkResult, fork};

use super::process::{
    EXIT_ENGINE, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, fail, find_program, print_report,
    read_report, reap,
};
use super::spec::DEFAULT_PATH;
use super::tty;
pub use super::types::ExecContext;
use super::user::resolve_user;
use crate::confine::{CapSet, Filter};

/// What the user asked `exec` for.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub args: Vec<String>,
    /// `-e` values (already `K=V`), applied over the container's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stdin: bool,
    pub tty: bool,
    pub winsize: Option<tty::WinSize>,
    /// `-d`: return once the command runs; it lives on in the container
    /// (adopted by the container's pid 1), its output discarded.
    pub detach: bool,
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

/// Run `req` in the container whose pid 1 is host pid `pid`; returns the
/// command's exit code (125/126/127 as `run`). Single-threaded callers
/// only: joining a user namespace requires it.
pub fn exec_in(pid: i32, ctx: &ExecContext, filter: Option<&Filter>, req: &ExecRequest) -> i32 {
    let mut fds = Vec::new();
    for (name, flag) in NAMESPACES {
        match File::open(format!("/proc/{pid}/ns/{name}")) {
            Ok(f) => fds.push((name, flag, f)),
            Err(e) => {
                eprintln!("Error: cannot open the container's {name} namespace: {e}");
                return EXIT_ENGINE;
            }
        }
    }
    for (name, flag, f) in &fds {
        if let Err(e) = setns(f.as_fd(), *flag) {
            eprintln!("Error: cannot join the container's {name} namespace: {e}");
            return EXIT_ENGINE;
        }
    }
    // Root of the user namespace now, as the container's own setup was.
    if let Err(e) = nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .and_then(|()| nix::unistd::setresuid(0.into(), 0.into(), 0.into()))
    {
        eprintln!("Error: cannot become root in the container's user namespace: {e}");
        return EXIT_ENGINE;
    }
    let console = match tty::console_socket(req.tty) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: cannot create a socket for the terminal: {e}");
            return EXIT_ENGINE;
        }
    };
    let (read_end, write_end) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: cannot create a pipe: {e}");
            return EXIT_ENGINE;
        }
    };
    let mut blocked = SigSet::empty();
    for s in crate::ipc::signals::FORWARDED {
        blocked.add(s);
    }
    let old = blocked.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK);
    let old = match old {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: cannot block signals: {e}");
            return EXIT_ENGINE;
        }
    };
    // SAFETY: single-threaded caller.
    match unsafe { fork() } {
        Err(e) => {
            eprintln!("Error: cannot fork: {e}");
            EXIT_ENGINE
        }
        Ok(ForkResult::Child) => {
            drop(read_end);
            let console = console.map(|(_, theirs)| theirs);
            child(ctx, filter, req, write_end, console, &old)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write_end);
            CHILD.store(child.as_raw(), Ordering::SeqCst);
            let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, blocked);
            for s in crate::ipc::signals::FORWARDED {
                if s == Signal::SIGWINCH && req.tty {
                    // The relay resizes the command's terminal instead.
                    tty::watch_resizes();
                    continue;
                }
                // SAFETY: the handler only reads an atomic and calls kill(2).
                let _ = unsafe { sigaction(s, &action) };
            }
            let _ = old.thread_set_mask();
            if let Some((ours, theirs)) = console {
                drop(theirs);
                if let Ok(Some(master)) = crate::ipc::fdpass::recv_fd(ours.as_fd())
                    && let Err(e) = tty::relay(&master, req.stdin)
                {
                    eprintln!("Error: relaying the terminal: {e}");
                }
            }
            let report = read_report(read_end);
            if req.detach && report.is_none() {
                return 0;
            }
            let code = reap(child);
            print_report(report);
            code
        }
    }
}

fn child(
    ctx: &ExecContext,
    filter: Option<&Filter>,
    req: &ExecRequest,
    report: OwnedFd,
    console: Option<OwnedFd>,
    old_mask: &SigSet,
) -> ! {
    if req.detach {
        // Nothing of the caller's stays: it returns once we exec.
        match nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty()) {
            // SAFETY: dup2 onto stdio.
            Ok(null) => unsafe {
                libc::dup2(null.as_raw_fd(), 0);
                libc::dup2(null.as_raw_fd(), 1);
                libc::dup2(null.as_raw_fd(), 2);
            },
            Err(e) => fail(&report, EXIT_ENGINE, &format!("cannot open /dev/null: {e}")),
        }
    } else if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        fail(&report, EXIT_ENGINE, "cannot set the parent-death signal");
    }
    if req.tty {
        let Some(sock) = console else {
            fail(&report, EXIT_ENGINE, "no socket for the terminal");
        };
        match tty::open_in_container(req.winsize) {
            Ok(master) => {
                if let Err(e) = crate::ipc::fdpass::send_fd(sock.as_fd(), master.as_fd()) {
                    fail(
                        &report,
                        EXIT_ENGINE,
                        &format!("cannot pass the terminal: {e}"),
                    );
                }
            }
            Err(e) => fail(
                &report,
                EXIT_ENGINE,
                &format!("cannot open a terminal: {e}"),
            ),
        }
    } else {
        if !req.stdin {
            match nix::fcntl::open("/dev/null", OFlag::O_RDONLY, nix::sys::stat::Mode::empty()) {
                // SAFETY: dup2 onto stdin.
                Ok(null) => unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                },
                Err(e) => fail(&report, EXIT_ENGINE, &format!("cannot open /dev/null: {e}")),
            }
        }
        let _ = nix::unistd::setsid();
    }
    let read = |path: &str| fs::read_to_string(path).ok();
    let user_spec = req.user.clone().unwrap_or_else(|| ctx.user.clone());
    let user = match resolve_user(
        &user_spec,
        read("/etc/passwd").as_deref(),
        read("/etc/group").as_deref(),
    ) {
        Ok(u) => u,
        Err(e) => fail(&report, EXIT_ENGINE, &e.to_string()),
    };
    let mut env = ctx.env.clone();
    for kv in &req.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let cwd = req.workdir.clone().unwrap_or_else(|| ctx.cwd.clone());
    if let Err(e) = nix::unistd::chdir(cwd.as_str()) {
        fail(
            &report,
            EXIT_ENGINE,
            &format!("cannot enter the working directory {cwd}: {e}"),
        );
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let Some(name) = req.args.first() else {
        fail(&report, EXIT_ENGINE, "no command to run");
    };
    let program = match find_program(name, &path) {
        Ok(p) => p,
        Err((code, msg)) => fail(&report, code, &msg),
    };
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let prepared: Result<(CString, Vec<CString>, Vec<CString>), String> = (|| {
        Ok((
            to_c(&program.to_string_lossy())?,
            req.args.iter().map(|a| to_c(a)).collect::<Result<_, _>>()?,
            env.iter().map(|a| to_c(a)).collect::<Result<_, _>>()?,
        ))
    })();
    let (prog, args, envp) = match prepared {
        Ok(p) => p,
        Err(msg) => fail(&report, EXIT_ENGINE, &msg),
    };
    // SAFETY: only sets close-on-exec flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if !user_spec.is_empty()
        && let Err(e) = super::process::switch_user(&user)
    {
        fail(&report, EXIT_ENGINE, &e);
    }
    if let Err(e) = crate::confine::apply(&CapSet::from_mask(ctx.caps)) {
        fail(&report, EXIT_ENGINE, &e.to_string());
    }
    let confined = match filter {
        Some(f) => crate::confine::install(f),
        None => crate::confine::set_no_new_privs(),
    };
    if let Err(e) = confined {
        fail(&report, EXIT_ENGINE, &e.to_string());
    }
    let _ = old_mask.thread_set_mask();
    let err = match nix::unistd::execve(&prog, &args, &envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let code = if err == Errno::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_NOT_EXECUTABLE
    };
    fail(
        &report,
        code,
        &format!("{name:?}: {}", err.desc().to_lowercase()),
    )
}
