//! A batch of datagrams with their peer addresses, packed into one buffer
//! whose capacity is reserved once: the receive thread fills batches for
//! the workers, and each worker queues its outgoing datagrams in one until
//! `sendmmsg` takes them. Clearing keeps the capacity, so a batch that is
//! reused never allocates again.

use std::net::SocketAddr;

/// Room reserved per datagram (a media datagram is at most an MTU, ~1500).
pub const MAX_DATAGRAM: usize = 2048;

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: usize,
    addr: SocketAddr,
}

#[derive(Debug)]
pub struct Datagrams {
    buf: Vec<u8>,
    entries: Vec<Entry>,
    max_entries: usize,
}

impl Datagrams {
    /// Room for `count` datagrams of up to [`MAX_DATAGRAM`] bytes.
    pub fn with_capacity(count: usize) -> Self {
        let count = count.max(1);
        Datagrams {
            buf: Vec::with_capacity(count * MAX_DATAGRAM),
            entries: Vec::with_capacity(count),
            max_entries: count,
        }
    }

    /// Appends a copy of `data`; false (and nothing changes) if the batch
    /// has no room left for it.
    pub fn push(&mut self, data: &[u8], addr: SocketAddr) -> bool {
        if self.entries.len() >= self.max_entries
            || data.len() > self.buf.capacity() - self.buf.len()
        {
            return false;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        self.entries.push(Entry {
            start,
            len: data.len(),
            addr,
        });
        true
    }

    /// No room for another datagram of the largest size.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
            || self.buf.capacity() - self.buf.len() < MAX_DATAGRAM
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.entries.clear();
    }

    /// The `i`th datagram and its address.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let e = self.entries.get(i)?;
        let data = self.buf.get(e.start..e.start + e.len)?;
        Some((data, e.addr))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        (0..self.entries.len()).filter_map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_up_and_is_reused_without_growing() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "[::1]:2".parse().unwrap();
        let mut d = Datagrams::with_capacity(2);
        let cap = d.buf.capacity();
        assert!(d.push(b"one", a));
        assert!(!d.is_full());
        assert!(d.push(b"two!", b));
        assert!(d.is_full());
        assert!(!d.push(b"three", a), "entry limit");
        assert_eq!(d.len(), 2);
        let all: Vec<_> = d.iter().collect();
        assert_eq!(all, vec![(&b"one"[..], a), (&b"two!"[..], b)]);
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.buf.capacity(), cap);
        // Too large for the whole buffer: refused, not grown.
        assert!(!d.push(&vec![0; 3 * MAX_DATAGRAM], a));
        assert!(d.push(&vec![7; MAX_DATAGRAM], a));
        assert_eq!(d.get(0).unwrap().0.len(), MAX_DATAGRAM);
        assert_eq!(d.buf.capacity(), cap);
    }
}
