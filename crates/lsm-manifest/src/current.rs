//! The `CURRENT` file, which names the live manifest, and manifest file
//! names.
//!
//! `CURRENT` holds exactly `"MANIFEST-NNNNNN\n"`. It is replaced atomically:
//! write `CURRENT.tmp`, fsync it, rename it over `CURRENT`, fsync the
//! directory. A reader therefore sees the old or the new name, never a mix.

use std::path::{Path, PathBuf};

use lsm_core::{Error as CoreError, FileSystem};

use crate::error::Result;
use crate::file_meta::parse_canonical_number;

/// The name of the file that names the live manifest.
pub const CURRENT_FILE_NAME: &str = "CURRENT";

/// The temporary file `CURRENT` is written through.
pub const CURRENT_TEMP_FILE_NAME: &str = "CURRENT.tmp";

/// Largest `CURRENT` file accepted; anything longer is garbage.
const MAX_CURRENT_BYTES: u64 = 64;

/// The name of manifest file `number`: `format!("MANIFEST-{number:06}")`.
pub fn manifest_file_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

/// The number of a manifest file name made by [`manifest_file_name`];
/// `None` for any other name.
pub fn parse_manifest_file_name(name: &str) -> Option<u64> {
    parse_canonical_number(name.strip_prefix("MANIFEST-")?, name, manifest_file_name)
}

/// Reads `dir/CURRENT` and returns the manifest number it names. `Ok(None)`
/// when there is no `CURRENT` file; a [`lsm_core::Error::Corruption`] naming
/// `CURRENT` when its contents are not exactly `"MANIFEST-NNNNNN\n"`.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(CURRENT_FILE_NAME);
    if !fs.exists(&path) {
        return Ok(None);
    }
    let size = fs.file_size(&path).map_err(|e| CoreError::io(&path, e))?;
    if size > MAX_CURRENT_BYTES {
        return Err(CoreError::corruption(
            &path,
            0,
            format!("CURRENT is {size} bytes; a manifest name is at most {MAX_CURRENT_BYTES}"),
        )
        .into());
    }
    let bytes = fs.read_all(&path).map_err(|e| CoreError::io(&path, e))?;
    let name = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| text.strip_suffix('\n'))
        .ok_or_else(|| {
            CoreError::corruption(
                &path,
                0,
                "CURRENT is not a manifest name ending in a newline",
            )
        })?;
    let number = parse_manifest_file_name(name).ok_or_else(|| {
        CoreError::corruption(
            &path,
            0,
            format!("CURRENT holds {name:?}, not a manifest file name"),
        )
    })?;
    Ok(Some(number))
}

/// Points `dir/CURRENT` at manifest `number`: temp file, fsync, rename,
/// fsync the directory. REQUIRES: the manifest file is already durable.
pub(crate) fn install_current(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<()> {
    let temp = dir.join(CURRENT_TEMP_FILE_NAME);
    let path = dir.join(CURRENT_FILE_NAME);
    let contents = format!("{}\n", manifest_file_name(number));
    let file = fs.create(&temp).map_err(|e| CoreError::io(&temp, e))?;
    file.append(contents.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| CoreError::io(&temp, e))?;
    drop(file);
    fs.rename(&temp, &path)
        .map_err(|e| CoreError::io(&path, e))?;
    sync_dir(fs, dir)
}

/// Fsyncs `dir`, naming it in the error.
pub(crate) fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| CoreError::io(dir, e).into())
}

/// `dir/MANIFEST-NNNNNN`.
pub(crate) fn manifest_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(manifest_file_name(number))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::OsFileSystem;

    #[test]
    fn manifest_names_roundtrip() {
        assert_eq!(manifest_file_name(3), "MANIFEST-000003");
        assert_eq!(parse_manifest_file_name("MANIFEST-000003"), Some(3));
        assert_eq!(
            parse_manifest_file_name("MANIFEST-1234567"),
            Some(1_234_567)
        );
        for bad in [
            "MANIFEST-3",
            "MANIFEST-",
            "manifest-000003",
            "MANIFEST-00000x",
            "MANIFEST-000003.tmp",
        ] {
            assert_eq!(parse_manifest_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn current_roundtrips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        assert_eq!(read_current(&fs, dir.path()).unwrap(), None);
        install_current(&fs, dir.path(), 42).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CURRENT_FILE_NAME)).unwrap(),
            "MANIFEST-000042\n"
        );
        assert!(!dir.path().join(CURRENT_TEMP_FILE_NAME).exists());
        assert_eq!(read_current(&fs, dir.path()).unwrap(), Some(42));
        for garbage in [
            &b""[..],
            b"MANIFEST-000042",
            b"MANIFEST-42\n",
            b"\xff\xfe\n",
            b"MANIFEST-000042\n\n",
            &[b'x'; 100],
        ] {
            std::fs::write(dir.path().join(CURRENT_FILE_NAME), garbage).unwrap();
            let err = read_current(&fs, dir.path()).unwrap_err();
            assert!(err.is_corruption(), "{garbage:?}: {err}");
            assert!(err.to_string().contains("CURRENT"), "{err}");
        }
    }
}
