//! Values handed out without a copy: `Table::get` and the table cursor's
//! `value_bytes` return slices of the cached decoded block, which stay
//! valid after the block is evicted and the table is gone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{build, ikey, open};
use lsm_core::{InternalIterator, InternalKey, Lookup, ValueKind};
use lsm_sstable::{BlockCache, Compression, Table, TableOptions};

/// 200 keys with 100-byte values, in 1 KiB blocks: about 25 data blocks.
fn entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..200u32)
        .map(|i| {
            let key = ikey(format!("key{i:04}").as_bytes(), 1, ValueKind::Put);
            (key, value_for(i))
        })
        .collect()
}

fn value_for(i: u32) -> Vec<u8> {
    format!("{i:04}").repeat(25).into_bytes()
}

fn options(compression: Compression) -> TableOptions {
    TableOptions {
        block_bytes: 1024,
        compression,
        ..TableOptions::default()
    }
}

fn get(table: &Table, i: u32) -> Bytes {
    match table.get(format!("key{i:04}").as_bytes(), 5).unwrap() {
        Some(Lookup::Value(value)) => value,
        other => panic!("key{i:04}: {other:?}"),
    }
}

#[test]
fn two_gets_from_a_cached_block_share_its_bytes_and_a_cursor_does_too() {
    for compression in [Compression::None, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        build(&path, &entries(), options(compression));
        let table = open(&path, Some(BlockCache::new(1 << 20)));
        assert!(table.properties().data_blocks > 10);

        let first = get(&table, 42);
        let second = get(&table, 42);
        assert_eq!(first, value_for(42));
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "{compression:?}: one cached block, decompressed once"
        );
        let fresh = Bytes::copy_from_slice(&value_for(42));
        assert_ne!(
            first.as_ptr(),
            fresh.as_ptr(),
            "and not just any allocation"
        );

        let mut cursor = table.iter();
        cursor
            .seek(InternalKey::for_seek(b"key0042", 5).as_bytes())
            .unwrap();
        assert_eq!(cursor.value_bytes().as_ptr(), first.as_ptr());
        // A neighbour in the same block is a different slice of it.
        cursor.next().unwrap();
        let neighbour = cursor.value_bytes();
        assert_eq!(neighbour, value_for(43));
        assert_eq!(neighbour.as_ptr(), get(&table, 43).as_ptr());
    }
}

#[test]
fn without_a_cache_each_get_reads_its_own_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    build(&path, &entries(), options(Compression::None));
    let table = open(&path, None);
    let (first, second) = (get(&table, 7), get(&table, 7));
    assert_eq!(first, second);
    assert_ne!(first.as_ptr(), second.as_ptr(), "two block reads");
}

#[test]
fn a_pinned_value_outlives_the_blocks_eviction_and_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    build(&path, &entries(), options(Compression::None));
    // Room for about two 1 KiB blocks.
    let cache = BlockCache::new(2500);
    let table = open(&path, Some(Arc::clone(&cache)));

    let pinned = get(&table, 0);
    assert_eq!(pinned.as_ptr(), get(&table, 0).as_ptr(), "cached");
    for i in (0..200).step_by(8) {
        get(&table, i); // reads every other block, evicting key0000's
    }
    let reread = get(&table, 0);
    assert_ne!(
        reread.as_ptr(),
        pinned.as_ptr(),
        "key0000's block was evicted and read again"
    );
    assert_eq!(pinned, value_for(0), "the evicted block's bytes live on");

    let mut cursor = table.iter();
    cursor.seek_to_last().unwrap();
    let last = cursor.value_bytes();
    drop((cursor, table, cache));
    assert_eq!(pinned, value_for(0));
    assert_eq!(last, value_for(199), "after the table and cache are gone");
}

/// A cursor made with `iter_without_cache_fill` (a compaction's) reads
/// every block without inserting any into the cache, yet uses a block that
/// is already there (a hit); a plain cursor inserts the blocks it reads
/// from the file alone or starts a read-ahead at (not the ones a read-ahead
/// brought along).
#[test]
fn a_pass_without_cache_fill_leaves_the_cache_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    build(&path, &entries(), options(Compression::None));
    let cache = BlockCache::new(1 << 20);
    let table = open(&path, Some(Arc::clone(&cache)));
    let blocks = table.properties().data_blocks;
    get(&table, 0); // one block cached
    assert_eq!(cache.len(), 1);
    let hits = cache.hits();

    let mut pass = table.iter_without_cache_fill();
    pass.seek_to_first().unwrap();
    let mut seen = 0;
    while pass.valid() {
        seen += 1;
        pass.next().unwrap();
    }
    assert_eq!(seen, entries().len());
    assert_eq!(cache.len(), 1, "no block inserted by the pass");
    assert_eq!(cache.hits(), hits + 1, "the cached first block was used");

    let misses = cache.misses();
    let mut plain = table.iter();
    plain.seek_to_first().unwrap();
    while plain.valid() {
        plain.next().unwrap();
    }
    let read_aheads = cache.misses() - misses;
    assert!(read_aheads >= 1);
    assert!(read_aheads < blocks - 1, "blocks came with the read-aheads");
    assert_eq!(
        cache.len() as u64,
        1 + read_aheads,
        "a plain pass caches the block each read-ahead starts at"
    );
}
