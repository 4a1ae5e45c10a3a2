//! A crash that tears the last record of the WAL or the manifest leaves a
//! torn tail, which open cuts (docs/durability.md: "open succeeds (a torn
//! tail is cut, never reported as corruption)"), whatever the torn record
//! holds. A record's payload is user data (a value in the WAL, a table's
//! smallest and largest keys in the manifest), and user data can hold whole
//! valid records: a value that is itself a log record. Those must not make
//! the torn tail look like damage in the middle of the log.
//!
//! The crash images are built by hand: the store is dropped without
//! `close` (a process kill), then the last record is cut short by one byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::record::{decode_record, encode_record, RecordDecode};
use lsm_core::{OsFileSystem, WriteBatch};
use lsm_engine::{Engine, LsmConfig};
use lsm_wal::{list_segments, segment_path, SyncMode};

const MAX_PAYLOAD: usize = 64 << 20;

fn config(dir: &Path, wal_sync: SyncMode) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 << 10)
        .wal_sync(wal_sync)
        .block_cache_bytes(0)
        .build()
        .unwrap()
}

fn put(engine: &Engine, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(key, value);
    engine.write(&batch).unwrap();
}

/// The `[start, end)` of each valid record at the head of `buf`.
fn record_spans(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let RecordDecode::Record { framed_len, .. } = decode_record(&buf[at..], MAX_PAYLOAD) {
        spans.push((at, at + framed_len));
        at += framed_len;
    }
    spans
}

/// Cuts the last record of the file at `path` short by one byte, as a
/// crash during its write leaves it: truncates the file if the record ends
/// it, else zeroes the record's last byte (the zeros written ahead of the
/// records stay).
fn tear_last_record(path: &Path) {
    let mut buf = std::fs::read(path).unwrap();
    let &(_, end) = record_spans(&buf).last().expect("a record");
    if end == buf.len() {
        buf.truncate(end - 1);
    } else {
        buf[end - 1] = 0;
    }
    std::fs::write(path, &buf).unwrap();
}

fn newest_segment(dir: &Path) -> PathBuf {
    let segments = list_segments(&OsFileSystem, dir).unwrap();
    segment_path(dir, *segments.last().expect("a segment"))
}

fn only_manifest(dir: &Path) -> PathBuf {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("MANIFEST-"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(names.pop().unwrap())
}

/// Bytes holding one whole valid record frame (type 1), as any user key or
/// value may.
fn holding_a_frame(prefix: &[u8]) -> Vec<u8> {
    let mut bytes = prefix.to_vec();
    encode_record(&mut bytes, 1, b"x");
    bytes.extend_from_slice(b" and more");
    bytes
}

/// The last write-batch record of another store's WAL, whose sequence
/// numbers and durable mark run far past this test's: a value holding it
/// is what a backup of one store kept in another looks like.
fn a_record_of_another_wal() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path(), SyncMode::Always)).unwrap();
    for i in 0..200 {
        put(&engine, format!("other{i:03}").as_bytes(), b"v");
    }
    drop(engine);
    let buf = std::fs::read(newest_segment(dir.path())).unwrap();
    let &(start, end) = record_spans(&buf).last().unwrap();
    buf[start..end].to_vec()
}

/// Writes `a = 1`, then `b = value`, kills the store and tears the WAL's
/// last record (`b`'s); reopens.
fn reopen_after_tearing_the_last_wal_record(value: &[u8]) -> lsm_engine::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    for wal_sync in [SyncMode::Never, SyncMode::Always] {
        let path = dir.path().join(format!("{wal_sync:?}"));
        let engine = Engine::open(config(&path, wal_sync)).unwrap();
        put(&engine, b"a", b"1");
        put(&engine, b"b", value);
        drop(engine); // a process kill: no close, no sync mark
        tear_last_record(&newest_segment(&path));
        let engine = Engine::open(config(&path, wal_sync))?;
        assert_eq!(engine.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(engine.get(b"b").unwrap(), None, "the torn write is cut");
    }
    Ok(())
}

#[test]
fn a_torn_last_wal_record_is_cut() {
    reopen_after_tearing_the_last_wal_record(b"an ordinary value").unwrap();
}

#[test]
fn a_torn_last_wal_record_holding_a_record_is_cut_too() {
    reopen_after_tearing_the_last_wal_record(&holding_a_frame(b"value holding ")).unwrap();
}

#[test]
fn a_torn_last_wal_record_holding_a_record_of_another_wal_is_cut_too() {
    let mut value = b"backup: ".to_vec();
    value.extend_from_slice(&a_record_of_another_wal());
    value.extend_from_slice(b" (end)");
    reopen_after_tearing_the_last_wal_record(&value).unwrap();
}

/// A crash during the manifest append of a flush's edit: the table is
/// durable (synced before the edit), the WAL segments are not deleted yet
/// (that follows the edit's fsync), and the manifest holds the edit torn.
/// Open leaves the torn edit out and recovers the write from the WAL.
fn reopen_after_tearing_a_flush_edit(key: &[u8]) -> lsm_engine::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    {
        let engine = Arc::new(Engine::open(config(path, SyncMode::Never)).unwrap());
        let mut freezer = engine.freezer().unwrap();
        put(&engine, key, b"v");
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        // The WAL as it was before the flush deleted its old segments.
        let wal: Vec<(PathBuf, Vec<u8>)> = list_segments(&OsFileSystem, path)
            .unwrap()
            .into_iter()
            .map(|number| {
                let segment = segment_path(path, number);
                let bytes = std::fs::read(&segment).unwrap();
                (segment, bytes)
            })
            .collect();
        assert!(engine.flush_oldest_immutable().unwrap());
        drop(freezer);
        drop(engine); // no close
        for (segment, bytes) in wal {
            std::fs::write(segment, bytes).unwrap();
        }
    }
    // The flush's edit is the manifest's last record.
    tear_last_record(&only_manifest(path));
    let engine = Engine::open(config(path, SyncMode::Never))?;
    assert_eq!(engine.get(key).unwrap().as_deref(), Some(&b"v"[..]));
    Ok(())
}

#[test]
fn a_torn_flush_edit_is_left_out() {
    reopen_after_tearing_a_flush_edit(b"ordinary key").unwrap();
}

#[test]
fn a_torn_flush_edit_whose_table_key_holds_a_record_is_left_out_too() {
    reopen_after_tearing_a_flush_edit(&holding_a_frame(b"key holding ")).unwrap();
}
