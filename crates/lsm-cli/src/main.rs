//! # `lsm`: see an LSM tree work, benchmark it, and look inside its files
//!
//! - `lsm demo`: drives a workload against a store, samples its stats into a
//!   CSV and renders a self-contained HTML report with charts.
//! - `lsm bench`: db_bench-style workloads with latency percentiles, write
//!   and space amplification (and, with the `peers` feature, RocksDB, fjall,
//!   sled and redb side by side).
//! - `lsm inspect sst|wal|manifest`, `lsm stats`, `lsm verify`: read a
//!   store's files without changing them (`stats` opens it read-only).
//! - `lsm get|put|delete|scan`: poke at a store from the shell (`get` and
//!   `scan` read-only).
//! - `lsm flush`, `lsm compact`, `lsm checkpoint`: maintenance on a closed
//!   store.
//!
//! Exit status ([`EXIT_STATUS_HELP`]): 0 ok; 1 error (one `error: ...` line
//! on stderr); 2 usage (bad flags or arguments); 3 `get` found no such key.

use std::process::ExitCode;

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

/// `println!` for `demo` and `bench` ([`print_stdout`]): never panics on a
/// closed pipe.
macro_rules! outln {
    () => {
        $crate::print_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for `demo` and `bench` ([`print_stdout`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print_stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics ([`print_stderr`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::print_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod bench;
mod demo;
mod inspect;
mod kv;
mod lock_probe;
mod maintain;
mod units;
mod verify;
mod workload;

/// Exit status of `lsm get` for a key that is absent.
pub(crate) const EXIT_NOT_FOUND: u8 = 3;
/// Exit status of a usage error (clap's own, and [`UsageError`]).
const EXIT_USAGE: u8 = 2;

/// The exit statuses, as `lsm --help` prints them.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  error: one line on stderr, starting with error:
  2  usage error: a bad flag, argument or value
  3  lsm get: the key is not in the store

Sizes take binary units: 4096, 64k, 4MiB, 1G.";

/// An error in what the user asked for, found after parsing the flags
/// (e.g. a bench setting out of range): exits with status 2, like clap's
/// own usage errors.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// See an LSM tree work, benchmark it, and look inside its files.
#[derive(Debug, Parser)]
#[command(
    name = "lsm",
    version,
    about = "See an LSM tree work, benchmark it, and look inside its files.",
    long_about = None,
    after_help = EXIT_STATUS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Drive a workload against a store and render an HTML report with charts.
    Demo(demo::DemoArgs),
    /// Run db_bench-style workloads and print throughput and latency.
    Bench(bench::BenchArgs),
    /// Print the contents of a table, WAL or manifest.
    #[command(subcommand)]
    Inspect(inspect::InspectCommand),
    /// Print a store's shape: levels, files, sizes, sequence numbers
    /// (read-only).
    Stats(inspect::StatsArgs),
    /// Check every checksum of every live file of a store (read-only).
    Verify(verify::VerifyArgs),
    /// Print the value of a key (read-only; exit status 3 if absent).
    Get(kv::GetArgs),
    /// Set a key to a value.
    Put(kv::PutArgs),
    /// Delete a key.
    Delete(kv::DeleteArgs),
    /// Print the keys and values in a range (read-only).
    Scan(kv::ScanArgs),
    /// Flush a closed store's memtable (its unflushed WAL) to an L0 table.
    Flush(maintain::FlushArgs),
    /// Compact a closed store: one level, or until no level is due.
    Compact(maintain::CompactArgs),
    /// Write a checkpoint of a closed store into a new directory (hard
    /// links where possible).
    Checkpoint(maintain::CheckpointArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Inspect(command) => inspect::run(command),
        Command::Stats(args) => inspect::run_stats(args),
        Command::Verify(args) => verify::run(args),
        Command::Get(args) => kv::get(args),
        Command::Put(args) => kv::put(args),
        Command::Delete(args) => kv::delete(args),
        Command::Scan(args) => kv::scan(args),
        Command::Flush(args) => maintain::flush(args),
        Command::Compact(args) => maintain::compact(args),
        Command::Checkpoint(args) => maintain::checkpoint(args),
    };
    match result {
        Ok(code) => code,
        // `lsm ... | head` closing the pipe early is not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            errln!("error: {}", one_line(&err));
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Set once a write to stdout found its reader gone (a closed pipe).
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to stdout for `demo` and `bench`, whose work (the report files,
/// `--json-out`) goes on when stdout's reader has left (`lsm ... | head
/// -1`): once a write finds the pipe closed, the rest of the output is
/// dropped (`println!` panicked). Other write errors are returned.
pub(crate) fn print_stdout(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// Writes to stderr, best effort: a progress line or the final `error:`
/// line must not panic (as `eprintln!` does) when stderr is a closed pipe
/// (`lsm ... 2>&1 | head -1`); the exit status still tells what happened.
pub(crate) fn print_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes as one line, never a backtrace. A cause whose
/// text the line already holds is skipped: engine I/O errors print their
/// `io::Error` *and* return it as their source, which would otherwise read
/// "No such file or directory: No such file or directory".
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let core = lsm_core::Error::io("/x/1.sst", io);
        let err = anyhow::Error::new(core).context("cannot open table /x/1.sst");
        assert_eq!(
            one_line(&err),
            "cannot open table /x/1.sst: I/O error on /x/1.sst: no such file"
        );
    }

    #[test]
    fn top_level_help_lists_exit_statuses_without_backticks() {
        use clap::CommandFactory as _;
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains('`'), "{help}");
        for line in ["0  success", "2  usage error", "3  lsm get"] {
            assert!(help.contains(line), "{line:?} in {help}");
        }
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the report");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
