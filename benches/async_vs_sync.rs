//! The same sustained write workload against `SimpleLsmStore` and
//! `AsyncLsmStore`: random 16-byte keys, 100-byte values, `SyncMode::Never`,
//! an 8 MiB memtable and a small L0 trigger so that several flushes and
//! compactions happen. Prints, per store, the puts completed in each
//! 1-second interval and the put latency percentiles (hdrhistogram), as
//! Markdown tables.
//!
//! Two runs per store:
//! - *closed loop*: one writer puts as fast as it can; each put's latency is
//!   its own call time. A flush that stalls the sync store for 300 ms delays
//!   one measured put, so stalls show in the max but not in p99.9.
//! - *open loop* (sustained load): puts arrive at a fixed rate and each
//!   put's latency counts from when it was due, not from when the stalled
//!   writer got around to it (correcting coordinated omission, as wrk2 and
//!   YCSB's intended latency do). A stall then delays every put that arrives
//!   during it, which is what a caller of a store under load sees.
//!
//! Run: `cargo run --release -p lsm-benches --example async_vs_sync [puts] [rate]`
//! (defaults: 1,000,000 puts per store; open-loop rate 100,000 puts/s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod rng;

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};
use rng::Rng;

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(8 << 20)
        .table_target_bytes(8 << 20)
        .wal_segment_bytes(64 << 20)
        .base_level_bytes(32 << 20)
        .l0_trigger(2)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

struct Run {
    name: &'static str,
    latency_ns: Histogram<u64>,
    per_second: Vec<u64>,
    elapsed: Duration,
    /// Async only: time from the last put returning to everything visible.
    drain: Option<Duration>,
    flushes: u64,
    compactions: u64,
}

/// Runs `puts` puts. With `rate`, put `i` is due at `start + i / rate` and
/// its latency counts from then (open loop); without, from its call.
fn workload(
    name: &'static str,
    puts: u64,
    rate: Option<u64>,
    mut put: impl FnMut(&[u8], &[u8]) -> u64,
) -> Run {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut key = [0u8; KEY_BYTES];
    let mut value = [0u8; VALUE_BYTES];
    let mut latency_ns = Histogram::<u64>::new_with_bounds(1, 120_000_000_000, 3).unwrap();
    let mut per_second = Vec::new();
    let start = Instant::now();
    for i in 0..puts {
        rng.fill(&mut key);
        rng.fill(&mut value);
        let mut t0 = Instant::now();
        if let Some(rate) = rate {
            let due = start + Duration::from_nanos(i * 1_000_000_000 / rate.max(1));
            // Wait for the put's arrival: sleep when far ahead, spin when close.
            while t0 < due {
                if due - t0 > Duration::from_micros(200) {
                    std::thread::sleep(due - t0 - Duration::from_micros(100));
                } else {
                    std::hint::spin_loop();
                }
                t0 = Instant::now();
            }
            t0 = due;
        }
        put(&key, &value);
        let t1 = Instant::now();
        latency_ns.saturating_record((t1 - t0).as_nanos().max(1) as u64);
        let second = (t1 - start).as_secs() as usize;
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
    }
    Run {
        name,
        latency_ns,
        per_second,
        elapsed: start.elapsed(),
        drain: None,
        flushes: 0,
        compactions: 0,
    }
}

fn run_sync(puts: u64, rate: Option<u64>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let mut run = workload("SimpleLsmStore", puts, rate, |k, v| {
        store.put(k, v).unwrap()
    });
    let stats = store.stats().unwrap();
    (run.flushes, run.compactions) = (stats.flushes, stats.compactions);
    store.close().unwrap();
    run
}

fn run_async(puts: u64, rate: Option<u64>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(config(dir.path())).unwrap();
    let mut last = 0;
    let mut run = workload("AsyncLsmStore", puts, rate, |k, v| {
        last = store.put(k, v).unwrap();
        last
    });
    let t = Instant::now();
    assert!(store.wait_for_seq(last, Duration::from_secs(600)));
    run.drain = Some(t.elapsed());
    let stats = store.stats().unwrap();
    (run.flushes, run.compactions) = (stats.flushes, stats.compactions);
    store.close().unwrap();
    run
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let puts: u64 = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let rate: u64 = args.next().map_or(100_000, |s| s.parse().unwrap());
    println!(
        "# async_vs_sync: {puts} puts per store, {KEY_BYTES}-byte random keys, {VALUE_BYTES}-byte values, \
         SyncMode::Never, 8 MiB memtable, l0_trigger 2, one writer thread\n"
    );
    println!("# Closed loop (as fast as possible; latency = call time)\n");
    report(&[run_sync(puts, None), run_async(puts, None)], puts);
    println!("\n# Open loop ({rate} puts/s arriving; latency counted from each put's due time)\n");
    report(
        &[run_sync(puts, Some(rate)), run_async(puts, Some(rate))],
        puts,
    );
}

fn report(runs: &[Run; 2], puts: u64) {
    println!("## Put latency (µs)\n");
    println!("| store | p50 | p99 | p99.9 | p99.99 | max | mean | puts/s overall | flushes | compactions |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let h = &r.latency_ns;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} |",
            r.name,
            us(h.value_at_quantile(0.5)),
            us(h.value_at_quantile(0.99)),
            us(h.value_at_quantile(0.999)),
            us(h.value_at_quantile(0.9999)),
            us(h.max()),
            us(h.mean() as u64),
            puts as f64 / r.elapsed.as_secs_f64(),
            r.flushes,
            r.compactions,
        );
    }
    if let Some(drain) = runs[1].drain {
        println!(
            "\nAsyncLsmStore: last put returned after {:.2} s; everything visible {:.1} ms later.",
            runs[1].elapsed.as_secs_f64(),
            drain.as_secs_f64() * 1000.0
        );
    }

    println!("\n## Puts completed per 1-second interval\n");
    let seconds = runs.iter().map(|r| r.per_second.len()).max().unwrap_or(0);
    println!("| second | {} | {} |", runs[0].name, runs[1].name);
    println!("|---:|---:|---:|");
    for s in 0..seconds {
        let cell = |r: &Run| {
            r.per_second
                .get(s)
                .map_or("-".to_string(), |n| n.to_string())
        };
        println!("| {s} | {} | {} |", cell(&runs[0]), cell(&runs[1]));
    }
    for r in runs {
        // The last interval is partial; judge the full ones.
        let full = &r.per_second[..r.per_second.len().saturating_sub(1)];
        println!(
            "\n{}: lowest full 1-second interval {} puts ({} intervals)",
            r.name,
            full.iter().min().copied().unwrap_or(0),
            full.len()
        );
    }
}
