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
use lsm_store_async::{AsyncLsmStore, MAX_IMMUTABLE_MEMTABLES};

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
