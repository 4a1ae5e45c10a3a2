//! Table benchmarks: build 100k entries (16-byte keys, 100-byte values;
//! the filter sized as the keys come, or up front as a flush does it),
//! point lookups that hit and miss (misses filtered by the bloom filter;
//! a miss probing four tables, its filter hash computed per table or once),
//! seeks forwards and backwards, a full scan each way, point lookups
//! through a cache a sixth of their table's size (most read their block and
//! evict another), and point lookups from eight threads through one block
//! cache smaller than their table.
//! Throughput is reported in entries per second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsm_core::{InternalIterator, InternalKey, OsFileSystem, ValueKind};
use lsm_sstable::{BlockCache, FilterKey, Table, TableBuilder, TableOptions};

const ENTRIES: u64 = 100_000;
const LOOKUPS: u64 = 10_000;
/// Entries of the table the eight-thread lookups share.
const BIG_ENTRIES: u64 = 400_000;
/// Short range scans of `seek_next100_1k_evicting`.
const SCANS: u64 = 1_000;

fn user_key(i: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(b"user-key");
    key[8..].copy_from_slice(&i.to_be_bytes());
    key
}

fn build(path: &Path) {
    build_entries(path, ENTRIES);
}

fn build_entries(path: &Path, entries: u64) {
    build_with(path, entries, TableOptions::default());
}

/// [`build`], its filter sized up front for the entries (as a flush does).
fn build_filter_sized(path: &Path) {
    let options = TableOptions {
        filter_capacity: Some(ENTRIES),
        ..TableOptions::default()
    };
    build_with(path, ENTRIES, options);
}

fn build_with(path: &Path, entries: u64, options: TableOptions) {
    let mut builder = TableBuilder::create(&OsFileSystem, path, options).unwrap();
    let value = [b'v'; 100];
    for i in 0..entries {
        // Even indexes only, so odd ones are guaranteed misses.
        let key = InternalKey::new(&user_key(2 * i), 1, ValueKind::Put);
        builder.add(key.as_bytes(), &value).unwrap();
    }
    builder.finish().unwrap();
}

/// A cheap deterministic sequence of indexes in `0..ENTRIES`.
fn scattered(n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % ENTRIES)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sst");

    let mut group = c.benchmark_group("table");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ENTRIES));
    group.bench_function("build_100k", |b| b.iter(|| build(&path)));
    group.bench_function("build_100k_filter_sized", |b| {
        b.iter(|| build_filter_sized(&path))
    });

    build(&path);
    let cache = BlockCache::new(64 << 20);
    let table = Table::open(&OsFileSystem, &path, 1, Some(cache)).unwrap();

    group.throughput(Throughput::Elements(LOOKUPS));
    group.bench_function("get_hit_10k", |b| {
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                black_box(table.get(&user_key(2 * i), 10).unwrap().unwrap());
            }
        })
    });
    group.bench_function("get_miss_10k", |b| {
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                black_box(table.get(&user_key(2 * i + 1), 10).unwrap());
            }
        })
    });
    // A store's miss probes one table per level (and every L0 table): the
    // same key against four tables, hashed per table and once.
    group.bench_function("get_miss_10k_4_tables", |b| {
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                let key = user_key(2 * i + 1);
                for _ in 0..4 {
                    black_box(table.get_with_seq(&key, 10).unwrap());
                }
            }
        })
    });
    group.bench_function("get_miss_10k_4_tables_hashed_once", |b| {
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                let key = user_key(2 * i + 1);
                let filter_key = FilterKey::new(&key);
                for _ in 0..4 {
                    black_box(table.get_filtered(filter_key, 10).unwrap());
                }
            }
        })
    });

    group.throughput(Throughput::Elements(ENTRIES));
    group.bench_function("scan_100k", |b| {
        b.iter(|| {
            let mut cursor = table.iter();
            cursor.seek_to_first().unwrap();
            let mut n = 0u64;
            while cursor.valid() {
                n += cursor.value().len() as u64;
                cursor.next().unwrap();
            }
            black_box(n)
        })
    });
    group.bench_function("scan_100k_rev", |b| {
        b.iter(|| {
            let mut cursor = table.iter();
            cursor.seek_to_last().unwrap();
            let mut n = 0u64;
            while cursor.valid() {
                n += cursor.value().len() as u64;
                cursor.prev().unwrap();
            }
            black_box(n)
        })
    });

    // A seek to an absent (odd) key each way: the entry after it against
    // the entry before it.
    group.throughput(Throughput::Elements(LOOKUPS));
    group.bench_function("seek_10k", |b| {
        let mut cursor = table.iter();
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                let target = InternalKey::for_seek(&user_key(2 * i + 1), 10);
                cursor.seek(target.as_bytes()).unwrap();
                black_box(cursor.valid());
            }
        })
    });
    group.bench_function("seek_for_prev_10k", |b| {
        let mut cursor = table.iter();
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                let target = InternalKey::for_seek(&user_key(2 * i + 1), 10);
                cursor.seek_for_prev(target.as_bytes()).unwrap();
                black_box(cursor.valid());
            }
        })
    });

    // Eight threads looking up through one 32 MiB cache over a table of
    // 400k entries (about 46 MiB): most lookups miss, read the block and
    // insert it, taking a shard's lock while other threads want it. On two
    // cores this did not reproduce what `lsm bench readwhilewriting` showed
    // with 8 lock shards (readers parked on them): 731-748k lookups/s with
    // 8 shards against 743-787k with 256, within noise. There the readers
    // share the cores with a writer, an applier, a flusher and compactions.
    let big_path = dir.path().join("big.sst");
    build_entries(&big_path, BIG_ENTRIES);
    let shared_cache = BlockCache::new(32 << 20);
    let shared = Table::open(&OsFileSystem, &big_path, 2, Some(shared_cache)).unwrap();
    // One thread through an 8 MiB cache over the same table: the 10k
    // scattered lookups touch thousands of its (about 11k) blocks, several
    // times what the cache holds, so most miss, each reading its block and
    // inserting it, which evicts (and frees) another: the cost of a miss
    // beyond the read.
    let small_cache = BlockCache::new(8 << 20);
    let evicting = Table::open(&OsFileSystem, &big_path, 3, Some(small_cache)).unwrap();
    group.throughput(Throughput::Elements(LOOKUPS));
    group.bench_function("get_hit_10k_evicting", |b| {
        b.iter(|| {
            for i in scattered(LOOKUPS) {
                let i = (i * 4 + 13) % BIG_ENTRIES;
                black_box(evicting.get(&user_key(2 * i), 10).unwrap().unwrap());
            }
        })
    });
    // Short range scans through the same small cache: a fresh cursor per
    // scan (as a store's range iterator makes), a seek to a scattered key
    // and the 100 entries from it, about four blocks. The same 1000 scans
    // repeat every iteration (about 16 MB of blocks against the 8 MiB
    // cache), so this measures what read-ahead's cache policy costs a
    // repeated working set: only each read-ahead's first block is cached,
    // the blocks after it are read from the file again each time.
    let scanning =
        Table::open(&OsFileSystem, &big_path, 4, Some(BlockCache::new(8 << 20))).unwrap();
    group.throughput(Throughput::Elements(SCANS));
    group.bench_function("seek_next100_1k_evicting", |b| {
        b.iter(|| {
            for i in scattered(SCANS) {
                let i = (i * 4 + 13) % BIG_ENTRIES;
                let target = InternalKey::for_seek(&user_key(2 * i), 10);
                let mut cursor = scanning.iter();
                cursor.seek(target.as_bytes()).unwrap();
                let mut n = 0u64;
                for _ in 0..100 {
                    if !cursor.valid() {
                        break;
                    }
                    n += cursor.value().len() as u64;
                    cursor.next().unwrap();
                }
                black_box(n);
            }
        })
    });
    group.throughput(Throughput::Elements(8 * LOOKUPS));
    group.bench_function("get_hit_10k_x8_threads_shared_cache", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for thread in 0..8u64 {
                    let shared = &shared;
                    scope.spawn(move || {
                        for i in scattered(LOOKUPS) {
                            let i = (i * 4 + thread * 7919) % BIG_ENTRIES;
                            black_box(shared.get(&user_key(2 * i), 10).unwrap().unwrap());
                        }
                    });
                }
            });
        })
    });
    group.finish();
}

criterion_group!(table_benches, benches);
criterion_main!(table_benches);
