//! Checksums: CRC-32 (IEEE polynomial, via `crc32fast`), masked as in
//! LevelDB; and [`key_hash`], the hash the Bloom filters use.
//!
//! A CRC stored next to data is *masked* (rotated and offset) so that a CRC
//! computed over bytes that themselves contain CRCs stays strong. Every
//! format in `docs/format/` stores masked values.

const MASK_DELTA: u32 = 0xa282_ead8;

/// CRC-32 (IEEE) of `data`, unmasked.
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// CRC-32 (IEEE) over the concatenation of `parts`, unmasked.
#[inline]
pub fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// Masks a CRC for storage.
#[inline]
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Inverts [`mask_crc`].
#[inline]
pub fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// The masked CRC-32 of `data`, as stored on disk.
#[inline]
pub fn masked_crc32(data: &[u8]) -> u32 {
    mask_crc(crc32(data))
}

/// The 64-bit hash of a key that the Bloom filters use: FNV-1a 64, then
/// `fmix64` so that every bit depends on every byte. Part of the table
/// filter format (`docs/format/sstable.md`: `lsm_sstable::filter_hash` is
/// this function), so never to change; the memtable's point filter uses it
/// too.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in key {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value() {
        // CRC-32 (IEEE) of "123456789" is the standard check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_parts(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn mask_roundtrips_and_changes_value() {
        for crc in [0u32, 1, 0xCBF4_3926, u32::MAX] {
            assert_ne!(mask_crc(crc), crc);
            assert_eq!(unmask_crc(mask_crc(crc)), crc);
        }
    }
}
