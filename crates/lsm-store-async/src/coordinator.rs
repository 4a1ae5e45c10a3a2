//! The compaction coordinator: a bounded queue of compaction jobs, a pool of
//! worker threads that run them outside every store lock, per-level gating,
//! job status and a bounded history.
//!
//! # Job life cycle
//! `Pending` (queued) -> `Running` (its input files are reserved in the
//! engine) -> `Completed` / `Failed(reason)`; or `Pending` -> `Cancelled`
//! when the store closes first.
//!
//! # Rules a worker follows when it looks for work (`next_runnable`)
//! 1. Jobs are considered in the order they were scheduled.
//! 2. Per-level gating: a job whose source level already has a `Running`
//!    job is skipped (it runs after that job ends).
//! 3. A manual job (`schedule_compaction(level)`) reserves the whole level
//!    with `Engine::reserve_compaction(Some(level))`. If that returns `None`
//!    while other jobs run or hold reservations, its inputs are busy: it
//!    stays pending until some job ends (`finished` moves), then retries.
//!    If nothing else runs, the level has nothing to do and the job
//!    completes with 0 bytes.
//! 4. An automatic job (scheduled by the flusher, or as the follow-up of
//!    an automatic job that did work) asks the picker
//!    (`reserve_compaction(None)`). No choice: it completes with 0 bytes.
//!    A choice whose level is busy is kept, reserved, with the job, which
//!    runs once that level is free (unless the store is poisoned by then:
//!    the job fails and hands the reservation back).
//! 5. A compaction that panics (a bug, or a `FileSystem` that panics)
//!    fails its job and poisons the store, like a failed one; the worker
//!    goes on to the next job (which fails: the store is poisoned), so no
//!    waiter waits for a worker that is gone.
//!
//! # Invariants
//! - `Jobs::running_levels` holds exactly the source levels of `Running`
//!   jobs, so two jobs of one level never run at once.
//! - Concurrent jobs never share an input file: the engine's busy-file
//!   reservation refuses overlapping choices.
//! - Every job in `Jobs::pending` is `Pending`; every id in
//!   `Jobs::history` is terminal; `entries` holds exactly the union of
//!   pending, running and history ids.
//!
//! Lock order: `Coordinator::jobs` before the engine's catalog lock (taken
//! inside `reserve_compaction`); the engine never calls back into the
//! coordinator. No job runs with `jobs` held.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_engine::{CompactionReservation, Engine, Error as StoreError};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::background::catch_panic;
use crate::error::{Error, Result};

/// Pending jobs beyond this are refused with [`Error::QueueFull`].
pub const MAX_PENDING_JOBS: usize = 64;

/// Finished jobs whose status stays queryable; older ones are forgotten.
pub const JOB_HISTORY_LIMIT: usize = 256;

/// Identifies a compaction job. Ids increase in scheduling order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a job is in its life cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Queued; waiting for a worker, for its level to be free, or for its
    /// inputs to stop being busy.
    Pending,
    /// A worker is running it; its input files are reserved.
    Running,
    /// Finished; the new version is installed.
    Completed,
    /// Failed with this error; the store refuses writes from then on.
    Failed(String),
    /// The store closed before the job started.
    Cancelled,
}

impl JobState {
    /// True for `Completed`, `Failed` and `Cancelled`.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed(_) | JobState::Cancelled
        )
    }
}

/// Who asked for a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// `schedule_compaction` / `compact_level`: a whole level into the next.
    Manual,
    /// Scheduled by a flush (or a previous automatic job) because the
    /// picker's scores say a level is due; the picker chooses the inputs.
    Automatic,
}

/// The status of one compaction job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionJob {
    /// The job's id.
    pub id: JobId,
    /// Manual jobs or automatic ones that reached the picker: the source
    /// level (`level` compacts into `level + 1`). `None` for an automatic
    /// job that has not picked yet or had nothing to do.
    pub level: Option<usize>,
    /// Manual or automatic.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// When it was scheduled.
    pub scheduled_at: Instant,
    /// When a worker started it.
    pub started_at: Option<Instant>,
    /// When it reached a terminal state.
    pub completed_at: Option<Instant>,
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of output tables written.
    pub bytes_written: u64,
}

type Reservation = CompactionReservation;

struct JobEntry {
    info: CompactionJob,
    /// An automatic job's picked inputs, held while its level is busy.
    reservation: Option<Reservation>,
    /// A manual job whose inputs were busy: retry once `Jobs::finished`
    /// moves past this.
    retry_after: Option<u64>,
    /// Set for a job `schedule_and_wait` waits for: `remember` does not
    /// forget it (256 later jobs can end before the waiter looks), the
    /// waiter does once it has read the final state.
    awaited: bool,
    /// The error a job that ran failed with (its `Failed` state holds the
    /// message): the waiter reports it typed (`Error::CompactionFailed`).
    cause: Option<Arc<StoreError>>,
}

/// Guarded by `Coordinator::jobs`.
struct Jobs {
    next_id: u64,
    entries: HashMap<JobId, JobEntry>,
    /// Pending jobs in scheduling order.
    pending: VecDeque<JobId>,
    /// Source levels of running jobs.
    running_levels: BTreeSet<usize>,
    running: usize,
    /// Terminal jobs, oldest first, at most `JOB_HISTORY_LIMIT`.
    history: VecDeque<JobId>,
    /// Number of jobs that left `Running` (wakes retrying manual jobs).
    finished: u64,
    /// Set by `shutdown`: workers exit once their current job ends.
    shutdown: bool,
}

/// The compaction coordinator shared by the store, the flusher and the
/// worker threads.
pub(crate) struct Coordinator {
    // Immutable.
    engine: Arc<Engine>,
    jobs: Mutex<Jobs>,
    /// Notified whenever a job changes state or a job is scheduled.
    changed: Condvar,
}

/// What a worker runs once it leaves the lock.
struct Task {
    id: JobId,
    kind: JobKind,
    reservation: Reservation,
}

impl Coordinator {
    pub(crate) fn new(engine: Arc<Engine>) -> Coordinator {
        Coordinator {
            engine,
            jobs: Mutex::new(Jobs {
                next_id: 1,
                entries: HashMap::new(),
                pending: VecDeque::new(),
                running_levels: BTreeSet::new(),
                running: 0,
                history: VecDeque::new(),
                finished: 0,
                shutdown: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Queues a manual compaction of `level` into `level + 1`.
    pub(crate) fn schedule(&self, level: usize) -> Result<JobId> {
        let mut jobs = self.jobs.lock();
        self.push_manual(&mut jobs, level)
    }

    /// [`Coordinator::schedule`], then waits for the job's final state,
    /// with the error a failed run ended with. The job is marked awaited
    /// under the same lock hold that queued it, so the history's limit
    /// cannot forget it before this reads it.
    pub(crate) fn schedule_and_wait(
        &self,
        level: usize,
    ) -> Result<(JobId, JobState, Option<Arc<StoreError>>)> {
        let mut jobs = self.jobs.lock();
        let id = self.push_manual(&mut jobs, level)?;
        if let Some(entry) = jobs.entries.get_mut(&id) {
            entry.awaited = true;
        }
        loop {
            let Some(entry) = jobs.entries.get_mut(&id) else {
                // Unreachable: an awaited entry is only removed below.
                return Err(Error::UnknownJob(id));
            };
            if entry.info.state.is_terminal() {
                let state = entry.info.state.clone();
                let cause = entry.cause.clone();
                entry.awaited = false;
                if !jobs.history.contains(&id) {
                    // The history moved past it while it was awaited.
                    jobs.entries.remove(&id);
                }
                return Ok((id, state, cause));
            }
            self.changed.wait(&mut jobs);
        }
    }

    /// Queues a manual job compacting `level`, after the checks
    /// [`Coordinator::schedule`] documents.
    fn push_manual(&self, jobs: &mut Jobs, level: usize) -> Result<JobId> {
        let max = self.engine.max_compactable_level();
        if level > max {
            return Err(StoreError::InvalidLevel { level, max }.into());
        }
        if jobs.shutdown {
            return Err(StoreError::Closed.into());
        }
        self.engine.check_writable()?;
        self.push(jobs, JobKind::Manual, Some(level))
    }

    /// Queues an automatic (picker) job if a level is due and no automatic
    /// job is already waiting to pick. Silently does nothing when closed or
    /// full: the next flush, or the next automatic job that did work, asks
    /// again.
    pub(crate) fn schedule_automatic_if_due(&self) {
        if !self.compaction_due() {
            return;
        }
        let mut jobs = self.jobs.lock();
        self.push_automatic(&mut jobs);
    }

    fn push_automatic(&self, jobs: &mut Jobs) {
        if jobs.shutdown || self.engine.check_writable().is_err() {
            return;
        }
        let waiting = jobs.pending.iter().any(|id| {
            jobs.entries
                .get(id)
                .is_some_and(|e| e.info.kind == JobKind::Automatic && e.reservation.is_none())
        });
        if !waiting {
            let _ = self.push(jobs, JobKind::Automatic, None);
        }
    }

    /// True when the picker's scores say some level needs compaction.
    pub(crate) fn compaction_due(&self) -> bool {
        self.engine
            .compaction_scores()
            .iter()
            .any(|&score| score >= 1.0)
    }

    fn push(&self, jobs: &mut Jobs, kind: JobKind, level: Option<usize>) -> Result<JobId> {
        if jobs.pending.len() >= MAX_PENDING_JOBS {
            return Err(Error::QueueFull {
                capacity: MAX_PENDING_JOBS,
            });
        }
        let id = JobId(jobs.next_id);
        jobs.next_id += 1;
        jobs.entries.insert(
            id,
            JobEntry {
                info: CompactionJob {
                    id,
                    level,
                    kind,
                    state: JobState::Pending,
                    scheduled_at: Instant::now(),
                    started_at: None,
                    completed_at: None,
                    bytes_read: 0,
                    bytes_written: 0,
                },
                reservation: None,
                retry_after: None,
                awaited: false,
                cause: None,
            },
        );
        jobs.pending.push_back(id);
        self.changed.notify_all();
        Ok(id)
    }

    /// The status of `id`, if it is pending, running or in the history.
    pub(crate) fn status(&self, id: JobId) -> Option<CompactionJob> {
        self.jobs.lock().entries.get(&id).map(|e| e.info.clone())
    }

    /// Number of pending jobs.
    pub(crate) fn pending(&self) -> usize {
        self.jobs.lock().pending.len()
    }

    /// Waits until `id` is terminal; its final state, or `None` if it is
    /// unknown (or left the history) or `deadline` passed first.
    pub(crate) fn wait(&self, id: JobId, deadline: Option<Instant>) -> Option<JobState> {
        let mut jobs = self.jobs.lock();
        loop {
            let state = &jobs.entries.get(&id)?.info.state;
            if state.is_terminal() {
                return Some(state.clone());
            }
            match deadline {
                Some(deadline) => {
                    if self.changed.wait_until(&mut jobs, deadline).timed_out() {
                        let state = &jobs.entries.get(&id)?.info.state;
                        return state.is_terminal().then(|| state.clone());
                    }
                }
                None => self.changed.wait(&mut jobs),
            }
        }
    }

    /// [`Coordinator::wait`] with a timeout: true once the job is terminal.
    /// A timeout too large for an `Instant` (e.g. `Duration::MAX`) waits
    /// without a deadline.
    pub(crate) fn wait_for(&self, id: JobId, timeout: Duration) -> bool {
        self.wait(id, Instant::now().checked_add(timeout)).is_some()
    }

    /// Stops the coordinator: pending jobs become `Cancelled`, workers exit
    /// once their running job ends. Joining the workers is the caller's.
    pub(crate) fn shutdown(&self) {
        let mut jobs = self.jobs.lock();
        jobs.shutdown = true;
        let now = Instant::now();
        while let Some(id) = jobs.pending.pop_front() {
            if let Some(entry) = jobs.entries.get_mut(&id) {
                entry.info.state = JobState::Cancelled;
                entry.info.completed_at = Some(now);
                if let Some(reservation) = entry.reservation.take() {
                    self.engine.release_compaction(reservation);
                }
            }
            remember(&mut jobs, id);
        }
        self.changed.notify_all();
    }

    /// True once [`Coordinator::shutdown`] ran: no job will start again.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.jobs.lock().shutdown
    }

    /// A worker thread's body: run jobs until shutdown.
    pub(crate) fn run_worker(&self) {
        loop {
            let task = {
                let mut jobs = self.jobs.lock();
                loop {
                    if jobs.shutdown {
                        return;
                    }
                    if let Some(task) = self.next_runnable(&mut jobs) {
                        break task;
                    }
                    self.changed.wait(&mut jobs);
                }
            };
            let level = task.reservation.level();
            // A panic fails the job and poisons the store (see `background`).
            let result = catch_panic(&self.engine, "a compaction", || {
                self.engine.run_reserved_compaction(task.reservation)
            });
            let mut jobs = self.jobs.lock();
            jobs.running -= 1;
            jobs.running_levels.remove(&level);
            jobs.finished += 1;
            let did_work = result.is_ok();
            if let Some(entry) = jobs.entries.get_mut(&task.id) {
                entry.info.completed_at = Some(Instant::now());
                match result {
                    Ok(outcome) => {
                        entry.info.state = JobState::Completed;
                        entry.info.bytes_read = outcome.bytes_read;
                        entry.info.bytes_written = outcome.bytes_written;
                    }
                    Err(err) => {
                        entry.info.state = JobState::Failed(err.to_string());
                        entry.cause = Some(Arc::new(err));
                    }
                }
            }
            remember(&mut jobs, task.id);
            if did_work && task.kind == JobKind::Automatic && self.compaction_due() {
                self.push_automatic(&mut jobs);
            }
            self.changed.notify_all();
        }
    }

    /// Finds the first pending job that can run now, marks it `Running` and
    /// returns it. Completes or fails jobs that turn out to have nothing to
    /// run. REQUIRES: `jobs` held (the guard is the proof).
    fn next_runnable(&self, jobs: &mut MutexGuard<'_, Jobs>) -> Option<Task> {
        let mut index = 0;
        while index < jobs.pending.len() {
            let id = jobs.pending[index];
            match self.try_start(jobs, id) {
                Start::Run(reservation) => {
                    jobs.pending.remove(index);
                    let level = reservation.level();
                    debug_assert!(!jobs.running_levels.contains(&level));
                    jobs.running_levels.insert(level);
                    jobs.running += 1;
                    let entry = jobs.entries.get_mut(&id)?;
                    entry.info.state = JobState::Running;
                    entry.info.level = Some(level);
                    entry.info.started_at = Some(Instant::now());
                    let kind = entry.info.kind;
                    self.changed.notify_all();
                    return Some(Task {
                        id,
                        kind,
                        reservation,
                    });
                }
                Start::Finish(state) => {
                    jobs.pending.remove(index);
                    if let Some(entry) = jobs.entries.get_mut(&id) {
                        let now = Instant::now();
                        entry.info.started_at = Some(now);
                        entry.info.completed_at = Some(now);
                        entry.info.state = state;
                    }
                    remember(jobs, id);
                    self.changed.notify_all();
                }
                Start::Wait => index += 1,
            }
        }
        None
    }

    fn try_start(&self, jobs: &mut Jobs, id: JobId) -> Start {
        let finished = jobs.finished;
        let others_hold_files =
            jobs.running > 0 || jobs.entries.values().any(|e| e.reservation.is_some());
        let Some(entry) = jobs.entries.get_mut(&id) else {
            return Start::Finish(JobState::Cancelled);
        };
        if let Err(err) = self.engine.check_writable() {
            if let Some(reservation) = entry.reservation.take() {
                self.engine.release_compaction(reservation);
            }
            return Start::Finish(JobState::Failed(err.to_string()));
        }
        if let Some(reservation) = entry.reservation.take() {
            if jobs.running_levels.contains(&reservation.level()) {
                entry.reservation = Some(reservation);
                return Start::Wait;
            }
            return Start::Run(reservation);
        }
        match (entry.info.kind, entry.info.level) {
            (JobKind::Manual, Some(level)) => {
                if jobs.running_levels.contains(&level) || entry.retry_after == Some(finished) {
                    return Start::Wait;
                }
                match self.engine.reserve_compaction(Some(level)) {
                    Some(reservation) => Start::Run(reservation),
                    None if others_hold_files => {
                        entry.retry_after = Some(finished);
                        Start::Wait
                    }
                    None => Start::Finish(JobState::Completed),
                }
            }
            _ => match self.engine.reserve_compaction(None) {
                None => Start::Finish(JobState::Completed),
                Some(reservation) => {
                    if jobs.running_levels.contains(&reservation.level()) {
                        entry.info.level = Some(reservation.level());
                        entry.reservation = Some(reservation);
                        Start::Wait
                    } else {
                        Start::Run(reservation)
                    }
                }
            },
        }
    }
}

enum Start {
    Run(Reservation),
    Finish(JobState),
    Wait,
}

/// Adds a terminal job to the history, forgetting the oldest beyond
/// `JOB_HISTORY_LIMIT` (an awaited one leaves the history but stays until
/// its waiter has read it).
fn remember(jobs: &mut Jobs, id: JobId) {
    debug_assert!(jobs
        .entries
        .get(&id)
        .is_some_and(|e| e.info.state.is_terminal()));
    jobs.history.push_back(id);
    while jobs.history.len() > JOB_HISTORY_LIMIT {
        if let Some(old) = jobs.history.pop_front() {
            if !jobs.entries.get(&old).is_some_and(|entry| entry.awaited) {
                jobs.entries.remove(&old);
            }
        }
    }
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jobs = self.jobs.lock();
        f.debug_struct("Coordinator")
            .field("pending", &jobs.pending.len())
            .field("running", &jobs.running)
            .field("history", &jobs.history.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_completed_failed_and_cancelled_are_terminal() {
        assert!(!JobState::Pending.is_terminal());
        assert!(!JobState::Running.is_terminal());
        assert!(JobState::Completed.is_terminal());
        assert!(JobState::Failed("x".into()).is_terminal());
        assert!(JobState::Cancelled.is_terminal());
        assert_eq!(JobId(7).to_string(), "#7");
    }

    #[test]
    fn history_forgets_the_oldest_finished_jobs() {
        let mut jobs = Jobs {
            next_id: 1,
            entries: HashMap::new(),
            pending: VecDeque::new(),
            running_levels: BTreeSet::new(),
            running: 0,
            history: VecDeque::new(),
            finished: 0,
            shutdown: false,
        };
        for n in 0..(JOB_HISTORY_LIMIT as u64 + 3) {
            let id = JobId(n);
            let info = CompactionJob {
                id,
                level: Some(0),
                kind: JobKind::Manual,
                state: JobState::Completed,
                scheduled_at: Instant::now(),
                started_at: None,
                completed_at: None,
                bytes_read: 0,
                bytes_written: 0,
            };
            jobs.entries.insert(
                id,
                JobEntry {
                    info,
                    reservation: None,
                    retry_after: None,
                    awaited: false,
                    cause: None,
                },
            );
            remember(&mut jobs, id);
        }
        assert_eq!(jobs.history.len(), JOB_HISTORY_LIMIT);
        assert_eq!(jobs.entries.len(), JOB_HISTORY_LIMIT);
        assert!(!jobs.entries.contains_key(&JobId(2)));
        assert!(jobs.entries.contains_key(&JobId(3)));
    }
}
