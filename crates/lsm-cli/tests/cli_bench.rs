//! `lsm bench` end to end: tiny runs of every workload, checked through the
//! printed Markdown tables and the JSON lines, with each engine in its own
//! process (the default) and `--in-process`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output};

const ALL_WORKLOADS: &str = "fillseq,fillrandom,readrandom,readmissing,seekrandom,readseq,\
     overwrite,fillsync1,fillsync,readwhilewriting";

fn lsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(args)
        .output()
        .expect("running lsm")
}

/// The rows (not the header or the rule) of the table whose header starts
/// with `| {first_column} |`, split into trimmed cells.
fn rows_of_table(stdout: &str, first_column: &str) -> Vec<Vec<String>> {
    let header = format!("| {first_column} |");
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(&header))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The main table's rows.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    rows_of_table(stdout, "engine")
}

/// The JSON lines of `text`, parsed.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// "found F/T" from a notes cell.
fn found(notes: &str) -> (u64, u64) {
    let rest = notes.split("found ").nth(1).expect("a found count");
    let (f, t) = rest.split(';').next().unwrap().split_once('/').unwrap();
    (f.trim().parse().unwrap(), t.trim().parse().unwrap())
}

/// `lsm bench` of `num` fillseq puts into `engines`, without the probes,
/// with `extra` arguments after.
fn fillseq_run(num: &str, engines: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "bench",
        "--num",
        num,
        "--benchmarks",
        "fillseq",
        "--engine",
        engines,
        "--no-probe",
    ];
    args.extend_from_slice(extra);
    lsm(&args)
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
        "--no-probe",
        "--json-out",
        json.to_str().unwrap(),
    ]);
    let stdout = success(&out);
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
            "fillseq" | "fillrandom" | "overwrite" | "fillsync1" | "fillsync" | "readwhilewriting"
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

    // readwhilewriting's writers are compared on their own line.
    assert!(
        stdout.contains("\nreadwhilewriting, its one writer: better lsm lsm-"),
        "{stdout}"
    );

    let all_lines: Vec<String> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    for line in all_lines
        .iter()
        .filter(|l| l.contains("\"workload\":\"readwhilewriting\""))
    {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(row["put_ops_per_sec"].as_f64().unwrap() > 0.0, "{line}");
    }
    let (summaries, lines): (Vec<String>, Vec<String>) = all_lines
        .into_iter()
        .partition(|l| l.starts_with("{\"summary\":"));
    assert_eq!(summaries.len(), workloads.len(), "{summaries:?}");
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
        "--no-probe",
        "--json",
    ]);
    let stdout = success(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "two rows and two summaries: {stdout}");
    assert!(
        lines[2].starts_with("{\"summary\":\"fillseq\","),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("{\"summary\":\"readrandom\","),
        "{}",
        lines[3]
    );
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
        "--probe-ops",
        "20",
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

/// What `lsm bench` prints for the brief's tiny run, isolated or not:
/// the probe above the table, both engines' rows, the summary tables, and
/// the same as JSON lines in `--json-out`.
fn check_tiny_run(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.jsonl");
    let mut args = vec![
        "bench",
        "--num",
        "2000",
        "--benchmarks",
        "fillseq,fillsync1,readrandom",
        "--engine",
        "lsm-sync,lsm-async",
        "--probe-ops",
        "50",
        "--json-out",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = lsm(&args);
    let stdout = success(&out);
    let first = stdout.lines().next().unwrap_or("");
    assert!(first.starts_with("fsync probe in "), "{stdout}");
    assert!(
        first.contains("append ")
            && first.contains("overwrite in place ")
            && first.contains("overwrite/append "),
        "{first}"
    );
    let rows = table_rows(&stdout);
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("lsm-sync", "fillseq"),
            ("lsm-sync", "fillsync1"),
            ("lsm-sync", "readrandom"),
            ("lsm-async", "fillseq"),
            ("lsm-async", "fillsync1"),
            ("lsm-async", "readrandom"),
        ],
        "{stdout}"
    );
    for row in &rows {
        // p99.9, max, w-amp (writes) and peak RSS are there on every row.
        for cell in [5, 6, 9] {
            assert!(row[cell].parse::<f64>().is_ok(), "{row:?}");
        }
        if row[1] != "readrandom" {
            assert!(row[7].parse::<f64>().unwrap() > 0.0, "{row:?}");
        }
    }
    assert!(
        rows[1][10].contains("1 thread, synced puts"),
        "{:?}",
        rows[1]
    );

    let summary = rows_of_table(&stdout, "workload | better lsm");
    assert_eq!(summary.len(), 3, "{stdout}");
    for (line, workload) in summary.iter().zip(["fillseq", "fillsync1", "readrandom"]) {
        assert_eq!(line[0], workload);
        assert!(line[1] == "lsm-sync" || line[1] == "lsm-async", "{line:?}");
        assert_eq!(&line[3..], ["n/a", "n/a", "n/a"], "no peer ran: {line:?}");
    }
    let tails = rows_of_table(&stdout, "workload | engine");
    let got: Vec<(&str, &str)> = tails
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("fillseq", "lsm-sync"),
            ("fillseq", "lsm-async"),
            ("fillsync1", "lsm-sync"),
            ("fillsync1", "lsm-async"),
        ],
        "{stdout}"
    );
    assert!(stdout.contains("- fsync probe (in "), "{stdout}");
    assert!(stdout.contains("\nscheduling probe ("), "{stdout}");

    let lines = json_lines(&std::fs::read_to_string(&json).unwrap());
    assert_eq!(lines.len(), 2 + 6 + 3, "{lines:?}");
    assert_eq!(lines[0]["probe"], "fsync");
    assert_eq!(
        lines[0]["append_ops"], 50,
        "the probe is short: {}",
        lines[0]
    );
    assert!(lines[0]["overwrite_ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(lines[0]["overwrite_over_append"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["probe"], "scheduling");
    assert_eq!(lines[1]["one_core"]["threads"], 1);
    assert!(lines[1]["all_cores"]["threads"].as_u64().unwrap() >= 2);
    assert!(lines[1]["all_cores"]["longest_gap_ms"].as_f64().unwrap() > 0.0);
    for (line, row) in lines[2..8].iter().zip(&rows) {
        assert_eq!(line["engine"], row[0].as_str());
        assert_eq!(line["workload"], row[1].as_str());
        assert_eq!(line["runs"], 1);
    }
    assert_eq!(lines[8]["summary"], "fillseq");
    assert_eq!(lines[8]["engines"].as_array().unwrap().len(), 2);
    assert!(lines[8]["lsm_over_peer"].is_null());
    assert_eq!(lines[10]["summary"], "readrandom");
    assert_eq!(lines[10]["engines"].as_array().unwrap().len(), 0);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn each_engine_in_its_own_process_reports_rows_summary_and_probe() {
    let stderr = check_tiny_run(&[]);
    // The children's progress lines come through the parent's stderr.
    for line in [
        "lsm-sync fillsync1: 20 ops",
        "lsm-async readrandom: 2000 ops",
    ] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
}

#[test]
fn in_process_reports_the_same_rows_summary_and_probe() {
    let stderr = check_tiny_run(&["--in-process"]);
    assert!(stderr.contains("lsm-async fillsync1: 20 ops"), "{stderr}");
}

#[test]
fn a_failing_child_fails_the_run_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // lsm-async's store directory is not empty, so its child refuses it.
    std::fs::create_dir(dir.path().join("lsm-async")).unwrap();
    std::fs::write(dir.path().join("lsm-async/junk"), b"x").unwrap();
    let out = fillseq_run(
        "300",
        "lsm-sync,lsm-async",
        &["--db", dir.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no table for a failed run");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: the lsm-async process failed"),
        "{stderr}"
    );
    assert!(last.contains("is not empty"), "the child's error: {last}");
    assert!(stderr.contains("lsm-sync fillseq: 300 ops"), "{stderr}");
}

#[test]
fn repeat_interleaves_runs_and_reports_the_lower_of_two() {
    let dir = tempfile::tempdir().unwrap();
    let out = lsm(&[
        "bench",
        "--num",
        "300",
        "--benchmarks",
        "fillseq,readrandom",
        "--engine",
        "lsm-sync,lsm-async",
        "--repeat",
        "2",
        "--no-probe",
        "--db",
        dir.path().to_str().unwrap(),
    ]);
    let stdout = success(&out);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let order: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" fillseq: "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        order,
        ["lsm-sync", "lsm-async", "lsm-sync", "lsm-async"],
        "{stderr}"
    );
    for run in ["run-1", "run-2"] {
        for engine in ["lsm-sync", "lsm-async"] {
            let store = dir.path().join(run).join(engine);
            assert!(
                std::fs::read_dir(&store).unwrap().next().is_some(),
                "{}",
                store.display()
            );
        }
    }
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 4, "{stdout}");
    for row in &rows {
        assert!(
            row[10].contains("lower of 2 runs by ops/s (2 runs: "),
            "{row:?}"
        );
        // The reported ops/s is the lower end of the range.
        let range = row[10].split("(2 runs: ").nth(1).unwrap();
        let low: f64 = range.split('-').next().unwrap().parse().unwrap();
        let ops: f64 = row[2].parse().unwrap();
        assert!((ops - low).abs() <= 1.0, "{row:?}");
    }
    assert!(stdout.contains("each engine ran 2 times"), "{stdout}");
}

#[test]
fn zero_repeats_or_probe_ops_are_usage_errors() {
    for args in [["--repeat", "0"], ["--probe-ops", "0"]] {
        let mut all = vec!["bench", "--num", "100"];
        all.extend_from_slice(&args);
        let out = lsm(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Writes an executable shell script `name` in `dir` with `body` after
/// its `#!/bin/sh` line.
fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn lsm_exe_runs_the_lsm_engines_processes_from_that_binary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran.log");
    // Logs its arguments, then runs this lsm.
    let wrapper = script(
        dir.path(),
        "lsm-wrapper",
        &format!(
            "echo \"$@\" >> '{}'\nexec '{}' \"$@\"",
            log.display(),
            env!("CARGO_BIN_EXE_lsm")
        ),
    );
    let out = fillseq_run(
        "300",
        "lsm-sync,lsm-async",
        &["--lsm-exe", wrapper.to_str().unwrap()],
    );
    let stdout = success(&out);
    let ran = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = ran.lines().collect();
    assert_eq!(lines[0], "--version", "checked first: {ran}");
    for engine in ["lsm-sync", "lsm-async"] {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("bench ") && l.contains(&format!("--engine {engine} ")))
                .count(),
            1,
            "{engine}'s one process ran the wrapper: {ran}"
        );
    }
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "The lsm engines' processes ran {}",
            wrapper.display()
        )),
        "{stdout}"
    );
}

#[test]
fn an_lsm_exe_that_is_not_this_lsm_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = script(dir.path(), "other", "echo other 1.0");
    let missing = dir.path().join("missing");
    for (exe, says) in [
        (&other, "its --version printed \"other 1.0\""),
        (&missing, "cannot run it"),
    ] {
        let out = fillseq_run("100", "lsm-sync", &["--lsm-exe", exe.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{exe:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
    // Not with --in-process, which starts no process.
    let out = lsm(&[
        "bench",
        "--in-process",
        "--lsm-exe",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
