//! The key order of the memtable, and the search keys it is probed with.
//!
//! The skiplist is ordered by [`lsm_core::compare_internal_keys`]: user key
//! ascending, then trailer (`seq << 8 | kind`) descending. Lookups must not
//! allocate, so they search with a [`KeyProbe`]: a borrowed user key and a
//! trailer, compared against each stored entry's encoded internal key in
//! place.
//!
//! Invariant: [`KeyProbe::compare_stored`] agrees with
//! `compare_internal_keys` on every byte string, malformed ones included
//! (checked by a property test).

use std::cmp::Ordering;

use lsm_core::key::TRAILER_BYTES;
use lsm_core::{SeqNo, ValueKind, MAX_SEQNO};

/// The kind byte of a seek key, as in `lsm_core::InternalKey::for_seek`:
/// larger than every real kind, so a probe for `(user_key, snapshot)` sorts
/// before every entry of `user_key` with a sequence number `<= snapshot`.
const SEEK_KIND_BYTE: u64 = 0xFF;

/// A search key that borrows its user key: what inserts, `get` and `seek`
/// look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyProbe<'a> {
    user_key: &'a [u8],
    /// [`user_key_prefix`] of `user_key`.
    prefix: u64,
    /// `seq << 8 | kind`.
    trailer: u64,
}

/// The first 8 bytes of `user_key`, zero-padded, as a big-endian integer.
///
/// If two keys' prefixes differ, they order as their keys do (a zero pad
/// sorts like "shorter"), so most comparisons in a search are one integer
/// comparison. Keys sharing their first 8 bytes (zero-padded numbers, one
/// keyspace's prefix byte) go on with `compare_user_keys`, a word at a
/// time, not a `memcmp` call.
#[inline]
fn user_key_prefix(user_key: &[u8]) -> u64 {
    match user_key.first_chunk::<8>() {
        Some(first) => u64::from_be_bytes(*first),
        None => {
            let mut bytes = [0u8; 8];
            bytes[..user_key.len()].copy_from_slice(user_key);
            u64::from_be_bytes(bytes)
        }
    }
}

impl<'a> KeyProbe<'a> {
    /// The probe for `(user_key, trailer)`.
    #[inline]
    pub(crate) fn new(user_key: &'a [u8], trailer: u64) -> Self {
        KeyProbe {
            user_key,
            prefix: user_key_prefix(user_key),
            trailer,
        }
    }

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
        let (user_key, trailer) = split_encoded(encoded);
        KeyProbe::new(user_key, trailer)
    }

    /// How this probe compares with a stored encoded internal key (probe
    /// minus stored): user key ascending, trailer descending.
    #[inline]
    pub(crate) fn compare_stored(&self, stored: &[u8]) -> Ordering {
        let (user_key, trailer) = split_encoded(stored);
        self.prefix
            .cmp(&user_key_prefix(user_key))
            .then_with(|| lsm_core::compare_user_keys(self.user_key, user_key))
            .then_with(|| trailer.cmp(&self.trailer))
    }
}

/// An encoded internal key's user key and trailer (the empty key and 0 for
/// a slice shorter than a trailer, as `compare_internal_keys` has it).
#[inline]
fn split_encoded(encoded: &[u8]) -> (&[u8], u64) {
    match encoded.split_last_chunk::<TRAILER_BYTES>() {
        Some((user_key, trailer)) => (user_key, u64::from_le_bytes(*trailer)),
        None => (&[], 0),
    }
}

/// The sequence number of a trailer.
#[inline]
pub(crate) fn seq_of(trailer: u64) -> SeqNo {
    trailer >> 8
}

/// Put or delete, from a stored trailer (only those two kinds are stored).
#[inline]
pub(crate) fn kind_of(trailer: u64) -> ValueKind {
    if trailer & 0xFF == ValueKind::Put as u64 {
        ValueKind::Put
    } else {
        debug_assert_eq!(trailer & 0xFF, ValueKind::Delete as u64);
        ValueKind::Delete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::key::pack_trailer;
    use lsm_core::{compare_internal_keys, InternalKey};
    use proptest::prelude::*;

    #[test]
    fn snapshot_probe_sorts_like_for_seek() {
        for snapshot in [0, 1, 7, MAX_SEQNO, u64::MAX] {
            let seek = InternalKey::for_seek(b"k", snapshot);
            let probe = KeyProbe::for_snapshot(b"k", snapshot);
            let from_bytes = KeyProbe::from_encoded(seek.as_bytes());
            assert_eq!(probe, from_bytes);
        }
    }

    #[test]
    fn trailer_parts_decode() {
        let trailer = pack_trailer(42, ValueKind::Delete);
        assert_eq!(seq_of(trailer), 42);
        assert_eq!(kind_of(trailer), ValueKind::Delete);
        assert_eq!(kind_of(pack_trailer(7, ValueKind::Put)), ValueKind::Put);
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
            prop_assert_eq!(pa.compare_stored(&b), compare_internal_keys(&a, &b));
        }

        #[test]
        fn new_probe_order_matches_compare_internal_keys(
            ka in proptest::collection::vec(0u8..3, 0..3), sa in 0u64..4, pa in any::<bool>(),
            kb in proptest::collection::vec(0u8..3, 0..3), sb in 0u64..4, pb in any::<bool>(),
        ) {
            let kind = |put: bool| if put { ValueKind::Put } else { ValueKind::Delete };
            let a = InternalKey::new(&ka, sa, kind(pa));
            let b = InternalKey::new(&kb, sb, kind(pb));
            let probe = KeyProbe::new(&ka, pack_trailer(sa, kind(pa)));
            prop_assert_eq!(
                probe.compare_stored(b.as_bytes()),
                compare_internal_keys(a.as_bytes(), b.as_bytes())
            );
        }
    }
}
