//! The `writer` subcommand: the child process the harness kills or cuts
//! the power under. It writes from several threads until a write fails or
//! it is killed, and reports every acknowledged write on stdout.
//!
//! Output lines (each written and flushed after the call returned):
//! - `ack <thread> <i> <start_ns> <end_ns>`: write `i` of `thread` was
//!   acknowledged; the times are wall-clock nanoseconds right before and
//!   right after the call.
//! - `err <thread> <i> <start_ns> <end_ns> <message>`: write `i` failed;
//!   the thread stops.
//! - With `--checkpoints DIR`, a further thread takes a checkpoint into
//!   `DIR/<k>` (`checkpoint_dir_name`) every [`CHECKPOINT_EVERY`] while the
//!   writers write: `checkpoint <k> <start_ns> <end_ns> <seq>` once
//!   checkpoint `k` returned, or `checkpoint-err <k> <start_ns> <end_ns>
//!   <message>` (the thread stops).
//!
//! Once every thread has stopped the process exits with status 2 without
//! closing the store (like a crash).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lsm_core::WriteBatch;

use crate::workload::{is_batch, key, now_ns, value, KeyId, Store, StoreKind, SyncKind, SUFFIXES};

/// The writer's arguments.
#[derive(Clone, Debug)]
pub struct WriterArgs {
    /// Which store.
    pub store: StoreKind,
    /// The store directory.
    pub dir: PathBuf,
    /// The WAL sync mode.
    pub sync: SyncKind,
    /// Writer threads.
    pub threads: usize,
    /// Chooses the value padding.
    pub seed: u64,
    /// The key prefix (`c{cycle:04}-`).
    pub cycle: u32,
    /// Where to take checkpoints while writing (`None`: none).
    pub checkpoints: Option<PathBuf>,
}

/// The pause between two checkpoints of the checkpoint thread.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The directory name of checkpoint `k`.
pub fn checkpoint_dir_name(k: u64) -> String {
    format!("cp-{k:04}")
}

/// Takes a checkpoint into `dir/cp-<k>` every [`CHECKPOINT_EVERY`] and
/// reports each (see the module doc) until one fails or the output closes.
fn take_checkpoints(store: &Store, dir: &Path) {
    let stdout = std::io::stdout();
    for k in 0.. {
        std::thread::sleep(CHECKPOINT_EVERY);
        let start = now_ns();
        let result = store.checkpoint(&dir.join(checkpoint_dir_name(k)));
        let end = now_ns();
        let mut out = stdout.lock();
        let printed = match &result {
            Ok(seq) => writeln!(out, "checkpoint {k} {start} {end} {seq}"),
            Err(e) => {
                let msg = format!("{e:#}").replace('\n', " ");
                writeln!(out, "checkpoint-err {k} {start} {end} {msg}")
            }
        };
        if result.is_err() || printed.and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

fn one_write(store: &Store, args: &WriterArgs, thread: usize, i: u64) -> Result<()> {
    let id = |suffix| KeyId {
        cycle: args.cycle,
        thread,
        index: i,
        suffix,
    };
    if is_batch(i) {
        let mut batch = WriteBatch::new();
        for (s, suffix) in SUFFIXES.iter().enumerate() {
            let k = key(args.cycle, thread, i, suffix);
            batch.put(k.as_bytes(), value(args.seed, id(s)));
        }
        store.write(&batch)
    } else {
        let k = key(args.cycle, thread, i, "");
        store.put(k.as_bytes(), &value(args.seed, id(0)))
    }
}

/// Runs the writer; returns only if the store cannot be opened (or a
/// thread cannot be started). Otherwise exits the process once every
/// thread has stopped.
pub fn run(args: WriterArgs) -> Result<()> {
    let store = Arc::new(Store::open(args.store, &args.dir, args.sync)?);
    let mut handles = Vec::new();
    for thread in 0..args.threads {
        let store = Arc::clone(&store);
        let args = args.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("writer-{thread}"))
                .spawn(move || {
                    let stdout = std::io::stdout();
                    for i in 0.. {
                        let start = now_ns();
                        let result = one_write(&store, &args, thread, i);
                        let end = now_ns();
                        let mut out = stdout.lock();
                        let printed = match &result {
                            Ok(()) => writeln!(out, "ack {thread} {i} {start} {end}"),
                            Err(e) => {
                                let msg = format!("{e:#}").replace('\n', " ");
                                writeln!(out, "err {thread} {i} {start} {end} {msg}")
                            }
                        };
                        // A closed pipe means the parent is gone: stop too.
                        if result.is_err() || printed.and_then(|()| out.flush()).is_err() {
                            return;
                        }
                    }
                })?,
        );
    }
    if let Some(dir) = args.checkpoints.clone() {
        let store = Arc::clone(&store);
        // Not joined: it ends with the process.
        std::thread::Builder::new()
            .name("checkpoints".to_string())
            .spawn(move || take_checkpoints(&store, &dir))?;
    }
    for handle in handles {
        let _ = handle.join();
    }
    // Exit without closing the store: the writer only ever dies.
    std::process::exit(2)
}
