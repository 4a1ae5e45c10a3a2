//! The `writer` subcommand: the child process the harness kills or cuts
//! the power under. It writes from several threads until a write fails or
//! it is killed, and reports every acknowledged write on stdout. Each
//! thread runs the schedule of `workload::op_kind`: puts, batches spanning
//! the default keyspace and the thread's keyspace, range deletes over its
//! own recent keys, puts into its keyspace, and the create and drop of
//! that keyspace.
//!
//! Output lines (each written and flushed after the call returned):
//! - `ack <thread> <i> <start_ns> <end_ns> <seq> <durable> [<keyspace>]`:
//!   write `i` of `thread` was acknowledged; the times are wall-clock
//!   nanoseconds right before and right after the call; `seq` is its
//!   (last) sequence number, `-` for a keyspace create (the call does not
//!   return it); `durable` is 1 if it was acknowledged durable (fdatasynced
//!   before it returned: every write under `--sync always`; under `--sync
//!   never` the range deletes `workload::synced_under_never` picks, written
//!   with `WriteOptions::SYNC`), 0 otherwise; a keyspace create adds the
//!   keyspace's id.
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
use lsm_core::{KeyspaceId, WriteBatch};

use crate::workload::{
    key, keyspace_epoch, keyspace_key, keyspace_name, keyspace_value, now_ns, op_kind,
    range_delete_bounds, synced_under_never, value, KeyId, OpKind, Store, StoreKind, SyncKind,
    SUFFIXES,
};

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

/// What an acknowledged write reports beyond its index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ack {
    /// Its (last) sequence number; `None` for a keyspace create.
    pub(crate) seq: Option<u64>,
    /// Whether it was fdatasynced before it returned.
    pub(crate) durable: bool,
    /// The id of the keyspace a create made.
    pub(crate) keyspace: Option<KeyspaceId>,
}

/// Makes write `i` of `thread` (see [`op_kind`]). `keyspace` is the id of
/// the thread's current keyspace, set by its create.
pub(crate) fn one_write(
    store: &Store,
    args: &WriterArgs,
    thread: usize,
    i: u64,
    keyspace: &mut Option<KeyspaceId>,
) -> Result<Ack> {
    let always = args.sync == SyncKind::Always;
    let id = |suffix| KeyId {
        cycle: args.cycle,
        thread,
        index: i,
        suffix,
    };
    let ks_id = || keyspace.ok_or_else(|| anyhow::anyhow!("write {i}: the thread has no keyspace"));
    let name = keyspace_name(args.cycle, thread, keyspace_epoch(i));
    let ack = |seq, durable| Ack {
        seq: Some(seq),
        durable,
        keyspace: None,
    };
    match op_kind(i) {
        OpKind::Put => {
            let k = key(args.cycle, thread, i, "");
            Ok(ack(
                store.put(k.as_bytes(), &value(args.seed, id(0)))?,
                always,
            ))
        }
        OpKind::Batch => {
            let mut batch = WriteBatch::new();
            for (s, suffix) in SUFFIXES.iter().enumerate() {
                let k = key(args.cycle, thread, i, suffix);
                batch.put(k.as_bytes(), value(args.seed, id(s)));
            }
            batch.put_in(
                ks_id()?,
                keyspace_key(i),
                keyspace_value(args.seed, args.cycle, thread, i),
            );
            Ok(ack(store.write(&batch, false)?, always))
        }
        OpKind::RangeDelete => {
            let (start, end) = range_delete_bounds(args.cycle, thread, i);
            let mut batch = WriteBatch::new();
            batch.delete_range(start, end);
            // Under `never`, a few are synced, so that a power cut has
            // writes it must keep.
            let synced = !always && synced_under_never(thread, i);
            Ok(ack(store.write(&batch, synced)?, always || synced))
        }
        OpKind::KeyspaceCreate => {
            let id = store.open_keyspace(&name)?;
            *keyspace = Some(id);
            Ok(Ack {
                seq: None,
                durable: always,
                keyspace: Some(id),
            })
        }
        OpKind::KeyspacePut => {
            let mut batch = WriteBatch::new();
            batch.put_in(
                ks_id()?,
                keyspace_key(i),
                keyspace_value(args.seed, args.cycle, thread, i),
            );
            Ok(ack(store.write(&batch, false)?, always))
        }
        OpKind::KeyspaceDrop => {
            let seq = store.drop_keyspace(&name)?;
            *keyspace = None;
            Ok(ack(seq, always))
        }
    }
}

/// The `ack` line of write `i` of `thread` (see the module doc).
pub(crate) fn ack_line(
    thread: usize,
    i: u64,
    (start, end): (u64, u64),
    seq: Option<u64>,
    durable: bool,
    keyspace: Option<u32>,
) -> String {
    let seq = seq.map_or("-".to_string(), |s| s.to_string());
    let mut line = format!("ack {thread} {i} {start} {end} {seq} {}", u8::from(durable));
    if let Some(id) = keyspace {
        line.push_str(&format!(" {id}"));
    }
    line
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
                    let mut keyspace = None;
                    for i in 0.. {
                        let start = now_ns();
                        let result = one_write(&store, &args, thread, i, &mut keyspace);
                        let end = now_ns();
                        let mut out = stdout.lock();
                        let printed = match &result {
                            Ok(ack) => writeln!(
                                out,
                                "{}",
                                ack_line(
                                    thread,
                                    i,
                                    (start, end),
                                    ack.seq,
                                    ack.durable,
                                    ack.keyspace.map(KeyspaceId::get)
                                )
                            ),
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
