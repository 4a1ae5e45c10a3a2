//! RocksDB, fjall, sled and redb behind [`KvEngine`] (the `peers` cargo
//! feature), configured as close to the lsm engines as their options allow:
//!
//! | setting | lsm-sync / lsm-async | rocksdb | fjall | sled | redb |
//! |---|---|---|---|---|---|
//! | memtable | `--memtable-bytes` | `write_buffer_size` | keyspace `max_memtable_size` | n/a (no memtable) | n/a (B-tree) |
//! | memtables held | lsm-async: 1 active + up to 2 frozen (`MAX_IMMUTABLE_MEMTABLES`); lsm-sync: 1 active + the one its writer flushes | `max_write_buffer_number` 3 (default 2) | default | n/a | n/a |
//! | bloom | `--bloom-bits` per key | full filter, same bits/key | `BitsPerKey`, same bits | n/a (no filters) | n/a |
//! | block cache | `--block-cache-bytes` | LRU cache of that size | `cache_size` | `cache_capacity` | `set_cache_size` |
//! | block size | 4 KiB | 4 KiB | 4 KiB (default) | n/a | 4 KiB pages |
//! | compression | off | `None` (built without codecs) | data and index blocks off | `use_compression(false)` | none |
//! | WAL | on, sync per `--wal-sync` (default never) | on, `sync = false` | journal on, written to the OS per write, not synced | log on, `flush_every_ms(None)`: no periodic fsync | no WAL: one transaction per put, `Durability::None` (written, not synced) |
//! | fillsync1, fillsync | `SyncMode::Always` | `WriteOptions::set_sync(true)` | `persist(SyncData)` after each put | `flush()` after each put | `Durability::Immediate` per put |
//! | compaction | leveled, L0 trigger 4, L1 256 MiB, x10, 64 MiB tables | leveled defaults (the same numbers) | leveled default | n/a (B-tree) | n/a (B-tree) |
//!
//! Reads use what each API makes cheapest, as the lsm engines' do: RocksDB
//! gets through one `ReadOptions` kept with the database into a pinned
//! slice (the crate's plain `get` creates and frees a C++ `ReadOptions`
//! per call) and scans with a raw iterator's borrowed keys and values (its
//! `iterator()` copies each pair into two new boxes). Each get returns one
//! owned copy of the value, in every engine.
//!
//! Everything else is each engine's default. `settle` (inside the
//! write-amplification window, as for the lsm engines) waits for RocksDB's
//! background flushes and compactions with `wait_for_compact` (not
//! flushing its active memtable, which the lsm engines' settle does not
//! flush either), and for nothing on fjall, sled and redb: their reads see
//! writes at once, and they expose no wait for their background work.
//!
//! The synced puts are not all the same promise. The lsm engines, RocksDB,
//! fjall and redb fdatasync (or fsync). sled's `flush()` calls
//! `sync_file_range`, which writes the pages out but neither flushes the
//! disk's write cache nor commits the file's new size; on a loop-mounted
//! ext4 cut with `EXT4_IOC_SHUTDOWN` (`NOLOGFLUSH`), none of its flushed
//! inserts survived. The summary therefore leaves sled out of the durable
//! fills' best peer (`summary::survives_power_cut`).

use std::path::Path;

use anyhow::{Context, Result};

use super::engine::{EngineSettings, KvEngine};

/// Opens RocksDB in `dir`.
pub fn open_rocksdb(
    dir: &Path,
    settings: &EngineSettings,
    durable: bool,
) -> Result<Box<dyn KvEngine>> {
    let mut table = rocksdb::BlockBasedOptions::default();
    let cache = rocksdb::Cache::new_lru_cache(usize::try_from(settings.block_cache_bytes)?);
    table.set_block_cache(&cache);
    table.set_block_size(4096);
    if settings.bloom_bits > 0 {
        table.set_bloom_filter(f64::from(settings.bloom_bits), false);
    }
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.set_write_buffer_size(settings.memtable_bytes);
    // The async lsm store holds up to three memtables (one active, two
    // frozen waiting for the flusher) before writers wait: the same budget.
    options.set_max_write_buffer_number(3);
    options.set_compression_type(rocksdb::DBCompressionType::None);
    options.set_block_based_table_factory(&table);
    let db = rocksdb::DB::open(&options, dir)
        .with_context(|| format!("opening rocksdb in {}", dir.display()))?;
    let mut write = rocksdb::WriteOptions::default();
    write.set_sync(durable);
    let read = rocksdb::ReadOptions::default();
    Ok(Box::new(RocksDbEngine { db, write, read }))
}

/// The longest [`KvEngine::settle`] waits for RocksDB's background work.
const ROCKSDB_SETTLE_TIMEOUT_US: u64 = 120_000_000;

/// RocksDB behind [`KvEngine`].
struct RocksDbEngine {
    db: rocksdb::DB,
    write: rocksdb::WriteOptions,
    read: rocksdb::ReadOptions,
}

impl KvEngine for RocksDbEngine {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.db.put_opt(key, value, &self.write)?)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self.db.get_pinned_opt(key, &self.read)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        let mut iter = self.db.raw_iterator();
        iter.seek(start);
        let mut visited = 0;
        while visited < limit {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                break;
            };
            visit(key, value);
            visited += 1;
            iter.next();
        }
        // A raw iterator stops (`key()` is `None`) on an error too.
        iter.status()?;
        Ok(visited)
    }

    /// Waits for the flushes and compactions the workload left running or
    /// queued (at most [`ROCKSDB_SETTLE_TIMEOUT_US`]), so that RocksDB's
    /// write amplification counts them, as the lsm engines' figures count
    /// theirs.
    /// Before this waited for nothing, and RocksDB's fillrandom write
    /// amplification read 1.97 or 2.11 depending on whether its second
    /// flush had finished when the workload's last put returned.
    fn settle(&self) -> Result<()> {
        let mut options = rocksdb::WaitForCompactOptions::default();
        options.set_timeout(ROCKSDB_SETTLE_TIMEOUT_US);
        Ok(self.db.wait_for_compact(&options)?)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }
}

/// Opens fjall in `dir` (one keyspace, `bench`).
pub fn open_fjall(
    dir: &Path,
    settings: &EngineSettings,
    durable: bool,
) -> Result<Box<dyn KvEngine>> {
    use fjall::config::{
        BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry,
    };

    let db = fjall::Database::builder(dir)
        .cache_size(settings.block_cache_bytes)
        .open()
        .with_context(|| format!("opening fjall in {}", dir.display()))?;
    let memtable_bytes = settings.memtable_bytes as u64;
    let filter = if settings.bloom_bits > 0 {
        FilterPolicy::all(FilterPolicyEntry::Bloom(
            BloomConstructionPolicy::BitsPerKey(settings.bloom_bits as f32),
        ))
    } else {
        FilterPolicy::disabled()
    };
    let keyspace = db.keyspace("bench", move || {
        fjall::KeyspaceCreateOptions::default()
            .max_memtable_size(memtable_bytes)
            .filter_policy(filter)
            .data_block_compression_policy(CompressionPolicy::disabled())
            .index_block_compression_policy(CompressionPolicy::disabled())
    })?;
    Ok(Box::new(FjallEngine {
        db,
        keyspace,
        durable,
    }))
}

/// fjall behind [`KvEngine`].
struct FjallEngine {
    db: fjall::Database,
    keyspace: fjall::Keyspace,
    durable: bool,
}

impl KvEngine for FjallEngine {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.keyspace.insert(key, value)?;
        if self.durable {
            self.db.persist(fjall::PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.keyspace.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        let mut visited = 0;
        for guard in self.keyspace.range(start..).take(limit) {
            let (key, value) = guard.into_inner()?;
            visit(&key, &value);
            visited += 1;
        }
        Ok(visited)
    }

    fn settle(&self) -> Result<()> {
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}

/// Opens sled in `dir`.
pub fn open_sled(
    dir: &Path,
    settings: &EngineSettings,
    durable: bool,
) -> Result<Box<dyn KvEngine>> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(settings.block_cache_bytes)
        .use_compression(false)
        .flush_every_ms(None)
        .open()
        .with_context(|| format!("opening sled in {}", dir.display()))?;
    Ok(Box::new(SledEngine { db, durable }))
}

/// sled behind [`KvEngine`].
struct SledEngine {
    db: sled::Db,
    durable: bool,
}

impl KvEngine for SledEngine {
    fn name(&self) -> &'static str {
        "sled"
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value)?;
        if self.durable {
            self.db.flush()?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        let mut visited = 0;
        for item in self.db.range(start..).take(limit) {
            let (key, value) = item?;
            visit(&key, &value);
            visited += 1;
        }
        Ok(visited)
    }

    fn settle(&self) -> Result<()> {
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

/// The one table the redb engine writes.
const REDB_TABLE: redb::TableDefinition<'static, &[u8], &[u8]> =
    redb::TableDefinition::new("bench");

/// Opens redb in `dir` (one file, `bench.redb`).
pub fn open_redb(
    dir: &Path,
    settings: &EngineSettings,
    durable: bool,
) -> Result<Box<dyn KvEngine>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("bench.redb");
    let db = redb::Builder::new()
        .set_cache_size(usize::try_from(settings.block_cache_bytes)?)
        .create(&path)
        .with_context(|| format!("opening redb in {}", path.display()))?;
    let setup = db.begin_write()?;
    setup.open_table(REDB_TABLE)?;
    setup.commit()?;
    Ok(Box::new(RedbEngine { db, durable }))
}

/// redb behind [`KvEngine`].
struct RedbEngine {
    db: redb::Database,
    durable: bool,
}

impl KvEngine for RedbEngine {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        if !self.durable {
            txn.set_durability(redb::Durability::None)?;
        }
        {
            let mut table = txn.open_table(REDB_TABLE)?;
            table.insert(key, value)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        use redb::ReadableDatabase;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REDB_TABLE)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        use redb::ReadableDatabase;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REDB_TABLE)?;
        let mut visited = 0;
        for item in table.range(start..)?.take(limit) {
            let (key, value) = item?;
            visit(key.value(), value.value());
            visited += 1;
        }
        Ok(visited)
    }

    fn settle(&self) -> Result<()> {
        Ok(())
    }

    /// Commits one empty transaction with `Immediate` durability, which
    /// syncs everything the `None` transactions before it wrote.
    fn close(self: Box<Self>) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.commit()?;
        Ok(())
    }
}
