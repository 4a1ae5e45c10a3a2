//! `lsm inspect sst|wal|manifest` and `lsm stats`: print what a store's
//! files hold, readably, or with `--json` as JSON. None of them writes:
//! `inspect` reads the files themselves, `stats` opens the store read-only
//! (no lock, no new WAL segment or manifest).
//!
//! Keys and values print as text when they are printable ASCII and as
//! `0x`-prefixed hex otherwise ([`readable`]); internal keys as
//! `user_key@seq:Kind`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

mod manifest;
pub(crate) mod readable;
mod sst;
mod stats;
pub(crate) mod store_dir;
mod wal;

/// What to inspect.
#[derive(Debug, clap::Subcommand)]
pub enum InspectCommand {
    /// A table file: properties, block layout, index, bloom filter, and
    /// with `--entries` every entry.
    Sst(sst::SstArgs),
    /// A WAL segment file, or every segment in a directory: header, records
    /// with their sequence numbers, and how each segment ends.
    Wal(wal::WalArgs),
    /// A store's live manifest: every record, then the levels and files it
    /// adds up to.
    Manifest(manifest::ManifestArgs),
}

/// Arguments of `lsm stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lsm inspect`.
pub fn run(command: InspectCommand) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = match command {
        InspectCommand::Sst(args) => sst::run(&args, &mut out),
        InspectCommand::Wal(args) => wal::run(&args, &mut out),
        InspectCommand::Manifest(args) => manifest::run(&args, &mut out),
    };
    result.and_then(|()| Ok(out.flush()?))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `lsm stats`.
pub fn run_stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = stats::run(&args, &mut out);
    result.and_then(|()| Ok(out.flush()?))?;
    Ok(ExitCode::SUCCESS)
}
