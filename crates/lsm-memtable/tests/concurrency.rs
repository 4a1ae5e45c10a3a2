//! Concurrent writers and readers: 4 threads insert disjoint sequence-number
//! ranges while 2 threads read and scan; every scan is ordered, every read
//! sees what was published, and the final contents are complete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use lsm_core::{compare_internal_keys, parse_internal_key, InternalIterator, Lookup, ValueKind};
use lsm_memtable::Memtable;

const WRITERS: u64 = 4;
const PER_WRITER: u64 = 10_000;
/// Writers share this few user keys, so versions of one key interleave.
const USER_KEYS: u64 = 500;

fn user_key(i: u64) -> Vec<u8> {
    format!("user{:04}", i % USER_KEYS).into_bytes()
}

/// Writer `w` owns sequence numbers `w * PER_WRITER + 1 ..= (w + 1) * PER_WRITER`.
fn seq_of(writer: u64, i: u64) -> u64 {
    writer * PER_WRITER + i + 1
}

#[test]
fn concurrent_writers_and_readers_see_ordered_complete_contents() {
    let mem = Arc::new(Memtable::new());
    let done = Arc::new(AtomicBool::new(false));
    // The highest sequence number writer 0 has finished inserting.
    let writer0_published = Arc::new(AtomicU64::new(0));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mem = Arc::clone(&mem);
            let published = Arc::clone(&writer0_published);
            thread::spawn(move || {
                for i in 0..PER_WRITER {
                    let seq = seq_of(w, i);
                    let key = user_key(i * 7 + w);
                    if i % 5 == 4 {
                        mem.insert(&key, seq, ValueKind::Delete, b"");
                    } else {
                        mem.insert(&key, seq, ValueKind::Put, &seq.to_le_bytes());
                    }
                    if w == 0 {
                        published.store(seq, Ordering::Release);
                    }
                }
            })
        })
        .collect();

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let mem = Arc::clone(&mem);
            let done = Arc::clone(&done);
            let published = Arc::clone(&writer0_published);
            thread::spawn(move || {
                let mut scans = 0u64;
                let mut gets = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    if r == 0 {
                        // Scan: strictly increasing, never more than inserted.
                        let mut cursor = mem.iter();
                        cursor.seek_to_first().unwrap();
                        let mut prev: Option<Vec<u8>> = None;
                        let mut n = 0;
                        while cursor.valid() {
                            if let Some(p) = &prev {
                                assert!(compare_internal_keys(p, cursor.key()).is_lt());
                            }
                            prev = Some(cursor.key().to_vec());
                            n += 1;
                            cursor.next().unwrap();
                        }
                        assert!(n <= (WRITERS * PER_WRITER) as usize);
                        scans += 1;
                    } else {
                        // Every version writer 0 has published is visible.
                        let upto = published.load(Ordering::Acquire);
                        if upto > 0 {
                            let i = upto - 1;
                            let got = mem.get(&user_key(i * 7), upto);
                            let want = if i % 5 == 4 {
                                Lookup::Deleted
                            } else {
                                Lookup::Value(upto.to_le_bytes().to_vec().into())
                            };
                            assert_eq!(got, Some(want));
                        }
                        gets += 1;
                    }
                    if finished {
                        return (scans, gets);
                    }
                }
            })
        })
        .collect();

    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let mut work = 0;
    for r in readers {
        let (scans, gets) = r.join().unwrap();
        work += scans + gets;
    }
    assert!(work >= 2, "each reader ran at least once");

    // Final contents: every (key, seq) exactly once, in order.
    let total = WRITERS * PER_WRITER;
    assert_eq!(mem.len(), total as usize);
    assert_eq!(mem.min_seq(), Some(1));
    assert_eq!(mem.max_seq(), Some(total));
    let mut cursor = mem.iter();
    cursor.seek_to_first().unwrap();
    let mut seen = vec![false; total as usize + 1];
    let mut prev: Option<Vec<u8>> = None;
    while cursor.valid() {
        let key = parse_internal_key(cursor.key()).unwrap();
        assert!(!seen[key.seq as usize], "seq {} twice", key.seq);
        seen[key.seq as usize] = true;
        if key.kind == ValueKind::Put {
            assert_eq!(cursor.value(), key.seq.to_le_bytes());
        }
        if let Some(p) = &prev {
            assert!(compare_internal_keys(p, cursor.key()).is_lt());
        }
        prev = Some(cursor.key().to_vec());
        cursor.next().unwrap();
    }
    assert!(seen[1..].iter().all(|s| *s), "every insert is present");
}
