//! Knobs: when an append is durable, when a segment rotates, and how
//! recovery treats damage.

/// When [`crate::WalWriter::append`] makes its record durable.
///
/// "Written" means handed to the OS with `write()`: it survives a crash of
/// this process but not a power loss or kernel crash. "Durable" means
/// `fdatasync`ed: it survives both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Every append returns only once its record is durable. Concurrent
    /// appenders share one `fdatasync` (group commit).
    #[default]
    Always,
    /// An append returns once its record is written; the append that brings
    /// the bytes not yet synced (or claimed by a pending sync) to at least
    /// this many waits for an `fdatasync` covering them. A power loss can
    /// lose up to about this many bytes of acknowledged appends. `0`
    /// behaves like `Always`.
    EveryBytes(u64),
    /// Appends return once written; nothing is synced except on
    /// [`crate::WalWriter::sync`], rotation and close.
    Never,
}

/// How [`crate::recover`] treats records it cannot read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Damage at the very end of the newest segment with nothing valid
    /// after it (a torn write) is cut off and reported; damage anywhere
    /// else is a corruption error.
    #[default]
    TolerateTornTail,
    /// Replay stops at the first damage anywhere (a record whose checksum
    /// or framing fails, a missing segment, missing sequence numbers):
    /// that segment is cut there and every later segment is emptied, so
    /// what remains is an exact prefix of the log. Reported, not an error.
    /// A record that passes its checksum but holds an invalid batch, or
    /// sequence numbers going backwards, is no damage a crash leaves and
    /// is still a corruption error.
    PointInTime,
    /// Any damage, a torn tail included, is a corruption error.
    AbsoluteConsistency,
}

/// Options of a [`crate::WalWriter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// When appends are durable. Default [`SyncMode::Always`].
    pub sync_mode: SyncMode,
    /// A segment holding at least this many bytes is closed and the next
    /// one started before the next write. Default 64 MiB.
    pub segment_bytes: u64,
    /// How recovery treats damage. Not used by the writer; kept here so a
    /// store configures its WAL in one place. Default
    /// [`RecoveryMode::TolerateTornTail`].
    pub recovery_mode: RecoveryMode,
}

/// The default rotation threshold: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            sync_mode: SyncMode::Always,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            recovery_mode: RecoveryMode::TolerateTornTail,
        }
    }
}
