//! The snapshot byte stream ([`SnapshotData`](crate::SnapshotData)): what
//! `build_snapshot` and `get_current_snapshot` write and `install_snapshot`
//! reads. This module is the only one that reads or writes it; the byte
//! layout is `docs/format/raft-snapshot.md`:
//!
//! ```text
//!  offset 0          8          12         20                20+n
//!         +----------+----------+----------+-----------------+-----------+
//!         | magic    | version  | length n | body            | CRC       |
//!         | 8 bytes  | u32 LE   | u64 LE   | n bytes: pairs  | u32 LE    |
//!         +----------+----------+----------+-----------------+-----------+
//!         \_____________ covered by the CRC _________________/
//! ```
//!
//! The body is the postcard encoding of the `(key, value)` pairs in
//! ascending key order. A stream that is not exactly this (a wrong length,
//! a checksum that does not match, bytes left over after the pairs, keys
//! out of order or too long to store) is a [`SnapshotError`], found before
//! anything is written.

use lsm_core::checksum::masked_crc32;

use crate::{StageError, StagedWrites};

/// The first 8 bytes of a snapshot stream.
pub(crate) const MAGIC: [u8; 8] = *b"LSMRSNAP";
/// The format version this crate writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Magic, version and body length.
pub(crate) const HEADER_BYTES: usize = 20;
/// The CRC after the body.
pub(crate) const TRAILER_BYTES: usize = 4;

/// The state machine's pairs: application keys (without the store
/// prefix) and values.
pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Why a snapshot stream was refused by `install_snapshot` (which returns
/// it inside an `io::Error` of kind `InvalidData`; downcast with
/// `err.get_ref().and_then(|e| e.downcast_ref::<SnapshotError>())`).
/// Nothing is written when the stream is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Shorter than a header and a checksum.
    #[error("snapshot stream of {len} bytes is shorter than its {min}-byte framing")]
    TooShort {
        /// The stream's length.
        len: usize,
        /// Header plus checksum.
        min: usize,
    },
    /// The stream does not start with the magic `LSMRSNAP`.
    #[error("snapshot stream does not start with the magic LSMRSNAP")]
    BadMagic,
    /// A format version this crate does not read.
    #[error("snapshot format version {version} is not supported (this crate reads {VERSION})")]
    UnsupportedVersion {
        /// The version the stream names.
        version: u32,
    },
    /// The body length in the header does not match the stream's length:
    /// the stream was cut short or has bytes appended.
    #[error("snapshot header says {declared} body bytes, the stream has {actual}")]
    LengthMismatch {
        /// The body length the header gives.
        declared: u64,
        /// The body bytes the stream holds.
        actual: u64,
    },
    /// The checksum does not match: the stream was damaged.
    #[error("snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The masked CRC in the stream.
        stored: u32,
        /// The masked CRC of the bytes it covers.
        computed: u32,
    },
    /// The body is not a list of pairs.
    #[error("snapshot body does not decode: {reason}")]
    Body {
        /// The decoder's message.
        reason: String,
    },
    /// The pairs end before the body does.
    #[error("{count} bytes left over after the snapshot's pairs")]
    TrailingBytes {
        /// The bytes after the last pair.
        count: usize,
    },
    /// A key is not greater than the key before it.
    #[error("snapshot pair {index}: key not greater than the one before it")]
    KeysNotAscending {
        /// The pair's position (0-based).
        index: usize,
    },
    /// A key or value the state machine cannot hold.
    #[error("snapshot pair {index}: {error}")]
    Pair {
        /// The pair's position (0-based).
        index: usize,
        /// What is too long.
        error: StageError,
    },
}

/// The snapshot stream of `pairs` (in ascending key order).
pub(crate) fn encode(pairs: &Pairs) -> std::io::Result<Vec<u8>> {
    let body = crate::shared::encode(pairs)?;
    let body_len = u64::try_from(body.len())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len() + TRAILER_BYTES);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&body);
    let crc = masked_crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The pairs of a snapshot stream, or why it is not a whole, undamaged one.
pub(crate) fn decode(bytes: &[u8]) -> Result<Pairs, SnapshotError> {
    let too_short = || SnapshotError::TooShort {
        len: bytes.len(),
        min: HEADER_BYTES + TRAILER_BYTES,
    };
    let (covered, stored) = bytes
        .split_last_chunk::<TRAILER_BYTES>()
        .ok_or_else(too_short)?;
    let (header, body) = covered
        .split_first_chunk::<HEADER_BYTES>()
        .ok_or_else(too_short)?;
    let (magic, rest) = header.split_first_chunk::<8>().ok_or_else(too_short)?;
    if *magic != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let (version, length) = rest.split_first_chunk::<4>().ok_or_else(too_short)?;
    let version = u32::from_le_bytes(*version);
    if version != VERSION {
        return Err(SnapshotError::UnsupportedVersion { version });
    }
    let length: [u8; 8] = length.try_into().map_err(|_| too_short())?;
    let declared = u64::from_le_bytes(length);
    let actual = u64::try_from(body.len()).unwrap_or(u64::MAX);
    if declared != actual {
        return Err(SnapshotError::LengthMismatch { declared, actual });
    }
    let stored = u32::from_le_bytes(*stored);
    let computed = masked_crc32(covered);
    if stored != computed {
        return Err(SnapshotError::ChecksumMismatch { stored, computed });
    }
    let (pairs, left): (Pairs, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| SnapshotError::Body {
            reason: e.to_string(),
        })?;
    if !left.is_empty() {
        return Err(SnapshotError::TrailingBytes { count: left.len() });
    }
    for (index, (key, value)) in pairs.iter().enumerate() {
        StagedWrites::check(key, value.len())
            .map_err(|error| SnapshotError::Pair { index, error })?;
    }
    if let Some(index) = pairs.windows(2).position(|w| w[0].0 >= w[1].0) {
        return Err(SnapshotError::KeysNotAscending { index: index + 1 });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_every_cut_and_every_flipped_bit() {
        let pairs: Pairs = vec![
            (b"".to_vec(), b"empty key".to_vec()),
            (b"a".to_vec(), b"".to_vec()),
            (b"b".to_vec(), vec![7; 300]),
        ];
        let bytes = encode(&pairs).unwrap();
        assert_eq!(decode(&bytes).unwrap(), pairs);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                assert!(decode(&damaged).is_err(), "bit {bit} of byte {at}");
            }
        }
    }

    /// A stream framed around `body` (version 1, right length and CRC).
    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
        let crc = masked_crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Re-stamps the CRC after an edit of the framed bytes.
    fn restamp(bytes: &mut [u8]) {
        let n = bytes.len() - TRAILER_BYTES;
        let crc = masked_crc32(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let good = encode(&vec![(b"a".to_vec(), b"1".to_vec())]).unwrap();
        assert!(matches!(
            decode(&good[..23]),
            Err(SnapshotError::TooShort { len: 23, min: 24 })
        ));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), Err(SnapshotError::BadMagic));
        let mut bad = good.clone();
        bad[8] = 2;
        restamp(&mut bad);
        assert_eq!(
            decode(&bad),
            Err(SnapshotError::UnsupportedVersion { version: 2 })
        );
        let mut bad = good.clone();
        bad[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        restamp(&mut bad);
        assert!(matches!(
            decode(&bad),
            Err(SnapshotError::LengthMismatch {
                declared: u64::MAX,
                ..
            })
        ));
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            decode(&bad),
            Err(SnapshotError::ChecksumMismatch { .. })
        ));
        // Well framed, wrong inside: a pair count past the bytes; a
        // 2^62-byte key length; bytes after the pairs.
        assert!(matches!(
            decode(&frame(&[5, 1, b'a', 1, b'1'])),
            Err(SnapshotError::Body { .. })
        ));
        assert!(matches!(
            decode(&frame(&[
                1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40
            ])),
            Err(SnapshotError::Body { .. })
        ));
        assert_eq!(
            decode(&frame(&[1, 1, b'a', 1, b'1', 0xde, 0xad])),
            Err(SnapshotError::TrailingBytes { count: 2 })
        );
    }

    #[test]
    fn pairs_must_be_ascending_and_storable() {
        let pairs = |list: &[(&[u8], &[u8])]| -> Pairs {
            list.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
        };
        let body = |p: &Pairs| crate::shared::encode(p).unwrap();
        for (list, index) in [
            (pairs(&[(b"b", b"1"), (b"a", b"2")]), 1),
            (pairs(&[(b"a", b"1"), (b"b", b"2"), (b"b", b"3")]), 2),
        ] {
            assert_eq!(
                decode(&frame(&body(&list))),
                Err(SnapshotError::KeysNotAscending { index })
            );
        }
        let long_key = vec![b'k'; StagedWrites::MAX_KEY_BYTES + 1];
        let list = vec![(b"a".to_vec(), b"1".to_vec()), (long_key, b"x".to_vec())];
        assert!(matches!(
            decode(&frame(&body(&list))),
            Err(SnapshotError::Pair {
                index: 1,
                error: StageError::KeyTooLarge { .. }
            })
        ));
        assert_eq!(decode(&frame(&body(&Vec::new()))), Ok(Vec::new()));
    }
}
