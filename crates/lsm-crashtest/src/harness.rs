//! The cycle loop of `powercut` and `kill`: run the writer, cut the power
//! (or SIGKILL it), "reboot", reopen the store in this process and check it
//! against what the writer acknowledged.
//!
//! Each cycle writes under its own key prefix (`c{cycle:04}-`), so the
//! checks of a cycle are exact however earlier cycles ended; earlier
//! cycles' keys are still checked: every key and keyspace present when an
//! earlier cycle was checked (the store was closed, so synced, after that
//! check) must still be there with its keys and values (`regressions`).
//!
//! The checks of a cycle, against the writer's reports:
//! - per writer thread, the store holds exactly the state after the
//!   thread's first `k` writes for some `k` (`crate::prefix`): every key
//!   of a write inside the prefix there unless a range delete inside it
//!   covers it, none of a write after it, a range delete's keys gone and
//!   the writes after it in its range there, a keyspace listed from its
//!   create to its drop with its keys, batches whole across keyspaces
//!   (`holes`, `batch_splits`, `bad_values` otherwise);
//! - every acknowledged write that had to survive is inside its thread's
//!   prefix (`lost`; which had to: after a kill all, after a power cut
//!   those acknowledged durable before the cut began);
//! - across threads, no acknowledged write is outside the prefixes while
//!   one with a higher sequence number is inside (`order_holes`): the
//!   whole state is a prefix of the WAL order;
//! - no keyspace id whose name is not listed holds keys (data without a
//!   name), and the latest dropped keyspace of each thread, opened again
//!   by name, is a new, empty keyspace (dropped again after the check)
//!   (`keyspace_failures`).
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use lsm_core::KeyspaceId;

use crate::disk::{is_root, Cutter, Disk};
use crate::prefix::{self, Seen};
use crate::workload::{
    keyspace_create_index, keyspace_name, keyspace_value, now_ns, op_kind, parse_key,
    parse_keyspace_key, parse_keyspace_name, value, OpKind, Rng, Store, StoreKind, SyncKind,
    KEYSPACE_EVERY,
};
use crate::writer::{ack_line, checkpoint_dir_name};

/// Acknowledged writes to wait for before the random delay starts.
const MIN_ACKS: usize = 20;
/// Bounds of the random delay between those acks and the cut.
const DELAY_MS: (u64, u64) = (30, 1500);
/// Longest wait for the first [`MIN_ACKS`] acks.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// Keyspace ids past the highest one known that the orphan check also
/// reads (creates in flight get ids nobody reported).
const ORPHAN_PROBES: u32 = 4;
/// Mismatches shown per writer thread.
const SHOWN_PER_THREAD: usize = 5;

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
    /// The (last) sequence number of an acknowledged write; `None` for a
    /// keyspace create or a failed write.
    seq: Option<u64>,
    /// Acknowledged durable (fdatasynced before it returned).
    durable: bool,
    /// The id a keyspace create made.
    keyspace: Option<u32>,
}

impl Report {
    fn kind(&self) -> OpKind {
        op_kind(self.index)
    }

    /// The line the writer printed for it.
    fn line(&self) -> String {
        match &self.error {
            None => ack_line(
                self.thread,
                self.index,
                (self.start, self.end),
                self.seq,
                self.durable,
                self.keyspace,
            ),
            Some(e) => format!(
                "err {} {} {} {} {e}",
                self.thread, self.index, self.start, self.end
            ),
        }
    }
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
    let mut report = Report {
        thread,
        index,
        start,
        end,
        error: None,
        seq: None,
        durable: false,
        keyspace: None,
    };
    match kind {
        "ack" => {
            let mut rest = parts.next()?.split(' ');
            report.seq = match rest.next()? {
                "-" => None,
                seq => Some(seq.parse().ok()?),
            };
            report.durable = match rest.next()? {
                "0" => false,
                "1" => true,
                _ => return None,
            };
            report.keyspace = match rest.next() {
                None => None,
                Some(id) => Some(id.parse().ok()?),
            };
            if rest.next().is_some() {
                return None;
            }
        }
        "err" => report.error = Some(parts.next().unwrap_or("").to_string()),
        _ => return None,
    }
    Some(report)
}

/// Acknowledged writes of one kind and what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KindCounts {
    acked: u64,
    verified: u64,
    lost_allowed: u64,
    lost: u64,
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
    /// Acknowledged writes missing while a write with a higher sequence
    /// number (another thread's) is there.
    order_holes: u64,
    /// Keys under a keyspace id whose name is not listed; a dropped
    /// keyspace's name opening non-empty.
    keyspace_failures: u64,
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
    /// The acknowledged writes per kind.
    by_kind: BTreeMap<OpKind, KindCounts>,
}

impl Counts {
    fn failures(&self) -> u64 {
        self.lost
            + self.holes
            + self.order_holes
            + self.keyspace_failures
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
        self.order_holes += o.order_holes;
        self.keyspace_failures += o.keyspace_failures;
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
        for (kind, k) in &o.by_kind {
            let mine = self.by_kind.entry(*kind).or_default();
            mine.acked += k.acked;
            mine.verified += k.verified;
            mine.lost_allowed += k.lost_allowed;
            mine.lost += k.lost;
        }
    }
}

/// What one cycle's check found.
#[derive(Debug, Default)]
struct Outcome {
    counts: Counts,
    /// Human-readable descriptions of each failure (first few of a kind).
    problems: Vec<String>,
    /// What this cycle's writes left after the check (for later
    /// regression checks); `None` if the store could not be opened.
    present: Option<CycleState>,
}

/// What one cycle's writes left in a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct CycleState {
    /// Keys in the default keyspace.
    keys: usize,
    /// The cycle's keyspaces listed, with the number of keys in each.
    keyspaces: BTreeMap<String, usize>,
}

impl CycleState {
    /// How many keys and names differ from `other` (0 if equal).
    fn distance(&self, other: &CycleState) -> u64 {
        let mut d = self.keys.abs_diff(other.keys) as u64;
        for (name, n) in &self.keyspaces {
            d += match other.keyspaces.get(name) {
                Some(m) => n.abs_diff(*m) as u64,
                None => 1 + *n as u64,
            };
        }
        for (name, m) in &other.keyspaces {
            if !self.keyspaces.contains_key(name) {
                d += 1 + *m as u64;
            }
        }
        d
    }
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
    /// What each earlier cycle left (and close synced) after its check;
    /// `None` once the store was wiped.
    history: Vec<Option<CycleState>>,
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
        "{} store={} sync={} cycles={} acked={} verified={} lost={} holes={} order_holes={} \
         keyspace_failures={} open_failures={} batch_splits={} bad_values={} regressions={} \
         checkpoints={} checkpoint_failures={} other={} failures={}",
        lane.fault.name(),
        lane.store.name(),
        lane.sync.name(),
        t.cycles,
        t.acked,
        t.verified,
        t.lost,
        t.holes,
        t.order_holes,
        t.keyspace_failures,
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
    let _ = write!(
        s,
        "\n  by-kind store={} sync={} (acked/verified/lost_allowed/lost):",
        lane.store.name(),
        lane.sync.name()
    );
    for kind in OpKind::ALL {
        let k = t.by_kind.get(&kind).copied().unwrap_or_default();
        let _ = write!(
            s,
            " {}={}/{}/{}/{}",
            kind.name(),
            k.acked,
            k.verified,
            k.lost_allowed,
            k.lost
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
         lost={} lost_allowed={} holes={} order_holes={} keyspace_failures={} open_failures={} \
         batch_splits={} checkpoints={} checkpoint_failures={}{}",
        lane.store.name(),
        lane.sync.name(),
        c.acked,
        c.required,
        c.verified,
        c.lost,
        c.lost_allowed,
        c.holes,
        c.order_holes,
        c.keyspace_failures,
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
    match outcome.present.clone() {
        Some(state) => lane.history.push(Some(state)),
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

/// What a store holds of the writers' keys and keyspaces.
#[derive(Debug, Default)]
struct Observed {
    /// This cycle's writes, per writer thread.
    threads: BTreeMap<usize, Seen>,
    /// What each cycle up to this one left in the store.
    per_cycle: BTreeMap<u32, CycleState>,
    /// Keys and names no writer made, and wrong values (one line each).
    bad: Vec<String>,
    /// Keyspace ids whose names are not listed but which hold keys.
    orphans: Vec<String>,
}

impl Observed {
    /// Nothing of any cycle: no key, no keyspace.
    fn is_empty(&self) -> bool {
        self.per_cycle
            .values()
            .all(|c| c.keys == 0 && c.keyspaces.is_empty())
            && self.bad.is_empty()
    }
}

/// Reads everything the writers can have left in `store`: the default
/// keyspace, every listed keyspace (by name; opening a listed name writes
/// nothing), and the ids around the ones this cycle's creates reported
/// that are not listed (the orphan check). Values and names are checked as
/// they are read (`bad`).
fn observe(store: &Store, lane: &Lane, cycle: u32, reports: &[Report]) -> Result<Observed> {
    let mut o = Observed::default();
    let seed_of = |c: u32| lane.seeds.get(c as usize).copied().filter(|_| c <= cycle);
    for (k, v) in store.scan_all().context("full scan")? {
        let text = String::from_utf8_lossy(&k);
        let Some(id) = parse_key(&k) else {
            o.bad.push(format!("unexpected key {text:?}"));
            continue;
        };
        let Some(seed) = seed_of(id.cycle) else {
            o.bad.push(format!("key of an unknown cycle {text:?}"));
            continue;
        };
        if v != value(seed, id) {
            o.bad.push(format!(
                "wrong value under {text:?}: {:?}",
                String::from_utf8_lossy(&v[..v.len().min(40)])
            ));
        }
        o.per_cycle.entry(id.cycle).or_default().keys += 1;
        if id.cycle == cycle {
            *o.threads
                .entry(id.thread)
                .or_default()
                .default
                .entry(id.index)
                .or_default() |= 1 << id.suffix;
        }
    }
    let mut live = BTreeSet::new();
    for name in store.keyspace_names().context("keyspace names")? {
        let id = store
            .open_keyspace(&name)
            .with_context(|| format!("opening listed keyspace {name:?}"))?;
        live.insert(id.get());
        let Some((ks, seed)) =
            parse_keyspace_name(&name).and_then(|ks| Some((ks, seed_of(ks.cycle)?)))
        else {
            o.bad.push(format!("unexpected keyspace {name:?}"));
            continue;
        };
        let mut keys = BTreeSet::new();
        for (k, v) in store
            .scan_keyspace(id)
            .with_context(|| format!("scan of keyspace {name:?}"))?
        {
            let text = String::from_utf8_lossy(&k);
            match parse_keyspace_key(&k) {
                Some(i) if v == keyspace_value(seed, ks.cycle, ks.thread, i) => {
                    keys.insert(i);
                }
                Some(_) => o
                    .bad
                    .push(format!("wrong value under {text:?} in {name:?}")),
                None => o.bad.push(format!("unexpected key {text:?} in {name:?}")),
            }
        }
        let state = o.per_cycle.entry(ks.cycle).or_default();
        state.keyspaces.insert(name, keys.len());
        if ks.cycle == cycle {
            o.threads
                .entry(ks.thread)
                .or_default()
                .keyspaces
                .insert(ks.epoch, keys);
        }
    }
    // Never data without a name: every id from this cycle's first create
    // on (every earlier one too, were it not for the cost) that is not
    // listed reads empty.
    let reported: Vec<u32> = reports.iter().filter_map(|r| r.keyspace).collect();
    let highest = reported
        .iter()
        .chain(&live)
        .copied()
        .max()
        .unwrap_or(KeyspaceId::FIRST_NAMED.get());
    let lowest = reported
        .iter()
        .copied()
        .min()
        .unwrap_or(highest + 1)
        .max(KeyspaceId::FIRST_NAMED.get());
    for id in (lowest..=highest.saturating_add(ORPHAN_PROBES)).filter(|id| !live.contains(id)) {
        let pairs = store
            .scan_keyspace(KeyspaceId::new(id))
            .with_context(|| format!("scan of keyspace id {id}"))?;
        if let Some((k, _)) = pairs.first() {
            o.orphans.push(format!(
                "keyspace id {id} is not listed but holds {} keys, the first {:?}",
                pairs.len(),
                String::from_utf8_lossy(k)
            ));
        }
    }
    Ok(o)
}

/// How many writes each thread started: up to the one after its last
/// ack (it may have been in flight), or up to its failed write.
fn attempted(reports: &[Report]) -> BTreeMap<usize, u64> {
    let mut out = BTreeMap::new();
    for r in reports {
        let n = if r.error.is_some() {
            r.index + 1
        } else {
            r.index + 2
        };
        let e = out.entry(r.thread).or_insert(0);
        *e = n.max(*e);
    }
    out
}

/// The prefix of each thread's writes that explains `observed`, and every
/// way the store differs from it, one line each.
fn fit_threads(observed: &Observed, reports: &[Report]) -> (Fits, Vec<String>) {
    let attempted = attempted(reports);
    let threads: BTreeSet<usize> = observed
        .threads
        .keys()
        .chain(attempted.keys())
        .copied()
        .collect();
    let no_writes = Seen::default();
    let mut fits = BTreeMap::new();
    let mut beyond = Vec::new();
    for thread in threads {
        let seen = observed.threads.get(&thread).unwrap_or(&no_writes);
        let fit = prefix::fit(seen);
        let started = attempted.get(&thread).copied().unwrap_or(1);
        if fit.applied > started {
            beyond.push(format!(
                "thread {thread}: writes up to i={} are there, but only {started} were started",
                fit.applied - 1
            ));
        }
        fits.insert(thread, fit);
    }
    (fits, beyond)
}

/// Per writer thread, the prefix of its writes that explains the store.
type Fits = BTreeMap<usize, prefix::Fit>;

/// Whether the store has the effect of the write `r` reports.
fn has(fits: &Fits, r: &Report) -> bool {
    fits.get(&r.thread).is_some_and(|fit| fit.has(r.index))
}

/// Acknowledged writes (with a sequence number) whose effect is missing
/// while an acknowledged write with a higher number is inside one:
/// the count and the first few, described.
fn order_holes(reports: &[Report], fits: &Fits) -> (u64, Vec<String>) {
    let is_in = |r: &Report| has(fits, r);
    let acked = || {
        reports
            .iter()
            .filter(|r| r.error.is_none())
            .filter_map(|r| Some((r.seq?, r)))
    };
    let Some((top, top_report)) = acked().filter(|(_, r)| is_in(r)).max_by_key(|(s, _)| *s) else {
        return (0, Vec::new());
    };
    let mut count = 0;
    let mut shown = Vec::new();
    for (seq, r) in acked().filter(|(s, r)| *s < top && !is_in(r)) {
        count += 1;
        if shown.len() < 5 {
            shown.push(format!(
                "write t{} i={} ({}, seq {seq}) is missing while t{} i={} (seq {top}) is there",
                r.thread,
                r.index,
                r.kind().name(),
                top_report.thread,
                top_report.index
            ));
        }
    }
    (count, shown)
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
    let observed = match observe(&store, lane, cycle, reports) {
        Ok(observed) => observed,
        Err(e) => {
            o.counts.open_failures = 1;
            o.problem(format!(
                "open succeeded but reading the store failed: {e:#}"
            ));
            tally_acks(lane, reports, None, cut_start, cut_end, &mut o);
            let _ = store.close();
            return o;
        }
    };
    o.counts.bad_values += observed.bad.len() as u64;
    for b in observed.bad.iter().take(10) {
        o.problem(b.clone());
    }
    o.counts.keyspace_failures += observed.orphans.len() as u64;
    for b in observed.orphans.iter().take(10) {
        o.problem(b.clone());
    }

    // Nothing that an earlier cycle's check saw (and close synced) is gone.
    for (c, expected) in lane.history.iter().enumerate() {
        let got = observed
            .per_cycle
            .get(&(c as u32))
            .cloned()
            .unwrap_or_default();
        if let Some(expected) = expected {
            let d = expected.distance(&got);
            if d > 0 {
                o.counts.regressions += d;
                o.problem(format!(
                    "cycle {c} had {expected:?} when checked, now {got:?}"
                ));
            }
        }
    }

    // Per thread, the state after a prefix of its writes.
    let (fits, beyond) = fit_threads(&observed, reports);
    o.counts.bad_values += beyond.len() as u64;
    for b in beyond {
        o.problem(b);
    }
    for (&thread, fit) in &fits {
        o.counts.holes += fit.holes();
        o.counts.batch_splits += fit.batch_splits();
        o.counts.bad_values += fit.malformed();
        for m in fit.mismatches.iter().take(SHOWN_PER_THREAD) {
            o.problem(format!(
                "thread {thread} (prefix of {} writes): {m}",
                fit.applied
            ));
        }
    }
    // Across threads, the state is a prefix of the WAL order.
    let (count, shown) = order_holes(reports, &fits);
    o.counts.order_holes += count;
    for line in shown {
        o.problem(line);
    }

    tally_acks(lane, reports, Some(&fits), cut_start, cut_end, &mut o);

    o.present = Some(observed.per_cycle.get(&cycle).cloned().unwrap_or_default());
    // A dropped keyspace's name opens as a new, empty keyspace: the latest
    // one of each thread, dropped again after the check.
    for (&thread, fit) in &fits {
        let Some(epoch) = (fit.applied / KEYSPACE_EVERY).checked_sub(1) else {
            continue;
        };
        let name = keyspace_name(cycle, thread, epoch);
        if o.present
            .as_ref()
            .is_some_and(|p| p.keyspaces.contains_key(&name))
        {
            continue; // still listed: a mismatch already, and not to be dropped here
        }
        let old = reports
            .iter()
            .find(|r| r.thread == thread && r.index == keyspace_create_index(epoch))
            .and_then(|r| r.keyspace);
        if let Err(e) = reopen_dropped_keyspace(&store, &name, old) {
            o.counts.keyspace_failures += 1;
            o.problem(format!("dropped keyspace {name:?}: {e:#}"));
        }
    }
    if let Err(e) = store.close() {
        o.counts.other += 1;
        o.problem(format!("close after the check failed: {e:#}"));
    }
    o
}

/// Opens keyspace `name`, whose drop is in the store, by its name: it must
/// be a new keyspace (not `old`, the id its create reported) and empty.
/// Drops it again.
fn reopen_dropped_keyspace(store: &Store, name: &str, old: Option<u32>) -> Result<()> {
    let id = store.open_keyspace(name).context("open by name")?;
    if Some(id.get()) == old {
        bail!("opening it by name gave its old id {id}");
    }
    let pairs = store.scan_keyspace(id).context("scan")?;
    if let Some((k, _)) = pairs.first() {
        bail!(
            "opened again by name it holds {} keys, the first {:?}",
            pairs.len(),
            String::from_utf8_lossy(k)
        );
    }
    store.drop_keyspace(name).context("drop again")?;
    Ok(())
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
    let observed = observe(&store, lane, cycle, reports).map_err(|e| format!("{e:#}"));
    let _ = store.close();
    let observed = observed?;
    if observed.is_empty() && report.is_none() {
        return Ok(false); // nothing of it reached the disk
    }
    if let Some(problem) = observed.bad.first().or(observed.orphans.first()) {
        return Err(problem.clone());
    }
    for (c, expected) in lane.history.iter().enumerate() {
        let got = observed
            .per_cycle
            .get(&(c as u32))
            .cloned()
            .unwrap_or_default();
        if let Some(expected) = expected {
            if expected.distance(&got) > 0 {
                return Err(format!(
                    "cycle {c} had {expected:?} when checked, the checkpoint {got:?}"
                ));
            }
        }
    }
    let (fits, beyond) = fit_threads(&observed, reports);
    if let Some(problem) = beyond.into_iter().next() {
        return Err(problem);
    }
    for (&thread, fit) in &fits {
        if let Some(m) = fit.mismatches.first() {
            return Err(format!(
                "thread {thread} (prefix of {} writes): {m}",
                fit.applied
            ));
        }
    }
    if let Some(problem) = order_holes(reports, &fits).1.into_iter().next() {
        return Err(problem);
    }
    if let Some(c) = report {
        for r in reports {
            let found = has(&fits, r);
            if r.error.is_none() && r.end < c.start && !found {
                return Err(format!(
                    "write t{} i={} ({}) was acknowledged before the checkpoint started but is \
                     missing",
                    r.thread,
                    r.index,
                    r.kind().name()
                ));
            }
            if r.start > c.end && found {
                return Err(format!(
                    "write t{} i={} ({}) started after the checkpoint ended but is in it",
                    r.thread,
                    r.index,
                    r.kind().name()
                ));
            }
        }
    }
    Ok(report.is_some())
}

/// Counts the acknowledged writes in `reports` and checks each against
/// `fits` (per thread, the prefix found after the cut); with `fits` `None`
/// (the store did not open) only counts them.
fn tally_acks(
    lane: &Lane,
    reports: &[Report],
    fits: Option<&Fits>,
    cut_start: u64,
    cut_end: u64,
    o: &mut Outcome,
) {
    let ms = |t: u64, base: u64| (t as f64 - base as f64) / 1e6;
    let mut shown = 0;
    for r in reports.iter().filter(|r| r.error.is_none()) {
        let c = &mut o.counts;
        c.acked += 1;
        let kind = c.by_kind.entry(r.kind()).or_default();
        kind.acked += 1;
        let before = r.end < cut_start;
        let after = r.start > cut_end;
        if after && lane.fault == Fault::PowerCut {
            c.acked_after_cut += 1;
        }
        // After a power cut only a write acknowledged durable before it
        // began must be there (under `--sync never`, a few range deletes).
        let required = match lane.fault {
            Fault::Kill => true,
            Fault::PowerCut => r.durable && before,
        };
        c.required += u64::from(required);
        let Some(fits) = fits else {
            continue;
        };
        if has(fits, r) {
            c.verified += 1;
            kind.verified += 1;
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
                // A durable write acknowledged entirely after the cut
                // claims a sync that cannot have happened: as much a bug
                // as a lost required write.
                r.durable && (before || after)
            }
        };
        if bug {
            c.lost += 1;
            kind.lost += 1;
            if shown < 10 {
                shown += 1;
                let text = format!(
                    "lost acked write t{} i={} ({}): started {:+.3} ms, ended {:+.3} ms from the \
                     cut start (cut took {:.3} ms)",
                    r.thread,
                    r.index,
                    r.kind().name(),
                    ms(r.start, cut_start),
                    ms(r.end, cut_start),
                    ms(cut_end, cut_start)
                );
                o.problem(text);
            }
        } else {
            c.lost_allowed += 1;
            kind.lost_allowed += 1;
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
        let _ = writeln!(acks, "{}", r.line());
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
    use crate::workload::{key, KeyId};
    use crate::writer::{one_write, WriterArgs};

    const SEED: u64 = 7;

    fn lane(dir: &Path, fault: Fault, sync: SyncKind, cycles: usize) -> Lane {
        Lane {
            fault,
            store: StoreKind::Sync,
            sync,
            dir: dir.to_path_buf(),
            checkpoints: dir.join("checkpoints"),
            seeds: vec![SEED; cycles],
            history: Vec::new(),
        }
    }

    fn ack(thread: usize, index: u64, start: u64, end: u64) -> Report {
        Report {
            thread,
            index,
            start,
            end,
            error: None,
            seq: None,
            durable: true,
            keyspace: None,
        }
    }

    /// A thread of the writer, run by hand: its keyspace and its reports.
    struct Thread {
        args: WriterArgs,
        thread: usize,
        keyspace: Option<KeyspaceId>,
        reports: Vec<Report>,
    }

    impl Thread {
        fn new(lane: &Lane, cycle: u32, thread: usize) -> Thread {
            Thread {
                args: WriterArgs {
                    store: lane.store,
                    dir: lane.dir.clone(),
                    sync: lane.sync,
                    threads: thread + 1,
                    seed: SEED,
                    cycle,
                    checkpoints: None,
                },
                thread,
                keyspace: None,
                reports: Vec::new(),
            }
        }

        /// Makes writes `range` as the writer does, except those in
        /// `skip`, which are reported acknowledged all the same (lost);
        /// each timed `start..end`.
        fn write(&mut self, store: &Store, range: std::ops::Range<u64>, skip: &[u64]) {
            self.write_timed(store, range, skip, (1, 2));
        }

        fn write_timed(
            &mut self,
            store: &Store,
            range: std::ops::Range<u64>,
            skip: &[u64],
            (start, end): (u64, u64),
        ) {
            for i in range {
                let mut report = ack(self.thread, i, start, end);
                if skip.contains(&i) {
                    report.durable = self.args.sync == SyncKind::Always
                        || (op_kind(i) == OpKind::RangeDelete
                            && crate::workload::synced_under_never(self.thread, i));
                } else {
                    let a =
                        one_write(store, &self.args, self.thread, i, &mut self.keyspace).unwrap();
                    report.seq = a.seq;
                    report.durable = a.durable;
                    report.keyspace = a.keyspace.map(KeyspaceId::get);
                }
                self.reports.push(report);
            }
        }
    }

    fn put_default(store: &Store, cycle: u32, thread: usize, index: u64, suffix: usize) {
        let id = KeyId {
            cycle,
            thread,
            index,
            suffix,
        };
        let k = key(cycle, thread, index, crate::workload::SUFFIXES[suffix]);
        store.put(k.as_bytes(), &value(SEED, id)).unwrap();
    }

    /// The whole schedule, two keyspaces dropped among it, passes every
    /// check; the dropped keyspaces' names, opened again by the check,
    /// are dropped again after it.
    #[test]
    fn a_store_holding_every_acknowledged_write_passes() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::Kill, SyncKind::Always, 1);
        let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
        let mut t0 = Thread::new(&lane, 0, 0);
        let mut t1 = Thread::new(&lane, 0, 1);
        t0.write(&store, 0..45, &[]);
        t1.write(&store, 0..86, &[]);
        store.close().unwrap();
        drop(store);
        let mut reports = t0.reports;
        reports.extend(t1.reports);
        let o = check(&lane, 0, &reports, 10, 11);
        let c = &o.counts;
        assert_eq!(c.failures(), 0, "{:?}", o.problems);
        assert_eq!((c.acked, c.verified), (131, 131));
        for kind in OpKind::ALL {
            assert!(c.by_kind[&kind].verified > 0, "{kind:?}");
        }
        let present = o.present.unwrap();
        assert_eq!(
            present.keyspaces.keys().collect::<Vec<_>>(),
            ["c0000-t0-ks1", "c0000-t1-ks2"]
        );
        assert_eq!(present.keyspaces["c0000-t1-ks2"], 1, "write 85's key");
        let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
        assert_eq!(
            store.keyspace_names().unwrap(),
            ["c0000-t0-ks1", "c0000-t1-ks2"]
        );
        store.close().unwrap();
    }

    /// The checker is not vacuous: a missing put, a split batch, a wrong
    /// value, a lost range delete (its keys still there, later writes
    /// too) and a key nobody wrote are each counted.
    #[test]
    fn check_counts_holes_lost_writes_split_batches_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::Kill, SyncKind::Always, 1);
        let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
        let mut reports = Vec::new();
        let mut t0 = Thread::new(&lane, 0, 0);
        t0.write(&store, 0..25, &[12]); // a put missing: a hole
        let mut t1 = Thread::new(&lane, 0, 1);
        t1.write(&store, 0..19, &[]);
        put_default(&store, 0, 1, 19, 0); // batch 19: two of its four keys
        put_default(&store, 0, 1, 19, 1);
        t1.reports.push(ack(1, 19, 1, 2));
        let mut t2 = Thread::new(&lane, 0, 2);
        t2.write(&store, 0..2, &[]);
        store.put(key(0, 2, 2, "").as_bytes(), b"wrong").unwrap();
        t2.reports.push(ack(2, 2, 1, 2));
        let mut t3 = Thread::new(&lane, 0, 3);
        t3.write(&store, 0..10, &[7]); // range delete lost, 8 and 9 there
        store.put(b"zzz", b"nobody's").unwrap();
        store.close().unwrap();
        drop(store);
        for t in [t0, t1, t2, t3] {
            reports.extend(t.reports);
        }
        let o = check(&lane, 0, &reports, 10, 11);
        let c = &o.counts;
        assert_eq!(c.acked, 25 + 20 + 3 + 10);
        assert_eq!(c.required, c.acked);
        assert_eq!(c.lost, 3, "{:?}", o.problems);
        assert_eq!(c.verified, c.acked - 3);
        assert_eq!(c.by_kind[&OpKind::RangeDelete].lost, 1);
        assert_eq!(c.holes, 3, "{:?}", o.problems);
        assert_eq!(c.batch_splits, 1);
        assert_eq!(c.bad_values, 2);
        assert_eq!((c.order_holes, c.keyspace_failures), (0, 0));
        assert_eq!(c.open_failures, 0);
        assert_eq!(o.present.unwrap().keyspaces.len(), 4);
        assert!(
            o.problems
                .iter()
                .any(|p| p.contains("range delete i=7 deleted them")),
            "{:?}",
            o.problems
        );
    }

    /// Under a power cut with `--sync always`, a lost write is classified
    /// by its timestamps; only a straddling one is allowed.
    #[test]
    fn power_cut_losses_are_classified_by_timing() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::PowerCut, SyncKind::Always, 1);
        let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
        let mut t0 = Thread::new(&lane, 0, 0);
        t0.write_timed(&store, 0..2, &[], (10, 20)); // present
        store.close().unwrap();
        drop(store);
        // Cut from t=100 to t=110.
        let mut reports = t0.reports;
        reports.extend([
            ack(1, 0, 10, 99),   // lost, ended before the cut: a bug
            ack(2, 0, 95, 105),  // lost, straddling: allowed
            ack(3, 0, 111, 120), // lost, started after the cut: a bug
        ]);
        let o = check(&lane, 0, &reports, 100, 110);
        let c = &o.counts;
        assert_eq!(c.acked, 5);
        assert_eq!(c.required, 3);
        assert_eq!(c.verified, 2);
        assert_eq!(
            (c.ended_before_cut, c.straddling, c.started_after_cut),
            (1, 1, 1)
        );
        assert_eq!(c.lost, 2);
        assert_eq!(c.lost_allowed, 1);
        assert_eq!(c.acked_after_cut, 1);
        assert_eq!(c.failures(), 2, "{:?}", o.problems);
    }

    /// Under `--sync never` a power cut may take any write not
    /// acknowledged durable, but not a synced range delete that returned
    /// before it; and never one write while keeping another thread's with
    /// a higher sequence number.
    #[test]
    fn under_sync_never_synced_range_deletes_and_the_wal_order_are_required() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::PowerCut, SyncKind::Never, 1);
        let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
        let mut t0 = Thread::new(&lane, 0, 0);
        t0.write(&store, 0..19, &[17, 18]); // a synced range delete, a put: lost
        let mut t1 = Thread::new(&lane, 0, 1);
        t1.write(&store, 0..1, &[]);
        let mut t2 = Thread::new(&lane, 0, 2);
        t2.write(&store, 0..2, &[]);
        store.close().unwrap();
        drop(store);
        let top = t2.reports[1].seq.unwrap();
        let mut reports = t0.reports;
        reports.iter_mut().filter(|r| r.index >= 17).for_each(|r| {
            r.seq = Some(top + r.index); // after everything present
        });
        assert!(reports[17].durable && !reports[18].durable && !reports[7].durable);
        reports.extend(t1.reports);
        // Thread 1's put, before thread 2's last write in the WAL, lost.
        let mut early = ack(1, 1, 1, 2);
        early.seq = Some(top - 1);
        early.durable = false;
        reports.push(early);
        reports.extend(t2.reports);
        let o = check(&lane, 0, &reports, 100, 110);
        let c = &o.counts;
        assert_eq!(c.required, 1, "only the synced range delete");
        assert_eq!((c.lost, c.lost_allowed), (1, 2), "{:?}", o.problems);
        assert_eq!(c.by_kind[&OpKind::RangeDelete].lost, 1);
        assert_eq!(c.order_holes, 1, "{:?}", o.problems);
        assert_eq!(c.holes, 0);
        assert_eq!(c.failures(), 2);
    }

    /// Keys and keyspaces an earlier cycle's check saw must still be there.
    #[test]
    fn keys_of_earlier_cycles_that_vanish_are_regressions() {
        let dir = tempfile::tempdir().unwrap();
        let mut lane = lane(dir.path(), Fault::Kill, SyncKind::Always, 2);
        {
            let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
            Thread::new(&lane, 0, 0).write(&store, 0..3, &[]);
            store.close().unwrap();
        }
        let seen = CycleState {
            keys: 2,
            keyspaces: BTreeMap::from([("c0000-t0-ks0".to_string(), 0)]),
        };
        lane.history = vec![Some(CycleState {
            keys: 5,
            keyspaces: BTreeMap::new(),
        })];
        let o = check(&lane, 1, &[], 10, 11);
        assert_eq!(o.counts.regressions, 3 + 1, "{:?}", o.problems);
        assert_eq!(o.present, Some(CycleState::default()));
        lane.history = vec![Some(seen)];
        let o = check(&lane, 1, &[], 10, 11);
        assert_eq!(o.counts.failures(), 0, "{:?}", o.problems);
    }

    /// The dropped-keyspace check fails on a name that opens non-empty or
    /// with its old id.
    #[test]
    fn a_dropped_name_that_opens_with_keys_or_its_old_id_fails() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(dir.path(), Fault::Kill, SyncKind::Always, 1);
        let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
        let mut t0 = Thread::new(&lane, 0, 0);
        t0.write(&store, 0..6, &[]); // ks0 with write 5's key
        let id = t0.reports[0].keyspace.unwrap();
        let name = keyspace_name(0, 0, 0);
        let err = reopen_dropped_keyspace(&store, &name, Some(id)).unwrap_err();
        assert!(err.to_string().contains("old id"), "{err:#}");
        let err = reopen_dropped_keyspace(&store, &name, None).unwrap_err();
        assert!(err.to_string().contains("holds 1 keys"), "{err:#}");
        store.drop_keyspace(&name).unwrap();
        reopen_dropped_keyspace(&store, &name, Some(id)).unwrap();
        assert!(store.keyspace_names().unwrap().is_empty());
        store.close().unwrap();
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
            parse_any_line("ack 1 2 3 4 5 1"),
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
        let mut lane = lane(&dir.path().join("db"), Fault::Kill, SyncKind::Always, 1);
        lane.checkpoints = dir.path().join("checkpoints");
        std::fs::create_dir_all(&lane.checkpoints).unwrap();
        let cp = lane.checkpoints.join(checkpoint_dir_name(0));
        let mut t0 = Thread::new(&lane, 0, 0);
        {
            let store = Store::open(lane.store, &lane.dir, lane.sync).unwrap();
            // Writes 0..=2 end before 50; write 3 starts at 70.
            for i in 0..3 {
                t0.write_timed(&store, i..i + 1, &[], (10 + 20 * i, 15 + 20 * i));
            }
            store.checkpoint(&cp).unwrap();
            t0.write_timed(&store, 3..4, &[], (70, 75));
            store.close().unwrap();
        }
        let reports = t0.reports;
        let report = CheckpointReport {
            k: 0,
            start: 50,
            end: 60,
            result: Ok(3),
        };
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
        let r = parse_line("ack 3 17 100 200 5000 1").unwrap();
        assert_eq!((r.thread, r.index, r.start, r.end), (3, 17, 100, 200));
        assert_eq!((r.seq, r.durable, r.keyspace), (Some(5000), true, None));
        assert!(r.error.is_none());
        assert_eq!(parse_line(&r.line()).unwrap().line(), r.line());
        let r = parse_line("ack 0 40 1 2 - 0 12").unwrap();
        assert_eq!((r.seq, r.durable, r.keyspace), (None, false, Some(12)));
        assert_eq!(r.line(), "ack 0 40 1 2 - 0 12");
        let r = parse_line("err 1 2 3 4 io error: Input/output error (os error 5)").unwrap();
        assert_eq!(
            r.error.as_deref(),
            Some("io error: Input/output error (os error 5)")
        );
        assert!(parse_line("ack 1 2 3 4").is_none(), "no sequence number");
        assert!(parse_line("ack 1 2 3 4 5 2").is_none());
        assert!(parse_line("ack 1 2").is_none());
        assert!(parse_line("hello").is_none());
    }
}
