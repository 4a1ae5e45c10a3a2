//! A `preallocate` that runs out of space leaves nothing reserved: ext4
//! keeps the blocks a `fallocate` reserved before it failed, so a WAL
//! segment's 64 MiB hint on a disk with less free space used to leave the
//! disk full and fail the store's next writes (its open, on a small disk).
//!
//! Needs a real small file system: as root, it makes a 32 MiB ext4 image,
//! loop-mounts it and asks for 64 MiB there. Without root, `mkfs.ext4` or
//! loop devices it says so and checks nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;

use lsm_core::fs::{FileSystem, OsFileSystem};

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success())
}

fn free_bytes(path: &Path) -> u64 {
    let stat = rustix::fs::statvfs(path).unwrap();
    stat.f_bavail * stat.f_frsize
}

/// Unmounts when dropped, also when the test fails.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        run("umount", &[self.0.to_str().unwrap()]);
    }
}

#[test]
fn a_preallocation_larger_than_the_free_space_reserves_nothing() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to loop-mount a small ext4 image");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let image = scratch.path().join("small.img");
    let mnt = scratch.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::File::create(&image)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let (image, mnt_str) = (image.to_str().unwrap(), mnt.to_str().unwrap());
    if !run("mkfs.ext4", &["-q", "-F", "-m", "0", image]) {
        eprintln!("skipped: mkfs.ext4 failed or is missing");
        return;
    }
    if !run("mount", &["-o", "loop", image, mnt_str]) {
        eprintln!("skipped: could not loop-mount the image");
        return;
    }
    let _mounted = Mounted(&mnt);

    let before = free_bytes(&mnt);
    assert!(before < 64 << 20, "the image has {before} bytes free");
    let path = mnt.join("000001.wal");
    let file = OsFileSystem.create(&path).unwrap();
    let err = file
        .preallocate(64 << 20)
        .expect_err("64 MiB fit on a 32 MiB file system");
    assert_eq!(err.raw_os_error(), Some(28), "{err}");
    let after = free_bytes(&mnt);
    assert!(
        after + (1 << 20) >= before,
        "the failed preallocation left {} bytes reserved ({before} free before, {after} after)",
        before - after
    );
    // What the reservation would have blocked: ordinary writes.
    file.append(&vec![7u8; 8 << 20]).unwrap();
    file.sync_data().unwrap();
    drop(file);
}
