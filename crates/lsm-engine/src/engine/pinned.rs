//! Point reads that return the value without a copy: a [`Bytes`] slice of
//! the memtable entry or cached table block holding it (see
//! [`crate::read::get_pinned`]). The `Vec` reads in `lookup.rs` and
//! `keyspaces.rs` are these plus one copy.

use bytes::Bytes;
use lsm_core::keyspace::tree_key;
use lsm_core::{KeyspaceId, SeqNo};

use super::keyspaces::check_readable;
use super::Engine;
use crate::error::Result;
use crate::read;

impl Engine {
    /// [`Engine::get`] without a copy: the value as a slice of the block
    /// or memtable entry holding it, which it keeps alive.
    pub fn get_pinned(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.get_pinned_in(KeyspaceId::DEFAULT, key)
    }

    /// [`Engine::get_at`] without a copy.
    pub fn get_pinned_at(&self, key: &[u8], seq: SeqNo) -> Result<Option<Bytes>> {
        self.get_pinned_at_in(KeyspaceId::DEFAULT, key, seq)
    }

    /// [`Engine::get_in`] without a copy.
    pub fn get_pinned_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        self.check_open()?;
        check_readable(keyspace)?;
        let (view, seq) = self.read_view();
        read::get_pinned(&view, &self.tables, &tree_key(keyspace, key), seq)
    }

    /// [`Engine::get_at_in`] without a copy.
    pub fn get_pinned_at_in(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
        seq: SeqNo,
    ) -> Result<Option<Bytes>> {
        self.check_open()?;
        check_readable(keyspace)?;
        let view = self.view();
        read::get_pinned(&view, &self.tables, &tree_key(keyspace, key), seq)
    }
}
