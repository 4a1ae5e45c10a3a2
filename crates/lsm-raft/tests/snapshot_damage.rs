//! A damaged snapshot stream is refused whole: `install_snapshot` fails
//! with `InvalidData` and changes nothing (data, applied id, membership,
//! snapshot marker). The stream's layout is docs/format/raft-snapshot.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io::{self, Cursor};

use common::*;
use lsm_core::checksum::masked_crc32;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::SnapshotOf;

/// A snapshot of a state machine that applied `entry(term, i)` for `keys`.
async fn snapshot_of(keys: &[u64], term: u64) -> SnapshotOf<C, lsm_raft::SnapshotData> {
    let source = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(source.path());
    apply(&mut sm, keys.iter().map(|&i| entry(term, i)).collect()).await;
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

/// The keys among `0..=9` the state machine holds.
fn keys_of(sm: &Sm) -> Vec<u64> {
    (0..=9).filter(|&i| sm_term(sm, i).is_some()).collect()
}

/// A state machine that applied keys 0 and 1 at term 1.
async fn target(dir: &std::path::Path) -> (Log, Sm) {
    let (log, mut sm) = open(dir);
    apply(&mut sm, vec![entry(1, 0), entry(1, 1)]).await;
    (log, sm)
}

/// `result` is a refusal: `InvalidData`, with the refusal's reason; and
/// the target still holds exactly what `target` applied.
async fn assert_refused_unchanged(sm: &mut Sm, result: io::Result<()>, what: &str) -> String {
    let err = match result {
        Ok(()) => panic!(
            "{what}: damaged snapshot installed; keys now {:?}, key 1 = term {:?}, applied {:?}",
            keys_of(sm),
            sm_term(sm, 1),
            sm.applied_state().await.unwrap().0
        ),
        Err(err) => err,
    };
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}: {err:?}");
    assert_eq!(keys_of(sm), vec![0, 1], "{what}");
    assert_eq!(sm_term(sm, 1), Some(1), "{what}");
    assert_eq!(
        sm.applied_state().await.unwrap().0,
        Some(lid(1, 1)),
        "{what}"
    );
    assert!(sm.get_current_snapshot().await.unwrap().is_none(), "{what}");
    format!("{err:?}")
}

/// The stream is byte for byte what docs/format/raft-snapshot.md says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_stream_matches_the_format_page() {
    let snap = snapshot_of(&[1, 2, 3], 2).await;
    let mut body = vec![3u8]; // varint pair count
    for i in 1..=3u64 {
        let key = sm_key(i);
        body.push(u8::try_from(key.len()).unwrap()); // varint key length
        body.extend_from_slice(&key);
        body.push(8); // varint value length
        body.extend_from_slice(&2u64.to_be_bytes());
    }
    let mut expected = b"LSMRSNAP".to_vec();
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.extend_from_slice(&u64::try_from(body.len()).unwrap().to_le_bytes());
    expected.extend_from_slice(&body);
    let crc = masked_crc32(&expected);
    expected.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(snap.snapshot.into_inner(), expected);

    // An empty state machine: a count of 0, 25 bytes in all.
    let empty = snapshot_of(&[], 1).await.snapshot.into_inner();
    assert_eq!(empty.len(), 25);
    assert_eq!(&empty[..8], b"LSMRSNAP");
    assert_eq!(&empty[12..21], &[1, 0, 0, 0, 0, 0, 0, 0, 0]);
}

/// Bytes appended to a whole stream: refused, not installed with the
/// appended bytes ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_bytes_are_refused_and_change_nothing() {
    let snap = snapshot_of(&[1, 2, 3], 2).await;
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = target(dir.path()).await;
    let whole = snap.snapshot.into_inner();
    for garbage in [&b"\0"[..], b"\xde\xad\xbe\xef garbage", &whole] {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(garbage);
        let result = sm.install_snapshot(&snap.meta, Cursor::new(bytes)).await;
        let why = assert_refused_unchanged(&mut sm, result, "trailing bytes").await;
        assert!(why.contains("LengthMismatch"), "{why}");
    }
}

/// Every strict prefix of the stream, and the stream with any one byte
/// changed (bit 0, which turns the pair count 3 into 2, and bit 6), is
/// refused and changes nothing: no partial state under the snapshot's
/// applied id, no value that no node wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cut_and_every_flipped_byte_is_refused_and_changes_nothing() {
    let snap = snapshot_of(&[1, 2, 3], 2).await;
    let whole = snap.snapshot.into_inner();
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = target(dir.path()).await;
    for at in 0..whole.len() {
        for mask in [0x01u8, 0x40] {
            let mut bytes = whole.clone();
            bytes[at] ^= mask;
            let result = sm.install_snapshot(&snap.meta, Cursor::new(bytes)).await;
            let what = format!("byte {at} of {} ^ {mask:#04x}", whole.len());
            assert_refused_unchanged(&mut sm, result, &what).await;
        }
    }
    for cut in 0..whole.len() {
        let bytes = whole[..cut].to_vec();
        let result = sm.install_snapshot(&snap.meta, Cursor::new(bytes)).await;
        assert_refused_unchanged(&mut sm, result, &format!("cut at {cut}")).await;
    }
    // The undamaged stream still installs.
    sm.install_snapshot(&snap.meta, Cursor::new(whole))
        .await
        .unwrap();
    assert_eq!(keys_of(&sm), vec![1, 2, 3]);
    assert_eq!(sm_term(&sm, 1), Some(2));
    assert_eq!(sm.applied_state().await.unwrap().0, Some(lid(2, 3)));
}
