//! The file-system seam: every layer does its file I/O through
//! [`FileSystem`], so tests can swap in one that injects faults (drops
//! unsynced data on a simulated crash, tears writes, fails with EIO or
//! ENOSPC) without touching engine code.
//!
//! The traits return plain [`std::io::Result`]; callers attach the path when
//! they wrap the error. Methods take `&self` so one open file can be shared
//! by a writer and a syncer thread (group commit). The cost on the hot path
//! is one dynamic call per syscall, which is noise next to the syscall.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A shared handle to a file system.
pub type SharedFileSystem = Arc<dyn FileSystem>;

/// A file opened for appending.
pub trait WritableFile: Send + Sync + Debug {
    /// Appends all of `data` at the end of the file.
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// Makes the appended data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Reserves disk blocks for the file's first `len` bytes without
    /// changing its size or contents (Linux `fallocate` with
    /// `FALLOC_FL_KEEP_SIZE`), so later appends up to `len` allocate no
    /// blocks, and an `fdatasync` after one commits less metadata. A hint:
    /// the default does nothing, and callers treat an error as "not
    /// reserved". An implementation that fails must leave nothing reserved
    /// (ext4 keeps the blocks a `fallocate` reserved before it ran out of
    /// space, which would leave the disk full for the writes that follow).
    fn preallocate(&self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
    /// Writes `len` zero bytes at `offset`, which is at or past the end of
    /// everything appended, without moving the append position: later
    /// appends overwrite them. Once synced, the zeros make the file's size
    /// and its blocks durable ahead of the data, so an `fdatasync` after an
    /// append into them commits no metadata (on ext4 measurably faster
    /// than one after an append that grows the file). A hint like
    /// `preallocate`: the default refuses with `Unsupported`, and callers
    /// treat any error as "not written" (a partial write leaves only zeros
    /// past the data).
    fn write_zeros(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Frees the blocks [`WritableFile::preallocate`] reserved past the
    /// file's end, keeping its size and contents (on Linux, `ftruncate` to
    /// the current size releases them), for a file that will take no more
    /// appends. A hint like `preallocate`: the default does nothing, and
    /// callers treat an error as "still reserved".
    fn release_reservation(&self) -> io::Result<()> {
        Ok(())
    }
}

/// The zeros [`WritableFile::write_zeros`] writes from, one page a call.
///
/// One page, not more: Linux sizes page-cache folios by the write that
/// creates them, and writes back whole folios, so zeros written 64 KiB at
/// a time made every later fdatasync of a 150-byte record write 64 KiB
/// (measured with `/proc/self/io` `write_bytes` on ext4: 65,667 bytes per
/// synced 150-byte overwrite, against 4,243 with page-sized zero writes,
/// and no faster).
static ZEROS: [u8; 4096] = [0; 4096];

/// Writes `len` zero bytes at `offset` of `file` with positioned writes.
fn write_zeros_at(file: &File, mut offset: u64, len: u64) -> io::Result<()> {
    let end = offset.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
    while offset < end {
        // At most ZEROS.len(), which fits in usize.
        let chunk = (end - offset).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..chunk], offset)?;
        offset += chunk as u64;
    }
    Ok(())
}

/// A file opened for positioned reads.
pub trait RandomAccessFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; an `UnexpectedEof` error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// True when the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// An exclusive lock on a file, released by [`FileLock::release`], when
/// dropped, or when the owning process dies.
pub trait FileLock: Send + Sync + Debug {
    /// Releases the lock now, so another holder can take it while this
    /// handle is still alive (a closed store whose snapshots live on).
    /// Idempotent; dropping the handle afterwards does nothing more.
    fn release(&self) -> io::Result<()>;
}

/// The file operations the engine needs, and nothing more.
pub trait FileSystem: Send + Sync + Debug + 'static {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates `path` (truncating an existing file) for appending.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>>;
    /// Opens `path` for positioned reads.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Reads the whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open_read(path)?;
        let len = usize::try_from(file.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the entries in `dir`, in no order.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The length of a file in bytes.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Cuts a file to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Makes an existing file's content durable (`fdatasync`) without
    /// changing it: for a file some earlier process wrote and never synced.
    /// The default cuts the file to its own length (which syncs it).
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.truncate(path, self.file_size(path)?)
    }
    /// True when `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Takes an exclusive lock on `path` (creating it), failing at once with
    /// [`io::ErrorKind::WouldBlock`] if another holder has it, in this process
    /// or another.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
    /// Makes `to` a new name (hard link) of the existing file `from`. The
    /// new directory entry is durable only once `to`'s directory is synced.
    /// A file system without hard links keeps this default, which fails
    /// with [`io::ErrorKind::Unsupported`]; [`link_or_copy`] then copies.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system has no hard links",
        ))
    }
}

/// Runs one call into a file system, turning a panic inside it (a bug in a
/// [`FileSystem`] implementation) into an I/O error
/// ([`io::ErrorKind::Other`], "the file system panicked: ..."). For
/// callers that mark shared state around a call and have other threads
/// wait for the mark to clear (the WAL's writer and syncer roles): a panic
/// unwinding past the code that clears the mark would leave them waiting
/// forever, while an error takes the path every failure takes.
pub fn catch_fs_panic<T>(call: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        Err(io::Error::other(format!(
            "the file system panicked: {}",
            panic_message(payload.as_ref())
        )))
    })
}

/// The process's soft limit on open file descriptors (`RLIMIT_NOFILE`),
/// or `None` where it is unknown or unlimited.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The message a panic was raised with (its payload, if that is a string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "(no message)"
    }
}

/// How [`link_or_copy`] placed a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// `to` is a hard link to `from`: no bytes were written.
    Linked,
    /// The file system refused a hard link, so `to` is a synced copy of
    /// this many bytes.
    Copied(u64),
}

/// Bytes read and appended at a time by [`link_or_copy`]'s copy.
const COPY_CHUNK_BYTES: u64 = 1 << 20;

/// Gives `to` the contents of the existing file `from`: a hard link where
/// the file system allows it, else a copy whose data is synced
/// (`fdatasync`). Either way `to`'s directory entry is not synced: the
/// caller syncs the directory. Copies when the link fails because `from`
/// and `to` are on different file systems (`EXDEV`), or the file system
/// has no hard links or refuses this one (`EPERM`, `EOPNOTSUPP`,
/// `EMLINK`, or [`io::ErrorKind::Unsupported`]); any other failure is
/// returned. `from` must not change while it is copied (a table file
/// never does).
pub fn link_or_copy(fs: &dyn FileSystem, from: &Path, to: &Path) -> io::Result<Placed> {
    match fs.hard_link(from, to) {
        Ok(()) => Ok(Placed::Linked),
        Err(err) if link_unsupported(&err) => copy_file(fs, from, to).map(Placed::Copied),
        Err(err) => Err(err),
    }
}

/// True when a failed hard link means "copy instead", not a real failure.
fn link_unsupported(err: &io::Error) -> bool {
    const EPERM: i32 = 1;
    const EXDEV: i32 = 18;
    const EMLINK: i32 = 31;
    const EOPNOTSUPP: i32 = 95;
    err.kind() == io::ErrorKind::Unsupported
        || matches!(
            err.raw_os_error(),
            Some(EPERM | EXDEV | EMLINK | EOPNOTSUPP)
        )
}

/// Copies `from` into a new file `to` in chunks, syncs its data, and
/// returns the bytes copied.
fn copy_file(fs: &dyn FileSystem, from: &Path, to: &Path) -> io::Result<u64> {
    let source = fs.open_read(from)?;
    let len = source.len()?;
    let target = fs.create(to)?;
    let mut buf = Vec::new();
    let mut offset = 0;
    while offset < len {
        let chunk = (len - offset).min(COPY_CHUNK_BYTES);
        // At most COPY_CHUNK_BYTES, which fits in usize everywhere.
        buf.resize(chunk as usize, 0);
        source.read_exact_at(&mut buf, offset)?;
        target.append(&buf)?;
        offset += chunk;
    }
    target.sync_data()?;
    Ok(len)
}

/// The real operating-system file system (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFileSystem;

impl OsFileSystem {
    /// The OS file system as a shared handle.
    pub fn shared() -> SharedFileSystem {
        Arc::new(OsFileSystem)
    }
}

#[derive(Debug)]
struct OsWritableFile {
    file: File,
    /// Where the next append goes. Appends are positioned writes here, not
    /// writes through the file position: in a process with more than one
    /// thread, every `write` through the position takes the open file's
    /// position lock (`fdget_pos`, 2% of an ordered fill's samples in a
    /// profile of `lsm bench fillseq`), a `pwrite` none. Each append
    /// reserves its range first, so concurrent appends never overlap.
    /// After a failed append what lies past the earlier appends is
    /// unspecified, as after a failed `write`: callers abandon the file.
    append_at: AtomicU64,
}

impl WritableFile for OsWritableFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        let offset = self
            .append_at
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.file.write_all_at(data, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    #[cfg(target_os = "linux")]
    fn preallocate(&self, len: u64) -> io::Result<()> {
        use rustix::fs::{fallocate, FallocateFlags};
        let reserved = fallocate(&self.file, FallocateFlags::KEEP_SIZE, 0, len);
        reserved.map_err(|error| {
            // ENOSPC part way keeps what was reserved: free it (the trait's
            // contract), or the writes after this hint find the disk full.
            let _ = self.release_reservation();
            io::Error::from(error)
        })
    }
    fn write_zeros(&self, offset: u64, len: u64) -> io::Result<()> {
        write_zeros_at(&self.file, offset, len)
    }
    fn release_reservation(&self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        self.file.set_len(len)
    }
}

#[derive(Debug)]
struct OsRandomAccessFile(File);

impl RandomAccessFile for OsRandomAccessFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// An `flock` on the open file (per open file description: closing this
/// handle's descriptor never touches a lock another open of the file took).
#[derive(Debug)]
struct OsFileLock(File);

impl FileLock for OsFileLock {
    fn release(&self) -> io::Result<()> {
        self.0.unlock()
    }
}

/// Opens `path` for reading if it is a regular file, and fails with
/// `InvalidInput` otherwise: a FIFO (or a device) where a store file should
/// be would otherwise block the open or the read for good. Opened
/// non-blocking (no effect on a regular file's reads) and checked on the
/// open file, so a file swapped in between cannot block either.
fn open_regular_file(path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        let nonblocking = i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0);
        OpenOptions::new()
            .read(true)
            .custom_flags(nonblocking)
            .open(path)?
    };
    #[cfg(not(target_os = "linux"))]
    let file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

impl FileSystem for OsFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(OsWritableFile {
            file,
            append_at: AtomicU64::new(0),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        Ok(Arc::new(OsRandomAccessFile(open_regular_file(path)?)))
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut file = open_regular_file(path)?;
        let mut bytes = Vec::new();
        let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        bytes
            .try_reserve_exact(len)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "file too large to read"))?;
        io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok(bytes)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.sync_data()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsFileLock(file))),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another open store", path.display()),
            )),
            Err(fs::TryLockError::Error(err)) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_call_becomes_an_io_error_with_its_message() {
        assert_eq!(catch_fs_panic(|| Ok(3)).unwrap(), 3);
        let err = catch_fs_panic(|| -> io::Result<()> { panic!("disk {}", "gone") }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(err.to_string(), "the file system panicked: disk gone");
        let err = catch_fs_panic(|| -> io::Result<()> { std::panic::panic_any(5u8) }).unwrap_err();
        assert_eq!(err.to_string(), "the file system panicked: (no message)");
    }

    /// A FIFO where a store file should be is an `InvalidInput` error, not
    /// an open or a read that blocks for good (nobody writes to it).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_refused_rather_than_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("OPTIONS");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let fs = OsFileSystem;
        let err = fs.read_all(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let err = fs.open_read(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let dir_err = fs.read_all(dir.path()).unwrap_err();
        assert_eq!(dir_err.kind(), io::ErrorKind::InvalidInput, "{dir_err}");
    }

    #[test]
    fn write_read_rename_list() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let a = dir.path().join("a");
        let file = fs.create(&a).unwrap();
        file.append(b"hello ").unwrap();
        file.append(b"world").unwrap();
        file.sync_data().unwrap();
        fs.sync_dir(dir.path()).unwrap();
        let reader = fs.open_read(&a).unwrap();
        assert_eq!(reader.len().unwrap(), 11);
        let mut buf = [0u8; 5];
        reader.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        let err = reader.read_exact_at(&mut buf, 9).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let b = dir.path().join("b");
        fs.rename(&a, &b).unwrap();
        assert_eq!(fs.list_dir(dir.path()).unwrap(), vec!["b".to_string()]);
        fs.truncate(&b, 5).unwrap();
        assert_eq!(fs.read_all(&b).unwrap(), b"hello");
        fs.remove_file(&b).unwrap();
        assert!(!fs.exists(&b));
    }

    /// Zeros written ahead grow the file without moving the append
    /// position: the next appends overwrite them, the rest stay zeros.
    #[test]
    fn zeros_written_ahead_are_overwritten_by_later_appends() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let path = dir.path().join("log");
        let file = fs.create(&path).unwrap();
        file.append(b"head").unwrap();
        file.write_zeros(4, 100_000).unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), 100_004);
        file.append(b"tail").unwrap();
        let bytes = fs.read_all(&path).unwrap();
        assert_eq!(bytes.len(), 100_004);
        assert_eq!(&bytes[..8], b"headtail");
        assert!(bytes[8..].iter().all(|&b| b == 0));
        let overflow = file.write_zeros(u64::MAX, 2).unwrap_err();
        assert_eq!(overflow.kind(), io::ErrorKind::InvalidInput);
    }

    /// A file system that keeps the trait's default `hard_link`.
    #[derive(Debug)]
    struct NoLinks;

    impl FileSystem for NoLinks {
        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            OsFileSystem.create_dir_all(dir)
        }
        fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
            OsFileSystem.create(path)
        }
        fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
            OsFileSystem.open_read(path)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            OsFileSystem.rename(from, to)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            OsFileSystem.remove_file(path)
        }
        fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
            OsFileSystem.list_dir(dir)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            OsFileSystem.sync_dir(dir)
        }
        fn file_size(&self, path: &Path) -> io::Result<u64> {
            OsFileSystem.file_size(path)
        }
        fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
            OsFileSystem.truncate(path, len)
        }
        fn exists(&self, path: &Path) -> bool {
            OsFileSystem.exists(path)
        }
        fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
            OsFileSystem.lock(path)
        }
    }

    /// Linked where hard links work (the same inode: writing through one
    /// name shows through the other); copied, byte for byte and across
    /// several chunks, where the file system has none.
    #[test]
    fn link_or_copy_links_where_it_can_and_copies_otherwise() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let contents: Vec<u8> = (0..(2 * COPY_CHUNK_BYTES + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        fs::write(&from, &contents).unwrap();

        let linked = dir.path().join("linked");
        assert_eq!(
            link_or_copy(&OsFileSystem, &from, &linked).unwrap(),
            Placed::Linked
        );
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&linked), ino(&from));
        assert_eq!(fs::metadata(&from).unwrap().nlink(), 2);

        let copied = dir.path().join("copied");
        assert_eq!(
            link_or_copy(&NoLinks, &from, &copied).unwrap(),
            Placed::Copied(contents.len() as u64)
        );
        assert_ne!(ino(&copied), ino(&from));
        assert_eq!(fs::read(&copied).unwrap(), contents);

        let empty = dir.path().join("empty");
        fs::write(&empty, b"").unwrap();
        let empty_copy = dir.path().join("empty-copy");
        assert_eq!(
            link_or_copy(&NoLinks, &empty, &empty_copy).unwrap(),
            Placed::Copied(0)
        );
        assert_eq!(fs::read(&empty_copy).unwrap(), b"");
    }

    /// A hard link onto an existing name, or from a missing file, is a real
    /// failure, not a reason to copy.
    #[test]
    fn link_or_copy_returns_real_failures() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::write(&from, b"x").unwrap();
        let taken = dir.path().join("taken");
        fs::write(&taken, b"y").unwrap();
        let err = link_or_copy(&OsFileSystem, &from, &taken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&taken).unwrap(), b"y");
        let missing = dir.path().join("missing");
        let err = link_or_copy(&OsFileSystem, &missing, &dir.path().join("to")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let exdev = io::Error::from_raw_os_error(18);
        assert!(link_unsupported(&exdev));
        assert!(!link_unsupported(&io::Error::from_raw_os_error(5)));
    }

    #[test]
    fn second_lock_in_same_process_fails_until_first_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let path = dir.path().join("LOCK");
        let first = fs.lock(&path).unwrap();
        let err = fs.lock(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        assert!(fs.lock(&path).is_ok());
    }

    #[test]
    fn released_lock_can_be_taken_while_the_first_handle_lives() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFileSystem;
        let path = dir.path().join("LOCK");
        let first = fs.lock(&path).unwrap();
        first.release().unwrap();
        first.release().unwrap(); // idempotent
        let second = fs.lock(&path).unwrap();
        // Dropping the released handle leaves the new holder's lock alone.
        drop(first);
        let err = fs.lock(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(second);
    }
}
