//! `close` racing readers, iterators, snapshots, writers and
//! maintenance calls in other threads, for both stores. Every call must
//! return `Ok` or a typed `Closed` error: no panic, no hang (caught by a
//! timeout), no other error. `LSM_REVIEW_ROUNDS` sets the rounds (default 10).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvError, KvSnapshot, KvStore, LsmConfig, SimpleLsmStore, SyncMode};
use lsm_testkit::Rng;

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(4096)
        .wal_segment_bytes(8192)
        .table_target_bytes(4096)
        .block_bytes(256)
        .base_level_bytes(8192)
        .l0_trigger(2)
        .num_levels(4)
        .block_cache_bytes(16 * 1024)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn rounds() -> usize {
    std::env::var("LSM_REVIEW_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// `Ok` or `Closed`; anything else fails the test.
fn allowed<T, E: KvError + std::fmt::Debug + std::fmt::Display>(
    what: &str,
    r: Result<T, E>,
) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if e.is_closed() => None,
        Err(e) => panic!("{what}: unexpected error racing close: {e:?} ({e})"),
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

fn val(i: u64, round: u64) -> Vec<u8> {
    let mut v = format!("k{i:05}:{round}:").into_bytes();
    v.resize(80, b'.');
    v
}

fn worker<S: KvStore>(
    store: &S,
    id: usize,
    closed: &AtomicBool,
    cp_root: &Path,
    cps: &AtomicUsize,
) {
    let mut rng = Rng(0x9E37_79B9 ^ ((id as u64 + 1) * 31));
    let mut after_close = 0;
    loop {
        if closed.load(Ordering::SeqCst) {
            after_close += 1;
            if after_close > 50 {
                return;
            }
        }
        let i = rng.below(2000);
        match rng.below(12) {
            0 | 1 => {
                if let Some(Some(v)) = allowed("get", store.get(&key(i))) {
                    assert!(
                        v.starts_with(&key(i)),
                        "get k{i:05} returned {:?}",
                        String::from_utf8_lossy(&v)
                    );
                }
            }
            2 | 3 => {
                if let Some(iter) = allowed(
                    "range",
                    store.range(Bound::Included(key(i)), Bound::Unbounded),
                ) {
                    let rev = rng.below(2) == 0;
                    let items: Box<dyn Iterator<Item = _>> = if rev {
                        Box::new(iter.rev())
                    } else {
                        Box::new(iter)
                    };
                    for (n, item) in items.take(300).enumerate() {
                        let Some((k, v)) = allowed("range next", item) else {
                            break;
                        };
                        assert!(v.starts_with(&k), "iterator pair mismatch");
                        if n % 50 == 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
            }
            4 => {
                if let Some(snap) = allowed("snapshot", store.snapshot()) {
                    for _ in 0..20 {
                        let j = rng.below(2000);
                        if allowed("snapshot get", snap.get(&key(j))).is_none() {
                            break;
                        }
                    }
                    if let Some(iter) = allowed(
                        "snapshot range",
                        snap.range(Bound::Unbounded, Bound::Unbounded),
                    ) {
                        for item in iter.take(500) {
                            if allowed("snapshot range next", item).is_none() {
                                break;
                            }
                        }
                    }
                }
            }
            5..=8 => {
                if let Some(seq) = allowed("put", store.put(&key(i), &val(i, id as u64))) {
                    // Visible, or the store closed first.
                    let _ = store.wait_visible(seq, Duration::from_secs(30));
                }
            }
            9 => {
                let _ = allowed("delete_range", store.delete_range(&key(i), &key(i + 5)));
            }
            10 => match rng.below(3) {
                0 => {
                    let _ = allowed("flush", store.flush());
                }
                1 => {
                    let _ = allowed("compact_level", store.compact_level(rng.below(3) as usize));
                }
                _ => {
                    let n = cps.fetch_add(1, Ordering::SeqCst);
                    let _ = allowed(
                        "checkpoint",
                        store.checkpoint(&cp_root.join(format!("cp{n}"))),
                    );
                }
            },
            _ => {
                let _ = allowed("stats", store.stats());
            }
        }
    }
}

fn close_race<S: KvStore + Clone + 'static>(threads: usize) {
    for round in 0..rounds() {
        let dir = tempfile::tempdir().unwrap();
        let cp_root = tempfile::tempdir().unwrap();
        let store = S::open(config(dir.path())).unwrap();
        for i in 0..600 {
            store.put(&key(i), &val(i, 0)).unwrap();
        }
        let closed = Arc::new(AtomicBool::new(false));
        let cps = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for t in 0..threads {
            let (store, closed, tx, cps) = (store.clone(), closed.clone(), tx.clone(), cps.clone());
            let cp_root = cp_root.path().to_path_buf();
            std::thread::spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker(&store, t, &closed, &cp_root, &cps)
                }));
                let _ = tx.send(r.err().map(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                }));
            });
        }
        drop(tx);
        std::thread::sleep(Duration::from_millis(50 + (round as u64 * 37) % 400));
        let closer = {
            let store = store.clone();
            let (ctx, crx) = mpsc::channel();
            std::thread::spawn(move || {
                let r = store.close();
                let _ = ctx.send(r.map_err(|e| format!("{e:?}")));
            });
            crx
        };
        match closer.recv_timeout(Duration::from_secs(60)) {
            Ok(r) => r.unwrap_or_else(|e| panic!("round {round}: close failed: {e}")),
            Err(_) => panic!("round {round}: close hung for 60 s"),
        }
        closed.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(60);
        for _ in 0..threads {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(None) => {}
                Ok(Some(msg)) => panic!("round {round}: worker panicked: {msg}"),
                Err(_) => panic!("round {round}: a worker hung after close"),
            }
        }
        // Calls after close: typed errors.
        assert!(store.get(b"k00001").unwrap_err().is_closed());
        assert!(store.put(b"a", b"b").unwrap_err().is_closed());
        // Reopen: every write made before close is there (values well formed).
        drop(store);
        let reopened = S::open(config(dir.path())).unwrap();
        for item in reopened.range(Bound::Unbounded, Bound::Unbounded).unwrap() {
            let (k, v) = item.unwrap();
            assert!(v.starts_with(&k));
        }
        reopened.close().unwrap();
    }
}

#[test]
fn sync_store_close_races_readers_and_writers() {
    close_race::<SimpleLsmStore>(8);
}

#[test]
fn async_store_close_races_readers_and_writers() {
    close_race::<AsyncLsmStore>(8);
}

/// Through the shared `KvStore` trait, a `compact_level` racing `close`
/// must fail with an error whose `is_closed()` is true, as every other call
/// does (the sync store's does). The async store reports a job `close`
/// cancelled as `Error::CompactionCancelled`, for which `KvError::is_closed`
/// was false (2 to 5 of 20 rounds, every run): generic code could not tell
/// it from a real compaction failure.
fn compact_level_racing_close<S: KvStore + Clone + 'static>() {
    let mut seen = Vec::new();
    for round in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        let store = S::open(config(dir.path())).unwrap();
        for i in 0..400 {
            store.put(&key(i), &val(i, round)).unwrap();
        }
        let compactor = {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for n in 0..10_000u64 {
                    if let Err(e) = store.put(&key(n % 400), &val(n % 400, n)) {
                        errors.push((e.is_closed(), e.to_string()));
                        break;
                    }
                    if n % 20 == 0 {
                        if let Err(e) = store.compact_level((n / 20 % 3) as usize) {
                            errors.push((e.is_closed(), e.to_string()));
                            break;
                        }
                    }
                }
                errors
            })
        };
        std::thread::sleep(Duration::from_millis(20 + round * 7));
        store.close().unwrap();
        for (is_closed, msg) in compactor.join().unwrap() {
            if !is_closed {
                seen.push(format!("round {round}: {msg}"));
            }
        }
    }
    assert!(
        seen.is_empty(),
        "calls racing close failed with errors whose is_closed() is false:\n{}",
        seen.join("\n")
    );
}

#[test]
fn sync_store_compact_level_racing_close_is_closed() {
    compact_level_racing_close::<SimpleLsmStore>();
}

#[test]
fn async_store_compact_level_racing_close_is_closed() {
    compact_level_racing_close::<AsyncLsmStore>();
}
