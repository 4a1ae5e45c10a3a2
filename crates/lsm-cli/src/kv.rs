//! `lsm get|put|delete|scan`: poke at a store from the shell. Each command
//! opens the store in DIR with the default configuration (WAL writes synced
//! before they are acknowledged), does one thing, and closes it.
//!
//! Keys and values are taken from the command line as UTF-8 text, or as hex
//! with `--hex` (which also prints them as hex). Without `--hex`, `get` and
//! `scan` print the stored bytes as they are.
//!
//! Exit status: 0 on success; 1 on an error (one `error: ...` line on
//! stderr) and for `get` of a key that is absent (nothing on stdout,
//! `not found: KEY` on stderr); 2 for bad flags.

use std::io::{self, Write};
use std::ops::Bound;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::inspect::readable::{hex, parse_hex};
use crate::inspect::store_dir::open_store;

/// Arguments of `lsm get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// The key.
    pub key: String,
    /// The key is hex, and the value is printed as hex.
    #[arg(long)]
    pub hex: bool,
}

/// Arguments of `lsm put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The key and value are hex.
    #[arg(long)]
    pub hex: bool,
    /// Create the store if DIR holds none (otherwise that is an error, so a
    /// mistyped path does not grow a new store).
    #[arg(long)]
    pub create: bool,
}

/// Arguments of `lsm delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// The key.
    pub key: String,
    /// The key is hex.
    #[arg(long)]
    pub hex: bool,
}

/// Arguments of `lsm scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// First key to print (inclusive); default: the first key.
    #[arg(long, value_name = "KEY")]
    pub start: Option<String>,
    /// Key to stop before (exclusive); default: past the last key.
    #[arg(long, value_name = "KEY")]
    pub end: Option<String>,
    /// Print at most this many keys.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Bounds are hex, and keys and values are printed as hex.
    #[arg(long)]
    pub hex: bool,
}

/// Decodes a key or value given on the command line.
fn arg_bytes(text: &str, hex: bool) -> anyhow::Result<Vec<u8>> {
    if hex {
        parse_hex(text)
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

/// Writes stored bytes: raw, or as hex.
fn write_bytes(out: &mut dyn Write, bytes: &[u8], as_hex: bool) -> io::Result<()> {
    if as_hex {
        out.write_all(hex(bytes).as_bytes())
    } else {
        out.write_all(bytes)
    }
}

/// Runs `lsm get`.
pub fn get(args: GetArgs) -> anyhow::Result<ExitCode> {
    get_value(&args)
}

fn get_value(args: &GetArgs) -> anyhow::Result<ExitCode> {
    let key = arg_bytes(&args.key, args.hex)?;
    let store = open_store(&args.dir, false)?;
    let value = store.get(&key)?;
    store.close()?;
    let Some(value) = value else {
        eprintln!("not found: {}", args.key);
        return Ok(ExitCode::FAILURE);
    };
    let mut out = io::stdout().lock();
    write_bytes(&mut out, &value, args.hex)?;
    writeln!(out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `lsm put`.
pub fn put(args: PutArgs) -> anyhow::Result<ExitCode> {
    put_value(&args)
}

fn put_value(args: &PutArgs) -> anyhow::Result<ExitCode> {
    let key = arg_bytes(&args.key, args.hex)?;
    let value = arg_bytes(&args.value, args.hex)?;
    let store = open_store(&args.dir, args.create)?;
    store.put(&key, &value)?;
    store.close()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `lsm delete`. Deleting an absent key is not an error (it writes a
/// tombstone all the same).
pub fn delete(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    delete_key(&args)
}

fn delete_key(args: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let key = arg_bytes(&args.key, args.hex)?;
    let store = open_store(&args.dir, false)?;
    store.delete(&key)?;
    store.close()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `lsm scan`: one `key<TAB>value` line per live key in the range.
pub fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    scan_range(&args)
}

fn scan_range(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let start = match &args.start {
        Some(text) => Bound::Included(arg_bytes(text, args.hex)?),
        None => Bound::Unbounded,
    };
    let end = match &args.end {
        Some(text) => Bound::Excluded(arg_bytes(text, args.hex)?),
        None => Bound::Unbounded,
    };
    let store = open_store(&args.dir, false)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let limit = args.limit.unwrap_or(usize::MAX);
    let written = (|| -> anyhow::Result<()> {
        for item in store.range::<Vec<u8>, _>((start, end))?.take(limit) {
            let (key, value) = item?;
            write_bytes(&mut out, &key, args.hex)?;
            out.write_all(b"\t")?;
            write_bytes(&mut out, &value, args.hex)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    })();
    store.close()?;
    written.map(|()| ExitCode::SUCCESS)
}
