//! The filter block: a blocked bloom filter over user keys, one 512-bit
//! (64-byte, cache-line sized) bloom "line" per lookup.
//!
//! Layout (see `docs/format/sstable.md`, "Filter block"):
//!
//! ```text
//! lines * 64 bytes of bits | keys: u64 LE | bits_per_key: u32 LE
//! | lines: u32 LE | probes: u8 | filter_kind: u8 (1)
//! ```
//!
//! Hash (part of the format, never to change): [`filter_hash`] is 64-bit
//! FNV-1a over the user key followed by the MurmurHash3 `fmix64`
//! finalizer. For a hash `h`: the line is `((h >> 32) * lines) >> 32`; with
//! `a = h as u32` and `b = (h >> 32) as u32 | 1`, probe `i` (0-based) sets bit
//! `(a + i * b) mod 512` of that line (wrapping 32-bit arithmetic). Bit `j`
//! of a line is bit `j % 8` of byte `j / 8`.

use lsm_core::coding::{get_fixed32, get_fixed64, put_fixed32, put_fixed64};

use crate::format::{BLOCK_TRAILER_BYTES, MAX_BLOCK_BYTES};

/// Bits in one bloom line.
const LINE_BITS: u32 = 512;
/// Bytes in one bloom line.
const LINE_BYTES: usize = 64;
/// Bytes after the bit array: keys (8) + bits_per_key (4) + lines (4) +
/// probes (1) + filter_kind (1).
const FILTER_TRAILER_BYTES: usize = 18;
/// `filter_kind` for this blocked bloom with [`filter_hash`]. Never change.
const FILTER_KIND_BLOCKED_BLOOM_V1: u8 = 1;
/// Most probes a filter may ask for.
const MAX_PROBES: u8 = 30;

/// The filter's 64-bit hash of a user key: FNV-1a 64 then `fmix64`. Part
/// of the on-disk format.
#[inline]
pub fn filter_hash(key: &[u8]) -> u64 {
    lsm_core::checksum::key_hash(key)
}

/// A user key with its [`filter_hash`], computed once for the lookups of
/// one read that probe several tables' filters (every L0 table and one
/// table per level).
#[derive(Clone, Copy, Debug)]
pub struct FilterKey<'a> {
    key: &'a [u8],
    hash: u64,
}

impl<'a> FilterKey<'a> {
    /// Hashes `user_key`.
    pub fn new(user_key: &'a [u8]) -> Self {
        FilterKey {
            key: user_key,
            hash: filter_hash(user_key),
        }
    }

    /// The user key.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// Its filter hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Probes per key for `bits_per_key`: `round(bits_per_key * ln 2)`,
/// clamped to `1..=30`.
fn probes_for(bits_per_key: u32) -> u8 {
    let probes = (f64::from(bits_per_key) * std::f64::consts::LN_2).round();
    probes.clamp(1.0, f64::from(MAX_PROBES)) as u8
}

/// Which line, and the probe positions inside it, for hash `h`.
#[inline]
fn line_of(h: u64, lines: u32) -> usize {
    (((h >> 32) * u64::from(lines)) >> 32) as usize
}

#[inline]
fn probe_bits(h: u64, probes: u8) -> impl Iterator<Item = u32> {
    let a = h as u32;
    let b = ((h >> 32) as u32) | 1;
    (0..u32::from(probes)).map(move |i| a.wrapping_add(i.wrapping_mul(b)) % LINE_BITS)
}

/// Hashes per chunk of [`FilterBuilder`]: 64 KiB, below glibc's initial
/// mmap threshold (128 KiB).
const HASHES_PER_CHUNK: usize = 8192;

/// Builds a table's filter block as its keys are added.
///
/// Sized for the keys added (no capacity given, as for a compaction's
/// output), it keeps every key's hash until [`FilterBuilder::finish`]
/// knows how many lines to make: 8 bytes a key, in chunks of
/// [`HASHES_PER_CHUNK`] rather than one growing `Vec` (a 64 MiB memtable's
/// flush hashes about 460k keys, and one 4 MiB vector, once freed, raised
/// glibc's mmap threshold to its size, after which buffers up to that size
/// came from malloc's arenas and stayed resident when freed; see README,
/// "Performance").
///
/// Given a capacity (a flush: the memtable's entries, an upper bound on
/// its distinct keys), it sizes the lines for that many keys at once and
/// sets each key's bits as it comes: 1.25 bytes a key at 10 bits a key
/// instead of 8, and the same block as the hashes would give when the
/// capacity is the number of keys added.
#[derive(Debug)]
pub(crate) struct FilterBuilder {
    bits_per_key: u32,
    probes: u8,
    /// Distinct user keys added.
    keys: u64,
    state: FilterState,
}

#[derive(Debug)]
enum FilterState {
    /// Every key's hash, kept until the number of lines is known.
    Hashes(Vec<Vec<u64>>),
    /// The lines, sized up front; `bits` has room for the filter's and
    /// the block's trailers.
    Lines { bits: Vec<u8>, lines: u32 },
}

impl FilterBuilder {
    /// A filter of `bits_per_key` (REQUIRES: `>= 1`) for the keys to be
    /// added, sized for `capacity` keys if given and if a filter of that
    /// many fits in a block ([`MAX_BLOCK_BYTES`]); else for the keys
    /// added. More keys than `capacity` only raise the false-positive rate.
    pub fn new(bits_per_key: u32, capacity: Option<u64>) -> FilterBuilder {
        let lines = capacity
            .and_then(|keys| usize::try_from(keys).ok())
            .map(|keys| lines_for(keys, bits_per_key))
            .filter(|&lines| {
                (lines as usize).saturating_mul(LINE_BYTES) + FILTER_TRAILER_BYTES
                    <= MAX_BLOCK_BYTES
            });
        let state = match lines {
            Some(lines) => FilterState::Lines {
                bits: zeroed_lines(lines),
                lines,
            },
            None => FilterState::Hashes(Vec::new()),
        };
        FilterBuilder {
            bits_per_key,
            probes: probes_for(bits_per_key),
            keys: 0,
            state,
        }
    }

    /// Adds a user key. Callers add each distinct user key once.
    pub fn add(&mut self, user_key: &[u8]) {
        let hash = filter_hash(user_key);
        self.keys += 1;
        match &mut self.state {
            FilterState::Lines { bits, lines } => set_bits(bits, *lines, hash, self.probes),
            FilterState::Hashes(chunks) => match chunks.last_mut() {
                Some(chunk) if chunk.len() < HASHES_PER_CHUNK => chunk.push(hash),
                _ => {
                    let mut chunk = Vec::with_capacity(HASHES_PER_CHUNK);
                    chunk.push(hash);
                    chunks.push(chunk);
                }
            },
        }
    }

    /// The filter block for the keys added, with room for the block
    /// trailer (sealing it does not reallocate).
    pub fn finish(self) -> Vec<u8> {
        let (mut out, lines) = match self.state {
            FilterState::Lines { bits, lines } => (bits, lines),
            FilterState::Hashes(chunks) => {
                let keys = usize::try_from(self.keys).unwrap_or(usize::MAX);
                let lines = lines_for(keys, self.bits_per_key);
                let mut out = zeroed_lines(lines);
                for hash in chunks.iter().flatten() {
                    set_bits(&mut out, lines, *hash, self.probes);
                }
                (out, lines)
            }
        };
        put_fixed64(&mut out, self.keys);
        put_fixed32(&mut out, self.bits_per_key);
        put_fixed32(&mut out, lines);
        out.push(self.probes);
        out.push(FILTER_KIND_BLOCKED_BLOOM_V1);
        out
    }
}

/// `lines` zeroed lines, with room for the filter's and the block's
/// trailers (appending them does not reallocate).
fn zeroed_lines(lines: u32) -> Vec<u8> {
    let len = lines as usize * LINE_BYTES;
    let mut bits = Vec::with_capacity(len + FILTER_TRAILER_BYTES + BLOCK_TRAILER_BYTES);
    bits.resize(len, 0);
    bits
}

/// Sets the bits of the key whose [`filter_hash`] is `hash` in `bits`, the
/// `lines` lines of a filter with `probes` probes.
fn set_bits(bits: &mut [u8], lines: u32, hash: u64, probes: u8) {
    let line = &mut bits[line_of(hash, lines) * LINE_BYTES..][..LINE_BYTES];
    for bit in probe_bits(hash, probes) {
        line[(bit / 8) as usize] |= 1 << (bit % 8);
    }
}

/// Lines for `keys` at `bits_per_key`: `ceil(keys * bits_per_key / 512)`,
/// at least 1.
fn lines_for(keys: usize, bits_per_key: u32) -> u32 {
    let bits = (keys as u64).saturating_mul(u64::from(bits_per_key));
    u32::try_from(bits.div_ceil(u64::from(LINE_BITS)).max(1)).unwrap_or(u32::MAX)
}

/// Shape of a table's bloom filter, for `lsm inspect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInfo {
    /// Distinct user keys added.
    pub keys: u64,
    /// Configured bits per key.
    pub bits_per_key: u32,
    /// Total bits in the filter (`lines * 512`).
    pub bits: u64,
    /// Probes (hash functions) per key.
    pub probes: u32,
    /// Bytes of the filter block, trailer fields included.
    pub bytes: u64,
}

/// A decoded filter block.
#[derive(Debug)]
pub(crate) struct BloomFilter {
    bits: Vec<u8>,
    lines: u32,
    probes: u8,
    keys: u64,
    bits_per_key: u32,
}

impl BloomFilter {
    /// Decodes a filter block; `Err(detail)` if its fields disagree.
    pub fn parse(mut block: Vec<u8>) -> Result<BloomFilter, &'static str> {
        let Some(split) = block.len().checked_sub(FILTER_TRAILER_BYTES) else {
            return Err("filter block shorter than its trailer");
        };
        let mut trailer = &block[split..];
        let (Some(keys), Some(bits_per_key), Some(lines)) = (
            get_fixed64(&mut trailer),
            get_fixed32(&mut trailer),
            get_fixed32(&mut trailer),
        ) else {
            return Err("filter block shorter than its trailer");
        };
        let (probes, kind) = (trailer[0], trailer[1]);
        if kind != FILTER_KIND_BLOCKED_BLOOM_V1 {
            return Err("unknown filter kind");
        }
        if probes == 0 || probes > MAX_PROBES {
            return Err("filter probe count out of range");
        }
        if lines == 0 || (lines as usize).checked_mul(LINE_BYTES) != Some(split) {
            return Err("filter line count disagrees with the block size");
        }
        block.truncate(split);
        Ok(BloomFilter {
            bits: block,
            lines,
            probes,
            keys,
            bits_per_key,
        })
    }

    /// False only if `user_key` was certainly not added (tests; readers
    /// hash once per read, `Table::may_contain`).
    #[cfg(test)]
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(filter_hash(user_key))
    }

    /// False only if no key whose [`filter_hash`] is `h` was added.
    pub fn may_contain_hash(&self, h: u64) -> bool {
        let Some(line) = self.bits.get(line_of(h, self.lines) * LINE_BYTES..) else {
            return true;
        };
        probe_bits(h, self.probes).all(|bit| {
            line.get((bit / 8) as usize)
                .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
        })
    }

    pub fn info(&self) -> FilterInfo {
        FilterInfo {
            keys: self.keys,
            bits_per_key: self.bits_per_key,
            bits: u64::from(self.lines) * u64::from(LINE_BITS),
            probes: u32::from(self.probes),
            bytes: (self.bits.len() + FILTER_TRAILER_BYTES) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(keys: impl Iterator<Item = Vec<u8>>, bits_per_key: u32) -> BloomFilter {
        BloomFilter::parse(build_block(keys, bits_per_key, None)).unwrap()
    }

    /// The filter block of `keys`, sized for `capacity` keys if given.
    fn build_block(
        keys: impl Iterator<Item = Vec<u8>>,
        bits_per_key: u32,
        capacity: Option<u64>,
    ) -> Vec<u8> {
        let mut builder = FilterBuilder::new(bits_per_key, capacity);
        let mut added = 0;
        for key in keys {
            builder.add(&key);
            added += 1;
        }
        let block = builder.finish();
        let lines = lines_for(capacity.map_or(added, |c| c as usize), bits_per_key);
        assert_eq!(
            block.len(),
            lines as usize * LINE_BYTES + FILTER_TRAILER_BYTES
        );
        block
    }

    #[test]
    fn hash_is_frozen() {
        // Part of the on-disk format: these values must never change.
        let frozen = [
            filter_hash(b""),
            filter_hash(b"a"),
            filter_hash(b"key00001"),
        ];
        assert_eq!(frozen, FROZEN_HASHES, "{frozen:#x?}");
    }

    const FROZEN_HASHES: [u64; 3] = [
        0xefd0_1f60_ba99_2926,
        0x82a2_a958_a9be_ce5b,
        0xd46f_1e6d_de43_39dc,
    ];

    #[test]
    fn no_false_negatives_and_false_positive_rate_near_theory() {
        let n = 20_000u32;
        let filter = build((0..n).map(|i| format!("user-key-{i}").into_bytes()), 10);
        for i in 0..n {
            assert!(
                filter.may_contain(format!("user-key-{i}").as_bytes()),
                "false negative for {i}"
            );
        }
        let trials = 50_000u32;
        let false_positives = (0..trials)
            .filter(|i| filter.may_contain(format!("absent-{i}").as_bytes()))
            .count();
        let rate = false_positives as f64 / f64::from(trials);
        println!("false positive rate at 10 bits/key: {:.3}%", rate * 100.0);
        // Theory for a standard bloom at 10 bits/key, 7 probes: 0.82%; a
        // 512-bit blocked bloom pays a little for locality (about 1%).
        assert!(rate < 0.03, "false positive rate {rate}");
        assert!(
            rate > 0.001,
            "rate {rate} is implausibly low: are probes being skipped?"
        );
        let info = filter.info();
        assert_eq!(
            (info.keys, info.probes, info.bits_per_key),
            (u64::from(n), 7, 10)
        );
        assert_eq!(info.bits, 391 * 512);
    }

    /// No allocation of the builder grows past one chunk (64 KiB), however
    /// many keys a table has, and the keys of every chunk reach the filter.
    #[test]
    fn hashes_are_kept_in_bounded_chunks_and_all_reach_the_filter() {
        let n = 2 * HASHES_PER_CHUNK + 1;
        let mut builder = FilterBuilder::new(10, None);
        for i in 0..n {
            builder.add(format!("k{i}").as_bytes());
        }
        let FilterState::Hashes(chunks) = &builder.state else {
            panic!("no capacity given, yet the lines were sized");
        };
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.capacity() == HASHES_PER_CHUNK));
        let filter = BloomFilter::parse(builder.finish()).unwrap();
        assert_eq!(filter.info().keys, n as u64);
        assert!((0..n).all(|i| filter.may_contain(format!("k{i}").as_bytes())));
    }

    /// Sized for exactly the keys added, the filter set as keys come is the
    /// filter built from the kept hashes, byte for byte.
    #[test]
    fn a_capacity_of_the_keys_added_gives_the_same_block() {
        for n in [0u64, 1, 7, 1000, 20_000] {
            let keys = || (0..n).map(|i| format!("key-{i}").into_bytes());
            for bpk in [1, 10, 23] {
                assert_eq!(
                    build_block(keys(), bpk, Some(n)),
                    build_block(keys(), bpk, None),
                    "{n} keys, {bpk} bits/key"
                );
            }
        }
    }

    /// A capacity sizes the lines for itself, above or below the keys
    /// added: `keys` still counts the keys added, and every one is found
    /// (past the capacity only the false-positive rate rises).
    #[test]
    fn a_capacity_sizes_the_lines_and_every_key_is_found() {
        // (keys added, capacity, lines at 10 bits a key)
        for (added, capacity, lines) in [(300u32, 1000, 20), (5000, 100, 2)] {
            let keys = (0..added).map(|i| i.to_be_bytes().to_vec());
            let filter = BloomFilter::parse(build_block(keys, 10, Some(capacity))).unwrap();
            let info = filter.info();
            assert_eq!((info.keys, info.bits), (u64::from(added), lines * 512));
            assert!((0..added).all(|i| filter.may_contain(&i.to_be_bytes())));
        }
    }

    /// A capacity whose filter would not fit in a block is ignored: the
    /// filter is sized for the keys added.
    #[test]
    fn a_capacity_too_large_for_a_block_is_ignored() {
        let huge = (MAX_BLOCK_BYTES as u64 / LINE_BYTES as u64 + 1) * u64::from(LINE_BITS);
        let builder = FilterBuilder::new(1, Some(huge));
        assert!(matches!(builder.state, FilterState::Hashes(_)));
        let mut builder = FilterBuilder::new(64, Some(u64::MAX));
        builder.add(b"k");
        let filter = BloomFilter::parse(builder.finish()).unwrap();
        assert_eq!((filter.info().keys, filter.info().bits), (1, 512));
    }

    #[test]
    fn one_bit_per_key_still_has_no_false_negatives() {
        let filter = build((0..100u32).map(|i| i.to_le_bytes().to_vec()), 1);
        assert_eq!(filter.info().probes, 1);
        assert!((0..100u32).all(|i| filter.may_contain(&i.to_le_bytes())));
    }

    proptest! {
        #[test]
        fn arbitrary_filter_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), key in proptest::collection::vec(any::<u8>(), 0..10)) {
            if let Ok(filter) = BloomFilter::parse(bytes) {
                let _ = filter.may_contain(&key);
            }
        }

        #[test]
        fn added_keys_are_always_found(keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..200), bpk in 1u32..20) {
            let filter = build(keys.iter().cloned(), bpk);
            for key in &keys {
                prop_assert!(filter.may_contain(key));
            }
        }
    }
}
