//! Statistics (DS 8.2.3.23): clear-on-read counters that wrap, the 36-bit octet counters read
//! low half first, the receive counters and their per-queue map, and the preload fault.

use super::model::PortModel;
use super::regfile::{Decoded, slot};
use super::rules;
use super::rx_filter::{KIND_BROADCAST, KIND_MULTICAST};
use crate::regs::Access;
use crate::regs::ixgbe::{RQSMR, RegisterId};

/// The high half of a 36-bit statistics counter whose low half is `id`, and back.
pub(crate) fn stat_pair(id: RegisterId) -> Option<(RegisterId, RegisterId)> {
    use RegisterId as R;
    Some(match id {
        R::GORCL | R::GORCH => (R::GORCL, R::GORCH),
        R::GOTCL | R::GOTCH => (R::GOTCL, R::GOTCH),
        R::TORL | R::TORH => (R::TORL, R::TORH),
        R::QBRC_L | R::QBRC_H => (R::QBRC_L, R::QBRC_H),
        R::QBTC_L | R::QBTC_H => (R::QBTC_L, R::QBTC_H),
        _ => return None,
    })
}

impl PortModel {
    /// A read of a statistics counter, which clears it. The 36-bit ones latch their high half
    /// when the low half is read and clear the whole counter when the high half is read (the
    /// order the 82599's sibling controllers document: low half first).
    pub(crate) fn read_clear(&mut self, d: Decoded, v: u32) -> u32 {
        if let Some((lo, hi)) = stat_pair(d.id) {
            let hslot = slot(hi, d.idx);
            if d.id == lo {
                let h = self.regs[hslot];
                self.latches.retain(|&(s, _)| s != hslot);
                self.latches.push((hslot, h));
                self.regs[d.slot] = 0;
                return v;
            }
            let latched = self.latches.iter().position(|&(s, _)| s == hslot);
            self.regs[d.slot] = 0;
            return match latched {
                Some(i) => self.latches.swap_remove(i).1,
                None => {
                    if self.once(rules::STAT_HIGH_WITHOUT_LOW, d.slot as u32) {
                        self.report(
                            rules::STAT_HIGH_WITHOUT_LOW.on_register(d.named).value(u64::from(v)),
                            format!(
                                "the high half of a 36-bit counter was read without reading {} first; the low half must be read first",
                                lo.info().name
                            ),
                        );
                    }
                    v
                }
            };
        }
        self.regs[d.slot] = 0;
        v
    }

    /// Sets the statistics counters to `headroom` below their wrap (2^32 or 2^36).
    pub(crate) fn preload_stats(&mut self, headroom: u64) {
        for id in RegisterId::all() {
            let info = id.info();
            if info.alias_of.is_some() || info.access != Access::Rc {
                continue;
            }
            for idx in 0..info.count {
                match stat_pair(id) {
                    Some((lo, hi)) if id == lo => {
                        let v = (1u64 << 36).wrapping_sub(headroom) & ((1 << 36) - 1);
                        self.set(lo, idx, v as u32);
                        self.set(hi, idx, (v >> 32) as u32);
                    }
                    Some(_) => {}
                    None => {
                        let v = (1u64 << 32).wrapping_sub(headroom) as u32;
                        self.set(id, idx, v);
                    }
                }
            }
        }
    }

    /// Adds to a 32-bit statistics counter (wrapping: the model does not saturate).
    #[inline]
    pub(crate) fn count(&mut self, id: RegisterId, idx: usize, n: u32) {
        let s = slot(id, idx);
        self.regs[s] = self.regs[s].wrapping_add(n);
    }

    /// Adds to a 36-bit statistics counter given by its low half.
    #[inline]
    pub(crate) fn count36(&mut self, lo: RegisterId, hi: RegisterId, idx: usize, n: u64) {
        let ls = slot(lo, idx);
        let hs = slot(hi, idx);
        let total = (u64::from(self.regs[hs] & 0xF) << 32 | u64::from(self.regs[ls]))
            .wrapping_add(n)
            & ((1 << 36) - 1);
        self.regs[ls] = total as u32;
        self.regs[hs] = (total >> 32) as u32;
    }

    /// Counts a good received frame of `wire` bytes (FCS included) of filter kind `kind`.
    pub(crate) fn count_good_rx(&mut self, kind: u8, wire: usize) {
        use RegisterId as R;
        self.count(R::GPRC, 0, 1);
        self.count36(R::GORCL, R::GORCH, 0, wire as u64);
        match kind {
            KIND_BROADCAST => self.count(R::BPRC, 0, 1),
            KIND_MULTICAST => self.count(R::MPRC, 0, 1),
            _ => {}
        }
    }

    /// The per-queue statistics counter RQSMR maps RX queue `q` to.
    pub(crate) fn stat_counter(&self, q: usize) -> usize {
        let m = self.get(RegisterId::RQSMR, q / 4);
        (match q % 4 {
            0 => RQSMR::Q_MAP0.read(m),
            1 => RQSMR::Q_MAP1.read(m),
            2 => RQSMR::Q_MAP2.read(m),
            _ => RQSMR::Q_MAP3.read(m),
        }) as usize
    }
}
