//! `DemoStore`: the one interface the demo drives, over the two stores.

use anyhow::Context;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, StoreStats};

/// Which store implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `SimpleLsmStore`.
    Simple,
    /// `AsyncLsmStore`.
    Async,
}

impl StoreKind {
    /// The short name used in the CSV's `store` column and on the report.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Simple => "simple",
            StoreKind::Async => "async",
        }
    }

    /// The type name, for headings.
    pub fn type_name(self) -> &'static str {
        match self {
            StoreKind::Simple => "SimpleLsmStore",
            StoreKind::Async => "AsyncLsmStore",
        }
    }
}

/// An open store of either kind.
#[derive(Debug)]
pub enum DemoStore {
    /// The synchronous store.
    Simple(SimpleLsmStore),
    /// The WAL-first store with background apply, flush and compaction.
    Async(AsyncLsmStore),
}

impl DemoStore {
    /// Opens a store of `kind` with `config`.
    pub fn open(kind: StoreKind, config: LsmConfig) -> anyhow::Result<DemoStore> {
        let dir = config.dir.display().to_string();
        Ok(match kind {
            StoreKind::Simple => DemoStore::Simple(
                SimpleLsmStore::open(config)
                    .with_context(|| format!("cannot open a store in {dir}"))?,
            ),
            StoreKind::Async => DemoStore::Async(
                AsyncLsmStore::open(config)
                    .with_context(|| format!("cannot open a store in {dir}"))?,
            ),
        })
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        match self {
            DemoStore::Simple(store) => store.put(key, value).map(drop)?,
            DemoStore::Async(store) => store.put(key, value).map(drop)?,
        }
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&self, key: &[u8]) -> anyhow::Result<()> {
        match self {
            DemoStore::Simple(store) => store.delete(key).map(drop)?,
            DemoStore::Async(store) => store.delete(key).map(drop)?,
        }
        Ok(())
    }

    /// Reads `key`; returns whether it was found.
    pub fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(match self {
            DemoStore::Simple(store) => store.get(key)?.is_some(),
            DemoStore::Async(store) => store.get(key)?.is_some(),
        })
    }

    /// Reads up to `limit` live keys from `start` on; returns how many.
    pub fn scan(&self, start: &[u8], limit: usize) -> anyhow::Result<usize> {
        let iter = match self {
            DemoStore::Simple(store) => store.range(start..)?,
            DemoStore::Async(store) => store.range(start..)?,
        };
        let mut count = 0;
        for item in iter.take(limit) {
            item?;
            count += 1;
        }
        Ok(count)
    }

    /// The store's public stats.
    pub fn stats(&self) -> anyhow::Result<StoreStats> {
        Ok(match self {
            DemoStore::Simple(store) => store.stats()?,
            DemoStore::Async(store) => store.stats()?,
        })
    }

    /// Writes waiting in the apply queue (async store only).
    pub fn apply_queue_depth(&self) -> Option<usize> {
        match self {
            DemoStore::Simple(_) => None,
            DemoStore::Async(store) => Some(store.queued_writes()),
        }
    }

    /// Compaction jobs waiting to run (async store only).
    pub fn pending_compactions(&self) -> Option<usize> {
        match self {
            DemoStore::Simple(_) => None,
            DemoStore::Async(store) => Some(store.pending_compactions()),
        }
    }

    /// Closes the store (the async store applies its queue and joins its
    /// threads first).
    pub fn close(&self) -> anyhow::Result<()> {
        match self {
            DemoStore::Simple(store) => store.close()?,
            DemoStore::Async(store) => store.close()?,
        }
        Ok(())
    }
}
