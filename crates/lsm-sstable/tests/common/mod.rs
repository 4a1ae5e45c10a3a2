//! Helpers shared by the integration tests: a model of a table's contents.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use lsm_core::{
    compare_internal_keys, parse_internal_key, InternalIterator, InternalKey, Lookup, OsFileSystem,
    SeqNo, ValueKind,
};
use lsm_sstable::{BlockCache, Compression, Table, TableBuilder, TableOptions, TableProperties};

/// One entry as the model holds it.
pub type Entry = (Vec<u8>, Vec<u8>);

pub fn ikey(user: &[u8], seq: SeqNo, kind: ValueKind) -> Vec<u8> {
    InternalKey::new(user, seq, kind).into_bytes()
}

/// Sorts entries by internal key and drops duplicate internal keys.
pub fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| compare_internal_keys(&a.0, &b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    entries
}

/// Options for a table of many small blocks: about 128 bytes each, a
/// restart every 4 entries, a bloom filter.
pub fn small_blocks(compression: Compression) -> TableOptions {
    TableOptions {
        block_bytes: 128,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        compression,
        filter_capacity: None,
    }
}

pub fn build(path: &Path, entries: &[Entry], options: TableOptions) -> TableProperties {
    let mut builder = TableBuilder::create(&OsFileSystem, path, options).unwrap();
    for (k, v) in entries {
        builder.add(k, v).unwrap();
    }
    builder.finish().unwrap()
}

pub fn open(path: &Path, cache: Option<Arc<BlockCache>>) -> Arc<Table> {
    Table::open(&OsFileSystem, path, 1, cache).unwrap()
}

/// What `Table::get` must return for the model.
pub fn model_get(entries: &[Entry], user_key: &[u8], snapshot: SeqNo) -> Option<Lookup> {
    entries
        .iter()
        .filter_map(|(k, v)| parse_internal_key(k).map(|p| (p, v)))
        .filter(|(p, _)| p.user_key == user_key && p.seq <= snapshot)
        .max_by_key(|(p, _)| p.seq)
        .map(|(p, v)| match p.kind {
            ValueKind::Put => Lookup::Value(v.clone().into()),
            ValueKind::Delete => Lookup::Deleted,
        })
}

/// What a seek to `target` must land on in the model.
pub fn model_seek<'a>(entries: &'a [Entry], target: &[u8]) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|(k, _)| compare_internal_keys(k, target) != Ordering::Less)
}

/// Every entry from `seek_to_first` on.
pub fn scan(cursor: &mut impl InternalIterator) -> lsm_core::Result<Vec<Entry>> {
    cursor.seek_to_first()?;
    let mut out = Vec::new();
    while cursor.valid() {
        assert_eq!(
            cursor.value_bytes(),
            cursor.value(),
            "the shared value is the value"
        );
        out.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.next()?;
    }
    Ok(out)
}

/// What a `seek_for_prev` to `target` must land on in the model.
pub fn model_seek_for_prev<'a>(entries: &'a [Entry], target: &[u8]) -> Option<&'a Entry> {
    entries
        .iter()
        .rfind(|(k, _)| compare_internal_keys(k, target) != Ordering::Greater)
}

/// Every entry from `seek_to_last` on, backward.
pub fn scan_backward(cursor: &mut impl InternalIterator) -> lsm_core::Result<Vec<Entry>> {
    cursor.seek_to_last()?;
    let mut out = Vec::new();
    while cursor.valid() {
        assert_eq!(
            cursor.value_bytes(),
            cursor.value(),
            "the shared value is the value"
        );
        out.push((cursor.key().to_vec(), cursor.value().to_vec()));
        cursor.prev()?;
    }
    Ok(out)
}
