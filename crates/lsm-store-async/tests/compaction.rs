//! The compaction coordinator: writes flow while a job runs, status
//! transitions, waiting, unknown jobs, invalid levels, per-level gating,
//! concurrent jobs on different levels, the bounded queue and history,
//! cancellation on close, automatic scheduling.
//!
//! Table creation goes through `common::TestFs`, whose latch holds a job
//! inside its table I/O for as long as a test needs: no sleeps, no timing
//! thresholds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestFs;
use lsm_store_async::{
    AsyncLsmStore, Error, JobId, JobKind, JobState, JOB_HISTORY_LIMIT, MAX_IMMUTABLE_MEMTABLES,
    MAX_PENDING_JOBS,
};

const LONG: Duration = Duration::from_secs(30);

/// Big memtable and tables (one output table per job), no automatic
/// compaction, table creation behind `fs.tables`.
fn open(dir: &std::path::Path, fs: &TestFs, workers: usize) -> AsyncLsmStore {
    let config = common::small(dir)
        .memtable_bytes(1 << 20)
        .table_target_bytes(1 << 20)
        .l0_trigger(8)
        .compaction_workers(workers)
        .fs(fs.shared())
        .build()
        .unwrap();
    AsyncLsmStore::open(config).unwrap()
}

fn fill(store: &AsyncLsmStore, prefix: &str, n: u32) {
    for i in 0..n {
        store
            .put(format!("{prefix}{i:05}"), format!("value-{prefix}-{i}"))
            .unwrap();
    }
}

fn state(store: &AsyncLsmStore, job: JobId) -> JobState {
    store.compaction_status(job).unwrap().state
}

/// Builds a tree where both a level-1 job and a level-0 job rewrite
/// tables (no trivial moves) and their inputs are disjoint: L2 and L1 each
/// hold one table of the `a*` keys; L0 holds two tables of the same `y*`
/// keys (two disjoint level-0 tables would move down whole).
fn l1_and_disjoint_l0(store: &AsyncLsmStore) {
    fill(store, "a", 300);
    store.flush_memtable().unwrap();
    store.compact_level(0, true).unwrap();
    store.compact_level(1, true).unwrap();
    fill(store, "a", 300);
    store.flush_memtable().unwrap();
    store.compact_level(0, true).unwrap();
    fill(store, "y", 150);
    store.flush_memtable().unwrap();
    fill(store, "y", 150);
    store.flush_memtable().unwrap();
    let stats = store.stats().unwrap();
    let files: Vec<usize> = stats.levels.iter().map(|l| l.files).collect();
    assert_eq!(files, [2, 1, 1, 0], "{stats:?}");
}

#[test]
fn writes_keep_flowing_while_a_compaction_runs() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 1);
    fill(&store, "k", 2000);
    store.flush_memtable().unwrap();
    fill(&store, "k", 2000);
    store.flush_memtable().unwrap();

    fs.tables.close();
    let job = store.schedule_compaction(0).unwrap();
    fs.tables.wait_entered(1); // the job is inside its table I/O now
    let mut during = 0;
    let mut last = 0;
    for i in 0..1000u32 {
        assert_eq!(state(&store, job), JobState::Running);
        last = store.put(format!("during{i:05}"), "v").unwrap();
        if state(&store, job) == JobState::Running {
            during += 1;
        }
    }
    // ...and they are readable while it still runs.
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(store.get("during00999").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.get("k01999").unwrap(), Some(b"value-k-1999".to_vec()));
    assert_eq!(state(&store, job), JobState::Running);
    assert_eq!(
        during, 1000,
        "every write completed while the compaction ran"
    );

    fs.tables.open();
    assert!(store.wait_for_compaction(job, LONG));
    let done = store.compaction_status(job).unwrap();
    assert_eq!(done.state, JobState::Completed);
    assert!(done.bytes_read > 0 && done.bytes_written > 0, "{done:?}");
    assert_eq!(store.stats().unwrap().levels[0].files, 0);
    assert_eq!(store.get("k00001").unwrap(), Some(b"value-k-1".to_vec()));
}

#[test]
fn job_moves_from_pending_to_running_to_completed() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 1);
    l1_and_disjoint_l0(&store);

    fs.tables.close();
    let blocker = store.schedule_compaction(1).unwrap(); // L1 -> L2
    fs.tables.wait_entered(1);
    let job = store.schedule_compaction(0).unwrap(); // the only worker is busy
    let pending = store.compaction_status(job).unwrap();
    assert_eq!(pending.state, JobState::Pending);
    assert_eq!((pending.kind, pending.level), (JobKind::Manual, Some(0)));
    assert_eq!((pending.started_at, pending.completed_at), (None, None));
    assert_eq!(store.pending_compactions(), 1);
    assert!(
        !store.wait_for_compaction(job, Duration::from_millis(20)),
        "pending job reported finished"
    );

    fs.tables.allow(1); // the blocker writes its one table and completes
    fs.tables.wait_entered(2); // `job` started and is inside its table I/O
    assert_eq!(state(&store, blocker), JobState::Completed);
    let running = store.compaction_status(job).unwrap();
    assert_eq!(running.state, JobState::Running);
    assert!(running.started_at.is_some() && running.completed_at.is_none());
    assert_eq!(store.pending_compactions(), 0);

    fs.tables.open();
    assert!(store.wait_for_compaction(job, LONG));
    let done = store.compaction_status(job).unwrap();
    assert_eq!(done.state, JobState::Completed);
    let (scheduled, started, completed) = (
        done.scheduled_at,
        done.started_at.unwrap(),
        done.completed_at.unwrap(),
    );
    assert!(scheduled <= started && started <= completed);
    assert!(
        started
            >= store
                .compaction_status(blocker)
                .unwrap()
                .completed_at
                .unwrap()
    );
    assert!(done.bytes_written > 0);
}

#[test]
fn two_jobs_on_one_level_never_run_at_once_but_other_levels_do() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 2);
    l1_and_disjoint_l0(&store);

    fs.tables.close();
    let first = store.schedule_compaction(0).unwrap();
    fs.tables.wait_entered(1);
    let second = store.schedule_compaction(0).unwrap(); // same level: gated
    let other = store.schedule_compaction(1).unwrap(); // disjoint inputs
                                                       // The free worker scanned past `second` (queued first) to start
                                                       // `other`, which is now blocked in its table I/O too.
    fs.tables.wait_entered(2);
    assert_eq!(state(&store, first), JobState::Running);
    assert_eq!(
        state(&store, other),
        JobState::Running,
        "different levels run concurrently"
    );
    assert_eq!(
        state(&store, second),
        JobState::Pending,
        "a second job on level 0 started"
    );

    fs.tables.open();
    for job in [first, second, other] {
        assert!(store.wait_for_compaction(job, LONG));
        assert_eq!(state(&store, job), JobState::Completed);
    }
    let first = store.compaction_status(first).unwrap();
    let second = store.compaction_status(second).unwrap();
    assert!(
        second.started_at.unwrap() >= first.completed_at.unwrap(),
        "{first:?} overlapped {second:?}"
    );
    assert_eq!(store.get("a00007").unwrap(), Some(b"value-a-7".to_vec()));
    assert_eq!(store.get("y00007").unwrap(), Some(b"value-y-7".to_vec()));
}

#[test]
fn close_cancels_pending_jobs_and_lets_the_running_one_finish() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = Arc::new(open(dir.path(), &fs, 1));
    l1_and_disjoint_l0(&store);

    fs.tables.close();
    let running = store.schedule_compaction(0).unwrap();
    fs.tables.wait_entered(1);
    let queued = [
        store.schedule_compaction(0).unwrap(),
        store.schedule_compaction(1).unwrap(),
    ];
    let closer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.close())
    };
    for job in queued {
        assert!(store.wait_for_compaction(job, LONG));
        assert_eq!(state(&store, job), JobState::Cancelled);
    }
    assert_eq!(
        state(&store, running),
        JobState::Running,
        "close must not abort a running job"
    );
    assert_eq!(store.pending_compactions(), 0);
    fs.tables.open();
    closer.join().unwrap().unwrap();
    assert_eq!(state(&store, running), JobState::Completed);
    let err = store.compact_level(0, true).unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[test]
fn unknown_jobs_and_invalid_levels_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 1);
    assert!(!store.wait_for_compaction(JobId(424_242), Duration::from_millis(10)));
    assert_eq!(store.compaction_status(JobId(424_242)), None);
    // num_levels 4: levels 0..=2 have a level below them.
    let err = store.schedule_compaction(3).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Store(lsm_store_sync::Error::InvalidLevel { level: 3, max: 2 })
        ),
        "{err}"
    );
    // An empty level completes at once with nothing read or written.
    let job = store.compact_level(2, true).unwrap();
    let done = store.compaction_status(job).unwrap();
    assert_eq!(
        (done.state, done.bytes_read, done.bytes_written),
        (JobState::Completed, 0, 0)
    );
}

#[test]
fn a_full_job_queue_refuses_new_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 1);
    l1_and_disjoint_l0(&store);
    fs.tables.close();
    store.schedule_compaction(0).unwrap();
    fs.tables.wait_entered(1);
    for _ in 0..MAX_PENDING_JOBS {
        store.schedule_compaction(1).unwrap();
    }
    let err = store.schedule_compaction(1).unwrap_err();
    assert!(
        matches!(err, Error::QueueFull { capacity } if capacity == MAX_PENDING_JOBS),
        "{err}"
    );
    fs.tables.open();
}

#[test]
fn finished_job_history_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 1);
    let jobs: Vec<JobId> = (0..JOB_HISTORY_LIMIT + 10)
        .map(|_| store.compact_level(1, true).unwrap())
        .collect();
    assert_eq!(
        store.compaction_status(jobs[0]),
        None,
        "the oldest job should be forgotten"
    );
    assert!(!store.wait_for_compaction(jobs[0], Duration::from_millis(1)));
    let newest = store.compaction_status(*jobs.last().unwrap()).unwrap();
    assert_eq!(newest.state, JobState::Completed);
    assert!(store
        .compaction_status(jobs[jobs.len() - JOB_HISTORY_LIMIT])
        .is_some());
}

#[test]
fn flushes_schedule_compactions_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    // Flushes forced every 1000 puts: how many a stream of puts freezes on
    // its own depends on how far it outruns the applier (the queue's
    // writes go into the memtable being frozen), and the test is about the
    // compactions the flushes schedule.
    for i in 0..6000u32 {
        store
            .put(format!("k{:05}", (i * 7919) % 6000), format!("v{i}"))
            .unwrap();
        if i % 1000 == 999 {
            store.flush_memtable().unwrap();
        }
    }
    // Wait for every job scheduled so far (ids are dense from 1).
    let mut id = 1;
    while store.compaction_status(JobId(id)).is_some() {
        assert!(store.wait_for_compaction(JobId(id), LONG));
        assert_ne!(state(&store, JobId(id)), JobState::Cancelled);
        id += 1;
    }
    assert!(
        id > 1,
        "no compaction was scheduled: {:?}",
        store.stats().unwrap()
    );
    let stats = store.stats().unwrap();
    assert!(stats.compactions > 0, "{stats:?}");
    assert!(
        stats.levels[1].files + stats.levels[2].files > 0,
        "{stats:?}"
    );
    for probe in [0u32, 2999, 5999] {
        assert!(store.get(format!("k{probe:05}")).unwrap().is_some());
    }
}

#[test]
fn wait_for_compaction_accepts_duration_max_as_no_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let store = open(dir.path(), &fs, 1);
    fill(&store, "a", 200);
    store.flush_memtable().unwrap();
    let job = store.schedule_compaction(0).unwrap();
    assert!(store.wait_for_compaction(job, Duration::MAX));
    assert_eq!(state(&store, job), JobState::Completed);
    assert!(
        store.wait_for_compaction(job, Duration::MAX),
        "already done"
    );
}

/// Waits until `MAX_IMMUTABLE_MEMTABLES` frozen memtables wait (the one
/// being flushed counts until its flush ends): when the flusher finishes
/// its current memtable, another is waiting.
fn wait_for_full_frozen_slots(store: &AsyncLsmStore) {
    let deadline = std::time::Instant::now() + LONG;
    while store.stats().unwrap().immutable_memtables < MAX_IMMUTABLE_MEMTABLES {
        assert!(
            std::time::Instant::now() < deadline,
            "the writers stopped filling memtables"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Automatic compaction is scheduled while the flusher never runs dry:
/// writers keep both frozen-memtable slots full, so every time a flush
/// ends another memtable waits. The flusher scheduled a job only once it
/// found nothing left to flush, so under a steady write load no compaction
/// ever ran and L0 grew without bound (9,604 tables in a checkpoint test
/// pinned to one CPU). Table creation goes through the latch one table at
/// a time, each while both frozen-memtable slots are full.
#[test]
fn automatic_compaction_is_scheduled_while_the_flusher_never_runs_dry() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    fs.tables.close();
    let config = common::small(dir.path()).fs(fs.shared()).build().unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let writers = common::Writers::start(&store, 2);
    // Eight tables, one at a time: at least four flushes end (a memtable
    // makes one or two tables) unless a compaction takes some of them,
    // each with another memtable waiting.
    for _ in 0..8 {
        wait_for_full_frozen_slots(&store);
        fs.tables.let_one_through();
    }
    let stats = store.stats().unwrap();
    let scheduled = store.compaction_status(JobId(1));
    fs.tables.open();
    writers.stop();
    // Two flushes put L0 at its trigger; compactions then take some of
    // the tables let through.
    assert!(stats.flushes >= 2, "{stats:?}");
    assert!(
        scheduled.is_some(),
        "no compaction scheduled with {} tables in L0 (trigger 2)",
        stats.levels[0].files
    );
    store.close().unwrap();
}

/// `flush_memtable` returns once the memtables frozen up to its call are
/// flushed, even while writers keep both frozen-memtable slots full. The
/// flusher marked a flush done only once it found nothing left to flush,
/// so under a steady write load the call never returned (a checkpoint,
/// which flushes first, hung in a test pinned to one CPU). Table creation
/// goes one at a time through the latch, as above.
#[test]
fn flush_memtable_returns_while_the_flusher_never_runs_dry() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    fs.tables.close();
    let config = common::small(dir.path()).fs(fs.shared()).build().unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let writers = common::Writers::start(&store, 2);
    wait_for_full_frozen_slots(&store);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let flusher = {
        let store = store.clone();
        std::thread::spawn(move || done_tx.send(store.flush_memtable()).unwrap())
    };
    // At most three memtables (two frozen, the active one) of one or two
    // tables each are ahead of the call; compactions may take some of the
    // tables let through.
    for _ in 0..30 {
        wait_for_full_frozen_slots(&store);
        fs.tables.let_one_through();
    }
    let flushed = done_rx.recv_timeout(Duration::from_secs(10));
    fs.tables.open();
    writers.stop();
    flusher.join().unwrap();
    assert!(
        matches!(flushed, Ok(Ok(()))),
        "flush_memtable did not return: {flushed:?}"
    );
    store.close().unwrap();
}
