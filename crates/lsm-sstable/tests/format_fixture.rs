//! The committed format-version-1 fixture: the builder must still produce
//! it byte for byte, and the reader must still read it. A failure here
//! means the on-disk format changed: bump `FORMAT_VERSION`, keep reading the
//! old version, and add a new fixture instead of regenerating this one.
//!
//! `LSM_UPDATE_FIXTURES=1 cargo test -p lsm-sstable --test format_fixture -- --nocapture`
//! rewrites the fixture and prints the hex dump used in
//! `docs/format/sstable.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::PathBuf;

use common::{build, ikey, open, scan, Entry};
use lsm_core::{Lookup, ValueKind};
use lsm_sstable::{TableOptions, FORMAT_VERSION};

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format_v1_example.sst")
}

fn example_entries() -> Vec<Entry> {
    vec![
        (ikey(b"apple", 2, ValueKind::Put), b"red".to_vec()),
        (ikey(b"apple", 1, ValueKind::Delete), Vec::new()),
        (ikey(b"pear", 3, ValueKind::Put), b"green".to_vec()),
    ]
}

fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  {ascii}\n",
            row * 16,
            hex.join(" ")
        ));
    }
    out
}

#[test]
fn builder_still_writes_the_committed_v1_fixture() {
    assert_eq!(FORMAT_VERSION, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.sst");
    build(&path, &example_entries(), TableOptions::default());
    let written = std::fs::read(&path).unwrap();
    println!("{}", hex_dump(&written));
    let table = open(&path, None);
    println!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        table.layout(),
        table.index_entries(),
        table.filter_info(),
        table.properties()
    );
    if std::env::var_os("LSM_UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture_path(), &written).unwrap();
    }
    let committed = std::fs::read(fixture_path()).unwrap();
    assert!(
        written == committed,
        "the builder's output differs from the committed v1 fixture: the format changed"
    );
}

#[test]
fn reader_still_reads_the_committed_v1_fixture() {
    let table = open(&fixture_path(), None);
    assert_eq!(table.properties().format_version, 1);
    assert_eq!(scan(&mut table.iter()).unwrap(), example_entries());
    assert_eq!(
        table.get(b"apple", 5).unwrap(),
        Some(Lookup::Value(b"red".to_vec().into()))
    );
    assert_eq!(table.get(b"apple", 1).unwrap(), Some(Lookup::Deleted));
    assert_eq!(table.get(b"pear", 2).unwrap(), None);
    table.verify_checksums().unwrap();
}
