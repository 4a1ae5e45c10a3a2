//! `cargo xtask`: the project's one entry point for checks.
//!
//! - `cargo xtask ci`: rustfmt check, clippy with warnings denied, the whole
//!   test suite (with the `invariants` features that turn on the expensive
//!   structural checks), and rustdoc with warnings denied. Stops at the first
//!   failing step. The `peers` feature of `lsm-cli` (RocksDB, fjall, sled)
//!   stays off: building RocksDB alone would take most of CI's time budget.
//! - `cargo xtask soak`: the longer randomized runs (more proptest cases),
//!   kept out of CI's time budget.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("soak") => soak(),
        _ => {
            eprintln!("usage: cargo xtask <ci|soak>");
            eprintln!("  ci    fmt check, clippy -D warnings, tests, docs -D warnings");
            eprintln!("  soak  long randomized test runs (PROPTEST_CASES=2000)");
            bail!("unknown or missing subcommand");
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
    println!(
        "==> {}: {} {}",
        step.name,
        step.program,
        step.args.join(" ")
    );
    let started = Instant::now();
    let status = Command::new(step.program)
        .args(step.args)
        .envs(step.env.iter().copied())
        .status()
        .with_context(|| format!("could not start `{}`", step.program))?;
    println!("<== {} took {:.1?}", step.name, started.elapsed());
    if !status.success() {
        bail!("step `{}` failed ({status})", step.name);
    }
    Ok(())
}

/// The features CI turns on: every structural-invariant check. Not
/// `--all-features`, which would include `lsm-cli/peers`.
const CI_FEATURES: &str =
    "lsm-compaction/invariants,lsm-manifest/invariants,lsm-store-sync/invariants";

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
    for step in &steps {
        run(step)?;
    }
    println!("ci: all steps passed in {:.1?}", started.elapsed());
    Ok(())
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
        env: &[("PROPTEST_CASES", "2000")],
    })
}
