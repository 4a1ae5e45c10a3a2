//! Keyspaces under concurrency: writer threads writing to keyspaces while
//! another thread drops and re-creates them. Every write either fails with
//! the store's "unknown keyspace" error or succeeded before the drop (and
//! is then gone with it); a re-created keyspace starts empty; nothing ever
//! panics or deadlocks; and after a reopen the store holds exactly the
//! keyspaces that were never dropped or were created again, each with the
//! writes made to its current incarnation.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsm_core::{KeyspaceId, WriteBatch};
use lsm_store_sync::{KvError, KvStore, LsmConfig, SyncMode};

fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(32 << 10)
        .table_target_bytes(16 << 10)
        .base_level_bytes(64 << 10)
        .l0_trigger(2)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

/// An acknowledged write: keyspace name, the id the name had, key, seq.
type Acked = (String, KeyspaceId, Vec<u8>, u64);

/// Runs `writers` threads putting into keyspaces `a`, `b` while one thread
/// drops and re-creates `a` `rounds` times; checks the outcome described
/// in the module docs.
pub fn writes_race_keyspace_drops<S: KvStore + Clone + 'static>(writers: usize, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(config(dir.path())).unwrap();
    store.open_keyspace("a").unwrap();
    store.open_keyspace("b").unwrap();
    // The keyspace id each name had when a write to it succeeded, with
    // the write's key and sequence number.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let (store, acked, stop) = (store.clone(), Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u32;
                let mut refused = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let name = if i.is_multiple_of(2) { "a" } else { "b" };
                    // The id may be stale by the time the write runs: that
                    // is the race under test.
                    let Ok(id) = store.open_keyspace(name) else {
                        continue;
                    };
                    let key = format!("t{t}-{i:06}").into_bytes();
                    let mut batch = WriteBatch::new();
                    batch.put_in(id, &key, b"v");
                    match store.write(&batch) {
                        Ok(seq) => acked.lock().unwrap().push((name.into(), id, key, seq)),
                        Err(err) => {
                            assert!(!err.is_corruption() && !err.is_poisoned(), "{err}");
                            refused += 1;
                        }
                    }
                }
                refused
            })
        })
        .collect();
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(5));
        store.drop_keyspace("a").unwrap();
        store.open_keyspace("a").unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let current_a = store.open_keyspace("a").unwrap();
    let current_b = store.open_keyspace("b").unwrap();
    assert!(store.wait_visible(store.stats().unwrap().last_seq, Duration::from_secs(30)));
    let expected = |current: KeyspaceId, name: &str| -> BTreeMap<Vec<u8>, Vec<u8>> {
        acked
            .iter()
            .filter(|(n, id, _, _)| n == name && *id == current)
            .map(|(_, _, key, _)| (key.clone(), b"v".to_vec()))
            .collect()
    };
    let scan = |store: &S, id: KeyspaceId| -> BTreeMap<Vec<u8>, Vec<u8>> {
        store
            .range_in(id, Bound::Unbounded, Bound::Unbounded)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let (want_a, want_b) = (expected(current_a, "a"), expected(current_b, "b"));
    assert!(!want_b.is_empty(), "the writers made progress");
    assert_eq!(
        scan(&store, current_a),
        want_a,
        "keyspace a: only its last incarnation's writes"
    );
    assert_eq!(scan(&store, current_b), want_b, "keyspace b: every write");
    store.close().unwrap();
    drop(store);
    let store = S::open(config(dir.path())).unwrap();
    assert_eq!(store.keyspace_names().unwrap(), ["a", "b"]);
    assert_eq!(
        store.open_keyspace("a").unwrap(),
        current_a,
        "reopened with the same id"
    );
    assert_eq!(scan(&store, current_a), want_a, "after reopen");
    assert_eq!(scan(&store, current_b), want_b, "after reopen");
    store.close().unwrap();
}
