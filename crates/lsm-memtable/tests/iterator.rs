//! The memtable cursor: order, seek and the `InternalIterator`
//! postconditions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use lsm_core::{
    compare_internal_keys, parse_internal_key, InternalIterator, InternalKey, ValueKind,
};
use lsm_memtable::Memtable;

fn collect(cursor: &mut impl InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while cursor.valid() {
        out.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.next().unwrap();
    }
    out
}

fn sample() -> Arc<Memtable> {
    let m = Arc::new(Memtable::new());
    m.insert(b"b", 2, ValueKind::Put, b"b2");
    m.insert(b"a", 1, ValueKind::Put, b"a1");
    m.insert(b"b", 7, ValueKind::Delete, b"");
    m.insert(b"c", 3, ValueKind::Put, b"c3");
    m.insert(b"b", 5, ValueKind::Put, b"b5");
    m
}

fn ik(user_key: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    InternalKey::new(user_key, seq, kind).into_bytes()
}

#[test]
fn new_cursor_is_not_positioned() {
    let m = sample();
    let cursor = m.iter();
    assert!(!cursor.valid());
}

#[test]
fn full_scan_yields_user_key_ascending_newest_version_first() {
    let m = sample();
    let mut cursor = m.iter();
    cursor.seek_to_first().unwrap();
    let got = collect(&mut cursor);
    let expected = vec![
        (ik(b"a", 1, ValueKind::Put), b"a1".to_vec()),
        (ik(b"b", 7, ValueKind::Delete), Vec::new()),
        (ik(b"b", 5, ValueKind::Put), b"b5".to_vec()),
        (ik(b"b", 2, ValueKind::Put), b"b2".to_vec()),
        (ik(b"c", 3, ValueKind::Put), b"c3".to_vec()),
    ];
    assert_eq!(got, expected);
    assert!(!cursor.valid());
}

#[test]
fn seek_lands_on_first_entry_at_or_after_target() {
    let m = sample();
    let mut cursor = m.iter();

    cursor
        .seek(InternalKey::for_seek(b"b", 6).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), ik(b"b", 5, ValueKind::Put));
    assert_eq!(cursor.value(), b"b5");

    cursor
        .seek(InternalKey::for_seek(b"b", 100).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), ik(b"b", 7, ValueKind::Delete));

    // An exact key is found itself (>=, not >).
    cursor.seek(&ik(b"b", 2, ValueKind::Put)).unwrap();
    assert_eq!(cursor.key(), ik(b"b", 2, ValueKind::Put));
    cursor.next().unwrap();
    assert_eq!(cursor.key(), ik(b"c", 3, ValueKind::Put));

    // Same user key and seq but a smaller kind sorts after the entry.
    cursor.seek(&ik(b"b", 5, ValueKind::Delete)).unwrap();
    assert_eq!(cursor.key(), ik(b"b", 2, ValueKind::Put));

    cursor
        .seek(InternalKey::for_seek(b"bb", 9).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), ik(b"c", 3, ValueKind::Put));

    cursor
        .seek(InternalKey::for_seek(b"d", 9).as_bytes())
        .unwrap();
    assert!(!cursor.valid(), "past the end");

    // Seeking backwards after running off the end works.
    cursor.seek(b"").unwrap();
    assert_eq!(cursor.key(), ik(b"a", 1, ValueKind::Put));
}

#[test]
fn seek_to_malformed_short_target_does_not_panic() {
    let m = sample();
    let mut cursor = m.iter();
    for target in [&b""[..], b"a", b"zzzzzzz"] {
        cursor.seek(target).unwrap();
        let got = collect(&mut cursor);
        let mut all = m.iter();
        all.seek_to_first().unwrap();
        let expected: Vec<_> = collect(&mut all)
            .into_iter()
            .filter(|(k, _)| compare_internal_keys(k, target).is_ge())
            .collect();
        assert_eq!(got, expected, "target {target:?}");
    }
}

#[test]
fn empty_memtable_cursor_is_never_valid() {
    let m = Arc::new(Memtable::new());
    let mut cursor = m.iter();
    cursor.seek_to_first().unwrap();
    assert!(!cursor.valid());
    cursor.seek(b"anything").unwrap();
    assert!(!cursor.valid());
}

#[test]
fn long_scan_crosses_many_runs_in_order() {
    let m = Arc::new(Memtable::new());
    let n = 1_000u64;
    for i in 0..n {
        // Insert in a scrambled order; three versions of every tenth key.
        let k = (i * 7919) % n;
        let key = format!("key{k:05}");
        m.insert(key.as_bytes(), i * 3 + 1, ValueKind::Put, key.as_bytes());
        if k.is_multiple_of(10) {
            m.insert(key.as_bytes(), i * 3 + 2, ValueKind::Delete, b"");
            m.insert(key.as_bytes(), i * 3 + 3, ValueKind::Put, b"again");
        }
    }
    let mut cursor = m.iter();
    cursor.seek_to_first().unwrap();
    let got = collect(&mut cursor);
    assert_eq!(got.len(), m.len());
    assert_eq!(got.len(), 1_000 + 2 * 100);
    for pair in got.windows(2) {
        assert!(compare_internal_keys(&pair[0].0, &pair[1].0).is_lt());
    }
    let first = parse_internal_key(&got[0].0).unwrap();
    assert_eq!(first.user_key, b"key00000");
    assert_eq!(first.kind, ValueKind::Put);
    assert_eq!(got[0].1, b"again");
}

#[test]
fn large_values_are_copied_whole() {
    let m = Arc::new(Memtable::new());
    let big = vec![0xAB; 100_000];
    for i in 0..5u64 {
        m.insert(&[i as u8], i, ValueKind::Put, &big);
    }
    let mut cursor = m.iter();
    cursor.seek_to_first().unwrap();
    let got = collect(&mut cursor);
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|(_, v)| v == &big));
}

#[test]
fn key_and_value_stay_stable_while_memtable_grows() {
    let m = sample();
    let mut cursor = m.iter();
    cursor.seek_to_first().unwrap();
    let key = cursor.key().to_vec();
    for i in 0..200u64 {
        m.insert(b"0", 100 + i, ValueKind::Put, b"earlier key");
    }
    assert_eq!(cursor.key(), &key[..]);
    assert_eq!(cursor.value(), b"a1");
}

#[test]
fn cursor_is_static_and_outlives_other_handles() {
    fn assert_static_send<T: Send + 'static>(_: &T) {}
    let m = sample();
    let mut cursor = m.iter();
    assert_static_send(&cursor);
    drop(m);
    cursor.seek_to_first().unwrap();
    assert_eq!(collect(&mut cursor).len(), 5);
}

fn collect_backward(cursor: &mut impl InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while cursor.valid() {
        out.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.prev().unwrap();
    }
    out
}

#[test]
fn reverse_scan_yields_oldest_version_of_a_key_first() {
    let m = sample();
    let mut cursor = m.iter();
    cursor.seek_to_last().unwrap();
    let got = collect_backward(&mut cursor);
    let expected = vec![
        (ik(b"c", 3, ValueKind::Put), b"c3".to_vec()),
        (ik(b"b", 2, ValueKind::Put), b"b2".to_vec()),
        (ik(b"b", 5, ValueKind::Put), b"b5".to_vec()),
        (ik(b"b", 7, ValueKind::Delete), Vec::new()),
        (ik(b"a", 1, ValueKind::Put), b"a1".to_vec()),
    ];
    assert_eq!(got, expected);
    assert!(!cursor.valid());
}

#[test]
fn seek_for_prev_lands_on_last_entry_at_or_before_target() {
    let m = sample();
    let mut cursor = m.iter();

    // The seek key for (b, 6) sorts between b@7 and b@5.
    cursor
        .seek_for_prev(InternalKey::for_seek(b"b", 6).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), ik(b"b", 7, ValueKind::Delete));

    // An exact key is found itself (<=, not <).
    cursor.seek_for_prev(&ik(b"b", 5, ValueKind::Put)).unwrap();
    assert_eq!(cursor.value(), b"b5");
    cursor.prev().unwrap();
    assert_eq!(cursor.key(), ik(b"b", 7, ValueKind::Delete));

    // Before every entry of "b": the last entry of "a".
    cursor
        .seek_for_prev(InternalKey::for_seek(b"b", 100).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), ik(b"a", 1, ValueKind::Put));

    cursor
        .seek_for_prev(InternalKey::for_seek(b"zz", 1).as_bytes())
        .unwrap();
    assert_eq!(cursor.key(), ik(b"c", 3, ValueKind::Put), "past the end");

    cursor
        .seek_for_prev(InternalKey::for_seek(b"a", 9).as_bytes())
        .unwrap();
    assert!(!cursor.valid(), "before the start");

    let empty = Arc::new(Memtable::new());
    let mut cursor = empty.iter();
    cursor.seek_to_last().unwrap();
    assert!(!cursor.valid());
    cursor.seek_for_prev(b"anything").unwrap();
    assert!(!cursor.valid());
}

/// 1200 entries: reverse runs are copied many times (up to 64 entries
/// each), and direction switches at every run boundary still step by one.
#[test]
fn long_reverse_scan_and_direction_switches_cross_runs() {
    let m = Arc::new(Memtable::new());
    for i in 0..1_200u64 {
        let key = format!("key{:05}", (i * 7919) % 1_200);
        m.insert(key.as_bytes(), i + 1, ValueKind::Put, key.as_bytes());
    }
    let mut forward = m.iter();
    forward.seek_to_first().unwrap();
    let mut expected = collect(&mut forward);
    expected.reverse();
    let mut cursor = m.iter();
    cursor.seek_to_last().unwrap();
    assert_eq!(collect_backward(&mut cursor), expected);

    // Zig-zag: two back, one forward, from the end to the start.
    let ascending: Vec<_> = expected.iter().rev().cloned().collect();
    cursor.seek_to_last().unwrap();
    let mut index = ascending.len() - 1;
    while index >= 2 {
        cursor.prev().unwrap();
        cursor.prev().unwrap();
        cursor.next().unwrap();
        index -= 1;
        assert_eq!(cursor.key(), &ascending[index].0[..], "at {index}");
    }
    // And forward again from the middle.
    cursor.seek_for_prev(&ascending[600].0).unwrap();
    for entry in &ascending[600..700] {
        assert_eq!(cursor.key(), &entry.0[..]);
        cursor.next().unwrap();
    }
    for entry in ascending[550..700].iter().rev() {
        cursor.prev().unwrap();
        assert_eq!(cursor.key(), &entry.0[..]);
    }
}
