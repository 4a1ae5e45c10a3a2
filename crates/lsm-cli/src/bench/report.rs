//! The results: one [`Row`] per engine and workload, printed as a Markdown
//! table or as JSON lines (one object per row, written by hand).

use std::fmt::Write as _;

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

    /// The row as one JSON object on one line.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut field = |name: &str, value: String| {
            if out.len() > 1 {
                out.push(',');
            }
            let _ = write!(out, "{}:{value}", json_string(name));
        };
        field("engine", json_string(&self.engine));
        field("workload", json_string(self.workload));
        field("ops", self.ops.to_string());
        field("threads", self.threads.to_string());
        field("seconds", json_number(Some(self.seconds)));
        field("ops_per_sec", json_number(Some(self.ops_per_sec())));
        field("p50_us", json_number(Some(self.p50_us)));
        field("p99_us", json_number(Some(self.p99_us)));
        field("p999_us", json_number(Some(self.p999_us)));
        field("max_us", json_number(Some(self.max_us)));
        field("user_bytes", self.user_bytes.to_string());
        field(
            "disk_bytes_written",
            json_u64(self.disk_bytes.map(|(b, _)| b)),
        );
        field(
            "write_counter",
            self.disk_bytes
                .map_or_else(|| "null".to_string(), |(_, s)| json_string(s)),
        );
        field("write_amp", json_number(self.write_amp()));
        field("dir_bytes", json_u64(self.dir_bytes));
        field("live_bytes", json_u64(self.live_bytes));
        field("space_amp", json_number(self.space_amp()));
        field("peak_rss_mib", json_number(self.peak_rss_mib()));
        field("peak_rss_scope", json_string(self.peak_rss_scope));
        field("found", json_u64(self.found.map(|(f, _)| f)));
        field("lookups", json_u64(self.found.map(|(_, t)| t)));
        field("note", json_string(&self.note));
        out.push('}');
        out
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

/// `value` as a JSON string literal: quotes, backslashes and control
/// characters escaped.
pub fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite number, or `null` (JSON has no NaN or infinity).
fn json_number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let text = format!("{v:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => "null".to_string(),
    }
}

fn json_u64(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
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
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn a_row_is_one_json_object_with_amplifications() {
        let json = row().to_json();
        assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
        assert!(!json.contains('\n'));
        assert!(json.contains("\"workload\":\"fillseq\""), "{json}");
        assert!(json.contains("\"ops_per_sec\":2000,"), "{json}");
        assert!(json.contains("\"write_amp\":2,"), "{json}");
        assert!(json.contains("\"space_amp\":1.5,"), "{json}");
        assert!(json.contains("\"found\":null"), "{json}");
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
