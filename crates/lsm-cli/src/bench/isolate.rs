//! Each engine in its own process: `lsm bench` re-executes itself
//! ([`std::env::current_exe`]; for the lsm engines, the binary given with
//! `--lsm-exe` instead, if any) once per engine and run, with the parent's
//! settings, `--engine <that one> --in-process --no-probe` and a
//! `--json-out` file, and reads the rows back from that file. One engine's
//! heap, threads, page-cache writes and peak RSS then stay out of the next
//! one's numbers.
//!
//! The child's stderr goes through the parent, which copies it to its own
//! stderr line by line as it arrives (so the per-workload progress lines
//! show while the child runs) and keeps the last lines: a child that fails
//! makes the parent fail with them in its error. The child's stdout (its
//! own table) is discarded; its stdin is closed.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use super::engine::EngineKind;
use super::report::Row;
use super::BenchArgs;
use crate::units::sync_mode_label;

/// Lines of a failed child's stderr quoted in the parent's error.
const TAIL_LINES: usize = 8;

/// Longest line kept in the tail (longer ones are cut).
const TAIL_LINE_CHARS: usize = 400;

/// The arguments (after the program name) of the child that runs `kind`
/// with `args`' settings, keeping its stores under `db` (if any) and
/// writing its rows to `json_out`.
pub fn child_args(
    args: &BenchArgs,
    kind: EngineKind,
    db: Option<&Path>,
    json_out: &Path,
) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let mut flag = |name: &str, value: OsString| {
        out.push(OsString::from(name));
        out.push(value);
    };
    flag("--benchmarks", args.benchmarks.clone().into());
    flag("--engine", kind.name().into());
    flag("--num", args.num.to_string().into());
    if let Some(reads) = args.reads {
        flag("--reads", reads.to_string().into());
    }
    flag("--key-size", args.key_size.to_string().into());
    flag("--value-size", args.value_size.to_string().into());
    flag("--threads", args.threads.to_string().into());
    flag("--seed", args.seed.to_string().into());
    if let Some(db) = db {
        flag("--db", db.as_os_str().to_owned());
    }
    flag("--memtable-bytes", args.memtable_bytes.to_string().into());
    flag("--bloom-bits", args.bloom_bits.to_string().into());
    flag(
        "--block-cache-bytes",
        args.block_cache_bytes.to_string().into(),
    );
    flag("--wal-sync", sync_mode_label(args.wal_sync).into());
    flag("--json-out", json_out.as_os_str().to_owned());
    let mut all = vec![OsString::from("bench")];
    all.append(&mut out);
    all.push("--in-process".into());
    all.push("--no-probe".into());
    all
}

/// Runs `kind`'s workloads in a child process of `exe` (see the module
/// doc) and returns its rows. `label` names the run in the progress line
/// and in errors (`lsm-sync`, `lsm-sync run 2/3`).
pub fn run_child(
    exe: &Path,
    args: &BenchArgs,
    kind: EngineKind,
    db: Option<&Path>,
    json_out: &Path,
    label: &str,
) -> Result<Vec<Row>> {
    let mut child = Command::new(exe)
        .args(child_args(args, kind, db, json_out))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} for {label}", exe.display()))?;
    let bar = super::progress_bar(label, "(own process)");
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let relayed = match child.stderr.take() {
        Some(stderr) => relay(BufReader::new(stderr), &bar, &mut tail),
        None => Err(anyhow!("the child's stderr was not captured")),
    };
    if relayed.is_err() {
        // Nobody reads its stderr any more: stop it rather than let it
        // block on a full pipe.
        let _ = child.kill();
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for the {label} process"))?;
    bar.finish_and_clear();
    relayed.with_context(|| format!("reading the {label} process's stderr"))?;
    if !status.success() {
        let tail: Vec<String> = tail.into_iter().collect();
        bail!(
            "the {label} process failed ({status}); its stderr ended: {}",
            if tail.is_empty() {
                "(nothing)".to_string()
            } else {
                tail.join(" / ")
            }
        );
    }
    read_rows(json_out).with_context(|| format!("reading the rows of {label}"))
}

/// Copies `stderr` to this process's stderr line by line (above the
/// spinner), keeping the last [`TAIL_LINES`] lines in `tail`.
fn relay(
    mut stderr: impl BufRead,
    bar: &indicatif::ProgressBar,
    tail: &mut VecDeque<String>,
) -> Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if stderr.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        bar.suspend(|| {
            let mut out = std::io::stderr().lock();
            // A closed stderr must not stop the child being read.
            let _ = out.write_all(&line);
            let _ = out.flush();
        });
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.chars().take(TAIL_LINE_CHARS).collect());
    }
}

/// The result rows of a `--json-out` file, skipping the probe and summary
/// lines.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_rows(&text)
}

/// The result rows of JSON lines, skipping `{"probe": ...}` and
/// `{"summary": ...}` lines.
pub fn parse_rows(text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", n + 1))?;
        if value.get("probe").is_some() || value.get("summary").is_some() {
            continue;
        }
        rows.push(Row::from_json_line(line).with_context(|| format!("line {}", n + 1))?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        Bench(BenchArgs),
    }

    fn parse(args: &[OsString]) -> BenchArgs {
        let argv = std::iter::once(OsString::from("lsm")).chain(args.iter().cloned());
        match Cli::try_parse_from(argv).unwrap().command {
            Sub::Bench(args) => args,
        }
    }

    #[test]
    fn a_child_gets_the_parents_settings_and_one_engine() {
        let strs = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let parent = parse(&strs(&[
            "bench",
            "--benchmarks",
            "fillseq,fillsync1",
            "--engine",
            "lsm-sync,lsm-async",
            "--num",
            "1234",
            "--reads",
            "99",
            "--key-size",
            "20",
            "--value-size",
            "1k",
            "--threads",
            "3",
            "--seed",
            "7",
            "--memtable-bytes",
            "2MiB",
            "--bloom-bits",
            "0",
            "--block-cache-bytes",
            "3MiB",
            "--wal-sync",
            "every-bytes:4k",
            "--repeat",
            "3",
            "--probe-ops",
            "10",
            "--json",
        ]));
        let out = Path::new("/tmp/rows.jsonl");
        let db = Path::new("/data/run-2");
        let child = parse(&child_args(&parent, EngineKind::LsmAsync, Some(db), out));
        assert_eq!(child.engine, "lsm-async");
        assert_eq!(child.json_out.as_deref(), Some(out));
        assert_eq!(child.db.as_deref(), Some(db));
        assert!(child.in_process && child.no_probe && !child.json);
        assert_eq!(child.repeat, 1);
        // Everything that shapes the run is the parent's.
        let settings = |a: &BenchArgs| {
            format!(
                "{} {} {:?} {} {} {} {} {} {} {} {:?}",
                a.benchmarks,
                a.num,
                a.reads,
                a.key_size,
                a.value_size,
                a.threads,
                a.seed,
                a.memtable_bytes,
                a.bloom_bits,
                a.block_cache_bytes,
                a.wal_sync
            )
        };
        assert_eq!(settings(&child), settings(&parent));
        let without_reads = parse(&strs(&["bench", "--num", "10"]));
        let child = parse(&child_args(&without_reads, EngineKind::LsmSync, None, out));
        assert_eq!(child.reads, None);
        assert_eq!(child.db, None);
    }

    #[test]
    fn relay_keeps_the_last_lines() {
        let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let mut tail = VecDeque::new();
        relay(
            text.as_bytes(),
            &indicatif::ProgressBar::hidden(),
            &mut tail,
        )
        .unwrap();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.front().map(String::as_str), Some("line 13"));
        assert_eq!(tail.back().map(String::as_str), Some("line 20"));
    }

    #[test]
    fn parse_rows_skips_probe_and_summary_lines() {
        let row = Row {
            ops: 10,
            seconds: 0.25,
            user_bytes: 1160,
            disk_bytes: Some((4096, "write_bytes")),
            dir_bytes: Some(8192),
            live_bytes: Some(1160),
            peak_rss_bytes: Some(1 << 20),
            ..Row::for_test("lsm-sync", "fillseq", 40.0)
        };
        let text = format!(
            "{{\"probe\":\"fsync\",\"append_ops\":1}}\n{}\n\n{{\"summary\":\"fillseq\"}}\n",
            row.to_json().unwrap()
        );
        assert_eq!(parse_rows(&text).unwrap(), [row]);
        assert!(parse_rows("{\"engine\":\"lsm-sync\"}").is_err());
        assert!(parse_rows("garbage").is_err());
    }
}
