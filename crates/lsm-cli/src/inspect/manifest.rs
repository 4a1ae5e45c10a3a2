//! `lsm inspect manifest DIR`: the live manifest's records, then the levels,
//! files and counters they add up to.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use lsm_core::OsFileSystem;
use lsm_manifest::{read_manifest, table_file_name, FileMeta, VersionEdit};
use serde::Serialize;

use super::readable::{counted, internal_key_text, tree_key_text};
use super::store_dir::require_store;
use crate::units::human_bytes;

/// Arguments of `lsm inspect manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// The store directory (the manifest is the one `CURRENT` names).
    pub dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `inspect manifest --json` prints: the same facts as the text.
#[derive(Serialize)]
struct ManifestReport {
    path: PathBuf,
    file_bytes: u64,
    records: Vec<RecordReport>,
    /// The damaged last record recovery drops, if any.
    dropped_tail: Option<DroppedTailReport>,
    levels: Vec<LevelReport>,
    next_file_number: u64,
    last_seq: u64,
    oldest_wal_segment: u64,
}

#[derive(Serialize)]
struct RecordReport {
    offset: u64,
    bytes: u64,
    /// `snapshot` or `edit`.
    kind: &'static str,
    next_file_number: Option<u64>,
    last_seq: Option<u64>,
    oldest_wal_segment: Option<u64>,
    added: Vec<TableReport>,
    removed: Vec<RemovedReport>,
    /// Range deletes the edit adds to the catalog.
    added_range_tombstones: Vec<RangeTombstoneReport>,
    /// Sequence numbers of range deletes the edit removes.
    removed_range_tombstones: Vec<u64>,
}

#[derive(Serialize)]
struct RangeTombstoneReport {
    seq: u64,
    start: String,
    end: String,
}

#[derive(Serialize)]
struct RemovedReport {
    level: usize,
    table: String,
}

#[derive(Serialize)]
struct DroppedTailReport {
    offset: u64,
    bytes: u64,
    reason: String,
}

#[derive(Serialize)]
struct LevelReport {
    level: usize,
    bytes: u64,
    tables: Vec<TableReport>,
}

#[derive(Serialize)]
struct TableReport {
    level: usize,
    table: String,
    file_bytes: u64,
    /// Internal keys as `user_key@seq:Kind`.
    smallest_key: String,
    largest_key: String,
    min_seq: u64,
    max_seq: u64,
    entries: u64,
    tombstones: u64,
}

fn table_report(level: usize, meta: &FileMeta) -> TableReport {
    TableReport {
        level,
        table: table_file_name(meta.number),
        file_bytes: meta.file_bytes,
        smallest_key: internal_key_text(meta.smallest.as_bytes()),
        largest_key: internal_key_text(meta.largest.as_bytes()),
        min_seq: meta.min_seq,
        max_seq: meta.max_seq,
        entries: meta.entries,
        tombstones: meta.tombstones,
    }
}

fn json_report(dump: &lsm_manifest::ManifestDump) -> ManifestReport {
    let version = &dump.version;
    ManifestReport {
        path: dump.path.clone(),
        file_bytes: dump.file_bytes,
        records: dump
            .records
            .iter()
            .map(|record| RecordReport {
                offset: record.offset,
                bytes: record.framed_bytes,
                kind: if record.is_snapshot {
                    "snapshot"
                } else {
                    "edit"
                },
                next_file_number: record.edit.next_file_number,
                last_seq: record.edit.last_seq,
                oldest_wal_segment: record.edit.wal_segment,
                added: record
                    .edit
                    .added
                    .iter()
                    .map(|(level, meta)| table_report(*level, meta))
                    .collect(),
                removed: record
                    .edit
                    .removed
                    .iter()
                    .map(|(level, number)| RemovedReport {
                        level: *level,
                        table: table_file_name(*number),
                    })
                    .collect(),
                added_range_tombstones: record
                    .edit
                    .added_range_tombstones
                    .iter()
                    .map(|t| RangeTombstoneReport {
                        seq: t.seq,
                        start: tree_key_text(&t.start),
                        end: tree_key_text(&t.end),
                    })
                    .collect(),
                removed_range_tombstones: record.edit.removed_range_tombstones.clone(),
            })
            .collect(),
        dropped_tail: dump.dropped_tail.as_ref().map(|tail| DroppedTailReport {
            offset: tail.offset,
            bytes: tail.bytes,
            reason: tail.reason.to_string(),
        }),
        levels: (0..version.num_levels())
            .map(|level| LevelReport {
                level,
                bytes: version.level_bytes(level),
                tables: version
                    .files_at(level)
                    .iter()
                    .map(|meta| table_report(level, meta))
                    .collect(),
            })
            .collect(),
        next_file_number: dump.next_file_number,
        last_seq: dump.last_seq,
        oldest_wal_segment: dump.wal_segment,
    }
}

/// Prints the live manifest of the store in `args.dir`.
pub(super) fn run(args: &ManifestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = &args.dir;
    require_store(dir)?;
    let dump = read_manifest(&OsFileSystem, dir)
        .with_context(|| format!("cannot read the manifest of {}", dir.display()))?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &json_report(&dump))?;
        writeln!(out)?;
        return Ok(());
    }

    writeln!(
        out,
        "manifest {} ({} bytes, {})",
        dump.path.display(),
        dump.file_bytes,
        counted(dump.records.len() as u64, "record")
    )?;
    writeln!(out, "records:")?;
    for record in &dump.records {
        let what = if record.is_snapshot {
            "snapshot"
        } else {
            "edit"
        };
        writeln!(
            out,
            "  offset {}, {} bytes: {what}{}",
            record.offset,
            record.framed_bytes,
            counters_text(&record.edit)
        )?;
        for (level, meta) in &record.edit.added {
            writeln!(out, "    + L{level} {}", file_text(meta))?;
        }
        for (level, number) in &record.edit.removed {
            writeln!(out, "    - L{level} {}", table_file_name(*number))?;
        }
    }
    match &dump.dropped_tail {
        Some(tail) => writeln!(
            out,
            "dropped tail: {} bytes at offset {} ({}); recovery drops this unfinished edit",
            tail.bytes, tail.offset, tail.reason
        )?,
        None => writeln!(out, "dropped tail: none")?,
    }

    let version = &dump.version;
    writeln!(
        out,
        "levels ({}, {}):",
        counted(version.num_files() as u64, "table"),
        human_bytes(
            (0..version.num_levels())
                .map(|l| version.level_bytes(l))
                .sum()
        )
    )?;
    for level in 0..version.num_levels() {
        let files = version.files_at(level);
        writeln!(
            out,
            "  L{level}: {}, {}",
            counted(files.len() as u64, "table"),
            human_bytes(version.level_bytes(level))
        )?;
        for meta in files {
            writeln!(out, "    {}", file_text(meta))?;
        }
    }
    writeln!(
        out,
        "counters: next file number {}, last sequence number {}, oldest WAL segment {}",
        dump.next_file_number, dump.last_seq, dump.wal_segment
    )?;
    let tombstones = version.range_tombstones();
    if !tombstones.is_empty() {
        writeln!(out, "range deletes: {}", tombstones.len())?;
        for tombstone in tombstones.tombstones() {
            writeln!(
                out,
                "    {} .. {} at {}",
                tree_key_text(&tombstone.start),
                tree_key_text(&tombstone.end),
                tombstone.seq
            )?;
        }
    }
    Ok(())
}

/// The counters an edit sets, as `", next file 12, last seq 40"`.
fn counters_text(edit: &VersionEdit) -> String {
    let mut text = String::new();
    if let Some(next) = edit.next_file_number {
        text.push_str(&format!(", next file number {next}"));
    }
    if let Some(seq) = edit.last_seq {
        text.push_str(&format!(", last sequence number {seq}"));
    }
    if let Some(segment) = edit.wal_segment {
        text.push_str(&format!(", oldest WAL segment {segment}"));
    }
    if edit.added.is_empty() && edit.removed.is_empty() {
        text.push_str(", no files added or removed");
    }
    for tombstone in &edit.added_range_tombstones {
        text.push_str(&format!(
            ", range delete {} .. {} at {} added",
            tree_key_text(&tombstone.start),
            tree_key_text(&tombstone.end),
            tombstone.seq
        ));
    }
    for seq in &edit.removed_range_tombstones {
        text.push_str(&format!(", range delete at {seq} removed"));
    }
    text
}

/// One table's catalog entry on one line.
fn file_text(meta: &FileMeta) -> String {
    format!(
        "{}  {:>9}  keys {} .. {}  seqs {}..={}  {} entries ({} tombstones)",
        table_file_name(meta.number),
        human_bytes(meta.file_bytes),
        internal_key_text(meta.smallest.as_bytes()),
        internal_key_text(meta.largest.as_bytes()),
        meta.min_seq,
        meta.max_seq,
        meta.entries,
        meta.tombstones
    )
}
