//! The model test: random operation sequences (put, delete, batch, get,
//! range, snapshot reads, flush, compact, close + reopen) run against
//! `SimpleLsmStore` and a `BTreeMap`; every read must agree. The harness
//! lives in `lsm_testkit::model`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_sync::SimpleLsmStore;
use lsm_testkit::model::{long_deterministic_ops, op_strategy, run_model};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn store_matches_btreemap_model(ops in proptest::collection::vec(op_strategy(), 1..250)) {
        run_model::<SimpleLsmStore>(ops);
    }
}

#[test]
fn long_deterministic_sequence_matches_model() {
    // Enough writes for several flushes and compactions into L2.
    run_model::<SimpleLsmStore>(long_deterministic_ops());
}
