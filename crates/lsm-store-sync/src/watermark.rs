//! `VisibleSeq`: the applied watermark. Reads see exactly the writes with
//! sequence numbers up to it, so visibility is always a prefix of WAL order.
//!
//! Writers get their sequence numbers from the WAL in order but finish
//! inserting into the memtable in any order; `publish` records a finished
//! range and advances the watermark over every contiguous finished range.
//! `wait_for` blocks on a condition variable until the watermark reaches a
//! target (the async store's read-your-writes fence).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lsm_core::SeqNo;
use parking_lot::{Condvar, Mutex};

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

    /// Waits until the watermark is at least `seq`; false on timeout.
    pub fn wait_for(&self, seq: SeqNo, timeout: Duration) -> bool {
        if self.get() >= seq {
            return true;
        }
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while state.visible < seq {
            if self.advanced.wait_until(&mut state, deadline).timed_out() {
                return state.visible >= seq;
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
}
