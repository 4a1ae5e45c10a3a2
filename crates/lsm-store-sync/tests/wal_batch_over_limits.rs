//! A WAL record whose checksum is valid but whose batch holds a key longer
//! than any writer accepts (`MAX_KEY_BYTES`; `WriteBatch::check_limits`
//! refuses it before the WAL sees it): a segment written by a buggy build,
//! or crafted. Recovery parses the batch (every length is in bounds), so
//! the key would reach the memtable and fail only later, when a flush
//! hands it to the table builder (`KeyTooLarge`, naming no file), leaving
//! a store that can never flush. Open must refuse it as corruption naming
//! the segment and the record's offset, as it does any other batch that
//! no writer wrote (docs/format/wal.md: "User keys are at most 64 KiB -
//! 1").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use lsm_core::coding::put_varint64;
use lsm_core::record::encode_record;
use lsm_core::OsFileSystem;
use lsm_core::MAX_KEY_BYTES;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};
use lsm_wal::{list_segments, segment_path};

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(1 << 20)
        .block_cache_bytes(0)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap()
}

/// Creates an empty store in `dir` and closes it, then replaces its newest
/// WAL segment (the one its manifest says to replay from) with a version-5
/// segment holding one compact batch record (type 5): seq 1, one put of
/// `user_key` (default keyspace) to `value`. Returns the segment's file
/// name and the record's offset.
fn write_segment(dir: &Path, user_key: &[u8], value: &[u8]) -> (String, u64) {
    SimpleLsmStore::open(config(dir)).unwrap().close().unwrap();
    let segment = *list_segments(&OsFileSystem, dir).unwrap().last().unwrap();
    let mut header = b"lsm-wal\0".to_vec();
    header.extend_from_slice(&5u32.to_le_bytes());
    header.extend_from_slice(&segment.to_le_bytes());
    let mut file = Vec::new();
    encode_record(&mut file, 2, &header);
    let offset = file.len() as u64;
    let mut payload = Vec::new();
    put_varint64(&mut payload, 0); // mark: durable_below = first seq, not zero-filled
    put_varint64(&mut payload, 1); // first seq
    put_varint64(&mut payload, 1); // count
    payload.push(1); // Put
    put_varint64(&mut payload, user_key.len() as u64 + 1);
    payload.push(0); // keyspace 0
    payload.extend_from_slice(user_key);
    put_varint64(&mut payload, value.len() as u64);
    payload.extend_from_slice(value);
    encode_record(&mut file, 5, &payload);
    let path = segment_path(dir, segment);
    std::fs::write(&path, &file).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    (name, offset)
}

/// The same record with a key at the limit is a valid write: the crafted
/// framing is right, so only the key's length differs below.
#[test]
fn a_key_at_the_limit_replays_and_flushes() {
    let tmp = tempfile::tempdir().unwrap();
    let key = vec![b'k'; MAX_KEY_BYTES];
    write_segment(tmp.path(), &key, b"v");
    let store = SimpleLsmStore::open(config(tmp.path())).unwrap();
    assert_eq!(store.get(&key).unwrap().as_deref(), Some(&b"v"[..]));
    store.flush_memtable().unwrap();
    assert_eq!(store.get(&key).unwrap().as_deref(), Some(&b"v"[..]));
    store.close().unwrap();
}

#[test]
fn a_key_over_the_limit_is_corruption_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let key = vec![b'k'; 100_000];
    let (name, offset) = write_segment(tmp.path(), &key, b"v");
    match SimpleLsmStore::open(config(tmp.path())) {
        Err(err) => {
            assert!(err.is_corruption(), "not a corruption error: {err}");
            let text = err.to_string();
            assert!(text.contains(&name), "segment {name} not named: {text}");
            assert!(
                text.contains(&offset.to_string()),
                "offset not named: {text}"
            );
        }
        Ok(store) => {
            let flushed = store.flush_memtable();
            panic!(
                "open accepted a WAL batch with a {}-byte key (limit {MAX_KEY_BYTES}); a flush \
                 then returns {flushed:?}",
                key.len()
            );
        }
    }
}
