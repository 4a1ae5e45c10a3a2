//! [`KeyRange`]: every range form the stores' `range(..)` takes, without a
//! turbofish, and [`prefix_range`], the range of the keys with a prefix.

use std::ops::{Bound, Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

/// A range of byte-string keys, as owned bounds: what `range(..)` on the
/// stores, their snapshots and `ReadOnlyStore` takes.
///
/// Implemented for every range expression (`..`, `a..b`, `a..=b`, `a..`,
/// `..b`, `..=b`) and for a `(Bound<K>, Bound<K>)` pair, over any key type
/// `K: AsRef<[u8]>`: `&str`, `String`, `&[u8]`, `Vec<u8>`, `[u8; N]`,
/// `&[u8; N]`. A full range needs no type annotation. Both ends of a range
/// expression have one type, so byte-string literals of different lengths
/// need slicing: `&b"a"[..]..&b"zz"[..]`.
///
/// ```
/// use std::ops::Bound;
/// use lsm_engine::KeyRange;
///
/// let owned = |start: &[u8]| Bound::Included(start.to_vec());
/// assert_eq!((..).into_bounds(), (Bound::Unbounded, Bound::Unbounded));
/// assert_eq!(("a".."c").into_bounds(), (owned(b"a"), Bound::Excluded(b"c".to_vec())));
/// assert_eq!((b"a"..=b"c").into_bounds(), (owned(b"a"), owned(b"c")));
/// assert_eq!((vec![1u8]..).into_bounds(), (owned(&[1]), Bound::Unbounded));
/// assert_eq!((..[9u8, 9]).into_bounds(), (Bound::Unbounded, Bound::Excluded(vec![9, 9])));
/// assert_eq!(
///     (Bound::Excluded("a"), Bound::Unbounded).into_bounds(),
///     (Bound::Excluded(b"a".to_vec()), Bound::Unbounded)
/// );
/// ```
pub trait KeyRange {
    /// The start and end bounds, owned.
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>);
}

fn owned<K: AsRef<[u8]>>(bound: Bound<K>) -> Bound<Vec<u8>> {
    bound.map(|key| key.as_ref().to_vec())
}

impl KeyRange for RangeFull {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Unbounded, Bound::Unbounded)
    }
}

impl<K: AsRef<[u8]>> KeyRange for Range<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (
            Bound::Included(self.start.as_ref().to_vec()),
            Bound::Excluded(self.end.as_ref().to_vec()),
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeInclusive<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let (start, end) = self.into_inner();
        (
            Bound::Included(start.as_ref().to_vec()),
            Bound::Included(end.as_ref().to_vec()),
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeFrom<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (
            Bound::Included(self.start.as_ref().to_vec()),
            Bound::Unbounded,
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeTo<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (
            Bound::Unbounded,
            Bound::Excluded(self.end.as_ref().to_vec()),
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeToInclusive<K> {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (
            Bound::Unbounded,
            Bound::Included(self.end.as_ref().to_vec()),
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for (Bound<K>, Bound<K>) {
    fn into_bounds(self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (owned(self.0), owned(self.1))
    }
}

/// The range of the keys that start with `prefix`: from `prefix`
/// (included) to its successor, the shortest key greater than every key
/// with the prefix (excluded): the prefix with its trailing `0xFF` bytes
/// dropped and its last byte incremented. A prefix of only `0xFF` bytes
/// (or the empty prefix) has no successor: the range is then unbounded
/// above.
///
/// ```
/// use std::ops::Bound;
/// use lsm_engine::prefix_range;
///
/// assert_eq!(
///     prefix_range(b"ab"),
///     (Bound::Included(b"ab".to_vec()), Bound::Excluded(b"ac".to_vec()))
/// );
/// assert_eq!(
///     prefix_range(&[1, 0xFF]),
///     (Bound::Included(vec![1, 0xFF]), Bound::Excluded(vec![2]))
/// );
/// assert_eq!(prefix_range(&[0xFF, 0xFF]).1, Bound::Unbounded);
/// assert_eq!(prefix_range(b""), (Bound::Included(Vec::new()), Bound::Unbounded));
/// ```
pub fn prefix_range(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let end = match prefix.iter().rposition(|&byte| byte != 0xFF) {
        Some(last) => {
            let mut successor = prefix[..=last].to_vec();
            successor[last] += 1;
            Bound::Excluded(successor)
        }
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::ops::RangeBounds;

    /// Compiles only while every listed form converts without annotations.
    #[test]
    fn every_range_form_and_key_type_converts() {
        let inc = |k: &[u8]| Bound::Included(k.to_vec());
        let exc = |k: &[u8]| Bound::Excluded(k.to_vec());
        let array = *b"k";
        let vec = b"k".to_vec();
        let string = String::from("k");
        assert_eq!(("k".."m").into_bounds(), (inc(b"k"), exc(b"m")));
        assert_eq!(
            (string.clone()..).into_bounds(),
            (inc(b"k"), Bound::Unbounded)
        );
        assert_eq!((..=&vec[..]).into_bounds(), (Bound::Unbounded, inc(b"k")));
        assert_eq!((..vec.clone()).into_bounds(), (Bound::Unbounded, exc(b"k")));
        assert_eq!((array..=array).into_bounds(), (inc(b"k"), inc(b"k")));
        assert_eq!((&array..).into_bounds(), (inc(b"k"), Bound::Unbounded));
        assert_eq!(
            (Bound::Included(vec.clone()), Bound::Excluded(b"m".to_vec())).into_bounds(),
            (inc(b"k"), exc(b"m"))
        );
        assert_eq!(
            (Bound::<&str>::Unbounded, Bound::Unbounded).into_bounds(),
            (..).into_bounds()
        );
    }

    proptest! {
        /// A key is in `prefix_range(p)` exactly when it starts with `p`.
        #[test]
        fn prefix_range_holds_exactly_the_keys_with_the_prefix(
            prefix in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFE), Just(0xFF)], 0..4),
            key in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFE), Just(0xFF)], 0..6),
        ) {
            let (start, end) = prefix_range(&prefix);
            let in_range = (start, end).contains(&key);
            prop_assert_eq!(in_range, key.starts_with(&prefix), "{:?} {:?}", prefix, key);
        }
    }
}
