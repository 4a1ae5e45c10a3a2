//! A table built from a random sorted entry set reads back like a model:
//! full scans both ways, seeks both ways and point lookups at snapshots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use bytes::Bytes;
use common::{
    build, ikey, model_get, model_seek, model_seek_for_prev, open, scan, scan_backward, sorted,
    Entry,
};
use lsm_core::{InternalIterator, InternalKey, Lookup, OsFileSystem, ValueKind};
use lsm_sstable::{BlockCache, Compression, Error, FilterKey, Table, TableBuilder, TableOptions};
use proptest::prelude::*;

fn entry_strategy() -> impl Strategy<Value = Vec<Entry>> {
    let one = (
        proptest::collection::vec(b'a'..b'f', 0..4),
        0u64..40,
        any::<bool>(),
        (0usize..60, any::<u8>()),
    )
        .prop_map(|(user, seq, put, (len, byte))| {
            let kind = if put {
                ValueKind::Put
            } else {
                ValueKind::Delete
            };
            // Repetitive values so LZ4 actually compresses some blocks.
            let value = if put {
                vec![byte % 4 + b'0'; len]
            } else {
                Vec::new()
            };
            (ikey(&user, seq, kind), value)
        });
    proptest::collection::vec(one, 1..120).prop_map(|entries| {
        // Keep one kind per (user key, seq), as a store would.
        let mut entries = sorted(entries);
        entries.dedup_by(|a, b| {
            a.0[..a.0.len() - 8] == b.0[..b.0.len() - 8]
                && a.0[a.0.len() - 7..] == b.0[b.0.len() - 7..]
        });
        entries
    })
}

fn options_strategy() -> impl Strategy<Value = TableOptions> {
    (
        prop_oneof![Just(64usize), Just(256), Just(4096)],
        1usize..17,
        prop_oneof![Just(0u32), Just(10)],
        any::<bool>(),
        // Below, around and above the entries (1..120 in entry_strategy).
        proptest::option::of(0u64..200),
    )
        .prop_map(
            |(block_bytes, restart_interval, bloom_bits_per_key, lz4, filter_capacity)| {
                TableOptions {
                    block_bytes,
                    restart_interval,
                    bloom_bits_per_key,
                    compression: if lz4 {
                        Compression::Lz4
                    } else {
                        Compression::None
                    },
                    filter_capacity,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn table_reads_back_like_the_model(
        entries in entry_strategy(),
        options in options_strategy(),
        probes in proptest::collection::vec((proptest::collection::vec(b'a'..b'g', 0..4), 0u64..45), 1..40),
        use_cache in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        let props = build(&path, &entries, options.clone());
        prop_assert_eq!(props.entries, entries.len() as u64);
        let cache = use_cache.then(|| BlockCache::new(1 << 16));
        let table = open(&path, cache);
        prop_assert_eq!(table.properties(), &props);
        prop_assert_eq!(table.index_entries().len() as u64, props.data_blocks);
        prop_assert_eq!(props.file_bytes, std::fs::metadata(&path).unwrap().len());

        let mut cursor = table.iter();
        prop_assert_eq!(&scan(&mut cursor).unwrap(), &entries);
        let reversed: Vec<Entry> = entries.iter().rev().cloned().collect();
        prop_assert_eq!(scan_backward(&mut cursor).unwrap(), reversed);

        for (user_key, snapshot) in &probes {
            // Seek to a snapshot position inside a user key's versions.
            let target = InternalKey::for_seek(user_key, *snapshot);
            cursor.seek(target.as_bytes()).unwrap();
            let expected = model_seek(&entries, target.as_bytes());
            prop_assert_eq!(cursor.valid(), expected.is_some());
            if let Some((k, v)) = expected {
                prop_assert_eq!(cursor.key(), &k[..]);
                prop_assert_eq!(cursor.value(), &v[..]);
            }
            prop_assert_eq!(table.get(user_key, *snapshot).unwrap(), model_get(&entries, user_key, *snapshot));
            prop_assert_eq!(
                table.get_filtered(FilterKey::new(user_key), *snapshot).unwrap(),
                table.get_with_seq(user_key, *snapshot).unwrap()
            );
            cursor.seek_for_prev(target.as_bytes()).unwrap();
            let expected = model_seek_for_prev(&entries, target.as_bytes());
            prop_assert_eq!(cursor.valid(), expected.is_some());
            if let Some((k, v)) = expected {
                prop_assert_eq!(cursor.key(), &k[..]);
                prop_assert_eq!(cursor.value(), &v[..]);
            }
        }
        // Exact seek_for_prev to every entry, then prev() and next() step
        // by one whichever block boundary lies between.
        for (i, (k, _)) in entries.iter().enumerate() {
            cursor.seek_for_prev(k).unwrap();
            prop_assert_eq!(cursor.key(), &k[..]);
            cursor.prev().unwrap();
            match i.checked_sub(1).map(|p| &entries[p]) {
                Some((previous, _)) => {
                    prop_assert_eq!(cursor.key(), &previous[..]);
                    cursor.next().unwrap();
                    prop_assert_eq!(cursor.key(), &k[..]);
                }
                None => prop_assert!(!cursor.valid()),
            }
        }
        // Exact seeks to every entry, then next() continues in order.
        for (i, (k, _)) in entries.iter().enumerate() {
            cursor.seek(k).unwrap();
            prop_assert_eq!(cursor.key(), &k[..]);
            cursor.next().unwrap();
            match entries.get(i + 1) {
                Some((next, _)) => prop_assert_eq!(cursor.key(), &next[..]),
                None => prop_assert!(!cursor.valid()),
            }
        }
        // Every stored user key is admitted by the filter.
        for (k, _) in &entries {
            prop_assert!(table.may_contain(&k[..k.len() - 8]));
        }
        table.verify_checksums().unwrap();
    }
}

#[test]
fn versions_of_one_key_spanning_two_blocks_are_found_at_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut entries = vec![(ikey(b"a", 50, ValueKind::Put), b"a".to_vec())];
    for seq in (1..=12).rev() {
        let kind = if seq % 5 == 0 {
            ValueKind::Delete
        } else {
            ValueKind::Put
        };
        entries.push((
            ikey(b"k", seq * 2, kind),
            format!("value-{seq:02}-padding").into_bytes(),
        ));
    }
    entries.push((ikey(b"z", 1, ValueKind::Put), b"z".to_vec()));
    let options = TableOptions {
        block_bytes: 64,
        restart_interval: 2,
        ..TableOptions::default()
    };
    build(&path, &entries, options);
    let table = open(&path, None);
    let blocks_ending_in_k = table
        .index_entries()
        .iter()
        .filter(|e| &e.last_key[..e.last_key.len() - 8] == b"k")
        .count();
    assert!(
        blocks_ending_in_k >= 2,
        "k's versions must span blocks: {:?}",
        table.index_entries()
    );
    for snapshot in 0..=30 {
        assert_eq!(
            table.get(b"k", snapshot).unwrap(),
            model_get(&entries, b"k", snapshot),
            "snapshot {snapshot}"
        );
    }
    assert_eq!(
        table.get(b"k", 24).unwrap(),
        Some(Lookup::Value(b"value-12-padding".to_vec().into()))
    );
    assert_eq!(table.get(b"k", 21).unwrap(), Some(Lookup::Deleted));
    assert_eq!(table.get(b"k", 1).unwrap(), None);
}

/// A table of many small blocks: backward steps cross every block
/// boundary, `seek_for_prev` into a gap between blocks lands on the
/// earlier block's last entry, and direction switches at a boundary step
/// by one entry.
#[test]
fn reverse_iteration_crosses_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let entries: Vec<Entry> = (0..300u32)
        .map(|i| {
            (
                ikey(format!("key{:05}", i * 2).as_bytes(), 1, ValueKind::Put),
                vec![b'v'; 20],
            )
        })
        .collect();
    let options = TableOptions {
        block_bytes: 128,
        restart_interval: 3,
        ..TableOptions::default()
    };
    build(&path, &entries, options);
    let table = open(&path, None);
    let index = table.index_entries();
    assert!(index.len() > 20, "{} blocks", index.len());

    let mut cursor = table.iter();
    let reversed: Vec<Entry> = entries.iter().rev().cloned().collect();
    assert_eq!(scan_backward(&mut cursor).unwrap(), reversed);

    for block in &index[..index.len() - 1] {
        let last = &block.last_key;
        let at = entries.iter().position(|(k, _)| k == last).unwrap();
        // Odd user keys are absent: the one after this block's last key
        // falls in the gap before the next block.
        let user = std::str::from_utf8(&last[..last.len() - 8]).unwrap();
        let number: u32 = user[3..].parse().unwrap();
        let gap = InternalKey::for_seek(format!("key{:05}", number + 1).as_bytes(), 1);
        cursor.seek_for_prev(gap.as_bytes()).unwrap();
        assert_eq!(cursor.key(), &last[..]);
        cursor.next().unwrap();
        assert_eq!(cursor.key(), &entries[at + 1].0[..], "into the next block");
        cursor.prev().unwrap();
        assert_eq!(cursor.key(), &last[..], "back into this block");
    }
    cursor
        .seek_for_prev(InternalKey::for_seek(b"key", 1).as_bytes())
        .unwrap();
    assert!(!cursor.valid(), "before the first key");
    cursor
        .seek_for_prev(InternalKey::for_seek(b"zzz", 1).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), &entries[299].0[..], "past the last key");
}

#[test]
fn keys_out_of_order_are_rejected_and_the_builder_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut builder = TableBuilder::create(&OsFileSystem, &path, TableOptions::default()).unwrap();
    builder.add(&ikey(b"b", 5, ValueKind::Put), b"1").unwrap();
    for bad in [
        ikey(b"a", 9, ValueKind::Put),
        ikey(b"b", 5, ValueKind::Put),
        ikey(b"b", 6, ValueKind::Put),
    ] {
        let err = builder.add(&bad, b"x").unwrap_err();
        assert!(matches!(err, Error::KeyOutOfOrder { .. }), "{err}");
    }
    assert!(matches!(
        builder.add(b"short", b"x").unwrap_err(),
        Error::MalformedKey { .. }
    ));
    builder.add(&ikey(b"b", 4, ValueKind::Delete), b"").unwrap();
    assert_eq!(builder.entries(), 2);
    let props = builder.finish().unwrap();
    assert_eq!(
        (
            props.entries,
            props.tombstones,
            props.min_seq,
            props.max_seq
        ),
        (2, 1, 4, 5)
    );
}

#[test]
fn finishing_an_empty_table_is_an_error_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let builder = TableBuilder::create(&OsFileSystem, &path, TableOptions::default()).unwrap();
    assert!(matches!(
        builder.finish().unwrap_err(),
        Error::EmptyTable { .. }
    ));
    assert!(!path.exists());
}

#[test]
fn abandon_removes_the_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut builder = TableBuilder::create(
        &OsFileSystem,
        &path,
        TableOptions {
            block_bytes: 64,
            ..TableOptions::default()
        },
    )
    .unwrap();
    for i in 0..100u32 {
        builder
            .add(&ikey(&i.to_be_bytes(), 1, ValueKind::Put), &[7; 10])
            .unwrap();
    }
    assert!(builder.estimated_file_bytes() > 1000);
    assert!(path.exists());
    builder.abandon().unwrap();
    assert!(!path.exists());
}

#[test]
fn estimated_file_bytes_tracks_the_final_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut builder = TableBuilder::create(&OsFileSystem, &path, TableOptions::default()).unwrap();
    for i in 0..2000u32 {
        builder
            .add(
                &ikey(format!("{i:08}").as_bytes(), 1, ValueKind::Put),
                &[1; 50],
            )
            .unwrap();
    }
    let estimate = builder.estimated_file_bytes();
    let props = builder.finish().unwrap();
    assert!(
        estimate <= props.file_bytes && props.file_bytes < estimate + estimate / 4,
        "{estimate} vs {}",
        props.file_bytes
    );
}

#[test]
fn missing_keys_are_filtered_by_the_bloom_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let entries: Vec<_> = (0..1000u32)
        .map(|i| {
            (
                ikey(format!("key{i:05}").as_bytes(), 1, ValueKind::Put),
                vec![1],
            )
        })
        .collect();
    build(&path, &entries, TableOptions::default());
    let cache = BlockCache::new(1 << 20);
    let table = Table::open(&OsFileSystem, &path, 7, Some(cache.clone())).unwrap();
    let info = table.filter_info().unwrap();
    assert_eq!((info.keys, info.bits_per_key, info.probes), (1000, 10, 7));
    assert_eq!(info.bits, 20 * 512);
    let admitted = (0..1000u32)
        .filter(|i| table.may_contain(format!("nokey{i:05}").as_bytes()))
        .count();
    assert!(
        admitted < 30,
        "{admitted} of 1000 absent keys passed the filter"
    );
    for i in 0..1000u32 {
        assert_eq!(
            table.get(format!("nokey{i:05}").as_bytes(), 5).unwrap(),
            None
        );
    }
    assert!(
        cache.hits() + cache.misses() <= admitted as u64,
        "filtered lookups must not touch blocks"
    );
}

#[test]
fn repeated_gets_hit_the_block_cache_and_capacity_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let entries: Vec<_> = (0..4000u32)
        .map(|i| {
            (
                ikey(format!("key{i:05}").as_bytes(), 1, ValueKind::Put),
                vec![b'v'; 100],
            )
        })
        .collect();
    build(&path, &entries, TableOptions::default());
    let capacity = 32 * 1024;
    let cache = BlockCache::new(capacity);
    let table = Table::open(&OsFileSystem, &path, 3, Some(cache.clone())).unwrap();
    assert!(table.index_entries().len() > 50);

    table.get(b"key00010", 5).unwrap().unwrap();
    assert_eq!((cache.hits(), cache.misses()), (0, 1));
    for _ in 0..5 {
        table.get(b"key00010", 5).unwrap().unwrap();
    }
    assert_eq!((cache.hits(), cache.misses()), (5, 1));

    // A full scan touches every block; the cache must stay near its capacity.
    let mut cursor = table.iter();
    assert_eq!(scan(&mut cursor).unwrap().len(), entries.len());
    assert!(
        cache.used_bytes() <= capacity + 5000,
        "{} > {capacity}",
        cache.used_bytes()
    );
    assert!(
        cache.used_bytes() > capacity / 4,
        "cache holds only {} bytes",
        cache.used_bytes()
    );

    // A second table sharing the cache does not see the first one's blocks.
    let other = Table::open(&OsFileSystem, &path, 4, Some(cache.clone())).unwrap();
    let misses = cache.misses();
    other.get(b"key00010", 5).unwrap().unwrap();
    assert_eq!(cache.misses(), misses + 1);
}

#[test]
fn cursor_outlives_the_callers_table_handle_and_is_send() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Table>();
    fn assert_send<T: Send + 'static>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let entries = vec![(ikey(b"a", 1, ValueKind::Put), b"1".to_vec())];
    build(&path, &entries, TableOptions::default());
    let mut cursor = open(&path, None).iter();
    assert_send(&cursor);
    assert_eq!(scan(&mut cursor).unwrap(), entries);
}

#[test]
fn a_one_mebibyte_value_roundtrips_with_and_without_lz4() {
    for compression in [Compression::None, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let entries = vec![
            (ikey(b"a", 1, ValueKind::Put), Vec::new()),
            (ikey(b"b", 1, ValueKind::Put), big.clone()),
            (ikey(b"c", 1, ValueKind::Put), b"c".to_vec()),
        ];
        let props = build(
            &path,
            &entries,
            TableOptions {
                compression,
                ..TableOptions::default()
            },
        );
        if compression == Compression::Lz4 {
            assert!(
                props.file_bytes < 100_000,
                "LZ4 should shrink the repetitive value: {}",
                props.file_bytes
            );
        } else {
            assert!(props.file_bytes > 1 << 20);
        }
        let table = open(&path, None);
        assert_eq!(table.get(b"b", 1).unwrap(), Some(Lookup::Value(big.into())));
        assert_eq!(
            table.get(b"a", 1).unwrap(),
            Some(Lookup::Value(Bytes::new()))
        );
        assert_eq!(scan(&mut table.iter()).unwrap(), entries);
    }
}
