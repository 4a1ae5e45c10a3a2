//! `lsm flush DIR`, `lsm compact DIR [--level N]` and `lsm checkpoint DIR
//! TARGET`: maintenance on a closed store. Each opens the store normally
//! (taking its lock, as any writer does), does the work, prints what
//! changed, and closes it.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use lsm_store_sync::{SimpleLsmStore, StoreStats};

use crate::inspect::readable::counted;
use crate::inspect::store_dir::open_store;
use crate::units::human_bytes;

/// Arguments of `lsm flush`.
#[derive(Debug, clap::Args)]
pub struct FlushArgs {
    /// The store directory.
    pub dir: PathBuf,
}

/// Arguments of `lsm compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// Compact every table of level N into level N+1, once. Default:
    /// compact the level the picker scores highest, again and again, until
    /// every score is below 1.
    #[arg(long, value_name = "N")]
    pub level: Option<usize>,
}

/// Arguments of `lsm checkpoint`.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// Where to write the checkpoint: a directory that does not exist yet
    /// (its parents are created) or is empty.
    pub target: PathBuf,
}

/// How many compactions `lsm compact` without `--level` runs at most before
/// it gives up on the picker going quiet.
const MAX_COMPACTIONS: usize = 1000;

/// Runs `lsm flush`: the memtable (the WAL's writes the tables lack) is
/// written to an L0 table, and the compactions that makes due run.
pub fn flush(args: FlushArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.dir, false)?;
    let result = (|| {
        let before = store.stats()?;
        store.flush_memtable()?;
        let after = store.stats()?;
        let mut out = io::stdout().lock();
        if after.flushes == 0 {
            writeln!(out, "nothing to flush: the memtable is empty")?;
        } else {
            writeln!(
                out,
                "flushed {} of memtable into L0 ({} written, {} run)",
                human_bytes(before.memtable_bytes as u64),
                counted(after.flushes, "table"),
                counted(after.compactions, "compaction")
            )?;
        }
        write_levels(&mut out, &after)?;
        anyhow::Ok(())
    })();
    let closed = store.close();
    result?;
    closed?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `lsm checkpoint`: the memtable is flushed, then the tables are
/// hard-linked (or copied, across file systems) into the target with a
/// manifest of their own.
pub fn checkpoint(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.dir, false)?;
    let result = (|| {
        let info = store.checkpoint(&args.target)?;
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "checkpoint of {} at sequence number {} written to {}",
            args.dir.display(),
            info.seq,
            info.dir.display()
        )?;
        writeln!(
            out,
            "{} ({}): {} hard-linked, {} copied ({})",
            counted(info.tables as u64, "table"),
            human_bytes(info.table_bytes),
            info.linked,
            info.copied,
            human_bytes(info.copied_bytes)
        )?;
        anyhow::Ok(())
    })();
    let closed = store.close();
    result?;
    closed?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `lsm compact`.
pub fn compact(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.dir, false)?;
    let result = compact_store(&store, args.level);
    let closed = store.close();
    result?;
    closed?;
    Ok(ExitCode::SUCCESS)
}

fn compact_store(store: &SimpleLsmStore, level: Option<usize>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match level {
        Some(level) => {
            store.compact_level(level)?;
            writeln!(out, "compacted L{level} into L{}", level + 1)?;
        }
        None => {
            let mut runs = 0;
            while let Some(level) = most_due(&store.stats()?) {
                if runs == MAX_COMPACTIONS {
                    anyhow::bail!(
                        "the compaction picker still scores L{level} due after {MAX_COMPACTIONS} \
                         compactions; stopped"
                    );
                }
                store.compact_level(level)?;
                writeln!(out, "compacted L{level} into L{}", level + 1)?;
                runs += 1;
            }
            if runs == 0 {
                writeln!(out, "nothing to compact: every level scores below 1")?;
            }
        }
    }
    write_levels(&mut out, &store.stats()?)?;
    Ok(())
}

/// The level with the highest score of at least 1, above the last level
/// (which has no level below it to compact into).
fn most_due(stats: &StoreStats) -> Option<usize> {
    let compactable = stats.levels.len().saturating_sub(1);
    stats.levels[..compactable]
        .iter()
        .enumerate()
        .filter(|(_, level)| level.score >= 1.0)
        .max_by(|(_, a), (_, b)| a.score.total_cmp(&b.score))
        .map(|(level, _)| level)
}

/// One line: each level's tables, bytes and score.
fn write_levels(out: &mut dyn Write, stats: &StoreStats) -> io::Result<()> {
    let levels: Vec<String> = stats
        .levels
        .iter()
        .enumerate()
        .map(|(i, level)| {
            format!(
                "L{i} {} ({}, score {:.2})",
                level.files,
                human_bytes(level.bytes),
                level.score
            )
        })
        .collect();
    writeln!(out, "levels: {}", levels.join(", "))
}
