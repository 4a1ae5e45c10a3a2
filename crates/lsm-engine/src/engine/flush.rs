//! Flushing: writing the oldest frozen memtable to an L0 table.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use lsm_compaction::{flush_to_table, OutputContext};
use lsm_manifest::{Version, VersionEdit};
use lsm_memtable::Memtable;
use lsm_wal::{list_segments, segment_file_name};
use parking_lot::MutexGuard;

use super::{io_err, Catalog, Engine};
use crate::error::Result;
use crate::read::SuperVersion;

impl Engine {
    /// Flushes the oldest frozen memtable to an L0 table, logs the edit
    /// (which also moves the WAL's oldest needed segment past it), installs
    /// the new version and deletes the WAL segments it made obsolete. False
    /// if nothing was frozen. A failure poisons the store.
    pub fn flush_oldest_immutable(&self) -> Result<bool> {
        let _flushing = self.flushing.lock();
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
            self.install(&catalog, version, Some(&oldest.mem));
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.counters
            .flush_bytes_written
            .fetch_add(written, Ordering::Relaxed);
        self.delete_wal_segments_before(oldest.next_wal_segment)?;
        Ok(true)
    }

    /// Publishes a view with `version` and without the flushed memtable.
    /// The catalog guard is the proof that versions are installed in the
    /// order their edits were logged.
    pub(super) fn install(
        &self,
        _catalog: &MutexGuard<'_, Catalog>,
        version: Arc<Version>,
        flushed: Option<&Arc<Memtable>>,
    ) {
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
}
