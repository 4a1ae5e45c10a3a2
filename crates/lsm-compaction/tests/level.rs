//! `LevelIterator` over real tables: both directions across file
//! boundaries, seeks into the gaps between files, and opening only the
//! files a seek needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lsm_compaction::{
    file_meta_from_properties, sstable_error_to_core, LevelIterator, TableSource,
};
use lsm_core::{InternalIterator, InternalKey, OsFileSystem, ValueKind};
use lsm_manifest::{table_file_name, FileMeta};
use lsm_sstable::{Table, TableBuilder, TableOptions};

/// Tables in a directory; counts the opens.
struct Dir {
    path: PathBuf,
    opens: AtomicUsize,
}

impl TableSource for Dir {
    fn table(&self, file: &FileMeta) -> lsm_core::Result<Arc<Table>> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        let path = self.path.join(table_file_name(file.number));
        Table::open(&OsFileSystem, &path, file.number, None)
            .map_err(|e| sstable_error_to_core(e, &path))
    }
}

fn ikey(user: &str) -> Vec<u8> {
    InternalKey::new(user.as_bytes(), 1, ValueKind::Put).into_bytes()
}

/// A level on disk, with its files and every key in order.
struct Level {
    /// Bind it (not `..`) to keep the directory for the whole test.
    _tmp: tempfile::TempDir,
    dir: Arc<Dir>,
    files: Vec<Arc<FileMeta>>,
    keys: Vec<Vec<u8>>,
}

/// Three files of keys `k00`..`k29` (even numbers only, so odd numbers
/// fall in gaps): files hold 0..10, 10..20 and 20..30, several small
/// blocks each.
fn level() -> Level {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Arc::new(Dir {
        path: tmp.path().to_path_buf(),
        opens: AtomicUsize::new(0),
    });
    let options = TableOptions {
        block_bytes: 64,
        restart_interval: 2,
        ..TableOptions::default()
    };
    let mut files = Vec::new();
    let mut keys = Vec::new();
    for number in 0..3u64 {
        let path = dir.path.join(table_file_name(number + 1));
        let mut builder = TableBuilder::create(&OsFileSystem, &path, options.clone()).unwrap();
        for i in (number * 10..number * 10 + 10).step_by(2) {
            let key = ikey(&format!("k{i:02}"));
            builder.add(&key, format!("v{i:02}").as_bytes()).unwrap();
            keys.push(key);
        }
        let props = builder.finish().unwrap();
        files.push(Arc::new(file_meta_from_properties(number + 1, &props)));
    }
    Level {
        _tmp: tmp,
        dir,
        files,
        keys,
    }
}

fn new_iter(dir: &Arc<Dir>, files: &[Arc<FileMeta>]) -> LevelIterator {
    LevelIterator::new(files.to_vec(), Arc::clone(dir) as Arc<dyn TableSource>)
}

#[test]
fn backward_scan_crosses_every_file() {
    let Level {
        _tmp,
        dir,
        files,
        keys,
    } = level();
    let mut it = new_iter(&dir, &files);
    it.seek_to_last().unwrap();
    let mut got = Vec::new();
    while it.valid() {
        got.push(it.key().to_vec());
        it.prev().unwrap();
    }
    let mut expected = keys.clone();
    expected.reverse();
    assert_eq!(got, expected);
    assert_eq!(dir.opens.load(Ordering::SeqCst), 3);
}

#[test]
fn direction_switches_at_file_boundaries_step_by_one() {
    let Level {
        _tmp,
        dir,
        files,
        keys,
    } = level();
    let mut it = new_iter(&dir, &files);
    // k10 starts the second file; k08 ends the first.
    it.seek(&keys[5]).unwrap();
    it.prev().unwrap();
    assert_eq!(it.key(), &keys[4][..]);
    it.next().unwrap();
    assert_eq!(it.key(), &keys[5][..]);
    it.seek_to_first().unwrap();
    it.prev().unwrap();
    assert!(!it.valid(), "before the first file");
    it.seek_to_last().unwrap();
    it.next().unwrap();
    assert!(!it.valid(), "past the last file");
}

#[test]
fn seek_for_prev_lands_on_the_last_key_at_or_before_the_target() {
    let Level {
        _tmp,
        dir,
        files,
        keys,
    } = level();
    let mut it = new_iter(&dir, &files);
    for (i, key) in keys.iter().enumerate() {
        it.seek_for_prev(key).unwrap();
        assert_eq!(it.key(), &key[..], "exact {i}");
        // The odd key after it is absent: still lands on it.
        let number = 2 * i + 1;
        let gap = InternalKey::for_seek(format!("k{number:02}").as_bytes(), 5);
        it.seek_for_prev(gap.as_bytes()).unwrap();
        assert_eq!(it.key(), &key[..], "gap after {i}");
    }
    it.seek_for_prev(InternalKey::for_seek(b"a", 5).as_bytes())
        .unwrap();
    assert!(!it.valid(), "before every file");
    it.seek_for_prev(InternalKey::for_seek(b"z", 5).as_bytes())
        .unwrap();
    assert_eq!(it.key(), &keys[14][..], "past every file");
}

#[test]
fn seek_for_prev_into_a_gap_opens_only_the_earlier_file() {
    let Level {
        _tmp,
        dir,
        files,
        keys,
    } = level();
    let mut it = new_iter(&dir, &files);
    // k09 lies between the first file (..k08) and the second (k10..).
    let gap = InternalKey::for_seek(b"k09", 5);
    it.seek_for_prev(gap.as_bytes()).unwrap();
    assert_eq!(it.key(), &keys[4][..]);
    assert_eq!(dir.opens.load(Ordering::SeqCst), 1, "only the first file");
}

#[test]
fn an_empty_level_is_never_valid() {
    let Level { _tmp, dir, .. } = level();
    let mut it = new_iter(&dir, &[]);
    it.seek_to_last().unwrap();
    assert!(!it.valid());
    it.seek_for_prev(&ikey("k10")).unwrap();
    assert!(!it.valid());
}
