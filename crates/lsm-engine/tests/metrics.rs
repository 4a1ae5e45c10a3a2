//! `StoreStats::record_metrics` (feature `metrics`): every documented name
//! is published with the stats' value, counters as counters and sizes as
//! gauges, through `metrics-util`'s `DebuggingRecorder` installed for the
//! test's thread only.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;

use lsm_core::WriteBatch;
use lsm_engine::{Engine, LevelStats, LsmConfig, StoreStats};
use lsm_wal::SyncMode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

/// Name (with `{level=N}` for labelled ones) -> (kind, value).
fn record(stats: &StoreStats, prefix: &str) -> BTreeMap<String, (MetricKind, f64)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || stats.record_metrics(prefix));
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, _description, value)| {
            let (kind, key) = key.into_parts();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_string()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            let value = match value {
                DebugValue::Counter(v) => v as f64,
                DebugValue::Gauge(v) => v.into_inner(),
                DebugValue::Histogram(_) => panic!("no histograms are published"),
            };
            (name, (kind, value))
        })
        .collect()
}

fn sample() -> StoreStats {
    StoreStats {
        memtable_bytes: 1,
        immutable_memtables: 2,
        immutable_bytes: 3,
        levels: vec![
            LevelStats {
                files: 4,
                bytes: 5,
                score: 0.5,
            },
            LevelStats {
                files: 6,
                bytes: 7,
                score: 1.5,
            },
        ],
        wal_bytes: 8,
        wal_segments: 9,
        last_seq: 10,
        visible_seq: 11,
        flushes: 12,
        compactions: 13,
        trivial_moves: 14,
        flush_bytes_written: 15,
        compaction_bytes_read: 16,
        compaction_bytes_written: 17,
        user_bytes_written: 20,
        wal_bytes_written: 18,
        live_snapshots: 19,
        block_cache_hits: 3,
        block_cache_misses: 1,
        poisoned: Some("why".to_string()),
        pending_compaction_bytes: 21,
        write_stalls: 22,
        write_stall_nanos: 23,
        wal_syncs: 24,
        delayed_write_rate: Some(25),
    }
}

#[test]
fn every_documented_name_carries_its_stat() {
    use MetricKind::{Counter, Gauge};
    let published = record(&sample(), "lsm");
    let expected: BTreeMap<String, (MetricKind, f64)> = [
        ("lsm_memtable_bytes", Gauge, 1.0),
        ("lsm_immutable_memtables", Gauge, 2.0),
        ("lsm_immutable_bytes", Gauge, 3.0),
        ("lsm_table_files", Gauge, 10.0),
        ("lsm_table_bytes", Gauge, 12.0),
        ("lsm_level_files{level=0}", Gauge, 4.0),
        ("lsm_level_bytes{level=0}", Gauge, 5.0),
        ("lsm_level_score{level=0}", Gauge, 0.5),
        ("lsm_level_files{level=1}", Gauge, 6.0),
        ("lsm_level_bytes{level=1}", Gauge, 7.0),
        ("lsm_level_score{level=1}", Gauge, 1.5),
        ("lsm_wal_bytes", Gauge, 8.0),
        ("lsm_wal_segments", Gauge, 9.0),
        ("lsm_last_seq", Gauge, 10.0),
        ("lsm_visible_seq", Gauge, 11.0),
        ("lsm_live_snapshots", Gauge, 19.0),
        ("lsm_pending_compaction_bytes", Gauge, 21.0),
        ("lsm_poisoned", Gauge, 1.0),
        ("lsm_delayed_write_rate", Gauge, 25.0),
        // (18 WAL + 15 flush + 17 compaction) / 20 user bytes
        ("lsm_write_amplification", Gauge, 2.5),
        ("lsm_block_cache_hit_rate", Gauge, 0.75),
        ("lsm_flushes_total", Counter, 12.0),
        ("lsm_compactions_total", Counter, 13.0),
        ("lsm_trivial_moves_total", Counter, 14.0),
        ("lsm_flush_bytes_written_total", Counter, 15.0),
        ("lsm_compaction_bytes_read_total", Counter, 16.0),
        ("lsm_compaction_bytes_written_total", Counter, 17.0),
        ("lsm_user_bytes_written_total", Counter, 20.0),
        ("lsm_wal_bytes_written_total", Counter, 18.0),
        ("lsm_wal_syncs_total", Counter, 24.0),
        ("lsm_block_cache_hits_total", Counter, 3.0),
        ("lsm_block_cache_misses_total", Counter, 1.0),
        ("lsm_write_stalls_total", Counter, 22.0),
        ("lsm_write_stall_nanoseconds_total", Counter, 23.0),
    ]
    .into_iter()
    .map(|(name, kind, value)| (name.to_string(), (kind, value)))
    .collect();
    assert_eq!(published, expected);
}

/// Undefined ratios are left out; the prefix is the caller's.
#[test]
fn undefined_ratios_are_not_published_and_the_prefix_is_used() {
    let stats = StoreStats {
        poisoned: None,
        ..StoreStats::default()
    };
    let published = record(&stats, "db1");
    assert!(!published.contains_key("db1_write_amplification"));
    assert!(!published.contains_key("db1_block_cache_hit_rate"));
    assert_eq!(published["db1_poisoned"], (MetricKind::Gauge, 0.0));
    // Writes not slowed: the rate gauge reads 0.
    assert_eq!(
        published["db1_delayed_write_rate"],
        (MetricKind::Gauge, 0.0)
    );
    assert!(published.keys().all(|name| name.starts_with("db1_")));
    assert_eq!(published.len(), 13 + 13, "13 gauges, 13 counters, no level");
}

/// A live engine's stats go through unchanged.
#[test]
fn a_live_engines_counters_are_published() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Always)
        .num_levels(3)
        .build()
        .unwrap();
    let engine = Engine::open(config).unwrap();
    for i in 0..10u32 {
        let mut batch = WriteBatch::new();
        batch.put(format!("k{i}").as_bytes(), b"value");
        engine.write(&batch).unwrap();
    }
    let stats = engine.stats().unwrap();
    assert_eq!(stats.user_bytes_written, 10 * (2 + 5));
    assert!(stats.wal_syncs >= 11, "header + one per write: {stats:?}");
    let published = record(&stats, "lsm");
    assert_eq!(
        published["lsm_user_bytes_written_total"],
        (MetricKind::Counter, 70.0)
    );
    assert_eq!(
        published["lsm_wal_syncs_total"],
        (MetricKind::Counter, stats.wal_syncs as f64)
    );
    assert_eq!(
        published["lsm_wal_bytes_written_total"],
        (MetricKind::Counter, stats.wal_bytes_written as f64)
    );
    assert_eq!(published["lsm_last_seq"], (MetricKind::Gauge, 10.0));
    assert_eq!(
        published["lsm_level_files{level=2}"],
        (MetricKind::Gauge, 0.0)
    );
    engine.close().unwrap();
}
