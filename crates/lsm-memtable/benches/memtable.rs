//! Memtable benches: inserts (16-byte keys, 100-byte values) from 1, 2 and
//! 4 threads, 1M random-order and 1M ascending inserts into one memtable
//! (random: deep skiplist, mostly cache misses; ascending: `fillseq`'s
//! order, where the skiplist's remembered splice applies), gets (hit and miss) on a 100k-entry memtable from
//! 1 and 2 threads, a full scan, and range deletes: 4,000 nested ones
//! ("delete everything before cutoff_i", the pattern that made a
//! fragmented set quadratic) and 4,000 disjoint ones stored one at a time,
//! and the covering-tombstone lookup on the nested set.
//!
//! `cargo bench -p lsm-memtable -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lsm_core::{InternalIterator, ValueKind};
use lsm_memtable::Memtable;

const VALUE: [u8; 100] = [0x5A; 100];
const TABLE_ENTRIES: u64 = 100_000;
const INSERTS: u64 = 20_000;
const LOOKUPS: u64 = 1_000;
const BIG_FILL: u64 = 1_000_000;

/// A 16-byte key; `i` is scrambled so keys arrive in random order.
fn key(i: u64) -> [u8; 16] {
    let a = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Makes the `i`th key of a fill.
type KeyFn = fn(u64) -> [u8; 16];
/// Makes an empty memtable.
type MemtableFn = fn() -> Memtable;

/// A 16-byte key that sorts as `i` does: keys arrive in ascending order.
fn ascending_key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn filled(n: u64) -> Arc<Memtable> {
    let m = Arc::new(Memtable::new());
    for i in 0..n {
        m.insert(&key(i), i + 1, ValueKind::Put, &VALUE);
    }
    m
}

fn insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert");
    g.throughput(Throughput::Elements(INSERTS));
    for threads in [1u64, 2, 4] {
        g.bench_function(format!("{threads}_thread"), |b| {
            b.iter_batched(
                || Arc::new(Memtable::new()),
                |m| {
                    thread::scope(|s| {
                        for t in 0..threads {
                            let m = &m;
                            s.spawn(move || {
                                let per = INSERTS / threads;
                                for i in t * per..(t + 1) * per {
                                    m.insert(&key(i), i + 1, ValueKind::Put, &VALUE);
                                }
                            });
                        }
                    });
                    m // dropped outside the timing
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

/// One memtable filled with `BIG_FILL` entries, in random key order and in
/// ascending key order.
fn insert_1m(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert_1m");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BIG_FILL));
    let orders: [(&str, KeyFn); 2] = [("random", key), ("ascending", ascending_key)];
    // "filtered": with the point filter the stores build (for a 64 MiB
    // memtable), whose word each insert sets.
    let kinds: [(&str, MemtableFn); 2] = [
        ("", Memtable::new),
        ("_filtered", || Memtable::with_point_filter(64 << 20)),
    ];
    for ((order, make_key), (kind, make_memtable)) in orders
        .into_iter()
        .flat_map(|order| kinds.into_iter().map(move |kind| (order, kind)))
    {
        g.bench_function(format!("{order}_1_thread{kind}"), |b| {
            b.iter_batched(
                || Arc::new(make_memtable()),
                |m| {
                    for i in 0..BIG_FILL {
                        m.insert(&make_key(i), i + 1, ValueKind::Put, &VALUE);
                    }
                    m // dropped outside the timing
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

/// Runs `LOOKUPS` gets per thread per iteration from `threads` threads.
fn timed_gets(m: &Memtable, threads: u64, iters: u64, hit: bool) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut found = 0u64;
                for it in 0..iters {
                    for j in 0..LOOKUPS {
                        let i = (it * LOOKUPS + j + t * 7_777) % TABLE_ENTRIES;
                        let k = if hit { key(i) } else { miss_key(i) };
                        found += u64::from(m.get(black_box(&k), u64::MAX).is_some());
                    }
                }
                assert_eq!(found, if hit { iters * LOOKUPS } else { 0 });
            });
        }
    });
    start.elapsed()
}

/// A key no entry has that sorts right after `key(i)`: byte 8 is the top
/// byte of `i`, always 0 for the keys inserted.
fn miss_key(i: u64) -> [u8; 16] {
    let mut k = key(i);
    k[8] = 0xFF;
    k
}

fn get(c: &mut Criterion) {
    let m = filled(TABLE_ENTRIES);
    let mut g = c.benchmark_group("get_100k");
    for threads in [1u64, 2] {
        g.throughput(Throughput::Elements(LOOKUPS * threads));
        for hit in [true, false] {
            let name = format!("{}_{threads}_thread", if hit { "hit" } else { "miss" });
            g.bench_function(name, |b| {
                b.iter_custom(|iters| timed_gets(&m, threads, iters, hit));
            });
        }
    }
    g.finish();
}

/// Full scans of a memtable filled with `entries` random keys.
fn scan_group(c: &mut Criterion, name: &str, entries: u64, samples: usize) {
    let m = filled(entries);
    let mut g = c.benchmark_group(name);
    g.sample_size(samples);
    g.throughput(Throughput::Elements(entries));
    g.bench_function("full", |b| {
        b.iter(|| {
            let mut cursor = m.iter();
            cursor.seek_to_first().unwrap();
            let mut n = 0u64;
            let mut bytes = 0usize;
            while cursor.valid() {
                n += 1;
                // Reads the value's last byte, as a flush copying it does.
                bytes +=
                    cursor.key().len() + usize::from(cursor.value().last().copied().unwrap_or(0));
                cursor.next().unwrap();
            }
            assert_eq!(n, entries);
            black_box(bytes)
        });
    });
    g.finish();
}

fn scan(c: &mut Criterion) {
    scan_group(c, "scan_100k", TABLE_ENTRIES, 100);
    // Far larger than the CPU's caches, as a 64 MiB memtable is.
    scan_group(c, "scan_1m", BIG_FILL, 10);
}

const RANGE_DELETES: u64 = 4_000;

/// The `i`th range delete: nested ones all start at the same key and end
/// further each time; disjoint ones cover `[2i, 2i + 1)`.
fn range_delete(i: u64, nested: bool) -> ([u8; 16], [u8; 16]) {
    if nested {
        (ascending_key(0), ascending_key(i + 1))
    } else {
        (ascending_key(2 * i), ascending_key(2 * i + 1))
    }
}

fn range_deletes(c: &mut Criterion) {
    let mut g = c.benchmark_group("range_delete");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RANGE_DELETES));
    for nested in [true, false] {
        let name = if nested { "nested_4k" } else { "disjoint_4k" };
        g.bench_function(name, |b| {
            b.iter_batched(
                Memtable::new,
                |m| {
                    for i in 0..RANGE_DELETES {
                        let (start, end) = range_delete(i, nested);
                        m.insert_range_tombstone(&start, &end, i + 1);
                    }
                    m
                },
                BatchSize::PerIteration,
            );
        });
    }
    let m = Memtable::new();
    for i in 0..RANGE_DELETES {
        let (start, end) = range_delete(i, true);
        m.insert_range_tombstone(&start, &end, i + 1);
    }
    let set = m.range_tombstones();
    g.throughput(Throughput::Elements(LOOKUPS));
    g.sample_size(50);
    g.bench_function("covering_seq_nested_4k", |b| {
        b.iter(|| {
            let mut found = 0u64;
            for i in 0..LOOKUPS {
                let key = ascending_key(i * 4);
                // Half the snapshots see every tombstone, half a prefix.
                let snapshot = if i % 2 == 0 { u64::MAX >> 8 } else { i * 3 };
                found += set.covering_seq(&key, snapshot).unwrap_or(0);
            }
            black_box(found)
        });
    });
    g.finish();
}

criterion_group!(benches, insert, insert_1m, get, scan, range_deletes);
criterion_main!(benches);
