//! The hand-off from the receive thread to one worker: full batches go
//! through a bounded queue, emptied ones come back through another, so the
//! same few buffers circulate and nothing is allocated once they exist.
//!
//! The queues are std's bounded channels (`sync_channel`), an array-based
//! lock-free queue as long as nobody blocks on it: the receive thread only
//! ever `try_send`s, the worker only `try_recv`s and parks. A worker that
//! falls behind therefore never stalls the receive thread (and with it
//! every other worker): once its queue and pool are used up, datagrams for
//! it are dropped and counted, like a full socket buffer would drop them.
//!
//! The bound counts batches, so batches must not be tiny when a worker lags:
//! while the worker still has a batch queued, the receive thread keeps
//! filling the next one instead of handing over a datagram or two at a time
//! ([`Outbox::flush`] without `force`); an idle worker gets each datagram at
//! once, and before the receive thread blocks it hands over everything.
//!
//! Connectivity traffic has a lane of its own for when the worker is
//! behind: a STUN or DTLS datagram that would be dropped is copied into a
//! small bounded control queue the worker empties first, so an overloaded
//! worker still lets a new participant connect (media is what it sheds).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::Thread;

use super::datagrams::Datagrams;

/// Datagrams per hand-off batch.
pub const BATCH_DATAGRAMS: usize = 64;
/// Connectivity datagrams (STUN, DTLS) queued beside a lagging worker's
/// batches.
pub const CONTROL_DATAGRAMS: usize = 256;

/// RFC 7983 §7: STUN starts with 0..=3, DTLS with 20..=63.
pub fn is_connectivity(data: &[u8]) -> bool {
    data.first()
        .is_some_and(|b| *b <= 3 || (20..=63).contains(b))
}

/// The receive thread's end.
#[derive(Debug)]
pub struct Outbox {
    full: SyncSender<Datagrams>,
    control: SyncSender<(Vec<u8>, SocketAddr)>,
    empty: Receiver<Datagrams>,
    filling: Option<Datagrams>,
    allocated: usize,
    max_batches: usize,
    /// Batches the queue holds.
    depth: usize,
    worker: Thread,
    /// Batches handed over and not yet taken by the worker.
    queued: Arc<AtomicUsize>,
    /// Datagrams dropped because the worker was behind.
    pub dropped: u64,
}

/// The worker's end.
#[derive(Debug)]
pub struct Inbox {
    full: Receiver<Datagrams>,
    control: Receiver<(Vec<u8>, SocketAddr)>,
    empty: SyncSender<Datagrams>,
    queued: Arc<AtomicUsize>,
}

/// A hand-off of `depth` batches in flight to the worker on `worker`.
pub fn channel(depth: usize, worker: Thread) -> (Outbox, Inbox) {
    let depth = depth.max(1);
    // One batch filling, one being processed, `depth` queued.
    let max_batches = depth + 2;
    let (full_tx, full_rx) = sync_channel(depth);
    // Room for every batch, so returning one never fails.
    let (empty_tx, empty_rx) = sync_channel(max_batches);
    let queued = Arc::new(AtomicUsize::new(0));
    let (control_tx, control_rx) = sync_channel(CONTROL_DATAGRAMS);
    (
        Outbox {
            full: full_tx,
            control: control_tx,
            empty: empty_rx,
            filling: None,
            allocated: 0,
            max_batches,
            depth,
            worker,
            queued: Arc::clone(&queued),
            dropped: 0,
        },
        Inbox {
            full: full_rx,
            control: control_rx,
            empty: empty_tx,
            queued,
        },
    )
}

impl Outbox {
    /// Adds a datagram to the batch being filled, handing the batch over
    /// when it is full. False if it was dropped.
    pub fn push(&mut self, data: &[u8], src: SocketAddr) -> bool {
        // Behind (its queue is full, so the batch being filled would be
        // dropped): connectivity goes through its own lane, as a copy.
        if self.queued.load(Ordering::Acquire) >= self.depth && is_connectivity(data) {
            if self.control.try_send((data.to_vec(), src)).is_ok() {
                self.worker.unpark();
                return true;
            }
            self.dropped += 1;
            return false;
        }
        for _ in 0..2 {
            if self.filling.is_none() {
                self.filling = self.take_empty();
            }
            let Some(batch) = self.filling.as_mut() else {
                break;
            };
            if batch.push(data, src) {
                if batch.is_full() {
                    self.flush(true);
                }
                return true;
            }
            if batch.is_empty() {
                // Too large for any batch.
                break;
            }
            self.flush(true);
        }
        self.dropped += 1;
        false
    }

    /// Hands the batch being filled to the worker, if it has anything —
    /// unless `force` is false and the worker has not yet taken the last
    /// one (it is busy, and will find a fuller batch when it gets here).
    pub fn flush(&mut self, force: bool) {
        if !force && self.queued.load(Ordering::Acquire) > 0 {
            return;
        }
        let Some(batch) = self.filling.take() else {
            return;
        };
        if batch.is_empty() {
            self.filling = Some(batch);
            return;
        }
        // Counted before it is visible, so the worker never counts below 0.
        self.queued.fetch_add(1, Ordering::AcqRel);
        match self.full.try_send(batch) {
            Ok(()) => self.worker.unpark(),
            Err(TrySendError::Full(mut batch) | TrySendError::Disconnected(mut batch)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                self.dropped += batch.len() as u64;
                batch.clear();
                self.filling = Some(batch);
            }
        }
    }

    fn take_empty(&mut self) -> Option<Datagrams> {
        if let Ok(batch) = self.empty.try_recv() {
            return Some(batch);
        }
        if self.allocated < self.max_batches {
            self.allocated += 1;
            return Some(Datagrams::with_capacity(BATCH_DATAGRAMS));
        }
        None
    }
}

impl Inbox {
    /// The next queued connectivity datagram, if any (see the module doc).
    pub fn pop_control(&self) -> Option<(Vec<u8>, SocketAddr)> {
        self.control.try_recv().ok()
    }

    /// The next full batch, if any.
    pub fn pop(&self) -> Option<Datagrams> {
        let batch = self.full.try_recv().ok()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(batch)
    }

    /// Returns a processed batch to the pool.
    pub fn give_back(&self, mut batch: Datagrams) {
        batch.clear();
        // Cannot be full (it has room for every batch); if the receive
        // thread is gone the batch is simply freed.
        let _ = self.empty.try_send(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn batches_flow_and_come_back() {
        let (mut out, inbox) = channel(2, std::thread::current());
        assert!(out.push(b"a", src()));
        assert!(inbox.pop().is_none(), "not handed over before a flush");
        out.flush(true);
        let batch = inbox.pop().unwrap();
        assert_eq!(batch.iter().collect::<Vec<_>>(), vec![(&b"a"[..], src())]);
        inbox.give_back(batch);
        // The returned batch is reused rather than a new one allocated.
        assert!(out.push(b"b", src()));
        assert_eq!(out.allocated, 1);
        // A full batch goes over by itself.
        for _ in 1..BATCH_DATAGRAMS {
            assert!(out.push(b"c", src()));
        }
        assert_eq!(inbox.pop().unwrap().len(), BATCH_DATAGRAMS);
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn a_worker_that_does_not_read_costs_drops_never_a_block() {
        let (mut out, inbox) = channel(2, std::thread::current());
        let total = 10 * BATCH_DATAGRAMS;
        for _ in 0..total {
            out.push(b"x", src());
        }
        out.flush(true);
        // Two batches queued; the batch being filled was dropped whenever
        // it found the queue full, and reused.
        assert!(out.allocated <= 4);
        assert_eq!(out.dropped, (total - 2 * BATCH_DATAGRAMS) as u64);
        let mut delivered = 0;
        while let Some(b) = inbox.pop() {
            delivered += b.len();
            inbox.give_back(b);
        }
        assert_eq!(delivered, 2 * BATCH_DATAGRAMS);
        assert_eq!(delivered as u64 + out.dropped, total as u64);
        // Once the worker caught up, datagrams flow again.
        assert!(out.push(b"y", src()));
        out.flush(true);
        assert_eq!(inbox.pop().unwrap().len(), 1);
    }

    #[test]
    fn a_busy_worker_gets_fuller_batches() {
        let (mut out, inbox) = channel(4, std::thread::current());
        out.push(b"1", src());
        out.flush(false);
        // The worker has not taken batch 1: later datagrams wait together.
        out.push(b"2", src());
        out.flush(false);
        out.push(b"3", src());
        out.flush(false);
        assert_eq!(inbox.pop().unwrap().len(), 1);
        assert!(inbox.pop().is_none());
        // Taken: the next flush hands the two over at once.
        out.flush(false);
        assert_eq!(inbox.pop().unwrap().len(), 2);
        // A forced flush (before the receive thread blocks) always goes.
        out.push(b"4", src());
        out.flush(false);
        out.push(b"5", src());
        out.flush(true);
        assert_eq!(inbox.pop().unwrap().len(), 1);
        assert_eq!(inbox.pop().unwrap().len(), 1);
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn a_gone_worker_is_not_waited_for() {
        let (mut out, inbox) = channel(1, std::thread::current());
        drop(inbox);
        for _ in 0..3 * BATCH_DATAGRAMS {
            out.push(b"x", src());
        }
        out.flush(true);
        assert_eq!(out.dropped, 3 * BATCH_DATAGRAMS as u64);
    }

    #[test]
    fn connectivity_gets_through_a_lagging_worker() {
        let (mut out, inbox) = channel(1, std::thread::current());
        // Fill everything: the queue, the pool, the batch being filled.
        let media = [0x80u8; 100];
        let mut pushed = 0;
        while out.dropped == 0 {
            out.push(&media, src());
            pushed += 1;
            assert!(pushed < 10_000);
        }
        // STUN and DTLS still go, through the control lane; media is shed.
        assert!(out.push(&[0x00, 0x01, 0, 0], src()));
        assert!(out.push(&[22, 254, 253], src()));
        assert_eq!(
            inbox.pop_control().map(|(d, _)| d),
            Some(vec![0x00, 0x01, 0, 0])
        );
        assert_eq!(inbox.pop_control().map(|(d, _)| d[0]), Some(22));
        assert!(inbox.pop_control().is_none());
        // The lane is bounded too.
        for _ in 0..CONTROL_DATAGRAMS {
            assert!(out.push(&[0x00, 0x01], src()));
        }
        assert!(!out.push(&[0x00, 0x01], src()));
        assert!(
            is_connectivity(&[1])
                && is_connectivity(&[63])
                && !is_connectivity(&[128])
                && !is_connectivity(&[])
        );
    }
}
