//! Publishing [`StoreStats`] through the `metrics` facade (cargo feature
//! `metrics`): [`StoreStats::record_metrics`]. The names are stable; the
//! table is in `docs/observability.md`, "Metrics".

use metrics::{counter, gauge};

use crate::stats::StoreStats;

impl StoreStats {
    /// Publishes this picture through the `metrics` facade, to whatever
    /// recorder the application installed (none: nothing happens). Call it
    /// after each `stats()` poll, e.g. once per scrape interval.
    ///
    /// Sizes and levels are gauges, set to the current value; cumulative
    /// totals since open (every `*_total` name) are counters set with
    /// `Counter::absolute`, which the facade defines as "at least": a
    /// counter never goes down, so after a reopen in the same process it
    /// holds the earlier open's total until the new open's passes it
    /// (publish each open under a prefix of its own to count it from 0).
    /// Every name
    /// starts with `prefix` and `_` (e.g. `lsm` gives `lsm_flushes_total`);
    /// per-level gauges carry a `level` label (`"0"`, `"1"`, ...). A ratio
    /// that is undefined (write amplification before any user byte, the
    /// block cache hit rate before any lookup) is not published.
    pub fn record_metrics(&self, prefix: &str) {
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        let gauges: [(&str, f64); 13] = [
            ("memtable_bytes", self.memtable_bytes as f64),
            ("immutable_memtables", self.immutable_memtables as f64),
            ("immutable_bytes", self.immutable_bytes as f64),
            ("table_files", self.total_files() as f64),
            ("table_bytes", self.total_table_bytes() as f64),
            ("wal_bytes", self.wal_bytes as f64),
            ("wal_segments", self.wal_segments as f64),
            ("last_seq", self.last_seq as f64),
            ("visible_seq", self.visible_seq as f64),
            ("live_snapshots", self.live_snapshots as f64),
            (
                "pending_compaction_bytes",
                self.pending_compaction_bytes as f64,
            ),
            ("poisoned", if self.poisoned.is_some() { 1.0 } else { 0.0 }),
            (
                "delayed_write_rate",
                self.delayed_write_rate.unwrap_or(0) as f64,
            ),
        ];
        for (suffix, value) in gauges {
            gauge!(name(suffix)).set(value);
        }
        if let Some(amplification) = self.write_amplification() {
            gauge!(name("write_amplification")).set(amplification);
        }
        if let Some(rate) = self.block_cache_hit_rate() {
            gauge!(name("block_cache_hit_rate")).set(rate);
        }
        for (level, stats) in self.levels.iter().enumerate() {
            let label = level.to_string();
            gauge!(name("level_files"), "level" => label.clone()).set(stats.files as f64);
            gauge!(name("level_bytes"), "level" => label.clone()).set(stats.bytes as f64);
            gauge!(name("level_score"), "level" => label).set(stats.score);
        }
        let counters: [(&str, u64); 13] = [
            ("flushes_total", self.flushes),
            ("compactions_total", self.compactions),
            ("trivial_moves_total", self.trivial_moves),
            ("flush_bytes_written_total", self.flush_bytes_written),
            ("compaction_bytes_read_total", self.compaction_bytes_read),
            (
                "compaction_bytes_written_total",
                self.compaction_bytes_written,
            ),
            ("user_bytes_written_total", self.user_bytes_written),
            ("wal_bytes_written_total", self.wal_bytes_written),
            ("wal_syncs_total", self.wal_syncs),
            ("block_cache_hits_total", self.block_cache_hits),
            ("block_cache_misses_total", self.block_cache_misses),
            ("write_stalls_total", self.write_stalls),
            ("write_stall_nanoseconds_total", self.write_stall_nanos),
        ];
        for (suffix, value) in counters {
            counter!(name(suffix)).absolute(value);
        }
    }
}
