//! The worked example of docs/format/wal.md, produced by the real writer.
//! It doubles as a fixture: if this test fails, the on-disk format changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_core::{OsFileSystem, WriteBatch};
use lsm_wal::{segment_path, WalOptions, WalWriter};

/// Segment 1: header, then one batch (seqnos 5 to 7), all in the default
/// keyspace: put "apple" -> "red", delete "pear", delete range "k0".."k5".
const EXAMPLE_HEX: &str = concat!(
    "02e8023914000000026c736d2d77616c",
    "000200000001000000000000009099bb",
    "72280000000105000000000000000300",
    "00000106006170706c65037265640005",
    "00706561720203006b3003006b35",
);

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
    assert_eq!(wal.bytes_written(), 78);
    let bytes = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    for (i, line) in bytes.chunks(16).enumerate() {
        let text: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        println!("{:04x}: {}", i * 16, text.join(" "));
    }
    assert_eq!(hex(&bytes), EXAMPLE_HEX);
}
