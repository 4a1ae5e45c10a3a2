//! CLI tests of `lsm checkpoint STORE TARGET`: it flushes the store's WAL,
//! writes a checkpoint that `lsm` opens as a store of its own, and refuses
//! a non-empty target, a missing store and a held one with one error line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output};

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn lsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(args)
        .output()
        .expect("run lsm")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn lsm_ok(args: &[&str]) -> String {
    let output = lsm(args);
    assert!(
        output.status.success(),
        "lsm {args:?} failed: {}\n{}",
        stderr(&output),
        stdout(&output)
    );
    stdout(&output)
}

/// Exit status 1 and exactly one `error:` line.
fn one_error_line(args: &[&str]) -> String {
    let output = lsm(args);
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error:") && !err.contains("panicked"),
        "{err}"
    );
    err
}

/// A closed store: 200 keys in tables (several, from a 4 KiB memtable),
/// then `wal0`..`wal4` only in the WAL.
fn build_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .memtable_bytes(4096)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    for i in 0..200 {
        store
            .put(
                format!("key{i:04}"),
                format!("value-{i}-{}", "x".repeat(40)),
            )
            .unwrap();
    }
    store.flush_memtable().unwrap();
    for i in 0..5 {
        store
            .put(format!("wal{i}"), format!("walvalue{i}"))
            .unwrap();
    }
    store.close().unwrap();
    dir
}

#[test]
fn checkpoint_writes_a_store_of_its_own_with_the_wal_flushed() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let target = tempfile::tempdir().unwrap();
    let cp_path = target.path().join("nested").join("cp");
    let cp = cp_path.to_str().unwrap();

    let out = lsm_ok(&["checkpoint", dir, cp]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("checkpoint of {dir} at sequence number 205 written to {cp}")
    );
    assert!(lines[1].contains("hard-linked, 0 copied (0 B)"), "{out}");
    assert_eq!(lines.len(), 2, "{out}");

    assert_eq!(lsm_ok(&["get", cp, "wal3"]), "walvalue3\n");
    assert_eq!(lsm_ok(&["scan", cp]).lines().count(), 205);
    lsm_ok(&["verify", cp]);
    let stats: serde_json::Value = serde_json::from_str(&lsm_ok(&["stats", "--json", cp])).unwrap();
    assert_eq!(stats["stats"]["last_seq"], 205, "{stats}");
    assert_eq!(stats["stats"]["memtable_bytes"], 0, "{stats}");
    // The checkpoint is independent: a write to it does not reach the
    // store, nor the other way round.
    lsm_ok(&["put", cp, "only-in-checkpoint", "1"]);
    lsm_ok(&["put", dir, "only-in-store", "1"]);
    assert_eq!(
        lsm(&["get", dir, "only-in-checkpoint"]).status.code(),
        Some(3)
    );
    assert_eq!(lsm(&["get", cp, "only-in-store"]).status.code(), Some(3));
}

#[test]
fn checkpoint_refusals_are_one_error_line() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let target = tempfile::tempdir().unwrap();
    std::fs::write(target.path().join("mine"), b"x").unwrap();
    let err = one_error_line(&["checkpoint", dir, target.path().to_str().unwrap()]);
    assert!(err.contains("is not empty"), "{err}");
    assert!(err.contains(target.path().to_str().unwrap()), "{err}");

    let missing = target.path().join("no-store");
    let cp = target.path().join("cp");
    let err = one_error_line(&[
        "checkpoint",
        missing.to_str().unwrap(),
        cp.to_str().unwrap(),
    ]);
    assert!(err.contains("no store"), "{err}");
    assert!(!cp.exists());

    let holder = SimpleLsmStore::open(LsmConfig::new(store.path())).unwrap();
    let err = one_error_line(&["checkpoint", dir, cp.to_str().unwrap()]);
    assert!(err.contains("locked"), "{err}");
    holder.close().unwrap();
}
