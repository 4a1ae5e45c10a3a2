//! `cargo xtask`: the project's one entry point for checks.
//!
//! - `cargo xtask ci`: rustfmt check, clippy with warnings denied, the whole
//!   test suite (with the `invariants` features that turn on the expensive
//!   structural checks), and rustdoc with warnings denied. Stops at the first
//!   failing step. The `peers` feature of `lsm-cli` (RocksDB, fjall, sled)
//!   stays off: building RocksDB alone would take most of CI's time budget.
//!   After the tests it runs a short crash soak (`crash`, 3 cycles) and,
//!   when running as root with `/dev/loop-control` and `xfs_io` or `python3`
//!   present, a short power-cut run (`powercut`, 4 cycles); otherwise it
//!   prints `skipped: <reason>`. A step still running after
//!   [`CI_STEP_LIMIT`] is stopped as hung, its processes' stacks printed.
//! - `cargo xtask soak`: the longer randomized runs (more proptest cases,
//!   more seeds of the seeded model tests),
//!   kept out of CI's time budget.
//! - `cargo xtask crash [--cycles N]` (default 20): the SIGKILL crash soak
//!   of `lsm-crashtest` (release build) over both stores and both sync
//!   modes: per cycle a writer child is killed at a random moment, the store
//!   reopened and every acknowledged write, the per-thread prefix and batch
//!   atomicity checked.
//! - `cargo xtask powercut [--cycles N]` (default 20, root only): the same
//!   on a loop-mounted ext4 image whose power is cut with the ext4 shutdown
//!   ioctl (`xfs_io -x -c shutdown`) before the kill, followed by umount +
//!   mount. Under `SyncMode::Always` every write acknowledged before the cut
//!   must survive; lost ones are also classified by their timestamps against
//!   the cut. Failing cycles' images are kept in `/tmp/lsm-powercut-failures`.
//!
//! - `cargo xtask memcheck [ARGS]`: builds lsm-memtable's unit tests (the
//!   crate's two `unsafe` modules, its arena skiplist and the point
//!   filter's prefetch, are tested there) and
//!   runs them under `valgrind --tool=memcheck`; any memory error, or a
//!   definite or indirect leak, fails it ("possibly lost" blocks are
//!   reported only: the test harness's own thread handles show up as
//!   such). `ARGS` go to the test binary (e.g. a test-name filter);
//!   `PROPTEST_CASES` defaults to 16. Not part of `ci`: it takes about 4
//!   minutes.
//!
//! `cargo xtask help` (or `--help`, `-h`) lists the subcommands and exits
//! with success; an unknown or missing one prints the same list and fails.
//!
//! Any further arguments of `crash` and `powercut` (`--seed S`,
//! `--store sync`, `--keep-failures DIR`, ...) go to `lsm-crashtest`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What `cargo xtask help` prints.
const USAGE: &str = "\
usage: cargo xtask <ci|soak|crash|powercut|memcheck|help> [--cycles N]
  ci        fmt check, clippy -D warnings, tests, crash soak, power cuts (root), docs -D warnings
  soak      long randomized test runs (PROPTEST_CASES=2000, LSM_MODEL_SEEDS=40) and the long cut-short crash runs
  crash     SIGKILL crash soak of both stores (default 20 cycles per combination)
  powercut  real power cuts on a loop-mounted ext4 image (root; default 20 cycles)
  memcheck  lsm-memtable's unit tests under valgrind memcheck
  help      this list (also --help, -h)
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("soak") => soak(),
        Some("crash") => crashtest("kill", &args[1..], None),
        Some("powercut") => crashtest("powercut", &args[1..], None),
        Some("memcheck") => memcheck(&args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprint!("{USAGE}");
            bail!("unknown subcommand `{other}`");
        }
        None => {
            eprint!("{USAGE}");
            bail!("missing subcommand");
        }
    }
}

struct Step<'a> {
    name: &'a str,
    program: &'a str,
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
}

fn run(step: &Step<'_>) -> Result<()> {
    run_within(step, None)
}

/// The longest one step of `ci` may run. A step that runs longer is taken
/// for hung (a test waiting for something that never comes): its
/// processes' stacks are printed and they are killed, so CI fails with the
/// evidence instead of running into its own time limit with none. A
/// healthy step takes a tenth of this on CI's machine.
const CI_STEP_LIMIT: Duration = Duration::from_secs(40 * 60);

/// Runs `step`; with a `limit`, stops it as hung once it runs longer.
fn run_within(step: &Step<'_>, limit: Option<Duration>) -> Result<()> {
    println!(
        "==> {}: {} {}",
        step.name,
        step.program,
        step.args.join(" ")
    );
    let started = Instant::now();
    let mut child = Command::new(step.program)
        .args(step.args)
        .envs(step.env.iter().copied())
        .spawn()
        .with_context(|| format!("could not start `{}`", step.program))?;
    let status = match limit {
        None => child.wait()?,
        Some(limit) => loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > limit {
                stop_hung(child.id());
                // Reaps `child` (stop_hung killed it).
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "step `{}` ran longer than {limit:?} and was stopped as hung \
                     (the stacks of its processes are printed above)",
                    step.name
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        },
    };
    println!("<== {} took {:.1?}", step.name, started.elapsed());
    if !status.success() {
        bail!("step `{}` failed ({status})", step.name);
    }
    Ok(())
}

/// Prints the command line of `root` and of every process below it, the
/// threads' stacks of those that are the workspace's own binaries (test
/// binaries, `lsm-crashtest` and its children) when `gdb` is present, and
/// then kills them all with SIGKILL, deepest first.
fn stop_hung(root: u32) {
    let processes = descendants(root);
    println!(
        "!!! stopping a hung step: {} processes",
        processes.len() + 1
    );
    for &pid in std::iter::once(&root).chain(&processes) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .unwrap_or_default();
        println!("!!! process {pid}: {}", cmdline.trim_end());
        if cmdline.contains("/target/") {
            // `timeout`, so a gdb that cannot attach does not hang the stop.
            match Command::new("timeout")
                .args([
                    "120",
                    "gdb",
                    "-p",
                    &pid.to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt",
                ])
                .output()
            {
                Ok(out) => println!("{}", String::from_utf8_lossy(&out.stdout)),
                Err(e) => println!("!!! no stacks (could not run timeout gdb: {e})"),
            }
        }
    }
    for pid in processes.iter().rev().chain(std::iter::once(&root)) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

/// The processes below `root`, parents before children, read from
/// `/proc/*/stat` (empty where `/proc` is missing).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and ')'.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
                .and_then(|field| field.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parent_of
                .iter()
                .filter(|&&(_, p)| p == parent)
                .map(|&(c, _)| c),
        );
        next += 1;
    }
    found.remove(0);
    found
}

/// The features CI turns on: every structural-invariant check, and
/// lsm-engine's optional `metrics` export (so it is built and tested). Not
/// `--all-features`, which would include `lsm-cli/peers`.
const CI_FEATURES: &str =
    "lsm-compaction/invariants,lsm-manifest/invariants,lsm-engine/invariants,lsm-store-sync/invariants,lsm-engine/metrics";

fn ci() -> Result<()> {
    let steps = [
        Step {
            name: "fmt",
            program: "cargo",
            args: &["fmt", "--all", "--check"],
            env: &[],
        },
        Step {
            name: "clippy",
            program: "cargo",
            args: &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--features",
                CI_FEATURES,
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
        },
        Step {
            name: "test",
            program: "cargo",
            args: &["test", "--workspace", "--features", CI_FEATURES],
            env: &[],
        },
        Step {
            name: "doc",
            program: "cargo",
            args: &["doc", "--workspace", "--no-deps", "--features", CI_FEATURES],
            env: &[("RUSTDOCFLAGS", "-D warnings")],
        },
    ];
    let started = Instant::now();
    // The crash soak and the power cuts run after the tests, before `doc`
    // (the last step).
    let (checks, doc) = steps.split_at(steps.len() - 1);
    let limit = Some(CI_STEP_LIMIT);
    for step in checks {
        run_within(step, limit)?;
    }
    crashtest("kill", &["--cycles".into(), CI_CRASH_CYCLES.into()], limit)?;
    match powercut_unavailable() {
        None => crashtest(
            "powercut",
            &["--cycles".into(), CI_POWERCUT_CYCLES.into()],
            limit,
        )?,
        Some(reason) => println!("==> powercut skipped: {reason}"),
    }
    for step in doc {
        run_within(step, limit)?;
    }
    println!("ci: all steps passed in {:.1?}", started.elapsed());
    Ok(())
}

/// Crash-soak cycles per (store, sync mode) in CI.
const CI_CRASH_CYCLES: &str = "3";
/// Power-cut cycles per (store, sync mode) in CI.
const CI_POWERCUT_CYCLES: &str = "4";
/// Cycles of `cargo xtask crash` and `cargo xtask powercut` by default.
const DEFAULT_CYCLES: &str = "20";

/// Runs `lsm-crashtest <command> --store both --sync both` in release,
/// with `--cycles` defaulting to [`DEFAULT_CYCLES`] and `extra` appended
/// (the tool takes the last value of a repeated flag), stopped as hung past
/// `limit`.
fn crashtest(command: &str, extra: &[String], limit: Option<Duration>) -> Result<()> {
    let mut args: Vec<&str> = vec![
        "run",
        "--release",
        "--package",
        "lsm-crashtest",
        "--",
        command,
        "--store",
        "both",
        "--sync",
        "both",
        "--cycles",
        DEFAULT_CYCLES,
    ];
    args.extend(extra.iter().map(String::as_str));
    let name = if command == "kill" { "crash" } else { command };
    run_within(
        &Step {
            name,
            program: "cargo",
            args: &args,
            env: &[],
        },
        limit,
    )
}

/// Why the power-cut run cannot run here, or `None` if it can: it needs
/// root (mount and the shutdown ioctl), loop devices, mkfs.ext4, and
/// `xfs_io` or `python3` to issue the ioctl.
fn powercut_unavailable() -> Option<String> {
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        });
    if euid.as_deref() != Some("0") {
        return Some("not running as root".into());
    }
    if !std::path::Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control (loop devices unavailable)".into());
    }
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs("mkfs.ext4", &["-V"]) {
        return Some("mkfs.ext4 not found".into());
    }
    if !runs("xfs_io", &["-V"]) && !runs("python3", &["-c", "import fcntl"]) {
        return Some("neither xfs_io (xfsprogs) nor python3 is available".into());
    }
    None
}

fn soak() -> Result<()> {
    run(&Step {
        name: "soak",
        program: "cargo",
        args: &[
            "test",
            "--workspace",
            "--release",
            "--features",
            CI_FEATURES,
        ],
        env: &[("PROPTEST_CASES", "2000"), ("LSM_MODEL_SEEDS", "40")],
    })?;
    // The long cut-short runs `ci` leaves out (`#[ignore]`d).
    run(&Step {
        name: "cut-short",
        program: "cargo",
        args: &[
            "test",
            "--release",
            "-p",
            "lsm-store-sync",
            "--test",
            "cut_short",
            "--",
            "--ignored",
        ],
        env: &[],
    })
}

/// Builds lsm-memtable's unit-test binary and runs it, with `test_args`,
/// under valgrind's memcheck, failing on any memory error or a definite or
/// indirect leak.
fn memcheck(test_args: &[String]) -> Result<()> {
    let started = Instant::now();
    println!("==> memcheck: cargo test -p lsm-memtable --lib --no-run --message-format=json");
    let build = Command::new("cargo")
        .args([
            "test",
            "-p",
            "lsm-memtable",
            "--lib",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not start `cargo test --no-run`")?;
    if !build.status.success() {
        bail!(
            "building lsm-memtable's unit tests failed ({})",
            build.status
        );
    }
    let messages = String::from_utf8_lossy(&build.stdout);
    let Some(binary) = messages
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter(|line| line.contains(r#""name":"lsm_memtable""#))
        .find_map(|line| json_string_field(line, "executable"))
    else {
        bail!("cargo reported no unit-test binary for lsm-memtable");
    };
    let cases = std::env::var("PROPTEST_CASES").unwrap_or_else(|_| "16".into());
    let mut args = vec![
        "--tool=memcheck",
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--quiet",
        &binary,
    ];
    args.extend(test_args.iter().map(String::as_str));
    run(&Step {
        name: "memcheck",
        program: "valgrind",
        args: &args,
        env: &[("PROPTEST_CASES", &cases)],
    })?;
    println!("memcheck: passed in {:.1?}", started.elapsed());
    Ok(())
}

/// The value of the string field `"name":"..."` in one line of cargo's JSON
/// messages (`None` when absent or `null`). Paths need no unescaping here
/// except `\\`, which cargo writes for a backslash.
fn json_string_field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!(r#""{name}":""#))? + name.len() + 4;
    let rest = &line[start..];
    let end = rest.find('"')?;
    Some(rest[..end].replace(r"\\", r"\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step past its limit fails at once, naming the limit, and leaves
    /// none of its processes behind: the shell's own child is killed too.
    #[test]
    fn a_step_past_its_limit_is_stopped_with_its_children() {
        let dir = std::env::temp_dir().join(format!("xtask-hung-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("sleeper.pid");
        let script = format!(
            "sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {}; wait",
            pid_file.display()
        );
        let started = Instant::now();
        let result = run_within(
            &Step {
                name: "hangs",
                program: "sh",
                args: &["-c", &script],
                env: &[],
            },
            Some(Duration::from_secs(1)),
        );
        let error = result
            .expect_err("a step past its limit must fail")
            .to_string();
        assert!(error.contains("stopped as hung"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
        let sleeper = std::fs::read_to_string(&pid_file).unwrap();
        let stat = format!("/proc/{}/stat", sleeper.trim());
        // Killed: gone once init reaps it, a zombie until then.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::fs::read_to_string(&stat) {
                Err(_) => break,
                Ok(s)
                    if s.rsplit(')')
                        .next()
                        .is_some_and(|rest| rest.trim_start().starts_with('Z')) =>
                {
                    break
                }
                Ok(s) => assert!(Instant::now() < deadline, "the sleeper still runs: {s}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A step within its limit runs to its own end, and its exit status
    /// still decides.
    #[test]
    fn a_step_within_its_limit_reports_its_own_status() {
        let step = |program| Step {
            name: "quick",
            program,
            args: &[],
            env: &[],
        };
        let limit = Some(Duration::from_secs(60));
        assert!(run_within(&step("true"), limit).is_ok());
        let error = run_within(&step("false"), limit).unwrap_err().to_string();
        assert!(error.contains("failed"), "{error}");
    }
}
