//! The store-level damage matrix: one byte flipped, a file truncated or a
//! file deleted, for every file of a small closed store, checked against
//! promises 3 and 4 of `docs/durability.md` and against `lsm verify`.
//!
//! 1. A deterministic *pristine* store is built once with `SimpleLsmStore`
//!    (`SyncMode::Always`, a 16 KiB memtable, 8 KiB tables, 4 KiB WAL
//!    segments, `l0_trigger` 2): tables on L0 and L1, a manifest whose last
//!    record is a flush edit, and an unflushed memtable spread over at least
//!    three WAL segments (the newest partly filled). The op list (puts,
//!    overwrites and deletes of earlier keys) is the model.
//! 2. Each *case* copies the pristine directory twice and damages the same
//!    file the same way in both copies: a byte xor-ed with 0x01 or 0x80 (at
//!    every record boundary of a WAL segment or the manifest and one byte
//!    either side, the first and last byte, and evenly spaced samples; for a
//!    table, samples over the file and the 64-byte footer), a truncation (at
//!    every record boundary, one byte past it, mid-record, to 0 bytes) or a
//!    deletion.
//! 3. `lsm verify --all` runs on the first copy. The second copy is opened
//!    in a *child process* (this test binary re-run with the `#[ignore]`d
//!    [`damage_matrix_child`] test as its entry point and the case
//!    directory in [`CASE_DIR_ENV`]), which reads every pair with `range`
//!    and every key ever written with `get` and prints what it saw or the
//!    error (whether it is corruption, its variant and its text). A panic,
//!    a signal or a hang of the child is an outcome of its own.
//! 4. Each case is classified `exact` (the final state), `torn_prefix` (the
//!    state after a prefix of the ops that keeps every op outside the newest
//!    WAL segment holding records: promise 4 lets a damaged tail of that
//!    segment be dropped as a torn write), `corruption_error` (a corruption
//!    error naming the damaged file; for `CURRENT` and the manifest, naming
//!    either) or `typed_error` (a `MissingCurrent` error when `CURRENT` is
//!    gone). Everything else is a failure: wrong data, a non-corruption
//!    error, a corruption error naming another file, a panic, a signal, a
//!    hang. `lsm verify` must flag (exit status not 0, or a `WARNING` or
//!    `FAILED` line) every case whose outcome is not `exact`, except a
//!    newest WAL segment cut exactly at a record boundary (or to 0 bytes) or
//!    deleted: that directory is a valid store state no check can tell from
//!    a store whose last writes never happened.
//!
//! The test prints a table of outcomes per file kind and fails listing
//! every failure, grouped by kind.
//!
//! Run: `cargo test -p lsm-cli --test damage_matrix -- --nocapture`. Set
//! `LSM_DAMAGE_MATRIX_VERBOSE=1` to print every case's outcome and what
//! `lsm verify` said, `LSM_DAMAGE_MATRIX_KEEP=<dir>` to keep a copy of the
//! pristine store for damaging by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lsm_core::OsFileSystem;
use lsm_manifest::{read_manifest, CURRENT_FILE_NAME};
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};
use lsm_wal::{list_segments, read_segment, segment_file_name, SegmentTail};

/// The environment variable naming the store directory the child opens.
const CASE_DIR_ENV: &str = "LSM_DAMAGE_MATRIX_CASE_DIR";
/// The environment variable naming the file the child writes its report to
/// (its stdout also carries the test harness's own text).
const REPORT_ENV: &str = "LSM_DAMAGE_MATRIX_REPORT";
/// The exact name of the child's entry test.
const CHILD_TEST: &str = "damage_matrix_child";
/// Set it to a path to keep a copy of the pristine store there (to damage
/// it by hand).
const KEEP_ENV: &str = "LSM_DAMAGE_MATRIX_KEEP";
/// Set it to print every case's outcome.
const VERBOSE_ENV: &str = "LSM_DAMAGE_MATRIX_VERBOSE";
/// Prefix of every line of the child's report.
const TAG: &str = "@dm";
/// A child that has not finished after this long is killed and counted as
/// a hang.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// WAL segment size: the smallest the config allows, so the unflushed
/// memtable spans several segments with few records each.
const WAL_SEGMENT_BYTES: u64 = 4096;
/// Number of ops the pristine store is built from. Chosen (by looking at
/// the result, which [`build_pristine`] asserts) so that the last manifest
/// record is a flush with no compaction after it and the unflushed
/// memtable spans at least three WAL segments.
const OPS: usize = 200;

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(8 * 1024)
        .wal_segment_bytes(WAL_SEGMENT_BYTES)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- the model

/// One write: `(key, Some(value))` is a put, `(key, None)` a delete.
type Op = (Vec<u8>, Option<Vec<u8>>);
type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(n: usize) -> Vec<u8> {
    format!("key{n:04}").into_bytes()
}

/// The value op `i` writes: names its key and op index (so a wrong value
/// tells which write it came from), padded to 500..=900 bytes so a 4 KiB
/// WAL segment holds about five records.
fn value(key: &[u8], i: usize) -> Vec<u8> {
    let mut v = format!("{}@op{i}:", String::from_utf8_lossy(key)).into_bytes();
    let pad = 500 + (i * 137) % 401;
    v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, pad));
    v
}

/// The deterministic op list: mostly puts of new keys, every 5th op an
/// overwrite of an earlier key, every 7th a delete of an earlier key, so a
/// lost later write shows up as an old value or a resurrected key.
fn ops() -> Vec<Op> {
    let mut ops = Vec::with_capacity(OPS);
    let mut next_key = 0usize;
    for i in 0..OPS {
        let (k, v) = if i % 7 == 6 && next_key > 0 {
            (key((i * 31) % next_key), None)
        } else if i % 5 == 4 && next_key > 0 {
            let k = key((i * 17) % next_key);
            let v = value(&k, i);
            (k, Some(v))
        } else {
            let k = key(next_key);
            next_key += 1;
            let v = value(&k, i);
            (k, Some(v))
        };
        ops.push((k, v));
    }
    ops
}

fn apply(state: &mut State, op: &Op) {
    match &op.1 {
        Some(v) => {
            state.insert(op.0.clone(), v.clone());
        }
        None => {
            state.remove(&op.0);
        }
    }
}

fn state_after(ops: &[Op], n: usize) -> State {
    let mut state = State::new();
    for op in &ops[..n] {
        apply(&mut state, op);
    }
    state
}

fn all_keys(ops: &[Op]) -> BTreeSet<Vec<u8>> {
    ops.iter().map(|(k, _)| k.clone()).collect()
}

// ---------------------------------------------------------------- the child

/// The child's entry point: opens the store in `$LSM_DAMAGE_MATRIX_CASE_DIR`
/// with the test's config, reads everything with `range` and every key ever
/// written with `get`, and writes one tagged line per result to
/// `$LSM_DAMAGE_MATRIX_REPORT`. Does nothing when the variables are unset
/// (a plain `--ignored` run).
#[test]
#[ignore = "entry point of the damage matrix's child process"]
fn damage_matrix_child() {
    let (Ok(dir), Ok(report)) = (std::env::var(CASE_DIR_ENV), std::env::var(REPORT_ENV)) else {
        return;
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(report).unwrap());
    match SimpleLsmStore::open(config(Path::new(&dir))) {
        Err(err) => writeln!(out, "{TAG} error open {}", describe_error(&err)).unwrap(),
        Ok(store) => {
            match store.range(..) {
                Err(err) => writeln!(out, "{TAG} error range {}", describe_error(&err)).unwrap(),
                Ok(iter) => {
                    for item in iter {
                        match item {
                            Ok((k, v)) => {
                                writeln!(out, "{TAG} pair {} {}", hex(&k), hex(&v)).unwrap()
                            }
                            Err(err) => {
                                writeln!(out, "{TAG} error range {}", describe_error(&err))
                                    .unwrap();
                                break;
                            }
                        }
                    }
                }
            }
            for k in all_keys(&ops()) {
                match store.get(&k) {
                    Ok(Some(v)) => writeln!(out, "{TAG} get {} {}", hex(&k), hex(&v)).unwrap(),
                    Ok(None) => writeln!(out, "{TAG} get {} -", hex(&k)).unwrap(),
                    Err(err) => {
                        writeln!(out, "{TAG} error get:{} {}", hex(&k), describe_error(&err))
                            .unwrap()
                    }
                }
            }
            if let Err(err) = store.close() {
                writeln!(out, "{TAG} error close {}", describe_error(&err)).unwrap();
            }
        }
    }
    writeln!(out, "{TAG} end").unwrap();
    out.flush().unwrap();
}

/// `<0|1 corruption> <variant path> <display text on one line>`.
fn describe_error(err: &Error) -> String {
    let corruption = u8::from(err.is_corruption());
    let text = err.to_string().replace(['\n', '\r'], " ");
    format!("{corruption} {} {text}", variant_path(err))
}

/// The chain of variant names, from the `Debug` text: `Manifest(Core(Io {
/// ..` becomes `Manifest::Core::Io`.
fn variant_path(err: &Error) -> String {
    let debug = format!("{err:?}");
    let head: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '(' || *c == '_')
        .collect();
    head.trim_end_matches('(').replace('(', "::")
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------- pristine

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FileKind {
    Table,
    /// A WAL segment other than the newest one holding records.
    WalOlder,
    /// The newest WAL segment holding records.
    WalNewest,
    Manifest,
    Current,
}

impl FileKind {
    fn label(self) -> &'static str {
        match self {
            FileKind::Table => "table (.sst)",
            FileKind::WalOlder => "WAL, older segment",
            FileKind::WalNewest => "WAL, newest segment",
            FileKind::Manifest => "MANIFEST",
            FileKind::Current => "CURRENT",
        }
    }
}

#[derive(Debug)]
struct StoreFile {
    name: String,
    kind: FileKind,
    len: u64,
    /// Start offsets of the records (WAL: the segment header at 0 too),
    /// ascending; empty for tables and `CURRENT`.
    records: Vec<u64>,
}

struct Pristine {
    dir: tempfile::TempDir,
    ops: Vec<Op>,
    /// Ops `..min_prefix` are outside the newest WAL segment holding
    /// records: every recovered state must keep them.
    min_prefix: usize,
    files: Vec<StoreFile>,
}

fn build_pristine() -> Pristine {
    let dir = tempfile::tempdir().unwrap();
    let ops = ops();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let mut seqs = Vec::with_capacity(ops.len());
    for (k, v) in &ops {
        let seq = match v {
            Some(v) => store.put(k, v).unwrap(),
            None => store.delete(k).unwrap(),
        };
        seqs.push(seq);
    }
    store.close().unwrap();
    drop(store);

    let fs = OsFileSystem;
    let manifest = read_manifest(&fs, dir.path()).unwrap();
    assert!(manifest.dropped_tail.is_none());
    let levels: Vec<usize> = (0..manifest.version.num_levels())
        .map(|level| manifest.version.files_at(level).len())
        .collect();
    assert!(levels[0] >= 1, "no table on L0: {levels:?}");
    assert!(
        levels[1..].iter().sum::<usize>() >= 1,
        "no table below L0: {levels:?}"
    );
    assert!(manifest.records.len() >= 4, "too few manifest records");
    let last = &manifest.records.last().unwrap().edit;
    assert!(
        last.added.len() == 1
            && last.added[0].0 == 0
            && last.removed.is_empty()
            && last.wal_segment.is_some(),
        "the manifest's last record is not a flush edit: {last:?}"
    );

    let mut files = Vec::new();
    for (_, meta) in manifest.version.all_files() {
        let name = lsm_manifest::table_file_name(meta.number);
        let len = std::fs::metadata(dir.path().join(&name)).unwrap().len();
        files.push(StoreFile {
            name,
            kind: FileKind::Table,
            len,
            records: Vec::new(),
        });
    }

    // WAL segments the store still needs, and which ops they hold.
    let segments: Vec<u64> = list_segments(&fs, dir.path())
        .unwrap()
        .into_iter()
        .filter(|&n| n >= manifest.wal_segment)
        .collect();
    let mut with_records = Vec::new();
    for &number in &segments {
        let path = dir.path().join(segment_file_name(number));
        let contents = read_segment(&fs, &path).unwrap();
        assert_eq!(contents.tail, SegmentTail::Clean, "{}", path.display());
        if let Some(first) = contents.records.first() {
            with_records.push((number, first.first_seq));
        }
        let mut records = vec![0];
        records.extend(contents.records.iter().map(|r| r.offset));
        files.push(StoreFile {
            name: segment_file_name(number),
            kind: FileKind::WalOlder,
            len: contents.file_len,
            records,
        });
    }
    assert!(
        with_records.len() >= 3,
        "only {} WAL segments hold records",
        with_records.len()
    );
    let (newest, newest_first_seq) = *with_records.last().unwrap();
    let newest_file = files
        .iter_mut()
        .find(|f| f.name == segment_file_name(newest))
        .unwrap();
    newest_file.kind = FileKind::WalNewest;
    // Its records end short of the segment size (the file itself may run
    // to it: zeros written ahead of durable appends).
    let newest_contents = read_segment(&fs, &dir.path().join(segment_file_name(newest))).unwrap();
    let newest_data_end = newest_contents
        .records
        .last()
        .map_or(0, |r| r.offset + r.framed_len);
    assert!(
        newest_data_end < WAL_SEGMENT_BYTES,
        "the newest segment is not partly filled"
    );
    let min_prefix = seqs.iter().filter(|&&s| s < newest_first_seq).count();
    assert!(
        min_prefix < ops.len(),
        "the newest segment holds none of the ops"
    );
    // The unflushed memtable: every op after the manifest's last sequence
    // number is only in the WAL.
    assert!(*seqs.last().unwrap() > manifest.last_seq);
    assert_eq!(
        with_records[0].1,
        manifest.last_seq + 1,
        "the oldest needed segment does not continue the tables"
    );

    let manifest_name = manifest.path.file_name().unwrap().to_str().unwrap();
    files.push(StoreFile {
        name: manifest_name.to_string(),
        kind: FileKind::Manifest,
        len: manifest.file_bytes,
        records: manifest.records.iter().map(|r| r.offset).collect(),
    });
    let current_len = std::fs::metadata(dir.path().join(CURRENT_FILE_NAME))
        .unwrap()
        .len();
    files.push(StoreFile {
        name: CURRENT_FILE_NAME.to_string(),
        kind: FileKind::Current,
        len: current_len,
        records: Vec::new(),
    });
    println!(
        "pristine store: {} ops ({} in the newest WAL segment {}), tables per level {:?}, \
         {} manifest records, {} WAL segments with records",
        ops.len(),
        ops.len() - min_prefix,
        segment_file_name(newest),
        levels,
        manifest.records.len(),
        with_records.len()
    );
    Pristine {
        dir,
        ops,
        min_prefix,
        files,
    }
}

// ---------------------------------------------------------------- cases

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    Flip { offset: u64, mask: u8 },
    Truncate { len: u64 },
    Delete,
}

impl Damage {
    fn kind(self) -> &'static str {
        match self {
            Damage::Flip { .. } => "flip",
            Damage::Truncate { .. } => "truncate",
            Damage::Delete => "delete",
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    file: usize,
    damage: Damage,
    /// The damaged directory is a valid store state (the newest segment cut
    /// at a record boundary or deleted): `lsm verify` cannot flag it.
    valid_state: bool,
}

fn case_label(pristine: &Pristine, case: &Case) -> String {
    let name = &pristine.files[case.file].name;
    match case.damage {
        Damage::Flip { offset, mask } => format!("{name} flip byte {offset} ^ {mask:#04x}"),
        Damage::Truncate { len } => format!("{name} truncated to {len} bytes"),
        Damage::Delete => format!("{name} deleted"),
    }
}

/// `n` offsets evenly spaced over `start..end`.
fn spaced(start: u64, end: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| start + (end - start) * (2 * i + 1) / (2 * n))
}

fn cases_for(index: usize, file: &StoreFile) -> Vec<Case> {
    let len = file.len;
    let mut flips = BTreeSet::new();
    let mut cuts = BTreeSet::new();
    let mut clean_cuts = BTreeSet::new();
    flips.insert(0);
    flips.insert(len - 1);
    cuts.insert(0);
    match file.kind {
        FileKind::Table => {
            flips.extend(spaced(0, len - 64, 14));
            flips.extend(spaced(len - 64, len, 8));
            cuts.extend([len / 2, len - 64, len - 1]);
        }
        FileKind::Current => {
            flips.extend(0..len);
            cuts.extend([len / 2, len - 1]);
        }
        FileKind::WalOlder | FileKind::WalNewest | FileKind::Manifest => {
            let samples = if file.kind == FileKind::Manifest {
                16
            } else {
                8
            };
            flips.extend(spaced(0, len, samples));
            // Each record (for a WAL segment, its header record too) from
            // its start to the next one's; the file's end is the last
            // boundary (its byte before is flipped above).
            let mut ends = file.records.clone();
            ends.push(len);
            for pair in ends.windows(2) {
                let (start, end) = (pair[0], pair[1]);
                flips.extend([start.saturating_sub(1), start, start + 1]);
                cuts.extend([start, start + 1, (start + end) / 2]);
                clean_cuts.insert(start);
            }
        }
    }
    let valid_state = |cut: Option<u64>| {
        file.kind == FileKind::WalNewest
            && cut.is_none_or(|cut| cut == 0 || clean_cuts.contains(&cut))
    };
    let mut cases: Vec<Case> = flips
        .into_iter()
        .filter(|&o| o < len)
        .map(|offset| Case {
            file: index,
            damage: Damage::Flip {
                offset,
                mask: if offset % 2 == 0 { 0x01 } else { 0x80 },
            },
            valid_state: false,
        })
        .collect();
    cases.extend(cuts.into_iter().filter(|&c| c < len).map(|c| Case {
        file: index,
        damage: Damage::Truncate { len: c },
        valid_state: valid_state(Some(c)),
    }));
    cases.push(Case {
        file: index,
        damage: Damage::Delete,
        valid_state: valid_state(None),
    });
    cases
}

fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn damage(path: &Path, damage: Damage) {
    match damage {
        Damage::Flip { offset, mask } => {
            let mut bytes = std::fs::read(path).unwrap();
            bytes[offset as usize] ^= mask;
            std::fs::write(path, bytes).unwrap();
        }
        Damage::Truncate { len } => {
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(len).unwrap();
        }
        Damage::Delete => std::fs::remove_file(path).unwrap(),
    }
}

// ---------------------------------------------------------------- running

/// What `lsm verify --all` said about one directory.
#[derive(Debug)]
struct VerifyResult {
    flagged: bool,
    /// Exit status 0 or 1 (anything else is a crash of the tool).
    clean_exit: bool,
    summary: String,
}

fn run_verify(dir: &Path) -> VerifyResult {
    let output = Command::new(env!("CARGO_BIN_EXE_lsm"))
        .arg("verify")
        .arg("--all")
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let marked: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("WARNING") || l.starts_with("FAILED"))
        .collect();
    let code = output.status.code();
    VerifyResult {
        flagged: code != Some(0) || !marked.is_empty(),
        clean_exit: matches!(code, Some(0 | 1)),
        summary: format!(
            "exit {:?}; {}",
            code,
            if marked.is_empty() {
                stdout.lines().last().unwrap_or("").to_string()
            } else {
                marked.join(" | ")
            }
        ),
    }
}

/// An error the child printed.
#[derive(Debug, Clone)]
struct ChildError {
    /// `open`, `range`, `get:<hex key>` or `close`.
    stage: String,
    corruption: bool,
    variant: String,
    text: String,
}

/// What the child printed, parsed.
#[derive(Debug, Default)]
struct ChildReport {
    finished: bool,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    gets: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    errors: Vec<ChildError>,
}

enum ChildRun {
    Report(ChildReport),
    /// Exited without printing its end line (a panic, an abort).
    Crashed {
        status: ExitStatus,
        stderr: String,
    },
    TimedOut,
}

fn run_child(dir: &Path, work: &Path) -> ChildRun {
    let report_path = work.join("child.report");
    let err_path = work.join("child.err");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_DIR_ENV, dir)
        .env(REPORT_ENV, &report_path)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            return ChildRun::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let text = std::fs::read_to_string(&report_path).unwrap_or_default();
    let mut report = ChildReport::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(TAG) else {
            continue;
        };
        let mut parts = rest.trim_start().splitn(2, ' ');
        let what = parts.next().unwrap();
        let rest = parts.next().unwrap_or("");
        match what {
            "end" => report.finished = true,
            "pair" => {
                let (k, v) = rest.split_once(' ').unwrap();
                report.pairs.push((unhex(k), unhex(v)));
            }
            "get" => {
                let (k, v) = rest.split_once(' ').unwrap();
                let v = (v != "-").then(|| unhex(v));
                report.gets.insert(unhex(k), v);
            }
            "error" => {
                let mut fields = rest.splitn(4, ' ');
                let stage = fields.next().unwrap().to_string();
                let corruption = fields.next().unwrap() == "1";
                let variant = fields.next().unwrap().to_string();
                let text = fields.next().unwrap_or("").to_string();
                report.errors.push(ChildError {
                    stage,
                    corruption,
                    variant,
                    text,
                });
            }
            other => panic!("unexpected child line {other:?}"),
        }
    }
    if !report.finished || !status.success() {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(6)..].join(" / ");
        return ChildRun::Crashed {
            status,
            stderr: tail,
        };
    }
    ChildRun::Report(report)
}

// ---------------------------------------------------------------- judging

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Exact,
    TornPrefix,
    CorruptionError,
    /// `MissingCurrent`: a typed error naming the problem.
    TypedError,
    Failure,
}

const OUTCOMES: [Outcome; 5] = [
    Outcome::Exact,
    Outcome::TornPrefix,
    Outcome::CorruptionError,
    Outcome::TypedError,
    Outcome::Failure,
];

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Exact => "exact",
            Outcome::TornPrefix => "torn_prefix",
            Outcome::CorruptionError => "corruption_error",
            Outcome::TypedError => "typed_error",
            Outcome::Failure => "FAILURE",
        }
    }
}

struct Judged {
    outcome: Outcome,
    /// For a failure: its kind (for grouping) and details.
    failure: Option<(String, String)>,
    /// For `corruption_error` and `typed_error`: the error's variant.
    variant: Option<String>,
}

impl Judged {
    fn ok(outcome: Outcome) -> Judged {
        Judged {
            outcome,
            failure: None,
            variant: None,
        }
    }

    fn fail(kind: impl Into<String>, detail: impl Into<String>) -> Judged {
        Judged {
            outcome: Outcome::Failure,
            failure: Some((kind.into(), detail.into())),
            variant: None,
        }
    }
}

fn show_key(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

/// The op a value came from (`key0001@op17:...` -> `op17`).
fn show_value(v: &[u8]) -> String {
    let text = String::from_utf8_lossy(&v[..v.len().min(24)]).into_owned();
    match text.split_once(':') {
        Some((head, _)) => head.to_string(),
        None => format!("{text:?}..."),
    }
}

/// How `got` differs from `want`, by kind, with a few examples.
fn describe_diff(want: &State, got: &State, deleted_ever: &BTreeSet<Vec<u8>>) -> String {
    let mut missing = Vec::new();
    let mut resurrected = Vec::new();
    let mut stale = Vec::new();
    let keys: BTreeSet<&Vec<u8>> = want.keys().chain(got.keys()).collect();
    for k in keys {
        match (want.get(k), got.get(k)) {
            (Some(_), None) => missing.push(show_key(k)),
            (None, Some(v)) => {
                let how = if deleted_ever.contains(k) {
                    "deleted key back"
                } else {
                    "never-written key"
                };
                resurrected.push(format!("{} = {} ({how})", show_key(k), show_value(v)));
            }
            (Some(w), Some(g)) if w != g => stale.push(format!(
                "{} = {} instead of {}",
                show_key(k),
                show_value(g),
                show_value(w)
            )),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    for (what, list) in [
        ("missing", missing),
        ("present but deleted", resurrected),
        ("old/wrong value", stale),
    ] {
        if !list.is_empty() {
            let shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
            parts.push(format!("{} {what} (e.g. {})", list.len(), shown.join(", ")));
        }
    }
    parts.join("; ")
}

/// Classifies what the child read from the store in `dir`, a copy of the
/// pristine store with `damaged` damaged (`None`: the pristine store).
fn judge(pristine: &Pristine, damaged: Option<&StoreFile>, dir: &Path, run: ChildRun) -> Judged {
    let report = match run {
        ChildRun::TimedOut => return Judged::fail("hang", "the child did not finish in time"),
        ChildRun::Crashed { status, stderr } => {
            use std::os::unix::process::ExitStatusExt;
            let kind = if status.signal().is_some() {
                "signal"
            } else {
                "panic"
            };
            return Judged::fail(kind, format!("{status}: {stderr}"));
        }
        ChildRun::Report(report) => report,
    };
    let ops = &pristine.ops;
    let expected = state_after(ops, ops.len());
    let deleted_ever: BTreeSet<Vec<u8>> = ops
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.clone())
        .collect();

    if !report.errors.is_empty() {
        // Whatever was read before or beside the error must be right.
        let mut wrong = Vec::new();
        if let Some((last, _)) = report.pairs.last() {
            let want: Vec<(Vec<u8>, Vec<u8>)> = expected
                .range(..=last.clone())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if want != report.pairs {
                let got: State = report.pairs.iter().cloned().collect();
                let want: State = want.into_iter().collect();
                wrong.push(format!(
                    "range before its error: {}",
                    describe_diff(&want, &got, &deleted_ever)
                ));
            }
        }
        for (k, got) in &report.gets {
            if expected.get(k) != got.as_ref() {
                wrong.push(format!(
                    "get {} = {} instead of {}",
                    show_key(k),
                    got.as_deref().map_or("none".into(), show_value),
                    expected.get(k).map_or("none".into(), |v| show_value(v))
                ));
            }
        }
        let first = &report.errors[0];
        let error_line = format!(
            "{} error ({} errors): {} {}",
            first.stage,
            report.errors.len(),
            first.variant,
            first.text
        );
        if !wrong.is_empty() {
            wrong.truncate(3);
            return Judged::fail(
                "wrong data next to an error",
                format!("{}; then {error_line}", wrong.join("; ")),
            );
        }
        let names: Vec<String> = match damaged.map(|f| f.kind) {
            None => Vec::new(),
            Some(FileKind::Manifest | FileKind::Current) => {
                let manifest = pristine
                    .files
                    .iter()
                    .find(|f| f.kind == FileKind::Manifest)
                    .unwrap();
                vec![
                    dir.join(CURRENT_FILE_NAME).display().to_string(),
                    dir.join(&manifest.name).display().to_string(),
                ]
            }
            Some(_) => damaged
                .map(|f| dir.join(&f.name).display().to_string())
                .into_iter()
                .collect(),
        };
        let mut variant = None;
        for err in &report.errors {
            let names_file = names.iter().any(|n| err.text.contains(n.as_str()));
            let missing_current = damaged.is_some_and(|f| f.kind == FileKind::Current)
                && err.variant.ends_with("MissingCurrent")
                && err.text.contains("CURRENT");
            if missing_current {
                variant = Some(err.variant.clone());
            } else if !err.corruption {
                return Judged::fail(
                    format!("non-corruption error ({})", err.variant),
                    format!("{} error: {} {}", err.stage, err.variant, err.text),
                );
            } else if !names_file {
                return Judged::fail(
                    "corruption error naming another file",
                    format!("{} error: {} {}", err.stage, err.variant, err.text),
                );
            }
        }
        return match variant {
            Some(variant) => Judged {
                variant: Some(variant),
                ..Judged::ok(Outcome::TypedError)
            },
            None => Judged {
                variant: Some(first.variant.clone()),
                ..Judged::ok(Outcome::CorruptionError)
            },
        };
    }

    // No error: range and get must agree, and the state must be the final
    // one or an allowed prefix.
    let ranged: State = report.pairs.iter().cloned().collect();
    if ranged.len() != report.pairs.len() || !report.pairs.windows(2).all(|w| w[0].0 < w[1].0) {
        return Judged::fail("range out of order", "range returned keys out of order");
    }
    let got: State = report
        .gets
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    if ranged != got {
        return Judged::fail(
            "range and get disagree",
            format!(
                "get vs range: {}",
                describe_diff(&ranged, &got, &deleted_ever)
            ),
        );
    }
    if got == expected {
        return Judged::ok(Outcome::Exact);
    }
    // The states after `min_prefix ..= len - 1` ops (`len` is exact).
    let mut state = state_after(ops, pristine.min_prefix);
    for op in &ops[pristine.min_prefix..] {
        if got == state {
            return Judged::ok(Outcome::TornPrefix);
        }
        apply(&mut state, op);
    }
    // A failure: say whether it is at least some (too short) prefix.
    let mut state = State::new();
    let mut prefix = None;
    for (n, op) in ops[..pristine.min_prefix].iter().enumerate() {
        if got == state {
            prefix = Some(n);
        }
        apply(&mut state, op);
    }
    let diff = describe_diff(&expected, &got, &deleted_ever);
    match prefix {
        Some(n) => Judged::fail(
            "lost acknowledged writes (state of an older prefix)",
            format!(
                "the state after {n} of {} ops (at least {} must stay): {diff}",
                ops.len(),
                pristine.min_prefix
            ),
        ),
        None => Judged::fail("holes (not the state after any prefix)", diff),
    }
}

// ---------------------------------------------------------------- the test

struct CaseResult {
    case: Case,
    judged: Judged,
    verify: VerifyResult,
}

#[test]
fn every_damaged_file_gives_the_data_a_torn_tail_or_a_corruption_error() {
    let started = Instant::now();
    let pristine = build_pristine();
    if let Some(keep) = std::env::var_os(KEEP_ENV) {
        copy_store(pristine.dir.path(), Path::new(&keep));
    }

    // The harness itself: the pristine store reads back exactly, and
    // verify calls it clean.
    let work = tempfile::tempdir().unwrap();
    let clean = work.path().join("pristine-copy");
    copy_store(pristine.dir.path(), &clean);
    let verify = run_verify(&clean);
    assert!(
        !verify.flagged,
        "verify flags the pristine store: {verify:?}"
    );
    let judged = judge(&pristine, None, &clean, run_child(&clean, work.path()));
    assert_eq!(
        judged.outcome,
        Outcome::Exact,
        "the pristine store does not read back: {:?}",
        judged.failure
    );

    let cases: Vec<Case> = pristine
        .files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| cases_for(i, f))
        .collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(cases.len()));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let case_dir = work.path().join(format!("case-{i}"));
                let verify_dir = case_dir.join("verify");
                let open_dir = case_dir.join("open");
                let name = &pristine.files[case.file].name;
                for dir in [&verify_dir, &open_dir] {
                    copy_store(pristine.dir.path(), dir);
                    damage(&dir.join(name), case.damage);
                }
                let verify = run_verify(&verify_dir);
                let run = run_child(&open_dir, &case_dir);
                let damaged = &pristine.files[case.file];
                let judged = judge(&pristine, Some(damaged), &open_dir, run);
                std::fs::remove_dir_all(&case_dir).unwrap();
                results.lock().unwrap().push(CaseResult {
                    case: case.clone(),
                    judged,
                    verify,
                });
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| (r.case.file, format!("{:?}", r.case.damage)));

    // The count table.
    let kinds = [
        FileKind::Table,
        FileKind::WalOlder,
        FileKind::WalNewest,
        FileKind::Manifest,
        FileKind::Current,
    ];
    let mut table = String::new();
    write!(table, "{:<22} {:>6}", "file kind", "cases").unwrap();
    for o in OUTCOMES {
        write!(table, " {:>16}", o.label()).unwrap();
    }
    writeln!(table, " {:>15} {:>14}", "verify flagged", "verify missed").unwrap();
    let mut verify_failures = Vec::new();
    let row = |label: &str, rows: &[&CaseResult], table: &mut String| {
        write!(table, "{label:<22} {:>6}", rows.len()).unwrap();
        for o in OUTCOMES {
            let n = rows.iter().filter(|r| r.judged.outcome == o).count();
            write!(table, " {n:>16}").unwrap();
        }
        let flagged = rows.iter().filter(|r| r.verify.flagged).count();
        let missed = rows
            .iter()
            .filter(|r| needs_flag(r) && !r.verify.flagged)
            .count();
        writeln!(table, " {flagged:>15} {missed:>14}").unwrap();
    };
    for kind in kinds {
        let rows: Vec<&CaseResult> = results
            .iter()
            .filter(|r| pristine.files[r.case.file].kind == kind)
            .collect();
        row(kind.label(), &rows, &mut table);
    }
    let all: Vec<&CaseResult> = results.iter().collect();
    row("total", &all, &mut table);
    let mut variants: BTreeMap<(Outcome, String), usize> = BTreeMap::new();
    for r in &results {
        if let Some(v) = &r.judged.variant {
            *variants.entry((r.judged.outcome, v.clone())).or_default() += 1;
        }
    }
    writeln!(table, "errors by variant:").unwrap();
    for ((outcome, variant), n) in &variants {
        writeln!(table, "  {:<16} {variant:<40} {n}", outcome.label()).unwrap();
    }
    let exempt = results
        .iter()
        .filter(|r| r.case.valid_state && !r.verify.flagged)
        .count();
    writeln!(
        table,
        "verify: {exempt} unflagged cases leave a valid store state (the newest WAL segment \
         cut at a record boundary or deleted) and are not counted as missed"
    )
    .unwrap();

    // Every case, on request (for checking the classification by hand).
    if std::env::var_os(VERBOSE_ENV).is_some() {
        for r in &results {
            let detail = match (&r.judged.failure, &r.judged.variant) {
                (Some((kind, detail)), _) => format!("{kind}: {detail}"),
                (None, Some(variant)) => variant.clone(),
                (None, None) => String::new(),
            };
            println!(
                "case {:<45} {:<16} verify {:<7} {detail:.200} | verify: {:.160}",
                case_label(&pristine, &r.case),
                r.judged.outcome.label(),
                if r.verify.flagged { "flagged" } else { "clean" },
                r.verify.summary
            );
        }
    }

    // Failures, grouped.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &results {
        let file = &pristine.files[r.case.file];
        let label = case_label(&pristine, &r.case);
        if let Some((kind, detail)) = &r.judged.failure {
            let key = format!(
                "store: {kind}: {} {}",
                file.kind.label(),
                r.case.damage.kind()
            );
            groups
                .entry(key)
                .or_default()
                .push(format!("{label}: {detail}"));
        }
        if needs_flag(r) && !r.verify.flagged {
            let key = format!(
                "verify did not flag a {} case: {} {}",
                r.judged.outcome.label(),
                file.kind.label(),
                r.case.damage.kind()
            );
            verify_failures.push(label.clone());
            groups
                .entry(key)
                .or_default()
                .push(format!("{label}: verify said {}", r.verify.summary));
        }
        if !r.verify.clean_exit {
            groups
                .entry(format!("verify crashed: {}", file.kind.label()))
                .or_default()
                .push(format!("{label}: {}", r.verify.summary));
        }
    }
    let elapsed = started.elapsed();
    println!("{table}");
    println!(
        "{} cases in {:.1} s ({workers} workers)",
        results.len(),
        elapsed.as_secs_f64()
    );
    if !groups.is_empty() {
        let mut text = String::new();
        for (kind, list) in &groups {
            writeln!(text, "{} x {kind}", list.len()).unwrap();
            for item in list {
                writeln!(text, "    {item}").unwrap();
            }
        }
        writeln!(text, "summary:").unwrap();
        for (kind, list) in &groups {
            writeln!(text, "  {:>4}  {kind}", list.len()).unwrap();
        }
        let total: usize = groups.values().map(Vec::len).sum();
        panic!(
            "{total} failures in {} damage cases ({} store outcomes, {} verify misses):\n{table}\n{text}",
            results.len(),
            results
                .iter()
                .filter(|r| r.judged.outcome == Outcome::Failure)
                .count(),
            verify_failures.len()
        );
    }
}

/// `lsm verify` must flag this case: its outcome is not `exact` and the
/// damaged directory is not itself a valid store state.
fn needs_flag(r: &CaseResult) -> bool {
    r.judged.outcome != Outcome::Exact && !r.case.valid_state
}
