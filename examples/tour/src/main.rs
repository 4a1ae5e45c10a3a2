//! A tour of the engine: fills a store in a temporary directory until it
//! has flushed and compacted several times, printing the tree's shape as it
//! grows, then reads, scans, deletes, reopens and checks everything.
//!
//! `cargo run --release -p lsm-tour`
//!
//! (A package of its own rather than an example of `lsm-store-sync`, so a
//! release build of it does not compile that crate's dev-dependencies.)

use std::time::Instant;

use lsm_store_sync::{LsmConfig, SimpleLsmStore, StoreStats, SyncMode};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn shape(stats: &StoreStats) -> String {
    let levels: Vec<String> = stats
        .levels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.files > 0)
        .map(|(i, l)| format!("L{i}:{} files/{} KiB", l.files, l.bytes / 1024))
        .collect();
    format!(
        "memtable {:>5} KiB | flushes {:>3} | compactions {:>3} | {}",
        stats.memtable_bytes / 1024,
        stats.flushes,
        stats.compactions,
        if levels.is_empty() {
            "no tables yet".to_string()
        } else {
            levels.join("  ")
        }
    )
}

fn main() -> AnyResult<()> {
    let dir = tempfile::tempdir()?;
    println!("store directory: {}", dir.path().display());
    let config = || {
        LsmConfig::builder(dir.path())
            .memtable_bytes(1 << 20)
            .table_target_bytes(1 << 20)
            .base_level_bytes(4 << 20)
            .wal_sync(SyncMode::Never)
            .build()
    };
    let store = SimpleLsmStore::open(config()?)?;
    let keys = 300_000u64;
    let started = Instant::now();
    for i in 0..keys {
        // 7919 is prime and does not divide `keys`: i -> k is a permutation.
        let k = (i * 7919) % keys;
        store.put(
            format!("user{k:08}"),
            format!("profile-{k}-{}", "x".repeat(64)),
        )?;
        if i % 50_000 == 0 && i > 0 {
            println!("{i:>7} puts  {}", shape(&store.stats()?));
        }
    }
    let elapsed = started.elapsed();
    println!(
        "wrote {keys} puts in {elapsed:.2?} ({:.0} puts/s, WAL not synced)",
        keys as f64 / elapsed.as_secs_f64()
    );
    println!("final      {}", shape(&store.stats()?));

    let probe = "user00000042";
    println!(
        "get {probe} -> {:?}",
        store
            .get(probe)?
            .map(|v| String::from_utf8_lossy(&v[..12]).into_owned())
    );
    let first: Vec<String> = store
        .range("user00001000".."user00001005")?
        .map(|item| item.map(|(k, _)| String::from_utf8_lossy(&k).into_owned()))
        .collect::<Result<_, _>>()?;
    println!("range user00001000..user00001005 -> {first:?}");
    let snapshot = store.snapshot()?;
    store.delete(probe)?;
    println!(
        "after delete: get -> {:?}, snapshot still sees it: {}",
        store.get(probe)?,
        snapshot.get(probe)?.is_some()
    );
    drop(snapshot);

    store.close()?;
    drop(store);
    let reopened = SimpleLsmStore::open(config()?)?;
    let mut live = 0u64;
    for item in reopened.range(..)? {
        item?;
        live += 1;
    }
    println!(
        "reopened: {live} live keys (expected {}), {}",
        keys - 1,
        shape(&reopened.stats()?)
    );
    if live != keys - 1 {
        return Err("reopened store lost keys".into());
    }
    Ok(())
}
