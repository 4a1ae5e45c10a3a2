//! Range deletes in the catalog: flushing them, deleting the tables they
//! empty and dropping them once nothing older is left to hide.
//!
//! A range delete lives in its memtable until that memtable is flushed;
//! the flush's edit moves it into the manifest (`Version::range_tombstones`,
//! manifest tags 9 and 10), where it hides older versions in every table
//! until compaction has dropped them. After each flush and compaction,
//! [`Engine::collect_range_tombstones`]:
//! - deletes every table whose whole key range lies inside a tombstone that
//!   is newer than all of the table's versions and that every reader sees
//!   (no live snapshot predates it): the table holds nothing any reader
//!   can see (how a dropped keyspace's own tables go at once);
//! - removes from the catalog every tombstone no table can hold older data
//!   for (no table overlapping its range has a version older than it, or
//!   such a table was written by a compaction that already dropped what
//!   the tombstone hides): memtables hold only newer writes, so it hides
//!   nothing any more.
//!
//! When no level is due for compaction, the picker's fallback
//! (`lsm_compaction::pick_range_delete_compaction`) rewrites the tables
//! that may still hold hidden data, the last level's in place, so deleted
//! ranges are reclaimed without waiting for the tree to grow.

use std::collections::HashSet;
use std::sync::Arc;

use lsm_manifest::VersionEdit;

use super::Engine;
use crate::error::Result;

impl Engine {
    /// Deletes the tables range deletes emptied and drops the range deletes
    /// nothing is left to hide from the catalog (one manifest edit, none
    /// if there is nothing to do).
    pub(super) fn collect_range_tombstones(&self) -> Result<()> {
        if self.view().version.range_tombstones().is_empty() {
            return Ok(());
        }
        let oldest_reader = self.oldest_reader();
        let mut catalog = self.catalog.lock();
        let version = catalog.manifest.current();
        let tombstones = Arc::clone(version.range_tombstones());
        let mut edit = VersionEdit::default();
        let mut deleted: HashSet<u64> = HashSet::new();
        for tombstone in tombstones.tombstones() {
            if tombstone.seq > oldest_reader {
                continue;
            }
            for (level, file) in version.all_files() {
                let inside = tombstone.start.as_slice() <= file.smallest_user_key()
                    && file.largest_user_key() < tombstone.end.as_slice();
                if inside
                    && file.max_seq < tombstone.seq
                    && !catalog.busy.contains(&file.number)
                    && deleted.insert(file.number)
                {
                    edit.removed.push((level, file.number));
                }
            }
        }
        for tombstone in tombstones.tombstones() {
            let still_hides = version.all_files().any(|(_, file)| {
                !deleted.contains(&file.number)
                    && file.min_seq < tombstone.seq
                    && catalog.clean_under(file.number) < tombstone.seq
                    && tombstone.overlaps(file.smallest_user_key(), file.largest_user_key())
            });
            if !still_hides {
                edit.removed_range_tombstones.push(tombstone.seq);
            }
        }
        if edit.is_empty() {
            return Ok(());
        }
        let obsolete: Vec<_> = version
            .all_files()
            .filter(|(_, file)| deleted.contains(&file.number))
            .map(|(_, file)| Arc::clone(file))
            .collect();
        tracing::debug!(
            name: "lsm.range_delete.collect",
            dir = %self.dir.display(),
            tables_deleted = edit.removed.len(),
            range_tombstones_dropped = edit.removed_range_tombstones.len(),
            "range deletes collected"
        );
        let new_version = catalog.manifest.log_and_apply(edit)?;
        self.install(&catalog, new_version, None);
        for file in &obsolete {
            catalog.clean_under.remove(&file.number);
        }
        catalog.obsolete.extend(obsolete);
        drop(catalog);
        drop(version);
        self.purge_obsolete_files()
    }
}

#[cfg(test)]
mod tests {
    use lsm_core::WriteBatch;

    use super::super::test_support::{
        freeze_and_flush, get, open_small, put, scan, small_config, table_numbers,
    };
    use super::*;

    fn delete_range(engine: &Engine, start: &str, end: &str) -> u64 {
        let mut batch = WriteBatch::new();
        batch.delete_range(start, end);
        engine.write(&batch).unwrap().last_seq
    }

    fn keys(engine: &Engine) -> Vec<String> {
        scan(engine).into_iter().map(|(k, _)| k).collect()
    }

    fn compact_all(engine: &Engine) {
        for level in 0..engine.config().num_levels - 1 {
            if let Some(reservation) = engine.reserve_compaction(Some(level)) {
                engine.run_reserved_compaction(reservation).unwrap();
            }
        }
    }

    /// A range delete hides older versions in every layer (active and
    /// frozen memtables, tables), for get and scan; writes after it and
    /// keys outside it stay; a snapshot from before it still reads them.
    #[test]
    fn a_range_delete_hides_older_versions_in_every_layer() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for key in ["a", "b", "c"] {
            put(&engine, key, "table");
        }
        freeze_and_flush(&engine, &mut freezer);
        put(&engine, "d", "frozen");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        put(&engine, "e", "active");
        put(&engine, "f", "outside");
        let before = engine.snapshot().unwrap();
        delete_range(&engine, "b", "f");
        put(&engine, "c", "after");
        assert_eq!(keys(&engine), ["a", "c", "f"]);
        assert_eq!(get(&engine, "b"), None);
        assert_eq!(get(&engine, "c").as_deref(), Some("after"));
        assert_eq!(get(&engine, "d"), None, "frozen memtable");
        assert_eq!(get(&engine, "e"), None, "active memtable");
        assert_eq!(
            get(&engine, "f").as_deref(),
            Some("outside"),
            "end is exclusive"
        );
        assert_eq!(
            engine.get_at(b"b", before.seq()).unwrap(),
            Some(b"table".to_vec())
        );
        // Flushed: the tombstone moves into the catalog; same answers.
        freeze_and_flush(&engine, &mut freezer);
        assert_eq!(engine.view().version.range_tombstones().len(), 1);
        assert_eq!(keys(&engine), ["a", "c", "f"]);
        assert_eq!(
            engine.get_at(b"d", before.seq()).unwrap(),
            Some(b"frozen".to_vec())
        );
    }

    /// Compaction drops what the tombstone hides once no snapshot needs
    /// it, even in the last level (the picker's range-delete fallback
    /// rewrites it in place); then the tombstone leaves the catalog. A live
    /// snapshot keeps both.
    #[test]
    fn compaction_drops_hidden_versions_and_then_the_tombstone() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for i in 0..50 {
            put(&engine, &format!("k{i:02}"), "v");
        }
        freeze_and_flush(&engine, &mut freezer);
        let snapshot = engine.snapshot().unwrap();
        delete_range(&engine, "k10", "k40");
        freeze_and_flush(&engine, &mut freezer);
        compact_all(&engine);
        assert_eq!(
            engine.view().version.range_tombstones().len(),
            1,
            "the snapshot still reads the hidden keys"
        );
        assert_eq!(
            engine.get_at(b"k20", snapshot.seq()).unwrap(),
            Some(b"v".to_vec())
        );
        drop(snapshot);
        put(&engine, "z", "1");
        freeze_and_flush(&engine, &mut freezer);
        // What a store runs after a flush: compactions while the picker
        // finds one; with no level due, it rewrites the tables the
        // tombstone may still hide data in (the last level's in place).
        let mut rounds = 0;
        while let Some(reservation) = engine.reserve_compaction(None) {
            engine.run_reserved_compaction(reservation).unwrap();
            rounds += 1;
            assert!(rounds < 20, "the picker keeps choosing work");
        }
        assert!(rounds > 0, "the range delete made work for the picker");
        let view = engine.view();
        assert!(view.version.range_tombstones().is_empty(), "collected");
        let entries: u64 = view.version.all_files().map(|(_, f)| f.entries).sum();
        assert_eq!(entries, 21, "20 keys outside the range and z");
        assert_eq!(keys(&engine).len(), 21);
        assert_eq!(get(&engine, "k25"), None);
    }

    /// A table whose every key lies inside a tombstone newer than it is
    /// deleted as soon as the tombstone is flushed, without a compaction.
    #[test]
    fn a_table_inside_a_range_delete_is_deleted_at_flush() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for i in 0..10 {
            put(&engine, &format!("m{i}"), "v");
        }
        freeze_and_flush(&engine, &mut freezer);
        let doomed = table_numbers(&engine);
        assert_eq!(doomed.len(), 1);
        put(&engine, "a", "kept");
        delete_range(&engine, "m", "n");
        freeze_and_flush(&engine, &mut freezer);
        let left = table_numbers(&engine);
        assert!(
            !left.contains(&doomed[0]),
            "table {doomed:?} still there: {left:?}"
        );
        assert_eq!(keys(&engine), ["a"]);
        assert!(
            engine.view().version.range_tombstones().is_empty(),
            "nothing older is left to hide"
        );
    }

    /// A range delete survives a reopen from the WAL (not flushed) and from
    /// the manifest (flushed).
    #[test]
    fn range_deletes_survive_reopen_from_wal_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = Arc::new(Engine::open(small_config(dir.path())).unwrap());
            let mut freezer = engine.freezer().unwrap();
            for key in ["a", "b", "c", "d"] {
                put(&engine, key, "v");
            }
            freeze_and_flush(&engine, &mut freezer);
            delete_range(&engine, "a", "b");
            freeze_and_flush(&engine, &mut freezer);
            delete_range(&engine, "c", "d");
            engine.close().unwrap();
        }
        let engine = Engine::open(small_config(dir.path())).unwrap();
        assert_eq!(keys(&engine), ["b", "d"]);
        assert_eq!(engine.view().version.range_tombstones().len(), 1);
        assert!(
            engine.view().mem.has_range_tombstones(),
            "replayed from the WAL"
        );
    }
}
