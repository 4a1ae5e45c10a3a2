//! `StoreStats::record_metrics` across a reopen in the same process, as
//! docs/observability.md ("Metrics") describes it: the `_total` counters
//! are the totals since open, set with `Counter::absolute`, which the
//! `metrics` facade defines as "at least" (its atomic counter keeps the
//! maximum), so after a reopen a counter holds the earlier open's total
//! until the new open's passes it, and a fresh prefix counts the new open
//! from 0. (The docs once promised that the counters restart at 0, which
//! the facade cannot do; found by a review.) Checked through
//! `metrics-util`'s `DebuggingRecorder`, one recorder for both opens, read
//! once after the second publication (its snapshots drain counters, which
//! a Prometheus exporter's scrape does not).
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use lsm_core::WriteBatch;
use lsm_engine::{Engine, LsmConfig, StoreStats};
use lsm_wal::SyncMode;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .wal_sync(SyncMode::Never)
        .num_levels(3)
        .build()
        .unwrap()
}

/// Every published counter by name (one snapshot: it drains them).
fn counters(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(v) => Some((key.key().name().to_string(), v)),
            _ => None,
        })
        .collect()
}

fn write_some(engine: &Engine, n: u32) {
    for i in 0..n {
        let mut batch = WriteBatch::new();
        batch.put(format!("k{i:03}").as_bytes(), b"value");
        engine.write(&batch).unwrap();
    }
}

#[test]
fn after_a_reopen_counters_never_go_down_and_a_fresh_prefix_counts_from_0() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let publish = |stats: &StoreStats| {
        metrics::with_local_recorder(&recorder, || stats.record_metrics("lsm"));
    };

    let engine = Engine::open(config(dir.path())).unwrap();
    write_some(&engine, 100);
    let first = engine.stats().unwrap();
    publish(&first);
    engine.close().unwrap();
    drop(engine);

    // Reopened: fewer writes than before.
    let engine = Engine::open(config(dir.path())).unwrap();
    write_some(&engine, 10);
    let second = engine.stats().unwrap();
    assert!(second.user_bytes_written < first.user_bytes_written);
    publish(&second);
    metrics::with_local_recorder(&recorder, || second.record_metrics("reopened"));
    let published = counters(&snapshotter);
    assert_eq!(
        published["lsm_user_bytes_written_total"], first.user_bytes_written,
        "a counter never goes down: the first open's total stands until the \
         second's ({}) passes it",
        second.user_bytes_written
    );
    assert_eq!(
        published["reopened_user_bytes_written_total"],
        second.user_bytes_written
    );
    assert_eq!(
        published["reopened_wal_bytes_written_total"],
        second.wal_bytes_written
    );
    engine.close().unwrap();
}
