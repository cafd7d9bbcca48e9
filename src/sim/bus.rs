//! The BAR of a simulated port: the [`Bus`] a driver's registers sit on, whose every access runs
//! the model. Accesses the bus contract forbids (misaligned, narrow or wide, outside the BAR)
//! are reported, not undefined behaviour.

use super::model::PortModel;
use super::regfile::BAR_LEN;
use super::rules;
use super::world::Shared;
use crate::memory::DmaDomain;
use crate::regs::{Bus, DmaMaster};

/// The BAR0 of a simulated port: a [`Bus`] whose every access runs the model.
#[derive(Clone)]
pub struct SimBar {
    pub(crate) shared: Shared,
    pub(crate) port: usize,
}

impl std::fmt::Debug for SimBar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBar").field("port", &self.port).finish()
    }
}

impl SimBar {
    /// A 32-bit read at any offset, checked by the model (an offset the [`Bus`] contract would
    /// forbid is reported, not undefined behaviour).
    pub fn read_raw(&self, offset: usize) -> u32 {
        self.shared.access(self.port, |d, ctx| {
            if let Some(bad) = bad_offset(d, offset, 4) {
                return bad;
            }
            d.read32(offset, ctx)
        })
    }

    /// A 32-bit write at any offset, checked by the model.
    pub fn write_raw(&self, offset: usize, value: u32) {
        self.shared.access(self.port, |d, ctx| {
            if bad_offset(d, offset, 4).is_none() {
                d.write32(offset, value, ctx);
            }
        });
    }

    fn narrow(&self, offset: usize, width: u32, write: bool) -> u32 {
        self.shared.with_dev(self.port, |d, _| {
            d.access_index += 1;
            d.report(
                rules::ACCESS_WIDTH.at_offset(offset),
                format!(
                    "{width}-bit {} at {offset:#07x}: registers take 32-bit accesses only{}",
                    if write { "write" } else { "read" },
                    if write { "; dropped" } else { "" }
                ),
            );
            d.peek(offset & !3)
        })
    }
}

/// Reports an access that is misaligned or outside the BAR; returns what a read gives then.
fn bad_offset(d: &mut PortModel, offset: usize, width: usize) -> Option<u32> {
    let rule = if offset.checked_add(width).is_none_or(|e| e > BAR_LEN) {
        rules::ACCESS_OUTSIDE_BAR
    } else if !offset.is_multiple_of(4) {
        rules::ACCESS_MISALIGNED
    } else {
        return None;
    };
    d.access_index += 1;
    d.report(
        rule.at_offset(offset),
        format!("access at {offset:#x}: registers are dword-aligned 32-bit words in a {BAR_LEN:#x}-byte BAR; the access is dropped"),
    );
    Some(!0)
}

/// A simulated port reaches the DMA memory of its world, and no other.
impl DmaMaster for SimBar {
    fn dma_domain(&self) -> DmaDomain {
        self.shared.domain
    }
}

impl Bus for SimBar {
    fn len(&self) -> usize {
        BAR_LEN
    }

    unsafe fn read8(&self, offset: usize) -> u8 {
        let v = self.narrow(offset, 8, false);
        v.to_le_bytes()[offset % 4]
    }

    unsafe fn read16(&self, offset: usize) -> u16 {
        let v = self.narrow(offset, 16, false).to_le_bytes();
        let i = (offset % 4) & !1;
        u16::from_le_bytes([v[i], v[i + 1]])
    }

    unsafe fn read32(&self, offset: usize) -> u32 {
        self.read_raw(offset)
    }

    unsafe fn read64(&self, offset: usize) -> u64 {
        self.narrow(offset, 64, false);
        let lo = self.read_raw(offset);
        // Saturating: an offset at the top of the address space is outside the BAR, reported.
        let hi = self.read_raw(offset.saturating_add(4));
        u64::from(lo) | u64::from(hi) << 32
    }

    unsafe fn write8(&self, offset: usize, _value: u8) {
        self.narrow(offset, 8, true);
    }

    unsafe fn write16(&self, offset: usize, _value: u16) {
        self.narrow(offset, 16, true);
    }

    unsafe fn write32(&self, offset: usize, value: u32) {
        self.write_raw(offset, value);
    }

    unsafe fn write64(&self, offset: usize, value: u64) {
        self.shared.with_dev(self.port, |d, _| {
            d.access_index += 1;
            d.report(
                rules::ACCESS_WIDTH.at_offset(offset),
                format!("64-bit write at {offset:#07x}: registers take 32-bit accesses only; done as two 32-bit writes"),
            );
        });
        self.write_raw(offset, value as u32);
        self.write_raw(offset.saturating_add(4), (value >> 32) as u32);
    }
}
