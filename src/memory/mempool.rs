//! Fixed-size packet buffers in DMA memory, and the [`Packet`] handle that owns one.
//!
//! ## Buffer layout
//!
//! Every buffer of a pool is `buffer_size` bytes (a power of two, [`DEFAULT_BUFFER_SIZE`] unless
//! asked otherwise) and starts with [`HEADROOM`] bytes before the packet data:
//!
//! ```text
//! offset  0  u64  device address of the buffer's first byte
//! offset  8  u32  index of the buffer in its pool
//! offset 12  u32  data length while the buffer is a [`RawBuffer`] (a live [`Packet`] keeps its
//!                 length in its handle)
//! offset 16  ..   headroom: 48 bytes drivers may fill, ending right at the data. The legacy
//!                 virtio-net header (10 bytes, or 12 with VIRTIO_NET_F_MRG_RXBUF; virtio 1.0,
//!                 5.1.6 "Device Operation") goes in its last 10 or 12 bytes, so that header and
//!                 data form one run for the device.
//! offset 64  ..   packet data, up to buffer_size - 64 bytes
//! ```
//!
//! The device is only ever given addresses at or after offset 16, so the metadata stays intact.
//!
//! The packet path reads none of it: with 4 KiB buffers every buffer's first line falls in the
//! same set of a 32 KiB 8-way L1 cache, so the pool keeps the device addresses in one dense
//! table of its own as well, and a [`Packet`] carries its buffer's device address and length
//! in its handle.
//!
//! Buffer sizes are powers of two between [`MIN_BUFFER_SIZE`] and
//! [`HUGE_PAGE_SIZE`](super::HUGE_PAGE_SIZE): the powers of two are exactly the sizes that
//! divide a 2 MiB page, so, with the pool's memory starting on a page boundary, no buffer
//! straddles a huge page and every buffer is physically contiguous.
//!
//! ## Ownership and accounting
//!
//! A buffer is in exactly one of three places: on the pool's free stack, inside a live
//! [`Packet`] (the drivers' rings hold packets too), or inside a [`RawBuffer`] token. Neither
//! `Packet` nor `RawBuffer` can be cloned, so no buffer is ever handed out twice. Tests hold the
//! pool and the drivers to this by counting each place on its own:
//! [`Mempool::free_buffer_addrs`] walks the free stack, a driver's `held_buffer_addrs` walks its
//! rings, and the test counts the packets and tokens it holds; every buffer of the pool must
//! turn up exactly once.
//!
//! ## Threads and cost
//!
//! A pool is shared like an `Arc` (cloning a [`Mempool`] handle adds a reference) and can be used
//! from any thread: [`Mempool`] and [`Packet`] are `Send` and `Sync`, so a receive queue with its
//! pool moves to the thread that serves it, and a packet received on one thread may be freed on
//! another. Every live packet counts as a reference, so the pool and its memory live until the
//! last handle and the last packet are gone. The free stack and the reference count sit under
//! one lock, which the drivers take once per batch: they take and return buffers a batch at a
//! time ([`Mempool::alloc_bulk`], [`Mempool::free_bulk`]), so the per-packet path takes no lock
//! and touches no shared counter. A packet allocated or dropped on its own ([`Mempool::alloc`],
//! dropping a [`Packet`]) takes the lock for itself (two atomic instructions, uncontended): an
//! application that frees what it received frees the batch with [`Mempool::free_bulk`], as
//! rixy's apps do. The free stack is allocated once, at full capacity, so nothing on the packet
//! path allocates on the heap.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{DmaAllocator, DmaDomain, DmaRegion, HUGE_PAGE_SIZE};
use crate::error::{Error, Result};

/// Bytes before the packet data in every buffer: metadata, then headroom.
pub const HEADROOM: usize = 64;

/// Bytes of metadata at the start of every buffer (device address, pool index, length).
const METADATA: usize = 16;

/// Bytes just before the data that drivers may use, e.g. for the virtio-net header.
pub const USABLE_HEADROOM: usize = HEADROOM - METADATA;

/// Buffer size of a pool unless asked otherwise: 2 KiB holds a full 1518-byte Ethernet frame
/// after the headroom.
pub const DEFAULT_BUFFER_SIZE: usize = 2048;

/// Smallest buffer size: the headroom plus 64 bytes of data, the minimum Ethernet frame.
pub const MIN_BUFFER_SIZE: usize = 128;

/// The metadata at the start of each buffer.
#[repr(C)]
struct BufferMeta {
    /// Device address of the buffer's first byte.
    device_addr: u64,
    /// Index of the buffer in its pool.
    pool_index: u32,
    /// Bytes of packet data.
    len: u32,
}

const _: () = assert!(std::mem::size_of::<BufferMeta>() == METADATA);

/// Source of pool ids, which tie [`RawBuffer`] tokens to their pool.
static NEXT_POOL_ID: AtomicU32 = AtomicU32::new(1);

/// A pool of fixed-size packet buffers in DMA memory: a counted handle, cloned like an `Arc`.
///
/// The memory lives as long as any handle or [`Packet`] of the pool; a [`RawBuffer`] does not
/// keep it alive, so a ring that holds raw buffers must also hold a handle, and a driver must
/// stop the device's DMA before its last handle on the pool goes.
pub struct Mempool {
    inner: NonNull<PoolInner>,
}

/// What the handles and packets of a pool share.
struct PoolInner {
    region: DmaRegion,
    id: u32,
    entries: u32,
    /// log2 of the buffer size.
    shift: u32,
    /// The free stack and the reference count, under one lock: taken once per batch on the
    /// drivers' paths, and once for a packet allocated or dropped on its own.
    free: Mutex<FreeStack>,
    /// Buffers currently held as `RawBuffer` tokens.
    raw: AtomicU32,
    /// Device address of the data of each buffer (its first byte plus [`HEADROOM`]), by index:
    /// the buffers' metadata in one dense table, so that handing out a buffer reads no line of
    /// the buffer itself.
    data_addrs: Box<[u64]>,
}

// SAFETY: the handle only reaches `PoolInner`, whose shared state is atomic (`refs`, `raw`) or
// behind a lock (`free`); the region and the address table are written once, before the first
// handle exists. Buffers are reached only through the one `Packet` that owns each.
unsafe impl Send for Mempool {}
// SAFETY: as for `Send`: every method takes `&self` and synchronises as above.
unsafe impl Sync for Mempool {}

/// Buffer indices moved under one lock of the free stack.
const CHUNK: usize = 64;

/// What the pool's lock guards.
struct FreeStack {
    /// Indices of free buffers; capacity `entries`, so pushes never reallocate.
    indices: Vec<u32>,
    /// Handles plus live packets. The pool is freed when it drops to zero.
    refs: usize,
}

impl Mempool {
    /// A pool of `entries` buffers of `buffer_size` bytes each, carved from one allocation of
    /// `allocator`. `buffer_size` must be a power of two in
    /// [`MIN_BUFFER_SIZE`]`..=`[`HUGE_PAGE_SIZE`]; `entries` between 1 and `u32::MAX`.
    pub fn new<A: DmaAllocator + ?Sized>(
        allocator: &A,
        entries: usize,
        buffer_size: usize,
    ) -> Result<Mempool> {
        let invalid = |problem: String| Err(Error::InvalidMemoryRequest { problem });
        if !buffer_size.is_power_of_two()
            || !(MIN_BUFFER_SIZE..=HUGE_PAGE_SIZE).contains(&buffer_size)
        {
            return invalid(format!(
                "mempool buffer size {buffer_size} is not a power of two between {MIN_BUFFER_SIZE} and {HUGE_PAGE_SIZE}: use e.g. {DEFAULT_BUFFER_SIZE}"
            ));
        }
        let Ok(count) = u32::try_from(entries) else {
            return invalid(format!(
                "a mempool of {entries} buffers: at most {} are possible",
                u32::MAX
            ));
        };
        if count == 0 {
            return invalid("a mempool of 0 buffers: ask for at least one".into());
        }
        let Some(total) = entries.checked_mul(buffer_size) else {
            return invalid(format!(
                "a mempool of {entries} buffers of {buffer_size} bytes overflows the address space"
            ));
        };
        let id = NEXT_POOL_ID
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| id.checked_add(1))
            .map_err(|_| Error::InvalidMemoryRequest {
                problem: "this process has created 2^32 mempools; reuse pools instead".into(),
            })?;
        let region = allocator.allocate(total, false)?;
        if region.len() < total || !(region.as_ptr() as usize).is_multiple_of(buffer_size.min(4096))
        {
            return invalid(format!(
                "the DMA allocator returned a region of {} bytes at {:p}, not {total} page-aligned bytes",
                region.len(),
                region.as_ptr()
            ));
        }

        let mut data_addrs = Vec::with_capacity(entries);
        for index in 0..count {
            let start = index as usize * buffer_size;
            let (Some(first), Some(last)) = (
                region.device_addr(start),
                region.device_addr(start + buffer_size - 1),
            ) else {
                return invalid(format!("buffer {index} lies outside the DMA region"));
            };
            if last.wrapping_sub(first) != buffer_size as u64 - 1 {
                return invalid(format!(
                    "buffer {index} of {buffer_size} bytes straddles a page of the DMA allocator: use smaller buffers"
                ));
            }
            let meta = BufferMeta {
                device_addr: first,
                pool_index: index,
                len: 0,
            };
            // SAFETY: `start + METADATA <= total <= region.len()`, and `start` is a multiple of
            // `buffer_size >= 128` from a page-aligned base (checked above), so the pointer is in
            // bounds and aligned for `BufferMeta`; no device has the region yet.
            unsafe { region.as_ptr().add(start).cast::<BufferMeta>().write(meta) };
            data_addrs.push(first + HEADROOM as u64);
        }

        let mut free = Vec::with_capacity(entries);
        free.extend((0..count).rev());
        let inner = Box::new(PoolInner {
            region,
            id,
            entries: count,
            shift: buffer_size.trailing_zeros(),
            free: Mutex::new(FreeStack {
                indices: free,
                refs: 1,
            }),
            raw: AtomicU32::new(0),
            data_addrs: data_addrs.into_boxed_slice(),
        });
        Ok(Mempool {
            inner: NonNull::from(Box::leak(inner)),
        })
    }

    /// A pool of `entries` buffers of [`DEFAULT_BUFFER_SIZE`] bytes.
    pub fn with_default_size<A: DmaAllocator + ?Sized>(
        allocator: &A,
        entries: usize,
    ) -> Result<Mempool> {
        Self::new(allocator, entries, DEFAULT_BUFFER_SIZE)
    }

    /// The shared part of the pool.
    #[inline(always)]
    fn inner(&self) -> &PoolInner {
        // SAFETY: `inner` came from `Box::leak` in `new` and is freed only when `refs` drops to
        // zero; this handle is one of the references, so it is alive.
        unsafe { self.inner.as_ref() }
    }

    /// Takes a free buffer, or `None` when all are in use. The packet's length starts at 0; its
    /// bytes are whatever the buffer last held. Locks the free stack: a driver takes buffers a
    /// batch at a time with [`Mempool::alloc_bulk`].
    #[inline]
    pub fn alloc(&self) -> Option<Packet> {
        let index = {
            let mut free = self.lock_free();
            let index = free.indices.pop()?;
            free.refs += 1;
            index
        };
        // SAFETY: `index` came off the free stack, so nothing else owns it, and the reference
        // the packet stands for was just added.
        Some(unsafe { self.packet(index, 0) })
    }

    /// Takes up to `n` free buffers into `out`; returns how many it took, fewer than `n` when the
    /// pool runs out. The free stack is locked once per 64 buffers, and the pool's reference
    /// count moves once for them.
    pub fn alloc_bulk<E: Extend<Packet>>(&self, out: &mut E, n: usize) -> usize {
        let mut taken = 0;
        let mut chunk = [0u32; CHUNK];
        while taken < n {
            let want = (n - taken).min(CHUNK);
            let got = {
                let mut free = self.lock_free();
                let got = want.min(free.indices.len());
                let start = free.indices.len() - got;
                chunk[..got].copy_from_slice(&free.indices[start..]);
                free.indices.truncate(start);
                free.refs += got;
                got
            };
            if got == 0 {
                break;
            }
            // The lock is released before `extend` runs: whatever it does with the packets (even
            // dropping them) can take it again.
            // SAFETY: each index came off the free stack above, and one reference was added for
            // each packet made here.
            out.extend(
                chunk[..got]
                    .iter()
                    .rev()
                    .map(|&i| unsafe { self.packet(i, 0) }),
            );
            taken += got;
        }
        taken
    }

    /// Returns packets to their pools (each goes back to the pool it came from); returns how
    /// many. Equivalent to dropping them, but a run of packets of one pool locks its free stack
    /// once per 64 packets and moves its reference count once.
    pub fn free_bulk<I: IntoIterator<Item = Packet>>(packets: I) -> usize {
        let mut count = 0;
        let mut chunk = [0u32; CHUNK];
        let mut held = 0;
        let mut pool: Option<NonNull<PoolInner>> = None;
        for packet in packets {
            let packet = ManuallyDrop::new(packet);
            if pool != Some(packet.pool.inner) || held == CHUNK {
                if let Some(p) = pool {
                    // SAFETY: the `held` packets of `p` were forgotten below; each still counts
                    // as a reference of `p`, which is therefore alive.
                    unsafe { Self::put_back(p, &chunk[..held]) };
                }
                pool = Some(packet.pool.inner);
                held = 0;
            }
            chunk[held] = packet.index;
            held += 1;
            count += 1;
        }
        if let Some(p) = pool {
            // SAFETY: as above.
            unsafe { Self::put_back(p, &chunk[..held]) };
        }
        count
    }

    /// Pushes `indices` onto the free stack of `pool` and drops the references of the packets
    /// they were.
    ///
    /// # Safety
    /// Each index is a buffer of `pool` whose packet was forgotten without being dropped, and the
    /// pool is alive (those packets' references keep it so until this call drops them).
    unsafe fn put_back(pool: NonNull<PoolInner>, indices: &[u32]) {
        // SAFETY: the packets' references keep the pool alive until `release_locked` gives
        // them up; they are given up exactly once, here.
        unsafe {
            Self::release_locked(pool, indices.len(), |free| {
                free.indices.extend_from_slice(indices)
            })
        }
    }

    /// Gives up `n` references of `pool`, freeing it when they were the last.
    ///
    /// # Safety
    /// The caller holds `n` references of the pool and uses none of them afterwards.
    unsafe fn release(pool: NonNull<PoolInner>, n: usize) {
        // SAFETY: as the caller promises.
        unsafe { Self::release_locked(pool, n, |_| ()) }
    }

    /// Runs `update` on the free stack and gives up `n` references, under one lock; frees the
    /// pool when they were the last.
    ///
    /// # Safety
    /// The caller holds `n` references of the pool and uses none of them afterwards.
    #[inline]
    unsafe fn release_locked(
        pool: NonNull<PoolInner>,
        n: usize,
        update: impl FnOnce(&mut FreeStack),
    ) {
        let last = {
            // SAFETY: the caller's references keep the pool alive until the count drops, which
            // happens under the lock; the reference ends with this block.
            let inner = unsafe { pool.as_ref() };
            let mut free = inner.free.lock().unwrap_or_else(PoisonError::into_inner);
            update(&mut free);
            free.refs -= n;
            free.refs == 0
        };
        if last {
            // SAFETY: the count reached zero under the lock, so no handle or packet refers to the
            // pool any more (the lock orders every other holder's last use before this); it was
            // made by `Box::leak` in `new`.
            drop(unsafe { Box::from_raw(pool.as_ptr()) });
        }
    }

    /// Turns a token back into the packet it was made from, with the length it had when it
    /// became raw (a receive path then sets the length the device reported). An error if the
    /// token belongs to another pool; the token is then gone and its buffer stays counted as raw
    /// in its own pool.
    #[inline]
    pub fn packet_from_raw(&self, raw: RawBuffer) -> Result<Packet> {
        let inner = self.inner();
        if raw.pool != inner.id || raw.index >= inner.entries {
            return Err(Error::ForeignBuffer {
                index: raw.index,
                owner: raw.pool,
                pool: inner.id,
            });
        }
        inner.raw.fetch_sub(1, Ordering::Relaxed);
        self.lock_free().refs += 1;
        let buf = self.buffer(raw.index);
        // SAFETY: the buffer starts with a BufferMeta written by `new`, aligned and in bounds;
        // `into_raw` stored the length there, and the device never writes below METADATA.
        let len = unsafe { (*buf.cast::<BufferMeta>().as_ptr()).len };
        // Clamped so that a corrupted length can never reach past the buffer.
        let len = len.min(self.data_capacity() as u32);
        // SAFETY: the token stood for the buffer alone and is consumed; the reference was added.
        Ok(unsafe { self.packet(raw.index, len) })
    }

    /// The packet of buffer `index`.
    ///
    /// # Safety
    /// `index < entries`, nothing else owns the buffer, and one reference of the pool was added
    /// for the packet.
    #[inline(always)]
    unsafe fn packet(&self, index: u32, len: u32) -> Packet {
        Packet {
            buf: self.buffer(index),
            device_addr: self.data_addr(index),
            index,
            len,
            pool: ManuallyDrop::new(Mempool { inner: self.inner }),
        }
    }

    /// Device address of the data of the buffer behind `raw` (what a descriptor points to).
    #[inline]
    pub fn raw_device_addr(&self, raw: &RawBuffer) -> Option<u64> {
        let inner = self.inner();
        (raw.pool == inner.id && raw.index < inner.entries).then(|| self.data_addr(raw.index))
    }

    /// Free buffers.
    #[inline]
    pub fn free_count(&self) -> usize {
        self.lock_free().indices.len()
    }

    /// Buffers held as [`RawBuffer`] tokens (typically by descriptor rings).
    #[inline]
    pub fn raw_count(&self) -> usize {
        self.inner().raw.load(Ordering::Relaxed) as usize
    }

    /// Handles and live packets of this pool (what keeps it alive).
    pub fn references(&self) -> usize {
        self.lock_free().refs
    }

    /// The address of the shared pool: the same for every handle and packet of one pool.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *const () {
        self.inner.as_ptr().cast()
    }

    /// Whether `other` is a handle on the same pool.
    pub fn same_pool(&self, other: &Mempool) -> bool {
        self.inner == other.inner
    }

    /// The device address of the data of every buffer on the free stack, found by walking the
    /// stack and reading each buffer's own metadata: for accounting checks that must see which
    /// buffers are free, not only how many. Allocates; not for the packet path.
    pub fn free_buffer_addrs(&self) -> Vec<u64> {
        let free: Vec<u32> = self.lock_free().indices.clone();
        free.into_iter()
            .map(|index| self.meta_device_addr(index) + HEADROOM as u64)
            .collect()
    }

    /// Number of buffers in the pool.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner().entries as usize
    }

    /// Bytes per buffer, headroom included.
    #[inline]
    pub fn buffer_size(&self) -> usize {
        1 << self.inner().shift
    }

    /// Bytes of packet data a buffer holds: `buffer_size - HEADROOM`.
    #[inline]
    pub fn data_capacity(&self) -> usize {
        self.buffer_size() - HEADROOM
    }

    /// This pool's id, which [`RawBuffer::pool_id`] names.
    pub fn id(&self) -> u32 {
        self.inner().id
    }

    /// The DMA domain of the buffers: a device of another domain refuses them.
    #[inline]
    pub fn domain(&self) -> DmaDomain {
        self.inner().region.domain()
    }

    /// The DMA region the buffers live in.
    pub fn region(&self) -> &DmaRegion {
        &self.inner().region
    }

    /// First byte of buffer `index` (which must be `< entries`).
    #[inline]
    fn buffer(&self, index: u32) -> NonNull<u8> {
        let inner = self.inner();
        debug_assert!(index < inner.entries);
        // SAFETY: `index < entries`, so the offset is inside the region, which is one mapping.
        unsafe { inner.region.virt().add((index as usize) << inner.shift) }
    }

    /// Device address of the data of buffer `index` (which must be `< entries`).
    #[inline(always)]
    fn data_addr(&self, index: u32) -> u64 {
        let inner = self.inner();
        debug_assert!(index < inner.entries);
        // SAFETY: the table has `entries` addresses and `index < entries` (every index comes
        // from the free stack or a token checked against `entries`).
        unsafe { *inner.data_addrs.get_unchecked(index as usize) }
    }

    /// Device address of the first byte of buffer `index` (which must be `< entries`), read from
    /// the buffer's own metadata.
    #[inline]
    fn meta_device_addr(&self, index: u32) -> u64 {
        // SAFETY: `buffer` is in bounds and aligned for `BufferMeta` (see `new`), whose
        // device_addr field only the pool writes, before any device or packet sees the buffer.
        unsafe { (*self.buffer(index).cast::<BufferMeta>().as_ptr()).device_addr }
    }

    /// The free stack, locked. Nothing that holds the lock can panic (pushes never reallocate),
    /// so a poisoned lock still guards a consistent stack and is taken as it is.
    #[inline]
    fn lock_free(&self) -> MutexGuard<'_, FreeStack> {
        self.inner()
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clone for Mempool {
    /// Another handle on the same pool.
    fn clone(&self) -> Self {
        self.lock_free().refs += 1;
        Mempool { inner: self.inner }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: this handle's reference is given up once, here.
        unsafe { Self::release(self.inner, 1) }
    }
}

impl fmt::Debug for Mempool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mempool")
            .field("id", &self.id())
            .field("capacity", &self.capacity())
            .field("buffer_size", &self.buffer_size())
            .field("free", &self.free_count())
            .field("raw", &self.raw_count())
            .finish()
    }
}

/// One packet buffer, owned; dereferences to its data (`len` bytes) and returns the buffer to its
/// pool when dropped.
pub struct Packet {
    /// First byte of the buffer (the metadata).
    buf: NonNull<u8>,
    /// Device address of the first data byte.
    device_addr: u64,
    index: u32,
    /// Bytes of packet data; never more than the pool's data capacity.
    len: u32,
    /// The pool, as one of its references: dropping the packet gives it up.
    pool: ManuallyDrop<Mempool>,
}

// SAFETY: a packet owns its buffer exclusively (no other packet, token or ring has it), and the
// pool it returns the buffer to is `Send + Sync`.
unsafe impl Send for Packet {}
// SAFETY: `&Packet` only reads the packet's own buffer and fields.
unsafe impl Sync for Packet {}

impl Packet {
    /// Bytes of packet data.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the packet has no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the data length. Bytes that become visible are whatever the buffer last held (zero
    /// in a fresh pool). An error, leaving the length unchanged, beyond [`Packet::capacity`].
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        let capacity = self.capacity();
        if len > capacity {
            return Err(Error::PacketTooLong { len, capacity });
        }
        // `len <= capacity < buffer_size <= 2 MiB`, so it fits.
        self.len = len as u32;
        Ok(())
    }

    /// Bytes of data the buffer can hold.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.pool.data_capacity()
    }

    /// Device address of the first data byte (what a descriptor points to). The byte `k` before
    /// the data (in the headroom) is at `device_addr() - k`.
    #[inline]
    pub fn device_addr(&self) -> u64 {
        self.device_addr
    }

    /// The [`USABLE_HEADROOM`] bytes just before the data.
    #[inline]
    pub fn headroom(&self) -> &[u8] {
        // SAFETY: bytes METADATA..HEADROOM of a buffer this packet owns exclusively; no device
        // holds the buffer while a Packet exists.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(METADATA), USABLE_HEADROOM) }
    }

    /// The [`USABLE_HEADROOM`] bytes just before the data, writable: a virtio-net header of `n`
    /// bytes goes in `headroom_mut()[USABLE_HEADROOM - n..]`, at device address
    /// `device_addr() - n`.
    #[inline]
    pub fn headroom_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `headroom`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.buf.as_ptr().add(METADATA), USABLE_HEADROOM) }
    }

    /// Index of the buffer in its pool.
    #[inline]
    pub fn pool_index(&self) -> u32 {
        self.index
    }

    /// The pool the buffer belongs to.
    #[inline]
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Gives up the handle but not the buffer: the returned token stands for the buffer while a
    /// device owns it (a driver stores it in its ring), and [`Mempool::packet_from_raw`] turns it
    /// back into a packet. The length stays in the buffer's metadata.
    #[inline]
    pub fn into_raw(self) -> RawBuffer {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the buffer starts with a BufferMeta written by `Mempool::new`, aligned and in
        // bounds; the packet owns the buffer, and nothing else refers to its metadata.
        unsafe { (*this.buf.cast::<BufferMeta>().as_ptr()).len = this.len };
        let inner = this.pool.inner();
        inner.raw.fetch_add(1, Ordering::Relaxed);
        let raw = RawBuffer {
            pool: inner.id,
            index: this.index,
        };
        // SAFETY: `this` is never used or dropped again, so its reference is given up once.
        unsafe { Mempool::release(this.pool.inner, 1) };
        raw
    }
}

impl Deref for Packet {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `len() <= capacity()`, so the bytes lie inside this packet's buffer, which the
        // packet owns exclusively and which is initialised (zero-filled at mapping, then written
        // only by software or by DMA while a ring held the buffer).
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(HEADROOM), self.len()) }
    }
}

impl DerefMut for Packet {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.buf.as_ptr().add(HEADROOM), len) }
    }
}

impl Drop for Packet {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the packet is being dropped: its buffer and its reference are given up once.
        unsafe { Mempool::put_back(self.pool.inner, &[self.index]) };
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("pool", &self.pool.id())
            .field("index", &self.index)
            .field("len", &self.len())
            .field("device_addr", &format_args!("{:#x}", self.device_addr()))
            .finish()
    }
}

/// A buffer taken out of a [`Packet`] while a device owns it: just the pool id and the buffer
/// index, 8 bytes, for descriptor rings to keep beside their descriptors.
///
/// It cannot be cloned, so it stands for the buffer as uniquely as the packet did. Give it back
/// with [`Mempool::packet_from_raw`]; dropping it instead leaks the buffer (counted in
/// [`Mempool::raw_count`] for good).
#[must_use = "dropping a RawBuffer leaks its buffer; return it with Mempool::packet_from_raw"]
#[derive(Debug, PartialEq, Eq)]
pub struct RawBuffer {
    pool: u32,
    index: u32,
}

impl RawBuffer {
    /// Index of the buffer in its pool.
    #[inline]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Id of the pool the buffer belongs to ([`Mempool::id`]).
    #[inline]
    pub fn pool_id(&self) -> u32 {
        self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::PlainAllocator;

    fn pool(entries: usize, size: usize) -> Mempool {
        Mempool::new(&PlainAllocator::new(), entries, size).unwrap()
    }

    #[test]
    fn metadata_and_addresses() {
        let p = pool(4, 2048);
        let base = p.region().as_ptr() as u64;
        let mut pkts = Vec::new();
        assert_eq!(p.alloc_bulk(&mut pkts, 4), 4);
        for (i, pkt) in pkts.iter().enumerate() {
            assert_eq!(pkt.pool_index() as usize, i);
            assert_eq!(pkt.device_addr(), base + (i * 2048 + HEADROOM) as u64);
            assert_eq!(pkt.capacity(), 2048 - 64);
            assert!(pkt.is_empty());
        }
    }

    #[test]
    fn data_and_headroom_are_disjoint_and_persist() {
        let p = pool(1, 256);
        let mut pkt = p.alloc().unwrap();
        pkt.set_len(10).unwrap();
        pkt.copy_from_slice(&[7; 10]);
        pkt.headroom_mut().fill(0xee);
        assert_eq!(&pkt[..], &[7; 10]);
        assert_eq!(pkt.device_addr(), p.region().device_addr(64).unwrap());
        assert!(matches!(
            pkt.set_len(193),
            Err(Error::PacketTooLong {
                len: 193,
                capacity: 192
            })
        ));
        assert_eq!(pkt.len(), 10);
        pkt.set_len(192).unwrap();
        drop(pkt);
        let mut again = p.alloc().unwrap();
        assert_eq!(again.len(), 0);
        again.set_len(12).unwrap();
        // set_len exposes the old contents, and the headroom writes did not reach the metadata.
        assert_eq!(&again[..10], &[7; 10]);
        assert_eq!(again.device_addr(), p.region().device_addr(64).unwrap());
        assert_eq!(again.pool_index(), 0);
    }

    #[test]
    fn raw_round_trip_keeps_length_and_counts() {
        let p = pool(8, 2048);
        let mut pkt = p.alloc().unwrap();
        pkt.set_len(60).unwrap();
        let addr = pkt.device_addr();
        let raw = pkt.into_raw();
        assert_eq!((p.free_count(), p.raw_count()), (7, 1));
        assert_eq!(p.raw_device_addr(&raw), Some(addr));
        assert_eq!(p.references(), 1, "a token does not keep the pool");
        let pkt = p.packet_from_raw(raw).unwrap();
        assert_eq!((pkt.len(), pkt.device_addr()), (60, addr));
        assert_eq!((p.free_count(), p.raw_count()), (7, 0));
    }

    #[test]
    fn foreign_raw_buffers_are_refused() {
        let a = pool(2, 2048);
        let b = pool(2, 2048);
        let raw = a.alloc().unwrap().into_raw();
        assert_eq!(b.raw_device_addr(&raw), None);
        assert!(matches!(
            b.packet_from_raw(raw),
            Err(Error::ForeignBuffer { index: 0, .. })
        ));
        assert_eq!(b.raw_count(), 0);
        assert_eq!(b.free_count(), 2);
    }

    #[test]
    fn rejects_bad_sizes() {
        let alloc = PlainAllocator::new();
        for size in [0, 64, 127, 3000, 4 << 20] {
            assert!(
                matches!(
                    Mempool::new(&alloc, 4, size),
                    Err(Error::InvalidMemoryRequest { .. })
                ),
                "{size}"
            );
        }
        assert!(Mempool::new(&alloc, 0, 2048).is_err());
        assert!(Mempool::new(&alloc, usize::MAX / 2, 2048).is_err());
        assert!(Mempool::new(&alloc, 1, HUGE_PAGE_SIZE).is_ok());
    }

    #[test]
    fn exhaustion_returns_fewer() {
        let p = pool(3, 128);
        let mut v = Vec::new();
        assert_eq!(p.alloc_bulk(&mut v, 5), 3);
        assert!(p.alloc().is_none());
        assert_eq!(p.alloc_bulk(&mut v, 5), 0);
        assert_eq!(Mempool::free_bulk(v.drain(..)), 3);
        assert_eq!(p.free_count(), 3);
    }

    #[test]
    fn pool_outlives_its_packets_only() {
        let p = pool(2, 2048);
        let pkt = p.alloc().unwrap();
        drop(p);
        // The packet keeps the pool (and its memory) alive.
        assert_eq!(pkt.pool().free_count(), 1);
    }
}
