//! `lsm bench` end to end: tiny runs of every workload, checked through the
//! printed Markdown table and the JSON lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output};

const ALL_WORKLOADS: &str =
    "fillseq,fillrandom,readrandom,readmissing,seekrandom,readseq,overwrite,fillsync,readwhilewriting";

fn lsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(args)
        .output()
        .expect("running lsm")
}

/// The table rows (not the header or the rule), split into trimmed cells.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| engine") && !l.starts_with("| ---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// "found F/T" from a notes cell.
fn found(notes: &str) -> (u64, u64) {
    let rest = notes.split("found ").nth(1).expect("a found count");
    let (f, t) = rest.split(';').next().unwrap().split_once('/').unwrap();
    (f.trim().parse().unwrap(), t.trim().parse().unwrap())
}

#[test]
fn every_workload_prints_a_row_with_numbers_and_reads_find_what_fills_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.jsonl");
    let out = lsm(&[
        "bench",
        "--num",
        "2000",
        "--threads",
        "2",
        "--benchmarks",
        ALL_WORKLOADS,
        "--engine",
        "lsm-sync,lsm-async",
        "--memtable-bytes",
        "65536",
        "--json-out",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = table_rows(&stdout);
    let workloads: Vec<&str> = ALL_WORKLOADS.split(',').collect();
    assert_eq!(rows.len(), 2 * workloads.len(), "{stdout}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 11, "{row:?}");
        let engine = if i < workloads.len() {
            "lsm-sync"
        } else {
            "lsm-async"
        };
        assert_eq!(row[0], engine);
        let workload = workloads[i % workloads.len()];
        assert_eq!(row[1], workload);
        // ops/s, p50, p99, p99.9, max, peak RSS parse as numbers.
        for cell in [2, 3, 4, 5, 6, 9] {
            let value: f64 = row[cell].parse().unwrap_or_else(|_| panic!("{row:?}"));
            assert!(value >= 0.0, "{row:?}");
        }
        assert!(
            row[2].parse::<f64>().unwrap() > 0.0,
            "no throughput: {row:?}"
        );
        let p50: f64 = row[3].parse().unwrap();
        let max: f64 = row[6].parse().unwrap();
        assert!(p50 <= max, "{row:?}");
        let writes = matches!(
            workload,
            "fillseq" | "fillrandom" | "overwrite" | "fillsync" | "readwhilewriting"
        );
        if writes {
            let w_amp: f64 = row[7].parse().unwrap_or_else(|_| panic!("{row:?}"));
            let s_amp: f64 = row[8].parse().unwrap_or_else(|_| panic!("{row:?}"));
            assert!(w_amp > 0.0 && s_amp > 0.0, "{row:?}");
        } else {
            assert_eq!(
                (row[7].as_str(), row[8].as_str()),
                ("n/a", "n/a"),
                "{row:?}"
            );
        }
        match workload {
            // fillrandom wrote every key once, so every lookup finds one.
            "readrandom" => assert_eq!(found(&row[10]), (2000, 2000), "{row:?}"),
            "readmissing" => assert_eq!(found(&row[10]), (0, 2000), "{row:?}"),
            "readseq" => assert_eq!(found(&row[10]), (2000, 2000), "{row:?}"),
            "seekrandom" => assert_eq!(found(&row[10]), (200, 200), "{row:?}"),
            _ => {}
        }
    }

    let lines: Vec<String> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), rows.len());
    for (line, row) in lines.iter().zip(&rows) {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        assert!(
            line.contains(&format!("\"engine\":\"{}\"", row[0])),
            "{line}"
        );
        assert!(
            line.contains(&format!("\"workload\":\"{}\"", row[1])),
            "{line}"
        );
        for key in [
            "\"ops_per_sec\":",
            "\"p99_us\":",
            "\"write_amp\":",
            "\"space_amp\":",
            "\"peak_rss_mib\":",
        ] {
            assert!(line.contains(key), "{key} missing: {line}");
        }
    }
    assert!(lines[0].contains("\"workload\":\"fillseq\""));
}

#[test]
fn json_prints_one_object_per_row_and_no_table() {
    let out = lsm(&[
        "bench",
        "--num",
        "500",
        "--benchmarks",
        "fillseq,readrandom",
        "--engine",
        "lsm-sync",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("{\"engine\":\"lsm-sync\",\"workload\":\"fillseq\""),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("\"workload\":\"readrandom\""));
    assert!(
        lines[1].contains("\"found\":500,\"lookups\":500"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("\"write_amp\":null"), "{}", lines[1]);
}

#[test]
fn an_unknown_workload_is_one_clear_error_line() {
    let out = lsm(&["bench", "--num", "100", "--benchmarks", "nope"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: unknown workload `nope`"),
        "{stderr}"
    );
    assert!(stderr.contains("fillseq"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unknown_engine_is_one_clear_error_line() {
    let out = lsm(&["bench", "--num", "100", "--engine", "lsm-sync,bogus"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown engine `bogus`"), "{stderr}");
}

#[test]
fn db_dir_keeps_the_store_and_refuses_a_non_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_str().unwrap();
    let args = [
        "bench",
        "--num",
        "300",
        "--benchmarks",
        "fillseq",
        "--engine",
        "lsm-sync",
        "--db",
        db,
    ];
    let out = lsm(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_dir(dir.path().join("lsm-sync"))
        .unwrap()
        .next()
        .is_some());
    let again = lsm(&args);
    assert!(!again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(stderr.contains("is not empty"), "{stderr}");
}
