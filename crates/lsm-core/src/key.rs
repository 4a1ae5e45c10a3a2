//! Sequence numbers, value kinds and the internal key.
//!
//! An *internal key* is a user key followed by an 8-byte trailer:
//!
//! ```text
//! +-------------------+--------------------------------------------+
//! | user key (n B)    | trailer: u64 little-endian = seq << 8 | kind |
//! +-------------------+--------------------------------------------+
//! ```
//!
//! Internal keys order by user key ascending (bytewise), then by trailer
//! *descending*, so the newest entry of a key sorts first. This is the one
//! order used by the memtable, every table and every merge; see
//! [`compare_internal_keys`]. The layout is documented in
//! `docs/format/sstable.md` and `docs/format/wal.md`.

use std::cmp::Ordering;
use std::fmt;

use byteorder::{ByteOrder, LittleEndian};
use bytes::Bytes;

/// A sequence number: strictly increasing per store, one per operation.
///
/// Only the low 56 bits are usable ([`MAX_SEQNO`]); the trailer packs the
/// [`ValueKind`] into the low byte.
#[doc(alias = "timestamp")]
#[doc(alias = "version")]
pub type SeqNo = u64;

/// The largest sequence number an internal key can carry.
pub const MAX_SEQNO: SeqNo = (1 << 56) - 1;

/// Bytes in the internal-key trailer.
pub const TRAILER_BYTES: usize = 8;

/// The kind byte used in seek keys: larger than every real kind, so a seek
/// key sorts before every entry with the same user key and sequence number.
const SEEK_KIND_BYTE: u64 = 0xFF;

/// What an entry is. The discriminants are written to disk: never change
/// them, only append new ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is deleted as of this sequence number.
    Delete = 0,
    /// A value.
    Put = 1,
}

impl ValueKind {
    /// Decodes a kind byte; `None` for an unknown value.
    pub fn from_u8(byte: u8) -> Option<ValueKind> {
        match byte {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            _ => None,
        }
    }
}

/// Packs a sequence number and kind into a trailer value.
#[inline]
pub fn pack_trailer(seq: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seq <= MAX_SEQNO, "sequence number {seq} exceeds 56 bits");
    (seq << 8) | kind as u64
}

/// What one layer (memtable or table) knows about a user key at a snapshot.
/// `None` from a layer's lookup means "no version here; ask the next layer".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The newest visible version is a put with this value. The layers hand
    /// it out without a copy: a [`Bytes`] slice of the memtable entry or of
    /// the table's decoded block, which it keeps alive.
    Value(Bytes),
    /// The newest visible version is a tombstone: stop, the key is absent.
    Deleted,
}

/// An internal key split into its parts, borrowing the user key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedInternalKey<'a> {
    /// The user's key.
    pub user_key: &'a [u8],
    /// The sequence number of this version.
    pub seq: SeqNo,
    /// Put or delete.
    pub kind: ValueKind,
}

impl fmt::Debug for ParsedInternalKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}:{:?}",
            String::from_utf8_lossy(self.user_key),
            self.seq,
            self.kind
        )
    }
}

/// Splits an encoded internal key. `None` if it is shorter than the trailer
/// or its kind byte is unknown; callers turn that into a corruption error
/// naming their file and offset.
#[inline]
pub fn parse_internal_key(encoded: &[u8]) -> Option<ParsedInternalKey<'_>> {
    let split = encoded.len().checked_sub(TRAILER_BYTES)?;
    let (user_key, trailer) = encoded.split_at(split);
    let trailer = LittleEndian::read_u64(trailer);
    let kind = ValueKind::from_u8((trailer & 0xFF) as u8)?;
    Some(ParsedInternalKey {
        user_key,
        seq: trailer >> 8,
        kind,
    })
}

/// The user-key part of an encoded internal key (the whole slice if it is
/// too short to hold a trailer).
#[inline]
pub fn user_key_of(encoded: &[u8]) -> &[u8] {
    &encoded[..encoded.len().saturating_sub(TRAILER_BYTES)]
}

#[inline]
fn trailer_of(encoded: &[u8]) -> u64 {
    match encoded.len().checked_sub(TRAILER_BYTES) {
        Some(split) => LittleEndian::read_u64(&encoded[split..]),
        None => 0,
    }
}

/// Byte-wise (lexicographic) order of two keys: the same result as
/// `a.cmp(b)`, computed 8 bytes at a time without a call to `memcmp`.
///
/// Keys are short (16-24 bytes in the usual workloads) and often share
/// their first bytes (a keyspace prefix, zero-padded numbers), so most
/// comparisons read a few words; a `memcmp` call costs more than that
/// work (it was 24% of a random-read benchmark's time, called from block
/// seeks, index searches and memtable searches).
#[inline]
pub fn compare_user_keys(a: &[u8], b: &[u8]) -> Ordering {
    let common = a.len().min(b.len());
    let (mut a_rest, mut b_rest) = (&a[..common], &b[..common]);
    while let (Some((a_word, a_tail)), Some((b_word, b_tail))) = (
        a_rest.split_first_chunk::<8>(),
        b_rest.split_first_chunk::<8>(),
    ) {
        if a_word != b_word {
            return u64::from_be_bytes(*a_word).cmp(&u64::from_be_bytes(*b_word));
        }
        (a_rest, b_rest) = (a_tail, b_tail);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// The order of encoded internal keys: user key ascending, then trailer
/// (sequence number, then kind) descending. Never panics; a slice too short
/// to hold a trailer compares as a user key with trailer 0.
#[inline]
pub fn compare_internal_keys(a: &[u8], b: &[u8]) -> Ordering {
    match compare_user_keys(user_key_of(a), user_key_of(b)) {
        Ordering::Equal => trailer_of(b).cmp(&trailer_of(a)),
        other => other,
    }
}

/// Appends the encoded internal key for `(user_key, seq, kind)` to `out`.
#[inline]
pub fn encode_internal_key(out: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: ValueKind) {
    out.reserve(user_key.len() + TRAILER_BYTES);
    out.extend_from_slice(user_key);
    out.extend_from_slice(&pack_trailer(seq, kind).to_le_bytes());
}

/// User keys up to this long make a [`SeekKey`] without a heap allocation.
const SEEK_KEY_INLINE_USER_KEY: usize = 56;

/// [`InternalKey::for_seek`]'s bytes, built on the stack when the user key
/// is at most 56 bytes (a point lookup probes one per table, so the
/// allocation would be paid per probe).
///
/// ```
/// use lsm_core::{InternalKey, SeekKey};
/// let key = SeekKey::new(b"apple", 7);
/// assert_eq!(key.as_bytes(), InternalKey::for_seek(b"apple", 7).as_bytes());
/// ```
pub struct SeekKey {
    inline: [u8; SEEK_KEY_INLINE_USER_KEY + TRAILER_BYTES],
    /// Bytes used in `inline`, or `None` when the key lives in `heap`.
    inline_len: Option<usize>,
    heap: Vec<u8>,
}

impl SeekKey {
    /// The seek key of `user_key` at `snapshot` (see
    /// [`InternalKey::for_seek`]).
    #[inline]
    pub fn new(user_key: &[u8], snapshot: SeqNo) -> SeekKey {
        let trailer = ((snapshot.min(MAX_SEQNO) << 8) | SEEK_KIND_BYTE).to_le_bytes();
        let mut key = SeekKey {
            inline: [0; SEEK_KEY_INLINE_USER_KEY + TRAILER_BYTES],
            inline_len: None,
            heap: Vec::new(),
        };
        let len = user_key.len() + TRAILER_BYTES;
        match key.inline.get_mut(..len) {
            Some(bytes) => {
                let (user, tail) = bytes.split_at_mut(user_key.len());
                user.copy_from_slice(user_key);
                tail.copy_from_slice(&trailer);
                key.inline_len = Some(len);
            }
            None => {
                key.heap.reserve_exact(len);
                key.heap.extend_from_slice(user_key);
                key.heap.extend_from_slice(&trailer);
            }
        }
        key
    }

    /// The encoded bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self.inline_len {
            Some(len) => &self.inline[..len],
            None => &self.heap,
        }
    }
}

/// An owned, encoded internal key whose `Ord` is [`compare_internal_keys`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InternalKey(Vec<u8>);

impl InternalKey {
    /// Encodes `(user_key, seq, kind)`.
    pub fn new(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Self {
        let mut bytes = Vec::with_capacity(user_key.len() + TRAILER_BYTES);
        encode_internal_key(&mut bytes, user_key, seq, kind);
        InternalKey(bytes)
    }

    /// The key to seek to for the newest entry of `user_key` visible at
    /// `snapshot`: it sorts before every entry of `user_key` with a sequence
    /// number `<= snapshot` and after every newer one.
    pub fn for_seek(user_key: &[u8], snapshot: SeqNo) -> Self {
        let mut bytes = Vec::with_capacity(user_key.len() + TRAILER_BYTES);
        bytes.extend_from_slice(user_key);
        bytes.extend_from_slice(&((snapshot.min(MAX_SEQNO) << 8) | SEEK_KIND_BYTE).to_le_bytes());
        InternalKey(bytes)
    }

    /// Wraps bytes that are already an encoded internal key.
    pub fn from_encoded(bytes: Vec<u8>) -> Self {
        InternalKey(bytes)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The encoded bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The user key.
    pub fn user_key(&self) -> &[u8] {
        user_key_of(&self.0)
    }

    /// The sequence number.
    pub fn seq(&self) -> SeqNo {
        trailer_of(&self.0) >> 8
    }

    /// The parsed parts; `None` for a seek key or malformed bytes.
    pub fn parse(&self) -> Option<ParsedInternalKey<'_>> {
        parse_internal_key(&self.0)
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal_keys(&self.0, &other.0)
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parse() {
            Some(parsed) => parsed.fmt(f),
            None => write!(
                f,
                "{}@{}:seek",
                String::from_utf8_lossy(self.user_key()),
                self.seq()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newest_version_sorts_first() {
        let old = InternalKey::new(b"k", 5, ValueKind::Put);
        let new = InternalKey::new(b"k", 9, ValueKind::Delete);
        assert!(new < old);
        assert!(
            InternalKey::new(b"a", 1, ValueKind::Put) < InternalKey::new(b"b", 100, ValueKind::Put)
        );
    }

    #[test]
    fn user_key_prefix_sorts_before_longer_key() {
        // "a"+trailer must sort before "ab"+trailer whatever the trailer bytes are.
        let short = InternalKey::new(b"a", MAX_SEQNO, ValueKind::Put);
        let long = InternalKey::new(b"ab", 0, ValueKind::Delete);
        assert!(short < long);
    }

    #[test]
    fn seek_key_lands_on_newest_visible_version() {
        let seek = InternalKey::for_seek(b"k", 7);
        assert!(seek < InternalKey::new(b"k", 7, ValueKind::Put));
        assert!(seek < InternalKey::new(b"k", 7, ValueKind::Delete));
        assert!(seek > InternalKey::new(b"k", 8, ValueKind::Delete));
        assert!(seek.parse().is_none());
    }

    #[test]
    fn short_slices_do_not_panic() {
        assert_eq!(compare_internal_keys(b"", b"abcdefghi"), Ordering::Less);
        assert_eq!(compare_internal_keys(b"", b"abc"), Ordering::Equal);
        assert!(parse_internal_key(b"1234567").is_none());
        assert_eq!(user_key_of(b"ab"), b"");
    }

    proptest! {
        #[test]
        fn roundtrip(key in proptest::collection::vec(any::<u8>(), 0..40), seq in 0..=MAX_SEQNO, put in any::<bool>()) {
            let kind = if put { ValueKind::Put } else { ValueKind::Delete };
            let ik = InternalKey::new(&key, seq, kind);
            let parsed = ik.parse().unwrap();
            prop_assert_eq!(parsed.user_key, &key[..]);
            prop_assert_eq!(parsed.seq, seq);
            prop_assert_eq!(parsed.kind, kind);
        }

        #[test]
        fn order_matches_tuple_order(
            a in proptest::collection::vec(0u8..4, 0..4), sa in 0u64..1000,
            b in proptest::collection::vec(0u8..4, 0..4), sb in 0u64..1000,
        ) {
            let x = InternalKey::new(&a, sa, ValueKind::Put);
            let y = InternalKey::new(&b, sb, ValueKind::Put);
            let expected = a.cmp(&b).then(sb.cmp(&sa));
            prop_assert_eq!(x.cmp(&y), expected);
        }

        /// Keys from a small alphabet and up to 40 bytes, with a shared
        /// prefix half the time, so every word position, the byte tail and
        /// the length rule all decide some comparisons.
        #[test]
        fn user_key_order_is_slice_order(
            prefix in proptest::collection::vec(0u8..3, 0..20),
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0x80), Just(0xFF)], 0..20),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0x80), Just(0xFF)], 0..20),
            share in any::<bool>(),
        ) {
            let (a, b) = if share {
                ([prefix.as_slice(), &a].concat(), [prefix.as_slice(), &b].concat())
            } else {
                (a, b)
            };
            prop_assert_eq!(compare_user_keys(&a, &b), a.cmp(&b));
            prop_assert_eq!(compare_user_keys(&b, &a), b.cmp(&a));
            prop_assert_eq!(compare_user_keys(&a, &a), Ordering::Equal);
        }
    }

    #[test]
    fn seek_keys_match_for_seek_inline_and_on_the_heap() {
        for len in [
            0,
            1,
            16,
            SEEK_KEY_INLINE_USER_KEY,
            SEEK_KEY_INLINE_USER_KEY + 1,
            300,
        ] {
            let user_key: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for snapshot in [0, 5, MAX_SEQNO, u64::MAX] {
                let key = SeekKey::new(&user_key, snapshot);
                assert_eq!(
                    key.as_bytes(),
                    InternalKey::for_seek(&user_key, snapshot).as_bytes(),
                    "user key of {len} bytes at {snapshot}"
                );
                assert_eq!(key.inline_len.is_some(), len <= SEEK_KEY_INLINE_USER_KEY);
            }
        }
    }

    #[test]
    fn user_keys_compare_at_every_word_and_tail_position() {
        let base: Vec<u8> = (0..24).collect();
        for i in 0..base.len() {
            let mut bigger = base.clone();
            bigger[i] += 1;
            assert_eq!(
                compare_user_keys(&base, &bigger),
                Ordering::Less,
                "byte {i}"
            );
            assert_eq!(
                compare_user_keys(&bigger, &base),
                Ordering::Greater,
                "byte {i}"
            );
            assert_eq!(
                compare_user_keys(&base[..i], &base),
                Ordering::Less,
                "prefix {i}"
            );
        }
        assert_eq!(compare_user_keys(b"", b""), Ordering::Equal);
    }
}
