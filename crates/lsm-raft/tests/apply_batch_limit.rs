//! `apply` and the store's 128 MiB write-batch limit: whether an entry
//! applies depends on the entry alone, never on how openraft grouped the
//! entries of an `apply` call; an entry whose writes cannot fit one batch
//! is refused by `StagedWrites` (the same on every node), never a failed
//! `apply` that stops the node and meets the entry again at every restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;

use futures_util::stream;
use lsm_raft::{KvOp, KvRequest, StagedWrites};
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::type_config::alias::EntryOf;
use openraft::vote::RaftLeaderIdExt;

const MIB: u32 = 1024 * 1024;

/// Puts `n` keys of `size`-byte values: a small entry staging much.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    n: u32,
    size: u32,
}

impl std::fmt::Display for Fill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fill {} x {}", self.n, self.size)
    }
}

openraft::declare_raft_types!(pub Filler: D = Fill, R = bool);

fn fill_key(index: u64, i: u32) -> Vec<u8> {
    format!("k{index}-{i}").into_bytes()
}

fn refused_key(index: u64) -> Vec<u8> {
    format!("refused-{index}").into_bytes()
}

impl lsm_raft::LsmApp for Filler {
    fn apply(entry: &Self::Entry, state: &mut StagedWrites<'_>) -> std::io::Result<bool> {
        let openraft::EntryPayload::Normal(fill) = &entry.payload else {
            return Ok(false);
        };
        let index = entry.log_id.index;
        let value = vec![7u8; fill.size as usize];
        for i in 0..fill.n {
            // Each key and value is within the per-write limits; only the
            // entry's total can be refused.
            if let Err(err) = state.put(&fill_key(index, i), &value) {
                // Refused: the puts staged so far stay (this app does not
                // `discard` them), and the refusal is recorded in the
                // state, so the test sees what every node would answer.
                state
                    .put(&refused_key(index), err.to_string().as_bytes())
                    .unwrap();
                return Ok(false);
            }
        }
        Ok(true)
    }
}

type FSm = lsm_raft::LsmStateMachine<Filler>;

fn fill_entry(index: u64, n: u32, size: u32) -> EntryOf<Filler> {
    EntryOf::<Filler>::new_normal(
        openraft::LogId::new(
            <Filler as openraft::RaftTypeConfig>::LeaderId::new_committed(1, 0),
            index,
        ),
        Fill { n, size },
    )
}

/// The two ways to hand `entries` to `apply` that the tests compare.
const GROUPINGS: [&str; 2] = ["one apply call", "one apply call per entry"];

/// Applies `entries` grouped as `grouping` says.
async fn apply_grouped(
    sm: &mut FSm,
    entries: Vec<EntryOf<Filler>>,
    grouping: &str,
) -> std::io::Result<()> {
    let groups = match grouping {
        "one apply call" => vec![entries],
        _ => entries.into_iter().map(|e| vec![e]).collect(),
    };
    for group in groups {
        let items = group.into_iter().map(|e| Ok((e, None)));
        sm.apply(stream::iter(items)).await?;
    }
    Ok(())
}

/// What the state machine holds of the `(index, n)` fill entries: per
/// entry, the bytes of its values stored, and whether it was refused.
fn summary(sm: &FSm, entries: &[(u64, u32)]) -> Vec<(u64, usize, bool)> {
    entries
        .iter()
        .map(|&(index, n)| {
            let bytes = (0..n)
                .filter_map(|i| sm.get(&fill_key(index, i)).unwrap())
                .map(|v| v.len())
                .sum();
            let refused = sm.get(&refused_key(index)).unwrap().is_some();
            (index, bytes, refused)
        })
        .collect()
}

fn open_filler(dir: &Path) -> (lsm_raft::LsmLogStore<Filler>, FSm) {
    lsm_raft::open_with_config::<Filler>(common::config(dir)).unwrap()
}

/// 31 MiB, then 97 MiB: each fits a batch alone. Before the fix the
/// crate merged them into one 128+ MiB batch when openraft handed both to
/// one `apply` (it committed only once 32 MiB were staged *after* an
/// entry), so `apply` failed with BatchTooLarge there and succeeded with
/// one call per entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_fit_alone_apply_however_they_are_grouped() {
    let shape = [(1, 1), (2, 97)];
    let expected = vec![(1, 31 * MIB as usize, false), (2, 97 * MIB as usize, false)];
    for grouping in GROUPINGS {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm) = open_filler(dir.path());
        let entries = vec![fill_entry(1, 1, 31 * MIB), fill_entry(2, 97, MIB)];
        let r = apply_grouped(&mut sm, entries, grouping).await;
        assert!(r.is_ok(), "{grouping}: apply failed: {r:?}");
        assert_eq!(summary(&sm, &shape), expected, "{grouping}");
        assert_eq!(sm.applied_state().await.unwrap().0.unwrap().index, 2);
    }
}

/// One entry staging 5 x 30 MiB: its fifth put is refused
/// (`EntryTooLarge`; the app keeps the four staged before it), alike
/// whether it is applied alone or between other entries of the same call;
/// the entries around it apply, and a restart finds the same state
/// (nothing left to fail at every restart). Before the fix every put was
/// accepted and `apply` failed with BatchTooLarge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_over_the_limit_is_refused_alike_alone_or_grouped() {
    let shape = [(1, 2), (2, 5), (3, 2)];
    let expected = vec![
        (1, 2 * MIB as usize, false),
        (2, 4 * 30 * MIB as usize, true),
        (3, 2 * MIB as usize, false),
    ];
    for grouping in GROUPINGS {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut sm) = open_filler(dir.path());
        let entries = vec![
            fill_entry(1, 2, MIB),
            fill_entry(2, 5, 30 * MIB),
            fill_entry(3, 2, MIB),
        ];
        let r = apply_grouped(&mut sm, entries, grouping).await;
        assert!(r.is_ok(), "{grouping}: apply failed: {r:?}");
        assert_eq!(summary(&sm, &shape), expected, "{grouping}");
        assert_eq!(sm.applied_state().await.unwrap().0.unwrap().index, 3);
        drop(sm);
        log.close().unwrap();
        let (_log, sm) = open_filler(dir.path());
        assert_eq!(summary(&sm, &shape), expected, "{grouping}, reopened");
        let why = sm.get(&refused_key(2)).unwrap().unwrap();
        let why = String::from_utf8(why).unwrap();
        assert!(why.contains("over the limit of 134217716"), "{why}");
    }
}

/// The sample `KvConfig`: a batch request whose writes pass the entry
/// limit is refused whole (what it staged before the refusal discarded),
/// not a failed `apply`. Such an entry cannot come through the log (a log
/// entry is at most 32 MiB), only through `apply` directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_batch_over_the_limit_is_refused_whole() {
    use common::*;
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path());
    let value = vec![1u8; 30 * MIB as usize];
    let ops = (0..5)
        .map(|i| KvOp::Put {
            key: format!("big{i}").into_bytes(),
            value: value.clone(),
        })
        .collect();
    drop(value);
    let items = vec![
        entry(1, 1),
        EntryOf::<C>::new_normal(lid(1, 2), KvRequest::Batch(ops)),
        entry(1, 3),
    ];
    let r = sm
        .apply(stream::iter(items.into_iter().map(|e| Ok((e, None)))))
        .await;
    assert!(r.is_ok(), "apply failed: {r:?}");
    for i in 0..5 {
        assert_eq!(sm.get(format!("big{i}").as_bytes()).unwrap(), None);
    }
    assert_eq!((sm_term(&sm, 1), sm_term(&sm, 3)), (Some(1), Some(1)));
    assert_eq!(sm.applied_state().await.unwrap().0, Some(lid(1, 3)));
}
