//! `Engine`: the internals both stores share. It owns the WAL, the
//! memtables, the manifest, the table cache and the applied watermark, and
//! offers the steps (append, apply, freeze, flush, compact, install) that a
//! store composes into its own policy: `SimpleLsmStore` runs them inline on
//! the writer's thread; the async store runs flush and compaction in the
//! background.
//!
//! # Locks and what they guard (lock order: top to bottom)
//! 1. `write_gate` (`RwLock<()>`): held *shared* by a writer from its WAL
//!    append until its memtable insert is published, and *exclusive* by
//!    `freeze_memtable`. So a freeze sees no half-applied write: every
//!    record in the WAL segments before the rotation is in the frozen
//!    memtable.
//! 2. `maintenance` (`Mutex<()>`): serializes flushes (one at a time, oldest
//!    frozen memtable first).
//! 3. `catalog` (`Mutex<Catalog>`): the manifest, the files being compacted,
//!    the tables waiting for deletion. Held for picking, logging an edit and
//!    installing its version, never across table I/O.
//! 4. `view` (`RwLock<Arc<SuperVersion>>`): the current read view. Readers
//!    clone the Arc and drop the lock at once; writers replace it.
//!
//! # Invariants
//! - WAL order = sequence order = visibility order: the WAL assigns sequence
//!   numbers, and the watermark advances only over contiguous applied ranges.
//! - No table file is deleted while a live `Version` references it: removed
//!   files wait in `Catalog::obsolete` until only that list holds their
//!   `Arc<FileMeta>`.
//! - A WAL segment is deleted only after a synced manifest edit records that
//!   every record in it is in a table (`wal_segment` moved past it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use lsm_compaction::{
    choose_level_compaction, flush_to_table, level_scores, pick_compaction, run_compaction,
    CompactionChoice, CompactionOutcome, OutputContext, TableSource,
};
use lsm_core::{BatchOp, Error as CoreError, SeqNo, SharedFileSystem, WriteBatch};
use lsm_manifest::{FileMeta, Manifest, Version, VersionEdit};
use lsm_memtable::Memtable;
use lsm_sstable::BlockCache;
use lsm_wal::{list_segments, segment_file_name, WalWriter};
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};

use crate::config::LsmConfig;
use crate::error::{Error, Result};
use crate::read::{self, ImmutableMemtable, StoreIterator, SuperVersion};
use crate::recovery::{self, Recovered};
use crate::snapshot::{SnapshotHandle, SnapshotList};
use crate::stats::{LevelStats, StoreStats};
use crate::table_cache::TableCache;
use crate::watermark::VisibleSeq;

/// Name of the lock file that keeps a second store out of a directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// What [`Engine::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The batch's last sequence number.
    pub last_seq: SeqNo,
    /// The active memtable reached its size limit with this write.
    pub memtable_full: bool,
}

/// State guarded by `Engine::catalog`.
struct Catalog {
    manifest: Manifest,
    /// Numbers of files inputs of a running compaction.
    busy: BTreeSet<u64>,
    /// Tables removed from the current version, deleted once no live
    /// version references them (`Arc::strong_count == 1`).
    obsolete: Vec<Arc<FileMeta>>,
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
    _lock: Box<dyn lsm_core::fs::FileLock>,

    write_gate: RwLock<()>,
    maintenance: Mutex<()>,
    catalog: Mutex<Catalog>,
    view: RwLock<Arc<SuperVersion>>,

    /// Set once; write calls fail with it. Guarded by its own mutex.
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    closed: AtomicBool,
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
    /// lock, checks the manifest, the tables and the WAL for completeness
    /// (reading only), replays the WAL segments newer than the last flush
    /// into a fresh memtable, then starts a new WAL segment and manifest and
    /// removes (or quarantines) stray files (the `recovery` module).
    pub fn open(config: LsmConfig) -> Result<Engine> {
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
        let version = Arc::clone(&check.manifest.version);
        let Recovered {
            manifest,
            wal,
            mem,
            last_seq,
        } = recovery::repair(&fs, &config, check)?;

        let block_cache =
            (config.block_cache_bytes > 0).then(|| BlockCache::new(config.block_cache_bytes));
        let tables = Arc::new(TableCache::new(Arc::clone(&fs), dir.clone(), block_cache));
        let view = SuperVersion::new(mem, Vec::new(), version);
        Ok(Engine {
            fs,
            dir,
            tables,
            wal,
            snapshots: Arc::new(SnapshotList::default()),
            visible: VisibleSeq::new(last_seq),
            _lock: lock,
            write_gate: RwLock::new(()),
            maintenance: Mutex::new(()),
            catalog: Mutex::new(Catalog {
                manifest,
                busy: BTreeSet::new(),
                obsolete: Vec::new(),
            }),
            view: RwLock::new(Arc::new(view)),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            config,
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &LsmConfig {
        &self.config
    }

    /// The write-ahead log.
    pub fn wal(&self) -> &WalWriter {
        &self.wal
    }

    /// The applied watermark.
    pub fn visible(&self) -> &VisibleSeq {
        &self.visible
    }

    /// The current read view.
    pub fn view(&self) -> Arc<SuperVersion> {
        Arc::clone(&self.view.read())
    }

    /// The lock writers hold shared from WAL append to publish; see the
    /// module docs.
    pub fn write_gate(&self) -> &RwLock<()> {
        &self.write_gate
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
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Makes every later write fail with `reason` (reads keep working).
    pub fn poison(&self, reason: String) {
        let mut poison = self.poison.lock();
        if poison.is_none() {
            *poison = Some(reason);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    fn poison_on_err<T>(&self, what: &str, result: Result<T>) -> Result<T> {
        if let Err(err) = &result {
            self.poison(format!("{what} failed: {err}"));
        }
        result
    }

    /// Inserts `batch`'s ops into the active memtable with sequence numbers
    /// starting at `first`, and counts the user bytes. Returns true when the
    /// memtable has reached its size limit (the caller arranges a freeze),
    /// so the write path reads the view once.
    /// REQUIRES: `write_gate` held (shared or exclusive), so the memtable is
    /// not frozen underneath.
    pub fn apply_to_memtable(&self, batch: &WriteBatch, first: SeqNo) -> bool {
        let mem = Arc::clone(&self.view.read().mem);
        debug_assert!(!mem.is_frozen());
        let mut bytes = 0u64;
        mem.apply(batch.iter().enumerate().map(|(i, op)| {
            bytes += (op.key.len() + op.value.len()) as u64;
            BatchOp {
                seq: first + i as u64,
                ..op
            }
        }));
        self.counters
            .user_bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        mem.approximate_bytes() >= self.config.memtable_bytes
    }

    /// The synchronous write path: WAL append (durable per the sync mode),
    /// memtable insert, publish, then wait until the watermark covers the
    /// batch, so the caller's next read sees it (read-your-writes). Returns
    /// the batch's last sequence number and whether the memtable is now
    /// full.
    ///
    /// The watermark advances only over contiguous published ranges, so a
    /// writer that publishes while an earlier writer is still between its
    /// append and its publish waits for it (`VisibleSeq::wait_visible`:
    /// one atomic load when there is nothing to wait for). An append that
    /// fails after taking sequence numbers leaves a range that is never
    /// published; it poisons the engine, and a writer waiting behind it
    /// returns `Poisoned` (its write is in the WAL but cannot become
    /// visible before a reopen).
    pub fn write(&self, batch: &WriteBatch) -> Result<Written> {
        self.check_writable()?;
        batch.check_limits()?;
        let gate = self.write_gate.read();
        let last = match self.wal.append(batch) {
            Ok(last) => last,
            Err(err) => {
                // I/O failures (and waiters failed by them) may have taken
                // sequence numbers that will never be published.
                if matches!(
                    err,
                    lsm_wal::Error::Core(_) | lsm_wal::Error::Poisoned { .. }
                ) {
                    self.poison(format!("WAL append failed: {err}"));
                }
                return Err(err.into());
            }
        };
        let first = last + 1 - u64::from(batch.count());
        let memtable_full = self.apply_to_memtable(batch, first);
        self.visible.publish(first, last);
        drop(gate);
        if !self
            .visible
            .wait_visible(last, || self.poisoned.load(Ordering::Acquire))
        {
            // `wait_visible` gives up only once the engine is poisoned.
            let reason = self.poison.lock().clone().unwrap_or_default();
            return Err(Error::Poisoned { reason });
        }
        Ok(Written {
            last_seq: last,
            memtable_full,
        })
    }

    /// True when the active memtable has reached its size limit.
    pub fn memtable_full(&self) -> bool {
        self.view.read().mem.approximate_bytes() >= self.config.memtable_bytes
    }

    /// Freezes the active memtable and starts a new one (with a new WAL
    /// segment). False if the active memtable is empty.
    ///
    /// Takes `write_gate` exclusively: no write is between its WAL append
    /// and its publish, so the watermark equals the WAL's last sequence
    /// number and every record in older segments is in the frozen memtable.
    pub fn freeze_memtable(&self) -> Result<bool> {
        // Create the next WAL segment before stopping writers, so the
        // rotation under the gate only syncs the old segment's tail.
        self.poison_on_err(
            "WAL segment creation",
            self.wal.prepare_next_segment().map_err(Error::from),
        )?;
        let gate = self.write_gate.write();
        self.freeze_memtable_with_gate(&gate)
    }

    /// [`Engine::freeze_memtable`] for a caller that already holds
    /// `write_gate` exclusively (the async store's applier, which must drain
    /// its queue under the gate first).
    /// REQUIRES: every write appended to the WAL is applied and published.
    pub fn freeze_memtable_with_gate(&self, _gate: &RwLockWriteGuard<'_, ()>) -> Result<bool> {
        let mem = Arc::clone(&self.view.read().mem);
        if mem.is_empty() {
            return Ok(false);
        }
        let next_segment =
            self.poison_on_err("WAL rotation", self.wal.rotate().map_err(Error::from))?;
        mem.freeze();
        let sealed = self.visible.get();
        // Equal unless a failed append consumed sequence numbers it never
        // published (the WAL is then poisoned and refuses writes).
        debug_assert!(sealed <= self.wal.last_seq(), "watermark ahead of the WAL");
        // Build the next view from the view current *now*, under its lock: a
        // flush may have installed a new version (and dropped a flushed
        // memtable) while the WAL rotated.
        let mut view = self.view.write();
        debug_assert!(
            Arc::ptr_eq(&view.mem, &mem),
            "only a freeze replaces the active memtable"
        );
        let mut imm = Vec::with_capacity(view.imm.len() + 1);
        imm.push(ImmutableMemtable {
            mem,
            next_wal_segment: next_segment,
        });
        imm.extend(view.imm.iter().cloned());
        let next = SuperVersion::new(Arc::new(Memtable::new()), imm, Arc::clone(&view.version));
        view.seal(sealed);
        *view = Arc::new(next);
        Ok(true)
    }

    /// Number of frozen memtables waiting for flush.
    pub fn immutable_count(&self) -> usize {
        self.view.read().imm.len()
    }

    /// Flushes the oldest frozen memtable to an L0 table, logs the edit
    /// (which also moves the WAL's oldest needed segment past it), installs
    /// the new version and deletes the WAL segments it made obsolete. False
    /// if nothing was frozen. A failure poisons the store.
    pub fn flush_oldest_immutable(&self) -> Result<bool> {
        let _maintenance = self.maintenance.lock();
        let result = self.flush_oldest_locked();
        self.poison_on_err("memtable flush", result)
    }

    fn flush_oldest_locked(&self) -> Result<bool> {
        let Some(oldest) = self.view().imm.last().cloned() else {
            return Ok(false);
        };
        let table_options = self.config.table_options();
        let mut new_number = || self.catalog.lock().manifest.new_file_number();
        let ctx = OutputContext {
            fs: &self.fs,
            dir: &self.dir,
            table_options: &table_options,
            target_file_bytes: u64::MAX,
            snapshots: self.snapshots.sequence_numbers(),
            new_file_number: &mut new_number,
        };
        let output = flush_to_table(&mut oldest.mem.iter(), ctx)?;
        let mut edit = VersionEdit {
            wal_segment: Some(oldest.next_wal_segment),
            // Every segment up to the current one exists (its header and
            // directory entry were synced before any append went to it).
            newest_wal_segment: Some(self.wal.current_segment()),
            ..VersionEdit::default()
        };
        if let Some(max_seq) = oldest.mem.max_seq() {
            edit.last_seq = Some(max_seq);
        }
        let written = output.as_ref().map_or(0, |f| f.file_bytes);
        if let Some(file) = output {
            edit.added.push((0, file));
        }
        {
            let mut catalog = self.catalog.lock();
            if let Some(last) = edit.last_seq {
                edit.last_seq = Some(last.max(catalog.manifest.last_seq()));
            }
            let version = catalog.manifest.log_and_apply(edit)?;
            self.install(version, Some(&oldest.mem));
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.counters
            .flush_bytes_written
            .fetch_add(written, Ordering::Relaxed);
        self.delete_wal_segments_before(oldest.next_wal_segment)?;
        Ok(true)
    }

    /// Publishes a view with `version` and without the flushed memtable.
    /// REQUIRES: `catalog` held (so versions are installed in log order).
    fn install(&self, version: Arc<Version>, flushed: Option<&Arc<Memtable>>) {
        #[cfg(feature = "invariants")]
        if let Err(err) = version.check_invariants() {
            debug_assert!(false, "version invariant broken: {err}");
        }
        let mut view = self.view.write();
        let imm = view
            .imm
            .iter()
            .filter(|m| flushed.is_none_or(|f| !Arc::ptr_eq(&m.mem, f)))
            .cloned()
            .collect();
        *view = Arc::new(SuperVersion::new(Arc::clone(&view.mem), imm, version));
    }

    fn delete_wal_segments_before(&self, segment: u64) -> Result<()> {
        let segments = list_segments(self.fs.as_ref(), &self.dir)?;
        let mut removed = false;
        for number in segments.into_iter().filter(|&n| n < segment) {
            let path = self.dir.join(segment_file_name(number));
            self.fs.remove_file(&path).map_err(io_err(&path))?;
            removed = true;
        }
        if removed {
            self.fs.sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        }
        Ok(())
    }

    /// Picks the compaction the tree needs most (or the manual compaction of
    /// `level`) and reserves its input files. `None` if nothing is due or
    /// the inputs are busy.
    pub fn reserve_compaction(
        &self,
        manual_level: Option<usize>,
    ) -> Option<(CompactionChoice, Arc<Version>)> {
        let mut catalog = self.catalog.lock();
        let version = catalog.manifest.current();
        let choice = match manual_level {
            Some(level) => choose_level_compaction(&version, level, &catalog.busy),
            None => pick_compaction(&version, &self.config.level_shape(), &catalog.busy),
        }?;
        catalog.busy.extend(choice.input_numbers());
        Some((choice, version))
    }

    /// Runs a reserved compaction (table I/O outside every lock), then logs
    /// and installs its edit, and deletes the input tables no live version
    /// references any more. Takes the choice and version by value so their
    /// references to the inputs are gone before that purge. A failure
    /// poisons the store.
    pub fn run_reserved_compaction(
        &self,
        choice: CompactionChoice,
        version: Arc<Version>,
    ) -> Result<CompactionOutcome> {
        let result = self.run_reserved_locked(&choice, &version);
        let mut catalog = self.catalog.lock();
        for number in choice.input_numbers() {
            catalog.busy.remove(&number);
        }
        drop(catalog);
        drop(choice);
        drop(version);
        let outcome = self.poison_on_err("compaction", result)?;
        self.purge_obsolete_files()?;
        Ok(outcome)
    }

    fn run_reserved_locked(
        &self,
        choice: &CompactionChoice,
        version: &Version,
    ) -> Result<CompactionOutcome> {
        let table_options = self.config.table_options();
        let mut new_number = || self.catalog.lock().manifest.new_file_number();
        let ctx = OutputContext {
            fs: &self.fs,
            dir: &self.dir,
            table_options: &table_options,
            target_file_bytes: self.config.table_target_bytes,
            snapshots: self.snapshots.sequence_numbers(),
            new_file_number: &mut new_number,
        };
        let source: Arc<dyn TableSource> = Arc::clone(&self.tables) as Arc<dyn TableSource>;
        let outcome = run_compaction(choice, version, &source, ctx)?;
        {
            let mut catalog = self.catalog.lock();
            let new_version = catalog.manifest.log_and_apply(outcome.edit.clone())?;
            self.install(new_version, None);
            if !outcome.trivial_move {
                catalog
                    .obsolete
                    .extend(choice.all_inputs().map(|(_, f)| Arc::clone(f)));
            }
        }
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        if outcome.trivial_move {
            self.counters.trivial_moves.fetch_add(1, Ordering::Relaxed);
        }
        self.counters
            .compaction_bytes_read
            .fetch_add(outcome.bytes_read, Ordering::Relaxed);
        self.counters
            .compaction_bytes_written
            .fetch_add(outcome.bytes_written, Ordering::Relaxed);
        Ok(outcome)
    }

    /// Deletes obsolete tables that no live version references any more.
    pub fn purge_obsolete_files(&self) -> Result<()> {
        let mut catalog = self.catalog.lock();
        let mut deletable = Vec::new();
        catalog.obsolete.retain(|file| {
            if Arc::strong_count(file) == 1 {
                deletable.push(file.number);
                false
            } else {
                true
            }
        });
        drop(catalog);
        for number in &deletable {
            self.tables.evict(*number);
            let path = self.dir.join(lsm_manifest::table_file_name(*number));
            match self.fs.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CoreError::io(path, e).into()),
            }
        }
        if !deletable.is_empty() {
            self.fs.sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        }
        Ok(())
    }

    /// The sequence number a read started now uses, with the view it reads.
    pub fn read_view(&self) -> (Arc<SuperVersion>, SeqNo) {
        // Load the view first, then the watermark: every table in the view
        // holds only writes at or below the watermark loaded after it.
        let view = self.view();
        let seq = view.read_seq(self.visible.get());
        (view, seq)
    }

    /// Point read at the current watermark.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        let (view, seq) = self.read_view();
        read::get(&view, &self.tables, key, seq)
    }

    /// Point read at `seq` (a snapshot's).
    pub fn get_at(&self, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        let view = self.view();
        read::get(&view, &self.tables, key, seq)
    }

    /// A range iterator at `seq` (the current watermark if `None`).
    pub fn range(
        &self,
        start: std::ops::Bound<Vec<u8>>,
        end: std::ops::Bound<Vec<u8>>,
        snapshot: Option<Arc<SnapshotHandle>>,
    ) -> Result<StoreIterator> {
        self.check_open()?;
        let (view, seq) = match &snapshot {
            Some(handle) => (self.view(), handle.seq()),
            None => self.read_view(),
        };
        StoreIterator::new(view, &self.tables, seq, start, end, snapshot)
    }

    /// Registers a snapshot at the current watermark.
    pub fn snapshot(&self) -> Result<Arc<SnapshotHandle>> {
        self.check_open()?;
        let (_view, seq) = self.read_view();
        Ok(Arc::new(self.snapshots.acquire(seq)))
    }

    /// The store's shape and counters.
    pub fn stats(&self) -> Result<StoreStats> {
        let view = self.view();
        let (memtable_bytes, immutable_bytes) = view.memtable_bytes();
        let scores = level_scores(&view.version, &self.config.level_shape());
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
            wal_bytes_written: self.wal.bytes_written(),
            live_snapshots: self.snapshots.count(),
            block_cache_hits,
            block_cache_misses,
        })
    }

    /// The deepest level `compact_level` accepts (the last level has no
    /// level below it).
    pub fn max_compactable_level(&self) -> usize {
        self.config.num_levels - 2
    }

    /// Stops accepting calls, makes the WAL durable, deletes obsolete
    /// tables, then releases the directory lock, so the directory can be
    /// opened again (by this process or another) while snapshots or
    /// iterators of this engine are still alive; reads through them return
    /// `Closed`. Idempotent.
    ///
    /// REQUIRES: no flush or compaction of this engine is running or
    /// starts later (the stores stop theirs first): after the lock is
    /// released, another store may own the directory.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Wait for in-flight writes to publish before the final sync.
        let gate = self.write_gate.write();
        let result = self
            .wal
            .close()
            .map_err(Error::from)
            .and_then(|()| self.purge_obsolete_files());
        drop(gate);
        // Released even if the final sync failed: nothing here writes to
        // the directory any more, and the next owner recovers from what
        // is on disk.
        let lock_path = self.dir.join(LOCK_FILE_NAME);
        let released = self
            ._lock
            .release()
            .map_err(|e| Error::from(CoreError::io(lock_path, e)));
        result.and(released)
    }

    /// True once `close` has run.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
