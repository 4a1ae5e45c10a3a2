//! The crash-recovery test: a child process (the test binary, re-run with
//! an ignored test as its entry point) writes with `SyncMode::Always` from
//! several threads and prints each acknowledged write; the parent kills it
//! with SIGKILL mid-workload, reopens the store and checks that every
//! acknowledged write is there and that each writer's writes form a prefix.
//!
//! Each test binary declares a [`CrashHarness`] naming its child entry
//! test, calls [`CrashHarness::child_writer`] from that `#[ignore]`d test
//! and [`CrashHarness::run_parent`] from the real test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::ops::Bound;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use lsm_store_sync::{KvStore, LsmConfig, SyncMode};

/// How many writer threads the child runs.
pub const THREADS: usize = 4;

/// Kill rounds: the parent kills the child after this many acknowledged
/// writes in each round, reopening and checking the store in between.
const ROUNDS: [usize; 3] = [400, 900, 250];

/// The store configuration of the crash test: small tables and WAL
/// segments so flushes, compactions and rotations happen; every write is
/// synced before it is acknowledged.
pub fn crash_config(dir: &Path) -> LsmConfig {
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

/// The live pairs `thread` has written.
fn thread_range<S: KvStore>(store: &S, thread: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .range(
            Bound::Included(key(thread, 0).into_bytes()),
            Bound::Excluded(key(thread + 1, 0).into_bytes()),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The crash test of one test binary.
#[derive(Clone, Copy, Debug)]
pub struct CrashHarness {
    /// The exact name of the binary's `#[ignore]`d test that calls
    /// [`CrashHarness::child_writer`]; the parent re-runs the binary with
    /// `--exact <child_test> --ignored`.
    pub child_test: &'static str,
    /// The environment variable through which the parent passes the store
    /// directory to the child.
    pub dir_env: &'static str,
}

impl CrashHarness {
    /// The child's workload: writes from [`THREADS`] threads forever,
    /// printing `ack <thread> <index>` after each acknowledged put. Does
    /// nothing unless started by [`CrashHarness::run_parent`] (which sets
    /// the `dir_env` variable).
    pub fn child_writer<S: KvStore + 'static>(&self) {
        let Ok(dir) = std::env::var(self.dir_env) else {
            return;
        };
        let store = Arc::new(S::open(crash_config(Path::new(&dir))).unwrap());
        // Continue each thread's numbering after what an earlier run wrote.
        let starts: Vec<u64> = (0..THREADS)
            .map(|t| thread_range(&*store, t).len() as u64)
            .collect();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                let start = starts[t];
                std::thread::spawn(move || {
                    let stdout = std::io::stdout();
                    for i in start.. {
                        store
                            .put(key(t, i).as_bytes(), value(t, i).as_bytes())
                            .unwrap();
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

    fn run_child_until_killed(&self, dir: &Path, acks_before_kill: usize) -> HashMap<usize, u64> {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                self.child_test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(self.dir_env, dir)
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

    /// The parent: in each of three rounds runs the child, SIGKILLs it
    /// after a number of acknowledged writes, reopens the store and checks
    /// that every acknowledged write is present and that each thread's
    /// writes form a prefix with the expected values. Panics on any
    /// failure, including a child that exits on its own.
    pub fn run_parent<S: KvStore>(&self) {
        let dir = tempfile::tempdir().unwrap();
        let mut acked_total: HashMap<usize, u64> = HashMap::new();
        for (round, acks) in ROUNDS.into_iter().enumerate() {
            let acked = self.run_child_until_killed(dir.path(), acks);
            for (t, n) in acked {
                let entry = acked_total.entry(t).or_insert(0);
                *entry = (*entry).max(n);
            }
            let store = S::open(crash_config(dir.path())).unwrap();
            let stats = store.stats().unwrap();
            assert_eq!(
                stats.visible_seq, stats.last_seq,
                "round {round}: replayed writes are all visible"
            );
            for t in 0..THREADS {
                let acked_n = acked_total.get(&t).copied().unwrap_or(0);
                let present = thread_range(&store, t);
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
            assert!(stats.flushes + stats.last_seq > 0);
        }
    }
}
