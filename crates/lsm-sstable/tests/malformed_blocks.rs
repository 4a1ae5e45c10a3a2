//! Tables whose blocks all carry valid checksums but whose contents are
//! malformed, as a buggy or malicious writer (or a bit flip the checksum
//! misses) would leave them. What open checks (the layout of the blocks,
//! the index's handles, the properties against the footer and the index)
//! is a corruption error at open. What reads trust a checksummed data
//! block for (restart offsets at entry starts, keys in order, keys that are
//! internal keys, an index key that is its block's last key; checking them
//! on every read would cost every read) `Table::verify_checksums` (what
//! `lsm verify` runs) reports as corruption naming the block.
//!
//! Tables are assembled byte by byte here (not by `TableBuilder`), following
//! `docs/format/sstable.md`, so every block can be shaped at will.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;

use common::{ikey, scan, Entry};
use lsm_core::checksum::{crc32_parts, mask_crc, masked_crc32};
use lsm_core::coding::{put_fixed32, put_fixed64, put_length_prefixed, put_varint32, put_varint64};
use lsm_core::{InternalIterator, Lookup, OsFileSystem, ValueKind};
use lsm_sstable::{BlockHandle, Table, TABLE_MAGIC};

fn put(user: &[u8], seq: u64) -> Vec<u8> {
    ikey(user, seq, ValueKind::Put)
}

/// Stored bytes + trailer (type 0, masked CRC over bytes ++ type).
fn seal(mut raw: Vec<u8>) -> Vec<u8> {
    let crc = mask_crc(crc32_parts(&[&raw, &[0u8]]));
    raw.push(0);
    put_fixed32(&mut raw, crc);
    raw
}

/// Appends one entry's header, key suffix and value.
fn raw_entry(out: &mut Vec<u8>, shared: u32, suffix: &[u8], value: &[u8]) {
    put_varint32(out, shared);
    put_varint32(out, suffix.len() as u32);
    put_varint32(out, value.len() as u32);
    out.extend_from_slice(suffix);
    out.extend_from_slice(value);
}

/// Entry area followed by the restart array and its count.
fn with_restarts(mut entries: Vec<u8>, restarts: &[u32]) -> Vec<u8> {
    for &r in restarts {
        put_fixed32(&mut entries, r);
    }
    put_fixed32(&mut entries, restarts.len() as u32);
    entries
}

/// A block exactly as `BlockBuilder` lays it out, for entries in the order
/// given (sorted or not).
fn encode_block(entries: &[Entry], interval: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut restarts = Vec::new();
    let mut last: Vec<u8> = Vec::new();
    for (i, (k, v)) in entries.iter().enumerate() {
        let shared = if i % interval == 0 {
            restarts.push(out.len() as u32);
            0
        } else {
            last.iter().zip(k).take_while(|(a, b)| a == b).count()
        };
        raw_entry(&mut out, shared as u32, &k[shared..], v);
        last = k.clone();
    }
    with_restarts(out, &restarts)
}

/// What an index entry points at.
#[derive(Clone, Copy)]
enum Target {
    /// The i-th data block given to `assemble`.
    Data(usize),
    /// The index block itself.
    IndexBlock,
}

struct Props {
    format_version: u32,
    entries: u64,
    tombstones: u64,
    smallest: Vec<u8>,
    largest: Vec<u8>,
    min_seq: u64,
    max_seq: u64,
}

fn props(entries: u64, smallest: Vec<u8>, largest: Vec<u8>) -> Props {
    Props {
        format_version: 1,
        entries,
        tombstones: 0,
        smallest,
        largest,
        min_seq: 1,
        max_seq: 1,
    }
}

fn encode_props(p: &Props, data_blocks: u64, file_bytes: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint32(&mut out, p.format_version);
    put_varint64(&mut out, p.entries);
    put_varint64(&mut out, p.tombstones);
    put_length_prefixed(&mut out, &p.smallest);
    put_length_prefixed(&mut out, &p.largest);
    put_varint64(&mut out, p.min_seq);
    put_varint64(&mut out, p.max_seq);
    put_varint64(&mut out, data_blocks);
    put_varint64(&mut out, 0);
    put_varint64(&mut out, 0);
    put_fixed64(&mut out, file_bytes);
    out
}

/// A table file without a filter: `blocks` (raw, unsealed data blocks) in
/// order, then properties, then an index of `index` entries, then the footer.
/// `props.data_blocks` is the number of index entries.
fn assemble(blocks: &[Vec<u8>], index: &[(Vec<u8>, Target)], p: &Props) -> Vec<u8> {
    assemble_with_index_interval(blocks, index, p, 1)
}

/// [`assemble`] with an index block whose restart interval is
/// `index_interval` (a writer uses 1: every key whole; a larger one
/// prefix-compresses the index keys).
fn assemble_with_index_interval(
    blocks: &[Vec<u8>],
    index: &[(Vec<u8>, Target)],
    p: &Props,
    index_interval: usize,
) -> Vec<u8> {
    let mut file = Vec::new();
    let mut handles = Vec::new();
    for raw in blocks {
        let sealed = seal(raw.clone());
        handles.push(BlockHandle {
            offset: file.len() as u64,
            size: raw.len() as u64,
        });
        file.extend_from_slice(&sealed);
    }
    let props_offset = file.len() as u64;
    let props_len = encode_props(p, index.len() as u64, 0).len() as u64;
    let index_offset = props_offset + props_len + 5;
    // The index block's size depends on the handles it holds (one may be
    // its own): iterate to the fixed point.
    let mut index_size = 0u64;
    let index_raw = loop {
        let entries: Vec<Entry> = index
            .iter()
            .map(|(key, target)| {
                let handle = match *target {
                    Target::Data(i) => handles[i],
                    Target::IndexBlock => BlockHandle {
                        offset: index_offset,
                        size: index_size,
                    },
                };
                let mut value = Vec::new();
                put_varint64(&mut value, handle.offset);
                put_varint64(&mut value, handle.size);
                (key.clone(), value)
            })
            .collect();
        let raw = encode_block(&entries, index_interval);
        if raw.len() as u64 == index_size {
            break raw;
        }
        index_size = raw.len() as u64;
    };
    let file_bytes = index_offset + index_size + 5 + 64;
    let props_raw = encode_props(p, index.len() as u64, file_bytes);
    assert_eq!(props_raw.len() as u64, props_len);
    file.extend_from_slice(&seal(props_raw));
    assert_eq!(file.len() as u64, index_offset);
    file.extend_from_slice(&seal(index_raw));
    let mut footer = Vec::new();
    for (offset, size) in [
        (0, 0),
        (props_offset, props_len),
        (index_offset, index_size),
    ] {
        put_fixed64(&mut footer, offset);
        put_fixed64(&mut footer, size);
    }
    put_fixed32(&mut footer, 1);
    put_fixed64(&mut footer, TABLE_MAGIC);
    let crc = masked_crc32(&footer);
    put_fixed32(&mut footer, crc);
    file.extend_from_slice(&footer);
    assert_eq!(file.len() as u64, file_bytes);
    file
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Sanity check of the assembler: a well-formed table it writes opens and
/// reads back exactly (so the failures below are about the malformation).
#[test]
fn assembled_well_formed_table_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let b0: Vec<Entry> = vec![(put(b"a", 1), b"A".to_vec()), (put(b"b", 1), b"B".to_vec())];
    let b1: Vec<Entry> = vec![(put(b"c", 1), b"C".to_vec())];
    let file = assemble(
        &[encode_block(&b0, 16), encode_block(&b1, 16)],
        &[
            (put(b"b", 1), Target::Data(0)),
            (put(b"c", 1), Target::Data(1)),
        ],
        &props(3, put(b"a", 1), put(b"c", 1)),
    );
    let path = write(dir.path(), "ok.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).unwrap();
    let all: Vec<Entry> = b0.iter().chain(&b1).cloned().collect();
    assert_eq!(scan(&mut table.iter()).unwrap(), all);
    for (user, value) in [(&b"a"[..], &b"A"[..]), (b"b", b"B"), (b"c", b"C")] {
        assert_eq!(
            table.get(user, 10).unwrap(),
            Some(Lookup::Value(value.to_vec().into()))
        );
    }
    table.verify_checksums().unwrap();
}

/// Bad restart array: restart[1] points into the middle of entry 0's
/// value, where the bytes decode as a plausible entry `a5@1` whose value
/// swallows entry `b@1` (a seek that binary-searches onto it misses `b`).
/// `verify_checksums` reports the restart offset.
#[test]
fn verify_reports_a_restart_offset_inside_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (put(b"a", 1), put(b"b", 1), put(b"c", 1));
    let phantom = put(b"a5", 1);
    let mut entry_b = Vec::new();
    raw_entry(&mut entry_b, 0, &b, b"B");
    // Entry 0's value is the phantom entry's header and key; its value
    // (declared) is entry b's bytes, which follow entry 0.
    let mut a_value = Vec::new();
    put_varint32(&mut a_value, 0);
    put_varint32(&mut a_value, phantom.len() as u32);
    put_varint32(&mut a_value, entry_b.len() as u32);
    a_value.extend_from_slice(&phantom);
    let mut entries = Vec::new();
    raw_entry(&mut entries, 0, &a, &a_value);
    let phantom_at = (entries.len() - a_value.len()) as u32;
    entries.extend_from_slice(&entry_b);
    raw_entry(&mut entries, 0, &c, b"C");
    let block = with_restarts(entries, &[0, phantom_at]);
    let file = assemble(
        &[block],
        &[(c.clone(), Target::Data(0))],
        &props(3, a.clone(), c.clone()),
    );
    let path = write(dir.path(), "restart.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let err = table.verify_checksums().unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(
        err.to_string().contains("restart offset inside an entry"),
        "{err}"
    );
}

/// Keys out of order inside one (checksum-valid) data block: a scan would
/// return them out of order; `verify_checksums` reports the block.
#[test]
fn verify_reports_keys_out_of_order_in_a_data_block() {
    let dir = tempfile::tempdir().unwrap();
    let block: Vec<Entry> = vec![
        (put(b"b", 1), b"B".to_vec()),
        (put(b"a", 1), b"A".to_vec()),
        (put(b"c", 1), b"C".to_vec()),
    ];
    let file = assemble(
        &[encode_block(&block, 16)],
        &[(put(b"c", 1), Target::Data(0))],
        &props(3, put(b"b", 1), put(b"c", 1)),
    );
    let path = write(dir.path(), "order.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let err = table.verify_checksums().unwrap_err();
    assert!(
        err.to_string().contains("not above the key before it"),
        "{err}"
    );
}

/// The index's key for a data block is smaller than the block's real last
/// key: get(c) and seek(c) would go to the next block and miss it.
/// `verify_checksums` reports the block whose last key is not its index key.
#[test]
fn verify_reports_an_index_key_below_its_blocks_last_key() {
    let dir = tempfile::tempdir().unwrap();
    let b0: Vec<Entry> = vec![
        (put(b"a", 1), b"A".to_vec()),
        (put(b"b", 1), b"B".to_vec()),
        (put(b"c", 1), b"C".to_vec()),
    ];
    let b1: Vec<Entry> = vec![(put(b"d", 1), b"D".to_vec())];
    let file = assemble(
        &[encode_block(&b0, 16), encode_block(&b1, 16)],
        &[
            (put(b"b", 1), Target::Data(0)),
            (put(b"d", 1), Target::Data(1)),
        ],
        &props(4, put(b"a", 1), put(b"d", 1)),
    );
    let path = write(dir.path(), "indexkey.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let err = table.verify_checksums().unwrap_err();
    assert!(
        err.to_string()
            .contains("last key differs from its index entry"),
        "{err}"
    );
}

/// An index entry whose handle is the index block itself (get would read
/// the index block as data and return its handle bytes as a value): open
/// refuses an index whose handles do not tile the data area.
#[test]
fn open_refuses_an_index_entry_pointing_at_the_index_block() {
    let dir = tempfile::tempdir().unwrap();
    let b0: Vec<Entry> = vec![(put(b"a", 1), b"A".to_vec())];
    let file = assemble(
        &[encode_block(&b0, 16)],
        &[
            (put(b"a", 1), Target::Data(0)),
            (put(b"z", 1), Target::IndexBlock),
        ],
        &props(2, put(b"a", 1), put(b"z", 1)),
    );
    let path = write(dir.path(), "selfindex.sst", &file);
    let result = Table::open(&OsFileSystem, &path, 1, None).and_then(|table| {
        let found = table.get(b"z", 10)?;
        Ok((table, found))
    });
    match result {
        Err(err) => assert!(err.is_corruption(), "{err}"),
        Ok((table, found)) => panic!(
            "an index handle overlapping the index block was accepted: get(z) = {found:?}; \
             layout {:?}, index {:?}",
            table.layout(),
            table.index_entries()
        ),
    }
}

/// The index leaves out the middle data block (`data_blocks` agrees with
/// the shortened index, so a scan would skip its keys): open refuses an
/// index with a gap.
#[test]
fn open_refuses_an_index_with_a_gap_over_a_data_block() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<Vec<Entry>> = [b"a", b"b", b"c"]
        .iter()
        .map(|u| vec![(put(&u[..], 1), u.to_ascii_uppercase())])
        .collect();
    let raw: Vec<Vec<u8>> = blocks.iter().map(|b| encode_block(b, 16)).collect();
    let file = assemble(
        &raw,
        &[
            (put(b"a", 1), Target::Data(0)),
            (put(b"c", 1), Target::Data(2)),
        ],
        &props(3, put(b"a", 1), put(b"c", 1)),
    );
    let path = write(dir.path(), "gap.sst", &file);
    let err = Table::open(&OsFileSystem, &path, 1, None).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("gap"), "{err}");
}

/// Properties that disagree with the data: the largest key recorded is not
/// the table's last key (its last index key). Open refuses them.
#[test]
fn open_refuses_a_largest_key_that_is_not_the_last_index_key() {
    let dir = tempfile::tempdir().unwrap();
    let b0: Vec<Entry> = vec![(put(b"b", 1), b"B".to_vec()), (put(b"c", 1), b"C".to_vec())];
    let file = assemble(
        &[encode_block(&b0, 16)],
        &[(put(b"c", 1), Target::Data(0))],
        // Largest q@1 (the data ends at c@1), smallest p@1 (> every key).
        &props(2, put(b"p", 1), put(b"q", 1)),
    );
    let path = write(dir.path(), "props.sst", &file);
    let result = Table::open(&OsFileSystem, &path, 1, None);
    assert!(
        result.is_err(),
        "properties claiming keys p@1..q@1 for a table holding b@1..c@1 were accepted"
    );
}

/// The properties' format version (repeated from the footer) must match:
/// a version-7 properties block is corruption.
#[test]
fn open_refuses_a_properties_format_version_other_than_the_footers() {
    let dir = tempfile::tempdir().unwrap();
    let b0: Vec<Entry> = vec![(put(b"a", 1), b"A".to_vec())];
    let mut p = props(1, put(b"a", 1), put(b"a", 1));
    p.format_version = 7;
    let file = assemble(
        &[encode_block(&b0, 16)],
        &[(put(b"a", 1), Target::Data(0))],
        &p,
    );
    let path = write(dir.path(), "version.sst", &file);
    match Table::open(&OsFileSystem, &path, 1, None) {
        Err(err) => assert!(err.is_corruption(), "{err}"),
        Ok(table) => panic!(
            "a table whose properties say format version {} opened",
            table.properties().format_version
        ),
    }
}

/// A data-block key shorter than an internal-key trailer: an iterator
/// would hand it out; `verify_checksums` reports it.
#[test]
fn verify_reports_a_data_key_that_is_not_an_internal_key() {
    let dir = tempfile::tempdir().unwrap();
    let block: Vec<Entry> = vec![
        (b"abc".to_vec(), b"X".to_vec()),
        (put(b"b", 1), b"B".to_vec()),
    ];
    let file = assemble(
        &[encode_block(&block, 16)],
        &[(put(b"b", 1), Target::Data(0))],
        &props(2, put(b"a", 1), put(b"b", 1)),
    );
    let path = write(dir.path(), "shortkey.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let err = table.verify_checksums().unwrap_err();
    assert!(err.to_string().contains("not an internal key"), "{err}");
}

/// Blocks in order each, but the second block's first key below the first
/// block's last: `verify_checksums` checks order across blocks too.
#[test]
fn verify_reports_keys_out_of_order_across_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let b0: Vec<Entry> = vec![(put(b"a", 1), b"A".to_vec()), (put(b"c", 1), b"C".to_vec())];
    let b1: Vec<Entry> = vec![(put(b"b", 1), b"B".to_vec()), (put(b"d", 1), b"D".to_vec())];
    let file = assemble(
        &[encode_block(&b0, 16), encode_block(&b1, 16)],
        &[
            (put(b"c", 1), Target::Data(0)),
            (put(b"d", 1), Target::Data(1)),
        ],
        &props(4, put(b"a", 1), put(b"d", 1)),
    );
    let path = write(dir.path(), "across.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let err = table.verify_checksums().unwrap_err();
    assert!(
        err.to_string().contains("not above the key before it"),
        "{err}"
    );
}

/// A crafted block whose one restart interval holds 1,100 keys sharing a
/// 16 KiB prefix: 16 bytes each on disk, 16 KiB each decoded. A backward
/// step decodes an interval's full keys, and refuses (as corruption) an
/// interval that decodes to more than any table with valid options holds,
/// instead of allocating its size (a 1 MiB block of such entries would
/// decode to gigabytes).
#[test]
fn a_backward_step_refuses_an_interval_that_decodes_to_too_many_key_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let head = vec![b'p'; 16 << 10];
    let entries: Vec<Entry> = (0..1100u32)
        .map(|i| {
            let mut user = head.clone();
            user.extend_from_slice(&i.to_be_bytes());
            (put(&user, 1), Vec::new())
        })
        .collect();
    let (first, last) = (entries[0].0.clone(), entries[1099].0.clone());
    let block = encode_block(&entries, usize::MAX);
    assert!(block.len() < 64 << 10, "{} bytes on disk", block.len());
    let file = assemble(
        &[block],
        &[(last.clone(), Target::Data(0))],
        &props(1100, first, last),
    );
    let path = write(dir.path(), "interval.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let mut it = table.iter();
    let err = it.seek_to_last().unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("more key bytes"), "{err}");
}

/// Index keys whose lengths no table could hold: open copies every index
/// key into memory, so their lengths (prefix-compressed: each entry costs a
/// few bytes on disk and its full key in memory) must be bounded by what
/// the data block it names can hold, and by the longest internal key. Here
/// 2,000 entries of 60 KiB keys take 50 KiB of index block (and 18 KiB of
/// empty data blocks) but 120 MiB in memory; the same shape in a 256 MiB
/// index block (1 MiB stored with LZ4) with longer keys asks for petabytes
/// and aborts the process. Open must refuse it as corruption. Found by a
/// review of lengths read from disk.
#[test]
fn open_refuses_index_keys_longer_than_their_data_blocks_hold() {
    let dir = tempfile::tempdir().unwrap();
    let head = vec![b'p'; 60 << 10];
    let keys: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| {
            let mut user = head.clone();
            user.extend_from_slice(&i.to_be_bytes());
            put(&user, 1)
        })
        .collect();
    // Empty data blocks: a restart count of 0, four bytes each.
    let blocks: Vec<Vec<u8>> = keys
        .iter()
        .map(|_| with_restarts(Vec::new(), &[]))
        .collect();
    let index: Vec<(Vec<u8>, Target)> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| (key.clone(), Target::Data(i)))
        .collect();
    let file = assemble_with_index_interval(
        &blocks,
        &index,
        &props(2000, keys[0].clone(), keys[1999].clone()),
        usize::MAX,
    );
    assert!(file.len() < 256 << 10, "{} bytes on disk", file.len());
    let path = write(dir.path(), "long_index_keys.sst", &file);
    let Err(err) = Table::open(&OsFileSystem, &path, 1, None) else {
        panic!("open must refuse the table");
    };
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("long_index_keys.sst"), "{err}");

    // One index key longer than any internal key, over a data block that
    // holds it.
    let user = vec![b'q'; lsm_core::MAX_TREE_KEY_BYTES + 1];
    let key = put(&user, 1);
    let block = encode_block(&[(key.clone(), Vec::new())], 16);
    let file = assemble(
        &[block],
        &[(key.clone(), Target::Data(0))],
        &props(1, key.clone(), key),
    );
    let path = write(dir.path(), "over_long_index_key.sst", &file);
    let Err(err) = Table::open(&OsFileSystem, &path, 1, None) else {
        panic!("open must refuse the table");
    };
    assert!(err.is_corruption(), "{err}");
}

/// A restart interval of a data block that a seek cannot scan in bounded
/// time: one restart point, then entries that repeat the whole 60 KiB key
/// before them (`shared` = its length, five bytes each on disk). A seek
/// binary-searches the restart points, then compares each entry's key to
/// the target until one is not below it, so it compares every key of the
/// interval in full. In a table any valid options write, that is at most
/// one restart interval (256 entries) of keys no longer than an internal
/// key; here it is 401 keys, 24 MiB compared. The same shape in a 256 MiB
/// block (1 MiB stored with LZ4) is 50 million keys, 3 x 10^12 bytes
/// compared by every `get` that reaches the block. A seek must refuse (as
/// corruption naming the file and block) to scan more key bytes than a
/// restart interval can hold. Found by a review of lengths read from disk.
#[test]
fn a_seek_refuses_an_interval_that_scans_more_key_bytes_than_any_table_holds() {
    let dir = tempfile::tempdir().unwrap();
    let user = vec![b'p'; 60 << 10];
    let first = put(&user, 1);
    let mut longer = user.clone();
    longer.push(b'x');
    let last = put(&longer, 1);
    let mut entries = Vec::new();
    raw_entry(&mut entries, 0, &first, b"");
    for _ in 0..400 {
        raw_entry(&mut entries, first.len() as u32, b"", b"");
    }
    raw_entry(
        &mut entries,
        user.len() as u32,
        &last[user.len()..],
        b"found",
    );
    let block = with_restarts(entries, &[0]);
    assert!(block.len() < 64 << 10, "{} bytes on disk", block.len());
    let file = assemble(
        &[block],
        &[(last.clone(), Target::Data(0))],
        &props(402, first, last),
    );
    let path = write(dir.path(), "long_interval.sst", &file);
    let table = Table::open(&OsFileSystem, &path, 1, None).expect("opens");
    let err = table
        .get(&longer, 10)
        .expect_err("the seek scanned the whole interval");
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("long_interval.sst"), "{err}");
    let mut it = table.iter();
    let err = it
        .seek(lsm_core::SeekKey::new(&longer, 10).as_bytes())
        .expect_err("the seek scanned the whole interval");
    assert!(err.is_corruption(), "{err}");
}
