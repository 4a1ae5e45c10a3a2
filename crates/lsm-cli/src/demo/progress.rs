//! The progress line, at most [`WIDTH`] columns: store, elapsed time, a
//! bar, ops/s, the flush and compaction counts, and tables per level.
//!
//! On a terminal it is redrawn in place (indicatif, on stderr); otherwise
//! (a pipe, a CI log) it is printed to stderr as a plain line about once a
//! second, so a log shows the run's progress too.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::charts;
use super::sampler::Sample;

/// The most columns a progress line takes.
pub const WIDTH: usize = 80;

/// How often the plain (non-terminal) form prints a line.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// Width of the bar between the brackets.
const BAR: usize = 8;

/// The progress line of `store` after `elapsed` of `total` seconds.
pub fn line(store: &str, elapsed: f64, total: f64, sample: &Sample) -> String {
    let fraction = if total > 0.0 {
        (elapsed / total).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let filled = (fraction * BAR as f64).round() as usize;
    let bar = if filled >= BAR {
        "=".repeat(BAR)
    } else {
        format!("{}>{}", "=".repeat(filled), " ".repeat(BAR - filled - 1))
    };
    let ops = sample.puts_per_s + sample.gets_per_s + sample.deletes_per_s + sample.ranges_per_s;
    let head = format!(
        "{store:<6} {elapsed:>4.1}s [{bar}] {} ops/s, {} {}, {} {}",
        charts::compact(ops.round()),
        sample.flushes,
        if sample.flushes == 1 {
            "flush"
        } else {
            "flushes"
        },
        sample.compactions,
        if sample.compactions == 1 {
            "compaction"
        } else {
            "compactions"
        }
    );
    let tables: Vec<String> = sample.level_files.iter().map(u64::to_string).collect();
    let full = format!("{head}, tables {}", tables.join("/"));
    let chosen = if full.chars().count() <= WIDTH {
        full
    } else {
        head
    };
    chosen.chars().take(WIDTH).collect()
}

/// Shows progress lines on stderr: in place on a terminal, else plain
/// lines about once a second.
pub enum Progress {
    /// Redrawn in place.
    Bar(ProgressBar),
    /// Printed as lines; when the last one was.
    Plain(Option<Instant>),
}

impl Progress {
    /// The form that suits stderr.
    pub fn new() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{msg}") {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Plain(None)
        }
    }

    /// Shows `line`; `last` forces a plain line (the final sample).
    pub fn show(&mut self, line: String, last: bool) {
        match self {
            Progress::Bar(bar) => bar.set_message(line),
            Progress::Plain(previous) => {
                let due = previous.is_none_or(|at| at.elapsed() >= PLAIN_EVERY);
                if due || last {
                    errln!("{line}");
                    *previous = Some(Instant::now());
                }
            }
        }
    }

    /// Clears the in-place line.
    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(flushes: u64, compactions: u64, level_files: &[u64]) -> Sample {
        Sample {
            elapsed_ms: 0,
            puts_per_s: 123_456.0,
            gets_per_s: 5000.0,
            deletes_per_s: 500.0,
            ranges_per_s: 200.0,
            put_latency: None,
            memtable_bytes: 0,
            immutable_memtables: 0,
            immutable_bytes: 0,
            flushes,
            compactions,
            level_files: level_files.to_vec(),
            level_bytes: vec![0; level_files.len()],
            wal_bytes: 0,
            last_seq: 0,
            visible_seq: 0,
            apply_queue_depth: None,
            apply_queue_max: None,
            pending_compactions: None,
        }
    }

    #[test]
    fn lines_fit_80_columns_and_show_flushes_and_compactions() {
        let typical = line("simple", 4.25, 12.0, &sample(31, 17, &[3, 12, 40, 0]));
        assert!(typical.contains("31 flushes"), "{typical}");
        assert!(typical.contains("17 compactions"), "{typical}");
        assert!(typical.contains("[===>    ]"), "{typical}");
        assert!(typical.contains("tables 3/12/40/0"), "{typical}");
        assert!(typical.chars().count() <= WIDTH, "{typical}");
        // Huge counts and many levels: tables go first, counts stay.
        let huge = line(
            "async",
            9999.0,
            10_000.0,
            &sample(123_456, 654_321, &[1234; 7]),
        );
        assert!(huge.chars().count() <= WIDTH, "{huge}");
        assert!(huge.contains("123456 flushes"), "{huge}");
        assert!(!huge.contains("tables"), "{huge}");
        let done = line("async", 12.0, 12.0, &sample(1, 0, &[1, 0, 0, 0]));
        assert!(done.contains("[========]"), "{done}");
    }
}
