//! The register file: one `u32` of storage per register element, in one flat slice, and the
//! reset values it is loaded with. What a read or write of a register does is in `access.rs`.

use std::sync::OnceLock;

use tock_registers::RegisterLongName;
use tock_registers::fields::Field;

use super::model::PortModel;
use crate::regs::ixgbe::{RAH, RegisterId, lookup};

/// Bytes of register window a [`SimBar`](super::SimBar) covers: the 128 KiB register space
/// (DS 8.1) plus room for the flash window, 512 KiB in all.
pub(crate) const BAR_LEN: usize = 512 * 1024;

/// The mask of a field in its register's position.
pub(crate) fn fmask<R: RegisterLongName>(f: Field<u32, R>) -> u32 {
    f.mask << f.shift
}

/// Where each register's storage starts in the flat register file (an alias, the same
/// register at another address, shares its target's storage).
struct Layout {
    base: Vec<u32>,
    total: usize,
}

fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let ids: Vec<RegisterId> = RegisterId::all().collect();
        let max = ids.iter().map(|&id| id as usize).max().unwrap_or(0);
        let mut base = vec![0u32; max + 1];
        let mut total = 0usize;
        for &id in &ids {
            if id.info().alias_of.is_none() {
                base[id as usize] = total as u32;
                total += id.info().count;
            }
        }
        for &id in &ids {
            if let Some(target) = id.info().alias_of {
                base[id as usize] = base[target as usize];
            }
        }
        Layout { base, total }
    })
}

/// Storage slot of element `idx` of register `id`.
#[inline]
pub(crate) fn slot(id: RegisterId, idx: usize) -> usize {
    layout().base[id as usize] as usize + idx
}

/// A register file of zeros, one slot per register element.
pub(crate) fn blank() -> Box<[u32]> {
    vec![0u32; layout().total].into_boxed_slice()
}

/// A register read or written, decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoded {
    /// The register's storage identity (an alias resolved to its target).
    pub(crate) id: RegisterId,
    /// The register as addressed (the alias name, if an alias was used).
    pub(crate) named: RegisterId,
    pub(crate) idx: usize,
    pub(crate) slot: usize,
}

/// The register at `offset`, if one is declared there.
pub(crate) fn decode(offset: usize) -> Option<Decoded> {
    let (named, idx) = lookup(offset)?;
    let id = named.info().alias_of.unwrap_or(named);
    Some(Decoded {
        id,
        named,
        idx,
        slot: slot(id, idx),
    })
}

impl PortModel {
    /// Element `idx` of register `id` as stored.
    #[inline]
    pub(crate) fn get(&self, id: RegisterId, idx: usize) -> u32 {
        self.regs[slot(id, idx)]
    }

    /// Stores `v` in element `idx` of register `id`, without side effects.
    #[inline]
    pub(crate) fn set(&mut self, id: RegisterId, idx: usize, v: u32) {
        self.regs[slot(id, idx)] = v;
    }

    /// Every register to its reset value. Overrides of the datasheet file's reset values:
    /// `RAL`/`RAH[0]` hold the port's MAC from the EEPROM with AV set (DS 8.2.3.7.9), which a
    /// datasheet file cannot know; strict mode fills the MTA with garbage, since its reset value
    /// is not guaranteed (DS 8.2.3.7.7 "should be zeroed by software").
    pub(crate) fn load_reset_values(&mut self) {
        for id in RegisterId::all() {
            let info = id.info();
            if info.alias_of.is_some() {
                continue;
            }
            for idx in 0..info.count {
                self.regs[slot(id, idx)] = info.reset as u32;
            }
        }
        let m = self.cfg.mac;
        self.set(
            RegisterId::RAL,
            0,
            u32::from_le_bytes([m[0], m[1], m[2], m[3]]),
        );
        let high = u32::from(u16::from_le_bytes([m[4], m[5]]));
        let rah = RAH::RAH::val_checked(high).unwrap_or(RAH::RAH::CLEAR) + RAH::AV::SET;
        self.set(RegisterId::RAH, 0, rah.value);
        if self.cfg.strict {
            let mut x = 0x9E37_79B9u32 ^ self.lan_id;
            for i in 0..RegisterId::MTA.info().count {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                self.set(RegisterId::MTA, i, x);
            }
        }
        self.rebuild_rar();
    }

    /// The receive addresses the L2 filter matches: every RAL/RAH pair with AV set.
    pub(crate) fn rebuild_rar(&mut self) {
        self.rar.clear();
        for i in 0..RegisterId::RAH.info().count {
            let rah = self.get(RegisterId::RAH, i);
            if RAH::AV.is_set(rah) {
                let l = self.get(RegisterId::RAL, i).to_le_bytes();
                let h = (RAH::RAH.read(rah) as u16).to_le_bytes();
                self.rar.push([l[0], l[1], l[2], l[3], h[0], h[1]]);
            }
        }
    }
}
