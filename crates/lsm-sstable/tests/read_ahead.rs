//! A table cursor going forward reads ahead: a block missing from the cache
//! is read with the blocks after it (4, then twice as many each time), and
//! those following blocks are served from that read without entering the
//! cache. Going backward it reads one block at a time. Damage or a file cut
//! short inside a read-ahead is reported at the block at fault, never at
//! the block the read was for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use common::{build, ikey, open, scan, scan_backward, small_blocks, Entry};
use lsm_core::{InternalIterator, ValueKind};
use lsm_sstable::{BlockCache, Compression, Table};

/// 640 entries in blocks of about 128 bytes: 64 or more data blocks.
fn entries() -> Vec<Entry> {
    (0..640u32)
        .map(|i| {
            (
                ikey(format!("key{i:05}").as_bytes(), 1, ValueKind::Put),
                format!("value{i:05}").into_bytes(),
            )
        })
        .collect()
}

/// A table of [`entries`] in small blocks, opened with a cache of its own
/// that holds all of it; the directory lives as long as the fixture.
struct Fixture {
    _dir: tempfile::TempDir,
    expected: Vec<Entry>,
    cache: Arc<BlockCache>,
    table: Arc<Table>,
}

fn cached_table(compression: Compression) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let expected = entries();
    build(&path, &expected, small_blocks(compression));
    let cache = BlockCache::new(64 << 20);
    let table = open(&path, Some(Arc::clone(&cache)));
    Fixture {
        _dir: dir,
        expected,
        cache,
        table,
    }
}

/// Read-aheads a forward pass from the first block makes over `blocks`
/// blocks: 4 blocks, then 8, 16, ...
fn read_aheads_over(blocks: usize) -> u64 {
    let (mut covered, mut window, mut reads) = (0, 4, 0);
    while covered < blocks {
        covered += window;
        window *= 2;
        reads += 1;
    }
    reads
}

#[test]
fn a_forward_scan_caches_only_the_blocks_its_read_aheads_start_at() {
    for compression in [Compression::None, Compression::Lz4] {
        let Fixture {
            _dir,
            expected,
            cache,
            table,
        } = cached_table(compression);
        let blocks = table.index_entries().len();
        assert!(blocks >= 64, "want many data blocks, got {blocks}");

        assert_eq!(scan(&mut table.iter()).unwrap(), expected);
        let reads = read_aheads_over(blocks);
        assert_eq!(cache.misses(), reads, "one cache miss per read-ahead");
        assert_eq!(cache.len() as u64, reads, "only their first blocks cached");
        assert_eq!(cache.hits(), 0);

        // A second pass finds those blocks in the cache and reads ahead
        // from the block after each; it returns the same entries.
        assert_eq!(scan(&mut table.iter()).unwrap(), expected);
        assert!(cache.hits() > 0);
    }
}

#[test]
fn a_backward_scan_reads_and_caches_every_block_alone() {
    let Fixture {
        _dir,
        expected,
        cache,
        table,
    } = cached_table(Compression::None);
    let blocks = table.index_entries().len();

    let mut backward = scan_backward(&mut table.iter()).unwrap();
    backward.reverse();
    assert_eq!(backward, expected);
    assert_eq!(cache.misses(), blocks as u64);
    assert_eq!(cache.len(), blocks);
}

#[test]
fn a_seek_reads_ahead_from_the_block_it_lands_in() {
    let Fixture {
        _dir,
        expected,
        cache,
        table,
    } = cached_table(Compression::None);

    let (target, _) = &expected[300];
    let mut cursor = table.iter();
    cursor.seek(target).unwrap();
    let mut found = Vec::new();
    while cursor.valid() && found.len() < 30 {
        found.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.next().unwrap();
    }
    assert_eq!(found, expected[300..330]);
    // 30 entries of about 30 bytes span at most 9 blocks of 128 bytes: one
    // read of 4 blocks and one of 8 cover them.
    assert!(cache.misses() <= 2, "{} misses", cache.misses());
    assert_eq!(cache.len() as u64, cache.misses());
}

#[test]
fn a_file_cut_short_inside_a_read_ahead_names_the_first_block_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let expected = entries();
    build(&path, &expected, small_blocks(Compression::None));
    let table = open(&path, None);
    let handles: Vec<_> = table.index_entries().iter().map(|e| e.handle).collect();
    // Cut the file in the middle of the third block: the first read-ahead
    // (blocks 0-3) runs past the end, but blocks 0 and 1 are whole.
    let cut = handles[2].offset + handles[2].size / 2;
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(cut).unwrap();

    let mut cursor = table.iter();
    let mut read = Vec::new();
    let mut result = cursor.seek_to_first();
    while result.is_ok() && cursor.valid() {
        read.push((cursor.key().to_vec(), cursor.value().to_vec()));
        result = cursor.next();
    }
    let err = result.expect_err("the lost block must be reported");
    match &err {
        lsm_core::Error::Corruption {
            path: p, offset, ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset, handles[2].offset, "{err}");
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(!cursor.valid());
    // Everything in the whole blocks before it came back, in order.
    assert!(!read.is_empty());
    assert_eq!(read, expected[..read.len()]);
    let last_whole = table.index_entries()[1].last_key.clone();
    assert_eq!(read.last().map(|(k, _)| k), Some(&last_whole));
}
