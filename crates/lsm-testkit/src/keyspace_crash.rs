//! Range deletes and keyspace create/drop under a simulated power loss
//! (`lsm_core::fault::FaultyFileSystem::crash`: every byte not covered by
//! an fsync, and every file whose directory entry was not synced, is
//! gone), generic over [`KvStore`]. Each is one WAL record
//! (`docs/durability.md`, "Range deletes and keyspaces"), so:
//!
//! - [`synced_range_deletes_and_keyspace_changes_survive_power_loss`]:
//!   under `SyncMode::Always`, range deletes (in the default keyspace and
//!   in a named one), keyspace creates, drops and batches spanning
//!   keyspaces, with flushes between them, are all there after the power
//!   loss and after a second reopen; a dropped keyspace's name opens as a
//!   new, empty keyspace, and its old id holds nothing.
//! - [`keyspaces_around_the_one_byte_ids_survive_drops_and_power_loss`]:
//!   the same for keyspace ids 127 (whose key range ends at the prefix
//!   byte 0x80) and 128 on (two-byte prefixes).
//! - [`unsynced_range_deletes_and_keyspace_changes_are_lost_only_with_what_follows`]:
//!   under `SyncMode::Never`, with a few writes synced by the caller's
//!   `write_synced` (`WriteOptions::SYNC`), the state after each power loss
//!   is the state after a prefix of the operations that holds every
//!   synced write (and so everything before it): an unsynced range delete,
//!   create or drop is lost only together with everything after it.
//! - [`keyspace_create_and_drop_cut_short_at_every_operation`]: a create,
//!   writes into the keyspace, a flush, the drop and a flush, with the
//!   `n`-th file operation and every later one failing (for `n` = 0, 1,
//!   ... until the sequence completes), then a power loss: the store
//!   reopens, holds a prefix of the operations with every acknowledged
//!   one, and the keyspace is fully there or fully gone: its name listed
//!   if and only if its data is readable, and no keyspace id without a
//!   name holds data.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::{KeyspaceId, OsFileSystem, SeqNo, SharedFileSystem, WriteBatch};
use lsm_store_sync::{KvStore, LsmConfig, SyncMode};

/// How long a reopened store may take to make its recovered writes
/// visible.
const FENCE: Duration = Duration::from_secs(30);

/// Keyspace ids read by the orphan check in a store whose keyspaces were
/// all created by one of these tests: every id a test can have used.
const PROBED_IDS: std::ops::Range<u32> =
    KeyspaceId::FIRST_NAMED.get()..KeyspaceId::FIRST_NAMED.get() + 8;

/// One key-value map per keyspace.
type Pairs = BTreeMap<Vec<u8>, Vec<u8>>;

/// What a store shows: the default keyspace and every listed keyspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    /// The default keyspace.
    default: Pairs,
    /// Each listed keyspace, by name.
    keyspaces: BTreeMap<String, Pairs>,
}

/// One operation of a test's sequence. `None` for a keyspace means the
/// default one.
#[derive(Clone, Debug)]
enum Op {
    /// Puts `key` = `value`.
    Put(Option<&'static str>, &'static str, &'static str),
    /// One batch of puts (spanning keyspaces).
    Batch(Vec<(Option<&'static str>, &'static str, &'static str)>),
    /// Deletes `[start, end)`.
    DeleteRange(Option<&'static str>, &'static str, &'static str),
    /// Creates (opens) a keyspace.
    Create(&'static str),
    /// Drops a keyspace.
    Drop(&'static str),
    /// Flushes the memtable (changes no state).
    Flush,
}

impl State {
    fn space(&mut self, keyspace: Option<&str>) -> &mut Pairs {
        match keyspace {
            None => &mut self.default,
            Some(name) => self
                .keyspaces
                .get_mut(name)
                .expect("op on a missing keyspace"),
        }
    }

    /// The state after `op`.
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put(ks, k, v) => {
                self.space(*ks)
                    .insert(k.as_bytes().to_vec(), v.as_bytes().to_vec());
            }
            Op::Batch(puts) => {
                for (ks, k, v) in puts {
                    self.space(*ks)
                        .insert(k.as_bytes().to_vec(), v.as_bytes().to_vec());
                }
            }
            Op::DeleteRange(ks, start, end) => {
                let (start, end) = (start.as_bytes(), end.as_bytes());
                self.space(*ks)
                    .retain(|k, _| k.as_slice() < start || k.as_slice() >= end);
            }
            Op::Create(name) => {
                self.keyspaces.entry(name.to_string()).or_default();
            }
            Op::Drop(name) => {
                self.keyspaces.remove(*name);
            }
            Op::Flush => {}
        }
    }

    /// The state after `ops`, from `self`.
    fn after(&self, ops: &[Op]) -> State {
        let mut state = self.clone();
        for op in ops {
            state.apply(op);
        }
        state
    }
}

fn pairs<I, E: std::fmt::Debug>(iter: I) -> Pairs
where
    I: Iterator<Item = Result<(Vec<u8>, Vec<u8>), E>>,
{
    iter.map(|item| item.unwrap()).collect()
}

/// What `store` shows (opening a listed keyspace by name writes nothing).
fn read_state<S: KvStore>(store: &S) -> State {
    let default = pairs(store.range(Bound::Unbounded, Bound::Unbounded).unwrap());
    let mut keyspaces = BTreeMap::new();
    for name in store.keyspace_names().unwrap() {
        let id = store.open_keyspace(&name).unwrap();
        keyspaces.insert(name, scan_id(store, id));
    }
    State { default, keyspaces }
}

fn scan_id<S: KvStore>(store: &S, id: KeyspaceId) -> Pairs {
    pairs(
        store
            .range_in(id, Bound::Unbounded, Bound::Unbounded)
            .unwrap(),
    )
}

/// Asserts that no keyspace id in [`PROBED_IDS`] that is not listed holds
/// data: never data without a name.
fn assert_no_orphans<S: KvStore>(store: &S, context: &str) {
    assert_no_orphans_in(store, PROBED_IDS, context);
}

/// Asserts that no keyspace id in `ids` that is not listed holds data.
fn assert_no_orphans_in<S: KvStore>(store: &S, ids: std::ops::Range<u32>, context: &str) {
    let live: Vec<KeyspaceId> = store
        .keyspace_names()
        .unwrap()
        .iter()
        .map(|name| store.open_keyspace(name).unwrap())
        .collect();
    for id in ids.map(KeyspaceId::new).filter(|id| !live.contains(id)) {
        let found = scan_id(store, id);
        assert!(
            found.is_empty(),
            "{context}: keyspace id {id} has no name but holds {found:?}"
        );
    }
}

/// Opens `name`, which must not be listed, as a new keyspace: it must be
/// empty and not reuse `old` (the dropped keyspace's id, if it was durable);
/// then drops it again.
fn assert_reopens_empty<S: KvStore>(store: &S, name: &str, old: Option<KeyspaceId>, context: &str) {
    assert!(
        !store.keyspace_names().unwrap().iter().any(|n| n == name),
        "{context}: {name} is listed"
    );
    let id = store.open_keyspace(name).unwrap();
    assert_ne!(Some(id), old, "{context}: {name} got its old id back");
    assert_eq!(
        scan_id(store, id),
        Pairs::new(),
        "{context}: {name} reopened"
    );
    store.drop_keyspace(name).unwrap();
}

/// A write made durable before it returns (`WriteOptions::SYNC`).
type SyncedWrite<'f, S> = &'f dyn Fn(&S, &WriteBatch) -> Result<SeqNo, <S as KvStore>::Error>;

/// Runs the operations of one test against a store, keeping the ids of
/// the keyspaces it created.
struct Runner<'a, S: KvStore> {
    store: &'a S,
    ids: HashMap<&'static str, KeyspaceId>,
}

impl<'a, S: KvStore> Runner<'a, S> {
    fn new(store: &'a S) -> Self {
        Runner {
            store,
            ids: HashMap::new(),
        }
    }

    fn id(&self, keyspace: Option<&str>) -> KeyspaceId {
        keyspace.map_or(KeyspaceId::DEFAULT, |name| self.ids[name])
    }

    /// Makes `op`; a write goes through `write_synced` if given (a write
    /// made durable before it returns).
    fn run(&mut self, op: &Op, write_synced: Option<SyncedWrite<'_, S>>) -> Result<(), S::Error> {
        let mut batch = WriteBatch::new();
        match op {
            Op::Put(ks, k, v) => {
                batch.put_in(self.id(*ks), k, v);
            }
            Op::Batch(puts) => {
                for (ks, k, v) in puts {
                    batch.put_in(self.id(*ks), k, v);
                }
            }
            Op::DeleteRange(ks, start, end) => {
                batch.delete_range_in(
                    self.id(*ks),
                    Bound::Included(start.as_bytes()),
                    Bound::Excluded(end.as_bytes()),
                );
            }
            Op::Create(name) => {
                let id = self.store.open_keyspace(name)?;
                self.ids.insert(name, id);
                return Ok(());
            }
            Op::Drop(name) => {
                self.store.drop_keyspace(name)?;
                return Ok(());
            }
            Op::Flush => return self.store.flush(),
        }
        match write_synced {
            Some(write) => write(self.store, &batch).map(drop),
            None => self.store.write(&batch).map(drop),
        }
    }
}

fn config(dir: &Path, fs: &Arc<FaultyFileSystem>, sync: SyncMode) -> LsmConfig {
    LsmConfig::builder(dir)
        .wal_sync(sync)
        .num_levels(4)
        .fs(Arc::clone(fs) as SharedFileSystem)
        .build()
        .unwrap()
}

/// Opens the store and waits until every recovered write is visible.
fn open_visible<S: KvStore>(config: LsmConfig) -> S {
    let store = S::open(config).unwrap();
    let last = store.stats().unwrap().last_seq;
    assert!(
        store.wait_visible(last, FENCE),
        "recovered writes not visible"
    );
    store
}

/// A process that dies without closing its store (no final sync), then a
/// power loss.
fn lose_power<S: KvStore>(store: S, fs: &FaultyFileSystem) {
    std::mem::forget(store);
    fs.crash().unwrap();
}

fn ks(name: &'static str) -> Option<&'static str> {
    Some(name)
}

/// Under `SyncMode::Always`: range deletes (default and named keyspace),
/// creates, a drop of a flushed keyspace and batches spanning keyspaces
/// all survive a power loss, and a second reopen. See the module docs.
pub fn synced_range_deletes_and_keyspace_changes_survive_power_loss<S: KvStore>() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let mut ops: Vec<Op> = ["k00", "k04", "k05", "k09", "k10", "k14", "k15", "k20"]
        .into_iter()
        .map(|k| Op::Put(None, k, "old"))
        .collect();
    ops.extend([
        Op::Flush, // the range delete then hides keys in a table
        Op::DeleteRange(None, "k05", "k15"),
        Op::Put(None, "k10", "after the range delete"),
        Op::Create("a"),
        Op::Put(ks("a"), "a1", "1"),
        Op::Put(ks("a"), "a2", "2"),
        Op::Batch(vec![(None, "k30", "batch"), (ks("a"), "a3", "batch")]),
        Op::Create("b"),
        Op::Put(ks("b"), "b1", "1"),
        Op::Flush, // b's key in a table before its drop
        Op::Drop("b"),
        Op::DeleteRange(ks("a"), "a2", "a3"),
        Op::Put(None, "k40", "last"),
    ]);
    let store = S::open(config(dir.path(), &fs, SyncMode::Always)).unwrap();
    let mut runner = Runner::new(&store);
    for op in &ops {
        runner.run(op, None).unwrap();
    }
    let old_b = runner.ids["b"];
    lose_power(store, &fs);

    let expected = State::default().after(&ops);
    assert_eq!(expected.keyspaces.keys().collect::<Vec<_>>(), ["a"]);
    assert!(!expected.default.contains_key(b"k05".as_slice()));
    for round in 0..2 {
        let context = format!("reopen {round}");
        let store: S = open_visible(config(dir.path(), &fs, SyncMode::Always));
        assert_eq!(read_state(&store), expected, "{context}");
        assert_no_orphans(&store, &context);
        assert_eq!(
            scan_id(&store, old_b),
            Pairs::new(),
            "{context}: b's old id"
        );
        if round == 0 {
            assert_reopens_empty(&store, "b", Some(old_b), &context);
            store.close().unwrap();
        } else {
            lose_power(store, &fs);
        }
    }
}

/// Keyspace ids around the end of the one-byte prefixes (ids 2 to 131,
/// under `SyncMode::Always`): id 127, whose key range ends at the byte
/// 0x80, and ids from 128 on, whose prefixes take two bytes, are written,
/// dropped (127 and 128) and range-deleted to the end of their key space
/// (129); after a power loss, and a second reopen, the store opens and
/// holds exactly that.
pub fn keyspaces_around_the_one_byte_ids_survive_drops_and_power_loss<S: KvStore>() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let name = |id: u32| format!("ks{id:03}");
    let store = S::open(config(dir.path(), &fs, SyncMode::Always)).unwrap();
    let mut expected = State::default();
    for id in 2..=131 {
        assert_eq!(store.open_keyspace(&name(id)).unwrap(), KeyspaceId::new(id));
        let mut pairs = Pairs::new();
        if id >= 126 {
            let mut batch = WriteBatch::new();
            batch.put_in(KeyspaceId::new(id), "k", name(id));
            store.write(&batch).unwrap();
            pairs.insert(b"k".to_vec(), name(id).into_bytes());
        }
        expected.keyspaces.insert(name(id), pairs);
    }
    for id in [127, 128] {
        store.drop_keyspace(&name(id)).unwrap();
        expected.keyspaces.remove(&name(id));
    }
    let mut batch = WriteBatch::new();
    batch.delete_range_in(
        KeyspaceId::new(129),
        Bound::Included(b"a"),
        Bound::Unbounded,
    );
    store.write(&batch).unwrap();
    expected.keyspaces.insert(name(129), Pairs::new());
    let mut batch = WriteBatch::new();
    batch.put_in(KeyspaceId::new(130), "z", "after");
    let last = store.write(&batch).unwrap();
    assert!(store.wait_visible(last, FENCE));
    expected
        .keyspaces
        .get_mut(&name(130))
        .unwrap()
        .insert(b"z".to_vec(), b"after".to_vec());
    assert_eq!(read_state(&store), expected, "before the power loss");
    lose_power(store, &fs);

    for round in 0..2 {
        let context = format!("reopen {round}");
        let store: S = S::open(config(dir.path(), &fs, SyncMode::Always))
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let last = store.stats().unwrap().last_seq;
        assert!(store.wait_visible(last, FENCE));
        assert_eq!(read_state(&store), expected, "{context}");
        assert_no_orphans_in(&store, 2..140, &context);
        lose_power(store, &fs);
    }
}

/// What [`unsynced_range_deletes_and_keyspace_changes_are_lost_only_with_what_follows`]
/// found after each power loss: the length of the prefix of the round's
/// operations the store held, and the round's length.
pub type KeptPrefixes = Vec<(usize, usize)>;

/// Under `SyncMode::Never`, rounds of unsynced range deletes, creates and
/// drops with a write synced through `write_synced` among them (e.g.
/// `|s, b| s.write_with(b, &WriteOptions::SYNC)`), each ended by a power
/// loss: the store holds the state after a prefix of the round's
/// operations, at least up to its last synced write. Returns the prefixes
/// kept (see [`KeptPrefixes`]) for the caller to see that unsynced
/// operations were lost.
pub fn unsynced_range_deletes_and_keyspace_changes_are_lost_only_with_what_follows<S: KvStore>(
    write_synced: impl Fn(&S, &WriteBatch) -> Result<SeqNo, S::Error>,
) -> KeptPrefixes {
    // (operation, written synced)
    let rounds: Vec<Vec<(Op, bool)>> = vec![
        vec![
            (Op::Put(None, "d1", "1"), false),
            (Op::Put(None, "d2", "2"), false),
            (Op::Put(None, "d3", "3"), false),
            (Op::Create("a"), false),
            (Op::Put(ks("a"), "x", "1"), false),
            // Synced: it and everything before it survive.
            (Op::DeleteRange(None, "d2", "d3"), true),
            (Op::Create("b"), false),
            (Op::Put(ks("b"), "y", "1"), false),
            (Op::Drop("a"), false),
            (Op::DeleteRange(None, "d1", "d4"), false),
            (Op::Put(None, "d9", "9"), false),
        ],
        vec![
            // The lost drop again, and an unsynced range delete, covered
            // by a synced write after them.
            (Op::Drop("a"), false),
            (Op::DeleteRange(None, "d1", "d2"), false),
            (Op::Put(None, "d5", "5"), true),
            (Op::Create("c"), false),
            (
                Op::Batch(vec![(None, "d6", "6"), (ks("c"), "z", "1")]),
                false,
            ),
            (Op::DeleteRange(None, "d3", "d9"), false),
        ],
    ];
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let mut before = State::default();
    let mut kept = Vec::new();
    for (round, ops) in rounds.iter().enumerate() {
        let store: S = open_visible(config(dir.path(), &fs, SyncMode::Never));
        assert_eq!(read_state(&store), before, "round {round}: start");
        let mut runner = Runner::new(&store);
        // The ids of keyspaces made in earlier rounds.
        for name in store.keyspace_names().unwrap() {
            let id = store.open_keyspace(&name).unwrap();
            let name: &'static str = ["a", "b", "c"].into_iter().find(|n| *n == name).unwrap();
            runner.ids.insert(name, id);
        }
        for (op, synced) in ops {
            let write: SyncedWrite<'_, S> = &write_synced;
            runner.run(op, synced.then_some(write)).unwrap();
        }
        let required = ops
            .iter()
            .rposition(|(_, synced)| *synced)
            .map_or(0, |i| i + 1);
        lose_power(store, &fs);

        let store: S = open_visible(config(dir.path(), &fs, SyncMode::Never));
        let found = read_state(&store);
        let plain: Vec<Op> = ops.iter().map(|(op, _)| op.clone()).collect();
        let prefix = (required..=plain.len())
            .find(|&p| before.after(&plain[..p]) == found)
            .unwrap_or_else(|| {
                panic!(
                    "round {round}: the store after the power loss is no prefix of the \
                     operations holding the {required} up to the last synced one: {found:?}"
                )
            });
        assert_no_orphans(&store, &format!("round {round}"));
        store.close().unwrap(); // synced: the next round starts from here
        kept.push((prefix, plain.len()));
        before = found;
    }
    kept
}

/// What the store held after each cut of
/// [`keyspace_create_and_drop_cut_short_at_every_operation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutOutcomes {
    /// Cuts made (one per changing file operation of the sequence) before
    /// the sequence completed.
    pub cuts: usize,
    /// The keyspace was never created (the create was cut short).
    pub never_created: usize,
    /// The keyspace was there, with a prefix of its writes.
    pub listed: usize,
    /// The keyspace had been dropped (fully gone).
    pub dropped: usize,
}

/// A keyspace's create, writes into it (one batch spanning the default
/// keyspace), a flush, its drop and a flush, under `SyncMode::Always`,
/// cut short at each file operation in turn (that one and every later one
/// fail with EIO), then a power loss. After each cut the store reopens
/// holding a prefix of the operations with every acknowledged one; the
/// keyspace is listed if and only if its data is readable (and then it is
/// the keyspace its create returned, holding its writes of the prefix),
/// no id without a name holds data, and its name, when not listed, opens
/// as a new, empty keyspace. Returns what the cuts left, for the caller to
/// check every case was reached.
pub fn keyspace_create_and_drop_cut_short_at_every_operation<S: KvStore>() -> CutOutcomes {
    let base: Vec<Op> = ["d0", "d1", "d2", "d3"]
        .into_iter()
        .map(|k| Op::Put(None, k, "base"))
        .chain([Op::Flush])
        .collect();
    let ops = vec![
        Op::Create("ks"),
        Op::Put(ks("ks"), "k1", "1"),
        Op::Put(ks("ks"), "k2", "2"),
        Op::Batch(vec![(None, "d9", "with k3"), (ks("ks"), "k3", "3")]),
        Op::DeleteRange(ks("ks"), "k2", "k3"),
        Op::Flush,
        Op::Drop("ks"),
        Op::Flush, // the dropped keyspace's table is deleted
    ];
    let start = State::default().after(&base);
    let mut outcomes = CutOutcomes::default();
    for n in 0..1000 {
        let context = format!("cut at operation {n}");
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let store = S::open(config(dir.path(), &fs, SyncMode::Always)).unwrap();
        let mut runner = Runner::new(&store);
        for op in &base {
            runner.run(op, None).unwrap();
        }
        fs.fail_after(Some(n));
        let mut acked = 0;
        for op in &ops {
            if runner.run(op, None).is_err() {
                break;
            }
            acked += 1;
        }
        let created = runner.ids.get("ks").copied();
        let _ = store.close(); // fails too once the cut came
        drop(store);
        fs.crash().unwrap();
        fs.fail_after(None);

        let store: S = open_visible(config(dir.path(), &fs, SyncMode::Always));
        let found = read_state(&store);
        // Every acknowledged operation, and at most the one cut short.
        let attempted = (acked + 1).min(ops.len());
        let prefix = (acked..=attempted)
            .find(|&p| start.after(&ops[..p]) == found)
            .unwrap_or_else(|| {
                panic!(
                    "{context}: {acked} operations acknowledged, and the store holds no \
                     prefix of at least those: {found:?}"
                )
            });
        assert_no_orphans(&store, &context);
        if found.keyspaces.contains_key("ks") {
            let id = store.open_keyspace("ks").unwrap();
            if let Some(created) = created {
                assert_eq!(id, created, "{context}: the keyspace's id changed");
            }
            outcomes.listed += 1;
        } else {
            assert_reopens_empty(&store, "ks", None, &context);
            if prefix == 0 {
                outcomes.never_created += 1;
            } else {
                outcomes.dropped += 1;
                if let Some(created) = created {
                    assert_eq!(scan_id(&store, created), Pairs::new(), "{context}");
                }
            }
        }
        store.close().unwrap();
        if acked == ops.len() {
            outcomes.cuts = n as usize;
            return outcomes;
        }
    }
    panic!("the sequence never completed in 1000 operations");
}
