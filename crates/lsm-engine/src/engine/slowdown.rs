//! The write slowdown: when compaction falls behind and L0 fills, writes
//! are delayed a little each, at a rate that falls while L0 keeps growing,
//! instead of running at full speed into a hard stop that holds every
//! writer for a whole compaction (RocksDB's delayed write rate).
//!
//! From [`L0_SLOWDOWN_FACTOR`] x `l0_trigger` L0 tables on, a write of `n`
//! bytes is charged `n / rate` of time. Charges add up on one clock (the
//! time up to which writes are paid for); a writer sleeps only once that
//! clock is [`DELAY_STEP`] or more ahead of now, so small writes go through
//! in bursts a millisecond long and then wait about a millisecond, and no
//! one sleeps longer than [`MAX_WRITE_DELAY`] at a time. The rate starts at
//! [`SLOWDOWN_START_RATE`] and is multiplied by 4/5 each time a new version
//! shows L0 grown since the last one (a flush landed while compaction
//! lagged), by 5/4 (up to the start rate) each time it shows L0 shrunk, and
//! never drops below [`SLOWDOWN_MIN_RATE`]. Below the threshold writes are
//! not delayed and the rate starts over.
//!
//! The engine observes L0 at every version install; a store decides
//! whether to ask [`Engine::write_delay`] (the async store does, before a
//! write takes the write gate; the sync store, which compacts on the
//! writer's thread, never lets L0 lag and does not).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Engine;

/// L0 tables, as a multiple of `LsmConfig::l0_trigger`, from which writes
/// are delayed (with the default trigger of 4: 20 tables, as RocksDB's
/// `level0_slowdown_writes_trigger`).
pub const L0_SLOWDOWN_FACTOR: usize = 5;

/// Bytes per second writes are held to when the slowdown starts
/// (RocksDB's default `delayed_write_rate`).
pub const SLOWDOWN_START_RATE: u64 = 16 << 20;

/// The rate the slowdown never goes below, however long L0 keeps growing.
pub const SLOWDOWN_MIN_RATE: u64 = 16 << 10;

/// A writer sleeps once the writes charged are this far ahead of now.
pub const DELAY_STEP: Duration = Duration::from_millis(1);

/// The longest one write sleeps; a larger charge stays owed by the writes
/// after it.
pub const MAX_WRITE_DELAY: Duration = Duration::from_millis(100);

/// The slowdown's state; guarded by `WriteSlowdown::state`.
#[derive(Debug)]
struct SlowdownState {
    /// Bytes per second while slowed.
    rate: u64,
    /// L0's table count at the last observation.
    l0_tables: usize,
    /// Writes are paid for up to this instant.
    paid_until: Option<Instant>,
}

/// Decides how long a write waits while L0 is over the slowdown threshold.
#[derive(Debug)]
pub(crate) struct WriteSlowdown {
    /// L0 tables from which writes are delayed.
    threshold: usize,
    /// Whether writes are delayed: read without the lock on every write.
    active: AtomicBool,
    state: Mutex<SlowdownState>,
}

impl WriteSlowdown {
    /// A slowdown that starts at `l0_trigger` x [`L0_SLOWDOWN_FACTOR`] L0
    /// tables.
    pub(crate) fn new(l0_trigger: usize) -> WriteSlowdown {
        WriteSlowdown {
            threshold: l0_trigger.saturating_mul(L0_SLOWDOWN_FACTOR).max(1),
            active: AtomicBool::new(false),
            state: Mutex::new(SlowdownState {
                rate: SLOWDOWN_START_RATE,
                l0_tables: 0,
                paid_until: None,
            }),
        }
    }

    /// Takes in L0's table count after a version change.
    pub(crate) fn observe(&self, l0_tables: usize) {
        let mut state = self.state.lock();
        let was_active = self.active.load(Ordering::Relaxed);
        if l0_tables < self.threshold {
            state.rate = SLOWDOWN_START_RATE;
            state.paid_until = None;
            self.active.store(false, Ordering::Relaxed);
        } else if !was_active {
            state.rate = SLOWDOWN_START_RATE;
            self.active.store(true, Ordering::Relaxed);
        } else if l0_tables > state.l0_tables {
            state.rate = (state.rate / 5 * 4).max(SLOWDOWN_MIN_RATE);
        } else if l0_tables < state.l0_tables {
            state.rate = (state.rate / 4 * 5).min(SLOWDOWN_START_RATE);
        }
        state.l0_tables = l0_tables;
    }

    /// The rate writes are held to, if they are delayed.
    pub(crate) fn rate(&self) -> Option<u64> {
        let state = self.state.lock();
        self.active.load(Ordering::Relaxed).then_some(state.rate)
    }

    /// Charges a write of `bytes` at `now` (read only when slowed, by the
    /// caller's closure); how long its writer must sleep first, if at all.
    pub(crate) fn charge(&self, bytes: usize, now: impl FnOnce() -> Instant) -> Option<Duration> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.state.lock();
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let now = now();
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let nanos = u128::from(bytes) * 1_000_000_000 / u128::from(state.rate.max(1));
        let cost = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let from = state.paid_until.map_or(now, |paid| paid.max(now));
        let until = from.checked_add(cost).unwrap_or(from);
        state.paid_until = Some(until);
        let ahead = until.saturating_duration_since(now);
        (ahead >= DELAY_STEP).then(|| ahead.min(MAX_WRITE_DELAY))
    }
}

impl Engine {
    /// How long a write of `bytes` (its encoded batch) should wait before
    /// it is appended, while L0 holds [`L0_SLOWDOWN_FACTOR`] x
    /// `l0_trigger` tables or more (see the `slowdown` module); `None`, with
    /// one relaxed load and no clock read, otherwise. A store that asks
    /// sleeps for it, holding nothing, and records it as a
    /// `StallCause::L0Slowdown` stall.
    pub fn write_delay(&self, bytes: usize) -> Option<Duration> {
        self.slowdown.charge(bytes, Instant::now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn slowed(l0_trigger: usize) -> WriteSlowdown {
        let slowdown = WriteSlowdown::new(l0_trigger);
        slowdown.observe(l0_trigger * L0_SLOWDOWN_FACTOR);
        slowdown
    }

    #[test]
    fn below_the_threshold_nothing_is_delayed_and_no_clock_is_read() {
        let slowdown = WriteSlowdown::new(4);
        slowdown.observe(19);
        assert_eq!(slowdown.rate(), None);
        assert_eq!(
            slowdown.charge(1 << 30, || panic!("clock read while not slowed")),
            None
        );
    }

    #[test]
    fn at_the_threshold_writes_pay_for_their_bytes_at_the_start_rate() {
        let slowdown = slowed(4);
        assert_eq!(slowdown.rate(), Some(SLOWDOWN_START_RATE));
        let now = Instant::now();
        // 16 MiB/s: 16 KiB cost about 0.98 ms, under the step: no sleep,
        // but owed.
        assert_eq!(slowdown.charge(16 << 10, || now), None);
        // The next 16 KiB bring the debt to ~1.95 ms: sleep all of it.
        let delay = slowdown.charge(16 << 10, || now).unwrap();
        assert_eq!(delay, Duration::from_nanos(2 * 976_562));
        // After sleeping it, a write starts paying from now again.
        let later = now + delay;
        assert_eq!(slowdown.charge(1, || later), None);
    }

    #[test]
    fn debt_left_behind_in_the_past_is_not_owed() {
        let slowdown = slowed(4);
        let now = Instant::now();
        assert!(slowdown.charge(64 << 10, || now).is_some());
        // A second later the charge starts from that moment.
        let later = now + Duration::from_secs(1);
        assert_eq!(slowdown.charge(8 << 10, || later), None);
    }

    #[test]
    fn one_sleep_is_capped_and_the_rest_stays_owed() {
        let slowdown = slowed(4);
        let now = Instant::now();
        // 32 MiB at 16 MiB/s: 2 s owed, 100 ms slept.
        assert_eq!(slowdown.charge(32 << 20, || now), Some(MAX_WRITE_DELAY));
        // The next small write, 100 ms later, still owes the rest.
        assert_eq!(
            slowdown.charge(1, || now + MAX_WRITE_DELAY),
            Some(MAX_WRITE_DELAY)
        );
    }

    #[test]
    fn the_rate_falls_while_l0_grows_and_recovers_as_it_shrinks() {
        let slowdown = slowed(4);
        slowdown.observe(21);
        assert_eq!(slowdown.rate(), Some(SLOWDOWN_START_RATE / 5 * 4));
        slowdown.observe(21); // no change: same rate
        assert_eq!(slowdown.rate(), Some(SLOWDOWN_START_RATE / 5 * 4));
        slowdown.observe(22);
        let twice = SLOWDOWN_START_RATE / 5 * 4 / 5 * 4;
        assert_eq!(slowdown.rate(), Some(twice));
        slowdown.observe(20);
        assert_eq!(slowdown.rate(), Some(twice / 4 * 5));
        for _ in 0..10 {
            slowdown.observe(21);
            slowdown.observe(20);
        }
        assert!(slowdown.rate().unwrap() <= SLOWDOWN_START_RATE);
        for l0 in 21..400 {
            slowdown.observe(l0);
        }
        assert_eq!(slowdown.rate(), Some(SLOWDOWN_MIN_RATE));
    }

    #[test]
    fn falling_below_the_threshold_ends_the_slowdown_and_its_debt() {
        let slowdown = slowed(2);
        slowdown.observe(11);
        let now = Instant::now();
        assert!(slowdown.charge(1 << 20, || now).is_some());
        slowdown.observe(9);
        assert_eq!(slowdown.rate(), None);
        assert_eq!(slowdown.charge(1 << 20, || now), None);
        // Back over: the start rate, nothing owed from before.
        slowdown.observe(10);
        assert_eq!(slowdown.rate(), Some(SLOWDOWN_START_RATE));
        assert_eq!(slowdown.charge(1 << 10, || now), None);
    }

    #[test]
    fn writers_sharing_the_slowdown_are_held_to_its_rate_together() {
        let slowdown = slowed(4);
        let now = Instant::now();
        // Four writers of 4 KiB each, 64 times, all at `now`: 1 MiB at
        // 16 MiB/s is 62.5 ms in all; the delays handed out grow with the
        // debt (each capped), and the last one is the whole debt.
        let mut last = None;
        for _ in 0..64 {
            for _ in 0..4 {
                last = slowdown.charge(4 << 10, || now).or(last);
            }
        }
        let last = last.unwrap();
        assert!(last > 62 * MS && last < 63 * MS, "{last:?}");
    }
}
