//! The prefix model: the state one writer thread's first `k` writes leave
//! in a store ([`state_after`]), and the `k` that best explains what a
//! recovered store holds ([`fit`]).
//!
//! A thread makes its writes one after another (each returns before the
//! next starts), so after any crash the writes of a thread present in the
//! store must be exactly its first `k` for some `k`, with every effect each
//! of them has: a put's or a batch's keys (a batch all or nothing, across
//! keyspaces too), a range delete's absence of the keys it covers that
//! were written before it (and not of those written after it), a keyspace
//! listed from its create until its drop, its keys readable while it is
//! listed. Every write of the schedule (`workload::op_kind`) has such an
//! effect, so two different `k` never leave the same state and the `k` is
//! unique when the state is a prefix at all. What differs from the state
//! after the best `k` is a [`Mismatch`]: a hole (something the prefix has
//! is missing, or something it removed is still there), a split batch, or
//! a key no write of the schedule makes.
//!
//! Only the writes of one cycle are modelled: each cycle writes under its
//! own key and keyspace-name prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::workload::{
    keyspace_create_index, keyspace_drop_index, keyspace_epoch, op_kind, range_delete_covers,
    OpKind, RANGE_DELETE_BEHIND,
};

/// How many prefixes beyond the latest write with a visible key (or listed
/// keyspace) [`fit`] tries: more than the writes that can follow it without
/// leaving a visible key (a range delete hides at most two earlier puts,
/// and a drop is followed by a create within two writes).
const FIT_WINDOW: u64 = 8;

/// What a store holds of one thread's writes of one cycle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Write index -> bit per `workload::SUFFIXES` key present in the
    /// default keyspace.
    pub default: BTreeMap<u64, u8>,
    /// Keyspace epoch whose name is listed -> the write indexes of the keys
    /// in it.
    pub keyspaces: BTreeMap<u64, BTreeSet<u64>>,
}

impl Seen {
    /// The latest write whose effect is visible as something present: a
    /// key, or a listed keyspace (its create).
    fn latest_evidence(&self) -> Option<u64> {
        let default = self
            .default
            .iter()
            .filter(|(_, &mask)| mask != 0)
            .map(|(&j, _)| j)
            .next_back();
        let keyspaces = self
            .keyspaces
            .iter()
            .map(|(&n, keys)| {
                keys.last()
                    .copied()
                    .unwrap_or(0)
                    .max(keyspace_create_index(n))
            })
            .max();
        default.max(keyspaces)
    }
}

/// The range delete among writes `j + 1 .. k` that hides write `j`'s
/// default-keyspace keys, if any.
pub fn hidden_by(j: u64, k: u64) -> Option<u64> {
    (j + 1..=j + RANGE_DELETE_BEHIND)
        .find(|&r| r < k && op_kind(r) == OpKind::RangeDelete && range_delete_covers(r, j))
}

/// Whether keyspace `epoch` is listed after the first `k` writes.
fn listed_after(epoch: u64, k: u64) -> bool {
    keyspace_create_index(epoch) < k && keyspace_drop_index(epoch) >= k
}

/// The state the first `k` writes of a thread leave.
pub fn state_after(k: u64) -> Seen {
    let mut seen = Seen::default();
    for j in 0..k {
        let kind = op_kind(j);
        if kind.writes_default_keys() && hidden_by(j, k).is_none() {
            seen.default.insert(j, kind.default_mask());
        }
        let epoch = keyspace_epoch(j);
        if kind == OpKind::KeyspaceCreate && listed_after(epoch, k) {
            seen.keyspaces.entry(epoch).or_default();
        }
        if kind.writes_keyspace_key() && listed_after(epoch, k) {
            seen.keyspaces.entry(epoch).or_default().insert(j);
        }
    }
    seen
}

/// One way a store differs from the state after the fitted prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The default-keyspace keys of write `index` (inside the prefix, not
    /// deleted) are missing.
    MissingKeys {
        /// The write.
        index: u64,
    },
    /// Write `index`'s key in its keyspace (listed) is missing.
    MissingKeyspaceKey {
        /// The write.
        index: u64,
    },
    /// Keyspace `epoch` (created inside the prefix, not dropped) is not
    /// listed.
    MissingKeyspace {
        /// The keyspace's number.
        epoch: u64,
    },
    /// Write `index`'s default-keyspace keys are there although range
    /// delete `by` (inside the prefix) deleted them.
    NotDeleted {
        /// The write.
        index: u64,
        /// The range delete.
        by: u64,
    },
    /// Keyspace `epoch` is listed although its drop (inside the prefix)
    /// removed it, or its create is after the prefix.
    UnexpectedKeyspace {
        /// The keyspace's number.
        epoch: u64,
    },
    /// Keys of write `index`, after the prefix, are there.
    BeyondPrefix {
        /// The write.
        index: u64,
    },
    /// Batch `index` is partly there (some of its default-keyspace keys,
    /// or those without its keyspace key or the other way round).
    SplitBatch {
        /// The batch's write index.
        index: u64,
    },
    /// Keys no write of the schedule makes: default-keyspace keys of write
    /// `index` that do not match its kind (`mask`), or a keyspace key of a
    /// write that puts none there.
    Malformed {
        /// The write.
        index: u64,
        /// The suffix mask seen (0 for a keyspace key).
        mask: u8,
    },
}

impl Mismatch {
    /// Whether this is a hole in the prefix (not a split batch or a
    /// malformed key).
    pub fn is_hole(&self) -> bool {
        !matches!(
            self,
            Mismatch::SplitBatch { .. } | Mismatch::Malformed { .. }
        )
    }

    /// The write inside the prefix `0..applied` whose effect this shows
    /// missing (wholly or partly), if any.
    fn missing_effect_of(&self, applied: u64) -> Option<u64> {
        match *self {
            Mismatch::MissingKeys { index }
            | Mismatch::MissingKeyspaceKey { index }
            | Mismatch::SplitBatch { index } => Some(index),
            Mismatch::MissingKeyspace { epoch } => Some(keyspace_create_index(epoch)),
            Mismatch::NotDeleted { by, .. } => Some(by),
            Mismatch::UnexpectedKeyspace { epoch } => {
                Some(keyspace_drop_index(epoch)).filter(|&drop| drop < applied)
            }
            Mismatch::BeyondPrefix { .. } | Mismatch::Malformed { .. } => None,
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::MissingKeys { index } => write!(f, "write i={index}: its keys are missing"),
            Mismatch::MissingKeyspaceKey { index } => {
                write!(f, "write i={index}: its key in the keyspace is missing")
            }
            Mismatch::MissingKeyspace { epoch } => write!(
                f,
                "keyspace ks{epoch} (created by i={}) is not listed",
                keyspace_create_index(*epoch)
            ),
            Mismatch::NotDeleted { index, by } => write!(
                f,
                "write i={index}: its keys are there although range delete i={by} deleted them"
            ),
            Mismatch::UnexpectedKeyspace { epoch } => write!(
                f,
                "keyspace ks{epoch} is listed although the prefix has not created it or has \
                 dropped it (i={})",
                keyspace_drop_index(*epoch)
            ),
            Mismatch::BeyondPrefix { index } => {
                write!(f, "write i={index}, after the prefix, is there")
            }
            Mismatch::SplitBatch { index } => write!(f, "batch i={index} is split"),
            Mismatch::Malformed { index, mask } => write!(
                f,
                "write i={index} ({:?}) has keys it does not write (mask {mask:03b})",
                op_kind(*index)
            ),
        }
    }
}

/// How well the best prefix explains what a store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// The prefix: the thread's writes `0 .. applied` are taken as there.
    pub applied: u64,
    /// Every difference from the state after the prefix.
    pub mismatches: Vec<Mismatch>,
    /// The writes inside the prefix whose effect is missing (wholly or
    /// partly): those the mismatches name.
    pub missing: BTreeSet<u64>,
}

impl Fit {
    /// Whether write `index`'s effect is in the store: it is inside the
    /// prefix and no mismatch shows its effect missing.
    pub fn has(&self, index: u64) -> bool {
        index < self.applied && !self.missing.contains(&index)
    }

    /// Mismatches that are holes ([`Mismatch::is_hole`]).
    pub fn holes(&self) -> u64 {
        self.mismatches.iter().filter(|m| m.is_hole()).count() as u64
    }

    /// Split batches.
    pub fn batch_splits(&self) -> u64 {
        self.mismatches
            .iter()
            .filter(|m| matches!(m, Mismatch::SplitBatch { .. }))
            .count() as u64
    }

    /// Malformed keys.
    pub fn malformed(&self) -> u64 {
        self.mismatches
            .iter()
            .filter(|m| matches!(m, Mismatch::Malformed { .. }))
            .count() as u64
    }
}

/// The differences between `seen` and the state after the first `k`
/// writes.
pub fn diff(seen: &Seen, k: u64) -> Vec<Mismatch> {
    let expected = state_after(k);
    let mut out = Vec::new();
    let mask_of = |j: u64| seen.default.get(&j).copied().unwrap_or(0);
    // Batches partly there: their default keys partly, or the default
    // part and the keyspace key disagree (where the keyspace is listed and
    // the prefix has it listed: else its keys are unreadable or gone).
    let split: BTreeSet<u64> = seen
        .default
        .keys()
        .copied()
        .chain(seen.keyspaces.values().flatten().copied())
        .filter(|&j| op_kind(j) == OpKind::Batch)
        .filter(|&j| {
            let mask = mask_of(j);
            let partial = mask != 0 && mask != OpKind::Batch.default_mask();
            let epoch = keyspace_epoch(j);
            let keyspace_part = seen
                .keyspaces
                .get(&epoch)
                .filter(|_| expected.keyspaces.contains_key(&epoch))
                .map(|keys| keys.contains(&j));
            let disagree = keyspace_part.is_some_and(|ks| {
                hidden_by(j, k).is_none() && (mask == OpKind::Batch.default_mask()) != ks
            });
            partial || disagree
        })
        .collect();
    out.extend(split.iter().map(|&index| Mismatch::SplitBatch { index }));

    let indexes: BTreeSet<u64> = seen
        .default
        .keys()
        .chain(expected.default.keys())
        .copied()
        .collect();
    for j in indexes.into_iter().filter(|j| !split.contains(j)) {
        let (want, got) = (expected.default.get(&j).copied().unwrap_or(0), mask_of(j));
        if got != 0 && got != op_kind(j).default_mask() {
            out.push(Mismatch::Malformed {
                index: j,
                mask: got,
            });
        } else if want != got {
            out.push(match (want, hidden_by(j, k)) {
                (0, Some(by)) => Mismatch::NotDeleted { index: j, by },
                (0, None) => Mismatch::BeyondPrefix { index: j },
                _ => Mismatch::MissingKeys { index: j },
            });
        }
    }

    let epochs: BTreeSet<u64> = seen
        .keyspaces
        .keys()
        .chain(expected.keyspaces.keys())
        .copied()
        .collect();
    let no_keys = BTreeSet::new();
    for epoch in epochs {
        let (want, got) = (expected.keyspaces.get(&epoch), seen.keyspaces.get(&epoch));
        match (want, got) {
            (Some(_), None) => out.push(Mismatch::MissingKeyspace { epoch }),
            (None, Some(_)) => out.push(Mismatch::UnexpectedKeyspace { epoch }),
            _ => {}
        }
        // Keys are compared only where the name is listed: a keyspace that
        // is not is unreadable by name (its old id is checked apart).
        let Some(got) = got else { continue };
        let want = want.unwrap_or(&no_keys);
        for &j in want.difference(got).filter(|j| !split.contains(j)) {
            out.push(Mismatch::MissingKeyspaceKey { index: j });
        }
        for &j in got.difference(want).filter(|j| !split.contains(j)) {
            out.push(
                if op_kind(j).writes_keyspace_key() && keyspace_epoch(j) == epoch {
                    Mismatch::BeyondPrefix { index: j }
                } else {
                    Mismatch::Malformed { index: j, mask: 0 }
                },
            );
        }
    }
    out
}

/// The prefix that best explains `seen`: the one with the fewest
/// mismatches among those taking the latest visible write as there (the
/// shortest on a tie), with its mismatches. A state that is a prefix fits
/// with none.
pub fn fit(seen: &Seen) -> Fit {
    let first = seen.latest_evidence().map_or(0, |e| e + 1);
    let mut best: Option<Fit> = None;
    for k in first..=first + FIT_WINDOW {
        let mismatches = diff(seen, k);
        if best
            .as_ref()
            .is_none_or(|b| mismatches.len() < b.mismatches.len())
        {
            let exact = mismatches.is_empty();
            let missing = mismatches
                .iter()
                .filter_map(|m| m.missing_effect_of(k))
                .collect();
            best = Some(Fit {
                applied: k,
                mismatches,
                missing,
            });
            if exact {
                break;
            }
        }
    }
    best.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix's state fits exactly, at its own length: the states of
    /// two prefixes always differ.
    #[test]
    fn every_prefix_fits_itself_and_only_itself() {
        for k in 0..=3 * crate::workload::KEYSPACE_EVERY + 5 {
            let seen = state_after(k);
            let fit = fit(&seen);
            assert_eq!((fit.applied, fit.mismatches.clone()), (k, vec![]), "k={k}");
            if k > 0 {
                assert_ne!(state_after(k - 1), seen, "k={k}");
            }
        }
    }

    /// The schedule's effects: a range delete hides two earlier puts and
    /// not the writes after it; a keyspace is listed from its create to its
    /// drop, with the keys of its puts and batches.
    #[test]
    fn state_after_applies_range_deletes_and_keyspaces() {
        // Writes 0..=9: create ks0, puts 1-4, ks put 5, put 6, range delete
        // 7 (covers 4..10), put 8, batch 9.
        let s = state_after(10);
        assert_eq!(
            s.default.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3, 8, 9]
        );
        assert_eq!(s.default[&9], 0b111);
        assert_eq!(s.keyspaces[&0], BTreeSet::from([5, 9]));
        let before = state_after(7);
        assert!(before.default.contains_key(&4) && before.default.contains_key(&6));
        // The drop (39) removes ks0; the create (40) lists ks1, empty.
        assert!(state_after(39).keyspaces.contains_key(&0));
        assert!(state_after(40).keyspaces.is_empty());
        assert_eq!(state_after(41).keyspaces[&1], BTreeSet::new());
    }

    /// A missing put, a range delete whose keys are still there while later
    /// writes are, a keyspace key without the rest of its batch, a name
    /// still listed after its drop: each is a mismatch of the right kind.
    #[test]
    fn holes_split_batches_and_undone_effects_are_found() {
        let mut seen = state_after(30);
        seen.default.remove(&12);
        let fit1 = fit(&seen);
        assert_eq!(fit1.applied, 30);
        assert_eq!(fit1.mismatches, vec![Mismatch::MissingKeys { index: 12 }]);
        assert_eq!(fit1.holes(), 1);
        assert!(fit1.has(11) && !fit1.has(12) && fit1.has(29) && !fit1.has(30));

        // Range delete 17 lost but write 18 there: 14 and 16 not deleted.
        let mut seen = state_after(20);
        seen.default.insert(14, 1);
        seen.default.insert(16, 1);
        let fit2 = fit(&seen);
        assert_eq!(fit2.applied, 20);
        assert_eq!(
            fit2.mismatches,
            vec![
                Mismatch::NotDeleted { index: 14, by: 17 },
                Mismatch::NotDeleted { index: 16, by: 17 }
            ]
        );
        assert!(
            !fit2.has(17) && fit2.has(18),
            "the range delete's effect is missing"
        );

        // Batch 19's keyspace key without its default keys.
        let mut seen = state_after(20);
        seen.default.remove(&19);
        let fit3 = fit(&seen);
        assert_eq!(fit3.mismatches, vec![Mismatch::SplitBatch { index: 19 }]);
        assert_eq!((fit3.holes(), fit3.batch_splits()), (0, 1));
        let mut seen = state_after(20);
        seen.default.insert(19, 0b011);
        assert_eq!(fit(&seen).batch_splits(), 1);

        // ks0 still listed after its drop, with write 41 of ks1 there.
        let mut seen = state_after(42);
        seen.keyspaces.insert(0, BTreeSet::new());
        assert_eq!(
            fit(&seen).mismatches,
            vec![Mismatch::UnexpectedKeyspace { epoch: 0 }]
        );
        // ks1's create lost while a write after it is there.
        let mut seen = state_after(42);
        seen.keyspaces.remove(&1);
        assert_eq!(
            fit(&seen).mismatches,
            vec![Mismatch::MissingKeyspace { epoch: 1 }]
        );
        // A put with batch keys; a keyspace key of a plain put.
        let mut seen = state_after(4);
        seen.default.insert(2, 0b101);
        seen.keyspaces.get_mut(&0).unwrap().insert(3);
        assert_eq!(fit(&seen).malformed(), 2);
    }
}
