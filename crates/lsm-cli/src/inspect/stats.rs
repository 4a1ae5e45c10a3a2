//! `lsm stats DIR`: open the store, print its [`StoreStats`], close it.

use std::io::Write;

use lsm_store_sync::StoreStats;

use super::store_dir::open_store;
use super::StatsArgs;
use crate::units::human_bytes;

/// Opens the store in `args.dir`, prints its shape and closes it.
pub(super) fn run(args: &StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_store(&args.dir, false)?;
    let stats = store.stats()?;
    store.close()?;
    writeln!(out, "store {}", args.dir.display())?;
    write_stats(out, &stats)
}

fn write_stats(out: &mut dyn Write, stats: &StoreStats) -> anyhow::Result<()> {
    writeln!(
        out,
        "levels ({} tables, {}):",
        stats.total_files(),
        human_bytes(stats.total_table_bytes())
    )?;
    writeln!(
        out,
        "  {:<5}  {:>6}  {:>10}  {:>6}",
        "level", "tables", "bytes", "score"
    )?;
    for (level, shape) in stats.levels.iter().enumerate() {
        writeln!(
            out,
            "  {:<5}  {:>6}  {:>10}  {:>6.2}",
            format!("L{level}"),
            shape.files,
            human_bytes(shape.bytes),
            shape.score
        )?;
    }
    writeln!(
        out,
        "memtable: {} active, {} frozen ({})",
        human_bytes(stats.memtable_bytes as u64),
        stats.immutable_memtables,
        human_bytes(stats.immutable_bytes as u64)
    )?;
    writeln!(
        out,
        "WAL: {} segments, {}",
        stats.wal_segments,
        human_bytes(stats.wal_bytes)
    )?;
    writeln!(
        out,
        "sequence numbers: last {}, visible {}",
        stats.last_seq, stats.visible_seq
    )?;
    writeln!(out, "live snapshots: {}", stats.live_snapshots)?;
    Ok(())
}
