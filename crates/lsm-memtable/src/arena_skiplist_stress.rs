//! Stress tests of the arena and the skiplist (a child module of
//! `arena_skiplist`, so they reach its private items): many threads
//! inserting the same internal keys while others read, spare chunks
//! prepared and adopted while inserting, and nodes of every size around
//! the thresholds; each checks the list's structure afterwards (every
//! level sorted and a subset of the one below, nodes aligned, inside a
//! chunk's used bytes and disjoint, chunk ownership disjoint).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::thread;

use lsm_core::compare_internal_keys;
use lsm_core::key::pack_trailer;
use lsm_core::ValueKind;

/// Deterministic value for an internal key: length and bytes depend on it.
fn value_for(user_key: &[u8], trailer: u64, max_len: usize) -> Vec<u8> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ trailer;
    for &b in user_key {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let len = (h % (max_len as u64 + 1)) as usize;
    (0..len)
        .map(|i| (h >> (i % 8 * 8)) as u8 ^ i as u8)
        .collect()
}

fn internal_key(user_key: &[u8], trailer: u64) -> Vec<u8> {
    let mut key = user_key.to_vec();
    key.extend_from_slice(&trailer.to_le_bytes());
    key
}

fn check_value(e: EntryRef<'_>, max_len: usize) {
    let want = value_for(e.user_key(), e.trailer(), max_len);
    assert!(
        e.value == &want[..],
        "value of {:?} corrupt",
        e.internal_key
    );
}

/// Nodes reachable at `level`, in link order.
fn level_nodes(list: &SkipList, level: usize) -> Vec<NonNull<Node>> {
    let mut out = Vec::new();
    let mut x = list.head();
    loop {
        // SAFETY: `x` is the head or a node reached at `level`.
        let next = unsafe { link(x, level) }.load(atomic::Ordering::Acquire);
        match NonNull::new(next) {
            Some(n) => {
                out.push(n);
                x = n;
            }
            None => return out,
        }
    }
}

/// Checks every structural invariant of a quiescent list; returns the
/// level-0 entries (internal key, value).
fn check_structure(list: &SkipList) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut heights: HashMap<usize, usize> = HashMap::new();
    let mut below: Option<HashSet<usize>> = None;
    for level in 0..MAX_HEIGHT {
        let nodes = level_nodes(list, level);
        for pair in nodes.windows(2) {
            // SAFETY: published nodes of a live list.
            let (a, b) = unsafe { (node_key(pair[0]), node_key(pair[1])) };
            assert!(
                compare_internal_keys(a, b).is_lt(),
                "level {level} not strictly sorted"
            );
        }
        let set: HashSet<usize> = nodes.iter().map(|n| n.as_ptr() as usize).collect();
        assert_eq!(set.len(), nodes.len(), "a node twice at level {level}");
        if let Some(below) = &below {
            assert!(
                set.is_subset(below),
                "level {level} has a node not linked below"
            );
        }
        for n in &nodes {
            heights.insert(n.as_ptr() as usize, level + 1);
        }
        below = Some(set);
    }
    let level0 = level_nodes(list, 0);
    assert_eq!(level0.len(), list.len(), "len counts each linked node once");
    // Extents: [tower start, end of value) must not overlap and must lie
    // inside one held chunk.
    let chunks: Vec<(usize, usize)> = {
        let lists = list.arena.chunks.lock();
        lists
            .held
            .iter()
            .map(|c| {
                // SAFETY: a held chunk lives as long as the arena.
                let c = unsafe { c.as_ref() };
                (
                    c.base.as_ptr() as usize,
                    c.base.as_ptr() as usize + c.used.load(atomic::Ordering::Relaxed),
                )
            })
            .collect()
    };
    let mut extents: Vec<(usize, usize)> = level0
        .iter()
        .map(|&n| {
            let h = heights[&(n.as_ptr() as usize)];
            // SAFETY: published node.
            let e = unsafe { entry(n) };
            let start = n.as_ptr() as usize - (h - 1) * LINK_BYTES;
            let end = e.value.as_ptr() as usize + e.value.len();
            assert_eq!(n.as_ptr() as usize % ALIGN, 0, "node misaligned");
            assert!(
                chunks.iter().any(|&(b, u)| start >= b && end <= u),
                "node extent {start:#x}..{end:#x} not inside a chunk's used bytes"
            );
            (start, end)
        })
        .collect();
    extents.sort_unstable();
    for w in extents.windows(2) {
        assert!(w[0].1 <= w[1].0, "nodes overlap: {:x?} {:x?}", w[0], w[1]);
    }
    level0
        .iter()
        .map(|&n| {
            // SAFETY: published node.
            let e = unsafe { entry(n) };
            (e.internal_key.to_vec(), e.value.to_vec())
        })
        .collect()
}

fn scan_forward(list: &Arc<SkipList>, max_len: usize) -> Vec<Vec<u8>> {
    let mut c = Cursor::new(Arc::clone(list));
    c.seek_to_first();
    let mut out: Vec<Vec<u8>> = Vec::new();
    while let Some(e) = c.entry() {
        check_value(e, max_len);
        if let Some(last) = out.last() {
            assert!(
                compare_internal_keys(last, e.internal_key).is_lt(),
                "scan out of order"
            );
        }
        out.push(e.internal_key.to_vec());
        c.next();
    }
    out
}

fn scan_links(list: &Arc<SkipList>, max_len: usize) -> Vec<Vec<u8>> {
    let mut c = Cursor::new(Arc::clone(list));
    c.seek(&KeyProbe::new(&[], u64::MAX));
    let mut out: Vec<Vec<u8>> = Vec::new();
    while let Some(e) = c.entry() {
        check_value(e, max_len);
        if let Some(last) = out.last() {
            assert!(
                compare_internal_keys(last, e.internal_key).is_lt(),
                "link walk out of order"
            );
        }
        out.push(e.internal_key.to_vec());
        c.next();
    }
    out
}

fn scan_backward(list: &Arc<SkipList>, max_len: usize, limit: usize) -> Vec<Vec<u8>> {
    let mut c = Cursor::new(Arc::clone(list));
    c.seek_to_last();
    let mut out: Vec<Vec<u8>> = Vec::new();
    while let Some(e) = c.entry() {
        check_value(e, max_len);
        if let Some(last) = out.last() {
            assert!(
                compare_internal_keys(e.internal_key, last).is_lt(),
                "backward out of order"
            );
        }
        out.push(e.internal_key.to_vec());
        if out.len() >= limit {
            break;
        }
        c.prev();
    }
    out
}

/// Small xorshift for per-thread orders.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// Several threads insert the *same* set of internal keys (many user keys
/// share every part but the sequence number or kind), each in its own
/// order, while readers scan, walk links, go backward and get. Every
/// internal key must be stored exactly once (exactly one `true` insert),
/// every level sorted, every entry read fully written, and every entry whose
/// insert returned before a scan started must be in that scan.
#[test]
fn overlapping_inserts_with_concurrent_readers() {
    let (writers, user_keys, seqs, max_len, rounds) = (4, 400, 6u64, 300, 3);
    for round in 0..rounds {
        let mut ops: Vec<(Vec<u8>, u64)> = Vec::new();
        for k in 0..user_keys {
            // Keys share 8-byte prefixes often (prefix comparison ties).
            let mut uk = b"prefix__".to_vec();
            uk.extend_from_slice(&(k as u32 / 3).to_be_bytes());
            uk.extend(std::iter::repeat_n(b'x', k % 3));
            for s in 1..=seqs {
                ops.push((uk.clone(), pack_trailer(s, ValueKind::Put)));
                if s % 2 == 0 {
                    ops.push((uk.clone(), pack_trailer(s, ValueKind::Delete)));
                }
            }
        }
        let distinct = ops.len();
        let orders: Vec<Vec<usize>> = (0..writers)
            .map(|t| {
                let mut o: Vec<usize> = (0..distinct).collect();
                // Half the writers go in the same order (maximal races on
                // equal keys), half shuffled.
                if t % 2 == 1 {
                    shuffle(&mut o, 0x1234_5678 + t as u64 + round as u64 * 77);
                }
                o
            })
            .collect();
        let progress: Vec<AtomicUsize> = (0..writers).map(|_| AtomicUsize::new(0)).collect();
        let done = AtomicBool::new(false);
        let list = Arc::new(SkipList::new());
        let stored: usize = thread::scope(|s| {
            let handles: Vec<_> = (0..writers)
                .map(|t| {
                    let (list, ops, orders, progress) = (&list, &ops, &orders, &progress);
                    s.spawn(move || {
                        let mut won = 0;
                        for (i, &op) in orders[t].iter().enumerate() {
                            let (uk, trailer) = &ops[op];
                            if list.insert(uk, *trailer, &value_for(uk, *trailer, max_len)) {
                                won += 1;
                            }
                            progress[t].store(i + 1, atomic::Ordering::Release);
                        }
                        won
                    })
                })
                .collect();
            let readers: Vec<_> = (0..2)
                .map(|r| {
                    let (list, ops, orders, progress, done) = (&list, &ops, &orders, &progress, &done);
                    s.spawn(move || {
                        let mut iter = 0usize;
                        loop {
                            let stop = done.load(atomic::Ordering::Acquire);
                            let before: Vec<usize> =
                                progress.iter().map(|p| p.load(atomic::Ordering::Acquire)).collect();
                            let seen = match (r + iter) % 3 {
                                0 => scan_forward(list, max_len),
                                1 => scan_links(list, max_len),
                                _ => {
                                    let mut b = scan_backward(list, max_len, 2_000);
                                    b.reverse();
                                    // Only a suffix: completeness not checked.
                                    let _ = b;
                                    // gets of random keys
                                    for (t, &n) in before.iter().enumerate() {
                                        if n > 0 {
                                            let (uk, trailer) = &ops[orders[t][n - 1]];
                                            let e = list
                                                .find_ge(&KeyProbe::new(uk, *trailer))
                                                .expect("inserted entry missing from a get");
                                            assert_eq!(e.internal_key, &internal_key(uk, *trailer)[..]);
                                            check_value(e, max_len);
                                        }
                                    }
                                    iter += 1;
                                    if stop {
                                        return;
                                    }
                                    continue;
                                }
                            };
                            for (t, &n) in before.iter().enumerate() {
                                for i in [0, n / 3, n / 2, n.saturating_sub(2), n.saturating_sub(1)] {
                                    if i < n {
                                        let (uk, trailer) = &ops[orders[t][i]];
                                        let k = internal_key(uk, *trailer);
                                        assert!(
                                            seen.binary_search_by(|e| compare_internal_keys(e, &k)).is_ok(),
                                            "writer {t}'s insert {i} (returned before the scan) missing"
                                        );
                                    }
                                }
                            }
                            iter += 1;
                            if stop {
                                return;
                            }
                        }
                    })
                })
                .collect();
            let stored = handles.into_iter().map(|h| h.join().unwrap()).sum();
            done.store(true, atomic::Ordering::Release);
            for r in readers {
                r.join().unwrap();
            }
            stored
        });
        assert_eq!(
            stored, distinct,
            "each internal key stored by exactly one insert"
        );
        let entries = check_structure(&list);
        assert_eq!(entries.len(), distinct);
        for (k, v) in &entries {
            let (uk, t) = k.split_at(k.len() - 8);
            assert_eq!(
                v,
                &value_for(uk, u64::from_le_bytes(t.try_into().unwrap()), max_len)
            );
        }
        assert_eq!(scan_forward(&list, max_len).len(), distinct);
    }
}

/// Inserters into two lists while a preparer keeps adding spares to both
/// and an adopter moves spares back and forth. No chunk may end up in two
/// arenas or twice in one; every node must lie in a chunk of its own list;
/// valgrind checks for leaks and double frees.
#[test]
fn spares_prepared_and_adopted_while_inserting() {
    let per_thread = 6_000;
    let max_len = 2_000;
    let a = Arc::new(SkipList::new());
    let b = Arc::new(SkipList::new());
    let stop = AtomicBool::new(false);
    let moved = AtomicUsize::new(0);
    thread::scope(|s| {
        let mut inserters = Vec::new();
        for t in 0..3u64 {
            let list = if t == 2 { &b } else { &a };
            inserters.push(s.spawn(move || {
                for i in 0..per_thread as u64 {
                    let uk = (i * 3 + t).to_be_bytes();
                    let trailer = pack_trailer(1, ValueKind::Put);
                    assert!(list.insert(&uk, trailer, &value_for(&uk, trailer, max_len)));
                }
            }));
        }
        {
            let (a, b, stop) = (&a, &b, &stop);
            s.spawn(move || {
                while !stop.load(atomic::Ordering::Relaxed) {
                    a.prepare_spare_chunk(3);
                    b.prepare_spare_chunk(2);
                    thread::yield_now();
                }
            });
        }
        {
            let (a, b, stop, moved) = (&a, &b, &stop, &moved);
            s.spawn(move || {
                while !stop.load(atomic::Ordering::Relaxed) {
                    moved.fetch_add(b.adopt_spare_chunks(a), atomic::Ordering::Relaxed);
                    moved.fetch_add(a.adopt_spare_chunks(b), atomic::Ordering::Relaxed);
                    // self-adoption must be harmless too
                    a.adopt_spare_chunks(a);
                    thread::yield_now();
                }
            });
        }
        for h in inserters {
            h.join().unwrap();
        }
        stop.store(true, atomic::Ordering::Relaxed);
    });
    eprintln!("spares moved: {}", moved.load(atomic::Ordering::Relaxed));
    let ea = check_structure(&a);
    let eb = check_structure(&b);
    assert_eq!(ea.len(), 2 * per_thread);
    assert_eq!(eb.len(), per_thread);
    for (k, v) in ea.iter().chain(&eb) {
        let (uk, t) = k.split_at(k.len() - 8);
        assert_eq!(
            v,
            &value_for(uk, u64::from_le_bytes(t.try_into().unwrap()), max_len)
        );
    }
    // Chunk ownership is disjoint.
    let mut headers = HashSet::new();
    let mut bases = HashSet::new();
    for list in [&a, &b] {
        let lists = list.arena.chunks.lock();
        assert_eq!(lists.spares.len(), list.arena.spare_count());
        for c in lists.held.iter().chain(&lists.spares) {
            assert!(
                headers.insert(c.as_ptr() as usize),
                "a chunk header listed twice"
            );
            // SAFETY: listed chunks live as long as their arena.
            let c = unsafe { c.as_ref() };
            assert!(
                bases.insert(c.base.as_ptr() as usize),
                "a chunk's memory listed twice"
            );
            assert!(c.used.load(atomic::Ordering::Relaxed) <= c.capacity);
        }
        for c in &lists.spares {
            // SAFETY: as above.
            assert_eq!(
                unsafe { c.as_ref() }.used.load(atomic::Ordering::Relaxed),
                0
            );
        }
    }
}

/// Nodes of every height with key/value sizes around every threshold: the
/// varint length boundaries, the dedicated-chunk threshold, a whole chunk.
#[test]
fn extreme_sizes_round_trip() {
    let list = Arc::new(SkipList::new());
    let mut sizes: Vec<usize> = vec![0, 1, 7, 8, 119, 120, 127, 128, 129, 16_383, 16_384, 16_385];
    for d in [0usize, 1, 7, 8, 9, 200, 300] {
        sizes.push(DEDICATED_CHUNK_MIN_BYTES - d);
        sizes.push(DEDICATED_CHUNK_MIN_BYTES + d);
        sizes.push(CHUNK_BYTES - d);
    }
    sizes.push(CHUNK_BYTES + 5);
    let mut n = 0u64;
    for &ks in &[0usize, 1, 120, 200] {
        for &vs in &sizes {
            for height in [1, 2, 5, MAX_HEIGHT] {
                n += 1;
                let mut uk = vec![b'k'; ks];
                uk.extend_from_slice(&n.to_be_bytes());
                let trailer = pack_trailer(n, ValueKind::Put);
                let value: Vec<u8> = (0..vs).map(|i| (i as u64 ^ n) as u8).collect();
                let node = list.allocate_node(height, &uk, trailer, &value);
                // SAFETY: fully written, not linked; read back only.
                let e = unsafe { entry(node) };
                assert_eq!(e.internal_key, &internal_key(&uk, trailer)[..]);
                assert!(e.value == &value[..]);
                for level in 0..height {
                    // SAFETY: the node is `height` tall.
                    assert!(unsafe { link(node, level) }
                        .load(atomic::Ordering::Relaxed)
                        .is_null());
                }
            }
            // And through the real insert path.
            let mut uk = vec![b'i'; ks];
            uk.extend_from_slice(&n.to_be_bytes());
            let value: Vec<u8> = (0..vs).map(|i| (i as u64 ^ n ^ 0x55) as u8).collect();
            assert!(list.insert(&uk, 1, &value));
            let e = list.find_ge(&KeyProbe::new(&uk, 1)).unwrap();
            assert!(e.value == &value[..]);
        }
    }
    check_structure(&list);
}
