//! A manifest rollover cut short at each of its file operations in turn
//! (`FaultyFileSystem::fail_after`), then a power loss: the catalog must
//! recover, holding the version before or after the edit. Checks that
//! the old manifest is deleted only after `CURRENT` names the new one
//! (`docs/durability.md`, "New manifest").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_core::fault::FaultyFileSystem;
use lsm_core::{InternalKey, OsFileSystem, SharedFileSystem, ValueKind};
use lsm_manifest::{FileMeta, Manifest, VersionEdit};

fn table(number: u64, seq: u64) -> FileMeta {
    FileMeta {
        number,
        file_bytes: 100 * number,
        smallest: InternalKey::new(b"a", seq, ValueKind::Put),
        largest: InternalKey::new(b"b", seq, ValueKind::Put),
        min_seq: seq,
        max_seq: seq,
        entries: 1,
        tombstones: 0,
    }
}

#[test]
fn a_rollover_cut_short_at_every_operation_then_a_power_loss_recovers() {
    for n in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let shared: SharedFileSystem = fs.clone();
        let (mut manifest, _) = Manifest::open(shared, dir.path(), 4).unwrap();
        let first = manifest.new_file_number();
        manifest
            .log_and_apply(VersionEdit {
                added: vec![(0, table(first, 1))],
                last_seq: Some(1),
                ..VersionEdit::default()
            })
            .unwrap();
        manifest.set_rollover_bytes(0);
        fs.fail_after(Some(n));
        let second = manifest.new_file_number();
        let done = manifest
            .log_and_apply(VersionEdit {
                added: vec![(0, table(second, 2))],
                last_seq: Some(2),
                ..VersionEdit::default()
            })
            .is_ok();
        fs.fail_after(None);
        drop(manifest);
        fs.crash().unwrap();
        let recovered = Manifest::recover(&*fs, dir.path(), 4).unwrap_or_else(|err| {
            panic!("rollover cut short after {n} operations, then a power loss: {err}")
        });
        assert!(
            recovered.last_seq == 1 || recovered.last_seq == 2,
            "after {n} operations: last_seq {}",
            recovered.last_seq
        );
        if done {
            assert_eq!(
                recovered.last_seq, 2,
                "a rollover that returned Ok was lost"
            );
            return;
        }
    }
    panic!("the rollover never completed");
}
