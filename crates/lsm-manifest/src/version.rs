//! [`Version`]: an immutable snapshot of which tables make up each level.
//!
//! Invariants (checked by [`Version::check_invariants`]; [`Version::apply`]
//! refuses edits that would break them, and re-checks its result, all but
//! the entries it carried over unchanged (each passed `FileMeta::validate`
//! in the `apply` that added it, and an entry never changes): with the
//! `invariants` cargo feature, in every build, a violation panics; in other
//! debug builds it is returned as [`Error::BrokenInvariant`]):
//! - Level 0 is ordered newest first: `max_seq` descending, ties broken by
//!   file number descending. Level-0 tables may overlap.
//! - Every level of 1 or more is sorted by smallest key and its tables'
//!   user-key ranges are disjoint: each table's largest user key is strictly
//!   below the next table's smallest user key. (So a compaction must not
//!   split one user key's versions across two output tables of a level.)
//! - A file number appears at most once in the whole version.
//! - Every entry passes [`FileMeta::validate`].
//! - `level_bytes(l)` is the sum of `file_bytes` at level `l`.
//!
//! Tables are shared as `Arc<FileMeta>` between versions. Invariant for the
//! store: a table file may be deleted only when no live version references
//! it, which is when the store's own catalog of versions no longer holds an
//! `Arc` to its entry (`Arc::strong_count` tells). The catalog never deletes
//! files itself.

use std::collections::HashSet;
use std::sync::Arc;

use lsm_core::{compare_internal_keys, RangeTombstones};

use crate::error::{Error, Result};
use crate::file_meta::FileMeta;
use crate::version_edit::VersionEdit;

/// An immutable snapshot of which table files make up each level. Shared as
/// `Arc<Version>`; a new one is made by [`Version::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// `levels[l]` holds level `l`'s tables in the order described in the
    /// module doc.
    levels: Vec<Vec<Arc<FileMeta>>>,
    /// `level_bytes[l]` is the sum of `file_bytes` over `levels[l]`.
    level_bytes: Vec<u64>,
    /// The range deletes flushed to tables' catalog and not yet collected:
    /// they hide older versions in every table, whatever its level.
    range_tombstones: Arc<RangeTombstones>,
}

impl Version {
    /// An empty version with `num_levels` levels.
    pub fn new(num_levels: usize) -> Version {
        Version {
            levels: vec![Vec::new(); num_levels],
            level_bytes: vec![0; num_levels],
            range_tombstones: RangeTombstones::empty(),
        }
    }

    /// The flushed range deletes (see `docs/format/manifest.md`, tags 9
    /// and 10): each hides the versions older than it in its key range, in
    /// every table.
    pub fn range_tombstones(&self) -> &Arc<RangeTombstones> {
        &self.range_tombstones
    }

    /// How many levels the version has.
    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// The tables at `level`: level 0 newest first (they may overlap);
    /// levels 1+ sorted by smallest key with disjoint user-key ranges.
    /// Empty for a level out of range.
    pub fn files_at(&self, level: usize) -> &[Arc<FileMeta>] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }

    /// Total `file_bytes` of the tables at `level` (0 for a level out of
    /// range).
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.level_bytes.get(level).copied().unwrap_or(0)
    }

    /// How many tables the version holds across all levels.
    pub fn num_files(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Every table with its level, level 0 first, in each level's order.
    pub fn all_files(&self) -> impl Iterator<Item = (usize, &Arc<FileMeta>)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(level, files)| files.iter().map(move |file| (level, file)))
    }

    /// The tables at `level` whose user-key range meets the inclusive range
    /// `[smallest_user_key, largest_user_key]` (see
    /// [`FileMeta::overlaps_user_range`]), in the level's order. Level 0 is a
    /// linear scan; levels 1+ use binary search. The range is not widened by
    /// what it finds (a level-0 compaction picker does that itself).
    pub fn overlapping_files(
        &self,
        level: usize,
        smallest_user_key: &[u8],
        largest_user_key: &[u8],
    ) -> Vec<Arc<FileMeta>> {
        let files = self.files_at(level);
        if level == 0 {
            return files
                .iter()
                .filter(|f| f.overlaps_user_range(smallest_user_key, largest_user_key))
                .cloned()
                .collect();
        }
        // Sorted and disjoint: largest keys ascend too, so the overlapping
        // tables are one contiguous run.
        let first = files.partition_point(|f| f.largest_user_key() < smallest_user_key);
        files[first..]
            .iter()
            .take_while(|f| f.smallest_user_key() <= largest_user_key)
            .cloned()
            .collect()
    }

    /// The tables at `level` that may hold `user_key`: at level 0 every table
    /// whose range covers it, newest first; at levels 1+ at most one, found
    /// by binary search. Allocates nothing.
    pub fn files_for_key<'a>(&'a self, level: usize, user_key: &'a [u8]) -> FilesForKey<'a> {
        let files = self.files_at(level);
        let candidates = if level == 0 {
            files
        } else {
            let at = files.partition_point(|f| f.largest_user_key() < user_key);
            files.get(at..(at + 1).min(files.len())).unwrap_or(&[])
        };
        FilesForKey {
            candidates: candidates.iter(),
            user_key,
        }
    }

    /// The version that results from applying `edit`: removals first, then
    /// additions. Errors ([`Error::InvalidEdit`]) if the edit removes a table
    /// that is not at the named level, adds a file number already in the
    /// version, names a level out of range, carries an entry that fails
    /// [`FileMeta::validate`], or makes a level of 1 or more overlap.
    /// `self` is unchanged either way. Cost: linear in the version's size
    /// plus sorting the levels the edit adds to.
    pub fn apply(&self, edit: &VersionEdit) -> Result<Version> {
        let num_levels = self.num_levels();
        let mut levels = self.levels.clone();
        // Tables the edit removes, so that one it adds back (a move between
        // levels) keeps its `Arc`: the store deletes a table file once no
        // version holds its `Arc<FileMeta>`, which would be wrong while an
        // older version holds another `Arc` of the same file.
        let mut moved: Vec<Arc<FileMeta>> = Vec::new();
        for &(level, number) in &edit.removed {
            let files = levels.get_mut(level).ok_or_else(|| {
                Error::invalid_edit(format!(
                    "removes table {number} from level {level}, but there are only {num_levels} levels"
                ))
            })?;
            let at = files
                .iter()
                .position(|f| f.number == number)
                .ok_or_else(|| {
                    Error::invalid_edit(format!(
                        "removes table {number} from level {level}, which does not hold it"
                    ))
                })?;
            moved.push(files.remove(at));
        }
        let mut numbers: HashSet<u64> = levels.iter().flatten().map(|f| f.number).collect();
        let mut touched = vec![false; num_levels];
        for (level, meta) in &edit.added {
            let number = meta.number;
            meta.validate()
                .map_err(|detail| Error::invalid_edit(format!("adds table {number}: {detail}")))?;
            let files = levels.get_mut(*level).ok_or_else(|| {
                Error::invalid_edit(format!(
                    "adds table {number} to level {level}, but there are only {num_levels} levels"
                ))
            })?;
            if !numbers.insert(number) {
                return Err(Error::invalid_edit(format!(
                    "adds table {number} to level {level}, but the version already holds that number"
                )));
            }
            let same = moved.iter().position(|f| **f == *meta);
            files.push(match same {
                Some(at) => moved.swap_remove(at),
                None => Arc::new(meta.clone()),
            });
            touched[*level] = true;
        }
        for (level, files) in levels.iter_mut().enumerate() {
            if !touched[level] {
                continue;
            }
            if level == 0 {
                files.sort_by(|a, b| newest_first(a, b));
            } else {
                files.sort_by(|a, b| {
                    compare_internal_keys(a.smallest.as_bytes(), b.smallest.as_bytes())
                });
                if let Some(pair) = files
                    .windows(2)
                    .find(|w| w[0].largest_user_key() >= w[1].smallest_user_key())
                {
                    return Err(Error::invalid_edit(format!(
                        "level {level} would overlap: table {} ends at {:?} but table {} starts at {:?}",
                        pair[0].number, pair[0].largest, pair[1].number, pair[1].smallest
                    )));
                }
            }
        }
        let level_bytes = levels.iter().map(|files| sum_bytes(files)).collect();
        let range_tombstones = self.apply_range_tombstones(edit)?;
        let version = Version {
            levels,
            level_bytes,
            range_tombstones,
        };
        // A self-check of the code above (and of `self`): linear, so only
        // with the `invariants` feature (which panics) and in other debug
        // builds (which return the error). The entries' own checks are left
        // out: the added ones passed them above, the carried ones in the
        // `apply` that added them. Re-running them on every table at every
        // edit made a test of 600 one-key tables with 64 KiB keys spend six
        // minutes comparing each table's equal smallest and largest keys.
        #[cfg(feature = "invariants")]
        #[allow(
            clippy::panic,
            reason = "the invariants feature is a test-only switch whose checks panic"
        )]
        if let Err(err) = version.check_structure() {
            panic!("invariant broken: {err}");
        }
        #[cfg(all(debug_assertions, not(feature = "invariants")))]
        version.check_structure()?;
        Ok(version)
    }

    /// The range-tombstone set after `edit`: removals must name a tombstone
    /// the version holds, additions a sequence number it does not.
    fn apply_range_tombstones(&self, edit: &VersionEdit) -> Result<Arc<RangeTombstones>> {
        if edit.added_range_tombstones.is_empty() && edit.removed_range_tombstones.is_empty() {
            return Ok(Arc::clone(&self.range_tombstones));
        }
        let held: HashSet<u64> = self.range_tombstones.tombstones().map(|t| t.seq).collect();
        for seq in &edit.removed_range_tombstones {
            if !held.contains(seq) {
                return Err(Error::invalid_edit(format!(
                    "removes range tombstone {seq}, which the version does not hold"
                )));
            }
        }
        let kept = self
            .range_tombstones
            .without(&edit.removed_range_tombstones);
        for tombstone in &edit.added_range_tombstones {
            if kept.contains_seq(tombstone.seq) {
                return Err(Error::invalid_edit(format!(
                    "adds range tombstone {}, which the version already holds",
                    tombstone.seq
                )));
            }
        }
        Ok(Arc::new(kept.with(&edit.added_range_tombstones)))
    }

    /// [`Version::check_invariants`], panicking with the first violation.
    /// Only with the `invariants` cargo feature, a test-only switch.
    #[cfg(feature = "invariants")]
    #[allow(
        clippy::panic,
        reason = "the invariants feature is a test-only switch whose checks panic"
    )]
    pub fn assert_invariants(&self) {
        if let Err(err) = self.check_invariants() {
            panic!("invariant broken: {err}");
        }
    }

    /// Checks every invariant in the module doc; [`Error::BrokenInvariant`]
    /// names the first violation. Linear in the number of tables.
    pub fn check_invariants(&self) -> Result<()> {
        for (level, files) in self.levels.iter().enumerate() {
            for file in files {
                if let Err(detail) = file.validate() {
                    return Err(Error::BrokenInvariant {
                        level,
                        detail: format!("table {}: {detail}", file.number),
                    });
                }
            }
        }
        self.check_structure()
    }

    /// [`Version::check_invariants`] but for each entry's own
    /// ([`FileMeta::validate`]).
    fn check_structure(&self) -> Result<()> {
        let broken = |level: usize, detail: String| Err(Error::BrokenInvariant { level, detail });
        if self.level_bytes.len() != self.levels.len() {
            return broken(0, "level byte totals do not match the level count".into());
        }
        let mut numbers = HashSet::new();
        for (level, files) in self.levels.iter().enumerate() {
            for file in files {
                if !numbers.insert(file.number) {
                    return broken(level, format!("table {} appears twice", file.number));
                }
            }
            if self.level_bytes[level] != sum_bytes(files) {
                return broken(level, "level byte total is stale".into());
            }
            for pair in files.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                if level == 0 {
                    if newest_first(a, b).is_gt() {
                        return broken(
                            level,
                            format!("table {} sorts before newer table {}", a.number, b.number),
                        );
                    }
                } else if a.largest_user_key() >= b.smallest_user_key() {
                    return broken(
                        level,
                        format!(
                            "tables {} and {} overlap or are out of order",
                            a.number, b.number
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Every table and range tombstone as an edit that rebuilds this
    /// version from an empty one
    /// (the snapshot that opens a manifest file), counters unset.
    pub fn to_snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            added: self
                .all_files()
                .map(|(level, file)| (level, FileMeta::clone(file)))
                .collect(),
            added_range_tombstones: self.range_tombstones.tombstones().cloned().collect(),
            ..VersionEdit::default()
        }
    }
}

/// Level-0 order: larger `max_seq` first, then larger file number.
fn newest_first(a: &FileMeta, b: &FileMeta) -> std::cmp::Ordering {
    b.max_seq.cmp(&a.max_seq).then(b.number.cmp(&a.number))
}

fn sum_bytes(files: &[Arc<FileMeta>]) -> u64 {
    files
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.file_bytes))
}

/// The tables of one level that may hold a user key, from
/// [`Version::files_for_key`]: level 0 newest first, levels 1+ at most one.
#[derive(Clone, Debug)]
pub struct FilesForKey<'a> {
    candidates: std::slice::Iter<'a, Arc<FileMeta>>,
    user_key: &'a [u8],
}

impl<'a> Iterator for FilesForKey<'a> {
    type Item = &'a Arc<FileMeta>;

    fn next(&mut self) -> Option<Self::Item> {
        let user_key = self.user_key;
        self.candidates.find(|f| f.may_contain_user_key(user_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_meta::tests::meta;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn add(files: &[(usize, FileMeta)]) -> VersionEdit {
        VersionEdit {
            added: files.to_vec(),
            ..VersionEdit::default()
        }
    }

    fn numbers(files: &[Arc<FileMeta>]) -> Vec<u64> {
        files.iter().map(|f| f.number).collect()
    }

    #[test]
    fn a_table_moved_between_levels_keeps_its_arc() {
        // The store deletes a table once no version holds its Arc; a move
        // that made a new Arc let a compaction of the moved table delete
        // the file while an older version (a reader's) still listed it.
        let v = Version::new(4)
            .apply(&add(&[(1, meta(7, b"a", b"c", 5))]))
            .unwrap();
        let moved = VersionEdit {
            removed: vec![(1, 7)],
            added: vec![(2, meta(7, b"a", b"c", 5))],
            ..VersionEdit::default()
        };
        let w = v.apply(&moved).unwrap();
        assert_eq!(numbers(w.files_at(2)), [7]);
        assert!(Arc::ptr_eq(&v.files_at(1)[0], &w.files_at(2)[0]));
        // A re-added number with other contents is a new entry.
        let replaced = VersionEdit {
            removed: vec![(1, 7)],
            added: vec![(1, meta(7, b"a", b"d", 6))],
            ..VersionEdit::default()
        };
        let x = v.apply(&replaced).unwrap();
        assert!(!Arc::ptr_eq(&v.files_at(1)[0], &x.files_at(1)[0]));
    }

    #[test]
    fn adds_and_removes_across_levels() {
        let v = Version::new(4)
            .apply(&add(&[
                (0, meta(1, b"a", b"z", 5)),
                (1, meta(2, b"m", b"p", 3)),
                (1, meta(3, b"a", b"c", 2)),
                (3, meta(4, b"q", b"r", 1)),
            ]))
            .unwrap();
        assert_eq!(numbers(v.files_at(0)), [1]);
        assert_eq!(numbers(v.files_at(1)), [3, 2], "sorted by smallest key");
        assert_eq!(numbers(v.files_at(3)), [4]);
        assert_eq!(v.level_bytes(1), 1002 + 1003);
        assert_eq!(v.num_files(), 4);
        let edit = VersionEdit {
            removed: vec![(1, 2), (0, 1)],
            added: vec![(2, meta(5, b"a", b"z", 5))],
            ..VersionEdit::default()
        };
        let w = v.apply(&edit).unwrap();
        assert_eq!(numbers(w.files_at(0)), Vec::<u64>::new());
        assert_eq!(numbers(w.files_at(1)), [3]);
        assert_eq!(numbers(w.files_at(2)), [5]);
        assert_eq!(w.level_bytes(0), 0);
        assert_eq!(
            numbers(v.files_at(1)),
            [3, 2],
            "the old version is unchanged"
        );
        let all: Vec<(usize, u64)> = w.all_files().map(|(l, f)| (l, f.number)).collect();
        assert_eq!(all, [(1, 3), (2, 5), (3, 4)]);
    }

    #[test]
    fn level_zero_is_newest_first() {
        let v = Version::new(2)
            .apply(&add(&[
                (0, meta(1, b"a", b"b", 10)),
                (0, meta(2, b"a", b"b", 30)),
            ]))
            .unwrap()
            .apply(&add(&[
                (0, meta(3, b"a", b"b", 20)),
                (0, meta(4, b"c", b"d", 30)),
            ]))
            .unwrap();
        assert_eq!(numbers(v.files_at(0)), [4, 2, 3, 1]);
        let hits: Vec<u64> = v.files_for_key(0, b"a").map(|f| f.number).collect();
        assert_eq!(hits, [2, 3, 1]);
    }

    #[test]
    fn overlap_at_level_one_is_rejected() {
        let v = Version::new(3)
            .apply(&add(&[(1, meta(1, b"c", b"f", 1))]))
            .unwrap();
        for (lo, hi) in [
            (&b"a"[..], &b"c"[..]),
            (b"f", b"g"),
            (b"d", b"e"),
            (b"a", b"z"),
        ] {
            let err = v.apply(&add(&[(1, meta(2, lo, hi, 1))])).unwrap_err();
            assert!(matches!(err, Error::InvalidEdit { .. }), "{err}");
        }
        // Adjacent but disjoint is fine, and level 0 may overlap.
        v.apply(&add(&[
            (1, meta(2, b"a", b"bz", 1)),
            (0, meta(3, b"a", b"z", 1)),
        ]))
        .unwrap();
    }

    #[test]
    fn bad_edits_are_rejected_and_leave_the_version_alone() {
        let v = Version::new(2)
            .apply(&add(&[(1, meta(1, b"a", b"b", 1))]))
            .unwrap();
        let bad = [
            VersionEdit {
                removed: vec![(0, 1)],
                ..VersionEdit::default()
            },
            VersionEdit {
                removed: vec![(1, 9)],
                ..VersionEdit::default()
            },
            VersionEdit {
                removed: vec![(1, 1), (1, 1)],
                ..VersionEdit::default()
            },
            VersionEdit {
                removed: vec![(5, 1)],
                ..VersionEdit::default()
            },
            add(&[(0, meta(1, b"x", b"y", 1))]),
            add(&[(0, meta(2, b"x", b"y", 1)), (0, meta(2, b"x", b"y", 1))]),
            add(&[(2, meta(2, b"x", b"y", 1))]),
            add(&[(0, meta(2, b"y", b"x", 1))]),
        ];
        for edit in bad {
            let err = v.apply(&edit).unwrap_err();
            assert!(matches!(err, Error::InvalidEdit { .. }), "{edit:?}: {err}");
        }
        assert_eq!(numbers(v.files_at(1)), [1]);
    }

    #[test]
    fn a_table_can_move_levels_keeping_its_number() {
        let v = Version::new(3)
            .apply(&add(&[(1, meta(7, b"a", b"b", 1))]))
            .unwrap();
        let moved = VersionEdit {
            removed: vec![(1, 7)],
            added: vec![(2, meta(7, b"a", b"b", 1))],
            ..VersionEdit::default()
        };
        let w = v.apply(&moved).unwrap();
        assert!(w.files_at(1).is_empty());
        assert_eq!(numbers(w.files_at(2)), [7]);
    }

    #[test]
    fn unchanged_tables_are_shared_between_versions() {
        let v = Version::new(2)
            .apply(&add(&[(1, meta(1, b"a", b"b", 1))]))
            .unwrap();
        let w = v.apply(&add(&[(1, meta(2, b"c", b"d", 1))])).unwrap();
        assert!(Arc::ptr_eq(&v.files_at(1)[0], &w.files_at(1)[0]));
        assert_eq!(Arc::strong_count(&v.files_at(1)[0]), 2);
        drop(w);
        assert_eq!(Arc::strong_count(&v.files_at(1)[0]), 1);
    }

    /// `apply` re-checks the version it builds: a damaged base that an
    /// empty edit carries over panics with the `invariants` feature, is an
    /// error in other debug builds, and goes unchecked otherwise.
    #[test]
    #[cfg_attr(feature = "invariants", should_panic(expected = "invariant broken"))]
    fn apply_rechecks_the_version_it_builds() {
        let mut v = Version::new(2)
            .apply(&add(&[
                (1, meta(1, b"a", b"b", 1)),
                (1, meta(2, b"c", b"d", 1)),
            ]))
            .unwrap();
        v.levels[1].swap(0, 1);
        let result = v.apply(&VersionEdit::default());
        if cfg!(debug_assertions) {
            assert!(matches!(
                result,
                Err(Error::BrokenInvariant { level: 1, .. })
            ));
        } else {
            assert_eq!(result.unwrap(), v);
        }
    }

    #[test]
    fn check_invariants_catches_hand_made_damage() {
        let mut v = Version::new(2)
            .apply(&add(&[
                (1, meta(1, b"a", b"b", 1)),
                (1, meta(2, b"c", b"d", 1)),
            ]))
            .unwrap();
        v.levels[1].swap(0, 1);
        assert!(matches!(
            v.check_invariants(),
            Err(Error::BrokenInvariant { level: 1, .. })
        ));
        v.levels[1].swap(0, 1);
        v.level_bytes[1] += 1;
        assert!(v.check_invariants().is_err());
        v.level_bytes[1] -= 1;
        v.check_invariants().unwrap();
        v.levels[0].push(Arc::new(meta(1, b"x", b"y", 9)));
        v.level_bytes[0] = 1001;
        assert!(v.check_invariants().is_err(), "duplicate number");
    }

    #[test]
    fn snapshot_edit_rebuilds_the_version() {
        let v = Version::new(3)
            .apply(&add(&[
                (0, meta(1, b"a", b"z", 5)),
                (0, meta(2, b"b", b"c", 9)),
                (2, meta(3, b"a", b"c", 2)),
            ]))
            .unwrap();
        assert_eq!(Version::new(3).apply(&v.to_snapshot_edit()).unwrap(), v);
    }

    /// One model step: add a table with a random range at a random level, or
    /// remove a random (possibly absent) table.
    #[derive(Clone, Debug)]
    enum Step {
        Add {
            level: usize,
            lo: u8,
            len: u8,
            seq: u64,
        },
        Remove {
            level: usize,
            number: u64,
        },
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..4usize, 0..60u8, 0..8u8, 0..100u64)
                .prop_map(|(level, lo, len, seq)| Step::Add { level, lo, len, seq }),
            1 => (0..4usize, 1..30u64).prop_map(|(level, number)| Step::Remove { level, number }),
        ]
    }

    fn key(k: u8) -> [u8; 2] {
        [b'k', k]
    }

    proptest! {
        // 64 cases by default; `PROPTEST_CASES` (the soak run) overrides.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64)
        ))]

        /// Applies random edits to a version and to a simple model (a map
        /// from number to (level, range)); the version accepts exactly the
        /// edits the model says are legal, and afterwards agrees with the
        /// model and with brute force on every lookup.
        #[test]
        fn apply_and_lookups_match_a_brute_force_model(
            steps in proptest::collection::vec(proptest::collection::vec(arb_step(), 1..4), 1..25),
            probes in proptest::collection::vec((0..70u8, 0..10u8), 10),
        ) {
            let mut version = Version::new(4);
            let mut model: BTreeMap<u64, (usize, u8, u8, u64)> = BTreeMap::new();
            let mut next_number = 1;
            for batch in steps {
                let mut edit = VersionEdit::default();
                let mut proposed = model.clone();
                let mut legal = true;
                for step in batch {
                    match step {
                        Step::Add { level, lo, len, seq } => {
                            let hi = lo + len;
                            edit.added.push((level, meta(next_number, &key(lo), &key(hi), seq)));
                            proposed.insert(next_number, (level, lo, hi, seq));
                            next_number += 1;
                        }
                        Step::Remove { level, number } => {
                            edit.removed.push((level, number));
                            if proposed.get(&number).map(|e| e.0) == Some(level) && model.contains_key(&number) {
                                proposed.remove(&number);
                            } else {
                                legal = false;
                            }
                        }
                    }
                }
                // Removals apply before additions, so a removal can only name
                // a table that was in the version before this edit.
                for level in 1..4 {
                    let mut ranges: Vec<(u8, u8)> = proposed.values().filter(|e| e.0 == level).map(|e| (e.1, e.2)).collect();
                    ranges.sort();
                    if ranges.windows(2).any(|w| w[0].1 >= w[1].0) {
                        legal = false;
                    }
                }
                match version.apply(&edit) {
                    Ok(next) => {
                        prop_assert!(legal, "accepted an illegal edit {:?}", edit);
                        next.check_invariants().unwrap();
                        version = next;
                        model = proposed;
                    }
                    Err(err) => {
                        prop_assert!(!legal, "rejected a legal edit {:?}: {}", edit, err);
                    }
                }
            }
            for level in 0..4 {
                let mut have: Vec<u64> = numbers(version.files_at(level));
                have.sort();
                let want: Vec<u64> = model.iter().filter(|(_, e)| e.0 == level).map(|(n, _)| *n).collect();
                prop_assert_eq!(have, want);
                for &(lo, len) in &probes {
                    let (lo, hi) = (key(lo), key(lo.saturating_add(len)));
                    let brute: Vec<u64> = version.files_at(level).iter()
                        .filter(|f| f.overlaps_user_range(&lo, &hi)).map(|f| f.number).collect();
                    prop_assert_eq!(numbers(&version.overlapping_files(level, &lo, &hi)), brute);
                    let brute: Vec<u64> = version.files_at(level).iter()
                        .filter(|f| f.may_contain_user_key(&lo)).map(|f| f.number).collect();
                    let got: Vec<u64> = version.files_for_key(level, &lo).map(|f| f.number).collect();
                    if level > 0 {
                        prop_assert!(got.len() <= 1);
                    }
                    prop_assert_eq!(got, brute);
                }
            }
            // Level 0 is newest first.
            let seqs: Vec<u64> = version.files_at(0).iter().map(|f| f.max_seq).collect();
            prop_assert!(seqs.windows(2).all(|w| w[0] >= w[1]));
        }
    }
}
