//! `lsm-crashtest`: the crash soak and the real power-cut harness of the
//! lsm stores. Run through `cargo xtask crash` and `cargo xtask powercut`.
//!
//! ```text
//! lsm-crashtest powercut --store sync|async|both --sync always|never|both --cycles N
//!                        [--keep-failures DIR] [--threads N] [--seed S]
//! lsm-crashtest kill     --store sync|async|both --sync always|never|both --cycles N
//!                        [--keep-failures DIR] [--threads N] [--seed S]
//! lsm-crashtest writer   --store sync|async --dir D --sync always|never --threads N
//!                        --seed S [--cycle C] [--checkpoints DIR]
//! lsm-crashtest inspect  --store sync|async --dir D [--sync always|never]
//! ```
//!
//! - `powercut` (root only) makes a 256 MiB ext4 image under `/tmp`,
//!   loop-mounts it, and per cycle runs `writer` on it, cuts the power at a
//!   random moment (the ext4 shutdown ioctl through `xfs_io`), SIGKILLs the
//!   writer, unmounts and mounts the image again, reopens the store in
//!   this process and checks it: open succeeds; every write acknowledged
//!   durable before the cut began is there (under `--sync always` every
//!   write, under `--sync never` the few written with
//!   `WriteOptions::SYNC`); per writer thread the store holds exactly the
//!   effects of a prefix of its writes (no holes) — puts, batches spanning
//!   the default keyspace and the thread's keyspace (all or nothing),
//!   range deletes over its recent keys, keyspace creates, puts and drops;
//!   across threads no acknowledged write is missing while one with a
//!   higher sequence number is there; no keyspace id without a listed
//!   name holds keys, and a dropped keyspace's name opens as a new, empty
//!   keyspace; values are right; keys and keyspaces seen by earlier
//!   cycles are still there; every checkpoint the writer took (one every 100 ms, into a
//!   directory beside the store) that completed before the cut opens
//!   holding every write acknowledged before it started, none started
//!   after it ended, per writer a prefix; one cut short fails to open with
//!   the "no CURRENT" error, or opens empty or consistent. Lost
//!   acknowledged writes are also classified by their
//!   timestamps against the cut (`ended_before_cut`, `straddling`,
//!   `started_after_cut`); straddling ones are not required. Every cycle
//!   reuses the same image and store directory.
//! - `kill` runs the same cycles in a temporary directory with SIGKILL
//!   instead of the power cut: every acknowledged write must survive, in
//!   both sync modes.
//! - `writer` is the child process both run.
//! - `fsync-probe` (root only) is the power cut without the store: threads
//!   append records to their own files with an `fdatasync` after each, and
//!   after the remount every record whose sync returned before the cut must
//!   be there; syncs in flight during the cut are reported apart (what the
//!   file system itself promises at the moment of the cut).
//! - `inspect` opens a store (e.g. in a kept image, mounted), scans it and
//!   prints how many keys each cycle and writer thread has.
//!
//! The state after a failing cycle (the image right after the cut, or a
//! copy of the store directory) is kept under `--keep-failures` (default
//! `/tmp/lsm-powercut-failures` or `/tmp/lsm-crash-failures`). The process
//! exits non-zero if any check failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test tool; its own unit tests unwrap"
)]

mod disk;
mod harness;
mod prefix;
mod probe;
mod workload;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use harness::{Fault, RunArgs};
use workload::{now_ns, StoreKind, SyncKind};

const USAGE: &str = "usage:
  lsm-crashtest powercut --store sync|async|both --sync always|never|both --cycles N [--keep-failures DIR] [--threads N] [--seed S]
  lsm-crashtest kill     --store sync|async|both --sync always|never|both --cycles N [--keep-failures DIR] [--threads N] [--seed S]
  lsm-crashtest writer   --store sync|async --dir D --sync always|never --threads N --seed S [--cycle C] [--checkpoints DIR]
  lsm-crashtest inspect  --store sync|async --dir D [--sync always|never]
  lsm-crashtest fsync-probe --cycles N [--threads N] [--seed S]";

/// `--name value` pairs.
fn flags(args: &[String], allowed: &[&str]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|n| allowed.contains(n))
            .with_context(|| format!("unknown argument `{flag}`\n{USAGE}"))?;
        let value = it
            .next()
            .with_context(|| format!("`{flag}` needs a value"))?;
        out.insert(name.to_string(), value.clone());
    }
    Ok(out)
}

fn get<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: Option<T>,
) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match flags.get(name) {
        Some(v) => v.parse().with_context(|| format!("bad --{name} `{v}`")),
        None => default.with_context(|| format!("--{name} is required\n{USAGE}")),
    }
}

fn stores(v: &str) -> Result<Vec<StoreKind>> {
    match v {
        "both" => Ok(vec![StoreKind::Sync, StoreKind::Async]),
        v => Ok(vec![StoreKind::parse(v)?]),
    }
}

fn syncs(v: &str) -> Result<Vec<SyncKind>> {
    match v {
        "both" => Ok(vec![SyncKind::Always, SyncKind::Never]),
        v => Ok(vec![SyncKind::parse(v)?]),
    }
}

fn run_args(fault: Fault, rest: &[String]) -> Result<RunArgs> {
    let f = flags(
        rest,
        &[
            "store",
            "sync",
            "cycles",
            "keep-failures",
            "threads",
            "seed",
        ],
    )?;
    let default_keep = match fault {
        Fault::PowerCut => "/tmp/lsm-powercut-failures",
        Fault::Kill => "/tmp/lsm-crash-failures",
    };
    Ok(RunArgs {
        fault,
        stores: stores(&get::<String>(&f, "store", Some("both".into()))?)?,
        syncs: syncs(&get::<String>(&f, "sync", Some("both".into()))?)?,
        cycles: get(&f, "cycles", None)?,
        threads: get(&f, "threads", Some(4))?,
        seed: get(&f, "seed", Some(now_ns()))?,
        keep_failures: PathBuf::from(get::<String>(
            &f,
            "keep-failures",
            Some(default_keep.into()),
        )?),
    })
}

/// Replays a kept failure: opens the store in `dir` (recovering it), scans
/// it and prints how many keys each cycle and thread has and the highest
/// index present, then each keyspace with its number of keys.
fn inspect(store: StoreKind, dir: &std::path::Path, sync: SyncKind) -> Result<()> {
    let store = workload::Store::open(store, dir, sync).context("open")?;
    let pairs = store.scan_all().context("full scan")?;
    let mut per: std::collections::BTreeMap<(u32, usize), (u64, u64)> = Default::default();
    for (k, _) in &pairs {
        if let Some(id) = workload::parse_key(k) {
            let e = per.entry((id.cycle, id.thread)).or_default();
            e.0 += 1;
            e.1 = e.1.max(id.index);
        }
    }
    println!("{} keys", pairs.len());
    for ((cycle, thread), (n, max)) in per {
        println!("cycle {cycle} thread {thread}: {n} keys, highest index {max}");
    }
    for name in store.keyspace_names().context("keyspace names")? {
        // Listed: opening it by name writes nothing.
        let id = store.open_keyspace(&name)?;
        let n = store.scan_keyspace(id)?.len();
        println!("keyspace {name:?} (id {id}): {n} keys");
    }
    store.close().context("close")
}

fn main() {
    // One line per error, no backtrace: the checks print their own details.
    if let Err(e) = real_main() {
        eprintln!("lsm-crashtest: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args.split_first().context(USAGE)?;
    let fault = match command.as_str() {
        "writer" => {
            let f = flags(
                rest,
                &[
                    "store",
                    "dir",
                    "sync",
                    "threads",
                    "seed",
                    "cycle",
                    "checkpoints",
                ],
            )?;
            return writer::run(writer::WriterArgs {
                store: StoreKind::parse(&get::<String>(&f, "store", None)?)?,
                dir: PathBuf::from(get::<String>(&f, "dir", None)?),
                sync: SyncKind::parse(&get::<String>(&f, "sync", None)?)?,
                threads: get(&f, "threads", None)?,
                seed: get(&f, "seed", None)?,
                cycle: get(&f, "cycle", Some(0))?,
                checkpoints: f.get("checkpoints").map(PathBuf::from),
            });
        }
        "inspect" => {
            let f = flags(rest, &["store", "dir", "sync"])?;
            return inspect(
                StoreKind::parse(&get::<String>(&f, "store", None)?)?,
                &PathBuf::from(get::<String>(&f, "dir", None)?),
                SyncKind::parse(&get::<String>(&f, "sync", Some("always".into()))?)?,
            );
        }
        "fsync-probe" => {
            let f = flags(rest, &["cycles", "threads", "seed"])?;
            let ok = probe::run(
                get(&f, "cycles", Some(20))?,
                get(&f, "threads", Some(4))?,
                get(&f, "seed", Some(now_ns()))?,
            )?;
            if !ok {
                bail!("a record whose fdatasync returned before the cut was lost");
            }
            return Ok(());
        }
        "powercut" => Fault::PowerCut,
        "kill" => Fault::Kill,
        other => bail!("unknown subcommand `{other}`\n{USAGE}"),
    };
    let run = run_args(fault, rest)?;
    if run.cycles == 0 || run.threads == 0 || run.cycles > 9999 || run.threads > 64 {
        bail!("--cycles must be 1..=9999 and --threads 1..=64");
    }
    if !harness::run(&run)? {
        bail!("some checks failed (see the lines above)");
    }
    Ok(())
}
