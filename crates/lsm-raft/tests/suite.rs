//! openraft's own storage test suite (`openraft::testing::log::Suite`)
//! against `LsmLogStore` + `LsmStateMachine`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use lsm_raft::{KvConfig, LsmLogStore, LsmStateMachine};
use lsm_store_sync::LsmConfig;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

struct LsmBuilder;

impl StoreBuilder<KvConfig, LsmLogStore<KvConfig>, LsmStateMachine<KvConfig>, TempDir>
    for LsmBuilder
{
    async fn build(
        &self,
    ) -> Result<(TempDir, LsmLogStore<KvConfig>, LsmStateMachine<KvConfig>), StorageError<KvConfig>>
    {
        let dir = tempfile::tempdir().unwrap();
        // A small memtable, so flushes happen under the suite too.
        let config = LsmConfig::builder(dir.path())
            .memtable_bytes(16 * 1024)
            .build()
            .unwrap();
        let (log, sm) = lsm_raft::open_with_config(config).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(Suite::test_all(LsmBuilder)).unwrap();
    eprintln!("openraft storage suite passed in {:?}", started.elapsed());
}
