//! Compaction: reserving inputs, running the merge, installing the result
//! and deleting the tables no version references any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use lsm_compaction::{
    choose_level_compaction, level_scores, pick_compaction, pick_range_delete_compaction,
    run_compaction, CompactionChoice, CompactionOutcome, OutputContext, TableSource,
};
use lsm_core::{Error as CoreError, SeqNo};
use lsm_manifest::Version;

use super::stall::micros;
use super::{io_err, Engine};
use crate::error::Result;

/// A compaction picked and its input tables reserved (no other compaction
/// takes them) until it is run with [`Engine::run_reserved_compaction`] or
/// handed back with [`Engine::release_compaction`]. Dropping it does not
/// release them.
#[derive(Debug)]
pub struct CompactionReservation {
    choice: CompactionChoice,
    /// The version the choice was made in (it keeps the inputs alive).
    version: Arc<Version>,
}

impl CompactionReservation {
    /// The level whose tables are compacted into the next one.
    pub fn level(&self) -> usize {
        self.choice.level
    }
}

/// What a compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of output tables written.
    pub bytes_written: u64,
    /// The input moved down a level without being rewritten.
    pub trivial_move: bool,
}

impl Engine {
    /// Picks the compaction the tree needs most (or the manual compaction of
    /// `level`) and reserves its input files. `None` if nothing is due or
    /// the inputs are busy.
    pub fn reserve_compaction(&self, manual_level: Option<usize>) -> Option<CompactionReservation> {
        let mut catalog = self.catalog.lock();
        let version = catalog.manifest.current();
        let choice = match manual_level {
            Some(level) => choose_level_compaction(&version, level, &catalog.busy),
            None => {
                pick_compaction(&version, &self.config.level_shape(), &catalog.busy).or_else(|| {
                    let oldest_reader = self.oldest_reader();
                    pick_range_delete_compaction(&version, &catalog.busy, oldest_reader, |n| {
                        catalog.clean_under(n)
                    })
                })
            }
        }?;
        catalog.busy.extend(choice.input_numbers());
        Some(CompactionReservation { choice, version })
    }

    /// Hands a reservation back without running it: its input tables are
    /// free for other compactions again.
    pub fn release_compaction(&self, reservation: CompactionReservation) {
        self.unmark_busy(&reservation.choice);
    }

    /// Hands `choice`'s input tables back: other compactions may take them.
    fn unmark_busy(&self, choice: &CompactionChoice) {
        let mut catalog = self.catalog.lock();
        for number in choice.input_numbers() {
            catalog.busy.remove(&number);
        }
    }

    /// Runs a reserved compaction (table I/O outside every lock), then logs
    /// and installs its edit, and deletes the input tables no live version
    /// references any more. Takes the choice and version by value so their
    /// references to the inputs are gone before that purge. A failure
    /// poisons the store.
    ///
    /// Emits `lsm.compaction.start` and `lsm.compaction.end` (debug; see
    /// `docs/observability.md`).
    pub fn run_reserved_compaction(
        &self,
        reservation: CompactionReservation,
    ) -> Result<CompactionReport> {
        let CompactionReservation { choice, version } = reservation;
        let started = Instant::now();
        tracing::debug!(
            name: "lsm.compaction.start",
            dir = %self.dir.display(),
            level = choice.level,
            output_level = choice.output_level,
            inputs = choice.inputs.len(),
            overlapping = choice.overlapping.len(),
            input_bytes = choice.input_bytes(),
            score = choice.score,
            trivial_move = choice.is_trivial_move(),
            "compaction started"
        );
        let (level, output_level) = (choice.level, choice.output_level);
        let inputs = choice.inputs.len() + choice.overlapping.len();
        let result = self.run_reserved_locked(&choice, &version);
        self.unmark_busy(&choice);
        drop(choice);
        drop(version);
        let outcome = self.poison_on_err("compaction", result)?;
        // A failure here (the inputs installed away could not be deleted)
        // fails the compaction like any of its I/O: the store is poisoned,
        // and the next open's sweep removes the tables left behind.
        let purged = self.purge_obsolete_files();
        self.poison_on_err("deleting compacted tables", purged)?;
        let collected = self.collect_range_tombstones();
        self.poison_on_err("collecting range deletes", collected)?;
        tracing::debug!(
            name: "lsm.compaction.end",
            dir = %self.dir.display(),
            level,
            output_level,
            inputs,
            outputs = outcome.outputs.len(),
            bytes_read = outcome.bytes_read,
            bytes_written = outcome.bytes_written,
            trivial_move = outcome.trivial_move,
            duration_us = micros(started.elapsed()),
            "compaction finished"
        );
        Ok(CompactionReport {
            bytes_read: outcome.bytes_read,
            bytes_written: outcome.bytes_written,
            trivial_move: outcome.trivial_move,
        })
    }

    fn run_reserved_locked(
        &self,
        choice: &CompactionChoice,
        version: &Version,
    ) -> Result<CompactionOutcome> {
        let table_options = self.config.table_options();
        let mut new_number = || self.catalog.lock().manifest.new_file_number();
        let snapshots = self.snapshots.sequence_numbers();
        // The outputs hold nothing the tombstones no snapshot predates hide.
        let oldest_snapshot = snapshots.iter().copied().min().unwrap_or(u64::MAX);
        let clean_under = version
            .range_tombstones()
            .tombstones()
            .map(|t| t.seq)
            .filter(|&seq| seq <= oldest_snapshot)
            .max();
        let ctx = OutputContext {
            fs: &self.fs,
            dir: &self.dir,
            table_options: &table_options,
            target_file_bytes: self.config.table_target_bytes,
            snapshots,
            new_file_number: &mut new_number,
        };
        let source: Arc<dyn TableSource> = Arc::clone(&self.tables) as Arc<dyn TableSource>;
        let outcome = run_compaction(choice, version, &source, ctx)?;
        {
            let mut catalog = self.catalog.lock();
            let new_version = catalog.manifest.log_and_apply(outcome.edit.clone())?;
            self.install(&catalog, new_version, None);
            if !outcome.trivial_move {
                catalog
                    .obsolete
                    .extend(choice.all_inputs().map(|(_, f)| Arc::clone(f)));
                for (_, input) in choice.all_inputs() {
                    catalog.clean_under.remove(&input.number);
                }
                if let Some(seq) = clean_under {
                    for output in &outcome.outputs {
                        catalog.clean_under.insert(output.number, seq);
                    }
                }
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

    /// The smallest sequence number a reader may read at: the oldest live
    /// snapshot's, or `u64::MAX` (readers without a snapshot read at the
    /// watermark, which covers every flushed write).
    pub(super) fn oldest_reader(&self) -> SeqNo {
        self.snapshots
            .sequence_numbers()
            .into_iter()
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The picker's score of every level (1.0 or more: due for compaction).
    pub fn compaction_scores(&self) -> Vec<f64> {
        level_scores(&self.view().version, &self.config.level_shape())
    }

    /// The number of tables in L0 now.
    pub fn l0_tables(&self) -> usize {
        self.view().version.files_at(0).len()
    }
}

#[cfg(test)]
mod tests {

    use super::super::test_support::{
        freeze_and_flush, get, open_faulty, open_small, put, scan, table_numbers,
    };
    use super::*;

    fn compact(engine: &Engine, level: Option<usize>) -> CompactionReport {
        let reservation = engine.reserve_compaction(level).unwrap();
        engine.run_reserved_compaction(reservation).unwrap()
    }

    fn numbers_at(engine: &Engine, level: usize) -> Vec<u64> {
        let view = engine.view();
        view.version
            .files_at(level)
            .iter()
            .map(|f| f.number)
            .collect()
    }

    /// The level-0 tables of a fill in key order share no key: they move
    /// to level 1 together, nothing read or written, every key still found.
    /// Two tables sharing a key are merged instead.
    #[test]
    fn disjoint_level_0_tables_move_down_together_and_overlapping_ones_merge() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for table in 0..3 {
            for i in 0..10 {
                put(&engine, &format!("k{table}{i:02}"), &format!("v{table}"));
            }
            freeze_and_flush(&engine, &mut freezer);
        }
        let l0 = numbers_at(&engine, 0);
        assert_eq!(l0.len(), 3);
        let moved = compact(&engine, Some(0));
        assert!(moved.trivial_move);
        assert_eq!((moved.bytes_read, moved.bytes_written), (0, 0));
        assert!(numbers_at(&engine, 0).is_empty());
        let mut l1 = numbers_at(&engine, 1);
        l1.sort_unstable();
        let mut expected = l0;
        expected.sort_unstable();
        assert_eq!(l1, expected, "the same tables, one level down");
        for table in 0..3 {
            for i in 0..10 {
                let key = format!("k{table}{i:02}");
                assert_eq!(get(&engine, &key), Some(format!("v{table}")), "{key}");
            }
        }

        // Two level-0 tables both holding "z": a merge.
        put(&engine, "z", "old");
        freeze_and_flush(&engine, &mut freezer);
        put(&engine, "z", "new");
        freeze_and_flush(&engine, &mut freezer);
        let merged = compact(&engine, Some(0));
        assert!(!merged.trivial_move);
        assert_eq!(get(&engine, "z"), Some("new".to_string()));
    }

    /// A reservation's inputs (and the output-level tables they overlap)
    /// are busy: no other reservation takes them until it has run; a
    /// compaction of other tables can be reserved meanwhile.
    #[test]
    fn a_reservations_inputs_are_busy_until_it_has_run() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        freeze_and_flush(&engine, &mut freezer);
        assert!(compact(&engine, Some(0)).trivial_move); // a at L1
        put(&engine, "m", "1");
        freeze_and_flush(&engine, &mut freezer); // m at L0

        let l1 = engine.reserve_compaction(Some(1)).unwrap();
        assert_eq!(l1.level(), 1);
        assert!(engine.reserve_compaction(Some(1)).is_none(), "L1 busy");
        let l0 = engine.reserve_compaction(Some(0)).unwrap();
        assert_eq!(l0.level(), 0, "disjoint from the busy L1 table");
        assert!(engine.reserve_compaction(Some(0)).is_none(), "L0 busy");
        assert_eq!(engine.catalog.lock().busy.len(), 2);
        engine.run_reserved_compaction(l1).unwrap();
        assert!(
            engine.reserve_compaction(Some(0)).is_none(),
            "L0 still busy"
        );
        engine.run_reserved_compaction(l0).unwrap();
        assert!(engine.catalog.lock().busy.is_empty());
        assert_eq!(numbers_at(&engine, 1).len(), 1);
        assert_eq!(numbers_at(&engine, 2).len(), 1);

        // An L0 compaction whose output range overlaps a busy L1 table.
        put(&engine, "m", "2");
        freeze_and_flush(&engine, &mut freezer);
        let l1 = engine.reserve_compaction(Some(1)).unwrap();
        assert!(engine.reserve_compaction(Some(0)).is_none());
        engine.run_reserved_compaction(l1).unwrap();
        assert!(engine.reserve_compaction(Some(0)).is_some());
    }

    /// The input tables of a merge are deleted once no reader's view holds
    /// them: an iterator opened before the compaction keeps them (and reads
    /// them) until it is dropped.
    #[test]
    fn obsolete_inputs_are_deleted_only_after_the_last_reader_drops() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        put(&engine, "b", "1");
        freeze_and_flush(&engine, &mut freezer);
        put(&engine, "b", "2");
        put(&engine, "c", "2");
        freeze_and_flush(&engine, &mut freezer);
        let inputs = table_numbers(&engine);
        assert_eq!(inputs.len(), 2);

        let mut reader = engine
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
            .unwrap();
        let report = compact(&engine, Some(0));
        assert!(!report.trivial_move);
        assert!(report.bytes_read > 0 && report.bytes_written > 0);
        let output = numbers_at(&engine, 1);
        assert_eq!(output.len(), 1);
        let on_disk = table_numbers(&engine);
        assert!(inputs.iter().all(|n| on_disk.contains(n)), "{on_disk:?}");
        assert_eq!(engine.catalog.lock().obsolete.len(), 2);
        engine.purge_obsolete_files().unwrap();
        assert_eq!(
            table_numbers(&engine).len(),
            3,
            "still read by the iterator"
        );

        let first = reader.next().unwrap().unwrap();
        assert_eq!(first, (b"a".to_vec(), b"1".to_vec()));
        let rest: Vec<_> = reader.by_ref().map(|r| r.unwrap().0).collect();
        assert_eq!(rest, [b"b".to_vec(), b"c".to_vec()]);
        drop(reader);
        assert_eq!(table_numbers(&engine).len(), 3, "deleted only by a purge");
        engine.purge_obsolete_files().unwrap();
        assert_eq!(table_numbers(&engine), output);
        assert!(engine.catalog.lock().obsolete.is_empty());
        assert_eq!(get(&engine, "b").as_deref(), Some("2"));

        // With no reader left, the compaction deletes its inputs itself.
        put(&engine, "d", "3");
        freeze_and_flush(&engine, &mut freezer);
        compact(&engine, Some(0));
        assert_eq!(table_numbers(&engine), numbers_at(&engine, 1));
    }

    /// A trivial move keeps the table's `Arc<FileMeta>`, so a reader whose
    /// view predates the move keeps the table alive through a later
    /// compaction of it. The reader opens the moved table only after that
    /// compaction (levels 1+ open their tables lazily), so the read needs
    /// the file itself. (A move that made a new `Arc` let the compaction
    /// delete the file while the old view still listed it.)
    #[test]
    fn a_reader_from_before_a_trivial_move_still_reads_the_moved_table() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        // L3: {m030}, an older version of a key of T below, so that
        // compacting L2 into L3 at the end is a merge, not a move.
        put(&engine, "m030", "old");
        freeze_and_flush(&engine, &mut freezer);
        for level in 0..3 {
            assert!(compact(&engine, Some(level)).trivial_move);
        }
        // L2: X = {a0}.
        put(&engine, "a0", "x");
        freeze_and_flush(&engine, &mut freezer);
        assert!(compact(&engine, Some(0)).trivial_move);
        assert!(compact(&engine, Some(1)).trivial_move);
        // L1: A = {a0, a5} (overlaps X), then T = {m000..m059} (overlaps
        // nothing below), together over L1's 4 KiB target.
        put(&engine, "a0", "y");
        put(&engine, "a5", "y");
        freeze_and_flush(&engine, &mut freezer);
        assert!(compact(&engine, Some(0)).trivial_move);
        let value = "v".repeat(100);
        let mut expected = vec![
            ("a0".to_string(), "y".to_string()),
            ("a5".to_string(), "y".to_string()),
        ];
        for i in 0..60 {
            let key = format!("m{i:03}");
            put(&engine, &key, &value);
            expected.push((key, value.clone()));
        }
        freeze_and_flush(&engine, &mut freezer);
        assert!(compact(&engine, Some(0)).trivial_move);
        let t = numbers_at(&engine, 1)[1];
        let t_before = Arc::clone(&engine.view().version.files_at(1)[1]);
        assert_eq!(t_before.number, t);

        // The reader's view has T at L1; its L1 cursor is inside A.
        let mut reader = engine
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
            .unwrap();
        let first = reader.next().unwrap().unwrap();
        assert_eq!(first, (b"a0".to_vec(), b"y".to_vec()));

        // The picker moves T (no overlap below) to L2, keeping its Arc ...
        let reservation = engine.reserve_compaction(None).unwrap();
        assert_eq!(reservation.level(), 1);
        assert!(
            engine
                .run_reserved_compaction(reservation)
                .unwrap()
                .trivial_move
        );
        assert_eq!(numbers_at(&engine, 2).len(), 2);
        let t_after = Arc::clone(&engine.view().version.files_at(2)[1]);
        assert_eq!(t_after.number, t);
        assert!(Arc::ptr_eq(&t_before, &t_after), "the move made a new Arc");
        drop((t_before, t_after));
        // ... then a merge of L2 (X and T) with L3 makes T obsolete.
        assert!(!compact(&engine, Some(2)).trivial_move);
        assert!(numbers_at(&engine, 2).is_empty());
        assert!(
            table_numbers(&engine).contains(&t),
            "deleted under a reader"
        );

        let rest: Vec<_> = reader
            .by_ref()
            .map(|r| {
                let (k, v) = r.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            })
            .collect();
        assert_eq!(rest, expected[1..]);
        drop(reader);
        engine.purge_obsolete_files().unwrap();
        assert!(!table_numbers(&engine).contains(&t));
        assert_eq!(scan(&engine), expected);
    }

    #[test]
    fn a_failed_compaction_poisons_and_releases_its_inputs() {
        let (_dir, fs, engine) = open_faulty();
        let mut freezer = engine.freezer().unwrap();
        for value in ["1", "2"] {
            put(&engine, "a", value);
            freeze_and_flush(&engine, &mut freezer);
        }
        let before = table_numbers(&engine);
        let reservation = engine.reserve_compaction(Some(0)).unwrap();
        fs.target(Some(".sst"));
        fs.fail_appends(true);
        assert!(engine.run_reserved_compaction(reservation).is_err());
        fs.fail_appends(false);
        assert!(engine.check_writable().unwrap_err().is_poisoned());
        assert!(engine.catalog.lock().busy.is_empty());
        assert_eq!(numbers_at(&engine, 0).len(), 2, "version unchanged");
        assert_eq!(table_numbers(&engine), before, "partial output removed");
        assert_eq!(get(&engine, "a").as_deref(), Some("2"));
    }
}
