//! The machine's scheduling probe: the longest a busy thread goes without
//! running, with one core busy and with every core busy.
//!
//! Each case spins `threads` threads for the probe's time; each thread
//! reads the clock in a loop and keeps the longest gap between two reads
//! in a row. A gap is time the thread was not on a core: preempted by
//! another thread of this machine (a kernel worker writing back dirty
//! pages, another process) or, in a virtual machine, by the host taking
//! the virtual CPU away (steal time, read from `/proc/stat` where there is
//! one).
//!
//! Why: a put is timed the same way, so a put can take at least as long as
//! such a gap, whatever the engine's code. An engine that keeps every core
//! busy (the async store's writer and applier in a random fill) has its
//! puts exposed to the `all cores` case; one that keeps one core busy and
//! leaves the other idle, to the `one core` case. On the development VM
//! (2 cores, 4 runs of 2 s a case): one thread's longest gap was 0.09-0.48
//! ms in three runs (11.5 ms once), two threads' 1.9-3.5 ms, with 3-7 gaps
//! of 1 ms or more each time. `perf sched` over two spinners showed who
//! took the core: the kernel's own threads (`kdamond`, in slices of up to
//! 2.8 ms, writeback `kworker`s, `rcu_preempt`, `ksoftirqd`) and other
//! processes, which run on the idle core when there is one.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

/// How long each case spins.
pub const SCHED_PROBE_TIME: Duration = Duration::from_secs(2);

/// Gaps at least this long are counted (the goal for the slowest
/// put).
pub const LONG_GAP: Duration = Duration::from_millis(1);

/// What one case measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpinCase {
    /// Threads spinning at once.
    pub threads: usize,
    /// The longest gap any of them saw between two clock reads in a row.
    pub longest_gap: Duration,
    /// Gaps of at least [`LONG_GAP`], over all threads.
    pub long_gaps: u64,
    /// CPU time the host took from this machine's CPUs during the case
    /// (`/proc/stat` steal), `None` where it cannot be read.
    pub steal: Option<Duration>,
}

/// The probe's result.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedProbe {
    /// How long each case spun.
    pub time: Duration,
    /// One thread.
    pub one_core: SpinCase,
    /// As many threads as the machine has cores.
    pub all_cores: SpinCase,
}

/// The probe as one JSON line: `{"probe":"scheduling", ...}`.
#[derive(Debug, Serialize)]
struct SchedProbeJson {
    probe: &'static str,
    seconds: f64,
    long_gap_ms: f64,
    one_core: SpinCaseJson,
    all_cores: SpinCaseJson,
}

#[derive(Debug, Serialize)]
struct SpinCaseJson {
    threads: usize,
    longest_gap_ms: f64,
    long_gaps: u64,
    steal_ms: Option<f64>,
}

impl SpinCase {
    fn json(&self) -> SpinCaseJson {
        SpinCaseJson {
            threads: self.threads,
            longest_gap_ms: millis(self.longest_gap),
            long_gaps: self.long_gaps,
            steal_ms: self.steal.map(millis),
        }
    }

    fn describe(&self) -> String {
        let steal = self
            .steal
            .map_or_else(String::new, |s| format!(", steal {:.0} ms", millis(s)));
        format!(
            "{} thread{}: longest gap {:.2} ms, {} gap{} of {} ms or more{steal}",
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            millis(self.longest_gap),
            self.long_gaps,
            if self.long_gaps == 1 { "" } else { "s" },
            LONG_GAP.as_millis(),
        )
    }
}

impl SchedProbe {
    /// The probe as one JSON object on one line.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&SchedProbeJson {
            probe: "scheduling",
            seconds: self.time.as_secs_f64(),
            long_gap_ms: millis(LONG_GAP),
            one_core: self.one_core.json(),
            all_cores: self.all_cores.json(),
        })
    }

    /// The probe as one line of text for the report.
    pub fn describe(&self) -> String {
        format!(
            "scheduling probe (threads spinning on the clock for {:.1} s): {}; {}",
            self.time.as_secs_f64(),
            self.one_core.describe(),
            self.all_cores.describe(),
        )
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs both cases, each for `time`: one spinning thread, then as many as
/// the machine has cores (at least two, so the second case always keeps
/// more than one core busy).
pub fn probe_scheduling(time: Duration) -> Result<SchedProbe> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    Ok(SchedProbe {
        time,
        one_core: spin_case(1, time)?,
        all_cores: spin_case(cores, time)?,
    })
}

/// Spins `threads` threads for `time` and gathers their gaps.
fn spin_case(threads: usize, time: Duration) -> Result<SpinCase> {
    let steal_before = read_steal();
    let gaps = std::thread::scope(|scope| -> Result<Vec<Gaps>> {
        // Spawned threads are joined by the scope even if a later spawn
        // fails.
        let spinners = (0..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .name("lsm-sched-probe".to_string())
                    .spawn_scoped(scope, move || spin(time))
            })
            .collect::<std::io::Result<Vec<_>>>()
            .context("starting the scheduling probe's threads")?;
        spinners
            .into_iter()
            .map(|spinner| {
                spinner
                    .join()
                    .map_err(|_| anyhow::anyhow!("a scheduling probe thread panicked"))
            })
            .collect()
    })?;
    let steal = match (steal_before, read_steal()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(SpinCase {
        threads,
        longest_gap: gaps.iter().map(|g| g.longest).max().unwrap_or_default(),
        long_gaps: gaps.iter().map(|g| g.long).sum(),
        steal,
    })
}

/// One thread's gaps between consecutive clock reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Gaps {
    longest: Duration,
    /// Gaps of at least [`LONG_GAP`].
    long: u64,
}

impl Gaps {
    fn observe(&mut self, gap: Duration) {
        self.longest = self.longest.max(gap);
        if gap >= LONG_GAP {
            self.long += 1;
        }
    }
}

/// Reads the clock in a loop for `time`.
fn spin(time: Duration) -> Gaps {
    let mut gaps = Gaps::default();
    let started = Instant::now();
    let mut last = started;
    loop {
        let now = Instant::now();
        gaps.observe(now - last);
        last = now;
        if now - started >= time {
            return gaps;
        }
    }
}

/// The machine's total steal time so far, from `/proc/stat`; `None`
/// where there is no such file or it has no steal column.
fn read_steal() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_steal(&stat)
}

/// Clock ticks per second of `/proc/stat` (`USER_HZ`): 100 on every
/// architecture Linux runs this on.
const USER_HZ: u64 = 100;

/// The steal column (the eighth number) of the `cpu` line, which sums all
/// CPUs.
fn parse_steal(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(Duration::from_millis(ticks.checked_mul(1000 / USER_HZ)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_keep_the_longest_and_count_the_long_ones() {
        let mut gaps = Gaps::default();
        for micros in [3, 1500, 20, 999, 1000, 7] {
            gaps.observe(Duration::from_micros(micros));
        }
        assert_eq!(gaps.longest, Duration::from_micros(1500));
        assert_eq!(gaps.long, 2, "1500 us and 1000 us");
    }

    #[test]
    fn steal_is_the_eighth_number_of_the_cpu_line() {
        let stat = "cpu  63516 167099 28784 122019 4083 0 215 142 0 0\n\
                    cpu0 31758 83549 14392 61009 2041 0 107 71 0 0\n";
        assert_eq!(parse_steal(stat), Some(Duration::from_millis(1420)));
        assert_eq!(parse_steal("cpu  1 2 3 4\n"), None, "no steal column");
        assert_eq!(parse_steal("intr 5\n"), None, "no cpu line");
        assert_eq!(parse_steal("cpu  1 2 3 4 5 6 7 x\n"), None);
    }

    #[test]
    fn each_case_spins_its_threads_for_the_time_given() {
        let time = Duration::from_millis(30);
        let started = Instant::now();
        let probe = probe_scheduling(time).unwrap();
        assert!(
            started.elapsed() >= 2 * time,
            "two cases, one after the other"
        );
        assert_eq!(probe.one_core.threads, 1);
        assert!(probe.all_cores.threads >= 2);
        for case in [probe.one_core, probe.all_cores] {
            assert!(case.longest_gap <= started.elapsed());
            assert!(case.long_gaps <= (started.elapsed().as_millis() as u64) * case.threads as u64);
        }
        let value: serde_json::Value = serde_json::from_str(&probe.to_json().unwrap()).unwrap();
        assert_eq!(value["probe"], "scheduling");
        assert_eq!(value["one_core"]["threads"], 1);
        assert_eq!(value["long_gap_ms"], 1.0);
        let text = probe.describe();
        assert!(text.contains("1 thread: longest gap"), "{text}");
    }

    #[test]
    fn the_description_names_threads_gaps_and_steal() {
        let case = SpinCase {
            threads: 2,
            longest_gap: Duration::from_micros(8_600),
            long_gaps: 1,
            steal: Some(Duration::from_millis(30)),
        };
        assert_eq!(
            case.describe(),
            "2 threads: longest gap 8.60 ms, 1 gap of 1 ms or more, steal 30 ms"
        );
        let value = serde_json::to_value(case.json()).unwrap();
        assert_eq!(value["longest_gap_ms"], 8.6);
        assert_eq!(value["steal_ms"], 30.0);
        let no_steal = SpinCase {
            steal: None,
            ..case
        };
        assert!(!no_steal.describe().contains("steal"));
    }
}
