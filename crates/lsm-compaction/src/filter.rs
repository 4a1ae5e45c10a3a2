//! `EntryFilter`: decides which entries of a key a flush or compaction keeps.
//!
//! Live snapshots split the sequence-number line into *stripes*: two
//! entries of a key are in the same stripe when no snapshot can see one but
//! not the other. Within a stripe only the newest entry is ever read, so
//! the older ones are dropped. A tombstone is dropped too when it is in the
//! oldest stripe (no snapshot predates it, so every older entry is shadowed
//! for every reader) and no older data for its key can exist in a level
//! below the output (the caller's `bottommost` check).
//!
//! Readers that are not registered snapshots read at the latest visible
//! sequence number, captured after the read view they read from; every entry in
//! that view's tables is at or below it, so the latest stripe serves them.

use lsm_core::{ParsedInternalKey, SeqNo, ValueKind};

/// Keep or drop, per entry, in input order (user key ascending, newest first).
#[derive(Debug)]
pub struct EntryFilter {
    /// Live snapshot sequence numbers, ascending, deduplicated.
    snapshots: Vec<SeqNo>,
    current_user_key: Vec<u8>,
    /// Stripe of the last entry seen for `current_user_key`; `None` before
    /// the first entry of a key.
    last_stripe: Option<usize>,
}

impl EntryFilter {
    /// A filter for the given live snapshots (any order).
    pub fn new(mut snapshots: Vec<SeqNo>) -> Self {
        snapshots.sort_unstable();
        snapshots.dedup();
        EntryFilter {
            snapshots,
            current_user_key: Vec::new(),
            last_stripe: None,
        }
    }

    /// Number of snapshots strictly below `seq`: entries with equal stripe
    /// are indistinguishable to every reader.
    fn stripe(&self, seq: SeqNo) -> usize {
        self.snapshots.partition_point(|&snapshot| snapshot < seq)
    }

    /// True if the entry must be written to the output. `bottommost(user_key)`
    /// answers "can no older entry of this key exist below the output
    /// level?" and is asked only for tombstones that could be dropped.
    /// REQUIRES: entries arrive in internal-key order.
    pub fn keep(
        &mut self,
        entry: &ParsedInternalKey<'_>,
        bottommost: impl FnOnce(&[u8]) -> bool,
    ) -> bool {
        if self.last_stripe.is_none() || self.current_user_key != entry.user_key {
            self.current_user_key.clear();
            self.current_user_key.extend_from_slice(entry.user_key);
            self.last_stripe = None;
        }
        let stripe = self.stripe(entry.seq);
        if self.last_stripe == Some(stripe) {
            return false;
        }
        debug_assert!(
            self.last_stripe.is_none_or(|last| stripe < last),
            "entries of a key out of order"
        );
        self.last_stripe = Some(stripe);
        !(entry.kind == ValueKind::Delete && stripe == 0 && bottommost(entry.user_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        snapshots: Vec<SeqNo>,
        entries: &[(&str, SeqNo, ValueKind)],
        bottommost: bool,
    ) -> Vec<(String, SeqNo)> {
        let mut filter = EntryFilter::new(snapshots);
        entries
            .iter()
            .filter(|(k, seq, kind)| {
                let parsed = ParsedInternalKey {
                    user_key: k.as_bytes(),
                    seq: *seq,
                    kind: *kind,
                };
                filter.keep(&parsed, |_| bottommost)
            })
            .map(|(k, seq, _)| (k.to_string(), *seq))
            .collect()
    }

    use ValueKind::{Delete, Put};

    #[test]
    fn without_snapshots_only_newest_survives() {
        let kept = run(
            vec![],
            &[
                ("a", 9, Put),
                ("a", 5, Put),
                ("a", 1, Delete),
                ("b", 3, Put),
            ],
            false,
        );
        assert_eq!(kept, [("a".into(), 9), ("b".into(), 3)]);
    }

    #[test]
    fn snapshot_keeps_the_version_it_sees() {
        let kept = run(
            vec![6],
            &[("a", 9, Put), ("a", 5, Put), ("a", 4, Put)],
            false,
        );
        assert_eq!(kept, [("a".into(), 9), ("a".into(), 5)]);
    }

    #[test]
    fn tombstone_dropped_only_when_bottommost_and_no_older_snapshot() {
        let entries = [("a", 9, Delete), ("a", 5, Put)];
        assert_eq!(run(vec![], &entries, true), []);
        assert_eq!(run(vec![], &entries, false), [("a".into(), 9)]);
        // A snapshot at 6 still needs a@5, so the tombstone must stay.
        assert_eq!(
            run(vec![6], &entries, true),
            [("a".into(), 9), ("a".into(), 5)]
        );
    }
}
