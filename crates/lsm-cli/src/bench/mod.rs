//! `lsm bench`: db_bench-style workloads against one or more engines, with
//! latency percentiles, write and space amplification and peak RSS, printed
//! as a Markdown table and/or JSON lines.
//!
//! For each engine the workloads run in sequence on one store (db_bench's
//! way): the fills start from an empty store, everything else works on what
//! the previous workloads left. See [`workloads`] for what each workload
//! does, [`engine`] for the adapter trait, and (with the `peers` feature)
//! `peers` for how RocksDB, fjall, sled and redb are configured.
//!
//! By default each engine runs in its own child process ([`isolate`]);
//! `--in-process` runs them all in this one; `--lsm-exe` runs the lsm
//! engines' processes from another build (one without the peers' code).
//! `--repeat N` runs each engine N times, interleaved across engines, and
//! reports the median run of each workload ([`repeat`]). Before the engines, [`probe`] measures the disk's
//! synced-write rate and [`sched_probe`] how long a busy thread can go
//! without running; after them, [`summary`] compares the better lsm
//! engine with the best peer.
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
pub mod isolate;
pub mod metrics;
#[cfg(feature = "peers")]
pub mod peers;
pub mod probe;
pub mod repeat;
pub mod report;
pub mod sched_probe;
pub mod summary;
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
    /// Workloads to run, in order (comma-separated): fillseq, fillsync1,
    /// fillsync, fillrandom, overwrite, readrandom, readmissing, seekrandom,
    /// readseq, readwhilewriting.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "fillseq,fillsync1,fillsync,fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readwhilewriting"
    )]
    pub benchmarks: String,
    /// Engines to run them against (comma-separated): lsm-sync, lsm-async;
    /// with the `peers` cargo feature also rocksdb, fjall, sled, redb.
    #[arg(long, value_name = "LIST", default_value = "lsm-sync,lsm-async")]
    pub engine: String,
    /// Number of keys (fillsync1 and fillsync write a hundredth of them).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Lookups of readrandom, readmissing and readwhilewriting; seekrandom
    /// seeks a tenth of this many times [default: --num].
    #[arg(long)]
    pub reads: Option<u64>,
    /// Key size (8 bytes to the store's key limit; a size: bytes, or 1k,
    /// 4KiB, ...).
    #[arg(long, default_value = "16", value_parser = parse_size_usize)]
    pub key_size: usize,
    /// Value size (at most the store's value limit, 32 MiB).
    #[arg(long, default_value = "100", value_parser = parse_size_usize)]
    pub value_size: usize,
    /// Threads of fillsync (fillsync1 uses one), and readers of
    /// readwhilewriting (1 to 1024).
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 301)]
    pub seed: u64,
    /// Keep the stores in DIR/ENGINE (DIR/run-K/ENGINE with --repeat above
    /// 1; each must not exist or be empty) instead of a temporary directory
    /// removed afterwards. The fsync probe runs in DIR.
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
    /// WAL sync of the lsm engines outside fillsync and fillsync1: never,
    /// always or every-bytes:N (those two always sync every put).
    #[arg(long, default_value = "never", value_parser = parse_sync_mode)]
    pub wal_sync: SyncMode,
    /// Print the results as JSON lines (the probe, one object per engine
    /// and workload, one summary per workload) instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// Run every engine in this process, one after another, instead of
    /// each engine (and run) in its own child process.
    #[arg(long)]
    pub in_process: bool,
    /// Run the lsm engines' processes from this `lsm` binary instead of
    /// this one: a build without the `peers` feature, so that the peers'
    /// code, resident in every process of a `peers` build (9-14 MiB),
    /// stays out of the lsm engines' peak RSS, as it is out of a program
    /// that uses lsm. It must print the same `--version` as this binary.
    /// Not with --in-process.
    #[arg(long, value_name = "PATH", conflicts_with = "in_process")]
    pub lsm_exe: Option<PathBuf>,
    /// Runs of each engine, interleaved across engines (A1 B1 A2 B2 ...);
    /// each row reports the run with the median ops/s of its workload (the
    /// lower middle one for an even N).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// At most this many synced writes per case of the fsync probe (each
    /// case also stops after 1 s; at most 1000000, as the overwrite case
    /// first writes a file of N x 128 bytes).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub probe_ops: u64,
    /// Skip the fsync and scheduling probes.
    #[arg(long)]
    pub no_probe: bool,
}

/// Everything a run needs, parsed and checked.
#[derive(Debug)]
struct Plan {
    workloads: Vec<Workload>,
    engines: Vec<EngineKind>,
    params: WorkloadParams,
    settings: EngineSettings,
    /// Runs of each engine (`--repeat`).
    repeat: u32,
    /// Each engine (and run) in its own process.
    isolated: bool,
    /// The binary the lsm engines' processes run (`--lsm-exe`), if not
    /// this one.
    lsm_exe: Option<PathBuf>,
}

/// The most `--threads`: fillsync's writers and readwhilewriting's
/// readers are each a thread.
const MAX_THREADS: usize = 1024;

/// The most `--probe-ops`: the fsync probe's overwrite case first fills a
/// file of `N` x [`probe::PROBE_WRITE_BYTES`] with zeros (128 MB here), and
/// an unbounded `N` filled the disk.
const MAX_PROBE_OPS: u64 = 1_000_000;

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
        if args.threads > MAX_THREADS {
            return Err(UsageError(format!("--threads must be at most {MAX_THREADS}")).into());
        }
        if args.key_size < 8 {
            return Err(UsageError(
                "--key-size must be at least 8 (keys are zero-padded decimal numbers)".to_string(),
            )
            .into());
        }
        if args.key_size > lsm_core::MAX_KEY_BYTES {
            return Err(UsageError(format!(
                "--key-size must be at most {} (the store's key limit)",
                lsm_core::MAX_KEY_BYTES
            ))
            .into());
        }
        if args.value_size > lsm_core::MAX_VALUE_BYTES {
            return Err(UsageError(format!(
                "--value-size must be at most {} (the store's value limit)",
                lsm_core::MAX_VALUE_BYTES
            ))
            .into());
        }
        if args.num > 1 << 32 {
            return Err(UsageError("--num must be at most 2^32".to_string()).into());
        }
        // Keys keep the last `key_size` digits of their index: fewer digits
        // than the largest index has would make distinct indexes one key.
        if args.key_size < 20 && args.num > 10u64.pow(args.key_size as u32) {
            return Err(UsageError(format!(
                "--key-size {} holds {} distinct keys, fewer than --num {}",
                args.key_size,
                10u64.pow(args.key_size as u32),
                args.num
            ))
            .into());
        }
        if args.repeat == 0 {
            return Err(UsageError("--repeat must be at least 1".to_string()).into());
        }
        if args.probe_ops == 0 {
            return Err(UsageError(
                "--probe-ops must be at least 1 (--no-probe skips the probe)".to_string(),
            )
            .into());
        }
        if args.probe_ops > MAX_PROBE_OPS {
            return Err(UsageError(format!(
                "--probe-ops must be at most {MAX_PROBE_OPS} (the overwrite case first writes a \
                 file of N x {} bytes)",
                probe::PROBE_WRITE_BYTES
            ))
            .into());
        }
        if let Some(exe) = &args.lsm_exe {
            check_lsm_exe(exe)?;
        }
        let settings = EngineSettings {
            memtable_bytes: args.memtable_bytes,
            bloom_bits: args.bloom_bits,
            block_cache_bytes: args.block_cache_bytes,
            wal_sync: args.wal_sync,
        };
        if engines.iter().any(|kind| kind.is_lsm()) {
            settings.validate_for_lsm()?;
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
            settings,
            repeat: args.repeat,
            isolated: !args.in_process,
            lsm_exe: args.lsm_exe.clone(),
        })
    }
}

/// Checks that `exe` runs and prints this binary's `--version`, so that
/// `--lsm-exe` names a build of this same lsm (with or without `peers`).
fn check_lsm_exe(exe: &Path) -> Result<()> {
    let want = format!("lsm {}", env!("CARGO_PKG_VERSION"));
    let out = std::process::Command::new(exe)
        .arg("--version")
        .output()
        .map_err(|e| UsageError(format!("--lsm-exe {}: cannot run it: {e}", exe.display())))?;
    let got = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || got.trim() != want {
        return Err(UsageError(format!(
            "--lsm-exe {}: its --version printed {:?}, not {want:?}",
            exe.display(),
            got.trim()
        ))
        .into());
    }
    Ok(())
}

/// Runs the benchmarks: the fsync probe, every run of every engine (each
/// in its own process unless `--in-process`), then the table, the summary
/// and the notes (or JSON lines).
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let plan = Plan::from_args(&args)?;
    let mut json_file = match &args.json_out {
        Some(path) => Some(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => None,
    };
    let mut emit = |line: &str| -> Result<()> {
        if let Some(file) = &mut json_file {
            writeln!(file, "{line}").context("writing --json-out")?;
        }
        if args.json {
            outln!("{line}")?;
        }
        Ok(())
    };

    let probes = if args.no_probe {
        None
    } else {
        let dir = match &args.db {
            Some(base) => base.clone(),
            None => std::env::temp_dir(),
        };
        let probe = probe::probe_fsync(&dir, args.probe_ops, probe::PROBE_MAX_TIME)?;
        emit(&probe.to_json().context("encoding the probe as JSON")?)?;
        let sched = sched_probe::probe_scheduling(sched_probe::SCHED_PROBE_TIME)?;
        emit(
            &sched
                .to_json()
                .context("encoding the scheduling probe as JSON")?,
        )?;
        if !args.json {
            outln!("{}", probe.describe())?;
            outln!("{}", sched.describe())?;
            outln!()?;
        }
        Some((probe, sched))
    };

    // Where the children write their rows; removed with `_rows_dir`.
    let rows_dir = if args.in_process {
        None
    } else {
        Some(
            tempfile::Builder::new()
                .prefix("lsm-bench-rows-")
                .tempdir()
                .context("creating a temporary directory for the children's rows")?,
        )
    };
    let mut runs: Vec<Vec<Vec<Row>>> = plan.engines.iter().map(|_| Vec::new()).collect();
    for run in 1..=plan.repeat {
        for (&kind, engine_runs) in plan.engines.iter().zip(&mut runs) {
            let db = args.db.as_ref().map(|base| {
                if plan.repeat > 1 {
                    base.join(format!("run-{run}"))
                } else {
                    base.clone()
                }
            });
            let label = if plan.repeat > 1 {
                format!("{} run {run}/{}", kind.name(), plan.repeat)
            } else {
                kind.name().to_string()
            };
            let rows = match &rows_dir {
                None => run_in_this_process(kind, db.as_deref(), &plan)?,
                Some(rows_dir) => {
                    let out = rows_dir
                        .path()
                        .join(format!("{}-run-{run}.jsonl", kind.name()));
                    let exe = match &plan.lsm_exe {
                        Some(exe) if kind.is_lsm() => exe.clone(),
                        _ => std::env::current_exe()
                            .context("finding the lsm binary to re-execute")?,
                    };
                    isolate::run_child(&exe, &args, kind, db.as_deref(), &out, &label)?
                }
            };
            check_rows(&rows, kind, &plan).with_context(|| format!("the rows of {label}"))?;
            engine_runs.push(rows);
        }
    }
    let mut rows = Vec::new();
    for engine_runs in runs {
        rows.extend(repeat::pick_median(engine_runs)?);
    }
    for row in &rows {
        emit(&row.to_json().context("encoding a result as JSON")?)?;
    }
    let summaries = summary::summarize(&rows);
    for s in &summaries {
        emit(&s.to_json().context("encoding a summary as JSON")?)?;
    }
    if !args.json {
        out!("{}", report::markdown_table(&rows))?;
        outln!()?;
        out!("{}", summary::markdown(&summaries))?;
        outln!()?;
        out!("{}", settings_notes(&plan, &rows, probes.as_ref()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `kind` in this process, in `base/<engine>` or a temporary
/// directory removed afterwards.
fn run_in_this_process(kind: EngineKind, base: Option<&Path>, plan: &Plan) -> Result<Vec<Row>> {
    // A temporary directory lives (and is removed) with `_temp`.
    let (dir, _temp) = match base {
        Some(base) => (prepare_db_dir(base, kind)?, None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix(&format!("lsm-bench-{}-", kind.name()))
                .tempdir()
                .context("creating a temporary directory")?;
            (temp.path().join("db"), Some(temp))
        }
    };
    run_engine(kind, &dir, plan)
}

/// Checks that a run returned one row of `kind` per planned workload, in
/// order (a child could be a different build).
fn check_rows(rows: &[Row], kind: EngineKind, plan: &Plan) -> Result<()> {
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.engine.as_str(), r.workload))
        .collect();
    let expected: Vec<(&str, &str)> = plan
        .workloads
        .iter()
        .map(|w| (kind.name(), w.name()))
        .collect();
    if got != expected {
        bail!("expected rows {expected:?}, got {got:?}");
    }
    Ok(())
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
        errln!(
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
        put_p999_us: outcome
            .put_latency
            .as_ref()
            .map(|l| l.quantile_micros(0.999)),
        put_max_us: outcome.put_latency.as_ref().map(|l| l.max_micros()),
        put_ops_per_sec: outcome.put_ops_per_sec,
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
        runs: 1,
        ops_per_sec_spread: None,
        note: outcome.note.clone(),
    }
}

/// The text under the tables: the settings and how to read each column,
/// the summary, the probe, the process isolation and the repeat policy.
fn settings_notes(
    plan: &Plan,
    rows: &[Row],
    probes: Option<&(probe::FsyncProbe, sched_probe::SchedProbe)>,
) -> String {
    let p = &plan.params;
    let s = &plan.settings;
    let counter = if rows.iter().any(|r| {
        matches!(r.disk_bytes, Some((_, source)) if source != "write_bytes") && r.user_bytes > 0
    }) {
        "write_bytes, or wchar where the notes say so"
    } else {
        "write_bytes"
    };
    let kept = if plan.isolated {
        "memory kept from earlier workloads of the same engine still counts"
    } else {
        "memory kept from earlier workloads and engines still counts"
    };
    let rss = if rows.iter().all(|r| r.peak_rss_scope == "workload") {
        format!(
            "reset to the current RSS before each workload, so it is the peak during that \
             workload ({kept})"
        )
    } else {
        "NOT resettable here, so it is the peak since the process started".to_string()
    };
    let mut out = String::new();
    out.push_str(&format!(
        "- Settings: {} keys of {} B, values of {} B, {} reads ({} seeks of {} entries), \
         fillsync1 {} puts on 1 thread, fillsync the same puts on {} threads, \
         readwhilewriting {} readers + 1 writer, seed {}.\n",
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
         WAL on; lsm WAL sync {} outside fillsync1/fillsync, every put synced in them.\n",
        human_bytes(s.memtable_bytes as u64),
        s.bloom_bits,
        human_bytes(s.block_cache_bytes),
        sync_mode_label(s.wal_sync),
    ));
    if plan.isolated {
        out.push_str(
            "- Processes: each engine (and each run) ran in its own `lsm bench` process, \
             one after another, so one engine's heap, threads and peak RSS stay out of \
             the others' numbers.\n",
        );
        if let Some(exe) = &plan.lsm_exe {
            out.push_str(&format!(
                "- The lsm engines' processes ran {} (--lsm-exe: a build without the peers' \
                 code, which is resident in every process of a peers build); the peers' ran \
                 this binary, so each peer's peak RSS also holds the other peers' resident \
                 code (`lsm --version` peaks at about 13 MiB in a peers build, 4 MiB without).\n",
                exe.display()
            ));
        }
    } else {
        out.push_str(
            "- Processes: --in-process: every engine ran in this one process, one after \
             another; an engine's leftover heap and threads can weigh on the ones after it.\n",
        );
    }
    if plan.repeat > 1 {
        let pick = if plan.repeat.is_multiple_of(2) {
            "the lower of the two middle runs by ops/s (an even count has no single median)"
        } else {
            "the run with the median ops/s"
        };
        out.push_str(&format!(
            "- Repeats: each engine ran {} times, interleaved across engines (A1 B1 A2 B2 ...); \
             each row is, per workload, {pick}, reported whole (its own latencies, w-amp, \
             RSS), not an average; its notes give the ops/s range of all runs.\n",
            plan.repeat
        ));
    } else {
        out.push_str("- Repeats: one run per engine (--repeat 1): no spread measured.\n");
    }
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
    out.push_str(
        "- Summary: better lsm = the faster of the lsm-* engines on that workload; best peer = \
         the fastest other engine; lsm/peer = better lsm ops/s over best peer ops/s (above 1: \
         lsm faster; n/a without a peer). readwhilewriting's writers are compared on a line \
         of their own: the lsm engine whose writer put the most per second against the peer \
         whose writer did. The writing-workloads table shows lsm-sync, lsm-async, \
         rocksdb (if run) and the best peer; its rates and latencies are per put (for \
         readwhilewriting those of its one writer; the main table's are per read).\n",
    );
    if let Some((probe, sched)) = probes {
        out.push_str(&format!(
            "- fsync probe (in {}): {}-byte writes, each followed by fdatasync, for at most \
             {} writes or {:.1} s per case. append: to the end of a new file, so every sync also \
             commits the file's new size and blocks (what a WAL append costs); overwrite: over \
             a file first filled with zeros and synced, from offset 0, so only data is synced. \
             overwrite/append well above 1 means metadata dominates the disk's sync cost; \
             fillsync1 near the append rate means the engine is bound by the disk.\n",
            probe.dir.display(),
            probe::PROBE_WRITE_BYTES,
            probe.max_ops,
            probe.max_time.as_secs_f64(),
        ));
        out.push_str(&format!(
            "- scheduling probe: {} thread spinning on the clock for {:.1} s, then {} at once; \
             a gap is time a thread was not running (preempted by another thread of the \
             machine, or its virtual CPU taken by the host: steal). A put is timed the same way, \
             so an engine that keeps every core busy can see puts as slow as the all-cores gap \
             whatever its code.\n",
            sched.one_core.threads,
            sched.time.as_secs_f64(),
            sched.all_cores.threads,
        ));
    }
    out
}
