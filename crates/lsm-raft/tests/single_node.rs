//! A real one-node openraft `Raft` on the store: the sample request
//! type's responses come back through `client_write`, and a restarted
//! node recovers its state machine and log from the directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lsm_raft::{KvConfig, KvOp, KvRequest, KvResponse, LsmStateMachine, SnapshotData};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{RPCError, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::{BasicNode, Config, Raft};

type C = KvConfig;

/// A network with no peers: one node never calls it.
struct NoPeers;

impl RaftNetworkFactory<C> for NoPeers {
    type Network = NoPeers;
    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoPeers {
        NoPeers
    }
}

impl RaftNetworkV2<C> for NoPeers {
    type SnapshotData = SnapshotData;

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
        _snapshot: SnapshotOf<C, SnapshotData>,
        _cancel: impl std::future::Future<Output = openraft::errors::ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        Err(StreamingError::Unreachable(Unreachable::from_string(
            "no peers",
        )))
    }
}

async fn start(dir: &std::path::Path) -> (Raft<C, LsmStateMachine<C>>, lsm_raft::StateReader) {
    let config = Arc::new(
        Config {
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            ..Default::default()
        }
        .validate()
        .unwrap(),
    );
    // The previous node's store closes once its `Raft` dropped every handle.
    let mut tries = 0;
    let (log, sm) = loop {
        match lsm_raft::open::<C>(dir) {
            Ok(pair) => break pair,
            Err(lsm_raft::Error::Store(e)) if e.is_locked() && tries < 500 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let reader = sm.reader();
    let raft = Raft::new(1, config, NoPeers, log, sm).await.unwrap();
    (raft, reader)
}

async fn write(raft: &Raft<C, LsmStateMachine<C>>, request: KvRequest) -> KvResponse {
    // A new leader refuses writes until its lease is established.
    for _ in 0..200 {
        match raft.client_write(request.clone()).await {
            Ok(response) => return response.data,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("{request} never succeeded");
}

fn put(key: &str, value: &str) -> KvRequest {
    KvRequest::Put {
        key: key.into(),
        value: value.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_applies_put_delete_batch_and_recovers_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (raft, reader) = start(dir.path()).await;
    let members = BTreeMap::from([(1u64, BasicNode::default())]);
    raft.initialize(members).await.unwrap();

    let previous = |p: Option<&str>| KvResponse {
        previous: p.map(Into::into),
        refused: None,
    };
    assert_eq!(write(&raft, put("a", "1")).await, previous(None));
    assert_eq!(write(&raft, put("a", "2")).await, previous(Some("1")));
    assert_eq!(
        write(&raft, KvRequest::Delete { key: "a".into() }).await,
        previous(Some("2"))
    );
    let batch = KvRequest::Batch(vec![
        KvOp::Put {
            key: "b".into(),
            value: "3".into(),
        },
        KvOp::Put {
            key: "c".into(),
            value: "4".into(),
        },
        KvOp::Delete { key: "b".into() },
    ]);
    assert_eq!(write(&raft, batch).await, previous(None));
    assert_eq!(reader.get(b"a").unwrap(), None);
    assert_eq!(reader.get(b"b").unwrap(), None, "later op in a batch wins");
    assert_eq!(reader.get(b"c").unwrap(), Some(b"4".to_vec()));
    let applied = raft.metrics().borrow_watched().last_applied;

    raft.shutdown().await.unwrap();
    drop(raft);
    drop(reader);

    let (raft, reader) = start(dir.path()).await;
    raft.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(applied.map(|id| id.index), "recovered")
        .await
        .unwrap();
    assert_eq!(reader.get(b"c").unwrap(), Some(b"4".to_vec()));
    assert_eq!(write(&raft, put("c", "5")).await, previous(Some("4")));
    raft.shutdown().await.unwrap();
}

/// A request the state machine cannot hold (a key one byte longer than it
/// stores, or a batch with such a key) is committed, refused in its
/// response with nothing of it applied, and the node restarts: before,
/// its apply failed as a storage error, the node stopped, and every
/// restart applied the same entry and stopped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_key_too_long_to_store_is_refused_and_the_node_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (raft, reader) = start(dir.path()).await;
    let members = BTreeMap::from([(1u64, BasicNode::default())]);
    raft.initialize(members).await.unwrap();
    let too_long = vec![b'k'; lsm_raft::StagedWrites::MAX_KEY_BYTES + 1];
    let longest = vec![b'k'; lsm_raft::StagedWrites::MAX_KEY_BYTES];

    let refused = write(
        &raft,
        KvRequest::Put {
            key: too_long.clone(),
            value: b"v".to_vec(),
        },
    )
    .await;
    assert!(refused.refused.unwrap().contains("exceeds the limit"));
    let batch = KvRequest::Batch(vec![
        KvOp::Put {
            key: b"a".to_vec(),
            value: b"1".to_vec(),
        },
        KvOp::Delete { key: too_long },
    ]);
    assert!(write(&raft, batch).await.refused.is_some());
    assert_eq!(
        reader.get(b"a").unwrap(),
        None,
        "a refused batch applies nothing"
    );
    let stored = write(
        &raft,
        KvRequest::Put {
            key: longest.clone(),
            value: b"v".to_vec(),
        },
    )
    .await;
    assert_eq!(stored.refused, None, "the longest key is stored");
    let applied = raft.metrics().borrow_watched().last_applied;

    raft.shutdown().await.unwrap();
    drop(raft);
    drop(reader);
    let (raft, reader) = start(dir.path()).await;
    raft.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(applied.map(|id| id.index), "restarted")
        .await
        .unwrap();
    assert_eq!(reader.get(&longest).unwrap(), Some(b"v".to_vec()));
    assert_eq!(write(&raft, put("after", "1")).await.refused, None);
    raft.shutdown().await.unwrap();
}
