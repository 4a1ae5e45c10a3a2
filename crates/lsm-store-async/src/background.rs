//! What a background thread (the applier, the flusher, a compaction
//! worker) does when its work panics: a bug, or a `FileSystem`
//! implementation that panics. The panic poisons the store like a failed
//! flush or compaction would, and the thread lives on, so nobody waits
//! for a thread that is gone: a flush waiter gets the failure, a job its
//! `Failed` state, and the applier keeps draining the apply queue (the
//! writers it holds up finish; later ones get `Poisoned`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use lsm_core::fs::panic_message;
use lsm_engine::{Engine, Error as StoreError, Result};

/// Runs `work`; a panic inside it poisons `engine` with a reason naming
/// `what` and the panic's message, and is returned as that `Poisoned`
/// error.
///
/// Unwind safety: after a panic the engine refuses writes, flushes and
/// compactions (`Engine::check_writable`); what the caller still does
/// with it (reads, applying writes already in the WAL) only relies on
/// state each step installs whole under its lock.
pub(crate) fn catch_panic<T>(
    engine: &Engine,
    what: &str,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let reason = format!("{what} panicked: {}", panic_message(payload.as_ref()));
        engine.poison(reason.clone());
        Err(StoreError::Poisoned { reason })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_poisons_the_engine_and_becomes_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(lsm_engine::LsmConfig::new(dir.path())).unwrap();
        assert_eq!(catch_panic(&engine, "a test", || Ok(7)).unwrap(), 7);
        assert!(engine.check_writable().is_ok());
        let err =
            catch_panic(&engine, "a test", || -> Result<()> { panic!("boom {}", 1) }).unwrap_err();
        assert!(err.is_poisoned(), "{err}");
        assert!(err.to_string().contains("a test panicked: boom 1"), "{err}");
        assert!(engine.check_writable().unwrap_err().is_poisoned());
    }
}
