//! `--repeat N`: which of an engine's N runs each row reports.
//!
//! Every run of an engine runs the same workloads in the same order, so
//! run `r`'s row `w` and run `s`'s row `w` measure the same thing. For each
//! workload [`pick_median`] keeps the one run whose ops/s is the median of
//! the N, whole: its latencies, write amplification and peak RSS come with
//! it, so a reported row is one real run, never a mix of runs. For an even
//! N it keeps the lower of the two middle runs (for N = 2, the slower run),
//! a conservative pick rather than an average that no run measured. The row
//! remembers how many runs there were and their lowest and highest ops/s.

use anyhow::{bail, Result};

use super::report::Row;

/// The index, in ascending order of ops/s, of the run [`pick_median`]
/// keeps out of `runs`: the middle one, or the lower middle one for an even
/// count.
pub fn median_index(runs: usize) -> usize {
    runs.saturating_sub(1) / 2
}

/// One engine's runs (each the rows of one run, in workload order) folded
/// into one row per workload: the run with the median ops/s (see the
/// module doc). Errors if the runs disagree on their engine or workloads.
pub fn pick_median(runs: Vec<Vec<Row>>) -> Result<Vec<Row>> {
    let Some(first) = runs.first() else {
        bail!("no runs to pick from");
    };
    let shape: Vec<(&str, &str)> = first
        .iter()
        .map(|r| (r.engine.as_str(), r.workload))
        .collect();
    for run in &runs {
        let this: Vec<(&str, &str)> = run
            .iter()
            .map(|r| (r.engine.as_str(), r.workload))
            .collect();
        if this != shape {
            bail!("runs of one engine disagree on their workloads: {shape:?} vs {this:?}");
        }
    }
    let count = runs.len();
    if count == 1 {
        return Ok(runs.into_iter().flatten().collect());
    }
    let mut columns: Vec<Vec<Row>> = (0..shape.len())
        .map(|_| Vec::with_capacity(count))
        .collect();
    for run in runs {
        for (column, row) in columns.iter_mut().zip(run) {
            column.push(row);
        }
    }
    let runs_u32 = u32::try_from(count).unwrap_or(u32::MAX);
    let mut picked = Vec::with_capacity(columns.len());
    for mut column in columns {
        column.sort_by(|a, b| a.ops_per_sec().total_cmp(&b.ops_per_sec()));
        let min = column.first().map_or(0.0, Row::ops_per_sec);
        let max = column.last().map_or(0.0, Row::ops_per_sec);
        let Some(mut row) = column.into_iter().nth(median_index(count)) else {
            bail!("internal error: a workload without runs");
        };
        row.runs = runs_u32;
        row.ops_per_sec_spread = Some((min, max));
        picked.push(row);
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of `workload` that did 1000 ops at `ops_per_sec`, with a p99.9
    /// that tells the runs apart.
    fn row(workload: &'static str, ops_per_sec: f64, p999_us: f64) -> Row {
        Row {
            p999_us,
            max_us: 100.0,
            ..Row::for_test("lsm-sync", workload, ops_per_sec)
        }
    }

    fn assert_spread(row: &Row, min: f64, max: f64) {
        let (lo, hi) = row.ops_per_sec_spread.unwrap();
        assert!(
            (lo - min).abs() < 1e-6 && (hi - max).abs() < 1e-6,
            "{lo}..{hi}"
        );
    }

    #[test]
    fn median_index_is_the_middle_or_the_lower_middle() {
        assert_eq!(
            [1, 2, 3, 4, 5].map(median_index),
            [0, 0, 1, 1, 2],
            "runs 1..=5"
        );
    }

    #[test]
    fn each_workload_keeps_its_own_median_run_whole() {
        let runs = vec![
            vec![row("fillseq", 300.0, 30.0), row("readrandom", 10.0, 1.0)],
            vec![row("fillseq", 100.0, 10.0), row("readrandom", 30.0, 3.0)],
            vec![row("fillseq", 200.0, 20.0), row("readrandom", 20.0, 2.0)],
        ];
        let picked = pick_median(runs).unwrap();
        assert_eq!(picked.len(), 2);
        // fillseq: runs at 300, 100, 200 ops/s; the median is the third run.
        assert_eq!(picked[0].workload, "fillseq");
        assert!((picked[0].ops_per_sec() - 200.0).abs() < 1e-9);
        assert_eq!(picked[0].p999_us, 20.0, "the median run's own latency");
        assert_eq!(picked[0].runs, 3);
        assert_spread(&picked[0], 100.0, 300.0);
        // readrandom: 10, 30, 20; the median is again the third run.
        assert!((picked[1].ops_per_sec() - 20.0).abs() < 1e-9);
        assert_eq!(picked[1].p999_us, 2.0);
        assert_spread(&picked[1], 10.0, 30.0);
    }

    #[test]
    fn two_runs_report_the_slower_one_and_say_so() {
        let runs = vec![
            vec![row("fillseq", 500.0, 5.0)],
            vec![row("fillseq", 400.0, 4.0)],
        ];
        let picked = pick_median(runs).unwrap();
        assert!((picked[0].ops_per_sec() - 400.0).abs() < 1e-9);
        assert_eq!(picked[0].p999_us, 4.0);
        let table = super::super::report::markdown_table(&picked);
        assert!(
            table.contains("lower of 2 runs by ops/s (2 runs: 400-500)"),
            "{table}"
        );
    }

    #[test]
    fn one_run_is_reported_as_it_is() {
        let only = vec![row("fillseq", 500.0, 5.0)];
        let picked = pick_median(vec![only.clone()]).unwrap();
        assert_eq!(picked, only);
        assert_eq!(picked[0].ops_per_sec_spread, None);
    }

    #[test]
    fn runs_that_disagree_on_their_workloads_are_an_error() {
        let runs = vec![
            vec![row("fillseq", 500.0, 5.0)],
            vec![row("fillrandom", 400.0, 4.0)],
        ];
        assert!(pick_median(runs).is_err());
        assert!(pick_median(Vec::new()).is_err());
    }
}
