//! Read-your-writes: a `put` on `SimpleLsmStore` returns only once the
//! write is visible to the caller's next read, even while other threads
//! write (the watermark advances only over contiguous published ranges, so
//! a write published after a later one must not leave the later writer
//! reading the previous value).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

const ITERATIONS: u32 = 3000;

fn open(dir: &std::path::Path) -> SimpleLsmStore {
    // Small enough that some puts also freeze and flush a memtable.
    let config = LsmConfig::builder(dir)
        .memtable_bytes(256 * 1024)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    SimpleLsmStore::open(config).unwrap()
}

/// Each thread writes its own key and reads it back at once; returns the
/// number of reads that did not return the value just written.
fn own_key_violations(threads: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let key = format!("own-{t}");
                let mut violations = 0;
                start.wait();
                for i in 0..ITERATIONS {
                    let value = format!("{t}-{i}");
                    store.put(&key, &value).unwrap();
                    if store.get(&key).unwrap().as_deref() != Some(value.as_bytes()) {
                        violations += 1;
                    }
                }
                violations
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn put_then_get_on_own_key_sees_the_write_with_2_4_and_8_writers() {
    for threads in [2, 4, 8] {
        let violations = own_key_violations(threads);
        assert_eq!(
            violations, 0,
            "{threads} writers: {violations} gets after the thread's own put returned an older value"
        );
    }
}

/// Every thread writes the same key with its own values and reads it back:
/// the value read must come from a write at least as new as the thread's
/// own (its own or a later one).
fn shared_key_violations(threads: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                // (value written, its seq, value read back)
                let mut seen = Vec::with_capacity(ITERATIONS as usize);
                start.wait();
                for i in 0..ITERATIONS {
                    let value = format!("{t}-{i}");
                    let seq = store.put("shared", &value).unwrap();
                    let read = store.get("shared").unwrap();
                    seen.push((value, seq, read));
                }
                seen
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Every write's sequence number, by value (values are unique).
    let seq_of: HashMap<Vec<u8>, u64> = results
        .iter()
        .flatten()
        .map(|(value, seq, _)| (value.as_bytes().to_vec(), *seq))
        .collect();
    let mut violations = 0;
    for (_, own_seq, read) in results.iter().flatten() {
        let read_seq = read.as_ref().and_then(|v| seq_of.get(v));
        match read_seq {
            Some(read_seq) if read_seq >= own_seq => {}
            _ => violations += 1,
        }
    }
    violations
}

#[test]
fn put_then_get_on_a_shared_key_sees_the_write_or_a_newer_one() {
    for threads in [2, 4, 8] {
        let violations = shared_key_violations(threads);
        assert_eq!(
            violations, 0,
            "{threads} writers: {violations} gets after the thread's own put returned a value older than it"
        );
    }
}
