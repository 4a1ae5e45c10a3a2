//! `lsm demo`: see an LSM tree work.
//!
//! Drives a seeded workload (puts, gets, deletes and range scans, each at
//! its own rate) against `SimpleLsmStore`, `AsyncLsmStore` or both in turn,
//! samples each store every `--sample-ms` through its public `stats()`, and
//! writes `demo.csv` and a self-contained `report.html` (inline SVG charts)
//! into `--out`.
//!
//! Modules: [`args`] (flags → store config and workload), [`store`] (one
//! interface over both stores), [`driver`] (the paced workload threads),
//! [`sampler`] (counters + stats → one [`sampler::Sample`] per tick),
//! [`csv`], [`charts`] (plotters SVG) and [`report`] (the HTML page).
//!
//! # CSV columns
//! One row per sample per store:
//! `store, elapsed_ms, puts_per_s, gets_per_s, deletes_per_s, ranges_per_s`
//! (operations completed per second in the window since the previous
//! sample), `put_p50_us, put_p99_us, put_p999_us, put_max_us` (put latency
//! in the window, microseconds; empty if no put completed),
//! `memtable_bytes, immutable_memtables, immutable_bytes, flushes,
//! compactions` (the last two cumulative since open), `l0_files ..
//! lN_files`, `l0_bytes .. lN_bytes` (one column per level),
//! `wal_bytes, last_seq, visible_seq, watermark_lag` (`last_seq -
//! visible_seq`), `apply_queue_depth, apply_queue_max, pending_compactions`
//! (async store only; empty for the simple store; `apply_queue_max` is the
//! deepest queue seen polling every 2 ms during the window).
//!
//! What it never does: read a store's internals (only `stats()`, plus the
//! async store's public `queued_writes()` and `pending_compactions()`), or
//! delete a directory the user named with `--dir`.

pub mod args;
pub mod charts;
pub mod csv;
pub mod driver;
pub mod report;
pub mod sampler;
pub mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvStore, SimpleLsmStore, StoreStats};

pub use args::DemoArgs;
use driver::{Driver, OpTotals};
use sampler::{LatencySummary, Sample, Sampler};
use store::StoreKind;

/// Everything recorded about one store's run.
#[derive(Debug)]
pub struct StoreRun {
    /// Which store.
    pub kind: StoreKind,
    /// One sample per tick.
    pub samples: Vec<Sample>,
    /// Operations completed.
    pub totals: OpTotals,
    /// Put latency over the whole run (`None`: no puts).
    pub put_latency: Option<LatencySummary>,
    /// Stats after the workload stopped, before close.
    pub final_stats: StoreStats,
    /// Seconds the workload ran.
    pub workload_secs: f64,
    /// Seconds `close` took (the async store drains its queue first).
    pub close_secs: f64,
}

/// Where the stores live: a temporary directory we own, or the user's.
enum BaseDir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

impl BaseDir {
    fn path(&self) -> &Path {
        match self {
            BaseDir::Temp(dir) => dir.path(),
            BaseDir::Given(path) => path,
        }
    }
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let kinds = args.store.kinds();
    // Check the engine settings before doing anything slow.
    args.store_config(Path::new("."))?;
    let base = match &args.dir {
        Some(dir) => BaseDir::Given(dir.clone()),
        None => BaseDir::Temp(
            tempfile::Builder::new()
                .prefix("lsm-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?,
        ),
    };
    for kind in kinds {
        let dir = base.path().join(kind.name());
        if dir
            .read_dir()
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
        {
            anyhow::bail!(
                "store directory {} is not empty; give --dir a fresh directory",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the report directory {}", args.out.display()))?;
    let out = args.out.canonicalize().unwrap_or_else(|_| args.out.clone());
    let csv_path = out.join("demo.csv");
    let html_path = out.join("report.html");

    println!(
        "lsm demo: {} for {} s{}, puts {}, gets {}, deletes {}, range scans {}; \
         memtable {} KiB, WAL sync {}",
        kinds
            .iter()
            .map(|k| k.type_name())
            .collect::<Vec<_>>()
            .join(" then "),
        args.duration,
        if kinds.len() > 1 { " each" } else { "" },
        args.write_rate.label(),
        args.read_rate.label(),
        args.delete_rate.label(),
        args.range_rate.label(),
        args.memtable_bytes / 1024,
        args.wal_sync_label(),
    );
    let mut runs = Vec::with_capacity(kinds.len());
    for &kind in kinds {
        let run = run_store(kind, &args, &base.path().join(kind.name()))?;
        print_summary(&run);
        runs.push(run);
    }

    std::fs::write(&csv_path, csv::render(&runs))
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let settings = report::Settings {
        items: settings_items(&args),
        csv_path: csv_path.display().to_string(),
    };
    let html = report::render(&runs, &settings)?;
    std::fs::write(&html_path, html)
        .with_context(|| format!("cannot write {}", html_path.display()))?;

    match base {
        BaseDir::Temp(dir) if args.keep => {
            println!("store directory kept: {}", dir.keep().display());
        }
        BaseDir::Temp(dir) => dir
            .close()
            .context("cannot remove the temporary store directory")?,
        BaseDir::Given(path) => println!("store directory: {}", path.display()),
    }
    println!("samples: {}", csv_path.display());
    println!("report:  {}", html_path.display());
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn settings_items(args: &DemoArgs) -> Vec<(String, String)> {
    let distribution = match args.distribution {
        args::DistributionArg::Uniform => "uniform".to_string(),
        args::DistributionArg::Zipf => format!("zipf (skew {})", args.zipf_skew),
    };
    [
        ("duration", format!("{} s per store", args.duration)),
        ("sample every", format!("{} ms", args.sample_ms)),
        (
            "rates",
            format!(
                "puts {}, gets {}, deletes {}, range scans {} of {} keys",
                args.write_rate.label(),
                args.read_rate.label(),
                args.delete_rate.label(),
                args.range_rate.label(),
                args.range_len
            ),
        ),
        (
            "keys",
            format!(
                "{} distinct, {distribution}, {} B keys, {} B values",
                args.key_space, args.key_size, args.value_size
            ),
        ),
        (
            "engine",
            format!(
                "memtable {} KiB, tables {} KiB, L1 {} KiB ×{} per level, {} levels, \
                 L0 trigger {}, bloom {}",
                args.memtable_bytes / 1024,
                args.table_bytes / 1024,
                args.l1_bytes / 1024,
                args.level_ratio,
                args.levels,
                args.l0_trigger,
                args.bloom_label()
            ),
        ),
        (
            "WAL sync",
            if args.wal_sync == lsm_store_sync::SyncMode::Never {
                "never (the demo's default: it shows the tree's work, not the disk's \
                 fsync latency; writes are not durable until close)"
                    .to_string()
            } else {
                args.wal_sync_label()
            },
        ),
        ("seed", args.seed.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn print_summary(run: &StoreRun) {
    let latency = run
        .put_latency
        .map(|l| {
            format!(
                "put p50 {}, p99 {}, max {}",
                report::fmt_us(Some(l.p50_us)),
                report::fmt_us(Some(l.p99_us)),
                report::fmt_us(Some(l.max_us))
            )
        })
        .unwrap_or_else(|| "no puts".to_string());
    let levels: Vec<String> = run
        .final_stats
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("L{i}:{}", l.files))
        .collect();
    println!(
        "{:>14}: {} puts ({:.0}/s), {} gets, {} deletes, {} range scans in {:.1} s; \
         {} flushes, {} compactions; {latency}; tables {}; closed in {:.2} s",
        run.kind.type_name(),
        run.totals.puts,
        run.totals.puts as f64 / run.workload_secs.max(1e-9),
        run.totals.gets,
        run.totals.deletes,
        run.totals.ranges,
        run.workload_secs,
        run.final_stats.flushes,
        run.final_stats.compactions,
        levels.join(" "),
        run.close_secs,
    );
}

fn progress_bar(kind: StoreKind, duration: Duration) -> ProgressBar {
    let bar = ProgressBar::new(duration.as_millis() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>6} {elapsed:>4} {bar:16.cyan/blue} {wide_msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(kind.name());
    bar
}

fn progress_message(sample: &Sample) -> String {
    let ops = sample.puts_per_s + sample.gets_per_s + sample.deletes_per_s + sample.ranges_per_s;
    let files: Vec<String> = sample
        .level_files
        .iter()
        .enumerate()
        .map(|(i, n)| format!("L{i}:{n}"))
        .collect();
    format!(
        "{} ops/s | tables {} | {} flushes, {} compactions",
        charts::compact(ops.round()),
        files.join(" "),
        sample.flushes,
        sample.compactions
    )
}

/// Drives one store for `--duration` seconds, sampling it, then closes it.
fn run_store(kind: StoreKind, args: &DemoArgs, dir: &Path) -> anyhow::Result<StoreRun> {
    match kind {
        StoreKind::Simple => run_store_of::<SimpleLsmStore>(kind, args, dir),
        StoreKind::Async => run_store_of::<AsyncLsmStore>(kind, args, dir),
    }
}

/// [`run_store`] for the store type `S` (of kind `kind`).
fn run_store_of<S: KvStore + 'static>(
    kind: StoreKind,
    args: &DemoArgs,
    dir: &Path,
) -> anyhow::Result<StoreRun> {
    let config = args.store_config(dir)?;
    let store = Arc::new(
        S::open(config).with_context(|| format!("cannot open a store in {}", dir.display()))?,
    );
    let duration = Duration::from_secs_f64(args.duration);
    let tick = Duration::from_millis(args.sample_ms);
    let bar = progress_bar(kind, duration);

    let started = Instant::now();
    let driver = Driver::start(Arc::clone(&store), &args.workload())?;
    let mut sampler = Sampler::new(started)?;
    let sampled = sample_until(
        &*store,
        &driver,
        &mut sampler,
        &bar,
        started + duration,
        tick,
    );
    let workload_secs = started.elapsed().as_secs_f64();
    let stopped = driver.stop();
    bar.finish_and_clear();
    let totals = stopped.with_context(|| format!("{} workload failed", kind.type_name()))?;
    let samples = sampled?;
    let final_stats = store.stats()?;

    let closing = Instant::now();
    store.close()?;
    let close_secs = closing.elapsed().as_secs_f64();
    Ok(StoreRun {
        kind,
        samples,
        totals,
        put_latency: LatencySummary::of(sampler.whole_run_latency()),
        final_stats,
        workload_secs,
        close_secs,
    })
}

/// How often the sampler polls the async store's apply queue depth.
const QUEUE_POLL: Duration = Duration::from_millis(2);

/// Takes a sample every `tick` until `deadline` (the last one at the
/// deadline), or until a driver thread fails.
fn sample_until<S: KvStore>(
    store: &S,
    driver: &Driver,
    sampler: &mut Sampler,
    bar: &ProgressBar,
    deadline: Instant,
    tick: Duration,
) -> anyhow::Result<Vec<Sample>> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = start;
    loop {
        next = (next + tick).min(deadline);
        let queue_depth = || store.backlog().map(|b| b.queued_writes as u64);
        let mut queue_max = queue_depth();
        while Instant::now() < next && !driver.failed() {
            let left = next.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(QUEUE_POLL));
            if let (Some(max), Some(now)) = (queue_max.as_mut(), queue_depth()) {
                *max = (*max).max(now);
            }
        }
        if driver.failed() {
            return Ok(samples);
        }
        let sample = sampler.sample(store, driver.counters(), queue_max)?;
        bar.set_position(start.elapsed().as_millis() as u64);
        bar.set_message(progress_message(&sample));
        samples.push(sample);
        if next >= deadline {
            return Ok(samples);
        }
    }
}
