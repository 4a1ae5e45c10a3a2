//! A small ext4 image, loop-mounted, whose power can be cut.
//!
//! The cut is the ext4 shutdown ioctl (`EXT4_IOC_SHUTDOWN`, which is
//! `XFS_IOC_GOINGDOWN`, `0x8004587D`) with flag 2 (`NOLOGFLUSH`): after it
//! every I/O on the mount fails with EIO, and after umount + mount only
//! what was made durable by fsync/fdatasync (plus whatever the journal had
//! already committed) is there. The workspace forbids `unsafe`, so the
//! ioctl is issued by an external command: `xfs_io -x -c shutdown` (which
//! uses flag 2 unless given `-f`, and works on ext4), or python3's
//! `fcntl.ioctl` when xfs_io is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Size of the image.
const IMAGE_BYTES: u64 = 256 << 20;

/// How the power is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cutter {
    /// `xfs_io -x -c shutdown <mnt>`.
    XfsIo,
    /// `python3 -c 'fcntl.ioctl(fd, 0x8004587D, 2)'`.
    Python,
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Cutter {
    /// The first available tool, or `None`.
    pub fn detect() -> Option<Cutter> {
        if runs("xfs_io", &["-V"]) {
            Some(Cutter::XfsIo)
        } else if runs("python3", &["-c", "import fcntl"]) {
            Some(Cutter::Python)
        } else {
            None
        }
    }

    fn cut(self, mnt: &Path) -> Result<()> {
        let mnt_str = mnt.to_str().context("mount point is not UTF-8")?;
        let script = "import fcntl,os,struct,sys\n\
                      fd=os.open(sys.argv[1],os.O_RDONLY)\n\
                      fcntl.ioctl(fd,0x8004587D,struct.pack('I',2))";
        let (program, args): (&str, Vec<&str>) = match self {
            Cutter::XfsIo => ("xfs_io", vec!["-x", "-c", "shutdown", mnt_str]),
            Cutter::Python => ("python3", vec!["-c", script, mnt_str]),
        };
        command(program, &args)
    }
}

/// Runs a command; an error carries its stderr.
fn command(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{program}`"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Real, effective, saved, file system uid.
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// A loop-mounted ext4 image in a temporary directory; unmounted and
/// removed on drop.
#[derive(Debug)]
pub struct Disk {
    work: tempfile::TempDir,
    image: PathBuf,
    mnt: PathBuf,
    mounted: bool,
    cutter: Cutter,
}

impl Disk {
    /// Creates and mounts a fresh image under `/tmp`.
    pub fn create(cutter: Cutter) -> Result<Disk> {
        let work = tempfile::Builder::new()
            .prefix("lsm-powercut-")
            .tempdir_in("/tmp")?;
        let image = work.path().join("disk.img");
        let mnt = work.path().join("mnt");
        std::fs::create_dir(&mnt)?;
        std::fs::File::create(&image)?.set_len(IMAGE_BYTES)?;
        let image_str = image.to_str().context("image path is not UTF-8")?;
        command("mkfs.ext4", &["-q", "-F", "-m", "0", image_str])?;
        let mut disk = Disk {
            work,
            image,
            mnt,
            mounted: false,
            cutter,
        };
        disk.mount()?;
        Ok(disk)
    }

    /// The mount point.
    pub fn mnt(&self) -> &Path {
        &self.mnt
    }

    /// A directory outside the image for logs.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    fn mount(&mut self) -> Result<()> {
        let image = self.image.to_str().context("image path is not UTF-8")?;
        let mnt = self.mnt.to_str().context("mount point is not UTF-8")?;
        command("mount", &["-o", "loop", image, mnt])?;
        self.mounted = true;
        Ok(())
    }

    fn umount(&mut self) -> Result<()> {
        let mnt = self.mnt.to_str().context("mount point is not UTF-8")?;
        // The killed writer's files close asynchronously; retry on EBUSY.
        let mut last = None;
        for _ in 0..50 {
            match command("umount", &[mnt]) {
                Ok(()) => {
                    self.mounted = false;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("umount failed")))
    }

    /// Cuts the power, then checks that it took: creating a file on the
    /// mount must now fail.
    pub fn cut(&self) -> Result<()> {
        self.cutter.cut(&self.mnt)?;
        let probe = self.mnt.join("power-cut-probe");
        if std::fs::write(&probe, b"x").is_ok() {
            bail!(
                "a write to {} succeeded after the shutdown ioctl: the power cut did not take",
                self.mnt.display()
            );
        }
        Ok(())
    }

    /// The "reboot": unmounts, copies the image as it is after the cut to
    /// `snapshot` (for replay if the cycle fails), and mounts it again.
    pub fn reboot(&mut self, snapshot: &Path) -> Result<()> {
        self.umount()?;
        let image = self.image.to_str().context("image path is not UTF-8")?;
        let snap = snapshot.to_str().context("snapshot path is not UTF-8")?;
        command("cp", &["--sparse=always", image, snap])?;
        self.mount()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = self.umount();
        }
    }
}
