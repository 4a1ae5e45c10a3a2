//! The version edit: one change to the catalog, encoded as tagged fields.
//! Byte layout, tag table and a worked hex example: `docs/format/manifest.md`.
//!
//! A payload is a sequence of `(tag varint, field)` pairs, LevelDB
//! `version_edit` style. The first field is always the format version; the
//! first record of every manifest file also carries the manifest magic as its
//! second field. Unknown tags, repeated single-valued fields, truncated fields
//! and malformed file entries are errors, never panics. Tags ([`tag`]) are
//! on-disk constants: append new ones, never change or reuse a value.

use lsm_core::coding::{
    get_length_prefixed, get_varint32, get_varint64, put_length_prefixed, put_varint64,
};
use lsm_core::key::TRAILER_BYTES;
use lsm_core::{InternalKey, RangeTombstone, SeqNo, MAX_SEQNO, MAX_TREE_KEY_BYTES};

use crate::file_meta::FileMeta;

/// The version of the edit encoding written by this code. Readers reject
/// any other value. Version 2 (keyspaces): table keys are tree keys (a
/// keyspace prefix, then the user key) and edits may carry range
/// tombstones; a version-1 store predates keyspaces and is refused.
pub const FORMAT_VERSION: u64 = 2;

/// Eight bytes that open the first record of every manifest file (as the
/// [`tag::MANIFEST_MAGIC`] field), so a file that is not a manifest (say a
/// WAL segment, which uses the same record framing) is rejected by name.
pub const MANIFEST_MAGIC: [u8; 8] = *b"LSMMANIF";

/// File numbers stay below this, and the next one to allocate at most at
/// it: a manifest read from disk cannot bring the counter near `u64::MAX`,
/// where allocating would overflow (and wrap to numbers in use), and a
/// store allocating one number a nanosecond would take two years to reach
/// it. An edit past it is refused when logged and is corruption when read.
pub(crate) const FILE_NUMBER_LIMIT: u64 = 1 << 56;

/// The most levels a catalog can have; a decoded level number must be below
/// this.
pub const MAX_LEVELS: usize = 32;

/// Field tags of the edit encoding.
///
/// On-disk constants: NEVER change a value or reuse a retired one; only
/// append new tags (and bump [`FORMAT_VERSION`] if old readers must refuse
/// them, which they do anyway since unknown tags are errors).
pub mod tag {
    /// Format version, varint. Always the first field.
    pub const FORMAT_VERSION: u64 = 1;
    /// [`super::MANIFEST_MAGIC`], 8 raw bytes. Only in the first record of a
    /// manifest file, as its second field.
    pub const MANIFEST_MAGIC: u64 = 2;
    /// Next unallocated file number, varint.
    pub const NEXT_FILE_NUMBER: u64 = 3;
    /// Largest sequence number used, varint.
    pub const LAST_SEQ: u64 = 4;
    /// Oldest WAL segment still needed, varint.
    pub const WAL_SEGMENT: u64 = 5;
    /// A removed table: level varint, file number varint. Repeatable.
    pub const REMOVED_FILE: u64 = 6;
    /// An added table: level, number, file bytes (varints), smallest and
    /// largest internal keys (length-prefixed), min seq, max seq, entries,
    /// tombstones (varints). Repeatable.
    pub const ADDED_FILE: u64 = 7;
    /// The newest WAL segment the store had created when the edit was
    /// logged, varint. Recovery requires every segment from
    /// [`WAL_SEGMENT`] up to it to exist.
    pub const NEWEST_WAL_SEGMENT: u64 = 8;
    /// A range tombstone flushed from a memtable: sequence number varint,
    /// start and end tree keys (length-prefixed). Repeatable.
    pub const ADDED_RANGE_TOMBSTONE: u64 = 9;
    /// A range tombstone no longer needed (no table holds data it could
    /// hide): its sequence number, varint. Repeatable.
    pub const REMOVED_RANGE_TOMBSTONE: u64 = 10;
    /// The number of records the snapshot spans, varint, at least 2. Only
    /// in the first record of a manifest file, as its third field, and only
    /// when the snapshot is too large for one record
    /// ([`crate::MAX_EDIT_BYTES`]): the next records up to that count add
    /// the rest of its tables and range tombstones.
    pub const SNAPSHOT_RECORDS: u64 = 11;
}

/// One change to the catalog: tables added and removed per level, and the
/// counters it moves forward.
///
/// Applied with [`crate::Version::apply`]; made durable with
/// [`crate::Manifest::log_and_apply`]. Removals are applied before
/// additions, so removing and re-adding the same number moves a table
/// between levels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Tables added, as `(level, entry)`.
    pub added: Vec<(usize, FileMeta)>,
    /// Tables removed, as `(level, file number)`.
    pub removed: Vec<(usize, u64)>,
    /// The next unallocated file number (filled in by
    /// [`crate::Manifest::log_and_apply`]).
    pub next_file_number: Option<u64>,
    /// The largest sequence number whose effects are in tables.
    pub last_seq: Option<SeqNo>,
    /// The oldest WAL segment still needed for recovery.
    pub wal_segment: Option<u64>,
    /// The newest WAL segment the store had created (header and directory
    /// entry synced) when this edit was logged: recovery requires every
    /// segment from `wal_segment` up to it, so a lost newest segment is
    /// detected rather than taken for an empty log.
    pub newest_wal_segment: Option<u64>,
    /// Range tombstones that join the catalog (from a flushed memtable).
    pub added_range_tombstones: Vec<RangeTombstone>,
    /// Range tombstones (by sequence number) that leave it. Removals are
    /// applied before additions.
    pub removed_range_tombstones: Vec<SeqNo>,
}

/// An edit as decoded from a record, with the framing facts the manifest
/// reader needs.
#[derive(Debug)]
pub(crate) struct DecodedEdit {
    pub(crate) edit: VersionEdit,
    /// The payload carried the manifest magic (it opens a manifest file).
    pub(crate) starts_file: bool,
    /// For the first record: how many records the snapshot spans (1 unless
    /// it carried [`tag::SNAPSHOT_RECORDS`]).
    pub(crate) snapshot_records: u64,
}

impl VersionEdit {
    /// True when the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == VersionEdit::default()
    }

    /// Appends the encoded edit to `out` (a record payload; see
    /// `docs/format/manifest.md`). Decodes back to `self` when
    /// [`VersionEdit::validate`] passes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_fields(out, false);
    }

    /// Encodes the first record of a manifest file: the edit with the
    /// manifest magic.
    pub(crate) fn encode_file_start(&self, out: &mut Vec<u8>) {
        self.encode_fields(out, true);
    }

    /// Encodes the first record of a manifest file whose snapshot spans
    /// `records` records (this one and the next `records - 1`).
    pub(crate) fn encode_file_start_spanning(&self, records: u64, out: &mut Vec<u8>) {
        put_varint64(out, tag::FORMAT_VERSION);
        put_varint64(out, FORMAT_VERSION);
        put_varint64(out, tag::MANIFEST_MAGIC);
        out.extend_from_slice(&MANIFEST_MAGIC);
        put_varint64(out, tag::SNAPSHOT_RECORDS);
        put_varint64(out, records);
        self.encode_body(out);
    }

    fn encode_fields(&self, out: &mut Vec<u8>, with_magic: bool) {
        put_varint64(out, tag::FORMAT_VERSION);
        put_varint64(out, FORMAT_VERSION);
        if with_magic {
            put_varint64(out, tag::MANIFEST_MAGIC);
            out.extend_from_slice(&MANIFEST_MAGIC);
        }
        self.encode_body(out);
    }

    /// Every field after the format version, the magic and the snapshot's
    /// record count.
    fn encode_body(&self, out: &mut Vec<u8>) {
        for (field, value) in [
            (tag::NEXT_FILE_NUMBER, self.next_file_number),
            (tag::LAST_SEQ, self.last_seq),
            (tag::WAL_SEGMENT, self.wal_segment),
            (tag::NEWEST_WAL_SEGMENT, self.newest_wal_segment),
        ] {
            if let Some(value) = value {
                put_varint64(out, field);
                put_varint64(out, value);
            }
        }
        for &(level, number) in &self.removed {
            put_varint64(out, tag::REMOVED_FILE);
            put_varint64(out, level as u64);
            put_varint64(out, number);
        }
        for (level, meta) in &self.added {
            put_varint64(out, tag::ADDED_FILE);
            put_varint64(out, *level as u64);
            put_varint64(out, meta.number);
            put_varint64(out, meta.file_bytes);
            put_length_prefixed(out, meta.smallest.as_bytes());
            put_length_prefixed(out, meta.largest.as_bytes());
            put_varint64(out, meta.min_seq);
            put_varint64(out, meta.max_seq);
            put_varint64(out, meta.entries);
            put_varint64(out, meta.tombstones);
        }
        for &seq in &self.removed_range_tombstones {
            put_varint64(out, tag::REMOVED_RANGE_TOMBSTONE);
            put_varint64(out, seq);
        }
        for tombstone in &self.added_range_tombstones {
            put_varint64(out, tag::ADDED_RANGE_TOMBSTONE);
            put_varint64(out, tombstone.seq);
            put_length_prefixed(out, &tombstone.start);
            put_length_prefixed(out, &tombstone.end);
        }
    }

    /// Decodes an edit payload. Never panics and allocates no more than the
    /// input's size; the error says which check failed (callers wrap it in a
    /// [`lsm_core::Error::Corruption`] naming the file and offset).
    pub fn decode(bytes: &[u8]) -> Result<VersionEdit, &'static str> {
        decode_fields(bytes).map(|decoded| decoded.edit)
    }

    /// Checks what the decoder checks: every level below [`MAX_LEVELS`],
    /// every added entry valid ([`FileMeta::validate`]), `last_seq` within
    /// 56 bits, file numbers below 2^56 (the next one to allocate at
    /// most at it). The manifest logs only edits that pass, so everything it
    /// writes reads back.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.removed.iter().any(|&(level, _)| level >= MAX_LEVELS)
            || self.added.iter().any(|&(level, _)| level >= MAX_LEVELS)
        {
            return Err("level number out of range");
        }
        for (_, meta) in &self.added {
            meta.validate()?;
        }
        if self.last_seq.is_some_and(|seq| seq > MAX_SEQNO) {
            return Err("last sequence number exceeds 56 bits");
        }
        if self
            .next_file_number
            .is_some_and(|next| next > FILE_NUMBER_LIMIT)
        {
            return Err("next file number exceeds 2^56");
        }
        if self
            .removed
            .iter()
            .any(|&(_, number)| number >= FILE_NUMBER_LIMIT)
            || self
                .added
                .iter()
                .any(|(_, meta)| meta.number >= FILE_NUMBER_LIMIT)
        {
            return Err("file number exceeds 2^56");
        }
        for tombstone in &self.added_range_tombstones {
            if tombstone.seq > MAX_SEQNO {
                return Err("range tombstone sequence number exceeds 56 bits");
            }
            if tombstone.start.len() > MAX_TREE_KEY_BYTES
                || tombstone.end.len() > MAX_TREE_KEY_BYTES
            {
                return Err("range tombstone key longer than the key limit");
            }
        }
        Ok(())
    }
}

pub(crate) fn decode_fields(bytes: &[u8]) -> Result<DecodedEdit, &'static str> {
    let mut input = bytes;
    if get_varint64(&mut input) != Some(tag::FORMAT_VERSION) {
        return Err("edit does not start with the format version field");
    }
    match get_varint64(&mut input) {
        Some(FORMAT_VERSION) => {}
        Some(1) => {
            return Err("edit format version 1: the store was written before keyspaces; this build reads version 2")
        }
        Some(_) => return Err("unsupported edit format version"),
        None => return Err("truncated format version"),
    }
    let mut edit = VersionEdit::default();
    let mut starts_file = false;
    let mut snapshot_records = None;
    let mut second_field = true;
    let mut third_field = false;
    while !input.is_empty() {
        let field = get_varint64(&mut input).ok_or("truncated field tag")?;
        match field {
            tag::FORMAT_VERSION => return Err("format version field appears twice"),
            tag::MANIFEST_MAGIC => {
                if !second_field {
                    return Err("manifest magic is not the second field");
                }
                let magic = input.get(..MANIFEST_MAGIC.len()).ok_or("truncated magic")?;
                if magic != MANIFEST_MAGIC {
                    return Err("bad manifest magic");
                }
                input = &input[MANIFEST_MAGIC.len()..];
                starts_file = true;
                second_field = false;
                third_field = true;
                continue;
            }
            tag::SNAPSHOT_RECORDS => {
                if !third_field {
                    return Err("snapshot record count is not right after the manifest magic");
                }
                let count = get_varint64(&mut input).ok_or("truncated snapshot record count")?;
                if count < 2 {
                    return Err("snapshot record count below 2");
                }
                snapshot_records = Some(count);
            }
            tag::NEXT_FILE_NUMBER => {
                let repeated = "next file number appears twice";
                set_once(&mut edit.next_file_number, &mut input, repeated)?;
            }
            tag::LAST_SEQ => {
                let repeated = "last sequence number appears twice";
                set_once(&mut edit.last_seq, &mut input, repeated)?;
            }
            tag::WAL_SEGMENT => {
                let repeated = "WAL segment appears twice";
                set_once(&mut edit.wal_segment, &mut input, repeated)?;
            }
            tag::NEWEST_WAL_SEGMENT => {
                let repeated = "newest WAL segment appears twice";
                set_once(&mut edit.newest_wal_segment, &mut input, repeated)?;
            }
            tag::REMOVED_FILE => {
                let level = get_level(&mut input)?;
                let number = get_varint64(&mut input).ok_or("truncated removed file")?;
                edit.removed.push((level, number));
            }
            tag::ADDED_FILE => {
                let level = get_level(&mut input)?;
                let meta = get_file_meta(&mut input).ok_or("truncated added file")??;
                edit.added.push((level, meta));
            }
            tag::ADDED_RANGE_TOMBSTONE => {
                let truncated = "truncated range tombstone";
                let seq = get_varint64(&mut input).ok_or(truncated)?;
                let start = get_length_prefixed(&mut input).ok_or(truncated)?.to_vec();
                let end = get_length_prefixed(&mut input).ok_or(truncated)?.to_vec();
                edit.added_range_tombstones
                    .push(RangeTombstone::new(start, end, seq));
            }
            tag::REMOVED_RANGE_TOMBSTONE => {
                let seq = get_varint64(&mut input).ok_or("truncated removed range tombstone")?;
                edit.removed_range_tombstones.push(seq);
            }
            _ => return Err("unknown field tag"),
        }
        second_field = false;
        third_field = false;
    }
    edit.validate()?;
    Ok(DecodedEdit {
        edit,
        starts_file,
        snapshot_records: snapshot_records.unwrap_or(1),
    })
}

/// Reads a single-valued counter field into `slot`; `repeated` is the error
/// if the field was already seen.
fn set_once(
    slot: &mut Option<u64>,
    input: &mut &[u8],
    repeated: &'static str,
) -> Result<(), &'static str> {
    if slot.is_some() {
        return Err(repeated);
    }
    *slot = Some(get_varint64(input).ok_or("truncated counter field")?);
    Ok(())
}

fn get_level(input: &mut &[u8]) -> Result<usize, &'static str> {
    let level = get_varint32(input).ok_or("truncated level")? as usize;
    if level >= MAX_LEVELS {
        return Err("level number out of range");
    }
    Ok(level)
}

/// `None` when truncated; `Some(Err)` for a key over the limit.
fn get_file_meta(input: &mut &[u8]) -> Option<Result<FileMeta, &'static str>> {
    let number = get_varint64(input)?;
    let file_bytes = get_varint64(input)?;
    let mut keys = [Vec::new(), Vec::new()];
    for key in &mut keys {
        let bytes = get_length_prefixed(input)?;
        if bytes.len() > MAX_TREE_KEY_BYTES + TRAILER_BYTES {
            return Some(Err("table key longer than the key limit"));
        }
        *key = bytes.to_vec();
    }
    let [smallest, largest] = keys;
    Some(Ok(FileMeta {
        number,
        file_bytes,
        smallest: InternalKey::from_encoded(smallest),
        largest: InternalKey::from_encoded(largest),
        min_seq: get_varint64(input)?,
        max_seq: get_varint64(input)?,
        entries: get_varint64(input)?,
        tombstones: get_varint64(input)?,
    }))
}

/// The counters the catalog carries besides its tables. Edits only move them
/// forward: applying an edit takes the maximum of each, and bumps
/// `next_file_number` past every added table's number, so a number recorded
/// in the catalog is never handed out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) next_file_number: u64,
    pub(crate) last_seq: SeqNo,
    pub(crate) wal_segment: u64,
    /// `None` until an edit records one (stores written before the field
    /// existed, and fresh catalogs).
    pub(crate) newest_wal_segment: Option<u64>,
}

impl Counters {
    /// The counters of a brand-new catalog.
    pub(crate) const FRESH: Counters = Counters {
        next_file_number: 1,
        last_seq: 0,
        wal_segment: 0,
        newest_wal_segment: None,
    };

    pub(crate) fn absorb(&mut self, edit: &VersionEdit) {
        if let Some(next) = edit.next_file_number {
            self.next_file_number = self.next_file_number.max(next);
        }
        for (_, meta) in &edit.added {
            self.next_file_number = self.next_file_number.max(meta.number.saturating_add(1));
        }
        if let Some(seq) = edit.last_seq {
            self.last_seq = self.last_seq.max(seq);
        }
        if let Some(segment) = edit.wal_segment {
            self.wal_segment = self.wal_segment.max(segment);
        }
        if let Some(segment) = edit.newest_wal_segment {
            self.newest_wal_segment = Some(self.newest_wal_segment.unwrap_or(0).max(segment));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_meta::tests::meta;
    use lsm_core::record::encode_record;
    use lsm_core::ValueKind;
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The worked example in `docs/format/manifest.md`. If this test fails,
    /// the on-disk format changed: bump FORMAT_VERSION and update the page.
    fn documented_example() -> VersionEdit {
        VersionEdit {
            added: vec![(
                1,
                FileMeta {
                    number: 5,
                    file_bytes: 4096,
                    smallest: InternalKey::new(b"\0apple", 10, ValueKind::Put),
                    largest: InternalKey::new(b"\0pear", 12, ValueKind::Delete),
                    min_seq: 10,
                    max_seq: 12,
                    entries: 3,
                    tombstones: 1,
                },
            )],
            removed: vec![(0, 4)],
            next_file_number: Some(7),
            last_seq: Some(12),
            wal_segment: Some(3),
            newest_wal_segment: None,
            added_range_tombstones: vec![RangeTombstone::new(b"\0b".to_vec(), b"\0d".to_vec(), 11)],
            removed_range_tombstones: vec![],
        }
    }

    #[test]
    fn encoding_matches_documented_hex_example() {
        let edit = documented_example();
        let mut payload = Vec::new();
        edit.encode_file_start(&mut payload);
        let mut record = Vec::new();
        encode_record(&mut record, 1, &payload);
        println!("payload ({} bytes): {}", payload.len(), hex(&payload));
        println!("record  ({} bytes): {}", record.len(), hex(&record));
        let documented = [
            "d0344329",           // masked CRC-32 (LE)
            "42000000",           // payload length 66 (LE)
            "01",                 // record type 1 = version edit
            "0102",               // tag 1 format version = 2
            "024c534d4d414e4946", // tag 2 manifest magic "LSMMANIF"
            "0307",               // tag 3 next file number = 7
            "040c",               // tag 4 last seq = 12
            "0503",               // tag 5 WAL segment = 3
            "060004",             // tag 6 removed: level 0, table 4
            "07010580200e",       // tag 7 added: level 1, table 5, 4096 bytes, key len 14
            "006170706c65",       // tree key: keyspace 0, "apple"
            "010a000000000000",   // trailer (10 << 8) | Put
            "0d0070656172",       // key len 13, keyspace 0, "pear"
            "000c000000000000",   // trailer (12 << 8) | Delete
            "0a0c0301",           // min seq 10, max seq 12, 3 entries, 1 tombstone
            "090b",               // tag 9 range tombstone at seq 11
            "020062",             // start: len 2, keyspace 0, "b"
            "020064",             // end: len 2, keyspace 0, "d"
        ];
        assert_eq!(hex(&record), documented.concat());
        let decoded = decode_fields(&payload).unwrap();
        assert!(decoded.starts_file);
        assert_eq!(decoded.edit, edit);
    }

    #[test]
    fn plain_edit_has_no_magic() {
        let mut payload = Vec::new();
        VersionEdit::default().encode(&mut payload);
        assert_eq!(payload, [0x01, 0x02]);
        let decoded = decode_fields(&payload).unwrap();
        assert!(!decoded.starts_file);
        assert!(decoded.edit.is_empty());
    }

    #[test]
    fn malformed_payloads_are_rejected_with_reasons() {
        let cases: [(&[u8], &str); 9] = [
            (&[], "edit does not start with the format version field"),
            (
                &[0x03, 0x01],
                "edit does not start with the format version field",
            ),
            (&[0x01, 0x03], "unsupported edit format version"),
            (&[0x01], "truncated format version"),
            (&[0x01, 0x02, 0x63, 0x00], "unknown field tag"),
            (
                &[0x01, 0x02, 0x03, 0x05, 0x03, 0x06],
                "next file number appears twice",
            ),
            (
                &[0x01, 0x02, 0x01, 0x02],
                "format version field appears twice",
            ),
            (&[0x01, 0x02, 0x06, 0x20, 0x01], "level number out of range"),
            (
                &[0x01, 0x02, 0x04, 0x05, 0x02, b'L'],
                "manifest magic is not the second field",
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                VersionEdit::decode(bytes).unwrap_err(),
                want,
                "{bytes:02x?}"
            );
        }
        let mut wrong_magic = vec![0x01, 0x02, 0x02];
        wrong_magic.extend_from_slice(b"LSMWAL..");
        assert_eq!(
            VersionEdit::decode(&wrong_magic).unwrap_err(),
            "bad manifest magic"
        );
    }

    #[test]
    fn every_truncation_of_a_full_edit_is_an_error() {
        let mut payload = Vec::new();
        documented_example().encode(&mut payload);
        for cut in 0..payload.len() {
            // A cut exactly between fields decodes to a shorter, valid edit;
            // any other cut must be an error.
            if let Ok(edit) = VersionEdit::decode(&payload[..cut]) {
                let mut again = Vec::new();
                edit.encode(&mut again);
                assert_eq!(again, &payload[..cut], "cut at {cut}");
            }
        }
    }

    #[test]
    fn counters_only_move_forward_and_skip_added_numbers() {
        let mut counters = Counters::FRESH;
        counters.absorb(&VersionEdit {
            next_file_number: Some(10),
            last_seq: Some(50),
            wal_segment: Some(4),
            ..VersionEdit::default()
        });
        counters.absorb(&VersionEdit {
            added: vec![(0, meta(20, b"a", b"b", 1))],
            next_file_number: Some(8),
            last_seq: Some(40),
            wal_segment: Some(2),
            ..VersionEdit::default()
        });
        assert_eq!(
            counters,
            Counters {
                next_file_number: 21,
                last_seq: 50,
                wal_segment: 4,
                newest_wal_segment: None,
            }
        );
    }

    fn arb_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..12)
    }

    pub(crate) fn arb_file_meta() -> impl Strategy<Value = FileMeta> {
        (
            0..FILE_NUMBER_LIMIT,
            any::<u64>(),
            arb_key(),
            arb_key(),
            0..=MAX_SEQNO,
            0..=MAX_SEQNO,
            any::<bool>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(number, file_bytes, a, b, s1, s2, del, e1, e2)| {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let (min_seq, max_seq) = (s1.min(s2), s1.max(s2));
                let kind = if del {
                    ValueKind::Delete
                } else {
                    ValueKind::Put
                };
                FileMeta {
                    number,
                    file_bytes,
                    // Same user key: the larger seq sorts first.
                    smallest: InternalKey::new(&lo, max_seq, kind),
                    largest: InternalKey::new(&hi, min_seq, ValueKind::Put),
                    min_seq,
                    max_seq,
                    entries: e1.max(e2),
                    tombstones: e1.min(e2),
                }
            })
    }

    fn arb_edit() -> impl Strategy<Value = VersionEdit> {
        (
            proptest::collection::vec((0..MAX_LEVELS, arb_file_meta()), 0..6),
            proptest::collection::vec((0..MAX_LEVELS, 0..FILE_NUMBER_LIMIT), 0..6),
            proptest::option::of(0..=FILE_NUMBER_LIMIT),
            proptest::option::of(0..=MAX_SEQNO),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec(
                (
                    0..=MAX_SEQNO,
                    proptest::collection::vec(any::<u8>(), 0..6),
                    proptest::collection::vec(any::<u8>(), 0..6),
                ),
                0..4,
            ),
            proptest::collection::vec(any::<u64>(), 0..4),
        )
            .prop_map(
                |(
                    added,
                    removed,
                    next_file_number,
                    last_seq,
                    wal_segment,
                    newest_wal_segment,
                    tombstones,
                    removed_range_tombstones,
                )| {
                    VersionEdit {
                        added,
                        removed,
                        next_file_number,
                        newest_wal_segment,
                        last_seq,
                        wal_segment,
                        added_range_tombstones: tombstones
                            .into_iter()
                            .map(|(seq, start, end)| RangeTombstone::new(start, end, seq))
                            .collect(),
                        removed_range_tombstones,
                    }
                },
            )
    }

    #[test]
    fn file_numbers_past_the_limit_are_refused() {
        let past = |edit: VersionEdit| edit.validate().unwrap_err();
        assert_eq!(
            past(VersionEdit {
                next_file_number: Some(FILE_NUMBER_LIMIT + 1),
                ..VersionEdit::default()
            }),
            "next file number exceeds 2^56"
        );
        assert_eq!(
            past(VersionEdit {
                removed: vec![(1, FILE_NUMBER_LIMIT)],
                ..VersionEdit::default()
            }),
            "file number exceeds 2^56"
        );
        let edit = VersionEdit {
            next_file_number: Some(FILE_NUMBER_LIMIT),
            removed: vec![(1, FILE_NUMBER_LIMIT - 1)],
            ..VersionEdit::default()
        };
        assert_eq!(edit.validate(), Ok(()));
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(edit in arb_edit(), with_magic in any::<bool>()) {
            prop_assert_eq!(edit.validate(), Ok(()));
            let mut payload = Vec::new();
            if with_magic { edit.encode_file_start(&mut payload) } else { edit.encode(&mut payload) }
            let decoded = decode_fields(&payload).unwrap();
            prop_assert_eq!(decoded.starts_file, with_magic);
            prop_assert_eq!(decoded.edit, edit);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(edit) = VersionEdit::decode(&bytes) {
                prop_assert_eq!(edit.validate(), Ok(()));
                // Whatever decodes re-encodes to something that decodes the same.
                let mut again = Vec::new();
                edit.encode(&mut again);
                prop_assert_eq!(VersionEdit::decode(&again), Ok(edit));
            }
        }

        #[test]
        fn decoding_mutated_edits_never_panics(edit in arb_edit(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut payload = Vec::new();
            edit.encode_file_start(&mut payload);
            for (at, byte) in flips {
                let at = at % payload.len();
                payload[at] = byte;
            }
            let _ = decode_fields(&payload);
            let cut = payload.len() / 2;
            let _ = decode_fields(&payload[..cut]);
        }
    }
}
