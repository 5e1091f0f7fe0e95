//! The media socket: one UDP port for every endpoint, its addresses, the
//! candidates advertised on it, and a way to wake the receive thread out of
//! a blocking receive. The receive thread reads the socket; each worker
//! sends on a handle of its own (`try_clone`: the same socket, so the same
//! port), in batches (`mmsg`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use nix::sys::socket::{setsockopt, sockopt};

use crate::engine::LocalCandidate;

/// RFC 8445 type preferences.
const TYPE_PREF_HOST: u32 = 126;
const TYPE_PREF_SRFLX: u32 = 100;

/// The bound media socket and what it answers as.
#[derive(Debug)]
pub struct MediaSocket {
    socket: UdpSocket,
    local: SocketAddr,
}

impl MediaSocket {
    /// Binds `addr` and asks for socket buffers of the given sizes (0
    /// leaves the system default). A burst of datagrams that arrives while
    /// the receive thread is busy waits in the receive buffer; the kernel
    /// caps the sizes at net.core.rmem_max / wmem_max, which is logged, not
    /// an error.
    pub fn bind(addr: SocketAddr, recv_buffer: usize, send_buffer: usize) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        let local = socket.local_addr()?;
        if recv_buffer > 0
            && let Err(e) = setsockopt(&socket, sockopt::RcvBuf, &recv_buffer)
        {
            tracing::warn!(error = %e, recv_buffer, "cannot set SO_RCVBUF");
        }
        if send_buffer > 0
            && let Err(e) = setsockopt(&socket, sockopt::SndBuf, &send_buffer)
        {
            tracing::warn!(error = %e, send_buffer, "cannot set SO_SNDBUF");
        }
        Ok(MediaSocket { socket, local })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The buffer sizes the kernel granted (it reports twice what it
    /// accounts for payload).
    pub fn buffer_sizes(&self) -> (usize, usize) {
        use nix::sys::socket::getsockopt;
        (
            getsockopt(&self.socket, sockopt::RcvBuf).unwrap_or(0),
            getsockopt(&self.socket, sockopt::SndBuf).unwrap_or(0),
        )
    }

    /// Another handle on the same socket (same port, same buffers).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        self.socket.try_clone()
    }

    /// Where a local sender reaches this socket (the waker's target).
    pub fn loopback_target(&self) -> SocketAddr {
        let ip = match self.local.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.local.port())
    }

    pub fn into_socket(self) -> UdpSocket {
        self.socket
    }
}

/// v4-mapped IPv6 to plain IPv4.
pub fn normalise(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Wakes the receive thread by sending it an empty datagram from a loopback
/// socket; the thread knows the waker's port and ignores such datagrams
/// (shutdown uses it to be noticed at once).
#[derive(Debug)]
pub struct Waker {
    socket: UdpSocket,
    local: SocketAddr,
}

impl Waker {
    pub fn new(target: SocketAddr) -> io::Result<Self> {
        let bind: SocketAddr = if target.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(target)?;
        let local = normalise(socket.local_addr()?);
        socket.set_nonblocking(true)?;
        Ok(Waker { socket, local })
    }

    pub fn wake(&self) {
        // A full socket buffer means the thread has plenty to read and will
        // look at its stop flag soon anyway, so a failed send is harmless.
        let _ = self.socket.send(&[]);
    }

    /// The port wake-ups come from.
    pub fn port(&self) -> u16 {
        self.local.port()
    }
}

/// The addresses to advertise: the configured local addresses, else the
/// bound address, else the address of the default route per family
/// (found with a connected UDP socket, which sends nothing), else loopback.
pub fn local_addresses(configured: &[IpAddr], bound: IpAddr) -> Vec<IpAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    if !bound.is_unspecified() {
        return vec![bound];
    }
    let mut found = Vec::new();
    let probes: [(SocketAddr, SocketAddr); 2] = [
        (
            (Ipv4Addr::UNSPECIFIED, 0).into(),
            ([192, 0, 2, 1], 9).into(),
        ),
        (
            (Ipv6Addr::UNSPECIFIED, 0).into(),
            (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into(),
        ),
    ];
    for (bind, probe) in probes {
        // An IPv4-only bind cannot reach IPv6 peers and vice versa.
        if bound.is_ipv4() && probe.is_ipv6() {
            continue;
        }
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        if s.connect(probe).is_ok()
            && let Ok(a) = s.local_addr()
            && !a.ip().is_unspecified()
            && !a.ip().is_loopback()
        {
            found.push(a.ip());
        }
    }
    if found.is_empty() {
        found.push(match bound {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    found
}

/// RFC 8445 §5.1.2.1 priority for component 1.
fn priority(type_pref: u32, local_pref: u32) -> u32 {
    (type_pref << 24) | ((local_pref & 0xffff) << 8) | 255
}

/// Host candidates on the shared port for each local address, then an
/// srflx candidate for the NAT's public address (based on the first local
/// address of the same family).
pub fn candidates(locals: &[IpAddr], public: Option<IpAddr>, port: u16) -> Vec<LocalCandidate> {
    let mut out = Vec::with_capacity(locals.len() + 1);
    for (i, ip) in locals.iter().enumerate() {
        let local_pref = 65535u32.saturating_sub(u32::try_from(i).unwrap_or(u32::MAX));
        out.push(LocalCandidate {
            addr: SocketAddr::new(*ip, port),
            typ: "host",
            related: None,
            priority: priority(TYPE_PREF_HOST, local_pref),
            foundation: (i + 1).to_string(),
        });
    }
    if let Some(public) = public
        && !locals.contains(&public)
        && let Some(base) = locals.iter().find(|l| l.is_ipv4() == public.is_ipv4())
    {
        out.push(LocalCandidate {
            addr: SocketAddr::new(public, port),
            typ: "srflx",
            related: Some(SocketAddr::new(*base, port)),
            priority: priority(TYPE_PREF_SRFLX, 65535),
            foundation: (locals.len() + 1).to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_nat_settings() {
        let locals: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
        let c = candidates(&locals, Some("203.0.113.9".parse().unwrap()), 10000);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].addr, "10.0.0.5:10000".parse().unwrap());
        assert_eq!(c[0].priority, 2130706431);
        assert!(c[1].priority < c[0].priority);
        assert_eq!(c[2].typ, "srflx");
        assert_eq!(c[2].related, Some("10.0.0.5:10000".parse().unwrap()));
        assert_eq!(c[2].priority, 1694498815);
        // The public address equal to a local one adds nothing.
        assert_eq!(candidates(&locals, Some(locals[0]), 1).len(), 2);
    }

    #[test]
    fn addresses_prefer_configuration() {
        let cfg: Vec<IpAddr> = vec!["192.0.2.7".parse().unwrap()];
        assert_eq!(local_addresses(&cfg, "0.0.0.0".parse().unwrap()), cfg);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(local_addresses(&[], lo), vec![lo]);
        assert!(!local_addresses(&[], "0.0.0.0".parse().unwrap()).is_empty());
    }

    #[test]
    fn buffers_are_asked_for() {
        let s = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), 1 << 20, 1 << 20).unwrap();
        let (r, w) = s.buffer_sizes();
        // Granted up to the system's cap; never below the default here.
        assert!(r > 0 && w > 0);
        let clone = s.try_clone().unwrap();
        assert_eq!(clone.local_addr().unwrap(), s.local_addr());
    }

    #[test]
    fn v4_mapped_sources_are_normalised() {
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:5".parse().unwrap();
        assert_eq!(normalise(mapped), "192.0.2.1:5".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:5".parse().unwrap();
        assert_eq!(normalise(v6), v6);
    }
}
