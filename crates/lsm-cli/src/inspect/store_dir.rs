//! Finding a store on disk before touching it, so a typo in a path is one
//! clear error ("no store at /x: CURRENT not found") instead of a fresh,
//! empty store created where none was meant to be.

use std::io;
use std::path::Path;

use anyhow::Context as _;
use lsm_core::OsFileSystem;
use lsm_manifest::CURRENT_FILE_NAME;
use lsm_store_sync::{LsmConfig, ReadOnlyStore, SimpleLsmStore};

/// Checks that `dir` is a directory holding a store (a `CURRENT` file),
/// without creating or changing anything.
pub(crate) fn require_store(dir: &Path) -> anyhow::Result<()> {
    require_dir(dir)?;
    if !dir.join(CURRENT_FILE_NAME).is_file() {
        anyhow::bail!(
            "no store at {}: {CURRENT_FILE_NAME} not found",
            dir.display()
        );
    }
    Ok(())
}

/// Checks that `dir` exists and is a directory.
pub(crate) fn require_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!("no store at {}: not a directory", dir.display()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            anyhow::bail!(
                "no store at {}: the directory does not exist",
                dir.display()
            )
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// Opens the store in `dir` with the default configuration (WAL writes
/// synced). Unless `create` is set, `dir` must already hold a store.
pub(crate) fn open_store(dir: &Path, create: bool) -> anyhow::Result<SimpleLsmStore> {
    if !create {
        require_store(dir)?;
    }
    match SimpleLsmStore::open(LsmConfig::new(dir)) {
        Ok(store) => Ok(store),
        // Already names the directory and says what is wrong.
        Err(err @ lsm_store_sync::Error::Locked { .. }) => Err(err.into()),
        Err(err) => Err(err).with_context(|| format!("cannot open the store at {}", dir.display())),
    }
}

/// Opens the store in `dir` for reading only ([`ReadOnlyStore`]): nothing
/// is written and no lock is taken, so it also reads a store another
/// process holds open (as of this moment). The store's own `num_levels`
/// is used: the one `OPTIONS` records, or for a store without `OPTIONS`
/// whose manifest is deeper than the default, as many as the manifest uses.
pub(crate) fn open_read_only(dir: &Path) -> anyhow::Result<ReadOnlyStore> {
    require_store(dir)?;
    let config = LsmConfig::new(dir);
    let opened = match ReadOnlyStore::open(config.clone()) {
        Err(lsm_store_sync::Error::IncompatibleOptions { .. }) => {
            match lsm_manifest::read_manifest(&OsFileSystem, dir) {
                Ok(dump) if dump.version.num_levels() > config.num_levels => {
                    let mut deeper = config;
                    deeper.num_levels = dump.version.num_levels();
                    ReadOnlyStore::open(deeper)
                }
                _ => ReadOnlyStore::open(config),
            }
        }
        other => other,
    };
    opened.with_context(|| format!("cannot read the store at {}", dir.display()))
}
