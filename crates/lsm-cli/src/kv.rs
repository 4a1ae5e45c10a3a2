//! `lsm get|put|delete|scan`: poke at a store from the shell.
//!
//! `get` and `scan` open the store read-only ([`ReadOnlyStore`]): nothing
//! is written and no lock is taken. `put` and `delete` open it with the
//! default configuration (WAL writes synced before they are acknowledged),
//! write, and close it.
//!
//! Keys and values are taken from the command line as UTF-8 text, or as hex
//! with `--hex` (which also prints them as hex). Without `--hex`, `get` and
//! `scan` print the stored bytes as they are. `put --value-file PATH` takes
//! the value's bytes from a file, or from stdin when PATH is `-`.
//! `--keyspace NAME` reads or writes keyspace NAME instead of the default
//! keyspace; `put --create` creates it if missing, and otherwise naming a
//! keyspace the store lacks is an error.
//!
//! Exit status: 0 on success; 1 on an error (one `error: ...` line on
//! stderr); 2 for bad flags; 3 for `get` of a key that is absent (nothing
//! on stdout, `not found: KEY` on stderr).
//!
//! [`ReadOnlyStore`]: lsm_store_sync::ReadOnlyStore

use std::io::{self, Read as _, Write};
use std::ops::Bound;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::inspect::readable::{hex, parse_hex};
use anyhow::Context as _;

use lsm_store_sync::SimpleLsmStore;

use crate::inspect::store_dir::{open_read_only, open_store};
use crate::EXIT_NOT_FOUND;

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
    /// Read the key in keyspace NAME instead of the default keyspace.
    #[arg(long, value_name = "NAME")]
    pub keyspace: Option<String>,
}

/// Arguments of `lsm put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The store directory.
    pub dir: PathBuf,
    /// The key.
    pub key: String,
    /// The value (or give --value-file).
    #[arg(required_unless_present = "value_file", conflicts_with = "value_file")]
    pub value: Option<String>,
    /// Read the value's bytes from PATH (as they are, never hex), or from
    /// stdin when PATH is -.
    #[arg(long, value_name = "PATH")]
    pub value_file: Option<PathBuf>,
    /// The key and VALUE are hex.
    #[arg(long)]
    pub hex: bool,
    /// Create the store if DIR holds none, and keyspace NAME (--keyspace)
    /// if the store has none of that name (otherwise either is an error, so
    /// a mistyped path or name does not grow a new store or keyspace).
    #[arg(long)]
    pub create: bool,
    /// Write the key into keyspace NAME instead of the default keyspace.
    #[arg(long, value_name = "NAME")]
    pub keyspace: Option<String>,
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
    /// Delete the key in keyspace NAME instead of the default keyspace.
    #[arg(long, value_name = "NAME")]
    pub keyspace: Option<String>,
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
    /// Scan keyspace NAME instead of the default keyspace.
    #[arg(long, value_name = "NAME")]
    pub keyspace: Option<String>,
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
    let store = open_read_only(&args.dir)?;
    let found = match &args.keyspace {
        Some(name) => store.get_in(store.keyspace_id(name)?, &key)?,
        None => store.get(&key)?,
    };
    let Some(value) = found else {
        errln!("not found: {}", args.key);
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
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
    let value = match (&args.value, &args.value_file) {
        (_, Some(path)) if path.as_os_str() == "-" => {
            read_value(io::stdin().lock()).context("cannot read the value from stdin")?
        }
        (_, Some(path)) => std::fs::File::open(path)
            .map_err(anyhow::Error::from)
            .and_then(read_value)
            .with_context(|| format!("cannot read the value from {}", path.display()))?,
        (Some(text), None) => arg_bytes(text, args.hex)?,
        (None, None) => anyhow::bail!("no value: give VALUE or --value-file"),
    };
    let store = open_store(&args.dir, args.create)?;
    match &args.keyspace {
        Some(name) => {
            existing_keyspace(&store, name, args.create)?;
            store.keyspace(name)?.put(&key, &value)?;
        }
        None => {
            store.put(&key, &value)?;
        }
    }
    store.close()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a value from `source`, at most
/// [`lsm_core::MAX_VALUE_BYTES`]: a longer one (an endless source such as
/// `/dev/zero` included) is an error once the limit is passed, rather than
/// read whole into memory for the store to refuse.
fn read_value(source: impl io::Read) -> anyhow::Result<Vec<u8>> {
    let limit = lsm_core::MAX_VALUE_BYTES;
    let mut bytes = Vec::new();
    source.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        anyhow::bail!("the value is longer than the limit of {limit} bytes");
    }
    Ok(bytes)
}

/// Runs `lsm delete`. Deleting an absent key is not an error (it writes a
/// tombstone all the same).
pub fn delete(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    delete_key(&args)
}

fn delete_key(args: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let key = arg_bytes(&args.key, args.hex)?;
    let store = open_store(&args.dir, false)?;
    match &args.keyspace {
        Some(name) => {
            existing_keyspace(&store, name, false)?;
            store.keyspace(name)?.delete(&key)?;
        }
        None => {
            store.delete(&key)?;
        }
    }
    store.close()?;
    Ok(ExitCode::SUCCESS)
}

/// Fails unless the store has keyspace `name` (or `create` allows making
/// it), so a mistyped name does not create a keyspace.
fn existing_keyspace(store: &SimpleLsmStore, name: &str, create: bool) -> anyhow::Result<()> {
    if create || store.keyspace_names()?.iter().any(|known| known == name) {
        return Ok(());
    }
    anyhow::bail!("no keyspace {name:?} in this store (give --create to create it with `put`)")
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
    let store = open_read_only(&args.dir)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let limit = args.limit.unwrap_or(usize::MAX);
    let range = match &args.keyspace {
        Some(name) => store.range_in(store.keyspace_id(name)?, (start, end))?,
        None => store.range((start, end))?,
    };
    for item in range.take(limit) {
        let (key, value) = item?;
        write_bytes(&mut out, &key, args.hex)?;
        out.write_all(b"\t")?;
        write_bytes(&mut out, &value, args.hex)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
