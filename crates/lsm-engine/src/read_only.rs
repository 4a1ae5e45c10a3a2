//! [`ReadOnlyStore`]: a store opened for reading only, for tools that look
//! at a store without changing it (`lsm get`, `lsm scan`, `lsm stats`,
//! `lsm verify`).
//!
//! It runs every check a real open runs ([`crate::recovery`] with
//! `dry_run`), then keeps what they read: the manifest's tables, and the
//! WAL's writes the tables lack replayed into a memtable in memory. It
//! writes nothing, and it takes no lock, so it also opens a store that
//! another process (or this one) holds open; it then reads the state of
//! the moment it opened.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use lsm_compaction::{level_scores, pending_compaction_bytes};
use lsm_core::{Error as CoreError, FileSystem, KeyspaceId, SeqNo};
use lsm_manifest::{manifest_file_name, read_current, CURRENT_FILE_NAME};
use lsm_sstable::BlockCache;
use lsm_wal::{list_segments, parse_segment_file_name, segment_file_name};

use crate::config::LsmConfig;
use crate::engine::keyspaces::{check_readable, shown_name, Keyspaces};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::key_range::{prefix_range, KeyRange};
use crate::read::{self, ReadView, StoreIterator};
use crate::recovery::{self, StoreCheck};
use crate::stats::{LevelStats, StoreStats};
use crate::table_cache::TableCache;

/// A store opened for reading only.
///
/// Guarantees:
/// - **Nothing is written**: no directory lock is taken (the `LOCK` file
///   is not even created), no WAL segment or manifest is started, no
///   `OPTIONS` file is written, no torn tail is cut, no stray file is
///   deleted or moved, and a missing directory is not created. Every file
///   in the directory keeps its bytes, and the directory its listing.
/// - **The same checks and the same answers as an open**: opening fails
///   exactly where [`crate::Engine::open`] would (a corruption error names
///   the file and offset), and [`get`](Self::get) and
///   [`range`](Self::range) return what a store opened on the same files
///   would return right after its open (the WAL's torn tail left out, as
///   open cuts it).
/// - **Writes are refused by not existing**: the type has no write method.
///
/// A store held open by another process can be opened too. The handle then
/// holds the state of the moment it opened (the manifest it read, the WAL
/// records complete at that moment; a record being appended reads as a torn
/// tail and is left out) and does not follow later writes. An open
/// racing the owner's flush, compaction or own open (which retire WAL
/// segments, tables or the manifest the open read so far still named,
/// after changing `CURRENT` or the manifest) reads again, up to
/// 16 times, rather than report the retired files as corruption; one that
/// found damage in the WAL reads it twice more (a read of a segment being
/// appended to is not atomic) before it reports it. Reading the
/// tables afterwards can fail with an I/O error if that process deleted one
/// in a compaction meanwhile: open again to read the newer state.
#[derive(Debug)]
pub struct ReadOnlyStore {
    config: LsmConfig,
    view: Arc<ReadView>,
    tables: Arc<TableCache>,
    last_seq: SeqNo,
    check: StoreCheck,
    wal_segments: usize,
    wal_bytes: u64,
    /// The keyspace catalog as of the open.
    keyspaces: Keyspaces,
}

impl ReadOnlyStore {
    /// Opens the store in `config.dir` for reading (see the type's doc for
    /// what is and is not done). A directory that does not exist, or holds
    /// no store (no `CURRENT` file), is an I/O error naming it, not an
    /// empty store. An unset `num_levels` takes the one `OPTIONS` records,
    /// as open does.
    pub fn open(config: LsmConfig) -> Result<ReadOnlyStore> {
        config.validate()?;
        let fs = Arc::clone(&config.fs);
        let dir = config.dir.clone();
        if !fs.exists(&dir) {
            return Err(CoreError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such store directory"),
            )
            .into());
        }
        let current = dir.join(CURRENT_FILE_NAME);
        if !fs.exists(&current) {
            return Err(CoreError::io(
                &current,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no store here: CURRENT not found",
                ),
            )
            .into());
        }
        // The owner may retire files the catalog read so far still names
        // (a flush deletes WAL segments, a compaction tables, an open or a
        // rollover the manifest itself), but only after it changed the
        // catalog: `CURRENT` or the manifest's length. An open that failed
        // while the catalog changed under it read a state that was already
        // gone, not damage: it reads again. So does one that found damage
        // in the WAL: its read of a segment the owner was appending to is
        // not atomic (a slow read can copy a block before the owner wrote a
        // record there and a later one after it wrote the next record),
        // and real damage reads the same again.
        let mut attempts = 1;
        let mut wal_attempts = 1;
        loop {
            let before = catalog_mark(fs.as_ref(), &dir);
            match ReadOnlyStore::open_once(config.clone()) {
                Ok(store) => return Ok(store),
                Err(err) => {
                    let changed = catalog_mark(fs.as_ref(), &dir) != before;
                    let wal_damage = err.is_corruption()
                        && err
                            .path()
                            .and_then(Path::file_name)
                            .and_then(|name| name.to_str())
                            .is_some_and(|name| parse_segment_file_name(name).is_some());
                    if changed && attempts < MAX_OPEN_ATTEMPTS {
                        attempts += 1;
                    } else if wal_damage && wal_attempts < MAX_WAL_DAMAGE_ATTEMPTS {
                        wal_attempts += 1;
                    } else {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// One attempt of [`ReadOnlyStore::open`], past the checks for a store
    /// directory.
    fn open_once(config: LsmConfig) -> Result<ReadOnlyStore> {
        let fs = Arc::clone(&config.fs);
        let dir = config.dir.clone();
        let found = recovery::check(fs.as_ref(), &config, true)?;
        let check = recovery::store_check(&dir, &found);
        let config = found.options.apply_to(config);

        let mut wal_bytes = 0;
        let segments = list_segments(fs.as_ref(), &dir)?;
        for number in &segments {
            let path = dir.join(segment_file_name(*number));
            wal_bytes += fs.file_size(&path).map_err(|e| CoreError::io(&path, e))?;
        }

        let block_cache =
            (config.block_cache_bytes > 0).then(|| BlockCache::new(config.block_cache_bytes));
        let tables = Arc::new(TableCache::new(
            fs,
            dir,
            block_cache,
            config.open_table_capacity(),
            // No lock: the store's owner may delete tables read here.
            Arc::new(Instance::unlocked()),
        ));
        let view = Arc::new(ReadView::new(
            found.mem,
            Vec::new(),
            Arc::clone(&found.manifest.version),
        ));
        let everything = (Bound::Unbounded, Bound::Unbounded);
        let catalog = read::keyspace_iter(
            Arc::clone(&view),
            &tables,
            found.last_seq,
            KeyspaceId::CATALOG,
            everything,
            None,
        )?;
        let keyspaces = Keyspaces::from_catalog(&config.dir, catalog)?;
        Ok(ReadOnlyStore {
            config,
            view,
            tables,
            last_seq: found.last_seq,
            check,
            wal_segments: segments.len(),
            wal_bytes,
            keyspaces,
        })
    }

    /// The configuration in use (`num_levels` as `OPTIONS` records it).
    pub fn config(&self) -> &LsmConfig {
        &self.config
    }

    /// What the checks found: the state recovered, and what a real open
    /// would repair (the WAL's torn tail it would cut, a damaged last
    /// manifest record it would leave out, stray tables it would delete,
    /// whether it would write `OPTIONS`). Nothing was repaired.
    pub fn check(&self) -> &StoreCheck {
        &self.check
    }

    /// The last sequence number of the recovered state; every read sees
    /// every write up to it.
    pub fn last_seq(&self) -> SeqNo {
        self.last_seq
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = lsm_core::keyspace::tree_key(lsm_core::KeyspaceId::DEFAULT, key.as_ref());
        read::get(&self.view, &self.tables, &key, self.last_seq)
    }

    /// The value of `key` without a copy: a [`Bytes`] slice of the cached
    /// block or memtable entry holding it, which it keeps alive.
    pub fn get_pinned(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = lsm_core::keyspace::tree_key(lsm_core::KeyspaceId::DEFAULT, key.as_ref());
        read::get_pinned(&self.view, &self.tables, &key, self.last_seq)
    }

    /// The live keys in `range`, in order; any range form ([`KeyRange`]).
    /// The iterator is double-ended: `.rev()` yields the range backward.
    pub fn range(&self, range: impl KeyRange) -> Result<StoreIterator> {
        self.range_in(KeyspaceId::DEFAULT, range)
    }

    /// The names of the store's keyspaces as of the open, in order (the
    /// default keyspace has none).
    pub fn keyspace_names(&self) -> Vec<String> {
        self.keyspaces.names()
    }

    /// The id of keyspace `name`, for [`get_in`](Self::get_in) and
    /// [`range_in`](Self::range_in); [`Error::InvalidKeyspace`] if the
    /// store had no such keyspace when it was opened.
    ///
    /// ```
    /// use lsm_engine::{Engine, LsmConfig, ReadOnlyStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let engine = Engine::open(LsmConfig::new(dir.path()))?;
    /// let (users, _) = engine.open_keyspace("users")?;
    /// let mut batch = lsm_core::WriteBatch::new();
    /// batch.put_in(users, "42", "ada");
    /// engine.write(&batch)?;
    /// engine.close()?;
    ///
    /// let store = ReadOnlyStore::open(LsmConfig::new(dir.path()))?;
    /// assert_eq!(store.keyspace_names(), ["users"]);
    /// let users = store.keyspace_id("users")?;
    /// assert_eq!(store.get_in(users, "42")?, Some(b"ada".to_vec()));
    /// assert_eq!(store.get("42")?, None, "the default keyspace is another one");
    /// assert!(store.keyspace_id("orders").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keyspace_id(&self, name: &str) -> Result<KeyspaceId> {
        self.keyspaces
            .id_of(name)
            .ok_or_else(|| Error::InvalidKeyspace {
                name: shown_name(name),
                reason: "no such keyspace",
            })
    }

    /// The value of `key` in `keyspace`, or `None`. The catalog's id is
    /// refused ([`Error::UnknownKeyspace`]), as by a store.
    pub fn get_in(&self, keyspace: KeyspaceId, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        check_readable(keyspace)?;
        let key = lsm_core::keyspace::tree_key(keyspace, key.as_ref());
        read::get(&self.view, &self.tables, &key, self.last_seq)
    }

    /// The live keys of `keyspace` in `range`, in order (double-ended).
    /// The catalog's id is refused, as by [`get_in`](Self::get_in).
    pub fn range_in(&self, keyspace: KeyspaceId, range: impl KeyRange) -> Result<StoreIterator> {
        check_readable(keyspace)?;
        read::keyspace_iter(
            Arc::clone(&self.view),
            &self.tables,
            self.last_seq,
            keyspace,
            range.into_bounds(),
            None,
        )
    }

    /// Every live key, in order (double-ended).
    pub fn iter(&self) -> Result<StoreIterator> {
        self.range(..)
    }

    /// The live keys that start with `prefix`, in order (double-ended); see
    /// [`prefix_range`].
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<StoreIterator> {
        self.range(prefix_range(prefix.as_ref()))
    }

    /// The store's shape as of the open: per level the tables, their bytes
    /// and the compaction picker's score (under this config's level
    /// targets), the replayed WAL writes as the active memtable, the WAL
    /// segments on disk, `last_seq` = `visible_seq`, and the picker's
    /// `pending_compaction_bytes` for that shape. The counters of work
    /// since open (flushes, compactions, bytes written) are zero: a
    /// read-only store does no work.
    pub fn stats(&self) -> Result<StoreStats> {
        let version = &self.view.version;
        let shape = self.config.level_shape();
        let scores = level_scores(version, &shape);
        let levels = (0..version.num_levels())
            .map(|level| LevelStats {
                files: version.files_at(level).len(),
                bytes: version.level_bytes(level),
                score: scores.get(level).copied().unwrap_or(0.0),
            })
            .collect();
        let (memtable_bytes, immutable_bytes) = self.view.memtable_bytes();
        let (block_cache_hits, block_cache_misses) = self
            .tables
            .block_cache()
            .map_or((0, 0), |cache| (cache.hits(), cache.misses()));
        Ok(StoreStats {
            memtable_bytes,
            immutable_memtables: 0,
            immutable_bytes,
            levels,
            wal_bytes: self.wal_bytes,
            wal_segments: self.wal_segments,
            last_seq: self.last_seq,
            visible_seq: self.last_seq,
            block_cache_hits,
            block_cache_misses,
            pending_compaction_bytes: pending_compaction_bytes(version, &shape),
            ..StoreStats::default()
        })
    }
}

/// How many times [`ReadOnlyStore::open`] reads a store whose catalog keeps
/// changing while it reads (an owner flushing and compacting beside it).
const MAX_OPEN_ATTEMPTS: usize = 16;

/// How many times [`ReadOnlyStore::open`] reads a store whose WAL it found
/// damaged (the catalog unchanged) before it reports the damage.
const MAX_WAL_DAMAGE_ATTEMPTS: usize = 3;

/// What changes whenever the owner changes the catalog: the manifest
/// `CURRENT` names and that manifest's length (edits are appended; a new
/// manifest gets a new name in `CURRENT`). `None` parts where a file could
/// not be read.
fn catalog_mark(fs: &dyn FileSystem, dir: &Path) -> (Option<u64>, Option<u64>) {
    let manifest = read_current(fs, dir).ok().flatten();
    let length =
        manifest.and_then(|number| fs.file_size(&dir.join(manifest_file_name(number))).ok());
    (manifest, length)
}
