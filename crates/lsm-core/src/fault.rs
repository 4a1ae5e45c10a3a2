//! `FaultyFileSystem`: a [`FileSystem`] wrapper that injects the faults a
//! storage engine must survive, for tests (as RocksDB's
//! `FaultInjectionTestFS` and Pebble's `errorfs` do).
//!
//! - `fail_syncs(true)`: every `sync_data` (and `sync_dir`) returns EIO.
//! - `fail_appends(true)`: every `append` returns ENOSPC.
//! - `target(Some("MANIFEST"))`: only files whose name contains the text
//!   fail (`None`: all files).
//! - `on_create(hook)`: runs `hook(path)` before every file creation, so a
//!   test can count, delay or block creations (e.g. hold a compaction in
//!   the middle of its table I/O).
//! - `fail_hard_links(true)`: every `hard_link` fails with EXDEV, as across
//!   file systems (so [`crate::fs::link_or_copy`] copies).
//! - `fail_after(Some(n))`: the next `n` changing operations (create,
//!   append, sync, directory sync, rename, remove, truncate, hard link,
//!   directory creation) succeed and every later one fails with EIO, so a
//!   test can cut a procedure short at each of its steps in turn
//!   ([`FaultyFileSystem::operations`] counts them). `target` does not
//!   apply to it.
//! - [`FaultyFileSystem::crash`]: a simulated power loss. Every file written
//!   through this wrapper loses what was appended after its last successful
//!   `sync_data`, and files created (or hard-linked) since the last
//!   `sync_dir` of their directory disappear. A rename not yet covered by
//!   a `sync_dir` of its target's directory (and of its source's, when
//!   that differs) is undone: the file goes back to its old name and a
//!   file it replaced comes back with the content it had, as a file
//!   system that had not committed the rename yet would leave them (the
//!   rename is atomic, so never neither name). Every file
//!   lock taken through the wrapper is released, as the kernel releases a
//!   dead process's locks, so a store leaked with `mem::forget` (a process
//!   that died without closing) can be reopened.
//!   Zeros a file wrote ahead of its data
//!   ([`WritableFile::write_zeros`]) and synced stay; appends that
//!   overwrote them since the last sync read back as those zeros again
//!   (the blocks' synced content).
//! - `tear_overwrites(true)`: a harsher crash for such overwrites, as a
//!   disk that wrote back later blocks before earlier ones: only the 4 KiB
//!   block holding the first unsynced byte returns to zeros; the unsynced
//!   overwrites in later blocks survive.
//!
//! Files that existed before the wrapper saw them are treated as durable.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::fs::{FileLock, FileSystem, RandomAccessFile, SharedFileSystem, WritableFile};

const EIO: i32 = 5;
const EXDEV: i32 = 18;
const ENOSPC: i32 = 28;

/// What the wrapper knows about a file written through it.
#[derive(Clone, Copy, Debug, Default)]
struct Tracked {
    /// Bytes appended (the append position).
    len: u64,
    /// Bytes covered by the last successful `sync_data`.
    synced_len: u64,
    /// The file's size: at least `len`, more after `write_zeros`.
    size: u64,
    /// `size` when the last successful `sync_data` started.
    synced_size: u64,
    /// True once the directory was synced after the file was created.
    entry_durable: bool,
}

/// Called with the path before every file creation.
type CreateHook = Arc<dyn Fn(&Path) + Send + Sync>;

/// A held lock that `crash` can release early.
type LockSlot = Arc<Mutex<Option<Box<dyn FileLock>>>>;

#[derive(Default)]
struct State {
    fail_syncs: AtomicBool,
    fail_appends: AtomicBool,
    fail_hard_links: AtomicBool,
    tear_overwrites: AtomicBool,
    syncs: AtomicU64,
    /// Changing operations attempted so far.
    operations: AtomicU64,
    /// Guarded: with `Some(n)`, operation number `n` (counted from 0 in
    /// `operations`) and every later one fail.
    fail_from: Mutex<Option<u64>>,
    /// Guarded: only file names containing this fail (`None`: all).
    target: Mutex<Option<String>>,
    /// Guarded: every file written through the wrapper.
    files: Mutex<HashMap<PathBuf, Tracked>>,
    /// Guarded: the locks taken through the wrapper; `crash` empties them.
    locks: Mutex<Vec<LockSlot>>,
    /// Guarded: run before every file creation.
    create_hook: Mutex<Option<CreateHook>>,
    /// Guarded: renames no directory sync has made durable yet, oldest
    /// first; `crash` undoes them, newest first.
    pending_renames: Mutex<Vec<PendingRename>>,
}

/// A rename `crash` would undo.
struct PendingRename {
    from: PathBuf,
    to: PathBuf,
    /// What `to` held before the rename, if it existed: its bytes and
    /// what the wrapper knew of it (`None`: durable before it saw it).
    replaced: Option<(Vec<u8>, Option<Tracked>)>,
    /// Whether `to`'s directory, and `from`'s, were synced since.
    to_dir_synced: bool,
    from_dir_synced: bool,
}

impl PendingRename {
    /// Notes a sync of `dir`; true once the rename is durable.
    fn dir_synced(&mut self, dir: &Path) -> bool {
        if self.to.parent() == Some(dir) {
            self.to_dir_synced = true;
        }
        if self.from.parent() == Some(dir) {
            self.from_dir_synced = true;
        }
        self.to_dir_synced && (self.from_dir_synced || self.from.parent() == self.to.parent())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Counts one changing operation; EIO if `fail_after` says it fails.
    fn operation(&self) -> io::Result<()> {
        let number = self.operations.fetch_add(1, Ordering::SeqCst);
        match *lock(&self.fail_from) {
            Some(from) if number >= from => Err(io::Error::from_raw_os_error(EIO)),
            _ => Ok(()),
        }
    }

    fn targeted(&self, path: &Path) -> bool {
        match lock(&self.target).as_deref() {
            None => true,
            Some(text) => path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().contains(text)),
        }
    }
}

/// A file system that fails on demand and can simulate a power loss.
pub struct FaultyFileSystem {
    inner: SharedFileSystem,
    state: Arc<State>,
}

impl fmt::Debug for FaultyFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyFileSystem")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl FaultyFileSystem {
    /// Wraps `inner` (usually [`crate::OsFileSystem`]).
    pub fn new(inner: SharedFileSystem) -> Arc<FaultyFileSystem> {
        Arc::new(FaultyFileSystem {
            inner,
            state: Arc::new(State::default()),
        })
    }

    /// Makes syncs fail with EIO (or succeed again).
    pub fn fail_syncs(&self, on: bool) {
        self.state.fail_syncs.store(on, Ordering::SeqCst);
    }

    /// Makes appends fail with ENOSPC (or succeed again).
    pub fn fail_appends(&self, on: bool) {
        self.state.fail_appends.store(on, Ordering::SeqCst);
    }

    /// Makes [`FaultyFileSystem::crash`] keep unsynced overwrites of synced
    /// zeros past the first 4 KiB block they touch (see the module docs).
    pub fn tear_overwrites(&self, on: bool) {
        self.state.tear_overwrites.store(on, Ordering::SeqCst);
    }

    /// Makes hard links fail with EXDEV (or work again), as if every link
    /// crossed file systems.
    pub fn fail_hard_links(&self, on: bool) {
        self.state.fail_hard_links.store(on, Ordering::SeqCst);
    }

    /// With `Some(n)`: the next `n` changing operations succeed and every
    /// later one fails with EIO, until `fail_after(None)`. See the module
    /// docs for what counts as one.
    pub fn fail_after(&self, n: Option<u64>) {
        let mut fail_from = lock(&self.state.fail_from);
        *fail_from = n.map(|n| self.state.operations.load(Ordering::SeqCst) + n);
    }

    /// Changing operations attempted so far (failed ones included).
    pub fn operations(&self) -> u64 {
        self.state.operations.load(Ordering::SeqCst)
    }

    /// Restricts failures to files whose name contains `text`.
    pub fn target(&self, text: Option<&str>) {
        *lock(&self.state.target) = text.map(str::to_string);
    }

    /// Runs `hook(path)` before every later file creation (replacing any
    /// earlier hook). The hook runs on the creating thread and may block it.
    pub fn on_create(&self, hook: impl Fn(&Path) + Send + Sync + 'static) {
        *lock(&self.state.create_hook) = Some(Arc::new(hook));
    }

    /// Successful `sync_data` calls so far.
    pub fn sync_count(&self) -> u64 {
        self.state.syncs.load(Ordering::SeqCst)
    }

    /// Simulates a power loss: cuts every written file back to its last
    /// synced length (synced zeros written ahead stay, as zeros) and
    /// removes files whose directory entry was never synced. REQUIRES:
    /// nothing is using the files (drop the store first).
    pub fn crash(&self) -> io::Result<()> {
        for slot in std::mem::take(&mut *lock(&self.state.locks)) {
            lock(&slot).take();
        }
        self.undo_pending_renames()?;
        let tear = self.state.tear_overwrites.load(Ordering::SeqCst);
        let files = std::mem::take(&mut *lock(&self.state.files));
        for (path, tracked) in files {
            if !self.inner.exists(&path) {
                continue;
            }
            if !tracked.entry_durable {
                self.inner.remove_file(&path)?;
                continue;
            }
            let durable_len = tracked.synced_len.max(tracked.synced_size);
            if tracked.synced_size <= tracked.synced_len {
                if self.inner.file_size(&path)? > durable_len {
                    self.inner.truncate(&path, durable_len)?;
                }
                continue;
            }
            // Synced zeros lie past the synced data: unsynced overwrites of
            // them read back as zeros (all of them, or with `tear`, only
            // those in the block holding the first unsynced byte).
            let mut bytes = self.inner.read_all(&path)?;
            let durable = usize::try_from(durable_len).unwrap_or(usize::MAX);
            bytes.resize(durable, 0);
            let lost_from = usize::try_from(tracked.synced_len).unwrap_or(usize::MAX);
            let lost_to = if tear {
                lost_from
                    .saturating_add(1)
                    .next_multiple_of(TEAR_BLOCK_BYTES)
            } else {
                durable
            };
            for byte in bytes.iter_mut().take(lost_to).skip(lost_from) {
                *byte = 0;
            }
            let file = self.inner.create(&path)?;
            file.append(&bytes)?;
            file.sync_data()?;
        }
        Ok(())
    }

    /// `crash`'s first step: every rename no directory sync made durable
    /// goes back, newest first.
    fn undo_pending_renames(&self) -> io::Result<()> {
        let pending = std::mem::take(&mut *lock(&self.state.pending_renames));
        let mut files = lock(&self.state.files);
        for rename in pending.into_iter().rev() {
            if self.inner.exists(&rename.to) {
                self.inner.rename(&rename.to, &rename.from)?;
            }
            if let Some(tracked) = files.remove(&rename.to) {
                files.insert(rename.from.clone(), tracked);
            }
            if let Some((bytes, tracked)) = rename.replaced {
                let file = self.inner.create(&rename.to)?;
                file.append(&bytes)?;
                file.sync_data()?;
                if let Some(tracked) = tracked {
                    files.insert(rename.to, tracked);
                }
            }
        }
        Ok(())
    }
}

/// The block size of `tear_overwrites`: a page, the unit the kernel
/// writes back.
const TEAR_BLOCK_BYTES: usize = 4096;

struct FaultyWritableFile {
    inner: Arc<dyn WritableFile>,
    path: PathBuf,
    state: Arc<State>,
}

impl fmt::Debug for FaultyWritableFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyWritableFile")
            .field("path", &self.path)
            .finish()
    }
}

impl WritableFile for FaultyWritableFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.state.operation()?;
        if self.state.fail_appends.load(Ordering::SeqCst) && self.state.targeted(&self.path) {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        self.inner.append(data)?;
        if let Some(tracked) = lock(&self.state.files).get_mut(&self.path) {
            tracked.len += data.len() as u64;
            tracked.size = tracked.size.max(tracked.len);
        }
        Ok(())
    }

    fn preallocate(&self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }

    fn release_reservation(&self) -> io::Result<()> {
        self.inner.release_reservation()
    }

    fn write_zeros(&self, offset: u64, len: u64) -> io::Result<()> {
        self.state.operation()?;
        if self.state.fail_appends.load(Ordering::SeqCst) && self.state.targeted(&self.path) {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        self.inner.write_zeros(offset, len)?;
        if let Some(tracked) = lock(&self.state.files).get_mut(&self.path) {
            debug_assert!(offset >= tracked.len, "zeros written over appended data");
            tracked.size = tracked.size.max(offset.saturating_add(len));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.state.operation()?;
        if self.state.fail_syncs.load(Ordering::SeqCst) && self.state.targeted(&self.path) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        // Note the lengths before syncing: bytes written concurrently with
        // this sync are not covered by it.
        let before = lock(&self.state.files)
            .get(&self.path)
            .map(|t| (t.len, t.size));
        self.inner.sync_data()?;
        self.state.syncs.fetch_add(1, Ordering::SeqCst);
        if let (Some((len, size)), Some(tracked)) =
            (before, lock(&self.state.files).get_mut(&self.path))
        {
            tracked.synced_len = tracked.synced_len.max(len);
            tracked.synced_size = tracked.synced_size.max(size);
        }
        Ok(())
    }
}

impl FileSystem for FaultyFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.state.operation()?;
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        // Cloned out so a blocking hook does not hold the lock.
        let hook = lock(&self.state.create_hook).clone();
        if let Some(hook) = hook {
            hook(path);
        }
        self.state.operation()?;
        let inner = self.inner.create(path)?;
        lock(&self.state.files).insert(path.to_path_buf(), Tracked::default());
        Ok(Arc::new(FaultyWritableFile {
            inner,
            path: path.to_path_buf(),
            state: Arc::clone(&self.state),
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.inner.open_read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.state.operation()?;
        let mut files = lock(&self.state.files);
        // What a crash before the directory sync brings back. Read before
        // the rename replaces it; a file being written is not renamed over.
        let replaced = if self.inner.exists(to) {
            Some((self.inner.read_all(to)?, files.get(to).copied()))
        } else {
            None
        };
        self.inner.rename(from, to)?;
        files.remove(to);
        if let Some(tracked) = files.remove(from) {
            // Until the directory sync a crash undoes the rename (module
            // docs), and the file goes back to `from` as it was tracked;
            // the sync makes the entry durable under its new name.
            files.insert(to.to_path_buf(), tracked);
        }
        lock(&self.state.pending_renames).push(PendingRename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            replaced,
            to_dir_synced: false,
            from_dir_synced: false,
        });
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.state.operation()?;
        self.inner.remove_file(path)?;
        lock(&self.state.files).remove(path);
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.state.operation()?;
        if self.state.fail_syncs.load(Ordering::SeqCst) && self.state.targeted(dir) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        self.inner.sync_dir(dir)?;
        for (path, tracked) in lock(&self.state.files).iter_mut() {
            if path.parent() == Some(dir) {
                tracked.entry_durable = true;
            }
        }
        lock(&self.state.pending_renames).retain_mut(|rename| !rename.dir_synced(dir));
        Ok(())
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.state.operation()?;
        self.inner.truncate(path, len)?;
        if let Some(tracked) = lock(&self.state.files).get_mut(path) {
            // truncate syncs
            tracked.len = tracked.len.min(len);
            tracked.synced_len = tracked.len;
            tracked.size = len;
            tracked.synced_size = len;
        }
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.state.operation()?;
        if self.state.fail_syncs.load(Ordering::SeqCst) && self.state.targeted(path) {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        self.inner.sync_file(path)?;
        self.state.syncs.fetch_add(1, Ordering::SeqCst);
        if let Some(tracked) = lock(&self.state.files).get_mut(path) {
            tracked.synced_len = tracked.len;
            tracked.synced_size = tracked.size;
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let slot = Arc::new(Mutex::new(Some(self.inner.lock(path)?)));
        lock(&self.state.locks).push(Arc::clone(&slot));
        Ok(Box::new(FaultyLock(slot)))
    }

    /// The new name holds data already durable (the file's own syncs), but
    /// is itself lost in a crash until its directory is synced.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.state.operation()?;
        if self.state.fail_hard_links.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(EXDEV));
        }
        self.inner.hard_link(from, to)?;
        let len = self.inner.file_size(to)?;
        let tracked = Tracked {
            len,
            synced_len: len,
            size: len,
            synced_size: len,
            entry_durable: false,
        };
        lock(&self.state.files).insert(to.to_path_buf(), tracked);
        Ok(())
    }
}

/// A lock that [`FaultyFileSystem::crash`] can release.
struct FaultyLock(LockSlot);

impl Drop for FaultyLock {
    fn drop(&mut self) {
        lock(&self.0).take();
    }
}

impl fmt::Debug for FaultyLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultyLock")
    }
}

impl FileLock for FaultyLock {
    fn release(&self) -> io::Result<()> {
        match lock(&self.0).take() {
            Some(inner) => inner.release(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsFileSystem;

    #[test]
    fn crash_drops_unsynced_bytes_and_unsynced_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let a = dir.path().join("a");
        let file = fs.create(&a).unwrap();
        file.append(b"durable").unwrap();
        file.sync_data().unwrap();
        fs.sync_dir(dir.path()).unwrap();
        file.append(b" lost").unwrap();
        let b = dir.path().join("b");
        let other = fs.create(&b).unwrap();
        other.append(b"never synced dir").unwrap();
        other.sync_data().unwrap();
        drop((file, other));
        assert_eq!(fs.sync_count(), 2);
        fs.crash().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"durable");
        assert!(
            !b.exists(),
            "a file whose directory entry was never synced survived"
        );
    }

    /// A crash before the directory sync undoes a rename: the old file
    /// is back under the target name and the renamed one (its entry never
    /// synced) is gone. After the sync the rename survives.
    #[test]
    fn crash_undoes_a_rename_whose_directory_was_not_synced() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let current = dir.path().join("CURRENT");
        let old = fs.create(&current).unwrap();
        old.append(b"old").unwrap();
        old.sync_data().unwrap();
        fs.sync_dir(dir.path()).unwrap();
        let tmp = dir.path().join("CURRENT.tmp");
        let new = fs.create(&tmp).unwrap();
        new.append(b"new").unwrap();
        new.sync_data().unwrap();
        fs.rename(&tmp, &current).unwrap();
        fs.crash().unwrap();
        assert_eq!(std::fs::read(&current).unwrap(), b"old");
        assert!(
            !tmp.exists(),
            "a file whose entry was never synced survived"
        );

        let new = fs.create(&tmp).unwrap();
        new.append(b"new").unwrap();
        new.sync_data().unwrap();
        fs.rename(&tmp, &current).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        drop((old, new));
        fs.crash().unwrap();
        assert_eq!(std::fs::read(&current).unwrap(), b"new");
        assert!(!tmp.exists());
    }

    /// A rename between directories is undone until both are synced.
    #[test]
    fn a_rename_between_directories_needs_both_synced() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let from = dir.path().join("table");
        std::fs::write(&from, b"durable").unwrap();
        let to = sub.join("table");
        fs.rename(&from, &to).unwrap();
        fs.sync_dir(&sub).unwrap();
        fs.crash().unwrap();
        assert_eq!(std::fs::read(&from).unwrap(), b"durable");
        assert!(!to.exists());

        fs.rename(&from, &to).unwrap();
        fs.sync_dir(&sub).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        fs.crash().unwrap();
        assert!(!from.exists());
        assert_eq!(std::fs::read(&to).unwrap(), b"durable");
    }

    /// Synced zeros written ahead survive a crash; unsynced appends over
    /// them read back as zeros, or with `tear_overwrites` only in the
    /// block holding the first unsynced byte.
    #[test]
    fn crash_returns_unsynced_overwrites_of_synced_zeros_to_zeros() {
        for tear in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let fs = FaultyFileSystem::new(OsFileSystem::shared());
            fs.tear_overwrites(tear);
            let path = dir.path().join("log");
            let file = fs.create(&path).unwrap();
            fs.sync_dir(dir.path()).unwrap();
            file.append(b"synced").unwrap();
            file.write_zeros(6, 3 * 4096).unwrap();
            file.sync_data().unwrap();
            file.append(&[7u8; 5000]).unwrap(); // bytes 6..5006, unsynced
            file.write_zeros(5006, 20_000).unwrap(); // never synced
            drop(file);
            fs.crash().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len(), 6 + 3 * 4096, "tear {tear}");
            assert_eq!(&bytes[..6], b"synced");
            assert!(bytes[6..4096].iter().all(|&b| b == 0), "tear {tear}");
            let kept = &bytes[4096..5006];
            if tear {
                assert!(kept.iter().all(|&b| b == 7), "a later block was not kept");
            } else {
                assert!(
                    kept.iter().all(|&b| b == 0),
                    "an unsynced overwrite survived"
                );
            }
            assert!(bytes[5006..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn create_hook_sees_every_creation() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        fs.on_create(move |path| lock(&record).push(path.to_path_buf()));
        fs.create(&dir.path().join("x.sst")).unwrap();
        fs.create(&dir.path().join("y.wal")).unwrap();
        assert_eq!(
            *lock(&seen),
            [dir.path().join("x.sst"), dir.path().join("y.wal")]
        );
    }

    /// A hard link not covered by a directory sync is gone after a crash
    /// (the file it named is not); a synced one survives. With
    /// `fail_hard_links`, `link_or_copy` copies instead.
    #[test]
    fn hard_links_need_a_directory_sync_and_can_be_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let table = dir.path().join("000001.sst");
        std::fs::write(&table, b"durable table").unwrap();
        let lost = dir.path().join("lost");
        fs.hard_link(&table, &lost).unwrap();
        fs.crash().unwrap();
        assert!(!lost.exists() && table.exists());

        let kept = dir.path().join("kept");
        fs.hard_link(&table, &kept).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        fs.crash().unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), b"durable table");

        fs.fail_hard_links(true);
        let err = fs.hard_link(&table, &dir.path().join("x")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EXDEV));
        let copy = dir.path().join("copy");
        let placed = crate::fs::link_or_copy(fs.as_ref(), &table, &copy).unwrap();
        assert_eq!(placed, crate::fs::Placed::Copied(13));
        assert_eq!(std::fs::read(&copy).unwrap(), b"durable table");
    }

    /// `fail_after(Some(n))` lets exactly `n` changing operations through,
    /// counting every kind, and fails the rest until it is reset.
    #[test]
    fn fail_after_lets_n_operations_through() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        let a = dir.path().join("a");
        let start = fs.operations();
        fs.fail_after(Some(3));
        let file = fs.create(&a).unwrap(); // 1
        file.append(b"x").unwrap(); // 2
        file.sync_data().unwrap(); // 3
        assert_eq!(file.append(b"y").unwrap_err().raw_os_error(), Some(EIO));
        assert_eq!(
            fs.sync_dir(dir.path()).unwrap_err().raw_os_error(),
            Some(EIO)
        );
        let err = fs.hard_link(&a, &dir.path().join("b")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EIO));
        assert!(fs.rename(&a, &dir.path().join("c")).is_err());
        assert_eq!(fs.operations() - start, 7);
        fs.fail_after(None);
        fs.sync_dir(dir.path()).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"x");
    }

    #[test]
    fn targeted_failures_hit_only_matching_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        fs.target(Some("MANIFEST"));
        fs.fail_syncs(true);
        fs.fail_appends(true);
        let wal = fs.create(&dir.path().join("000001.wal")).unwrap();
        wal.append(b"x").unwrap();
        wal.sync_data().unwrap();
        let manifest = fs.create(&dir.path().join("MANIFEST-000002")).unwrap();
        assert_eq!(
            manifest.append(b"x").unwrap_err().raw_os_error(),
            Some(ENOSPC)
        );
        assert_eq!(manifest.sync_data().unwrap_err().raw_os_error(), Some(EIO));
        fs.fail_syncs(false);
        manifest.sync_data().unwrap();
    }
}
