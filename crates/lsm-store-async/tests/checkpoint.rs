//! Checkpoints of `AsyncLsmStore`: every layer, during concurrent writes,
//! and cut short at each file operation then a power loss. The harness
//! lives in `lsm_testkit::checkpoint`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_async::{AsyncLsmStore, Error};
use lsm_testkit::checkpoint::{
    checkpoint_cut_short_at_every_operation, checkpoint_named_like_a_store_file_is_refused,
    checkpoint_of_every_layer, checkpoints_during_concurrent_writes,
};

#[test]
fn a_checkpoint_holds_every_layer_up_to_its_sequence_number() {
    checkpoint_of_every_layer::<AsyncLsmStore>();
}

#[test]
fn checkpoints_taken_while_threads_write_each_hold_a_prefix() {
    checkpoints_during_concurrent_writes::<AsyncLsmStore>(4, 12);
}

#[test]
fn a_checkpoint_cut_short_never_opens_with_a_hole_nor_harms_the_store() {
    // `lsm_manifest::Error::MissingCurrent`, named by its message (this
    // crate does not depend on lsm-manifest).
    let outcomes = checkpoint_cut_short_at_every_operation::<AsyncLsmStore>(|err| {
        matches!(err, Error::Store(lsm_engine::Error::Manifest(inner))
            if inner.to_string().contains("has no CURRENT file"))
    });
    // Every kind of leftover was reached (see the sync store's test).
    assert!(outcomes.cuts > 20, "{outcomes:?}");
    assert!(outcomes.missing > 0, "{outcomes:?}");
    assert!(outcomes.refused > 0, "{outcomes:?}");
    assert!(outcomes.empty > 0, "{outcomes:?}");
    assert!(outcomes.complete > 0, "{outcomes:?}");
}

#[test]
fn a_checkpoint_named_like_a_store_file_inside_the_store_is_refused() {
    checkpoint_named_like_a_store_file_is_refused::<AsyncLsmStore>(|err| {
        matches!(err, Error::Store(lsm_engine::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::InvalidInput)
    });
}
