//! `lsm inspect sst|wal|manifest` and `lsm stats`: print what a store's
//! files hold, readably. Inspecting never writes; `lsm stats` opens the
//! store (which replays its WAL and starts a new segment, as any open does)
//! and closes it again.
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
}

/// Runs `lsm inspect`.
pub fn run(command: InspectCommand) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = match command {
        InspectCommand::Sst(args) => sst::run(&args, &mut out),
        InspectCommand::Wal(args) => wal::run(&args, &mut out),
        InspectCommand::Manifest(args) => manifest::run(&args, &mut out),
    };
    finish(
        result
            .and_then(|()| Ok(out.flush()?))
            .map(|()| ExitCode::SUCCESS),
    )
}

/// Runs `lsm stats`.
pub fn run_stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = stats::run(&args, &mut out);
    finish(
        result
            .and_then(|()| Ok(out.flush()?))
            .map(|()| ExitCode::SUCCESS),
    )
}

/// What a tool command returns to `main`: its exit code, or its error as
/// one line. A closed pipe (`lsm inspect ... | head`) is a quiet success,
/// not an error.
pub(crate) fn finish(result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(code) => Ok(code),
        Err(err) if is_broken_pipe(&err) => Ok(ExitCode::SUCCESS),
        Err(err) => Err(one_line(&err)),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes as one message, skipping a cause whose text
/// is already in the message: the engine's I/O errors print their
/// `io::Error` *and* return it as their source, which would otherwise
/// read "No such file or directory: No such file or directory".
fn one_line(err: &anyhow::Error) -> anyhow::Error {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    anyhow::anyhow!(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_are_printed_once() {
        let io = io::Error::new(io::ErrorKind::NotFound, "no such file");
        let core = lsm_core::Error::io("/x/1.sst", io);
        let err = anyhow::Error::new(core).context("cannot open table /x/1.sst");
        assert_eq!(
            one_line(&err).to_string(),
            "cannot open table /x/1.sst: I/O error on /x/1.sst: no such file"
        );
        assert_eq!(one_line(&err).chain().count(), 1);
    }

    #[test]
    fn broken_pipe_is_success() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(finish(Err(err)), Ok(code) if code == ExitCode::SUCCESS));
    }
}
