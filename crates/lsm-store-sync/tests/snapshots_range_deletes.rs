//! Seeded random operation sequences against a `BTreeMap` model: long-lived
//! snapshots (up to four at once, each kept across many writes, flushes and
//! compactions), range deletes alone and in batches mixed with puts and
//! deletes (bounds included, excluded, unbounded, empty or inverted), and
//! every read checked (`get`, forward, reverse and mixed `next`/`next_back`
//! ranges with bounds on tombstone edges) for the store and a live
//! snapshot. Tiny memtables and 4 KiB tables, so that flushes, compactions
//! (the picker's range-delete rewrite of the last level included) and
//! reopens happen constantly. `LSM_MODEL_SEEDS` sets the seeds per test
//! (`cargo xtask soak` runs more).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::ops::Bound;

use std::time::Duration;

use lsm_store_sync::{KvSnapshot, KvStore, LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};
use lsm_testkit::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// What the keys and values look like.
#[derive(Clone, Copy, Debug)]
struct Mode {
    /// Variable-length keys with prefix relations and `\0` / `\xff` ends.
    var_keys: bool,
    /// Values of 100-400 bytes and more keys: several tables per level,
    /// tombstones overlapping table boundaries.
    big_values: bool,
}

fn key(mode: Mode, k: u64) -> Vec<u8> {
    if mode.var_keys {
        // Variable-length keys with prefix relations and edge bytes.
        let mut out = format!("k{}", k / 3).into_bytes();
        match k % 3 {
            0 => {}
            1 => out.push(0),
            _ => out.push(0xff),
        }
        out
    } else {
        format!("k{k:03}").into_bytes()
    }
}

fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(4096)
        .wal_segment_bytes(8192)
        .table_target_bytes(4096)
        .block_bytes(256)
        .base_level_bytes(4096)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn bound(mode: Mode, rng: &mut Rng, nkeys: u64) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(mode, rng.below(nkeys + 1))),
        _ => Bound::Excluded(key(mode, rng.below(nkeys + 1))),
    }
}

fn valid_range(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s <= e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s < e,
        _ => true,
    }
}

fn want(model: &Model, start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .range((start.clone(), end.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

// The reads' whole context, spelled out: a struct would only rename it.
#[allow(clippy::too_many_arguments)]
fn check_reads<I: DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), E>>, E: std::fmt::Debug>(
    mode: Mode,
    rng: &mut Rng,
    nkeys: u64,
    model: &Model,
    get: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
    range: &dyn Fn(Bound<Vec<u8>>, Bound<Vec<u8>>) -> I,
    what: &str,
    log: &[String],
) {
    let k = key(mode, rng.below(nkeys));
    assert_eq!(
        get(&k),
        model.get(&k).cloned(),
        "{what}: get {:?}\nops:\n{}",
        String::from_utf8_lossy(&k),
        log.join("\n")
    );
    let (start, end) = (bound(mode, rng, nkeys), bound(mode, rng, nkeys));
    if !valid_range(&start, &end) {
        return;
    }
    let w = want(model, &start, &end);
    let fwd: Vec<_> = range(start.clone(), end.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        fwd,
        w,
        "{what}: range {start:?}..{end:?} forward\nops:\n{}",
        log.join("\n")
    );
    let mut back: Vec<_> = range(start.clone(), end.clone())
        .rev()
        .collect::<Result<_, _>>()
        .unwrap();
    back.reverse();
    assert_eq!(
        back,
        w,
        "{what}: range {start:?}..{end:?} backward\nops:\n{}",
        log.join("\n")
    );
    let mut it = range(start.clone(), end.clone());
    let mut left: std::collections::VecDeque<_> = w.into();
    let mut steps = Vec::new();
    loop {
        let fwd = rng.below(2) == 0;
        steps.push(fwd);
        let (got, exp) = if fwd {
            (it.next(), left.pop_front())
        } else {
            (it.next_back(), left.pop_back())
        };
        let got = got.transpose().unwrap();
        assert_eq!(
            got,
            exp,
            "{what}: mixed range {start:?}..{end:?} steps {steps:?}\nops:\n{}",
            log.join("\n")
        );
        if got.is_none() {
            break;
        }
    }
}

fn run<S: KvStore>(mode: Mode, seed: u64, steps: usize, nkeys: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut store = S::open(config(dir.path())).unwrap();
    let mut model = Model::new();
    let mut last = 0;
    let mut snaps: Vec<(S::Snapshot, Model, usize)> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut counter = 0u64;
    for _ in 0..steps {
        let op = rng.below(100);
        match op {
            0..=39 => {
                let k = key(mode, rng.below(nkeys));
                counter += 1;
                let len = if mode.big_values {
                    100 + rng.below(300) as usize
                } else {
                    20 + rng.below(80) as usize
                };
                let mut v = format!("v{counter}-").into_bytes();
                v.resize(len, b'x');
                last = store.put(&k, &v).unwrap();
                log.push(format!("put {} {}", String::from_utf8_lossy(&k), counter));
                model.insert(k, v);
            }
            40..=51 => {
                let k = key(mode, rng.below(nkeys));
                last = store.delete(&k).unwrap();
                log.push(format!("delete {}", String::from_utf8_lossy(&k)));
                model.remove(&k);
            }
            52..=54 => {
                // One batch mixing puts, deletes and range deletes, in order.
                let mut batch = WriteBatch::new();
                let mut desc = Vec::new();
                for _ in 0..1 + rng.below(4) {
                    match rng.below(3) {
                        0 => {
                            let k = key(mode, rng.below(nkeys));
                            counter += 1;
                            let mut v = format!("b{counter}-").into_bytes();
                            v.resize(30, b'y');
                            batch.put(&k, &v);
                            desc.push(format!("put {:?} {counter}", String::from_utf8_lossy(&k)));
                            model.insert(k, v);
                        }
                        1 => {
                            let k = key(mode, rng.below(nkeys));
                            batch.delete(&k);
                            desc.push(format!("delete {:?}", String::from_utf8_lossy(&k)));
                            model.remove(&k);
                        }
                        _ => {
                            let (s, e) =
                                (bound(mode, &mut rng, nkeys), bound(mode, &mut rng, nkeys));
                            batch.delete_range_in(
                                lsm_store_sync::KeyspaceId::DEFAULT,
                                s.as_ref().map(Vec::as_slice),
                                e.as_ref().map(Vec::as_slice),
                            );
                            desc.push(format!("delete_range {s:?}..{e:?}"));
                            if valid_range(&s, &e) {
                                let doomed: Vec<_> = model
                                    .range((s.clone(), e.clone()))
                                    .map(|(k, _)| k.clone())
                                    .collect();
                                for k in doomed {
                                    model.remove(&k);
                                }
                            }
                        }
                    }
                }
                last = store.write(&batch).unwrap();
                log.push(format!("batch [{}]", desc.join(", ")));
            }
            55..=57 => {
                let a = rng.below(nkeys);
                let b = a + rng.below(nkeys / 2 + 1);
                let (x, y) = (key(mode, a), key(mode, b));
                let (s, e) = if x <= y { (x, y) } else { (y, x) };
                let mut batch = WriteBatch::new();
                batch.delete_range(&s, &e);
                last = store.write(&batch).unwrap();
                log.push(format!(
                    "delete_range {}..{}",
                    String::from_utf8_lossy(&s),
                    String::from_utf8_lossy(&e)
                ));
                let doomed: Vec<_> = model
                    .range::<Vec<u8>, _>((Bound::Included(&s), Bound::Excluded(&e)))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    model.remove(&k);
                }
            }
            58..=61 => {
                if snaps.len() < 4 {
                    let id = log.len();
                    assert!(store.wait_visible(last, Duration::from_secs(30)));
                    snaps.push((store.snapshot().unwrap(), model.clone(), id));
                    log.push(format!("snapshot #{id}"));
                }
            }
            62..=64 => {
                if !snaps.is_empty() {
                    let i = rng.below(snaps.len() as u64) as usize;
                    let (_, _, id) = snaps.remove(i);
                    log.push(format!("release #{id}"));
                }
            }
            65..=69 => {
                store.flush().unwrap();
                log.push("flush".into());
            }
            70..=75 => {
                let level = rng.below(3) as usize;
                store.compact_level(level).unwrap();
                log.push(format!("compact {level}"));
            }
            76 => {
                snaps.clear();
                store.close().unwrap();
                drop(store);
                store = S::open(config(dir.path())).unwrap();
                log.push("reopen (snapshots released)".into());
            }
            77..=89 => {
                assert!(store.wait_visible(last, Duration::from_secs(30)));
                let s = &store;
                check_reads(
                    mode,
                    &mut rng,
                    nkeys,
                    &model,
                    &|k| s.get(k).unwrap(),
                    &|a, b| s.range(a, b).unwrap(),
                    "current",
                    &log,
                );
            }
            _ => {
                if !snaps.is_empty() {
                    let i = rng.below(snaps.len() as u64) as usize;
                    let (snap, m, id) = &snaps[i];
                    let what = format!("snapshot #{id}");
                    check_reads(
                        mode,
                        &mut rng,
                        nkeys,
                        m,
                        &|k| snap.get(k).unwrap(),
                        &|a, b| snap.range(a, b).unwrap(),
                        &what,
                        &log,
                    );
                }
            }
        }
    }
    // Final: every snapshot and the store, full scans.
    for (snap, m, id) in &snaps {
        let all: Vec<_> = snap
            .range(Bound::Unbounded, Bound::Unbounded)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            all,
            want(m, &Bound::Unbounded, &Bound::Unbounded),
            "final snapshot #{id}\nops:\n{}",
            log.join("\n")
        );
    }
    assert!(store.wait_visible(last, Duration::from_secs(30)));
    let all: Vec<_> = store
        .range(Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        all,
        want(&model, &Bound::Unbounded, &Bound::Unbounded),
        "final\nops:\n{}",
        log.join("\n")
    );
}

/// Runs `seeds` seeds (or `LSM_MODEL_SEEDS`) of `steps` steps against
/// store `S`, naming the seed that fails.
fn run_seeds<S: KvStore>(mode: Mode, seeds: u64, steps: usize) {
    let seeds = std::env::var("LSM_MODEL_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(seeds);
    for seed in 1..=seeds {
        let nkeys = if mode.big_values {
            [60, 150, 300][(seed % 3) as usize]
        } else {
            [12, 30, 60][(seed % 3) as usize]
        };
        let result = std::panic::catch_unwind(|| run::<S>(mode, seed, steps, nkeys));
        if let Err(panic) = result {
            eprintln!("{mode:?}: seed {seed} failed");
            std::panic::resume_unwind(panic);
        }
    }
}

const SMALL: Mode = Mode {
    var_keys: false,
    big_values: false,
};
const BIG: Mode = Mode {
    var_keys: false,
    big_values: true,
};

#[test]
fn sync_store_few_keys() {
    run_seeds::<SimpleLsmStore>(SMALL, 4, 1500);
}

#[test]
fn sync_store_variable_keys() {
    let mode = Mode {
        var_keys: true,
        ..SMALL
    };
    run_seeds::<SimpleLsmStore>(mode, 3, 1500);
}

#[test]
fn sync_store_several_tables_per_level() {
    run_seeds::<SimpleLsmStore>(BIG, 2, 3000);
}

#[test]
fn async_store_several_tables_per_level() {
    run_seeds::<lsm_store_async::AsyncLsmStore>(BIG, 2, 3000);
}
