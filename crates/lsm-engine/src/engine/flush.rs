//! Flushing: writing the oldest frozen memtable to an L0 table.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use lsm_compaction::{flush_to_tables, OutputContext};
use lsm_manifest::{Version, VersionEdit};
use lsm_memtable::Memtable;
use lsm_wal::{list_segments, segment_file_name};
use parking_lot::MutexGuard;

use super::stall::micros;
use super::{io_err, Catalog, Engine};
use crate::error::Result;
use crate::read::ReadView;

impl Engine {
    /// Flushes the oldest frozen memtable to an L0 table, logs the edit
    /// (which also moves the WAL's oldest needed segment past it), installs
    /// the new version and deletes the WAL segments it made obsolete. False
    /// if nothing was frozen. A failure poisons the store.
    ///
    /// Emits `lsm.flush.start` and `lsm.flush.end` (debug; see
    /// `docs/observability.md`).
    pub fn flush_oldest_immutable(&self) -> Result<bool> {
        let _flushing = self.flushing.lock();
        let result = self.flush_oldest_locked();
        self.poison_on_err("memtable flush", result)
    }

    fn flush_oldest_locked(&self) -> Result<bool> {
        let view = self.view();
        let Some(oldest) = view.imm.last().cloned() else {
            return Ok(false);
        };
        let frozen = view.imm.len();
        drop(view);
        let started = Instant::now();
        tracing::debug!(
            name: "lsm.flush.start",
            dir = %self.dir.display(),
            memtable_bytes = oldest.mem.approximate_bytes(),
            entries = oldest.mem.len(),
            frozen_memtables = frozen,
            "flush started"
        );
        // The memtable's entries bound its distinct keys: the table's
        // filter is set as the keys come instead of from a hash of each
        // kept until the end (3.6 MiB for a 64 MiB memtable, held with it).
        let table_options = lsm_sstable::TableOptions {
            filter_capacity: Some(oldest.mem.len() as u64),
            ..self.config.table_options()
        };
        let mut new_number = || self.catalog.lock().manifest.new_file_number();
        let ctx = OutputContext {
            fs: &self.fs,
            dir: &self.dir,
            table_options: &table_options,
            target_file_bytes: u64::MAX,
            snapshots: self.snapshots.sequence_numbers(),
            new_file_number: &mut new_number,
        };
        // One table, or several for a memtable of keys near the key limit
        // (`flush_to_tables`).
        let outputs = flush_to_tables(&mut oldest.mem.iter(), ctx)?;
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
        let written: u64 = outputs.iter().map(|f| f.file_bytes).sum();
        // The first table's number (the event's field).
        let table = outputs.first().map(|f| f.number);
        let tables = outputs.len();
        for file in outputs {
            edit.added.push((0, file));
        }
        let range_tombstones = oldest.mem.range_tombstones();
        {
            let mut catalog = self.catalog.lock();
            if let Some(last) = edit.last_seq {
                edit.last_seq = Some(last.max(catalog.manifest.last_seq()));
            }
            // The memtable's range deletes join the catalog with its table
            // (one edit), unless a replayed WAL brought one already there.
            let current = catalog.manifest.current();
            let held = current.range_tombstones();
            edit.added_range_tombstones = range_tombstones
                .tombstones()
                .filter(|t| !held.contains_seq(t.seq))
                .cloned()
                .collect();
            drop(current);
            let version = catalog.manifest.log_and_apply(edit)?;
            self.install(&catalog, version, Some(&oldest.mem));
        }
        // The frozen memtable goes now (unless a reader still holds it),
        // not after the WAL segments are deleted (18-20 ms for one 64 MiB
        // segment in a profiled fill).
        let next_wal_segment = oldest.next_wal_segment;
        drop(oldest);
        self.record_flush_intake();
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.counters
            .flush_bytes_written
            .fetch_add(written, Ordering::Relaxed);
        self.delete_wal_segments_before(next_wal_segment)?;
        self.collect_range_tombstones()?;
        tracing::debug!(
            name: "lsm.flush.end",
            dir = %self.dir.display(),
            table,
            tables,
            table_bytes = written,
            wal_segment = next_wal_segment,
            duration_us = micros(started.elapsed()),
            "flush finished"
        );
        Ok(true)
    }

    /// Records what the active memtable took in while the flush that just
    /// released its memtable ran ([`Engine::memory_ahead`]): all it holds,
    /// if the flushed memtable was the last frozen one (the active one is
    /// its successor, started empty at the freeze); else the budget, as
    /// flushes fall behind the writers.
    fn record_flush_intake(&self) {
        let view = self.view();
        let intake = if view.imm.is_empty() {
            view.mem.approximate_bytes()
        } else {
            self.config.memtable_bytes
        };
        self.flush_intake_bytes
            .store(intake.max(1), Ordering::Relaxed);
    }

    /// Publishes a view with `version` and without the flushed memtable.
    /// The catalog guard is the proof that versions are installed in the
    /// order their edits were logged. (`Version::apply`, which made
    /// `version`, checked its invariants; with the `invariants` feature a
    /// violation panicked there.)
    pub(super) fn install(
        &self,
        _catalog: &MutexGuard<'_, Catalog>,
        version: Arc<Version>,
        flushed: Option<&Arc<Memtable>>,
    ) {
        self.slowdown.observe(version.files_at(0).len());
        let mut view = self.view.write();
        let imm = view
            .imm
            .iter()
            .filter(|m| flushed.is_none_or(|f| !Arc::ptr_eq(&m.mem, f)))
            .cloned()
            .collect();
        *view = Arc::new(ReadView::new(Arc::clone(&view.mem), imm, version));
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

#[cfg(test)]
mod tests {

    use super::super::test_support::{
        delete, get, open_faulty, open_small, put, small_config, table_numbers,
    };
    use super::super::Engine;
    use super::*;

    fn segments(engine: &Engine) -> Vec<u64> {
        list_segments(engine.fs.as_ref(), &engine.dir).unwrap()
    }

    fn wal_segment_in_manifest(engine: &Engine) -> u64 {
        engine.catalog.lock().manifest.wal_segment()
    }

    #[test]
    fn nothing_frozen_nothing_flushed() {
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        assert!(!engine.flush_oldest_immutable().unwrap());
        assert_eq!(engine.stats().unwrap().flushes, 0);
        assert!(table_numbers(&engine).is_empty());
    }

    /// Each flush writes the oldest frozen memtable to one L0 table, moves
    /// the manifest's `wal_segment` to the segment created when that
    /// memtable was frozen, and deletes the segments below it (and only
    /// those).
    #[test]
    fn a_flush_moves_wal_segment_and_deletes_the_segments_below() {
        let (dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let first_segment = engine.wal.current_segment();
        put(&engine, "a", "1");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        put(&engine, "b", "2");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        put(&engine, "c", "3");
        let view = engine.view();
        let (newer, older) = (&view.imm[0], &view.imm[1]);
        assert!(first_segment < older.next_wal_segment);
        assert!(older.next_wal_segment < newer.next_wal_segment);
        let all = segments(&engine);
        assert_eq!(all.first(), Some(&first_segment));
        assert_eq!(all.last(), Some(&newer.next_wal_segment));
        assert!(wal_segment_in_manifest(&engine) <= first_segment);

        assert!(engine.flush_oldest_immutable().unwrap());
        assert_eq!(wal_segment_in_manifest(&engine), older.next_wal_segment);
        assert!(segments(&engine)
            .iter()
            .all(|&n| n >= older.next_wal_segment));
        assert!(segments(&engine).contains(&older.next_wal_segment));
        let after = engine.view();
        assert_eq!(after.imm.len(), 1);
        assert!(Arc::ptr_eq(&after.imm[0].mem, &newer.mem), "oldest first");
        let l0 = after.version.files_at(0);
        assert_eq!(l0.len(), 1);
        assert_eq!((l0[0].entries, l0[0].max_seq), (1, 1), "only a@1");
        assert_eq!(table_numbers(&engine), [l0[0].number]);

        assert!(engine.flush_oldest_immutable().unwrap());
        assert_eq!(wal_segment_in_manifest(&engine), newer.next_wal_segment);
        assert_eq!(segments(&engine), [newer.next_wal_segment]);
        assert_eq!(engine.view().version.files_at(0).len(), 2);
        assert_eq!(engine.stats().unwrap().flushes, 2);
        assert_eq!(engine.catalog.lock().manifest.last_seq(), 2);
        drop(view);

        // Nothing is lost or replayed twice: a reopen reads the tables and
        // replays only the live segment (c).
        engine.close().unwrap();
        drop(freezer);
        drop(engine);
        let engine = Engine::open(small_config(dir.path())).unwrap();
        assert_eq!(engine.view().mem.len(), 1);
        assert_eq!(engine.view().version.files_at(0).len(), 2);
        for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
            assert_eq!(get(&engine, key).as_deref(), Some(value));
        }
    }

    /// A flush keeps, per key, the newest entry and the newest entry
    /// each live snapshot can read (tombstones too: older data may lie
    /// below), and drops the rest.
    #[test]
    fn a_flush_keeps_only_the_versions_someone_can_read() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "k", "1");
        put(&engine, "k", "2");
        let snapshot = engine.snapshot().unwrap();
        put(&engine, "k", "3");
        put(&engine, "k", "4");
        put(&engine, "gone", "x");
        delete(&engine, "gone");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        assert!(engine.flush_oldest_immutable().unwrap());
        let view = engine.view();
        let table = &view.version.files_at(0)[0];
        // k@4, k@2 (the snapshot's), gone's tombstone.
        assert_eq!((table.entries, table.tombstones), (3, 1));
        assert_eq!(
            engine.get_at(b"k", snapshot.seq()).unwrap(),
            Some(b"2".to_vec())
        );
        assert_eq!(get(&engine, "k").as_deref(), Some("4"));
        assert_eq!(get(&engine, "gone"), None);
    }

    /// A flush sizes its table's filter for the memtable's entries (an
    /// upper bound on its distinct keys), set as the keys come; the
    /// filter still counts, and finds, the distinct keys.
    #[test]
    fn a_flush_sizes_the_filter_for_the_memtable_entries() {
        use lsm_compaction::TableSource;

        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for i in 0..200 {
            put(&engine, "k", &i.to_string());
        }
        put(&engine, "a", "1");
        put(&engine, "b", "2");
        let entries = engine.view().mem.len() as u64;
        assert_eq!(entries, 202);
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        assert!(engine.flush_oldest_immutable().unwrap());
        let file = engine.view().version.files_at(0)[0].clone();
        assert_eq!(file.entries, 3, "only the newest version of k");
        let info = engine.tables.table(&file).unwrap().filter_info().unwrap();
        let bits_per_key = u64::from(engine.config().bloom_bits_per_key);
        assert_eq!(info.keys, 3);
        assert_eq!(info.bits, (entries * bits_per_key).div_ceil(512) * 512);
        assert!(info.bits > (3 * bits_per_key).div_ceil(512) * 512);
        for (key, value) in [("k", "199"), ("a", "1"), ("b", "2")] {
            assert_eq!(get(&engine, key).as_deref(), Some(value));
        }
    }

    #[test]
    fn a_failed_flush_poisons_and_keeps_the_memtable() {
        let (_dir, fs, engine) = open_faulty();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        let segments_before = segments(&engine);
        fs.target(Some(".sst"));
        fs.fail_appends(true);
        assert!(engine.flush_oldest_immutable().is_err());
        fs.fail_appends(false);
        assert!(engine.check_writable().unwrap_err().is_poisoned());
        assert_eq!(engine.immutable_count(), 1);
        assert_eq!(engine.view().version.num_files(), 0);
        assert!(table_numbers(&engine).is_empty(), "partial output removed");
        assert_eq!(segments(&engine), segments_before, "no segment deleted");
        assert_eq!(get(&engine, "a").as_deref(), Some("1"));
    }
}
