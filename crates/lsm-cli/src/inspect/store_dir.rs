//! Finding a store on disk before touching it, so a typo in a path is one
//! clear error ("no store at /x: CURRENT not found") instead of a fresh,
//! empty store created where none was meant to be.

use std::io;
use std::path::Path;

use anyhow::Context as _;
use lsm_manifest::CURRENT_FILE_NAME;
use lsm_store_sync::{LsmConfig, SimpleLsmStore};

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
