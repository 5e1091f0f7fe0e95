//! Deadlines of many str0m peers and conference cores in one min-heap.
//!
//! Each owner keeps the deadline it wants and the earliest one it has in the
//! heap. A new deadline is pushed only when it is earlier than that, so a
//! deadline that moves later on every packet costs nothing; entries that
//! went stale are recognised when popped and dropped or re-armed then.
//! Finding the next wake-up is O(1), re-arming O(log n); nothing scans all
//! endpoints.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Who a deadline belongs to. Slab keys with generations, so a deadline of
/// a removed owner never fires for a newcomer in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerOwner {
    Endpoint { slot: u32, generation: u32 },
    Conference { slot: u32, generation: u32 },
}

/// The owner-side half: what it wants and what is queued for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline {
    wanted: Option<Instant>,
    queued: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerOwner)>>,
}

impl Timers {
    /// Records that `owner` wants to be woken at `at`.
    pub fn set(&mut self, owner: TimerOwner, deadline: &mut Deadline, at: Instant) {
        deadline.wanted = Some(at);
        if deadline.queued.is_none_or(|q| at < q) {
            deadline.queued = Some(at);
            self.heap.push(Reverse((at, owner)));
        }
    }

    /// The earliest queued entry's time (possibly stale: it then costs one
    /// extra wake-up, never a missed one).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops the next entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerOwner)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Called with a popped entry and the owner's deadline: true if the
    /// owner should be driven now. Otherwise the entry was stale, and if
    /// the owner still wants a later wake-up, that is re-queued.
    pub fn fire(
        &mut self,
        entry: (Instant, TimerOwner),
        deadline: &mut Deadline,
        now: Instant,
    ) -> bool {
        let (at, owner) = entry;
        if deadline.queued != Some(at) {
            // An earlier entry replaced this one, and has fired or will.
            return false;
        }
        deadline.queued = None;
        match deadline.wanted {
            Some(w) if w <= now => {
                deadline.wanted = None;
                true
            }
            Some(w) => {
                deadline.queued = Some(w);
                self.heap.push(Reverse((w, owner)));
                false
            }
            None => false,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: TimerOwner = TimerOwner::Endpoint {
        slot: 0,
        generation: 0,
    };

    #[test]
    fn later_deadlines_do_not_grow_the_heap() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        for i in 0..100 {
            timers.set(A, &mut d, t0 + Duration::from_millis(10 + i));
        }
        assert_eq!(timers.len(), 1);
        // Due at 10 ms, but the owner now wants 109 ms: re-armed, not fired.
        let e = timers.pop_due(t0 + Duration::from_millis(10)).unwrap();
        assert!(!timers.fire(e, &mut d, t0 + Duration::from_millis(10)));
        assert_eq!(timers.next(), Some(t0 + Duration::from_millis(109)));
        let now = t0 + Duration::from_millis(109);
        let e = timers.pop_due(now).unwrap();
        assert!(timers.fire(e, &mut d, now));
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn earlier_deadline_wins_and_the_old_entry_is_stale() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        timers.set(A, &mut d, t0 + Duration::from_millis(50));
        timers.set(A, &mut d, t0 + Duration::from_millis(5));
        let now = t0 + Duration::from_millis(60);
        let first = timers.pop_due(now).unwrap();
        assert!(timers.fire(first, &mut d, now));
        let stale = timers.pop_due(now).unwrap();
        assert!(!timers.fire(stale, &mut d, now));
        assert!(timers.pop_due(now).is_none());
    }
}
