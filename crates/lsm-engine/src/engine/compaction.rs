//! Compaction: reserving inputs, running the merge, installing the result
//! and deleting the tables no version references any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use lsm_compaction::{
    choose_level_compaction, level_scores, pick_compaction, run_compaction, CompactionChoice,
    CompactionOutcome, OutputContext, TableSource,
};
use lsm_core::Error as CoreError;
use lsm_manifest::Version;

use super::{io_err, Engine};
use crate::error::Result;

/// A compaction picked and its input tables reserved (no other compaction
/// takes them) until it is run with [`Engine::run_reserved_compaction`] or
/// dropped... which does not release them: run it.
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
            None => pick_compaction(&version, &self.config.level_shape(), &catalog.busy),
        }?;
        catalog.busy.extend(choice.input_numbers());
        Some(CompactionReservation { choice, version })
    }

    /// Runs a reserved compaction (table I/O outside every lock), then logs
    /// and installs its edit, and deletes the input tables no live version
    /// references any more. Takes the choice and version by value so their
    /// references to the inputs are gone before that purge. A failure
    /// poisons the store.
    pub fn run_reserved_compaction(
        &self,
        reservation: CompactionReservation,
    ) -> Result<CompactionReport> {
        let CompactionReservation { choice, version } = reservation;
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
            self.install(&catalog, new_version, None);
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

    /// The picker's score of every level (1.0 or more: due for compaction).
    pub fn compaction_scores(&self) -> Vec<f64> {
        level_scores(&self.view().version, &self.config.level_shape())
    }
}
