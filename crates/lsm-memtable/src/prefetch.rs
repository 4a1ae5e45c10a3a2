//! [`prefetch`]: asks the CPU to start bringing a value's cache line in,
//! without waiting for it.
//!
//! Why: an insert sets its key's bits in the memtable's point filter, a
//! random word of an array of about a megabyte that the writer's own
//! stream of arena and WAL bytes keeps pushing out of the cache. Reading
//! the word early so its line arrives during the skiplist search (a plain
//! load) still stalled the insert: the load cannot retire until the line
//! arrives, and the core runs out of room to work past it. In a profile of
//! `lsm bench --benchmarks fillseq --engine lsm-async`, that one load was
//! 70% of `Memtable::insert`'s own samples (5% of the whole process). A
//! prefetch instruction retires at once.
//!
//! The one `unsafe` block: `_mm_prefetch` is an `unsafe` intrinsic only
//! because it is declared with the `sse` target feature. Elsewhere than
//! x86_64 the function does nothing.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

/// Hints that `value` is about to be read or written. Changes nothing the
/// program can observe.
#[inline]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let address = std::ptr::from_ref(value).cast::<i8>();
        // SAFETY: the `sse` feature this intrinsic is declared with is
        // enabled (the `cfg` above). A prefetch neither faults nor reads
        // or writes any memory the program can observe, whatever the
        // address; this one is a live reference's anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_leaves_the_value_as_it_was() {
        let words: Vec<u64> = (0..1024).collect();
        for word in &words {
            prefetch(word);
        }
        assert!(words.iter().copied().eq(0..1024));
    }
}
