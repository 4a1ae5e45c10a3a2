//! The one small adapter every benchmarked engine implements ([`KvEngine`]),
//! the engines `lsm bench` knows ([`EngineKind`]) and the knobs they share
//! ([`EngineSettings`]).
//!
//! Durability is chosen when an engine is opened, not per write, because
//! `SimpleLsmStore` and `AsyncLsmStore` take their WAL sync policy from
//! their configuration: the runner reopens the engine with `durable = true`
//! for `fillsync1` and `fillsync` and with `durable = false` (the
//! `--wal-sync` policy, default no sync, as db_bench) for everything else.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvStore, LsmConfig, SimpleLsmStore, SyncMode};

use crate::UsageError;

/// A key-value engine as the benchmarks see it. `Send + Sync`: the
/// multi-threaded workloads share one engine between threads. The two lsm
/// stores get it from their shared `KvStore` trait ([`LsmEngine`]); the
/// peers implement it in `peers.rs`.
pub trait KvEngine: Send + Sync {
    /// The engine's name in reports (`lsm-sync`, `rocksdb`, ...).
    fn name(&self) -> &'static str;
    /// Sets `key` to `value`, durable per how the engine was opened.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// The value of `key`, or `None`. Sees every write [`KvEngine::settle`]
    /// waited for; for `lsm-async` a write not yet settled may be missed.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Visits up to `limit` entries in key order from the first key `>=
    /// start`; returns how many it visited.
    fn scan(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize>;
    /// Waits until every acknowledged write is visible to reads and, as far
    /// as the engine lets us see, its background flushes and compactions
    /// have drained. Called after each writing workload, outside the timed
    /// operations but inside the write-amplification window.
    fn settle(&self) -> Result<()>;
    /// Closes the engine, syncing what it has to.
    fn close(self: Box<Self>) -> Result<()>;
}

/// The engines `lsm bench --engine` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// `SimpleLsmStore`: flushes and compacts on the writing thread.
    LsmSync,
    /// `AsyncLsmStore`: WAL-first writes, background apply/flush/compaction.
    LsmAsync,
    /// RocksDB through the `rocksdb` crate (`peers` feature).
    #[cfg(feature = "peers")]
    RocksDb,
    /// fjall 3 (`peers` feature).
    #[cfg(feature = "peers")]
    Fjall,
    /// sled 0.34 (`peers` feature).
    #[cfg(feature = "peers")]
    Sled,
    /// redb 4, a copy-on-write B-tree (`peers` feature): the read anchor.
    #[cfg(feature = "peers")]
    Redb,
}

/// Names of the peer engines, accepted only with the `peers` feature.
const PEER_NAMES: [&str; 4] = ["rocksdb", "fjall", "sled", "redb"];

impl EngineKind {
    /// Every engine this build can run.
    pub const ALL: &'static [EngineKind] = &[
        EngineKind::LsmSync,
        EngineKind::LsmAsync,
        #[cfg(feature = "peers")]
        EngineKind::RocksDb,
        #[cfg(feature = "peers")]
        EngineKind::Fjall,
        #[cfg(feature = "peers")]
        EngineKind::Sled,
        #[cfg(feature = "peers")]
        EngineKind::Redb,
    ];

    /// The engine's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::LsmSync => "lsm-sync",
            EngineKind::LsmAsync => "lsm-async",
            #[cfg(feature = "peers")]
            EngineKind::RocksDb => "rocksdb",
            #[cfg(feature = "peers")]
            EngineKind::Fjall => "fjall",
            #[cfg(feature = "peers")]
            EngineKind::Sled => "sled",
            #[cfg(feature = "peers")]
            EngineKind::Redb => "redb",
        }
    }

    /// True for this crate's own stores (`lsm-sync`, `lsm-async`), false
    /// for the peers.
    pub fn is_lsm(self) -> bool {
        matches!(self, EngineKind::LsmSync | EngineKind::LsmAsync)
    }

    /// Parses a comma-separated `--engine` list; errors name the bad entry.
    pub fn parse_list(list: &str) -> Result<Vec<EngineKind>> {
        let mut engines = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(kind) = EngineKind::ALL.iter().find(|k| k.name() == name) else {
                if PEER_NAMES.contains(&name) {
                    bail!(
                        "engine `{name}` needs the `peers` feature \
                         (cargo run --release -p lsm-cli --features peers -- bench ...)"
                    );
                }
                let known: Vec<&str> = EngineKind::ALL.iter().map(|k| k.name()).collect();
                bail!(
                    "unknown engine `{name}` in --engine (known: {})",
                    known.join(", ")
                );
            };
            if !engines.contains(kind) {
                engines.push(*kind);
            }
        }
        if engines.is_empty() {
            bail!("--engine names no engine");
        }
        Ok(engines)
    }

    /// Opens (creating) the engine's store in `dir`. With `durable`, every
    /// put is synced before it returns (`SyncMode::Always` or the peer's
    /// sync option); otherwise writes follow `settings.wal_sync`.
    pub fn open(
        self,
        dir: &Path,
        settings: &EngineSettings,
        durable: bool,
    ) -> Result<Box<dyn KvEngine>> {
        match self {
            EngineKind::LsmSync => {
                LsmEngine::<SimpleLsmStore>::open(self.name(), settings.lsm_config(dir, durable)?)
            }
            EngineKind::LsmAsync => {
                LsmEngine::<AsyncLsmStore>::open(self.name(), settings.lsm_config(dir, durable)?)
            }
            #[cfg(feature = "peers")]
            EngineKind::RocksDb => super::peers::open_rocksdb(dir, settings, durable),
            #[cfg(feature = "peers")]
            EngineKind::Fjall => super::peers::open_fjall(dir, settings, durable),
            #[cfg(feature = "peers")]
            EngineKind::Sled => super::peers::open_sled(dir, settings, durable),
            #[cfg(feature = "peers")]
            EngineKind::Redb => super::peers::open_redb(dir, settings, durable),
        }
    }
}

/// The knobs every engine is given, mapped onto each one's nearest option.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Memtable / write buffer size in bytes.
    pub memtable_bytes: usize,
    /// Bloom filter bits per key (0 = no filters).
    pub bloom_bits: u32,
    /// Block cache bytes.
    pub block_cache_bytes: u64,
    /// WAL sync policy of the non-durable workloads (lsm engines only; the
    /// peers never sync outside `fillsync1` and `fillsync`).
    pub wal_sync: SyncMode,
}

impl EngineSettings {
    /// Checks the settings against the lsm engines' accepted ranges (a
    /// [`UsageError`] naming the first one out of range), before any
    /// engine runs: a child process's usage error would reach the user as
    /// the parent's plain failure (exit status 1).
    pub fn validate_for_lsm(&self) -> Result<()> {
        self.lsm_config(Path::new("."), false).map(drop)
    }

    fn lsm_config(&self, dir: &Path, durable: bool) -> Result<LsmConfig> {
        let sync = if durable {
            SyncMode::Always
        } else {
            self.wal_sync
        };
        LsmConfig::builder(dir)
            .memtable_bytes(self.memtable_bytes)
            .bloom_bits_per_key(self.bloom_bits)
            .block_cache_bytes(self.block_cache_bytes)
            .wal_sync(sync)
            .build()
            .map_err(|err| UsageError(format!("bad engine settings: {err}")).into())
    }
}

/// How long `settle` waits for an lsm store's watermark and background
/// work before giving up with an error.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Either lsm store behind [`KvEngine`], through the stores' shared
/// `KvStore` trait.
struct LsmEngine<S> {
    name: &'static str,
    store: S,
}

/// A range scan as a reader after speed would write it: each pair
/// borrowed from the iterator (`next_borrowed`), no allocation or copy per
/// entry (the peers' scans likewise use what their APIs make cheapest:
/// slices, guards or owned buffers).
trait BorrowedScan {
    /// Visits up to `limit` pairs from `start` on; returns how many.
    fn scan_borrowed(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize>;
}

/// The same loop for both stores, whose iterators differ in their error
/// type only.
macro_rules! borrowed_scan {
    ($store:ty) => {
        impl BorrowedScan for $store {
            fn scan_borrowed(
                &self,
                start: &[u8],
                limit: usize,
                visit: &mut dyn FnMut(&[u8], &[u8]),
            ) -> Result<usize> {
                let mut iter = self.range(start.to_vec()..)?;
                let mut visited = 0;
                while visited < limit {
                    let Some(item) = iter.next_borrowed() else {
                        break;
                    };
                    let (key, value) = item?;
                    visit(key, value);
                    visited += 1;
                }
                Ok(visited)
            }
        }
    };
}

borrowed_scan!(SimpleLsmStore);
borrowed_scan!(AsyncLsmStore);

impl<S: KvStore + BorrowedScan + 'static> LsmEngine<S> {
    fn open(name: &'static str, config: LsmConfig) -> Result<Box<dyn KvEngine>> {
        let dir = config.dir.display().to_string();
        let store = S::open(config).with_context(|| format!("opening {name} in {dir}"))?;
        Ok(Box::new(LsmEngine { name, store }))
    }
}

impl<S: KvStore + BorrowedScan> KvEngine for LsmEngine<S> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.store.put(key, value)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.store.get(key)?)
    }

    fn scan(
        &self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        self.store.scan_borrowed(start, limit, visit)
    }

    /// Fences on the last WAL sequence number; then, for a store with
    /// background work (`lsm-async`), polls until the apply queue, the
    /// frozen memtables and the pending compactions are empty and no level
    /// is due for compaction (a running compaction keeps its level due
    /// until it installs, and one the last flush made due may not be
    /// queued yet: before this looked only at pending jobs, and the async
    /// store's overwrite write amplification read anywhere from 1.92 to
    /// 2.51 depending on whether a compaction was still running). A store
    /// without (`lsm-sync`) finished its flushes and compactions inside
    /// its calls.
    fn settle(&self) -> Result<()> {
        let started = Instant::now();
        let last = self.store.stats()?.last_seq;
        if !self.store.wait_visible(last, SETTLE_TIMEOUT) {
            bail!(
                "{}: writes up to seq {last} not visible after {SETTLE_TIMEOUT:?}",
                self.name
            );
        }
        while let Some(backlog) = self.store.backlog() {
            let stats = self.store.stats()?;
            let due = stats.levels.iter().any(|level| level.score >= 1.0);
            if backlog.is_empty() && stats.immutable_memtables == 0 && !due {
                return Ok(());
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                bail!(
                    "{}: background work still pending after {SETTLE_TIMEOUT:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(self.store.close()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_lists_parse_and_reject_unknown_names() {
        assert_eq!(
            EngineKind::parse_list("lsm-sync, lsm-async,lsm-sync").unwrap(),
            [EngineKind::LsmSync, EngineKind::LsmAsync]
        );
        let err = EngineKind::parse_list("lsm-sync,nope")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nope`"), "{err}");
        assert!(EngineKind::parse_list(",").is_err());
        #[cfg(not(feature = "peers"))]
        assert!(EngineKind::parse_list("rocksdb")
            .unwrap_err()
            .to_string()
            .contains("peers"));
    }
}
