//! `lsm verify DIR [--all] [--json]`: checks every checksum of every live
//! file of a store *without opening it for writing*: nothing is written, no
//! lock is taken (not even tried: whether another process holds the store
//! is looked up in `/proc/locks`, see [`crate::lock_probe`]), a missing
//! directory is not created.
//!
//! What is checked, in order:
//! 1. `CURRENT` and the manifest it names ([`lsm_manifest::read_manifest`]):
//!    every record's checksum and that the edits apply. A torn last record
//!    (what a crash during an append leaves) is a warning: recovery drops it.
//! 2. Every table the manifest lists: [`Table::open`] (footer, index, filter
//!    and properties blocks) and [`Table::verify_checksums`] (every data
//!    block re-read and decoded), and that its size, entry count and key
//!    range match the manifest's entry. A listed table that is missing is a
//!    failure; a table file the manifest does not list is a warning (a
//!    stray left by an interrupted flush or compaction; the next open
//!    deletes it).
//! 3. Every WAL segment the store still needs (numbers `>=` the manifest's
//!    oldest WAL segment): what it holds and how it ends, without judging.
//! 4. The checks open runs (a [`ReadOnlyStore`] open, which runs them
//!    reading only): every table the manifest lists present with its recorded
//!    size, every WAL segment it needs present, sequence numbers continuing
//!    the tables' `last_seq` without a gap, damage only as a torn tail of
//!    the newest segment holding records (a warning: open cuts it), and a
//!    damaged last manifest record only when the state without it is
//!    complete (a warning). Anything open would refuse is a failure.
//!
//! One line per file: `ok`, `WARNING` or `FAILED`, naming the file and, for
//! damage, the offset. Exit status 0 when nothing failed (warnings
//! included); otherwise the first problem (or, with `--all`, every problem)
//! is named and the status is 1.
//!
//! On a store another process holds open, `verify` says so first and still
//! checks; that process may replace files while `verify` reads them, so a
//! table it deleted meanwhile shows as missing. Run it on a closed store for
//! a verdict that holds.
//!
//! With `--json`, one JSON object (the same lines, the summary, the lock
//! state) instead of text; the exit status is the same.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lsm_core::{compare_internal_keys, FileSystem, OsFileSystem};
use lsm_manifest::{
    manifest_file_name, parse_table_file_name, read_manifest, table_file_name, FileMeta,
};
use lsm_sstable::Table;
use lsm_store_sync::{Error, LsmConfig, ReadOnlyStore, StoreCheck};
use lsm_wal::{list_segments, read_segment, segment_file_name, segment_path, SegmentTail};
use serde::Serialize;

use crate::inspect::readable::counted;
use crate::inspect::store_dir::require_store;
use crate::lock_probe::{self, LockState};

/// Arguments of `lsm verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The store directory. It is only read: not opened, locked or created.
    pub dir: PathBuf,
    /// Check every file and report every problem, instead of stopping at
    /// the first one.
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `verify --json` prints.
#[derive(Serialize)]
struct VerifyReport<'a> {
    store: String,
    /// Whether another process holds the store open.
    lock: LockState,
    /// One entry per file (and the open check), in the order checked.
    files: &'a [FileReport],
    tables: usize,
    wal_segments: usize,
    problems: &'a [String],
    warnings: usize,
    /// True when nothing failed (warnings allowed): exit status 0.
    ok: bool,
}

/// One checked file.
#[derive(Serialize)]
struct FileReport {
    name: String,
    /// `ok`, `warning` or `failed`.
    status: &'static str,
    detail: String,
}

/// Runs `lsm verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    verify(&args)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    require_store(&args.dir)?;
    let stdout = io::stdout().lock();
    let lock = lock_probe::probe(&args.dir);
    let mut verifier = Verifier {
        out: io::BufWriter::new(stdout),
        all: args.all,
        json: args.json,
        files: Vec::new(),
        failures: Vec::new(),
        warnings: 0,
        checked: 0,
        counts: (0, 0),
    };
    if !args.json {
        if let LockState::Held { pid } = lock {
            writeln!(
                verifier.out,
                "note     LOCK: the store is held by another process (pid {pid}); checking \
                 the files as they are now (that process may replace some meanwhile)"
            )?;
        }
    }
    let verified = verifier.verify_store(&args.dir);
    if args.json && verified.is_ok() {
        let report = VerifyReport {
            store: args.dir.display().to_string(),
            lock,
            files: &verifier.files,
            tables: verifier.counts.0,
            wal_segments: verifier.counts.1,
            problems: &verifier.failures,
            warnings: verifier.warnings,
            ok: verifier.failures.is_empty(),
        };
        serde_json::to_writer_pretty(&mut verifier.out, &report)?;
        writeln!(verifier.out)?;
    }
    let flushed = verifier.out.flush();
    verified?;
    flushed?;
    match verifier.failures.split_first() {
        None => Ok(ExitCode::SUCCESS),
        Some((first, [])) => anyhow::bail!("verify found a problem: {first}"),
        Some((first, rest)) => {
            let mut text = format!("verify found {} problems: {first}", rest.len() + 1);
            for problem in rest {
                text.push_str("; ");
                text.push_str(problem);
            }
            anyhow::bail!(text)
        }
    }
}

/// What checking one file found.
enum Outcome {
    /// All checks passed; a short description of what was checked.
    Ok(String),
    /// Not a failure, but worth knowing (a torn tail recovery will cut, a
    /// stray table).
    Warning(String),
    /// A check failed: the message names the file and, for damage, the
    /// offset.
    Failure(String),
}

struct Verifier<W: Write> {
    out: W,
    all: bool,
    /// Collect into `files` for one JSON object instead of printing lines.
    json: bool,
    files: Vec<FileReport>,
    /// Tables and WAL segments checked, for the summary.
    counts: (usize, usize),
    /// Every failure so far, in the order found.
    failures: Vec<String>,
    warnings: usize,
    /// Files checked.
    checked: usize,
}

impl<W: Write> Verifier<W> {
    /// Prints the outcome for `name`; returns false when checking should
    /// stop (a failure without `--all`).
    fn record(&mut self, name: &str, outcome: Outcome) -> io::Result<bool> {
        self.checked += 1;
        let (status, label, detail) = match outcome {
            Outcome::Ok(detail) => ("ok", "ok      ", detail),
            Outcome::Warning(detail) => {
                self.warnings += 1;
                ("warning", "WARNING ", detail)
            }
            Outcome::Failure(detail) => {
                self.failures.push(format!("{name}: {detail}"));
                ("failed", "FAILED  ", detail)
            }
        };
        if self.json {
            self.files.push(FileReport {
                name: name.to_string(),
                status,
                detail,
            });
        } else {
            writeln!(self.out, "{label} {name}: {detail}")?;
        }
        Ok(status != "failed" || self.all)
    }

    fn verify_store(&mut self, dir: &Path) -> anyhow::Result<()> {
        let fs = OsFileSystem;
        let names = fs
            .list_dir(dir)
            .map_err(|source| lsm_core::Error::io(dir, source))?;
        let on_disk: BTreeSet<u64> = names
            .iter()
            .filter_map(|name| parse_table_file_name(name))
            .collect();

        // 1. The manifest. Without it the live set is unknown: with --all,
        // check every table and segment on disk instead.
        let (live, oldest_wal, levels) = match read_manifest(&fs, dir) {
            Ok(dump) => {
                let name = dump
                    .manifest_number
                    .map_or_else(|| dump.path.display().to_string(), manifest_file_name);
                let summary = format!(
                    "{}, {}, last sequence number {}",
                    counted(dump.records.len() as u64, "record"),
                    counted(dump.version.num_files() as u64, "table"),
                    dump.last_seq
                );
                let outcome = match &dump.dropped_tail {
                    Some(tail) => Outcome::Warning(format!(
                        "{summary}; torn last record at offset {} ({} bytes, {}) that recovery drops",
                        tail.offset, tail.bytes, tail.reason
                    )),
                    None => Outcome::Ok(summary),
                };
                self.record(&name, outcome)?;
                let live: Vec<(Option<usize>, u64, Option<FileMeta>)> = dump
                    .version
                    .all_files()
                    .map(|(level, meta)| (Some(level), meta.number, Some(FileMeta::clone(meta))))
                    .collect();
                (live, dump.wal_segment, dump.version.num_levels())
            }
            Err(err) => {
                if !self.record("CURRENT/MANIFEST", Outcome::Failure(err.to_string()))? {
                    return Ok(());
                }
                let every = on_disk.iter().map(|&n| (None, n, None)).collect();
                (every, 0, 1)
            }
        };

        // 2. Live tables, then strays.
        let mut listed = BTreeSet::new();
        for (level, number, meta) in &live {
            listed.insert(*number);
            let name = table_file_name(*number);
            let outcome = check_table(&dir.join(&name), *level, meta.as_ref());
            if !self.record(&name, outcome)? {
                return Ok(());
            }
        }
        for number in on_disk.difference(&listed) {
            let outcome = Outcome::Warning(
                "stray table: the manifest does not list it (left by an interrupted flush or \
                 compaction; the next open deletes it, or moves it to quarantine/ when the \
                 manifest's last record is damaged)"
                    .to_string(),
            );
            self.record(&table_file_name(*number), outcome)?;
        }

        // 3. WAL segments still needed: what each holds. Whether the log
        // as a whole is complete and where damage is a torn write is judged
        // in step 4, by the checks open runs.
        let segments = list_segments(&fs, dir)?;
        let needed: Vec<u64> = segments.into_iter().filter(|&n| n >= oldest_wal).collect();
        for &number in &needed {
            let outcome = describe_segment(&segment_path(dir, number));
            if !self.record(&segment_file_name(number), outcome)? {
                return Ok(());
            }
        }

        // 4. What open checks: the manifest's tables present, every WAL
        // segment it needs present, sequence numbers continuing the tables'
        // without a gap, damage only where a crash leaves it.
        let outcome = match open_check(dir, levels) {
            Ok(check) => open_check_outcome(&check),
            Err(err) => Outcome::Failure(format!("open would refuse the store: {err}")),
        };
        self.record("open check", outcome)?;

        let failed = self.failures.len();
        self.counts = (live.len(), needed.len());
        if self.json {
            return Ok(());
        }
        writeln!(
            self.out,
            "checked {} ({}, {}): {}, {}",
            counted(self.checked as u64, "file"),
            counted(live.len() as u64, "table"),
            counted(needed.len() as u64, "WAL segment"),
            if failed == 0 {
                "no problems".to_string()
            } else {
                counted(failed as u64, "problem")
            },
            counted(self.warnings as u64, "warning")
        )?;
        Ok(())
    }
}

/// Opens the table at `path`, re-reads every block and compares it with
/// its manifest entry, if any.
fn check_table(path: &Path, level: Option<usize>, meta: Option<&FileMeta>) -> Outcome {
    let where_listed = level.map_or(String::new(), |level| format!("listed at L{level} but "));
    if !path.exists() {
        return Outcome::Failure(format!(
            "missing: {}the file {} does not exist",
            where_listed,
            path.display()
        ));
    }
    let table = match Table::open(&OsFileSystem, path, 0, None) {
        Ok(table) => table,
        Err(err) => return Outcome::Failure(err.to_string()),
    };
    if let Err(err) = table.verify_checksums() {
        return Outcome::Failure(err.to_string());
    }
    let props = table.properties();
    if let Some(meta) = meta {
        let mismatch = if meta.file_bytes != props.file_bytes {
            Some(format!(
                "the file has {} bytes but the manifest records {}",
                props.file_bytes, meta.file_bytes
            ))
        } else if meta.entries != props.entries || meta.tombstones != props.tombstones {
            Some(format!(
                "the table holds {} entries ({} tombstones) but the manifest records {} ({})",
                props.entries, props.tombstones, meta.entries, meta.tombstones
            ))
        } else if compare_internal_keys(meta.smallest.as_bytes(), &props.smallest_key).is_ne()
            || compare_internal_keys(meta.largest.as_bytes(), &props.largest_key).is_ne()
        {
            Some("the table's key range differs from the manifest's".to_string())
        } else {
            None
        };
        if let Some(mismatch) = mismatch {
            return Outcome::Failure(format!("{}: {mismatch}", path.display()));
        }
    }
    Outcome::Ok(format!(
        "{}{}, {} entries, checksums ok",
        level.map_or(String::new(), |level| format!("L{level}, ")),
        counted(props.data_blocks, "data block"),
        props.entries
    ))
}

/// What segment `path` holds (records, sequence numbers, how it ends),
/// without judging it: a damaged end may be a torn write, which only the
/// whole log tells (step 4).
fn describe_segment(path: &Path) -> Outcome {
    let contents = match read_segment(&OsFileSystem, path) {
        Ok(contents) => contents,
        Err(err) => return Outcome::Failure(err.to_string()),
    };
    let summary = match (contents.records.first(), contents.records.last()) {
        (Some(first), Some(last)) => format!(
            "{}, sequence numbers {}..={}",
            counted(contents.records.len() as u64, "record"),
            first.first_seq,
            last.last_seq
        ),
        _ if contents.header.is_some() => "header only, no records".to_string(),
        _ => "no records".to_string(),
    };
    match contents.tail {
        SegmentTail::Clean => Outcome::Ok(format!("{summary}, checksums ok")),
        SegmentTail::Damaged { offset, reason, .. } => Outcome::Ok(format!(
            "{summary}; ends in damage at offset {offset} ({reason})"
        )),
        SegmentTail::Invalid { offset, reason } => Outcome::Ok(format!(
            "{summary}; ends in an invalid record at offset {offset} ({reason})"
        )),
    }
}

/// A read-only open's checks with the store's own levels: the defaults,
/// whose `num_levels` is left unset so the one `OPTIONS` records is used; a
/// store without `OPTIONS` (older than the file) whose manifest uses more
/// levels than the default is checked with as many levels as the manifest
/// uses.
fn open_check(dir: &Path, levels: usize) -> lsm_store_sync::Result<StoreCheck> {
    let config = LsmConfig::new(dir);
    let opened = match ReadOnlyStore::open(config.clone()) {
        Err(Error::IncompatibleOptions { .. }) if levels > config.num_levels => {
            let mut config = config;
            config.num_levels = levels;
            ReadOnlyStore::open(config)
        }
        other => other,
    };
    opened.map(|store| store.check().clone())
}

/// A store open would accept: ok, or a warning naming what open would cut
/// or set aside.
fn open_check_outcome(check: &StoreCheck) -> Outcome {
    let mut repairs = Vec::new();
    if let Some(torn) = &check.wal_torn_tail {
        repairs.push(format!(
            "torn tail at offset {} of {} ({} bytes that open cuts: a write cut short by a crash)",
            torn.offset,
            torn.path.display(),
            torn.bytes
        ));
    }
    for path in &check.wal_torn_headers {
        repairs.push(format!(
            "torn header of {} (a segment created ahead of a rotation; open empties it)",
            path.display()
        ));
    }
    if let Some(tail) = &check.manifest_dropped_tail {
        repairs.push(format!(
            "damaged last record at offset {} of {} ({} bytes) that open leaves out; the state \
             before it is complete",
            tail.offset,
            tail.path.display(),
            tail.bytes
        ));
    }
    let summary = format!(
        "the WAL continues the tables (sequence number {}) without a gap: {} in {}, up to \
         sequence number {}",
        check.flushed_seq,
        counted(check.wal_records, "record"),
        counted(check.wal_segments.len() as u64, "segment"),
        check.last_seq
    );
    if repairs.is_empty() {
        Outcome::Ok(summary)
    } else {
        Outcome::Warning(format!("{summary}; {}", repairs.join("; ")))
    }
}
