//! `truncate_after` of the largest log index: nothing lies after it, so
//! nothing is deleted (the first index to delete, `index + 1`, does not
//! exist; it must neither overflow nor wrap to 0, the whole log).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use openraft::storage::{RaftLogReader, RaftLogStorage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_after_the_largest_index_keeps_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, sm) = open(dir.path());
    append(&mut log, (0..5).map(|i| entry(1, i)).collect()).await;
    log.truncate_after(Some(lid(1, u64::MAX))).await.unwrap();
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 5);
    assert_eq!(
        log.get_log_state().await.unwrap().last_log_id,
        Some(lid(1, 4))
    );
    // And after a restart.
    drop(sm);
    log.close().unwrap();
    let (mut log, _sm) = open(dir.path());
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 5);
    assert!(log.try_get_log_entries(5..).await.unwrap().is_empty());
}
