//! Entries committed per second through a real one-node openraft `Raft`:
//! `client_write` of 100-byte-payload puts from 1 and from 8 concurrent
//! proposer tasks (tokio multi-thread runtime, 2 workers). On one node a
//! `client_write` returns once its entry is committed and applied, and
//! committing needs the log append's `IOFlushed` callback, so every entry
//! counted was made durable (on `lsm_raft`: fsynced, the flusher sharing
//! one fsync between the appends queued behind it).
//!
//! The ceiling: the same two cases over openraft's own in-memory store
//! (`openraft-memstore`, no persistence; its callback fires at once).
//! Snapshots are off for both (`SnapshotPolicy::Never`) so that only the
//! write path is measured.
//!
//! `cargo bench -p lsm-raft --bench proposers -- --warm-up-time 1 --measurement-time 5`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use lsm_raft::{KvConfig, KvRequest};
use openraft::errors::{RPCError, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::RaftStateMachine;
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::{Config, Raft, RaftTypeConfig, SnapshotPolicy};
use tokio::runtime::Runtime;

const PAYLOAD: usize = 100;

/// A network with no peers: one node never calls it. `S` is the state
/// machine's snapshot data type, which openraft requires the network to
/// share.
struct NoPeers<S>(PhantomData<fn() -> S>);

impl<C, S> RaftNetworkFactory<C> for NoPeers<S>
where
    C: RaftTypeConfig,
    S: Send + 'static,
{
    type Network = NoPeers<S>;
    async fn new_client(&mut self, _target: C::NodeId, _node: &C::Node) -> NoPeers<S> {
        NoPeers(PhantomData)
    }
}

impl<C, S> RaftNetworkV2<C> for NoPeers<S>
where
    C: RaftTypeConfig,
    S: Send + 'static,
{
    type SnapshotData = S;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<C>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        Err(RPCError::Unreachable(Unreachable::from_string("no peers")))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<C>,
        _option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        Err(RPCError::Unreachable(Unreachable::from_string("no peers")))
    }

    async fn full_snapshot(
        &mut self,
        _vote: VoteOf<C>,
        _snapshot: SnapshotOf<C, S>,
        _cancel: impl std::future::Future<Output = openraft::errors::ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        Err(StreamingError::Unreachable(Unreachable::from_string(
            "no peers",
        )))
    }
}

fn config() -> Arc<Config> {
    Arc::new(
        Config {
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            snapshot_policy: SnapshotPolicy::Never,
            ..Default::default()
        }
        .validate()
        .unwrap(),
    )
}

/// Initializes `raft` as the one member of its cluster, waits for it to
/// lead and for its first write to succeed (a new leader refuses writes
/// until its lease is established).
async fn lead<C, SM>(raft: &Raft<C, SM>, node: C::Node, probe: C::D)
where
    C: RaftTypeConfig<NodeId = u64>,
    C::D: Clone,
    SM: RaftStateMachine<C>,
{
    raft.initialize(BTreeMap::from([(1u64, node)]))
        .await
        .unwrap();
    raft.wait(Some(Duration::from_secs(10)))
        .current_leader(1, "leader")
        .await
        .unwrap();
    for _ in 0..500 {
        if raft.client_write(probe.clone()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the leader never accepted a write");
}

/// Benchmarks `client_write` from 1 and from 8 proposers: each criterion
/// batch of `iters` entries is split between the proposers, every one
/// awaiting its writes one after another.
fn proposers<C, SM>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    store: &str,
    raft: &Raft<C, SM>,
    request: fn(proposer: u64, serial: u64) -> C::D,
) where
    C: RaftTypeConfig,
    SM: RaftStateMachine<C>,
{
    let mut serial = 0u64;
    for n in [1u64, 8] {
        group.bench_function(format!("{store}/{n}_proposers"), |b| {
            b.iter_custom(|iters| {
                let first = serial;
                serial += iters;
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..n)
                        .map(|p| {
                            let raft = raft.clone();
                            // Proposer p writes serials first+p, first+p+n, ...
                            let serials = (first + p..first + iters).step_by(n as usize);
                            tokio::spawn(async move {
                                for s in serials {
                                    raft.client_write(request(p, s)).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
}

fn kv_put(_proposer: u64, serial: u64) -> KvRequest {
    KvRequest::Put {
        key: serial.to_be_bytes().to_vec(),
        value: vec![b'v'; PAYLOAD],
    }
}

fn mem_put(proposer: u64, serial: u64) -> openraft_memstore::ClientRequest {
    openraft_memstore::ClientRequest {
        client: proposer.to_string(),
        serial,
        status: "v".repeat(PAYLOAD),
    }
}

fn bench_proposers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("raft_client_write");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));

    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let raft = rt.block_on(async {
        let (log, sm) = lsm_raft::open::<KvConfig>(dir.path()).unwrap();
        let raft = Raft::new(1, config(), NoPeers(PhantomData), log, sm)
            .await
            .unwrap();
        lead(&raft, Default::default(), kv_put(0, u64::MAX)).await;
        raft
    });
    proposers(&mut group, &rt, "lsm", &raft, kv_put);
    rt.block_on(raft.shutdown()).unwrap();
    drop(raft);

    let raft = rt.block_on(async {
        let (log, sm) = openraft_memstore::new_mem_store();
        let raft = Raft::new(1, config(), NoPeers(PhantomData), log, sm)
            .await
            .unwrap();
        lead(&raft, (), mem_put(0, u64::MAX)).await;
        raft
    });
    proposers(&mut group, &rt, "memstore", &raft, mem_put);
    rt.block_on(raft.shutdown()).unwrap();
    group.finish();
}

criterion_group!(benches, bench_proposers);
criterion_main!(benches);
