//! Which store the demo drives. The demo itself is generic over the
//! stores' shared `KvStore` trait; `StoreKind` picks the type.

/// Which store implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `SimpleLsmStore`.
    Simple,
    /// `AsyncLsmStore`.
    Async,
}

impl StoreKind {
    /// The short name used in the CSV's `store` column and on the report.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Simple => "simple",
            StoreKind::Async => "async",
        }
    }

    /// The type name, for headings.
    pub fn type_name(self) -> &'static str {
        match self {
            StoreKind::Simple => "SimpleLsmStore",
            StoreKind::Async => "AsyncLsmStore",
        }
    }
}
