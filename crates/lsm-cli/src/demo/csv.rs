//! The demo's CSV: one row per sample per store. The columns are listed in
//! the `demo` module docs.

use std::fmt::Write as _;

use super::sampler::Sample;
use super::StoreRun;

/// The header line (without newline) for stores with `levels` levels.
pub fn header(levels: usize) -> String {
    let mut columns: Vec<String> = [
        "store",
        "elapsed_ms",
        "puts_per_s",
        "gets_per_s",
        "deletes_per_s",
        "ranges_per_s",
        "put_p50_us",
        "put_p99_us",
        "put_p999_us",
        "put_max_us",
        "memtable_bytes",
        "immutable_memtables",
        "immutable_bytes",
        "flushes",
        "compactions",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    columns.extend((0..levels).map(|l| format!("l{l}_files")));
    columns.extend((0..levels).map(|l| format!("l{l}_bytes")));
    columns.extend(
        [
            "wal_bytes",
            "last_seq",
            "visible_seq",
            "watermark_lag",
            "apply_queue_depth",
            "apply_queue_max",
            "pending_compactions",
        ]
        .iter()
        .map(|c| c.to_string()),
    );
    columns.join(",")
}

fn optional<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One row (without newline). Cells a store does not have (latency of a
/// window without puts, queue depth of the simple store) are empty.
pub fn row(store: &str, sample: &Sample, levels: usize) -> String {
    let mut line = String::new();
    let latency = sample.put_latency;
    let _ = write!(
        line,
        "{store},{},{:.1},{:.1},{:.1},{:.1},{},{},{},{},{},{},{},{},{}",
        sample.elapsed_ms,
        sample.puts_per_s,
        sample.gets_per_s,
        sample.deletes_per_s,
        sample.ranges_per_s,
        optional(latency.map(|l| format!("{:.2}", l.p50_us))),
        optional(latency.map(|l| format!("{:.2}", l.p99_us))),
        optional(latency.map(|l| format!("{:.2}", l.p999_us))),
        optional(latency.map(|l| format!("{:.2}", l.max_us))),
        sample.memtable_bytes,
        sample.immutable_memtables,
        sample.immutable_bytes,
        sample.flushes,
        sample.compactions,
    );
    for level in 0..levels {
        let _ = write!(line, ",{}", sample.level_files.get(level).unwrap_or(&0));
    }
    for level in 0..levels {
        let _ = write!(line, ",{}", sample.level_bytes.get(level).unwrap_or(&0));
    }
    let _ = write!(
        line,
        ",{},{},{},{},{},{},{}",
        sample.wal_bytes,
        sample.last_seq,
        sample.visible_seq,
        sample.watermark_lag(),
        optional(sample.apply_queue_depth),
        optional(sample.apply_queue_max),
        optional(sample.pending_compactions),
    );
    line
}

/// The whole CSV for `runs`.
pub fn render(runs: &[StoreRun]) -> String {
    let levels = runs
        .iter()
        .flat_map(|run| run.samples.iter().map(|s| s.level_files.len()))
        .max()
        .unwrap_or(0);
    let mut text = header(levels);
    text.push('\n');
    for run in runs {
        for sample in &run.samples {
            text.push_str(&row(run.kind.name(), sample, levels));
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_row_have_the_same_number_of_cells() {
        let sample = Sample {
            elapsed_ms: 250,
            puts_per_s: 1000.0,
            gets_per_s: 10.0,
            deletes_per_s: 1.0,
            ranges_per_s: 0.0,
            put_latency: None,
            memtable_bytes: 1,
            immutable_memtables: 0,
            immutable_bytes: 0,
            flushes: 2,
            compactions: 1,
            level_files: vec![1, 2, 0],
            level_bytes: vec![10, 20, 0],
            wal_bytes: 5,
            last_seq: 9,
            visible_seq: 7,
            apply_queue_depth: Some(2),
            apply_queue_max: Some(3),
            pending_compactions: None,
        };
        let header = header(3);
        let row = row("async", &sample, 3);
        assert_eq!(header.split(',').count(), row.split(',').count());
        assert!(header.contains(",l2_files,l0_bytes,"));
        assert!(row.ends_with(",9,7,2,2,3,"), "{row}");
    }
}
