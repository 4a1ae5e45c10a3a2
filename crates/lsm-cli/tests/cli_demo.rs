//! `lsm demo` end to end: runs the binary with tiny settings and checks the
//! CSV, the HTML report and the error messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

fn lsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(args)
        .output()
        .expect("run lsm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Tiny settings: `seconds` per store, a 64 KiB memtable.
fn tiny_demo(out: &Path, seconds: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "demo",
        "--duration",
        seconds,
        "--sample-ms",
        "100",
        "--memtable-bytes",
        "65536",
        "--table-bytes",
        "65536",
        "--l1-bytes",
        "262144",
        "--key-space",
        "2000",
        "--write-rate",
        "5000",
        "--read-rate",
        "1000",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    lsm(&args)
}

/// The CSV's header and its rows as `column -> value` lookups.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let csv = std::fs::read_to_string(path).unwrap();
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "row {row:?} has the wrong width");
    }
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("CSV has no `{name}` column: {header:?}"))
}

#[test]
fn demo_of_both_stores_writes_csv_with_flushes_and_html_with_every_panel() {
    let out = tempfile::tempdir().unwrap();
    let output = tiny_demo(out.path(), "2", &["--store", "both"]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {}\n{stdout}",
        text(&output.stderr)
    );

    let csv_path = out.path().join("demo.csv");
    let html_path = out.path().join("report.html");
    assert!(stdout.contains("demo.csv"), "{stdout}");
    assert!(stdout.contains("report.html"), "{stdout}");

    let (header, rows) = read_csv(&csv_path);
    for name in [
        "store",
        "elapsed_ms",
        "puts_per_s",
        "gets_per_s",
        "deletes_per_s",
        "ranges_per_s",
        "put_p50_us",
        "put_p99_us",
        "put_max_us",
        "memtable_bytes",
        "immutable_memtables",
        "flushes",
        "compactions",
        "l0_files",
        "l1_files",
        "l0_bytes",
        "l1_bytes",
        "wal_bytes",
        "last_seq",
        "visible_seq",
        "watermark_lag",
        "apply_queue_depth",
    ] {
        column(&header, name);
    }
    let store = column(&header, "store");
    let flushes = column(&header, "flushes");
    let puts = column(&header, "puts_per_s");
    for kind in ["simple", "async"] {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[store] == kind).collect();
        assert!(mine.len() >= 5, "only {} rows for {kind}", mine.len());
        let last_flushes: u64 = mine.last().unwrap()[flushes].parse().unwrap();
        assert!(last_flushes > 0, "{kind} never flushed");
        assert!(
            mine.iter().any(|r| r[puts].parse::<f64>().unwrap() > 0.0),
            "{kind} did no puts"
        );
    }
    let queue = column(&header, "apply_queue_depth");
    assert!(rows
        .iter()
        .filter(|r| r[store] == "simple")
        .all(|r| r[queue].is_empty()));
    assert!(rows
        .iter()
        .filter(|r| r[store] == "async")
        .all(|r| r[queue].parse::<u64>().is_ok()));

    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for title in [
        "Throughput",
        "Memtable",
        "Tables per level",
        "Bytes per level",
        "Put latency",
        "Apply queue and watermark lag",
    ] {
        assert!(
            html.contains(&format!(". {title}</h2>")),
            "no {title} panel"
        );
    }
    // Five panels with two charts each, plus the async-only panel's one.
    assert_eq!(html.matches("<svg").count(), 11);
    assert!(
        html.replace('\n', "").contains(">seconds</text>"),
        "axis labels are missing"
    );
    assert!(html.contains("SimpleLsmStore") && html.contains("AsyncLsmStore"));
}

#[test]
fn demo_of_the_simple_store_has_no_apply_queue_panel_and_keeps_the_dir_it_was_given() {
    let out = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = tiny_demo(
        out.path(),
        "1",
        &["--store", "simple", "--dir", dir.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains(". Put latency</h2>"));
    assert!(!html.contains("Apply queue"));
    assert_eq!(html.matches("<svg").count(), 5);
    let kept = std::fs::read_dir(dir.path().join("simple"))
        .expect("the store directory given with --dir was removed")
        .count();
    assert!(kept > 0, "the store directory given with --dir is empty");

    // Running again into the same, now non-empty, store directory is refused
    // with one line.
    let again = tiny_demo(
        out.path(),
        "1",
        &["--store", "simple", "--dir", dir.path().to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(1));
    let stderr = text(&again.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: store directory "), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
}

#[test]
fn unknown_store_is_rejected_with_one_clear_message() {
    let output = lsm(&["demo", "--store", "nope"]);
    assert!(!output.status.success());
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: invalid value 'nope' for '--store"),
        "{stderr}"
    );
    assert!(stderr.contains("simple, async, both"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_engine_settings_fail_before_running_with_one_line() {
    let out = tempfile::tempdir().unwrap();
    let output = lsm(&[
        "demo",
        "--levels",
        "1",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("num_levels"), "{stderr}");
    assert!(!out.path().join("report.html").exists());

    let output = lsm(&["demo", "--wal-sync", "sometimes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("expected always, never or every-bytes:N"),
        "{}",
        text(&output.stderr)
    );
}
