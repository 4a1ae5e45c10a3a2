//! Reads: point lookups, range iterators and snapshots, each over one
//! consistent view at one sequence number.

use std::sync::Arc;

use lsm_core::SeqNo;

use super::Engine;
use crate::error::Result;
use crate::read::{self, StoreIterator, SuperVersion};
use crate::snapshot::SnapshotHandle;

impl Engine {
    /// The sequence number a read started now uses, with the view it reads.
    fn read_view(&self) -> (Arc<SuperVersion>, SeqNo) {
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
        Ok(Arc::new(self.snapshots.acquire_with(|| self.read_view().1)))
    }
}
