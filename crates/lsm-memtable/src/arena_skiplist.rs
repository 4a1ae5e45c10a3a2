//! The memtable's storage: an append-only [`Arena`] and a lock-free,
//! insert-only skiplist ([`SkipList`]) whose nodes live in it, with each
//! entry's internal key and value inline in its node.
//!
//! This is the crate's one module with `unsafe` code; everything it exports
//! is a safe API. The design follows RocksDB's `InlineSkipList` (Pebble's
//! `arenaskl` and Badger's `skl` are close relatives); the code is our own.
//!
//! # Arena
//! Memory comes in chunks of [`CHUNK_BYTES`], allocated when needed; an
//! allocation bumps the current chunk's `used` offset with a CAS (no lock),
//! and only installing a new chunk takes the arena's mutex. A request of
//! [`DEDICATED_CHUNK_MIN_BYTES`] or more gets a chunk of its own, so at most
//! that much of a chunk is ever left unused at its end. Nothing is freed
//! before the arena is dropped, with its skiplist, as a whole.
//!
//! A background thread may make ordinary chunks ahead of need
//! ([`Arena::prepare_spare`]): it maps a chunk and writes one byte per
//! page, so the kernel faults it in there, and leaves it as one of the
//! arena's spares; the allocation that next needs a chunk installs a spare
//! instead of mapping one. The first touch of a fresh huge page took
//! 0.5-6 ms on the machines this was measured on (the host backs the page
//! then), which a writer would otherwise pay inside one insert every 2 MiB.
//! Spares an arena never used can move to another one
//! ([`Arena::adopt_spares`]: a frozen memtable's to its successor).
//!
//! # Node layout
//! A node of height `h` is one arena allocation, aligned for a link (8 bytes
//! on 64-bit targets):
//!
//! ```text
//! [link h-1] ... [link 1] [link 0] [key_len] [internal key] [value_len] [value] [pad]
//!                         ^ the node's address (`NonNull<Node>`)
//! ```
//!
//! Links are `AtomicPtr<Node>`, level `i` at `i` words *before* the node's
//! address, so a node is its level-0 link and the tower needs no height
//! field (as in RocksDB). `key_len` and `value_len` are LEB128 varints (one
//! byte each below 128); the internal key is the user key followed by its
//! 8-byte little-endian trailer. A search compares only keys, so the key
//! comes right after its length, in the cache line of the level-0 link
//! for most nodes. The head is a tower of [`MAX_HEIGHT`]
//! links with no key, inside the [`SkipList`] itself.
//!
//! # Concurrency
//! Inserts are lock-free (RocksDB's `InsertConcurrently`): a node's bytes and
//! its level-`i` link are written while it is private, then it is published
//! at each level, bottom up, by a `Release` CAS on its predecessor's link;
//! a failed CAS re-finds the splice at that level from the old predecessor
//! (still smaller than the key: nothing is ever removed). Readers load
//! links with `Acquire`, so a node reached through a link is fully written.
//! A node linked at level `i > 0` was linked at every level below first.
//!
//! A search (an insert's, or a seek's) at level `i > 0` prefetches the
//! node it goes down to from where it stands (the level-`i - 1` link of
//! its current node) while it loads and compares the next node at level
//! `i`, so the two cache misses overlap instead of following each other:
//! random inserts into a 1M-entry list 8-20% faster, gets 3-7%.
//!
//! A scan from the first entry (a flush's) walks many stretches of the
//! list at once instead of one node after another ([`ScanAhead`]): a
//! full scan of a randomly filled 1M-entry list 2.9x faster.
//!
//! # Remembered splice
//! The splice of an insert is, at each level, the last node before its key
//! and the first at or after it: where the new node is linked. The list
//! remembers the splice of the last insert (a [`Splice`] behind a mutex,
//! as RocksDB's `InlineSkipList` does for its non-concurrent inserts).
//! The next insert takes the lowest remembered level whose pair is still
//! adjacent (no node linked in between since) and, if that pair brackets
//! its key, starts its search there instead of at the top. For ascending
//! keys that is level 0: one comparison per insert instead of about two
//! per level. Any other key searches from the top, as before, after one
//! or two comparisons with the remembered nodes. The mutex is only ever taken with
//! `try_lock`: an insert that finds it held searches from the top as
//! before, so no inserter ever waits for another. Nothing is ever
//! removed, so a remembered node stays valid and keeps its place in key
//! order; nodes linked since between a remembered pair are found by the
//! search, which reloads every link.
//!
//! Invariants:
//! - Every link is null or points to a fully written node of the same
//!   skiplist, whose address stays valid until the skiplist is dropped.
//! - At every level, the nodes reachable from the head are in strictly
//!   increasing internal-key order ([`KeyProbe`]'s order); at level 0 they
//!   are every inserted entry, each internal key at most once.
//! - A node's bytes never change after it is published; only its links do,
//!   from one node to a node between the two.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::alloc::Layout;
use std::cell::Cell;
use std::cmp::Ordering;
use std::hash::{BuildHasher, Hasher};
use std::mem::{align_of, size_of, MaybeUninit};
use std::ptr::{self, NonNull};
use std::sync::atomic::{self, AtomicPtr, AtomicUsize};
use std::sync::Arc;

use lsm_core::key::TRAILER_BYTES;
use parking_lot::Mutex;
#[cfg(test)]
use std::sync::atomic::AtomicU64;

use crate::entry::KeyProbe;

/// Tallest tower. With a 1/2 chance per extra level, 24 levels keep
/// searches logarithmic up to about 2^24 (16M) entries.
pub(crate) const MAX_HEIGHT: usize = 24;
/// Bytes of an ordinary arena chunk: one huge page, and on Linux mapped
/// aligned to one, so that the kernel can back it with a single 2 MiB page
/// (see `Chunk::new_leaked`).
pub(crate) const CHUNK_BYTES: usize = 2 << 20;
/// Requests this large or larger get a chunk of their own.
pub(crate) const DEDICATED_CHUNK_MIN_BYTES: usize = CHUNK_BYTES / 16;
/// Distance between the bytes [`Arena::prepare_spare`] writes to fault a
/// chunk in: the smallest page size of the targets we build for (with huge
/// pages, the first write faults in the whole chunk and the rest are hits).
const FAULT_STRIDE_BYTES: usize = 4096;
/// The level whose links a scan from the first entry follows to cut the
/// list into segments ([`ScanAhead`]): with towers of chance 1/2 per
/// level, one node in 2^`SCAN_ANCHOR_LEVEL` (16) is linked at it.
const SCAN_ANCHOR_LEVEL: usize = 4;
/// Segments a scan's first batch walks at once; each next batch walks
/// twice as many as the one before, up to [`SCAN_MAX_SEGMENTS`].
const SCAN_FIRST_SEGMENTS: usize = 2;
/// Most segments one batch walks at once (about 512 nodes). More
/// segments than a core keeps cache misses in flight, so that the
/// rounds where only the longest few are left still have some. Chosen
/// with criterion's `scan_1m` (a 1M-entry scan took 191 ms with plain
/// link-following): anchor level 3 with 16 segments 77 ms, 4 with 16
/// 74 ms, 4 with 32 64-66 ms, 4 with 64 62 ms, 5 with 32 60 ms.
const SCAN_MAX_SEGMENTS: usize = 32;
/// How many nodes ahead of the one a scan moves to it prefetches the key
/// and value of.
const SCAN_PREFETCH_DISTANCE: usize = 4;
/// Alignment of every arena allocation: that of a link.
const ALIGN: usize = align_of::<AtomicPtr<Node>>();
/// Chunks are made of `u64` words, so their start is aligned for a link.
type ChunkWord = MaybeUninit<u64>;
const _: () =
    assert!(ALIGN <= align_of::<ChunkWord>() && size_of::<ChunkWord>().is_multiple_of(ALIGN));
/// Bytes of one link.
const LINK_BYTES: usize = size_of::<AtomicPtr<Node>>();
/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT_BYTES: usize = 10;

/// One arena chunk: `capacity` bytes at `base`, the first `used` of them
/// handed out.
struct Chunk {
    /// Start of the chunk's memory (aligned for a link); its provenance
    /// covers the whole chunk.
    base: NonNull<u8>,
    /// Size in bytes, a whole number of [`ChunkWord`]s.
    capacity: usize,
    /// Bytes handed out from the start; only grows, never past `capacity`.
    used: AtomicUsize,
    /// Where the memory came from, and so how it is given back.
    memory: ChunkMemory,
}

/// How a chunk's memory was obtained.
#[derive(Clone, Copy)]
enum ChunkMemory {
    /// `std::alloc::alloc` with this layout.
    Heap(Layout),
    /// An anonymous mapping of exactly `capacity` bytes of its own
    /// (`huge_page_chunk`), unmapped when the arena drops.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Mapped,
}

impl Chunk {
    /// A new chunk of `capacity` bytes (rounded up to whole words), the
    /// first `used` of them already handed out. Returned leaked: the arena
    /// owns it.
    ///
    /// An ordinary chunk ([`CHUNK_BYTES`]), on Linux, is a mapping of its
    /// own aligned to its size and advised as a huge page
    /// (`huge_page_chunk`), so that one TLB entry covers it: a skiplist
    /// search or scan touches nodes all over the arena, and with 4 KiB
    /// pages nearly every node cost a TLB miss as well as a cache miss.
    /// Its own mapping, not the allocator's: memory from `malloc` with a
    /// 2 MiB alignment came from the heap, which kept it after the arena
    /// freed it (a filled store's peak RSS doubled). Any other chunk, or
    /// one whose mapping fails, comes from the global allocator.
    fn new_leaked(capacity: usize, used: usize) -> NonNull<Chunk> {
        let bytes = capacity.div_ceil(size_of::<ChunkWord>()) * size_of::<ChunkWord>();
        let mapped = if bytes == CHUNK_BYTES {
            huge_page_chunk()
        } else {
            None
        };
        let (base, memory) = match mapped {
            Some(base) => (base, ChunkMemory::Mapped),
            None => {
                let layout = match Layout::from_size_align(bytes, align_of::<ChunkWord>()) {
                    Ok(layout) => layout,
                    // Only for a request near `isize::MAX` bytes, which no
                    // memtable makes: fail as an allocation of it would.
                    Err(_) => std::alloc::handle_alloc_error(Layout::new::<ChunkWord>()),
                };
                // SAFETY: `layout` has a non-zero size: `capacity` is
                // `CHUNK_BYTES` or a request of at least one allocation
                // unit.
                let memory = unsafe { std::alloc::alloc(layout) };
                let Some(base) = NonNull::new(memory) else {
                    std::alloc::handle_alloc_error(layout)
                };
                (base, ChunkMemory::Heap(layout))
            }
        };
        let chunk = Box::new(Chunk {
            base,
            capacity: bytes,
            used: AtomicUsize::new(used),
            memory,
        });
        NonNull::from(Box::leak(chunk))
    }

    /// Hands out `size` bytes (a multiple of [`ALIGN`]) at an 8-aligned
    /// address, or `None` when the chunk has not that much room left.
    fn bump(&self, size: usize) -> Option<NonNull<u8>> {
        // Relaxed: the counter only splits the chunk between allocating
        // threads; what they write is published through the skiplist's
        // links, and the chunk itself through `Arena::current` (Acquire).
        let mut used = self.used.load(atomic::Ordering::Relaxed);
        loop {
            let end = used.checked_add(size).filter(|&end| end <= self.capacity)?;
            match self.used.compare_exchange_weak(
                used,
                end,
                atomic::Ordering::Relaxed,
                atomic::Ordering::Relaxed,
            ) {
                // SAFETY: `used + size <= capacity`, so `base + used` lies in
                // this chunk's allocation (and is not null, as `base` is not).
                Ok(_) => return Some(unsafe { self.base.add(used) }),
                Err(now) => used = now,
            }
        }
    }
}

/// Append-only memory for skiplist nodes; see the module docs.
pub(crate) struct Arena {
    /// The chunk small allocations come from; null before the first one.
    /// Stored with `Release` after the chunk is written, loaded `Acquire`.
    current: AtomicPtr<Chunk>,
    /// Every chunk, handed out from or spare. The mutex also serializes
    /// installing a new `current`.
    chunks: Mutex<ChunkLists>,
    /// How many spares `chunks` holds: written under its mutex, read
    /// without it (a hint for whoever prepares spares).
    spare_count: AtomicUsize,
}

/// The chunks an [`Arena`] owns (leaked boxes, freed in its `Drop`).
struct ChunkLists {
    /// Chunks handed out from (the current one last).
    held: Vec<NonNull<Chunk>>,
    /// Ordinary chunks made and faulted in ahead of need
    /// ([`Arena::prepare_spare`]), not handed out from yet; the next one
    /// installed is the last.
    spares: Vec<NonNull<Chunk>>,
}

// SAFETY: the arena's shared state is `current` and `spare_count`
// (atomics), the chunk lists (behind a mutex) and the chunks' headers,
// whose `used` is atomic and whose other fields are never written after the
// chunk is published. The memory it hands out is exclusively the caller's. Nothing
// in it is tied to the thread that created it.
unsafe impl Send for Arena {}
// SAFETY: as for `Send`: every `&self` method synchronizes through atomics
// or the mutex, and distinct calls get disjoint memory.
unsafe impl Sync for Arena {}

impl Arena {
    fn new() -> Self {
        Arena {
            current: AtomicPtr::new(ptr::null_mut()),
            chunks: Mutex::new(ChunkLists {
                held: Vec::new(),
                spares: Vec::new(),
            }),
            spare_count: AtomicUsize::new(0),
        }
    }

    /// Moves all of `from`'s spares to this arena; how many it moved.
    fn adopt_spares(&self, from: &Arena) -> usize {
        let moved = {
            let mut lists = from.chunks.lock();
            from.spare_count.store(0, atomic::Ordering::Relaxed);
            std::mem::take(&mut lists.spares)
        };
        if moved.is_empty() {
            return 0;
        }
        let mut lists = self.chunks.lock();
        // Spares are ordinary chunks never handed out from: as good here as
        // in the arena that made them (the mutexes order the handover).
        lists.spares.extend_from_slice(&moved);
        self.spare_count
            .store(lists.spares.len(), atomic::Ordering::Relaxed);
        moved.len()
    }

    /// Spares the arena holds ([`Arena::prepare_spare`]). A relaxed load.
    fn spare_count(&self) -> usize {
        self.spare_count.load(atomic::Ordering::Relaxed)
    }

    /// Makes an ordinary chunk, faults in every page of it by writing one
    /// byte per page, and adds it to the spares, which the allocations
    /// that next need a chunk install. False (and nothing made) when the
    /// arena holds `up_to` spares already. Meant for a thread other than
    /// the inserters: the faults cost what an inserter would otherwise pay.
    fn prepare_spare(&self, up_to: usize) -> bool {
        if self.spare_count() >= up_to {
            return false;
        }
        let chunk = Chunk::new_leaked(CHUNK_BYTES, 0);
        {
            // SAFETY: the chunk was just made and nothing else knows of it.
            let chunk = unsafe { chunk.as_ref() };
            for offset in (0..chunk.capacity).step_by(FAULT_STRIDE_BYTES) {
                // SAFETY: `offset < capacity`, so the byte lies in the
                // chunk's memory, which no one else refers to yet; a byte
                // of it may hold anything (it is handed out uninitialized).
                // Volatile, so the write that faults the page in is kept.
                unsafe { ptr::write_volatile(chunk.base.as_ptr().add(offset), 0) };
            }
        }
        let mut lists = self.chunks.lock();
        if lists.spares.len() >= up_to {
            // Another thread prepared one meanwhile.
            drop(lists);
            // SAFETY: the chunk was just made by `Chunk::new_leaked`, is in
            // no list and nothing else refers to it: this is its only free.
            unsafe { free_chunk(chunk) };
            return false;
        }
        lists.spares.push(chunk);
        self.spare_count
            .store(lists.spares.len(), atomic::Ordering::Relaxed);
        true
    }

    /// `size` bytes (rounded up to a multiple of [`ALIGN`]) of uninitialized
    /// memory at an [`ALIGN`]-aligned address, valid and unused by anyone
    /// else until the arena is dropped.
    fn allocate(&self, size: usize) -> NonNull<u8> {
        let size = size.max(1).saturating_add(ALIGN - 1) & !(ALIGN - 1);
        if size >= DEDICATED_CHUNK_MIN_BYTES {
            let chunk = Chunk::new_leaked(size, size);
            self.chunks.lock().held.push(chunk);
            // SAFETY: the chunk was just made and is owned by the arena.
            return unsafe { chunk.as_ref() }.base;
        }
        loop {
            let current = self.current.load(atomic::Ordering::Acquire);
            if let Some(chunk) = NonNull::new(current) {
                // SAFETY: `current` only ever points to a chunk in `chunks`,
                // which lives until the arena is dropped; the Acquire load
                // makes its header (written before the Release store) visible.
                if let Some(memory) = unsafe { chunk.as_ref() }.bump(size) {
                    return memory;
                }
            }
            let mut chunks = self.chunks.lock();
            if self.current.load(atomic::Ordering::Acquire) != current {
                // Another thread installed a new chunk meanwhile: use it.
                continue;
            }
            let chunk = match chunks.spares.pop() {
                Some(spare) => {
                    self.spare_count
                        .store(chunks.spares.len(), atomic::Ordering::Relaxed);
                    // SAFETY: a spare is an ordinary chunk made by
                    // `prepare_spare`, owned by the arena and handed out
                    // from by no one: it was taken above under the mutex.
                    unsafe { spare.as_ref() }
                        .used
                        .store(size, atomic::Ordering::Relaxed);
                    spare
                }
                None => Chunk::new_leaked(CHUNK_BYTES, size),
            };
            chunks.held.push(chunk);
            // Release: publishes the chunk's header to the Acquire loads above.
            self.current
                .store(chunk.as_ptr(), atomic::Ordering::Release);
            // SAFETY: the chunk was just made and is owned by the arena; its
            // first `size` bytes were reserved for this call by `used`.
            return unsafe { chunk.as_ref() }.base;
        }
    }

    /// Bytes handed out so far (the rounded allocation sizes: every
    /// chunk's `used`), and bytes of chunk memory held, used or not.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let chunks = self.chunks.lock();
        chunks.held.iter().fold((0, 0), |(used, held), chunk| {
            // SAFETY: every listed chunk lives until the arena is dropped.
            let chunk = unsafe { chunk.as_ref() };
            let chunk_used = chunk.used.load(atomic::Ordering::Relaxed);
            (used + chunk_used, held + chunk.capacity)
        })
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let lists = self.chunks.get_mut();
        for chunk in lists.held.drain(..).chain(lists.spares.drain(..)) {
            // SAFETY: each listed chunk was made by `Chunk::new_leaked` and
            // is in one list once; `&mut self` means no one uses them any
            // more.
            unsafe { free_chunk(chunk) };
        }
    }
}

/// Frees a chunk and its memory.
///
/// # Safety
/// `chunk` was made by [`Chunk::new_leaked`], is freed only this once, and
/// nothing refers to it or its memory any more.
unsafe fn free_chunk(chunk: NonNull<Chunk>) {
    // SAFETY: per the contract, the chunk was leaked from a box and its
    // memory obtained as `memory` says.
    unsafe {
        let chunk = Box::from_raw(chunk.as_ptr());
        match chunk.memory {
            ChunkMemory::Heap(layout) => std::alloc::dealloc(chunk.base.as_ptr(), layout),
            ChunkMemory::Mapped => unmap(chunk.base, chunk.capacity),
        }
    }
}

/// A skiplist node, addressed at its level-0 link: see the module docs for
/// the tower before it and the lengths, key and value after it. Only ever
/// handled through `NonNull<Node>` whose provenance covers the whole node.
#[repr(C)]
struct Node {
    next: AtomicPtr<Node>,
}

/// The level-`level` link of `node`.
///
/// # Safety
/// `node` is the head or a published node of a live skiplist (or a node
/// being inserted), and `level` is below its height.
#[inline]
unsafe fn link<'a>(node: NonNull<Node>, level: usize) -> &'a AtomicPtr<Node> {
    // SAFETY: per the contract, `level` words before the node's address lie
    // in its tower (the head's tower array, or the node's allocation, whose
    // provenance `node` carries), holding an initialized `AtomicPtr`.
    unsafe { &*node.as_ptr().cast::<AtomicPtr<Node>>().sub(level) }
}

/// Reads a LEB128 varint at `at`; returns it and its length.
///
/// # Safety
/// `at` points to a complete varint written by [`write_varint`].
#[inline]
unsafe fn read_varint(at: *const u8) -> (usize, usize) {
    // SAFETY: the varint is complete, so every byte read up to and
    // including the one without the continuation bit is in bounds.
    let first = unsafe { *at };
    if first < 0x80 {
        return (usize::from(first), 1);
    }
    let mut value = usize::from(first & 0x7F);
    let mut shift = 7;
    let mut len = 1;
    loop {
        // SAFETY: as above; the previous byte had its continuation bit.
        let byte = unsafe { *at.add(len) };
        len += 1;
        value |= usize::from(byte & 0x7F) << shift;
        if byte < 0x80 || len == MAX_VARINT_BYTES {
            return (value, len);
        }
        shift += 7;
    }
}

/// Bytes of `value`'s LEB128 encoding.
#[inline]
fn varint_len(mut value: usize) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Writes `value` as LEB128 at `at`; returns the bytes written.
///
/// # Safety
/// `at` is valid for writes of [`varint_len`]`(value)` bytes.
#[inline]
unsafe fn write_varint(at: *mut u8, mut value: usize) -> usize {
    let mut len = 0;
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        let more = value != 0;
        // SAFETY: `len < varint_len(value)` bytes written so far.
        unsafe { at.add(len).write(if more { byte | 0x80 } else { byte }) };
        len += 1;
        if !more {
            return len;
        }
    }
}

/// A published node's stored parts, borrowed from the arena for `'a`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryRef<'a> {
    /// The encoded internal key: user key, then the 8-byte LE trailer.
    pub(crate) internal_key: &'a [u8],
    /// The value (empty for a tombstone).
    pub(crate) value: &'a [u8],
}

impl<'a> EntryRef<'a> {
    /// The user key.
    #[inline]
    pub(crate) fn user_key(&self) -> &'a [u8] {
        let internal_key: &'a [u8] = self.internal_key;
        internal_key
            .split_last_chunk::<TRAILER_BYTES>()
            .map_or(&[], |(user_key, _)| user_key)
    }

    /// The trailer, `seq << 8 | kind`.
    #[inline]
    pub(crate) fn trailer(&self) -> u64 {
        self.internal_key
            .last_chunk::<TRAILER_BYTES>()
            .map_or(0, |t| u64::from_le_bytes(*t))
    }
}

/// The encoded internal key of `node`.
///
/// # Safety
/// `node` is a published (or fully written) node, not the head, of a
/// skiplist that outlives `'a`.
#[inline]
unsafe fn node_key<'a>(node: NonNull<Node>) -> &'a [u8] {
    // SAFETY: a written node has the key's varint length, then the key,
    // right after its level-0 link, inside its allocation; they never
    // change and live as long as the skiplist.
    unsafe {
        let header = node.as_ptr().cast::<u8>().add(LINK_BYTES);
        let (key_len, a) = read_varint(header);
        std::slice::from_raw_parts(header.add(a), key_len)
    }
}

/// A fresh anonymous mapping of [`CHUNK_BYTES`], aligned to its size and
/// advised `MADV_HUGEPAGE` (a hint; its failure is ignored), so the kernel
/// can back it with one transparent huge page. `None` if mapping fails
/// (the caller falls back to the heap), and always elsewhere than Linux.
#[cfg(target_os = "linux")]
fn huge_page_chunk() -> Option<NonNull<u8>> {
    use rustix::mm::{madvise, mmap_anonymous, munmap, Advice, MapFlags, ProtFlags};
    // Twice the size, so an aligned chunk lies inside; the rest is unmapped.
    let len = 2 * CHUNK_BYTES;
    // SAFETY: a new private anonymous mapping at an address the kernel
    // picks aliases nothing.
    let start = unsafe {
        mmap_anonymous(
            ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .ok()?
    .cast::<u8>();
    let head = start.align_offset(CHUNK_BYTES);
    if head > CHUNK_BYTES {
        // Not possible for a page-aligned mapping; give it back.
        // SAFETY: the whole mapping just made, referred to by nothing.
        let _ = unsafe { munmap(start.cast(), len) };
        return None;
    }
    let tail = len - head - CHUNK_BYTES;
    // SAFETY: `head <= CHUNK_BYTES`, so the aligned chunk and the two
    // trimmed ends lie in the mapping just made.
    let aligned = unsafe { start.add(head) };
    // SAFETY: the ends before and after the aligned chunk are parts of the
    // mapping just made that nothing refers to; the advice changes how the
    // kernel backs the chunk, never its contents or validity. A failure
    // leaves an end mapped but unused, or the chunk on small pages.
    unsafe {
        if head > 0 {
            let _ = munmap(start.cast(), head);
        }
        if tail > 0 {
            let _ = munmap(aligned.add(CHUNK_BYTES).cast(), tail);
        }
        let _ = madvise(aligned.cast(), CHUNK_BYTES, Advice::LinuxHugepage);
    }
    NonNull::new(aligned)
}

#[cfg(not(target_os = "linux"))]
fn huge_page_chunk() -> Option<NonNull<u8>> {
    None
}

/// Unmaps a chunk made by [`huge_page_chunk`].
///
/// # Safety
/// `base..base + len` is such a chunk, and nothing refers to it any more.
#[cfg(target_os = "linux")]
unsafe fn unmap(base: NonNull<u8>, len: usize) {
    // SAFETY: forwarded contract. A failure (not possible for a whole
    // mapping of ours) would only leak it.
    let _ = unsafe { rustix::mm::munmap(base.as_ptr().cast(), len) };
}

#[cfg(not(target_os = "linux"))]
unsafe fn unmap(_base: NonNull<u8>, _len: usize) {}

/// Hints the CPU to load the first two cache lines of `node` (its level-0
/// link, key and the start of its value); null does nothing. A hint only:
/// it reads nothing and cannot fault.
#[inline]
fn prefetch_node(node: *mut Node) {
    #[cfg(target_arch = "x86_64")]
    if !node.is_null() {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let line = node.cast::<i8>();
        // SAFETY: a prefetch is a hint that never dereferences its address
        // and cannot fault, whatever the address; the SSE instruction it
        // needs exists on every x86_64 CPU (the ISA's baseline), which is
        // what the intrinsic requires at run time.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(line);
            _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(64));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = node;
}

/// Hints the CPU to load the first three cache lines of `node`: its
/// level-0 link, key and value for entries up to about 150 bytes (a
/// 16-byte key and a 100-byte value end in the third). A hint only.
#[inline]
fn prefetch_entry(node: NonNull<Node>) {
    prefetch_node(node.as_ptr());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: as in `prefetch_node`: a hint, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(node.as_ptr().cast::<i8>().wrapping_add(128)) };
    }
}

/// Prefetches the node a search at `level` goes down to from `node` (its
/// level-`level - 1` successor) if the node after it at `level` sorts
/// after the key: loaded while that one is compared, instead of after.
///
/// # Safety
/// `level > 0`, and `node` is the head or a published node of a live
/// skiplist, taller than `level` (as for [`link`] at `level`).
#[inline]
unsafe fn prefetch_down(node: NonNull<Node>, level: usize) {
    debug_assert!(level > 0);
    // SAFETY: per the contract `node` is taller than `level`, so its
    // level-`level - 1` link exists. Relaxed: only a prefetch hint is made
    // of the value, never a dereference.
    let down = unsafe { link(node, level - 1) }.load(atomic::Ordering::Relaxed);
    prefetch_node(down);
}

/// The stored parts of `node`.
///
/// # Safety
/// As for [`node_key`].
#[inline]
unsafe fn entry<'a>(node: NonNull<Node>) -> EntryRef<'a> {
    // SAFETY: as in `node_key`; the value's varint length and the value
    // follow the key.
    unsafe {
        let internal_key = node_key(node);
        let after_key = internal_key.as_ptr().add(internal_key.len());
        let (value_len, b) = read_varint(after_key);
        EntryRef {
            internal_key,
            value: std::slice::from_raw_parts(after_key.add(b), value_len),
        }
    }
}

/// How `node`'s key compares with `probe` (node minus probe).
///
/// # Safety
/// As for [`node_key`].
#[inline]
unsafe fn compare_node(node: NonNull<Node>, probe: &KeyProbe<'_>) -> Ordering {
    // SAFETY: forwarded contract.
    probe.compare_stored(unsafe { node_key(node) }).reverse()
}

/// True when `prev < probe < next` (`prev` the head, `next` the end: no
/// bound). Checked before every link in debug builds.
///
/// # Safety
/// `prev` is `head` or a published node, `next` `None` or one.
unsafe fn brackets(
    prev: NonNull<Node>,
    head: NonNull<Node>,
    next: Option<NonNull<Node>>,
    probe: &KeyProbe<'_>,
) -> bool {
    // SAFETY: forwarded contract.
    let after_prev = prev == head || unsafe { compare_node(prev, probe) }.is_lt();
    // SAFETY: forwarded contract.
    after_prev && next.is_none_or(|n| unsafe { compare_node(n, probe) }.is_gt())
}

/// A random tower height: 1, then each further level with chance 1/2.
///
/// RocksDB uses 1/4 (4/3 links per node on average instead of 2, 5.3 bytes
/// less per entry), but with our node layout that made gets in a
/// 1M-entry memtable about 15% slower than the crossbeam-skiplist
/// memtable this replaced (more nodes compared per search, each a cache
/// miss); with 1/2 they are as fast, and inserts are too.
fn random_height() -> usize {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|state| {
        // xorshift64*: the top bits of the product are well mixed.
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // One zero bit per extra level: chance 1/2 each.
        (1 + bits.leading_zeros() as usize).min(MAX_HEIGHT)
    })
}

/// The head's tower: [`MAX_HEIGHT`] links, level `i` at index
/// `MAX_HEIGHT - 1 - i`, so the last one is the head "node".
#[repr(C)]
struct Head {
    links: [AtomicPtr<Node>; MAX_HEIGHT],
}

/// A splice: at each level below `height`, the last node before some key
/// (`None`: the head) and the first node at or after it (`None`: the end).
/// Levels at and above `height` are `(None, None)`.
///
/// Invariants, kept by every write (a splice is only written by
/// [`SkipList::insert`], holding it exclusively):
/// 1. `prev[l]` is `None` or a published node of this list linked at level
///    `l` (so taller than `l`), and `next[l]` is `None` or a published node
///    of this list. Memory safety rests on this one alone; it cannot be
///    broken by later inserts, as nodes are never unlinked or freed.
/// 2. Keys are monotone across levels, counting the head as before every
///    key and the end as after: `prev[l + 1] <= prev[l]` and
///    `next[l] <= next[l + 1]`. So a key bracketed at level `l`
///    (`prev[l] < key <= next[l]`) is bracketed at every level above it.
///    Only the key order of the list rests on this one; keys never change,
///    so it too holds however many nodes are linked later.
struct Splice {
    /// Levels remembered.
    height: usize,
    prev: [Option<NonNull<Node>>; MAX_HEIGHT],
    next: [Option<NonNull<Node>>; MAX_HEIGHT],
}

// SAFETY: a `Splice` holds only pointers to nodes in one skiplist's arena,
// and lives inside that skiplist (its `splice` mutex) or on the stack of an
// insert into it. It is dereferenced only by that skiplist's `insert`,
// through `&SkipList`, so while the arena lives: the arena frees nothing
// before the skiplist is dropped, and its chunks (mappings or heap
// allocations) do not move with the skiplist. The head is stored as `None`, never as an
// address, because the head is inside the skiplist and moves with it. A
// node's bytes are immutable once published and its links are atomics, so
// which thread reads through the pointers makes no difference.
unsafe impl Send for Splice {}

impl Splice {
    /// A splice that remembers nothing: every insert using it searches
    /// from the top.
    fn new() -> Self {
        Splice {
            height: 0,
            prev: [None; MAX_HEIGHT],
            next: [None; MAX_HEIGHT],
        }
    }
}

/// How inserts used the remembered splice (tests only).
#[cfg(test)]
#[derive(Default)]
struct SpliceStats {
    /// Inserts that started their search at a remembered level.
    used: AtomicU64,
    /// The sum of those starting levels.
    start_levels: AtomicU64,
}

/// The lock-free, insert-only skiplist of memtable entries; see the module
/// docs.
pub(crate) struct SkipList {
    head: Head,
    /// Height of the tallest tower inserted so far (at least 1). Relaxed:
    /// a stale value only makes a search start lower (still correct) or
    /// higher (at null head links).
    max_height: AtomicUsize,
    /// Entries inserted. Relaxed: a counter.
    len: AtomicUsize,
    /// The splice of the last insert that held it; only ever taken with
    /// `try_lock` (see the module docs). An insert holds it throughout,
    /// and may take the arena's chunk mutex under it.
    splice: Mutex<Splice>,
    arena: Arena,
    #[cfg(test)]
    splice_stats: SpliceStats,
}

// `SkipList` is `Send + Sync` through its fields: `Arena` and `Splice` are
// `Send` (argued above; the mutex makes `Splice` shared safely), the rest
// are atomics. Its nodes are immutable once published except for their
// atomic links, and they live in the arena.

impl SkipList {
    /// An empty skiplist; allocates no arena chunk yet.
    pub(crate) fn new() -> Self {
        SkipList {
            head: Head {
                links: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            },
            max_height: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            splice: Mutex::new(Splice::new()),
            arena: Arena::new(),
            #[cfg(test)]
            splice_stats: SpliceStats::default(),
        }
    }

    /// The head "node" (its level-0 link), with provenance over the whole
    /// head tower.
    #[inline]
    fn head(&self) -> NonNull<Node> {
        let links = NonNull::from(&self.head.links).cast::<AtomicPtr<Node>>();
        // SAFETY: `MAX_HEIGHT - 1` is the last index of the tower array.
        unsafe { links.add(MAX_HEIGHT - 1) }.cast::<Node>()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len.load(atomic::Ordering::Relaxed)
    }

    /// Arena bytes handed out to nodes (including any node lost to a
    /// concurrent duplicate insert).
    #[cfg(test)]
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.arena.usage().0
    }

    /// Arena chunk bytes held, used or not (a spare chunk not counted).
    #[cfg(test)]
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.arena.usage().1
    }

    /// Chunks made ahead of need and not used yet.
    pub(crate) fn spare_chunks(&self) -> usize {
        self.arena.spare_count()
    }

    /// Makes and faults in one more chunk ahead of need, unless `up_to`
    /// are there already (then false). See the module docs.
    pub(crate) fn prepare_spare_chunk(&self, up_to: usize) -> bool {
        self.arena.prepare_spare(up_to)
    }

    /// Moves all of `from`'s spare chunks to this list's arena; how many
    /// (see `Arena::adopt_spares`).
    pub(crate) fn adopt_spare_chunks(&self, from: &SkipList) -> usize {
        self.arena.adopt_spares(&from.arena)
    }

    #[inline]
    fn current_height(&self) -> usize {
        self.max_height
            .load(atomic::Ordering::Relaxed)
            .clamp(1, MAX_HEIGHT)
    }

    /// Inserts `(user_key, trailer) -> value`. Returns false (and links
    /// nothing) when an entry with this internal key is already present;
    /// an insert that loses a race with an equal one has already taken its
    /// node's arena bytes, which stay unreachable (`allocated_bytes` counts
    /// them).
    pub(crate) fn insert(&self, user_key: &[u8], trailer: u64, value: &[u8]) -> bool {
        let probe = KeyProbe::new(user_key, trailer);
        // Never waits: when another insert holds the remembered splice,
        // this one searches from the top with a splice of its own.
        let mut remembered = self.splice.try_lock();
        let mut own_splice;
        let splice = match remembered.as_deref_mut() {
            Some(splice) => splice,
            None => {
                own_splice = Splice::new();
                &mut own_splice
            }
        };
        // SAFETY: `splice` is this list's remembered splice or a new one;
        // both keep the `Splice` invariants.
        unsafe { self.insert_with(splice, &probe, user_key, trailer, value) }
    }

    /// [`SkipList::insert`] of the entry `probe` stands for, starting from
    /// `splice`, which it leaves as this insert's splice.
    ///
    /// # Safety
    /// `splice` is this list's (remembered or new) and keeps the [`Splice`]
    /// invariants; the caller holds it exclusively.
    unsafe fn insert_with(
        &self,
        splice: &mut Splice,
        probe: &KeyProbe<'_>,
        user_key: &[u8],
        trailer: u64,
        value: &[u8],
    ) -> bool {
        let head = self.head();
        // Read after taking the splice: the height it was stored with, or
        // more (the inserter that stored it raised `max_height` first).
        let searched = self.current_height();
        let top = searched.max(splice.height);
        // Where the search down starts: a level, its last node before the
        // key, and its first node known to sort at or after the key.
        let remembered = if splice.height < searched {
            // The list grew taller (an insert without the splice): the
            // levels above it were never remembered. Rare: search them all.
            None
        } else {
            // SAFETY: forwarded `Splice` invariants.
            unsafe { self.lowest_bracketing_level(splice, probe) }
        };
        let (start, mut x, mut known_after) = match remembered {
            Some(level) => {
                #[cfg(test)]
                {
                    let stats = &self.splice_stats;
                    stats.used.fetch_add(1, atomic::Ordering::Relaxed);
                    stats
                        .start_levels
                        .fetch_add(level as u64, atomic::Ordering::Relaxed);
                }
                // Levels `level` and up keep their pairs: they bracket the
                // key (invariant 2), which is all the links below need.
                (
                    level,
                    splice.prev[level].unwrap_or(head),
                    splice.next[level],
                )
            }
            // Levels `top` and up are (head, end), per the invariant.
            None => (top, head, None),
        };
        for level in (0..start).rev() {
            // SAFETY: `x` is the head or a node found at `level + 1` or
            // above (or a remembered `prev[level + 1]`: invariant 1), so
            // taller than `level`, and sorts before the key;
            // `known_after` sorts at or after it.
            let (p, n) = unsafe { self.find_splice(probe, x, level, known_after) };
            splice.prev[level] = (p != head).then_some(p);
            splice.next[level] = n;
            x = p;
            known_after = n;
        }
        // Every level below `top` now holds a pair bracketing the key,
        // each found from the one above (or remembered), so invariant 2
        // holds; invariant 1 does, as each was loaded from a link there.
        splice.height = top;
        if let Some(n) = splice.next[0] {
            // SAFETY: `n` was loaded from a link: a published node.
            if unsafe { compare_node(n, probe) }.is_eq() {
                return false;
            }
        }

        let height = random_height();
        // Levels above `top` keep the splice (head, end): a CAS there fails
        // and re-searches if another thread linked a node meanwhile.
        if height > self.max_height.load(atomic::Ordering::Relaxed) {
            self.max_height.fetch_max(height, atomic::Ordering::Relaxed);
        }
        let node = self.allocate_node(height, user_key, trailer, value);

        for level in 0..height {
            loop {
                let prev = splice.prev[level].unwrap_or(head);
                let next = splice.next[level];
                // SAFETY: `prev` is the head or a node linked at `level`
                // (invariant 1); `next` is null or a published node.
                debug_assert!(unsafe { brackets(prev, head, next, probe) });
                // SAFETY: `node` is `height` tall, `level < height`; its
                // level-`level` link is read by no one until the CAS below
                // publishes it at this level.
                unsafe { link(node, level) }.store(
                    next.map_or(ptr::null_mut(), NonNull::as_ptr),
                    atomic::Ordering::Relaxed,
                );
                // SAFETY: `prev` is the head or a node linked at `level`.
                let published = unsafe { link(prev, level) }.compare_exchange(
                    next.map_or(ptr::null_mut(), NonNull::as_ptr),
                    node.as_ptr(),
                    // Release: publishes the node's bytes and links written
                    // above (and its lower levels) to every Acquire load
                    // that reads this link. Acquire on failure: the
                    // re-search reads what the winner published.
                    atomic::Ordering::Release,
                    atomic::Ordering::Acquire,
                );
                if published.is_ok() {
                    break;
                }
                // Another node was linked after `prev`: re-find the splice
                // from there (it still sorts before the key). The new pair
                // lies within the old one, so invariant 2 still holds.
                // SAFETY: as for the first search.
                let (p, n) = unsafe { self.find_splice(probe, prev, level, None) };
                splice.prev[level] = (p != head).then_some(p);
                splice.next[level] = n;
                if level == 0 {
                    if let Some(n) = n {
                        // SAFETY: `n` was loaded from a link.
                        if unsafe { compare_node(n, probe) }.is_eq() {
                            // A concurrent insert of the same internal key
                            // won; our node stays unreachable in the arena.
                            return false;
                        }
                    }
                }
            }
        }
        // Remember the new node as the last before the next key. Its links
        // are reloaded top down, not taken from the CASes above: a node
        // linked at level `l + 1` was linked at `l` first, so each level's
        // successor, loaded after the one above, sorts at or before it
        // (invariant 2), even with inserts running meanwhile; at `height`
        // the remembered successor sorts after the new key, so after the
        // new node's successor at `height - 1`.
        for level in (0..height).rev() {
            splice.prev[level] = Some(node);
            // SAFETY: `node` is `height` tall and published.
            // Acquire: the successor is compared with a later key.
            splice.next[level] =
                NonNull::new(unsafe { link(node, level) }.load(atomic::Ordering::Acquire));
        }
        splice.height = top.max(height);
        self.len.fetch_add(1, atomic::Ordering::Relaxed);
        true
    }

    /// The level of `splice` to start the search at: the lowest remembered
    /// level whose pair is still adjacent (`prev` links to `next`), if that
    /// pair brackets `probe` (`prev < probe <= next`); else `None`.
    ///
    /// An adjacent pair means a short walk down from there; a pair with
    /// nodes linked in between since (by inserts that did not hold the
    /// splice) could mean a long one, so those levels are passed over,
    /// which costs a load each but no comparison. A key outside the pair
    /// (random order) gives up at once, as RocksDB's non-concurrent inserts
    /// do: climbing on to find a pair that brackets it would cost a
    /// comparison or two per level on top of the search, and in
    /// measurements even one more comparison before giving up made random
    /// inserts into a small memtable about 10% slower.
    ///
    /// # Safety
    /// `splice` is this list's and keeps the [`Splice`] invariants.
    #[inline]
    unsafe fn lowest_bracketing_level(
        &self,
        splice: &Splice,
        probe: &KeyProbe<'_>,
    ) -> Option<usize> {
        let head = self.head();
        let level = (0..splice.height).find(|&level| {
            let (prev, next) = (splice.prev[level], splice.next[level]);
            // SAFETY: `prev` is the head or a node linked at `level`
            // (invariant 1). Relaxed: the link is compared, never followed.
            let linked =
                unsafe { link(prev.unwrap_or(head), level) }.load(atomic::Ordering::Relaxed);
            linked == next.map_or(ptr::null_mut(), NonNull::as_ptr)
        })?;
        // SAFETY: both published nodes (invariant 1).
        let after_prev =
            splice.prev[level].is_none_or(|prev| unsafe { compare_node(prev, probe) }.is_lt());
        // SAFETY: as above.
        let brackets = after_prev
            && splice.next[level].is_none_or(|next| unsafe { compare_node(next, probe) }.is_ge());
        brackets.then_some(level)
    }

    /// Allocates and writes a node of `height` for the entry, its links
    /// null (the caller sets them before publishing it).
    fn allocate_node(
        &self,
        height: usize,
        user_key: &[u8],
        trailer: u64,
        value: &[u8],
    ) -> NonNull<Node> {
        let key_len = user_key.len().saturating_add(TRAILER_BYTES);
        let header = varint_len(key_len) + varint_len(value.len());
        let size = (height * LINK_BYTES + header)
            .saturating_add(key_len)
            .saturating_add(value.len());
        let memory = self.arena.allocate(size);
        // SAFETY: `memory` is `size` fresh bytes, aligned for a
        // link, and ours alone. The tower is its first `height` links, the
        // node's address the last of them; the lengths, key and value follow
        // and end at `size`.
        unsafe {
            let tower = memory.cast::<AtomicPtr<Node>>();
            for level in 0..height {
                // Initialized before any reference to a link is made.
                tower.add(level).write(AtomicPtr::new(ptr::null_mut()));
            }
            let node = tower.add(height - 1).cast::<Node>();
            let mut at = node.as_ptr().cast::<u8>().add(LINK_BYTES);
            at = at.add(write_varint(at, key_len));
            ptr::copy_nonoverlapping(user_key.as_ptr(), at, user_key.len());
            at = at.add(user_key.len());
            ptr::copy_nonoverlapping(trailer.to_le_bytes().as_ptr(), at, TRAILER_BYTES);
            at = at.add(TRAILER_BYTES);
            at = at.add(write_varint(at, value.len()));
            ptr::copy_nonoverlapping(value.as_ptr(), at, value.len());
            node
        }
    }

    /// At `level`, from `start` (which sorts before `probe`): the last node
    /// before `probe` and the first at or after it (`None`: the end).
    /// `known_after`, if reached, is taken as at or after `probe` without a
    /// comparison.
    ///
    /// # Safety
    /// `start` is the head or a node of this list linked at `level` or
    /// above, sorting before `probe`; `known_after` is `None` or sorts at
    /// or after `probe`.
    #[inline]
    unsafe fn find_splice(
        &self,
        probe: &KeyProbe<'_>,
        start: NonNull<Node>,
        level: usize,
        known_after: Option<NonNull<Node>>,
    ) -> (NonNull<Node>, Option<NonNull<Node>>) {
        let mut prev = start;
        loop {
            // SAFETY: `prev` is `start` or a node found at `level`.
            // Acquire: pairs with the Release CAS that linked the node.
            let next = NonNull::new(unsafe { link(prev, level) }.load(atomic::Ordering::Acquire));
            if level > 0 {
                // SAFETY: as for the link above: `prev` is taller than
                // `level`, which is above 0.
                unsafe { prefetch_down(prev, level) };
            }
            match next {
                // SAFETY: loaded from a link: a published node.
                Some(n) if next != known_after && unsafe { compare_node(n, probe) }.is_lt() => {
                    prev = n;
                }
                _ => return (prev, next),
            }
        }
    }

    /// The first node at or after `probe`.
    #[inline]
    fn seek_ge(&self, probe: &KeyProbe<'_>) -> Option<NonNull<Node>> {
        let mut x = self.head();
        let mut level = self.current_height() - 1;
        // The last node known to sort after `probe`: not compared twice.
        let mut known_after: Option<NonNull<Node>> = None;
        loop {
            // SAFETY: `x` is the head or a node found at `level` or above.
            // Acquire: pairs with the Release CAS that linked the node.
            let next = NonNull::new(unsafe { link(x, level) }.load(atomic::Ordering::Acquire));
            if level > 0 {
                // SAFETY: as for the link above: `x` is taller than
                // `level`, which is above 0.
                unsafe { prefetch_down(x, level) };
            }
            match next {
                // SAFETY: loaded from a link: a published node.
                Some(n) if next != known_after && unsafe { compare_node(n, probe) }.is_lt() => {
                    x = n;
                }
                _ => {
                    if level == 0 {
                        return next;
                    }
                    known_after = next;
                    level -= 1;
                }
            }
        }
    }

    /// The last node before `probe` (`inclusive`: at or before it).
    #[inline]
    fn seek_lt(&self, probe: &KeyProbe<'_>, inclusive: bool) -> Option<NonNull<Node>> {
        let head = self.head();
        let mut x = head;
        let mut level = self.current_height() - 1;
        loop {
            // SAFETY: as in `seek_ge`.
            let next = NonNull::new(unsafe { link(x, level) }.load(atomic::Ordering::Acquire));
            let advance = next.is_some_and(|n| {
                // SAFETY: loaded from a link: a published node.
                let order = unsafe { compare_node(n, probe) };
                order.is_lt() || (inclusive && order.is_eq())
            });
            match next {
                Some(n) if advance => x = n,
                _ => {
                    if level == 0 {
                        return (x != head).then_some(x);
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The last node.
    fn last(&self) -> Option<NonNull<Node>> {
        let head = self.head();
        let mut x = head;
        let mut level = self.current_height() - 1;
        loop {
            // SAFETY: as in `seek_ge`.
            match NonNull::new(unsafe { link(x, level) }.load(atomic::Ordering::Acquire)) {
                Some(n) => x = n,
                None if level == 0 => return (x != head).then_some(x),
                None => level -= 1,
            }
        }
    }

    /// The first entry at or after `probe`.
    pub(crate) fn find_ge(&self, probe: &KeyProbe<'_>) -> Option<EntryRef<'_>> {
        // SAFETY: a node found by a search is published and lives as long
        // as `self`.
        self.seek_ge(probe).map(|n| unsafe { entry(n) })
    }
}

/// A `'static` cursor over a shared [`SkipList`]: it holds the list's `Arc`
/// and the node it is on, and hands out the node's bytes without a copy.
///
/// A scan that starts at the first entry ([`Cursor::seek_to_first`], as a
/// flush's does) moves through [`ScanAhead`] batches, which fetch many
/// nodes at once; any other move leaves that mode for plain link-following.
pub(crate) struct Cursor {
    list: Arc<SkipList>,
    /// The current node; `None`: not positioned, or moved off either end.
    node: Option<NonNull<Node>>,
    scan: ScanAhead,
}

// SAFETY: `node` and the nodes in `scan` point into `list`'s arena, which
// the cursor keeps alive through its `Arc<SkipList>` (itself `Send +
// Sync`); the cursor only reads the nodes' immutable bytes and atomic
// links, so moving it to another thread or sharing `&Cursor` between
// threads is sound.
unsafe impl Send for Cursor {}
// SAFETY: see `Send`; `&Cursor` only reads.
unsafe impl Sync for Cursor {}

/// A forward scan's nodes, gathered a batch at a time with many cache
/// misses in flight instead of one.
///
/// Nodes sit in the arena in insert order, so following level-0 links in
/// key order takes one cache miss after another: in a flush of a
/// randomly filled 64 MiB memtable that chain was 60% of the flusher's
/// time. The nodes linked at [`SCAN_ANCHOR_LEVEL`] (anchors, one in 16)
/// cut the level-0 list into segments that can be walked independently.
/// A batch loads the next few anchors after the one it starts from (or
/// the head), then walks its segments together, one node of each per
/// round, so each round's loads overlap; it orders what it found by
/// segment. Each segment is the nodes after one anchor up to and
/// including the next, so a batch ends on an anchor, from which the next
/// one starts (or at the end of the list).
///
/// Invariant (while `active`): the cursor is on `nodes[pos - 1]`, and
/// `nodes` holds, in key order, published nodes of the cursor's list,
/// each after the one before it. If `ends_on_anchor`, the last of them
/// is linked at [`SCAN_ANCHOR_LEVEL`].
///
/// Concurrent inserts: a node linked after its segment was walked is not
/// seen, as the cursor's docs allow; nothing is ever unlinked, so a walk
/// from one anchor always reaches the next.
struct ScanAhead {
    /// Whether the cursor is scanning through batches.
    active: bool,
    /// The batch, in key order.
    nodes: Vec<NonNull<Node>>,
    /// Index in `nodes` of the node the cursor moves to next.
    pos: usize,
    /// Whether the batch's last node is an anchor (else the batch reached
    /// the end of the list).
    ends_on_anchor: bool,
    /// Segments the next batch walks.
    segments: usize,
    /// Scratch for a batch: each node reached, with its segment, in the
    /// order the walk reached them.
    reached: Vec<(usize, NonNull<Node>)>,
}

impl ScanAhead {
    fn new() -> Self {
        ScanAhead {
            active: false,
            nodes: Vec::new(),
            pos: 0,
            ends_on_anchor: false,
            segments: SCAN_FIRST_SEGMENTS,
            reached: Vec::new(),
        }
    }

    /// Gathers the batch after `start`: replaces `nodes` with up to
    /// `segments` segments' nodes, and sets `pos` to 0.
    ///
    /// # Safety
    /// `start` is the head of a live skiplist, or a published node of it
    /// linked at [`SCAN_ANCHOR_LEVEL`] (so taller than that level).
    unsafe fn gather(&mut self, start: NonNull<Node>) {
        // Each segment's first node's predecessor, and its last node
        // (`None`: it runs to the end of the list).
        let mut from = [start; SCAN_MAX_SEGMENTS];
        let mut to: [Option<NonNull<Node>>; SCAN_MAX_SEGMENTS] = [None; SCAN_MAX_SEGMENTS];
        let mut segments = 0;
        let mut anchor = start;
        while segments < self.segments {
            from[segments] = anchor;
            // SAFETY: `anchor` is `start` or was reached through a link at
            // `SCAN_ANCHOR_LEVEL`, so it is taller than that level (the
            // head has every level). Acquire: pairs with the Release CAS
            // that linked the node.
            let next = unsafe { link(anchor, SCAN_ANCHOR_LEVEL) }.load(atomic::Ordering::Acquire);
            to[segments] = NonNull::new(next);
            segments += 1;
            match to[segments - 1] {
                Some(next) => anchor = next,
                None => break,
            }
        }
        self.ends_on_anchor = to[segments - 1].is_some();
        self.segments = (self.segments * 2).min(SCAN_MAX_SEGMENTS);

        // Walk the segments together; `at[s]` is where segment `s` stands.
        let mut at = from;
        let mut open = [false; SCAN_MAX_SEGMENTS];
        open[..segments].fill(true);
        let mut open_count = segments;
        let mut counts = [0usize; SCAN_MAX_SEGMENTS];
        self.reached.clear();
        while open_count > 0 {
            for s in 0..segments {
                if !open[s] {
                    continue;
                }
                // SAFETY: `at[s]` is an anchor (as `start` above) or a
                // node reached through a level-0 link: a published node
                // (or the head), taller than 0. Acquire as above.
                let next = unsafe { link(at[s], 0) }.load(atomic::Ordering::Acquire);
                match NonNull::new(next) {
                    Some(node) => {
                        self.reached.push((s, node));
                        counts[s] += 1;
                        at[s] = node;
                        if Some(node) == to[s] {
                            open[s] = false;
                            open_count -= 1;
                        }
                    }
                    None => {
                        open[s] = false;
                        open_count -= 1;
                    }
                }
            }
        }

        // Order by segment, keeping each segment's order (a counting sort).
        let mut offset = [0usize; SCAN_MAX_SEGMENTS];
        let mut total = 0;
        for s in 0..segments {
            offset[s] = total;
            total += counts[s];
        }
        self.nodes.clear();
        self.nodes.resize(total, start);
        for &(s, node) in &self.reached {
            self.nodes[offset[s]] = node;
            offset[s] += 1;
        }
        self.pos = 0;
    }
}

impl Cursor {
    /// An unpositioned cursor over `list`.
    pub(crate) fn new(list: Arc<SkipList>) -> Self {
        Cursor {
            list,
            node: None,
            scan: ScanAhead::new(),
        }
    }

    /// The skiplist it walks.
    pub(crate) fn list(&self) -> &SkipList {
        &self.list
    }

    /// True when on an entry.
    #[inline]
    pub(crate) fn valid(&self) -> bool {
        self.node.is_some()
    }

    /// The current entry, `None` when not valid.
    #[inline]
    pub(crate) fn entry(&self) -> Option<EntryRef<'_>> {
        // SAFETY: `node` is a published node of `self.list`, which `self`
        // keeps alive for the borrow.
        self.node.map(|n| unsafe { entry(n) })
    }

    /// Moves to the next entry (off the end after the last). In a scan from
    /// the first entry, that is the batch's next node (gathering the next
    /// batch first when this one is used up), and the node a few places
    /// ahead is prefetched. Otherwise it follows the node's link and asks
    /// the CPU to fetch the entry after that, which overlaps the caller's
    /// work on this one with one cache miss.
    #[inline]
    pub(crate) fn next(&mut self) {
        if self.scan.active {
            self.next_in_scan();
            return;
        }
        if let Some(n) = self.node {
            // SAFETY: `n` is a published node of this list, taller than 0.
            // Acquire: pairs with the Release CAS that linked the next node.
            self.node = NonNull::new(unsafe { link(n, 0) }.load(atomic::Ordering::Acquire));
            if let Some(next) = self.node {
                // SAFETY: as above, for the node just reached.
                let after = unsafe { link(next, 0) }.load(atomic::Ordering::Acquire);
                prefetch_node(after);
            }
        }
    }

    /// [`Cursor::next`] in a scan: see [`ScanAhead`].
    #[inline]
    fn next_in_scan(&mut self) {
        let scan = &mut self.scan;
        if scan.pos == scan.nodes.len() {
            match self.node {
                Some(anchor) if scan.ends_on_anchor => {
                    // SAFETY: per `ScanAhead`'s invariant the cursor is on
                    // the batch's last node, an anchor of this list.
                    unsafe { scan.gather(anchor) };
                }
                _ => scan.nodes.clear(),
            }
            if scan.nodes.is_empty() {
                scan.active = false;
                self.node = None;
                return;
            }
        }
        self.node = Some(scan.nodes[scan.pos]);
        scan.pos += 1;
        if let Some(&ahead) = scan.nodes.get(scan.pos + SCAN_PREFETCH_DISTANCE) {
            prefetch_entry(ahead);
        }
    }

    /// Moves to the previous entry (off the start before the first): one
    /// search for the last node before the current one.
    pub(crate) fn prev(&mut self) {
        self.scan.active = false;
        if let Some(n) = self.node {
            // SAFETY: as in `entry`.
            let key = unsafe { entry(n) }.internal_key;
            self.node = self.list.seek_lt(&KeyProbe::from_encoded(key), false);
        }
    }

    /// Moves to the first entry at or after `probe`.
    pub(crate) fn seek(&mut self, probe: &KeyProbe<'_>) {
        self.scan.active = false;
        self.node = self.list.seek_ge(probe);
    }

    /// Moves to the last entry at or before `probe`.
    pub(crate) fn seek_for_prev(&mut self, probe: &KeyProbe<'_>) {
        self.scan.active = false;
        self.node = self.list.seek_lt(probe, true);
    }

    /// Moves to the first entry, and starts a scan through [`ScanAhead`]
    /// batches (a small one first, so a caller that reads a few entries
    /// gathers few).
    pub(crate) fn seek_to_first(&mut self) {
        let scan = &mut self.scan;
        scan.segments = SCAN_FIRST_SEGMENTS;
        // SAFETY: the head of this list.
        unsafe { scan.gather(self.list.head()) };
        scan.active = true;
        self.node = None;
        self.next_in_scan();
    }

    /// Moves to the last entry.
    pub(crate) fn seek_to_last(&mut self) {
        self.scan.active = false;
        self.node = self.list.last();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;
    use std::thread;

    use lsm_core::key::pack_trailer;
    use lsm_core::{compare_internal_keys, ValueKind};
    use proptest::prelude::*;

    /// The model's key: sorts as internal keys do.
    type ModelKey = (Vec<u8>, Reverse<u64>);

    fn internal_key(user_key: &[u8], trailer: u64) -> Vec<u8> {
        let mut key = user_key.to_vec();
        key.extend_from_slice(&trailer.to_le_bytes());
        key
    }

    fn model_entry((user_key, Reverse(trailer)): &ModelKey, value: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (internal_key(user_key, *trailer), value.to_vec())
    }

    fn owned(entry: EntryRef<'_>) -> (Vec<u8>, Vec<u8>) {
        (entry.internal_key.to_vec(), entry.value.to_vec())
    }

    fn forward(list: &Arc<SkipList>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut cursor = Cursor::new(Arc::clone(list));
        cursor.seek_to_first();
        let mut out = Vec::new();
        while let Some(entry) = cursor.entry() {
            out.push(owned(entry));
            cursor.next();
        }
        out
    }

    fn backward(list: &Arc<SkipList>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut cursor = Cursor::new(Arc::clone(list));
        cursor.seek_to_last();
        let mut out = Vec::new();
        while let Some(entry) = cursor.entry() {
            out.push(owned(entry));
            cursor.prev();
        }
        out
    }

    /// The entries in order, following level-0 links one at a time from a
    /// seek to the smallest internal key (no [`ScanAhead`] batches).
    fn forward_by_links(list: &Arc<SkipList>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut cursor = Cursor::new(Arc::clone(list));
        cursor.seek(&KeyProbe::new(&[], u64::MAX));
        assert!(!cursor.scan.active);
        let mut out = Vec::new();
        while let Some(entry) = cursor.entry() {
            out.push(owned(entry));
            cursor.next();
        }
        out
    }

    /// A list of `n` entries inserted in a scrambled order.
    fn scrambled_list(n: u64) -> Arc<SkipList> {
        let list = Arc::new(SkipList::new());
        for i in 0..n {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
            assert!(list.insert(&key, 1, &i.to_le_bytes()));
        }
        list
    }

    #[test]
    fn scans_from_the_first_entry_see_every_entry_in_order_across_batches() {
        for n in [0, 1, 2, 7, 8, 9, 63, 64, 65, 1_000, 50_000] {
            let list = scrambled_list(n);
            let scanned = forward(&list);
            assert_eq!(scanned.len() as u64, n, "{n} entries");
            assert_strictly_increasing(&scanned);
            assert_eq!(scanned, forward_by_links(&list), "{n} entries");
        }
        // A long scan's batches grow to the widest.
        let list = scrambled_list(10_000);
        let mut cursor = Cursor::new(Arc::clone(&list));
        cursor.seek_to_first();
        assert_eq!(cursor.scan.segments, SCAN_FIRST_SEGMENTS * 2);
        while cursor.valid() {
            cursor.next();
        }
        assert_eq!(cursor.scan.segments, SCAN_MAX_SEGMENTS);
        assert!(!cursor.scan.active, "off the end, the scan is over");
    }

    #[test]
    fn a_scan_left_by_another_move_goes_on_from_where_that_move_put_it() {
        let list = scrambled_list(5_000);
        let all = forward_by_links(&list);
        let mut cursor = Cursor::new(Arc::clone(&list));
        cursor.seek_to_first();
        for _ in 0..700 {
            cursor.next();
        }
        assert_eq!(cursor.entry().map(owned).as_ref(), Some(&all[700]));
        cursor.prev();
        assert!(!cursor.scan.active);
        assert_eq!(cursor.entry().map(owned).as_ref(), Some(&all[699]));
        let mut rest = Vec::new();
        while let Some(entry) = cursor.entry() {
            rest.push(owned(entry));
            cursor.next();
        }
        assert_eq!(rest, all[699..]);

        // A seek in the middle of a scan, then a new scan from the first.
        cursor.seek_to_first();
        for _ in 0..300 {
            cursor.next();
        }
        cursor.seek(&KeyProbe::from_encoded(&all[4_000].0));
        assert_eq!(cursor.entry().map(owned).as_ref(), Some(&all[4_000]));
        cursor.next();
        assert_eq!(cursor.entry().map(owned).as_ref(), Some(&all[4_001]));
        cursor.seek_to_first();
        assert_eq!(cursor.entry().map(owned).as_ref(), Some(&all[0]));
        cursor.next();
        assert_eq!(cursor.entry().map(owned).as_ref(), Some(&all[1]));
    }

    fn assert_strictly_increasing(entries: &[(Vec<u8>, Vec<u8>)]) {
        for pair in entries.windows(2) {
            assert!(
                compare_internal_keys(&pair[0].0, &pair[1].0).is_lt(),
                "{:?} before {:?}",
                pair[0].0,
                pair[1].0
            );
        }
    }

    #[test]
    fn varints_round_trip() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as usize,
            usize::MAX,
        ] {
            let mut buffer = [0u8; MAX_VARINT_BYTES];
            // SAFETY: the buffer holds the longest varint.
            let written = unsafe { write_varint(buffer.as_mut_ptr(), value) };
            assert_eq!(written, varint_len(value));
            // SAFETY: a complete varint was just written there.
            let (read, len) = unsafe { read_varint(buffer.as_ptr()) };
            assert_eq!((read, len), (value, written));
        }
    }

    #[test]
    fn random_heights_are_in_range_and_halve_per_level() {
        let heights: Vec<usize> = (0..40_000).map(|_| random_height()).collect();
        assert!(heights.iter().all(|h| (1..=MAX_HEIGHT).contains(h)));
        let ones = heights.iter().filter(|&&h| h == 1).count();
        // Chance 1/2: 20_000 expected, standard deviation 100.
        assert!(
            (19_000..21_000).contains(&ones),
            "{ones} of 40000 have height 1"
        );
        let tall = heights.iter().filter(|&&h| h >= 4).count();
        // Chance 1/8: 5_000 expected, standard deviation about 66.
        assert!(
            (4_500..5_500).contains(&tall),
            "{tall} of 40000 are 4 or taller"
        );
    }

    /// Ordinary chunks are mappings of their own aligned to their size (so
    /// a huge page can back them), fully usable, and given back on drop;
    /// large requests still get heap chunks of their own.
    #[cfg(target_os = "linux")]
    #[test]
    fn ordinary_chunks_are_mapped_aligned_to_their_size() {
        let arena = Arena::new();
        let first = arena.allocate(64);
        assert_eq!(first.as_ptr() as usize % CHUNK_BYTES, 0, "not aligned");
        let large = arena.allocate(DEDICATED_CHUNK_MIN_BYTES);
        {
            let chunks = arena.chunks.lock();
            assert_eq!(chunks.held.len(), 2);
            // SAFETY: both chunks live until the arena drops.
            let (ordinary, dedicated) =
                unsafe { (chunks.held[0].as_ref(), chunks.held[1].as_ref()) };
            assert!(matches!(ordinary.memory, ChunkMemory::Mapped));
            assert_eq!(ordinary.capacity, CHUNK_BYTES);
            assert!(matches!(dedicated.memory, ChunkMemory::Heap(_)));
            // SAFETY: the whole chunk is this arena's memory; nothing else
            // uses it in this test.
            unsafe { ptr::write_bytes(ordinary.base.as_ptr(), 0xa5, CHUNK_BYTES) };
            // SAFETY: as above, read back.
            let last = unsafe { *ordinary.base.as_ptr().add(CHUNK_BYTES - 1) };
            assert_eq!(last, 0xa5);
        }
        assert_ne!(first, large);
        drop(arena); // unmaps; valgrind (`cargo xtask memcheck`) checks the rest
    }

    #[test]
    fn prepared_spares_are_the_next_chunks_installed_and_are_freed_if_unused() {
        /// The base of the spare the next new chunk will be.
        fn next_spare(arena: &Arena) -> NonNull<u8> {
            let lists = arena.chunks.lock();
            let spare = *lists.spares.last().expect("a spare");
            // SAFETY: a spare lives until installed or its arena drops.
            unsafe { spare.as_ref() }.base
        }
        let arena = Arena::new();
        assert_eq!(arena.spare_count(), 0);
        assert!(arena.prepare_spare(1));
        assert_eq!(arena.spare_count(), 1);
        assert!(!arena.prepare_spare(1), "up to one spare");
        assert!(arena.prepare_spare(2), "up to two");
        assert!(!arena.prepare_spare(2));
        assert_eq!(arena.spare_count(), 2);
        let spare_base = next_spare(&arena);
        assert_eq!(arena.usage(), (0, 0), "a spare is not held memory yet");
        let first = arena.allocate(64);
        assert_eq!(first, spare_base, "the first chunk is a spare");
        assert_eq!(arena.spare_count(), 1);
        assert_eq!(arena.usage(), (64, CHUNK_BYTES));
        // Fill the chunk; the next allocation installs the other spare,
        // and the one after that maps a chunk of its own.
        let second_base = next_spare(&arena);
        let mut last = first;
        while arena.usage().1 == CHUNK_BYTES {
            last = arena.allocate(DEDICATED_CHUNK_MIN_BYTES - ALIGN);
        }
        assert_eq!(last, second_base, "the second chunk is the other spare");
        assert_eq!(arena.spare_count(), 0);
        while arena.usage().1 == 2 * CHUNK_BYTES {
            last = arena.allocate(DEDICATED_CHUNK_MIN_BYTES - ALIGN);
        }
        for base in [first, second_base] {
            assert_ne!(
                last.as_ptr() as usize & !(CHUNK_BYTES - 1),
                base.as_ptr() as usize
            );
        }
        // Spares move to another arena, which installs them; one prepared
        // and never used is freed with its arena (valgrind, `cargo xtask
        // memcheck`, checks both).
        assert!(arena.prepare_spare(2));
        assert!(arena.prepare_spare(2));
        let other = Arena::new();
        assert!(other.prepare_spare(1));
        let own_base = next_spare(&other);
        let moved_base = next_spare(&arena);
        assert_eq!(other.adopt_spares(&arena), 2);
        assert_eq!((arena.spare_count(), other.spare_count()), (0, 3));
        assert_eq!(other.adopt_spares(&arena), 0, "nothing left to move");
        assert_eq!(other.allocate(8), moved_base);
        assert_eq!(other.spare_count(), 2);
        assert_ne!(own_base, moved_base);
        assert!(arena.prepare_spare(1));
        drop(arena);
        drop(other);
    }

    #[test]
    fn an_empty_list_has_no_entries_and_no_chunk() {
        let list = Arc::new(SkipList::new());
        assert_eq!(list.len(), 0);
        assert_eq!(list.reserved_bytes(), 0, "chunks are allocated lazily");
        assert!(forward(&list).is_empty() && backward(&list).is_empty());
        let probe = KeyProbe::new(b"", 0);
        assert!(list.find_ge(&probe).is_none());
        let mut cursor = Cursor::new(Arc::clone(&list));
        cursor.seek_for_prev(&KeyProbe::new(b"\xFF", 0));
        assert!(!cursor.valid());
    }

    #[test]
    fn empty_keys_and_values_are_stored() {
        let list = Arc::new(SkipList::new());
        assert!(list.insert(b"", 1, b""));
        assert!(list.insert(b"", 2, b"v"));
        assert!(list.insert(b"k", 3, b""));
        assert!(!list.insert(b"", 1, b"other"), "duplicate");
        let entries = forward(&list);
        assert_eq!(
            entries,
            [
                (internal_key(b"", 2), b"v".to_vec()),
                (internal_key(b"", 1), Vec::new()),
                (internal_key(b"k", 3), Vec::new()),
            ]
        );
        let found = list.find_ge(&KeyProbe::new(b"", 1)).unwrap();
        assert_eq!(
            (found.user_key(), found.trailer(), found.value),
            (&b""[..], 1, &b""[..])
        );
    }

    #[test]
    fn large_values_get_their_own_chunks() {
        let list = Arc::new(SkipList::new());
        let big = |i: u8| vec![i; 1 << 20];
        for i in 0..4u8 {
            assert!(list.insert(&[b'b', i], u64::from(i), &big(i)));
            assert!(list.insert(&[b'a', i], u64::from(i), b"small"));
        }
        // One ordinary chunk for the small entries, one per large value.
        let large_node = (1 << 20) + 2 + 8;
        assert!(list.reserved_bytes() >= CHUNK_BYTES + 4 * large_node);
        assert!(list.reserved_bytes() < 2 * CHUNK_BYTES + 4 * (large_node + 8 * MAX_HEIGHT + 8));
        for i in 0..4u8 {
            let found = list.find_ge(&KeyProbe::new(&[b'b', i], u64::MAX)).unwrap();
            assert_eq!(found.user_key(), [b'b', i]);
            assert!(found.value == big(i), "value {i} intact");
        }
        assert_eq!(backward(&list).len(), 8);
    }

    #[test]
    fn small_entries_fill_chunk_after_chunk() {
        let list = Arc::new(SkipList::new());
        let value = [3u8; 1000];
        let n = 3 * CHUNK_BYTES / 1000;
        for i in 0..n as u64 {
            assert!(list.insert(&i.to_be_bytes(), 1, &value));
        }
        let chunks = list.reserved_bytes() / CHUNK_BYTES;
        assert!((3..=4).contains(&chunks), "{chunks} chunks for ~3 MiB");
        assert!(list.allocated_bytes() <= list.reserved_bytes());
        let entries = forward(&list);
        assert_eq!(entries.len(), n);
        assert_strictly_increasing(&entries);
    }

    #[test]
    fn eight_threads_insert_50k_each() {
        const THREADS: u64 = 8;
        const PER_THREAD: u64 = 50_000;
        let list = Arc::new(SkipList::new());
        thread::scope(|s| {
            for t in 0..THREADS {
                let list = &list;
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        // Interleaved keys: threads insert next to each other.
                        let n = i * THREADS + t;
                        let key = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
                        assert!(list.insert(
                            &key,
                            pack_trailer(n, ValueKind::Put),
                            &n.to_le_bytes()
                        ));
                    }
                });
            }
        });
        let total = (THREADS * PER_THREAD) as usize;
        assert_eq!(list.len(), total);
        let entries = forward(&list);
        assert_eq!(entries.len(), total);
        assert_strictly_increasing(&entries);
        let mut seen = vec![false; total];
        for (key, value) in &entries {
            let n = u64::from_le_bytes(value[..].try_into().unwrap());
            assert_eq!(
                key[..8],
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes()
            );
            assert!(!std::mem::replace(&mut seen[n as usize], true), "{n} twice");
        }
    }

    #[test]
    fn concurrent_duplicate_inserts_store_each_key_once() {
        const THREADS: usize = 4;
        const KEYS: u64 = 5_000;
        let list = Arc::new(SkipList::new());
        let stored: usize = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let list = &list;
                    s.spawn(move || {
                        (0..KEYS)
                            .filter(|i| {
                                let key = i.to_be_bytes();
                                list.insert(&key, 7, &[t as u8])
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(stored, KEYS as usize, "exactly one insert of each key won");
        assert_eq!(list.len(), KEYS as usize);
        let entries = forward(&list);
        assert_eq!(entries.len(), KEYS as usize);
        assert_strictly_increasing(&entries);
    }

    #[test]
    fn cursors_during_concurrent_inserts_see_sorted_growing_views() {
        const WRITERS: u64 = 3;
        const PER_WRITER: u64 = 20_000;
        let list = Arc::new(SkipList::new());
        // How many inserts each writer has finished (Release after each).
        let finished: Vec<AtomicUsize> = (0..WRITERS).map(|_| AtomicUsize::new(0)).collect();
        let done = AtomicBool::new(false);
        let key = |w: u64, i: u64| {
            (i * WRITERS + w)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_be_bytes()
        };
        thread::scope(|s| {
            for w in 0..WRITERS {
                let (list, finished) = (&list, &finished);
                s.spawn(move || {
                    for i in 0..PER_WRITER {
                        list.insert(&key(w, i), 1, b"v");
                        finished[w as usize].store(i as usize + 1, atomic::Ordering::Release);
                    }
                });
            }
            let reader = s.spawn(|| {
                let mut scans = 0;
                let mut last_len = 0;
                loop {
                    let stop = done.load(atomic::Ordering::Acquire);
                    let before: Vec<usize> = finished
                        .iter()
                        .map(|f| f.load(atomic::Ordering::Acquire))
                        .collect();
                    let entries = if scans % 2 == 0 {
                        forward(&list)
                    } else {
                        let mut b = backward(&list);
                        b.reverse();
                        b
                    };
                    assert_strictly_increasing(&entries);
                    assert!(entries.len() >= last_len, "a later scan never sees fewer");
                    last_len = entries.len();
                    // Everything inserted before the scan started is in it.
                    for (w, &n) in before.iter().enumerate() {
                        for i in [0, n / 2, n.saturating_sub(1)] {
                            if i < n {
                                let k = internal_key(&key(w as u64, i as u64), 1);
                                assert!(
                                    entries
                                        .binary_search_by(|(e, _)| compare_internal_keys(e, &k))
                                        .is_ok(),
                                    "writer {w}'s insert {i} missing"
                                );
                            }
                        }
                    }
                    scans += 1;
                    if stop {
                        return scans;
                    }
                }
            });
            // Let the writers finish, then stop the reader.
            while finished
                .iter()
                .any(|f| f.load(atomic::Ordering::Acquire) < PER_WRITER as usize)
            {
                thread::yield_now();
            }
            done.store(true, atomic::Ordering::Release);
            assert!(reader.join().unwrap() >= 1);
        });
        assert_eq!(forward(&list).len(), (WRITERS * PER_WRITER) as usize);
    }

    /// How many inserts started at a remembered level, and the sum of
    /// those levels.
    fn splice_stats(list: &SkipList) -> (u64, u64) {
        let stats = &list.splice_stats;
        (
            stats.used.load(atomic::Ordering::Relaxed),
            stats.start_levels.load(atomic::Ordering::Relaxed),
        )
    }

    /// The entry `insert(&n.to_be_bytes(), 1, &n.to_le_bytes())` stores.
    fn numbered_entry(n: u64) -> (Vec<u8>, Vec<u8>) {
        (internal_key(&n.to_be_bytes(), 1), n.to_le_bytes().to_vec())
    }

    /// Checks that `list` holds exactly the entries of `numbers` (sorted,
    /// distinct), forward and backward.
    fn assert_holds_numbers(list: &Arc<SkipList>, numbers: impl Iterator<Item = u64>) {
        let want: Vec<_> = numbers.map(numbered_entry).collect();
        assert_eq!(list.len(), want.len());
        let entries = forward(list);
        assert!(
            entries == want,
            "forward scan differs from the expected keys"
        );
        let mut back = backward(list);
        back.reverse();
        assert!(back == want, "backward scan differs from the expected keys");
    }

    #[test]
    fn ascending_inserts_start_at_level_0_of_the_remembered_splice() {
        const N: u64 = 10_000;
        let list = Arc::new(SkipList::new());
        for n in 0..N {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        // Every insert after the first found the key right after the last
        // one: its pair at level 0 (the last node, the end) brackets it.
        assert_eq!(splice_stats(&list), (N - 1, 0));
        assert_holds_numbers(&list, 0..N);
    }

    #[test]
    fn descending_inserts_search_from_the_top() {
        const N: u64 = 10_000;
        let list = Arc::new(SkipList::new());
        for n in (0..N).rev() {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        // Each key sorts before the last node, the remembered one at
        // level 0, so the splice is given up at once.
        assert_eq!(splice_stats(&list), (0, 0));
        assert_holds_numbers(&list, 0..N);
    }

    #[test]
    fn inserts_finding_the_splice_held_neither_wait_nor_use_it() {
        let list = Arc::new(SkipList::new());
        for n in 0..100u64 {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        let before = splice_stats(&list);
        let held = list.splice.lock();
        // On this very thread: a blocking insert would deadlock here.
        for n in 200..300u64 {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        drop(held);
        assert_eq!(splice_stats(&list), before, "searched from the top");
        // The splice still remembers 99 before the end, but 99 links to 200
        // now: level 0 is passed over, not walked from 99.
        assert!(list.insert(&300u64.to_be_bytes(), 1, &300u64.to_le_bytes()));
        let after_300 = splice_stats(&list);
        assert!(
            after_300.0 == before.0 || after_300.1 > before.1,
            "started at level 0 of a stale splice"
        );
        // That insert remembered its own splice: the next ones start at 0.
        for n in 301..400u64 {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        assert_eq!(splice_stats(&list), (after_300.0 + 99, after_300.1));
        assert_holds_numbers(&list, (0..100).chain(200..400));
    }

    #[test]
    fn a_duplicate_found_through_the_splice_is_refused() {
        let list = Arc::new(SkipList::new());
        for n in [10u64, 30, 20] {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        // The splice is (20, 30) at level 0: 30 is bracketed there, and is
        // the node after 20.
        let before = splice_stats(&list);
        assert!(!list.insert(&30u64.to_be_bytes(), 1, b"other"));
        assert_eq!(splice_stats(&list), (before.0 + 1, before.1));
        // The refused insert left its own splice, (20, 30) again.
        assert!(!list.insert(&30u64.to_be_bytes(), 1, b"other"));
        assert_eq!(splice_stats(&list), (before.0 + 2, before.1));
        // Keys at or before a remembered node are refused too (from a
        // higher level, or from the top when that node is the tallest).
        assert!(!list.insert(&20u64.to_be_bytes(), 1, b"other"));
        assert!(!list.insert(&10u64.to_be_bytes(), 1, b"other"));
        assert_holds_numbers(&list, [10, 20, 30].into_iter());
        // Another version of the same user key is a new entry.
        assert!(list.insert(&30u64.to_be_bytes(), 2, b"newer"));
        assert_eq!(list.len(), 4);
    }

    #[test]
    fn a_list_moved_after_inserts_keeps_inserting_in_order() {
        let list = SkipList::new();
        for n in 0..1_000u64 {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        // The head lives inside the list and moves with it; the remembered
        // splice must not point at where it was.
        let list = Arc::new(list);
        for n in 1_000..2_000u64 {
            assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
        }
        assert_holds_numbers(&list, 0..2_000);
    }

    /// Runs `THREADS` inserters; thread `t` inserts `key(t, i)` for `i` in
    /// `0..per_thread`, each of which must be new.
    fn insert_from_threads(list: &Arc<SkipList>, per_thread: u64, key: fn(u64, u64) -> u64) {
        const THREADS: u64 = 4;
        thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..per_thread {
                        let n = key(t, i);
                        assert!(list.insert(&n.to_be_bytes(), 1, &n.to_le_bytes()));
                    }
                });
            }
        });
    }

    #[test]
    fn four_threads_inserting_ascending_ranges_store_every_key_once() {
        const PER_THREAD: u64 = 25_000;
        let list = Arc::new(SkipList::new());
        insert_from_threads(&list, PER_THREAD, |t, i| t * PER_THREAD + i);
        assert!(splice_stats(&list).0 > 0, "the splice was used");
        assert_holds_numbers(&list, 0..4 * PER_THREAD);
    }

    #[test]
    fn four_threads_interleaving_ascending_keys_store_every_key_once() {
        const PER_THREAD: u64 = 25_000;
        let list = Arc::new(SkipList::new());
        // Whether the splice is used here depends on how the threads are
        // scheduled: in lockstep, no thread's next key falls in the pair
        // the last insert left (in about 1 run of 30 no insert used it, and
        // asserting that one did made this test flaky). Only what must hold
        // is asserted.
        insert_from_threads(&list, PER_THREAD, |t, i| i * 4 + t);
        assert_holds_numbers(&list, 0..4 * PER_THREAD);
    }

    /// One op of the model test: a small alphabet of user keys and
    /// sequence numbers, so duplicates and ties are common.
    fn op() -> impl Strategy<Value = (Vec<u8>, u64, bool, Vec<u8>)> {
        (
            proptest::collection::vec(0u8..3, 0..4),
            0u64..6,
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..12),
        )
    }

    /// The order the model test inserts its ops in.
    #[derive(Clone, Copy, Debug)]
    enum InsertOrder {
        /// As generated: random.
        Random,
        /// Split into runs, each sorted ascending.
        AscendingRuns,
        /// Split into runs, each sorted descending.
        DescendingRuns,
        /// Split into runs, each sorted ascending, then taken one op from
        /// each run in turn.
        InterleavedAscendingRuns,
    }

    fn insert_order() -> impl Strategy<Value = InsertOrder> {
        prop_oneof![
            Just(InsertOrder::Random),
            Just(InsertOrder::AscendingRuns),
            Just(InsertOrder::DescendingRuns),
            Just(InsertOrder::InterleavedAscendingRuns),
        ]
    }

    type Op = (Vec<u8>, u64, bool, Vec<u8>);

    /// The internal-key order of an op's entry.
    fn op_key((user_key, seq, put, _): &Op) -> ModelKey {
        let kind = if *put {
            ValueKind::Put
        } else {
            ValueKind::Delete
        };
        (user_key.clone(), Reverse(pack_trailer(*seq, kind)))
    }

    /// `ops` rearranged into `order`, in `runs` runs (of nearly equal
    /// length). Sorting is stable, so of two ops with the same internal
    /// key the first generated still comes first.
    fn arrange(ops: Vec<Op>, order: InsertOrder, runs: usize) -> Vec<Op> {
        let run_len = ops.len().div_ceil(runs).max(1);
        let mut chunks: Vec<Vec<Op>> = ops.chunks(run_len).map(<[Op]>::to_vec).collect();
        match order {
            InsertOrder::Random => return ops,
            InsertOrder::AscendingRuns | InsertOrder::InterleavedAscendingRuns => {
                for chunk in &mut chunks {
                    chunk.sort_by_key(op_key);
                }
            }
            InsertOrder::DescendingRuns => {
                for chunk in &mut chunks {
                    chunk.sort_by_key(|op| Reverse(op_key(op)));
                }
            }
        }
        if let InsertOrder::InterleavedAscendingRuns = order {
            let mut out = Vec::with_capacity(ops.len());
            for i in 0..run_len {
                out.extend(chunks.iter().filter_map(|chunk| chunk.get(i).cloned()));
            }
            out
        } else {
            chunks.concat()
        }
    }

    proptest! {
        #[test]
        fn skiplist_matches_btreemap_model(
            ops in proptest::collection::vec(op(), 0..200),
            order in insert_order(),
            runs in 1usize..5,
            probes in proptest::collection::vec((proptest::collection::vec(0u8..3, 0..4), 0u64..8), 0..20),
        ) {
            let ops = arrange(ops, order, runs);
            let list = Arc::new(SkipList::new());
            let mut model: BTreeMap<ModelKey, Vec<u8>> = BTreeMap::new();
            for (user_key, seq, put, value) in &ops {
                let kind = if *put { ValueKind::Put } else { ValueKind::Delete };
                let trailer = pack_trailer(*seq, kind);
                let stored = list.insert(user_key, trailer, value);
                let key = (user_key.clone(), Reverse(trailer));
                let fresh = !model.contains_key(&key);
                prop_assert_eq!(stored, fresh, "insert of {:?}", key);
                model.entry(key).or_insert_with(|| value.clone());
            }
            prop_assert_eq!(list.len(), model.len());
            let want: Vec<_> = model.iter().map(|(k, v)| model_entry(k, v)).collect();
            prop_assert_eq!(forward(&list), want.clone());
            let mut want_back = want;
            want_back.reverse();
            prop_assert_eq!(backward(&list), want_back);

            let mut cursor = Cursor::new(Arc::clone(&list));
            for (user_key, trailer) in probes {
                let probe = KeyProbe::new(&user_key, trailer);
                let key = (user_key.clone(), Reverse(trailer));
                let at_or_after = model.range(key.clone()..).next().map(|(k, v)| model_entry(k, v));
                prop_assert_eq!(list.find_ge(&probe).map(owned), at_or_after.clone());
                cursor.seek(&probe);
                prop_assert_eq!(cursor.entry().map(owned), at_or_after);
                // One step back from a seek is the last entry before the probe.
                let before = model.range(..key.clone()).next_back().map(|(k, v)| model_entry(k, v));
                if cursor.valid() {
                    cursor.prev();
                } else {
                    cursor.seek_to_last();
                }
                prop_assert_eq!(cursor.entry().map(owned), before);
                let at_or_before = model.range(..=key).next_back().map(|(k, v)| model_entry(k, v));
                cursor.seek_for_prev(&probe);
                prop_assert_eq!(cursor.entry().map(owned), at_or_before.clone());
                if cursor.valid() {
                    cursor.next();
                    let after = at_or_before
                        .and_then(|(k, _)| want_after(&model, &k));
                    prop_assert_eq!(cursor.entry().map(owned), after);
                }
            }
        }
    }

    /// The model's entry right after the one whose internal key is `key`.
    fn want_after(model: &BTreeMap<ModelKey, Vec<u8>>, key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let (user_key, trailer) = key.split_last_chunk::<TRAILER_BYTES>()?;
        let key = (user_key.to_vec(), Reverse(u64::from_le_bytes(*trailer)));
        model
            .range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
            .next()
            .map(|(k, v)| model_entry(k, v))
    }
}

#[cfg(test)]
#[path = "arena_skiplist_stress.rs"]
mod stress_tests;
