//! The few rtnetlink requests user networks need: a bridge, a veth pair
//! whose peer lands in another network namespace, a master and the up flag,
//! an IPv4 address. Each request is sent on a NETLINK_ROUTE socket, which
//! acts in the network namespace the calling process was in when it opened
//! the socket, and waits for the kernel's acknowledgement.
//!
//! Written against the kernel's stable ABI (`linux/rtnetlink.h`,
//! `linux/if_link.h`, `linux/veth.h`): six message shapes are less code than
//! the glue a general netlink crate would need, and nothing here is async.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;
/// `VETH_INFO_PEER` of linux/veth.h.
const VETH_INFO_PEER: u16 = 1;

/// A NETLINK_ROUTE socket of the current network namespace.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// A netlink message under construction: header, fixed part, attributes.
struct Message {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Message {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Message {
        let mut buf = vec![0u8; NLMSG_HDR];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        let flags = flags | libc::NLM_F_REQUEST as u16 | libc::NLM_F_ACK as u16;
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(fixed);
        Message {
            buf,
            nests: Vec::new(),
        }
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Message {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn attr_str(&mut self, kind: u16, s: &str) -> &mut Message {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    fn attr_u32(&mut self, kind: u16, v: u32) -> &mut Message {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// Open a nested attribute; its length is set by [`Message::end`].
    fn begin(&mut self, kind: u16) -> &mut Message {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self
    }

    fn raw(&mut self, data: &[u8]) -> &mut Message {
        self.buf.extend_from_slice(data);
        self
    }

    fn end(&mut self) -> &mut Message {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// `struct ifinfomsg` with `index`, and `flags` under `change`.
fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; IFINFOMSG] {
    let mut m = [0u8; IFINFOMSG];
    m[0] = libc::AF_UNSPEC as u8;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// A request to create interface `name` of `kind` with `flags` set, left
/// inside its open IFLA_LINKINFO nest for kind-specific data.
fn new_link(name: &str, kind: &str, flags: u32) -> Message {
    let mut m = Message::new(
        libc::RTM_NEWLINK,
        (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
        &ifinfomsg(0, flags, flags),
    );
    m.attr_str(libc::IFLA_IFNAME, name)
        .begin(libc::IFLA_LINKINFO)
        .attr_str(libc::IFLA_INFO_KIND, kind);
    m
}

/// The index of interface `name` in the current network namespace.
pub fn index_of(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: a valid C string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network interface {name}"),
        )),
        i => Ok(i),
    }
}

impl Netlink {
    /// A socket acting in the caller's current network namespace.
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor of ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 0 })
    }

    /// Send `msg` and wait for the kernel's answer to it.
    fn request(&mut self, msg: &mut Message) -> io::Result<()> {
        self.seq += 1;
        let seq = self.seq;
        let bytes = msg.finish(seq);
        // SAFETY: sending our buffer to the kernel (the default address).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 8192];
        loop {
            // SAFETY: receiving into our buffer.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut at = 0usize;
            let n = n as usize;
            while at + NLMSG_HDR <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or([0; 4]));
                let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                let their_seq =
                    u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap_or([0; 4]));
                if len < NLMSG_HDR as u32 {
                    return Err(io::Error::other("malformed netlink answer"));
                }
                if kind == libc::NLMSG_ERROR as u16 && their_seq == seq && at + NLMSG_HDR + 4 <= n {
                    let code = i32::from_ne_bytes(
                        buf[at + NLMSG_HDR..at + NLMSG_HDR + 4]
                            .try_into()
                            .unwrap_or([0; 4]),
                    );
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                at += align4(len as usize);
            }
        }
    }

    /// Create bridge `name`, up; an existing one is kept.
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut m = new_link(name, "bridge", libc::IFF_UP as u32);
        m.end();
        match self.request(&mut m) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Create the veth pair `name` (here) and `peer` (in the network
    /// namespace `peer_netns`).
    pub fn create_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_netns: BorrowedFd<'_>,
    ) -> io::Result<()> {
        let mut m = new_link(name, "veth", 0);
        m.begin(libc::IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .raw(&ifinfomsg(0, 0, 0))
            .attr_str(libc::IFLA_IFNAME, peer)
            .attr_u32(libc::IFLA_NET_NS_FD, peer_netns.as_raw_fd() as u32)
            .end()
            .end()
            .end();
        self.request(&mut m)
    }

    /// Delete interface `name`; one that does not exist is no error.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let index = match index_of(name) {
            Ok(i) => i,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let fixed = ifinfomsg(index as i32, 0, 0);
        let mut m = Message::new(libc::RTM_DELLINK, 0, &fixed);
        match self.request(&mut m) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// Bring interface `name` up, enslaved to `master` if given.
    pub fn set_up(&mut self, name: &str, master: Option<&str>) -> io::Result<()> {
        let index = index_of(name)?;
        let master = master.map(index_of).transpose()?;
        let fixed = ifinfomsg(index as i32, libc::IFF_UP as u32, libc::IFF_UP as u32);
        let mut m = Message::new(libc::RTM_NEWLINK, 0, &fixed);
        if let Some(master) = master {
            m.attr_u32(libc::IFLA_MASTER, master);
        }
        self.request(&mut m)
    }

    /// Give interface `name` the address `addr/prefix`.
    pub fn add_ipv4(&mut self, name: &str, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let index = index_of(name)?;
        let mut fixed = [0u8; IFADDRMSG];
        fixed[0] = libc::AF_INET as u8;
        fixed[1] = prefix;
        fixed[3] = libc::RT_SCOPE_UNIVERSE;
        fixed[4..8].copy_from_slice(&index.to_ne_bytes());
        let mut m = Message::new(
            libc::RTM_NEWADDR,
            (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            &fixed,
        );
        m.attr(libc::IFA_LOCAL, &addr.octets())
            .attr(libc::IFA_ADDRESS, &addr.octets());
        let bcast = u32::from(addr) | (u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0));
        if prefix < 31 {
            m.attr(libc::IFA_BROADCAST, &Ipv4Addr::from(bcast).octets());
        }
        self.request(&mut m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_laid_out_as_the_kernel_reads_them() {
        let mut m = Message::new(libc::RTM_NEWLINK, 0, &ifinfomsg(7, 1, 1));
        m.attr_str(libc::IFLA_IFNAME, "br0")
            .begin(libc::IFLA_LINKINFO)
            .attr_str(libc::IFLA_INFO_KIND, "bridge")
            .end();
        let b = m.finish(9).to_vec();
        assert_eq!(
            b.len() as u32,
            u32::from_ne_bytes(b[0..4].try_into().unwrap())
        );
        assert_eq!(b.len() % 4, 0);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 9);
        // IFLA_IFNAME "br0\0": length 8, then the nest holding "bridge\0"
        // (4 + 7, padded to 12): a 16-byte attribute.
        let a = NLMSG_HDR + IFINFOMSG;
        assert_eq!(u16::from_ne_bytes([b[a], b[a + 1]]), 8);
        assert_eq!(&b[a + 4..a + 8], b"br0\0");
        assert_eq!(u16::from_ne_bytes([b[a + 8], b[a + 9]]), 4 + 12);
        assert_eq!(b.len(), a + 8 + 16);
    }

    /// In a user and network namespace of this test's own (a forked child,
    /// which may unshare them unprivileged): a bridge, a veth pair with its
    /// peer moved into a second namespace, an address.
    #[test]
    fn builds_a_bridge_and_a_veth_pair_in_namespaces_of_its_own() {
        use nix::sched::{CloneFlags, unshare};
        // SAFETY: the child only makes system calls and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let result = (|| -> Result<(), String> {
                    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("unshare: {e}"))?;
                    let first =
                        std::fs::File::open("/proc/self/ns/net").map_err(|e| e.to_string())?;
                    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare net: {e}"))?;
                    let second =
                        std::fs::File::open("/proc/self/ns/net").map_err(|e| e.to_string())?;
                    nix::sched::setns(&first, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("setns: {e}"))?;
                    let mut nl = Netlink::open().map_err(|e| e.to_string())?;
                    nl.create_bridge("bt0")
                        .map_err(|e| format!("bridge: {e}"))?;
                    nl.create_bridge("bt0")
                        .map_err(|e| format!("bridge again: {e}"))?;
                    use std::os::fd::AsFd;
                    nl.create_veth("vt0", "eth9", second.as_fd())
                        .map_err(|e| format!("veth: {e}"))?;
                    nl.set_up("vt0", Some("bt0"))
                        .map_err(|e| format!("up: {e}"))?;
                    if index_of("eth9").is_ok() {
                        return Err("the peer stayed here".into());
                    }
                    nix::sched::setns(&second, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("setns 2: {e}"))?;
                    let mut nl2 = Netlink::open().map_err(|e| e.to_string())?;
                    nl2.add_ipv4("eth9", Ipv4Addr::new(10, 89, 0, 2), 24)
                        .map_err(|e| format!("addr: {e}"))?;
                    nl2.set_up("eth9", None).map_err(|e| format!("up 2: {e}"))?;
                    let route = std::fs::read_to_string("/proc/self/net/route")
                        .map_err(|e| e.to_string())?;
                    // 10.89.0.0/24 on eth9 (the address bytes as a native word).
                    if !route.lines().any(|l| l.starts_with("eth9\t0000590A")) {
                        return Err(format!("no route for the address:\n{route}"));
                    }
                    nix::sched::setns(&first, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("setns back: {e}"))?;
                    nl.delete_link("vt0").map_err(|e| format!("delete: {e}"))?;
                    nl.delete_link("vt0")
                        .map_err(|e| format!("delete again: {e}"))?;
                    Ok(())
                })();
                if let Err(e) = result {
                    eprintln!("{e}");
                    // SAFETY: leave the forked test process.
                    unsafe { libc::_exit(1) }
                }
                // SAFETY: as above.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
