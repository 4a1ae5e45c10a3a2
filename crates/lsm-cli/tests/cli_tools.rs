//! CLI tests of the store tools: `lsm inspect sst|wal|manifest`, `lsm
//! stats`, `lsm verify`, `lsm get|put|delete|scan`, `lsm flush|compact`,
//! their `--json` output, exit statuses and usage errors (`demo` and
//! `bench` have their own files). Each builds a small
//! store with `SimpleLsmStore` in a temp dir (a 4 KiB memtable, so there
//! are several tables and a WAL with records), runs the built binary and
//! checks its output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lsm_core::OsFileSystem;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

/// Keys written by [`build_store`]: `key0000` .. `key0299`.
const KEYS: u32 = 300;
/// Keys written after the last flush, so they live only in the WAL.
const WAL_ONLY_KEYS: u32 = 5;

fn key(i: u32) -> String {
    format!("key{i:04}")
}

fn value(i: u32) -> String {
    format!("value-{i:04}-{}", "x".repeat(40))
}

/// A closed store with several tables (L0 and, after compaction, deeper)
/// and a WAL segment holding `WAL_ONLY_KEYS` unflushed records.
fn build_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .memtable_bytes(4096)
        .wal_sync(SyncMode::Never)
        .table_target_bytes(4096)
        .block_bytes(1024)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    for i in 0..KEYS {
        store.put(key(i), value(i)).unwrap();
    }
    store.delete(key(7)).unwrap();
    store.flush_memtable().unwrap();
    for i in 0..WAL_ONLY_KEYS {
        store
            .put(format!("wal{i}"), format!("walvalue{i}"))
            .unwrap();
    }
    store.close().unwrap();
    dir
}

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

/// Runs `lsm args...`, asserts it succeeded, returns its stdout.
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

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn newest_wal(dir: &Path) -> PathBuf {
    files_with_suffix(dir, ".wal").pop().expect("a WAL segment")
}

fn first_table(dir: &Path) -> PathBuf {
    files_with_suffix(dir, ".sst")
        .into_iter()
        .next()
        .expect("a table")
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

/// Asserts a failed run printed exactly one `error:` line and no panic.
fn assert_one_error_line(output: &Output) -> String {
    assert!(!output.status.success());
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "one stderr line: {err}");
    assert!(err.starts_with("error:"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

#[test]
fn inspect_sst_prints_properties_index_and_bloom() {
    let store = build_store();
    let table = first_table(store.path());
    let out = lsm_ok(&["inspect", "sst", table.to_str().unwrap()]);
    for expected in [
        "properties:",
        "format version",
        "entries",
        "smallest key      key",
        "sequence numbers",
        "layout",
        "index block",
        "footer",
        "index (",
        "last key",
        "bloom filter:",
        "bits per key      10",
        "probes            7",
        "theoretical false-positive rate",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("entries ("), "entries only with --entries");
}

#[test]
fn inspect_sst_entries_lists_keys_and_respects_limit() {
    let store = build_store();
    let table = first_table(store.path());
    let out = lsm_ok(&["inspect", "sst", table.to_str().unwrap(), "--entries"]);
    assert!(out.contains("entries ("), "{out}");
    let entry_lines: Vec<&str> = out
        .lines()
        .filter(|line| line.trim_start().starts_with("key") && line.contains("Put"))
        .collect();
    assert!(entry_lines.len() > 5, "{out}");
    assert!(
        entry_lines[0].contains("value-"),
        "value preview: {}",
        entry_lines[0]
    );

    let limited = lsm_ok(&[
        "inspect",
        "sst",
        table.to_str().unwrap(),
        "--entries",
        "--limit",
        "2",
    ]);
    let shown = limited
        .lines()
        .filter(|line| line.trim_start().starts_with("key") && line.contains("Put"))
        .count();
    assert_eq!(shown, 2, "{limited}");
    assert!(limited.contains("more (--limit 2)"), "{limited}");
}

#[test]
fn inspect_wal_lists_records_with_seqnos_and_reports_a_torn_tail() {
    let store = build_store();
    let segment = newest_wal(store.path());
    let out = lsm_ok(&["inspect", "wal", segment.to_str().unwrap()]);
    assert!(out.contains("header: segment"), "{out}");
    assert!(out.contains(&format!("records ({WAL_ONLY_KEYS})")), "{out}");
    let last = KEYS + 1 + WAL_ONLY_KEYS; // puts, one delete, then the WAL-only puts
    assert!(
        out.contains(&format!("{last}..={last}")),
        "seq of last record:\n{out}"
    );
    assert!(out.contains("tail: clean"), "{out}");

    // Garbage appended after the last record is a torn tail.
    let mut bytes = std::fs::read(&segment).unwrap();
    let clean_len = bytes.len();
    bytes.extend_from_slice(&[0xAB; 7]);
    std::fs::write(&segment, &bytes).unwrap();
    let out = lsm_ok(&["inspect", "wal", segment.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "torn tail at offset {clean_len}: recovery drops 7 bytes"
        )),
        "{out}"
    );

    // The directory form lists every segment and sums them up.
    let out = lsm_ok(&["inspect", "wal", store.path().to_str().unwrap()]);
    assert!(out.contains("summary:"), "{out}");
    assert!(out.contains(&format!("{WAL_ONLY_KEYS} records")), "{out}");
}

/// Recovery's "newest" segment is the last one holding records: damage
/// at the end of a segment followed only by a header-only segment (made
/// ahead of a rotation) is a torn tail, for `inspect wal` as for open; once
/// the later segment holds a record it is corruption for both.
#[test]
fn inspect_wal_judges_a_tail_against_the_last_segment_holding_records() {
    let store = build_store();
    let segment = newest_wal(store.path());
    let number =
        lsm_wal::parse_segment_file_name(segment.file_name().unwrap().to_str().unwrap()).unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let clean_len = bytes.len();
    bytes.extend_from_slice(&[0xAB; 7]);
    std::fs::write(&segment, &bytes).unwrap();
    let last = KEYS + 1 + WAL_ONLY_KEYS;
    let fs: lsm_core::SharedFileSystem = std::sync::Arc::new(OsFileSystem);
    let later = lsm_wal::WalWriter::create(
        fs,
        store.path(),
        number + 1,
        u64::from(last) + 1,
        lsm_wal::WalOptions::default(),
    )
    .unwrap();
    let torn = format!("torn tail at offset {clean_len}");
    let out = lsm_ok(&["inspect", "wal", segment.to_str().unwrap()]);
    assert!(out.contains(&torn), "{out}");
    let out = lsm_ok(&["inspect", "wal", store.path().to_str().unwrap()]);
    assert!(out.contains(&torn), "{out}");
    assert!(!out.contains("CORRUPTION"), "{out}");
    lsm_ok(&["verify", store.path().to_str().unwrap()]);

    let mut batch = lsm_core::WriteBatch::new();
    batch.put(b"later", b"record");
    later.append(&batch).unwrap();
    drop(later); // a crash: no sync mark
    let corrupt = format!("CORRUPTION at offset {clean_len}");
    let out = lsm_ok(&["inspect", "wal", segment.to_str().unwrap()]);
    assert!(out.contains(&corrupt), "{out}");
    let out = lsm_ok(&["inspect", "wal", store.path().to_str().unwrap()]);
    assert!(out.contains(&corrupt), "{out}");
    let verdict = lsm(&["verify", store.path().to_str().unwrap()]);
    assert!(!verdict.status.success(), "verify must fail as open does");
}

#[test]
fn inspect_manifest_shows_records_levels_and_files() {
    let store = build_store();
    let out = lsm_ok(&["inspect", "manifest", store.path().to_str().unwrap()]);
    assert!(out.contains("MANIFEST-"), "{out}");
    assert!(out.contains(": snapshot"), "{out}");
    assert!(out.contains("levels ("), "{out}");
    assert!(out.contains("  L0:"), "{out}");
    let table = first_table(store.path());
    let name = table.file_name().unwrap().to_str().unwrap();
    assert!(out.contains(name), "{name} listed:\n{out}");
    assert!(out.contains("keys key"), "key ranges:\n{out}");
    assert!(out.contains("counters: next file number"), "{out}");
    assert!(out.contains("dropped tail: none"), "{out}");
}

#[test]
fn stats_shows_levels_memtable_and_seqnos() {
    let store = build_store();
    let out = lsm_ok(&["stats", store.path().to_str().unwrap()]);
    assert!(out.contains("levels ("), "{out}");
    assert!(out.contains("L0"), "{out}");
    assert!(out.contains("score"), "{out}");
    assert!(out.contains("memtable:"), "{out}");
    assert!(out.contains("WAL:"), "{out}");
    let last = KEYS + 1 + WAL_ONLY_KEYS;
    assert!(out.contains(&format!("last {last}")), "{out}");
    assert!(out.contains("keyspaces: none but the default one"), "{out}");
}

#[test]
fn verify_passes_a_good_store() {
    let store = build_store();
    let output = lsm(&["verify", store.path().to_str().unwrap()]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    assert!(out.contains("ok       MANIFEST-"), "{out}");
    assert!(out.contains(".sst: L"), "{out}");
    assert!(out.contains(".wal:"), "{out}");
    assert!(out.contains("no problems"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
}

/// A store created with 9 levels whose deepest table is on L7: verify
/// checks it with the 9 levels its `OPTIONS` records (not the 8 the
/// manifest shows, which open would refuse as a configuration error), and
/// without `OPTIONS` (a store older than the file) with the manifest's 8.
/// A damaged `OPTIONS` is a failure naming it.
#[test]
fn verify_checks_with_the_stores_own_levels_and_flags_a_damaged_options_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .memtable_bytes(4096)
        .table_target_bytes(4096)
        .l0_trigger(100)
        .num_levels(9)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    for i in 0..50 {
        store.put(key(i), value(i)).unwrap();
    }
    store.flush_memtable().unwrap();
    for level in 0..7 {
        store.compact_level(level).unwrap();
    }
    assert!(store.stats().unwrap().levels[7].files > 0);
    store.close().unwrap();
    drop(store);
    let path = dir.path().to_str().unwrap();
    let options = dir.path().join("OPTIONS");
    let good = std::fs::read(&options).unwrap();

    let output = lsm(&["verify", path]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    assert!(out.contains("no problems"), "{out}");

    std::fs::remove_file(&options).unwrap();
    let output = lsm(&["verify", path]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    assert!(!options.exists(), "verify wrote OPTIONS");

    std::fs::write(&options, &good[..good.len() - 1]).unwrap();
    let output = lsm(&["verify", path]);
    let out = stdout(&output);
    assert!(!output.status.success(), "{out}");
    assert!(out.contains("FAILED   open check"), "{out}");
    assert!(out.contains(&options.display().to_string()), "{out}");
}

#[test]
fn verify_fails_naming_the_table_and_offset_of_a_flipped_data_byte() {
    let store = build_store();
    let table = first_table(store.path());
    let index = lsm_table_first_block(&table);
    flip_byte(&table, index.offset + index.size / 2);
    let output = lsm(&["verify", store.path().to_str().unwrap()]);
    let name = table.file_name().unwrap().to_str().unwrap();
    let err = assert_one_error_line(&output);
    assert!(err.contains(name), "{err}");
    assert!(
        err.contains(&format!("at offset {}", index.offset)),
        "{err}"
    );
    assert!(
        stdout(&output).contains(&format!("FAILED   {name}")),
        "{}",
        stdout(&output)
    );
}

/// The first data block of the table at `path`.
fn lsm_table_first_block(path: &Path) -> lsm_sstable::BlockHandle {
    let table = lsm_sstable::Table::open(&OsFileSystem, path, 0, None).unwrap();
    table.index_entries()[0].handle
}

#[test]
fn verify_fails_on_a_damaged_wal_record_that_is_not_the_last() {
    let store = build_store();
    let segment = newest_wal(store.path());
    let contents = lsm_wal::read_segment(&OsFileSystem, &segment).unwrap();
    assert!(contents.records.len() >= 2);
    let first = contents.records[0];
    flip_byte(&segment, first.offset + first.framed_len / 2);
    let output = lsm(&["verify", store.path().to_str().unwrap()]);
    let err = assert_one_error_line(&output);
    let name = segment.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "{err}");
    assert!(
        err.contains(&format!("at offset {}", first.offset)),
        "{err}"
    );
    assert!(err.contains("followed by a valid record"), "{err}");
}

#[test]
fn verify_warns_on_a_torn_tail_and_a_stray_table_but_passes() {
    let store = build_store();
    let segment = newest_wal(store.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0x55; 5]);
    std::fs::write(&segment, bytes).unwrap();
    std::fs::copy(first_table(store.path()), store.path().join("999999.sst")).unwrap();
    let output = lsm(&["verify", store.path().to_str().unwrap()]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    assert!(out.contains("WARNING  999999.sst: stray table"), "{out}");
    assert!(out.contains("torn tail at offset"), "{out}");
    assert!(out.contains("2 warnings"), "{out}");
}

#[test]
fn verify_all_reports_every_problem_and_a_missing_table() {
    let store = build_store();
    let tables = files_with_suffix(store.path(), ".sst");
    assert!(tables.len() >= 2, "{tables:?}");
    std::fs::remove_file(&tables[0]).unwrap();
    let block = lsm_table_first_block(&tables[1]);
    flip_byte(&tables[1], block.offset + block.size / 2);
    let output = lsm(&["verify", "--all", store.path().to_str().unwrap()]);
    let err = assert_one_error_line(&output);
    // The missing table, the bad block, and open's own check (which
    // refuses a store whose manifest lists a missing table).
    assert!(err.contains("verify found 3 problems"), "{err}");
    assert!(err.contains("missing"), "{err}");
    assert!(err.contains("open would refuse the store"), "{err}");
    let out = stdout(&output);
    assert_eq!(out.matches("FAILED").count(), 3, "{out}");
    assert!(out.contains("3 problems"), "summary line:\n{out}");
}

#[test]
fn get_put_delete_scan_round_trip() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    assert_eq!(lsm_ok(&["get", dir, "key0042"]), format!("{}\n", value(42)));

    lsm_ok(&["put", dir, "apple", "red"]);
    assert_eq!(lsm_ok(&["get", dir, "apple"]), "red\n");
    lsm_ok(&["put", "--hex", dir, "6170706c65", "00ff"]);
    assert_eq!(lsm_ok(&["get", "--hex", dir, "6170706c65"]), "00ff\n");

    lsm_ok(&["delete", dir, "apple"]);
    let missing = lsm(&["get", dir, "apple"]);
    assert_eq!(missing.status.code(), Some(3), "absent key: exit status 3");
    assert!(stdout(&missing).is_empty());
    assert_eq!(stderr(&missing), "not found: apple\n");

    let out = lsm_ok(&["scan", dir, "--start", "key0010", "--end", "key0013"]);
    assert_eq!(
        out,
        format!(
            "key0010\t{}\nkey0011\t{}\nkey0012\t{}\n",
            value(10),
            value(11),
            value(12)
        )
    );
    let out = lsm_ok(&["scan", dir, "--start", "key0005", "--limit", "3"]);
    let keys: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(
        keys,
        ["key0005", "key0006", "key0008"],
        "key0007 was deleted"
    );
    let out = lsm_ok(&["scan", dir, "--start", "77616c", "--hex"]);
    assert!(out.starts_with("77616c30\t"), "{out}");

    // The store still verifies after the tools wrote to it.
    lsm_ok(&["verify", dir]);
}

/// `--keyspace NAME` reads and writes a keyspace: `put` creates it only
/// with `--create`, `get`/`scan`/`delete` of a missing one is an error,
/// and the default keyspace does not see its keys.
#[test]
fn keyspaces_from_the_command_line() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();

    let refused = lsm(&["put", dir, "--keyspace", "users", "42", "ada"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("no keyspace \"users\""),
        "{}",
        stderr(&refused)
    );
    lsm_ok(&["put", dir, "--keyspace", "users", "--create", "42", "ada"]);
    lsm_ok(&["put", dir, "--keyspace", "users", "43", "grace"]);

    assert_eq!(lsm_ok(&["get", dir, "--keyspace", "users", "42"]), "ada\n");
    let missing = lsm(&["get", dir, "42"]);
    assert_eq!(
        missing.status.code(),
        Some(3),
        "the default keyspace has no key 42"
    );
    assert_eq!(
        lsm_ok(&["scan", dir, "--keyspace", "users"]),
        "42\tada\n43\tgrace\n"
    );
    let default_scan = lsm_ok(&["scan", dir, "--start", "4", "--end", "5"]);
    assert!(default_scan.is_empty(), "{default_scan}");

    let stats = lsm_ok(&["stats", dir]);
    assert!(stats.contains("keyspaces: 1 (\"users\")"), "{stats}");
    let json = lsm_ok(&["stats", "--json", dir]);
    assert!(
        json.contains("\"keyspaces\": [\n    \"users\"\n  ]"),
        "{json}"
    );

    lsm_ok(&["delete", dir, "--keyspace", "users", "42"]);
    assert_eq!(lsm_ok(&["scan", dir, "--keyspace", "users"]), "43\tgrace\n");

    for args in [
        &["get", dir, "--keyspace", "orders", "1"][..],
        &["scan", dir, "--keyspace", "orders"][..],
        &["delete", dir, "--keyspace", "orders", "1"][..],
    ] {
        let out = lsm(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("orders"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    lsm_ok(&["verify", dir]);
}

#[test]
fn put_creates_a_store_only_when_asked() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new-store");
    let dir_str = dir.to_str().unwrap();
    let err = assert_one_error_line(&lsm(&["put", dir_str, "k", "v"]));
    assert!(err.contains("no store at"), "{err}");
    assert!(!dir.exists(), "a refused put creates nothing");
    lsm_ok(&["put", "--create", dir_str, "k", "v"]);
    assert_eq!(lsm_ok(&["get", dir_str, "k"]), "v\n");
}

#[test]
fn missing_or_non_store_directory_is_one_clear_error_line() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nope");
    let missing_str = missing.to_str().unwrap();
    for args in [
        vec!["verify", missing_str],
        vec!["stats", missing_str],
        vec!["get", missing_str, "k"],
        vec!["scan", missing_str],
        vec!["inspect", "manifest", missing_str],
        vec!["inspect", "wal", missing_str],
    ] {
        let err = assert_one_error_line(&lsm(&args));
        assert!(err.contains(missing_str), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created the directory");
    }
    let err = assert_one_error_line(&lsm(&["verify", parent.path().to_str().unwrap()]));
    assert!(err.contains("CURRENT not found"), "{err}");
    let err = assert_one_error_line(&lsm(&["inspect", "sst", missing_str]));
    assert!(err.contains(missing_str), "{err}");
}

#[test]
fn bad_flag_is_a_usage_error() {
    let output = lsm(&["verify", "--no-such-flag", "/tmp"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("Usage:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Every file under `dir` with its bytes: the directory's listing and
/// contents in one value.
fn snapshot_dir(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The read commands (get, scan, stats, verify, inspect) write nothing:
/// 20 of them leave the directory listing and every file's bytes as they
/// were (before, each get or scan left a new WAL segment and manifest).
#[test]
fn twenty_read_commands_leave_the_directory_unchanged() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let table = first_table(store.path());
    let table = table.to_str().unwrap();
    let before = snapshot_dir(store.path());
    let wal_files = files_with_suffix(store.path(), ".wal").len();
    let commands: [&[&str]; 10] = [
        &["get", dir, "key0042"],
        &["scan", dir, "--limit", "5"],
        &["stats", dir],
        &["stats", "--json", dir],
        &["verify", dir],
        &["verify", "--all", "--json", dir],
        &["inspect", "manifest", dir],
        &["inspect", "wal", dir],
        &["inspect", "sst", table, "--entries"],
        &["get", dir, "wal0"],
    ];
    for round in 0..2 {
        for args in commands {
            lsm_ok(args);
            assert_eq!(
                files_with_suffix(store.path(), ".wal").len(),
                wal_files,
                "round {round}: {args:?} added a WAL segment"
            );
        }
    }
    assert_eq!(snapshot_dir(store.path()), before, "a read command wrote");
}

/// Another process (here: this test) holds the store open: `stats`, `get`
/// and `scan` read it as of now, and `verify` says it is held and still
/// checks; none of them writes, and the holder's lock stays.
#[test]
fn read_commands_work_on_a_store_another_process_holds() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let holder = SimpleLsmStore::open(LsmConfig::new(store.path())).unwrap();
    holder.put("held", "yes").unwrap();
    let before = snapshot_dir(store.path());

    let out = lsm_ok(&["stats", dir]);
    let last = KEYS + 1 + WAL_ONLY_KEYS + 1;
    assert!(out.contains(&format!("last {last}")), "{out}");
    assert_eq!(lsm_ok(&["get", dir, "held"]), "yes\n");
    assert!(lsm_ok(&["scan", dir, "--start", "held"]).starts_with("held\tyes\n"));

    let out = lsm_ok(&["verify", dir]);
    let pid = std::process::id();
    assert!(
        out.starts_with(&format!(
            "note     LOCK: the store is held by another process (pid {pid})"
        )),
        "{out}"
    );
    assert!(out.contains("no problems"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&lsm_ok(&["verify", "--json", dir])).unwrap();
    assert_eq!(json["lock"]["state"], "held", "{json}");
    assert_eq!(json["lock"]["pid"], pid, "{json}");
    assert_eq!(json["ok"], true, "{json}");

    assert_eq!(snapshot_dir(store.path()), before, "a read command wrote");
    let err = SimpleLsmStore::open(LsmConfig::new(store.path())).unwrap_err();
    assert!(err.is_locked(), "the holder keeps its lock: {err}");
    holder.close().unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&lsm_ok(&["verify", "--json", dir])).unwrap();
    assert_eq!(json["lock"]["state"], "free", "{json}");
    assert!(!lsm_ok(&["verify", dir]).contains("note     LOCK"));
}

/// `put`, `delete`, `flush` and `compact` still need the lock: on a held
/// store they fail with one line naming it.
#[test]
fn writing_commands_on_a_held_store_are_one_locked_error() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let holder = SimpleLsmStore::open(LsmConfig::new(store.path())).unwrap();
    for args in [
        vec!["put", dir, "k", "v"],
        vec!["delete", dir, "k"],
        vec!["flush", dir],
        vec!["compact", dir],
    ] {
        let output = lsm(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let err = assert_one_error_line(&output);
        assert!(err.contains("locked"), "{args:?}: {err}");
    }
    holder.close().unwrap();
}

#[test]
fn flush_writes_the_wal_to_an_l0_table_and_compact_empties_l0() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    // The newest table (names are zero-padded numbers, so sorted order is
    // number order). The flush may also start a compaction of L0 that
    // replaces tables, so the count of tables can go either way; a new
    // table number cannot.
    let newest_table = |dir: &Path| files_with_suffix(dir, ".sst").pop();
    let newest_before = newest_table(store.path());
    let out = lsm_ok(&["flush", dir]);
    assert!(out.starts_with("flushed "), "{out}");
    assert!(out.contains("levels: L0 "), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&lsm_ok(&["stats", "--json", dir])).unwrap();
    assert_eq!(
        stats["stats"]["memtable_bytes"], 0,
        "the WAL's writes are in a table"
    );
    assert_eq!(lsm_ok(&["get", dir, "wal3"]), "walvalue3\n");
    assert!(
        newest_table(store.path()) > newest_before,
        "the flush wrote a table numbered above every earlier one"
    );
    let out = lsm_ok(&["flush", dir]);
    assert!(out.starts_with("nothing to flush"), "{out}");

    let out = lsm_ok(&["compact", dir, "--level", "0"]);
    assert!(out.starts_with("compacted L0 into L1"), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&lsm_ok(&["stats", "--json", dir])).unwrap();
    assert_eq!(stats["stats"]["levels"][0]["files"], 0, "{stats}");
    let out = lsm_ok(&["compact", dir]);
    assert!(out.contains("levels: "), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&lsm_ok(&["stats", "--json", dir])).unwrap();
    for level in stats["stats"]["levels"].as_array().unwrap() {
        assert!(
            level["score"].as_f64().unwrap() < 1.0,
            "quiet after compact: {stats}"
        );
    }
    assert_eq!(lsm_ok(&["get", dir, "key0042"]), format!("{}\n", value(42)));
    lsm_ok(&["verify", dir]);

    let err = assert_one_error_line(&lsm(&["compact", dir, "--level", "99"]));
    assert!(err.contains("99"), "{err}");
}

#[test]
fn put_reads_the_value_from_a_file_or_stdin() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let file = store.path().join("value.bin");
    std::fs::write(&file, [0u8, 1, 2, 255, b'\n']).unwrap();
    lsm_ok(&[
        "put",
        dir,
        "fromfile",
        "--value-file",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        lsm_ok(&["get", "--hex", dir, "66726f6d66696c65"]),
        "000102ff0a\n"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_lsm"))
        .args(["put", dir, "fromstdin", "--value-file", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped value")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lsm_ok(&["get", dir, "fromstdin"]), "piped value\n");

    let output = lsm(&["put", dir, "k", "v", "--value-file", "x"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "VALUE and --value-file conflict"
    );
    let output = lsm(&["put", dir, "k"]);
    assert_eq!(output.status.code(), Some(2), "no value at all");
    let err = assert_one_error_line(&lsm(&["put", dir, "k", "--value-file", "/nonexistent/v"]));
    assert!(err.contains("/nonexistent/v"), "{err}");
}

#[test]
fn inspect_wal_limit_caps_records_and_json_matches() {
    let store = build_store();
    let segment = newest_wal(store.path());
    let path = segment.to_str().unwrap();
    let out = lsm_ok(&["inspect", "wal", path, "--limit", "2"]);
    assert!(
        out.contains(&format!("records ({WAL_ONLY_KEYS}):")),
        "{out}"
    );
    let shown = out.lines().filter(|l| l.contains("..=")).count();
    assert_eq!(shown, 2, "{out}");
    assert!(
        out.contains(&format!("... {} more (--limit 2)", WAL_ONLY_KEYS - 2)),
        "{out}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&lsm_ok(&["inspect", "wal", "--json", "--limit", "2", path])).unwrap();
    let seg = &json["segments"][0];
    assert_eq!(seg["record_count"], WAL_ONLY_KEYS, "{json}");
    assert_eq!(seg["records"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(seg["tail"]["kind"], "clean", "{json}");
    let json: serde_json::Value = serde_json::from_str(&lsm_ok(&[
        "inspect",
        "wal",
        "--json",
        store.path().to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(json["summary"]["records"], WAL_ONLY_KEYS, "{json}");
}

#[test]
fn inspect_wal_on_a_directory_without_a_store_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let output = lsm(&["inspect", "wal", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = assert_one_error_line(&output);
    assert!(
        err.contains("no store at") && err.contains("CURRENT not found"),
        "{err}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn json_output_of_stats_inspect_and_verify_parses() {
    let store = build_store();
    let dir = store.path().to_str().unwrap();
    let json =
        |args: &[&str]| -> serde_json::Value { serde_json::from_str(&lsm_ok(args)).unwrap() };

    let stats = json(&["stats", "--json", dir]);
    assert_eq!(stats["store"], dir);
    assert_eq!(stats["stats"]["last_seq"], KEYS + 1 + WAL_ONLY_KEYS);
    assert_eq!(
        stats["stats"]["flushes"], 0,
        "a read-only open does no work"
    );
    assert!(stats["stats"]["levels"][0]["files"].is_u64(), "{stats}");

    let manifest = json(&["inspect", "manifest", "--json", dir]);
    assert_eq!(manifest["records"][0]["kind"], "snapshot", "{manifest}");
    assert!(manifest["dropped_tail"].is_null(), "{manifest}");
    let listed: usize = manifest["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|level| level["tables"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, files_with_suffix(store.path(), ".sst").len());

    let table = first_table(store.path());
    let sst = json(&[
        "inspect",
        "sst",
        "--json",
        "--entries",
        "--limit",
        "3",
        table.to_str().unwrap(),
    ]);
    assert_eq!(sst["entries"].as_array().unwrap().len(), 3, "{sst}");
    let index = sst["index"].as_array().unwrap();
    assert!(index.len() <= 3, "--limit caps the index: {sst}");
    assert!(
        sst["index_count"].as_u64().unwrap() >= index.len() as u64,
        "{sst}"
    );
    assert_eq!(sst["bloom"]["bits_per_key"], 10, "{sst}");
    assert!(
        sst["entries"][0]["user_key"]
            .as_str()
            .unwrap()
            .starts_with("key"),
        "{sst}"
    );

    let verify = json(&["verify", "--json", dir]);
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(verify["problems"].as_array().unwrap().len(), 0);
    let statuses: Vec<&str> = verify["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert!(statuses.iter().all(|s| *s == "ok"), "{verify}");
    assert_eq!(
        verify["files"].as_array().unwrap().last().unwrap()["name"],
        "open check"
    );

    // A failure: still one JSON object on stdout, exit status 1.
    let block = lsm_table_first_block(&table);
    flip_byte(&table, block.offset + block.size / 2);
    let output = lsm(&["verify", "--json", dir]);
    assert_eq!(output.status.code(), Some(1));
    let verify: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(verify["ok"], false, "{verify}");
    assert_eq!(verify["problems"].as_array().unwrap().len(), 1, "{verify}");
}

/// Exit statuses: 2 for bad flags and values (sizes included) and for
/// settings out of range; the top-level help lists them and prints no
/// backticks.
#[test]
fn usage_errors_exit_2_and_help_lists_the_exit_statuses() {
    for args in [
        vec!["bench", "--memtable-bytes", "64MB"],
        vec!["bench", "--value-size", "12x"],
        vec!["bench", "--wal-sync", "bytes:4096"],
        vec!["bench", "--num", "0"],
        // 10^8 distinct 8-digit keys: index 100000005 would be key 5.
        vec!["bench", "--key-size", "8", "--num", "200000000"],
        vec!["demo", "--key-size", "2k"],
        vec!["stats"],
        vec!["inspect", "wal", "/tmp", "--limit", "many"],
        vec!["compact", "/tmp", "--level", "-1"],
    ] {
        let output = lsm(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"), "{args:?}");
    }
    let err = stderr(&lsm(&["bench", "--memtable-bytes", "64MB"]));
    assert!(err.contains("ambiguous") && err.contains("64MiB"), "{err}");

    let help = lsm_ok(&["--help"]);
    assert!(!help.contains('`'), "{help}");
    for line in [
        "0  success",
        "1  error",
        "2  usage error",
        "3  lsm get",
        "flush",
        "compact",
    ] {
        assert!(help.contains(line), "{line:?} in {help}");
    }
}

/// A flushed range delete is catalog state: `inspect manifest` shows the
/// edit that added it and lists it under the final version, and `scan`
/// (read-only) does not show the keys it hides.
#[test]
fn inspect_manifest_lists_range_deletes_and_scan_honours_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    for i in 0..20 {
        store.put(key(i), value(i)).unwrap();
    }
    store.flush_memtable().unwrap();
    // The table holds older versions in the range, so the tombstone stays.
    store.delete_range(key(5)..key(15)).unwrap();
    store.flush_memtable().unwrap();
    store.close().unwrap();
    let path = dir.path().to_str().unwrap();
    let out = lsm_ok(&["inspect", "manifest", path]);
    assert!(out.contains("range delete"), "{out}");
    let scan = lsm_ok(&["scan", path]);
    assert_eq!(scan.lines().count(), 10, "{scan}");
    assert!(!scan.contains(&key(9)), "{scan}");
}
