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
//! [`progress`] (the progress line), [`csv`], [`latency`] (the whole run's
//! put latency distribution: headline numbers, CDF, `put_latency.csv`),
//! [`meta`] (machine and build metadata), [`charts`] (plotters SVG) and
//! [`report`] (the HTML page).
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
//! `put_latency.csv` holds every put's latency of the whole run as the
//! recorded buckets of an HDR histogram (3 significant digits):
//! `store, latency_us, count, cumulative_count, cumulative_fraction`.
//!
//! What it never does: read a store's internals (only `stats()`, plus the
//! async store's public `queued_writes()` and `pending_compactions()`), or
//! delete a directory the user named with `--dir`.

pub mod args;
pub mod charts;
pub mod csv;
pub mod driver;
pub mod latency;
pub mod meta;
pub mod progress;
pub mod report;
pub mod sampler;
pub mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::units::human_bytes;
use anyhow::Context;
use hdrhistogram::Histogram;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvStore, SimpleLsmStore, StoreStats};

pub use args::DemoArgs;
use driver::{Driver, OpTotals};
use progress::Progress;
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
    /// Every put's latency over the whole run, nanoseconds.
    pub put_histogram: Histogram<u64>,
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
    let started_at = SystemTime::now();
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
    let latency_csv_path = out.join("put_latency.csv");
    let html_path = out.join("report.html");

    outln!(
        "lsm demo: {} for {} s{}, puts {}, gets {}, deletes {}, range scans {}; \
         memtable {}, WAL sync {}",
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
        human_bytes(args.memtable_bytes as u64),
        args.wal_sync_label(),
    )?;
    let mut runs = Vec::with_capacity(kinds.len());
    for &kind in kinds {
        let run = run_store(kind, &args, &base.path().join(kind.name()))?;
        print_summary(&run)?;
        runs.push(run);
    }

    std::fs::write(&csv_path, csv::render(&runs))
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    std::fs::write(&latency_csv_path, latency::render_csv(&runs))
        .with_context(|| format!("cannot write {}", latency_csv_path.display()))?;
    let settings = report::Settings {
        items: settings_items(&args),
        metadata: meta::items(started_at),
        csv_path: csv_path.display().to_string(),
        latency_csv_path: latency_csv_path.display().to_string(),
        memtable_limit_bytes: args.memtable_bytes as u64,
        l0_trigger: args.l0_trigger as u64,
    };
    let html = report::render(&runs, &settings)?;
    std::fs::write(&html_path, html)
        .with_context(|| format!("cannot write {}", html_path.display()))?;

    let kept = match base {
        BaseDir::Temp(dir) if args.keep => Some(dir.keep()),
        BaseDir::Temp(dir) => {
            dir.close()
                .context("cannot remove the temporary store directory")?;
            None
        }
        BaseDir::Given(path) => Some(path),
    };
    outln!("samples: {}", csv_path.display())?;
    outln!("         {}", latency_csv_path.display())?;
    outln!("report:  {}", html_path.display())?;
    match kept {
        Some(base) => {
            outln!("stores kept in {}; look inside with:", base.display())?;
            for kind in kinds {
                let dir = base.join(kind.name());
                outln!("  lsm stats {}", shell_word(&dir))?;
                outln!("  lsm verify {}", shell_word(&dir))?;
            }
        }
        None => outln!(
            "stores removed; to look inside them with `lsm stats DIR` and `lsm verify DIR`, \
             rerun with --keep or --dir DIR"
        )?,
    }
    outln!("done in {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}

/// `path` as one shell word: as is if it needs no quoting, else in single
/// quotes.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
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
                "memtable {}, tables {}, L1 {} ×{} per level, {} levels, \
                 L0 trigger {}, bloom {}",
                human_bytes(args.memtable_bytes as u64),
                human_bytes(args.table_bytes),
                human_bytes(args.l1_bytes),
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

fn print_summary(run: &StoreRun) -> std::io::Result<()> {
    let latency = latency::Headline::of(&run.put_histogram)
        .map(|h| {
            format!(
                "put p50 {}, p99.9 {}, worst {}; {} puts over 1 ms, {} over 10 ms",
                report::fmt_us(Some(h.p50_us)),
                report::fmt_us(Some(h.p999_us)),
                report::fmt_us(Some(h.max_us)),
                h.over_1ms,
                h.over_10ms
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
    outln!(
        "{}: {} puts ({:.0}/s), {} gets, {} deletes, {} range scans in {:.1} s; \
         {} flushes, {} compactions; tables {}; closed in {:.2} s\n  {latency}",
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
    let mut progress = Progress::new();

    let started = Instant::now();
    let driver = Driver::start(Arc::clone(&store), &args.workload())?;
    let mut sampler = Sampler::new(started)?;
    let sampled = sample_until(
        &*store,
        &driver,
        &mut sampler,
        &mut |sample: &Sample, last: bool| {
            let line = progress::line(
                kind.name(),
                sample.elapsed_ms as f64 / 1000.0,
                args.duration,
                sample,
            );
            progress.show(line, last);
        },
        started + duration,
        tick,
    );
    let workload_secs = started.elapsed().as_secs_f64();
    let counters = driver.shared_counters();
    let stopped = driver.stop();
    // Every put is in the whole run's latencies, also those that completed
    // between the last sample and the stop.
    sampler.add_unsampled(&counters.take_put_latencies());
    progress.finish();
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
        put_histogram: sampler.whole_run_latency().clone(),
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
    show: &mut dyn FnMut(&Sample, bool),
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
        show(&sample, next >= deadline);
        samples.push(sample);
        if next >= deadline {
            return Ok(samples);
        }
    }
}
