//! Put latency while compaction falls behind: fills an `AsyncLsmStore`
//! with random 16-byte keys and 100-byte values through memtables small
//! enough (1 MiB by default, with the default 256 MiB L1 target) that every
//! L0 compaction rewrites most of L1 and the one compaction thread cannot
//! keep up with the writer on two cores. L0 then fills towards the stop
//! (`L0_STOP_FACTOR` x `l0_trigger`), and the write slowdown
//! (`L0_SLOWDOWN_FACTOR`, `docs/async.md`) decides whether writers see a
//! gentle delay or a wait for a whole compaction.
//!
//! Run: `cargo run --release -p lsm-benches --example compaction_lag --
//! [puts] [memtable_bytes]` (defaults 3,000,000 and 1 MiB). Prints the
//! fill's rate, the put latency percentiles and the slowest put, the puts
//! over 1, 10 and 100 ms, the most L0 tables seen (sampled every 5 ms) and
//! the stalls by cause (from the `lsm.stall` events).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod rng;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode};
use rng::Rng;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Stall count and total microseconds, by cause.
type Stalls = Arc<Mutex<BTreeMap<String, (u64, u64)>>>;

/// A tracing layer that adds up `lsm.stall` events by cause.
struct StallCounter(Stalls);

#[derive(Default)]
struct StallFields {
    cause: String,
    duration_us: u64,
}

impl Visit for StallFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "cause" {
            self.cause = format!("{value:?}").trim_matches('"').to_string();
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "cause" {
            self.cause = value.to_string();
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "duration_us" {
            self.duration_us = value;
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for StallCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().name() != "lsm.stall" {
            return;
        }
        let mut fields = StallFields::default();
        event.record(&mut fields);
        let mut stalls = self.0.lock().unwrap();
        let entry = stalls.entry(fields.cause).or_default();
        entry.0 += 1;
        entry.1 += fields.duration_us;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let puts: u64 = args.next().map_or(3_000_000, |s| s.parse().unwrap());
    let memtable_bytes: usize = args.next().map_or(1 << 20, |s| s.parse().unwrap());

    let stalls: Stalls = Arc::default();
    let subscriber = tracing_subscriber::registry().with(StallCounter(Arc::clone(&stalls)));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .memtable_bytes(memtable_bytes)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (store, done) = (store.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                most = most.max(store.stats().unwrap().levels[0].files);
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };

    let mut rng = Rng(0x5eed);
    let value = [7u8; 100];
    // Nanoseconds, up to 10 minutes.
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3).unwrap();
    let mut over = [0u64; 3];
    let started = Instant::now();
    for _ in 0..puts {
        let mut key = [0u8; 16];
        rng.fill(&mut key);
        let put = Instant::now();
        store.put(key, value).unwrap();
        let took = put.elapsed();
        latencies.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        for (count, limit) in over.iter_mut().zip([1, 10, 100]) {
            if took >= Duration::from_millis(limit) {
                *count += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let most_l0 = sampler.join().unwrap();
    store.close().unwrap();

    let us = |nanos: u64| nanos as f64 / 1000.0;
    println!(
        "{puts} puts, memtable {memtable_bytes} B: {:.1} s, {:.0} puts/s",
        elapsed.as_secs_f64(),
        puts as f64 / elapsed.as_secs_f64()
    );
    println!(
        "put latency: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} ms",
        us(latencies.value_at_quantile(0.5)),
        us(latencies.value_at_quantile(0.99)),
        us(latencies.value_at_quantile(0.999)),
        us(latencies.max()) / 1000.0
    );
    println!(
        "puts over 1 ms: {}, over 10 ms: {}, over 100 ms: {}; most L0 tables seen: {most_l0}",
        over[0], over[1], over[2]
    );
    for (cause, (count, micros)) in stalls.lock().unwrap().iter() {
        println!(
            "stalls {cause}: {count}, {:.2} s in all",
            *micros as f64 / 1e6
        );
    }
}
