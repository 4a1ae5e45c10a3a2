//! # lsm-manifest: the catalog of live table files
//!
//! This layer records which table files make up each level of the LSM tree
//! and makes every change to that catalog durable before it takes effect.
//!
//! Main types:
//! - [`FileMeta`]: one table's entry (number, size, key range, sequence
//!   range, entry counts). Immutable; shared as `Arc<FileMeta>`.
//! - [`Version`]: an immutable snapshot of the tables at each level, shared
//!   as `Arc<Version>`. Level 0 is newest first and may overlap; levels 1+
//!   are sorted with disjoint user-key ranges. Lookups:
//!   [`Version::overlapping_files`], [`Version::files_for_key`].
//! - [`VersionEdit`]: one change (tables added and removed, counters), with
//!   its on-disk encoding ([`VersionEdit::encode`], [`VersionEdit::decode`]).
//! - [`Manifest`]: the log of edits in `MANIFEST-NNNNNN`, named by the
//!   `CURRENT` file; [`Manifest::open`] recovers, [`Manifest::log_and_apply`]
//!   appends, fsyncs and returns the new version;
//!   [`Manifest::create_from_version`] writes a new store's catalog holding
//!   one version (a checkpoint's).
//! - [`read_manifest`]: a read-only dump for inspection and verification.
//!
//! What it guarantees:
//! - An edit returned from [`Manifest::log_and_apply`] is durable and is in
//!   every version recovered afterwards; an edit whose write was torn by a
//!   crash is dropped as a whole on recovery.
//! - Corrupt bytes never panic: damage that is not a torn tail is
//!   [`lsm_core::Error::Corruption`] naming the file and offset.
//! - Every version obeys the invariants listed in [`version`]; an edit that
//!   would break one is refused before anything is written.
//! - Versions are immutable: a reader holding an `Arc<Version>` sees a fixed
//!   set of tables.
//!
//! What it never does: it never deletes, reads or writes table files (the
//! store deletes a table once no live version references it), never spawns
//! threads, and does no locking of its own (the store serializes calls that
//! take `&mut Manifest`). All I/O goes through [`lsm_core::FileSystem`].
//!
//! On-disk format: `docs/format/manifest.md`.
//!
//! ```
//! use lsm_core::{InternalKey, OsFileSystem, ValueKind};
//! use lsm_manifest::{FileMeta, Manifest, VersionEdit};
//!
//! let dir = tempfile::tempdir()?;
//! let (mut manifest, recovered) = Manifest::open(OsFileSystem::shared(), dir.path(), 7)?;
//! assert_eq!(recovered.version.num_files(), 0);
//!
//! // A flush wrote a table: record it at level 0.
//! let number = manifest.new_file_number();
//! let table = FileMeta {
//!     number,
//!     file_bytes: 4096,
//!     smallest: InternalKey::new(b"apple", 1, ValueKind::Put),
//!     largest: InternalKey::new(b"pear", 9, ValueKind::Put),
//!     min_seq: 1,
//!     max_seq: 9,
//!     entries: 9,
//!     tombstones: 0,
//! };
//! let version = manifest.log_and_apply(VersionEdit {
//!     added: vec![(0, table)],
//!     last_seq: Some(9),
//!     ..VersionEdit::default()
//! })?;
//! assert_eq!(version.files_for_key(0, b"banana").count(), 1);
//! drop(manifest);
//!
//! // Reopening recovers the same catalog.
//! let (_manifest, recovered) = Manifest::open(OsFileSystem::shared(), dir.path(), 7)?;
//! assert_eq!(*recovered.version, *version);
//! assert_eq!(recovered.last_seq, 9);
//! assert!(recovered.next_file_number > number);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod current;
mod error;
mod file_meta;
mod manifest;
mod replay;
pub mod version;
pub mod version_edit;

pub use current::{
    manifest_file_name, parse_manifest_file_name, read_current, CURRENT_FILE_NAME,
    CURRENT_TEMP_FILE_NAME,
};
pub use error::{Error, Result};
pub use file_meta::{parse_table_file_name, table_file_name, FileMeta};
pub use manifest::{Manifest, RecoveredState, DEFAULT_ROLLOVER_BYTES};
pub use replay::{
    read_manifest, read_manifest_file, DroppedTail, ManifestDump, ManifestRecord, EDIT_RECORD_TYPE,
    MAX_EDIT_BYTES, MAX_MANIFEST_BYTES,
};
pub use version::{FilesForKey, Version};
pub use version_edit::{VersionEdit, FORMAT_VERSION, MANIFEST_MAGIC, MAX_LEVELS};
