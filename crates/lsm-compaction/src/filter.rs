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
//! A version older than a range tombstone covering its key is dropped
//! too, when the two are in the same stripe (no snapshot sees the version
//! but not the tombstone): the tombstone stays in the catalog while any
//! table could hold older data in its range, so it keeps hiding what is
//! not dropped.
//!
//! Readers that are not registered snapshots read at the latest visible
//! sequence number, captured after the read view they read from; every entry in
//! that view's tables is at or below it, so the latest stripe serves them.

use std::sync::Arc;

use lsm_core::{ParsedInternalKey, RangeTombstones, SeqNo, ValueKind};

/// Keep or drop, per entry, in input order (user key ascending, newest first).
#[derive(Debug)]
pub struct EntryFilter {
    /// Live snapshot sequence numbers, ascending, deduplicated.
    snapshots: Vec<SeqNo>,
    current_user_key: Vec<u8>,
    /// Stripe of the last entry seen for `current_user_key`; `None` before
    /// the first entry of a key.
    last_stripe: Option<usize>,
    /// Range deletes that may hide the entries (the version's).
    range_tombstones: Arc<RangeTombstones>,
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
            range_tombstones: RangeTombstones::empty(),
        }
    }

    /// The same filter, also dropping versions `range_tombstones` hide from
    /// every reader.
    pub fn with_range_tombstones(mut self, range_tombstones: Arc<RangeTombstones>) -> Self {
        self.range_tombstones = range_tombstones;
        self
    }

    /// True when a range tombstone newer than the entry covers it and no
    /// snapshot sees the entry but not that tombstone.
    fn hidden_by_range_tombstone(&self, entry: &ParsedInternalKey<'_>) -> bool {
        if self.range_tombstones.is_empty() {
            return false;
        }
        self.range_tombstones
            .oldest_covering_seq_above(entry.user_key, entry.seq)
            .is_some_and(|tombstone| self.stripe(tombstone) == self.stripe(entry.seq))
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
        if self.hidden_by_range_tombstone(entry) {
            return false;
        }
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

    /// A range delete at 10 over [b, d): without snapshots it drops every
    /// older version in its range; a snapshot at 7 keeps the version it
    /// reads (7 sees the put at 5 but not the tombstone at 10); versions
    /// newer than the tombstone and keys outside it stay.
    #[test]
    fn versions_under_a_range_tombstone_are_dropped_within_their_stripe() {
        let tombstones = Arc::new(RangeTombstones::new(&[lsm_core::RangeTombstone::new(
            b"b".to_vec(),
            b"d".to_vec(),
            10,
        )]));
        let entries = [
            ("a", 5, Put),
            ("b", 12, Put),
            ("b", 5, Put),
            ("c", 8, Put),
            ("c", 5, Put),
            ("d", 5, Put),
        ];
        let run_with = |snapshots: Vec<SeqNo>| -> Vec<(String, SeqNo)> {
            let mut filter =
                EntryFilter::new(snapshots).with_range_tombstones(Arc::clone(&tombstones));
            entries
                .iter()
                .filter(|(k, seq, kind)| {
                    let parsed = ParsedInternalKey {
                        user_key: k.as_bytes(),
                        seq: *seq,
                        kind: *kind,
                    };
                    filter.keep(&parsed, |_| false)
                })
                .map(|(k, seq, _)| (k.to_string(), *seq))
                .collect()
        };
        let owned = |v: &[(&str, SeqNo)]| -> Vec<(String, SeqNo)> {
            v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
        };
        assert_eq!(run_with(vec![]), owned(&[("a", 5), ("b", 12), ("d", 5)]));
        assert_eq!(
            run_with(vec![7]),
            owned(&[("a", 5), ("b", 12), ("b", 5), ("c", 5), ("d", 5)]),
            "snapshot 7 reads b@5 and c@5"
        );
    }

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
