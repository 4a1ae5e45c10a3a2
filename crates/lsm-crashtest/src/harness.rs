//! The cycle loop of `powercut` and `kill`: run the writer, cut the power
//! (or SIGKILL it), "reboot", reopen the store in this process and check it
//! against what the writer acknowledged.
//!
//! Each cycle writes under its own key prefix (`c{cycle:04}-`), so the
//! checks of a cycle are exact however earlier cycles ended; earlier
//! cycles' keys are still checked: every key present when an earlier cycle
//! was checked (the store was closed, so synced, after that check) must
//! still be there with its value (`regressions`).
//!
//! The writer also takes a checkpoint every 100 ms into the lane's
//! checkpoint directory (beside the store, on the same file system). After
//! the cut each one is opened: one reported complete (before the cut
//! began, for a power cut) must open holding every key of earlier cycles,
//! every write acknowledged before the checkpoint started and no write
//! started after it ended, per writer thread a prefix, batches whole and
//! values right; one cut short must fail to open with the "no CURRENT"
//! error, or open empty, or pass the same checks but the bounds
//! (`checkpoint_failures` otherwise). The directory is emptied before each
//! cycle.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::disk::{is_root, Cutter, Disk};
use crate::workload::{is_batch, now_ns, parse_key, value, Rng, Store, StoreKind, SyncKind};
use crate::writer::checkpoint_dir_name;

/// Acknowledged writes to wait for before the random delay starts.
const MIN_ACKS: usize = 20;
/// Bounds of the random delay between those acks and the cut.
const DELAY_MS: (u64, u64) = (30, 1500);
/// Longest wait for the first [`MIN_ACKS`] acks.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// What ends the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The ext4 shutdown ioctl on a loop-mounted image, then SIGKILL.
    PowerCut,
    /// SIGKILL only.
    Kill,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::PowerCut => "powercut",
            Fault::Kill => "crash",
        }
    }
}

/// Arguments of a `powercut` or `kill` run.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// Power cut or process kill.
    pub fault: Fault,
    /// The stores to test, in order.
    pub stores: Vec<StoreKind>,
    /// The sync modes to test with each store.
    pub syncs: Vec<SyncKind>,
    /// Cycles per (store, sync mode).
    pub cycles: u32,
    /// Writer threads.
    pub threads: usize,
    /// Seeds the delays and the writers' values.
    pub seed: u64,
    /// Where failing cycles' images (or store copies) are kept.
    pub keep_failures: PathBuf,
}

/// Where the stores live.
enum Env {
    PowerCut(Disk),
    Kill(tempfile::TempDir),
}

impl Env {
    fn base(&self) -> &Path {
        match self {
            Env::PowerCut(disk) => disk.mnt(),
            Env::Kill(dir) => dir.path(),
        }
    }

    fn work(&self) -> &Path {
        match self {
            Env::PowerCut(disk) => disk.work(),
            Env::Kill(dir) => dir.path(),
        }
    }
}

/// One acknowledged (or failed) write reported by the writer.
#[derive(Clone, Debug)]
struct Report {
    thread: usize,
    index: u64,
    start: u64,
    end: u64,
    /// `None` for an ack, the error for a failed write.
    error: Option<String>,
}

/// A checkpoint the writer reported: completed (`seq`) or failed.
#[derive(Clone, Debug)]
struct CheckpointReport {
    k: u64,
    start: u64,
    end: u64,
    /// `Ok(seq)` once the checkpoint returned, or its error.
    result: Result<u64, String>,
}

/// One line of the writer's output.
#[derive(Clone, Debug)]
enum Line {
    Write(Report),
    Checkpoint(CheckpointReport),
}

fn parse_checkpoint_line(line: &str) -> Option<CheckpointReport> {
    let mut parts = line.splitn(5, ' ');
    let kind = parts.next()?;
    let k = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let end = parts.next()?.parse().ok()?;
    let rest = parts.next().unwrap_or("");
    let result = match kind {
        "checkpoint" => Ok(rest.parse().ok()?),
        "checkpoint-err" => Err(rest.to_string()),
        _ => return None,
    };
    Some(CheckpointReport {
        k,
        start,
        end,
        result,
    })
}

fn parse_any_line(line: &str) -> Option<Line> {
    if line.starts_with("checkpoint") {
        return parse_checkpoint_line(line).map(Line::Checkpoint);
    }
    parse_line(line).map(Line::Write)
}

fn parse_line(line: &str) -> Option<Report> {
    let mut parts = line.splitn(6, ' ');
    let kind = parts.next()?;
    let thread = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let end = parts.next()?.parse().ok()?;
    let error = match kind {
        "ack" => None,
        "err" => Some(parts.next().unwrap_or("").to_string()),
        _ => return None,
    };
    Some(Report {
        thread,
        index,
        start,
        end,
        error,
    })
}

/// Counts of one cycle, summed over cycles per (store, sync mode).
#[derive(Clone, Debug, Default)]
struct Counts {
    cycles: u64,
    acked: u64,
    required: u64,
    verified: u64,
    /// Lost acknowledged writes that had to survive.
    lost: u64,
    /// Lost acknowledged writes allowed to be lost (`--sync never` power
    /// cut, and straddling writes under `--sync always`).
    lost_allowed: u64,
    holes: u64,
    open_failures: u64,
    batch_splits: u64,
    bad_values: u64,
    regressions: u64,
    /// Checkpoints opened and checked complete.
    checkpoints: u64,
    /// Checkpoints that failed a check, or failed before the cut.
    checkpoint_failures: u64,
    /// Writer or close problems.
    other: u64,
    ended_before_cut: u64,
    straddling: u64,
    started_after_cut: u64,
    acked_after_cut: u64,
    write_errors: u64,
}

impl Counts {
    fn failures(&self) -> u64 {
        self.lost
            + self.holes
            + self.open_failures
            + self.batch_splits
            + self.bad_values
            + self.regressions
            + self.checkpoint_failures
            + self.other
    }

    fn add(&mut self, o: &Counts) {
        self.cycles += o.cycles;
        self.acked += o.acked;
        self.required += o.required;
        self.verified += o.verified;
        self.lost += o.lost;
        self.lost_allowed += o.lost_allowed;
        self.holes += o.holes;
        self.open_failures += o.open_failures;
        self.batch_splits += o.batch_splits;
        self.bad_values += o.bad_values;
        self.regressions += o.regressions;
        self.checkpoints += o.checkpoints;
        self.checkpoint_failures += o.checkpoint_failures;
        self.other += o.other;
        self.ended_before_cut += o.ended_before_cut;
        self.straddling += o.straddling;
        self.started_after_cut += o.started_after_cut;
        self.acked_after_cut += o.acked_after_cut;
        self.write_errors += o.write_errors;
    }
}

/// What one cycle's check found.
#[derive(Debug, Default)]
struct Outcome {
    counts: Counts,
    /// Human-readable descriptions of each failure (first few of a kind).
    problems: Vec<String>,
    /// Keys of this cycle present after the check (for later regression
    /// checks); `None` if the store could not be opened.
    present_keys: Option<usize>,
}

impl Outcome {
    fn problem(&mut self, text: String) {
        if self.problems.len() < 40 {
            self.problems.push(text);
        }
    }
}

/// The state a (store, sync mode) carries from cycle to cycle.
struct Lane {
    fault: Fault,
    store: StoreKind,
    sync: SyncKind,
    dir: PathBuf,
    /// Where the writer takes its checkpoints (emptied every cycle).
    checkpoints: PathBuf,
    /// The value seed of each cycle.
    seeds: Vec<u64>,
    /// Keys of each earlier cycle present (and synced by close) after its
    /// check; `None` once the store was wiped.
    history: Vec<Option<usize>>,
}

/// Runs `args`; prints a summary line per (store, sync mode). Ok(true) if
/// every check passed.
pub fn run(args: &RunArgs) -> Result<bool> {
    let mut env = match args.fault {
        Fault::PowerCut => {
            if !is_root() {
                bail!("powercut needs root (mount, umount and the shutdown ioctl)");
            }
            let cutter = Cutter::detect()
                .context("powercut needs xfs_io (apt-get install xfsprogs) or python3")?;
            Env::PowerCut(Disk::create(cutter)?)
        }
        Fault::Kill => Env::Kill(
            tempfile::Builder::new()
                .prefix("lsm-crash-")
                .tempdir_in("/tmp")?,
        ),
    };
    let mut rng = Rng::new(args.seed);
    println!(
        "{}: seed={} cycles={} threads={} dir={}",
        args.fault.name(),
        args.seed,
        args.cycles,
        args.threads,
        env.base().display()
    );
    let mut summaries = Vec::new();
    let mut all_ok = true;
    for &store in &args.stores {
        for &sync in &args.syncs {
            let mut lane = Lane {
                fault: args.fault,
                store,
                sync,
                dir: env
                    .base()
                    .join(format!("db-{}-{}", store.name(), sync.name())),
                checkpoints: env.base().join(format!(
                    "checkpoints-{}-{}",
                    store.name(),
                    sync.name()
                )),
                seeds: Vec::new(),
                history: Vec::new(),
            };
            let mut totals = Counts::default();
            for cycle in 0..args.cycles {
                let outcome = run_cycle(&mut env, &mut lane, cycle, args, &mut rng)?;
                totals.add(&outcome.counts);
            }
            let summary = summary(&lane, &totals);
            println!("{summary}");
            all_ok &= totals.failures() == 0;
            summaries.push(summary);
        }
    }
    if summaries.len() > 1 {
        println!("--- summary");
        for s in summaries {
            println!("{s}");
        }
    }
    Ok(all_ok)
}

fn summary(lane: &Lane, t: &Counts) -> String {
    let mut s = format!(
        "{} store={} sync={} cycles={} acked={} verified={} lost={} holes={} open_failures={} \
         batch_splits={} bad_values={} regressions={} checkpoints={} checkpoint_failures={} \
         other={} failures={}",
        lane.fault.name(),
        lane.store.name(),
        lane.sync.name(),
        t.cycles,
        t.acked,
        t.verified,
        t.lost,
        t.holes,
        t.open_failures,
        t.batch_splits,
        t.bad_values,
        t.regressions,
        t.checkpoints,
        t.checkpoint_failures,
        t.other,
        t.failures(),
    );
    if lane.fault == Fault::PowerCut {
        let _ = write!(
            s,
            "\n  lost-by-timing store={} sync={} required={} lost_allowed={} ended_before_cut={} \
             straddling={} started_after_cut={} acked_after_cut={} write_errors={}",
            lane.store.name(),
            lane.sync.name(),
            t.required,
            t.lost_allowed,
            t.ended_before_cut,
            t.straddling,
            t.started_after_cut,
            t.acked_after_cut,
            t.write_errors,
        );
    }
    s
}

/// What the writer reported: its writes and its checkpoints.
type Reports = (Vec<Report>, Vec<CheckpointReport>);

/// Reads the writer's reports until its stdout closes.
fn read_reports(
    child: &mut Child,
    acks: Arc<AtomicUsize>,
) -> Result<std::thread::JoinHandle<Reports>> {
    let stdout = child.stdout.take().context("writer stdout")?;
    Ok(std::thread::spawn(move || {
        let mut reports = Vec::new();
        let mut checkpoints = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match parse_any_line(&line) {
                Some(Line::Write(report)) => {
                    if report.error.is_none() {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    reports.push(report);
                }
                Some(Line::Checkpoint(report)) => checkpoints.push(report),
                None => {}
            }
        }
        (reports, checkpoints)
    }))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn run_cycle(
    env: &mut Env,
    lane: &mut Lane,
    cycle: u32,
    args: &RunArgs,
    rng: &mut Rng,
) -> Result<Outcome> {
    let seed = rng.next_u64();
    lane.seeds.push(seed);
    let log = env.work().join(format!(
        "writer-{}-{}.log",
        lane.store.name(),
        lane.sync.name()
    ));
    // Every cycle's checkpoints start in an empty directory.
    if lane.checkpoints.exists() {
        std::fs::remove_dir_all(&lane.checkpoints)
            .with_context(|| format!("removing {}", lane.checkpoints.display()))?;
    }
    std::fs::create_dir_all(&lane.checkpoints)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("writer")
        .args(["--store", lane.store.name(), "--sync", lane.sync.name()])
        .arg("--dir")
        .arg(&lane.dir)
        .arg("--checkpoints")
        .arg(&lane.checkpoints)
        .args(["--threads", &args.threads.to_string()])
        .args(["--seed", &seed.to_string(), "--cycle", &cycle.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("could not start the writer")?;
    let ack_count = Arc::new(AtomicUsize::new(0));
    let reader = read_reports(&mut child, Arc::clone(&ack_count))?;

    let mut writer_problems = Vec::new();
    let started = Instant::now();
    let mut exited: Option<ExitStatus> = None;
    while ack_count.load(Ordering::Relaxed) < MIN_ACKS && started.elapsed() < ACK_TIMEOUT {
        if let Some(status) = child.try_wait()? {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let delay = rng.range(DELAY_MS.0, DELAY_MS.1);
    if exited.is_none() {
        std::thread::sleep(Duration::from_millis(delay));
        exited = child.try_wait()?;
    }
    let cut_start = now_ns();
    if let (Env::PowerCut(disk), None) = (&*env, exited) {
        disk.cut()?;
    }
    let cut_end = now_ns();
    if lane.fault == Fault::Kill {
        // The writer only stops on a failed write or when killed.
        if let Some(status) = exited {
            writer_problems.push(format!("writer exited on its own ({status})"));
        }
    }
    let _ = child.kill(); // SIGKILL (fails harmlessly if it already exited)
    let status = child.wait()?;
    let (reports, checkpoints) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("report reader panicked"))?;
    // Under a power cut the writer exits with 2 once every write failed
    // (EIO); anything but that or SIGKILL is a writer failure.
    if lane.fault == Fault::PowerCut && status.signal() != Some(9) && status.code() != Some(2) {
        writer_problems.push(format!("writer ended with {status}"));
    }
    let acked = reports.iter().filter(|r| r.error.is_none()).count();
    if acked < MIN_ACKS {
        writer_problems.push(format!(
            "writer acknowledged only {acked} writes in {:.1?}",
            started.elapsed()
        ));
    }
    for r in &reports {
        if let Some(e) = &r.error {
            // After a power cut every write fails; before it, none may.
            if lane.fault == Fault::Kill || r.end < cut_start {
                writer_problems.push(format!(
                    "write t{} i={} failed before the cut: {e}",
                    r.thread, r.index
                ));
            }
        }
    }
    if !writer_problems.is_empty() {
        writer_problems.push(format!("writer stderr (tail):\n{}", tail(&log)));
    }

    let snapshot = env.work().join("after-cut.img");
    if let Env::PowerCut(disk) = env {
        disk.reboot(&snapshot)?;
    }

    let mut outcome = check(lane, cycle, &reports, cut_start, cut_end);
    check_checkpoints(lane, cycle, &reports, &checkpoints, cut_start, &mut outcome);
    outcome.counts.cycles = 1;
    outcome.counts.write_errors = reports.iter().filter(|r| r.error.is_some()).count() as u64;
    outcome.counts.other += writer_problems.len().min(1) as u64;
    let mut problems = writer_problems;
    problems.append(&mut outcome.problems);
    outcome.problems = problems;

    let c = &outcome.counts;
    let failed = c.failures() > 0;
    println!(
        "  cycle {cycle} store={} sync={} cut_after_ms={delay} acked={} required={} verified={} \
         lost={} lost_allowed={} holes={} open_failures={} batch_splits={} checkpoints={} \
         checkpoint_failures={}{}",
        lane.store.name(),
        lane.sync.name(),
        c.acked,
        c.required,
        c.verified,
        c.lost,
        c.lost_allowed,
        c.holes,
        c.open_failures,
        c.batch_splits,
        c.checkpoints,
        c.checkpoint_failures,
        if failed { " FAILED" } else { "" }
    );
    for p in &outcome.problems {
        println!("    {p}");
    }
    if failed {
        match keep_failure(
            env, lane, cycle, args, &snapshot, &log, &reports, &outcome, cut_start, cut_end,
        ) {
            Ok(kept) => println!("    kept in {}", kept.display()),
            Err(e) => println!("    could not keep the failing state: {e:#}"),
        }
    }
    match outcome.present_keys {
        Some(n) => lane.history.push(Some(n)),
        None => {
            // The store cannot be opened: start over so later cycles test
            // something; earlier cycles' keys are gone with it.
            std::fs::remove_dir_all(&lane.dir)
                .with_context(|| format!("removing {}", lane.dir.display()))?;
            lane.history.iter_mut().for_each(|h| *h = None);
            lane.history.push(None);
        }
    }
    Ok(outcome)
}

/// Opens the store after the cut and checks it against `reports`.
fn check(lane: &Lane, cycle: u32, reports: &[Report], cut_start: u64, cut_end: u64) -> Outcome {
    let mut o = Outcome::default();
    let store = match Store::open(lane.store, &lane.dir, lane.sync) {
        Ok(store) => store,
        Err(e) => {
            o.counts.open_failures = 1;
            o.problem(format!("open failed: {e:#}"));
            tally_acks(lane, reports, None, cut_start, cut_end, &mut o);
            return o;
        }
    };
    let pairs = match store.scan_all() {
        Ok(pairs) => pairs,
        Err(e) => {
            o.counts.open_failures = 1;
            o.problem(format!(
                "open succeeded but the first full scan failed: {e:#}"
            ));
            tally_acks(lane, reports, None, cut_start, cut_end, &mut o);
            let _ = store.close();
            return o;
        }
    };

    // Every key: known, right value; counted per cycle.
    let mut per_cycle: BTreeMap<u32, usize> = BTreeMap::new();
    // This cycle's writes: (thread, index) -> bit per suffix present.
    let mut present: HashMap<(usize, u64), u8> = HashMap::new();
    for (k, v) in &pairs {
        let Some(id) = parse_key(k) else {
            o.counts.bad_values += 1;
            o.problem(format!("unexpected key {:?}", String::from_utf8_lossy(k)));
            continue;
        };
        let Some(&seed) = lane
            .seeds
            .get(id.cycle as usize)
            .filter(|_| id.cycle <= cycle)
        else {
            o.counts.bad_values += 1;
            o.problem(format!(
                "key of an unknown cycle {:?}",
                String::from_utf8_lossy(k)
            ));
            continue;
        };
        if *v != value(seed, id) {
            o.counts.bad_values += 1;
            o.problem(format!(
                "wrong value under {:?}: {:?}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(&v[..v.len().min(40)])
            ));
        }
        *per_cycle.entry(id.cycle).or_default() += 1;
        if id.cycle == cycle {
            *present.entry((id.thread, id.index)).or_default() |= 1 << id.suffix;
        }
    }

    // Nothing that an earlier cycle's check saw (and close synced) is gone.
    for (c, expected) in lane.history.iter().enumerate() {
        let got = per_cycle.get(&(c as u32)).copied().unwrap_or(0);
        if let Some(expected) = *expected {
            if got != expected {
                o.counts.regressions += expected.abs_diff(got) as u64;
                o.problem(format!(
                    "cycle {c} had {expected} keys when checked, now {got}"
                ));
            }
        }
    }

    // Batches all or nothing; plain writes have no batch keys.
    let mut mains: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (&(thread, index), &mask) in &present {
        if is_batch(index) {
            if mask != 0b111 {
                o.counts.batch_splits += 1;
                o.problem(format!(
                    "batch t{thread} i={index} split: suffix mask {mask:03b}"
                ));
            }
        } else if mask != 0b001 {
            o.counts.bad_values += 1;
            o.problem(format!(
                "plain write t{thread} i={index} has batch keys (mask {mask:03b})"
            ));
        }
        if mask & 1 != 0 {
            mains.entry(thread).or_default().push(index);
        }
    }
    // Per thread, the writes present are a prefix 0..k.
    for (thread, mut indexes) in mains {
        indexes.sort_unstable();
        let max = indexes.last().copied().unwrap_or(0);
        let holes = max + 1 - indexes.len() as u64;
        if holes > 0 {
            o.counts.holes += holes;
            let first = indexes
                .iter()
                .enumerate()
                .find(|&(n, &i)| n as u64 != i)
                .map(|(n, _)| n)
                .unwrap_or(0);
            o.problem(format!(
                "thread {thread}: {holes} holes below index {max}, the first at {first}"
            ));
        }
    }

    tally_acks(lane, reports, Some(&present), cut_start, cut_end, &mut o);

    o.present_keys = Some(per_cycle.get(&cycle).copied().unwrap_or(0));
    if let Err(e) = store.close() {
        o.counts.other += 1;
        o.problem(format!("close after the check failed: {e:#}"));
    }
    o
}

/// Opens every checkpoint the writer started this cycle and checks it (see
/// the module doc). Runs after [`check`], before this cycle's entry in
/// `lane.history` exists.
fn check_checkpoints(
    lane: &Lane,
    cycle: u32,
    reports: &[Report],
    checkpoints: &[CheckpointReport],
    cut_start: u64,
    o: &mut Outcome,
) {
    // A checkpoint that returned counts as complete after a kill; after a
    // power cut only if it returned before the cut began.
    let required = |c: &CheckpointReport| lane.fault == Fault::Kill || c.end < cut_start;
    for c in checkpoints.iter().filter(|c| required(c)) {
        if let Err(e) = &c.result {
            o.counts.checkpoint_failures += 1;
            o.problem(format!("checkpoint {} failed before the cut: {e}", c.k));
        }
    }
    let names = match std::fs::read_dir(&lane.checkpoints) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            names
        }
        Err(e) => {
            o.counts.checkpoint_failures += 1;
            o.problem(format!("cannot list {}: {e}", lane.checkpoints.display()));
            return;
        }
    };
    for name in names {
        let report = checkpoints
            .iter()
            .find(|c| checkpoint_dir_name(c.k) == name && c.result.is_ok() && required(c));
        let path = lane.checkpoints.join(&name);
        match check_one_checkpoint(lane, cycle, reports, report, &path) {
            Ok(true) => o.counts.checkpoints += 1,
            Ok(false) => {}
            Err(problem) => {
                o.counts.checkpoint_failures += 1;
                o.problem(format!("checkpoint {name}: {problem}"));
            }
        }
    }
}

/// Checks the checkpoint in `path`; `report` is its completion report
/// when it must be complete. Ok(true): complete and checked; Ok(false): an
/// incomplete checkpoint left as allowed (it refuses to open for lack of
/// `CURRENT`, or opens empty, or opens consistent).
fn check_one_checkpoint(
    lane: &Lane,
    cycle: u32,
    reports: &[Report],
    report: Option<&CheckpointReport>,
    path: &Path,
) -> Result<bool, String> {
    let store = match Store::open(lane.store, path, lane.sync) {
        Ok(store) => store,
        Err(e) => {
            let text = format!("{e:#}");
            return if report.is_none() && text.contains("has no CURRENT file") {
                Ok(false)
            } else {
                Err(format!("open failed: {text}"))
            };
        }
    };
    let pairs = store.scan_all().map_err(|e| format!("scan failed: {e:#}"));
    let _ = store.close();
    let pairs = pairs?;
    if pairs.is_empty() && report.is_none() {
        return Ok(false); // nothing of it reached the disk
    }
    let mut per_cycle: BTreeMap<u32, usize> = BTreeMap::new();
    let mut present: HashMap<(usize, u64), u8> = HashMap::new();
    for (k, v) in &pairs {
        let text = || String::from_utf8_lossy(k).into_owned();
        let id = parse_key(k).ok_or_else(|| format!("unexpected key {:?}", text()))?;
        let seed = lane
            .seeds
            .get(id.cycle as usize)
            .filter(|_| id.cycle <= cycle)
            .ok_or_else(|| format!("key of an unknown cycle {:?}", text()))?;
        if *v != value(*seed, id) {
            return Err(format!("wrong value under {:?}", text()));
        }
        *per_cycle.entry(id.cycle).or_default() += 1;
        if id.cycle == cycle {
            *present.entry((id.thread, id.index)).or_default() |= 1 << id.suffix;
        }
    }
    for (c, expected) in lane.history.iter().enumerate() {
        let got = per_cycle.get(&(c as u32)).copied().unwrap_or(0);
        if let Some(expected) = *expected {
            if got != expected {
                return Err(format!(
                    "cycle {c} had {expected} keys when checked, the checkpoint {got}"
                ));
            }
        }
    }
    let mut mains: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (&(thread, index), &mask) in &present {
        let whole = if is_batch(index) { 0b111 } else { 0b001 };
        if mask != whole {
            return Err(format!(
                "write t{thread} i={index} has suffix mask {mask:03b}"
            ));
        }
        mains.entry(thread).or_default().push(index);
    }
    for (thread, mut indexes) in mains {
        indexes.sort_unstable();
        let max = indexes.last().copied().unwrap_or(0);
        if max + 1 != indexes.len() as u64 {
            return Err(format!("thread {thread}: holes below index {max}"));
        }
    }
    if let Some(c) = report {
        for r in reports {
            let found = present.contains_key(&(r.thread, r.index));
            if r.error.is_none() && r.end < c.start && !found {
                return Err(format!(
                    "write t{} i={} was acknowledged before the checkpoint started but is \
                     missing",
                    r.thread, r.index
                ));
            }
            if r.start > c.end && found {
                return Err(format!(
                    "write t{} i={} started after the checkpoint ended but is in it",
                    r.thread, r.index
                ));
            }
        }
    }
    Ok(report.is_some())
}

/// Counts the acknowledged writes in `reports` and checks each against
/// `present` (this cycle's writes found after the cut); with `present`
/// `None` (the store did not open) only counts them.
fn tally_acks(
    lane: &Lane,
    reports: &[Report],
    present: Option<&HashMap<(usize, u64), u8>>,
    cut_start: u64,
    cut_end: u64,
    o: &mut Outcome,
) {
    let ms = |t: u64, base: u64| (t as f64 - base as f64) / 1e6;
    let mut shown = 0;
    for r in reports.iter().filter(|r| r.error.is_none()) {
        let c = &mut o.counts;
        c.acked += 1;
        let before = r.end < cut_start;
        let after = r.start > cut_end;
        if after && lane.fault == Fault::PowerCut {
            c.acked_after_cut += 1;
        }
        let required = match (lane.fault, lane.sync) {
            (Fault::Kill, _) => true,
            (Fault::PowerCut, SyncKind::Always) => before,
            (Fault::PowerCut, SyncKind::Never) => false,
        };
        c.required += u64::from(required);
        let Some(present) = present else {
            continue;
        };
        let found = present
            .get(&(r.thread, r.index))
            .is_some_and(|m| m & 1 != 0);
        if found {
            c.verified += 1;
            continue;
        }
        let bug = match lane.fault {
            Fault::Kill => true,
            Fault::PowerCut => {
                if before {
                    c.ended_before_cut += 1;
                } else if after {
                    c.started_after_cut += 1;
                } else {
                    c.straddling += 1;
                }
                // A write acknowledged entirely after the cut claims a sync
                // that cannot have happened: as much a bug as a lost
                // required write.
                lane.sync == SyncKind::Always && (before || after)
            }
        };
        if bug {
            c.lost += 1;
            if shown < 10 {
                shown += 1;
                let text = format!(
                    "lost acked write t{} i={}: started {:+.3} ms, ended {:+.3} ms from the cut start \
                     (cut took {:.3} ms)",
                    r.thread,
                    r.index,
                    ms(r.start, cut_start),
                    ms(r.end, cut_start),
                    ms(cut_end, cut_start)
                );
                o.problem(text);
            }
        } else {
            c.lost_allowed += 1;
        }
    }
}

/// Keeps what a failing cycle needs for replay in `--keep-failures`: the
/// image as it was right after the cut (power cut) or a copy of the store
/// directory (kill), the writer's reports and log, and the problems.
#[allow(clippy::too_many_arguments, reason = "one call site, all context")]
fn keep_failure(
    env: &Env,
    lane: &Lane,
    cycle: u32,
    args: &RunArgs,
    snapshot: &Path,
    log: &Path,
    reports: &[Report],
    outcome: &Outcome,
    cut_start: u64,
    cut_end: u64,
) -> Result<PathBuf> {
    let dest = args.keep_failures.join(format!(
        "{}-{}-{}-seed{}-cycle{cycle:03}",
        lane.fault.name(),
        lane.store.name(),
        lane.sync.name(),
        args.seed
    ));
    std::fs::create_dir_all(&dest)?;
    match env {
        Env::PowerCut(_) => {
            std::fs::rename(snapshot, dest.join("after-cut.img"))
                .or_else(|_| std::fs::copy(snapshot, dest.join("after-cut.img")).map(drop))?;
        }
        Env::Kill(_) => {
            let status = Command::new("cp")
                .arg("-a")
                .arg(&lane.dir)
                .arg(dest.join("db"))
                .status()?;
            if !status.success() {
                bail!("cp -a {} failed", lane.dir.display());
            }
        }
    }
    let _ = std::fs::copy(log, dest.join("writer-stderr.log"));
    let mut acks = String::new();
    for r in reports {
        let _ = match &r.error {
            None => writeln!(acks, "ack {} {} {} {}", r.thread, r.index, r.start, r.end),
            Some(e) => writeln!(
                acks,
                "err {} {} {} {} {e}",
                r.thread, r.index, r.start, r.end
            ),
        };
    }
    std::fs::write(dest.join("reports.txt"), acks)?;
    let mut text = format!(
        "fault={} store={} sync={} cycle={cycle} seed={} value_seed={} cut_start_ns={cut_start} \
         cut_end_ns={cut_end}\nstore dir inside the image: {}\nkeys of this cycle: prefix c{cycle:04}-\n",
        lane.fault.name(),
        lane.store.name(),
        lane.sync.name(),
        args.seed,
        lane.seeds.get(cycle as usize).copied().unwrap_or(0),
        lane.dir
            .strip_prefix(env.base())
            .unwrap_or(&lane.dir)
            .display(),
    );
    for p in &outcome.problems {
        let _ = writeln!(text, "{p}");
    }
    std::fs::write(dest.join("report.txt"), text)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{key, KeyId, SUFFIXES};

    const SEED: u64 = 7;

    fn put(store: &Store, cycle: u32, thread: usize, index: u64, suffixes: &[usize]) {
        for &suffix in suffixes {
            let id = KeyId {
                cycle,
                thread,
                index,
                suffix,
            };
            let k = key(cycle, thread, index, SUFFIXES[suffix]);
            store.put(k.as_bytes(), &value(SEED, id)).unwrap();
        }
    }

    fn ack(thread: usize, index: u64, start: u64, end: u64) -> Report {
        Report {
            thread,
            index,
            start,
            end,
            error: None,
        }
    }

    fn lane(dir: &Path, fault: Fault, cycles: usize) -> Lane {
        Lane {
            fault,
            store: StoreKind::Sync,
            sync: SyncKind::Always,
            dir: dir.to_path_buf(),
            checkpoints: dir.join("checkpoints"),
            seeds: vec![SEED; cycles],
            history: Vec::new(),
        }
    }

    /// The checker is not vacuous: a hole, a lost acknowledged write, a
    /// split batch and a wrong value are each counted.
    #[test]
    fn check_counts_holes_lost_writes_split_batches_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::Kill, 1);
        {
            let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
            for i in [0, 1, 2, 3, 5] {
                put(&store, 0, 0, i, &[0]); // index 4 missing: a hole
            }
            for i in 0..9 {
                put(&store, 0, 1, i, &[0]);
            }
            put(&store, 0, 1, 9, &[0, 1]); // batch without its "-b" key
            store.put(key(0, 2, 0, "").as_bytes(), b"wrong").unwrap();
            store.close().unwrap();
        }
        let mut reports: Vec<Report> = (0..6).map(|i| ack(0, i, 1, 2)).collect();
        reports.extend((0..10).map(|i| ack(1, i, 1, 2)));
        let o = check(&lane, 0, &reports, 10, 11);
        let c = &o.counts;
        assert_eq!(c.acked, 16);
        assert_eq!(c.required, 16);
        assert_eq!(c.verified, 15);
        assert_eq!(c.lost, 1, "{:?}", o.problems);
        assert_eq!(c.holes, 1);
        assert_eq!(c.batch_splits, 1);
        assert_eq!(c.bad_values, 1);
        assert_eq!(c.open_failures, 0);
        assert_eq!(o.present_keys, Some(5 + 10 + 1 + 1));
    }

    /// Under a power cut with `--sync always`, a lost write is classified
    /// by its timestamps; only a straddling one is allowed.
    #[test]
    fn power_cut_losses_are_classified_by_timing() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::PowerCut, 1);
        {
            let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
            put(&store, 0, 0, 0, &[0]);
            store.close().unwrap();
        }
        // Cut from t=100 to t=110.
        let reports = vec![
            ack(0, 0, 10, 20),   // present
            ack(1, 0, 10, 99),   // lost, ended before the cut: a bug
            ack(2, 0, 95, 105),  // lost, straddling: allowed
            ack(3, 0, 111, 120), // lost, started after the cut: a bug
        ];
        let o = check(&lane, 0, &reports, 100, 110);
        let c = &o.counts;
        assert_eq!(c.acked, 4);
        assert_eq!(c.required, 2);
        assert_eq!(c.verified, 1);
        assert_eq!(
            (c.ended_before_cut, c.straddling, c.started_after_cut),
            (1, 1, 1)
        );
        assert_eq!(c.lost, 2);
        assert_eq!(c.lost_allowed, 1);
        assert_eq!(c.acked_after_cut, 1);
        assert_eq!(c.failures(), 2);
    }

    /// Keys an earlier cycle's check saw must still be there.
    #[test]
    fn keys_of_earlier_cycles_that_vanish_are_regressions() {
        let dir = tempfile::tempdir().unwrap();
        let mut lane = lane(dir.path(), Fault::Kill, 2);
        {
            let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
            for i in 0..3 {
                put(&store, 0, 0, i, &[0]);
            }
            store.close().unwrap();
        }
        lane.history = vec![Some(5)];
        let o = check(&lane, 1, &[], 10, 11);
        assert_eq!(o.counts.regressions, 2);
        assert_eq!(o.present_keys, Some(0));
        lane.history = vec![Some(3)];
        assert_eq!(check(&lane, 1, &[], 10, 11).counts.failures(), 0);
    }

    #[test]
    fn checkpoint_lines_parse() {
        let line = parse_any_line("checkpoint 3 100 200 4567").unwrap();
        let Line::Checkpoint(c) = line else {
            panic!("{line:?}")
        };
        assert_eq!((c.k, c.start, c.end, c.result), (3, 100, 200, Ok(4567)));
        let line = parse_any_line("checkpoint-err 4 1 2 I/O error on x: EIO").unwrap();
        let Line::Checkpoint(c) = line else {
            panic!("{line:?}")
        };
        assert_eq!(c.result, Err("I/O error on x: EIO".to_string()));
        assert!(matches!(
            parse_any_line("ack 1 2 3 4"),
            Some(Line::Write(_))
        ));
        assert!(parse_any_line("checkpoint x").is_none());
    }

    /// A checkpoint is checked complete against the writes acknowledged
    /// before it; one missing such a write, or holding a write started
    /// after it, fails; an incomplete one (tables, no `CURRENT`) that
    /// refuses to open is allowed, a complete one that refuses is not.
    #[test]
    fn checkpoints_are_checked_against_the_writes_around_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut lane = lane(&dir.path().join("db"), Fault::Kill, 1);
        lane.checkpoints = dir.path().join("checkpoints");
        std::fs::create_dir_all(&lane.checkpoints).unwrap();
        let cp = lane.checkpoints.join(checkpoint_dir_name(0));
        {
            let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
            for i in 0..3 {
                put(&store, 0, 0, i, &[0]);
            }
            store.checkpoint(&cp).unwrap();
            put(&store, 0, 0, 3, &[0]);
            store.close().unwrap();
        }
        let report = CheckpointReport {
            k: 0,
            start: 50,
            end: 60,
            result: Ok(3),
        };
        // Writes 0..=2 end before 50; write 3 starts at 70.
        let reports: Vec<Report> = (0..4)
            .map(|i| ack(0, i, 10 + 20 * i, 15 + 20 * i))
            .collect();
        assert_eq!(
            check_one_checkpoint(&lane, 0, &reports, Some(&report), &cp),
            Ok(true)
        );
        let late = CheckpointReport {
            start: 80,
            end: 90,
            ..report.clone()
        };
        let err = check_one_checkpoint(&lane, 0, &reports, Some(&late), &cp).unwrap_err();
        assert!(err.contains("t0 i=3") && err.contains("missing"), "{err}");
        let early = CheckpointReport {
            start: 20,
            end: 30,
            ..report.clone()
        };
        let err = check_one_checkpoint(&lane, 0, &reports, Some(&early), &cp).unwrap_err();
        assert!(err.contains("started after"), "{err}");

        let partial = lane.checkpoints.join(checkpoint_dir_name(1));
        std::fs::create_dir_all(&partial).unwrap();
        let table = std::fs::read_dir(&cp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "sst"))
            .unwrap();
        std::fs::copy(&table, partial.join(table.file_name().unwrap())).unwrap();
        assert_eq!(
            check_one_checkpoint(&lane, 0, &reports, None, &partial),
            Ok(false)
        );
        let err = check_one_checkpoint(&lane, 0, &reports, Some(&report), &partial).unwrap_err();
        assert!(err.contains("open failed"), "{err}");
    }

    #[test]
    fn writer_lines_parse() {
        let r = parse_line("ack 3 17 100 200").unwrap();
        assert_eq!((r.thread, r.index, r.start, r.end), (3, 17, 100, 200));
        assert!(r.error.is_none());
        let r = parse_line("err 1 2 3 4 io error: Input/output error (os error 5)").unwrap();
        assert_eq!(
            r.error.as_deref(),
            Some("io error: Input/output error (os error 5)")
        );
        assert!(parse_line("ack 1 2").is_none());
        assert!(parse_line("hello").is_none());
    }
}
