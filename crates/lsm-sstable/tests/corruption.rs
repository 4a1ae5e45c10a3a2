//! Damaged table files: every flipped byte and every truncation is reported
//! as corruption naming the file (and, for data blocks, the block's offset),
//! scanning forward or backward; no damage yields a wrong value or a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;

use common::{build, ikey, open, scan, scan_backward, small_blocks, Entry};
use lsm_core::checksum::{crc32_parts, mask_crc, masked_crc32};
use lsm_core::{Lookup, OsFileSystem, ValueKind};
use lsm_sstable::{Compression, Error, Table, BLOCK_TRAILER_BYTES, FOOTER_BYTES};
use proptest::prelude::*;

fn entries() -> Vec<Entry> {
    (0..24u32)
        .map(|i| {
            let kind = if i % 7 == 3 {
                ValueKind::Delete
            } else {
                ValueKind::Put
            };
            (
                ikey(format!("key{i:03}").as_bytes(), u64::from(100 - i), kind),
                format!("value{i}").into_bytes(),
            )
        })
        .collect()
}

/// Asserts `err` is a corruption error naming `path`; returns its offset.
fn corruption_offset(err: &lsm_core::Error, path: &Path) -> u64 {
    match err {
        lsm_core::Error::Corruption {
            path: p, offset, ..
        } => {
            assert_eq!(p, path, "{err}");
            *offset
        }
        other => panic!("expected corruption naming {}, got {other}", path.display()),
    }
}

fn table_error_offset(err: &Error, path: &Path) -> u64 {
    match err {
        Error::Core(core) => corruption_offset(core, path),
        other => panic!("expected corruption, got {other}"),
    }
}

/// Reads everything through the table: a full scan and a get per key.
/// Either every value matches `expected`, or some read fails; the failing
/// error is returned.
fn read_all(table: &std::sync::Arc<Table>, expected: &[Entry]) -> Result<(), Error> {
    match scan(&mut table.iter()) {
        Ok(found) => assert_eq!(
            found, expected,
            "a scan of a damaged table returned wrong entries"
        ),
        Err(err) => return Err(err.into()),
    }
    for (k, v) in expected {
        let user = &k[..k.len() - 8];
        let want = if k[k.len() - 8] == ValueKind::Put as u8 {
            Lookup::Value(v.clone().into())
        } else {
            Lookup::Deleted
        };
        assert_eq!(table.get(user, u64::MAX >> 8)?, Some(want));
    }
    Ok(())
}

#[test]
fn every_flipped_byte_is_reported_as_corruption_at_the_right_block() {
    for compression in [Compression::None, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        let expected = entries();
        build(&path, &expected, small_blocks(compression));
        let pristine = std::fs::read(&path).unwrap();
        let table = open(&path, None);
        let data_blocks: Vec<_> = table.index_entries().iter().map(|e| e.handle).collect();
        let layout = table.layout();
        assert!(
            data_blocks.len() >= 3,
            "want several data blocks, got {}",
            data_blocks.len()
        );
        assert!(layout.filter.is_some());
        drop(table);

        // Which region owns each byte, and the offset its error must name.
        let mut regions = Vec::new();
        for handle in &data_blocks {
            regions.push((
                "data",
                handle.offset,
                handle.offset + handle.size + BLOCK_TRAILER_BYTES as u64,
            ));
        }
        for (what, handle) in [
            ("filter", layout.filter.unwrap()),
            ("properties", layout.properties),
            ("index", layout.index),
        ] {
            regions.push((
                what,
                handle.offset,
                handle.offset + handle.size + BLOCK_TRAILER_BYTES as u64,
            ));
        }
        regions.push(("footer", layout.footer_offset, pristine.len() as u64));
        let covered: u64 = regions.iter().map(|(_, start, end)| end - start).sum();
        assert_eq!(
            covered,
            pristine.len() as u64,
            "regions must tile the file: {regions:?}"
        );

        for (what, start, end) in regions {
            for at in start..end {
                let mut damaged = pristine.clone();
                damaged[at as usize] ^= 0x20;
                std::fs::write(&path, &damaged).unwrap();
                let err = match Table::open(&OsFileSystem, &path, 1, None) {
                    Err(err) => err,
                    Ok(table) => {
                        assert_eq!(what, "data", "flipping {what} byte {at} must fail open");
                        let err = read_all(&table, &expected)
                            .expect_err("a flipped data byte must be detected");
                        let backward = scan_backward(&mut table.iter())
                            .expect_err("a backward scan must detect the flip too");
                        assert_eq!(corruption_offset(&backward, &path), start);
                        let verify = table
                            .verify_checksums()
                            .expect_err("verify_checksums must find the flip");
                        assert_eq!(table_error_offset(&verify, &path), start);
                        err
                    }
                };
                let offset = table_error_offset(&err, &path);
                if what != "footer" {
                    assert_eq!(offset, start, "{what} byte {at}: {err}");
                }
            }
        }
    }
}

#[test]
fn every_truncation_fails_open_with_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    build(&path, &entries(), small_blocks(Compression::None));
    let pristine = std::fs::read(&path).unwrap();
    for len in 0..pristine.len() {
        std::fs::write(&path, &pristine[..len]).unwrap();
        let err = Table::open(&OsFileSystem, &path, 1, None)
            .expect_err("a truncated table must not open");
        table_error_offset(&err, &path);
    }
}

#[test]
fn truncation_underneath_an_open_table_is_corruption_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let expected = entries();
    build(&path, &expected, small_blocks(Compression::None));
    let table = open(&path, None);
    let first_block = table.index_entries()[0].handle;
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(first_block.size / 2).unwrap();
    let err = read_all(&table, &expected).unwrap_err();
    assert_eq!(table_error_offset(&err, &path), first_block.offset);
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn handle_pointing_past_the_file_is_rejected_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    build(&path, &entries(), small_blocks(Compression::None));
    let mut bytes = std::fs::read(&path).unwrap();
    let footer_at = bytes.len() - FOOTER_BYTES;
    // Index handle size (footer bytes 40..48) = 1 TiB; re-seal the footer CRC.
    bytes[footer_at + 40..footer_at + 48].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let crc = masked_crc32(&bytes[footer_at..footer_at + 60]);
    bytes[footer_at + 60..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Table::open(&OsFileSystem, &path, 1, None).unwrap_err();
    assert!(
        err.to_string().contains("does not end at the footer"),
        "{err}"
    );
    table_error_offset(&err, &path);
}

/// Recomputes the trailer CRC of the block at `[start, start + size)`.
fn reseal(bytes: &mut [u8], start: usize, size: usize) {
    let kind = bytes[start + size];
    let crc = mask_crc(crc32_parts(&[&bytes[start..start + size], &[kind]]));
    bytes[start + size + 1..start + size + 5].copy_from_slice(&crc.to_le_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes as a table file: open fails or reads return error or
    /// value; nothing panics or allocates without bound.
    #[test]
    fn arbitrary_bytes_as_a_table_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..600), with_magic in any::<bool>()) {
        if with_magic && bytes.len() >= FOOTER_BYTES {
            // Give the decoder a chance past the magic check.
            let footer_at = bytes.len() - FOOTER_BYTES;
            bytes[footer_at + 52..footer_at + 60].copy_from_slice(b"LSMTABL1");
            bytes[footer_at + 48..footer_at + 52].copy_from_slice(&1u32.to_le_bytes());
            let crc = masked_crc32(&bytes[footer_at..footer_at + 60]);
            bytes[footer_at + 60..].copy_from_slice(&crc.to_le_bytes());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(table) = Table::open(&OsFileSystem, &path, 1, None) {
            let _ = scan(&mut table.iter());
            let _ = scan_backward(&mut table.iter());
            let _ = table.get(b"key", 5);
        }
    }

    /// Damage *behind* the checksum (bytes changed, CRC recomputed) reaches
    /// the block, filter, properties and footer decoders: they must return
    /// an error or a value, never panic or loop.
    #[test]
    fn resealed_damage_never_panics(
        region_pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        lz4 in any::<bool>(),
        probe in proptest::collection::vec(b'a'..=b'z', 0..8),
    ) {
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sst");
        build(&path, &entries(), small_blocks(compression));
        let mut bytes = std::fs::read(&path).unwrap();
        let table = open(&path, None);
        let layout = table.layout();
        let mut regions: Vec<(usize, usize)> = table.index_entries().iter().map(|e| (e.handle.offset as usize, e.handle.size as usize)).collect();
        for handle in [layout.filter.unwrap(), layout.properties, layout.index] {
            regions.push((handle.offset as usize, handle.size as usize));
        }
        drop(table);
        let footer_at = layout.footer_offset as usize;
        let pick = region_pick.index(regions.len() + 1);
        if pick == regions.len() {
            for (i, byte) in &flips {
                bytes[footer_at + i.index(60)] ^= byte | 1;
            }
            let crc = masked_crc32(&bytes[footer_at..footer_at + 60]);
            bytes[footer_at + 60..].copy_from_slice(&crc.to_le_bytes());
        } else {
            let (start, size) = regions[pick];
            for (i, byte) in &flips {
                bytes[start + i.index(size)] ^= byte | 1;
            }
            reseal(&mut bytes, start, size);
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(table) = Table::open(&OsFileSystem, &path, 1, None) {
            let _ = scan(&mut table.iter());
            let _ = scan_backward(&mut table.iter());
            let _ = table.get(&probe, 50);
            let _ = table.get(b"key005", 50);
            let _ = table.verify_checksums();
        }
    }
}
