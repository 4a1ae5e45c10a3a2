//! A manifest whose checksums are valid but whose `last_seq` is below the
//! `max_seq` of a table it lists (a catalog written by a buggy build, or
//! crafted): the store would continue numbering writes from `last_seq + 1`,
//! below sequence numbers the tables already hold, so every acknowledged
//! write of a key the table holds would be hidden by the table's older
//! version once flushed. Open must refuse such a catalog as corruption
//! naming the manifest, or, if it opens, an acknowledged write must read
//! back (docs/durability.md: acknowledged writes are never lost).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use lsm_core::record::encode_record;
use lsm_manifest::{read_manifest, VersionEdit, EDIT_RECORD_TYPE, FORMAT_VERSION, MANIFEST_MAGIC};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .block_cache_bytes(0)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap()
}

/// Rewrites the live manifest as one snapshot record of the same catalog,
/// with `last_seq` replaced: a checksum-valid file as the writer frames
/// one (tag 1 version, tag 2 magic, then the body).
fn rewrite_manifest_with_last_seq(dir: &Path, last_seq: u64) -> PathBuf {
    let dump = read_manifest(&lsm_core::OsFileSystem, dir).unwrap();
    let mut edit: VersionEdit = dump.version.to_snapshot_edit();
    edit.next_file_number = Some(dump.next_file_number);
    edit.last_seq = Some(last_seq);
    edit.wal_segment = Some(dump.wal_segment);
    edit.newest_wal_segment = dump.newest_wal_segment;
    let mut body = Vec::new();
    edit.encode(&mut body);
    // `encode` starts with tag 1 and the version (one byte each); the
    // snapshot puts the magic field right after them.
    assert_eq!(&body[..2], &[1, FORMAT_VERSION as u8]);
    let mut payload = body[..2].to_vec();
    payload.push(2);
    payload.extend_from_slice(&MANIFEST_MAGIC);
    payload.extend_from_slice(&body[2..]);
    let mut file = Vec::new();
    encode_record(&mut file, EDIT_RECORD_TYPE, &payload);
    std::fs::write(&dump.path, &file).unwrap();
    // The rewritten file reads back with the new counter.
    assert_eq!(
        read_manifest(&lsm_core::OsFileSystem, dir)
            .unwrap()
            .last_seq,
        last_seq
    );
    dump.path
}

#[test]
fn manifest_last_seq_below_a_tables_max_seq_is_refused_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = SimpleLsmStore::open(config(dir)).unwrap();
    for i in 0..5 {
        store.put("k", format!("old{i}")).unwrap();
    }
    store.flush_memtable().unwrap();
    store.close().unwrap();
    drop(store);

    let dump = read_manifest(&lsm_core::OsFileSystem, dir).unwrap();
    let max_seq = dump
        .version
        .all_files()
        .map(|(_, f)| f.max_seq)
        .max()
        .unwrap();
    assert_eq!(max_seq, 5, "the flushed table holds k@5");
    let manifest = rewrite_manifest_with_last_seq(dir, 1);

    let store = match SimpleLsmStore::open(config(dir)) {
        Err(err) => {
            assert!(err.is_corruption(), "not a corruption error: {err}");
            let text = err.to_string();
            let name = manifest.file_name().unwrap().to_string_lossy().into_owned();
            assert!(text.contains(&name), "error does not name {name}: {text}");
            return;
        }
        Ok(store) => store,
    };
    let seq = store.put("k", "new").unwrap();
    store.flush_memtable().unwrap();
    // More writes (to other keys) take the read watermark past the old
    // table's sequence numbers.
    for i in 0..5 {
        store.put(format!("x{i}"), "filler").unwrap();
    }
    assert_eq!(
        store.get("k").unwrap().as_deref(),
        Some(&b"new"[..]),
        "the acknowledged put of k (seq {seq}) is hidden by the table's k@{max_seq}: the store \
         opened a manifest whose last_seq 1 is below a listed table's max_seq {max_seq}"
    );
    store.close().unwrap();
}

/// A failed open changes nothing on disk (docs/durability.md, "What open
/// does with a damaged file": checks first, repairs only after every check
/// passed). Here the WAL's newest segment has a torn tail (cut inside the
/// sync mark `close` wrote) and the manifest lists a table above its
/// `last_seq`, which open refuses: the refusal must leave the WAL segment
/// as it was, not cut its tail first. Found by a review: the torn tail was
/// cut by the WAL replay inside the checks, before the table check ran.
#[test]
fn a_refused_manifest_leaves_the_wal_torn_tail_uncut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = SimpleLsmStore::open(config(dir)).unwrap();
    for i in 0..5 {
        store.put("k", format!("old{i}")).unwrap();
    }
    store.flush_memtable().unwrap();
    store.close().unwrap();
    drop(store);

    // The newest segment holds the sync mark `close` wrote: cut inside it,
    // a torn tail open would cut.
    let newest = *lsm_wal::list_segments(&lsm_core::OsFileSystem, dir)
        .unwrap()
        .last()
        .unwrap();
    let wal = lsm_wal::segment_path(dir, newest);
    let contents = lsm_wal::read_segment(&lsm_core::OsFileSystem, &wal).unwrap();
    assert!(contents.sync_mark.is_some(), "close wrote a sync mark");
    let cut_len = contents.records_end - 3;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(cut_len)
        .unwrap();
    rewrite_manifest_with_last_seq(dir, 1);

    let err = match SimpleLsmStore::open(config(dir)) {
        Err(err) => err,
        Ok(_) => panic!("open accepted a manifest whose last_seq is below a table's max_seq"),
    };
    assert!(err.is_corruption(), "not a corruption error: {err}");
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len(),
        cut_len,
        "the failed open ({err}) cut the WAL segment {}",
        wal.display()
    );
}
