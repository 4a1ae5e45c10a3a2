//! Segment file names: `NNNNNN.wal`, the segment number in decimal, at
//! least six digits, zero-padded.

use std::path::{Path, PathBuf};

use lsm_core::FileSystem;

use crate::Result;

const SUFFIX: &str = ".wal";

/// The file name of segment `number`: `format!("{number:06}.wal")`.
pub fn segment_file_name(number: u64) -> String {
    format!("{number:06}{SUFFIX}")
}

/// The path of segment `number` in `dir`.
pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(segment_file_name(number))
}

/// The segment number named by `name`, if it is exactly what
/// [`segment_file_name`] produces (so `"1.wal"` and `"0000001.wal"` are not
/// segments and two names never map to one number).
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    (segment_file_name(number) == name).then_some(number)
}

/// The numbers of the segment files in `dir`, ascending. Other files are
/// ignored.
pub fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let names = fs
        .list_dir(dir)
        .map_err(|source| lsm_core::Error::io(dir, source))?;
    let mut numbers: Vec<u64> = names
        .iter()
        .filter_map(|name| parse_segment_file_name(name))
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_zero_padded_and_parse_back() {
        assert_eq!(segment_file_name(7), "000007.wal");
        assert_eq!(segment_file_name(1_234_567), "1234567.wal");
        assert_eq!(parse_segment_file_name("000007.wal"), Some(7));
        assert_eq!(parse_segment_file_name("1234567.wal"), Some(1_234_567));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
    }

    #[test]
    fn non_canonical_names_are_not_segments() {
        for name in [
            "7.wal",
            "0000007.wal",
            "000007.log",
            "000007.wal.tmp",
            "+00007.wal",
            "00000a.wal",
            ".wal",
            "99999999999999999999999.wal",
        ] {
            assert_eq!(parse_segment_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn list_segments_sorts_and_skips_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = lsm_core::OsFileSystem;
        for name in ["000010.wal", "000002.wal", "MANIFEST", "000003.sst"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(list_segments(&fs, dir.path()).unwrap(), vec![2, 10]);
    }

    proptest! {
        #[test]
        fn every_number_roundtrips(number in any::<u64>()) {
            prop_assert_eq!(parse_segment_file_name(&segment_file_name(number)), Some(number));
        }

        #[test]
        fn arbitrary_names_never_panic(name in ".{0,30}") {
            if let Some(number) = parse_segment_file_name(&name) {
                prop_assert_eq!(segment_file_name(number), name);
            }
        }
    }
}
