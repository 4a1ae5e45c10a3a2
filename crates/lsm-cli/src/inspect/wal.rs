//! `lsm inspect wal FILE|DIR`: a segment's header, every record with its
//! sequence numbers, and how the segment ends; for a directory, every
//! segment in order and a summary. As text, or with `--json` as one JSON
//! object built from the same report.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lsm_core::{OsFileSystem, SeqNo};
use lsm_manifest::CURRENT_FILE_NAME;
use lsm_wal::{list_segments, parse_segment_file_name, read_segment, segment_path, SegmentTail};
use serde::Serialize;

use super::readable::counted;
use super::store_dir::require_dir;

/// Arguments of `lsm inspect wal`.
#[derive(Debug, clap::Args)]
pub struct WalArgs {
    /// A segment file (`NNNNNN.wal`) or a store directory.
    pub path: PathBuf,
    /// Print at most N records of each segment.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `inspect wal` found: the JSON output, and what the text renders.
#[derive(Serialize)]
struct WalReport {
    segments: Vec<SegmentReport>,
    /// For a directory: the totals over every segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
}

#[derive(Serialize)]
struct SegmentReport {
    path: PathBuf,
    file_bytes: u64,
    /// `None` when the file has no readable header.
    header: Option<HeaderReport>,
    /// Records in the segment (all of them, whatever `--limit` shows).
    record_count: usize,
    /// The records shown (at most `--limit`).
    records: Vec<RecordReport>,
    /// The sync mark `close` wrote, if any: every sequence number below it
    /// was durable.
    sync_mark: Option<SeqNo>,
    tail: TailReport,
}

#[derive(Serialize)]
struct HeaderReport {
    segment: u64,
    format_version: u32,
    /// The number the file name gives, when it differs from the header's.
    name_mismatch: Option<u64>,
}

#[derive(Serialize)]
struct RecordReport {
    offset: u64,
    bytes: u64,
    first_seq: SeqNo,
    last_seq: SeqNo,
    ops: u32,
}

#[derive(Serialize)]
struct TailReport {
    /// `clean`, `torn` (recovery cuts it) or `corruption` (recovery refuses).
    kind: &'static str,
    /// Where the damage starts, if any.
    offset: Option<u64>,
    /// The line the text output prints.
    text: String,
}

#[derive(Serialize)]
struct Summary {
    segments: usize,
    first_segment: u64,
    last_segment: u64,
    records: usize,
    operations: u64,
    first_seq: Option<SeqNo>,
    last_seq: Option<SeqNo>,
    problems: Vec<String>,
}

/// Prints the segment or directory at `args.path`.
pub(super) fn run(args: &WalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let report = build(args)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    write_text(out, &report, args.limit)
}

fn build(args: &WalArgs) -> anyhow::Result<WalReport> {
    let path = &args.path;
    let limit = args.limit.unwrap_or(usize::MAX);
    if path.is_dir() {
        return build_dir(path, limit);
    }
    if !path.exists() {
        anyhow::bail!(
            "no WAL segment at {}: no such file or directory",
            path.display()
        );
    }
    let newest = !later_segment_holds_records(path);
    let segment = read_one(path, newest, limit)?;
    Ok(WalReport {
        segments: vec![segment],
        summary: None,
    })
}

/// Every segment of a store directory. A directory holding neither a store
/// (`CURRENT`) nor a WAL segment is an error, not an empty listing.
fn build_dir(dir: &Path, limit: usize) -> anyhow::Result<WalReport> {
    require_dir(dir)?;
    let segments = list_segments(&OsFileSystem, dir)
        .with_context(|| format!("cannot list WAL segments in {}", dir.display()))?;
    let (Some(&first_segment), Some(&last_segment)) = (segments.first(), segments.last()) else {
        if dir.join(CURRENT_FILE_NAME).is_file() {
            anyhow::bail!("the store at {} has no WAL segment", dir.display());
        }
        anyhow::bail!(
            "no store at {}: {CURRENT_FILE_NAME} not found, and no WAL segment",
            dir.display()
        );
    };
    let mut report = Vec::with_capacity(segments.len());
    let mut summary = Summary {
        segments: segments.len(),
        first_segment,
        last_segment,
        records: 0,
        operations: 0,
        first_seq: None,
        last_seq: None,
        problems: Vec::new(),
    };
    let mut all = Vec::with_capacity(segments.len());
    for &number in &segments {
        let path = segment_path(dir, number);
        let contents = read_segment(&OsFileSystem, &path)
            .with_context(|| format!("cannot read WAL segment {}", path.display()))?;
        all.push((path, contents));
    }
    // Recovery's "newest" segment is the last one holding a record or a
    // sync mark: a segment after it holding only a header (created ahead
    // of a rotation) does not make damage at its end corruption.
    let last_holding = all.iter().rposition(|(_, c)| holds_records(c));
    for (i, (path, contents)) in all.iter().enumerate() {
        let newest = last_holding.is_none_or(|last| i >= last);
        for record in &contents.records {
            summary.records += 1;
            summary.operations += u64::from(record.count);
            summary.first_seq = summary.first_seq.or(Some(record.first_seq));
            summary.last_seq = Some(record.last_seq);
        }
        let segment = segment_report(path, contents, newest, limit);
        let name = file_name(path);
        if let Some(header) = &segment.header {
            if header.name_mismatch.is_some() {
                let problem = format!("{name}: header names segment {}", header.segment);
                summary.problems.push(problem);
            }
        }
        if segment.tail.kind == "corruption" {
            summary
                .problems
                .push(format!("{name}: {}", segment.tail.text));
        }
        report.push(segment);
    }
    Ok(WalReport {
        segments: report,
        summary: Some(summary),
    })
}

fn read_one(path: &Path, newest: bool, limit: usize) -> anyhow::Result<SegmentReport> {
    let contents = read_segment(&OsFileSystem, path)
        .with_context(|| format!("cannot read WAL segment {}", path.display()))?;
    Ok(segment_report(path, &contents, newest, limit))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// True when the segment holds a record or a sync mark (recovery counts
/// such a segment as coming after damage in an earlier one).
fn holds_records(contents: &lsm_wal::SegmentContents) -> bool {
    !contents.records.is_empty() || contents.sync_mark.is_some()
}

/// True when a segment with a larger number in the same directory holds a
/// record or a sync mark: damage at the end of `path` is then corruption,
/// not a torn tail. A later segment that cannot be read counts as empty
/// (the directory form reports it).
fn later_segment_holds_records(path: &Path) -> bool {
    let (Some(dir), Some(number)) = (
        path.parent(),
        path.file_name()
            .and_then(|name| name.to_str())
            .and_then(parse_segment_file_name),
    ) else {
        return false;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(all) = list_segments(&OsFileSystem, dir) else {
        return false;
    };
    all.into_iter().filter(|&n| n > number).any(|n| {
        read_segment(&OsFileSystem, &segment_path(dir, n)).is_ok_and(|c| holds_records(&c))
    })
}

fn segment_report(
    path: &Path,
    contents: &lsm_wal::SegmentContents,
    newest: bool,
    limit: usize,
) -> SegmentReport {
    let named = parse_segment_file_name(&file_name(path));
    let header = contents.header.map(|header| HeaderReport {
        segment: header.segment,
        format_version: header.version,
        name_mismatch: named.filter(|&n| n != header.segment),
    });
    let records = contents
        .records
        .iter()
        .take(limit)
        .map(|record| RecordReport {
            offset: record.offset,
            bytes: record.framed_len,
            first_seq: record.first_seq,
            last_seq: record.last_seq,
            ops: record.count,
        })
        .collect();
    let tail = match &contents.tail {
        SegmentTail::Clean => TailReport {
            kind: "clean",
            offset: None,
            text: "clean".to_string(),
        },
        SegmentTail::Damaged {
            offset,
            dropped_bytes,
            reason,
            next_valid_record,
            ..
        } => {
            // Records after the damage are explained by a crash only if
            // they were framed while it was not durable; with no record
            // before it in this segment only the whole log knows what it
            // held (0, as recovery: no later record explains it).
            let lost_from = contents.records.last().map_or(0, |last| last.last_seq + 1);
            let torn = contents.tail.is_torn(lost_from);
            match next_valid_record.filter(|_| !torn) {
                Some(next) => TailReport {
                    kind: "corruption",
                    offset: Some(*offset),
                    text: format!(
                        "CORRUPTION at offset {offset}: {reason}, followed by a valid record at offset {next}"
                    ),
                },
                None if newest => TailReport {
                    kind: "torn",
                    offset: Some(*offset),
                    text: format!(
                        "torn tail at offset {offset}: recovery drops {dropped_bytes} bytes ({reason}{})",
                        if next_valid_record.is_some() {
                            "; the records after it were never durable"
                        } else {
                            ""
                        }
                    ),
                },
                None => TailReport {
                    kind: "corruption",
                    offset: Some(*offset),
                    text: format!(
                        "CORRUPTION at offset {offset}: {reason} ({dropped_bytes} bytes to the end of a segment a later segment holding records follows)"
                    ),
                },
            }
        }
        SegmentTail::Invalid { offset, reason } => TailReport {
            kind: "corruption",
            offset: Some(*offset),
            text: format!("CORRUPTION at offset {offset}: {reason}"),
        },
    };
    SegmentReport {
        path: path.to_path_buf(),
        file_bytes: contents.file_len,
        header,
        record_count: contents.records.len(),
        records,
        sync_mark: contents.sync_mark,
        tail,
    }
}

fn seq_range(first: Option<SeqNo>, last: Option<SeqNo>) -> String {
    match (first, last) {
        (Some(first), Some(last)) => format!("sequence numbers {first}..={last}"),
        _ => "no sequence numbers".to_string(),
    }
}

fn write_text(out: &mut dyn Write, report: &WalReport, limit: Option<usize>) -> anyhow::Result<()> {
    for (i, segment) in report.segments.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_segment(out, segment, limit)?;
    }
    let Some(summary) = &report.summary else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(
        out,
        "summary: {} ({}..{}), {}, {}, {}",
        counted(summary.segments as u64, "segment"),
        lsm_wal::segment_file_name(summary.first_segment),
        lsm_wal::segment_file_name(summary.last_segment),
        counted(summary.records as u64, "record"),
        counted(summary.operations, "operation"),
        seq_range(summary.first_seq, summary.last_seq)
    )?;
    if summary.problems.is_empty() {
        writeln!(out, "  no corruption found")?;
    }
    for problem in &summary.problems {
        writeln!(out, "  problem: {problem}")?;
    }
    Ok(())
}

fn write_segment(
    out: &mut dyn Write,
    segment: &SegmentReport,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "segment {} ({} bytes)",
        segment.path.display(),
        segment.file_bytes
    )?;
    match &segment.header {
        Some(header) => {
            let mismatch = header.name_mismatch.map_or(String::new(), |n| {
                format!(" (MISMATCH: the file name says {n})")
            });
            writeln!(
                out,
                "  header: segment {}, format version {}{mismatch}",
                header.segment, header.format_version
            )?;
        }
        None if segment.file_bytes == 0 => writeln!(out, "  header: none (empty file)")?,
        None => writeln!(out, "  header: none (unreadable, see tail)")?,
    }
    writeln!(out, "  records ({}):", segment.record_count)?;
    if !segment.records.is_empty() {
        writeln!(
            out,
            "  {:>10}  {:>8}  {:>23}  {:>6}",
            "offset", "bytes", "sequence numbers", "ops"
        )?;
    }
    for record in &segment.records {
        writeln!(
            out,
            "  {:>10}  {:>8}  {:>23}  {:>6}",
            record.offset,
            record.bytes,
            format!("{}..={}", record.first_seq, record.last_seq),
            record.ops
        )?;
    }
    let hidden = segment.record_count.saturating_sub(segment.records.len());
    if let (Some(limit), true) = (limit, hidden > 0) {
        writeln!(out, "  ... {hidden} more (--limit {limit})")?;
    }
    if let Some(mark) = segment.sync_mark {
        writeln!(
            out,
            "  sync mark: every sequence number below {mark} durable (a clean close)"
        )?;
    }
    writeln!(out, "  tail: {}", segment.tail.text)?;
    Ok(())
}
