//! A TCP socket of a process, described from `/proc`: the descriptor's
//! link names the socket's inode (`socket:[12345]`), and the process's
//! view of `/proc/net/tcp` and `tcp6` gives that socket's local and peer
//! addresses, its state, and the bytes queued each way in the kernel.

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
    ["tcp", "tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines()
            .skip(1)
            .find_map(|line| parse_line(line, &inode))
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
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{accepted:?}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
