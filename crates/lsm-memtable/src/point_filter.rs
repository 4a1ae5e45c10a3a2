//! [`PointFilter`]: a concurrent, blocked Bloom filter over the keys of a
//! memtable's point entries, so that a point read of a key the memtable
//! does not hold skips the skiplist search.
//!
//! Why: after a random fill, most point reads look for keys that are in
//! the tables, not the memtable, and each still searched the skiplist
//! first: a profile of `lsm bench` readrandom (1M keys, 64 MiB memtable)
//! had `compare_node` at 21% of its samples, each comparison a cache miss
//! somewhere in the arena. A filter probe is one cache line.
//!
//! Layout: `2^b` words of 64 bits; a key's hash picks one word and
//! [`PROBES`] bits in it (a register-blocked Bloom filter): adding a key is
//! one atomic `fetch_or`, testing one load. At 16 bits per key the
//! false-positive rate is about 1.5% (unit test), which still spares over
//! 98% of the searches of keys the memtable does not hold; a filter with a
//! probe per cache line
//! instead cost six atomic operations per insert for little more. Bits are
//! only ever set, with a `Relaxed` `fetch_or`; a key's bits are set before
//! `Memtable::insert` returns, so a reader that could see the entry
//! (through the store's publication of its sequence number, which happens
//! after the insert returns) sees its bits too. The word is prefetched when
//! the insert starts and set once the entry is linked: the line arrives
//! while the skiplist is searched (a profile of an ordered fill had the
//! `fetch_or` waiting for that line at 69% of `insert`'s own samples, and
//! then, with a plain load in its place, the load at 70%). A reader racing the insert itself may find no bits (and
//! take the entry as absent, as if it read just before the insert), or the
//! bits (the `Relaxed` accesses order nothing, so on a weakly ordered CPU
//! possibly before it can see the node: again a read from just before the
//! insert); bits are never cleared, so once found the key stays found. A false positive
//! only costs the search the filter would have saved; there are no false
//! negatives.

use std::sync::atomic::{AtomicU64, Ordering};

use lsm_core::checksum::key_hash;

use crate::prefetch::prefetch;

/// Bits set (and tested) per key, each chosen by 6 bits of the hash.
const PROBES: u32 = 5;

/// See the module docs.
pub(crate) struct PointFilter {
    words: Box<[AtomicU64]>,
    /// `words.len() - 1`; the length is a power of two.
    word_mask: u64,
}

impl PointFilter {
    /// A filter of about `bytes` bytes (rounded down to a power of two
    /// number of words, at least one). Cheap: 4-10 us for 1 MiB measured
    /// in release (the collect compiles to a zeroed allocation, so the
    /// pages are faulted in as bits are set, not here).
    pub(crate) fn with_bytes(bytes: usize) -> PointFilter {
        let words = (bytes / 8).max(1);
        // The largest power of two at most `words`.
        let words = 1usize << (usize::BITS - 1 - words.leading_zeros());
        PointFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            word_mask: words as u64 - 1,
        }
    }

    /// Records `key`.
    #[cfg(test)]
    pub(crate) fn add(&self, key: &[u8]) {
        self.slot(key).set();
    }

    /// Where `key`'s bits go, its word's cache line already asked for
    /// ([`prefetch`]): the line arrives while the caller does other work, and
    /// [`FilterSlot::set`] then records the key without waiting for it.
    pub(crate) fn slot(&self, key: &[u8]) -> FilterSlot<'_> {
        let (word, mask) = self.locate(key_hash(key));
        prefetch(word);
        FilterSlot { word, mask }
    }

    /// False only if `key` was never added.
    #[cfg(test)]
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(key_hash(key))
    }

    /// False only if no key whose [`key_hash`] is `hash` was added.
    pub(crate) fn may_contain_hash(&self, hash: u64) -> bool {
        let (word, mask) = self.locate(hash);
        word.load(Ordering::Relaxed) & mask == mask
    }

    /// Bytes the filter takes.
    pub(crate) fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The word of a key with this [`key_hash`] (from its high 32 bits)
    /// and the mask of its bits in it (6 bits of the low 30 for each
    /// probe).
    #[inline]
    fn locate(&self, hash: u64) -> (&AtomicU64, u64) {
        let index = ((hash >> 32) & self.word_mask) as usize;
        let mut mask = 0u64;
        for probe in 0..PROBES {
            mask |= 1 << ((hash >> (6 * probe)) & 63);
        }
        // `index <= word_mask < words.len()`.
        (&self.words[index], mask)
    }
}

/// A key's bits in a [`PointFilter`], not set yet ([`PointFilter::slot`]).
pub(crate) struct FilterSlot<'a> {
    word: &'a AtomicU64,
    mask: u64,
}

impl FilterSlot<'_> {
    /// Sets the key's bits.
    pub(crate) fn set(self) {
        self.word.fetch_or(self.mask, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_keys_are_always_found_and_few_others_are() {
        // 16 bits per key, about what a 64 MiB memtable of ~150-byte
        // entries has.
        let keys = 50_000u32;
        let filter = PointFilter::with_bytes(keys as usize * 2);
        for i in 0..keys {
            filter.add(format!("key{i:08}").as_bytes());
        }
        for i in 0..keys {
            assert!(filter.may_contain(format!("key{i:08}").as_bytes()), "{i}");
        }
        let false_positives = (0..100_000u32)
            .filter(|i| filter.may_contain(format!("other{i:08}").as_bytes()))
            .count();
        assert!(false_positives < 2_500, "{false_positives} in 100000");
    }

    #[test]
    fn sizes_round_down_to_a_power_of_two_words() {
        assert_eq!(PointFilter::with_bytes(0).bytes(), 8);
        assert_eq!(PointFilter::with_bytes(100).bytes(), 64);
        assert_eq!(PointFilter::with_bytes(1 << 20).bytes(), 1 << 20);
        assert_eq!(PointFilter::with_bytes((1 << 20) + 1000).bytes(), 1 << 20);
    }

    #[test]
    fn a_one_word_filter_still_has_no_false_negatives() {
        let filter = PointFilter::with_bytes(8);
        let keys: Vec<Vec<u8>> = (0..5_000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for key in &keys {
            filter.add(key);
        }
        assert!(keys.iter().all(|key| filter.may_contain(key)));
    }

    #[test]
    fn concurrent_adds_are_all_kept() {
        let filter = std::sync::Arc::new(PointFilter::with_bytes(1 << 14));
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let filter = std::sync::Arc::clone(&filter);
                std::thread::spawn(move || {
                    for i in 0..2_000u32 {
                        filter.add(&(t * 10_000 + i).to_be_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        for t in 0..4u32 {
            for i in 0..2_000u32 {
                assert!(filter.may_contain(&(t * 10_000 + i).to_be_bytes()));
            }
        }
    }
}
