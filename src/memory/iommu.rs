//! DMA memory behind an IOMMU: memory rixy maps for a device through a VFIO container
//! ([`crate::pci::VfioContainer`]), in one of two modes ([`IommuMode`]).
//!
//! - [`IommuMode::Iova`]: the device's DMA is translated by the IOMMU, so rixy chooses the
//!   device addresses (I/O virtual addresses, IOVAs) itself, from the ranges the container
//!   reports usable ([`IovaSpace`]). The memory need not be physically contiguous and its
//!   physical addresses are never read: for regions of a huge page or more, huge pages when
//!   hugetlbfs is mounted (fewer IOTLB entries); ordinary anonymous memory otherwise. Needs no root and no hugetlbfs, only
//!   access to the VFIO group file and a locked-memory limit (`RLIMIT_MEMLOCK`) large enough
//!   for what is mapped: the kernel pins the pages and charges them to that limit.
//! - [`IommuMode::Physical`]: for devices whose DMA bypasses the IOMMU (legacy virtio, modern
//!   virtio without `VIRTIO_F_ACCESS_PLATFORM`): huge pages whose device addresses are their
//!   physical addresses, read from `/proc/self/pagemap` (root only), and also mapped into the
//!   container at IOVA = physical address, so the same memory works whether or not the device
//!   translates. Its domain is [`DmaDomain::Physical`], as for the sysfs way in.
//!
//! Every mapping is undone (`VFIO_IOMMU_UNMAP_DMA`, then `munmap`) when its region drops.
//!
//! The container is reached through the [`Iommu`] trait, so that the allocator is tested
//! against a fake IOMMU that records what is mapped.

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use super::{
    DeviceAddresses, DmaAllocator, DmaDomain, DmaRegion, HUGE_PAGE_SIZE, HugePageAllocator,
    base_page_size, round_up,
};
use crate::error::{Error, Result};

/// An IOMMU address space that DMA memory can be mapped into: a VFIO container
/// ([`crate::pci::VfioContainer`]) or a test's fake.
pub trait Iommu: Send + Sync + std::fmt::Debug {
    /// The domain of memory mapped at IOVAs of this address space's choosing: one per
    /// container, so a packet mapped for one container is refused by a device of another.
    fn domain(&self) -> DmaDomain;

    /// Sets aside `size` bytes of IOVA space aligned to `align` (a power of two) that nothing
    /// else uses; returns the first IOVA.
    fn reserve_iova(&self, size: u64, align: u64) -> Result<u64>;

    /// Maps `size` bytes of this process's memory at `vaddr` at IOVA `iova`, readable and
    /// writable by the device (`VFIO_IOMMU_MAP_DMA`).
    ///
    /// # Safety
    /// `vaddr..vaddr+size` must be a live mapping of this process that stays mapped until
    /// [`Iommu::unmap_dma`] of the same range returns.
    unsafe fn map_dma(&self, vaddr: usize, iova: u64, size: usize) -> Result<()>;

    /// Undoes [`Iommu::map_dma`] of exactly this range (`VFIO_IOMMU_UNMAP_DMA`).
    fn unmap_dma(&self, iova: u64, size: usize) -> Result<()>;
}

/// How the device behind an IOMMU address space reaches memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IommuMode {
    /// Its DMA is translated by the IOMMU: device addresses are IOVAs rixy chooses.
    Iova,
    /// Its DMA bypasses the IOMMU: device addresses are physical addresses (root only).
    Physical,
}

/// DMA memory mapped into an IOMMU address space ([`Iommu`]); see the module documentation.
#[derive(Debug)]
pub struct IommuAllocator {
    iommu: Arc<dyn Iommu>,
    mode: IommuMode,
    hugepage_dir: PathBuf,
}

impl IommuAllocator {
    /// An allocator of `mode` memory mapped into `iommu`. `hugepage_dir` is where hugetlbfs is
    /// mounted ([`crate::Config::hugepage_dir`]): in [`IommuMode::Iova`] huge pages are used
    /// only when it is a mounted hugetlbfs (ordinary memory otherwise); in
    /// [`IommuMode::Physical`] it must be.
    pub fn new(iommu: Arc<dyn Iommu>, mode: IommuMode, hugepage_dir: &Path) -> IommuAllocator {
        IommuAllocator {
            iommu,
            mode,
            hugepage_dir: hugepage_dir.to_path_buf(),
        }
    }

    /// The allocator's mode.
    pub fn mode(&self) -> IommuMode {
        self.mode
    }

    /// The domain of the memory it hands out: the container's own in [`IommuMode::Iova`],
    /// [`DmaDomain::Physical`] in [`IommuMode::Physical`].
    pub fn domain(&self) -> DmaDomain {
        match self.mode {
            IommuMode::Iova => self.iommu.domain(),
            IommuMode::Physical => DmaDomain::Physical,
        }
    }

    /// Whether [`IommuMode::Iova`] allocations of a huge page or more use huge pages: hugetlbfs
    /// is mounted at the configured directory.
    pub fn uses_huge_pages(&self) -> bool {
        self.mode == IommuMode::Physical
            || HugePageAllocator::with_dir(&self.hugepage_dir)
                .page_size()
                .is_ok()
    }

    fn allocate_iova(&self, size: usize) -> Result<DmaRegion> {
        // Huge pages for what fills at least one (packet pools): fewer IOTLB entries. Smaller
        // regions (rings) take base pages, so that they do not lock a whole huge page each
        // against the memlock limit.
        let huge = size >= HUGE_PAGE_SIZE && self.uses_huge_pages();
        let page = if huge {
            HUGE_PAGE_SIZE
        } else {
            base_page_size()
        };
        let map_len = round_up(size, page)?;
        let memory = Anonymous::map(map_len, huge)?;
        let iova = self.iommu.reserve_iova(map_len as u64, page as u64)?;
        // SAFETY: `memory` is a live mapping of `map_len` bytes that the `Mapped` keeper below
        // owns and unmaps only after `unmap_dma` of this range (its drop order); if mapping
        // fails, nothing is mapped and `memory` is unmapped on return.
        unsafe {
            self.iommu
                .map_dma(memory.virt.as_ptr() as usize, iova, map_len)?;
        }
        let virt = memory.virt;
        let keeper = Mapped {
            iommu: Arc::clone(&self.iommu),
            maps: vec![(iova, map_len)],
            memory: ManuallyDrop::new(Memory::Anonymous(memory)),
        };
        // SAFETY: `virt..virt+map_len` is the zero-filled read-write mapping owned by the
        // keeper, which the region holds; it stays mapped, and mapped in the IOMMU at
        // `iova..iova+map_len`, until the keeper drops; `size <= map_len`; one IOVA run covers
        // every byte, so the region is contiguous.
        let region = unsafe {
            DmaRegion::from_shared(
                virt,
                size,
                DeviceAddresses::Linear { base: iova },
                self.iommu.domain(),
                true,
                Arc::new(keeper),
            )
        };
        Ok(region.with_shared_mapped_len(map_len))
    }

    fn allocate_physical(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        let inner = HugePageAllocator::with_dir(&self.hugepage_dir).allocate(size, contiguous)?;
        let virt = inner.virt();
        let map_len = inner.mapped_len();
        // Every page at IOVA = its physical address: one mapping per run of device addresses.
        let runs: Vec<(u64, usize, usize)> = match inner.addresses() {
            DeviceAddresses::Linear { base } => vec![(*base, 0, map_len)],
            DeviceAddresses::Pages { page_size, bases } => bases
                .iter()
                .enumerate()
                .map(|(i, &base)| (base, i * page_size, *page_size))
                .collect(),
            DeviceAddresses::Identity => {
                return Err(Error::InvalidMemoryRequest {
                    problem: "huge pages came back without physical addresses".into(),
                });
            }
        };
        let (addresses, contiguous) = (inner.addresses().clone(), inner.is_contiguous());
        let mut keeper = Mapped {
            iommu: Arc::clone(&self.iommu),
            maps: Vec::with_capacity(runs.len()),
            memory: ManuallyDrop::new(Memory::Region(inner)),
        };
        for (iova, offset, len) in runs {
            // SAFETY: `offset..offset+len` lies inside the huge page mapping the keeper owns;
            // the keeper unmaps it from the IOMMU (its `maps`) before the memory goes.
            unsafe {
                self.iommu
                    .map_dma(virt.as_ptr() as usize + offset, iova, len)?;
            }
            keeper.maps.push((iova, len));
        }
        // SAFETY: the memory is the huge page region the keeper owns, with the physical
        // addresses its allocator read from pagemap; the region holds the keeper.
        let region = unsafe {
            DmaRegion::from_shared(
                virt,
                size,
                addresses,
                DmaDomain::Physical,
                contiguous,
                Arc::new(keeper),
            )
        };
        Ok(region.with_shared_mapped_len(map_len))
    }
}

impl DmaAllocator for IommuAllocator {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        // The same limit as every other allocator, so that a driver asks the IOMMU for nothing
        // it could not get without one.
        if contiguous && size > HUGE_PAGE_SIZE {
            return Err(Error::ContiguousTooLarge {
                size,
                max: HUGE_PAGE_SIZE,
            });
        }
        match self.mode {
            IommuMode::Iova => self.allocate_iova(size),
            IommuMode::Physical => self.allocate_physical(size, contiguous),
        }
    }
}

/// An anonymous private mapping, unmapped when dropped.
#[derive(Debug)]
struct Anonymous {
    virt: NonNull<u8>,
    len: usize,
}

impl Anonymous {
    /// `len` zeroed bytes, on huge pages if `huge` (falling back to ordinary pages when none are
    /// free), not inherited by children (`MADV_DONTFORK`: a fork must not copy-on-write pages
    /// the device writes).
    fn map(len: usize, huge: bool) -> Result<Anonymous> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let try_map = |flags: libc::c_int| {
            // SAFETY: an anonymous mapping at an address of the kernel's choosing touches no
            // existing memory; the result is checked against MAP_FAILED by the caller.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    -1,
                    0,
                )
            }
        };
        let mut ptr = libc::MAP_FAILED;
        if huge {
            ptr = try_map(flags | libc::MAP_HUGETLB);
            if ptr == libc::MAP_FAILED {
                log::info!(
                    "no free huge pages for {len} bytes of IOMMU-mapped memory ({}): using ordinary pages",
                    std::io::Error::last_os_error()
                );
            }
        }
        if ptr == libc::MAP_FAILED {
            ptr = try_map(flags);
        }
        if ptr == libc::MAP_FAILED {
            return Err(Error::Os {
                what: "mmap of DMA memory for the IOMMU",
                source: std::io::Error::last_os_error(),
            });
        }
        let virt = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::Os {
            what: "mmap of DMA memory for the IOMMU",
            source: std::io::Error::other("mmap returned address 0"),
        })?;
        let memory = Anonymous { virt, len };
        // SAFETY: advice on the mapping made above, which this value owns.
        if unsafe { libc::madvise(ptr, len, libc::MADV_DONTFORK) } != 0 {
            log::warn!(
                "madvise(MADV_DONTFORK) on DMA memory failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(memory)
    }
}

// SAFETY: an owned mapping like a `Box<[u8]>`, exposing no references; `munmap` may run on any
// thread.
unsafe impl Send for Anonymous {}
// SAFETY: `&self` gives access to nothing but the immutable pointer and length.
unsafe impl Sync for Anonymous {}

impl Drop for Anonymous {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `Anonymous::map`, owned by this value alone.
        if unsafe { libc::munmap(self.virt.as_ptr().cast(), self.len) } != 0 {
            log::warn!(
                "munmap of DMA memory at {:p} failed: {}",
                self.virt,
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The memory behind a [`Mapped`] keeper.
#[derive(Debug)]
enum Memory {
    Anonymous(#[expect(dead_code, reason = "held for its drop, which unmaps it")] Anonymous),
    Region(#[expect(dead_code, reason = "held for its drop, which unmaps it")] DmaRegion),
}

/// Memory mapped into an IOMMU: the keeper of an [`IommuAllocator`] region. Dropping it unmaps
/// the IOMMU mappings first, then the memory.
#[derive(Debug)]
struct Mapped {
    iommu: Arc<dyn Iommu>,
    /// `(iova, len)` of each mapping made.
    maps: Vec<(u64, usize)>,
    /// Dropped by hand, after the IOMMU mappings are gone.
    memory: ManuallyDrop<Memory>,
}

impl Drop for Mapped {
    fn drop(&mut self) {
        for &(iova, len) in &self.maps {
            if let Err(e) = self.iommu.unmap_dma(iova, len) {
                // The device may still reach the pages: keep them (leak them) rather than give
                // them back to the system for reuse.
                log::error!("{e}; the memory stays allocated to keep the device off reused pages");
                return;
            }
        }
        // SAFETY: the memory is dropped once, here, and not used after: no IOMMU mapping of it
        // is left.
        unsafe { ManuallyDrop::drop(&mut self.memory) };
    }
}

/// An IOVA address space: the usable ranges, and a cursor below which everything is taken.
///
/// A bump allocator: IOVAs are handed out in increasing order and never reused (an unmapped
/// range stays a hole). rixy maps its rings and pools once per device, so the space (512 GiB
/// with a 39-bit IOMMU) lasts; running out is [`Error::IovaSpaceExhausted`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IovaSpace {
    /// Usable ranges `(first, last)` (inclusive), sorted, not overlapping, above
    /// [`IovaSpace::FLOOR`].
    ranges: Vec<(u64, u64)>,
    /// Every IOVA below this is taken or unusable; `None` once the last IOVA, `u64::MAX`, is.
    next: Option<u64>,
}

impl IovaSpace {
    /// rixy hands out no IOVA below 1 MiB, so that no buffer sits at device address 0, which
    /// some devices read as "no buffer".
    pub const FLOOR: u64 = 0x10_0000;

    /// The usable range assumed when the container does not report its own (kernels before
    /// 5.4 lack the IOVA-range capability): 4 GiB to 512 GiB, above every 32-bit MMIO hole
    /// (where the x86 MSI window at `0xfee00000` sits) and inside the 39 bits every Intel
    /// VT-d IOMMU translates.
    pub const DEFAULT_RANGE: (u64, u64) = (1 << 32, (1 << 39) - 1);

    /// A space of the usable ranges `(first, last)` (inclusive, any order), clipped to
    /// [`IovaSpace::FLOOR`].
    pub fn new(ranges: &[(u64, u64)]) -> IovaSpace {
        let mut ranges: Vec<(u64, u64)> = ranges
            .iter()
            .filter(|&&(first, last)| first <= last && last >= Self::FLOOR)
            .map(|&(first, last)| (first.max(Self::FLOOR), last))
            .collect();
        ranges.sort_unstable();
        IovaSpace {
            ranges,
            next: Some(0),
        }
    }

    /// The usable ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// The first `size` bytes aligned to `align` (a power of two) at or after the cursor that
    /// fit in one usable range; the cursor moves past them. `None` when no range has room.
    pub fn allocate(&mut self, size: u64, align: u64) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        let next = self.next?;
        for &(first, last) in &self.ranges {
            let Some(start) = next.max(first).checked_next_multiple_of(align) else {
                continue;
            };
            let Some(end) = start.checked_add(size - 1) else {
                continue;
            };
            if end <= last {
                self.next = end.checked_add(1);
                return Some(start);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn iova_bump_allocation_stays_inside_the_ranges() {
        // The ranges QEMU 7.2's intel-iommu reports (0..0xfedfffff, 0xfef00000..2^39-1).
        let mut space = IovaSpace::new(&[(0xfef0_0000, (1 << 39) - 1), (0, 0xfedf_ffff)]);
        assert_eq!(
            space.ranges(),
            &[(0x10_0000, 0xfedf_ffff), (0xfef0_0000, (1 << 39) - 1)]
        );
        assert_eq!(space.allocate(4096, 4096), Some(0x10_0000));
        assert_eq!(space.allocate(4096, 4096), Some(0x10_1000));
        // Aligned up, never overlapping what was handed out.
        assert_eq!(space.allocate(2 << 20, 2 << 20), Some(0x20_0000));
        assert_eq!(space.allocate(1, 4096), Some(0x40_0000));
        // Too big for the rest of the first range: the next range, aligned.
        let big = 0xfedf_ffff - 0x40_1000 + 1;
        assert_eq!(space.allocate(big + 4096, 4096), Some(0xfef0_0000));
        // The hole before it stays usable for nothing: the cursor moved past.
        assert_eq!(space.allocate(4096, 4096), Some(0xfef0_0000 + big + 4096));
        assert_eq!(space.allocate(1 << 40, 4096), None);
        assert_eq!(space.allocate(0, 4096), None);
        assert_eq!(space.allocate(4096, 3), None);
    }

    #[test]
    fn iova_space_runs_out_and_says_so() {
        let mut space = IovaSpace::new(&[(0x10_0000, 0x10_3fff)]);
        let taken: Vec<u64> = std::iter::from_fn(|| space.allocate(4096, 4096)).collect();
        assert_eq!(taken, [0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000]);
        // A range below the floor, or empty, is dropped.
        assert!(IovaSpace::new(&[(0, 0xf_ffff), (5, 4)]).ranges().is_empty());
        // A range ending at u64::MAX does not overflow.
        let mut top = IovaSpace::new(&[(u64::MAX - 0x1fff, u64::MAX)]);
        assert_eq!(top.allocate(0x2000, 4096), Some(u64::MAX - 0x1fff));
        assert_eq!(top.allocate(1, 1), None);
    }

    /// An IOMMU that records its mappings, and refuses what `refuse` says.
    #[derive(Debug, Default)]
    struct FakeIommu {
        space: Mutex<Option<IovaSpace>>,
        maps: Mutex<Vec<(usize, u64, usize)>>,
        unmapped: Mutex<Vec<(u64, usize)>>,
        refuse: bool,
    }

    impl Iommu for FakeIommu {
        fn domain(&self) -> DmaDomain {
            DmaDomain::Iommu(77)
        }
        fn reserve_iova(&self, size: u64, align: u64) -> Result<u64> {
            let mut space = self.space.lock().unwrap();
            let space = space.get_or_insert_with(|| IovaSpace::new(&[IovaSpace::DEFAULT_RANGE]));
            space
                .allocate(size, align)
                .ok_or(Error::IovaSpaceExhausted { size })
        }
        unsafe fn map_dma(&self, vaddr: usize, iova: u64, size: usize) -> Result<()> {
            if self.refuse {
                return Err(Error::IommuMapRefused {
                    iova,
                    size,
                    source: std::io::Error::from_raw_os_error(libc::EINVAL),
                });
            }
            self.maps.lock().unwrap().push((vaddr, iova, size));
            Ok(())
        }
        fn unmap_dma(&self, iova: u64, size: usize) -> Result<()> {
            self.unmapped.lock().unwrap().push((iova, size));
            Ok(())
        }
    }

    #[test]
    fn iova_memory_is_mapped_at_chosen_iovas_and_unmapped_on_drop() {
        let iommu = Arc::new(FakeIommu::default());
        let tmp = tempfile::tempdir().unwrap();
        // Not hugetlbfs: ordinary pages.
        let alloc = IommuAllocator::new(iommu.clone(), IommuMode::Iova, tmp.path());
        assert!(!alloc.uses_huge_pages());
        assert_eq!(alloc.domain(), DmaDomain::Iommu(77));
        let page = base_page_size();
        let a = alloc.allocate(3 * page + 1, true).unwrap();
        let b = alloc.allocate(100, false).unwrap();
        assert_eq!(a.domain(), DmaDomain::Iommu(77));
        assert!(a.is_contiguous() && b.is_contiguous());
        assert_eq!(a.len(), 3 * page + 1);
        assert_eq!(a.mapped_len(), 4 * page);
        let first = IovaSpace::DEFAULT_RANGE.0;
        assert_eq!(a.device_addr(0), Some(first));
        assert_eq!(a.device_addr(3 * page), Some(first + 3 * page as u64));
        assert_eq!(b.device_addr(0), Some(first + 4 * page as u64));
        let maps = iommu.maps.lock().unwrap().clone();
        assert_eq!(
            maps,
            [
                (a.as_ptr() as usize, first, 4 * page),
                (b.as_ptr() as usize, first + 4 * page as u64, page)
            ]
        );
        // The memory is writable and zeroed.
        // SAFETY: `a` is live and reached by no device.
        unsafe {
            assert_eq!(a.as_ptr().add(3 * page).read(), 0);
            a.as_ptr().add(3 * page).write(7);
        }
        drop(a);
        assert_eq!(*iommu.unmapped.lock().unwrap(), [(first, 4 * page)]);
        drop(b);
        assert_eq!(iommu.unmapped.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_refused_mapping_is_an_error_and_leaves_nothing_mapped() {
        let iommu = Arc::new(FakeIommu {
            refuse: true,
            ..FakeIommu::default()
        });
        let tmp = tempfile::tempdir().unwrap();
        let alloc = IommuAllocator::new(iommu.clone(), IommuMode::Iova, tmp.path());
        let err = alloc.allocate(4096, false).unwrap_err();
        assert!(matches!(err, Error::IommuMapRefused { .. }), "{err}");
        assert!(iommu.unmapped.lock().unwrap().is_empty());
        assert!(
            alloc.allocate(HUGE_PAGE_SIZE + 1, true).is_err(),
            "the contiguous limit holds"
        );
    }

    #[test]
    fn physical_mode_needs_hugetlbfs() {
        let iommu = Arc::new(FakeIommu::default());
        let tmp = tempfile::tempdir().unwrap();
        let alloc = IommuAllocator::new(iommu.clone(), IommuMode::Physical, tmp.path());
        assert_eq!(alloc.domain(), DmaDomain::Physical);
        let err = alloc.allocate(4096, true).unwrap_err();
        assert!(matches!(err, Error::HugetlbfsNotMounted { .. }), "{err}");
        assert!(iommu.maps.lock().unwrap().is_empty());
    }
}
