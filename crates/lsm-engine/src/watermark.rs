//! `VisibleSeq`: the applied watermark. Reads see exactly the writes with
//! sequence numbers up to it, so visibility is always a prefix of WAL order.
//!
//! Writers get their sequence numbers from the WAL in order but finish
//! inserting into the memtable in any order; `publish` records a finished
//! range and advances the watermark over every contiguous finished range.
//! `wait_for` blocks on a condition variable until the watermark reaches a
//! target (the async store's read-your-writes fence); `wait_visible` is the
//! synchronous store's version of it, cheap when there is nothing to wait
//! for.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lsm_core::SeqNo;
use parking_lot::{Condvar, Mutex};

/// Busy-wait rounds of [`VisibleSeq::wait_visible`] (a few hundred
/// nanoseconds: an earlier writer is usually mid-insert) before it yields.
const SPIN_ROUNDS: u32 = 64;
/// `yield_now` rounds after spinning, before blocking on the condvar.
const YIELD_ROUNDS: u32 = 8;
/// How often a blocked [`VisibleSeq::wait_visible`] asks its `give_up`
/// callback whether the range it waits for can still be published.
const GIVE_UP_POLL: Duration = Duration::from_millis(10);

/// The highest sequence number below which every write is applied.
#[derive(Debug)]
pub struct VisibleSeq {
    /// Lock-free copy of `State::visible` for readers. Written only with
    /// `state` held.
    visible: AtomicU64,
    /// Guarded: finished ranges above the watermark.
    state: Mutex<State>,
    advanced: Condvar,
}

#[derive(Debug)]
struct State {
    visible: SeqNo,
    /// first -> last of ranges finished out of order. INVARIANT: every key
    /// is > visible + 1.
    pending: BTreeMap<SeqNo, SeqNo>,
}

impl VisibleSeq {
    /// A watermark at `visible` (everything up to it is applied).
    pub fn new(visible: SeqNo) -> Self {
        VisibleSeq {
            visible: AtomicU64::new(visible),
            state: Mutex::new(State {
                visible,
                pending: BTreeMap::new(),
            }),
            advanced: Condvar::new(),
        }
    }

    /// The watermark.
    #[inline]
    pub fn get(&self) -> SeqNo {
        self.visible.load(Ordering::SeqCst)
    }

    /// Records that `first..=last` is applied.
    pub fn publish(&self, first: SeqNo, last: SeqNo) {
        debug_assert!(first <= last);
        let mut state = self.state.lock();
        debug_assert!(
            first > state.visible,
            "range {first}..={last} published twice"
        );
        if first != state.visible + 1 {
            state.pending.insert(first, last);
            return;
        }
        let mut visible = last;
        while let Some(entry) = state.pending.first_entry() {
            if *entry.key() != visible + 1 {
                break;
            }
            visible = entry.remove();
        }
        state.visible = visible;
        self.visible.store(state.visible, Ordering::SeqCst);
        drop(state);
        self.advanced.notify_all();
    }

    /// Waits until the watermark is at least `seq`, without a deadline: a
    /// writer that has published its own range waits here for the earlier
    /// writers still between their WAL append and their publish, so that
    /// its next read sees its write. True once the watermark reaches `seq`;
    /// false if `give_up()` returns true first (an earlier range will never
    /// be published, e.g. its WAL append failed).
    ///
    /// Cost: one atomic load when the watermark already covers `seq` (the
    /// uncontended case). Otherwise it spins briefly, yields a few times,
    /// then blocks on the condition variable `publish` notifies; while
    /// blocked it calls `give_up` every few milliseconds, never with the
    /// state lock held.
    pub fn wait_visible(&self, seq: SeqNo, give_up: impl Fn() -> bool) -> bool {
        if self.get() >= seq {
            return true;
        }
        for _ in 0..SPIN_ROUNDS {
            std::hint::spin_loop();
            if self.get() >= seq {
                return true;
            }
        }
        for _ in 0..YIELD_ROUNDS {
            std::thread::yield_now();
            if self.get() >= seq {
                return true;
            }
        }
        loop {
            {
                let mut state = self.state.lock();
                if state.visible >= seq {
                    return true;
                }
                // `publish` changes `visible` under the lock and notifies
                // after it, so checking under the lock loses no wake-up.
                let _ = self.advanced.wait_for(&mut state, GIVE_UP_POLL);
                if state.visible >= seq {
                    return true;
                }
            }
            if give_up() {
                return self.get() >= seq;
            }
        }
    }

    /// Waits until the watermark is at least `seq`; false on timeout. A
    /// timeout too large for an `Instant` (e.g. `Duration::MAX`) waits
    /// without a deadline.
    pub fn wait_for(&self, seq: SeqNo, timeout: Duration) -> bool {
        if self.get() >= seq {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        while state.visible < seq {
            match deadline {
                Some(deadline) => {
                    if self.advanced.wait_until(&mut state, deadline).timed_out() {
                        return state.visible >= seq;
                    }
                }
                None => self.advanced.wait(&mut state),
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn out_of_order_ranges_advance_only_when_contiguous() {
        let w = VisibleSeq::new(0);
        w.publish(3, 4);
        assert_eq!(w.get(), 0);
        w.publish(1, 2);
        assert_eq!(w.get(), 4);
        w.publish(6, 6);
        w.publish(5, 5);
        assert_eq!(w.get(), 6);
    }

    #[test]
    fn wait_for_times_out_then_succeeds() {
        let w = Arc::new(VisibleSeq::new(0));
        assert!(!w.wait_for(1, Duration::from_millis(10)));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || w2.wait_for(2, Duration::from_secs(30)));
        w.publish(1, 2);
        assert!(t.join().unwrap());
    }

    #[test]
    fn wait_for_with_an_unrepresentable_deadline_waits_without_one() {
        let w = Arc::new(VisibleSeq::new(0));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || w2.wait_for(1, Duration::MAX));
        std::thread::sleep(Duration::from_millis(20));
        w.publish(1, 1);
        assert!(t.join().unwrap());
        assert!(w.wait_for(1, Duration::MAX), "already reached");
    }

    #[test]
    fn wait_visible_returns_once_an_earlier_range_is_published_or_gives_up() {
        let w = Arc::new(VisibleSeq::new(0));
        w.publish(2, 2);
        assert!(w.wait_visible(0, || false), "already covered");
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || w2.wait_visible(2, || false));
        std::thread::sleep(Duration::from_millis(30));
        w.publish(1, 1);
        assert!(t.join().unwrap());
        assert!(!w.wait_visible(5, || true), "gave up");
    }
}
