//! Measures what a memtable entry really costs: the process's RSS growth
//! over N inserts (default 1M) of 16-byte keys (random order) and
//! 100-byte values, minus key + trailer + value, per entry; and the time
//! the inserts took (wall clock, and this thread's CPU time), and the CPU
//! time of N gets of the inserted keys (in another random order) and of N
//! gets of absent keys. Also prints `approximate_bytes` per entry, to compare
//! the charge with the real cost.
//!
//! `cargo run --release -p lsm-memtable --example bytes_per_entry -- [N] [KEY_BYTES] [VALUE_BYTES]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Instant;

use lsm_core::ValueKind;
use lsm_memtable::Memtable;

/// CPU time this thread has run, in nanoseconds, from
/// `/proc/thread-self/schedstat` (Linux): unlike wall time, it does not
/// count time spent waiting for a CPU on a loaded machine.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("read schedstat");
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

/// Resident set size in bytes, from `/proc/self/statm` (Linux).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let n = args.next().unwrap_or(1_000_000);
    let key_bytes = args.next().unwrap_or(16).max(9);
    let value_bytes = args.next().unwrap_or(100);
    let value = vec![0x5Au8; value_bytes];
    let mut key = vec![0u8; key_bytes];
    let mem = Memtable::new();
    let before = rss_bytes();
    let started = Instant::now();
    let cpu_started = thread_cpu_ns();
    for i in 0..n as u64 {
        // Scrambled prefix: keys arrive in random order.
        key[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
        mem.insert(&key, i + 1, ValueKind::Put, &value);
    }
    let elapsed = started.elapsed();
    let cpu = thread_cpu_ns() - cpu_started;
    let grown = rss_bytes() - before;
    let payload = key_bytes + 8 + value_bytes;
    println!(
        "{n} entries, {key_bytes}-byte keys, {value_bytes}-byte values: {:.1} RSS bytes/entry, \
         overhead {:.1} (approximate_bytes overhead {:.1}), inserts {:.0} ns each \
         ({:.0} ns of CPU time)",
        grown as f64 / n as f64,
        grown as f64 / n as f64 - payload as f64,
        mem.approximate_bytes() as f64 / n as f64 - payload as f64,
        elapsed.as_nanos() as f64 / n as f64,
        cpu as f64 / n as f64,
    );
    assert_eq!(mem.len(), n);

    for hit in [true, false] {
        let cpu_started = thread_cpu_ns();
        let mut found = 0usize;
        for j in 0..n as u64 {
            let i = j.wrapping_mul(0x2545_F491) % n as u64;
            key[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
            if !hit {
                key[key_bytes - 1] = 1; // no inserted key ends in 1
            }
            found += usize::from(mem.get(std::hint::black_box(&key), u64::MAX).is_some());
            key[key_bytes - 1] = 0;
        }
        let cpu = thread_cpu_ns() - cpu_started;
        assert_eq!(found, if hit { n } else { 0 });
        println!(
            "{n} gets ({}): {:.0} ns of CPU time each",
            if hit { "hits" } else { "misses" },
            cpu as f64 / n as f64
        );
    }
}
