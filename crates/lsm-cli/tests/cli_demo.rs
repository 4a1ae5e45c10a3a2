//! `lsm demo` end to end: runs the binary with tiny settings and checks the
//! CSVs, the HTML report (headline numbers, charts, metadata), the progress
//! lines, the hints about the kept store and the error messages.
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

/// The raw `data-value` of the headline cell of `store` and `metric`.
fn headline(html: &str, store: &str, metric: &str) -> f64 {
    let needle = format!("data-store=\"{store}\" data-metric=\"{metric}\" data-value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no headline {metric} for {store}"))
        + needle.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].parse().unwrap()
}

/// Checks the headline numbers of `store` against each other, the samples
/// CSV and the latency distribution CSV.
fn check_headline(html: &str, out: &Path, store: &str) {
    let worst = headline(html, store, "max_us");
    let p999 = headline(html, store, "p999_us");
    let over_1ms = headline(html, store, "over_1ms") as u64;
    let over_10ms = headline(html, store, "over_10ms") as u64;
    let puts = headline(html, store, "puts") as u64;
    assert!(worst >= p999, "{store}: worst {worst} < p99.9 {p999}");
    assert!(p999 > 0.0, "{store}: p99.9 {p999}");
    assert!(
        over_10ms <= over_1ms,
        "{store}: {over_10ms} over 10 ms > {over_1ms} over 1 ms"
    );
    assert!(
        over_1ms <= puts,
        "{store}: {over_1ms} over 1 ms of {puts} puts"
    );

    // The whole run's histogram holds every window's puts (and those that
    // completed after the last sample): no window saw a slower put.
    let (header, rows) = read_csv(&out.join("demo.csv"));
    let (store_col, max_col) = (column(&header, "store"), column(&header, "put_max_us"));
    let window_worst = rows
        .iter()
        .filter(|r| r[store_col] == store && !r[max_col].is_empty())
        .map(|r| r[max_col].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert!(
        window_worst > 0.0 && window_worst <= worst + 0.01,
        "{store}: worst put {worst} µs, worst window max {window_worst} µs"
    );

    // The distribution CSV: its counts add up to the puts, its slowest
    // bucket is the worst put, and the counts over 1 and 10 ms agree (a
    // bucket straddling a threshold is within 0.1% of it).
    let (header, rows) = read_csv(&out.join("put_latency.csv"));
    let (store_col, latency, count) = (
        column(&header, "store"),
        column(&header, "latency_us"),
        column(&header, "count"),
    );
    let buckets: Vec<(f64, u64)> = rows
        .iter()
        .filter(|r| r[store_col] == store)
        .map(|r| (r[latency].parse().unwrap(), r[count].parse().unwrap()))
        .collect();
    assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), puts, "{store}");
    let slowest = buckets.iter().map(|b| b.0).fold(0.0, f64::max);
    assert!(
        (slowest - worst).abs() < 0.01,
        "{store}: {slowest} vs {worst}"
    );
    let over = |us: f64| -> u64 { buckets.iter().filter(|b| b.0 > us).map(|b| b.1).sum() };
    for (threshold_us, counted) in [(1000.0, over_1ms), (10_000.0, over_10ms)] {
        let (low, high) = (over(threshold_us * 1.001), over(threshold_us));
        assert!(
            (low..=high).contains(&counted),
            "{store}: {counted} puts over {threshold_us} µs, the CSV says {low}..={high}"
        );
    }
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
        "Put latency distribution",
        "Put latency over time",
        "Throughput",
        "Memtable",
        "Tables per level",
        "Bytes per level",
        "Apply queue and watermark lag",
    ] {
        assert!(
            html.contains(&format!(". {title}</h2>")),
            "no {title} panel"
        );
    }
    // The distribution's CDF and tail, five panels with one chart per
    // store, and the async-only panel's one.
    assert_eq!(html.matches("<svg").count(), 13);
    assert!(
        html.replace('\n', "").contains(">seconds</text>"),
        "axis labels are missing"
    );
    assert!(html.contains("SimpleLsmStore") && html.contains("AsyncLsmStore"));
}

#[test]
fn report_leads_with_headline_numbers_that_agree_with_the_csvs() {
    let out = tempfile::tempdir().unwrap();
    let output = tiny_demo(out.path(), "2", &["--store", "both"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();

    let headline_at = html.find("<section id=\"headline\">").expect("no headline");
    let first_panel = html.find("<h2>1. ").expect("no panels");
    assert!(headline_at < first_panel, "the headline is not at the top");
    for row in [
        "worst put",
        "p99.9",
        "puts slower than 1 ms",
        "puts slower than 10 ms",
    ] {
        assert!(
            html.contains(&format!("<tr><th>{row}</th>")),
            "no {row} row"
        );
    }
    for store in ["simple", "async"] {
        check_headline(&html, out.path(), store);
    }
    // Every put is counted: as many as the summary line says were done.
    let stdout = text(&output.stdout);
    for (store, type_name) in [("simple", "SimpleLsmStore"), ("async", "AsyncLsmStore")] {
        let done: u64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{type_name}: ")))
            .and_then(|l| l.split(" puts").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no summary line for {type_name}: {stdout}"));
        assert_eq!(headline(&html, store, "puts") as u64, done, "{store}");
    }
}

#[test]
fn report_has_a_latency_cdf_of_both_stores_and_reference_lines() {
    let out = tempfile::tempdir().unwrap();
    let output = tiny_demo(out.path(), "1", &["--store", "both"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();

    let start = html
        .find("<section id=\"latency-distribution\">")
        .expect("no latency distribution panel");
    let end = start + html[start..].find("</section>").unwrap();
    let panel = html[start..end].replace('\n', "");
    assert!(
        panel.contains("<figcaption>CDF</figcaption>"),
        "no CDF chart"
    );
    assert_eq!(panel.matches("<svg").count(), 2, "CDF and tail");
    // Both stores in the CDF's legend, so in one chart.
    assert!(panel.contains("SimpleLsmStore</span>") && panel.contains("AsyncLsmStore</span>"));
    // A log latency axis labelled in milliseconds where values are.
    assert!(panel.contains(">1 ms</text>"), "no 1 ms tick");
    assert!(panel.contains(">100 µs</text>"), "no 100 µs tick");
    assert!(panel.contains(">put latency (log scale)</text>"));

    // Flush and compaction markers look different in the legend; the
    // memtable limit and the L0 trigger are drawn as lines.
    assert!(html.contains("<i class=\"marker\" style=\"--c:#ff7f0e\"></i>flush</span>"));
    assert!(html.contains("<i class=\"marker dashed\" style=\"--c:#5a288c\"></i>compaction</span>"));
    assert!(
        html.contains("memtable limit (64 KiB)</span>"),
        "no memtable limit"
    );
    assert!(
        html.contains("L0 trigger (4 tables)</span>"),
        "no L0 trigger"
    );
    // The per-window latency axis reads in µs and ms too.
    let latency = &html[html.find("<section id=\"latency\">").unwrap()..];
    assert!(latency.replace('\n', "").contains(" ms</text>"));
}

#[test]
fn report_shows_machine_build_and_settings() {
    let out = tempfile::tempdir().unwrap();
    let output = tiny_demo(out.path(), "1", &["--store", "async"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();

    let start = html
        .find("<section id=\"metadata\"")
        .expect("no metadata block");
    let end = start + html[start..].find("</section>").unwrap();
    let meta = &html[start..end];
    let value = |name: &str| -> String {
        let key = format!("<dt>{name}</dt><dd>");
        let at = meta
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in the metadata: {meta}"))
            + key.len();
        meta[at..at + meta[at..].find("</dd>").unwrap()].to_string()
    };
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!(
        value("machine").starts_with(&format!("{cores} cores")),
        "{meta}"
    );
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert!(value("build").starts_with(profile), "{meta}");
    let commit = value("git commit");
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "git commit {commit:?}"
    );
    let date = value("date");
    assert!(
        date.len() == 20 && date.ends_with(" UTC") && date.starts_with("20"),
        "{date}"
    );
    assert!(value("duration").starts_with("1 s"), "{meta}");
    assert!(value("engine").contains("memtable 64 KiB"), "{meta}");
    assert!(value("seed") == "42", "{meta}");
}

#[test]
fn progress_lines_fit_80_columns_and_count_flushes_and_compactions() {
    let out = tempfile::tempdir().unwrap();
    let output = tiny_demo(out.path(), "2", &["--store", "both"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // stderr is a pipe here, so progress comes as plain lines, about one a
    // second per store, the last at the end of each store's run.
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for store in ["simple", "async"] {
        let mine: Vec<&&str> = lines.iter().filter(|l| l.starts_with(store)).collect();
        assert!(mine.len() >= 2, "{store}: {stderr}");
        assert!(mine.last().unwrap().contains("[========]"), "{stderr}");
    }
    for line in &lines {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
        let counts_flushes = line.contains(" flushes, ") || line.contains(" 1 flush, ");
        let counts_compactions = line.contains(" compactions") || line.contains(" 1 compaction");
        assert!(counts_flushes && counts_compactions, "{line}");
    }
}

#[test]
fn keep_prints_where_the_stores_are_and_how_to_inspect_them() {
    let out = tempfile::tempdir().unwrap();
    let output = tiny_demo(out.path(), "1", &["--store", "simple", "--keep"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let kept = stdout
        .lines()
        .find_map(|l| l.strip_prefix("stores kept in "))
        .and_then(|l| l.strip_suffix("; look inside with:"))
        .unwrap_or_else(|| panic!("no kept directory: {stdout}"))
        .to_string();
    let store = Path::new(&kept).join("simple");
    let stats_hint = format!("  lsm stats {}", store.display());
    let verify_hint = format!("  lsm verify {}", store.display());
    assert!(stdout.lines().any(|l| l == stats_hint), "{stdout}");
    assert!(stdout.lines().any(|l| l == verify_hint), "{stdout}");
    // The hints work.
    let store_arg = store.to_str().unwrap();
    let stats = lsm(&["stats", store_arg]);
    let verify = lsm(&["verify", store_arg]);
    std::fs::remove_dir_all(&kept).unwrap();
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    assert!(verify.status.success(), "{}", text(&verify.stderr));

    // Without --keep the store is removed, and the output says how to keep it.
    let output = tiny_demo(out.path(), "1", &["--store", "simple"]);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("rerun with --keep or --dir DIR"),
        "{stdout}"
    );
    assert!(!stdout.contains("stores kept in"), "{stdout}");
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
    assert!(html.contains(". Put latency over time</h2>"));
    assert!(!html.contains("Apply queue"));
    // The distribution's CDF and tail, and five panels of one chart.
    assert_eq!(html.matches("<svg").count(), 7);
    let store = dir.path().join("simple");
    assert!(
        text(&output.stdout).contains(&format!("lsm stats {}", store.display())),
        "{}",
        text(&output.stdout)
    );
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
    assert_eq!(output.status.code(), Some(2), "a setting out of range");
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
