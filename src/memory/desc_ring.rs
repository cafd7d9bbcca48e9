//! The memory of a descriptor ring: one contiguous DMA region of descriptors that the driver and
//! the device both walk. The index arithmetic over it is [`crate::ring::RingSize`]'s.

use std::marker::PhantomData;

use super::{DmaAllocator, DmaRegion};
use crate::error::{Error, Result};
use crate::regs::Descriptor;
use crate::ring::RingSize;

/// A ring of DMA descriptors of layout `D` (declared in a datasheet file) in one physically
/// contiguous DMA region: the memory both the driver and the device walk.
///
/// This is the one place that turns a ring index into a pointer into device-shared memory;
/// drivers get typed views of single descriptors from it and never hold references into the
/// ring.
pub struct DescRing<D> {
    region: DmaRegion,
    size: RingSize,
    _layout: PhantomData<fn() -> D>,
}

impl<D: Descriptor> DescRing<D> {
    /// A zeroed ring of `size` descriptors from `allocator`, contiguous for the device, whose
    /// first descriptor sits at a device address that is a multiple of `base_align` (a power of
    /// two): the alignment the device's datasheet asks of a ring's base address, which the
    /// driver passes (the 82599's `RING_BASE_ALIGN`, 128 bytes). Memory the allocator returns
    /// that does not satisfy it is refused: the device would ignore the low bits of the base.
    pub fn new<A: DmaAllocator + ?Sized>(
        allocator: &A,
        size: RingSize,
        base_align: usize,
    ) -> Result<Self> {
        let bytes = size.get() * D::SIZE;
        let region = allocator.allocate(bytes, true)?;
        let base = region.device_addr(0).unwrap_or_default();
        if region.len() < bytes
            || !(region.as_ptr() as usize).is_multiple_of(D::ALIGN)
            || !base.is_multiple_of(base_align as u64)
        {
            return Err(Error::InvalidMemoryRequest {
                problem: format!(
                    "the DMA allocator returned {} bytes at {:p} (device address {base:#x}) for a ring of {bytes} bytes whose descriptors are aligned to {} and whose device address is aligned to {base_align}",
                    region.len(),
                    region.as_ptr(),
                    D::ALIGN
                ),
            });
        }
        Ok(Self {
            region,
            size,
            _layout: PhantomData,
        })
    }

    /// Number of descriptors.
    #[inline(always)]
    pub fn size(&self) -> RingSize {
        self.size
    }

    /// Bytes the ring occupies.
    pub fn bytes(&self) -> usize {
        self.size.get() * D::SIZE
    }

    /// The device address of the first descriptor (what the device's base registers get).
    pub fn device_addr(&self) -> u64 {
        // The region is at least `bytes()` long and contiguous, so offset 0 has an address.
        self.region.device_addr(0).unwrap_or_default()
    }

    /// The region behind the ring (for code that fills it wholesale, such as virtqueues).
    pub fn region(&self) -> &DmaRegion {
        &self.region
    }

    /// A typed view of descriptor `index` (taken modulo the ring size), borrowed from the ring
    /// so that it cannot outlive the memory.
    #[inline(always)]
    pub fn get(&self, index: usize) -> DescRef<'_, D::View> {
        let i = self.size.mask(index);
        DescRef {
            // SAFETY: `i < size`, and `new` checked the region holds `size * D::SIZE` bytes at
            // an address aligned to `D::ALIGN`; `D::SIZE` is a multiple of `D::ALIGN` (the
            // generator checks it), so descriptor `i` is in bounds and aligned. The view is
            // borrowed from `self`, which owns the region, so the memory outlives it.
            view: unsafe { D::view(self.region.virt().add(i * D::SIZE)) },
            _ring: PhantomData,
        }
    }
}

/// One descriptor of a [`DescRing`]: derefs to the descriptor's typed view.
pub struct DescRef<'ring, V> {
    view: V,
    _ring: PhantomData<&'ring ()>,
}

impl<V> core::ops::Deref for DescRef<'_, V> {
    type Target = V;
    #[inline(always)]
    fn deref(&self) -> &V {
        &self.view
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::{DeviceAddresses, DmaDomain, PlainAllocator};
    use crate::regs::ixgbe::{AdvRxDesc, RING_BASE_ALIGN};

    /// Plain memory whose device addresses start at `base`: what an IOMMU mapping at an I/O
    /// address of its choosing would give.
    struct AtDeviceAddress {
        base: u64,
    }

    impl DmaAllocator for AtDeviceAddress {
        fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
            let region = PlainAllocator::new().allocate(size, contiguous)?;
            let (virt, len) = (region.virt(), region.len());
            // SAFETY: the memory belongs to `region`, which the new region keeps alive as its
            // keeper; the addresses are linear over it and no device uses them.
            Ok(unsafe {
                DmaRegion::from_shared(
                    virt,
                    len,
                    DeviceAddresses::Linear { base: self.base },
                    DmaDomain::Virtual,
                    true,
                    Arc::new(region),
                )
            })
        }
    }

    #[test]
    fn a_ring_base_off_the_devices_alignment_is_refused() {
        let size = RingSize::new(64).unwrap();
        // 64-byte aligned: fine for a 16-byte descriptor, not for an 82599 ring base.
        let off = AtDeviceAddress { base: 0x1_0040 };
        let err = DescRing::<AdvRxDesc>::new(&off, size, RING_BASE_ALIGN)
            .err()
            .expect("a ring at 0x10040 was accepted for a 128-byte aligned base");
        assert!(
            matches!(&err, Error::InvalidMemoryRequest { problem } if problem.contains("0x10040") && problem.contains("aligned to 128")),
            "{err}"
        );
        assert!(DescRing::<AdvRxDesc>::new(&off, size, AdvRxDesc::ALIGN).is_ok());
        let on = AtDeviceAddress { base: 0x1_0080 };
        let ring = DescRing::<AdvRxDesc>::new(&on, size, RING_BASE_ALIGN).unwrap();
        assert_eq!(ring.device_addr(), 0x1_0080);
        assert_eq!(ring.bytes(), 64 * 16);
    }
}
