//! DMA memory, the mempool and the packet handle.
//!
//! Drivers get memory the NIC can reach through one interface, [`DmaAllocator`]. It hands out a
//! [`DmaRegion`]: a mapping owned by the region (unmapped when it drops) that knows, for every
//! byte offset, the address the device must use to reach that byte ([`DmaRegion::device_addr`]).
//!
//! Every region belongs to one [`DmaDomain`]: the memory its device addresses mean something
//! in. A device reaches one domain (its bus says which, [`DmaMaster`](crate::regs::DmaMaster)),
//! its driver allocates only memory of that domain, and its `tx_batch` refuses packets from a
//! pool of another, so no device is ever handed an address it cannot use.
//!
//! Providers:
//!
//! - [`HugePageAllocator`]: files on hugetlbfs, locked in memory, device address = physical
//!   address from `/proc/self/pagemap` ([`DmaDomain::Physical`]). Needs root and reserved huge
//!   pages (`ci/setup-hugepages`). This is what real hardware without an IOMMU uses.
//! - [`PlainAllocator`]: anonymous memory; device address = virtual address
//!   ([`DmaDomain::Virtual`], which no device reaches). Works anywhere, without privileges; the
//!   simulator's allocator ([`crate::sim::SimDma`]) builds on it and registers each region in
//!   its world ([`DmaDomain::Model`]).
//! - [`IommuAllocator`]: memory mapped into a VFIO container's IOMMU (`VFIO_IOMMU_MAP_DMA`),
//!   either at I/O virtual addresses rixy chooses ([`IommuMode::Iova`], in a domain of the
//!   container's own, [`DmaDomain::Iommu`]; ordinary memory will do, no root needed) or at
//!   IOVA = physical address for devices whose DMA bypasses the IOMMU ([`IommuMode::Physical`],
//!   root only). Nothing else in the drivers changes.
//!
//! Every region starts zero-filled and page-aligned. A region allocated `contiguous` is one run
//! of device addresses, so a descriptor ring can be given to the device by its first address; a
//! region allocated without it may change device addresses at each huge page boundary, so
//! anything the device reads as one block (a packet buffer) must not straddle one. The
//! [`Mempool`] guarantees that for its buffers by using power-of-two entry sizes up to
//! [`HUGE_PAGE_SIZE`].
//!
//! A descriptor ring's memory is a [`DescRing`]: one contiguous region at the base alignment the
//! device asks for, handing out typed views of its descriptors.

mod desc_ring;
mod footprint;
mod hugepage;
mod iommu;
mod mempool;
mod plain;

use std::any::Any;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{Error, Result};

pub use desc_ring::{DescRef, DescRing};
pub use footprint::{MemoryFootprint, QueueMemory, format_bytes};
pub(crate) use hugepage::physical_address;
pub use hugepage::{DEFAULT_HUGE_DIR, HugePageAllocator};
pub use iommu::{Iommu, IommuAllocator, IommuMode, IovaSpace};
pub use mempool::{
    DEFAULT_BUFFER_SIZE, HEADROOM, MIN_BUFFER_SIZE, Mempool, Packet, RawBuffer, USABLE_HEADROOM,
};
pub use plain::PlainAllocator;

/// Size of the huge pages rixy expects (x86-64's 2 MiB pages), and the largest physically
/// contiguous allocation any allocator grants, so that code tested on the simulator behaves as
/// it will on hardware.
pub const HUGE_PAGE_SIZE: usize = 2 * 1024 * 1024;

/// A source of memory a device can reach by DMA.
///
/// Implementors return zero-filled, page-aligned regions of at least `size` bytes whose device
/// addresses stay valid, and whose memory stays put, for as long as the region lives.
pub trait DmaAllocator {
    /// Allocates `size` bytes (rounded up to the provider's page size). With `contiguous`, the
    /// device addresses of the whole region form one run (`device_addr(o) == device_addr(0) + o`);
    /// allocations larger than [`HUGE_PAGE_SIZE`] cannot be contiguous and fail with
    /// [`Error::ContiguousTooLarge`].
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion>;
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for &A {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        (**self).allocate(size, contiguous)
    }
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for Box<A> {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        (**self).allocate(size, contiguous)
    }
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for std::rc::Rc<A> {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        (**self).allocate(size, contiguous)
    }
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for std::sync::Arc<A> {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        (**self).allocate(size, contiguous)
    }
}

/// Which memory a device reaches by DMA, and so which memory a DMA address is meaningful in.
///
/// Every [`DmaRegion`] is made for one domain (its provider says which), a [`Mempool`] is in
/// the domain of its region, and every device knows the domain it reaches
/// ([`DmaMaster`](crate::regs::DmaMaster)). A driver allocates only memory of its device's
/// domain and refuses to hand the device a packet from a pool of another
/// ([`Error::ForeignDmaDomain`]), so the address a descriptor receives is always one the device
/// may use: a pool of plain memory never reaches hardware, and a pool of one simulated world
/// never reaches another world's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmaDomain {
    /// Physical addresses (huge pages translated through `/proc/self/pagemap`): what a PCI
    /// device reaches without an IOMMU. All such memory is one domain.
    Physical,
    /// This process's virtual addresses ([`PlainAllocator`]): no device reaches them, only code
    /// in the process (a register space in plain memory, [`MemBus`](crate::regs::MemBus)).
    Virtual,
    /// The memory of one device model: a simulated world ([`crate::sim::World`]) or a test's
    /// model, numbered by [`DmaDomain::new_model`].
    Model(u64),
    /// The I/O virtual addresses of one VFIO container ([`crate::pci::VfioContainer`]): memory
    /// an [`IommuAllocator`] mapped into it at addresses rixy chose, which only the devices
    /// attached to that container reach.
    Iommu(u64),
}

impl DmaDomain {
    /// A model domain no other has: each simulated world makes one, and so can a test's model.
    pub fn new_model() -> DmaDomain {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        DmaDomain::Model(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Display for DmaDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DmaDomain::Physical => f.write_str("physical memory (huge pages)"),
            DmaDomain::Virtual => f.write_str("plain process memory (virtual addresses)"),
            DmaDomain::Model(n) => write!(f, "the memory of device model #{n}"),
            DmaDomain::Iommu(n) => write!(f, "the I/O virtual addresses of VFIO container #{n}"),
        }
    }
}

/// An allocator that hands out memory of one domain only: drivers allocate their rings and pools
/// through it, so a device is never given memory it does not reach, whatever allocator it was
/// opened with.
pub(crate) struct InDomain<'a, A: ?Sized> {
    /// The allocator the driver was given.
    pub(crate) alloc: &'a A,
    /// The device's domain.
    pub(crate) domain: DmaDomain,
    /// The device's name, for the error.
    pub(crate) device: String,
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for InDomain<'_, A> {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        let region = self.alloc.allocate(size, contiguous)?;
        if region.domain() != self.domain {
            return Err(Error::ForeignDmaDomain {
                device: self.device.clone(),
                device_domain: self.domain,
                what: "memory from the DMA allocator it was opened with".into(),
                memory_domain: region.domain(),
                hint: "open it with the allocator of its domain: huge pages for hardware, Port::dma for a simulated port (rixy::open chooses it)",
            });
        }
        Ok(region)
    }
}

/// Checks that the first `n` of `packets` come from pools in `domain`, before a driver gives them
/// to device `device`: one comparison per packet (its pool against the last pool checked), one
/// domain check per change of pool. An error names the first packet that does not.
#[inline]
pub(crate) fn check_domain<'a>(
    packets: impl IntoIterator<Item = &'a Packet>,
    n: usize,
    domain: DmaDomain,
    device: &str,
) -> Result<()> {
    let mut checked: *const () = std::ptr::null();
    for (i, packet) in packets.into_iter().take(n).enumerate() {
        let pool = packet.pool();
        if pool.as_ptr() != checked {
            if pool.domain() != domain {
                return Err(Error::ForeignDmaDomain {
                    device: device.to_owned(),
                    device_domain: domain,
                    what: format!("packet {i} of the queue (mempool #{})", pool.id()),
                    memory_domain: pool.domain(),
                    hint: "nothing was sent and every packet is still in the queue; send packets from a mempool made for this device (Device::mempool), or copy them into one",
                });
            }
            checked = pool.as_ptr();
        }
    }
    Ok(())
}

/// How the bytes of a region translate to device addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceAddresses {
    /// The device address is the virtual address (the simulator).
    Identity,
    /// One run starting at `base` (an IOMMU mapping, or a single huge page).
    Linear {
        /// Device address of the first byte.
        base: u64,
    },
    /// One device address per page of `page_size` bytes (huge pages without an IOMMU: each page
    /// has its own physical frame).
    Pages {
        /// Bytes per page, a power of two.
        page_size: usize,
        /// Device address of the first byte of each page, in order.
        bases: Box<[u64]>,
    },
}

/// A mapping of DMA memory, unmapped when dropped.
///
/// The region hands out raw pointers only: the device may write to it at any time the driver
/// has allowed, so safe references to its bytes are the business of the types built on it
/// ([`Packet`], the drivers' descriptor rings).
#[derive(Debug)]
pub struct DmaRegion {
    virt: NonNull<u8>,
    /// Bytes usable by the caller.
    len: usize,
    /// Bytes mapped (what `munmap` gets).
    map_len: usize,
    addresses: DeviceAddresses,
    /// The memory these device addresses are meaningful in.
    domain: DmaDomain,
    contiguous: bool,
    /// Who owns the memory: `None` when the region owns its `mmap` and unmaps it on drop; some
    /// keeper when the memory belongs to a shared owner (the simulator's DMA registry) that stays
    /// alive at least as long as this region holds it.
    keeper: Option<Arc<dyn Any + Send + Sync>>,
}

// SAFETY: a DmaRegion is an owned mapping like a `Box<[u8]>` that exposes only raw pointers; no
// thread-affine state is involved, and `munmap` may run on any thread.
unsafe impl Send for DmaRegion {}
// SAFETY: every `&self` method only reads the immutable fields above; access to the memory itself
// goes through raw pointers whose users must synchronise.
unsafe impl Sync for DmaRegion {}

impl DmaRegion {
    /// Takes over a mapping made with `mmap`, which the region `munmap`s when it drops.
    ///
    /// This is the seam for new providers (VFIO): map the memory, make it reachable by the
    /// device, then wrap it here.
    ///
    /// # Safety
    ///
    /// `virt..virt+map_len` must be a live, readable and writable, initialised mapping created by
    /// `mmap` that nothing else unmaps; `len <= map_len`; `addresses` must describe where a
    /// device of `domain` reaches each byte (for [`DeviceAddresses::Pages`], `virt` must be
    /// aligned to the page size and `bases` must cover `len` bytes); if `contiguous`, every byte
    /// must be reachable from the first byte's device address plus its offset.
    pub unsafe fn from_mmap(
        virt: NonNull<u8>,
        len: usize,
        map_len: usize,
        addresses: DeviceAddresses,
        domain: DmaDomain,
        contiguous: bool,
    ) -> DmaRegion {
        DmaRegion {
            virt,
            len,
            map_len,
            addresses,
            domain,
            contiguous,
            keeper: None,
        }
    }

    /// A region over memory owned by `keeper`, which the region holds (and so keeps alive) until
    /// it drops; the region itself unmaps nothing.
    ///
    /// This is how the simulator hands out DMA memory whose liveness its device model can check:
    /// the model keeps a weak reference to the keeper and only touches the memory while it can
    /// upgrade it, so a region the driver has dropped is never written.
    ///
    /// # Safety
    ///
    /// `virt..virt+len` must be readable, writable and initialised memory that stays valid for as
    /// long as `keeper` (any clone of it) is alive, and that no Rust reference points into;
    /// `addresses`, `domain` and `contiguous` as for [`DmaRegion::from_mmap`].
    pub unsafe fn from_shared(
        virt: NonNull<u8>,
        len: usize,
        addresses: DeviceAddresses,
        domain: DmaDomain,
        contiguous: bool,
        keeper: Arc<dyn Any + Send + Sync>,
    ) -> DmaRegion {
        DmaRegion {
            virt,
            len,
            map_len: 0,
            addresses,
            domain,
            contiguous,
            keeper: Some(keeper),
        }
    }

    /// The first byte, as a non-null pointer.
    #[inline]
    pub fn virt(&self) -> NonNull<u8> {
        self.virt
    }

    /// The first byte, as a raw pointer.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.virt.as_ptr()
    }

    /// Bytes usable.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes the allocator set aside for the region: its length rounded up to the allocator's
    /// granule (the base page for [`PlainAllocator`] and the simulator, 2 MiB for
    /// [`HugePageAllocator`]). This is what the region costs, and what
    /// [`crate::Device::memory`] counts.
    #[inline]
    pub fn mapped_len(&self) -> usize {
        self.map_len.max(self.len)
    }

    /// Records, for a region over shared memory ([`DmaRegion::from_shared`]), how many bytes
    /// its keeper mapped, so that [`DmaRegion::mapped_len`] reports the allocator's rounding.
    /// It unmaps nothing: a shared region's drop leaves the memory to its keeper.
    pub(crate) fn with_shared_mapped_len(mut self, map_len: usize) -> DmaRegion {
        if self.keeper.is_some() {
            self.map_len = map_len;
        }
        self
    }

    /// Whether the region has no usable bytes (never true for a region from an allocator).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the device addresses of the whole region form one run.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.contiguous
    }

    /// The memory the region's device addresses are meaningful in.
    #[inline]
    pub fn domain(&self) -> DmaDomain {
        self.domain
    }

    /// How offsets translate to device addresses.
    pub fn addresses(&self) -> &DeviceAddresses {
        &self.addresses
    }

    /// The address the device uses to reach byte `offset` of the region; `None` if `offset` is
    /// not inside it.
    #[inline]
    pub fn device_addr(&self, offset: usize) -> Option<u64> {
        if offset >= self.len {
            return None;
        }
        match &self.addresses {
            DeviceAddresses::Identity => Some(self.virt.as_ptr() as u64 + offset as u64),
            DeviceAddresses::Linear { base } => Some(base + offset as u64),
            DeviceAddresses::Pages { page_size, bases } => {
                let page = bases.get(offset / page_size)?;
                Some(page + (offset % page_size) as u64)
            }
        }
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        if self.keeper.is_some() {
            // The keeper owns the memory; dropping our clone of it (after this) is all there is.
            return;
        }
        // SAFETY: `from_mmap`'s contract makes `virt..virt+map_len` a mapping this region owns
        // alone; after this nothing refers to it, since the region is going away and every
        // pointer it handed out was documented to live no longer than the region.
        let rc = unsafe { libc::munmap(self.virt.as_ptr().cast(), self.map_len) };
        if rc != 0 {
            log::warn!(
                "munmap of DMA region at {:p} ({} bytes) failed: {}",
                self.virt,
                self.map_len,
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The system's base page size (for rounding anonymous mappings and reading pagemap).
pub(crate) fn base_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

/// `size` rounded up to a multiple of `page` (a power of two); errors on zero or overflow.
pub(crate) fn round_up(size: usize, page: usize) -> Result<usize> {
    if size == 0 {
        return Err(Error::InvalidMemoryRequest {
            problem: "a DMA allocation of 0 bytes: ask for at least one byte".into(),
        });
    }
    size.checked_next_multiple_of(page)
        .ok_or_else(|| Error::InvalidMemoryRequest {
            problem: format!("a DMA allocation of {size} bytes overflows the address space"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(round_up(1, 4096).unwrap(), 4096);
        assert_eq!(round_up(4096, 4096).unwrap(), 4096);
        assert_eq!(round_up(4097, 4096).unwrap(), 8192);
        assert!(round_up(0, 4096).is_err());
        assert!(round_up(usize::MAX, 4096).is_err());
    }

    #[test]
    fn page_translation() {
        let alloc = PlainAllocator::new();
        // Borrow a real mapping, then describe it with per-page addresses.
        let mut region = alloc.allocate(3 * 4096, false).unwrap();
        region.addresses = DeviceAddresses::Pages {
            page_size: 4096,
            bases: vec![0x10_0000, 0x50_0000, 0x20_0000].into_boxed_slice(),
        };
        assert_eq!(region.device_addr(0), Some(0x10_0000));
        assert_eq!(region.device_addr(4095), Some(0x10_0fff));
        assert_eq!(region.device_addr(4096), Some(0x50_0000));
        assert_eq!(region.device_addr(2 * 4096 + 8), Some(0x20_0008));
        assert_eq!(region.device_addr(3 * 4096), None);
        region.addresses = DeviceAddresses::Linear { base: 0x1000 };
        assert_eq!(region.device_addr(0x20), Some(0x1020));
    }
}
