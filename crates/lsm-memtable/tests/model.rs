//! The memtable against a `BTreeMap` model: random puts, deletes and
//! replayed duplicates, then gets at random snapshots, a full scan and
//! seeks to random targets must all match the model exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use lsm_core::key::TRAILER_BYTES;
use lsm_core::{compare_internal_keys, InternalIterator, InternalKey, Lookup, ValueKind};
use lsm_memtable::{Memtable, ENTRY_OVERHEAD_BYTES};
use proptest::prelude::*;

/// Few keys, with prefixes of each other and the empty key, so versions
/// pile up and byte-order edge cases are hit.
const KEYS: &[&[u8]] = &[b"", b"a", b"a\x00", b"ab", b"b", b"\xff"];
/// A key that is never written.
const ABSENT: &[u8] = b"aa";

type Model = BTreeMap<(Vec<u8>, Reverse<u64>), (ValueKind, Vec<u8>)>;

#[derive(Clone, Debug)]
enum Op {
    /// A new version of `KEYS[key]` at the next sequence number, `gap`
    /// after the previous one.
    Write {
        key: usize,
        put: bool,
        value: Vec<u8>,
        gap: u64,
    },
    /// Replays an earlier write (index modulo the writes so far) with a
    /// different value, as a WAL replayed twice would.
    Replay { index: usize, value: Vec<u8> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..KEYS.len(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..6), 1u64..4)
            .prop_map(|(key, put, value, gap)| Op::Write { key, put, value, gap }),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(index, value)| Op::Replay { index, value }),
    ]
}

#[derive(Clone, Debug)]
enum Target {
    ForSeek(usize, u64),
    Exact(usize, u64, bool),
    Raw(Vec<u8>),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (0..KEYS.len() + 1, 0u64..200).prop_map(|(k, s)| Target::ForSeek(k, s)),
        (0..KEYS.len() + 1, 0u64..200, any::<bool>()).prop_map(|(k, s, p)| Target::Exact(k, s, p)),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Target::Raw),
    ]
}

fn key_at(index: usize) -> &'static [u8] {
    KEYS.get(index).copied().unwrap_or(ABSENT)
}

fn encode_target(t: &Target) -> Vec<u8> {
    match t {
        Target::ForSeek(k, s) => InternalKey::for_seek(key_at(*k), *s).into_bytes(),
        Target::Exact(k, s, put) => {
            let kind = if *put {
                ValueKind::Put
            } else {
                ValueKind::Delete
            };
            InternalKey::new(key_at(*k), *s, kind).into_bytes()
        }
        Target::Raw(bytes) => bytes.clone(),
    }
}

/// Applies `ops` to a memtable (with a point filter sized for
/// `filter_for` memtable bytes, if given) and the model; returns the writes
/// in order (user key, seq, kind, value) and the expected byte charge.
fn build(ops: &[Op], filter_for: Option<usize>) -> (Arc<Memtable>, Model, usize) {
    let mem = Arc::new(match filter_for {
        Some(bytes) => Memtable::with_point_filter(bytes),
        None => Memtable::new(),
    });
    let mut model = Model::new();
    let mut writes: Vec<(&[u8], u64, ValueKind)> = Vec::new();
    let mut charge = 0;
    let mut seq = 0;
    for op in ops {
        match op {
            Op::Write {
                key,
                put,
                value,
                gap,
            } => {
                seq += gap;
                let user_key = KEYS[*key];
                let (kind, value) = if *put {
                    (ValueKind::Put, value.clone())
                } else {
                    (ValueKind::Delete, Vec::new())
                };
                mem.insert(user_key, seq, kind, &value);
                charge += user_key.len() + TRAILER_BYTES + value.len() + ENTRY_OVERHEAD_BYTES;
                let previous = model.insert((user_key.to_vec(), Reverse(seq)), (kind, value));
                assert!(previous.is_none());
                writes.push((user_key, seq, kind));
            }
            Op::Replay { index, value } => {
                if writes.is_empty() {
                    continue;
                }
                let (user_key, seq, kind) = writes[index % writes.len()];
                let value = if kind == ValueKind::Put {
                    value.clone()
                } else {
                    Vec::new()
                };
                mem.insert(user_key, seq, kind, &value);
                // The first copy wins: the model keeps what it has.
            }
        }
    }
    (mem, model, charge)
}

fn model_get(model: &Model, user_key: &[u8], snapshot: u64) -> Option<Lookup> {
    let ((key, _), (kind, value)) = model
        .range((user_key.to_vec(), Reverse(snapshot))..)
        .next()?;
    if key != user_key {
        return None;
    }
    Some(match kind {
        ValueKind::Put => Lookup::Value(value.clone().into()),
        ValueKind::Delete => Lookup::Deleted,
    })
}

fn model_entries(model: &Model) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .iter()
        .map(|((key, Reverse(seq)), (kind, value))| {
            (
                InternalKey::new(key, *seq, *kind).into_bytes(),
                value.clone(),
            )
        })
        .collect()
}

fn drain(cursor: &mut impl InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while cursor.valid() {
        // The shared form of the value is the same bytes, pinned or copied.
        assert_eq!(cursor.value_bytes(), cursor.value());
        out.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.next().unwrap();
    }
    out
}

fn drain_backward(cursor: &mut impl InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while cursor.valid() {
        // The shared form of the value is the same bytes, pinned or copied.
        assert_eq!(cursor.value_bytes(), cursor.value());
        out.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.prev().unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn memtable_matches_btreemap_model(
        ops in proptest::collection::vec(op(), 0..120),
        snapshots in proptest::collection::vec(0u64..400, 1..8),
        targets in proptest::collection::vec(target(), 1..8),
        // No filter; one block (nearly every bit set: false positives
        // everywhere); a roomy one.
        filter_for in proptest::option::of(prop_oneof![Just(0usize), Just(64 << 20)]),
    ) {
        let (mem, model, charge) = build(&ops, filter_for);

        prop_assert_eq!(mem.len(), model.len());
        prop_assert_eq!(mem.is_empty(), model.is_empty());
        prop_assert_eq!(mem.approximate_bytes(), charge);
        let seqs = model.keys().map(|(_, Reverse(s))| *s);
        prop_assert_eq!(mem.min_seq(), seqs.clone().min());
        prop_assert_eq!(mem.max_seq(), seqs.max());

        // Gets at random snapshots, for every key and one never written.
        for &snapshot in &snapshots {
            for user_key in KEYS.iter().copied().chain([ABSENT]) {
                prop_assert_eq!(
                    mem.get(user_key, snapshot),
                    model_get(&model, user_key, snapshot),
                    "get({:?}, {})", user_key, snapshot
                );
            }
        }

        // The full scan is the model, in the model's order.
        let expected = model_entries(&model);
        // Copying cursors and cursors that pin the entries' buffers agree.
        for pinned in [false, true] {
            let mut cursor = if pinned { mem.iter().pin_values() } else { mem.iter() };
            prop_assert!(!cursor.valid());
            cursor.seek_to_first().unwrap();
            prop_assert_eq!(drain(&mut cursor), expected.clone());

            // Seeks land where the model says, and scan on from there.
            for t in &targets {
                let target = encode_target(t);
                let want: Vec<_> = expected
                    .iter()
                    .filter(|(k, _)| compare_internal_keys(k, &target).is_ge())
                    .cloned()
                    .collect();
                cursor.seek(&target).unwrap();
                prop_assert_eq!(drain(&mut cursor), want, "seek to {:?} (pinned: {})", t, pinned);
            }

            // Backward: the full reverse scan is the model reversed, and
            // `seek_for_prev` lands on the last entry at or before the target.
            let reversed: Vec<_> = expected.iter().rev().cloned().collect();
            cursor.seek_to_last().unwrap();
            prop_assert_eq!(drain_backward(&mut cursor), reversed.clone());
            for t in &targets {
                let target = encode_target(t);
                let want: Vec<_> = reversed
                    .iter()
                    .filter(|(k, _)| compare_internal_keys(k, &target).is_le())
                    .cloned()
                    .collect();
                cursor.seek_for_prev(&target).unwrap();
                prop_assert_eq!(drain_backward(&mut cursor), want, "seek_for_prev to {:?} (pinned: {})", t, pinned);
            }
        }
    }
}
