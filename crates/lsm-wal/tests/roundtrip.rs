//! Property test: whatever is appended is recovered, batch for batch and
//! seqno for seqno, across sync modes, explicit syncs and rotations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{owned, owned_batch, Replayed};
use lsm_core::{OsFileSystem, WriteBatch};
use lsm_wal::{recover, RecoveryMode, SyncMode, WalOptions, WalWriter};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Append {
        ops: Vec<(bool, Vec<u8>, Vec<u8>)>,
        sync: Option<bool>,
    },
    Sync,
    Rotate,
}

fn step() -> impl Strategy<Value = Step> {
    let op = (
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<u8>(), 0..64),
    );
    prop_oneof![
        8 => (proptest::collection::vec(op, 1..6), proptest::option::of(any::<bool>()))
            .prop_map(|(ops, sync)| Step::Append { ops, sync }),
        1 => Just(Step::Sync),
        1 => Just(Step::Rotate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn appended_batches_are_recovered_identically(
        steps in proptest::collection::vec(step(), 1..40),
        first_seq in 1u64..1_000_000,
        segment_bytes in prop_oneof![Just(128u64), Just(1024), Just(64 << 20)],
        sync_mode in prop_oneof![Just(SyncMode::Always), Just(SyncMode::Never), Just(SyncMode::EveryBytes(300))],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions { sync_mode, segment_bytes, ..WalOptions::default() };
        let wal = WalWriter::create(OsFileSystem::shared(), dir.path(), 3, first_seq, options).unwrap();
        let mut expected: Vec<Replayed> = Vec::new();
        let mut next = first_seq;
        for step in &steps {
            match step {
                Step::Append { ops, sync } => {
                    let mut batch = WriteBatch::new();
                    for (put, key, value) in ops {
                        if *put { batch.put(key, value); } else { batch.delete(key); }
                    }
                    let last = match sync {
                        Some(sync) => wal.append_with(&batch, *sync).unwrap(),
                        None => wal.append(&batch).unwrap(),
                    };
                    prop_assert_eq!(last, next + ops.len() as u64 - 1);
                    expected.push(owned_batch(&batch, next));
                    next = last + 1;
                }
                Step::Sync => wal.sync().unwrap(),
                Step::Rotate => { wal.rotate().unwrap(); }
            }
        }
        prop_assert_eq!(wal.last_seq(), next - 1);
        let last_segment = wal.current_segment();
        wal.close().unwrap();

        let mut replayed = Vec::new();
        let report = recover(&OsFileSystem, dir.path(), 3, RecoveryMode::AbsoluteConsistency, |view| {
            replayed.push(owned(view))
        }).unwrap();
        prop_assert_eq!(&replayed, &expected);
        prop_assert_eq!(report.records, expected.len() as u64);
        prop_assert_eq!(report.last_seq, (next > first_seq).then_some(next - 1));
        prop_assert_eq!(report.next_segment, last_segment + 1);
        prop_assert_eq!(report.torn_tail, None);
    }
}
