//! [`Instance`]: one open of a store directory, shared by the engine with
//! everything that reads lazily on its behalf after the call that made it
//! returned (its table cache, and through it every iterator), so that
//! they can tell when that open was closed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Hands out instance ids: unique in the process, never reused (0 is
/// never handed out).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One open of a store: an id no other open in the process has (a
/// snapshot records it, and reads through a snapshot compare it with the
/// store's), and the closed flag `close` sets. Reads check both with one
/// atomic load each and no lock.
#[derive(Debug)]
pub(crate) struct Instance {
    id: u64,
    closed: AtomicBool,
    /// The open holds the directory lock: until it closes, no one else
    /// deletes its files.
    holds_lock: bool,
}

impl Instance {
    /// The instance of an open that holds the directory lock (an engine).
    pub(crate) fn locked() -> Instance {
        Instance {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            closed: AtomicBool::new(false),
            holds_lock: true,
        }
    }

    /// The instance of an open without the lock (a read-only store): the
    /// lock's holder may delete the files it read at open.
    pub(crate) fn unlocked() -> Instance {
        Instance {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            closed: AtomicBool::new(false),
            holds_lock: false,
        }
    }

    /// The instance's id, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// `Err(ForeignSnapshot)` unless `snapshot_instance` (the id a
    /// snapshot recorded) is this instance's.
    pub(crate) fn check_snapshot(&self, snapshot_instance: u64) -> Result<()> {
        if snapshot_instance != self.id {
            return Err(Error::ForeignSnapshot);
        }
        Ok(())
    }

    /// True while a file the open reads cannot vanish without damage: it
    /// holds the directory lock and is not closed.
    pub(crate) fn owns_files(&self) -> bool {
        self.holds_lock && !self.is_closed()
    }

    /// Marks the instance closed; true if it already was.
    pub(crate) fn close(&self) -> bool {
        self.closed.swap(true, Ordering::AcqRel)
    }

    /// True once [`Instance::close`] ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `Err(Closed)` once the instance is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// `err`, or [`Error::Closed`] if `err` is an I/O error and the
    /// instance is closed by now: a read that raced the close (a table it
    /// opens lazily may have been deleted by the directory's next owner)
    /// reports the close, not the file system's view of its aftermath.
    pub(crate) fn closed_or(&self, err: Error) -> Error {
        if matches!(err, Error::Io { .. }) && self.is_closed() {
            Error::Closed
        } else {
            err
        }
    }
}
