//! A three-node openraft cluster in one process, each node on its own
//! `lsm-raft` store, talking over an in-memory "network" (direct calls
//! into the other nodes' `Raft` handles). Writes go through the leader;
//! node 3 is stopped and misses writes, is restarted from its store
//! directory and catches up: by log replication, or by installing the
//! leader's snapshot where the leader already purged the log it missed (the
//! output prints the leader's snapshot and purge point, and node 3's, so you
//! can see which happened).
//!
//! `cargo run -p lsm-raft --example cluster`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lsm_raft::{KvConfig, KvRequest, LsmStateMachine, SnapshotData, StateReader};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{RPCError, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::Snapshot;
use openraft::type_config::alias::VoteOf;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};

type C = KvConfig;
type Node = Raft<C, LsmStateMachine<C>>;

/// Every running node, by id: the in-memory network.
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Node>>>,
}

struct Connection {
    router: Router,
    target: u64,
}

impl Connection {
    fn node(&self) -> Result<Node, Unreachable<C>> {
        self.router
            .nodes
            .lock()
            .unwrap()
            .get(&self.target)
            .cloned()
            .ok_or_else(|| Unreachable::from_string(format!("node {} is down", self.target)))
    }
}

impl RaftNetworkFactory<C> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection {
            router: self.clone(),
            target,
        }
    }
}

impl RaftNetworkV2<C> for Connection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let node = self.node()?;
        node.append_entries(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        _option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        let node = self.node()?;
        node.vote(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: Snapshot<
            openraft::type_config::alias::CommittedLeaderIdOf<C>,
            u64,
            BasicNode,
            SnapshotData,
        >,
        _cancel: impl std::future::Future<Output = openraft::errors::ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let node = self.node()?;
        node.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))
    }
}

fn config() -> Arc<Config> {
    Arc::new(
        Config {
            heartbeat_interval: 100,
            election_timeout_min: 300,
            election_timeout_max: 600,
            // Snapshot often and keep no log behind it, so a node that was
            // down must catch up through a snapshot.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(50),
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .unwrap(),
    )
}

/// Opens node `id` on the store in `dir` and puts it on the network.
async fn start(router: &Router, id: u64, dir: &Path) -> (Node, StateReader) {
    // A stopped node's store is closed once the last handle inside its
    // `Raft` is dropped; wait for that.
    let started = Instant::now();
    let (log, sm) = loop {
        match lsm_raft::open::<C>(dir) {
            Ok(pair) => break pair,
            Err(lsm_raft::Error::Store(e)) if e.is_locked() && started.elapsed().as_secs() < 10 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("opening node {id}: {e}"),
        }
    };
    let reader = sm.reader();
    let raft = Raft::new(id, config(), router.clone(), log, sm)
        .await
        .unwrap();
    router.nodes.lock().unwrap().insert(id, raft.clone());
    (raft, reader)
}

async fn write(leader: &Node, from: u64, to: u64) {
    for i in from..to {
        let request = KvRequest::Put {
            key: format!("key{i:05}").into_bytes(),
            value: format!("value{i}").into_bytes(),
        };
        // A new leader refuses writes until its lease is established.
        let mut tries = 0;
        while let Err(err) = leader.client_write(request.clone()).await {
            tries += 1;
            assert!(tries < 200, "write {i} failed: {err}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let router = Router::default();
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        nodes.insert(id, start(&router, id, dirs[id as usize - 1].path()).await);
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    nodes[&1].0.initialize(members).await.unwrap();
    let metrics = nodes[&1]
        .0
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .unwrap();
    let leader_id = metrics.current_leader.unwrap();
    println!("leader: node {leader_id}");
    let follower = (1..=3).rev().find(|&id| id != leader_id).unwrap();
    let leader = nodes[&leader_id].0.clone();

    write(&leader, 0, 100).await;
    println!("wrote 100 keys through the leader");

    println!("stopping node {follower}");
    let (stopped, _) = nodes.remove(&follower).unwrap();
    router.nodes.lock().unwrap().remove(&follower);
    stopped.shutdown().await.unwrap();
    drop(stopped);

    write(&leader, 100, 300).await;
    let metrics = leader.metrics().borrow_watched().clone();
    let applied = metrics.last_applied.unwrap().index;
    let snapshot = metrics.snapshot;
    let purged = metrics.purged;
    println!(
        "wrote 200 more keys while node {follower} was down; leader applied {applied}, snapshot at {snapshot:?}, purged up to {purged:?}"
    );

    println!("restarting node {follower} from its store directory");
    let (restarted, reader) = start(&router, follower, dirs[follower as usize - 1].path()).await;
    let started = Instant::now();
    restarted
        .wait(Some(Duration::from_secs(20)))
        .applied_index_at_least(Some(applied), "caught up")
        .await
        .unwrap();
    let caught_up = restarted.metrics().borrow_watched().clone();
    println!(
        "node {follower} caught up to index {applied} in {:?} (its snapshot: {:?}, purged up to {:?})",
        started.elapsed(),
        caught_up.snapshot,
        caught_up.purged,
    );
    for i in [0u64, 150, 299] {
        let value = reader.get(format!("key{i:05}").as_bytes()).unwrap();
        assert_eq!(value, Some(format!("value{i}").into_bytes()));
    }
    println!("node {follower} reads key00000, key00150 and key00299 from its own store");

    for (_, (raft, _)) in nodes {
        raft.shutdown().await.unwrap();
    }
    restarted.shutdown().await.unwrap();
}
