//! Reads: point lookups, range iterators and snapshots, each over one
//! consistent view at one sequence number.

use std::sync::Arc;

use lsm_core::{KeyspaceId, SeqNo};

use super::Engine;
use crate::error::Result;
use crate::read::{ReadView, StoreIterator};
use crate::snapshot::{Snapshot, SnapshotHandle};

impl Engine {
    /// The sequence number a read started now uses, with the view it reads.
    pub(super) fn read_view(&self) -> (Arc<ReadView>, SeqNo) {
        // Load the view first, then the watermark: every table in the view
        // holds only writes at or below the watermark loaded after it.
        let view = self.view();
        let seq = view.read_seq(self.visible.get());
        (view, seq)
    }

    /// Point read in the default keyspace at the current watermark.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_in(KeyspaceId::DEFAULT, key)
    }

    /// Point read in the default keyspace at `seq` (a snapshot's).
    pub fn get_at(&self, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
        self.get_at_in(KeyspaceId::DEFAULT, key, seq)
    }

    /// A range iterator over the default keyspace at `seq` (the current
    /// watermark if `None`).
    pub fn range(
        &self,
        start: std::ops::Bound<Vec<u8>>,
        end: std::ops::Bound<Vec<u8>>,
        snapshot: Option<Arc<SnapshotHandle>>,
    ) -> Result<StoreIterator> {
        self.range_in(KeyspaceId::DEFAULT, start, end, snapshot)
    }

    /// `Err(ForeignSnapshot)` unless `snapshot` was made by this engine
    /// (this open of the directory): what a store's
    /// [`KvStore::check_snapshot`](crate::KvStore::check_snapshot) asks.
    /// One comparison, no lock.
    pub fn check_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        self.instance.check_snapshot(snapshot.instance())
    }

    /// Registers a snapshot at the current watermark.
    pub fn snapshot(&self) -> Result<Arc<SnapshotHandle>> {
        self.check_open()?;
        Ok(Arc::new(self.snapshots.acquire_with(|| {
            let seq = self.read_view().1;
            #[cfg(test)]
            hooks::after_snapshot_seq_chosen();
            seq
        })))
    }
}

/// Test-only hooks into the read path (compiled only for this crate's unit
/// tests).
#[cfg(test)]
mod hooks {
    use std::cell::RefCell;

    thread_local! {
        /// Runs once, on the thread calling [`super::Engine::snapshot`],
        /// after the snapshot's sequence number is chosen and before the
        /// snapshot is registered.
        static AFTER_SNAPSHOT_SEQ_CHOSEN: RefCell<Option<Box<dyn FnOnce()>>> =
            const { RefCell::new(None) };
    }

    /// Arms the hook for the current thread's next snapshot.
    pub(super) fn set_after_snapshot_seq_chosen(hook: impl FnOnce() + 'static) {
        AFTER_SNAPSHOT_SEQ_CHOSEN.with(|slot| *slot.borrow_mut() = Some(Box::new(hook)));
    }

    pub(super) fn after_snapshot_seq_chosen() {
        let hook = AFTER_SNAPSHOT_SEQ_CHOSEN.with(|slot| slot.borrow_mut().take());
        if let Some(hook) = hook {
            hook();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::ops::Bound;
    use std::rc::Rc;
    use std::sync::mpsc;
    use std::time::Duration;

    use lsm_core::WriteBatch;

    use super::super::test_support::{delete, freeze_and_flush, get, open_small, put, scan};
    use super::*;

    fn strings(iter: StoreIterator) -> Vec<(String, String)> {
        iter.map(|item| {
            let (k, v) = item.unwrap();
            (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
        })
        .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The race `SnapshotList::acquire_with` closes: a snapshot chooses its
    /// sequence number (the watermark, at which `k` is "old"); before it is
    /// registered, another thread overwrites `k`, freezes the memtable
    /// holding both versions and flushes it. A flush that does not see the
    /// snapshot keeps only the newest entry, and the snapshot then reads
    /// `k` as absent. The hook waits (bounded) for that flush to finish
    /// before letting the snapshot register: with the number chosen under
    /// the list's lock, the flush cannot read the list until the snapshot
    /// is registered, so the wait times out and the flush keeps "old".
    #[test]
    fn a_flush_racing_a_snapshot_registration_keeps_the_snapshots_version() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let old_seq = put(&engine, "k", "old");

        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (flushed_tx, flushed_rx) = mpsc::channel::<()>();
        let flusher = {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                go_rx.recv().unwrap();
                put(&engine, "k", "new");
                assert!(freezer.freeze(true, |_, _| {}).unwrap());
                assert!(engine.flush_oldest_immutable().unwrap());
                // The hook may have stopped waiting already.
                let _ = flushed_tx.send(());
            })
        };
        let flush_finished_first = Rc::new(Cell::new(None));
        let seen = Rc::clone(&flush_finished_first);
        hooks::set_after_snapshot_seq_chosen(move || {
            go_tx.send(()).unwrap();
            let finished = flushed_rx.recv_timeout(Duration::from_secs(1)).is_ok();
            seen.set(Some(finished));
        });
        let snapshot = engine.snapshot().unwrap();
        flusher.join().unwrap();

        assert_eq!(snapshot.seq(), old_seq, "the snapshot took the watermark");
        assert_eq!(engine.stats().unwrap().flushes, 1, "the racing flush ran");
        assert!(engine.view().imm.is_empty() && engine.view().version.num_files() == 1);
        assert_eq!(
            engine.get_at(b"k", snapshot.seq()).unwrap(),
            Some(b"old".to_vec()),
            "the flush dropped the version the snapshot reads"
        );
        assert_eq!(get(&engine, "k").as_deref(), Some("new"));
        assert_eq!(
            flush_finished_first.get(),
            Some(false),
            "the flush finished before the snapshot was registered"
        );
    }

    #[test]
    fn get_sees_the_newest_write_in_every_layer() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        assert_eq!(get(&engine, "a"), None);
        put(&engine, "a", "1");
        put(&engine, "b", "1");
        freeze_and_flush(&engine, &mut freezer); // a=1, b=1 in a table
        put(&engine, "a", "2");
        assert!(freezer.freeze(true, |_, _| {}).unwrap()); // a=2 frozen
        delete(&engine, "b"); // active memtable
        put(&engine, "c", "3");
        let view = engine.view();
        assert_eq!((view.imm.len(), view.version.num_files()), (1, 1));
        assert_eq!(get(&engine, "a").as_deref(), Some("2"));
        assert_eq!(get(&engine, "b"), None, "the tombstone hides the table's b");
        assert_eq!(get(&engine, "c").as_deref(), Some("3"));
        assert_eq!(scan(&engine), pairs(&[("a", "2"), ("c", "3")]));
    }

    #[test]
    fn range_honours_its_bounds_and_hides_deleted_keys() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        for key in ["a", "b", "c", "d", "e"] {
            put(&engine, key, key);
        }
        freeze_and_flush(&engine, &mut freezer);
        delete(&engine, "c");
        put(&engine, "d", "D");
        let range = |start: Bound<&str>, end: Bound<&str>| {
            let own = |b: Bound<&str>| b.map(|k| k.as_bytes().to_vec());
            strings(engine.range(own(start), own(end), None).unwrap())
        };
        assert_eq!(
            range(Bound::Included("b"), Bound::Excluded("e")),
            pairs(&[("b", "b"), ("d", "D")])
        );
        assert_eq!(
            range(Bound::Excluded("b"), Bound::Included("e")),
            pairs(&[("d", "D"), ("e", "e")])
        );
        assert_eq!(
            range(Bound::Unbounded, Bound::Excluded("b")),
            pairs(&[("a", "a")])
        );
        assert!(range(Bound::Included("c"), Bound::Excluded("d")).is_empty());
    }

    /// Writes become visible in WAL order: a batch applied before an earlier
    /// one is invisible to every read until the earlier one is applied.
    #[test]
    fn reads_see_a_prefix_of_wal_order() {
        let (_dir, engine) = open_small();
        put(&engine, "base", "0");
        let batch = |key: &str| {
            let mut batch = WriteBatch::new();
            batch.put(key.as_bytes(), b"v");
            batch
        };
        let (first, second) = (batch("first"), batch("second"));
        let p1 = engine.begin_write().unwrap();
        let p2 = engine.begin_write().unwrap();
        let (f1, l1) = p1.append(&first).unwrap();
        let (f2, l2) = p2.append(&second).unwrap();
        assert_eq!((f1, l1, f2, l2), (2, 2, 3, 3));
        p2.apply(&second, f2, l2);
        assert_eq!(engine.visible_seq(), 1);
        assert_eq!(get(&engine, "second"), None, "applied after a gap");
        assert_eq!(scan(&engine), pairs(&[("base", "0")]));
        assert_eq!(engine.snapshot().unwrap().seq(), 1);

        p1.apply(&first, f1, l1);
        assert_eq!(engine.visible_seq(), 3);
        assert_eq!(get(&engine, "second").as_deref(), Some("v"));
        assert_eq!(
            scan(&engine),
            pairs(&[("base", "0"), ("first", "v"), ("second", "v")])
        );
    }

    /// A snapshot reads the store as of its sequence number, through later
    /// overwrites, deletes, a flush and a compaction.
    #[test]
    fn a_snapshot_is_repeatable_across_writes_flushes_and_compactions() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        put(&engine, "b", "1");
        let snapshot = crate::snapshot::Snapshot::new(&engine).unwrap();
        put(&engine, "a", "2");
        delete(&engine, "b");
        put(&engine, "c", "2");
        let as_of_snapshot = |snapshot: &crate::snapshot::Snapshot| {
            (
                snapshot.get("a").unwrap(),
                snapshot.get("b").unwrap(),
                snapshot.get("c").unwrap(),
                strings(snapshot.range(..).unwrap()),
            )
        };
        let expected = (
            Some(b"1".to_vec()),
            Some(b"1".to_vec()),
            None,
            pairs(&[("a", "1"), ("b", "1")]),
        );
        assert_eq!(as_of_snapshot(&snapshot), expected);
        freeze_and_flush(&engine, &mut freezer);
        assert_eq!(as_of_snapshot(&snapshot), expected, "after the flush");
        let reservation = engine.reserve_compaction(Some(0)).unwrap();
        engine.run_reserved_compaction(reservation).unwrap();
        put(&engine, "b", "3");
        freeze_and_flush(&engine, &mut freezer);
        let reservation = engine.reserve_compaction(Some(0)).unwrap();
        let report = engine.run_reserved_compaction(reservation).unwrap();
        assert!(!report.trivial_move, "a real merge with the snapshot live");
        assert_eq!(as_of_snapshot(&snapshot), expected, "after the compactions");
        assert_eq!(scan(&engine), pairs(&[("a", "2"), ("b", "3"), ("c", "2")]));
        assert_eq!(engine.stats().unwrap().live_snapshots, 1);
        drop(snapshot);
        assert_eq!(engine.stats().unwrap().live_snapshots, 0);
    }

    /// A snapshot handle of one engine given to another engine's range
    /// read is refused; `check_snapshot` tells them apart.
    #[test]
    fn a_range_read_refuses_another_engines_snapshot() {
        let (_dir_a, a) = open_small();
        let (_dir_b, b) = open_small();
        put(&a, "k", "a");
        put(&b, "k", "b");
        let handle_b = b.snapshot().unwrap();
        let err = a
            .range(
                Bound::Unbounded,
                Bound::Unbounded,
                Some(Arc::clone(&handle_b)),
            )
            .unwrap_err();
        assert!(matches!(err, crate::Error::ForeignSnapshot), "{err:?}");
        assert_eq!(
            strings(
                b.range(Bound::Unbounded, Bound::Unbounded, Some(handle_b))
                    .unwrap()
            ),
            pairs(&[("k", "b")])
        );
        let snap_b = crate::snapshot::Snapshot::new(&b).unwrap();
        assert!(matches!(
            a.check_snapshot(&snap_b),
            Err(crate::Error::ForeignSnapshot)
        ));
        b.check_snapshot(&snap_b).unwrap();
    }
}
