//! The simulator's DMA memory: every region the driver allocates is registered, and the model
//! touches memory only inside registered regions that are still alive.
//!
//! Liveness: [`SimDma::allocate`] maps memory with [`PlainAllocator`] and keeps that mapping in
//! an `Arc`; the driver gets a [`DmaRegion`] made with [`DmaRegion::from_shared`] that holds the
//! `Arc`, and the registry keeps only a `Weak`. Before every access the model upgrades the
//! `Weak`: if the driver has dropped its region the upgrade fails and the access is refused
//! (and reported), and while the upgrade is held the memory cannot be unmapped. So the model
//! never writes to memory it was not given, however wrong the addresses a driver posts.

use std::any::Any;
use std::cell::Cell;
use std::sync::{Arc, Weak};

use super::world::Shared;

use crate::error::Result;
use crate::memory::{DeviceAddresses, DmaAllocator, DmaDomain, DmaRegion, PlainAllocator};

/// A registered region: `[start, end)` in device (= virtual) addresses.
#[derive(Debug)]
struct Entry {
    start: u64,
    end: u64,
    keep: Weak<DmaRegion>,
}

/// Why a DMA access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DmaFault {
    /// No registered region contains the start address.
    Unmapped,
    /// The region that contained it has been freed by the driver.
    Freed,
    /// The access starts inside a region and runs past its end.
    CrossesEnd {
        /// Bytes left in the region from the start address.
        room: u64,
    },
}

impl DmaFault {
    pub(crate) fn describe(self) -> String {
        match self {
            DmaFault::Unmapped => {
                "the address is not in any DMA region allocated through the simulator".into()
            }
            DmaFault::Freed => "the DMA region it was in has been freed (use after free)".into(),
            DmaFault::CrossesEnd { room } => {
                format!("the access runs past the end of its DMA region ({room} bytes left there)")
            }
        }
    }
}

/// Every DMA region allocated through any port of one world.
#[derive(Debug)]
pub(crate) struct Registry {
    /// Sorted by start; the regions do not overlap.
    entries: Vec<Entry>,
    /// The index of the entry the last lookup found: accesses come in runs on one region (a
    /// ring, a buffer pool), so it is tried first.
    last: Cell<usize>,
    /// The world's DMA domain: its ports reach these regions and no other memory.
    pub(crate) domain: DmaDomain,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            entries: Vec::new(),
            last: Cell::new(0),
            domain: DmaDomain::new_model(),
        }
    }
}

impl Registry {
    fn insert(&mut self, region: &Arc<DmaRegion>) {
        self.entries.retain(|e| e.keep.strong_count() > 0);
        let start = region.as_ptr() as u64;
        let end = start + region.len() as u64;
        let at = self.entries.partition_point(|e| e.start < start);
        self.entries.insert(
            at,
            Entry {
                start,
                end,
                keep: Arc::downgrade(region),
            },
        );
    }

    fn entry(&self, addr: u64) -> Option<&Entry> {
        if let Some(e) = self.entries.get(self.last.get())
            && e.start <= addr
            && addr < e.end
        {
            return Some(e);
        }
        let i = self
            .entries
            .partition_point(|e| e.start <= addr)
            .checked_sub(1)?;
        let e = self.entries.get(i)?;
        if addr < e.end {
            self.last.set(i);
            Some(e)
        } else {
            None
        }
    }

    /// The live region holding `[addr, addr + len)`, held alive while the result lives.
    pub(crate) fn resolve(&self, addr: u64, len: usize) -> Result<Access, DmaFault> {
        let e = self.entry(addr).ok_or(DmaFault::Unmapped)?;
        let region = e.keep.upgrade().ok_or(DmaFault::Freed)?;
        let room = e.end - addr;
        if (len as u64) > room {
            return Err(DmaFault::CrossesEnd { room });
        }
        let offset = (addr - e.start) as usize;
        Ok(Access {
            region,
            offset,
            len,
        })
    }

    /// Bytes from `addr` to the end of its live region, or the fault.
    pub(crate) fn room(&self, addr: u64) -> Result<u64, DmaFault> {
        let e = self.entry(addr).ok_or(DmaFault::Unmapped)?;
        if e.keep.strong_count() == 0 {
            return Err(DmaFault::Freed);
        }
        Ok(e.end - addr)
    }

    /// Reads `out.len()` bytes at `addr`.
    pub(crate) fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), DmaFault> {
        let a = self.resolve(addr, out.len())?;
        // SAFETY: `a` holds the region alive (the mapping cannot go away even if the driver
        // drops its region on another thread meanwhile) and `offset + len` lies inside it
        // (checked by `resolve`). The bytes are copied through raw pointers: the model never
        // forms a Rust reference (`&[u8]`, `&mut [u8]`) into driver-visible memory, so a driver
        // thread reading or writing other descriptors and buffers of the same region at the same
        // time (which it does through raw pointers too, fenced by its own protocol) aliases no
        // reference. The bytes copied are the device's by the descriptor protocol (handed over
        // by a tail write, which took the world's lock after the driver's writes, so they are
        // visible here); a driver that writes them while the device owns them breaks that
        // protocol and races the copy as it would race a real device's DMA (torn bytes, which
        // the model checks like any other descriptor content).
        unsafe {
            std::ptr::copy_nonoverlapping(a.ptr(), out.as_mut_ptr(), out.len());
        }
        Ok(())
    }

    /// Writes `data` at `addr`.
    pub(crate) fn write(&self, addr: u64, data: &[u8]) -> Result<(), DmaFault> {
        let a = self.resolve(addr, data.len())?;
        // SAFETY: as in `read`; the region is writable memory we handed out for DMA, and the
        // bytes written are the device's by the descriptor protocol until a write-back hands
        // them back: the driver reads them only after it has seen DD (written last, after the
        // release fence of `write_u32_release`) and its own acquire fence, or after a register
        // read (the head) that took the world's lock after this write, as against real DMA.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), a.ptr(), data.len());
        }
        Ok(())
    }

    /// Reads a little-endian u64 at `addr`.
    #[cfg(test)]
    pub(crate) fn read_u64(&self, addr: u64) -> Result<u64, DmaFault> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u32 at `addr` after a release fence, so that everything the model
    /// wrote before (a descriptor's body, the packet data) is visible before it (the DD bit).
    pub(crate) fn write_u32_release(&self, addr: u64, v: u32) -> Result<(), DmaFault> {
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        self.write(addr, &v.to_le_bytes())
    }
}

/// A checked window onto a live region.
pub(crate) struct Access {
    region: Arc<DmaRegion>,
    offset: usize,
    len: usize,
}

impl Access {
    fn ptr(&self) -> *mut u8 {
        debug_assert!(self.offset + self.len <= self.region.len());
        // SAFETY: `offset <= region.len()` (checked in `resolve`), so the result stays inside
        // (or one past the end of) the region's mapping.
        unsafe { self.region.as_ptr().add(self.offset) }
    }
}

/// The simulator's DMA allocator, handed to drivers by [`Port::dma`](super::Port::dma): anonymous
/// memory whose device address is its virtual address, registered with the world so the model
/// can check every DMA access against it.
#[derive(Clone)]
pub struct SimDma {
    pub(crate) shared: Shared,
}

impl std::fmt::Debug for SimDma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDma").finish_non_exhaustive()
    }
}

impl DmaAllocator for SimDma {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        let inner = Arc::new(PlainAllocator::new().allocate(size, contiguous)?);
        self.shared.lock().dma.insert(&inner);
        let virt = inner.virt();
        let len = inner.len();
        let mapped = inner.mapped_len();
        let keeper: Arc<dyn Any + Send + Sync> = inner;
        let domain = self.shared.domain;
        // SAFETY: `virt..virt+len` is the fresh mapping owned by `inner`, which `keeper` is and
        // which the new region holds, so the memory lives as long as the region; identity
        // addressing matches PlainAllocator's, and the world's ports reach the region at those
        // addresses (it is registered above); a PlainAllocator region is one contiguous run.
        Ok(unsafe {
            DmaRegion::from_shared(virt, len, DeviceAddresses::Identity, domain, true, keeper)
        }
        .with_shared_mapped_len(mapped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_regions_are_refused() {
        let world = crate::sim::World::new();
        let dma = world.add_port(crate::sim::PortConfig::default()).dma();
        let r = dma.allocate(4096, true).unwrap();
        let a = r.as_ptr() as u64;
        {
            let reg = &dma.shared.lock().dma;
            reg.write(a + 8, &[1, 2, 3]).unwrap();
            let mut out = [0u8; 3];
            reg.read(a + 8, &mut out).unwrap();
            assert_eq!(out, [1, 2, 3]);
            assert_eq!(
                reg.write(a + 4094, &[0; 4]),
                Err(DmaFault::CrossesEnd { room: 2 })
            );
            assert_eq!(reg.read_u64(8), Err(DmaFault::Unmapped));
        }
        drop(r);
        assert_eq!(dma.shared.lock().dma.write(a, &[0]), Err(DmaFault::Freed));
    }
}
