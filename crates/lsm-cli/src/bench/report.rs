//! The results: one [`Row`] per engine and workload, printed as a Markdown
//! table or as JSON lines (one [`RowJson`] object per row, through serde),
//! and read back from those lines ([`Row::from_json_line`]) when the
//! engines ran in child processes.

use std::fmt::Write as _;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use super::metrics::WriteSource;
use super::workloads::Workload;

/// One row as JSON: the measurements, the ratios computed from them, and
/// `null` for what was not measured (or is not finite). The computed
/// fields (`ops_per_sec`, `write_amp`, `space_amp`, `peak_rss_mib`) are
/// ignored when a row is read back: they follow from the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowJson {
    /// Engine name.
    pub engine: String,
    /// Workload name.
    pub workload: String,
    /// Operations timed.
    pub ops: u64,
    /// Threads that ran them.
    pub threads: usize,
    /// Wall time of the operations in seconds.
    pub seconds: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Median latency in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency in microseconds.
    pub p99_us: f64,
    /// 99.9th percentile latency in microseconds.
    pub p999_us: f64,
    /// Maximum latency in microseconds.
    pub max_us: f64,
    /// Where the timed operations are not puts (`readwhilewriting`): the
    /// writer's 99.9th percentile put latency in microseconds.
    #[serde(default)]
    pub put_p999_us: Option<f64>,
    /// The writer's maximum put latency in microseconds.
    #[serde(default)]
    pub put_max_us: Option<f64>,
    /// The writer's puts per second over the same window.
    #[serde(default)]
    pub put_ops_per_sec: Option<f64>,
    /// Key + value bytes put.
    pub user_bytes: u64,
    /// Bytes the process wrote.
    pub disk_bytes_written: Option<u64>,
    /// The `/proc/self/io` counter `disk_bytes_written` came from.
    pub write_counter: Option<String>,
    /// Write amplification.
    pub write_amp: Option<f64>,
    /// Store directory bytes.
    pub dir_bytes: Option<u64>,
    /// Live keys times entry size.
    pub live_bytes: Option<u64>,
    /// Space amplification.
    pub space_amp: Option<f64>,
    /// Peak RSS in MiB.
    pub peak_rss_mib: Option<f64>,
    /// Peak RSS in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// `workload` or `process`.
    pub peak_rss_scope: String,
    /// Lookups that found their key.
    pub found: Option<u64>,
    /// Lookups made.
    pub lookups: Option<u64>,
    /// Runs of this engine the row was picked from (`--repeat`).
    pub runs: u32,
    /// Lowest ops/s over those runs (`null` for one run).
    pub ops_per_sec_min: Option<f64>,
    /// Highest ops/s over those runs (`null` for one run).
    pub ops_per_sec_max: Option<f64>,
    /// Free text.
    pub note: String,
}

/// The measurements of one workload on one engine.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Engine name.
    pub engine: String,
    /// Workload name.
    pub workload: &'static str,
    /// Operations timed.
    pub ops: u64,
    /// Threads that ran them (readers for `readwhilewriting`).
    pub threads: usize,
    /// Wall time of the operations in seconds.
    pub seconds: f64,
    /// Latency percentiles and maximum in microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// Where the timed operations are not puts (`readwhilewriting`): the
    /// writer's 99.9th percentile and maximum put latency.
    pub put_p999_us: Option<f64>,
    /// The writer's maximum put latency.
    pub put_max_us: Option<f64>,
    /// The writer's puts per second over the same window.
    pub put_ops_per_sec: Option<f64>,
    /// Key + value bytes put.
    pub user_bytes: u64,
    /// Bytes the process wrote, and the `/proc/self/io` counter they came
    /// from; `None` if unavailable.
    pub disk_bytes: Option<(u64, &'static str)>,
    /// Store directory bytes after the workload (writing workloads only).
    pub dir_bytes: Option<u64>,
    /// Live keys times entry size after the workload (writing workloads).
    pub live_bytes: Option<u64>,
    /// Peak RSS in bytes during the workload (or the run so far, see
    /// `peak_rss_scope`).
    pub peak_rss_bytes: Option<u64>,
    /// `workload` if the peak was reset before the workload, else `process`.
    pub peak_rss_scope: &'static str,
    /// Lookups that found their key, and lookups made.
    pub found: Option<(u64, u64)>,
    /// Runs of this engine the row was picked from: 1, or `--repeat`
    /// (see [`super::repeat`]).
    pub runs: u32,
    /// Lowest and highest ops/s over those runs; `None` for one run.
    pub ops_per_sec_spread: Option<(f64, f64)>,
    /// Free text.
    pub note: String,
}

/// The two values [`Row::peak_rss_scope`] takes.
const RSS_SCOPES: [&str; 2] = ["workload", "process"];

#[cfg(test)]
impl Row {
    /// A row for tests: `engine` on `workload`, 1000 single-thread ops at
    /// `ops_per_sec`, latencies 1/2/3/4 µs, nothing else measured. Tests
    /// set what they look at with struct update syntax.
    pub(crate) fn for_test(engine: &str, workload: &'static str, ops_per_sec: f64) -> Row {
        Row {
            engine: engine.to_string(),
            workload,
            ops: 1000,
            threads: 1,
            seconds: 1000.0 / ops_per_sec,
            p50_us: 1.0,
            p99_us: 2.0,
            p999_us: 3.0,
            max_us: 4.0,
            put_p999_us: None,
            put_max_us: None,
            put_ops_per_sec: None,
            user_bytes: 0,
            disk_bytes: None,
            dir_bytes: None,
            live_bytes: None,
            peak_rss_bytes: None,
            peak_rss_scope: "workload",
            found: None,
            runs: 1,
            ops_per_sec_spread: None,
            note: String::new(),
        }
    }
}

impl Row {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Disk bytes written over user bytes put; `None` for read workloads.
    pub fn write_amp(&self) -> Option<f64> {
        match self.disk_bytes {
            Some((disk, _)) if self.user_bytes > 0 => Some(disk as f64 / self.user_bytes as f64),
            _ => None,
        }
    }

    /// Directory bytes over live bytes; `None` for read workloads.
    pub fn space_amp(&self) -> Option<f64> {
        match (self.dir_bytes, self.live_bytes) {
            (Some(dir), Some(live)) if live > 0 => Some(dir as f64 / live as f64),
            _ => None,
        }
    }

    /// Peak RSS in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0))
    }

    /// The notes column: found counts, the write counter when it was the
    /// `wchar` fallback, the runs it was picked from, and the workload's
    /// own note.
    fn notes(&self) -> String {
        let mut parts = Vec::new();
        if let Some((found, total)) = self.found {
            parts.push(format!("found {found}/{total}"));
        }
        if let Some((_, source)) = self.disk_bytes {
            if source != "write_bytes" && self.user_bytes > 0 {
                parts.push(format!("w-amp from {source}"));
            }
        }
        if let Some((min, max)) = self.ops_per_sec_spread {
            let pick = if self.runs == 2 {
                "lower of 2 runs"
            } else {
                "median run"
            };
            parts.push(format!(
                "{pick} by ops/s ({} runs: {min:.0}-{max:.0})",
                self.runs
            ));
        }
        if !self.note.is_empty() {
            parts.push(self.note.clone());
        }
        parts.join("; ")
    }

    /// The row as its JSON record.
    pub fn json(&self) -> RowJson {
        let finite = |v: f64| Some(v).filter(|v| v.is_finite());
        RowJson {
            engine: self.engine.clone(),
            workload: self.workload.to_string(),
            ops: self.ops,
            threads: self.threads,
            seconds: self.seconds,
            ops_per_sec: self.ops_per_sec(),
            p50_us: self.p50_us,
            p99_us: self.p99_us,
            p999_us: self.p999_us,
            max_us: self.max_us,
            put_p999_us: self.put_p999_us,
            put_max_us: self.put_max_us,
            put_ops_per_sec: self.put_ops_per_sec,
            user_bytes: self.user_bytes,
            disk_bytes_written: self.disk_bytes.map(|(bytes, _)| bytes),
            write_counter: self.disk_bytes.map(|(_, counter)| counter.to_string()),
            write_amp: self.write_amp().and_then(finite),
            dir_bytes: self.dir_bytes,
            live_bytes: self.live_bytes,
            space_amp: self.space_amp().and_then(finite),
            peak_rss_mib: self.peak_rss_mib(),
            peak_rss_bytes: self.peak_rss_bytes,
            peak_rss_scope: self.peak_rss_scope.to_string(),
            found: self.found.map(|(found, _)| found),
            lookups: self.found.map(|(_, lookups)| lookups),
            runs: self.runs,
            ops_per_sec_min: self.ops_per_sec_spread.map(|(min, _)| min),
            ops_per_sec_max: self.ops_per_sec_spread.map(|(_, max)| max),
            note: self.note.clone(),
        }
    }

    /// The row as one JSON object on one line.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.json())
    }

    /// The row a [`RowJson`] record describes; errors on a workload, write
    /// counter or RSS scope this build does not know, or on half a found
    /// count.
    pub fn from_json(json: RowJson) -> Result<Row> {
        let workload = Workload::from_name(&json.workload)
            .ok_or_else(|| anyhow!("unknown workload `{}` in a result", json.workload))?
            .name();
        let peak_rss_scope = RSS_SCOPES
            .into_iter()
            .find(|scope| *scope == json.peak_rss_scope)
            .ok_or_else(|| anyhow!("unknown peak_rss_scope `{}`", json.peak_rss_scope))?;
        let disk_bytes = match (json.disk_bytes_written, json.write_counter.as_deref()) {
            (None, None) => None,
            (Some(bytes), Some(counter)) => {
                let source = [WriteSource::WriteBytes, WriteSource::Wchar]
                    .into_iter()
                    .find(|s| s.name() == counter)
                    .ok_or_else(|| anyhow!("unknown write_counter `{counter}`"))?;
                Some((bytes, source.name()))
            }
            _ => return Err(anyhow!("disk_bytes_written and write_counter disagree")),
        };
        let found = match (json.found, json.lookups) {
            (None, None) => None,
            (Some(found), Some(lookups)) => Some((found, lookups)),
            _ => return Err(anyhow!("found and lookups disagree")),
        };
        let ops_per_sec_spread = match (json.ops_per_sec_min, json.ops_per_sec_max) {
            (None, None) => None,
            (Some(min), Some(max)) => Some((min, max)),
            _ => return Err(anyhow!("ops_per_sec_min and ops_per_sec_max disagree")),
        };
        Ok(Row {
            engine: json.engine,
            workload,
            ops: json.ops,
            threads: json.threads,
            seconds: json.seconds,
            p50_us: json.p50_us,
            p99_us: json.p99_us,
            p999_us: json.p999_us,
            max_us: json.max_us,
            put_p999_us: json.put_p999_us,
            put_max_us: json.put_max_us,
            put_ops_per_sec: json.put_ops_per_sec,
            user_bytes: json.user_bytes,
            disk_bytes,
            dir_bytes: json.dir_bytes,
            live_bytes: json.live_bytes,
            peak_rss_bytes: json.peak_rss_bytes,
            peak_rss_scope,
            found,
            runs: json.runs,
            ops_per_sec_spread,
            note: json.note,
        })
    }

    /// Reads a row back from one line [`Row::to_json`] wrote.
    pub fn from_json_line(line: &str) -> Result<Row> {
        let json: RowJson = serde_json::from_str(line).context("not a result row")?;
        Row::from_json(json)
    }
}

/// The header of the Markdown table.
const HEADER: [&str; 11] = [
    "engine",
    "workload",
    "ops/s",
    "p50 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "w-amp",
    "s-amp",
    "peak RSS MiB",
    "notes",
];

/// The rows as a Markdown table (a header, a rule, one line per row).
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let rule: Vec<&str> = HEADER
        .iter()
        .enumerate()
        .map(|(i, _)| if (2..10).contains(&i) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in rows {
        let cells = [
            row.engine.clone(),
            row.workload.to_string(),
            format!("{:.0}", row.ops_per_sec()),
            micros(row.p50_us),
            micros(row.p99_us),
            micros(row.p999_us),
            micros(row.max_us),
            ratio(row.write_amp()),
            ratio(row.space_amp()),
            row.peak_rss_mib()
                .map_or_else(|| "n/a".to_string(), |m| format!("{m:.1}")),
            row.notes().replace('|', "/").replace(['\n', '\r'], " "),
        ];
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

fn micros(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            p50_us: 1.5,
            p99_us: 10.0,
            p999_us: 20.0,
            max_us: 300.0,
            user_bytes: 116_000,
            disk_bytes: Some((232_000, "write_bytes")),
            dir_bytes: Some(174_000),
            live_bytes: Some(116_000),
            peak_rss_bytes: Some(10 << 20),
            note: "a \"quoted\"\nnote".to_string(),
            // 1000 ops in 0.5 s.
            ..Row::for_test("lsm-sync", "fillseq", 2000.0)
        }
    }

    #[test]
    fn a_row_is_one_json_object_with_amplifications() {
        let json = row().to_json().unwrap();
        assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
        assert!(
            !json.contains('\n'),
            "the note's newline is escaped: {json}"
        );
        assert!(json.contains("\"workload\":\"fillseq\""), "{json}");
        assert!(json.contains("\"ops_per_sec\":2000.0,"), "{json}");
        assert!(json.contains("\"write_amp\":2.0,"), "{json}");
        assert!(json.contains("\"space_amp\":1.5,"), "{json}");
        assert!(json.contains("\"found\":null"), "{json}");
        assert!(
            json.contains("\"note\":\"a \\\"quoted\\\"\\nnote\""),
            "quotes and newlines escaped: {json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["disk_bytes_written"], 232_000);
        assert_eq!(value["write_counter"], "write_bytes");
        assert_eq!(value["peak_rss_bytes"], 10 << 20);
        assert_eq!(value["runs"], 1);
        assert!(value["ops_per_sec_min"].is_null(), "{json}");
    }

    #[test]
    fn rows_read_back_from_their_json_lines_unchanged() {
        let mut read = row();
        read.workload = "readrandom";
        read.user_bytes = 0;
        read.disk_bytes = Some((4096, "wchar"));
        read.dir_bytes = None;
        read.live_bytes = None;
        read.found = Some((7, 9));
        read.peak_rss_scope = "process";
        read.runs = 3;
        read.ops_per_sec_spread = Some((1234.5, 2000.25));
        read.seconds = 0.123_456_789_012_345_67;
        for original in [row(), read] {
            let line = original.to_json().unwrap();
            let back = Row::from_json_line(&line).unwrap();
            assert_eq!(back, original, "{line}");
        }
    }

    #[test]
    fn reading_back_rejects_what_this_build_does_not_know() {
        let good: serde_json::Value = serde_json::from_str(&row().to_json().unwrap()).unwrap();
        for (field, bad) in [
            ("workload", serde_json::json!("fillmagic")),
            ("peak_rss_scope", serde_json::json!("forever")),
            ("write_counter", serde_json::json!("read_bytes")),
            ("lookups", serde_json::json!(5)),
        ] {
            let mut value = good.clone();
            value[field] = bad;
            let err = Row::from_json_line(&value.to_string()).unwrap_err();
            assert!(!err.to_string().is_empty(), "{field}");
        }
        assert!(Row::from_json_line("{\"summary\":\"fillseq\"}").is_err());
        assert!(Row::from_json_line("not json").is_err());
    }

    #[test]
    fn unmeasured_fields_are_null() {
        let mut read = row();
        read.user_bytes = 0;
        read.disk_bytes = None;
        read.dir_bytes = None;
        read.live_bytes = None;
        read.peak_rss_bytes = None;
        let value: serde_json::Value = serde_json::from_str(&read.to_json().unwrap()).unwrap();
        for field in [
            "write_amp",
            "space_amp",
            "disk_bytes_written",
            "write_counter",
            "peak_rss_mib",
        ] {
            assert!(value[field].is_null(), "{field}: {value}");
        }
    }

    #[test]
    fn markdown_has_a_header_a_rule_and_a_line_per_row() {
        let mut read = row();
        read.workload = "readrandom";
        read.user_bytes = 0;
        read.dir_bytes = None;
        read.found = Some((5, 5));
        let table = markdown_table(&[row(), read]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[2].starts_with("| lsm-sync | fillseq | 2000 | 1.50 |"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("| n/a | n/a |"), "{}", lines[3]);
        assert!(lines[3].contains("found 5/5"), "{}", lines[3]);
    }
}
