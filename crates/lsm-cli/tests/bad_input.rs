//! The `lsm` CLI on bad input (absurd argument values, files of the wrong
//! kind): a clear error and the documented exit status, never a panic, an
//! abort or a hang. Each test runs the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(args)
        .output()
        .expect("run lsm")
}

/// Runs `lsm args...`; `None` if it has not finished after `limit` (it is
/// then killed).
fn lsm_within(args: &[&str], limit: Duration) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lsm");
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstderr (first 1500 bytes):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
            .chars()
            .take(1500)
            .collect::<String>()
    )
}

/// An error starting with an `error:` line on stderr (clap adds a hint line
/// after its own), status 1 or 2, never a panic (101) or an abort (a
/// signal).
fn assert_clean_error(args: &[&str], output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "lsm {args:?}: not exit status 1 or 2\n{}",
        describe(output)
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("memory allocation"),
        "lsm {args:?}: panic or abort\n{}",
        describe(output)
    );
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("error:"),
        "lsm {args:?}\n{}",
        describe(output)
    );
}

/// `lsm demo --duration` takes at most a week: a huge one panicked when it
/// became a `Duration` (1e300) or a deadline (1e19).
#[test]
fn demo_with_a_huge_duration_is_an_error_not_a_panic() {
    for duration in ["1e300", "1e19"] {
        let out = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "demo",
            "--store",
            "simple",
            "--duration",
            duration,
            "--out",
            out.path().to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
        ];
        let output = lsm_within(&args, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("lsm {args:?} ran for a minute"));
        assert_clean_error(&args, &output);
    }
}

/// `lsm bench --value-size` is at most the store's value limit: 1T built
/// a pool of 1 TiB values and the process aborted on the allocation.
#[test]
fn bench_with_a_huge_value_size_is_an_error_not_an_abort() {
    let args = [
        "bench",
        "--num",
        "10",
        "--no-probe",
        "--in-process",
        "--engine",
        "lsm-sync",
        "--benchmarks",
        "fillseq",
        "--value-size",
        "1T",
    ];
    let output = lsm(&args);
    assert_clean_error(&args, &output);
}

/// `lsm bench --threads` is at most 1024: fillsync spawned that many
/// threads and panicked when the system refused one. (The address space is
/// capped at 4 GB so that an unbounded run fails fast.)
#[test]
fn bench_with_a_huge_thread_count_is_an_error_not_a_panic() {
    let exe = env!("CARGO_BIN_EXE_lsm");
    let script = format!(
        "ulimit -v 4000000; exec '{exe}' bench --num 100 --no-probe --in-process \
         --engine lsm-sync --benchmarks fillsync --threads 100000"
    );
    let output = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_clean_error(&["bench", "--threads", "100000"], &output);
}

/// An engine setting out of range is a usage error, exit status 2
/// (docs/cli.md, "Exit status"), for `bench` and `demo` as for the rest.
#[test]
fn engine_settings_out_of_range_exit_with_the_usage_status() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();
    let cases: [&[&str]; 3] = [
        &[
            "bench",
            "--num",
            "10",
            "--no-probe",
            "--in-process",
            "--engine",
            "lsm-sync",
            "--benchmarks",
            "fillseq",
            "--memtable-bytes",
            "0",
        ],
        &[
            "bench",
            "--num",
            "10",
            "--no-probe",
            "--in-process",
            "--engine",
            "lsm-sync",
            "--benchmarks",
            "fillseq",
            "--bloom-bits",
            "100000",
        ],
        &[
            "demo",
            "--store",
            "simple",
            "--duration",
            "0.1",
            "--out",
            out,
            "--levels",
            "0",
        ],
    ];
    for args in cases {
        let output = lsm(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "lsm {args:?}\n{}",
            describe(&output)
        );
    }
}

/// A store whose `OPTIONS` is a FIFO (a file of the wrong kind): `verify`,
/// `stats` and `get` fail (the file system refuses to read anything but a
/// regular file); they blocked for good reading it.
#[test]
fn read_commands_do_not_hang_on_an_options_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let path = store.to_str().unwrap();
    let output = lsm(&["put", "--create", path, "a", "1"]);
    assert!(output.status.success(), "{}", describe(&output));
    let options = store.join("OPTIONS");
    std::fs::remove_file(&options).unwrap();
    let made = Command::new("mkfifo").arg(&options).status().unwrap();
    assert!(made.success());
    for args in [
        vec!["verify", path],
        vec!["stats", path],
        vec!["get", path, "a"],
    ] {
        let output = lsm_within(&args, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("lsm {args:?} still running after 10 s (hung)"));
        assert_clean_error(&args, &output);
    }
}

/// `lsm inspect wal FILE` and `lsm inspect sst FILE` on a FIFO fail
/// rather than block.
#[test]
fn inspect_does_not_hang_on_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["000001.wal", "000001.sst"] {
        let fifo = dir.path().join(name);
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let kind = if name.ends_with("wal") { "wal" } else { "sst" };
        let args = ["inspect", kind, fifo.to_str().unwrap()];
        let output = lsm_within(&args, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("lsm {args:?} still running after 10 s (hung)"));
        assert_clean_error(&args, &output);
    }
}

/// Each `put` leaves a WAL segment of about 1 MiB (the zeros written ahead
/// of a durable write) and no reservation past it (docs/cli.md): the 64 MiB
/// each segment reserved stayed taken until a flush, 192 MiB for three.
#[test]
fn puts_leave_wal_segments_of_a_mebibyte_and_nothing_reserved() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let path = store.to_str().unwrap();
    for (i, args) in [
        vec!["put", "--create", path, "a", "1"],
        vec!["put", path, "b", "2"],
        vec!["put", path, "c", "3"],
    ]
    .into_iter()
    .enumerate()
    {
        let output = lsm(&args);
        assert!(output.status.success(), "put {i}: {}", describe(&output));
    }
    let mut segments = 0u64;
    let mut apparent = 0u64;
    let mut allocated = 0u64;
    for entry in std::fs::read_dir(&store).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".wal") {
            let meta = entry.metadata().unwrap();
            segments += 1;
            apparent += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    assert!(segments >= 3, "{segments} segments");
    assert!(
        apparent <= segments * (1 << 20) + (64 << 10)
            && allocated <= apparent + segments * (64 << 10),
        "{segments} segments of {apparent} bytes, {allocated} bytes allocated"
    );
}

/// Runs `lsm args...` with stdout (`close_stdout`) or stderr a pipe whose
/// reading end is closed before the command writes anything, as in
/// `lsm ... | head -1` once `head` has exited; the other stream is
/// captured.
fn lsm_into_a_closed_pipe(args: &[&str], close_stdout: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lsm"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run lsm");
    if close_stdout {
        drop(child.stdout.take());
    } else {
        drop(child.stderr.take());
    }
    child.wait_with_output().unwrap()
}

/// Output cut short by a closed pipe is not an error (docs/cli.md): `lsm
/// bench` and `lsm demo` printed their tables, JSON lines and summaries with
/// `println!` and their progress lines with `eprintln!`, which panic (exit
/// status 101, "failed printing to stdout: Broken pipe") when the reader is
/// gone. Found by the configuration and CLI bad-input review.
#[test]
fn bench_and_demo_into_a_closed_pipe_exit_cleanly() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();
    let bench = [
        "bench",
        "--num",
        "10",
        "--no-probe",
        "--in-process",
        "--engine",
        "lsm-sync",
        "--benchmarks",
        "fillseq",
    ];
    let bench_json: Vec<&str> = bench.iter().copied().chain(["--json"]).collect();
    let demo = [
        "demo",
        "--store",
        "simple",
        "--duration",
        "0.3",
        "--out",
        out,
    ];
    for (args, close_stdout) in [
        (&bench[..], true),
        (&bench_json[..], true),
        (&demo[..], true),
        (&bench[..], false),
        (&demo[..], false),
    ] {
        let output = lsm_into_a_closed_pipe(args, close_stdout);
        let closed = if close_stdout { "stdout" } else { "stderr" };
        assert_eq!(
            output.status.code(),
            Some(0),
            "lsm {args:?} with {closed} closed\n{}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked"),
            "lsm {args:?} with {closed} closed\n{}",
            describe(&output)
        );
    }
}

/// The one line on stderr (`error: ...`, `not found: KEY`) is best effort:
/// with stderr a closed pipe (`lsm get DIR KEY 2>&1 | true`) the exit
/// status is still the documented one (3 for an absent key, 1 for an
/// error), not a panic's 101 from `eprintln!`. Found by the configuration
/// and CLI bad-input review.
#[test]
fn exit_status_holds_when_stderr_is_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let path = store.to_str().unwrap();
    let output = lsm(&["put", "--create", path, "a", "1"]);
    assert!(output.status.success(), "{}", describe(&output));
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    for (args, status) in [(["get", path, "absent"], 3), (["get", missing, "a"], 1)] {
        let output = lsm_into_a_closed_pipe(&args, false);
        assert_eq!(
            output.status.code(),
            Some(status),
            "lsm {args:?} with stderr closed\n{}",
            describe(&output)
        );
    }
}

/// `lsm put --value-file` of an endless source (`/dev/zero`, or stdin fed
/// by `yes`) stops reading past the longest value a store accepts and says
/// so: it read the whole source into memory first, until the allocation
/// failed (here, under a 4 GB address-space cap: "out of memory") or the
/// machine ran out. Found by the configuration and CLI bad-input review.
#[test]
fn put_value_file_of_an_endless_source_is_refused_at_the_value_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let path = store.to_str().unwrap();
    let output = lsm(&["put", "--create", path, "a", "1"]);
    assert!(output.status.success(), "{}", describe(&output));
    let exe = env!("CARGO_BIN_EXE_lsm");
    for source in ["--value-file /dev/zero", "--value-file - < /dev/zero"] {
        let script = format!("ulimit -v 4000000; exec '{exe}' put '{path}' big {source}");
        let started = Instant::now();
        let output = Command::new("sh").args(["-c", &script]).output().unwrap();
        let args = ["put", path, "big", source];
        assert_clean_error(&args, &output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("limit of {} bytes", lsm_core::MAX_VALUE_BYTES)),
            "lsm {args:?}\n{}",
            describe(&output)
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "lsm {args:?} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(lsm(&["get", path, "big"]).status.code(), Some(3));
}

/// `lsm bench --probe-ops` has an upper bound: the fsync probe's overwrite
/// case first fills a file of `N` x 128 bytes with zeros, and a huge `N`
/// (here 2^64 - 1) wrote zeros until the disk was full (2.6 GB in 6 s).
/// The file size is capped at 10 MiB here (`ulimit -f`) so the unbounded
/// run is stopped by SIGXFSZ instead. Found by the configuration and CLI
/// bad-input review.
#[test]
fn bench_with_a_huge_probe_op_count_is_a_usage_error_not_a_disk_fill() {
    let db = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_lsm");
    let script = format!(
        "ulimit -f 10240; exec '{exe}' bench --num 10 --in-process --engine lsm-sync \
         --benchmarks fillseq --probe-ops 18446744073709551615 --db '{}'",
        db.path().display()
    );
    let output = Command::new("sh").args(["-c", &script]).output().unwrap();
    let args = ["bench", "--probe-ops", "18446744073709551615"];
    assert_eq!(
        output.status.code(),
        Some(2),
        "lsm {args:?}\n{}",
        describe(&output)
    );
    assert_clean_error(&args, &output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--probe-ops"), "{}", describe(&output));
}

/// `lsm bench` without `--in-process` (the default: one child process per
/// engine) gives an engine setting out of range the usage status 2 as well
/// (docs/cli.md), in one `error:` line: the child exited 2 and the parent
/// turned that into status 1, after the child's own error line. Found by
/// the configuration and CLI bad-input review.
#[test]
fn bench_engine_settings_out_of_range_are_usage_errors_in_the_default_mode_too() {
    for setting in [
        ["--wal-sync", "every-bytes:0"],
        ["--block-cache-bytes", "99T"],
        ["--memtable-bytes", "0"],
    ] {
        let mut args = vec![
            "bench",
            "--num",
            "10",
            "--no-probe",
            "--engine",
            "lsm-sync",
            "--benchmarks",
            "fillseq",
        ];
        args.extend(setting);
        let output = lsm(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "lsm {args:?}\n{}",
            describe(&output)
        );
        assert_clean_error(&args, &output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.matches("error:").count(),
            1,
            "lsm {args:?}\n{}",
            describe(&output)
        );
    }
}
