//! The sample type config: a key-value state machine with put, delete
//! and batch requests.

use std::fmt;
use std::io;

use openraft::EntryPayload;
use serde::{Deserialize, Serialize};

use crate::{LsmApp, StageError, StagedWrites};

/// One key-value operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

/// A client request: one operation, or several applied together (they
/// are one log entry, so they are applied atomically).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvRequest {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Several operations, in order.
    Batch(Vec<KvOp>),
}

impl fmt::Display for KvRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvRequest::Put { key, value } => {
                write!(f, "put({} bytes, {} bytes)", key.len(), value.len())
            }
            KvRequest::Delete { key } => write!(f, "delete({} bytes)", key.len()),
            KvRequest::Batch(ops) => write!(f, "batch({} ops)", ops.len()),
        }
    }
}

/// The response to a request: for `Put` and `Delete`, the value the key
/// had before; for a batch or an entry without a request, `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResponse {
    /// The previous value of the key.
    pub previous: Option<Vec<u8>>,
    /// Why the request was refused, with nothing of it applied: a key or a
    /// value the state machine cannot hold ([`StagedWrites::check`]), or
    /// writes that together pass [`StagedWrites::MAX_ENTRY_BYTES`] (a
    /// batch is refused whole). Every node refuses it alike.
    pub refused: Option<String>,
}

impl KvResponse {
    fn refusing(err: StageError) -> KvResponse {
        KvResponse {
            previous: None,
            refused: Some(err.to_string()),
        }
    }
}

openraft::declare_raft_types!(
    /// The sample type config: [`KvRequest`] in, [`KvResponse`] out, `u64`
    /// node ids, `BasicNode`, tokio.
    pub KvConfig:
        D = KvRequest,
        R = KvResponse,
);

impl LsmApp for KvConfig {
    fn apply(entry: &Self::Entry, state: &mut StagedWrites<'_>) -> io::Result<KvResponse> {
        let EntryPayload::Normal(request) = &entry.payload else {
            return Ok(KvResponse::default());
        };
        // Every operation is checked before anything is staged, so a
        // refused request (a batch included) changes nothing.
        let checked = match request {
            KvRequest::Put { key, value } => StagedWrites::check(key, value.len()),
            KvRequest::Delete { key } => StagedWrites::check(key, 0),
            KvRequest::Batch(ops) => ops.iter().try_for_each(|op| match op {
                KvOp::Put { key, value } => StagedWrites::check(key, value.len()),
                KvOp::Delete { key } => StagedWrites::check(key, 0),
            }),
        };
        if let Err(err) = checked {
            return Ok(KvResponse::refusing(err));
        }
        // Staging can still refuse a write that would take the entry past
        // `StagedWrites::MAX_ENTRY_BYTES`: the request is then refused
        // whole, its staged writes discarded.
        let previous = match request {
            KvRequest::Put { key, .. } | KvRequest::Delete { key } => state.get(key)?,
            KvRequest::Batch(_) => None,
        };
        let staged = match request {
            KvRequest::Put { key, value } => state.put(key, value),
            KvRequest::Delete { key } => state.delete(key),
            KvRequest::Batch(ops) => ops.iter().try_for_each(|op| match op {
                KvOp::Put { key, value } => state.put(key, value),
                KvOp::Delete { key } => state.delete(key),
            }),
        };
        Ok(match staged {
            Ok(()) => KvResponse {
                previous,
                refused: None,
            },
            Err(err) => {
                state.discard();
                KvResponse::refusing(err)
            }
        })
    }
}
