//! What the demo and the benchmarks feed a store: keys, values, and the
//! distributions keys are drawn from, all from a seeded generator so a run
//! can be repeated (and `demo --store both` drives both stores with the
//! same sequence).

/// A small, fast, seeded generator (xorshift64*). Not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound.max(1))) >> 64) as u64
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// How keys are chosen from the key space.
#[derive(Clone, Debug)]
pub enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// Zipfian with the given skew (`s > 0`; ~0.99 is db_bench's YCSB
    /// default): key `k` has weight `1 / (k + 1)^s`, then ranks are
    /// scattered over the key space so hot keys are not all adjacent.
    Zipf(ZipfTable),
}

/// The cumulative weights of a Zipf distribution over `n` ranks.
#[derive(Clone, Debug)]
pub struct ZipfTable {
    cdf: Vec<f64>,
}

impl ZipfTable {
    /// Precomputes the distribution over `n` keys with skew `s`
    /// (O(n) memory: 8 bytes per key).
    pub fn new(n: u64, s: f64) -> ZipfTable {
        let n = n.max(1);
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for k in 0..n {
            total += 1.0 / ((k + 1) as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        ZipfTable { cdf }
    }

    /// Draws a rank in `0..n`; rank 0 is the hottest.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

/// Draws key indexes in `0..key_space`.
#[derive(Clone, Debug)]
pub struct KeyChooser {
    key_space: u64,
    distribution: KeyDistribution,
}

impl KeyChooser {
    /// A chooser over `key_space` keys.
    pub fn new(key_space: u64, distribution: KeyDistribution) -> KeyChooser {
        KeyChooser {
            key_space: key_space.max(1),
            distribution,
        }
    }

    /// A uniform or Zipf chooser; `zipf_skew` is used when `zipf` is true.
    pub fn from_flags(key_space: u64, zipf: bool, zipf_skew: f64) -> KeyChooser {
        let distribution = if zipf {
            KeyDistribution::Zipf(ZipfTable::new(key_space, zipf_skew))
        } else {
            KeyDistribution::Uniform
        };
        KeyChooser::new(key_space, distribution)
    }

    /// The next key index.
    pub fn next(&self, rng: &mut Rng) -> u64 {
        match &self.distribution {
            KeyDistribution::Uniform => rng.below(self.key_space),
            // Scatter ranks with an odd multiplier modulo the key space
            // (a permutation when gcd(multiplier, key_space) = 1; close
            // enough otherwise) so hot keys spread over the key space.
            KeyDistribution::Zipf(table) => {
                (table.sample(rng).wrapping_mul(0x9E37_79B9_7F4A_7C15 | 1)) % self.key_space
            }
        }
    }
}

/// A seeded pseudo-random permutation of `0..len`, computed index by
/// index instead of stored: `lsm bench`'s fills visit every key once in a
/// shuffled order, and a stored order of 1M keys took 8 MiB, counted in
/// every engine's peak RSS. A four-round Feistel network over the smallest
/// even number of bits that covers `len` is a bijection on that power of
/// two; walking its cycle until the value falls below `len` (cycle
/// walking) keeps it one on `0..len`, in at most four passes of the
/// network per value on average (the power of two is under `4 * len`).
#[derive(Clone, Debug)]
pub struct Permutation {
    len: u64,
    half_bits: u32,
    round_keys: [u64; 4],
}

impl Permutation {
    /// A permutation of `0..len` drawn from `rng`.
    pub fn new(len: u64, rng: &mut Rng) -> Permutation {
        let bits = 64 - len.saturating_sub(1).leading_zeros();
        Permutation {
            len,
            half_bits: bits.div_ceil(2).max(1),
            round_keys: [
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ],
        }
    }

    /// The value at position `i` (`i < len`; other positions map into
    /// `0..len` too, but not one to one).
    pub fn at(&self, i: u64) -> u64 {
        if self.len <= 1 {
            return 0;
        }
        let mut x = i % self.len;
        loop {
            x = self.feistel(x);
            if x < self.len {
                return x;
            }
        }
    }

    /// The whole permutation in position order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len).map(|i| self.at(i))
    }

    /// One pass of the network over `0..2^(2 * half_bits)`.
    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.round_keys {
            let mixed = (right ^ key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let round = (mixed ^ (mixed >> 29)) & mask;
            (left, right) = (right, left ^ round);
        }
        (left << self.half_bits) | right
    }
}

/// The key for index `i`, `len` bytes long (db_bench style: zero-padded
/// decimal, so keys sort in index order). `len` below 8 is raised to 8.
pub fn key_bytes(i: u64, len: usize) -> Vec<u8> {
    // The last `len` digits of `i` zero-padded to 20 (all of u64), written
    // from the right without formatting: a profile of `lsm bench fillseq`
    // had `format!` here at 15% of the samples, time every engine paid.
    let mut key = vec![b'0'; len.max(8)];
    let mut rest = i;
    for digit in key.iter_mut().rev().take(20) {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    key
}

/// A value of `len` bytes: half random, half repeated, so it compresses
/// about 2:1 like db_bench's default values.
pub fn value_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut value = vec![b'v'; len];
    let random = len / 2;
    rng.fill(&mut value[..random]);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_visits_every_index_once() {
        for len in [1u64, 2, 3, 7, 64, 1000, 1025, 4097] {
            let permutation = Permutation::new(len, &mut Rng::new(len));
            let mut seen: Vec<u64> = permutation.iter().collect();
            assert!(seen.iter().all(|&v| v < len), "len {len}");
            seen.sort_unstable();
            assert_eq!(seen, (0..len).collect::<Vec<_>>(), "len {len}");
        }
    }

    #[test]
    fn permutation_shuffles_and_depends_on_the_seed() {
        let a: Vec<u64> = Permutation::new(1000, &mut Rng::new(1)).iter().collect();
        let b: Vec<u64> = Permutation::new(1000, &mut Rng::new(2)).iter().collect();
        assert_ne!(a, b);
        // Far from the identity: few indexes keep their place.
        let fixed = a
            .iter()
            .enumerate()
            .filter(|(i, v)| *i as u64 == **v)
            .count();
        assert!(fixed < 20, "{fixed} fixed points");
        // Neighbours land far apart in the key space, as a shuffle's do.
        let near = a.windows(2).filter(|w| w[0].abs_diff(w[1]) < 10).count();
        assert!(near < 50, "{near} neighbouring pairs within 10");
    }

    #[test]
    fn keys_sort_in_index_order_and_have_the_asked_length() {
        let a = key_bytes(9, 16);
        let b = key_bytes(10, 16);
        assert_eq!(a.len(), 16);
        assert!(a < b);
        assert_eq!(key_bytes(5, 4).len(), 8);
    }

    #[test]
    fn keys_are_the_last_digits_of_the_zero_padded_index() {
        for i in [0, 7, 42, 999_999, 1 << 40, u64::MAX] {
            let digits = format!("{i:020}");
            for len in [8, 16, 20, 24] {
                let padded = format!("{digits:0>len$}");
                let expected = &padded.as_bytes()[padded.len() - len..];
                assert_eq!(key_bytes(i, len), expected, "i={i} len={len}");
            }
        }
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..10).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..10).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
    }

    #[test]
    fn zipf_is_skewed_and_uniform_is_not() {
        let mut rng = Rng::new(1);
        let zipf = KeyChooser::from_flags(1000, true, 0.99);
        let uniform = KeyChooser::from_flags(1000, false, 0.99);
        let mut zipf_counts = vec![0u32; 1000];
        let mut uniform_counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            zipf_counts[zipf.next(&mut rng) as usize] += 1;
            uniform_counts[uniform.next(&mut rng) as usize] += 1;
        }
        let zipf_max = *zipf_counts.iter().max().unwrap();
        let uniform_max = *uniform_counts.iter().max().unwrap();
        assert!(zipf_max > 5_000, "zipf hottest key drew {zipf_max}");
        assert!(uniform_max < 200, "uniform hottest key drew {uniform_max}");
        assert!(uniform_counts.iter().all(|&c| c > 0));
    }
}
