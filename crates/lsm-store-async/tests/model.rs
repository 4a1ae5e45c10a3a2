//! The model test of `SimpleLsmStore`, run against `AsyncLsmStore`: random
//! operation sequences (put, delete, batch, get, range, snapshot reads,
//! flush, compact, close + reopen) against a `BTreeMap`; every read, made
//! after `wait_for_seq` of the last acknowledged write, must agree. The
//! harness lives in `lsm_testkit::model`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;
use std::time::Duration;

use lsm_store_async::{AsyncLsmStore, LsmConfig, SeqNo, Snapshot, WriteBatch};
use lsm_testkit::model::{long_deterministic_ops, op_strategy, run_model, ModelStore};
use proptest::prelude::*;

const FENCE: Duration = Duration::from_secs(30);

struct Store(AsyncLsmStore);

impl ModelStore for Store {
    fn open(config: LsmConfig) -> Self {
        Store(AsyncLsmStore::open(config).unwrap())
    }
    fn put(&self, k: &[u8], v: &[u8]) -> SeqNo {
        self.0.put(k, v).unwrap()
    }
    fn delete(&self, k: &[u8]) -> SeqNo {
        self.0.delete(k).unwrap()
    }
    fn write(&self, batch: &WriteBatch) -> SeqNo {
        self.0.write(batch).unwrap()
    }
    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        self.0.get(k).unwrap()
    }
    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0
            .range((start, end))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
    fn snapshot(&self) -> Snapshot {
        self.0.snapshot().unwrap()
    }
    fn flush(&self) {
        self.0.flush_memtable().unwrap();
    }
    fn compact(&self, level: usize) {
        self.0.compact_level(level, true).unwrap();
    }
    fn close(&self) {
        self.0.close().unwrap();
    }
    /// Waits until every acknowledged write is visible.
    fn fence(&self, last: SeqNo) {
        assert!(
            self.0.wait_for_seq(last, FENCE),
            "watermark never reached {last}"
        );
    }
    fn check_after_reopen(&self, last: SeqNo) {
        assert_eq!(self.0.visible_seq(), last, "reopen must replay every write");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn store_matches_btreemap_model(ops in proptest::collection::vec(op_strategy(), 1..250)) {
        run_model::<Store>(ops);
    }
}

#[test]
fn long_deterministic_sequence_matches_model() {
    // Enough writes for several flushes and compactions into L2.
    run_model::<Store>(long_deterministic_ops());
}
