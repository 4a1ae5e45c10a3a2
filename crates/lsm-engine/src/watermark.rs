//! `VisibleSeq`: the applied watermark. Reads see exactly the writes with
//! sequence numbers up to it, so visibility is always a prefix of WAL order.
//!
//! Writers get their sequence numbers from the WAL in order but finish
//! inserting into the memtable in any order; `publish` records a finished
//! range and advances the watermark over every contiguous finished range.
//! `wait_for` blocks on a condition variable until the watermark reaches a
//! target (the async store's read-your-writes fence); `wait_visible` is the
//! synchronous store's version of it, cheap when there is nothing to wait
//! for. [`WaitVisible`] is the fence as a `Future`, for async code: it
//! registers its `Waker` here, and `publish` wakes it.
//!
//! # The waker registry
//! `wakers` holds the waiting futures' wakers by `(target, id)`. `publish`
//! looks at it only when `has_wakers` is set: with no future waiting, the
//! cost on the publish path is one atomic load. The flag cannot hide a
//! registration from a publish that advanced past its target: `publish`
//! stores the watermark and then loads the flag, a future stores the flag
//! (registering) and then loads the watermark, all four `SeqCst`, so at
//! least one of the two sees the other's store (the future then resolves
//! at once, or the publish wakes it). Wakers are called after the registry
//! lock is released, so an executor's `wake` never runs under it or the
//! state lock (it does run on the publishing thread, which may hold a
//! write permit or the async store's core lock: a waker only schedules its
//! task, and a poll takes no lock but the registry and the engine's
//! `poison`). [`VisibleSeq::wake_all`] wakes every waiting future whatever
//! its target: the engine calls it when it is poisoned, and
//! [`VisibleSeq::release_all`] (which also releases every thread blocked
//! in [`VisibleSeq::wait_for`], now and later) when it closes, so a wait
//! for a write that can no longer become visible ends (a future with an
//! error, `wait_for` with false) instead of hanging. A poisoned engine's
//! watermark still moves (the async store applies what it queued before
//! the failure), so `wait_for` keeps waiting for it until the close.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use lsm_core::SeqNo;
use parking_lot::{Condvar, Mutex};

use crate::engine::Engine;
use crate::error::Result;

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
    /// Guarded: the wakers of pending [`WaitVisible`] futures. A leaf
    /// lock, never held while a waker runs.
    wakers: Mutex<Wakers>,
    /// True while `wakers` holds an entry; written only with `wakers`
    /// held. `publish` reads it (one atomic load) to skip the registry.
    has_wakers: AtomicBool,
}

/// The waker registry; see the module docs.
#[derive(Debug, Default)]
struct Wakers {
    /// The id the next registering future gets.
    next_id: u64,
    /// `(target, id)` -> the waker to call once the watermark reaches
    /// `target`.
    waiting: BTreeMap<(SeqNo, u64), Waker>,
}

#[derive(Debug)]
struct State {
    visible: SeqNo,
    /// first -> last of ranges finished out of order. INVARIANT: every key
    /// is > visible + 1.
    pending: BTreeMap<SeqNo, SeqNo>,
    /// Set once by [`VisibleSeq::release_all`] (the engine closed: the
    /// watermark is final): `wait_for` no longer blocks.
    released: bool,
}

impl VisibleSeq {
    /// A watermark at `visible` (everything up to it is applied).
    pub fn new(visible: SeqNo) -> Self {
        VisibleSeq {
            visible: AtomicU64::new(visible),
            state: Mutex::new(State {
                visible,
                pending: BTreeMap::new(),
                released: false,
            }),
            advanced: Condvar::new(),
            wakers: Mutex::new(Wakers::default()),
            has_wakers: AtomicBool::new(false),
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
        // The only cost to the publish path while no future waits.
        if self.has_wakers.load(Ordering::SeqCst) {
            self.wake_up_to(visible);
        }
    }

    /// Wakes the futures waiting for a target at or below `visible`.
    fn wake_up_to(&self, visible: SeqNo) {
        let mut wakers = self.wakers.lock();
        let ready = match visible.checked_add(1) {
            Some(next) => {
                let waiting = wakers.waiting.split_off(&(next, 0));
                std::mem::replace(&mut wakers.waiting, waiting)
            }
            None => std::mem::take(&mut wakers.waiting),
        };
        self.has_wakers
            .store(!wakers.waiting.is_empty(), Ordering::SeqCst);
        drop(wakers);
        ready.into_values().for_each(Waker::wake);
    }

    /// Wakes every waiting future and releases every thread blocked in
    /// [`VisibleSeq::wait_for`], now and from now on: the engine closed, so
    /// the watermark is final, and each wait returns whether it reached its
    /// target.
    pub fn release_all(&self) {
        self.state.lock().released = true;
        self.advanced.notify_all();
        self.wake_all();
    }

    /// Wakes every waiting future, whatever its target (the engine closed
    /// or was poisoned: each one polls again and sees why).
    pub fn wake_all(&self) {
        let mut wakers = self.wakers.lock();
        let all = std::mem::take(&mut wakers.waiting);
        self.has_wakers.store(false, Ordering::SeqCst);
        drop(wakers);
        all.into_values().for_each(Waker::wake);
    }

    /// Registers (or refreshes) the waker of the future with registry id
    /// `*id` (assigned here on its first registration) waiting for
    /// `target`. The caller checks the watermark again afterwards.
    fn register(&self, target: SeqNo, id: &mut Option<u64>, waker: &Waker) {
        let mut wakers = self.wakers.lock();
        let id = *id.get_or_insert_with(|| {
            wakers.next_id += 1;
            wakers.next_id
        });
        // A replaced waker is dropped after the lock is released: an
        // executor's waker drop may run code (even another future's drop,
        // which deregisters under this lock).
        let mut replaced = None;
        match wakers.waiting.entry((target, id)) {
            std::collections::btree_map::Entry::Occupied(mut registered) => {
                if !registered.get().will_wake(waker) {
                    replaced = Some(registered.insert(waker.clone()));
                }
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(waker.clone());
            }
        }
        self.has_wakers.store(true, Ordering::SeqCst);
        drop(wakers);
        drop(replaced);
    }

    /// Removes the registration of future `id` waiting for `target`, if a
    /// wake-up did not remove it already.
    fn deregister(&self, target: SeqNo, id: u64) {
        let mut wakers = self.wakers.lock();
        let removed = wakers.waiting.remove(&(target, id));
        if removed.is_some() && wakers.waiting.is_empty() {
            self.has_wakers.store(false, Ordering::SeqCst);
        }
        // Dropped after the lock is released (see `register`).
        drop(wakers);
        drop(removed);
    }

    /// Number of futures whose wakers are registered (for tests).
    #[cfg(test)]
    fn registered(&self) -> usize {
        self.wakers.lock().waiting.len()
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

    /// Waits until the watermark is at least `seq`; false on timeout, or
    /// once [`VisibleSeq::release_all`] ran (the engine closed) without the
    /// watermark reaching `seq`. A timeout too large for an `Instant` (e.g.
    /// `Duration::MAX`) waits without a deadline.
    pub fn wait_for(&self, seq: SeqNo, timeout: Duration) -> bool {
        if self.get() >= seq {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        while state.visible < seq && !state.released {
            match deadline {
                Some(deadline) => {
                    if self.advanced.wait_until(&mut state, deadline).timed_out() {
                        return state.visible >= seq;
                    }
                }
                None => self.advanced.wait(&mut state),
            }
        }
        state.visible >= seq
    }
}

/// The read-your-writes fence as a `Future` ([`Engine::wait_visible_async`]):
/// resolves with `Ok(())` once the watermark reaches its sequence number
/// (every write up to it is visible to reads), or with the engine's
/// [`crate::Error::Closed`] or [`crate::Error::Poisoned`] if the engine
/// closes or is poisoned before that, so it never waits forever for a
/// write that can no longer become visible.
///
/// Runtime-agnostic: it registers the polling task's `Waker` with the
/// watermark, and the memtable insert that advances the watermark (or the
/// close or poisoning) wakes it; no thread, timer or runtime is involved,
/// so it works under any executor. It owns an `Arc` of the engine, so it
/// is `'static` and can be spawned. There is no timeout: race it against
/// the executor's timer for one. Dropping it unregisters its waker.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WaitVisible {
    engine: Arc<Engine>,
    seq: SeqNo,
    /// The registry id, from the first registration on.
    id: Option<u64>,
}

impl WaitVisible {
    pub(crate) fn new(engine: Arc<Engine>, seq: SeqNo) -> WaitVisible {
        WaitVisible {
            engine,
            seq,
            id: None,
        }
    }

    /// The sequence number it waits for.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The outcome, if there is one yet. The close/poison flags are read
    /// before the watermark: the async store drains its queue before the
    /// engine closes, so a closed engine's watermark read after the flag
    /// is final, and a write that made it is never reported `Closed`.
    fn outcome(&self) -> Option<Result<()>> {
        let stopped = self.engine.check_writable().err();
        if self.engine.watermark().get() >= self.seq {
            return Some(Ok(()));
        }
        stopped.map(Err)
    }

    fn unregister(&mut self) {
        if let Some(id) = self.id.take() {
            self.engine.watermark().deregister(self.seq, id);
        }
    }
}

impl Future for WaitVisible {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(outcome) = this.outcome() {
            this.unregister();
            return Poll::Ready(outcome);
        }
        this.engine
            .watermark()
            .register(this.seq, &mut this.id, cx.waker());
        // Checked again after registering: a publish, close or poisoning
        // that ran before the registration did not see it (module docs).
        if let Some(outcome) = this.outcome() {
            this.unregister();
            return Poll::Ready(outcome);
        }
        Poll::Pending
    }
}

impl Drop for WaitVisible {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waker whose drop deregisters another future, as an executor's may
    /// run arbitrary code when its waker is dropped: replacing or removing
    /// such a waker must not happen under the registry's lock (it would
    /// deadlock on the same thread).
    #[test]
    fn a_waker_dropped_by_the_registry_may_call_back_into_it() {
        use std::sync::mpsc;
        use std::task::Wake;
        struct DeregisterOnDrop(Arc<VisibleSeq>, SeqNo, u64);
        impl Wake for DeregisterOnDrop {
            fn wake(self: Arc<Self>) {}
        }
        impl Drop for DeregisterOnDrop {
            fn drop(&mut self) {
                self.0.deregister(self.1, self.2);
            }
        }
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let w = Arc::new(VisibleSeq::new(0));
            let mut other = None;
            w.register(9, &mut other, &Waker::noop().clone());
            let other = other.unwrap();
            let hook = Waker::from(Arc::new(DeregisterOnDrop(Arc::clone(&w), 9, other)));
            let mut id = None;
            w.register(5, &mut id, &hook);
            drop(hook); // the registry holds the last copy
                        // Replacing it drops it: its drop deregisters `other`.
            w.register(5, &mut id, &Waker::noop().clone());
            assert_eq!(w.registered(), 1);
            let hook = Waker::from(Arc::new(DeregisterOnDrop(Arc::clone(&w), 9, other)));
            w.register(5, &mut id, &hook);
            drop(hook);
            // Removing it drops it too.
            w.deregister(5, id.unwrap());
            assert_eq!(w.registered(), 0);
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a waker dropped under the registry's lock deadlocked");
    }
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
    fn release_all_ends_every_wait_for_now_and_later() {
        let w = Arc::new(VisibleSeq::new(0));
        w.publish(1, 1);
        let w2 = Arc::clone(&w);
        let blocked = std::thread::spawn(move || w2.wait_for(5, Duration::MAX));
        std::thread::sleep(Duration::from_millis(20));
        w.release_all();
        assert!(!blocked.join().unwrap(), "released, 5 never published");
        assert!(!w.wait_for(2, Duration::MAX), "a later wait does not block");
        assert!(w.wait_for(1, Duration::MAX), "what was reached still is");
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

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountingWaker>, Waker) {
        let count = Arc::new(CountingWaker::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn woken(count: &CountingWaker) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    #[test]
    fn publish_wakes_exactly_the_registered_wakers_whose_target_it_reached() {
        let w = VisibleSeq::new(0);
        let (at2, waker2) = counting_waker();
        let (at5, waker5) = counting_waker();
        let (mut id2, mut id5) = (None, None);
        w.register(2, &mut id2, &waker2);
        w.register(5, &mut id5, &waker5);
        w.register(5, &mut id5, &waker5); // a second poll: same entry
        assert_ne!(id2, id5);
        assert_eq!(w.registered(), 2);
        assert!(w.has_wakers.load(Ordering::SeqCst));

        w.publish(3, 3); // out of order: the watermark stays at 0
        assert_eq!((woken(&at2), woken(&at5)), (0, 0));
        w.publish(1, 2); // watermark 3
        assert_eq!((woken(&at2), woken(&at5)), (1, 0));
        assert_eq!(w.registered(), 1, "a woken waker is removed");
        w.publish(4, 4);
        assert_eq!(woken(&at5), 0, "target 5 not reached at 4");
        w.publish(5, 6);
        assert_eq!((woken(&at2), woken(&at5)), (1, 1));
        assert_eq!(w.registered(), 0);
        assert!(
            !w.has_wakers.load(Ordering::SeqCst),
            "publish skips the registry again"
        );
        w.publish(7, 7);
        assert_eq!((woken(&at2), woken(&at5)), (1, 1), "woken only once");
    }

    #[test]
    fn wake_all_wakes_every_target_and_deregister_forgets_one() {
        let w = VisibleSeq::new(0);
        let (a, waker_a) = counting_waker();
        let (b, waker_b) = counting_waker();
        let (mut id_a, mut id_b) = (None, None);
        w.register(10, &mut id_a, &waker_a);
        w.register(20, &mut id_b, &waker_b);
        w.deregister(10, id_a.unwrap());
        assert_eq!(w.registered(), 1);
        assert!(w.has_wakers.load(Ordering::SeqCst));
        w.wake_all();
        assert_eq!((woken(&a), woken(&b)), (0, 1));
        assert_eq!(w.registered(), 0);
        assert!(!w.has_wakers.load(Ordering::SeqCst));
        w.deregister(20, id_b.unwrap()); // already gone: no effect
        assert!(!w.has_wakers.load(Ordering::SeqCst));
    }

    /// A minimal executor: polls on the calling thread, parks while
    /// pending, and the waker unparks it. No runtime.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }

    fn poll_once(future: &mut WaitVisible, waker: &Waker) -> Poll<Result<()>> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn the_future_resolves_once_writes_from_other_threads_reach_its_target() {
        use crate::engine::test_support::{open_small, put};
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        let (_count, waker) = counting_waker();
        let mut ready = engine.wait_visible_async(1);
        assert_eq!(ready.seq(), 1);
        assert!(matches!(poll_once(&mut ready, &waker), Poll::Ready(Ok(()))));
        assert_eq!(engine.watermark().registered(), 0, "never registered");

        // Four threads each wait (blocked in the executor) for a
        // different future sequence number; a writer thread makes them.
        std::thread::scope(|s| {
            let waiters: Vec<_> = (2..=5u64)
                .map(|seq| {
                    let future = engine.wait_visible_async(seq * 10);
                    s.spawn(move || block_on(future))
                })
                .collect();
            s.spawn(|| {
                for i in 0..50 {
                    put(&engine, &format!("k{i}"), "v");
                }
            });
            for waiter in waiters {
                waiter.join().unwrap().unwrap();
            }
        });
        assert!(engine.visible_seq() >= 50);
        assert_eq!(engine.watermark().registered(), 0);
        assert!(!engine.watermark().has_wakers.load(Ordering::SeqCst));
        engine.close().unwrap();
    }

    #[test]
    fn a_pending_future_is_woken_and_fails_when_the_engine_closes() {
        use crate::engine::test_support::{open_small, put};
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        let (count, waker) = counting_waker();
        let mut future = engine.wait_visible_async(2);
        assert!(poll_once(&mut future, &waker).is_pending());
        assert!(poll_once(&mut future, &waker).is_pending());
        assert_eq!(engine.watermark().registered(), 1, "one entry per future");
        let waiter = {
            let future = engine.wait_visible_async(3);
            std::thread::spawn(move || block_on(future))
        };
        std::thread::sleep(Duration::from_millis(20));
        engine.close().unwrap();
        assert_eq!(woken(&count), 1, "close woke the pending future");
        let outcome = poll_once(&mut future, &waker);
        assert!(
            matches!(outcome, Poll::Ready(Err(crate::Error::Closed))),
            "{outcome:?}"
        );
        let err = waiter.join().unwrap().unwrap_err();
        assert!(err.is_closed(), "{err}");
        // Already reached: still `Ok` after the close.
        let reached = block_on(engine.wait_visible_async(1));
        assert!(reached.is_ok(), "{reached:?}");
    }

    #[test]
    fn a_pending_future_fails_when_the_engine_is_poisoned_and_drop_unregisters() {
        use crate::engine::test_support::{open_small, put};
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        let (_count, waker) = counting_waker();
        let mut dropped = engine.wait_visible_async(5);
        assert!(poll_once(&mut dropped, &waker).is_pending());
        drop(dropped);
        assert_eq!(engine.watermark().registered(), 0, "drop unregistered");
        assert!(!engine.watermark().has_wakers.load(Ordering::SeqCst));

        let waiter = {
            let future = engine.wait_visible_async(2);
            std::thread::spawn(move || block_on(future))
        };
        std::thread::sleep(Duration::from_millis(20));
        engine.poison("disk on fire".to_string());
        let err = waiter.join().unwrap().unwrap_err();
        assert!(
            err.is_poisoned() && err.to_string().contains("disk on fire"),
            "{err}"
        );
        assert!(block_on(engine.wait_visible_async(1)).is_ok());
        engine.close().unwrap();
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
