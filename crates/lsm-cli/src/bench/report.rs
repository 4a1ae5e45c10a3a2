//! The results: one [`Row`] per engine and workload, printed as a Markdown
//! table or as JSON lines (one [`RowJson`] object per row, through serde).

use std::fmt::Write as _;

use serde::Serialize;

/// One row as JSON: the measurements, the ratios computed from them, and
/// `null` for what was not measured (or is not finite).
#[derive(Debug, Serialize)]
pub struct RowJson<'a> {
    /// Engine name.
    pub engine: &'a str,
    /// Workload name.
    pub workload: &'a str,
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
    /// Key + value bytes put.
    pub user_bytes: u64,
    /// Bytes the process wrote.
    pub disk_bytes_written: Option<u64>,
    /// The `/proc/self/io` counter `disk_bytes_written` came from.
    pub write_counter: Option<&'a str>,
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
    /// `workload` or `process`.
    pub peak_rss_scope: &'a str,
    /// Lookups that found their key.
    pub found: Option<u64>,
    /// Lookups made.
    pub lookups: Option<u64>,
    /// Free text.
    pub note: &'a str,
}

/// The measurements of one workload on one engine.
#[derive(Clone, Debug)]
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
    /// Free text.
    pub note: String,
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

    fn peak_rss_mib(&self) -> Option<f64> {
        self.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0))
    }

    /// The notes column: found counts, the write counter when it was the
    /// `wchar` fallback, and the workload's own note.
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
        if !self.note.is_empty() {
            parts.push(self.note.clone());
        }
        parts.join("; ")
    }

    /// The row as its JSON record.
    pub fn json(&self) -> RowJson<'_> {
        let finite = |v: f64| Some(v).filter(|v| v.is_finite());
        RowJson {
            engine: &self.engine,
            workload: self.workload,
            ops: self.ops,
            threads: self.threads,
            seconds: self.seconds,
            ops_per_sec: self.ops_per_sec(),
            p50_us: self.p50_us,
            p99_us: self.p99_us,
            p999_us: self.p999_us,
            max_us: self.max_us,
            user_bytes: self.user_bytes,
            disk_bytes_written: self.disk_bytes.map(|(bytes, _)| bytes),
            write_counter: self.disk_bytes.map(|(_, counter)| counter),
            write_amp: self.write_amp().and_then(finite),
            dir_bytes: self.dir_bytes,
            live_bytes: self.live_bytes,
            space_amp: self.space_amp().and_then(finite),
            peak_rss_mib: self.peak_rss_mib(),
            peak_rss_scope: self.peak_rss_scope,
            found: self.found.map(|(found, _)| found),
            lookups: self.found.map(|(_, lookups)| lookups),
            note: &self.note,
        }
    }

    /// The row as one JSON object on one line.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.json())
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
            engine: "lsm-sync".to_string(),
            workload: "fillseq",
            ops: 1000,
            threads: 1,
            seconds: 0.5,
            p50_us: 1.5,
            p99_us: 10.0,
            p999_us: 20.0,
            max_us: 300.0,
            user_bytes: 116_000,
            disk_bytes: Some((232_000, "write_bytes")),
            dir_bytes: Some(174_000),
            live_bytes: Some(116_000),
            peak_rss_bytes: Some(10 << 20),
            peak_rss_scope: "workload",
            found: None,
            note: "a \"quoted\"\nnote".to_string(),
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
