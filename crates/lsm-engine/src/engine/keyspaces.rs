//! Keyspaces: named, independently ordered key spaces in one tree.
//!
//! A keyspace is a run of the tree: every key in it starts with the
//! keyspace's id (`lsm_core::keyspace`), so one WAL, one memtable and one
//! set of levels serve them all, a batch spanning keyspaces is one WAL
//! record, and a keyspace costs one prefix byte per key (ids below 128).
//! The name -> id catalog lives in the tree too, in keyspace
//! [`KeyspaceId::CATALOG`]: creating a keyspace is one batch (its name and
//! the next free id), dropping one is one batch (the delete of its name and
//! a range delete of its whole prefix), so a crash leaves a keyspace fully
//! there or fully gone, in WAL order with the writes around it.
//!
//! Locking: `keyspaces` (after `write_gate` in the lock order) is held
//! shared by a write that names a keyspace other than the default one,
//! from checking that it exists until its WAL append returned, and
//! exclusively by a create or drop while it appends its catalog batch. So
//! no write to a keyspace is appended after the range delete that drops
//! it, and none before the record that creates it.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use lsm_core::keyspace::tree_key;
use lsm_core::{KeyspaceId, SeqNo, WriteBatch};
use parking_lot::RwLockReadGuard;

use super::Engine;
use crate::error::{Error, Result};
use crate::read::{self, StoreIterator};
use crate::snapshot::SnapshotHandle;

/// Longest keyspace name, in bytes.
pub const MAX_KEYSPACE_NAME_BYTES: usize = 255;

/// The catalog's key holding the next id to assign (no name is empty).
const NEXT_ID_KEY: &[u8] = b"";

/// The keyspace catalog in memory, guarded by `Engine::keyspaces`.
#[derive(Debug, Default)]
pub(crate) struct Keyspaces {
    by_name: BTreeMap<String, KeyspaceId>,
    /// The ids in `by_name`, for the per-write existence check (kept in
    /// step by `add` and `remove`, the only changes).
    live: HashSet<KeyspaceId>,
    /// The id the next created keyspace gets; ids are never reused.
    next_id: u32,
}

impl Keyspaces {
    /// Reads the catalog keyspace of `engine` as of its watermark.
    pub(crate) fn load(engine: &Engine) -> Result<Keyspaces> {
        let catalog = engine.range_of_any_keyspace(
            KeyspaceId::CATALOG,
            Bound::Unbounded,
            Bound::Unbounded,
            None,
        )?;
        Keyspaces::from_catalog(&engine.dir, catalog)
    }

    /// The catalog `catalog` (an iterator over the catalog keyspace, its
    /// prefix stripped) holds, of the store in `dir`: damage is corruption
    /// naming `dir`.
    pub(crate) fn from_catalog(dir: &Path, catalog: StoreIterator) -> Result<Keyspaces> {
        let mut keyspaces = Keyspaces {
            by_name: BTreeMap::new(),
            live: HashSet::new(),
            next_id: KeyspaceId::FIRST_NAMED.get(),
        };
        let malformed = |what: String| Error::Corruption {
            path: dir.to_path_buf(),
            offset: 0,
            detail: format!("keyspace catalog: {what}"),
        };
        for item in catalog {
            let (name, value) = item?;
            let Ok(id_bytes) = <[u8; 4]>::try_from(value.as_slice()) else {
                return Err(malformed(format!(
                    "entry {:?} holds {} bytes, not a 4-byte id",
                    String::from_utf8_lossy(&name),
                    value.len()
                )));
            };
            let id = u32::from_le_bytes(id_bytes);
            if name == NEXT_ID_KEY {
                keyspaces.next_id = keyspaces.next_id.max(id);
                continue;
            }
            let name = String::from_utf8(name)
                .map_err(|e| malformed(format!("a name is not UTF-8: {e}")))?;
            if id < KeyspaceId::FIRST_NAMED.get() {
                return Err(malformed(format!("keyspace {name:?} has reserved id {id}")));
            }
            keyspaces.next_id = keyspaces.next_id.max(id.saturating_add(1));
            keyspaces.add(name, KeyspaceId::new(id));
        }
        Ok(keyspaces)
    }

    fn is_live(&self, id: KeyspaceId) -> bool {
        self.live.contains(&id)
    }

    /// The id of keyspace `name`, if it exists.
    pub(crate) fn id_of(&self, name: &str) -> Option<KeyspaceId> {
        self.by_name.get(name).copied()
    }

    /// The names, in order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    fn add(&mut self, name: String, id: KeyspaceId) {
        self.live.insert(id);
        self.by_name.insert(name, id);
    }

    fn remove(&mut self, name: &str) {
        if let Some(id) = self.by_name.remove(name) {
            self.live.remove(&id);
        }
    }
}

/// What one keyspace holds on disk, from the table catalog (no I/O).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KeyspaceStats {
    /// The keyspace's name.
    pub name: String,
    /// Its id (the prefix of its keys).
    pub id: u32,
    /// Tables holding keys of this keyspace (a table may hold other
    /// keyspaces' keys too: they share memtables and levels).
    pub tables: usize,
    /// Bytes of those tables: an upper bound of the space the keyspace
    /// takes on disk.
    pub table_bytes: u64,
    /// Tables holding only keys of this keyspace.
    pub exclusive_tables: usize,
}

fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "a keyspace name is not empty"
    } else if name.len() > MAX_KEYSPACE_NAME_BYTES {
        "a keyspace name is at most 255 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKeyspace {
        name: shown_name(name),
        reason,
    })
}

/// `name` as an error shows it: whole up to the name limit, else its first
/// 64 bytes (to a character boundary) and its length.
pub(crate) fn shown_name(name: &str) -> String {
    if name.len() <= MAX_KEYSPACE_NAME_BYTES {
        return name.to_string();
    }
    let mut end = 64;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &name[..end], name.len())
}

/// Reads of the catalog's keyspace id are refused like its writes: the
/// catalog is the store's own record of keyspace names, not user data.
pub(crate) fn check_readable(keyspace: KeyspaceId) -> Result<()> {
    if keyspace == KeyspaceId::CATALOG {
        return Err(Error::UnknownKeyspace { id: keyspace.get() });
    }
    Ok(())
}

impl Engine {
    /// The id of keyspace `name`, if it exists.
    pub fn keyspace_id(&self, name: &str) -> Option<KeyspaceId> {
        self.keyspaces.read().id_of(name)
    }

    /// The names of every keyspace, in name order (the default keyspace
    /// has no name and is not listed).
    pub fn keyspace_names(&self) -> Vec<String> {
        self.keyspaces.read().names()
    }

    /// The id of keyspace `name`, creating it (one WAL record, durable per
    /// the sync mode) if it does not exist. Returns the id and, when it was
    /// created, the catalog write's sequence number.
    pub fn open_keyspace(&self, name: &str) -> Result<(KeyspaceId, Option<SeqNo>)> {
        // Closed first, as every call of a closed store answers, and
        // before the cached name below, which would answer after close as
        // if nothing had changed.
        self.check_open()?;
        check_name(name)?;
        if let Some(id) = self.keyspace_id(name) {
            return Ok((id, None));
        }
        self.check_writable()?;
        let permit = self.begin_write()?;
        let mut keyspaces = self.keyspaces.write();
        if let Some(&id) = keyspaces.by_name.get(name) {
            return Ok((id, None));
        }
        let id = keyspaces.next_id;
        let next = id.checked_add(1).ok_or(Error::InvalidKeyspace {
            name: name.to_string(),
            reason: "every keyspace id has been used",
        })?;
        let mut batch = WriteBatch::new();
        batch.put_in(KeyspaceId::CATALOG, name, id.to_le_bytes());
        batch.put_in(KeyspaceId::CATALOG, NEXT_ID_KEY, next.to_le_bytes());
        let (first, last) = permit.append_catalog(&batch)?;
        keyspaces.add(name.to_string(), KeyspaceId::new(id));
        keyspaces.next_id = next;
        drop(keyspaces);
        permit.apply(&batch, first, last);
        drop(permit);
        self.wait_own_write(last)?;
        Ok((KeyspaceId::new(id), Some(last)))
    }

    /// Drops keyspace `name`: one WAL record deletes its name and, with one
    /// range delete, every key in it. Later writes naming its id fail with
    /// [`Error::UnknownKeyspace`]; its space is reclaimed as tables holding
    /// only its keys are deleted and compaction rewrites the others.
    /// Returns the record's sequence number.
    pub fn drop_keyspace(&self, name: &str) -> Result<SeqNo> {
        self.check_writable()?;
        check_name(name)?;
        let permit = self.begin_write()?;
        let mut keyspaces = self.keyspaces.write();
        let Some(&id) = keyspaces.by_name.get(name) else {
            return Err(Error::InvalidKeyspace {
                name: name.to_string(),
                reason: "no such keyspace",
            });
        };
        let mut batch = WriteBatch::new();
        batch.delete_in(KeyspaceId::CATALOG, name);
        batch.delete_range_in(id, Bound::Unbounded, Bound::Unbounded);
        let (first, last) = permit.append_catalog(&batch)?;
        keyspaces.remove(name);
        drop(keyspaces);
        permit.apply(&batch, first, last);
        drop(permit);
        self.wait_own_write(last)?;
        Ok(last)
    }

    /// Fails with [`Error::UnknownKeyspace`] unless every keyspace `batch`
    /// names (other than the default one) exists; the returned guard keeps
    /// them from being dropped until the batch is appended. `None` (no
    /// lock) for a default-keyspace batch.
    pub(super) fn check_batch_keyspaces(
        &self,
        batch: &WriteBatch,
    ) -> Result<Option<RwLockReadGuard<'_, Keyspaces>>> {
        if batch.keyspaces().is_empty() {
            return Ok(None);
        }
        let keyspaces = self.keyspaces.read();
        if let Some(&id) = batch
            .keyspaces()
            .iter()
            .find(|&&id| id == KeyspaceId::CATALOG || !keyspaces.is_live(id))
        {
            return Err(Error::UnknownKeyspace { id: id.get() });
        }
        Ok(Some(keyspaces))
    }

    /// Point read of `key` in `keyspace` at the current watermark.
    pub fn get_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        check_readable(keyspace)?;
        let (view, seq) = self.read_view();
        read::get(&view, &self.tables, &tree_key(keyspace, key), seq)
    }

    /// Point read of `key` in `keyspace` at `seq` (a snapshot's).
    pub fn get_at_in(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
        seq: SeqNo,
    ) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        check_readable(keyspace)?;
        let view = self.view();
        read::get(&view, &self.tables, &tree_key(keyspace, key), seq)
    }

    /// A range iterator over `keyspace` at `seq` (the current watermark if
    /// `snapshot` is `None`). Bounds and yielded keys are user keys.
    pub fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        snapshot: Option<Arc<SnapshotHandle>>,
    ) -> Result<StoreIterator> {
        check_readable(keyspace)?;
        self.range_of_any_keyspace(keyspace, start, end, snapshot)
    }

    /// [`Engine::range_in`] of any keyspace, the catalog included.
    fn range_of_any_keyspace(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        snapshot: Option<Arc<SnapshotHandle>>,
    ) -> Result<StoreIterator> {
        self.check_open()?;
        let (view, seq) = match &snapshot {
            Some(handle) => (self.view(), handle.seq()),
            None => self.read_view(),
        };
        read::keyspace_iter(view, &self.tables, seq, keyspace, (start, end), snapshot)
    }

    /// Table counts and bytes of keyspace `name`.
    pub fn keyspace_stats(&self, name: &str) -> Result<KeyspaceStats> {
        self.check_open()?;
        let id = self
            .keyspace_id(name)
            .ok_or_else(|| Error::InvalidKeyspace {
                name: shown_name(name),
                reason: "no such keyspace",
            })?;
        Ok(self.stats_of(id, name))
    }

    /// Table counts and bytes of the keyspace with id `id`, as long as it
    /// exists: [`Error::UnknownKeyspace`] once it was dropped, even if a
    /// keyspace of the same name was created since (a handle on the
    /// dropped one must not report the new one's tables).
    pub fn keyspace_stats_of(&self, id: KeyspaceId) -> Result<KeyspaceStats> {
        self.check_open()?;
        let name = self
            .keyspaces
            .read()
            .by_name
            .iter()
            .find(|&(_, &live)| live == id)
            .map(|(name, _)| name.clone())
            .ok_or(Error::UnknownKeyspace { id: id.get() })?;
        Ok(self.stats_of(id, &name))
    }

    /// What the tables of the current version hold of keyspace `id`.
    fn stats_of(&self, id: KeyspaceId, name: &str) -> KeyspaceStats {
        let (start, end) = id.tree_range();
        let version = Arc::clone(&self.view().version);
        let mut stats = KeyspaceStats {
            name: name.to_string(),
            id: id.get(),
            ..KeyspaceStats::default()
        };
        for (_, file) in version.all_files() {
            let (lo, hi) = (file.smallest_user_key(), file.largest_user_key());
            if lo < end.as_slice() && hi >= start.as_slice() {
                stats.tables += 1;
                stats.table_bytes += file.file_bytes;
                if lo >= start.as_slice() && hi < end.as_slice() {
                    stats.exclusive_tables += 1;
                }
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{freeze_and_flush, get, open_small, put, small_config};
    use super::*;

    fn put_in(engine: &Engine, keyspace: KeyspaceId, key: &str, value: &str) -> Result<SeqNo> {
        let mut batch = WriteBatch::new();
        batch.put_in(keyspace, key, value);
        Ok(engine.write(&batch)?.last_seq)
    }

    fn scan_in(engine: &Engine, keyspace: KeyspaceId) -> Vec<(String, String)> {
        engine
            .range_in(keyspace, Bound::Unbounded, Bound::Unbounded, None)
            .unwrap()
            .map(|item| {
                let (k, v) = item.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            })
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Keyspaces are independent: the same key in two keyspaces and the
    /// default one holds three values, and each scan sees only its own.
    #[test]
    fn keyspaces_are_independent_and_ordered() {
        let (_dir, engine) = open_small();
        let (users, created) = engine.open_keyspace("users").unwrap();
        assert!(created.is_some());
        let (orders, _) = engine.open_keyspace("orders").unwrap();
        assert_eq!(
            engine.open_keyspace("users").unwrap(),
            (users, None),
            "opened, not created"
        );
        assert_ne!(users, orders);
        put(&engine, "k", "default");
        put_in(&engine, users, "k", "user").unwrap();
        put_in(&engine, users, "a", "first").unwrap();
        put_in(&engine, orders, "k", "order").unwrap();
        assert_eq!(get(&engine, "k").as_deref(), Some("default"));
        assert_eq!(engine.get_in(users, b"k").unwrap(), Some(b"user".to_vec()));
        assert_eq!(
            scan_in(&engine, users),
            pairs(&[("a", "first"), ("k", "user")])
        );
        assert_eq!(scan_in(&engine, orders), pairs(&[("k", "order")]));
        assert_eq!(
            scan_in(&engine, KeyspaceId::DEFAULT),
            pairs(&[("k", "default")])
        );
        assert_eq!(engine.keyspace_names(), ["orders", "users"]);
    }

    /// A batch naming a keyspace that does not exist, or the catalog, is
    /// refused before anything is written.
    #[test]
    fn writes_to_unknown_keyspaces_or_the_catalog_are_refused() {
        let (_dir, engine) = open_small();
        let before = engine.last_seq();
        for id in [KeyspaceId::new(77), KeyspaceId::CATALOG] {
            let err = put_in(&engine, id, "k", "v").unwrap_err();
            assert!(
                matches!(err, Error::UnknownKeyspace { id: got } if got == id.get()),
                "{err}"
            );
        }
        assert_eq!(engine.last_seq(), before, "nothing reached the WAL");
        let err = engine.open_keyspace("").unwrap_err();
        assert!(matches!(err, Error::InvalidKeyspace { .. }), "{err}");
        let err = engine.open_keyspace(&"x".repeat(256)).unwrap_err();
        assert!(matches!(err, Error::InvalidKeyspace { .. }), "{err}");
    }

    /// Dropping a keyspace deletes its keys (one range delete), refuses
    /// writes through its old id, and a keyspace created again under the
    /// same name is new and empty. Its tables holding only its keys are
    /// deleted at the next flush.
    #[test]
    fn a_dropped_keyspace_is_gone_and_its_name_can_be_reused() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let (logs, _) = engine.open_keyspace("logs").unwrap();
        freeze_and_flush(&engine, &mut freezer); // the catalog entry's table
        for i in 0..20 {
            put_in(&engine, logs, &format!("line{i:02}"), "text").unwrap();
        }
        freeze_and_flush(&engine, &mut freezer);
        assert_eq!(engine.keyspace_stats("logs").unwrap().exclusive_tables, 1);
        put(&engine, "keep", "me");
        engine.drop_keyspace("logs").unwrap();
        assert!(engine.keyspace_names().is_empty());
        assert!(scan_in(&engine, logs).is_empty());
        assert!(matches!(
            put_in(&engine, logs, "late", "write"),
            Err(Error::UnknownKeyspace { .. })
        ));
        assert!(matches!(
            engine.drop_keyspace("logs"),
            Err(Error::InvalidKeyspace { .. })
        ));
        freeze_and_flush(&engine, &mut freezer);
        let view = engine.view();
        let (start, end) = logs.tree_range();
        assert!(
            !view
                .version
                .all_files()
                .any(|(_, f)| f.smallest_user_key() >= start.as_slice()
                    && f.largest_user_key() < end.as_slice()),
            "the table holding only the dropped keyspace's keys is gone"
        );
        let (again, _) = engine.open_keyspace("logs").unwrap();
        assert_ne!(again, logs, "ids are never reused");
        assert!(scan_in(&engine, again).is_empty());
        assert_eq!(get(&engine, "keep").as_deref(), Some("me"));
    }

    /// The catalog is recovered: from the WAL before a flush, from tables
    /// after; a drop too.
    #[test]
    fn keyspaces_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b);
        {
            let engine = Arc::new(Engine::open(small_config(dir.path())).unwrap());
            let mut freezer = engine.freezer().unwrap();
            a = engine.open_keyspace("a").unwrap().0;
            put_in(&engine, a, "k", "1").unwrap();
            freeze_and_flush(&engine, &mut freezer);
            b = engine.open_keyspace("b").unwrap().0;
            put_in(&engine, b, "k", "2").unwrap();
            engine.open_keyspace("c").unwrap();
            engine.drop_keyspace("c").unwrap();
            engine.close().unwrap();
        }
        let engine = Engine::open(small_config(dir.path())).unwrap();
        assert_eq!(engine.keyspace_names(), ["a", "b"]);
        assert_eq!(engine.keyspace_id("a"), Some(a));
        assert_eq!(engine.get_in(b, b"k").unwrap(), Some(b"2".to_vec()));
        let (d, _) = engine.open_keyspace("d").unwrap();
        assert!(
            d.get() > b.get() + 1,
            "the dropped keyspace's id is not reused"
        );
    }

    /// A batch spanning keyspaces is one record: all of it or none is
    /// replayed, with consecutive sequence numbers.
    #[test]
    fn a_batch_spanning_keyspaces_is_atomic() {
        let (_dir, engine) = open_small();
        let (x, _) = engine.open_keyspace("x").unwrap();
        let mut batch = WriteBatch::new();
        batch
            .put("k", "default")
            .put_in(x, "k", "x")
            .delete_range_in(x, Bound::Included(b"a"), Bound::Excluded(b"b"));
        let last = engine.write(&batch).unwrap().last_seq;
        assert_eq!(engine.get_in(x, b"k").unwrap(), Some(b"x".to_vec()));
        assert_eq!(engine.get_at(b"k", last - 3).unwrap(), None);
        assert_eq!(
            engine.get_at(b"k", last).unwrap(),
            Some(b"default".to_vec())
        );
    }
}
