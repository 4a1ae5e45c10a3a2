//! Manual compactions racing the automatic ones, against a `BTreeMap`
//! model. Three compaction workers; a second thread keeps scheduling
//! manual compactions of random levels (without waiting) while the test
//! thread writes puts, deletes and range deletes, flushes (each flush
//! schedules the picker's jobs, the range-delete rewrite of the last level
//! included), holds snapshots and iterators, and checks reads. Jobs of
//! different levels run at once and reservations wait for busy inputs, so
//! overlapping choices, stale reservations and tombstone drops decided on
//! an older version all get their chance. Every read must match the
//! model, every job must end `Completed` (a refused edit, e.g. a level
//! made to overlap, fails the job and poisons the store), and a reopen
//! must read the same. `LSM_MODEL_SEEDS` sets the seeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lsm_store_async::{AsyncLsmStore, Error, JobState, WriteBatch};
use lsm_testkit::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type Pair = (Vec<u8>, Vec<u8>);

const LONG: Duration = Duration::from_secs(60);

fn key(k: u64) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
}

fn open(dir: &std::path::Path) -> AsyncLsmStore {
    let config = common::small(dir)
        .memtable_bytes(4096)
        .table_target_bytes(4096)
        .block_bytes(256)
        .base_level_bytes(4096)
        .wal_segment_bytes(8192)
        .l0_trigger(2)
        .compaction_workers(3)
        .build()
        .unwrap();
    AsyncLsmStore::open(config).unwrap()
}

fn scan(it: lsm_store_async::StoreIterator) -> Vec<Pair> {
    it.collect::<Result<_, _>>().unwrap()
}

fn pairs(model: &Model) -> Vec<Pair> {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn run(seed: u64, steps: usize, nkeys: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let stop = AtomicBool::new(false);
    let mut model = Model::new();
    std::thread::scope(|scope| {
        let compactor = scope.spawn(|| {
            let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
            let mut jobs = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match store.schedule_compaction(rng.below(3) as usize) {
                    Ok(job) => jobs.push(job),
                    Err(Error::QueueFull { .. }) => {}
                    Err(err) => panic!("schedule: {err}"),
                }
                std::thread::sleep(Duration::from_millis(rng.below(3)));
            }
            jobs
        });

        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut last = 0;
        let mut counter = 0u64;
        let mut snaps: Vec<(lsm_store_async::Snapshot, Model)> = Vec::new();
        let mut iters: Vec<(lsm_store_async::StoreIterator, VecDeque<Pair>)> = Vec::new();
        for step in 0..steps {
            let what = format!("seed {seed} step {step}");
            match rng.below(100) {
                0..=39 => {
                    let k = key(rng.below(nkeys));
                    counter += 1;
                    let mut v = format!("v{counter}-").into_bytes();
                    v.resize(20 + rng.below(200) as usize, b'x');
                    last = store.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
                40..=54 => {
                    let k = key(rng.below(nkeys));
                    last = store.delete(&k).unwrap();
                    model.remove(&k);
                }
                55..=60 => {
                    let a = rng.below(nkeys);
                    let (s, e) = (key(a), key(a + 1 + rng.below(nkeys / 3 + 1)));
                    let mut batch = WriteBatch::new();
                    batch.delete_range(&s, &e);
                    last = store.write(&batch).unwrap();
                    let doomed: Vec<_> = model
                        .range::<Vec<u8>, _>((Bound::Included(&s), Bound::Excluded(&e)))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in doomed {
                        model.remove(&k);
                    }
                }
                61..=64 => {
                    assert!(store.wait_for_seq(last, LONG));
                    if snaps.len() < 3 {
                        snaps.push((store.snapshot().unwrap(), model.clone()));
                    } else {
                        snaps.remove(rng.below(3) as usize);
                    }
                }
                65..=67 => {
                    assert!(store.wait_for_seq(last, LONG));
                    if iters.len() < 3 {
                        iters.push((store.iter().unwrap(), pairs(&model).into()));
                    } else {
                        iters.remove(rng.below(3) as usize);
                    }
                }
                68..=77 => {
                    if let Some(i) = (!iters.is_empty()).then(|| rng.below(iters.len() as u64)) {
                        let (it, left) = &mut iters[i as usize];
                        let (got, want) = if rng.below(2) == 0 {
                            (it.next(), left.pop_front())
                        } else {
                            (it.next_back(), left.pop_back())
                        };
                        assert_eq!(got.transpose().unwrap(), want, "{what}: held iterator");
                        if want.is_none() {
                            iters.remove(i as usize);
                        }
                    }
                }
                78..=83 => store.flush_memtable().unwrap(),
                84..=91 => {
                    if !snaps.is_empty() {
                        let (snap, m) = &snaps[rng.below(snaps.len() as u64) as usize];
                        let k = key(rng.below(nkeys));
                        assert_eq!(
                            snap.get(&k).unwrap(),
                            m.get(&k).cloned(),
                            "{what}: snapshot get"
                        );
                        let all = scan(snap.range(..).unwrap());
                        assert_eq!(all, pairs(m), "{what}: snapshot scan");
                    }
                }
                _ => {
                    assert!(store.wait_for_seq(last, LONG));
                    let k = key(rng.below(nkeys));
                    assert_eq!(
                        store.get(&k).unwrap(),
                        model.get(&k).cloned(),
                        "{what}: get"
                    );
                    assert_eq!(scan(store.iter().unwrap()), pairs(&model), "{what}: scan");
                }
            }
        }
        for (it, left) in iters.drain(..) {
            let left: Vec<Pair> = left.into();
            assert_eq!(scan(it), left, "seed {seed}: held iterator, drained");
        }
        for (snap, m) in snaps.drain(..) {
            assert_eq!(
                scan(snap.range(..).unwrap()),
                pairs(&m),
                "seed {seed}: snapshot, final"
            );
        }
        stop.store(true, Ordering::Relaxed);
        let jobs = compactor.join().unwrap();
        for job in jobs {
            // Unknown is ended too: only finished jobs leave the history
            // (the last `JOB_HISTORY_LIMIT` are kept); a failed one would
            // have poisoned the store, checked below.
            let ended = store.wait_for_compaction(job, LONG);
            assert!(
                ended || store.compaction_status(job).is_none(),
                "seed {seed}: job {job} never ended"
            );
            if let Some(status) = store.compaction_status(job) {
                assert!(
                    matches!(status.state, JobState::Completed),
                    "seed {seed}: job {job}: {:?}",
                    status.state
                );
            }
        }
        let stats = store.stats().unwrap();
        assert_eq!(stats.poisoned, None, "seed {seed}");
        assert!(store.wait_for_seq(last, LONG));
        assert_eq!(
            scan(store.iter().unwrap()),
            pairs(&model),
            "seed {seed}: final"
        );
    });
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        scan(store.iter().unwrap()),
        pairs(&model),
        "seed {seed}: after reopen"
    );
    store.close().unwrap();
}

#[test]
fn manual_and_automatic_compactions_race_without_losing_or_reviving_keys() {
    let seeds = std::env::var("LSM_MODEL_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(3u64);
    for seed in 1..=seeds {
        let nkeys = [10, 40, 120][(seed % 3) as usize];
        run(seed, 1500, nkeys);
    }
}
