//! `Engine`: the internals both stores share. It owns the WAL, the
//! memtables, the manifest, the table cache and the applied watermark, and
//! offers the steps a store composes into its own policy:
//! `SimpleLsmStore` runs them inline on the writer's thread; the async
//! store runs flush and compaction in the background.
//!
//! The steps, one module each:
//! - [`write`](self::write): [`Engine::write`] (the synchronous write), and
//!   [`WritePermit`] (a WAL append now, the memtable insert maybe later, for
//!   the async pipeline).
//! - [`freeze`](self::freeze): the [`Freezer`], the one holder of the right
//!   to freeze the active memtable.
//! - [`flush`](self::flush): writing the oldest frozen memtable to an L0
//!   table.
//! - [`compaction`](self::compaction): reserving and running a compaction
//!   ([`CompactionReservation`]), and deleting the tables it made obsolete.
//! - [`lookup`](self::lookup): point reads, range iterators, snapshots.
//! - [`keyspaces`](self::keyspaces): creating, dropping and reading named
//!   keyspaces.
//! - [`range_delete`](self::range_delete): range deletes in the catalog:
//!   deleting the tables they empty and collecting them.
//! - [`checkpoint`](self::checkpoint): [`Engine::checkpoint`], a copy of the
//!   tables at one sequence number in another directory.
//! - here: open, stats, poisoning and close.
//!
//! # Locks and what they guard (lock order: top to bottom)
//! 1. `close_outcome` (`Mutex<Option<Result<(), String>>>`): the first
//!    close's outcome, held for the whole of [`Engine::close`], so a racing
//!    or later `close` waits for the first and answers with its outcome;
//!    everything `close` takes below is taken under it.
//! 2. `checkpoints` (`RwLock<()>`, guards no data): held *shared* by every
//!    running [`Engine::checkpoint`] and *exclusively* once by `close`, so
//!    close waits for running checkpoints (they read the store's files)
//!    before it releases the directory lock.
//! 3. `write_gate` ([`WriteGate`]): orders writes against freezes. Held
//!    *shared* by a [`WritePermit`] (a writer from its WAL append until its
//!    memtable insert is published, or queued for the applier) and
//!    *exclusively* by [`Freezer::freeze`]. So a freeze sees no half-applied
//!    write: every record in the WAL segments before the rotation is in the
//!    frozen memtable.
//! 4. `keyspaces` (`RwLock<Keyspaces>`): the keyspace catalog (name -> id).
//!    Shared by a write naming a non-default keyspace from its existence
//!    check until its WAL append returned; exclusive while a keyspace is
//!    created or dropped (see [`keyspaces`](self::keyspaces)).
//! 5. `flushing` (`Mutex<()>`): orders flushes: one at a time, oldest
//!    frozen memtable first. Guards no data; the frozen memtables are in
//!    the view.
//! 6. `catalog` (`Mutex<Catalog>`): the manifest, the files being compacted,
//!    the tables waiting for deletion, the tables known clean of range
//!    tombstones. Held for picking, logging an edit and installing its
//!    version, never across table I/O.
//! 7. `snapshots` (`SnapshotList`'s mutex): the live snapshots' sequence
//!    numbers. A snapshot chooses its number and registers under it, and a
//!    flush or compaction reads the list under it.
//! 8. `view` (`RwLock<Arc<ReadView>>`): the current read view. Readers
//!    clone the Arc and drop the lock at once; writers replace it.
//! 9. `poison` (`Mutex<Option<String>>`): the first failure's reason; a
//!    leaf.
//! 10. `slowdown` (`WriteSlowdown`'s mutex): the write slowdown's rate and
//!     debt; a leaf, taken under `catalog` when a version is installed and
//!     alone by a writer asking for its delay.
//!
//! # Invariants
//! - WAL order = sequence order = visibility order: the WAL assigns sequence
//!   numbers, and the watermark advances only over contiguous applied ranges.
//! - Only the [`Freezer`] freezes the active memtable, and there is one per
//!   engine.
//! - No table file is deleted while a live `Version` references it: removed
//!   files wait in `Catalog::obsolete` until only that list holds their
//!   `Arc<FileMeta>` (a table moved between levels keeps its `Arc`).
//! - A WAL segment is deleted only after a synced manifest edit records that
//!   every record in it is in a table (`wal_segment` moved past it).

mod checkpoint;
mod compaction;
mod flush;
mod freeze;
pub(crate) mod keyspaces;
mod lookup;
mod pinned;
mod range_delete;
mod slowdown;
mod stall;
mod write;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_compaction::{level_scores, pending_compaction_bytes};
use lsm_core::{Error as CoreError, SeqNo, SharedFileSystem};
use lsm_manifest::{FileMeta, Manifest};
use lsm_sstable::BlockCache;
use lsm_wal::{list_segments, segment_file_name, WalWriter};
use parking_lot::{Mutex, RwLock};

use crate::config::LsmConfig;
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::read::ReadView;
use crate::recovery::{self, Recovered};
use crate::snapshot::SnapshotList;
use crate::stats::{LevelStats, StoreStats};
use crate::table_cache::TableCache;
use crate::watermark::VisibleSeq;

pub use checkpoint::CheckpointInfo;
pub use compaction::{CompactionReport, CompactionReservation};
pub use freeze::{Drain, Freezer};
pub use keyspaces::{KeyspaceStats, MAX_KEYSPACE_NAME_BYTES};
pub use slowdown::{
    DELAY_STEP, L0_SLOWDOWN_FACTOR, MAX_WRITE_DELAY, SLOWDOWN_MIN_RATE, SLOWDOWN_START_RATE,
};
pub use stall::{StallCause, STALL_WARN_THRESHOLD};
pub use write::{MemtableFill, WriteOptions, WritePermit, Written};

use stall::micros;

/// Name of the lock file that keeps a second store out of a directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// Orders writes against freezes; see the module docs. Guards no data of
/// its own: holding it shared is the proof a [`WritePermit`] carries that
/// the active memtable is not frozen underneath, and holding it exclusively
/// is the proof a freeze needs that no write is between its WAL append and
/// its memtable insert.
#[derive(Debug, Default)]
struct WriteGate(RwLock<()>);

/// State guarded by `Engine::catalog`.
struct Catalog {
    manifest: Manifest,
    /// Numbers of files inputs of a running compaction.
    busy: BTreeSet<u64>,
    /// Tables removed from the current version, deleted once no live
    /// version references them (`Arc::strong_count == 1`).
    obsolete: Vec<Arc<FileMeta>>,
    /// Tables a compaction wrote while no reader needed what the catalog's
    /// range tombstones up to this sequence number hide: they hold nothing
    /// those tombstones hide. In memory only (after a reopen such a table
    /// is rewritten once more before its tombstones can go).
    clean_under: HashMap<u64, SeqNo>,
}

impl Catalog {
    /// The largest range-tombstone sequence number table `number` is known
    /// to be clean of (0: none).
    fn clean_under(&self, number: u64) -> SeqNo {
        self.clean_under.get(&number).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
struct Counters {
    flushes: AtomicU64,
    compactions: AtomicU64,
    trivial_moves: AtomicU64,
    flush_bytes_written: AtomicU64,
    compaction_bytes_read: AtomicU64,
    compaction_bytes_written: AtomicU64,
    user_bytes_written: AtomicU64,
    /// Write stalls the stores reported ([`Engine::record_stall`]).
    stalls: AtomicU64,
    stall_nanos: AtomicU64,
}

/// The shared internals of a store. See the module docs for the locks.
pub struct Engine {
    // Immutable after open.
    config: LsmConfig,
    fs: SharedFileSystem,
    dir: PathBuf,
    tables: Arc<TableCache>,
    wal: WalWriter,
    snapshots: Arc<SnapshotList>,
    visible: VisibleSeq,
    lock: Box<dyn lsm_core::fs::FileLock>,

    /// Guarded: `None` until `close` has finished, then `Ok` or why it
    /// failed. Held for the whole of `close`, so a second call waits for
    /// the first and answers with its outcome.
    close_outcome: Mutex<Option<std::result::Result<(), String>>>,
    /// Shared by running checkpoints, exclusive in `close`; see the
    /// module docs.
    checkpoints: RwLock<()>,
    write_gate: WriteGate,
    flushing: Mutex<()>,
    catalog: Mutex<Catalog>,
    keyspaces: RwLock<keyspaces::Keyspaces>,
    view: RwLock<Arc<ReadView>>,
    /// Set once [`Engine::freezer`] handed out the one freezer.
    freezer_taken: AtomicBool,
    /// Set by an apply that left the active memtable without memory
    /// prepared ahead ([`Engine::memtable_wants_memory`]). Relaxed: a hint.
    memtable_wants_memory: AtomicBool,
    /// What the active memtable took in while the last flush ran: from
    /// its freeze to the flushed memtable's release (the budget when the
    /// flush ended with more memtables frozen); 0 before the first flush
    /// ([`Engine::memory_ahead`]). Relaxed: a hint.
    flush_intake_bytes: AtomicUsize,

    /// The first failure; write calls fail with it. `poisoned` is its
    /// lock-free flag.
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    /// Delays writes while L0 is deep (`slowdown`); observes L0 at every
    /// version install.
    slowdown: slowdown::WriteSlowdown,
    /// This open of the store: its closed flag, shared with the table
    /// cache and every iterator, which check it on each move.
    instance: Arc<Instance>,
    counters: Counters,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |e| CoreError::io(path, e)
}

impl Engine {
    /// Opens (or creates) the store in `config.dir`: takes the directory
    /// lock, checks the `OPTIONS` file against `config` (taking its recorded
    /// `num_levels` when `config` left it unset) and the manifest, the
    /// tables and the WAL for completeness (reading only), replays the WAL segments newer than the last flush
    /// into a fresh memtable, then starts a new WAL segment and manifest and
    /// removes (or quarantines) stray files (the `recovery` module).
    ///
    /// Emits `lsm.open` (info) with what recovery replayed, and a `warn`
    /// event for each piece of damage it repaired (see
    /// `docs/observability.md`).
    pub fn open(config: LsmConfig) -> Result<Engine> {
        let started = Instant::now();
        config.validate()?;
        let fs = Arc::clone(&config.fs);
        let dir = config.dir.clone();
        fs.create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(LOCK_FILE_NAME);
        let lock = match fs.lock(&lock_path) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::Locked { dir })
            }
            Err(e) => return Err(CoreError::io(lock_path, e).into()),
        };

        let check = recovery::check(fs.as_ref(), &config, false)?;
        // The store's recorded shape (`OPTIONS`) where the config left it unset.
        let config = check.options.apply_to(config);
        let version = Arc::clone(&check.manifest.version);
        let Recovered {
            manifest,
            wal,
            mem,
            last_seq,
            summary,
        } = recovery::repair(&fs, &config, check)?;
        tracing::info!(
            name: "lsm.open",
            dir = %dir.display(),
            last_seq,
            flushed_seq = summary.flushed_seq,
            replayed_segments = summary.replayed_segments.len(),
            first_replayed_segment = summary.replayed_segments.first().copied(),
            last_replayed_segment = summary.replayed_segments.last().copied(),
            replayed_records = summary.replayed_records,
            replayed_last_seq = summary.replayed_last_seq,
            replayed_entries = mem.len(),
            wal_segment = summary.new_wal_segment,
            tables = version.all_files().count(),
            num_levels = config.num_levels,
            repaired_damage = summary.repaired_damage,
            options_written = summary.options_written,
            removed_wal_segments = summary.removed_wal_segments,
            removed_tables = summary.removed_tables,
            quarantined = summary.quarantined,
            duration_us = micros(started.elapsed()),
            "store opened"
        );

        let block_cache =
            (config.block_cache_bytes > 0).then(|| BlockCache::new(config.block_cache_bytes));
        let instance = Arc::new(Instance::locked());
        let tables = Arc::new(TableCache::new(
            Arc::clone(&fs),
            dir.clone(),
            block_cache,
            config.open_table_capacity(),
            Arc::clone(&instance),
        ));
        let slowdown = slowdown::WriteSlowdown::new(config.l0_trigger);
        slowdown.observe(version.files_at(0).len());
        let view = ReadView::new(mem, Vec::new(), version);
        let engine = Engine {
            fs,
            dir,
            tables,
            wal,
            snapshots: Arc::new(SnapshotList::for_instance(instance.id())),
            visible: VisibleSeq::new(last_seq),
            lock,
            close_outcome: Mutex::new(None),
            checkpoints: RwLock::new(()),
            write_gate: WriteGate::default(),
            flushing: Mutex::new(()),
            freezer_taken: AtomicBool::new(false),
            memtable_wants_memory: AtomicBool::new(false),
            flush_intake_bytes: AtomicUsize::new(0),
            catalog: Mutex::new(Catalog {
                manifest,
                busy: BTreeSet::new(),
                obsolete: Vec::new(),
                clean_under: HashMap::new(),
            }),
            view: RwLock::new(Arc::new(view)),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            slowdown,
            instance,
            counters: Counters::default(),
            keyspaces: RwLock::new(keyspaces::Keyspaces::default()),
            config,
        };
        *engine.keyspaces.write() = keyspaces::Keyspaces::load(&engine)?;
        Ok(engine)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &LsmConfig {
        &self.config
    }

    /// The current read view.
    fn view(&self) -> Arc<ReadView> {
        Arc::clone(&self.view.read())
    }

    /// The last sequence number the WAL assigned.
    pub fn last_seq(&self) -> SeqNo {
        self.wal.last_seq()
    }

    /// The applied watermark: reads see every write up to it.
    pub fn visible_seq(&self) -> SeqNo {
        self.visible.get()
    }

    /// Waits until the watermark reaches `seq`; false on timeout, or once
    /// the engine closes without the watermark reaching `seq` (its
    /// watermark is then final). A timeout too large for a deadline waits
    /// without one.
    pub fn wait_visible(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.visible.wait_for(seq, timeout)
    }

    /// Ends every wait on the watermark, now and later, as `close` does:
    /// for a store whose applier died, so that the writes it never applied
    /// will never become visible. Each wait returns whether its target was
    /// reached.
    pub fn release_visibility_waits(&self) {
        self.visible.release_all();
    }

    /// Fails if the store is closed or poisoned.
    pub fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.poisoned.load(Ordering::Acquire) {
            let reason = self.poison.lock().clone().unwrap_or_default();
            return Err(Error::Poisoned { reason });
        }
        Ok(())
    }

    /// Fails if the store is closed.
    pub fn check_open(&self) -> Result<()> {
        self.instance.check_open()
    }

    /// Makes every later write fail with `reason` (reads keep working).
    /// The first reason is kept.
    /// The first reason is also emitted as `lsm.poisoned` (info).
    pub fn poison(&self, reason: String) {
        let mut poison = self.poison.lock();
        if poison.is_none() {
            tracing::info!(
                name: "lsm.poisoned",
                dir = %self.dir.display(),
                reason = %reason,
                "store poisoned: writes are refused until it is reopened"
            );
            *poison = Some(reason);
        }
        self.poisoned.store(true, Ordering::Release);
        drop(poison);
        // A future waiting for a write that can no longer become visible
        // resolves with the poisoned error instead of hanging. (A blocked
        // `wait_visible` waits on: the async store still applies what it
        // queued before the failure; `close` releases it.)
        self.visible.wake_all();
    }

    fn poison_on_err<T>(&self, what: &str, result: Result<T>) -> Result<T> {
        if let Err(err) = &result {
            self.poison(format!("{what} failed: {err}"));
        }
        result
    }

    /// The store's shape and counters.
    pub fn stats(&self) -> Result<StoreStats> {
        let view = self.view();
        let (memtable_bytes, immutable_bytes) = view.memtable_bytes();
        let shape = self.config.level_shape();
        let scores = level_scores(&view.version, &shape);
        let levels = (0..view.version.num_levels())
            .map(|level| LevelStats {
                files: view.version.files_at(level).len(),
                bytes: view.version.level_bytes(level),
                score: scores.get(level).copied().unwrap_or(0.0),
            })
            .collect();
        let mut wal_bytes = 0;
        let segments = list_segments(self.fs.as_ref(), &self.dir)?;
        for number in &segments {
            let path = self.dir.join(segment_file_name(*number));
            wal_bytes += self.fs.file_size(&path).unwrap_or(0);
        }
        let (block_cache_hits, block_cache_misses) = self
            .tables
            .block_cache()
            .map_or((0, 0), |cache| (cache.hits(), cache.misses()));
        let c = &self.counters;
        Ok(StoreStats {
            memtable_bytes,
            immutable_memtables: view.imm.len(),
            immutable_bytes,
            levels,
            wal_bytes,
            wal_segments: segments.len(),
            last_seq: self.wal.last_seq(),
            visible_seq: self.visible.get(),
            flushes: c.flushes.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            trivial_moves: c.trivial_moves.load(Ordering::Relaxed),
            flush_bytes_written: c.flush_bytes_written.load(Ordering::Relaxed),
            compaction_bytes_read: c.compaction_bytes_read.load(Ordering::Relaxed),
            compaction_bytes_written: c.compaction_bytes_written.load(Ordering::Relaxed),
            user_bytes_written: c.user_bytes_written.load(Ordering::Relaxed),
            wal_bytes_written: self.wal.bytes_appended(),
            live_snapshots: self.snapshots.count(),
            block_cache_hits,
            block_cache_misses,
            poisoned: self.poison.lock().clone(),
            pending_compaction_bytes: pending_compaction_bytes(&view.version, &shape),
            write_stalls: c.stalls.load(Ordering::Relaxed),
            write_stall_nanos: c.stall_nanos.load(Ordering::Relaxed),
            wal_syncs: self.wal.sync_count(),
            delayed_write_rate: self.slowdown.rate(),
        })
    }

    /// The deepest level `compact_level` accepts (the last level has no
    /// level below it).
    pub fn max_compactable_level(&self) -> usize {
        self.config.num_levels - 2
    }

    /// Makes every write appended so far durable: one WAL fdatasync (shared
    /// with any sync already in flight, per the WAL's group commit) covering
    /// every record written before it. Lets a store opened with
    /// `SyncMode::Never` (or `EveryBytes`) choose its own durability points,
    /// e.g. many writes, then one sync. A failed sync poisons the engine:
    /// after a failed fdatasync the kernel may have dropped the dirty pages.
    pub fn sync_wal(&self) -> Result<()> {
        self.check_writable()?;
        self.poison_on_err("WAL sync", self.wal.sync().map_err(Error::from))
    }

    /// Stops accepting calls, waits for running checkpoints, makes the WAL
    /// durable, deletes obsolete tables, then releases the directory lock,
    /// so the directory can be opened again (by this process or another)
    /// while snapshots or iterators of this engine are still alive; reads
    /// through them return `Closed`. Idempotent: a later call (or one
    /// racing the first, which waits for it) returns `Ok` if the first
    /// succeeded, and otherwise [`Error::Poisoned`] with the first one's
    /// failure: the writes it had to make durable may not be (the WAL
    /// never retries a failed fdatasync), and no call says otherwise.
    ///
    /// REQUIRES: no flush or compaction of this engine is running or
    /// starts later (the stores stop theirs first): after the lock is
    /// released, another store may own the directory.
    ///
    /// Emits `lsm.close` (info) once, with the outcome.
    pub fn close(&self) -> Result<()> {
        let mut outcome = self.close_outcome.lock();
        if let Some(first) = outcome.as_ref() {
            return first.clone().map_err(|reason| Error::Poisoned {
                reason: format!("close failed: {reason}"),
            });
        }
        let result = self.close_once();
        *outcome = Some(result.as_ref().copied().map_err(ToString::to_string));
        result
    }

    /// The one run of [`Engine::close`].
    fn close_once(&self) -> Result<()> {
        self.instance.close();
        let started = Instant::now();
        // A running checkpoint still reads the store's tables; a new one
        // sees `closed` and refuses.
        let checkpoints = self.checkpoints.write();
        // Wait for in-flight writes to publish before the final sync.
        let gate = self.write_gate.0.write();
        let result = self
            .wal
            .close()
            .map_err(Error::from)
            .and_then(|()| self.purge_obsolete_files());
        drop(gate);
        // Every in-flight write has published: the watermark is final, a
        // future still waiting resolves with `Closed`, and a blocked
        // `wait_visible` returns false.
        self.visible.release_all();
        drop(checkpoints);
        // Released even if the final sync failed: nothing here writes to
        // the directory any more, and the next owner recovers from what
        // is on disk.
        let lock_path = self.dir.join(LOCK_FILE_NAME);
        let released = self
            .lock
            .release()
            .map_err(|e| Error::from(CoreError::io(lock_path, e)));
        let result = result.and(released);
        tracing::info!(
            name: "lsm.close",
            dir = %self.dir.display(),
            last_seq = self.wal.last_seq(),
            visible_seq = self.visible.get(),
            wal_syncs = self.wal.sync_count(),
            error = result.as_ref().err().map(tracing::field::display),
            duration_us = micros(started.elapsed()),
            "store closed"
        );
        result
    }

    /// True once `close` has run.
    pub fn is_closed(&self) -> bool {
        self.instance.is_closed()
    }
}

impl Drop for Engine {
    /// An engine dropped without `close` releases the directory lock all
    /// the same (the lock goes with it), so the directory's next owner may
    /// delete tables this open's live iterators still want: they must see
    /// the open as closed, and report `Closed` rather than a missing table
    /// as corruption.
    fn drop(&mut self) {
        self.instance.close();
    }
}

/// Helpers for the unit tests of the engine modules.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use lsm_core::WriteBatch;
    use lsm_wal::SyncMode;

    use super::{Engine, Freezer};
    use crate::config::LsmConfig;

    /// A small configuration in `dir`: 4 levels, 64 KiB memtable, no WAL
    /// fsync per write, no block cache, no automatic L0 trigger to speak of.
    pub(crate) fn small_config(dir: &std::path::Path) -> LsmConfig {
        LsmConfig::builder(dir)
            .memtable_bytes(64 << 10)
            .wal_sync(SyncMode::Never)
            .num_levels(4)
            .base_level_bytes(4096)
            .table_target_bytes(1 << 20)
            .l0_trigger(64)
            .block_cache_bytes(0)
            .build()
            .unwrap()
    }

    /// An engine over [`small_config`] in a fresh temporary directory.
    pub(crate) fn open_small() -> (tempfile::TempDir, Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(small_config(dir.path())).unwrap());
        (dir, engine)
    }

    /// An engine over [`small_config`] on a fault-injecting file system, in
    /// a fresh temporary directory.
    pub(crate) fn open_faulty() -> (
        tempfile::TempDir,
        Arc<lsm_core::fault::FaultyFileSystem>,
        Arc<Engine>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let fs = lsm_core::fault::FaultyFileSystem::new(lsm_core::OsFileSystem::shared());
        let mut config = small_config(dir.path());
        config.fs = fs.clone();
        let engine = Arc::new(Engine::open(config).unwrap());
        (dir, fs, engine)
    }

    pub(crate) fn put(engine: &Engine, key: &str, value: &str) -> u64 {
        let mut batch = WriteBatch::new();
        batch.put(key.as_bytes(), value.as_bytes());
        engine.write(&batch).unwrap().last_seq
    }

    pub(crate) fn delete(engine: &Engine, key: &str) -> u64 {
        let mut batch = WriteBatch::new();
        batch.delete(key.as_bytes());
        engine.write(&batch).unwrap().last_seq
    }

    pub(crate) fn get(engine: &Engine, key: &str) -> Option<String> {
        engine
            .get(key.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    }

    /// Freezes the active memtable (forced) and flushes every frozen one;
    /// true if a memtable was frozen.
    pub(crate) fn freeze_and_flush(engine: &Engine, freezer: &mut Freezer) -> bool {
        let froze = freezer.freeze(true, |_, _| {}).unwrap();
        while engine.flush_oldest_immutable().unwrap() {}
        froze
    }

    /// The table files in the engine's directory, by number.
    pub(crate) fn table_numbers(engine: &Engine) -> Vec<u64> {
        let mut numbers: Vec<u64> = engine
            .fs
            .list_dir(&engine.dir)
            .unwrap()
            .iter()
            .filter_map(|name| lsm_manifest::parse_table_file_name(name))
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Every live `(key, value)` at the watermark, in order.
    pub(crate) fn scan(engine: &Engine) -> Vec<(String, String)> {
        engine
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
            .unwrap()
            .map(|item| {
                let (k, v) = item.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{freeze_and_flush, get, open_small, put, small_config};
    use super::*;

    #[test]
    fn stats_count_what_happened() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let empty = engine.stats().unwrap();
        assert_eq!(
            (empty.last_seq, empty.flushes, empty.total_files()),
            (0, 0, 0)
        );
        assert_eq!(empty.levels.len(), 4);
        assert_eq!(empty.poisoned, None);

        put(&engine, "a", "12"); // 3 user bytes
        put(&engine, "b", "1");
        freeze_and_flush(&engine, &mut freezer);
        put(&engine, "a", "3");
        freeze_and_flush(&engine, &mut freezer);
        put(&engine, "c", "4");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        let snapshot = engine.snapshot().unwrap();
        let stats = engine.stats().unwrap();
        assert_eq!((stats.last_seq, stats.visible_seq), (4, 4));
        assert_eq!(stats.user_bytes_written, 3 + 2 + 2 + 2);
        assert_eq!(stats.flushes, 2);
        assert_eq!(stats.immutable_memtables, 1);
        assert!(stats.immutable_bytes > 0);
        assert_eq!(stats.memtable_bytes, 0);
        assert_eq!(stats.levels[0].files, 2);
        let l0_bytes: u64 = engine
            .view()
            .version
            .files_at(0)
            .iter()
            .map(|f| f.file_bytes)
            .sum();
        assert_eq!(stats.levels[0].bytes, l0_bytes);
        assert_eq!(stats.flush_bytes_written, l0_bytes);
        assert_eq!(stats.levels[0].score, 2.0 / 64.0);
        assert_eq!(stats.live_snapshots, 1);
        assert!(stats.wal_segments >= 1 && stats.wal_bytes > 0);
        assert_eq!((stats.compactions, stats.trivial_moves), (0, 0));

        while engine.flush_oldest_immutable().unwrap() {}
        let reservation = engine.reserve_compaction(Some(0)).unwrap();
        let merged = engine.run_reserved_compaction(reservation).unwrap();
        let reservation = engine.reserve_compaction(Some(1)).unwrap();
        let moved = engine.run_reserved_compaction(reservation).unwrap();
        assert!(!merged.trivial_move && moved.trivial_move);
        drop(snapshot);
        let stats = engine.stats().unwrap();
        assert_eq!((stats.compactions, stats.trivial_moves), (2, 1));
        assert_eq!(stats.compaction_bytes_read, merged.bytes_read);
        assert_eq!(stats.compaction_bytes_written, merged.bytes_written);
        assert_eq!(stats.levels[2].files, 1);
        assert_eq!(stats.levels[2].bytes, merged.bytes_written);
        assert_eq!(stats.total_files(), 1);
        assert_eq!(stats.live_snapshots, 0);
    }

    #[test]
    fn poison_keeps_the_first_reason() {
        let (_dir, engine) = open_small();
        engine.poison("first".to_string());
        engine.poison("second".to_string());
        assert_eq!(engine.stats().unwrap().poisoned.as_deref(), Some("first"));
        let err = engine.check_writable().unwrap_err();
        assert!(
            err.is_poisoned() && err.to_string().contains("first"),
            "{err}"
        );
        assert!(engine.check_open().is_ok());
    }

    /// `close` releases the directory lock, so a second engine can open the
    /// directory while the first (and its snapshot) are still alive; the
    /// closed engine refuses every call, reads included; a second `close`
    /// does nothing.
    #[test]
    fn close_releases_the_lock_and_is_idempotent() {
        let (dir, engine) = open_small();
        put(&engine, "a", "1");
        let snapshot = crate::snapshot::Snapshot::new(&engine).unwrap();
        let err = Engine::open(small_config(dir.path())).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");

        engine.close().unwrap();
        assert!(engine.is_closed());
        engine.close().unwrap();
        assert!(matches!(engine.get(b"a"), Err(Error::Closed)));
        assert!(matches!(snapshot.get("a"), Err(Error::Closed)));
        assert!(matches!(engine.begin_write(), Err(Error::Closed)));
        assert!(matches!(engine.snapshot(), Err(Error::Closed)));
        let mut batch = lsm_core::WriteBatch::new();
        batch.put(b"b", b"2");
        assert!(matches!(engine.write(&batch), Err(Error::Closed)));

        let reopened = Engine::open(small_config(dir.path())).unwrap();
        assert_eq!(get(&reopened, "a").as_deref(), Some("1"));
        assert_eq!(reopened.last_seq(), 1);
        drop(snapshot);
        drop(engine);
        reopened.close().unwrap();
    }
}
