//! `lsm inspect manifest DIR`: the live manifest's records, then the levels,
//! files and counters they add up to.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use lsm_core::OsFileSystem;
use lsm_manifest::{read_manifest, table_file_name, FileMeta, VersionEdit};

use super::readable::{counted, internal_key_text};
use super::store_dir::require_store;
use crate::units::human_bytes;

/// Arguments of `lsm inspect manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// The store directory (the manifest is the one `CURRENT` names).
    pub dir: PathBuf,
}

/// Prints the live manifest of the store in `args.dir`.
pub(super) fn run(args: &ManifestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = &args.dir;
    require_store(dir)?;
    let dump = read_manifest(&OsFileSystem, dir)
        .with_context(|| format!("cannot read the manifest of {}", dir.display()))?;

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
