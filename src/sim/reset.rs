//! Resets and the link: a device reset (CTRL.RST, or a spontaneous one) and what completes after
//! it (DS 4.6.3.2), the link going down and coming up (DS 4.6.4), EICR.LSC on each change.

use std::time::Instant;

use super::Delayed;
use super::model::{Ctx, PortModel};
use super::queues::QUEUES;
use super::regfile::{fmask, slot};
use super::timing::Delay;
use crate::regs::ixgbe::{CTRL, EEC, EICR, LINKS, RDRXCTL, RegisterId};

impl PortModel {
    /// Everything a device reset does at once (DS 4.6.3.2): registers to reset values, queues
    /// stopped, DMA aborted, statistics zeroed, EEC.ARD and DMAIDONE cleared.
    pub(crate) fn device_reset(&mut self, ctx: &mut Ctx<'_>) {
        for q in 0..QUEUES {
            self.stop_rx(q, ctx);
            self.stop_tx(q, ctx);
        }
        self.load_reset_values();
        // The packet buffer is cleared: what waited there is lost, and counted.
        self.counters.rx_lost_reset += self.fifo.len() as u64;
        for (frame, _) in self.fifo.drain(..) {
            ctx.pool.put(frame.data);
        }
        self.fifo_bytes = 0;
        self.latches.clear();
        self.once.clear();
        self.ard = None;
        self.dmaidone = None;
        self.ard_seen = false;
        self.dmaidone_seen = false;
        self.eimc_after_reset = false;
        self.msix.reset();
    }

    /// A reset the device does on its own (fault injection): as a CTRL.RST write, but not a
    /// driver access, so no access rules apply.
    pub(crate) fn spontaneous_reset(&mut self, ctx: &mut Ctx<'_>) {
        self.start_reset(true, ctx);
        let s = slot(RegisterId::CTRL, 0);
        self.regs[s] = fmask(CTRL::RST);
        self.rst_pedantic_done = true;
    }

    /// Starts a reset: a device reset (`full`, CTRL.RST) or a link reset (CTRL.LRST). CTRL
    /// reads the reset bits until [`PortModel::finish_reset`].
    pub(crate) fn start_reset(&mut self, full: bool, ctx: &mut Ctx<'_>) {
        if full {
            self.device_reset(ctx);
        }
        self.link_down();
        self.link = None;
        self.reset = Some(Delay::new(Delayed::Reset, self.virt));
        self.rst_written = Some(Instant::now());
        self.rst_pedantic_done = false;
    }

    /// The reset completes: CTRL.RST and LRST clear, and the EEPROM auto-read, the DMA init and
    /// the link bring-up start.
    pub(crate) fn finish_reset(&mut self) {
        self.reset = None;
        let ctrl = self.get(RegisterId::CTRL, 0);
        self.set(
            RegisterId::CTRL,
            0,
            (CTRL::RST::CLEAR + CTRL::LRST::CLEAR).modify(ctrl),
        );
        self.reset_done = Some(Instant::now());
        self.settle_checked = false;
        self.ard = Some(Delay::new(Delayed::EepromAutoRead, self.virt));
        self.dmaidone = Some(Delay::new(Delayed::DmaInit, self.virt));
        self.link = Some(Delay::new(Delayed::Link, self.virt));
    }

    /// The EEPROM auto-read completes (EEC.ARD).
    pub(crate) fn finish_ard(&mut self) {
        self.ard = None;
        let v = self.get(RegisterId::EEC, 0);
        self.set(RegisterId::EEC, 0, EEC::ARD::SET.modify(v));
    }

    /// The DMA init completes (RDRXCTL.DMAIDONE).
    pub(crate) fn finish_dmaidone(&mut self) {
        self.dmaidone = None;
        let v = self.get(RegisterId::RDRXCTL, 0);
        self.set(RegisterId::RDRXCTL, 0, RDRXCTL::DMAIDONE::SET.modify(v));
    }

    /// The link comes up at 10 Gb/s, if the cable is there.
    pub(crate) fn finish_link(&mut self) {
        self.link = None;
        if self.carrier && !self.link_up {
            self.link_up = true;
            let links = LINKS::LINK_UP::SET + LINKS::LINK_SPEED::SPEED_10G + LINKS::KX_AN_COMP::SET;
            self.set(RegisterId::LINKS, 0, links.value);
            self.raise(fmask(EICR::LSC));
        }
    }

    /// The link goes down.
    pub(crate) fn link_down(&mut self) {
        if self.link_up {
            self.link_up = false;
            self.set(RegisterId::LINKS, 0, 0);
            self.raise(fmask(EICR::LSC));
        }
    }

    /// Fault injection: the cable (or the partner) goes away or comes back.
    pub(crate) fn set_carrier(&mut self, up: bool) {
        self.carrier = up;
        if up {
            if !self.link_up && self.link.is_none() && self.reset.is_none() {
                self.link = Some(Delay::new(Delayed::Link, self.virt));
            }
        } else {
            self.link = None;
            self.link_down();
        }
    }
}
