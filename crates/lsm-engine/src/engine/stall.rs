//! Write stalls: the stores report each wait for room here, which counts
//! it in the stats and emits the `lsm.stall` event.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Engine;

/// A stall at least this long is a `warn` event; a shorter one is `debug`.
pub const STALL_WARN_THRESHOLD: Duration = Duration::from_millis(100);

/// Why a write (or the thread applying writes) waited; the `cause` field of
/// the `lsm.stall` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallCause {
    /// Async store: the applier waited for the flusher because too many
    /// frozen memtables were waiting to be flushed (writers queue, then
    /// block, meanwhile). The flusher may itself be waiting for
    /// compaction, with L0 full.
    FlushBacklog,
    /// Async store: a writer found the apply queue full and waited for
    /// the applier to take its write.
    ApplyQueueFull,
    /// Async store: a writer waited, before its WAL append, for the
    /// freeze of a memtable an eighth past its size.
    MemtableOverfull,
    /// Sync store: a write that filled the memtable froze, flushed and
    /// compacted on its own thread before returning (or waited for another
    /// write doing so).
    InlineMaintenance,
    /// Async store: a writer slept, before its WAL append, because L0
    /// holds `L0_SLOWDOWN_FACTOR` x `l0_trigger` tables or more and writes
    /// are held to the slowdown's rate ([`Engine::write_delay`]).
    L0Slowdown,
}

impl StallCause {
    /// The name in events: `flush_backlog`, `apply_queue_full`,
    /// `memtable_overfull`, `inline_maintenance`, `l0_slowdown`.
    pub fn as_str(self) -> &'static str {
        match self {
            StallCause::FlushBacklog => "flush_backlog",
            StallCause::ApplyQueueFull => "apply_queue_full",
            StallCause::MemtableOverfull => "memtable_overfull",
            StallCause::InlineMaintenance => "inline_maintenance",
            StallCause::L0Slowdown => "l0_slowdown",
        }
    }
}

/// Whole microseconds, saturating (the `duration_us` fields of events).
pub(crate) fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

impl Engine {
    /// Counts a stall of `elapsed` (`write_stalls`, `write_stall_nanos` in
    /// the stats) and emits `lsm.stall` with its cause and length: `warn`
    /// from [`STALL_WARN_THRESHOLD`] on, `debug` below. The caller measures
    /// only when it actually waited, so the write path pays nothing
    /// otherwise.
    pub fn record_stall(&self, cause: StallCause, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counters.stalls.fetch_add(1, Ordering::Relaxed);
        self.counters
            .stall_nanos
            .fetch_add(nanos, Ordering::Relaxed);
        let duration_us = micros(elapsed);
        if elapsed >= STALL_WARN_THRESHOLD {
            tracing::warn!(
                name: "lsm.stall",
                dir = %self.dir.display(),
                cause = cause.as_str(),
                duration_us,
                "write stall"
            );
        } else {
            tracing::debug!(
                name: "lsm.stall",
                dir = %self.dir.display(),
                cause = cause.as_str(),
                duration_us,
                "write stall"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::open_small;
    use super::*;

    #[test]
    fn stalls_add_up_in_the_stats() {
        let (_dir, engine) = open_small();
        assert_eq!(engine.stats().unwrap().write_stalls, 0);
        engine.record_stall(StallCause::FlushBacklog, Duration::from_micros(1500));
        engine.record_stall(StallCause::ApplyQueueFull, Duration::from_millis(200));
        let stats = engine.stats().unwrap();
        assert_eq!(stats.write_stalls, 2);
        assert_eq!(stats.write_stall_nanos, 201_500_000);
    }
}
