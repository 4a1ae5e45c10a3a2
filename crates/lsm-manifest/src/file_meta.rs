//! A table file's catalog entry ([`FileMeta`]) and table file names.

use lsm_core::key::TRAILER_BYTES;
use lsm_core::{compare_internal_keys, InternalKey, SeqNo, MAX_SEQNO, MAX_TREE_KEY_BYTES};

/// A table file's catalog entry. Immutable once created; versions share it
/// as `Arc<FileMeta>`.
///
/// Invariant (checked by [`FileMeta::validate`], on decode and on apply):
/// both keys are real internal keys (a user key of at most
/// [`MAX_TREE_KEY_BYTES`] and a known kind), `smallest <= largest` in internal-key
/// order, `min_seq <= max_seq <= MAX_SEQNO`, and `tombstones <= entries`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The table's file number: its name is [`table_file_name`]`(number)`.
    pub number: u64,
    /// The table file's size in bytes.
    pub file_bytes: u64,
    /// The smallest internal key in the table.
    pub smallest: InternalKey,
    /// The largest internal key in the table.
    pub largest: InternalKey,
    /// The smallest sequence number of any entry in the table.
    pub min_seq: SeqNo,
    /// The largest sequence number of any entry in the table.
    pub max_seq: SeqNo,
    /// How many entries (puts and tombstones) the table holds.
    pub entries: u64,
    /// How many of those entries are tombstones.
    pub tombstones: u64,
}

impl FileMeta {
    /// The user key of [`FileMeta::smallest`].
    pub fn smallest_user_key(&self) -> &[u8] {
        self.smallest.user_key()
    }

    /// The user key of [`FileMeta::largest`].
    pub fn largest_user_key(&self) -> &[u8] {
        self.largest.user_key()
    }

    /// True when the table's user-key range `[smallest_user_key,
    /// largest_user_key]` meets the inclusive range `[smallest, largest]`,
    /// that is `self.smallest_user_key() <= largest && smallest <=
    /// self.largest_user_key()`.
    pub fn overlaps_user_range(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.smallest_user_key() <= largest && smallest <= self.largest_user_key()
    }

    /// True when `user_key` lies in the table's user-key range (the table
    /// may hold it; only reading the table can tell).
    pub fn may_contain_user_key(&self, user_key: &[u8]) -> bool {
        self.overlaps_user_range(user_key, user_key)
    }

    /// Checks the entry's own invariant (see the type's doc). The manifest
    /// refuses to log an entry that fails this, so every logged entry
    /// decodes again.
    pub fn validate(&self) -> Result<(), &'static str> {
        for key in [&self.smallest, &self.largest] {
            if key.as_bytes().len() > MAX_TREE_KEY_BYTES + TRAILER_BYTES {
                return Err("table key longer than the key limit");
            }
            if key.parse().is_none() {
                return Err("table key is not a valid internal key");
            }
        }
        if compare_internal_keys(self.smallest.as_bytes(), self.largest.as_bytes()).is_gt() {
            return Err("table's smallest key sorts after its largest key");
        }
        if self.min_seq > self.max_seq {
            return Err("table's min sequence number exceeds its max");
        }
        if self.max_seq > MAX_SEQNO {
            return Err("table's max sequence number exceeds 56 bits");
        }
        if self.tombstones > self.entries {
            return Err("table has more tombstones than entries");
        }
        Ok(())
    }
}

/// The name of table file `number`: `format!("{number:06}.sst")`.
pub fn table_file_name(number: u64) -> String {
    format!("{number:06}.sst")
}

/// The number of a table file name made by [`table_file_name`]; `None` for
/// any other name (including non-canonical spellings such as `"0000001.sst"`).
pub fn parse_table_file_name(name: &str) -> Option<u64> {
    parse_canonical_number(name.strip_suffix(".sst")?, name, table_file_name)
}

/// Parses `digits` as a file number and accepts it only if `make(number)`
/// spells `name` exactly, so every name maps to one number and back.
pub(crate) fn parse_canonical_number(
    digits: &str,
    name: &str,
    make: fn(u64) -> String,
) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    (make(number) == name).then_some(number)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lsm_core::ValueKind;

    /// A valid entry for tests: keys `lo@seq` to `hi@seq`.
    pub(crate) fn meta(number: u64, lo: &[u8], hi: &[u8], seq: SeqNo) -> FileMeta {
        FileMeta {
            number,
            file_bytes: 1000 + number,
            smallest: InternalKey::new(lo, seq, ValueKind::Put),
            largest: InternalKey::new(hi, seq, ValueKind::Put),
            min_seq: seq,
            max_seq: seq,
            entries: 2,
            tombstones: 0,
        }
    }

    #[test]
    fn table_names_roundtrip_and_reject_non_canonical() {
        assert_eq!(table_file_name(7), "000007.sst");
        assert_eq!(table_file_name(12_345_678), "12345678.sst");
        for n in [0, 7, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(parse_table_file_name(&table_file_name(n)), Some(n));
        }
        for bad in [
            "7.sst",
            "0000007.sst",
            "000007.SST",
            "00000a.sst",
            ".sst",
            "000007.sst.tmp",
            "+00007.sst",
            "99999999999999999999999.sst",
        ] {
            assert_eq!(parse_table_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn overlap_is_inclusive_on_user_keys() {
        let m = meta(1, b"c", b"f", 5);
        assert!(m.overlaps_user_range(b"a", b"c"));
        assert!(m.overlaps_user_range(b"f", b"z"));
        assert!(m.overlaps_user_range(b"d", b"e"));
        assert!(!m.overlaps_user_range(b"a", b"b"));
        assert!(!m.overlaps_user_range(b"g", b"z"));
        assert!(m.may_contain_user_key(b"c"));
        assert!(m.may_contain_user_key(b"cz"));
        assert!(!m.may_contain_user_key(b"fa"));
    }

    #[test]
    fn validate_rejects_inconsistent_entries() {
        assert_eq!(meta(1, b"a", b"b", 3).validate(), Ok(()));
        let mut m = meta(1, b"b", b"a", 3);
        assert!(m.validate().is_err(), "smallest after largest");
        m = meta(1, b"a", b"b", 3);
        m.min_seq = 4;
        assert!(m.validate().is_err(), "min_seq > max_seq");
        m = meta(1, b"a", b"b", 3);
        m.tombstones = 3;
        assert!(m.validate().is_err(), "tombstones > entries");
        m = meta(1, b"a", b"b", 3);
        m.smallest = InternalKey::from_encoded(b"abc".to_vec());
        assert!(m.validate().is_err(), "key without trailer");
        m = meta(1, b"a", b"b", 3);
        m.largest = InternalKey::for_seek(b"b", 3);
        assert!(m.validate().is_err(), "seek key is not a real entry");
    }
}
