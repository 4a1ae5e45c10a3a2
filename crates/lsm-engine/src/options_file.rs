//! The `OPTIONS` file: the options a store's files depend on, recorded
//! when the store is created and checked at every open (as RocksDB's
//! `OPTIONS-NNNNNN` file). Format: `docs/format/options.md`.
//!
//! Which options are recorded: only those whose change would make the
//! existing files mean something else or fail to load. Today that is
//! `num_levels` alone: the manifest places tables at levels, and a version
//! with fewer levels cannot hold them. Everything else a file depends on is
//! recorded in the file itself (a table's block size, restart interval,
//! bloom bits per key, filter kind and per-block compression; the WAL's
//! format version in each segment header), and the rest of
//! [`LsmConfig`] is a policy that may change between opens (memtable, WAL
//! segment, table and cache sizes, sync and recovery modes, compaction
//! tuning).
//!
//! Reading ([`read`]) happens in open's check phase and in
//! [`crate::check_store`]: a damaged file is a corruption error naming it.
//! Writing ([`write`]) happens first in open's repair phase, after every
//! check passed and before the new WAL segment and manifest: temp file,
//! fsync, rename, directory fsync, so a crash leaves the old file or the
//! new one, and at most a stray `OPTIONS.tmp` that the next open removes.

use std::path::Path;

use lsm_core::checksum::masked_crc32;
use lsm_core::coding::{get_varint64, put_varint64};
use lsm_core::{Error as CoreError, FileSystem};

use crate::config::LsmConfig;
use crate::error::{Error, Result};

/// The name of the file, in the store directory, that records the options
/// the store's files depend on.
pub const OPTIONS_FILE_NAME: &str = "OPTIONS";

/// The temporary file `OPTIONS` is written through; a leftover is removed
/// at open.
pub const OPTIONS_TEMP_FILE_NAME: &str = "OPTIONS.tmp";

/// The first 8 bytes of an `OPTIONS` file.
pub(crate) const MAGIC: [u8; 8] = *b"LSMOPTNS";

/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Magic (8), format version (4), payload length (4).
const HEADER_BYTES: usize = 16;

/// The masked CRC-32 after the payload.
const CRC_BYTES: usize = 4;

/// Largest payload accepted; a longer length is damage, not a big file.
const MAX_PAYLOAD_BYTES: usize = 4096;

/// Field tags of the payload: on-disk constants, never changed or reused.
mod tag {
    /// `num_levels`, a varint.
    pub(super) const NUM_LEVELS: u64 = 1;
}

/// The options recorded in `OPTIONS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredOptions {
    /// Number of levels, L0 included.
    pub(crate) num_levels: usize,
}

impl StoredOptions {
    /// The options `config` asks for.
    pub(crate) fn of(config: &LsmConfig) -> StoredOptions {
        StoredOptions {
            num_levels: config.num_levels,
        }
    }

    /// `config` with these options in place of its own.
    pub(crate) fn apply_to(self, mut config: LsmConfig) -> LsmConfig {
        config.num_levels = self.num_levels;
        config
    }

    /// The file's bytes (see `docs/format/options.md`).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        put_varint64(&mut payload, tag::NUM_LEVELS);
        put_varint64(&mut payload, self.num_levels as u64);
        let mut out = Vec::with_capacity(HEADER_BYTES + payload.len() + CRC_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // The payload is a few bytes, far below u32::MAX.
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        let crc = masked_crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes the bytes of the file at `path`; any damage is a corruption
    /// error naming `path` and the offset.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<StoredOptions> {
        let corrupt = |offset: usize, detail: String| -> Error {
            CoreError::corruption(path, offset as u64, detail).into()
        };
        let fixed = |at: usize| -> [u8; 4] {
            let mut word = [0u8; 4];
            word.copy_from_slice(&bytes[at..at + 4]);
            word
        };
        if bytes.len() < HEADER_BYTES + CRC_BYTES {
            return Err(corrupt(
                bytes.len(),
                format!(
                    "OPTIONS is {} bytes, shorter than the {} bytes of its header and checksum \
                     (truncated)",
                    bytes.len(),
                    HEADER_BYTES + CRC_BYTES
                ),
            ));
        }
        if bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt(
                0,
                format!(
                    "not an OPTIONS file: starts with \"{}\", not the magic \"LSMOPTNS\"",
                    bytes[..MAGIC.len()].escape_ascii()
                ),
            ));
        }
        let version = u32::from_le_bytes(fixed(8));
        if version != FORMAT_VERSION {
            return Err(corrupt(
                8,
                format!(
                    "OPTIONS format version {version}; this build reads version {FORMAT_VERSION}"
                ),
            ));
        }
        let length = u32::from_le_bytes(fixed(12)) as usize;
        let held = bytes.len() - HEADER_BYTES - CRC_BYTES;
        if length > MAX_PAYLOAD_BYTES || length != held {
            return Err(corrupt(
                12,
                format!(
                    "payload length {length}, but the file holds {held} bytes between header and \
                     checksum (truncated or extended)"
                ),
            ));
        }
        let end = HEADER_BYTES + length;
        let stored = u32::from_le_bytes(fixed(end));
        let computed = masked_crc32(&bytes[..end]);
        if stored != computed {
            return Err(corrupt(
                end,
                format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
            ));
        }
        let mut rest = &bytes[HEADER_BYTES..end];
        let mut num_levels = None;
        while !rest.is_empty() {
            let at = end - rest.len();
            let field = get_varint64(&mut rest)
                .ok_or_else(|| corrupt(at, "truncated field tag".to_string()))?;
            let value = get_varint64(&mut rest)
                .ok_or_else(|| corrupt(at, format!("truncated value of field {field}")))?;
            match field {
                tag::NUM_LEVELS if num_levels.is_none() => num_levels = Some(value),
                tag::NUM_LEVELS => {
                    return Err(corrupt(at, "num_levels recorded twice".to_string()))
                }
                other => return Err(corrupt(at, format!("unknown field tag {other}"))),
            }
        }
        let num_levels =
            num_levels.ok_or_else(|| corrupt(HEADER_BYTES, "num_levels is missing".to_string()))?;
        let range = LsmConfig::NUM_LEVELS;
        match usize::try_from(num_levels) {
            Ok(levels) if range.contains(&levels) => Ok(StoredOptions { num_levels: levels }),
            _ => Err(corrupt(
                HEADER_BYTES,
                format!(
                    "num_levels {num_levels} is out of range ({}..={})",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }
}

/// Reads `dir/OPTIONS`: `Ok(None)` when there is none (a new store, or one
/// written before the file existed).
pub(crate) fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<StoredOptions>> {
    let path = dir.join(OPTIONS_FILE_NAME);
    if !fs.exists(&path) {
        return Ok(None);
    }
    let size = fs.file_size(&path).map_err(|e| CoreError::io(&path, e))?;
    let largest = (HEADER_BYTES + MAX_PAYLOAD_BYTES + CRC_BYTES) as u64;
    if size > largest {
        return Err(CoreError::corruption(
            &path,
            0,
            format!("OPTIONS is {size} bytes; the format allows at most {largest}"),
        )
        .into());
    }
    let bytes = fs.read_all(&path).map_err(|e| CoreError::io(&path, e))?;
    StoredOptions::decode(&bytes, &path).map(Some)
}

/// The options open uses: `config`'s when the store has no `OPTIONS` file;
/// otherwise the stored ones, unless `config` explicitly asks for another
/// value ([`LsmConfig::num_levels_is_explicit`]), which is
/// [`Error::IncompatibleOptions`].
pub(crate) fn resolve(config: &LsmConfig, stored: Option<StoredOptions>) -> Result<StoredOptions> {
    let Some(stored) = stored else {
        return Ok(StoredOptions::of(config));
    };
    if config.num_levels_is_explicit() && config.num_levels != stored.num_levels {
        return Err(Error::IncompatibleOptions {
            option: "num_levels",
            stored: stored.num_levels.to_string(),
            requested: config.num_levels.to_string(),
            reason: format!(
                "it was created with num_levels {}, recorded in {}; a configuration that leaves \
                 num_levels unset uses that value",
                stored.num_levels,
                config.dir.join(OPTIONS_FILE_NAME).display()
            ),
        });
    }
    Ok(stored)
}

/// Replaces `dir/OPTIONS` with `options`: write `OPTIONS.tmp`, fsync it,
/// rename it over `OPTIONS`, fsync the directory.
pub(crate) fn write(fs: &dyn FileSystem, dir: &Path, options: &StoredOptions) -> Result<()> {
    let temp = dir.join(OPTIONS_TEMP_FILE_NAME);
    let path = dir.join(OPTIONS_FILE_NAME);
    let file = fs.create(&temp).map_err(|e| CoreError::io(&temp, e))?;
    file.append(&options.encode())
        .and_then(|()| file.sync_data())
        .map_err(|e| CoreError::io(&temp, e))?;
    drop(file);
    fs.rename(&temp, &path)
        .map_err(|e| CoreError::io(&path, e))?;
    fs.sync_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    Ok(())
}

/// Removes a leftover `dir/OPTIONS.tmp` (a crash before its rename);
/// true if there was one. The caller syncs the directory.
pub(crate) fn remove_temp(fs: &dyn FileSystem, dir: &Path) -> Result<bool> {
    let temp = dir.join(OPTIONS_TEMP_FILE_NAME);
    if !fs.exists(&temp) {
        return Ok(false);
    }
    fs.remove_file(&temp).map_err(|e| CoreError::io(&temp, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::path::PathBuf;

    /// The committed fixture: `num_levels` 4, format version 1.
    const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/options-v1/OPTIONS");

    fn fixture_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/options-v1/OPTIONS")
    }

    /// The bytes `docs/format/options.md` walks through. If this fails the
    /// format changed: bump the format version and add a new fixture
    /// instead. `LSM_UPDATE_FIXTURES=1` rewrites the fixture.
    #[test]
    fn encoding_matches_the_committed_fixture_byte_for_byte() {
        let options = StoredOptions { num_levels: 4 };
        let bytes = options.encode();
        if std::env::var_os("LSM_UPDATE_FIXTURES").is_some() {
            std::fs::write(fixture_path(), &bytes).unwrap();
        }
        assert_eq!(
            bytes,
            [
                0x4c, 0x53, 0x4d, 0x4f, 0x50, 0x54, 0x4e, 0x53, // "LSMOPTNS"
                0x01, 0x00, 0x00, 0x00, // format version 1
                0x02, 0x00, 0x00, 0x00, // payload length 2
                0x01, 0x04, // tag 1 (num_levels) = 4
                0xb6, 0x02, 0xed, 0xd9, // masked CRC-32 of bytes 0..18
            ]
        );
        assert_eq!(bytes, FIXTURE);
        assert_eq!(
            StoredOptions::decode(FIXTURE, &fixture_path()).unwrap(),
            options
        );
    }

    #[test]
    fn every_level_count_roundtrips() {
        for num_levels in LsmConfig::NUM_LEVELS {
            let options = StoredOptions { num_levels };
            let decoded = StoredOptions::decode(&options.encode(), Path::new("OPTIONS")).unwrap();
            assert_eq!(decoded, options);
        }
    }

    /// Every truncation and every single flipped bit of the fixture is a
    /// corruption error naming the file, never a panic or a value.
    #[test]
    fn every_cut_and_flipped_bit_is_corruption_naming_the_file() {
        let path = Path::new("/store/OPTIONS");
        let check = |bytes: &[u8], what: &str| match StoredOptions::decode(bytes, path) {
            Err(err) => {
                assert!(err.is_corruption(), "{what}: {err}");
                assert!(err.to_string().contains("/store/OPTIONS"), "{what}: {err}");
            }
            Ok(options) => panic!("{what}: decoded {options:?}"),
        };
        for len in 0..FIXTURE.len() {
            check(&FIXTURE[..len], &format!("cut to {len}"));
        }
        for at in 0..FIXTURE.len() {
            for bit in 0..8 {
                let mut bytes = FIXTURE.to_vec();
                bytes[at] ^= 1 << bit;
                check(&bytes, &format!("bit {bit} of byte {at}"));
            }
        }
        let mut longer = FIXTURE.to_vec();
        longer.push(0);
        check(&longer, "one byte appended");
    }

    /// Well-framed payloads a reader must refuse: the checksum is right, the
    /// fields are not.
    #[test]
    fn bad_fields_with_a_good_checksum_are_corruption() {
        let frame = |payload: &[u8]| {
            let mut out = MAGIC.to_vec();
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(payload);
            let crc = masked_crc32(&out);
            out.extend_from_slice(&crc.to_le_bytes());
            out
        };
        assert!(StoredOptions::decode(&frame(&[1, 4]), Path::new("x")).is_ok());
        for (payload, expect) in [
            (&[][..], "missing"),
            (&[1, 4, 1, 4], "twice"),
            (&[2, 4], "unknown field tag 2"),
            (&[1], "truncated"),
            (&[1, 0x80], "truncated"),
            (&[1, 1], "out of range"),
            (&[1, 17], "out of range"),
        ] {
            let err = StoredOptions::decode(&frame(payload), Path::new("x")).unwrap_err();
            assert!(err.is_corruption(), "{payload:?}: {err}");
            assert!(err.to_string().contains(expect), "{payload:?}: {err}");
        }
    }
}
