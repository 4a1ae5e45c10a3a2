//! Crash recovery of `AsyncLsmStore`: a child process (this test binary,
//! re-run with an ignored test as its entry point) writes with
//! `SyncMode::Always` from several threads and prints each acknowledged
//! write (the put returned after the WAL append, typically before the
//! memtable applied it); the parent kills it with SIGKILL mid-workload,
//! reopens the store and checks that every acknowledged write is there and
//! that each writer's writes form a prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode};

const CHILD_DIR_ENV: &str = "LSM_ASYNC_CRASH_CHILD_DIR";
const THREADS: usize = 4;

fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(32 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .wal_segment_bytes(64 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap()
}

fn key(thread: usize, i: u64) -> String {
    format!("t{thread}-{i:08}")
}

fn value(thread: usize, i: u64) -> String {
    format!("value-{thread}-{i}-{}", "x".repeat((i % 50) as usize))
}

/// The child's workload. Does nothing unless started by the parent test.
#[test]
#[ignore = "entry point of the child process of crash_recovery_keeps_every_acknowledged_async_write"]
fn async_crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let store = Arc::new(AsyncLsmStore::open(config(std::path::Path::new(&dir))).unwrap());
    // Continue each thread's numbering after what an earlier run wrote.
    let starts: Vec<u64> = (0..THREADS)
        .map(|t| {
            store
                .range(key(t, 0)..key(t + 1, 0))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .len() as u64
        })
        .collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let start = starts[t];
            std::thread::spawn(move || {
                let stdout = std::io::stdout();
                for i in start.. {
                    store.put(key(t, i), value(t, i)).unwrap();
                    let mut out = stdout.lock();
                    writeln!(out, "ack {t} {i}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn run_child_until_killed(dir: &std::path::Path, acks_before_kill: usize) -> HashMap<usize, u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "async_crash_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked: HashMap<usize, u64> = HashMap::new();
    let mut count = 0;
    let record = |line: &str, acked: &mut HashMap<usize, u64>| {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("ack") {
            return false;
        }
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: u64 = parts.next().unwrap().parse().unwrap();
        let entry = acked.entry(t).or_insert(0);
        *entry = (*entry).max(i + 1);
        true
    };
    for line in lines.by_ref() {
        if record(&line.unwrap(), &mut acked) {
            count += 1;
            if count >= acks_before_kill {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
                           // Acks already printed before death are acknowledged writes too.
    for line in lines {
        match line {
            Ok(line) => {
                record(&line, &mut acked);
            }
            Err(_) => break,
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "child should have been killed");
    assert!(
        count >= acks_before_kill,
        "child exited early after {count} acks"
    );
    acked
}

#[test]
fn crash_recovery_keeps_every_acknowledged_async_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked_total: HashMap<usize, u64> = HashMap::new();
    for (round, acks) in [400usize, 900, 250].into_iter().enumerate() {
        let acked = run_child_until_killed(dir.path(), acks);
        for (t, n) in acked {
            let entry = acked_total.entry(t).or_insert(0);
            *entry = (*entry).max(n);
        }
        let store = AsyncLsmStore::open(config(dir.path())).unwrap();
        assert_eq!(
            store.visible_seq(),
            store.last_seq(),
            "replayed writes are all visible"
        );
        for t in 0..THREADS {
            let acked_n = acked_total.get(&t).copied().unwrap_or(0);
            let present: Vec<(Vec<u8>, Vec<u8>)> = store
                .range(key(t, 0)..key(t + 1, 0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            // Every acknowledged write is there...
            assert!(
                present.len() as u64 >= acked_n,
                "round {round} thread {t}: {} present, {acked_n} acknowledged",
                present.len()
            );
            // ...and what is there is a prefix of the thread's writes.
            for (i, (k, v)) in present.iter().enumerate() {
                assert_eq!(
                    k,
                    key(t, i as u64).as_bytes(),
                    "round {round}: hole before {k:?}"
                );
                assert_eq!(v, value(t, i as u64).as_bytes());
            }
        }
        assert!(store.stats().unwrap().flushes + store.stats().unwrap().last_seq > 0);
    }
}
