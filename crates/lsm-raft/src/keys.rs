//! The key layout: one-byte prefixes in the store's default keyspace (the
//! layout predates keyspaces, and a prefix byte per key is all it needs).
//!
//! | prefix | key                        | value (postcard)                  |
//! |--------|----------------------------|-----------------------------------|
//! | `0x01` | `0x01` + index (u64 BE)    | the log entry                     |
//! | `0x02` | `0x02`                     | the vote                          |
//! | `0x03` | `0x03`                     | the committed log id              |
//! | `0x04` | `0x04`                     | the last purged log id            |
//! | `0x05` | `0x05`                     | the id of the last log entry      |
//! | `0x10` | `0x10`                     | state machine: last applied id    |
//! | `0x11` | `0x11`                     | state machine: last membership    |
//! | `0x12` | `0x12`                     | meta of the last built snapshot   |
//! | `0x20` | `0x20` + application key   | state machine data (raw bytes)    |
//!
//! Log keys are big-endian indexes, so they sort in index order.

/// Log entries: `LOG` + index (u64 big-endian).
pub(crate) const LOG: u8 = 0x01;
/// The vote.
pub(crate) const VOTE: &[u8] = &[0x02];
/// The committed log id.
pub(crate) const COMMITTED: &[u8] = &[0x03];
/// The last purged log id.
pub(crate) const LAST_PURGED: &[u8] = &[0x04];
/// The id of the last log entry, kept in the same batch as every append
/// and truncation, so finding it needs no reverse seek.
pub(crate) const LAST_LOG: &[u8] = &[0x05];
/// State machine: the last applied log id.
pub(crate) const SM_APPLIED: &[u8] = &[0x10];
/// State machine: the last membership.
pub(crate) const SM_MEMBERSHIP: &[u8] = &[0x11];
/// State machine: the meta of the last built or installed snapshot.
pub(crate) const SM_SNAPSHOT: &[u8] = &[0x12];
/// State machine data: `SM_DATA` + the application's key.
pub(crate) const SM_DATA: u8 = 0x20;

/// The key of log entry `index`.
pub(crate) fn log_key(index: u64) -> [u8; 9] {
    let mut key = [LOG; 9];
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The index of a log key, or `None` for a key that is not one.
pub(crate) fn log_index(key: &[u8]) -> Option<u64> {
    match key {
        [LOG, rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// The store key of the application's state-machine key.
pub(crate) fn data_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(SM_DATA);
    out.extend_from_slice(key);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn log_keys_sort_by_index_and_round_trip() {
        let indexes = [0u64, 1, 255, 256, 70_000, u64::MAX];
        let keys: Vec<_> = indexes.iter().map(|&i| log_key(i)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (i, key) in indexes.iter().zip(&keys) {
            assert_eq!(log_index(key), Some(*i));
        }
        assert_eq!(log_index(VOTE), None);
    }
}
