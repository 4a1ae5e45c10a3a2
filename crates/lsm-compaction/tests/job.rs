//! The compaction job over real tables: output splitting, tombstone
//! dropping, snapshot retention, trivial moves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use lsm_compaction::{
    choose_level_compaction, flush_to_tables, run_compaction, sstable_error_to_core, OutputContext,
    TableSource,
};
use lsm_core::{
    parse_internal_key, InternalIterator, InternalKey, OsFileSystem, SharedFileSystem, ValueKind,
    VecCursor,
};
use lsm_manifest::{table_file_name, FileMeta, Version, VersionEdit};
use lsm_sstable::{Table, TableOptions};

struct Dir {
    fs: SharedFileSystem,
    path: std::path::PathBuf,
    next: u64,
}

impl TableSource for Dir {
    fn table(&self, file: &FileMeta) -> lsm_core::Result<Arc<Table>> {
        let path = self.path.join(table_file_name(file.number));
        Table::open(self.fs.as_ref(), &path, file.number, None)
            .map_err(|e| sstable_error_to_core(e, &path))
    }
}

fn entry(key: &str, seq: u64, kind: ValueKind, value: &str) -> (Vec<u8>, Vec<u8>) {
    (
        InternalKey::new(key.as_bytes(), seq, kind).into_bytes(),
        value.as_bytes().to_vec(),
    )
}

fn write_table(dir: &mut Dir, entries: Vec<(Vec<u8>, Vec<u8>)>) -> FileMeta {
    let options = TableOptions::default();
    let fs = Arc::clone(&dir.fs);
    let path = dir.path.clone();
    let mut next = || {
        dir.next += 1;
        dir.next
    };
    let ctx = OutputContext {
        fs: &fs,
        dir: &path,
        table_options: &options,
        target_file_bytes: u64::MAX,
        // A snapshot at every seqno: the input table keeps every version.
        snapshots: (0..2000).collect(),
        new_file_number: &mut next,
    };
    let mut tables = flush_to_tables(&mut VecCursor::new(entries), ctx).unwrap();
    assert_eq!(tables.len(), 1);
    tables.pop().unwrap()
}

fn read_all(source: &Dir, files: &[FileMeta]) -> Vec<(String, u64, ValueKind)> {
    let mut out = Vec::new();
    for file in files {
        let table = source.table(file).unwrap();
        let mut it = table.iter();
        it.seek_to_first().unwrap();
        while it.valid() {
            let k = parse_internal_key(it.key()).unwrap();
            out.push((
                String::from_utf8(k.user_key.to_vec()).unwrap(),
                k.seq,
                k.kind,
            ));
            it.next().unwrap();
        }
    }
    out
}

fn compact(
    dir: &mut Dir,
    version: &Version,
    level: usize,
    snapshots: Vec<u64>,
    target: u64,
) -> (VersionEdit, Vec<FileMeta>) {
    let choice = choose_level_compaction(version, level, &BTreeSet::new()).unwrap();
    let options = TableOptions {
        block_bytes: 128,
        ..TableOptions::default()
    };
    let fs = Arc::clone(&dir.fs);
    let path = dir.path.clone();
    let source: Arc<dyn TableSource> = Arc::new(Dir {
        fs: Arc::clone(&fs),
        path: path.clone(),
        next: 0,
    });
    let mut next_number = dir.next;
    let mut next = || {
        next_number += 1;
        next_number
    };
    let ctx = OutputContext {
        fs: &fs,
        dir: &path,
        table_options: &options,
        target_file_bytes: target,
        snapshots,
        new_file_number: &mut next,
    };
    let outcome = run_compaction(&choice, version, &source, ctx).unwrap();
    dir.next = next_number;
    (outcome.edit, outcome.outputs)
}

fn new_dir(path: &Path) -> Dir {
    Dir {
        fs: OsFileSystem::shared(),
        path: path.to_path_buf(),
        next: 0,
    }
}

#[test]
fn bottommost_compaction_drops_shadowed_versions_and_tombstones() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = new_dir(tmp.path());
    let newer = write_table(
        &mut dir,
        vec![
            entry("a", 10, ValueKind::Delete, ""),
            entry("b", 11, ValueKind::Put, "b2"),
        ],
    );
    let older = write_table(
        &mut dir,
        vec![
            entry("a", 1, ValueKind::Put, "a1"),
            entry("b", 2, ValueKind::Put, "b1"),
            entry("c", 3, ValueKind::Put, "c1"),
        ],
    );
    let version = Version::new(3)
        .apply(&VersionEdit {
            added: vec![(0, newer), (1, older)],
            ..VersionEdit::default()
        })
        .unwrap();
    let (edit, outputs) = compact(&mut dir, &version, 0, vec![], u64::MAX);
    assert_eq!(edit.removed.len(), 2);
    // L2 is empty, so L1 is bottommost: a's tombstone and every old version go.
    assert_eq!(
        read_all(&dir, &outputs),
        [
            ("b".to_string(), 11, ValueKind::Put),
            ("c".to_string(), 3, ValueKind::Put)
        ]
    );
}

#[test]
fn tombstone_survives_when_older_data_may_exist_below_and_snapshots_keep_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = new_dir(tmp.path());
    let l0 = write_table(
        &mut dir,
        vec![
            entry("a", 10, ValueKind::Delete, ""),
            entry("b", 12, ValueKind::Put, "b3"),
        ],
    );
    let l1 = write_table(&mut dir, vec![entry("b", 5, ValueKind::Put, "b2")]);
    let l2 = write_table(&mut dir, vec![entry("a", 1, ValueKind::Put, "a1")]);
    let version = Version::new(3)
        .apply(&VersionEdit {
            added: vec![(0, l0), (1, l1), (2, l2)],
            ..VersionEdit::default()
        })
        .unwrap();
    // A snapshot at 7 still sees b@5.
    let (_, outputs) = compact(&mut dir, &version, 0, vec![7], u64::MAX);
    assert_eq!(
        read_all(&dir, &outputs),
        [
            ("a".to_string(), 10, ValueKind::Delete),
            ("b".to_string(), 12, ValueKind::Put),
            ("b".to_string(), 5, ValueKind::Put)
        ]
    );
}

#[test]
fn outputs_split_at_target_size_but_never_inside_a_user_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = new_dir(tmp.path());
    let mut entries = Vec::new();
    for i in 0..200u64 {
        // Three versions per key, kept by snapshots at every seq.
        for v in 0..3u64 {
            entries.push(entry(
                &format!("key{i:04}"),
                1000 - (i * 3 + v),
                ValueKind::Put,
                &"x".repeat(40),
            ));
        }
    }
    let input = write_table(&mut dir, entries);
    // An overlapping L1 table forces a real merge rather than a move.
    let below = write_table(&mut dir, vec![entry("key0100", 1, ValueKind::Put, "old")]);
    let version = Version::new(3)
        .apply(&VersionEdit {
            added: vec![(0, input), (1, below)],
            ..VersionEdit::default()
        })
        .unwrap();
    let snapshots: Vec<u64> = (0..1000).collect();
    let (edit, outputs) = compact(&mut dir, &version, 0, snapshots, 2048);
    assert!(
        outputs.len() > 3,
        "expected several outputs, got {}",
        outputs.len()
    );
    for pair in outputs.windows(2) {
        assert!(
            pair[0].largest_user_key() < pair[1].smallest_user_key(),
            "a user key spans two tables"
        );
    }
    assert_eq!(read_all(&dir, &outputs).len(), 601);
    // The edit applies cleanly: L1 stays a non-overlapping sorted run.
    version.apply(&edit).unwrap().check_invariants().unwrap();
}

#[test]
fn single_file_without_overlap_moves_down_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = new_dir(tmp.path());
    let file = write_table(&mut dir, vec![entry("a", 1, ValueKind::Put, "1")]);
    let number = file.number;
    let version = Version::new(3)
        .apply(&VersionEdit {
            added: vec![(1, file)],
            ..VersionEdit::default()
        })
        .unwrap();
    let (edit, outputs) = compact(&mut dir, &version, 1, vec![], u64::MAX);
    assert!(outputs.is_empty());
    assert_eq!(edit.removed, [(1, number)]);
    assert_eq!(edit.added[0].0, 2);
    assert_eq!(edit.added[0].1.number, number);
}

/// A compaction whose last step fails (the directory fsync after every
/// output is written, or the last output's own finish) removes every output
/// it wrote, as `run_compaction` documents ("a failed job removes its
/// partial outputs"): only the input tables are left in the directory.
/// Found by a review: outputs finished before the failure were left behind.
#[test]
fn a_compaction_failing_at_its_end_removes_every_output() {
    // `fail(dir, last output's number)` names the file (or directory)
    // whose fsync fails.
    let run = |fail: &dyn Fn(&Path, u64) -> String| {
        let tmp = tempfile::tempdir().unwrap();
        let faulty = lsm_core::fault::FaultyFileSystem::new(OsFileSystem::shared());
        let fs: SharedFileSystem = faulty.clone();
        let mut dir = Dir {
            fs: Arc::clone(&fs),
            path: tmp.path().to_path_buf(),
            next: 0,
        };
        let mut entries = Vec::new();
        for i in 0..200u64 {
            entries.push(entry(
                &format!("key{i:04}"),
                1000 - i,
                ValueKind::Put,
                &"x".repeat(40),
            ));
        }
        let input = write_table(&mut dir, entries);
        let below = write_table(&mut dir, vec![entry("key0100", 1, ValueKind::Put, "old")]);
        let inputs = [table_file_name(input.number), table_file_name(below.number)];
        let version = Version::new(3)
            .apply(&VersionEdit {
                added: vec![(0, input), (1, below)],
                ..VersionEdit::default()
            })
            .unwrap();
        let choice = choose_level_compaction(&version, 0, &BTreeSet::new()).unwrap();
        let source: Arc<dyn TableSource> = Arc::new(Dir {
            fs: Arc::clone(&fs),
            path: tmp.path().to_path_buf(),
            next: 0,
        });
        let options = TableOptions {
            block_bytes: 128,
            ..TableOptions::default()
        };
        // The same compaction without faults, to learn how many outputs
        // it makes (their numbers follow the inputs').
        let outputs = {
            let mut next_number = dir.next + 1000;
            let mut next = || {
                next_number += 1;
                next_number
            };
            let clean = run_compaction(
                &choice,
                &version,
                &source,
                OutputContext {
                    fs: &fs,
                    dir: tmp.path(),
                    table_options: &options,
                    target_file_bytes: 2048,
                    snapshots: vec![],
                    new_file_number: &mut next,
                },
            )
            .unwrap();
            for file in &clean.outputs {
                std::fs::remove_file(tmp.path().join(table_file_name(file.number))).unwrap();
            }
            clean.outputs.len() as u64
        };
        assert!(outputs > 2, "several outputs: {outputs}");
        faulty.target(Some(&fail(tmp.path(), dir.next + outputs)));
        faulty.fail_syncs(true);
        let mut next_number = dir.next;
        let mut next = || {
            next_number += 1;
            next_number
        };
        let result = run_compaction(
            &choice,
            &version,
            &source,
            OutputContext {
                fs: &fs,
                dir: tmp.path(),
                table_options: &options,
                target_file_bytes: 2048,
                snapshots: vec![],
                new_file_number: &mut next,
            },
        );
        faulty.fail_syncs(false);
        assert!(result.is_err(), "the injected sync failure is reported");
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = inputs.to_vec();
        want.sort();
        assert_eq!(left, want, "outputs of the failed compaction left behind");
    };
    // The directory fsync after the last output.
    run(&|dir: &Path, _| dir.file_name().unwrap().to_string_lossy().into_owned());
    // The last output's own fsync, in its finish.
    run(&|_: &Path, last: u64| table_file_name(last));
}
