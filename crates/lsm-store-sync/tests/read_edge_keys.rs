//! A model test of the read path's shortcuts with keys chosen to hit their
//! edges: the empty key, keys that are prefixes of one another, keys
//! sharing their first 8 bytes (the memtable's and the index's integer
//! prefix), keys of `0x00` and `0xFF` bytes, keys of `MAX_KEY_BYTES`, and
//! values of 0 bytes against tombstones. Tiny blocks, tables and memtables
//! put block, table and level boundaries everywhere; a small block cache
//! and bloom filters of 1 to 10 bits a key make evictions and false
//! positives common. Every `get`, `get_pinned`, snapshot get, range
//! (forward, backward, mixed, pinned, borrowed) in the default keyspace
//! and in a named one is compared with a `BTreeMap`.
//!
//! Added by the review of the read path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::ops::Bound;

use lsm_store_sync::{
    KeyspaceId, LsmConfig, SimpleLsmStore, Snapshot, StoreIterator, SyncMode, WriteBatch,
};
use proptest::prelude::*;

const MAX_KEY: usize = lsm_core::MAX_KEY_BYTES;

/// The key pool: index -> key.
fn pool() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\x00".to_vec(),
        b"\x00\x00".to_vec(),
        vec![0u8; 8],
        vec![0u8; 9],
        b"a".to_vec(),
        b"ab".to_vec(),
        b"abcdefg".to_vec(),
        b"abcdefgh".to_vec(),
        b"abcdefgh\x00".to_vec(),
        b"abcdefgh\x01".to_vec(),
        b"abcdefghi".to_vec(),
        b"abcdefgi".to_vec(),
        [b"abcdefgh".as_slice(), &[b'x'; 100]].concat(),
        [b"abcdefgh".as_slice(), &[b'x'; 100], b"\x00"].concat(),
        [b"abcdefgh".as_slice(), &[b'x'; 101]].concat(),
        vec![b'm'; 1000],
        b"m".to_vec(),
        b"\x7f".to_vec(),
        b"\x80".to_vec(),
        b"\xfe\xff".to_vec(),
        b"\xff".to_vec(),
        b"\xff\x00".to_vec(),
        b"\xff\xff".to_vec(),
        vec![0xFF; 8],
        vec![0xFF; 9],
        vec![0xFF; 16],
        vec![0xFF; MAX_KEY - 1],
        [vec![0xFF; MAX_KEY - 1], vec![0xFE]].concat(),
        vec![0xFF; MAX_KEY],
        vec![0x00; MAX_KEY],
        [b"abcdefgh".as_slice(), &vec![b'x'; MAX_KEY - 8]].concat(),
    ];
    for i in 0..24u32 {
        keys.push(format!("f{i:03}").into_bytes());
    }
    keys
}

#[derive(Clone, Debug)]
enum Op {
    Put(usize, usize),
    Delete(usize),
    DeleteRange(usize, usize),
    Batch(Vec<(usize, Option<usize>)>),
    Get(usize),
    Range(Bound<usize>, Bound<usize>, Vec<bool>),
    Prefix(usize),
    Snapshot,
    SnapshotCheck,
    Flush,
    Compact(usize),
    Reopen,
    FullCheck,
}

/// Values: empty, short, longer than a block.
fn value(v: usize, salt: u64) -> Vec<u8> {
    match v % 4 {
        0 => Vec::new(),
        1 => vec![(salt % 251) as u8],
        2 => format!("value-{salt}").into_bytes(),
        _ => vec![(salt % 251) as u8; 300],
    }
}

fn op_strategy(keys: usize) -> impl Strategy<Value = Op> {
    let key = 0..keys;
    let bound = prop_oneof![
        Just(Bound::Unbounded),
        (0..keys).prop_map(Bound::Included),
        (0..keys).prop_map(Bound::Excluded),
    ];
    prop_oneof![
        10 => (key.clone(), 0usize..4).prop_map(|(k, v)| Op::Put(k, v)),
        4 => key.clone().prop_map(Op::Delete),
        1 => (key.clone(), key.clone()).prop_map(|(a, b)| Op::DeleteRange(a, b)),
        2 => proptest::collection::vec((key.clone(), proptest::option::of(0usize..4)), 1..6)
            .prop_map(Op::Batch),
        6 => key.clone().prop_map(Op::Get),
        3 => (bound.clone(), bound, proptest::collection::vec(any::<bool>(), 0..8))
            .prop_map(|(a, b, steps)| Op::Range(a, b, steps)),
        1 => key.prop_map(Op::Prefix),
        1 => Just(Op::Snapshot),
        1 => Just(Op::SnapshotCheck),
        2 => Just(Op::Flush),
        1 => (0usize..3).prop_map(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::FullCheck),
    ]
}

fn config(dir: &std::path::Path, bloom_bits: u32, cache: u64) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(4096)
        .wal_segment_bytes(1 << 20)
        .table_target_bytes(4096)
        .block_bytes(64)
        .base_level_bytes(8192)
        .l0_trigger(3)
        .num_levels(4)
        .bloom_bits_per_key(bloom_bits)
        .block_cache_bytes(cache)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn want(model: &Map, start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> Option<Pairs> {
    let valid = match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s <= e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s < e,
        _ => true,
    };
    if !valid {
        return None;
    }
    Some(
        model
            .range((start.clone(), end.clone()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn short(key: &[u8]) -> String {
    if key.len() > 24 {
        format!("{:?}..({} bytes)", &key[..12], key.len())
    } else {
        format!("{key:?}")
    }
}

/// Reads a range every way the iterator offers and compares each with
/// `want`: forward, backward, mixed, pinned both ways, borrowed.
fn check_range(make: &dyn Fn() -> StoreIterator, want: &Pairs, steps: &[bool], what: &str) {
    let forward: Pairs = make().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys_of(&forward), keys_of(want), "{what}: forward keys");
    assert_eq!(&forward, want, "{what}: forward");
    let mut backward: Pairs = make().rev().collect::<Result<_, _>>().unwrap();
    backward.reverse();
    assert_eq!(keys_of(&backward), keys_of(want), "{what}: backward keys");
    assert_eq!(&backward, want, "{what}: backward");
    let pinned: Pairs = make()
        .pinned()
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(&pinned, want, "{what}: pinned");
    let mut pinned_back: Pairs = make()
        .pinned()
        .rev()
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    pinned_back.reverse();
    assert_eq!(&pinned_back, want, "{what}: pinned backward");
    let mut iter = make();
    let mut borrowed = Vec::new();
    while let Some(item) = iter.next_borrowed() {
        let (k, v) = item.unwrap();
        borrowed.push((k.to_vec(), v.to_vec()));
    }
    assert_eq!(&borrowed, want, "{what}: borrowed");
    // Mixed ends.
    let mut iter = make();
    let mut left: std::collections::VecDeque<_> = want.iter().cloned().collect();
    let mut choices = steps
        .iter()
        .copied()
        .chain([true, false].into_iter().cycle());
    loop {
        let forward = choices.next().unwrap_or(true);
        let (got, expected) = if forward {
            (iter.next(), left.pop_front())
        } else {
            (iter.next_back(), left.pop_back())
        };
        let got = got.transpose().unwrap();
        assert_eq!(
            got.as_ref().map(|(k, _)| short(k)),
            expected.as_ref().map(|(k, _)| short(k)),
            "{what}: mixed, forward {forward}"
        );
        assert_eq!(got, expected, "{what}: mixed, forward {forward}");
        if got.is_none() {
            break;
        }
    }
}

fn keys_of(pairs: &Pairs) -> Vec<String> {
    pairs.iter().map(|(k, _)| short(k)).collect()
}

struct Harness {
    dir: tempfile::TempDir,
    bloom: u32,
    cache: u64,
    store: SimpleLsmStore,
    ks: KeyspaceId,
    keys: Vec<Vec<u8>>,
    model: Map,
    /// A snapshot and the model as of it.
    snapshot: Option<(Snapshot, Map)>,
    salt: u64,
}

impl Harness {
    fn new(bloom: u32, cache: u64) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = SimpleLsmStore::open(config(dir.path(), bloom, cache)).unwrap();
        let ks = store.keyspace("ks").unwrap().id();
        Harness {
            dir,
            bloom,
            cache,
            store,
            ks,
            keys: pool(),
            model: Map::new(),
            snapshot: None,
            salt: 0,
        }
    }

    fn put(&mut self, k: usize, v: usize) {
        self.salt += 1;
        let key = self.keys[k].clone();
        let value = value(v, self.salt);
        let mut batch = WriteBatch::new();
        batch.put(&key, &value);
        batch.put_in(self.ks, &key, &value);
        self.store.write(&batch).unwrap();
        self.model.insert(key, value);
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Put(k, v) => self.put(*k, *v),
            Op::Delete(k) => {
                let key = self.keys[*k].clone();
                let mut batch = WriteBatch::new();
                batch.delete(&key);
                batch.delete_in(self.ks, &key);
                self.store.write(&batch).unwrap();
                self.model.remove(&key);
            }
            Op::DeleteRange(a, b) => {
                let (a, b) = (self.keys[*a].clone(), self.keys[*b].clone());
                self.store.delete_range(a.clone()..b.clone()).unwrap();
                if a < b {
                    let doomed: Vec<Vec<u8>> = self
                        .model
                        .range(a.clone()..b.clone())
                        .map(|(k, _)| k.clone())
                        .collect();
                    // The named keyspace gets the same deletes, key by key.
                    let mut batch = WriteBatch::new();
                    for key in &doomed {
                        batch.delete_in(self.ks, key);
                        self.model.remove(key);
                    }
                    if !doomed.is_empty() {
                        self.store.write(&batch).unwrap();
                    }
                }
            }
            Op::Batch(items) => {
                let mut batch = WriteBatch::new();
                for (k, v) in items {
                    self.salt += 1;
                    let key = self.keys[*k].clone();
                    match v {
                        Some(v) => {
                            let value = value(*v, self.salt);
                            batch.put(&key, &value);
                            batch.put_in(self.ks, &key, &value);
                            self.model.insert(key, value);
                        }
                        None => {
                            batch.delete(&key);
                            batch.delete_in(self.ks, &key);
                            self.model.remove(&key);
                        }
                    }
                }
                self.store.write(&batch).unwrap();
            }
            Op::Get(k) => self.check_get(*k),
            Op::Range(a, b, steps) => {
                let bound = |b: &Bound<usize>| b.map(|i| self.keys[i].clone());
                let (start, end) = (bound(a), bound(b));
                self.check_range(start, end, steps);
            }
            Op::Prefix(k) => {
                let prefix = self.keys[*k].clone();
                let want: Pairs = self
                    .model
                    .iter()
                    .filter(|(key, _)| key.starts_with(&prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let store = &self.store;
                check_range(
                    &|| store.prefix(&prefix).unwrap(),
                    &want,
                    &[],
                    &format!("prefix {}", short(&prefix)),
                );
            }
            Op::Snapshot => {
                self.snapshot = Some((self.store.snapshot().unwrap(), self.model.clone()));
            }
            Op::SnapshotCheck => {
                if let Some((snapshot, model)) = &self.snapshot {
                    for key in &self.keys {
                        assert_eq!(
                            snapshot.get(key).unwrap(),
                            model.get(key).cloned(),
                            "snapshot get {}",
                            short(key)
                        );
                        assert_eq!(
                            snapshot.get_pinned(key).unwrap().map(|v| v.to_vec()),
                            model.get(key).cloned(),
                            "snapshot get_pinned {}",
                            short(key)
                        );
                    }
                    let want: Pairs = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    check_range(&|| snapshot.iter().unwrap(), &want, &[], "snapshot scan");
                }
            }
            Op::Flush => self.store.flush_memtable().unwrap(),
            Op::Compact(level) => self.store.compact_level(*level).unwrap(),
            Op::Reopen => {
                self.snapshot = None;
                self.store.close().unwrap();
                self.store =
                    SimpleLsmStore::open(config(self.dir.path(), self.bloom, self.cache)).unwrap();
            }
            Op::FullCheck => self.full_check(),
        }
    }

    fn check_get(&self, k: usize) {
        let key = &self.keys[k];
        let want = self.model.get(key).cloned();
        assert_eq!(self.store.get(key).unwrap(), want, "get {}", short(key));
        assert_eq!(
            self.store.get_pinned(key).unwrap().map(|v| v.to_vec()),
            want,
            "get_pinned {}",
            short(key)
        );
        let ks = self.store.keyspace("ks").unwrap();
        assert_eq!(ks.get(key).unwrap(), want, "get in ks {}", short(key));
        assert_eq!(
            ks.get_pinned(key).unwrap().map(|v| v.to_vec()),
            want,
            "get_pinned in ks {}",
            short(key)
        );
    }

    fn check_range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, steps: &[bool]) {
        let Some(want) = want(&self.model, &start, &end) else {
            return;
        };
        let what = format!(
            "range {:?}..{:?}",
            start.as_ref().map(|k| short(k)),
            end.as_ref().map(|k| short(k))
        );
        let store = &self.store;
        let (s, e) = (start.clone(), end.clone());
        check_range(
            &|| store.range((s.clone(), e.clone())).unwrap(),
            &want,
            steps,
            &what,
        );
        let ks = store.keyspace("ks").unwrap();
        check_range(
            &|| ks.range((start.clone(), end.clone())).unwrap(),
            &want,
            steps,
            &format!("{what} in ks"),
        );
    }

    fn full_check(&self) {
        for k in 0..self.keys.len() {
            self.check_get(k);
        }
        self.check_range(Bound::Unbounded, Bound::Unbounded, &[]);
    }
}

fn run(ops: &[Op], bloom: u32, cache: u64) {
    let mut harness = Harness::new(bloom, cache);
    for op in ops {
        harness.run(op);
    }
    harness.full_check();
    harness.store.flush_memtable().unwrap();
    harness.full_check();
    for level in 0..3 {
        harness.store.compact_level(level).unwrap();
        harness.full_check();
    }
    harness.run(&Op::Reopen);
    harness.full_check();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn edge_keys_read_as_the_model(
        ops in proptest::collection::vec(op_strategy(pool().len()), 1..200),
        bloom in prop_oneof![Just(0u32), Just(1), Just(10)],
        cache in prop_oneof![Just(0u64), Just(8192), Just(1 << 20)],
    ) {
        run(&ops, bloom, cache);
    }
}

/// Many versions of every key of the pool, spread over the memtable, a
/// frozen memtable, L0 and deeper levels, then every read compared.
#[test]
fn many_versions_of_edge_keys_across_every_layer() {
    for (bloom, cache) in [(10, 1 << 20), (1, 8192), (0, 0)] {
        let mut harness = Harness::new(bloom, cache);
        let n = harness.keys.len();
        for round in 0..6 {
            for k in 0..n {
                harness.run(&Op::Put((k * 7 + round) % n, round + k));
                if (k + round) % 5 == 0 {
                    harness.run(&Op::Delete((k * 3 + round) % n));
                }
            }
            harness.full_check();
            match round % 3 {
                0 => harness.run(&Op::Flush),
                1 => harness.run(&Op::Compact(0)),
                _ => harness.run(&Op::Compact(1)),
            }
            harness.full_check();
        }
        harness.run(&Op::Reopen);
        harness.full_check();
    }
}
