//! [`WaitForSeq`]: the read-your-writes fence as a `Future`
//! ([`crate::AsyncLsmStore::wait_for_seq_async`]), over the engine's
//! watermark future, reporting this crate's [`Error`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lsm_core::SeqNo;

use crate::error::{Error, Result};

/// A future that resolves once every write up to [`WaitForSeq::seq`] is
/// visible to reads of its store (the applied watermark reached it).
///
/// - `Ok(())`: the watermark reached the sequence number. Every later
///   `get`, `range` or `snapshot` of the store reflects every write up to
///   it, as after [`crate::AsyncLsmStore::wait_for_seq`] returned true.
/// - An error for which [`Error::is_closed`] is true: the store closed
///   before that. (Close applies every queued write first, so a write that
///   returned its sequence number is visible by then and resolves `Ok`.)
/// - An error for which [`Error::is_poisoned`] is true: the store was
///   poisoned before that (a failed WAL append, flush or compaction). A
///   write whose WAL append failed never becomes visible; one still queued
///   may still be applied, which the blocking `wait_for_seq` would see, but
///   the future resolves at once rather than guess.
///
/// No runtime, thread or timer: polling registers the task's waker with
/// the watermark, and the memtable insert that moves the watermark past
/// the target (or the close or the poisoning) wakes it. With no future
/// waiting, that costs the write path one atomic load. It owns an `Arc` of
/// the store's engine, so it is `'static` and can be spawned; it does not
/// keep the store open (dropping the last store handle still closes the
/// store, and the future then resolves). Dropping the future unregisters
/// it. A sequence number no write has taken yet is waited for like any
/// other.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WaitForSeq(lsm_engine::WaitVisible);

impl WaitForSeq {
    pub(crate) fn new(inner: lsm_engine::WaitVisible) -> WaitForSeq {
        WaitForSeq(inner)
    }

    /// The sequence number it waits for.
    pub fn seq(&self) -> SeqNo {
        self.0.seq()
    }
}

impl Future for WaitForSeq {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.0).poll(cx).map_err(Error::from)
    }
}
