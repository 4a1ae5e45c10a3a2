//! The shared test harness of the store crates (`lsm-store-sync` and
//! `lsm-store-async`): each store's integration tests drive the same
//! checks through the stores' shared `KvStore` trait.
//!
//! - [`model`]: the model test. Random (or fixed) operation sequences —
//!   put, delete, batch, get, range, snapshot reads, flush, compact, close
//!   and reopen — run against a store and a `BTreeMap`; every read must
//!   agree. Generic over any `KvStore`.
//! - [`crash`]: the crash-recovery test. A child process (the test binary
//!   re-run with an ignored test as its entry point) writes from several
//!   threads and prints each acknowledged write; the parent SIGKILLs it
//!   mid-workload, reopens the store and checks that every acknowledged
//!   write is there and that each writer's writes form a prefix. Generic
//!   over any `KvStore`.
//! - [`checkpoint`]: checkpoints of every layer, checkpoints taken while
//!   writer threads write, and a checkpoint cut short at each of its file
//!   operations followed by a simulated power loss; every checkpoint is
//!   opened and compared with exactly the writes up to its sequence
//!   number. Generic over any `KvStore`.
//! - [`keyspace_crash`]: range deletes and keyspace create/drop under a
//!   simulated power loss: synced ones survive, unsynced ones are lost only
//!   together with everything after them, and a create or drop cut short
//!   at any file operation leaves the keyspace fully there or fully gone.
//!   Generic over any `KvStore`.
//!
//! - [`keyspaces`]: writer threads racing keyspace drops and re-creations;
//!   every acknowledged write to a keyspace's current incarnation is there,
//!   none of a dropped one, also after a reopen. Generic over any `KvStore`.
//! - [`Rng`]: the seeded generator of the seeded model tests.
//!
//! This crate is unpublished and is not a public API: it exists only so the
//! store crates' tests share one copy of these harnesses. Its functions
//! panic when a check fails, so that the calling test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failed check must fail the calling test"
)]

pub mod checkpoint;
pub mod crash;
pub mod keyspace_crash;
pub mod keyspaces;
pub mod model;
mod rng;

pub use rng::Rng;
