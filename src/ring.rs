//! Power-of-two ring index arithmetic, shared by every driver.
//!
//! Descriptor rings hold a power-of-two number of slots, so wrapping an index is a mask rather
//! than a division. Two styles of index are in use, and this module serves both.
//!
//! ## Head/tail rings (ixgbe)
//!
//! The 82599 keeps a head register written by the device and a tail register written by
//! software, both in `0..N` (datasheet 7.1.9 for receive, 7.2.3 for transmit). The device owns
//! the descriptors `head..tail-1` (modulo N); software owns the rest. Head equal to tail means
//! the device owns nothing, so software can hand over at most N-1 descriptors: a ring with all N
//! handed over would again read head == tail and look empty. The transmit path stops when
//! [`RingSize::next`] of its next slot is the oldest slot not yet cleaned, and counts what is
//! outstanding with [`RingSize::distance`]; the receive path moves the tail to the slot before
//! its next one, [`RingSize::advance`] by N-1.
//!
//! ```
//! use rixy::ring::RingSize;
//! let ring = RingSize::for_driver(512)?;
//! // Cleaned up to 510, next free slot 3: the device owns 510, 511, 0, 1, 2.
//! assert_eq!(ring.distance(510, 3), 5);
//! assert_eq!(ring.next(511), 0);
//! assert_eq!(ring.advance(3, 511), 2);
//! # Ok::<(), rixy::Error>(())
//! ```
//!
//! ## Free-running counters (virtio)
//!
//! Legacy virtio's `avail.idx` and `used.idx` never wrap at the queue size: they are free-running
//! `u16` counters that wrap at 65536 (virtio 1.0, 2.4.6 "The Virtqueue Available Ring" and 2.4.8
//! "The Virtqueue Used Ring"; the slot is `idx % queue_size`). Because the queue size is a power
//! of two no larger than 32768 (2.4 "Virtqueues"), 65536 is a multiple of it and
//! [`RingSize::slot`] stays correct across the `u16` wrap.
//!
//! ```
//! use rixy::ring::RingSize;
//! let queue = RingSize::new(256)?;
//! assert_eq!(queue.slot(65535), 255);
//! assert_eq!(queue.slot(0), 0);
//! # Ok::<(), rixy::Error>(())
//! ```

use crate::error::{Error, Result};

/// Smallest ring a driver configuration accepts (the limit Linux's ixgbe driver uses too,
/// `IXGBE_MIN_RXD`). The 82599 needs the ring length in bytes to be a multiple of 128
/// (datasheet 8.2.3.8.3 RDLEN, 8.2.3.9.7 TDLEN), which every power of two from 8 descriptors up
/// satisfies.
pub const MIN_DRIVER_RING: usize = 64;

/// Largest ring a driver configuration accepts: 4096 descriptors, the limit of ixy and of
/// Linux's ixgbe driver (`IXGBE_MAX_RXD`, `IXGBE_MAX_TXD`).
pub const MAX_DRIVER_RING: usize = 4096;

/// Largest ring [`RingSize`] can describe: a virtio queue holds at most 32768 entries
/// (virtio 1.0, 2.4 "Virtqueues").
pub const MAX_RING: usize = 32768;

/// The number of slots of a ring: a power of two between 1 and [`MAX_RING`].
///
/// All index arithmetic takes indices of any value and wraps them, so a caller can pass a raw
/// register value or a free-running counter without masking it first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RingSize {
    /// Number of slots, a power of two in `1..=MAX_RING`.
    size: u32,
}

impl RingSize {
    /// A ring of `size` slots: any power of two up to [`MAX_RING`], the range virtio queue sizes
    /// come in.
    pub const fn new(size: usize) -> Result<Self> {
        Self::in_range(size, 1, MAX_RING)
    }

    /// A ring of `size` slots for a driver configuration: a power of two in
    /// [`MIN_DRIVER_RING`]`..=`[`MAX_DRIVER_RING`].
    pub const fn for_driver(size: usize) -> Result<Self> {
        Self::in_range(size, MIN_DRIVER_RING, MAX_DRIVER_RING)
    }

    /// A ring of `size` slots where `size` must be a power of two in `min..=max` (and at most
    /// [`MAX_RING`]).
    pub const fn in_range(size: usize, min: usize, max: usize) -> Result<Self> {
        let max = if max > MAX_RING { MAX_RING } else { max };
        if size.is_power_of_two() && size >= min && size <= max {
            // `size <= MAX_RING` so the cast is lossless.
            Ok(RingSize { size: size as u32 })
        } else {
            Err(Error::InvalidRingSize { size, min, max })
        }
    }

    /// Number of slots.
    #[inline]
    pub const fn get(self) -> usize {
        self.size as usize
    }

    /// The mask that wraps an index: `size - 1`.
    #[inline]
    pub const fn mask_bits(self) -> usize {
        self.size as usize - 1
    }

    /// `i` wrapped into `0..size`.
    #[inline]
    pub const fn mask(self, i: usize) -> usize {
        i & self.mask_bits()
    }

    /// The slot after `i`, wrapped.
    #[inline]
    pub const fn next(self, i: usize) -> usize {
        self.mask(i.wrapping_add(1))
    }

    /// The slot `n` steps after `i`, wrapped.
    #[inline]
    pub const fn advance(self, i: usize, n: usize) -> usize {
        self.mask(i.wrapping_add(n))
    }

    /// How many steps forward lead from `from` to `to`, in `0..size`.
    ///
    /// Correct for indices that have already been wrapped and for free-running `usize` counters
    /// alike, because every ring size divides 2^64 (and 2^32).
    #[inline]
    pub const fn distance(self, from: usize, to: usize) -> usize {
        self.mask(to.wrapping_sub(from))
    }

    /// The slot a free-running virtio counter (`avail.idx`, `used.idx`, `last_used`) refers to.
    #[inline]
    pub const fn slot(self, counter: u16) -> usize {
        self.mask(counter as usize)
    }
}

impl std::fmt::Display for RingSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.size)
    }
}

/// A ring of DMA descriptors of layout `D` (declared in a datasheet file) in one physically
/// contiguous DMA region: the memory both the driver and the device walk.
///
/// This is the one place that turns a ring index into a pointer into device-shared memory;
/// drivers get typed views of single descriptors from it and never hold references into the
/// ring.
pub struct DescRing<D> {
    region: crate::memory::DmaRegion,
    size: RingSize,
    _layout: core::marker::PhantomData<fn() -> D>,
}

impl<D: crate::regs::Descriptor> DescRing<D> {
    /// A zeroed ring of `size` descriptors from `allocator`, contiguous for the device.
    pub fn new<A: crate::memory::DmaAllocator + ?Sized>(
        allocator: &A,
        size: RingSize,
    ) -> Result<Self> {
        let bytes = size.get() * D::SIZE;
        let region = allocator.allocate(bytes, true)?;
        if region.len() < bytes || !(region.as_ptr() as usize).is_multiple_of(D::ALIGN) {
            return Err(crate::Error::InvalidMemoryRequest {
                problem: format!(
                    "the DMA allocator returned {} bytes at {:p} for a ring of {bytes} bytes aligned to {}",
                    region.len(),
                    region.as_ptr(),
                    D::ALIGN
                ),
            });
        }
        Ok(Self {
            region,
            size,
            _layout: core::marker::PhantomData,
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
    pub fn region(&self) -> &crate::memory::DmaRegion {
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
            _ring: core::marker::PhantomData,
        }
    }
}

/// One descriptor of a [`DescRing`]: derefs to the descriptor's typed view.
pub struct DescRef<'ring, V> {
    view: V,
    _ring: core::marker::PhantomData<&'ring ()>,
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
    use super::*;

    #[test]
    fn accepts_powers_of_two_only() {
        for shift in 0..=15 {
            let n = 1usize << shift;
            assert_eq!(RingSize::new(n).unwrap().get(), n);
        }
        for bad in [0, 3, 6, 100, 65536, 1 << 20, usize::MAX] {
            assert!(
                matches!(RingSize::new(bad), Err(Error::InvalidRingSize { size, .. }) if size == bad),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn driver_range_is_64_to_4096() {
        assert!(RingSize::for_driver(32).is_err());
        assert!(RingSize::for_driver(64).is_ok());
        assert!(RingSize::for_driver(4096).is_ok());
        assert!(RingSize::for_driver(8192).is_err());
        assert!(RingSize::for_driver(1000).is_err());
        let msg = RingSize::for_driver(8192).unwrap_err().to_string();
        assert!(
            msg.contains("8192") && msg.contains("64") && msg.contains("4096"),
            "{msg}"
        );
    }

    #[test]
    fn in_range_never_exceeds_max_ring() {
        assert!(RingSize::in_range(65536, 1, usize::MAX).is_err());
        assert!(RingSize::in_range(MAX_RING, 1, usize::MAX).is_ok());
    }

    #[test]
    fn wraps_at_the_end() {
        let r = RingSize::new(8).unwrap();
        assert_eq!(r.next(7), 0);
        assert_eq!(r.advance(6, 5), 3);
        assert_eq!(r.mask(13), 5);
        assert_eq!(r.next(usize::MAX), 0);
        assert_eq!(r.advance(usize::MAX, 2), 1);
    }

    #[test]
    fn distance_counts_forward_steps() {
        let r = RingSize::new(8).unwrap();
        assert_eq!(r.distance(2, 5), 3);
        assert_eq!(r.distance(5, 2), 5);
        assert_eq!(r.distance(4, 4), 0);
        assert_eq!(r.distance(usize::MAX, 1), 2);
    }

    #[test]
    fn free_running_counters() {
        let q = RingSize::new(4).unwrap();
        assert_eq!(q.slot(65535), 3);
        assert_eq!(q.slot(65535u16.wrapping_add(1)), 0);
    }
}
