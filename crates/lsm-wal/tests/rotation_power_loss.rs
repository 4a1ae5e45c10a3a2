//! Rotation syncs the old segment before appends go to the new one
//! (`docs/durability.md`, "New WAL segment"): a durable append in the new
//! segment makes every earlier append durable too, even the unsynced ones
//! left in the old segment, so a power loss never leaves a hole.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{owned, owned_batch, tagged_batch};
use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_wal::{recover, RecoveryMode, SyncMode, WalOptions, WalWriter};

#[test]
fn a_synced_append_after_a_rotation_keeps_the_unsynced_appends_of_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyFileSystem::new(OsFileSystem::shared());
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(faulty.clone(), dir.path(), 1, 1, options).unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        let batch = tagged_batch(i);
        let last = wal.append(&batch).unwrap();
        written.push(owned_batch(&batch, last));
    }
    assert_eq!(wal.rotate().unwrap(), 2);
    let batch = tagged_batch(20);
    let last = wal.append_with(&batch, true).unwrap();
    written.push(owned_batch(&batch, last));
    // A power loss with the writer never closed.
    drop(wal);
    faulty.crash().unwrap();

    let mut replayed = Vec::new();
    let report = recover(
        faulty.as_ref(),
        dir.path(),
        0,
        RecoveryMode::TolerateTornTail,
        |v| replayed.push(owned(v)),
    )
    .unwrap_or_else(|err| panic!("recovery after the power loss failed: {err}"));
    assert_eq!(report.segments, vec![1, 2]);
    assert_eq!(
        replayed, written,
        "the synced append in segment 2 must keep every append before it"
    );
}
