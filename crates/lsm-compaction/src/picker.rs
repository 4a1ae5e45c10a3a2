//! The leveled compaction picker: a pure function from a [`Version`]'s shape
//! to a [`CompactionChoice`], testable from a table of level sizes without a
//! disk.
//!
//! Scores: L0 = file count / `l0_trigger`; Ln (1 <= n < last) = bytes /
//! target(n), with target(1) = `base_level_bytes` and target(n+1) =
//! target(n) * `level_ratio`. The last level is never a source of these
//! (only of the range-delete rewrite, `pick_range_delete_compaction`,
//! which rewrites a last-level table in place). The level with the
//! highest score >= 1 is compacted into the next one:
//! - from L0, every L0 file (they overlap) plus the L1 files overlapping them;
//! - from Ln, the one file whose overlap with Ln+1 is smallest relative to
//!   its own size (RocksDB's "min overlapping ratio"), plus those overlaps,
//!   so a compaction rewrites what it must, not the whole level.
//!
//! Files already being compacted (`busy`) are never chosen, and a choice
//! never overlaps a busy file at its output level, so compactions on
//! different levels can run at the same time.

use std::collections::BTreeSet;
use std::sync::Arc;

use lsm_manifest::{FileMeta, Version};

/// The shape knobs the picker reads.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelShape {
    /// Number of levels (L0 included). At least 2.
    pub num_levels: usize,
    /// L0 file count at which L0 scores 1.0.
    pub l0_trigger: usize,
    /// Target bytes of L1.
    pub base_level_bytes: u64,
    /// Growth of the target from one level to the next.
    pub level_ratio: u64,
}

impl Default for LevelShape {
    fn default() -> Self {
        LevelShape {
            num_levels: 7,
            l0_trigger: 4,
            base_level_bytes: 256 * 1024 * 1024,
            level_ratio: 10,
        }
    }
}

impl LevelShape {
    /// Target bytes of `level` (>= 1); `u64::MAX` for the last level.
    pub fn target_bytes(&self, level: usize) -> u64 {
        if level + 1 >= self.num_levels {
            return u64::MAX;
        }
        let mut target = self.base_level_bytes.max(1);
        for _ in 1..level {
            target = target.saturating_mul(self.level_ratio.max(2));
        }
        target
    }
}

/// One compaction to run: `inputs` at `level` merge with `overlapping` at
/// `output_level` into new tables at `output_level`.
#[derive(Clone, Debug)]
pub struct CompactionChoice {
    /// Source level.
    pub level: usize,
    /// Destination level: `level + 1`, or `level` itself for a rewrite in
    /// place of a last-level table (to drop what range deletes hide).
    pub output_level: usize,
    /// Files taken from `level`.
    pub inputs: Vec<Arc<FileMeta>>,
    /// Files taken from `output_level` because they overlap `inputs`.
    pub overlapping: Vec<Arc<FileMeta>>,
    /// The score that made the level eligible (manual choices: 0).
    pub score: f64,
}

/// True when no user key falls in the ranges of two of `files`: sorted by
/// smallest user key, each ends before the next starts (the check
/// `Version::apply` makes of a level of 1 or more).
fn user_ranges_disjoint(files: &[Arc<FileMeta>]) -> bool {
    let mut ranges: Vec<(&[u8], &[u8])> = files
        .iter()
        .map(|f| (f.smallest_user_key(), f.largest_user_key()))
        .collect();
    ranges.sort_unstable_by(|a, b| a.0.cmp(b.0));
    ranges.windows(2).all(|pair| pair[0].1 < pair[1].0)
}

impl CompactionChoice {
    /// True when the inputs can move down without being rewritten: nothing
    /// to merge with at the output level, and no user key in two inputs
    /// (what a level of 1 or more requires of its tables). One input
    /// always qualifies; several level-0 tables do when their key ranges
    /// are disjoint, as the tables of a fill in key order are (a profile of
    /// a 2M-key ordered fill had the compaction thread merging such tables
    /// at 19% of the process's samples).
    pub fn is_trivial_move(&self) -> bool {
        self.output_level != self.level
            && self.overlapping.is_empty()
            && !self.inputs.is_empty()
            && user_ranges_disjoint(&self.inputs)
    }

    /// Every input file with its level.
    pub fn all_inputs(&self) -> impl Iterator<Item = (usize, &Arc<FileMeta>)> {
        self.inputs
            .iter()
            .map(move |f| (self.level, f))
            .chain(self.overlapping.iter().map(move |f| (self.output_level, f)))
    }

    /// Bytes of every input file.
    pub fn input_bytes(&self) -> u64 {
        self.all_inputs().map(|(_, f)| f.file_bytes).sum()
    }

    /// File numbers of every input.
    pub fn input_numbers(&self) -> Vec<u64> {
        self.all_inputs().map(|(_, f)| f.number).collect()
    }
}

/// The score of every level (the last level scores 0).
pub fn level_scores(version: &Version, shape: &LevelShape) -> Vec<f64> {
    (0..version.num_levels())
        .map(|level| {
            if level + 1 >= version.num_levels() {
                0.0
            } else if level == 0 {
                version.files_at(0).len() as f64 / shape.l0_trigger.max(1) as f64
            } else {
                version.level_bytes(level) as f64 / shape.target_bytes(level) as f64
            }
        })
        .collect()
}

/// An estimate of the table bytes compactions must rewrite before every
/// level scores below 1 (RocksDB's "estimated pending compaction bytes"):
/// - L0 due (score >= 1): its bytes plus L1's (an L0 compaction merges
///   with the L1 tables it overlaps, usually most of them), and its bytes
///   arrive at L1;
/// - each level from L1 to the one above the last: with what arrives from
///   above, the excess over its target moves down, rewritten once with the
///   excess's share of the next level (`excess * (1 + next / this)`), and
///   arrives at the next level.
///
/// Zero when nothing is due. Saturating; a pure function like
/// [`level_scores`], cheap enough for every `stats()` call.
pub fn pending_compaction_bytes(version: &Version, shape: &LevelShape) -> u64 {
    let levels = version.num_levels();
    if levels < 2 {
        return 0;
    }
    let mut pending = 0u64;
    let mut arriving = 0u64;
    let l0_bytes = version.level_bytes(0);
    if version.files_at(0).len() >= shape.l0_trigger.max(1) {
        pending = l0_bytes.saturating_add(version.level_bytes(1));
        arriving = l0_bytes;
    }
    for level in 1..levels - 1 {
        let size = version.level_bytes(level).saturating_add(arriving);
        let target = shape.target_bytes(level);
        arriving = 0;
        if size > target {
            let excess = size - target;
            let next = version.level_bytes(level + 1);
            let fanout = next as f64 / size as f64;
            let rewritten = excess as f64 * (1.0 + fanout);
            // Float to int saturates at u64::MAX.
            pending = pending.saturating_add(rewritten as u64);
            arriving = excess;
        }
    }
    pending
}

fn user_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let smallest = files.iter().map(|f| f.smallest_user_key()).min()?;
    let largest = files.iter().map(|f| f.largest_user_key()).max()?;
    Some((smallest.to_vec(), largest.to_vec()))
}

fn any_busy(files: &[Arc<FileMeta>], busy: &BTreeSet<u64>) -> bool {
    files.iter().any(|f| busy.contains(&f.number))
}

/// Builds the choice that compacts `inputs` (at `level`) into `level + 1`,
/// or `None` if it would touch a busy file.
fn with_overlaps(
    version: &Version,
    level: usize,
    inputs: Vec<Arc<FileMeta>>,
    score: f64,
    busy: &BTreeSet<u64>,
) -> Option<CompactionChoice> {
    if inputs.is_empty() || any_busy(&inputs, busy) || level + 1 >= version.num_levels() {
        return None;
    }
    let (smallest, largest) = user_range(&inputs)?;
    let overlapping = version.overlapping_files(level + 1, &smallest, &largest);
    if any_busy(&overlapping, busy) {
        return None;
    }
    Some(CompactionChoice {
        level,
        output_level: level + 1,
        inputs,
        overlapping,
        score,
    })
}

/// The compaction the tree needs most, if any level scores >= 1.
pub fn pick_compaction(
    version: &Version,
    shape: &LevelShape,
    busy: &BTreeSet<u64>,
) -> Option<CompactionChoice> {
    let scores = level_scores(version, shape);
    let mut levels: Vec<usize> = (0..scores.len()).filter(|&l| scores[l] >= 1.0).collect();
    levels.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    levels.into_iter().find_map(|level| {
        if level == 0 {
            with_overlaps(version, 0, version.files_at(0).to_vec(), scores[0], busy)
        } else {
            pick_file_in_level(version, level, scores[level], busy)
        }
    })
}

fn pick_file_in_level(
    version: &Version,
    level: usize,
    score: f64,
    busy: &BTreeSet<u64>,
) -> Option<CompactionChoice> {
    let mut best: Option<(f64, CompactionChoice)> = None;
    for file in version.files_at(level) {
        let Some(choice) = with_overlaps(version, level, vec![Arc::clone(file)], score, busy)
        else {
            continue;
        };
        let overlap: u64 = choice.overlapping.iter().map(|f| f.file_bytes).sum();
        let ratio = overlap as f64 / file.file_bytes.max(1) as f64;
        if best.as_ref().is_none_or(|(r, _)| ratio < *r) {
            best = Some((ratio, choice));
        }
    }
    best.map(|(_, choice)| choice)
}

/// A compaction that drops data range deletes hide, for when no level is
/// due: the first table (not busy) that overlaps a range tombstone at or
/// below `oldest_reader` (so no reader needs what it hides), holds versions
/// older than it (`min_seq`), and is not known to be clean of it
/// (`clean_under(file)`: the largest tombstone sequence number a rewrite
/// of that table already applied). A table of the last level is rewritten
/// in place (`output_level == level`); any other is compacted into the next
/// level with its overlaps.
pub fn pick_range_delete_compaction(
    version: &Version,
    busy: &BTreeSet<u64>,
    oldest_reader: u64,
    clean_under: impl Fn(u64) -> u64,
) -> Option<CompactionChoice> {
    let tombstones = version.range_tombstones();
    if tombstones.is_empty() {
        return None;
    }
    let last = version.num_levels().checked_sub(1)?;
    for (level, file) in version.all_files() {
        if busy.contains(&file.number) {
            continue;
        }
        let hides = tombstones.tombstones().any(|t| {
            t.seq <= oldest_reader
                && file.min_seq < t.seq
                && clean_under(file.number) < t.seq
                && t.overlaps(file.smallest_user_key(), file.largest_user_key())
        });
        if !hides {
            continue;
        }
        if level == last {
            return Some(CompactionChoice {
                level,
                output_level: level,
                inputs: vec![Arc::clone(file)],
                overlapping: Vec::new(),
                score: 0.0,
            });
        }
        let inputs = if level == 0 {
            version.files_at(0).to_vec()
        } else {
            vec![Arc::clone(file)]
        };
        if let Some(choice) = with_overlaps(version, level, inputs, 0.0, busy) {
            return Some(choice);
        }
    }
    None
}

/// The manual compaction of a whole level into the next one (every file of
/// `level` plus the overlapping files below). `None` if the level is empty,
/// is the last level, or touches a busy file.
pub fn choose_level_compaction(
    version: &Version,
    level: usize,
    busy: &BTreeSet<u64>,
) -> Option<CompactionChoice> {
    with_overlaps(version, level, version.files_at(level).to_vec(), 0.0, busy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, ValueKind};
    use lsm_manifest::VersionEdit;

    fn file(number: u64, smallest: &str, largest: &str, bytes: u64, seq: u64) -> FileMeta {
        FileMeta {
            number,
            file_bytes: bytes,
            smallest: InternalKey::new(smallest.as_bytes(), seq, ValueKind::Put),
            largest: InternalKey::new(largest.as_bytes(), seq, ValueKind::Put),
            min_seq: seq,
            max_seq: seq,
            entries: 1,
            tombstones: 0,
        }
    }

    fn version(files: Vec<(usize, FileMeta)>) -> Version {
        let edit = VersionEdit {
            added: files,
            ..VersionEdit::default()
        };
        Version::new(4).apply(&edit).unwrap()
    }

    fn shape() -> LevelShape {
        LevelShape {
            num_levels: 4,
            l0_trigger: 2,
            base_level_bytes: 100,
            level_ratio: 10,
        }
    }

    #[test]
    fn pending_compaction_bytes_follow_the_levels_over_target() {
        let s = shape(); // L0 trigger 2, L1 target 100, L2 1000
        assert_eq!(pending_compaction_bytes(&version(vec![]), &s), 0);
        // One L0 file, L1 under target: nothing due.
        let quiet = version(vec![
            (0, file(1, "a", "b", 50, 1)),
            (1, file(2, "a", "z", 80, 1)),
        ]);
        assert_eq!(pending_compaction_bytes(&quiet, &s), 0);
        // L0 due: 2 x 50 + L1's 80; 100 arrive at L1 (180 > 100): the
        // excess 80 moves to L2 (empty, fanout 0).
        let l0_due = version(vec![
            (0, file(1, "a", "b", 50, 1)),
            (0, file(3, "c", "d", 50, 2)),
            (1, file(2, "a", "z", 80, 1)),
        ]);
        assert_eq!(pending_compaction_bytes(&l0_due, &s), 100 + 80 + 80);
        // L1 over target alone: excess 100 with L2 at half of L1's size.
        let l1_over = version(vec![
            (1, file(2, "a", "m", 200, 1)),
            (2, file(4, "a", "z", 100, 1)),
        ]);
        assert_eq!(pending_compaction_bytes(&l1_over, &s), 100 + 50);
        // The last level is never a source.
        let last = version(vec![(3, file(5, "a", "z", 1 << 40, 1))]);
        assert_eq!(pending_compaction_bytes(&last, &s), 0);
    }

    #[test]
    fn targets_grow_by_ratio_and_last_level_is_unbounded() {
        let s = shape();
        assert_eq!(s.target_bytes(1), 100);
        assert_eq!(s.target_bytes(2), 1000);
        assert_eq!(s.target_bytes(3), u64::MAX);
    }

    #[test]
    fn quiet_tree_needs_nothing() {
        let v = version(vec![
            (0, file(1, "a", "c", 10, 1)),
            (1, file(2, "a", "z", 50, 0)),
        ]);
        assert!(pick_compaction(&v, &shape(), &BTreeSet::new()).is_none());
    }

    #[test]
    fn l0_over_trigger_takes_all_l0_and_overlapping_l1() {
        let v = version(vec![
            (0, file(1, "b", "d", 10, 5)),
            (0, file(2, "c", "f", 10, 6)),
            (1, file(3, "a", "b", 10, 1)),
            (1, file(4, "e", "g", 10, 1)),
            (1, file(5, "x", "z", 10, 1)),
        ]);
        let choice = pick_compaction(&v, &shape(), &BTreeSet::new()).unwrap();
        assert_eq!(choice.level, 0);
        let mut inputs = choice.input_numbers();
        inputs.sort();
        assert_eq!(inputs, [1, 2, 3, 4]);
        assert!(!choice.is_trivial_move());
    }

    #[test]
    fn disjoint_l0_tables_over_an_empty_range_of_l1_move_down_whole() {
        let disjoint = version(vec![
            (0, file(1, "a", "c", 10, 5)),
            (0, file(2, "d", "f", 10, 6)),
            (0, file(3, "g", "h", 10, 7)),
            (1, file(4, "x", "z", 10, 1)),
        ]);
        let choice = pick_compaction(&disjoint, &shape(), &BTreeSet::new()).unwrap();
        assert_eq!(choice.level, 0);
        assert!(choice.overlapping.is_empty());
        assert!(choice.is_trivial_move(), "{choice:?}");

        // A user key at the end of one table and the start of the next
        // (two versions of it) would put it in two tables of level 1.
        let shared_key = version(vec![
            (0, file(1, "a", "c", 10, 5)),
            (0, file(2, "c", "f", 10, 6)),
            (0, file(3, "g", "h", 10, 7)),
        ]);
        let choice = pick_compaction(&shared_key, &shape(), &BTreeSet::new()).unwrap();
        assert!(!choice.is_trivial_move(), "{choice:?}");
    }

    #[test]
    fn level_over_target_picks_file_with_least_overlap() {
        let v = version(vec![
            (1, file(1, "a", "c", 60, 1)),
            (1, file(2, "m", "p", 60, 1)),
            (2, file(3, "a", "b", 500, 0)),
        ]);
        let choice = pick_compaction(&v, &shape(), &BTreeSet::new()).unwrap();
        assert_eq!(choice.level, 1);
        assert_eq!(choice.input_numbers(), [2]);
        assert!(choice.is_trivial_move());
    }

    #[test]
    fn busy_files_are_never_chosen() {
        let v = version(vec![
            (0, file(1, "a", "c", 10, 5)),
            (0, file(2, "a", "c", 10, 6)),
            (1, file(3, "a", "b", 10, 1)),
        ]);
        let busy: BTreeSet<u64> = [3].into();
        assert!(pick_compaction(&v, &shape(), &busy).is_none());
        assert!(choose_level_compaction(&v, 0, &busy).is_none());
        assert!(choose_level_compaction(&v, 0, &BTreeSet::new()).is_some());
        assert!(
            choose_level_compaction(&v, 3, &BTreeSet::new()).is_none(),
            "last level is never a source"
        );
    }
}
