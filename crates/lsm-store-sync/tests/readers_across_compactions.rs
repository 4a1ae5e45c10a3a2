//! Readers held across compactions, against a `BTreeMap` model: range
//! iterators (on the store and on snapshots) opened at one state and
//! advanced a step or a few at a time, from either end, while puts,
//! deletes and range deletes, flushes and compactions (manual ones, and the
//! picker's, the range-delete rewrite of the last level included) go on;
//! snapshots read in between. Each iterator must yield exactly the state
//! it was opened at, each snapshot exactly its own, whatever compaction
//! dropped or moved meanwhile (shadowed versions, point tombstones at the
//! bottom level, versions under a range delete, tables a range delete
//! emptied). Tiny memtables, tables and levels, so that every few steps
//! flush and compact. Both stores. `LSM_MODEL_SEEDS` sets the seeds per
//! test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::time::Duration;

use lsm_store_sync::{KvSnapshot, KvStore, LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};
use lsm_testkit::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Pair = (Vec<u8>, Vec<u8>);

fn key(k: u64) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
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

/// Random bounds `start < end` (or unbounded ends).
fn bounds(rng: &mut Rng, nkeys: u64) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let a = rng.below(nkeys + 1);
    let b = a + 1 + rng.below(nkeys);
    let start = match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(a)),
        _ => Bound::Excluded(key(a)),
    };
    let end = match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(b)),
        _ => Bound::Excluded(key(b)),
    };
    (start, end)
}

fn want(model: &Model, start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> VecDeque<Pair> {
    model
        .range((start.clone(), end.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An iterator held open, with what it has left to yield.
struct Held<I> {
    iter: I,
    left: VecDeque<Pair>,
    what: String,
}

fn step<I, E>(held: &mut Held<I>, front: bool, log: &[String])
where
    I: DoubleEndedIterator<Item = Result<Pair, E>>,
    E: std::fmt::Debug,
{
    let (got, exp) = if front {
        (held.iter.next(), held.left.pop_front())
    } else {
        (held.iter.next_back(), held.left.pop_back())
    };
    let got = got.transpose().unwrap();
    assert_eq!(
        got.as_ref()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned()),
        exp.as_ref()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned()),
        "{}: next{} (key)\nops:\n{}",
        held.what,
        if front { "" } else { "_back" },
        log.join("\n")
    );
    assert_eq!(got, exp, "{}: value\nops:\n{}", held.what, log.join("\n"));
}

fn run<S: KvStore>(seed: u64, steps: usize, nkeys: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut store = S::open(config(dir.path())).unwrap();
    let mut model = Model::new();
    let mut last = 0;
    let mut snaps: Vec<(S::Snapshot, Model, String)> = Vec::new();
    let mut iters: Vec<Held<S::Iter>> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut counter = 0u64;
    for _ in 0..steps {
        match rng.below(100) {
            0..=34 => {
                let k = key(rng.below(nkeys));
                counter += 1;
                let mut v = format!("v{counter}-").into_bytes();
                v.resize(20 + rng.below(200) as usize, b'x');
                last = store.put(&k, &v).unwrap();
                log.push(format!("put {} v{counter}", String::from_utf8_lossy(&k)));
                model.insert(k, v);
            }
            35..=46 => {
                let k = key(rng.below(nkeys));
                last = store.delete(&k).unwrap();
                log.push(format!("delete {}", String::from_utf8_lossy(&k)));
                model.remove(&k);
            }
            47..=51 => {
                let a = rng.below(nkeys);
                let b = a + 1 + rng.below(nkeys / 3 + 1);
                let (s, e) = (key(a), key(b));
                let mut batch = WriteBatch::new();
                // Sometimes a put inside the range in the same batch, after
                // the range delete: it must survive it.
                let revive = rng.below(3) == 0;
                batch.delete_range(&s, &e);
                if revive {
                    counter += 1;
                    batch.put(&s, format!("r{counter}"));
                }
                last = store.write(&batch).unwrap();
                log.push(format!(
                    "delete_range {}..{}{}",
                    String::from_utf8_lossy(&s),
                    String::from_utf8_lossy(&e),
                    if revive {
                        format!(" + put start r{counter}")
                    } else {
                        String::new()
                    }
                ));
                let doomed: Vec<_> = model
                    .range::<Vec<u8>, _>((Bound::Included(&s), Bound::Excluded(&e)))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    model.remove(&k);
                }
                if revive {
                    model.insert(s, format!("r{counter}").into_bytes());
                }
            }
            52..=55 => {
                if snaps.len() < 4 {
                    assert!(store.wait_visible(last, Duration::from_secs(30)));
                    let what = format!("snapshot @{}", log.len());
                    snaps.push((store.snapshot().unwrap(), model.clone(), what.clone()));
                    log.push(what);
                }
            }
            56..=60 => {
                if iters.len() < 6 {
                    let (start, end) = bounds(&mut rng, nkeys);
                    // On the store, or on a held snapshot (which may then
                    // be released while the iterator lives on).
                    let held = if snaps.is_empty() || rng.below(2) == 0 {
                        assert!(store.wait_visible(last, Duration::from_secs(30)));
                        Held {
                            iter: store.range(start.clone(), end.clone()).unwrap(),
                            left: want(&model, &start, &end),
                            what: format!("iterator @{} {start:?}..{end:?}", log.len()),
                        }
                    } else {
                        let (snap, m, name) = &snaps[rng.below(snaps.len() as u64) as usize];
                        Held {
                            iter: snap.range(start.clone(), end.clone()).unwrap(),
                            left: want(m, &start, &end),
                            what: format!("iterator @{} on {name} {start:?}..{end:?}", log.len()),
                        }
                    };
                    log.push(held.what.clone());
                    iters.push(held);
                }
            }
            61..=71 => {
                if !iters.is_empty() {
                    let i = rng.below(iters.len() as u64) as usize;
                    for _ in 0..1 + rng.below(3) {
                        let front = rng.below(2) == 0;
                        step(&mut iters[i], front, &log);
                    }
                    if iters[i].left.is_empty() {
                        let done = iters.remove(i);
                        step(&mut { done }, true, &log);
                    }
                }
            }
            72..=74 => {
                if !snaps.is_empty() && rng.below(2) == 0 {
                    let (_, _, what) = snaps.remove(rng.below(snaps.len() as u64) as usize);
                    log.push(format!("release {what}"));
                } else if !iters.is_empty() {
                    let held = iters.remove(rng.below(iters.len() as u64) as usize);
                    log.push(format!("drop {}", held.what));
                }
            }
            75..=80 => {
                store.flush().unwrap();
                log.push("flush".into());
            }
            81..=86 => {
                let level = rng.below(3) as usize;
                store.compact_level(level).unwrap();
                log.push(format!("compact {level}"));
            }
            87..=93 => {
                if !snaps.is_empty() {
                    let (snap, m, what) = &snaps[rng.below(snaps.len() as u64) as usize];
                    let k = key(rng.below(nkeys));
                    assert_eq!(
                        snap.get(&k).unwrap(),
                        m.get(&k).cloned(),
                        "{what}: get {}\nops:\n{}",
                        String::from_utf8_lossy(&k),
                        log.join("\n")
                    );
                    let all: Vec<Pair> = snap
                        .range(Bound::Unbounded, Bound::Unbounded)
                        .unwrap()
                        .collect::<Result<_, _>>()
                        .unwrap();
                    let exp: Vec<Pair> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(all, exp, "{what}: scan\nops:\n{}", log.join("\n"));
                }
            }
            94..=98 => {
                assert!(store.wait_visible(last, Duration::from_secs(30)));
                let k = key(rng.below(nkeys));
                assert_eq!(
                    store.get(&k).unwrap(),
                    model.get(&k).cloned(),
                    "get {}\nops:\n{}",
                    String::from_utf8_lossy(&k),
                    log.join("\n")
                );
                let all: Vec<Pair> = store
                    .range(Bound::Unbounded, Bound::Unbounded)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let exp: Vec<Pair> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(all, exp, "scan\nops:\n{}", log.join("\n"));
            }
            _ => {
                // Readers do not outlive a close.
                for mut held in iters.drain(..) {
                    while !held.left.is_empty() {
                        step(&mut held, true, &log);
                    }
                    step(&mut held, true, &log);
                }
                snaps.clear();
                store.close().unwrap();
                drop(store);
                store = S::open(config(dir.path())).unwrap();
                log.push("reopen".into());
            }
        }
    }
    for mut held in iters.drain(..) {
        while !held.left.is_empty() {
            let front = rng.below(2) == 0;
            step(&mut held, front, &log);
        }
        step(&mut held, true, &log);
    }
    for (snap, m, what) in &snaps {
        let all: Vec<Pair> = snap
            .range(Bound::Unbounded, Bound::Unbounded)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let exp: Vec<Pair> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(all, exp, "final {what}\nops:\n{}", log.join("\n"));
    }
    snaps.clear();
    store.close().unwrap();
    drop(store);
    let store = S::open(config(dir.path())).unwrap();
    let all: Vec<Pair> = store
        .range(Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let exp: Vec<Pair> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(all, exp, "after the final reopen\nops:\n{}", log.join("\n"));
    store.close().unwrap();
}

/// Runs `seeds` seeds (or `LSM_MODEL_SEEDS`) against store `S`, naming
/// the seed that fails.
fn run_seeds<S: KvStore>(seeds: u64, steps: usize) {
    let seeds = std::env::var("LSM_MODEL_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(seeds);
    for seed in 1..=seeds {
        let nkeys = [10, 40, 120][(seed % 3) as usize];
        let result = std::panic::catch_unwind(|| run::<S>(seed, steps, nkeys));
        if let Err(panic) = result {
            eprintln!("seed {seed} failed");
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn sync_store_readers_see_their_state_across_compactions() {
    run_seeds::<SimpleLsmStore>(3, 1500);
}

#[test]
fn async_store_readers_see_their_state_across_compactions() {
    run_seeds::<lsm_store_async::AsyncLsmStore>(3, 1500);
}
