//! Log entries appended per second with durable callbacks: one append
//! awaited at a time (one fsync each, at best), and 64 appends queued
//! before their callbacks are awaited (the flusher shares fsyncs).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsm_raft::{KvConfig, KvRequest};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::alias::EntryOf;
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use openraft::{LogId, RaftTypeConfig};

type C = KvConfig;

fn entry(index: u64) -> EntryOf<C> {
    EntryOf::<C>::new_normal(
        LogId::new(<C as RaftTypeConfig>::LeaderId::new_committed(1, 0), index),
        KvRequest::Put {
            key: index.to_be_bytes().to_vec(),
            value: vec![b'v'; 100],
        },
    )
}

fn bench_append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = lsm_raft::open::<C>(dir.path()).unwrap();
    let mut next = 0u64;
    let mut group = c.benchmark_group("raft_append");
    group.sample_size(20);

    group.throughput(Throughput::Elements(1));
    group.bench_function("1_entry_awaited_each", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, rx) = C::oneshot();
                log.append([entry(next)], IOFlushed::signal(tx))
                    .await
                    .unwrap();
                next += 1;
                rx.await.unwrap().unwrap();
            })
        })
    });

    group.throughput(Throughput::Elements(64));
    group.bench_function("64_appends_queued_then_awaited", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut waiting = Vec::with_capacity(64);
                for _ in 0..64 {
                    let (tx, rx) = C::oneshot();
                    log.append([entry(next)], IOFlushed::signal(tx))
                        .await
                        .unwrap();
                    next += 1;
                    waiting.push(rx);
                }
                for rx in waiting {
                    rx.await.unwrap().unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
