//! Snapshots: a registered sequence number that compactions must preserve
//! (every version it can see is kept until it is dropped).

use std::collections::BTreeMap;
use std::sync::Arc;

use lsm_core::SeqNo;
use parking_lot::Mutex;

/// The live snapshots of a store.
#[derive(Debug, Default)]
pub struct SnapshotList {
    /// Guarded: seq -> number of live handles at that seq.
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    /// Registers a snapshot at `seq`.
    pub fn acquire(self: &Arc<Self>, seq: SeqNo) -> SnapshotHandle {
        *self.live.lock().entry(seq).or_insert(0) += 1;
        SnapshotHandle {
            seq,
            list: Arc::clone(self),
        }
    }

    /// The live snapshot sequence numbers, ascending.
    pub fn sequence_numbers(&self) -> Vec<SeqNo> {
        self.live.lock().keys().copied().collect()
    }

    /// Number of live snapshot handles.
    pub fn count(&self) -> usize {
        self.live.lock().values().sum()
    }

    fn release(&self, seq: SeqNo) {
        let mut live = self.live.lock();
        if let Some(count) = live.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                live.remove(&seq);
            }
        }
    }
}

/// A registered snapshot; released when dropped.
#[derive(Debug)]
pub struct SnapshotHandle {
    seq: SeqNo,
    list: Arc<SnapshotList>,
}

impl SnapshotHandle {
    /// The snapshot's sequence number: reads see writes up to it.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }
}

impl Drop for SnapshotHandle {
    fn drop(&mut self) {
        self.list.release(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_register_and_release() {
        let list = Arc::new(SnapshotList::default());
        let a = list.acquire(5);
        let b = list.acquire(5);
        let c = list.acquire(9);
        assert_eq!(list.sequence_numbers(), [5, 9]);
        drop(a);
        assert_eq!(list.sequence_numbers(), [5, 9]);
        drop(b);
        drop(c);
        assert!(list.sequence_numbers().is_empty());
        assert_eq!(list.count(), 0);
    }
}
