//! Whether another process holds a store open, found *without* taking its
//! lock: a store holds an `flock` on its `LOCK` file while open, and Linux
//! lists every such lock in `/proc/locks` (by device and inode). Trying the
//! lock instead would, for an instant, make a real open of the store fail.

use std::path::Path;

use lsm_store_sync::LOCK_FILE_NAME;
use serde::Serialize;

/// What the probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum LockState {
    /// No process holds the lock (or there is no `LOCK` file).
    Free,
    /// A process holds it: the store is open there.
    Held {
        /// The holder's process id, as `/proc/locks` gives it.
        pid: u32,
    },
    /// The probe cannot tell (not Linux, or `/proc/locks` unreadable).
    Unknown,
}

/// Looks up the lock on `dir/LOCK` without taking it.
pub(crate) fn probe(dir: &Path) -> LockState {
    let path = dir.join(LOCK_FILE_NAME);
    let Ok(meta) = std::fs::metadata(&path) else {
        return LockState::Free;
    };
    match std::fs::read_to_string("/proc/locks") {
        Ok(locks) => find(&locks, &meta),
        Err(_) => LockState::Unknown,
    }
}

#[cfg(target_os = "linux")]
fn find(locks: &str, meta: &std::fs::Metadata) -> LockState {
    use std::os::unix::fs::MetadataExt as _;
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    holder(locks, major, minor, meta.ino()).map_or(LockState::Free, |pid| LockState::Held { pid })
}

#[cfg(not(target_os = "linux"))]
fn find(_locks: &str, _meta: &std::fs::Metadata) -> LockState {
    LockState::Unknown
}

/// The pid of the process holding an `flock` on the file `major:minor:inode`
/// according to `locks` (the text of `/proc/locks`). Waiters (`->` lines)
/// do not hold the lock.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn holder(locks: &str, major: u64, minor: u64, inode: u64) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid = fields.get(4)?.parse().ok()?;
        let mut file = fields.get(5)?.split(':');
        let (maj, min, ino) = (file.next()?, file.next()?, file.next()?);
        let same = u64::from_str_radix(maj, 16).ok()? == major
            && u64::from_str_radix(min, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == inode;
        same.then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKS: &str = "\
1: POSIX  ADVISORY  WRITE 77 fe:00:42 0 EOF
2: FLOCK  ADVISORY  WRITE 10895 fe:00:6586430 0 EOF
2: -> FLOCK  ADVISORY  WRITE 555 fe:00:99 0 EOF
3: FLOCK  ADVISORY  WRITE 10704 103:02:99 0 EOF
";

    #[test]
    fn finds_the_holder_by_device_and_inode() {
        assert_eq!(holder(LOCKS, 0xfe, 0, 6586430), Some(10895));
        assert_eq!(holder(LOCKS, 0x103, 2, 99), Some(10704));
        assert_eq!(holder(LOCKS, 0xfe, 1, 6586430), None, "other device");
        assert_eq!(holder(LOCKS, 0xfe, 0, 42), None, "a POSIX lock is not ours");
        assert_eq!(holder(LOCKS, 0xfe, 0, 99), None, "a waiter holds nothing");
    }

    #[test]
    fn a_store_never_opened_has_a_free_lock() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()), LockState::Free);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sees_a_lock_this_process_holds_and_its_release() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join(LOCK_FILE_NAME)).unwrap();
        assert_eq!(probe(dir.path()), LockState::Free);
        file.try_lock().unwrap();
        assert_eq!(
            probe(dir.path()),
            LockState::Held {
                pid: std::process::id()
            }
        );
        file.unlock().unwrap();
        assert_eq!(probe(dir.path()), LockState::Free);
    }
}
