//! # `lsm`: see an LSM tree work, benchmark it, and look inside its files
//!
//! - `lsm demo`: drives a workload against a store, samples its stats into a
//!   CSV and renders a self-contained HTML report with charts.
//! - `lsm bench`: db_bench-style workloads with latency percentiles, write
//!   and space amplification (and, with the `peers` feature, RocksDB, fjall
//!   and sled side by side).
//! - `lsm inspect sst|wal|manifest`, `lsm stats`, `lsm verify`: read a
//!   store's files without changing them.
//! - `lsm get|put|delete|scan`: poke at a store from the shell.
//!
//! Errors print as one line on stderr (`error: ...`) and exit with status 1;
//! bad flags exit with clap's status 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod demo;
mod inspect;
mod kv;
mod units;
mod verify;
mod workload;

/// See an LSM tree work, benchmark it, and look inside its files.
#[derive(Debug, Parser)]
#[command(name = "lsm", version, about, long_about = None)]
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
    /// Print a store's shape: levels, files, sizes, sequence numbers.
    Stats(inspect::StatsArgs),
    /// Check every checksum of every live file of a store.
    Verify(verify::VerifyArgs),
    /// Print the value of a key.
    Get(kv::GetArgs),
    /// Set a key to a value.
    Put(kv::PutArgs),
    /// Delete a key.
    Delete(kv::DeleteArgs),
    /// Print the keys and values in a range.
    Scan(kv::ScanArgs),
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
    };
    match result {
        Ok(code) => code,
        // `lsm ... | head` closing the pipe early is not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
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
    fn broken_pipe_is_recognised_through_context() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the report");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
