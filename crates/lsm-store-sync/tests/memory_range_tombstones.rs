//! Range deletes are charged to the memtable by what its range-tombstone
//! set (`RangeTombstones`) grows by, so a memtable of overlapping range
//! deletes (the TTL pattern "delete everything before cutoff_i" with a
//! growing cutoff) is flushed in time and the process stays near
//! `memtable_bytes`. Found by a review when the set was fragmented (every
//! fragment held the sequence numbers of every tombstone covering it,
//! O(n^2) bytes for n nested ranges) and each range delete was charged
//! only its keys: 2,500 of them, one write each, grew the process by
//! 49.7 MiB with a 1 MiB memtable and no flush. The set is now a segment
//! tree, O(n log n) for any overlaps, and 8,000 of them flush at least
//! once. One test per binary: VmRSS is per process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_sync::{LsmConfig, SimpleLsmStore};

fn vm_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .to_string();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

const MEMTABLE_BYTES: usize = 1 << 20;

fn open(dir: &std::path::Path) -> SimpleLsmStore {
    SimpleLsmStore::open(
        LsmConfig::builder(dir)
            .memtable_bytes(MEMTABLE_BYTES)
            .block_cache_bytes(1 << 20)
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// Nested range deletes one write at a time (what a TTL job would do).
#[test]
fn overlapping_range_deletes_one_write_each_stay_near_memtable_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.put("warm-up", "x").unwrap();
    let n: u64 = 8_000;
    let before = vm_rss_bytes();
    for i in 1..=n {
        store
            .delete_range(0u64.to_be_bytes().to_vec()..i.to_be_bytes().to_vec())
            .unwrap();
    }
    let after = vm_rss_bytes();
    let stats = store.stats().unwrap();
    let grown = after.saturating_sub(before);
    println!(
        "{n} range deletes, one write each: memtable charge {} B (memtable_bytes {MEMTABLE_BYTES}), \
         flushes {}, VmRSS grew {} B ({:.1} MiB)",
        stats.memtable_bytes,
        stats.flushes,
        grown,
        grown as f64 / (1 << 20) as f64
    );
    assert!(stats.flushes >= 1, "never flushed: {stats:?}");
    assert!(
        grown < 16 * MEMTABLE_BYTES as u64,
        "VmRSS grew by {grown} bytes for a memtable charged {} bytes (memtable_bytes {MEMTABLE_BYTES})",
        stats.memtable_bytes
    );
}
