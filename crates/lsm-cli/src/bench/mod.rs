//! `lsm bench`: db_bench-style workloads against one or more engines, with
//! latency percentiles, write and space amplification and peak RSS, printed
//! as a Markdown table and/or JSON lines.
//!
//! For each engine the workloads run in sequence on one store (db_bench's
//! way): the fills start from an empty store, everything else works on what
//! the previous workloads left. See [`workloads`] for what each workload
//! does, [`engine`] for the adapter trait, and (with the `peers` feature)
//! `peers` for how RocksDB, fjall and sled are configured.
//!
//! Measurement windows: ops/s and latencies cover the timed operations
//! only. Write amplification covers the operations plus
//! [`engine::KvEngine::settle`] (waiting for background flushes and
//! compactions the workload caused), and is read from `/proc/self/io`
//! (`write_bytes`, or `wchar` when `write_bytes` stays 0). Space
//! amplification (allocated bytes of the store directory over live data) is
//! measured after settling. Peak RSS is the process's
//! `VmHWM`, reset before each workload through `/proc/self/clear_refs`
//! where the kernel allows it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub mod engine;
pub mod metrics;
#[cfg(feature = "peers")]
pub mod peers;
pub mod report;
pub mod workloads;

use engine::{EngineKind, EngineSettings, KvEngine};
use metrics::IoCounters;
use report::Row;

use lsm_store_sync::SyncMode;

use crate::units::{human_bytes, parse_size, parse_size_usize, parse_sync_mode, sync_mode_label};
use crate::UsageError;
use workloads::{LiveKeys, Workload, WorkloadParams};

/// Arguments of `lsm bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Workloads to run, in order (comma-separated): fillseq, fillrandom,
    /// overwrite, readrandom, readmissing, seekrandom, readseq, fillsync,
    /// readwhilewriting.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "fillseq,fillsync,fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readwhilewriting"
    )]
    pub benchmarks: String,
    /// Engines to run them against (comma-separated): lsm-sync, lsm-async;
    /// with the `peers` cargo feature also rocksdb, fjall, sled.
    #[arg(long, value_name = "LIST", default_value = "lsm-sync,lsm-async")]
    pub engine: String,
    /// Number of keys (fillsync writes a hundredth of them).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Lookups of readrandom, readmissing and readwhilewriting; seekrandom
    /// seeks a tenth of this many times [default: --num].
    #[arg(long)]
    pub reads: Option<u64>,
    /// Key size (at least 8 bytes; a size: bytes, or 1k, 4KiB, ...).
    #[arg(long, default_value = "16", value_parser = parse_size_usize)]
    pub key_size: usize,
    /// Value size.
    #[arg(long, default_value = "100", value_parser = parse_size_usize)]
    pub value_size: usize,
    /// Threads of fillsync, and readers of readwhilewriting.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 301)]
    pub seed: u64,
    /// Keep the stores in DIR/ENGINE (which must not exist or be empty)
    /// instead of a temporary directory removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Memtable (write buffer) size.
    #[arg(long, default_value = "64MiB", value_parser = parse_size_usize)]
    pub memtable_bytes: usize,
    /// Bloom filter bits per key (0 disables filters).
    #[arg(long, default_value_t = 10)]
    pub bloom_bits: u32,
    /// Block cache size.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub block_cache_bytes: u64,
    /// WAL sync of the lsm engines outside fillsync: never, always or
    /// every-bytes:N (fillsync always syncs every put).
    #[arg(long, default_value = "never", value_parser = parse_sync_mode)]
    pub wal_sync: SyncMode,
    /// Print the results as JSON lines (one object per engine and
    /// workload) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

/// Everything a run needs, parsed and checked.
#[derive(Debug)]
struct Plan {
    workloads: Vec<Workload>,
    engines: Vec<EngineKind>,
    params: WorkloadParams,
    settings: EngineSettings,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Result<Plan> {
        let workloads = Workload::parse_list(&args.benchmarks)?;
        let engines = EngineKind::parse_list(&args.engine)?;
        if args.num == 0 {
            return Err(UsageError("--num must be at least 1".to_string()).into());
        }
        if args.threads == 0 {
            return Err(UsageError("--threads must be at least 1".to_string()).into());
        }
        if args.key_size < 8 {
            return Err(UsageError(
                "--key-size must be at least 8 (keys are zero-padded decimal numbers)".to_string(),
            )
            .into());
        }
        if args.num > 1 << 32 {
            return Err(UsageError("--num must be at most 2^32".to_string()).into());
        }
        Ok(Plan {
            workloads,
            engines,
            params: WorkloadParams {
                num: args.num,
                reads: args.reads.unwrap_or(args.num).max(1),
                key_size: args.key_size,
                value_size: args.value_size,
                threads: args.threads,
                seed: args.seed,
            },
            settings: EngineSettings {
                memtable_bytes: args.memtable_bytes,
                bloom_bits: args.bloom_bits,
                block_cache_bytes: args.block_cache_bytes,
                wal_sync: args.wal_sync,
            },
        })
    }
}

/// Runs the benchmarks.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let plan = Plan::from_args(&args)?;
    let mut json_file = match &args.json_out {
        Some(path) => Some(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    for &kind in &plan.engines {
        // A temporary directory lives (and is removed) with `_temp`.
        let (dir, _temp) = match &args.db {
            Some(base) => (prepare_db_dir(base, kind)?, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix(&format!("lsm-bench-{}-", kind.name()))
                    .tempdir()
                    .context("creating a temporary directory")?;
                (temp.path().join("db"), Some(temp))
            }
        };
        for row in run_engine(kind, &dir, &plan)? {
            let line = row.to_json().context("encoding a result as JSON")?;
            if let Some(file) = &mut json_file {
                writeln!(file, "{line}").context("writing --json-out")?;
            }
            if args.json {
                println!("{line}");
            }
            rows.push(row);
        }
    }
    if !args.json {
        print!("{}", report::markdown_table(&rows));
        println!();
        print!("{}", settings_notes(&plan, &rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// `base/<engine>`, created; refuses a non-empty one (the fills wipe it).
fn prepare_db_dir(base: &Path, kind: EngineKind) -> Result<PathBuf> {
    let dir = base.join(kind.name());
    if let Ok(mut entries) = std::fs::read_dir(&dir) {
        if entries.next().is_some() {
            bail!(
                "{} is not empty: remove it or pick another --db (the fill workloads wipe it)",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Empties `dir` for a fill workload.
fn wipe(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// The open engine and whether it syncs every put.
struct OpenEngine {
    engine: Box<dyn KvEngine>,
    durable: bool,
}

/// Runs every workload of `plan` on one engine in `dir`.
fn run_engine(kind: EngineKind, dir: &Path, plan: &Plan) -> Result<Vec<Row>> {
    let params = &plan.params;
    let mut live = LiveKeys::new(params.num);
    let mut open: Option<OpenEngine> = None;
    let mut rows = Vec::new();
    for &workload in &plan.workloads {
        let reopen = match &open {
            None => true,
            Some(o) => workload.starts_empty() || o.durable != workload.durable(),
        };
        if reopen {
            if let Some(o) = open.take() {
                o.engine
                    .close()
                    .with_context(|| format!("closing {}", kind.name()))?;
            }
            if workload.starts_empty() {
                wipe(dir)?;
                live.clear();
            }
            open = Some(OpenEngine {
                engine: kind.open(dir, &plan.settings, workload.durable())?,
                durable: workload.durable(),
            });
        }
        let Some(o) = &open else {
            bail!("internal error: no open engine");
        };
        let started = Instant::now();
        let bar = progress_bar(o.engine.name(), workload.name());
        let rss_reset = metrics::reset_peak_rss();
        let io_before = IoCounters::read();
        let outcome = workloads::run(workload, o.engine.as_ref(), params, &mut live)
            .with_context(|| format!("{} on {}", workload.name(), kind.name()))?;
        if workload.writes() {
            o.engine
                .settle()
                .with_context(|| format!("settling {} after {}", kind.name(), workload.name()))?;
        }
        let io_after = IoCounters::read();
        let disk_bytes = match (io_before, io_after) {
            (Some(before), Some(after)) if workload.writes() => {
                let (bytes, source) = before.written_until(&after);
                Some((bytes, source.name()))
            }
            _ => None,
        };
        let (dir_bytes, live_bytes) = if workload.writes() {
            let entry = (params.key_size + params.value_size) as u64;
            (Some(metrics::dir_bytes(dir)?), Some(live.count() * entry))
        } else {
            (None, None)
        };
        bar.finish_and_clear();
        eprintln!(
            "{} {}: {} ops in {:.1} s",
            o.engine.name(),
            workload.name(),
            outcome.ops,
            started.elapsed().as_secs_f64()
        );
        let measured = Measured {
            outcome: &outcome,
            disk_bytes,
            rss_reset,
            dir_bytes,
            live_bytes,
        };
        rows.push(make_row(kind, workload, params, &measured));
    }
    if let Some(o) = open.take() {
        o.engine
            .close()
            .with_context(|| format!("closing {}", kind.name()))?;
    }
    Ok(rows)
}

/// A spinner on stderr while a workload runs (the demo's indicatif style;
/// drawn only on a terminal). It shows the elapsed time, not a count: the
/// workloads are not slowed by reporting each operation.
fn progress_bar(engine: &str, workload: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} {elapsed:>4} {wide_msg}") {
        bar.set_style(style);
    }
    bar.set_message(format!("{engine} {workload}"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// What `run_engine` measured around a workload.
struct Measured<'a> {
    outcome: &'a workloads::Outcome,
    disk_bytes: Option<(u64, &'static str)>,
    rss_reset: bool,
    dir_bytes: Option<u64>,
    live_bytes: Option<u64>,
}

fn make_row(
    kind: EngineKind,
    workload: Workload,
    params: &WorkloadParams,
    measured: &Measured<'_>,
) -> Row {
    let outcome = measured.outcome;
    let latency = &outcome.latency;
    debug_assert!(
        latency.count() <= outcome.ops,
        "more samples than operations"
    );
    Row {
        engine: kind.name().to_string(),
        workload: workload.name(),
        ops: outcome.ops,
        threads: if workload.threaded() {
            params.threads
        } else {
            1
        },
        seconds: outcome.elapsed.as_secs_f64(),
        p50_us: latency.quantile_micros(0.5),
        p99_us: latency.quantile_micros(0.99),
        p999_us: latency.quantile_micros(0.999),
        max_us: latency.max_micros(),
        user_bytes: outcome.user_bytes,
        disk_bytes: measured.disk_bytes,
        dir_bytes: measured.dir_bytes,
        live_bytes: measured.live_bytes,
        peak_rss_bytes: metrics::peak_rss_bytes(),
        peak_rss_scope: if measured.rss_reset {
            "workload"
        } else {
            "process"
        },
        found: outcome.found,
        note: outcome.note.clone(),
    }
}

/// The text under the table: the settings and how to read each column.
fn settings_notes(plan: &Plan, rows: &[Row]) -> String {
    let p = &plan.params;
    let s = &plan.settings;
    let counter = if rows.iter().any(|r| {
        matches!(r.disk_bytes, Some((_, source)) if source != "write_bytes") && r.user_bytes > 0
    }) {
        "write_bytes, or wchar where the notes say so"
    } else {
        "write_bytes"
    };
    let rss = if rows.iter().all(|r| r.peak_rss_scope == "workload") {
        "reset to the current RSS before each workload, so it is the peak during that \
         workload (memory kept from earlier workloads and engines still counts)"
    } else {
        "NOT resettable here, so it is the peak since the process started"
    };
    let mut out = String::new();
    out.push_str(&format!(
        "- Settings: {} keys of {} B, values of {} B, {} reads ({} seeks of {} entries), \
         fillsync {} puts on {} threads, readwhilewriting {} readers + 1 writer, seed {}.\n",
        p.num,
        p.key_size,
        p.value_size,
        p.reads,
        p.seeks(),
        workloads::SEEK_SCAN_LENGTH,
        p.fillsync_ops(),
        p.threads,
        p.threads,
        p.seed,
    ));
    out.push_str(&format!(
        "- Engines: memtable {}, bloom {} bits/key, block cache {}, compression off, \
         WAL on; lsm WAL sync {} outside fillsync, every put synced in fillsync.\n",
        human_bytes(s.memtable_bytes as u64),
        s.bloom_bits,
        human_bytes(s.block_cache_bytes),
        sync_mode_label(s.wal_sync),
    ));
    out.push_str(
        "- Latencies in microseconds (hdrhistogram); ops/s over the timed operations \
         (reads/s for readwhilewriting, entries/s for readseq).\n",
    );
    out.push_str(&format!(
        "- w-amp: bytes the whole process wrote (/proc/self/io {counter}) during the workload \
         and until its background work settled, over key+value bytes put. \
         s-amp: store directory size on disk (allocated blocks) over live keys x (key+value). Both n/a for reads.\n"
    ));
    out.push_str(&format!(
        "- Peak RSS: VmHWM of the whole process (all threads), {rss}.\n"
    ));
    out
}
