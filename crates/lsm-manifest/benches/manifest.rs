//! Benchmarks for the catalog: edit encode/decode, version apply and
//! lookups, and a logged (fsynced) edit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use lsm_core::{InternalKey, OsFileSystem, ValueKind};
use lsm_manifest::{FileMeta, Manifest, Version, VersionEdit};

const LEVELS: usize = 7;

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

/// Table `number` covering keys `[lo, hi]`.
fn table(number: u64, lo: u64, hi: u64) -> FileMeta {
    FileMeta {
        number,
        file_bytes: 2 << 20,
        smallest: InternalKey::new(&key(lo), number, ValueKind::Put),
        largest: InternalKey::new(&key(hi), number, ValueKind::Put),
        min_seq: number,
        max_seq: number,
        entries: 20_000,
        tombstones: 100,
    }
}

/// A version shaped like a mid-sized store: 4 L0 tables, 1000 tables
/// spread over L1..L3 with disjoint ranges.
fn big_version() -> Version {
    let mut edit = VersionEdit::default();
    let mut number = 1;
    for _ in 0..4 {
        edit.added.push((0, table(number, 0, 1_000_000)));
        number += 1;
    }
    for (level, count) in [(1usize, 10u64), (2, 90), (3, 900)] {
        let width = 1_000_000 / count;
        for i in 0..count {
            edit.added
                .push((level, table(number, i * width, i * width + width - 1)));
            number += 1;
        }
    }
    Version::new(LEVELS).apply(&edit).unwrap()
}

fn bench_edit_coding(c: &mut Criterion) {
    let snapshot = big_version().to_snapshot_edit();
    let mut encoded = Vec::new();
    snapshot.encode(&mut encoded);
    let mut group = c.benchmark_group("version_edit");
    group.throughput(criterion::Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode_snapshot_1004_tables", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(encoded.len());
            snapshot.encode(&mut out);
            out
        })
    });
    group.bench_function("decode_snapshot_1004_tables", |b| {
        b.iter(|| VersionEdit::decode(black_box(&encoded)).unwrap())
    });
    group.finish();
}

fn bench_version(c: &mut Criterion) {
    let version = big_version();
    // An L0 compaction-sized edit: two L0 tables out, one in.
    let compaction = VersionEdit {
        removed: vec![(0, 1), (0, 2)],
        added: vec![(0, table(5000, 0, 10))],
        ..VersionEdit::default()
    };
    let mut group = c.benchmark_group("version");
    group.bench_function("apply_small_edit_to_1004_tables", |b| {
        b.iter(|| version.apply(black_box(&compaction)).unwrap())
    });
    let probe = key(543_210);
    group.bench_function("files_for_key_all_levels", |b| {
        b.iter(|| {
            (0..LEVELS)
                .map(|level| version.files_for_key(level, black_box(&probe)).count())
                .sum::<usize>()
        })
    });
    let (lo, hi) = (key(100_000), key(130_000));
    group.bench_function("overlapping_files_l3", |b| {
        b.iter(|| version.overlapping_files(3, black_box(&lo), black_box(&hi)))
    });
    group.finish();
}

fn bench_log_and_apply(c: &mut Criterion) {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let (mut manifest, _) = Manifest::open(OsFileSystem::shared(), dir.path(), LEVELS).unwrap();
    let mut group = c.benchmark_group("manifest");
    group.sample_size(20);
    // Each edit adds a table and removes the previous one, so the version
    // stays one table big and the figure is the append + fsync.
    let mut previous = None;
    group.bench_function("log_and_apply_flush_edit_fsync", |b| {
        b.iter(|| -> Arc<Version> {
            let number = manifest.new_file_number();
            let edit = VersionEdit {
                added: vec![(0, table(number, 0, 1000))],
                removed: previous
                    .replace(number)
                    .map(|p| (0, p))
                    .into_iter()
                    .collect(),
                last_seq: Some(number),
                ..VersionEdit::default()
            };
            manifest.log_and_apply(edit).unwrap()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_edit_coding,
    bench_version,
    bench_log_and_apply
);
criterion_main!(benches);
