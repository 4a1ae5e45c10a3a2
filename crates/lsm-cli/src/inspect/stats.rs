//! `lsm stats DIR`: open the store read-only and print its [`StoreStats`]
//! (as text, or with `--json` as one JSON object).

use std::io::Write;

use lsm_store_sync::StoreStats;
use serde::Serialize;

use super::store_dir::open_read_only;
use super::StatsArgs;
use crate::units::human_bytes;

/// What `lsm stats --json` prints.
#[derive(Serialize)]
struct StatsReport<'a> {
    /// The store directory.
    store: String,
    /// Its stats; the counters of work since open are zero (a read-only
    /// open does no work).
    stats: &'a StoreStats,
    /// The names of its keyspaces, in order (the default one has none).
    keyspaces: Vec<String>,
}

/// Opens the store in `args.dir` read-only and prints its shape.
pub(super) fn run(args: &StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_read_only(&args.dir)?;
    let stats = store.stats()?;
    if args.json {
        let report = StatsReport {
            store: args.dir.display().to_string(),
            stats: &stats,
            keyspaces: store.keyspace_names(),
        };
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "store {}", args.dir.display())?;
    write_stats(out, &stats)?;
    let keyspaces = store.keyspace_names();
    if keyspaces.is_empty() {
        writeln!(out, "keyspaces: none but the default one")?;
    } else {
        let names: Vec<String> = keyspaces.iter().map(|name| format!("{name:?}")).collect();
        writeln!(out, "keyspaces: {} ({})", keyspaces.len(), names.join(", "))?;
    }
    Ok(())
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
