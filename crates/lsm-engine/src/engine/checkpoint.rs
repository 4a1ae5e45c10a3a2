//! Checkpoints: a consistent, openable copy of the store's tables at one
//! sequence number, written into another directory while writes continue.
//!
//! What it copies is one version of the catalog and the manifest's
//! `last_seq`, read together under the catalog lock: every table of a
//! version holds writes at or below the `last_seq` logged with it, and the
//! tables hold every write up to it (flushes log frozen memtables in WAL
//! order, and every write of a frozen memtable is below the next one's), so
//! the pair is the store's state at exactly that sequence number. No WAL is
//! copied: the checkpoint's manifest records that its tables hold every
//! write up to `last_seq` and that no WAL segment exists yet, so its first
//! open replays nothing. The stores flush their memtables first (each
//! through its own maintenance path), so that sequence number covers every
//! write acknowledged before the call.
//!
//! The held `Arc<Version>` is what keeps its table files on disk while they
//! are linked or copied: a table a compaction removes waits in
//! `Catalog::obsolete` until no version references it (see the engine's
//! invariants), so no separate "deletions paused" state is needed. `close`
//! waits for running checkpoints (`Engine::checkpoints`), so nothing of
//! the store is read after its directory lock is released.
//!
//! File operations, in order (`docs/durability.md`, "Checkpoint"):
//! 1. create the directory (it must be missing or empty, and not named
//!    like one of the store's own files inside the store's directory);
//! 2. per table: a hard link to the store's file, or where the file system
//!    refuses one (another file system, no hard links) a copy whose data
//!    is synced;
//! 3. fsync the directory;
//! 4. write `OPTIONS` (temp file, fsync, rename, fsync the directory);
//! 5. write the manifest (one snapshot edit of the version; fsync it and
//!    the directory), then `CURRENT` (temp file, fsync, rename, fsync the
//!    directory): the commit point;
//! 6. fsync the parent directory, making the checkpoint's own entry
//!    durable, and the parent of every missing parent step 1 created.
//!
//! A checkpoint cut short leaves no `CURRENT`. If any of its tables or its
//! manifest reached the disk, opening the directory fails with
//! `Error::Manifest(MissingCurrent)` ("CURRENT missing while tables or a
//! table-listing manifest exist"); if none did, the directory holds no
//! data (at most `OPTIONS`) and opens as a new, empty store. It never opens
//! as a store with some of the tables missing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lsm_core::fs::{link_or_copy, Placed};
use lsm_core::{Error as CoreError, FileSystem, SeqNo};
use lsm_manifest::{
    parse_manifest_file_name, parse_table_file_name, table_file_name, Manifest, CURRENT_FILE_NAME,
    CURRENT_TEMP_FILE_NAME,
};

use super::stall::micros;
use super::{io_err, Engine, LOCK_FILE_NAME};
use crate::error::{Error, Result};
use crate::options_file::{self, StoredOptions, OPTIONS_FILE_NAME, OPTIONS_TEMP_FILE_NAME};
use crate::recovery::QUARANTINE_DIR_NAME;

/// What [`Engine::checkpoint`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The checkpoint's directory.
    pub dir: PathBuf,
    /// The sequence number the checkpoint is the store's state at: it
    /// holds every write with a sequence number up to this one and none
    /// after it, and a store opened on it continues from here.
    pub seq: SeqNo,
    /// Table files in the checkpoint.
    pub tables: usize,
    /// Of those, hard links to the store's own files (no bytes written).
    pub linked: usize,
    /// Of those, copies (the file system refused a hard link).
    pub copied: usize,
    /// Bytes of the table files, linked or copied.
    pub table_bytes: u64,
    /// Bytes written by the copies.
    pub copied_bytes: u64,
}

impl Engine {
    /// Writes a checkpoint of the tables into `dir`: a store directory
    /// holding the store's state at one sequence number (returned in
    /// [`CheckpointInfo::seq`]), which opens as a store of its own
    /// (either store type, or `ReadOnlyStore`) and shares nothing with
    /// this one after it returns. Table files are hard-linked where the
    /// file system allows it and copied otherwise. Writes continue
    /// meanwhile; only what the tables held when the checkpoint started
    /// is in it. The memtables are not: the stores flush them first (see
    /// `SimpleLsmStore::checkpoint`). See the module docs for the file
    /// operations and what a checkpoint cut short leaves.
    ///
    /// `dir` must not exist or be an empty directory
    /// ([`Error::CheckpointDirNotEmpty`] otherwise; an empty path is an
    /// I/O error of kind `InvalidInput`, and so is a directory inside the
    /// store's own under a name the store gives its own files, such as
    /// `000123.sst`: the store would meet it when it writes that file);
    /// its missing parents are created,
    /// and their entries synced. Works on a poisoned engine (it only reads the store);
    /// fails with [`Error::Closed`] once the engine is closed.
    ///
    /// Emits `lsm.checkpoint` (info) with what it wrote.
    pub fn checkpoint(&self, dir: &Path) -> Result<CheckpointInfo> {
        // Shared: `close` takes it exclusively, so it waits for this
        // checkpoint, and a checkpoint never starts on a closed engine.
        let _running = self.checkpoints.read();
        self.check_open()?;
        let started = Instant::now();
        let fs = self.fs.as_ref();
        self.check_checkpoint_dir(dir)?;
        let created = prepare_dir(fs, dir)?;
        let (version, seq, wal_segment, next_file_number) = {
            let catalog = self.catalog.lock();
            let manifest = &catalog.manifest;
            (
                manifest.current(),
                manifest.last_seq(),
                manifest.wal_segment(),
                manifest.next_file_number(),
            )
        };
        let mut info = CheckpointInfo {
            dir: dir.to_path_buf(),
            seq,
            tables: 0,
            linked: 0,
            copied: 0,
            table_bytes: 0,
            copied_bytes: 0,
        };
        for (_, file) in version.all_files() {
            let name = table_file_name(file.number);
            let from = self.dir.join(&name);
            let to = dir.join(&name);
            match link_or_copy(fs, &from, &to).map_err(io_err(&to))? {
                Placed::Linked => info.linked += 1,
                Placed::Copied(bytes) => {
                    info.copied += 1;
                    info.copied_bytes += bytes;
                }
            }
            info.tables += 1;
            info.table_bytes += file.file_bytes;
        }
        fs.sync_dir(dir).map_err(io_err(dir))?;
        options_file::write(fs, dir, &StoredOptions::of(&self.config))?;
        Manifest::create_from_version(fs, dir, &version, seq, wal_segment, next_file_number)?;
        // The checkpoint's entry in its parent, and the entry of every
        // parent this call created in its own parent: a power cut must not
        // take the path to a checkpoint that returned.
        let mut parents: Vec<&Path> = created.iter().map(|created| parent_dir(created)).collect();
        if created.is_empty() {
            parents.push(parent_dir(dir));
        }
        for parent in parents {
            fs.sync_dir(parent).map_err(io_err(parent))?;
        }
        tracing::info!(
            name: "lsm.checkpoint",
            dir = %self.dir.display(),
            checkpoint = %dir.display(),
            seq,
            tables = info.tables,
            linked = info.linked,
            copied = info.copied,
            table_bytes = info.table_bytes,
            duration_us = micros(started.elapsed()),
            "checkpoint written"
        );
        Ok(info)
    }
}

impl Engine {
    /// Refuses (an I/O error of kind `InvalidInput`) a checkpoint directory
    /// in the store's own directory under a name the store gives its own
    /// files: a table, WAL segment or manifest it may write later, or
    /// `CURRENT`, `LOCK`, `OPTIONS` and their temporary names, and the
    /// `quarantine` directory. The store would fail to create that file
    /// later (a flush poisoned by `EISDIR`), or move a table it cannot
    /// account for into the checkpoint, whose next open would delete it. Any
    /// other name inside the store's directory is allowed. The two
    /// directories are compared canonicalized, so `store/./000123.sst` and
    /// a path through a symlink are caught too.
    ///
    /// [`Engine::checkpoint`] checks this itself; the stores call it first,
    /// so a refused checkpoint does not freeze and flush the memtable.
    pub fn check_checkpoint_dir(&self, dir: &Path) -> Result<()> {
        let Some(name) = dir.file_name().and_then(|name| name.to_str()) else {
            return Ok(());
        };
        let store_file = parse_table_file_name(name).is_some()
            || lsm_wal::parse_segment_file_name(name).is_some()
            || parse_manifest_file_name(name).is_some()
            || [
                CURRENT_FILE_NAME,
                CURRENT_TEMP_FILE_NAME,
                LOCK_FILE_NAME,
                OPTIONS_FILE_NAME,
                OPTIONS_TEMP_FILE_NAME,
                QUARANTINE_DIR_NAME,
            ]
            .contains(&name);
        if !store_file {
            return Ok(());
        }
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            // A parent that does not exist is not the store's directory.
            _ => a == b,
        };
        if !same(parent_dir(dir), &self.dir) {
            return Ok(());
        }
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("a checkpoint inside the store's directory cannot take the name {name}, which the store gives its own files"),
        );
        Err(CoreError::io(dir, refused).into())
    }
}

/// Creates `dir` (and its missing parents), or checks that it is empty.
/// Returns the directories it created, outermost first (none if `dir`
/// existed). An empty path is refused: it names no directory, and the
/// tables would be linked into the process's working directory.
fn prepare_dir(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.as_os_str().is_empty() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an empty path names no checkpoint directory",
        );
        return Err(CoreError::io(dir, refused).into());
    }
    if fs.exists(dir) {
        let entries = fs.list_dir(dir).map_err(io_err(dir))?;
        if !entries.is_empty() {
            return Err(Error::CheckpointDirNotEmpty {
                dir: dir.to_path_buf(),
                entries: entries.len(),
            });
        }
        return Ok(Vec::new());
    }
    let mut created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|ancestor| !ancestor.as_os_str().is_empty() && !fs.exists(ancestor))
        .map(Path::to_path_buf)
        .collect();
    created.reverse();
    fs.create_dir_all(dir)
        .map_err(|e| Error::from(CoreError::io(dir, e)))?;
    Ok(created)
}

/// The directory holding `dir`'s entry (`.` for a bare relative name).
fn parent_dir(dir: &Path) -> &Path {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::super::test_support::{
        delete, freeze_and_flush, open_faulty, open_small, put, scan, small_config, table_numbers,
    };
    use super::*;
    use crate::read_only::ReadOnlyStore;

    fn open_checkpoint(dir: &Path) -> Engine {
        Engine::open(small_config(dir)).unwrap()
    }

    /// The tables of every level are in the checkpoint, hard-linked (the
    /// same inodes), and it opens holding exactly the writes up to its
    /// sequence number: the memtable's later writes are not in it.
    #[test]
    fn a_checkpoint_holds_the_tables_at_its_sequence_number() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        put(&engine, "b", "1");
        freeze_and_flush(&engine, &mut freezer);
        let reservation = engine.reserve_compaction(Some(0)).unwrap();
        engine.run_reserved_compaction(reservation).unwrap(); // a, b at L1
        put(&engine, "b", "2");
        delete(&engine, "a");
        put(&engine, "c", "2");
        freeze_and_flush(&engine, &mut freezer); // L0: b=2, a deleted, c
        put(&engine, "d", "memtable only");

        let target = tempfile::tempdir().unwrap();
        let cp = target.path().join("cp");
        let info = engine.checkpoint(&cp).unwrap();
        assert_eq!(info.seq, 5, "the tables hold writes 1..=5");
        assert_eq!((info.tables, info.linked, info.copied), (2, 2, 0));
        assert_eq!(info.copied_bytes, 0);
        let view = engine.view();
        let bytes: u64 = view.version.all_files().map(|(_, f)| f.file_bytes).sum();
        assert_eq!(info.table_bytes, bytes);
        for number in table_numbers(&engine) {
            let name = table_file_name(number);
            let ino = |dir: &Path| std::fs::metadata(dir.join(&name)).unwrap().ino();
            assert_eq!(ino(&engine.dir), ino(&cp), "{name} not hard-linked");
        }

        let copy = open_checkpoint(&cp);
        assert_eq!(copy.last_seq(), 5);
        let want = [("b", "2"), ("c", "2")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(scan(&copy), want);
        let copy_view = copy.view();
        assert_eq!(copy_view.version.files_at(0).len(), 1);
        assert_eq!(copy_view.version.files_at(1).len(), 1);
        assert!(copy_view.mem.is_empty(), "no WAL was replayed");
        // A store of its own: it takes writes numbered after its seq.
        assert_eq!(put(&copy, "e", "3"), 6);
        copy.close().unwrap();
        assert_eq!(put(&engine, "e", "source"), 7);
    }

    /// An empty store checkpoints to an empty store at sequence number 0,
    /// into a directory that exists and is empty.
    #[test]
    fn an_empty_store_checkpoints_into_an_empty_directory() {
        let (_dir, engine) = open_small();
        let target = tempfile::tempdir().unwrap();
        let info = engine.checkpoint(target.path()).unwrap();
        assert_eq!((info.seq, info.tables), (0, 0));
        let copy = open_checkpoint(target.path());
        assert_eq!(copy.last_seq(), 0);
        assert!(scan(&copy).is_empty());
    }

    /// A directory holding anything is refused before anything is written,
    /// with a typed error naming it; so is a second checkpoint into the
    /// same place.
    #[test]
    fn a_non_empty_directory_is_refused() {
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("notes.txt"), b"mine").unwrap();
        let err = engine.checkpoint(target.path()).unwrap_err();
        assert!(
            matches!(&err, Error::CheckpointDirNotEmpty { dir, entries: 1 } if dir == target.path()),
            "{err:?}"
        );
        assert_eq!(err.path(), Some(target.path()));
        assert!(!err.is_corruption() && !err.is_poisoned());
        let names = std::fs::read_dir(target.path()).unwrap().count();
        assert_eq!(names, 1, "something was written");

        let cp = target.path().join("cp");
        engine.checkpoint(&cp).unwrap();
        let again = engine.checkpoint(&cp).unwrap_err();
        assert!(
            matches!(again, Error::CheckpointDirNotEmpty { .. }),
            "{again}"
        );
    }

    /// Where hard links fail (as across file systems) the tables are
    /// copied, and the copy opens with the same data.
    #[test]
    fn tables_are_copied_where_hard_links_fail() {
        let (_dir, fs, engine) = open_faulty();
        let mut freezer = engine.freezer().unwrap();
        let mut want = BTreeMap::new();
        for i in 0..3 {
            let (key, value) = (format!("k{i}"), format!("v{i}"));
            put(&engine, &key, &value);
            want.insert(key, value);
            freeze_and_flush(&engine, &mut freezer);
        }
        fs.fail_hard_links(true);
        let target = tempfile::tempdir().unwrap();
        let info = engine.checkpoint(target.path()).unwrap();
        assert_eq!((info.tables, info.linked, info.copied), (3, 0, 3));
        assert_eq!(info.copied_bytes, info.table_bytes);
        let copy = open_checkpoint(target.path());
        assert_eq!(scan(&copy), want.into_iter().collect::<Vec<_>>());
    }

    /// A checkpoint holds its version, so a compaction that makes its
    /// tables obsolete meanwhile cannot delete them under it; once it
    /// returns, the store deletes them at the next purge, and the
    /// checkpoint (hard links) keeps its own names.
    #[test]
    fn tables_compacted_away_stay_in_the_checkpoint() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for value in ["1", "2"] {
            put(&engine, "k", value);
            freeze_and_flush(&engine, &mut freezer);
        }
        let before = table_numbers(&engine);
        let target = tempfile::tempdir().unwrap();
        engine.checkpoint(target.path()).unwrap();
        let reservation = engine.reserve_compaction(Some(0)).unwrap();
        engine.run_reserved_compaction(reservation).unwrap();
        assert!(before.iter().all(|n| !table_numbers(&engine).contains(n)));
        let copy = open_checkpoint(target.path());
        assert_eq!(scan(&copy), [("k".to_string(), "2".to_string())]);
        assert_eq!(copy.view().version.files_at(0).len(), 2);
    }

    /// A compaction that runs while the checkpoint copies (started from
    /// the file system's hook at the checkpoint's first table copy) makes
    /// the tables being copied obsolete and purges: they stay on disk
    /// until the checkpoint is done, so every copy succeeds.
    #[test]
    fn a_compaction_during_the_checkpoint_cannot_delete_its_tables() {
        let (_dir, fs, engine) = open_faulty();
        let mut freezer = engine.freezer().unwrap();
        for value in ["1", "2", "3"] {
            put(&engine, "k", value);
            freeze_and_flush(&engine, &mut freezer);
        }
        let inputs = table_numbers(&engine);
        let target = tempfile::tempdir().unwrap();
        let cp = target.path().join("cp");
        let weak = Arc::downgrade(&engine);
        let compacted = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&compacted);
        let cp_dir = cp.clone();
        fs.on_create(move |path| {
            let first_copy = path.parent() == Some(cp_dir.as_path())
                && path.extension().is_some_and(|e| e == "sst");
            if !first_copy || flag.swap(true, Ordering::SeqCst) {
                return;
            }
            let engine = weak.upgrade().unwrap();
            let reservation = engine.reserve_compaction(Some(0)).unwrap();
            engine.run_reserved_compaction(reservation).unwrap();
            engine.purge_obsolete_files().unwrap();
        });
        fs.fail_hard_links(true);
        let info = engine.checkpoint(&cp).unwrap();
        assert!(compacted.load(Ordering::SeqCst), "the hook never ran");
        assert_eq!(info.copied, 3);
        let on_disk = table_numbers(&engine);
        assert!(inputs.iter().all(|n| on_disk.contains(n)), "{on_disk:?}");
        engine.purge_obsolete_files().unwrap();
        assert_eq!(table_numbers(&engine).len(), 1, "purged once it returned");
        let copy = open_checkpoint(&cp);
        assert_eq!(scan(&copy), [("k".to_string(), "3".to_string())]);
        assert_eq!(copy.view().version.files_at(0).len(), 3);
    }

    /// A closed engine refuses; so does a checkpoint racing `close`: it
    /// either finishes before `close` releases the directory or fails
    /// with `Closed`.
    #[test]
    fn a_closed_engine_refuses_checkpoints() {
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        engine.close().unwrap();
        let target = tempfile::tempdir().unwrap();
        let err = engine.checkpoint(&target.path().join("cp")).unwrap_err();
        assert!(err.is_closed(), "{err}");
        assert!(
            !target.path().join("cp").exists(),
            "created before refusing"
        );
    }

    /// The checkpoint opens read-only too (no lock, nothing written), with
    /// the same answers.
    #[test]
    fn a_checkpoint_opens_read_only() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        freeze_and_flush(&engine, &mut freezer);
        let target = tempfile::tempdir().unwrap();
        let info = engine.checkpoint(target.path()).unwrap();
        let store = ReadOnlyStore::open(small_config(target.path())).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.stats().unwrap().last_seq, info.seq);
    }

    /// A failed checkpoint leaves the source engine writable: it only reads
    /// the store's files.
    #[test]
    fn a_failed_checkpoint_does_not_poison_the_store() {
        let (_dir, fs, engine) = open_faulty();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        freeze_and_flush(&engine, &mut freezer);
        fs.target(Some("MANIFEST"));
        fs.fail_syncs(true);
        let target = tempfile::tempdir().unwrap();
        let err = engine.checkpoint(target.path()).unwrap_err();
        fs.fail_syncs(false);
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(engine.check_writable().is_ok());
        assert_eq!(put(&engine, "b", "2"), 2);
    }
}
