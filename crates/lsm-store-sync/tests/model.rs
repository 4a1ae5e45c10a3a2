//! The model test: random operation sequences (put, delete, batch, get,
//! range, snapshot reads, flush, compact, close + reopen) run against
//! `SimpleLsmStore` and a `BTreeMap`; every read must agree. The harness
//! lives in `lsm_testkit::model`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;

use lsm_store_sync::{LsmConfig, SeqNo, SimpleLsmStore, Snapshot, WriteBatch};
use lsm_testkit::model::{long_deterministic_ops, op_strategy, run_model, ModelStore};
use proptest::prelude::*;

struct Store(SimpleLsmStore);

impl ModelStore for Store {
    fn open(config: LsmConfig) -> Self {
        Store(SimpleLsmStore::open(config).unwrap())
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
        self.0.compact_level(level).unwrap();
    }
    fn close(&self) {
        self.0.close().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
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
