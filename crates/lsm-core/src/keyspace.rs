//! Keyspaces and tree keys.
//!
//! A store holds several independently ordered *keyspaces* in one tree:
//! every key the tree stores (the *tree key*) is the keyspace's id as a
//! LEB128 varint followed by the user's key:
//!
//! ```text
//! +-------------------------------+----------------------+
//! | keyspace id (varint, 1..=5 B) | user key (0..=64 KiB) |
//! +-------------------------------+----------------------+
//! ```
//!
//! The varint encoding is prefix-free (the last byte of an id has its high
//! bit clear, every other byte has it set), so the tree keys of one
//! keyspace are exactly the keys that start with its prefix: contiguous in
//! the tree, in user-key order. Ids below 128 (the default keyspace, the
//! catalog and the first 126 named keyspaces) take one byte.
//! `docs/format/wal.md` ("Tree keys") is the format page.
//!
//! ```
//! use lsm_core::keyspace::{split_tree_key, tree_key, KeyspaceId};
//!
//! let ks = KeyspaceId::new(3);
//! let key = tree_key(ks, b"apple");
//! assert_eq!(key, b"\x03apple");
//! assert_eq!(split_tree_key(&key), Some((ks, &b"apple"[..])));
//! let (start, end) = ks.tree_range();
//! assert!(start.as_slice() <= key.as_slice() && key.as_slice() < end.as_slice());
//! ```

use std::fmt;

/// Most bytes a keyspace prefix takes (a `u32` as a LEB128 varint).
pub const MAX_PREFIX_BYTES: usize = 5;

/// The id of a keyspace: the prefix of every tree key in it. Ids are
/// assigned by the store when a keyspace is created and never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyspaceId(u32);

impl KeyspaceId {
    /// The keyspace every store has and the plain `put`/`get` calls use.
    pub const DEFAULT: KeyspaceId = KeyspaceId(0);
    /// The store's own keyspace catalog (name -> id); not a user keyspace.
    pub const CATALOG: KeyspaceId = KeyspaceId(1);
    /// The first id a named keyspace gets.
    pub const FIRST_NAMED: KeyspaceId = KeyspaceId(2);

    /// The keyspace with id `id`.
    pub const fn new(id: u32) -> KeyspaceId {
        KeyspaceId(id)
    }

    /// The numeric id.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The prefix bytes in a stack buffer: `(buffer, length)`.
    pub fn encode_prefix(self) -> ([u8; MAX_PREFIX_BYTES], usize) {
        let mut buf = [0u8; MAX_PREFIX_BYTES];
        let mut id = self.0;
        let mut len = 0;
        while id >= 0x80 {
            buf[len] = (id as u8) | 0x80;
            id >>= 7;
            len += 1;
        }
        buf[len] = id as u8;
        (buf, len + 1)
    }

    /// Appends this keyspace's prefix to `out`.
    pub fn put_prefix(self, out: &mut Vec<u8>) {
        let (buf, len) = self.encode_prefix();
        out.extend_from_slice(&buf[..len]);
    }

    /// The prefix bytes.
    pub fn prefix(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_PREFIX_BYTES);
        self.put_prefix(&mut out);
        out
    }

    /// `[start, end)`: the tree keys of this keyspace are exactly those
    /// `>= start` and `< end` (start = the prefix, end = the prefix with its
    /// last byte plus one; that byte is below 0x80, so it never overflows).
    pub fn tree_range(self) -> (Vec<u8>, Vec<u8>) {
        let start = self.prefix();
        let mut end = start.clone();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        (start, end)
    }
}

impl fmt::Debug for KeyspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyspaceId({})", self.0)
    }
}

impl fmt::Display for KeyspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The tree key of `user_key` in `keyspace`.
pub fn tree_key(keyspace: KeyspaceId, user_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_PREFIX_BYTES + user_key.len());
    keyspace.put_prefix(&mut out);
    out.extend_from_slice(user_key);
    out
}

/// Splits a tree key into its keyspace and user key; `None` if the prefix
/// is not a valid varint of a `u32`.
pub fn split_tree_key(tree_key: &[u8]) -> Option<(KeyspaceId, &[u8])> {
    let mut id: u32 = 0;
    for (i, &byte) in tree_key.iter().enumerate().take(MAX_PREFIX_BYTES) {
        let bits = u32::from(byte & 0x7F);
        let shift = 7 * i as u32;
        if i == MAX_PREFIX_BYTES - 1 && byte > 0x0F {
            return None; // more than 32 bits
        }
        id |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((KeyspaceId(id), &tree_key[i + 1..]));
        }
    }
    None
}

/// Bytes of the keyspace prefix at the start of `tree_key` (0 if it has no
/// valid prefix).
pub fn prefix_len(tree_key: &[u8]) -> usize {
    split_tree_key(tree_key).map_or(0, |(_, user)| tree_key.len() - user.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_ids_take_one_byte_and_ranges_are_exact() {
        assert_eq!(KeyspaceId::DEFAULT.prefix(), [0]);
        assert_eq!(KeyspaceId::new(127).prefix(), [0x7F]);
        assert_eq!(KeyspaceId::new(128).prefix(), [0x80, 0x01]);
        assert_eq!(KeyspaceId::new(u32::MAX).prefix().len(), MAX_PREFIX_BYTES);
        let (start, end) = KeyspaceId::new(128).tree_range();
        assert_eq!((start, end), (vec![0x80, 0x01], vec![0x80, 0x02]));
    }

    #[test]
    fn malformed_prefixes_are_rejected() {
        assert_eq!(split_tree_key(b""), None);
        assert_eq!(split_tree_key(&[0x80]), None, "unterminated varint");
        assert_eq!(split_tree_key(&[0xFF, 0xFF, 0xFF, 0xFF, 0x1F]), None);
        assert_eq!(prefix_len(&[0x80]), 0);
    }

    proptest! {
        #[test]
        fn tree_keys_roundtrip_and_stay_inside_their_range(id in any::<u32>(), other in any::<u32>(), key in proptest::collection::vec(any::<u8>(), 0..8)) {
            let ks = KeyspaceId::new(id);
            let encoded = tree_key(ks, &key);
            prop_assert_eq!(split_tree_key(&encoded), Some((ks, &key[..])));
            let (start, end) = ks.tree_range();
            prop_assert!(start <= encoded && encoded < end);
            let foreign = tree_key(KeyspaceId::new(other), &key);
            let (ostart, oend) = KeyspaceId::new(other).tree_range();
            if other != id {
                prop_assert!(!(start <= foreign && foreign < end), "another keyspace's key inside this range");
                prop_assert!(end <= ostart || oend <= start, "keyspace ranges overlap");
            }
        }
    }
}
