//! Fills a store with N random 16-byte keys and 100-byte values and prints
//! the write amplification: bytes written to disk (WAL + flushes +
//! compactions, from the store's own counters) over user bytes put.
//!
//! `cargo run --release -p lsm-benches --example fill_write_amp -- 1000000`

use std::time::Instant;

use anyhow::Result;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn main() -> Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::temp_dir())?;
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Never)
        .build()?;
    let store = SimpleLsmStore::open(config)?;
    let value = [b'v'; 100];
    let started = Instant::now();
    for i in 0..n {
        let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&mixed.to_be_bytes());
        key[8..].copy_from_slice(&i.to_be_bytes());
        store.put(key, value)?;
    }
    store.flush_memtable()?;
    let elapsed = started.elapsed();
    let stats = store.stats()?;
    let disk = stats.wal_bytes_written + stats.flush_bytes_written + stats.compaction_bytes_written;
    println!(
        "keys: {n}, elapsed: {elapsed:.2?}, {:.0} puts/s",
        n as f64 / elapsed.as_secs_f64()
    );
    println!(
        "user bytes: {}, wal: {}, flush: {}, compaction: {} (read {})",
        stats.user_bytes_written,
        stats.wal_bytes_written,
        stats.flush_bytes_written,
        stats.compaction_bytes_written,
        stats.compaction_bytes_read
    );
    println!(
        "write amplification: {:.2} (tables only: {:.2})",
        disk as f64 / stats.user_bytes_written as f64,
        (stats.flush_bytes_written + stats.compaction_bytes_written) as f64
            / stats.user_bytes_written as f64
    );
    for (level, l) in stats.levels.iter().enumerate() {
        if l.files > 0 {
            println!("L{level}: {} files, {} bytes", l.files, l.bytes);
        }
    }
    store.close()?;
    Ok(())
}
