//! Plain anonymous memory for the simulator: the device address is the virtual address.

use std::ptr::NonNull;

use super::{
    DeviceAddresses, DmaAllocator, DmaDomain, DmaRegion, HUGE_PAGE_SIZE, base_page_size, round_up,
};
use crate::error::{Error, Result};

/// Plain memory from anonymous `mmap`, whose device addresses are its virtual addresses
/// ([`DmaDomain::Virtual`]): no device reaches it, so a driver for a device refuses it; the
/// simulator's allocator builds on it. Needs no privileges.
///
/// It enforces the same limit as the huge page provider (contiguous allocations of at most
/// [`HUGE_PAGE_SIZE`]) so that a driver tested on the simulator does not ask hardware for what
/// hardware cannot give.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainAllocator {
    _private: (),
}

impl PlainAllocator {
    /// A plain allocator.
    pub fn new() -> Self {
        PlainAllocator { _private: () }
    }
}

impl DmaAllocator for PlainAllocator {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        if contiguous && size > HUGE_PAGE_SIZE {
            return Err(Error::ContiguousTooLarge {
                size,
                max: HUGE_PAGE_SIZE,
            });
        }
        let map_len = round_up(size, base_page_size())?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
        // existing memory; the result is checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::Os {
                what: "mmap of anonymous DMA memory",
                source: std::io::Error::last_os_error(),
            });
        }
        let virt = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::Os {
            what: "mmap of anonymous DMA memory",
            source: std::io::Error::other("mmap returned address 0"),
        })?;
        // SAFETY: `virt..virt+map_len` is the fresh, zero-filled, read-write mapping made above,
        // owned by nobody else; `size <= map_len`; its addresses are virtual ones, identical to
        // the pointers and so trivially contiguous, which no device reaches.
        Ok(unsafe {
            DmaRegion::from_mmap(
                virt,
                size,
                map_len,
                DeviceAddresses::Identity,
                DmaDomain::Virtual,
                true,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_identity() {
        let region = PlainAllocator::new().allocate(10_000, false).unwrap();
        assert_eq!(region.len(), 10_000);
        assert_eq!(region.as_ptr() as usize % base_page_size(), 0);
        assert_eq!(region.device_addr(0), Some(region.as_ptr() as u64));
        assert_eq!(
            region.device_addr(9_999),
            Some(region.as_ptr() as u64 + 9_999)
        );
        assert_eq!(region.device_addr(10_000), None);
        // SAFETY: the region is 10_000 bytes long, live and not shared with any device.
        let bytes = unsafe { std::slice::from_raw_parts(region.as_ptr(), region.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn contiguous_limit_matches_huge_pages() {
        let alloc = PlainAllocator::new();
        assert!(alloc.allocate(HUGE_PAGE_SIZE, true).is_ok());
        assert!(matches!(
            alloc.allocate(HUGE_PAGE_SIZE + 1, true),
            Err(Error::ContiguousTooLarge { size, max: HUGE_PAGE_SIZE }) if size == HUGE_PAGE_SIZE + 1
        ));
        assert!(alloc.allocate(HUGE_PAGE_SIZE + 1, false).is_ok());
    }

    #[test]
    fn zero_size_is_an_error() {
        assert!(matches!(
            PlainAllocator::new().allocate(0, false),
            Err(Error::InvalidMemoryRequest { .. })
        ));
    }
}
