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
        Err(err) => {
            // One line: the error and its causes, never a backtrace. A cause
            // whose text the line already holds (engine errors print their
            // source) is not repeated.
            let mut line = format!("error: {err}");
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !line.contains(&cause) {
                    line.push_str(": ");
                    line.push_str(&cause);
                }
            }
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}
