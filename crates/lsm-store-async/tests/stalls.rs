//! Write stalls in the stats: holding the flusher back (table creation
//! blocked behind `common::TestFs`'s latch) makes the applier wait for
//! room, and writers, once the queue is full and the memtable overfull,
//! wait for room before they take the write gate; both count, and the
//! stall time grows by about as long as the flusher was held.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestFs;
use lsm_core::fault::FaultyFileSystem;
use lsm_store_async::{
    AsyncLsmStore, DELAY_STEP, L0_SLOWDOWN_FACTOR, L0_STOP_FACTOR, MAX_IMMUTABLE_MEMTABLES,
    SLOWDOWN_START_RATE,
};

const LONG: Duration = Duration::from_secs(30);
const HOLD: Duration = Duration::from_millis(300);

#[test]
fn stall_time_grows_while_the_flusher_is_held_back() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let config = common::small(dir.path())
        .apply_queue_max(8)
        .fs(fs.shared())
        .build()
        .unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let before = store.stats().unwrap();
    assert_eq!((before.write_stalls, before.write_stall_nanos), (0, 0));

    fs.tables.close();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let value = "v".repeat(100);
            let mut last = 0;
            for i in 0..2000u32 {
                last = store.put(format!("k{i:05}"), &value).unwrap();
            }
            last
        })
    };
    // The flusher is stuck in its first table; once the frozen memtables
    // reach the limit, the applier waits for room holding the core lock,
    // writes queue up, the writer applies its own until the memtable is
    // overfull, and then waits for room (no write for 50 ms).
    fs.tables.wait_entered(1);
    let deadline = Instant::now() + LONG;
    let mut seen = (0, Instant::now());
    loop {
        let stats = store.stats().unwrap();
        if stats.last_seq != seen.0 {
            seen = (stats.last_seq, Instant::now());
        }
        if stats.immutable_memtables >= MAX_IMMUTABLE_MEMTABLES
            && seen.1.elapsed() >= Duration::from_millis(50)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never stalled: {stats:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!writer.is_finished(), "the writer is blocked");
    std::thread::sleep(HOLD);
    let during = store.stats().unwrap();
    fs.tables.open();
    let last = writer.join().unwrap();
    assert!(store.wait_for_seq(last, LONG));

    let after = store.stats().unwrap();
    // At least the applier's wait for room and the writer's wait for
    // memtable room, each (nearly) as long as the hold: both were waiting before it
    // started, up to the instant between the applier's last drain and its
    // wait, hence the margin.
    assert!(after.write_stalls >= 2, "{after:?}");
    assert!(
        after.write_stall_nanos - during.write_stall_nanos >= (HOLD / 2).as_nanos() as u64,
        "stall time grew by {} ns while held {HOLD:?}",
        after.write_stall_nanos - during.write_stall_nanos
    );
    assert!(after.write_stall_nanos >= HOLD.as_nanos() as u64);
    store.close().unwrap();
}

/// With compaction held back (its table creation blocked) and writers
/// writing without pause, L0 stops growing at `L0_STOP_FACTOR` x
/// `l0_trigger` tables, plus one memtable's tables: the flusher waits for
/// compaction before it flushes another memtable, and writers wait behind
/// the full frozen-memtable slots. Before, flushes went on and L0 grew by
/// a table per memtable for as long as compaction lagged (9,604 tables in
/// a test pinned to one CPU). Once compaction runs again, writes go on.
#[test]
fn l0_stops_growing_while_compaction_is_held_back() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, compactions) = compactions_held_back();
    let config = common::small(dir.path()).fs(faults).build().unwrap();
    let l0_trigger = config.l0_trigger;
    let store = AsyncLsmStore::open(config).unwrap();
    let writers = common::Writers::start(&store, 2);
    // A 16 KiB memtable (an eighth over when frozen) makes at most two
    // 16 KiB tables.
    let bound = L0_STOP_FACTOR * l0_trigger + 2;
    let started = Instant::now();
    let mut most = 0;
    while started.elapsed() < Duration::from_secs(2) {
        most = most.max(store.stats().unwrap().levels[0].files);
        std::thread::sleep(Duration::from_millis(2));
    }
    let held = store.stats().unwrap();
    compactions.open();
    let before = held.last_seq;
    let deadline = Instant::now() + LONG;
    while store.stats().unwrap().last_seq < before + 1000 {
        assert!(Instant::now() < deadline, "writes did not resume");
        std::thread::sleep(Duration::from_millis(2));
    }
    writers.stop();
    assert!(
        most <= bound,
        "L0 reached {most} tables (bound {bound}) with compaction held: {held:?}"
    );
    assert!(
        most >= L0_STOP_FACTOR * l0_trigger,
        "L0 never filled: {held:?}"
    );
    store.close().unwrap();
}

/// A file system whose file creations on compaction threads wait on the
/// returned latch, closed: compaction is held back until it opens.
fn compactions_held_back() -> (Arc<FaultyFileSystem>, Arc<common::Latch>) {
    let compactions = Arc::new(common::Latch::default());
    let faults = FaultyFileSystem::new(lsm_core::OsFileSystem::shared());
    {
        let compactions = Arc::clone(&compactions);
        faults.on_create(move |_| {
            let thread = std::thread::current();
            if thread
                .name()
                .is_some_and(|name| name.starts_with("lsm-compaction"))
            {
                compactions.pass();
            }
        });
    }
    compactions.close();
    (faults, compactions)
}

/// With compaction held back, writes are slowed from `L0_SLOWDOWN_FACTOR`
/// x `l0_trigger` L0 tables on, before the stop at `L0_STOP_FACTOR` x
/// `l0_trigger`: the rate starts at `SLOWDOWN_START_RATE` and falls by a
/// fifth at each table L0 gains, and the writers sleep for at least the
/// memtables they fill meanwhile at that rate (before, they ran at full
/// speed into the stop and then waited for a whole compaction). Once
/// compaction takes L0 below the threshold, writes are no longer slowed.
#[test]
fn writes_slow_down_before_l0_reaches_the_stop() {
    const MEMTABLE: usize = 256 << 10;
    let dir = tempfile::tempdir().unwrap();
    let (faults, compactions) = compactions_held_back();
    // One table per memtable; L0 slows writes at 10 tables, stops at 16.
    let config = common::small(dir.path())
        .memtable_bytes(MEMTABLE)
        .table_target_bytes(4 * MEMTABLE as u64)
        .wal_segment_bytes(4 * MEMTABLE as u64)
        .l0_trigger(2)
        .fs(faults)
        .build()
        .unwrap();
    let slow_at = 2 * L0_SLOWDOWN_FACTOR;
    let stop_at = 2 * L0_STOP_FACTOR;
    let store = AsyncLsmStore::open(config).unwrap();
    // Two writers, so that every table overlaps the others (one writer's
    // ascending keys would make tables that compaction moves down without
    // creating a file), of 8 KiB values, so that they outrun the slowdown's
    // rate many times over even in a debug build on a loaded machine
    // (with 100-byte values they did not always, and paid part of their
    // debt in time spent writing rather than asleep).
    let writers = common::Writers::start_with_values(&store, 2, 8 << 10);
    // The stats once L0 holds `tables`, and an instant before and one
    // after they were read.
    let wait_for_l0 = |tables: usize| {
        let deadline = Instant::now() + LONG;
        loop {
            let before = Instant::now();
            let stats = store.stats().unwrap();
            if stats.levels[0].files >= tables {
                return (before, stats, Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "L0 never reached {tables}: {stats:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (slowed_before, slowed, _) = wait_for_l0(slow_at);
    assert!(
        slowed
            .delayed_write_rate
            .is_some_and(|rate| rate <= SLOWDOWN_START_RATE),
        "{slowed:?}"
    );
    let (_, stopped, stopped_after) = wait_for_l0(stop_at);
    // Held at the stop: L0 gained exactly `stop_at - slow_at` tables since
    // the slowdown began, a fifth off the rate each.
    let mut rate = SLOWDOWN_START_RATE;
    for _ in slow_at..stop_at {
        rate = rate / 5 * 4;
    }
    assert_eq!(stopped.levels[0].files, stop_at, "{stopped:?}");
    assert_eq!(stopped.delayed_write_rate, Some(rate), "{stopped:?}");
    // Every write accepted between the two samples was charged at no
    // more than the start rate, so the writes took at least that long,
    // but for less than a step of debt per writer and a write per writer
    // charged before the first sample: the rate held.
    let written = stopped.user_bytes_written - slowed.user_bytes_written;
    let least = Duration::from_secs_f64(written as f64 / SLOWDOWN_START_RATE as f64)
        .saturating_sub(4 * DELAY_STEP);
    let elapsed = stopped_after - slowed_before;
    assert!(
        elapsed >= least,
        "wrote {written} bytes in {elapsed:?}: the rate allows it in no less than {least:?}"
    );
    // And the writers, far faster than the rate, paid for it mostly
    // asleep (time spent writing pays too, hence the half).
    let slept = Duration::from_nanos(stopped.write_stall_nanos - slowed.write_stall_nanos);
    assert!(
        slept >= least / 2,
        "slept {slept:?} while writing {written} bytes: owed at least {least:?}"
    );

    compactions.open();
    let deadline = Instant::now() + LONG;
    loop {
        let stats = store.stats().unwrap();
        if stats.levels[0].files < slow_at {
            assert_eq!(stats.delayed_write_rate, None, "{stats:?}");
            break;
        }
        assert!(Instant::now() < deadline, "L0 never drained: {stats:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    writers.stop();
    store.close().unwrap();
}

/// `close` returns while the flusher waits for compaction before a flush
/// (L0 at `L0_STOP_FACTOR` x `l0_trigger`) and the applier waits for a
/// frozen-memtable slot: close stops the compaction workers first, so no
/// compaction will make room, and the flusher flushes what the applier
/// needs without waiting for one. Before, the flusher waited for a
/// compaction that could no longer come, the applier for the flusher and
/// close for the applier: a CI run hung in `memory_bounds` this way.
/// Here the one compaction is held inside its table I/O until close has
/// been waiting 10 s for a flush: it would have made the room.
#[test]
fn close_returns_while_the_flusher_waits_for_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, compactions) = compactions_held_back();
    let flushed_tables = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let (compactions, flushed_tables) = (Arc::clone(&compactions), Arc::clone(&flushed_tables));
        faults.on_create(move |path| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            if name.starts_with("lsm-compaction") {
                compactions.pass();
            } else if name == "lsm-flusher" && path.extension().is_some_and(|e| e == "sst") {
                flushed_tables.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let config = common::small(dir.path()).fs(faults).build().unwrap();
    let stop_at = L0_STOP_FACTOR * config.l0_trigger;
    let store = AsyncLsmStore::open(config).unwrap();
    // They end once close refuses them.
    let writers = common::Writers::start(&store, 2);
    // Until L0 is at the stop, both frozen-memtable slots are full and
    // the writers are blocked (nothing changes for 50 ms): the flusher
    // waits for compaction and the applier, whose freeze of the full
    // memtable needs a slot, for the flusher. Close joins the applier
    // first.
    let deadline = Instant::now() + LONG;
    let flushed_before_close = loop {
        let flushed = flushed_tables.load(std::sync::atomic::Ordering::SeqCst);
        let before = store.stats().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let after = store.stats().unwrap();
        if after.levels[0].files >= stop_at
            && after.immutable_memtables >= MAX_IMMUTABLE_MEMTABLES
            && (after.last_seq, after.flushes) == (before.last_seq, before.flushes)
        {
            break flushed;
        }
        assert!(
            Instant::now() < deadline,
            "L0 never reached the stop: {after:?}"
        );
    };
    let closer = {
        let store = store.clone();
        std::thread::spawn(move || store.close())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let flushed_during_close = loop {
        let flushed = flushed_tables.load(std::sync::atomic::Ordering::SeqCst);
        if flushed > flushed_before_close || Instant::now() >= deadline {
            break flushed;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    // Lets the held compaction end, so that close can join its worker
    // (and the test end) whatever happened.
    compactions.open();
    let closed = closer.join().unwrap();
    writers.stop();
    assert!(
        flushed_during_close > flushed_before_close,
        "the flusher wrote no table in 10 s of close while compaction was held"
    );
    closed.unwrap();
}
