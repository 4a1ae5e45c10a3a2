//! One stored memtable entry, and the key order of the skiplist.
//!
//! The skiplist is ordered by [`lsm_core::compare_internal_keys`]: user key
//! ascending, then trailer (`seq << 8 | kind`) descending. Lookups must not
//! allocate, so the map is searched through a borrowed form: both a stored
//! [`MemtableEntry`] and a stack-built [`KeyProbe`] implement
//! [`OrderedKey`], and `dyn OrderedKey` carries the one comparison.
//!
//! Invariants:
//! - A [`MemtableEntry`]'s `bytes` hold the encoded internal key (user key,
//!   then the 8-byte little-endian trailer) followed by the value, and
//!   `key_len >= TRAILER_BYTES`.
//! - `Ord for MemtableEntry` and `Ord for dyn OrderedKey` agree (the map's
//!   `Borrow` contract), and both agree with `compare_internal_keys` on every
//!   byte string, malformed ones included (checked by a property test).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

use bytes::Bytes;
use lsm_core::key::{pack_trailer, TRAILER_BYTES};
use lsm_core::{SeqNo, ValueKind, MAX_SEQNO};

/// The kind byte of a seek key, as in `lsm_core::InternalKey::for_seek`:
/// larger than every real kind, so a probe for `(user_key, snapshot)` sorts
/// before every entry of `user_key` with a sequence number `<= snapshot`.
const SEEK_KIND_BYTE: u64 = 0xFF;

/// The split parts of an internal key, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyParts<'a> {
    /// [`user_key_prefix`] of `user_key`.
    prefix: u64,
    user_key: &'a [u8],
    /// `seq << 8 | kind`.
    trailer: u64,
}

/// The first 8 bytes of `user_key`, zero-padded, as a big-endian integer.
///
/// If two keys' prefixes differ, they order as their keys do (a zero pad
/// sorts like "shorter"): a search in a large skiplist decides most
/// comparisons from this copy inside the node, without reading the key's
/// separate heap buffer, which would be one more cache miss per step.
#[inline]
fn user_key_prefix(user_key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = user_key.len().min(8);
    bytes[..n].copy_from_slice(&user_key[..n]);
    u64::from_be_bytes(bytes)
}

/// Something that sorts in internal-key order.
///
/// `dyn OrderedKey` is the borrowed form under which the skiplist is
/// searched, so a lookup compares a stack-built [`KeyProbe`] against stored
/// entries without encoding (and allocating) a seek key.
pub(crate) trait OrderedKey {
    /// The prefix, user key and trailer.
    fn parts(&self) -> KeyParts<'_>;
}

/// The internal-key order on split parts: user key ascending, trailer
/// descending. The same order as `lsm_core::compare_internal_keys`.
#[inline]
fn compare_parts(a: KeyParts<'_>, b: KeyParts<'_>) -> Ordering {
    a.prefix
        .cmp(&b.prefix)
        .then_with(|| a.user_key.cmp(b.user_key))
        .then_with(|| b.trailer.cmp(&a.trailer))
}

impl<'a> PartialEq for dyn OrderedKey + 'a {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<'a> Eq for dyn OrderedKey + 'a {}

impl<'a> PartialOrd for dyn OrderedKey + 'a {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> Ord for dyn OrderedKey + 'a {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        compare_parts(self.parts(), other.parts())
    }
}

/// A search key that borrows its user key: what `get` and `seek` look up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyProbe<'a> {
    parts: KeyParts<'a>,
}

impl<'a> KeyProbe<'a> {
    /// The probe that sorts just before the newest entry of `user_key`
    /// visible at `snapshot`: the same position as
    /// `InternalKey::for_seek(user_key, snapshot)`.
    #[inline]
    pub(crate) fn for_snapshot(user_key: &'a [u8], snapshot: SeqNo) -> Self {
        KeyProbe::new(user_key, (snapshot.min(MAX_SEQNO) << 8) | SEEK_KIND_BYTE)
    }

    /// The probe for an encoded internal key (any bytes: a slice shorter
    /// than a trailer is the empty user key with trailer 0, exactly as
    /// `compare_internal_keys` treats it).
    #[inline]
    pub(crate) fn from_encoded(encoded: &'a [u8]) -> Self {
        match encoded.split_last_chunk::<TRAILER_BYTES>() {
            Some((user_key, trailer)) => KeyProbe::new(user_key, u64::from_le_bytes(*trailer)),
            None => KeyProbe::new(&[], 0),
        }
    }

    fn new(user_key: &'a [u8], trailer: u64) -> Self {
        KeyProbe {
            parts: KeyParts {
                prefix: user_key_prefix(user_key),
                user_key,
                trailer,
            },
        }
    }

    /// This probe as the map's borrowed key form.
    #[inline]
    pub(crate) fn as_ordered(&self) -> &(dyn OrderedKey + 'a) {
        self
    }
}

impl OrderedKey for KeyProbe<'_> {
    #[inline]
    fn parts(&self) -> KeyParts<'_> {
        self.parts
    }
}

/// One version of one user key, as stored in the skiplist: the encoded
/// internal key and the value in a single allocation.
///
/// The allocation is a boxed slice, not a [`Bytes`]: sharing it would cost
/// every entry 16 more bytes of header (and 32 more once read), about a
/// sixth more per entry, so a memtable would hold fewer entries and flush
/// more often. Reads copy a memtable value into a fresh [`Bytes`]
/// ([`MemtableEntry::value_bytes`]); values in cached table blocks are the
/// ones handed out without a copy.
pub(crate) struct MemtableEntry {
    /// Internal key (user key, 8-byte LE trailer), then the value.
    bytes: Box<[u8]>,
    /// Length of the internal-key prefix of `bytes`; `>= TRAILER_BYTES`.
    key_len: usize,
    /// The trailer, copied out of `bytes` so comparisons need not decode it.
    trailer: u64,
    /// [`user_key_prefix`] of the user key, kept in the skiplist node.
    prefix: u64,
}

impl MemtableEntry {
    /// Builds the entry for `(user_key, seq, kind) -> value`.
    pub(crate) fn new(user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Self {
        let trailer = pack_trailer(seq, kind);
        let key_len = user_key.len() + TRAILER_BYTES;
        let mut bytes = Vec::with_capacity(key_len + value.len());
        bytes.extend_from_slice(user_key);
        bytes.extend_from_slice(&trailer.to_le_bytes());
        bytes.extend_from_slice(value);
        MemtableEntry {
            bytes: bytes.into_boxed_slice(),
            key_len,
            trailer,
            prefix: user_key_prefix(user_key),
        }
    }

    /// The encoded internal key.
    #[cfg(test)]
    pub(crate) fn internal_key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    /// The user key.
    #[inline]
    pub(crate) fn user_key(&self) -> &[u8] {
        &self.bytes[..self.key_len - TRAILER_BYTES]
    }

    /// The value (empty for a tombstone).
    #[inline]
    pub(crate) fn value(&self) -> &[u8] {
        &self.bytes[self.key_len..]
    }

    /// The value, copied into a fresh [`Bytes`] (one allocation and one
    /// copy, as a `Vec` read costs). Empty for a tombstone.
    #[inline]
    pub(crate) fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }

    /// The entry's whole buffer (internal key, then value), copied.
    #[inline]
    pub(crate) fn shared_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.bytes)
    }

    /// The internal key followed by the value, as one slice.
    #[inline]
    pub(crate) fn key_and_value(&self) -> &[u8] {
        &self.bytes
    }

    /// Length of the internal key within [`Self::key_and_value`].
    #[inline]
    pub(crate) fn key_len(&self) -> usize {
        self.key_len
    }

    /// The sequence number.
    #[inline]
    pub(crate) fn seq(&self) -> SeqNo {
        self.trailer >> 8
    }

    /// Put or delete.
    #[inline]
    pub(crate) fn kind(&self) -> ValueKind {
        if self.trailer & 0xFF == ValueKind::Put as u64 {
            ValueKind::Put
        } else {
            debug_assert_eq!(self.trailer & 0xFF, ValueKind::Delete as u64);
            ValueKind::Delete
        }
    }

    /// The address of this entry's heap buffer: it identifies the entry, so
    /// an insert can tell whether the map kept its entry or an older one.
    #[inline]
    pub(crate) fn identity(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
}

impl OrderedKey for MemtableEntry {
    #[inline]
    fn parts(&self) -> KeyParts<'_> {
        KeyParts {
            prefix: self.prefix,
            user_key: self.user_key(),
            trailer: self.trailer,
        }
    }
}

impl<'a> Borrow<dyn OrderedKey + 'a> for MemtableEntry {
    #[inline]
    fn borrow(&self) -> &(dyn OrderedKey + 'a) {
        self
    }
}

impl PartialEq for MemtableEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MemtableEntry {}

impl PartialOrd for MemtableEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MemtableEntry {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        compare_parts(self.parts(), other.parts())
    }
}

impl fmt::Debug for MemtableEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}:{:?} ({} value bytes)",
            String::from_utf8_lossy(self.user_key()),
            self.seq(),
            self.kind(),
            self.value().len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{compare_internal_keys, InternalKey};
    use proptest::prelude::*;

    #[test]
    fn entry_splits_key_and_value() {
        let e = MemtableEntry::new(b"key", 42, ValueKind::Put, b"value");
        assert_eq!(e.user_key(), b"key");
        assert_eq!(e.value(), b"value");
        assert_eq!(e.seq(), 42);
        assert_eq!(e.kind(), ValueKind::Put);
        assert_eq!(
            e.internal_key(),
            InternalKey::new(b"key", 42, ValueKind::Put).as_bytes()
        );
        let t = MemtableEntry::new(b"key", 43, ValueKind::Delete, b"");
        assert_eq!(t.kind(), ValueKind::Delete);
        assert!(t.value().is_empty());
    }

    #[test]
    fn snapshot_probe_sorts_like_for_seek() {
        for snapshot in [0, 1, 7, MAX_SEQNO, u64::MAX] {
            let seek = InternalKey::for_seek(b"k", snapshot);
            let probe = KeyProbe::for_snapshot(b"k", snapshot);
            let from_bytes = KeyProbe::from_encoded(seek.as_bytes());
            assert_eq!(probe.parts(), from_bytes.parts());
        }
    }

    fn arbitrary_key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Malformed: shorter than a trailer.
            proptest::collection::vec(any::<u8>(), 0..8),
            // Small alphabet so user keys often tie and trailers decide.
            (proptest::collection::vec(0u8..3, 0..3), any::<u64>()).prop_map(|(k, t)| {
                let mut v = k;
                v.extend_from_slice(&(t % 8).to_le_bytes());
                v
            }),
            proptest::collection::vec(any::<u8>(), 8..20),
        ]
    }

    proptest! {
        #[test]
        fn probe_order_matches_compare_internal_keys(a in arbitrary_key(), b in arbitrary_key()) {
            let pa = KeyProbe::from_encoded(&a);
            let pb = KeyProbe::from_encoded(&b);
            prop_assert_eq!(pa.as_ordered().cmp(pb.as_ordered()), compare_internal_keys(&a, &b));
        }

        #[test]
        fn entry_order_matches_compare_internal_keys(
            ka in proptest::collection::vec(0u8..3, 0..3), sa in 0u64..4, pa in any::<bool>(),
            kb in proptest::collection::vec(0u8..3, 0..3), sb in 0u64..4, pb in any::<bool>(),
        ) {
            let kind = |put: bool| if put { ValueKind::Put } else { ValueKind::Delete };
            let ea = MemtableEntry::new(&ka, sa, kind(pa), b"");
            let eb = MemtableEntry::new(&kb, sb, kind(pb), b"");
            let expected = compare_internal_keys(ea.internal_key(), eb.internal_key());
            prop_assert_eq!(ea.cmp(&eb), expected);
            let borrowed_a: &dyn OrderedKey = ea.borrow();
            let borrowed_b: &dyn OrderedKey = eb.borrow();
            prop_assert_eq!(borrowed_a.cmp(borrowed_b), expected);
        }
    }
}
