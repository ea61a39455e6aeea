//! A TCP socket of a process, described from `/proc`: the descriptor's
//! link names the socket's inode (`socket:[12345]`), and the process's
//! view of `/proc/net/tcp` and `tcp6` gives that socket's local and peer
//! addresses, its state, and the bytes queued each way in the kernel.
//! The socket's own `TCP_INFO` (read through a duplicate of the
//! descriptor when the process is another one) adds the bytes received
//! over its life and how long ago the last one came.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the kernel says of one TCP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpSocket {
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    /// A listening socket (state `0A`).
    pub(crate) listening: bool,
    /// Bytes received and not yet read by the program.
    pub(crate) unread: u64,
    /// Bytes written by the program and not yet sent or acknowledged.
    pub(crate) unsent: u64,
    /// What the socket's `TCP_INFO` says, when it could be read.
    pub(crate) traffic: Option<Traffic>,
}

/// A connected socket's traffic over its life, from `TCP_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traffic {
    /// Bytes received (acknowledged to the peer) since it was opened.
    pub(crate) received: u64,
    /// How long ago the last byte was received (or the connection was
    /// made, if none was), in milliseconds.
    pub(crate) last_received_ms: u32,
}

/// The TCP socket behind descriptor `fd` of process `pid`, if it is one
/// and `/proc` says.
pub(crate) fn tcp_socket(pid: u32, fd: i32) -> Option<TcpSocket> {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let inode = link
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .to_owned();
    let mut socket = ["tcp", "tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines()
            .skip(1)
            .find_map(|line| parse_line(line, &inode))
    })?;
    if !socket.listening {
        socket.traffic = traffic(pid, fd);
    }
    Some(socket)
}

/// The `TCP_INFO` of descriptor `fd` of process `pid`: this process's own
/// descriptor, or a duplicate taken with `pidfd_getfd` (which needs the
/// same permission as reading the process's memory; `None` without it,
/// or on kernels before 5.6).
fn traffic(pid: u32, fd: i32) -> Option<Traffic> {
    with_fd(pid, fd, tcp_info)
}

/// `read(fd)` on descriptor `fd` of process `pid`: this process's own, or
/// a duplicate taken with `pidfd_getfd` and closed after.
fn with_fd<R>(pid: u32, fd: i32, read: impl FnOnce(i32) -> Option<R>) -> Option<R> {
    if pid == std::process::id() {
        return read(fd);
    }
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: plain syscalls on integers; each descriptor made here is
    // closed here.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if pidfd < 0 {
            return None;
        }
        let pidfd = pidfd as libc::c_int;
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0);
        libc::close(pidfd);
        if dup < 0 {
            return None;
        }
        let dup = dup as libc::c_int;
        let read = read(dup);
        libc::close(dup);
        read
    }
}

/// What the kernel says of one Unix-domain stream socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnixSocket {
    /// Its own path, if it is bound to one.
    pub(crate) local: Option<String>,
    /// The peer's path, if the peer is bound to one.
    pub(crate) peer: Option<String>,
    /// Bytes received and not yet read by the program.
    pub(crate) unread: u64,
}

/// The Unix-domain socket behind descriptor `fd` of process `pid`, if it
/// is one and its descriptor can be had (see [`with_fd`]).
pub(crate) fn unix_socket(pid: u32, fd: i32) -> Option<UnixSocket> {
    with_fd(pid, fd, |fd| {
        let local = unix_address(fd, libc::getsockname)?;
        let peer = unix_address(fd, libc::getpeername).flatten();
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut unread) };
        Some(UnixSocket {
            local,
            peer,
            unread: if ok == 0 {
                u64::try_from(unread).unwrap_or(0)
            } else {
                0
            },
        })
    })
}

/// The path of a Unix-domain socket's address read by `get`
/// (`getsockname`, `getpeername`): `None` if `fd` is not one, `Some(None)`
/// for an unnamed or abstract address.
fn unix_address(
    fd: i32,
    get: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> Option<Option<String>> {
    // SAFETY: the kernel writes at most `len` bytes of the address.
    let (address, len) = unsafe {
        let mut address: libc::sockaddr_un = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if get(fd, (&raw mut address).cast(), &mut len) != 0 {
            return None;
        }
        (address, len as usize)
    };
    if i32::from(address.sun_family) != libc::AF_UNIX {
        return None;
    }
    let offset = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    let path: Vec<u8> = address.sun_path[..len.saturating_sub(offset).min(address.sun_path.len())]
        .iter()
        .map(|&c| c as u8)
        .take_while(|&c| c != 0)
        .collect();
    Some((!path.is_empty()).then(|| String::from_utf8_lossy(&path).into_owned()))
}

/// The `TCP_INFO` of this process's descriptor `fd`, if it is a TCP
/// socket.
fn tcp_info(fd: i32) -> Option<Traffic> {
    // SAFETY: `tcp_info` is plain integers; the kernel writes at most
    // `len` bytes into it and says how many.
    let (info, len) = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let ok = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        if ok != 0 {
            return None;
        }
        (info, len as usize)
    };
    // `tcpi_bytes_received` came with Linux 4.1: an older kernel writes
    // less.
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8;
    (len >= needed).then_some(Traffic {
        received: info.tcpi_bytes_received,
        last_received_ms: info.tcpi_last_data_recv,
    })
}

/// The socket of one `/proc/net/tcp` line, if its inode is `inode`.
fn parse_line(line: &str, inode: &str) -> Option<TcpSocket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(9) != Some(&inode) {
        return None;
    }
    let (tx, rx) = fields.get(4)?.split_once(':')?;
    Some(TcpSocket {
        local: address(fields.get(1)?)?,
        peer: address(fields.get(2)?)?,
        listening: *fields.get(3)? == "0A",
        unsent: u64::from_str_radix(tx, 16).ok()?,
        unread: u64::from_str_radix(rx, 16).ok()?,
        traffic: None,
    })
}

/// `0100007F:18EB` (IPv4) or 32 hex digits and a port (IPv6): each 32-bit
/// word in the kernel's byte order, which on Linux's little-endian hosts
/// reverses the bytes of each word.
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            let v6 = Ipv6Addr::from(octets);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_net_tcp_line_reads_as_its_socket() {
        let line = "   1: 0100007F:18FF 0100007F:C8A4 01 00000000:0000000E 00:00000000 00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1";
        let socket = parse_line(line, "123456").unwrap();
        assert_eq!(socket.local, "127.0.0.1:6399".parse().unwrap());
        assert_eq!(socket.peer, "127.0.0.1:51364".parse().unwrap());
        assert_eq!(
            (socket.unread, socket.unsent, socket.listening),
            (14, 0, false)
        );
        assert!(parse_line(line, "999").is_none());
        let v6 = "   0: 00000000000000000000000000000000:18FF 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1";
        let listening = parse_line(v6, "777").unwrap();
        assert!(listening.listening);
        assert_eq!(listening.local, "[::]:6399".parse().unwrap());
    }

    #[test]
    fn a_unix_socket_says_its_paths_and_unread_bytes() {
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("ai-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let (server, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut client, b"12345").unwrap();
        let seen = unix_socket(std::process::id(), server.as_raw_fd()).unwrap();
        assert_eq!(seen.local.as_deref(), path.to_str());
        assert_eq!((seen.peer, seen.unread), (None, 5));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(unix_socket(std::process::id(), tcp.as_raw_fd()).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_socket_of_this_process_is_found_by_its_descriptor() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut &client, b"half a fr").unwrap();
        let pid = std::process::id();
        let seen = tcp_socket(pid, listener.as_raw_fd()).unwrap();
        assert!(seen.listening);
        assert_eq!(seen.local, listener.local_addr().unwrap());
        // The kernel has the bytes until the server reads them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let accepted = tcp_socket(pid, server.as_raw_fd()).unwrap();
            assert_eq!(accepted.peer, client.local_addr().unwrap());
            if accepted.unread == 9 {
                let traffic = accepted.traffic.expect("TCP_INFO of our own socket");
                assert_eq!(traffic.received, 9);
                assert!(traffic.last_received_ms < 60_000, "{traffic:?}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{accepted:?}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
