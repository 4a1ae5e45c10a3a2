//! The table file's framing: block handles, the 5-byte block trailer
//! (compression type + masked CRC-32) and the fixed 64-byte footer.
//!
//! The byte layout is specified in `docs/format/sstable.md`; this module is
//! its only encoder and decoder for these pieces. Constants here are part of
//! the on-disk format: never change them, only append new values.

use std::io;
use std::path::Path;

use bytes::Bytes;

use lsm_core::checksum::{crc32_parts, mask_crc, masked_crc32};
use lsm_core::coding::{
    get_fixed32, get_fixed64, get_varint64, put_fixed32, put_fixed64, put_varint64,
};
use lsm_core::fs::RandomAccessFile;

use crate::options::Compression;

/// The table format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The magic number at footer bytes 52..60: `b"LSMTABL1"` read as a
/// little-endian `u64`.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"LSMTABL1");

/// Bytes of the trailer after every block: compression type (1) + masked
/// CRC-32 (4).
pub const BLOCK_TRAILER_BYTES: usize = 5;

/// Bytes of the footer at the end of every table file.
pub const FOOTER_BYTES: usize = 64;

/// Largest block (stored or decoded) a table may hold. Bounds every
/// allocation made from a length read off disk.
pub const MAX_BLOCK_BYTES: usize = 256 << 20;

/// LZ4 cannot expand data by more than this factor, so a stored LZ4 block
/// claiming a larger decoded size is corrupt (and is rejected before any
/// allocation).
pub(crate) const LZ4_MAX_RATIO: usize = 255;

/// Compression type byte: block stored as built. Never change.
const COMPRESSION_NONE: u8 = 0;
/// Compression type byte: `u32 LE decoded length` + LZ4 block. Never change.
const COMPRESSION_LZ4: u8 = 1;

/// Where a block lives in the file: `offset` of its first byte and `size`
/// of its stored bytes, *excluding* the 5-byte trailer that follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockHandle {
    /// File offset of the block's first byte.
    pub offset: u64,
    /// Stored size in bytes, without the trailer.
    pub size: u64,
}

impl BlockHandle {
    /// Appends the handle as two varints (the index-block value encoding).
    pub(crate) fn put_varints(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size);
    }

    /// Reads a handle written by [`BlockHandle::put_varints`]; the input must
    /// hold exactly the two varints.
    pub(crate) fn from_varints(mut input: &[u8]) -> Option<BlockHandle> {
        let offset = get_varint64(&mut input)?;
        let size = get_varint64(&mut input)?;
        input.is_empty().then_some(BlockHandle { offset, size })
    }

    /// The offset just past this block's trailer, if it does not overflow.
    pub(crate) fn end_with_trailer(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(BLOCK_TRAILER_BYTES as u64)
    }
}

/// The decoded footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    /// The filter block; `{0, 0}` when the table has no filter.
    pub filter: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
}

impl Footer {
    /// The 64 footer bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FOOTER_BYTES);
        for handle in [self.filter, self.properties, self.index] {
            put_fixed64(&mut out, handle.offset);
            put_fixed64(&mut out, handle.size);
        }
        put_fixed32(&mut out, FORMAT_VERSION);
        put_fixed64(&mut out, TABLE_MAGIC);
        let crc = masked_crc32(&out);
        put_fixed32(&mut out, crc);
        debug_assert_eq!(out.len(), FOOTER_BYTES);
        out
    }

    /// Decodes and checks the footer read from `offset` of `path`: magic,
    /// then checksum, then version. Handles are bounded by the caller.
    pub fn decode(bytes: &[u8], path: &Path, offset: u64) -> Result<Footer, lsm_core::Error> {
        let corrupt = |detail: String| lsm_core::Error::corruption(path, offset, detail);
        if bytes.len() != FOOTER_BYTES {
            return Err(corrupt(format!(
                "footer is {} bytes, expected {FOOTER_BYTES}",
                bytes.len()
            )));
        }
        let mut input = bytes;
        let mut handles = [BlockHandle::default(); 3];
        for handle in &mut handles {
            let (Some(offset), Some(size)) = (get_fixed64(&mut input), get_fixed64(&mut input))
            else {
                return Err(corrupt("footer truncated".into()));
            };
            *handle = BlockHandle { offset, size };
        }
        let (Some(version), Some(magic), Some(stored_crc)) = (
            get_fixed32(&mut input),
            get_fixed64(&mut input),
            get_fixed32(&mut input),
        ) else {
            return Err(corrupt("footer truncated".into()));
        };
        if magic != TABLE_MAGIC {
            return Err(corrupt(format!(
                "bad magic {magic:#018x} (expected {TABLE_MAGIC:#018x}): not a table file"
            )));
        }
        let actual_crc = masked_crc32(&bytes[..FOOTER_BYTES - 4]);
        if stored_crc != actual_crc {
            return Err(corrupt(format!(
                "footer checksum mismatch: stored {stored_crc:#010x}, computed {actual_crc:#010x}"
            )));
        }
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "unsupported table format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        let [filter, properties, index] = handles;
        Ok(Footer {
            filter,
            properties,
            index,
        })
    }
}

/// A block ready to append: stored bytes followed by its trailer.
pub(crate) struct SealedBlock {
    /// Stored bytes (compressed or not) + trailer.
    pub bytes: Vec<u8>,
}

impl SealedBlock {
    /// Stored size without the trailer, as recorded in a [`BlockHandle`].
    pub fn stored_size(&self) -> u64 {
        (self.bytes.len() - BLOCK_TRAILER_BYTES) as u64
    }

    /// The emptied buffer, to build the next block in.
    pub fn into_buffer(self) -> Vec<u8> {
        let mut bytes = self.bytes;
        bytes.clear();
        bytes
    }
}

/// Compresses `raw` if asked and worthwhile (saves at least 12.5%), then
/// appends the trailer. Left uncompressed, `raw`'s own buffer takes the
/// trailer: no copy (a flush's filter and index blocks are half a MiB
/// each), and no reallocation when `raw` has [`BLOCK_TRAILER_BYTES`] to
/// spare.
pub(crate) fn seal_block(raw: Vec<u8>, compression: Compression) -> SealedBlock {
    if compression == Compression::Lz4 && raw.len() >= 16 {
        let mut stored = Vec::with_capacity(raw.len() / 2 + 16 + BLOCK_TRAILER_BYTES);
        // raw.len() <= MAX_BLOCK_BYTES (checked by the builder) fits u32.
        put_fixed32(&mut stored, raw.len() as u32);
        stored.extend_from_slice(&lz4_flex::block::compress(&raw));
        if stored.len() <= raw.len() - raw.len() / 8 {
            return with_trailer(stored, COMPRESSION_LZ4);
        }
    }
    with_trailer(raw, COMPRESSION_NONE)
}

/// `stored` followed by the trailer for a block of compression `kind`.
fn with_trailer(mut stored: Vec<u8>, kind: u8) -> SealedBlock {
    let crc = mask_crc(crc32_parts(&[&stored, &[kind]]));
    stored.reserve_exact(BLOCK_TRAILER_BYTES);
    stored.push(kind);
    put_fixed32(&mut stored, crc);
    SealedBlock { bytes: stored }
}

/// Reads the block at `handle` from `file`, verifies its trailer checksum
/// and decompresses it. `limit` is the offset the block and its trailer
/// must end by (the footer's offset). Every failure names `path` and the
/// block's offset.
pub(crate) fn read_block(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, lsm_core::Error> {
    let corrupt = |detail: String| lsm_core::Error::corruption(path, handle.offset, detail);
    let sealed_len =
        sealed_len(handle, limit).map_err(|detail| corrupt(format!("{what} {detail}")))?;
    let mut buf = vec![0u8; sealed_len];
    file.read_exact_at(&mut buf, handle.offset).map_err(|err| {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            corrupt(format!(
                "{what} block extends past the end of the file (truncated?)"
            ))
        } else {
            lsm_core::Error::io(path, err)
        }
    })?;
    let kind = check_trailer(&buf).map_err(|detail| corrupt(format!("{what} {detail}")))?;
    buf.truncate(sealed_len - BLOCK_TRAILER_BYTES);
    match kind {
        COMPRESSION_NONE => Ok(buf),
        _ => decode_stored_block(&buf, kind)
            .map_err(|detail| corrupt(format!("{what} block: {detail}"))),
    }
}

/// The block at `handle` out of `window`, bytes of the file read from
/// `window_offset` on: its trailer checksum verified, decompressed if it
/// was stored compressed, otherwise a slice of `window` (no copy). `None`
/// when the block and its trailer do not lie wholly inside the window.
/// Failures are those of [`read_block`], naming `path` and the block's
/// offset.
pub(crate) fn block_in_window(
    window: &Bytes,
    window_offset: u64,
    path: &Path,
    handle: BlockHandle,
    limit: u64,
    what: &str,
) -> Option<Result<Bytes, lsm_core::Error>> {
    let corrupt = |detail: String| lsm_core::Error::corruption(path, handle.offset, detail);
    let start = usize::try_from(handle.offset.checked_sub(window_offset)?).ok()?;
    let sealed_len = match sealed_len(handle, limit) {
        Ok(len) => len,
        Err(detail) => return Some(Err(corrupt(format!("{what} {detail}")))),
    };
    let end = start
        .checked_add(sealed_len)
        .filter(|&end| end <= window.len())?;
    let sealed = &window[start..end];
    let stored_end = end - BLOCK_TRAILER_BYTES;
    Some(match check_trailer(sealed) {
        Err(detail) => Err(corrupt(format!("{what} {detail}"))),
        Ok(COMPRESSION_NONE) => Ok(window.slice(start..stored_end)),
        Ok(kind) => decode_stored_block(&window[start..stored_end], kind)
            .map(Bytes::from)
            .map_err(|detail| corrupt(format!("{what} block: {detail}"))),
    })
}

/// Bytes of the block at `handle` with its trailer, once the handle is
/// checked to end by `limit` and to be no larger than [`MAX_BLOCK_BYTES`];
/// the error completes "`what` ...".
fn sealed_len(handle: BlockHandle, limit: u64) -> Result<usize, String> {
    let in_bounds = handle.end_with_trailer().is_some_and(|end| end <= limit);
    if !in_bounds || handle.size > MAX_BLOCK_BYTES as u64 {
        return Err(format!(
            "block handle (offset {}, size {}) is out of bounds (limit {limit})",
            handle.offset, handle.size
        ));
    }
    // Bounded above: size <= MAX_BLOCK_BYTES.
    Ok(handle.size as usize + BLOCK_TRAILER_BYTES)
}

/// Checks the trailer of `sealed` (a block followed by its trailer) and
/// returns the block's compression type; the error completes "`what` ...".
fn check_trailer(sealed: &[u8]) -> Result<u8, String> {
    let stored_len = sealed.len() - BLOCK_TRAILER_BYTES;
    let kind = sealed[stored_len];
    let stored_crc = u32::from_le_bytes([
        sealed[stored_len + 1],
        sealed[stored_len + 2],
        sealed[stored_len + 3],
        sealed[stored_len + 4],
    ]);
    let actual_crc = mask_crc(crc32_parts(&[&sealed[..stored_len], &[kind]]));
    if stored_crc != actual_crc {
        return Err(format!(
            "block checksum mismatch: stored {stored_crc:#010x}, computed {actual_crc:#010x}"
        ));
    }
    Ok(kind)
}

/// Undoes [`seal_block`]'s compression on checksum-verified bytes, into a
/// new buffer (for [`COMPRESSION_NONE`] a copy, which the readers avoid by
/// using the bytes they hold as they are).
fn decode_stored_block(stored: &[u8], kind: u8) -> Result<Vec<u8>, String> {
    match kind {
        COMPRESSION_NONE => Ok(stored.to_vec()),
        COMPRESSION_LZ4 => {
            let mut input = stored;
            let decoded_len =
                get_fixed32(&mut input).ok_or("LZ4 block shorter than its length prefix")? as usize;
            if decoded_len > MAX_BLOCK_BYTES
                || decoded_len > input.len().saturating_mul(LZ4_MAX_RATIO)
            {
                return Err(format!(
                    "LZ4 block claims {decoded_len} decoded bytes from {} stored bytes",
                    input.len()
                ));
            }
            let mut decoded = vec![0u8; decoded_len];
            let written = lz4_flex::block::decompress_into(input, &mut decoded)
                .map_err(|err| format!("LZ4 decompression failed: {err}"))?;
            if written != decoded_len {
                return Err(format!(
                    "LZ4 block decoded to {written} bytes, expected {decoded_len}"
                ));
            }
            Ok(decoded)
        }
        other => Err(format!("unknown compression type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn magic_spells_lsmtabl1() {
        assert_eq!(&TABLE_MAGIC.to_le_bytes(), b"LSMTABL1");
    }

    #[test]
    fn footer_roundtrips_and_rejects_each_bad_part() {
        let footer = Footer {
            filter: BlockHandle {
                offset: 100,
                size: 20,
            },
            properties: BlockHandle {
                offset: 125,
                size: 30,
            },
            index: BlockHandle {
                offset: 160,
                size: 40,
            },
        };
        let bytes = footer.encode();
        assert_eq!(bytes.len(), FOOTER_BYTES);
        let path = Path::new("t.sst");
        assert_eq!(Footer::decode(&bytes, path, 205).unwrap(), footer);
        for (i, needle) in [
            (0, "checksum"),
            (48, "checksum"),
            (52, "magic"),
            (60, "checksum"),
        ] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            let err = Footer::decode(&bad, path, 205).unwrap_err();
            assert!(err.to_string().contains(needle), "byte {i}: {err}");
            assert!(err.to_string().contains("t.sst"), "{err}");
        }
    }

    #[test]
    fn lz4_is_used_only_when_it_saves_an_eighth() {
        let compressible = vec![7u8; 4096];
        let sealed = seal_block(compressible, Compression::Lz4);
        assert!(sealed.stored_size() < 1000);
        assert_eq!(sealed.bytes[sealed.bytes.len() - 5], COMPRESSION_LZ4);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let sealed = seal_block(noise, Compression::Lz4);
        assert_eq!(sealed.stored_size(), 4096);
        assert_eq!(sealed.bytes[4096], COMPRESSION_NONE);
    }

    #[test]
    fn lz4_claiming_huge_decoded_size_is_rejected_before_allocating() {
        let mut stored = Vec::new();
        put_fixed32(&mut stored, u32::MAX);
        stored.extend_from_slice(&[0u8; 8]);
        let err = decode_stored_block(&stored, COMPRESSION_LZ4).unwrap_err();
        assert!(err.contains("claims"), "{err}");
    }

    proptest! {
        #[test]
        fn sealed_block_decodes_to_its_input(raw in proptest::collection::vec(0u8..4, 0..3000), lz4 in any::<bool>()) {
            let compression = if lz4 { Compression::Lz4 } else { Compression::None };
            let sealed = seal_block(raw.clone(), compression);
            let len = sealed.bytes.len();
            let kind = sealed.bytes[len - 5];
            let stored = sealed.bytes[..len - 5].to_vec();
            prop_assert_eq!(decode_stored_block(&stored, kind).unwrap(), raw);
        }

        #[test]
        fn arbitrary_stored_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), kind in 0u8..3) {
            if let Ok(decoded) = decode_stored_block(&bytes, kind) {
                prop_assert!(decoded.len() <= bytes.len().max(1) * LZ4_MAX_RATIO);
            }
        }

        #[test]
        fn arbitrary_footer_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Footer::decode(&bytes, Path::new("x"), 0);
        }
    }
}
