//! Faults a test injects into a port: the link, delayed bits that never complete, frames and
//! bursts, wrong receive write-backs, statistics near their wrap, surprise removal and a
//! spontaneous reset.

use super::frame::{self, Frame};
use super::port::Port;
use super::world::WorldInner;

/// The delayed state changes faults can hold back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delayed {
    /// CTRL.RST / LRST clearing themselves.
    Reset,
    /// EEC.ARD rising after a reset.
    EepromAutoRead,
    /// RDRXCTL.DMAIDONE rising after a reset.
    DmaInit,
    /// RXDCTL.ENABLE reading 1.
    RxEnable,
    /// TXDCTL.ENABLE reading 1.
    TxEnable,
    /// LINKS.LINK_UP rising.
    Link,
}

/// A receive write-back the device gets wrong (fault injection, [`Port::bad_write_backs`]): what
/// a driver's defensive receive path must survive. The frame's data is DMAed as usual (never
/// beyond BSIZEPACKET); only the descriptors that describe it lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadWriteBack {
    /// PKT_LEN of the frame's descriptor reads this many bytes, whatever was written (a value
    /// above SRRCTL.BSIZEPACKET is a length beyond the buffer).
    Length(u16),
    /// The frame's last descriptor lacks EOP, as if the frame went on in the next descriptor
    /// (DS 7.1.6.2: "EOP: end of packet").
    NoEop,
    /// The frame is spread over this many descriptors (at least 2, at most one per byte), EOP
    /// only on the last, as a frame longer than BSIZEPACKET would be (DS 7.1.6.2).
    Split(u8),
    /// The frame's last descriptor reports a MAC error (RXE in the advanced write-back, CE in
    /// the legacy one), as when FCTRL.SBP lets a bad frame through.
    MacError,
}

impl Port {
    /// Fault: the link goes down (frames arriving are lost, TX freezes, EICR.LSC is raised) or
    /// comes back (after the link delay; LSC again).
    pub fn set_link(&self, up: bool) {
        self.shared.lock().ports[self.index].dev.set_carrier(up);
    }

    /// Fault: the delayed change `d` never completes (the bit never flips).
    pub fn never_complete(&self, d: Delayed) {
        self.shared.lock().ports[self.index].dev.set_never(d, true);
    }

    /// Undoes [`Port::never_complete`]: `d` completes on the next poll or step that is due.
    pub fn allow_complete(&self, d: Delayed) {
        self.shared.lock().ports[self.index].dev.set_never(d, false);
    }

    /// Fault: `n` test frames (to the port's own address) arrive at once, on the next step.
    pub fn inject_burst(&self, n: usize) {
        let mut w = self.shared.lock();
        let WorldInner { ports, pool, .. } = &mut *w;
        for seq in 0..n {
            let mut data = pool.get();
            frame::test_frame(&mut data, self.mac, seq as u32);
            ports[self.index]
                .rx_in
                .push_back(Frame { data, fcs_ok: true });
        }
    }

    /// Puts one frame (destination MAC to payload, without FCS) on the port's wire; it arrives
    /// on the next step. With `fcs_ok = false` its FCS is wrong.
    pub fn inject_frame(&self, data: &[u8], fcs_ok: bool) {
        let mut w = self.shared.lock();
        let WorldInner { ports, pool, .. } = &mut *w;
        let mut v = pool.get();
        v.extend_from_slice(data);
        ports[self.index].rx_in.push_back(Frame { data: v, fcs_ok });
    }

    /// Fault: the next `frames` frames the port writes into its receive rings are written back
    /// wrongly, as `fault` says (after any bad write-backs still pending).
    pub fn bad_write_backs(&self, fault: BadWriteBack, frames: usize) {
        let mut w = self.shared.lock();
        let pending = &mut w.ports[self.index].dev.bad_write_backs;
        pending.extend(std::iter::repeat_n(fault, frames));
    }

    /// Bad write-backs still to come ([`Port::bad_write_backs`]).
    pub fn bad_write_backs_pending(&self) -> usize {
        self.shared.lock().ports[self.index]
            .dev
            .bad_write_backs
            .len()
    }

    /// Cancels the bad write-backs still to come: from now on every write-back is right.
    pub fn clear_bad_write_backs(&self) {
        self.shared.lock().ports[self.index]
            .dev
            .bad_write_backs
            .clear();
    }

    /// Fault: every statistics counter is set `headroom` below its wrap (2^32, or 2^36 for the
    /// octet counters).
    pub fn preload_stats(&self, headroom: u64) {
        self.shared.lock().ports[self.index]
            .dev
            .preload_stats(headroom);
    }

    /// Fault: the device falls off the bus. Every read returns 0xFFFF_FFFF, writes are ignored,
    /// DMA stops.
    pub fn surprise_removal(&self) {
        self.shared.lock().ports[self.index].dev.removed = true;
    }

    /// Fault: a spontaneous device reset (registers to defaults, queues off, DMA stopped) that
    /// completes after the reset delay.
    pub fn spontaneous_reset(&self) {
        self.shared
            .with_dev(self.index, |d, ctx| d.spontaneous_reset(ctx));
    }
}
