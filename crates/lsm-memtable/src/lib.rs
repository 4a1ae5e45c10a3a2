//! # lsm-memtable: the in-memory write buffer
//!
//! Every write lands here (after the WAL) and stays until the memtable is
//! frozen and flushed to a table. A [`Memtable`] is a lock-free skiplist
//! of *internal keys* whose nodes live in an append-only arena, each with
//! its key and value inline: each `(user key, sequence number)` is its own
//! entry, so every version of a key is kept, and a
//! delete is a tombstone entry ([`ValueKind::Delete`](lsm_core::ValueKind),
//! empty value). Entries sort by [`lsm_core::compare_internal_keys`]: user
//! key ascending, newest entry first.
//!
//! Main types: [`Memtable`] (insert, apply a batch, point lookups at a
//! snapshot, size and sequence-number bookkeeping, freeze) and
//! [`MemtableIterator`], the memtable's [`lsm_core::InternalIterator`],
//! whose `key` and `value` borrow the entry in the arena. A lookup, or a
//! cursor's `value_bytes`, copies the value out into a fresh `bytes::Bytes`.
//! A memtable made with [`Memtable::with_point_filter`] keeps a Bloom
//! filter of its point entries' keys, so a lookup of a key it does not hold
//! usually skips the skiplist search. [`Memtable::prepare_memory`] lets a
//! background thread fault in the arena's next chunks (2 MiB each) before
//! an insert needs them, so that no insert pays for fresh pages, and a
//! frozen memtable hands what it did not use to its successor
//! ([`Memtable::adopt_prepared_memory`]).
//!
//! What it guarantees:
//! - Readers never block writers and writers never block readers: inserts
//!   from many threads run concurrently, lookups and cursors take no lock.
//! - An entry, once inserted, is visible to every later
//!   [`Memtable::get`] whose snapshot is `>=` its sequence number, and to
//!   every cursor positioned after the insert returned.
//! - Inserting the same internal key twice (a WAL replayed after a crash)
//!   keeps the first entry and is otherwise a no-op.
//! - [`Memtable::approximate_bytes`] grows with every stored entry by key +
//!   trailer + value + [`ENTRY_OVERHEAD_BYTES`] (what a node's links,
//!   lengths and alignment cost on average), tracking real heap use.
//!
//! What it never does: no I/O, no errors, and no removal or change of an
//! entry: a memtable only grows until it is flushed and dropped. It does
//! not check size limits (the write path does, before the WAL).
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use lsm_core::{parse_internal_key, InternalIterator, Lookup, ValueKind};
//! use lsm_memtable::Memtable;
//!
//! let mem = Arc::new(Memtable::new());
//! mem.insert(b"apple", 1, ValueKind::Put, b"red");
//! mem.insert(b"apple", 5, ValueKind::Delete, b"");
//! mem.insert(b"pear", 3, ValueKind::Put, b"green");
//!
//! assert_eq!(mem.get(b"apple", 4), Some(Lookup::Value(Bytes::from_static(b"red"))));
//! assert_eq!(mem.get(b"apple", 5), Some(Lookup::Deleted));
//! assert_eq!(mem.get(b"pear", 2), None, "no version that old: ask the next layer");
//!
//! // The cursor yields every version, newest first within a user key.
//! let mut cursor = mem.iter();
//! cursor.seek_to_first()?;
//! let mut seen = Vec::new();
//! while cursor.valid() {
//!     let key = parse_internal_key(cursor.key()).map(|k| (k.user_key.to_vec(), k.seq));
//!     seen.push(key);
//!     cursor.next()?;
//! }
//! assert_eq!(
//!     seen,
//!     [Some((b"apple".to_vec(), 5)), Some((b"apple".to_vec(), 1)), Some((b"pear".to_vec(), 3))]
//! );
//!
//! // Backward, the same entries in reverse: oldest version first.
//! cursor.seek_to_last()?;
//! let mut backward = Vec::new();
//! while cursor.valid() {
//!     backward.push(parse_internal_key(cursor.key()).map(|k| k.seq));
//!     cursor.prev()?;
//! }
//! assert_eq!(backward, [Some(3), Some(1), Some(5)]);
//!
//! // Values come out as `Bytes` copies of the arena's bytes, unlike values
//! // in cached blocks.
//! let Some(Lookup::Value(red)) = mem.get(b"apple", 4) else { unreachable!() };
//! let mut cursor = mem.iter().pin_values();
//! cursor.seek_to_first()?;
//! cursor.next()?; // apple@1
//! assert_eq!(cursor.value_bytes(), red);
//!
//! mem.freeze();
//! assert_eq!((mem.min_seq(), mem.max_seq()), (Some(1), Some(5)));
//! # Ok::<(), lsm_core::Error>(())
//! ```

mod arena_skiplist;
mod entry;
mod iterator;
mod memtable;
mod point_filter;
mod prefetch;

pub use iterator::MemtableIterator;
pub use memtable::{Memtable, ENTRY_OVERHEAD_BYTES};
