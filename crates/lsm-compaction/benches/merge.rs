//! Merge throughput: four sorted inputs of 50k entries each, merged and
//! passed through the version filter, as a compaction does.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsm_compaction::{BoxedIterator, EntryFilter, MergingIterator};
use lsm_core::{parse_internal_key, InternalIterator, InternalKey, ValueKind, VecCursor};

const PER_INPUT: u64 = 50_000;
const INPUTS: u64 = 4;

fn inputs() -> Vec<VecCursor> {
    (0..INPUTS)
        .map(|input| {
            let entries = (0..PER_INPUT)
                .map(|i| {
                    // Overlapping key ranges with distinct seqnos per input.
                    let key = format!("key{:010}", i * 3 + input);
                    let seq = 1 + input * PER_INPUT + i;
                    (
                        InternalKey::new(key.as_bytes(), seq, ValueKind::Put).into_bytes(),
                        vec![b'v'; 100],
                    )
                })
                .collect();
            VecCursor::new(entries)
        })
        .collect()
}

fn bench_merge(c: &mut Criterion) {
    let prepared = inputs();
    let mut group = c.benchmark_group("compaction");
    group.throughput(Throughput::Elements(PER_INPUT * INPUTS));
    group.bench_function("merge_filter_4x50k", |b| {
        b.iter(|| {
            let children: Vec<BoxedIterator> = prepared
                .iter()
                .map(|c| Box::new(c.clone()) as BoxedIterator)
                .collect();
            let mut merge = MergingIterator::new(children);
            let mut filter = EntryFilter::new(Vec::new());
            let mut kept = 0u64;
            merge.seek_to_first().unwrap();
            while merge.valid() {
                let parsed = parse_internal_key(merge.key()).unwrap();
                if filter.keep(&parsed, |_| false) {
                    kept += 1;
                }
                merge.next().unwrap();
            }
            black_box(kept)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_merge
}
criterion_main!(benches);
