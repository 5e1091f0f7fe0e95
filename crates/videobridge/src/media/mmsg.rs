//! Batched UDP: up to [`BATCH`] datagrams per system call with `recvmmsg`
//! and `sendmmsg` (nix's safe wrappers) where the platform has them, one
//! `recv_from` / `send_to` each elsewhere, or when the kernel refuses the
//! batched calls (ENOSYS under some sandboxes). The kernel's UDP path is
//! most of what forwarding costs (design.md §6), and batching is what
//! shortens it.
//!
//! Both sides keep their buffers and headers for their whole life, so a
//! call allocates nothing.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use super::datagrams::{Datagrams, MAX_DATAGRAM};
use super::net::normalise;

/// Datagrams per system call.
pub const BATCH: usize = 32;

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod sys {
    //! The batched calls, where nix offers them.
    use std::io::{self, IoSlice, IoSliceMut};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{
        ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
    };

    use super::BATCH;

    pub const AVAILABLE: bool = true;

    /// Preallocated message headers (they hold raw pointers, so each
    /// thread builds its own).
    pub struct Headers(MultiHeaders<SockaddrStorage>);

    impl std::fmt::Debug for Headers {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Headers")
        }
    }

    impl Headers {
        pub fn new() -> Self {
            Headers(MultiHeaders::preallocate(BATCH, None))
        }
    }

    fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = addr.as_sockaddr_in() {
            return Some(SocketAddr::V4((*v4).into()));
        }
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::V6((*v6).into()))
    }

    /// Fills `meta` with (length, source, truncated) per datagram received
    /// into consecutive `slot`-sized chunks of `bufs`; blocks (up to the
    /// socket's read timeout) for the first datagram only.
    pub fn recv(
        headers: &mut Headers,
        socket: &UdpSocket,
        bufs: &mut [u8],
        slot: usize,
        meta: &mut [(usize, Option<SocketAddr>, bool)],
        wait: bool,
    ) -> io::Result<usize> {
        let mut chunks = bufs.chunks_mut(slot);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or(&mut []))]);
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut headers.0,
            slices.iter_mut(),
            if wait {
                MsgFlags::MSG_WAITFORONE
            } else {
                MsgFlags::MSG_DONTWAIT
            },
            None,
        )
        .map_err(io::Error::from)?;
        let mut n = 0;
        for (msg, m) in results.zip(meta.iter_mut()) {
            let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
            *m = (msg.bytes, msg.address.as_ref().and_then(to_std), truncated);
            n += 1;
        }
        Ok(n)
    }

    /// Sends `datagrams` (at most [`BATCH`]); how many the kernel took.
    /// An error means the first of them failed.
    pub fn send(
        headers: &mut Headers,
        socket: &UdpSocket,
        datagrams: &[(&[u8], SocketAddr)],
    ) -> io::Result<usize> {
        let count = datagrams.len().min(BATCH);
        let mut it = datagrams.iter();
        let slices: [[IoSlice<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSlice::new(it.next().map_or(&[][..], |d| d.0))]);
        let mut it = datagrams.iter();
        let addrs: [Option<SockaddrStorage>; BATCH] =
            std::array::from_fn(|_| it.next().map(|d| SockaddrStorage::from(d.1)));
        let no_cmsgs: [ControlMessage<'_>; 0] = [];
        let slices = slices.get(..count).unwrap_or_default();
        let addrs = addrs.get(..count).unwrap_or_default();
        let results = sendmmsg(
            socket.as_raw_fd(),
            &mut headers.0,
            slices.iter(),
            addrs,
            no_cmsgs,
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        Ok(results.count())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod sys {
    //! No batched calls here: every caller takes the plain path.
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    pub const AVAILABLE: bool = false;

    #[derive(Debug)]
    pub struct Headers;

    impl Headers {
        pub fn new() -> Self {
            Headers
        }
    }

    pub fn recv(
        _: &mut Headers,
        _: &UdpSocket,
        _: &mut [u8],
        _: usize,
        _: &mut [(usize, Option<SocketAddr>, bool)],
        _: bool,
    ) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn send(_: &mut Headers, _: &UdpSocket, _: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Whether the kernel refuses a batched call as such (not one datagram).
fn unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported || e.raw_os_error() == Some(nix::libc::ENOSYS)
}

/// The receive side: a batch of buffers and what the last call put in them.
#[derive(Debug)]
pub struct BatchReceiver {
    bufs: Vec<u8>,
    meta: Vec<(usize, Option<SocketAddr>, bool)>,
    count: usize,
    headers: Option<sys::Headers>,
    batched: bool,
}

impl BatchReceiver {
    /// `batched` false forces the one-datagram path (tests, diagnosis).
    pub fn new(batched: bool) -> Self {
        BatchReceiver {
            bufs: vec![0; BATCH * MAX_DATAGRAM],
            meta: vec![(0, None, false); BATCH],
            count: 0,
            headers: None,
            batched: batched && sys::AVAILABLE,
        }
    }

    /// Takes what is already queued (up to [`BATCH`]) without blocking;
    /// 0 when nothing is, and always 0 on the one-datagram path (which
    /// only has the blocking [`recv`](Self::recv)).
    pub fn try_recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        if !self.batched {
            return Ok(0);
        }
        let headers = self.headers.get_or_insert_with(sys::Headers::new);
        match sys::recv(
            headers,
            socket,
            &mut self.bufs,
            MAX_DATAGRAM,
            &mut self.meta,
            false,
        ) {
            Ok(n) => {
                self.count = n;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if unsupported(&e) => {
                tracing::warn!("recvmmsg unavailable; receiving one datagram per call");
                self.batched = false;
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Receives at least one datagram, blocking up to the socket's read
    /// timeout, and as many more as are already queued (up to [`BATCH`]).
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        if self.batched {
            let headers = self.headers.get_or_insert_with(sys::Headers::new);
            match sys::recv(
                headers,
                socket,
                &mut self.bufs,
                MAX_DATAGRAM,
                &mut self.meta,
                true,
            ) {
                Ok(n) => {
                    self.count = n;
                    return Ok(n);
                }
                Err(e) if unsupported(&e) => {
                    tracing::warn!("recvmmsg unavailable; receiving one datagram per call");
                    self.batched = false;
                }
                Err(e) => return Err(e),
            }
        }
        let (Some(buf), Some(m)) = (self.bufs.get_mut(..MAX_DATAGRAM), self.meta.first_mut())
        else {
            return Ok(0);
        };
        let (n, src) = socket.recv_from(buf)?;
        // A datagram that fills the buffer may have been cut short.
        *m = (n, Some(src), n >= MAX_DATAGRAM);
        self.count = 1;
        Ok(1)
    }

    /// The `i`th datagram of the last call: its bytes, its (normalised)
    /// source, and whether it was truncated. None past the end, or when
    /// the kernel gave no usable source address.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr, bool)> {
        if i >= self.count {
            return None;
        }
        let &(len, src, truncated) = self.meta.get(i)?;
        let start = i * MAX_DATAGRAM;
        let data = self.bufs.get(start..start + len.min(MAX_DATAGRAM))?;
        Some((data, normalise(src?), truncated))
    }

    pub fn len(&self) -> usize {
        self.count
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub packets: u64,
    pub bytes: u64,
    pub errors: u64,
}

/// The send side: datagrams queue here and leave in batches.
#[derive(Debug)]
pub struct BatchSender {
    socket: UdpSocket,
    v6_socket: bool,
    queue: Datagrams,
    headers: Option<sys::Headers>,
    batched: bool,
}

impl BatchSender {
    pub fn new(socket: UdpSocket, batched: bool) -> io::Result<Self> {
        let v6_socket = socket.local_addr()?.is_ipv6();
        Ok(BatchSender {
            socket,
            v6_socket,
            queue: Datagrams::with_capacity(BATCH),
            headers: None,
            batched: batched && sys::AVAILABLE,
        })
    }

    /// Queues one datagram; sends the queue first if it is full.
    pub fn push(&mut self, data: &[u8], to: SocketAddr) -> Sent {
        let to = self.destination(to);
        if self.queue.push(data, to) {
            return if self.queue.is_full() {
                self.flush()
            } else {
                Sent::default()
            };
        }
        let mut sent = self.flush();
        if !self.queue.push(data, to) {
            // Larger than a whole batch: not a media datagram, but sent
            // all the same.
            let r = self.socket.send_to(data, to);
            count_one(&mut sent, r);
        }
        sent
    }

    /// Sends everything queued.
    pub fn flush(&mut self) -> Sent {
        let mut sent = Sent::default();
        let mut from = 0;
        let total = self.queue.len();
        while from < total {
            if self.batched {
                let mut chunk: [(&[u8], SocketAddr); BATCH] =
                    [(&[][..], SocketAddr::from(([0, 0, 0, 0], 0))); BATCH];
                let mut n = 0;
                for (slot, d) in chunk
                    .iter_mut()
                    .zip((from..total).filter_map(|i| self.queue.get(i)))
                {
                    *slot = d;
                    n += 1;
                }
                let headers = self.headers.get_or_insert_with(sys::Headers::new);
                match sys::send(headers, &self.socket, chunk.get(..n).unwrap_or_default()) {
                    Ok(k) if k > 0 => {
                        sent.packets += k as u64;
                        sent.bytes += chunk.iter().take(k).map(|d| d.0.len() as u64).sum::<u64>();
                        from += k;
                        continue;
                    }
                    Err(e) if unsupported(&e) => {
                        tracing::warn!("sendmmsg unavailable; sending one datagram per call");
                        self.batched = false;
                        continue;
                    }
                    // The first datagram failed (or nothing was taken): it
                    // is dropped and counted, the rest are tried again.
                    Ok(_) | Err(_) => {
                        sent.errors += 1;
                        from += 1;
                        continue;
                    }
                }
            }
            if let Some((data, to)) = self.queue.get(from) {
                let r = self.socket.send_to(data, to);
                count_one(&mut sent, r);
            }
            from += 1;
        }
        self.queue.clear();
        sent
    }

    /// A dual-stack IPv6 socket reaches IPv4 peers at v4-mapped addresses.
    fn destination(&self, to: SocketAddr) -> SocketAddr {
        match (self.v6_socket, to) {
            (true, SocketAddr::V4(v4)) => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => to,
        }
    }
}

fn count_one(sent: &mut Sent, r: io::Result<usize>) {
    match r {
        Ok(n) => {
            sent.packets += 1;
            sent.bytes += n as u64;
        }
        Err(e) => {
            sent.errors += 1;
            tracing::trace!(error = %e, "send failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (a, b)
    }

    fn exchange(batched: bool) {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let from = a.local_addr().unwrap();
        let mut tx = BatchSender::new(a, batched).unwrap();
        // More than one batch, with sizes that tell datagrams apart.
        let mut sent = Sent::default();
        for i in 0..(BATCH + 5) {
            let s = tx.push(&vec![u8::try_from(i).unwrap(); 100 + i], to);
            sent.packets += s.packets;
        }
        sent.packets += tx.flush().packets;
        assert_eq!(sent.packets, (BATCH + 5) as u64);

        let mut rx = BatchReceiver::new(batched);
        let mut got = Vec::new();
        while got.len() < BATCH + 5 {
            let n = rx.recv(&b).unwrap();
            assert!(n >= 1);
            assert!(batched || n == 1);
            for i in 0..n {
                let (data, src, truncated) = rx.get(i).unwrap();
                assert_eq!(src, from);
                assert!(!truncated);
                got.push(data.to_vec());
            }
            assert!(rx.get(n).is_none());
        }
        for (i, d) in got.iter().enumerate() {
            assert_eq!(d.len(), 100 + i);
            assert!(d.iter().all(|&x| usize::from(x) == i));
        }
    }

    #[test]
    fn batched_calls_carry_datagrams_over_loopback() {
        exchange(true);
    }

    #[test]
    fn plain_calls_carry_datagrams_over_loopback() {
        exchange(false);
    }

    #[test]
    fn a_batch_receives_what_is_queued_at_once() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        for _ in 0..10 {
            a.send_to(b"x", to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut rx = BatchReceiver::new(true);
        let n = rx.recv(&b).unwrap();
        if sys::AVAILABLE {
            assert_eq!(n, 10, "one call takes all that waits");
        }
    }

    #[test]
    fn try_recv_never_blocks() {
        let (a, b) = pair();
        let mut rx = BatchReceiver::new(true);
        assert_eq!(rx.try_recv(&b).unwrap(), 0);
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let n = rx.try_recv(&b).unwrap();
        if sys::AVAILABLE {
            assert_eq!(n, 1);
            assert_eq!(rx.get(0).unwrap().0, b"x");
        }
        let mut plain = BatchReceiver::new(false);
        assert_eq!(plain.try_recv(&b).unwrap(), 0, "the plain path only blocks");
    }

    #[test]
    fn oversized_datagrams_are_marked_truncated() {
        let (a, b) = pair();
        a.send_to(&vec![1; MAX_DATAGRAM + 100], b.local_addr().unwrap())
            .unwrap();
        for batched in [true, false] {
            if !batched {
                a.send_to(&vec![1; MAX_DATAGRAM + 100], b.local_addr().unwrap())
                    .unwrap();
            }
            let mut rx = BatchReceiver::new(batched);
            assert_eq!(rx.recv(&b).unwrap(), 1);
            assert!(rx.get(0).unwrap().2, "truncated (batched: {batched})");
        }
    }

    #[test]
    fn a_failing_destination_does_not_stop_the_others() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut tx = BatchSender::new(a, true).unwrap();
        // An IPv4 socket cannot send to an IPv6 address.
        let bad: SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        tx.push(b"1", to);
        tx.push(b"2", bad);
        tx.push(b"3", to);
        let s = tx.flush();
        assert_eq!(s.packets, 2);
        assert_eq!(s.errors, 1);
        let mut rx = BatchReceiver::new(true);
        let mut got = Vec::new();
        while got.len() < 2 {
            let n = rx.recv(&b).unwrap();
            got.extend((0..n).map(|i| rx.get(i).unwrap().0.to_vec()));
        }
        assert_eq!(got, vec![b"1".to_vec(), b"3".to_vec()]);
    }
}
