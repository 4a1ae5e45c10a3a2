//! The flusher and compaction threads run at `background_nice`; the
//! applier, on the write path, keeps the caller's priority.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::LsmConfig;

/// (thread name, nice value) of every thread of this process, from
/// `/proc/self/task/*/stat` (field 19 is the nice value; the name is in
/// parentheses and may hold spaces).
fn thread_nice_values() -> Vec<(String, i32)> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let stat = std::fs::read_to_string(entry.unwrap().path().join("stat")).unwrap();
        let open = stat.find('(').unwrap();
        let close = stat.rfind(')').unwrap();
        let name = stat[open + 1..close].to_string();
        // Fields after the name start at field 3 (state).
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        threads.push((name, fields[19 - 3].parse().unwrap()));
    }
    threads
}

fn nice_of(threads: &[(String, i32)], prefix: &str) -> Vec<i32> {
    threads
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, nice)| *nice)
        .collect()
}

/// One test, so no other store's threads are alive while it counts: first
/// a store with `background_nice(0)`, closed, then one with 7.
#[test]
fn background_threads_run_at_the_configured_nice_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path().join("zero"))
        .background_nice(0)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    // A thread takes its name as it starts: under load that can take a
    // while, so wait (up to 10 s) until both are named.
    let mut threads = thread_nice_values();
    for _ in 0..1000 {
        if nice_of(&threads, "lsm-applier").len() == 1
            && nice_of(&threads, "lsm-flusher").len() == 1
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        threads = thread_nice_values();
    }
    let applier = nice_of(&threads, "lsm-applier");
    assert_eq!(applier.len(), 1, "{threads:?}");
    assert_eq!(nice_of(&threads, "lsm-flusher"), applier, "{threads:?}");
    store.close().unwrap();
    drop(store);
    let base = applier[0];

    let config = LsmConfig::builder(dir.path().join("seven"))
        .background_nice(7)
        .compaction_workers(2)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    // The threads take their names and set their priority as they start
    // (the applier too: under load it can still carry the test's name);
    // give them a moment.
    let mut threads = thread_nice_values();
    for _ in 0..1000 {
        if nice_of(&threads, "lsm-flusher") == [7]
            && nice_of(&threads, "lsm-compaction") == [7, 7]
            && nice_of(&threads, "lsm-applier").len() == 1
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        threads = thread_nice_values();
    }
    assert_eq!(nice_of(&threads, "lsm-flusher"), [7], "{threads:?}");
    assert_eq!(nice_of(&threads, "lsm-compaction"), [7, 7], "{threads:?}");
    assert_eq!(nice_of(&threads, "lsm-applier"), [base], "{threads:?}");
    store.close().unwrap();
}
