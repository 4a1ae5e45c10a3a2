//! `lsm inspect wal FILE|DIR`: a segment's header, every record with its
//! sequence numbers, and how the segment ends; for a directory, every
//! segment in order and a summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lsm_core::{OsFileSystem, SeqNo};
use lsm_wal::{list_segments, parse_segment_file_name, read_segment, segment_path, SegmentTail};

use super::readable::counted;
use super::store_dir::require_dir;

/// Arguments of `lsm inspect wal`.
#[derive(Debug, clap::Args)]
pub struct WalArgs {
    /// A segment file (`NNNNNN.wal`) or a store directory.
    pub path: PathBuf,
}

/// What one segment added to a directory's summary.
#[derive(Default)]
struct Totals {
    segments: usize,
    records: usize,
    ops: u64,
    first_seq: Option<SeqNo>,
    last_seq: Option<SeqNo>,
    problems: Vec<String>,
}

/// Prints the segment or directory at `args.path`.
pub(super) fn run(args: &WalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let path = &args.path;
    if path.is_dir() {
        return run_dir(path, out);
    }
    if !path.exists() {
        anyhow::bail!(
            "no WAL segment at {}: no such file or directory",
            path.display()
        );
    }
    let newest = is_newest_segment(path);
    let mut totals = Totals::default();
    write_segment(out, path, newest, &mut totals)?;
    Ok(())
}

fn run_dir(dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    require_dir(dir)?;
    let segments = list_segments(&OsFileSystem, dir)
        .with_context(|| format!("cannot list WAL segments in {}", dir.display()))?;
    if segments.is_empty() {
        writeln!(out, "no WAL segments in {}", dir.display())?;
        return Ok(());
    }
    let mut totals = Totals::default();
    for (i, &number) in segments.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let newest = i + 1 == segments.len();
        write_segment(out, &segment_path(dir, number), newest, &mut totals)?;
    }
    writeln!(out)?;
    let (first, last) = (segments[0], segments[segments.len() - 1]);
    writeln!(
        out,
        "summary: {} ({}..{}), {}, {}, {}",
        counted(totals.segments as u64, "segment"),
        lsm_wal::segment_file_name(first),
        lsm_wal::segment_file_name(last),
        counted(totals.records as u64, "record"),
        counted(totals.ops, "operation"),
        seq_range(totals.first_seq, totals.last_seq)
    )?;
    if totals.problems.is_empty() {
        writeln!(out, "  no corruption found")?;
    }
    for problem in &totals.problems {
        writeln!(out, "  problem: {problem}")?;
    }
    Ok(())
}

/// True unless a segment with a larger number sits in the same directory.
fn is_newest_segment(path: &Path) -> bool {
    let (Some(dir), Some(number)) = (
        path.parent(),
        path.file_name()
            .and_then(|name| name.to_str())
            .and_then(parse_segment_file_name),
    ) else {
        return true;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    list_segments(&OsFileSystem, dir)
        .map(|all| all.last().is_none_or(|&last| last <= number))
        .unwrap_or(true)
}

fn seq_range(first: Option<SeqNo>, last: Option<SeqNo>) -> String {
    match (first, last) {
        (Some(first), Some(last)) => format!("sequence numbers {first}..={last}"),
        _ => "no sequence numbers".to_string(),
    }
}

fn write_segment(
    out: &mut dyn Write,
    path: &Path,
    newest: bool,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let contents = read_segment(&OsFileSystem, path)
        .with_context(|| format!("cannot read WAL segment {}", path.display()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    totals.segments += 1;
    writeln!(
        out,
        "segment {} ({} bytes)",
        path.display(),
        contents.file_len
    )?;
    match contents.header {
        Some(header) => {
            let named = parse_segment_file_name(&name);
            let mismatch = match named {
                Some(n) if n != header.segment => {
                    let problem = format!("{name}: header names segment {}", header.segment);
                    totals.problems.push(problem);
                    format!(" (MISMATCH: the file name says {n})")
                }
                _ => String::new(),
            };
            writeln!(
                out,
                "  header: segment {}, format version {}{mismatch}",
                header.segment, header.version
            )?;
        }
        None if contents.file_len == 0 => writeln!(out, "  header: none (empty file)")?,
        None => writeln!(out, "  header: none (unreadable, see tail)")?,
    }
    writeln!(out, "  records ({}):", contents.records.len())?;
    if !contents.records.is_empty() {
        writeln!(
            out,
            "  {:>10}  {:>8}  {:>23}  {:>6}",
            "offset", "bytes", "sequence numbers", "ops"
        )?;
    }
    for record in &contents.records {
        writeln!(
            out,
            "  {:>10}  {:>8}  {:>23}  {:>6}",
            record.offset,
            record.framed_len,
            format!("{}..={}", record.first_seq, record.last_seq),
            record.count
        )?;
        totals.records += 1;
        totals.ops += u64::from(record.count);
        totals.first_seq = totals.first_seq.or(Some(record.first_seq));
        totals.last_seq = Some(record.last_seq);
    }
    let tail = match &contents.tail {
        SegmentTail::Clean => "clean".to_string(),
        SegmentTail::Damaged {
            offset,
            dropped_bytes,
            reason,
            next_valid_record: None,
        } if newest => {
            format!("torn tail at offset {offset}: recovery drops {dropped_bytes} bytes ({reason})")
        }
        SegmentTail::Damaged {
            offset,
            dropped_bytes,
            reason,
            next_valid_record: None,
        } => {
            let problem = format!(
                "CORRUPTION at offset {offset}: {reason} ({dropped_bytes} bytes to the end of a segment that is not the newest)"
            );
            totals.problems.push(format!("{name}: {problem}"));
            problem
        }
        SegmentTail::Damaged {
            offset,
            reason,
            next_valid_record: Some(next),
            ..
        } => {
            let problem = format!(
                "CORRUPTION at offset {offset}: {reason}, followed by a valid record at offset {next}"
            );
            totals.problems.push(format!("{name}: {problem}"));
            problem
        }
        SegmentTail::Invalid { offset, reason } => {
            let problem = format!("CORRUPTION at offset {offset}: {reason}");
            totals.problems.push(format!("{name}: {problem}"));
            problem
        }
    };
    writeln!(out, "  tail: {tail}")?;
    Ok(())
}
