//! `iter`, `prefix` and `range(..)` on `SimpleLsmStore`, its snapshots and
//! `ReadOnlyStore`: every range form without a turbofish, forward and
//! backward, over keys spread across tables and the memtable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;

use lsm_store_sync::{LsmConfig, ReadOnlyStore, SimpleLsmStore, StoreIterator, SyncMode};

fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn keys(iter: StoreIterator) -> Vec<Vec<u8>> {
    iter.map(|item| item.unwrap().0).collect()
}

fn keys_rev(iter: StoreIterator) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = iter.rev().map(|item| item.unwrap().0).collect();
    keys.reverse();
    keys
}

fn bytes(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|k| k.to_vec()).collect()
}

/// Keys around the edges a prefix successor has to get right: `0xFF`
/// bytes, a prefix that is itself a key, neighbours just outside.
const KEYS: &[&[u8]] = &[
    b"",
    b"\x00",
    b"\x01\xfe",
    b"\x01\xff",
    b"\x01\xff\x00",
    b"\x02",
    b"app",
    b"apple",
    b"apply",
    b"apq",
    b"b",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\xff",
];

/// A store holding [`KEYS`], the first half flushed to a table and
/// compacted, the rest in the memtable, with stale versions and a deleted
/// key on top.
fn store(dir: &std::path::Path) -> SimpleLsmStore {
    let store = SimpleLsmStore::open(config(dir)).unwrap();
    for key in KEYS {
        store.put(key, b"old").unwrap();
        store.put(b"zz-deleted", b"gone").unwrap();
    }
    store.flush_memtable().unwrap();
    store.compact_level(0).unwrap();
    for (i, key) in KEYS.iter().enumerate() {
        if i % 2 == 0 {
            store.put(key, *key).unwrap();
        }
    }
    store.flush_memtable().unwrap();
    for (i, key) in KEYS.iter().enumerate() {
        if i % 2 == 1 {
            store.put(key, *key).unwrap();
        }
    }
    store.delete(b"zz-deleted").unwrap();
    let stats = store.stats().unwrap();
    assert!(
        stats.levels[0].files + stats.levels[1].files >= 2,
        "{stats:?}"
    );
    store
}

#[test]
fn iter_yields_every_live_key_both_ways_with_the_newest_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let all: Vec<(Vec<u8>, Vec<u8>)> = store.iter().unwrap().map(Result::unwrap).collect();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = KEYS.iter().map(|k| (k.to_vec(), k.to_vec())).collect();
    assert_eq!(all, expected);
    let mut backward: Vec<_> = store.iter().unwrap().rev().map(Result::unwrap).collect();
    backward.reverse();
    assert_eq!(backward, expected);
}

#[test]
fn prefix_holds_exactly_the_keys_with_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let cases: &[(&[u8], &[&[u8]])] = &[
        (b"app", &[b"app", b"apple", b"apply"]),
        (b"appl", &[b"apple", b"apply"]),
        (b"ap", &[b"app", b"apple", b"apply", b"apq"]),
        (b"\x01\xff", &[b"\x01\xff", b"\x01\xff\x00"]),
        (b"\x01", &[b"\x01\xfe", b"\x01\xff", b"\x01\xff\x00"]),
        (
            b"\xff",
            &[b"\xff", b"\xff\x00", b"\xff\xff", b"\xff\xff\xff"],
        ),
        (b"\xff\xff", &[b"\xff\xff", b"\xff\xff\xff"]),
        (b"\xff\xff\xff\xff", &[]),
        (b"none", &[]),
    ];
    for (prefix, expected) in cases {
        let expected = bytes(expected);
        assert_eq!(keys(store.prefix(prefix).unwrap()), expected, "{prefix:?}");
        assert_eq!(
            keys_rev(store.prefix(prefix).unwrap()),
            expected,
            "rev {prefix:?}"
        );
    }
    // The empty prefix is every key.
    assert_eq!(keys(store.prefix(b"").unwrap()), bytes(KEYS));
    assert_eq!(keys_rev(store.prefix("").unwrap()), bytes(KEYS));
    // Any byte-string type works.
    assert_eq!(
        keys(store.prefix(String::from("apq")).unwrap()),
        bytes(&[b"apq"])
    );
    assert_eq!(keys(store.prefix(vec![0xFFu8, 0xFF]).unwrap()).len(), 2);
}

#[test]
fn range_takes_every_range_form_without_a_turbofish() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let between = |start: &[u8], end: &[u8], inclusive: bool| -> Vec<Vec<u8>> {
        KEYS.iter()
            .filter(|k| **k >= start && (**k < end || (inclusive && **k == end)))
            .map(|k| k.to_vec())
            .collect()
    };
    let from = |start: &[u8]| {
        bytes(
            &KEYS
                .iter()
                .copied()
                .filter(|k| *k >= start)
                .collect::<Vec<_>>(),
        )
    };
    let to = |end: &[u8], inclusive: bool| between(b"", end, inclusive);

    let cases: Vec<(&str, StoreIterator, StoreIterator, Vec<Vec<u8>>)> = vec![
        (
            "..",
            store.range(..).unwrap(),
            store.range(..).unwrap(),
            bytes(KEYS),
        ),
        (
            "&str..&str",
            store.range("app".."apq").unwrap(),
            store.range("app".."apq").unwrap(),
            between(b"app", b"apq", false),
        ),
        (
            "&[u8; N]..=&[u8; N]",
            store.range(b"app"..=b"apq").unwrap(),
            store.range(b"app"..=b"apq").unwrap(),
            between(b"app", b"apq", true),
        ),
        (
            "[u8; N]..",
            store.range(*b"b"..).unwrap(),
            store.range(*b"b"..).unwrap(),
            from(b"b"),
        ),
        (
            "..Vec<u8>",
            store.range(..b"\x02".to_vec()).unwrap(),
            store.range(..b"\x02".to_vec()).unwrap(),
            to(b"\x02", false),
        ),
        (
            "..=&[u8]",
            store.range(..=&b"\x01\xff"[..]).unwrap(),
            store.range(..=&b"\x01\xff"[..]).unwrap(),
            to(b"\x01\xff", true),
        ),
        (
            "String..String",
            store
                .range(String::from("apple")..String::from("b"))
                .unwrap(),
            store
                .range(String::from("apple")..String::from("b"))
                .unwrap(),
            between(b"apple", b"b", false),
        ),
        (
            "(Excluded, Included)",
            store
                .range((Bound::Excluded("app"), Bound::Included("b")))
                .unwrap(),
            store
                .range((Bound::Excluded("app"), Bound::Included("b")))
                .unwrap(),
            between(b"apple", b"b", true),
        ),
        (
            "(Unbounded, Excluded)",
            store
                .range((Bound::Unbounded, Bound::Excluded(b"\x01\xfe".to_vec())))
                .unwrap(),
            store
                .range((Bound::Unbounded, Bound::Excluded(b"\x01\xfe".to_vec())))
                .unwrap(),
            bytes(&[b"", b"\x00"]),
        ),
        (
            "inverted",
            store.range("b".."a").unwrap(),
            store.range("b".."a").unwrap(),
            Vec::new(),
        ),
    ];
    for (form, forward, backward, expected) in cases {
        assert!(!expected.is_empty() || form == "inverted", "{form}");
        assert_eq!(keys(forward), expected, "{form}");
        assert_eq!(keys_rev(backward), expected, "rev {form}");
    }
}

#[test]
fn next_and_next_back_mix_without_repeating_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut iter = store.iter().unwrap();
    let mut front = Vec::new();
    let mut back = Vec::new();
    // One from the front, two from the back, until the ends meet.
    while let Some(item) = iter.next() {
        front.push(item.unwrap().0);
        let Some(item) = iter.next_back() else { break };
        back.push(item.unwrap().0);
        let Some(item) = iter.next_back() else { break };
        back.push(item.unwrap().0);
    }
    assert!(iter.next().is_none() && iter.next_back().is_none());
    back.reverse();
    front.extend(back);
    assert_eq!(front, bytes(KEYS));
}

#[test]
fn snapshot_iter_prefix_and_range_read_as_of_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let snapshot = store.snapshot().unwrap();
    store.delete(b"apple").unwrap();
    store.put(b"apple2", b"new").unwrap();
    store.put(b"app", b"changed").unwrap();
    store.flush_memtable().unwrap();
    assert_eq!(keys(snapshot.iter().unwrap()), bytes(KEYS));
    assert_eq!(keys_rev(snapshot.iter().unwrap()), bytes(KEYS));
    assert_eq!(
        keys_rev(snapshot.prefix("appl").unwrap()),
        bytes(&[b"apple", b"apply"])
    );
    let newest_first: Vec<_> = snapshot
        .range("app"..="apple")
        .unwrap()
        .rev()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        newest_first,
        [
            (b"apple".to_vec(), b"apple".to_vec()),
            (b"app".to_vec(), b"app".to_vec())
        ]
    );
    // The store itself moved on.
    assert_eq!(
        keys(store.prefix("appl").unwrap()),
        bytes(&[b"apple2", b"apply"])
    );
}

#[test]
fn read_only_store_has_iter_prefix_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.close().unwrap();
    drop(store);
    let read_only = ReadOnlyStore::open(config(dir.path())).unwrap();
    assert_eq!(keys_rev(read_only.iter().unwrap()), bytes(KEYS));
    assert_eq!(
        keys(read_only.prefix(b"\xff\xff").unwrap()),
        bytes(&[b"\xff\xff", b"\xff\xff\xff"])
    );
    assert_eq!(
        keys_rev(read_only.range(&b"\x01\xfe"[..]..&b"\x02"[..]).unwrap()),
        bytes(&[b"\x01\xfe", b"\x01\xff", b"\x01\xff\x00"])
    );
}

/// `next_borrowed` lends the pairs `next` yields: keys without their
/// keyspace prefix, keys under a range delete skipped, values from tables
/// and the memtable, mixed with `next_back` without repeating a key.
#[test]
fn next_borrowed_lends_what_next_yields_in_a_keyspace_with_a_range_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let fruit = store.keyspace("fruit").unwrap();
    for i in 0..400u32 {
        fruit
            .put(format!("k{i:04}"), format!("v{i}-{}", "x".repeat(40)))
            .unwrap();
    }
    fruit.delete_range("k0100".."k0300").unwrap();
    fruit.put("k0150", "back").unwrap();
    store.put("k0001", "default keyspace").unwrap();
    let owned: Vec<(Vec<u8>, Vec<u8>)> =
        fruit.range(..).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        owned.len(),
        100 + 1 + 100,
        "the range delete hides 199 keys"
    );
    assert!(owned.iter().all(|(key, _)| key.starts_with(b"k")));

    let mut iter = fruit.range(..).unwrap();
    let mut lent = Vec::new();
    while let Some(item) = iter.next_borrowed() {
        let (key, value) = item.unwrap();
        lent.push((key.to_vec(), value.to_vec()));
    }
    assert_eq!(lent, owned);
    assert!(iter.next_borrowed().is_none(), "stays at the end");

    // Front borrowed, back owned: they meet without repeating a key.
    let mut iter = fruit.range(..).unwrap();
    let (mut front, mut back) = (Vec::new(), Vec::new());
    while let Some(item) = iter.next_borrowed() {
        front.push(item.unwrap().0.to_vec());
        let Some(item) = iter.next_back() else { break };
        back.push(item.unwrap().0);
    }
    back.reverse();
    front.extend(back);
    let expected: Vec<Vec<u8>> = owned.into_iter().map(|(key, _)| key).collect();
    assert_eq!(front, expected);
}
