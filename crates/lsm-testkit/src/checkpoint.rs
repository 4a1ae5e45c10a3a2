//! The checkpoint tests, generic over [`KvStore`]: every checkpoint is
//! opened as a store of its own and compared with a `BTreeMap` model of
//! exactly the writes with a sequence number up to the checkpoint's.
//!
//! - [`checkpoint_of_every_layer`]: data in the memtable, L0 and deeper
//!   levels; an empty store; a non-empty directory; a closed store.
//! - [`checkpoints_during_concurrent_writes`]: writer threads keep writing
//!   (recording each write's sequence number) while checkpoints are taken
//!   one after another.
//! - [`checkpoint_cut_short_at_every_operation`]: the checkpoint is cut
//!   short at each of its changing file operations in turn (every later
//!   one fails), then the power is cut: the source store reopens with
//!   every write, and the checkpoint directory either fails to open with
//!   the "no CURRENT" error or opens complete.
//! - [`checkpoint_named_like_a_store_file_is_refused`]: a checkpoint
//!   directory inside the store's directory named like a file the store
//!   writes is refused before anything changes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::{OsFileSystem, SeqNo, WriteBatch};
use lsm_store_sync::{CheckpointInfo, KvError, KvStore, LsmConfig, SyncMode};

/// How long a test waits for a write to become visible.
const FENCE: Duration = Duration::from_secs(30);

/// One write: its sequence number, key, and value (`None`: a delete).
type Write = (SeqNo, Vec<u8>, Option<Vec<u8>>);

/// The configuration of the checkpoint tests: small memtables, tables and
/// level targets, so flushes and compactions into deeper levels happen
/// within a few thousand writes.
pub fn checkpoint_config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(8 * 1024)
        .wal_segment_bytes(16 * 1024)
        .table_target_bytes(4096)
        .block_bytes(512)
        .base_level_bytes(16 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

/// [`checkpoint_config`] with no automatic compaction to speak of, so a
/// test places its tables at levels itself.
fn manual_levels_config(dir: &Path) -> LsmConfig {
    let mut config = checkpoint_config(dir);
    config.l0_trigger = 64;
    config.base_level_bytes = 1 << 20;
    config
}

/// Every live pair of `store`, in order.
fn scan<S: KvStore>(store: &S) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .range(Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The state after every write of `writes` with a sequence number up to
/// `seq`, applied in sequence order.
fn model_at(writes: &[Write], seq: SeqNo) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut sorted: Vec<&Write> = writes.iter().filter(|w| w.0 <= seq).collect();
    sorted.sort_by_key(|w| w.0);
    let mut model = BTreeMap::new();
    for (_, key, value) in sorted {
        match value {
            Some(value) => model.insert(key.clone(), value.clone()),
            None => model.remove(key),
        };
    }
    model.into_iter().collect()
}

/// Opens the checkpoint `info` and checks it holds exactly the writes of
/// `writes` up to `info.seq`, and that it continues from `info.seq`.
fn assert_checkpoint_holds<S: KvStore>(info: &CheckpointInfo, writes: &[Write]) {
    // Its OPTIONS records the levels; the rest is a policy of this open.
    let copy = S::open(checkpoint_config(&info.dir)).unwrap();
    let stats = copy.stats().unwrap();
    assert_eq!(
        (stats.last_seq, stats.visible_seq),
        (info.seq, info.seq),
        "{}",
        info.dir.display()
    );
    assert_eq!(
        scan(&copy),
        model_at(writes, info.seq),
        "checkpoint {} at {}",
        info.dir.display(),
        info.seq
    );
    copy.close().unwrap();
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// Puts `key(i)` for `i` in `range` (value: round and index, padded),
/// recording each write.
fn put_range<S: KvStore>(
    store: &S,
    range: std::ops::Range<u64>,
    round: u32,
    writes: &mut Vec<Write>,
) {
    for i in range {
        let value = format!("r{round}-{i}-{}", "v".repeat(40)).into_bytes();
        let seq = store.put(&key(i), &value).unwrap();
        writes.push((seq, key(i), Some(value)));
    }
}

/// Checkpoints of a store with data in every layer: two deeper levels, L0
/// and the memtable, with overwrites and deletes across them. The
/// checkpoint holds every write acknowledged before it (its sequence
/// number is the last one) and none after; it opens as a store of its
/// own; hard links or copies, the tables are all there. Also: an empty
/// store's checkpoint is an empty store; a non-empty directory is refused
/// (with an error naming it); a closed store is refused.
pub fn checkpoint_of_every_layer<S: KvStore>() {
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let store = S::open(manual_levels_config(dir.path())).unwrap();
    let mut writes = Vec::new();

    let empty = store.checkpoint(&target.path().join("empty")).unwrap();
    assert_eq!((empty.seq, empty.tables), (0, 0));
    assert_checkpoint_holds::<S>(&empty, &writes);

    put_range(&store, 0..400, 0, &mut writes);
    store.flush().unwrap();
    store.compact_level(0).unwrap();
    store.compact_level(1).unwrap(); // round 0 at L2
    put_range(&store, 100..300, 1, &mut writes);
    store.flush().unwrap();
    store.compact_level(0).unwrap(); // round 1 at L1
    for i in (0..400).step_by(7) {
        let seq = store.delete(&key(i)).unwrap();
        writes.push((seq, key(i), None));
    }
    put_range(&store, 350..380, 2, &mut writes);
    store.flush().unwrap(); // deletes and round 2 at L0
    put_range(&store, 200..230, 3, &mut writes);
    let last = store.delete(&key(201)).unwrap();
    writes.push((last, key(201), None)); // the memtable
    assert!(store.wait_visible(last, FENCE));
    let levels: Vec<usize> = store
        .stats()
        .unwrap()
        .levels
        .iter()
        .map(|l| l.files)
        .collect();
    assert!(
        levels[0] > 0 && levels[1] > 0 && levels[2] > 0,
        "{levels:?}"
    );

    let info = store.checkpoint(&target.path().join("full")).unwrap();
    assert_eq!(info.seq, last, "every acknowledged write is in it");
    assert_eq!(info.tables, info.linked + info.copied);
    assert!(info.tables >= 3);
    put_range(&store, 0..10, 4, &mut writes); // after it: not in it
    assert_checkpoint_holds::<S>(&info, &writes);
    assert_eq!(scan(&store), model_at(&writes, SeqNo::MAX));

    std::fs::write(target.path().join("taken"), b"x").unwrap();
    let err = store.checkpoint(target.path()).unwrap_err();
    assert!(!err.is_corruption() && !err.is_poisoned(), "{err}");
    assert_eq!(err.path(), Some(target.path()), "{err}");
    let err = store.checkpoint(&info.dir).unwrap_err();
    assert_eq!(err.path(), Some(info.dir.as_path()), "{err}");
    assert_checkpoint_holds::<S>(&info, &writes);

    store.close().unwrap();
    let err = store
        .checkpoint(&target.path().join("after-close"))
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(!target.path().join("after-close").exists());
}

/// Writer threads write (puts and deletes over a shared key space, so the
/// order matters) while checkpoints are taken one after another, flushes
/// and compactions running meanwhile. Every checkpoint's sequence number
/// covers every write returned before it started, the numbers grow, and
/// each checkpoint opens holding exactly the writes up to its number.
pub fn checkpoints_during_concurrent_writes<S: KvStore + 'static>(
    writers: usize,
    checkpoints: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let store = Arc::new(S::open(checkpoint_config(dir.path())).unwrap());
    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let returned = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..writers as u64)
        .map(|thread| {
            let (store, writes) = (Arc::clone(&store), Arc::clone(&writes));
            let (returned, stop) = (Arc::clone(&returned), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let k = key((i * 7 + thread * 13) % 300);
                    let write = if i % 5 == 4 {
                        (store.delete(&k).unwrap(), k, None)
                    } else if i % 11 == 10 {
                        let (a, b) = (k, key((i + 1) % 300));
                        let value = format!("t{thread}-{i}-batch").into_bytes();
                        let mut batch = WriteBatch::new();
                        batch.put(&a, &value);
                        batch.put(&b, &value);
                        let last = store.write(&batch).unwrap();
                        mine.push((last - 1, a, Some(value.clone())));
                        (last, b, Some(value))
                    } else {
                        let value = format!("t{thread}-{i}-{}", "w".repeat(60)).into_bytes();
                        (store.put(&k, &value).unwrap(), k, Some(value))
                    };
                    returned.fetch_max(write.0, Ordering::SeqCst);
                    mine.push(write);
                    i += 1;
                }
                writes.lock().unwrap().extend(mine);
            })
        })
        .collect();

    let mut taken: Vec<(SeqNo, CheckpointInfo)> = Vec::new();
    while taken.len() < checkpoints {
        std::thread::sleep(Duration::from_millis(20));
        let floor = returned.load(Ordering::SeqCst);
        let cp = target.path().join(format!("cp-{:02}", taken.len()));
        let info = store.checkpoint(&cp).unwrap();
        assert!(
            info.seq >= floor,
            "checkpoint at {} misses write {floor}, returned before it",
            info.seq
        );
        if let Some((_, previous)) = taken.last() {
            assert!(info.seq >= previous.seq);
        }
        taken.push((floor, info));
    }
    stop.store(true, Ordering::SeqCst);
    for handle in handles {
        handle.join().unwrap();
    }
    let writes = writes.lock().unwrap();
    let last = writes.iter().map(|w| w.0).max().unwrap_or(0);
    assert!(store.wait_visible(last, FENCE));
    let stats = store.stats().unwrap();
    assert!(
        stats.flushes as usize > checkpoints && stats.compactions > 0,
        "no maintenance ran during the checkpoints: {stats:?}"
    );
    assert!(
        taken.last().is_some_and(|(_, info)| info.seq > 0),
        "no write before the last checkpoint"
    );
    for (_, info) in &taken {
        assert_checkpoint_holds::<S>(info, &writes);
    }
    assert_eq!(scan(store.as_ref()), model_at(&writes, SeqNo::MAX));
    store.close().unwrap();
}

/// What the checkpoint directories looked like after each cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutOutcomes {
    /// Cuts (one per changing file operation of the checkpoint, the
    /// store's flush included) before the one that let it finish.
    pub cuts: usize,
    /// The directory was never created (or is gone after the power cut).
    pub missing: usize,
    /// It failed to open with the "no CURRENT" error.
    pub refused: usize,
    /// It opened as an empty store (nothing of it reached the disk).
    pub empty: usize,
    /// It opened complete (the cut came after its commit point).
    pub complete: usize,
}

/// The checkpoint cut short at each of its changing file operations in
/// turn: a store with tables and a memtable (every write synced), then
/// `checkpoint` with the `k`-th operation from its start and every later
/// one failing (for `k` = 0, 1, ... until a checkpoint succeeds), then
/// `close` (failing too), then a simulated power loss. After each cut:
/// - the source store opens with every write;
/// - the checkpoint directory is missing, or fails to open with an error
///   for which `no_current` is true, or opens holding exactly the writes
///   up to its sequence number (all of them, or none: an empty store).
///
/// Returns what the directories looked like, for the caller to check the
/// test reached every case.
pub fn checkpoint_cut_short_at_every_operation<S: KvStore>(
    no_current: impl Fn(&S::Error) -> bool,
) -> CutOutcomes {
    let mut outcomes = CutOutcomes::default();
    for k in 0..1000 {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let config = |path: &Path| {
            LsmConfig::builder(path)
                .wal_sync(SyncMode::Always)
                .num_levels(4)
                .fs(fs.clone())
                .build()
                .unwrap()
        };
        let store = S::open(config(dir.path())).unwrap();
        let mut writes = Vec::new();
        put_range(&store, 0..20, 0, &mut writes);
        store.flush().unwrap();
        store.compact_level(0).unwrap();
        put_range(&store, 10..30, 1, &mut writes);
        store.flush().unwrap();
        put_range(&store, 25..40, 2, &mut writes); // the memtable
        let last = writes.last().map_or(0, |w| w.0);
        assert!(store.wait_visible(last, FENCE));

        let cp = dir.path().join("checkpoint");
        fs.fail_after(Some(k));
        let result = store.checkpoint(&cp);
        let _ = store.close(); // everything fails from the cut on
        drop(store);
        fs.crash().unwrap();
        fs.fail_after(None);

        let source = S::open(config(dir.path())).unwrap();
        assert_eq!(
            scan(&source),
            model_at(&writes, SeqNo::MAX),
            "cut at operation {k}: the source store lost writes"
        );
        source.close().unwrap();

        if !cp.exists() {
            outcomes.missing += 1;
        } else {
            match S::open(config(&cp)) {
                Err(err) => {
                    assert!(
                        no_current(&err),
                        "cut at operation {k}: the checkpoint failed to open with {err}"
                    );
                    outcomes.refused += 1;
                }
                Ok(copy) => {
                    let seq = copy.stats().unwrap().last_seq;
                    assert_eq!(
                        scan(&copy),
                        model_at(&writes, seq),
                        "cut at operation {k}: the checkpoint opened with a hole"
                    );
                    if seq == 0 {
                        outcomes.empty += 1;
                    } else {
                        assert_eq!(seq, last, "cut at operation {k}");
                        outcomes.complete += 1;
                    }
                    copy.close().unwrap();
                }
            }
        }
        if let Ok(info) = result {
            assert_eq!(info.seq, last);
            outcomes.cuts = k as usize;
            return outcomes;
        }
    }
    panic!("the checkpoint never succeeded in 1000 operations");
}

/// A checkpoint directory inside the store's directory under a name the
/// store gives its own files (a table, WAL segment or manifest it has not
/// written yet, `CURRENT`, `OPTIONS` and the temporary names, or the
/// quarantine directory) is
/// refused with an error `is_invalid_input` accepts, before anything in
/// the store's directory changes (no directory created, no memtable
/// flushed): otherwise the store's next flush would fail to create that
/// table (`EISDIR`) and poison the store. Spelled through `.` too. Other
/// names inside the store's directory stay allowed, and the store then
/// flushes and reopens.
pub fn checkpoint_named_like_a_store_file_is_refused<S: KvStore>(
    is_invalid_input: impl Fn(&S::Error) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(LsmConfig::new(dir.path())).unwrap();
    store.put(b"a", b"1").unwrap();
    store.flush().unwrap();
    let seq = store.put(b"b", b"2").unwrap(); // in the memtable
    assert!(store.wait_visible(seq, FENCE));
    let before = listing(dir.path());
    for name in [
        "000999.sst",
        "000999.wal",
        "MANIFEST-000999",
        "CURRENT.tmp",
        "OPTIONS.tmp",
        "quarantine",
    ] {
        for path in [dir.path().join(name), dir.path().join(".").join(name)] {
            let err = store.checkpoint(&path).unwrap_err();
            assert!(is_invalid_input(&err), "{}: {err:?}", path.display());
            assert_eq!(
                listing(dir.path()),
                before,
                "{} changed the store",
                path.display()
            );
        }
    }
    for name in ["cp", "000999.sst.d", "1.sst"] {
        store.checkpoint(&dir.path().join(name)).unwrap();
    }
    store.put(b"c", b"3").unwrap();
    store.flush().unwrap();
    store.close().unwrap();
    drop(store);
    let store = S::open(LsmConfig::new(dir.path())).unwrap();
    let seq = store.put(b"d", b"4").unwrap();
    assert!(store.wait_visible(seq, FENCE));
    for (key, value) in [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")] {
        assert_eq!(store.get(key).unwrap(), Some(value.to_vec()));
    }
}

/// The sorted names in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
