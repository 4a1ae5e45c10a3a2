//! The worked example of docs/format/wal.md, produced by the real writer.
//! It doubles as a fixture: if this test fails, the on-disk format changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_core::{OsFileSystem, WriteBatch};
use lsm_wal::{segment_path, WalOptions, WalWriter};

/// Segment 1: header, then one batch (seqnos 5 to 7), all in the default
/// keyspace: put "apple" -> "red", delete "pear", delete range "k0".."k5";
/// then the sync mark `close` wrote (every seqno below 8 durable), over
/// the zeros the writer wrote ahead after that durable append.
const EXAMPLE_HEX: &str = concat!(
    "f3fee3e714000000026c736d2d77616c",
    "000500000001000000000000003dc9a2",
    "921f000000050005030106006170706c",
    "6503726564000500706561720203006b",
    "3003006b35d5a1306108000000040800",
    "000000000000",
);

/// Bytes of the header, the batch record and the sync mark.
const RECORD_BYTES: usize = 69 + 17;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn documented_example_segment_bytes_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let wal = WalWriter::create(
        OsFileSystem::shared(),
        dir.path(),
        1,
        5,
        WalOptions::default(),
    )
    .unwrap();
    let mut batch = WriteBatch::new();
    batch
        .put(b"apple", b"red")
        .delete(b"pear")
        .delete_range("k0", "k5");
    assert_eq!(wal.append(&batch).unwrap(), 7);
    wal.close().unwrap();
    let bytes = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    let (records, zeros) = bytes.split_at(RECORD_BYTES);
    assert_eq!(zeros.len(), (1 << 20) - 17, "1 MiB zero-filled ahead");
    assert!(zeros.iter().all(|&b| b == 0));
    // The sync mark was written over 17 of those zeros.
    assert_eq!(wal.bytes_written(), bytes.len() as u64 + 17);
    for (i, line) in records.chunks(16).enumerate() {
        let text: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        println!("{:04x}: {}", i * 16, text.join(" "));
    }
    assert_eq!(hex(records), EXAMPLE_HEX);
}
