//! Buses: where registers and descriptors live. A generated handle turns every access into one
//! call of a bus method; the bus decides what an access is (a volatile load, a `pread`, a call
//! into a device model).

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;

use tock_registers::UIntLike;

use crate::memory::DmaDomain;

/// A window of device registers or device-shared memory, accessed by byte offset.
///
/// Register blocks and descriptor views check once, when they are made, that the bus covers
/// everything they declare; after that every access is in bounds by construction, so the
/// access methods do no checking of their own.
pub trait Bus {
    /// Bytes the window covers.
    fn len(&self) -> usize;

    /// Whether the window is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a byte.
    ///
    /// # Safety
    /// `offset + 1 <= self.len()`.
    unsafe fn read8(&self, offset: usize) -> u8;
    /// Reads a little-endian 16-bit word.
    ///
    /// # Safety
    /// `offset + 2 <= self.len()` and `offset` is a multiple of 2.
    unsafe fn read16(&self, offset: usize) -> u16;
    /// Reads a little-endian 32-bit word.
    ///
    /// # Safety
    /// `offset + 4 <= self.len()` and `offset` is a multiple of 4.
    unsafe fn read32(&self, offset: usize) -> u32;
    /// Reads a little-endian 64-bit word.
    ///
    /// # Safety
    /// `offset + 8 <= self.len()` and `offset` is a multiple of 8.
    unsafe fn read64(&self, offset: usize) -> u64;
    /// Writes a byte.
    ///
    /// # Safety
    /// As [`Bus::read8`].
    unsafe fn write8(&self, offset: usize, value: u8);
    /// Writes a little-endian 16-bit word.
    ///
    /// # Safety
    /// As [`Bus::read16`].
    unsafe fn write16(&self, offset: usize, value: u16);
    /// Writes a little-endian 32-bit word.
    ///
    /// # Safety
    /// As [`Bus::read32`].
    unsafe fn write32(&self, offset: usize, value: u32);
    /// Writes a little-endian 64-bit word.
    ///
    /// # Safety
    /// As [`Bus::read64`].
    unsafe fn write64(&self, offset: usize, value: u64);
}

macro_rules! forward_bus {
    ($($ptr:ty),*) => {$(
        impl<B: Bus + ?Sized> Bus for $ptr {
            #[inline(always)]
            fn len(&self) -> usize { (**self).len() }
            #[inline(always)]
            unsafe fn read8(&self, offset: usize) -> u8 {
                // SAFETY: the caller upholds the contract, which is the same for the target.
                unsafe { (**self).read8(offset) }
            }
            #[inline(always)]
            unsafe fn read16(&self, offset: usize) -> u16 {
                // SAFETY: as above.
                unsafe { (**self).read16(offset) }
            }
            #[inline(always)]
            unsafe fn read32(&self, offset: usize) -> u32 {
                // SAFETY: as above.
                unsafe { (**self).read32(offset) }
            }
            #[inline(always)]
            unsafe fn read64(&self, offset: usize) -> u64 {
                // SAFETY: as above.
                unsafe { (**self).read64(offset) }
            }
            #[inline(always)]
            unsafe fn write8(&self, offset: usize, value: u8) {
                // SAFETY: as above.
                unsafe { (**self).write8(offset, value) }
            }
            #[inline(always)]
            unsafe fn write16(&self, offset: usize, value: u16) {
                // SAFETY: as above.
                unsafe { (**self).write16(offset, value) }
            }
            #[inline(always)]
            unsafe fn write32(&self, offset: usize, value: u32) {
                // SAFETY: as above.
                unsafe { (**self).write32(offset, value) }
            }
            #[inline(always)]
            unsafe fn write64(&self, offset: usize, value: u64) {
                // SAFETY: as above.
                unsafe { (**self).write64(offset, value) }
            }
        }
    )*};
}
forward_bus!(&B, Box<B>, Rc<B>, Arc<B>);

/// The device behind a register bus, as a DMA master: which memory it reaches. A driver takes
/// its device's domain from the bus it is opened on, allocates only memory of that domain and
/// refuses packets of any other ([`DmaDomain`]), so the domain is a property of how the device
/// is reached, not something a caller chooses.
pub trait DmaMaster {
    /// The memory the device reaches by DMA.
    fn dma_domain(&self) -> DmaDomain;
}

macro_rules! forward_dma_master {
    ($($ptr:ty),*) => {$(
        impl<B: DmaMaster + ?Sized> DmaMaster for $ptr {
            #[inline]
            fn dma_domain(&self) -> DmaDomain {
                (**self).dma_domain()
            }
        }
    )*};
}
forward_dma_master!(&B, Box<B>, Rc<B>, Arc<B>);

/// The register widths: picks the bus method of the right width for a handle of type `T`.
pub trait Word: UIntLike + sealed::Sealed {
    /// Reads a `Self` from `bus`.
    ///
    /// # Safety
    /// `offset` is aligned to `Self` and `offset + size_of::<Self>() <= bus.len()`.
    unsafe fn read_from<B: Bus + ?Sized>(bus: &B, offset: usize) -> Self;
    /// Writes a `Self` to `bus`.
    ///
    /// # Safety
    /// As [`Word::read_from`].
    unsafe fn write_to<B: Bus + ?Sized>(bus: &B, offset: usize, value: Self);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

macro_rules! word {
    ($t:ty, $r:ident, $w:ident) => {
        impl Word for $t {
            #[inline(always)]
            unsafe fn read_from<B: Bus + ?Sized>(bus: &B, offset: usize) -> Self {
                // SAFETY: the caller guarantees the bus contract for this width.
                unsafe { bus.$r(offset) }
            }
            #[inline(always)]
            unsafe fn write_to<B: Bus + ?Sized>(bus: &B, offset: usize, value: Self) {
                // SAFETY: the caller guarantees the bus contract for this width.
                unsafe { bus.$w(offset, value) }
            }
        }
    };
}
word!(u8, read8, write8);
word!(u16, read16, write16);
word!(u32, read32, write32);
word!(u64, read64, write64);

/// Memory-mapped registers or device-shared DMA memory: every access is exactly one volatile
/// load or store of its width, nothing more. A clone is another view of the same window, under
/// the same contract ([`Mmio::new`]).
#[derive(Clone, Debug)]
pub struct Mmio {
    base: NonNull<u8>,
    len: usize,
    /// What the device behind the BAR reaches by DMA ([`DmaMaster`]).
    domain: DmaDomain,
}

// SAFETY: an `Mmio` is an address range of device memory; moving the handle to another thread
// does not change what an access does. It is not `Sync`: register sequences are not atomic.
unsafe impl Send for Mmio {}

impl Mmio {
    /// A bus over `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must stay mapped, readable and writable for as long as the `Mmio` (or
    /// anything built on it) is used, and no Rust reference may point into the range while it is
    /// in use. `base` must be aligned to the widest access made through the bus, so that an
    /// offset aligned to an access's width gives an aligned address: a register BAR is
    /// page-aligned; a descriptor view's base is aligned to its layout's `ALIGN`, which the
    /// generator checks is at least its widest word.
    #[inline(always)]
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Self {
            base,
            len,
            domain: DmaDomain::Physical,
        }
    }

    /// The same window, for a device that reaches `domain` by DMA (a BAR mapped through VFIO
    /// whose device the IOMMU translates); [`DmaDomain::Physical`] unless set.
    pub fn with_dma_domain(self, domain: DmaDomain) -> Self {
        Self { domain, ..self }
    }

    /// The first byte of the window.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }
}

macro_rules! mmio_access {
    ($r:ident, $w:ident, $t:ty) => {
        #[inline(always)]
        unsafe fn $r(&self, offset: usize) -> $t {
            // SAFETY: the caller keeps `offset` inside the window and aligned; `new`'s contract
            // keeps the window mapped and free of references.
            <$t>::from_le(unsafe { self.base.as_ptr().add(offset).cast::<$t>().read_volatile() })
        }
        #[inline(always)]
        unsafe fn $w(&self, offset: usize, value: $t) {
            // SAFETY: as for the read.
            unsafe {
                self.base
                    .as_ptr()
                    .add(offset)
                    .cast::<$t>()
                    .write_volatile(value.to_le())
            }
        }
    };
}

/// A BAR mapped from sysfs: without an IOMMU the device reaches physical addresses; through
/// VFIO, what [`Mmio::with_dma_domain`] said.
impl DmaMaster for Mmio {
    fn dma_domain(&self) -> DmaDomain {
        self.domain
    }
}

impl Bus for Mmio {
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }
    mmio_access!(read8, write8, u8);
    mmio_access!(read16, write16, u16);
    mmio_access!(read32, write32, u32);
    mmio_access!(read64, write64, u64);
}

/// Legacy port-IO registers reached through a sysfs `resourceN` file: every access is one
/// `pread` or `pwrite` of its width at its offset, which the kernel turns into one `in`/`out`.
///
/// Register reads cannot return errors through the typed API, so an I/O error is latched: the
/// read returns all ones (as a device that has gone away reads), and [`PortIo::take_error`]
/// reports it. Drivers check it after each step of a sequence.
#[derive(Debug)]
pub struct PortIo {
    file: File,
    /// Offset of the BAR in `file`: 0 for a sysfs `resourceN`, the region's offset for a VFIO
    /// device file.
    offset: u64,
    len: usize,
    domain: DmaDomain,
    error: Cell<Option<io::ErrorKind>>,
    errors: Cell<u64>,
}

impl PortIo {
    /// A bus over the first `len` bytes of an IO-port resource file.
    pub fn new(file: File, len: usize) -> Self {
        Self::in_region(file, 0, len)
    }

    /// A bus over `len` bytes of an I/O port BAR that starts at byte `offset` of `file` (a
    /// VFIO device file, whose BAR regions sit at offsets `VFIO_DEVICE_GET_REGION_INFO` gives).
    pub fn in_region(file: File, offset: u64, len: usize) -> Self {
        Self {
            file,
            offset,
            len,
            domain: DmaDomain::Physical,
            error: Cell::new(None),
            errors: Cell::new(0),
        }
    }

    /// The same bus, for a device that reaches `domain` by DMA; [`DmaDomain::Physical`] unless
    /// set.
    pub fn with_dma_domain(self, domain: DmaDomain) -> Self {
        Self { domain, ..self }
    }

    /// The first I/O error since the last call, and how many accesses failed.
    pub fn take_error(&self) -> Option<(io::ErrorKind, u64)> {
        let count = self.errors.replace(0);
        self.error.take().map(|kind| (kind, count))
    }

    fn latch(&self, err: io::Error) {
        if self.error.get().is_none() {
            self.error.set(Some(err.kind()));
        }
        self.errors.set(self.errors.get() + 1);
    }

    fn read_n<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut buf = [0u8; N];
        if let Err(err) = self
            .file
            .read_exact_at(&mut buf, self.offset + offset as u64)
        {
            self.latch(err);
            buf = [0xff; N];
        }
        buf
    }

    fn write_n(&self, offset: usize, bytes: &[u8]) {
        if let Err(err) = self.file.write_all_at(bytes, self.offset + offset as u64) {
            self.latch(err);
        }
    }
}

/// An I/O port BAR from sysfs: without an IOMMU the device reaches physical addresses; through
/// VFIO, what [`PortIo::with_dma_domain`] said.
impl DmaMaster for PortIo {
    fn dma_domain(&self) -> DmaDomain {
        self.domain
    }
}

impl Bus for PortIo {
    fn len(&self) -> usize {
        self.len
    }
    unsafe fn read8(&self, offset: usize) -> u8 {
        u8::from_le_bytes(self.read_n(offset))
    }
    unsafe fn read16(&self, offset: usize) -> u16 {
        u16::from_le_bytes(self.read_n(offset))
    }
    unsafe fn read32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.read_n(offset))
    }
    unsafe fn read64(&self, offset: usize) -> u64 {
        // Port IO has no 64-bit accesses: two 32-bit ones, low word first.
        let lo = u64::from(u32::from_le_bytes(self.read_n(offset)));
        let hi = u64::from(u32::from_le_bytes(self.read_n(offset + 4)));
        lo | hi << 32
    }
    unsafe fn write8(&self, offset: usize, value: u8) {
        self.write_n(offset, &value.to_le_bytes());
    }
    unsafe fn write16(&self, offset: usize, value: u16) {
        self.write_n(offset, &value.to_le_bytes());
    }
    unsafe fn write32(&self, offset: usize, value: u32) {
        self.write_n(offset, &value.to_le_bytes());
    }
    unsafe fn write64(&self, offset: usize, value: u64) {
        self.write_n(offset, &(value as u32).to_le_bytes());
        self.write_n(offset + 4, &((value >> 32) as u32).to_le_bytes());
    }
}

/// Plain memory with no side effects: a register space for examples and unit tests, where
/// every register simply holds what was last written.
#[derive(Debug, Clone)]
pub struct MemBus {
    bytes: RefCell<Vec<u8>>,
}

impl MemBus {
    /// `len` zeroed bytes.
    pub fn new(len: usize) -> Self {
        Self {
            bytes: RefCell::new(vec![0; len]),
        }
    }

    /// A copy of `len` bytes at `offset`, for tests that look at the memory behind the handles.
    pub fn peek(&self, offset: usize, len: usize) -> Vec<u8> {
        self.bytes.borrow()[offset..offset + len].to_vec()
    }

    /// Overwrites bytes at `offset`, as a device would.
    pub fn poke(&self, offset: usize, data: &[u8]) {
        self.bytes.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
    }

    fn get<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes.borrow()[offset..offset + N]);
        out
    }
}

/// No device sits behind plain memory; code in the process that plays one reaches the process's
/// own memory.
impl DmaMaster for MemBus {
    fn dma_domain(&self) -> DmaDomain {
        DmaDomain::Virtual
    }
}

/// Implements [`Bus`] for `$ty`, a window whose every access, of any width, is one call that copies
/// the value's little-endian bytes: `$read::<N>(offset) -> [u8; N]` and `$write(offset, &bytes)`.
/// `len` is `$len` with the window bound to `$this`.
macro_rules! byte_copy_bus {
    ($ty:ty, |$this:ident| $len:expr, $read:ident, $write:ident) => {
        impl $crate::regs::Bus for $ty {
            fn len(&self) -> usize {
                let $this = self;
                $len
            }
            unsafe fn read8(&self, offset: usize) -> u8 {
                u8::from_le_bytes(self.$read(offset))
            }
            unsafe fn read16(&self, offset: usize) -> u16 {
                u16::from_le_bytes(self.$read(offset))
            }
            unsafe fn read32(&self, offset: usize) -> u32 {
                u32::from_le_bytes(self.$read(offset))
            }
            unsafe fn read64(&self, offset: usize) -> u64 {
                u64::from_le_bytes(self.$read(offset))
            }
            unsafe fn write8(&self, offset: usize, value: u8) {
                self.$write(offset, &value.to_le_bytes());
            }
            unsafe fn write16(&self, offset: usize, value: u16) {
                self.$write(offset, &value.to_le_bytes());
            }
            unsafe fn write32(&self, offset: usize, value: u32) {
                self.$write(offset, &value.to_le_bytes());
            }
            unsafe fn write64(&self, offset: usize, value: u64) {
                self.$write(offset, &value.to_le_bytes());
            }
        }
    };
}
pub(crate) use byte_copy_bus;

byte_copy_bus!(MemBus, |bus| bus.bytes.borrow().len(), get, poke);
