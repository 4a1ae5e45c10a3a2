//! The model test of `SimpleLsmStore`, run against `AsyncLsmStore`: random
//! operation sequences (put, delete, batch, get, range, snapshot reads,
//! flush, compact, close + reopen) against a `BTreeMap`; every read, made
//! after `wait_visible` (`wait_for_seq`) of the last acknowledged write,
//! must agree. The harness lives in `lsm_testkit::model`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_async::AsyncLsmStore;
use lsm_testkit::model::{long_deterministic_ops, op_strategy, run_model};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn store_matches_btreemap_model(ops in proptest::collection::vec(op_strategy(), 1..250)) {
        run_model::<AsyncLsmStore>(ops);
    }
}

#[test]
fn long_deterministic_sequence_matches_model() {
    // Enough writes for several flushes and compactions into L2.
    run_model::<AsyncLsmStore>(long_deterministic_ops());
}
