//! Where a slow put's time goes: fills an `AsyncLsmStore` (or a
//! `SimpleLsmStore`) the way `lsm bench fillrandom` does (16-byte keys,
//! 100-byte values, 64 MiB memtable, `SyncMode::Never`), times every put,
//! and prints each put slower than a threshold next to the store's
//! background events (`lsm.flush.*`, `lsm.compaction.*`, `lsm.stall`,
//! `lsm.freeze`) of the same moment, collected by a tracing layer.
//!
//! Run: `cargo run --release -p lsm-benches --example put_latency_trace --
//! [puts] [async|sync] [threshold_us] [never|always] [apply_queue_max]
//! [random|ascending|overwrite]` (defaults 1,000,000, async, 1000, never,
//! the config's default, random; `always` syncs every put, as `lsm bench
//! fillsync`; `ascending` puts keys in order, as `lsm bench fillseq`;
//! `overwrite` first puts keys `0..puts` in order, untimed, then times
//! `puts` puts of random keys among them, as `lsm bench overwrite`).
//!
//! It prints when the timed puts began on `CLOCK_MONOTONIC` (`timeline
//! starts at ... s`): under `perf record -k CLOCK_MONOTONIC`, a slow put at
//! `t` ms on the timeline is at that many seconds plus `t` in the profile.
//! `benches/slow_put_causes.py` reads this output beside `perf script`'s
//! output of a scheduler trace and says where each slow put's time went
//! (its docstring has the commands; `docs/async.md` the findings).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

/// A put into whichever store the run uses.
type Put = Box<dyn Fn(&[u8], &[u8])>;

mod rng;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};
use rng::Rng;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event the store emitted: when (since the fill started), its name
/// and its fields as text.
struct Event {
    at: Duration,
    name: &'static str,
    fields: String,
}

/// A tracing layer that keeps every `lsm.*` event with its time.
struct Recorder {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

struct FieldText(String);

impl Visit for FieldText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() != "message" && field.name() != "dir" {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let name = event.metadata().name();
        if !name.starts_with("lsm.") {
            return;
        }
        let mut fields = FieldText(String::new());
        event.record(&mut fields);
        self.events.lock().unwrap().push(Event {
            at: self.start.elapsed(),
            name,
            fields: fields.0,
        });
    }
}

/// Which keys the timed puts write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyOrder {
    /// Random 16-byte keys (each new, as `lsm bench fillrandom`).
    Random,
    /// Keys `0..puts` in order (as `lsm bench fillseq`).
    Ascending,
    /// Random keys among `0..puts`, after an untimed ascending fill of
    /// them (as `lsm bench overwrite`).
    Overwrite,
}

/// Key `i`: 8 zero bytes, then `i` big-endian (so keys sort as `i`).
fn ascending_key(i: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[8..].copy_from_slice(&i.to_be_bytes());
    key
}

fn main() {
    let mut args = std::env::args().skip(1);
    let puts: u64 = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let store_kind = args.next().unwrap_or_else(|| "async".into());
    let threshold = Duration::from_micros(args.next().map_or(1000, |s| s.parse().unwrap()));
    let wal_sync = match args.next().as_deref() {
        None | Some("never") => SyncMode::Never,
        Some("always") => SyncMode::Always,
        Some(other) => panic!("unknown sync mode {other}: never or always"),
    };
    let apply_queue_max: Option<usize> = args.next().map(|s| s.parse().unwrap());
    let order = match args.next().as_deref() {
        None | Some("random") => KeyOrder::Random,
        Some("ascending") => KeyOrder::Ascending,
        Some("overwrite") => KeyOrder::Overwrite,
        Some(other) => panic!("unknown key order {other}: random, ascending or overwrite"),
    };

    let start = Instant::now();
    let monotonic = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let events = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Recorder {
        start,
        events: Arc::clone(&events),
    });
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut config = LsmConfig::builder(dir.path());
    if let Some(max) = apply_queue_max {
        config = config.apply_queue_max(max);
    }
    let config = config
        .memtable_bytes(64 << 20)
        .block_cache_bytes(64 << 20)
        .bloom_bits_per_key(10)
        .wal_sync(wal_sync)
        .build()
        .unwrap();
    let put: Put = match store_kind.as_str() {
        "async" => {
            let store = AsyncLsmStore::open(config).unwrap();
            Box::new(move |k, v| {
                store.put(k, v).unwrap();
            })
        }
        "sync" => {
            let store = SimpleLsmStore::open(config).unwrap();
            Box::new(move |k, v| {
                store.put(k, v).unwrap();
            })
        }
        other => panic!("unknown store {other}: async or sync"),
    };

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut slow = Vec::new();
    let value = [b'v'; 100];
    if order == KeyOrder::Overwrite {
        for i in 0..puts {
            put(&ascending_key(i), &value);
        }
    }
    let fill_start = Instant::now();
    for i in 0..puts {
        let key = match order {
            KeyOrder::Ascending => ascending_key(i),
            KeyOrder::Overwrite => ascending_key(rng.next() % puts.max(1)),
            KeyOrder::Random => {
                let mut key = [0u8; 16];
                key[..8].copy_from_slice(&rng.next().to_be_bytes());
                key[8..].copy_from_slice(&rng.next().to_be_bytes());
                key
            }
        };
        let t0 = Instant::now();
        put(&key, &value);
        let took = t0.elapsed();
        latency.saturating_record(took.as_nanos() as u64);
        if took >= threshold {
            slow.push((t0 - start, took));
        }
    }
    let elapsed = fill_start.elapsed();
    drop(put);

    println!(
        "timeline starts at {}.{:09} s (CLOCK_MONOTONIC); timed puts from {:.3} ms",
        monotonic.tv_sec,
        monotonic.tv_nsec,
        (fill_start - start).as_secs_f64() * 1e3,
    );
    println!(
        "{puts} puts in {:.2} s ({:.0}/s); p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us; {} puts >= {} us",
        elapsed.as_secs_f64(),
        puts as f64 / elapsed.as_secs_f64(),
        latency.value_at_quantile(0.5) as f64 / 1e3,
        latency.value_at_quantile(0.99) as f64 / 1e3,
        latency.value_at_quantile(0.999) as f64 / 1e3,
        latency.max() as f64 / 1e3,
        slow.len(),
        threshold.as_micros(),
    );
    // The timeline: slow puts and events, in time order.
    let events = events.lock().unwrap();
    let mut lines: Vec<(Duration, String)> = events
        .iter()
        .map(|e| (e.at, format!("event {}{}", e.name, e.fields)))
        .collect();
    lines.extend(
        slow.iter()
            .map(|(at, took)| (*at, format!("PUT   {:>8.1} us", took.as_secs_f64() * 1e6))),
    );
    lines.sort_by_key(|(at, _)| *at);
    for (at, line) in lines {
        println!("{:>9.3} ms  {line}", at.as_secs_f64() * 1e3);
    }
}
