//! The write step: WAL append, memtable insert, publish; the per-write
//! [`WriteOptions`]; and the watermark's async fence.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use lsm_core::{BatchOp, KeyspaceId, OpKind, SeqNo, WriteBatch};
use lsm_wal::FailedAppend;
use parking_lot::RwLockReadGuard;

use super::Engine;
use crate::error::{Error, Result};
use crate::watermark::{VisibleSeq, WaitVisible};

/// Options of one write (`write_with` on both stores).
///
/// `sync` overrides the store's `SyncMode` (`LsmConfig::wal_sync`) for
/// this write only:
/// - `Some(true)`: the write's WAL record is fdatasynced before the write
///   returns, even under `SyncMode::Never` or `EveryBytes`: it survives a
///   power loss, as under `Always`. The fsync is group-committed with any
///   other in flight, and it also covers every write appended before it.
/// - `Some(false)`: no fsync for this write, even under `Always`: it
///   returns once its record reached the OS (it survives a process crash,
///   not a power loss) and never waits for another writer's fsync. It is
///   not durable until a later fsync covers it: the store's `sync()`, a
///   later synced write, a memtable freeze, or `close`.
/// - `None` (the default): the store's mode decides.
///
/// ```
/// use lsm_engine::WriteOptions;
///
/// assert_eq!(WriteOptions::default().sync, None);
/// assert_eq!(WriteOptions::new().sync(true).sync, Some(true));
/// assert_eq!(WriteOptions::new().sync(false), WriteOptions::NO_SYNC);
/// assert_eq!(WriteOptions::SYNC.sync, Some(true));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Per-write durability: see the type's docs. `None` = the store's
    /// sync mode.
    pub sync: Option<bool>,
}

impl WriteOptions {
    /// The store's sync mode decides (the same as `default()`).
    pub const DEFAULT: WriteOptions = WriteOptions { sync: None };
    /// This write is fdatasynced before it returns, whatever the mode.
    pub const SYNC: WriteOptions = WriteOptions { sync: Some(true) };
    /// This write skips the fsync, whatever the mode.
    pub const NO_SYNC: WriteOptions = WriteOptions { sync: Some(false) };

    /// The default options: the store's sync mode decides.
    pub const fn new() -> WriteOptions {
        WriteOptions::DEFAULT
    }

    /// Sets [`WriteOptions::sync`] to `Some(sync)`.
    #[must_use]
    pub const fn sync(mut self, sync: bool) -> WriteOptions {
        self.sync = Some(sync);
        self
    }
}

/// What [`Engine::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The batch's last sequence number.
    pub last_seq: SeqNo,
    /// The active memtable reached its size limit with this write.
    pub memtable_full: bool,
}

/// A writer's pass through the write gate: while it lives the active
/// memtable cannot be frozen, so a batch appended to the WAL through it
/// ([`WritePermit::append`]) is in the memtable a freeze seals once it is
/// applied ([`WritePermit::apply`]) or handed to the [`super::Freezer`]'s
/// holder, who applies it before freezing.
#[derive(Debug)]
pub struct WritePermit<'a> {
    engine: &'a Engine,
    _gate: RwLockReadGuard<'a, ()>,
}

/// How full the active memtable is ([`Engine::memtable_fill`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemtableFill {
    /// Below seven eighths of `memtable_bytes`.
    Room,
    /// From seven eighths of `memtable_bytes`: a freeze is near.
    NearlyFull,
    /// At `memtable_bytes` or more: due for a freeze.
    Full,
    /// An eighth over `memtable_bytes` or more: the freeze is overdue (its
    /// WAL sync is slow, or the flusher is behind).
    Overfull,
}

impl Engine {
    /// Waits until every [`WritePermit`] handed out before this call is
    /// released (takes the write gate exclusively once).
    pub fn wait_for_write_permits(&self) {
        drop(self.write_gate.0.write());
    }

    /// A permit to append and apply; fails if the store is closed or
    /// poisoned.
    pub fn begin_write(&self) -> Result<WritePermit<'_>> {
        self.check_writable()?;
        Ok(WritePermit {
            engine: self,
            _gate: self.write_gate.0.read(),
        })
    }

    /// Inserts `batch`'s ops into the active memtable with sequence numbers
    /// starting at `first`, and counts the user bytes (the keyspace
    /// catalog's records have none). Returns true when the
    /// memtable has reached its size limit (the caller arranges a freeze),
    /// so the write path reads the view once.
    /// REQUIRES: the memtable cannot be frozen underneath: the caller
    /// holds a [`WritePermit`] or the [`super::Freezer`].
    pub(super) fn apply_to_memtable(&self, batch: &WriteBatch, first: SeqNo) -> bool {
        let mem = Arc::clone(&self.view.read().mem);
        debug_assert!(!mem.is_frozen());
        let mut bytes = 0u64;
        mem.apply(batch.iter().enumerate().map(|(i, op)| {
            match op.keyspace_and_user_key() {
                // The keyspace catalog's records (a keyspace created or
                // dropped) hold no key or value of the user's.
                Some((KeyspaceId::CATALOG, _)) => {}
                parsed => {
                    let user_key = parsed.map_or(op.key, |(_, key)| key);
                    let value = if op.kind == OpKind::Put {
                        op.value
                    } else {
                        &[]
                    };
                    bytes += (user_key.len() + value.len()) as u64;
                }
            }
            BatchOp {
                seq: first + i as u64,
                ..op
            }
        }));
        self.counters
            .user_bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        let approximate_bytes = mem.approximate_bytes();
        // Loaded first: the flag's line stays shared while it is set.
        if !self.memtable_wants_memory.load(Ordering::Relaxed)
            && mem.wants_memory(self.memory_ahead(approximate_bytes))
        {
            self.memtable_wants_memory.store(true, Ordering::Relaxed);
        }
        approximate_bytes >= self.config.memtable_bytes
    }

    /// The synchronous write path: WAL append (durable per the sync mode),
    /// memtable insert, publish, then wait until the watermark covers the
    /// batch, so the caller's next read sees it (read-your-writes). Returns
    /// the batch's last sequence number and whether the memtable is now
    /// full.
    ///
    /// The watermark advances only over contiguous published ranges, so a
    /// writer that publishes while an earlier writer is still between its
    /// append and its publish waits for it (`VisibleSeq::wait_visible`:
    /// one atomic load when there is nothing to wait for). An append that
    /// fails after taking sequence numbers poisons the engine and publishes
    /// its range with nothing in it, so a writer waiting behind it sees its
    /// own write and returns its sequence number.
    pub fn write(&self, batch: &WriteBatch) -> Result<Written> {
        self.write_with(batch, &WriteOptions::DEFAULT)
    }

    /// [`Engine::write`] with per-write options: `options.sync` overrides
    /// the sync mode for this write's WAL append ([`WriteOptions`]).
    pub fn write_with(&self, batch: &WriteBatch, options: &WriteOptions) -> Result<Written> {
        let permit = self.begin_write()?;
        let (first, last) = permit.append_with(batch, options)?;
        let memtable_full = permit.apply(batch, first, last);
        drop(permit);
        self.wait_own_write(last)?;
        Ok(Written {
            last_seq: last,
            memtable_full,
        })
    }

    /// Waits until the watermark covers `last`, the caller's own published
    /// write (read-your-writes); `Poisoned` if an earlier write can never
    /// be published.
    pub(super) fn wait_own_write(&self, last: SeqNo) -> Result<()> {
        if !self
            .visible
            .wait_visible(last, || self.poisoned.load(Ordering::Acquire))
        {
            // `wait_visible` gives up only once the engine is poisoned.
            let reason = self.poison.lock().clone().unwrap_or_default();
            return Err(Error::Poisoned { reason });
        }
        Ok(())
    }

    /// True when the active memtable has reached its size limit.
    pub fn memtable_full(&self) -> bool {
        self.view.read().mem.approximate_bytes() >= self.config.memtable_bytes
    }

    /// How full the active memtable is, against `memtable_bytes`.
    pub fn memtable_fill(&self) -> MemtableFill {
        let limit = self.config.memtable_bytes;
        let bytes = self.view.read().mem.approximate_bytes();
        if bytes >= limit.saturating_add(limit / 8) {
            MemtableFill::Overfull
        } else if bytes >= limit {
            MemtableFill::Full
        } else if bytes >= limit - limit / 8 {
            MemtableFill::NearlyFull
        } else {
            MemtableFill::Room
        }
    }

    /// Number of frozen memtables waiting for flush.
    pub fn immutable_count(&self) -> usize {
        self.view.read().imm.len()
    }

    /// The applied watermark itself (for [`WaitVisible`]).
    pub(crate) fn watermark(&self) -> &VisibleSeq {
        &self.visible
    }

    /// The fence [`Engine::wait_visible`] as a runtime-agnostic `Future`:
    /// it resolves once the watermark reaches `seq`, or with `Closed` or
    /// `Poisoned` if the engine closes or is poisoned first (see
    /// [`WaitVisible`]). It holds an `Arc` of the engine, not a borrow.
    pub fn wait_visible_async(self: &Arc<Self>, seq: SeqNo) -> WaitVisible {
        WaitVisible::new(Arc::clone(self), seq)
    }
}

/// A write that panics while it holds its permit (between taking
/// sequence numbers and publishing them, say: a bug, or a `FileSystem`
/// that panics) may have left a range that is never published, which
/// every later writer would wait for. Dropping the permit while unwinding
/// poisons the engine instead, so they return `Poisoned`.
impl Drop for WritePermit<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.engine
                .poison("a write panicked while it held its write permit".to_string());
        }
    }
}

impl WritePermit<'_> {
    /// Appends `batch` to the WAL (durable per the sync mode when this
    /// returns) and returns its first and last sequence numbers. An I/O
    /// failure poisons the engine: the sequence numbers it took are never
    /// published, so later writes could never become visible.
    ///
    /// A batch naming a keyspace other than the default one fails with
    /// [`Error::UnknownKeyspace`] unless that keyspace exists, and holds it
    /// (it cannot be dropped) until the append returned.
    pub fn append(&self, batch: &WriteBatch) -> Result<(SeqNo, SeqNo)> {
        self.append_with(batch, &WriteOptions::DEFAULT)
    }

    /// [`WritePermit::append`] with per-write options: `options.sync`
    /// overrides the sync mode for this append ([`WriteOptions`]).
    pub fn append_with(
        &self,
        batch: &WriteBatch,
        options: &WriteOptions,
    ) -> Result<(SeqNo, SeqNo)> {
        batch.check_limits()?;
        let _keyspaces = self.engine.check_batch_keyspaces(batch)?;
        self.append_unchecked(batch, options)
    }

    /// Appends a keyspace-catalog batch; the caller holds the keyspace lock
    /// exclusively (create and drop).
    pub(super) fn append_catalog(&self, batch: &WriteBatch) -> Result<(SeqNo, SeqNo)> {
        batch.check_limits()?;
        self.append_unchecked(batch, &WriteOptions::DEFAULT)
    }

    fn append_unchecked(
        &self,
        batch: &WriteBatch,
        options: &WriteOptions,
    ) -> Result<(SeqNo, SeqNo)> {
        let engine = self.engine;
        match engine.wal.append_taking(batch, options.sync) {
            Ok(last) => Ok((last + 1 - u64::from(batch.count()), last)),
            Err(FailedAppend { error, taken }) => {
                if matches!(
                    error,
                    lsm_wal::Error::Core(_) | lsm_wal::Error::Poisoned { .. }
                ) {
                    engine.poison(format!("WAL append failed: {error}"));
                }
                // The sequence numbers it took are published as applied
                // with nothing in them: the write is not acknowledged (its
                // record may still be recovered after a reopen, like any
                // write that failed), and later writes already acknowledged
                // (an unsynced one behind this synced one, say) would
                // otherwise never become visible behind the gap.
                if let Some((first, last)) = taken {
                    engine.visible.publish(first, last);
                }
                Err(error.into())
            }
        }
    }

    /// Inserts an appended batch into the active memtable and publishes
    /// `first..=last`; true when the memtable is now full.
    pub fn apply(&self, batch: &WriteBatch, first: SeqNo, last: SeqNo) -> bool {
        let full = self.engine.apply_to_memtable(batch, first);
        self.engine.visible.publish(first, last);
        full
    }
}

#[cfg(test)]
mod tests {

    use super::super::test_support::{get, open_faulty, open_small, put};
    use super::*;

    fn batch(ops: &[(&str, &str)]) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for (key, value) in ops {
            batch.put(key.as_bytes(), value.as_bytes());
        }
        batch
    }

    #[test]
    fn batches_take_consecutive_sequence_numbers_and_are_visible_on_return() {
        let (_dir, engine) = open_small();
        let written = engine
            .write(&batch(&[("a", "1"), ("b", "2"), ("a", "3")]))
            .unwrap();
        assert_eq!(written.last_seq, 3);
        assert_eq!((engine.last_seq(), engine.visible_seq()), (3, 3));
        assert_eq!(get(&engine, "a").as_deref(), Some("3"), "later op wins");
        assert_eq!(engine.get_at(b"a", 1).unwrap(), Some(b"1".to_vec()));
        assert_eq!(put(&engine, "c", "4"), 4);
        assert_eq!(get(&engine, "c").as_deref(), Some("4"));
        let stats = engine.stats().unwrap();
        assert_eq!(stats.user_bytes_written, 8, "key + value bytes of 4 ops");
    }

    /// A writer that panicked after taking sequence numbers and before
    /// publishing them poisons the engine as its permit drops, so a later
    /// writer, whose read-your-writes wait is behind that range, returns
    /// `Poisoned` instead of waiting forever.
    #[test]
    fn a_write_that_panics_holding_its_permit_poisons_and_nobody_waits_for_it() {
        let (_dir, engine) = open_small();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let permit = engine.begin_write().unwrap();
            let taken = permit.append(&batch(&[("lost", "1")])).unwrap();
            assert_eq!(taken, (1, 1));
            panic!("between append and publish");
        }));
        assert!(panicked.is_err());
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = Arc::clone(&engine);
        // Not joined: on a hang it would wait forever.
        std::thread::spawn(move || {
            let _ = tx.send(writer.write(&batch(&[("later", "2")])).map(|w| w.last_seq));
        });
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a write behind the panicked one waited for it (hang)");
        let err = result.unwrap_err();
        assert!(err.is_poisoned(), "{err}");
        assert!(engine.begin_write().unwrap_err().is_poisoned());
    }

    #[test]
    fn a_write_reports_when_it_fills_the_memtable() {
        let (_dir, engine) = open_small();
        let value = "x".repeat(1000);
        let mut writes = 0;
        loop {
            writes += 1;
            let written = engine
                .write(&batch(&[(&format!("key{writes:04}"), &value)]))
                .unwrap();
            assert_eq!(written.memtable_full, engine.memtable_full());
            if written.memtable_full {
                break;
            }
            assert!(writes < 1000, "never full");
        }
        // 64 KiB of ~1 KiB entries.
        assert!((50..=70).contains(&writes), "full after {writes} writes");
        assert!(engine.view().mem.approximate_bytes() >= engine.config().memtable_bytes);
        assert_eq!(engine.immutable_count(), 0, "a write never freezes");
    }

    #[test]
    fn memtable_fill_steps_at_seven_eighths_full_and_an_eighth_over() {
        let (_dir, engine) = open_small();
        let limit = engine.config().memtable_bytes;
        let value = "x".repeat(100);
        let mut seen = Vec::new();
        let mut i = 0;
        while engine.view().mem.approximate_bytes() < limit + limit / 8 {
            let bytes = engine.view().mem.approximate_bytes();
            let expected = if bytes >= limit {
                MemtableFill::Full
            } else if bytes >= limit - limit / 8 {
                MemtableFill::NearlyFull
            } else {
                MemtableFill::Room
            };
            assert_eq!(engine.memtable_fill(), expected, "{bytes} of {limit}");
            assert_eq!(engine.memtable_full(), bytes >= limit);
            if seen.last() != Some(&expected) {
                seen.push(expected);
            }
            put(&engine, &format!("key{i:05}"), &value);
            i += 1;
        }
        assert_eq!(engine.memtable_fill(), MemtableFill::Overfull);
        assert_eq!(
            seen,
            [
                MemtableFill::Room,
                MemtableFill::NearlyFull,
                MemtableFill::Full
            ]
        );
    }

    #[test]
    fn a_poisoned_engine_refuses_permits_and_writes_but_serves_reads() {
        let (_dir, engine) = open_small();
        put(&engine, "a", "1");
        engine.poison("disk on fire".to_string());
        let err = engine.begin_write().unwrap_err();
        assert!(err.is_poisoned(), "{err}");
        assert!(err.to_string().contains("disk on fire"), "{err}");
        let err = engine.write(&batch(&[("b", "2")])).unwrap_err();
        assert!(err.is_poisoned(), "{err}");
        assert_eq!(engine.last_seq(), 1, "nothing reached the WAL");
        assert_eq!(get(&engine, "a").as_deref(), Some("1"));
    }

    #[test]
    fn an_invalid_batch_is_refused_without_poisoning() {
        let (_dir, engine) = open_small();
        let err = engine.write(&WriteBatch::new()).unwrap_err();
        assert!(!err.is_poisoned(), "{err}");
        let huge = "k".repeat(lsm_core::MAX_KEY_BYTES + 1);
        let err = engine.write(&batch(&[(&huge, "v")])).unwrap_err();
        assert!(!err.is_poisoned(), "{err}");
        assert_eq!(engine.last_seq(), 0);
        assert_eq!(put(&engine, "a", "1"), 1, "still writable");
    }

    #[test]
    fn a_failed_wal_append_poisons_the_engine() {
        let (_dir, fs, engine) = open_faulty();
        put(&engine, "a", "1");
        fs.fail_appends(true);
        assert!(engine.write(&batch(&[("b", "2")])).is_err());
        fs.fail_appends(false);
        let err = engine.begin_write().unwrap_err();
        assert!(err.is_poisoned(), "{err}");
        assert!(engine.stats().unwrap().poisoned.is_some());
        assert_eq!(get(&engine, "b"), None);
        assert_eq!(get(&engine, "a").as_deref(), Some("1"));
    }

    /// `WriteOptions::sync` overrides the sync mode for one write: under
    /// `Never` a synced write costs exactly one fdatasync and the default
    /// none; under `Always` an unsynced write costs none and the default
    /// one. Counted by the WAL's own counter (`stats().wal_syncs`).
    #[test]
    fn write_options_override_the_sync_mode_for_one_write() {
        let (dir, engine) = open_small(); // SyncMode::Never
        let syncs = || engine.stats().unwrap().wal_syncs;
        let before = syncs();
        engine.write(&batch(&[("a", "1")])).unwrap();
        assert_eq!(syncs(), before, "Never: no fsync");
        let written = engine
            .write_with(&batch(&[("b", "2")]), &WriteOptions::SYNC)
            .unwrap();
        assert_eq!(written.last_seq, 2);
        assert_eq!(syncs(), before + 1, "sync: Some(true) fsyncs once");
        engine
            .write_with(&batch(&[("c", "3")]), &WriteOptions::NO_SYNC)
            .unwrap();
        assert_eq!(syncs(), before + 1);
        assert_eq!(get(&engine, "b").as_deref(), Some("2"));
        engine.close().unwrap();

        let mut config = super::super::test_support::small_config(dir.path());
        config.wal_sync = lsm_wal::SyncMode::Always;
        let engine = Engine::open(config).unwrap();
        let syncs = || engine.stats().unwrap().wal_syncs;
        let before = syncs();
        engine
            .write_with(&batch(&[("d", "4")]), &WriteOptions::NO_SYNC)
            .unwrap();
        assert_eq!(syncs(), before, "sync: Some(false) skips the fsync");
        engine
            .write_with(&batch(&[("e", "5")]), &WriteOptions::default())
            .unwrap();
        assert_eq!(syncs(), before + 1, "Always: one fsync");
        let permit = engine.begin_write().unwrap();
        let (first, last) = permit
            .append_with(&batch(&[("f", "6")]), &WriteOptions::new().sync(false))
            .unwrap();
        permit.apply(&batch(&[("f", "6")]), first, last);
        drop(permit);
        assert_eq!(syncs(), before + 1, "the permit's append honours it too");
        assert_eq!(get(&engine, "f").as_deref(), Some("6"));
        engine.close().unwrap();
    }

    #[test]
    fn wait_for_write_permits_waits_for_a_permit_handed_out_before() {
        let (_dir, engine) = open_small();
        let permit = engine.begin_write().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                engine.wait_for_write_permits();
                tx.send(()).unwrap();
            });
            let early = rx.recv_timeout(std::time::Duration::from_millis(100));
            assert!(early.is_err(), "returned while a permit was held");
            drop(permit);
            rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        });
    }
}
