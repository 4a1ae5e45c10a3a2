//! The properties block: a table's summary, written once by the builder
//! and read once at open.
//!
//! Layout (see `docs/format/sstable.md`, "Properties block"), fields in
//! this order, nothing after them:
//!
//! ```text
//! format_version varint | entries varint | tombstones varint
//! | smallest_key len-prefixed | largest_key len-prefixed
//! | min_seq varint | max_seq varint | data_blocks varint
//! | raw_key_bytes varint | raw_value_bytes varint | file_bytes u64 LE
//! ```
//!
//! `file_bytes` is fixed-width so the builder can compute it before the
//! block is written (its size does not depend on its value).

use lsm_core::coding::{
    get_fixed64, get_length_prefixed, get_varint32, get_varint64, put_fixed64, put_length_prefixed,
    put_varint32, put_varint64,
};
use lsm_core::{parse_internal_key, SeqNo};

/// What a table holds, recorded in its properties block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableProperties {
    /// The table format version ([`crate::FORMAT_VERSION`]).
    pub format_version: u32,
    /// Entries (puts and tombstones).
    pub entries: u64,
    /// Entries that are tombstones.
    pub tombstones: u64,
    /// The first encoded internal key.
    pub smallest_key: Vec<u8>,
    /// The last encoded internal key.
    pub largest_key: Vec<u8>,
    /// Smallest sequence number of any entry.
    pub min_seq: SeqNo,
    /// Largest sequence number of any entry.
    pub max_seq: SeqNo,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Sum of the encoded internal key lengths (before prefix compression).
    pub raw_key_bytes: u64,
    /// Sum of the value lengths (before compression).
    pub raw_value_bytes: u64,
    /// Size of the table file in bytes.
    pub file_bytes: u64,
}

impl TableProperties {
    /// The properties block bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.smallest_key.len() + self.largest_key.len());
        put_varint32(&mut out, self.format_version);
        put_varint64(&mut out, self.entries);
        put_varint64(&mut out, self.tombstones);
        put_length_prefixed(&mut out, &self.smallest_key);
        put_length_prefixed(&mut out, &self.largest_key);
        put_varint64(&mut out, self.min_seq);
        put_varint64(&mut out, self.max_seq);
        put_varint64(&mut out, self.data_blocks);
        put_varint64(&mut out, self.raw_key_bytes);
        put_varint64(&mut out, self.raw_value_bytes);
        put_fixed64(&mut out, self.file_bytes);
        out
    }

    /// Decodes a properties block and checks its fields agree with each
    /// other; `Err(detail)` otherwise.
    pub(crate) fn decode(block: &[u8]) -> Result<TableProperties, &'static str> {
        let mut input = block;
        let truncated = "properties block truncated";
        let format_version = get_varint32(&mut input).ok_or(truncated)?;
        let entries = get_varint64(&mut input).ok_or(truncated)?;
        let tombstones = get_varint64(&mut input).ok_or(truncated)?;
        let smallest_key = get_length_prefixed(&mut input).ok_or(truncated)?.to_vec();
        let largest_key = get_length_prefixed(&mut input).ok_or(truncated)?.to_vec();
        let min_seq = get_varint64(&mut input).ok_or(truncated)?;
        let max_seq = get_varint64(&mut input).ok_or(truncated)?;
        let data_blocks = get_varint64(&mut input).ok_or(truncated)?;
        let raw_key_bytes = get_varint64(&mut input).ok_or(truncated)?;
        let raw_value_bytes = get_varint64(&mut input).ok_or(truncated)?;
        let file_bytes = get_fixed64(&mut input).ok_or(truncated)?;
        if !input.is_empty() {
            return Err("properties block has trailing bytes");
        }
        if entries == 0
            || tombstones > entries
            || data_blocks == 0
            || data_blocks > entries
            || min_seq > max_seq
        {
            return Err("properties counts are inconsistent");
        }
        if parse_internal_key(&smallest_key).is_none() || parse_internal_key(&largest_key).is_none()
        {
            return Err("properties smallest/largest key is not an internal key");
        }
        Ok(TableProperties {
            format_version,
            entries,
            tombstones,
            smallest_key,
            largest_key,
            min_seq,
            max_seq,
            data_blocks,
            raw_key_bytes,
            raw_value_bytes,
            file_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, ValueKind};
    use proptest::prelude::*;

    fn sample() -> TableProperties {
        TableProperties {
            format_version: 1,
            entries: 10,
            tombstones: 2,
            smallest_key: InternalKey::new(b"a", 9, ValueKind::Put).into_bytes(),
            largest_key: InternalKey::new(b"z", 1, ValueKind::Delete).into_bytes(),
            min_seq: 1,
            max_seq: 9,
            data_blocks: 3,
            raw_key_bytes: 120,
            raw_value_bytes: 300,
            file_bytes: 1_000,
        }
    }

    #[test]
    fn properties_roundtrip_and_reject_trailing_or_inconsistent_fields() {
        let props = sample();
        let mut bytes = props.encode();
        assert_eq!(TableProperties::decode(&bytes).unwrap(), props);
        bytes.push(0);
        assert_eq!(
            TableProperties::decode(&bytes),
            Err("properties block has trailing bytes")
        );
        let bad = TableProperties {
            tombstones: 11,
            ..sample()
        };
        assert!(TableProperties::decode(&bad.encode()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_properties_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(props) = TableProperties::decode(&bytes) {
                prop_assert!(props.entries >= props.tombstones);
            }
        }
    }
}
