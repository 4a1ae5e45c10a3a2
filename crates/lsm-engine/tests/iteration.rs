//! `StoreIterator` in both directions against a `BTreeMap` model: forward,
//! reverse and mixed `next` / `next_back`, with every kind of bound, over
//! data spread across the active memtable, a frozen memtable, L0 tables and
//! deeper levels, at the current sequence number and at a snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use lsm_core::WriteBatch;
use lsm_engine::{Engine, LsmConfig, Snapshot, StoreIterator};
use lsm_wal::SyncMode;
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Pair = (Vec<u8>, Vec<u8>);

/// The smallest tables and blocks: a compaction of a few KiB writes
/// several files, each of many blocks. Nothing flushes or compacts unless
/// the test says so (the engine never does on its own).
fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(1 << 20)
        .wal_sync(SyncMode::Never)
        .num_levels(4)
        .table_target_bytes(LsmConfig::MIN_SIZE_BYTES)
        .block_bytes(64)
        .base_level_bytes(LsmConfig::MIN_SIZE_BYTES)
        .l0_trigger(64)
        .build()
        .unwrap()
}

fn key(index: u8) -> Vec<u8> {
    format!("k{index:02}").into_bytes()
}

/// Keys `k00`..`k23` are written; bounds range over `k00`..`k25`, so some
/// name absent keys.
const WRITTEN_KEYS: u8 = 24;
const BOUND_KEYS: u8 = 26;

/// One write of a batch: a put (`Some`) or a delete (`None`).
type Write = (u8, Option<Vec<u8>>);

/// Up to 40 writes with values of up to 1000 bytes: the live keys of two
/// rounds fill two or three of the smallest tables.
fn writes() -> impl Strategy<Value = Vec<Write>> {
    let value = proptest::collection::vec(any::<u8>(), 0..1000);
    proptest::collection::vec(
        (0..WRITTEN_KEYS, proptest::option::weighted(0.75, value)),
        0..40,
    )
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0..BOUND_KEYS).prop_map(Bound::Included),
        (0..BOUND_KEYS).prop_map(Bound::Excluded),
    ]
}

fn apply(engine: &Engine, model: &mut Model, writes: &[Write]) {
    for chunk in writes.chunks(3) {
        let mut batch = WriteBatch::new();
        for (k, value) in chunk {
            match value {
                Some(value) => {
                    batch.put(key(*k), value);
                    model.insert(key(*k), value.clone());
                }
                None => {
                    batch.delete(key(*k));
                    model.remove(&key(*k));
                }
            }
        }
        engine.write(&batch).unwrap();
    }
}

fn compact(engine: &Engine, level: usize) {
    if let Some(reservation) = engine.reserve_compaction(Some(level)) {
        engine.run_reserved_compaction(reservation).unwrap();
    }
}

fn owned(bound: Bound<u8>) -> Bound<Vec<u8>> {
    bound.map(key)
}

/// The model's pairs within the bounds (empty for inverted bounds).
fn model_range(model: &Model, start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> Vec<Pair> {
    model
        .iter()
        .filter(|(k, _)| (start.clone(), end.clone()).contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One move of [`check_mixed`].
#[derive(Clone, Copy, Debug)]
enum Step {
    Next,
    NextBorrowed,
    NextBack,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Next),
        Just(Step::NextBorrowed),
        Just(Step::NextBack)
    ]
}

/// Drives `iter` with `steps` (then `next`, `next_back` and
/// `next_borrowed` in turn once `steps` runs out) until both ends are
/// exhausted, checking every item against the model's deque.
fn check_mixed(
    mut iter: StoreIterator,
    expected: Vec<Pair>,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let mut left: VecDeque<Pair> = expected.into();
    let mut choices = steps.iter().copied().chain(
        [Step::Next, Step::NextBack, Step::NextBorrowed]
            .into_iter()
            .cycle(),
    );
    loop {
        let step = choices.next().unwrap_or(Step::Next);
        let (got, want) = match step {
            Step::Next => (iter.next(), left.pop_front()),
            Step::NextBorrowed => (
                iter.next_borrowed()
                    .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec()))),
                left.pop_front(),
            ),
            Step::NextBack => (iter.next_back(), left.pop_back()),
        };
        let got = got.transpose().unwrap();
        prop_assert_eq!(&got, &want, "step: {:?}", step);
        if got.is_none() {
            // Once the ends met, every way of moving stays exhausted.
            prop_assert!(iter.next().is_none() && iter.next_back().is_none());
            prop_assert!(iter.next_borrowed().is_none());
            return Ok(());
        }
    }
}

/// Every pair `next_borrowed` lends, copied.
fn borrowed_all(mut iter: StoreIterator) -> Vec<Pair> {
    let mut pairs = Vec::new();
    while let Some(item) = iter.next_borrowed() {
        let (key, value) = item.unwrap();
        pairs.push((key.to_vec(), value.to_vec()));
    }
    pairs
}

fn check_all(
    range: impl Fn(Bound<Vec<u8>>, Bound<Vec<u8>>) -> StoreIterator,
    model: &Model,
    bounds: &[(Bound<u8>, Bound<u8>)],
    steps: &[Step],
) -> Result<(), TestCaseError> {
    for (start, end) in bounds {
        let (start, end) = (owned(*start), owned(*end));
        let expected = model_range(model, &start, &end);
        let forward: Vec<Pair> = range(start.clone(), end.clone())
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(&forward, &expected, "forward {:?}..{:?}", start, end);
        let borrowed = borrowed_all(range(start.clone(), end.clone()));
        prop_assert_eq!(&borrowed, &expected, "borrowed {:?}..{:?}", start, end);
        let mut backward: Vec<Pair> = range(start.clone(), end.clone())
            .rev()
            .collect::<Result<_, _>>()
            .unwrap();
        backward.reverse();
        prop_assert_eq!(&backward, &expected, "backward {:?}..{:?}", start, end);
        check_mixed(range(start.clone(), end.clone()), expected, steps)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Six rounds of writes: the first two are merged into L1 and moved
    /// on to L2, the third ends in L1, the fourth in an L0 table, the fifth
    /// in a frozen memtable, the sixth in the active one. A snapshot is
    /// taken after round `snapshot_after`.
    #[test]
    fn iteration_matches_the_model_both_ways(
        rounds in proptest::collection::vec(writes(), 6),
        snapshot_after in 0usize..6,
        bounds in proptest::collection::vec((bound(), bound()), 1..6),
        steps in proptest::collection::vec(step(), 0..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
        let mut freezer = engine.freezer().unwrap();
        let mut model = Model::new();
        let mut snapshot: Option<(Snapshot, Model)> = None;
        for (round, writes) in rounds.iter().enumerate() {
            apply(&engine, &mut model, writes);
            if round < 5 {
                freezer.freeze(true, |_, _| {}).unwrap();
            }
            if round < 4 {
                while engine.flush_oldest_immutable().unwrap() {}
            }
            match round {
                1 => {
                    compact(&engine, 0);
                    compact(&engine, 1);
                }
                2 => compact(&engine, 0),
                _ => {}
            }
            if round == snapshot_after {
                snapshot = Some((Snapshot::new(&engine).unwrap(), model.clone()));
            }
        }
        check_all(
            |start, end| engine.range(start, end, None).unwrap(),
            &model,
            &bounds,
            &steps,
        )?;
        let (snapshot, as_of_snapshot) = snapshot.unwrap();
        check_all(
            |start, end| snapshot.range((start, end)).unwrap(),
            &as_of_snapshot,
            &bounds,
            &steps,
        )?;
        engine.close().unwrap();
    }
}

/// An engine with `a`..`e` spread over every layer, each key with several
/// versions: the newest visible one is what both directions yield.
fn layered() -> (tempfile::TempDir, Arc<Engine>) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
    let mut freezer = engine.freezer().unwrap();
    let put = |k: &str, v: &str| {
        let mut batch = WriteBatch::new();
        batch.put(k.as_bytes(), v.as_bytes());
        engine.write(&batch).unwrap().last_seq
    };
    let delete = |k: &str| {
        let mut batch = WriteBatch::new();
        batch.delete(k.as_bytes());
        engine.write(&batch).unwrap().last_seq
    };
    for k in ["a", "b", "c", "d", "e"] {
        put(k, &format!("{k}1"));
    }
    freezer.freeze(true, |_, _| {}).unwrap();
    while engine.flush_oldest_immutable().unwrap() {}
    compact(&engine, 0); // version 1 of everything in L1
    put("b", "b2");
    delete("c");
    freezer.freeze(true, |_, _| {}).unwrap();
    while engine.flush_oldest_immutable().unwrap() {} // L0
    put("c", "c3");
    delete("d");
    freezer.freeze(true, |_, _| {}).unwrap(); // frozen memtable
    put("b", "b4");
    delete("e"); // active memtable
    let stats = engine.stats().unwrap();
    assert_eq!(stats.immutable_memtables, 1);
    assert_eq!(stats.levels[0].files, 1);
    assert!(stats.levels[1].files > 0);
    (dir, engine)
}

fn strings(iter: impl Iterator<Item = lsm_engine::Result<Pair>>) -> Vec<(String, String)> {
    iter.map(|item| {
        let (k, v) = item.unwrap();
        (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
    })
    .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn reverse_yields_the_newest_visible_version_and_skips_deleted_keys() {
    let (_dir, engine) = layered();
    let all = || {
        engine
            .range(Bound::Unbounded, Bound::Unbounded, None)
            .unwrap()
    };
    assert_eq!(
        strings(all().rev()),
        pairs(&[("c", "c3"), ("b", "b4"), ("a", "a1")])
    );
    assert_eq!(
        strings(all()),
        pairs(&[("a", "a1"), ("b", "b4"), ("c", "c3")])
    );
    engine.close().unwrap();
}

#[test]
fn a_snapshot_reads_older_versions_backward() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
    let mut freezer = engine.freezer().unwrap();
    let write = |k: &str, v: Option<&str>| {
        let mut batch = WriteBatch::new();
        match v {
            Some(v) => batch.put(k.as_bytes(), v.as_bytes()),
            None => batch.delete(k.as_bytes()),
        };
        engine.write(&batch).unwrap();
    };
    write("a", Some("a1"));
    write("b", Some("b1"));
    write("c", Some("c1"));
    let snapshot = Snapshot::new(&engine).unwrap();
    write("a", None);
    write("b", Some("b2"));
    freezer.freeze(true, |_, _| {}).unwrap();
    while engine.flush_oldest_immutable().unwrap() {}
    write("c", Some("c2"));
    write("d", Some("d2"));
    assert_eq!(
        strings(snapshot.range(..).unwrap().rev()),
        pairs(&[("c", "c1"), ("b", "b1"), ("a", "a1")])
    );
    assert_eq!(
        strings(snapshot.range("b"..).unwrap().rev()),
        pairs(&[("c", "c1"), ("b", "b1")])
    );
    let now = engine
        .range(Bound::Unbounded, Bound::Unbounded, None)
        .unwrap();
    assert_eq!(
        strings(now.rev()),
        pairs(&[("d", "d2"), ("c", "c2"), ("b", "b2")])
    );
    engine.close().unwrap();
}

#[test]
fn bounds_on_keys_with_versions_in_several_layers_hold_both_ways() {
    let (_dir, engine) = layered();
    let range = |start: Bound<&str>, end: Bound<&str>| {
        let own = |b: Bound<&str>| b.map(|k| k.as_bytes().to_vec());
        engine.range(own(start), own(end), None).unwrap()
    };
    use Bound::{Excluded, Included, Unbounded};
    let cases = [
        (Included("b"), Included("c"), vec![("b", "b4"), ("c", "c3")]),
        (Excluded("b"), Included("c"), vec![("c", "c3")]),
        (Included("b"), Excluded("c"), vec![("b", "b4")]),
        (Excluded("a"), Excluded("c"), vec![("b", "b4")]),
        (Unbounded, Excluded("b"), vec![("a", "a1")]),
        (Excluded("c"), Unbounded, vec![]),
        (Included("c"), Excluded("b"), vec![]),
    ];
    for (start, end, expected) in cases {
        let expected = pairs(&expected);
        assert_eq!(strings(range(start, end)), expected, "{start:?}..{end:?}");
        let mut backward = strings(range(start, end).rev());
        backward.reverse();
        assert_eq!(backward, expected, "backward {start:?}..{end:?}");
    }
    engine.close().unwrap();
}

#[test]
fn next_and_next_back_meet_in_the_middle_without_repeating_a_key() {
    let (_dir, engine) = layered();
    let mut iter = engine
        .range(Bound::Unbounded, Bound::Unbounded, None)
        .unwrap();
    let key = |item: Option<lsm_engine::Result<Pair>>| item.map(|i| i.unwrap().0);
    assert_eq!(key(iter.next_back()), Some(b"c".to_vec()));
    assert_eq!(key(iter.next()), Some(b"a".to_vec()));
    assert_eq!(key(iter.next_back()), Some(b"b".to_vec()));
    assert_eq!(key(iter.next()), None);
    assert_eq!(key(iter.next_back()), None);
    engine.close().unwrap();
}
