//! The block cache: decoded data blocks shared by every open table, bounded
//! in bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::block::Block;

/// Lock shards of the cache. quick_cache's default (four per core) is 8 on
/// two cores; there, readers that share the cores with a writer and its
/// compactions kept finding their shard locked by a thread the scheduler had
/// just preempted, and spent most of their time yielding and parked on it
/// (`perf record -e sched:sched_switch` over `lsm bench --benchmarks
/// fillrandom,readwhilewriting`). quick_cache lowers the count for small
/// caches so that each shard still holds at least 32 blocks.
const SHARDS: usize = 256;

/// Cache key: `(table cache id, block file offset)`.
type BlockKey = (u64, u64);

/// Charges each block its in-memory size.
#[derive(Clone, Copy, Debug)]
struct BlockWeighter;

impl Weighter<BlockKey, Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &BlockKey, block: &Arc<Block>) -> u64 {
        // Never 0: a zero-weight item would never be evicted.
        (block.memory_bytes() + std::mem::size_of::<BlockKey>()) as u64
    }
}

/// A sharded, byte-bounded cache of decoded data blocks, shared across
/// tables (`Arc<BlockCache>`), keyed by `(cache_id, block offset)`.
///
/// Thread-safety: the cache is internally sharded and locked by
/// `quick_cache`; the hit and miss counters are relaxed atomics (statistics
/// only, no ordering with the cached data).
#[derive(Debug)]
pub struct BlockCache {
    blocks: Cache<BlockKey, Arc<Block>, BlockWeighter>,
    capacity_bytes: u64,
    /// Lookups answered from the cache.
    hits: AtomicU64,
    /// Lookups that had to read the file.
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache holding at most about `capacity_bytes` of decoded blocks.
    pub fn new(capacity_bytes: u64) -> Arc<BlockCache> {
        // quick_cache wants an estimate of the item count to size its table;
        // assume 4 KiB blocks.
        let estimated_items = usize::try_from(capacity_bytes / 4096)
            .unwrap_or(usize::MAX)
            .clamp(16, 1 << 20);
        let weight_capacity = capacity_bytes.max(1);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(estimated_items)
            .weight_capacity(weight_capacity)
            .shards(SHARDS)
            .build();
        let blocks = match options {
            Ok(options) => Cache::with_options(
                options,
                BlockWeighter,
                Default::default(),
                Default::default(),
            ),
            // `build` fails only when a required option is missing, and both
            // are set above; quick_cache's default sharding is the fallback.
            Err(_) => Cache::with_weighter(estimated_items, weight_capacity, BlockWeighter),
        };
        Arc::new(BlockCache {
            blocks,
            capacity_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// Lookups answered from the cache since it was created.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that missed since the cache was created.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes of blocks held now.
    pub fn used_bytes(&self) -> u64 {
        self.blocks.weight()
    }

    /// The configured capacity.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Blocks held now.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True when no block is cached.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The cached block, counting a hit or a miss.
    pub(crate) fn get(&self, cache_id: u64, offset: u64) -> Option<Arc<Block>> {
        let found = self.blocks.get(&(cache_id, offset));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches a block just read (blocks larger than the capacity are not kept).
    pub(crate) fn insert(&self, cache_id: u64, offset: u64, block: Arc<Block>) {
        self.blocks.insert((cache_id, offset), block);
    }
}
