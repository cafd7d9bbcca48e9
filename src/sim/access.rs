//! What a register access does: the side effects of each register's reads and writes, and the
//! checks every access goes through (reset in progress, init order, reserved and read-only
//! bits). Registers with no behaviour of their own act as their access type says.

use std::time::Duration;

use super::Delayed;
use super::model::{Ctx, PortModel};
use super::queues::QState;
use super::regfile::{Decoded, decode, fmask, slot};
use super::report::Direction;
use super::rules;
use super::timing::Delay;
use crate::regs::Access;
use crate::regs::ixgbe::{
    AUTOC, CTRL, DTXMXSZRQ, EEC, EIMC, FCTRL, RAH, RDRXCTL, RXCTRL, RXDCTL, RXPBSIZE, RegisterId,
    SECRXSTAT, STATUS, SW_FW_SYNC, SWSM, TXDCTL, TXPBSIZE,
};

/// Registers whose writes configure the RX or TX path (for the init-order rule).
fn is_datapath_config(id: RegisterId) -> bool {
    use RegisterId as R;
    matches!(
        id,
        R::RXCTRL
            | R::RDBAL
            | R::RDBAH
            | R::RDLEN
            | R::RDT
            | R::RXDCTL
            | R::SRRCTL
            | R::RDRXCTL
            | R::TDBAL
            | R::TDBAH
            | R::TDLEN
            | R::TDT
            | R::TXDCTL
            | R::DMATXCTL
            | R::FCTRL
            | R::HLREG0
    )
}

/// Reserved bits of the registers where the checker looks for stray ones (only registers drivers
/// are known to write whole): every bit no declared field covers.
fn reserved_mask(id: RegisterId) -> u32 {
    match id {
        RegisterId::EIMC => !fmask(EIMC::CAUSES),
        RegisterId::DTXMXSZRQ => !fmask(DTXMXSZRQ::MAX_BYTES_NUM_REQ),
        RegisterId::TXDCTL => {
            !(fmask(TXDCTL::PTHRESH)
                | fmask(TXDCTL::HTHRESH)
                | fmask(TXDCTL::WTHRESH)
                | fmask(TXDCTL::ENABLE)
                | fmask(TXDCTL::SWFLSH))
        }
        _ => 0,
    }
}

/// Read-only bits inside read/write registers.
fn ro_bits(id: RegisterId) -> u32 {
    match id {
        RegisterId::EEC => {
            fmask(EEC::EE_GNT)
                | fmask(EEC::EE_PRES)
                | fmask(EEC::ARD)
                | fmask(EEC::EE_ADDR_SIZE)
                | fmask(EEC::EE_SIZE)
        }
        RegisterId::RDRXCTL => fmask(RDRXCTL::DMAIDONE),
        _ => 0,
    }
}

impl PortModel {
    fn access_timing_checks(&mut self) {
        if !self.rst_pedantic_done
            && let Some(t) = self.rst_written
        {
            if t.elapsed() < Duration::from_millis(1) {
                self.rst_pedantic_done = true;
                self.report(
                    rules::ACCESS_WITHIN_1MS_OF_RESET.on("CTRL"),
                    "a register was accessed less than 1 ms after CTRL.RST was set (the datasheet asks to wait about 1 ms before polling it or touching any register)",
                );
            } else {
                self.rst_pedantic_done = true;
            }
        }
    }

    /// A 32-bit read at a dword-aligned offset inside the BAR.
    pub(crate) fn read32(&mut self, offset: usize, ctx: &mut Ctx<'_>) -> u32 {
        self.access_index += 1;
        if self.removed {
            return !0;
        }
        self.access_timing_checks();
        let Some(d) = decode(offset) else {
            if self.once(rules::UNDEFINED_OFFSET, offset as u32) {
                self.report(
                    rules::UNDEFINED_OFFSET.at_offset(offset),
                    format!("read of {offset:#07x}, where no register is defined; it reads 0"),
                );
            }
            return 0;
        };
        self.read_decoded(d, ctx)
    }

    fn read_decoded(&mut self, d: Decoded, ctx: &mut Ctx<'_>) -> u32 {
        use RegisterId as R;
        let v = self.regs[d.slot];
        match d.id {
            R::CTRL => {
                if Self::fires_on_read(&self.never, &self.delays, &mut self.reset) {
                    self.finish_reset();
                }
                self.regs[d.slot]
            }
            R::STATUS => {
                let mut s = v;
                let lan = if self.lan_id & 1 == 0 {
                    STATUS::LAN_ID::LAN0
                } else {
                    STATUS::LAN_ID::LAN1
                };
                s = lan.modify(s);
                if self.link_up {
                    s = STATUS::LINK_UP::SET.modify(s);
                }
                if CTRL::GIO_MASTER_DISABLE.is_set(self.get(R::CTRL, 0)) {
                    s = STATUS::GIO_MASTER_ENABLE_STATUS::CLEAR.modify(s);
                }
                s
            }
            R::EEC => {
                if Self::fires_on_read(&self.never, &self.delays, &mut self.ard) {
                    self.finish_ard();
                }
                let v = self.regs[d.slot];
                if EEC::ARD.is_set(v) {
                    self.ard_seen = true;
                }
                v
            }
            R::RDRXCTL => {
                if Self::fires_on_read(&self.never, &self.delays, &mut self.dmaidone) {
                    self.finish_dmaidone();
                }
                let v = self.regs[d.slot];
                if RDRXCTL::DMAIDONE.is_set(v) {
                    self.dmaidone_seen = true;
                }
                v
            }
            R::LINKS => {
                if Self::fires_on_read(&self.never, &self.delays, &mut self.link) {
                    self.finish_link();
                }
                self.regs[d.slot]
            }
            R::RXDCTL => {
                let q = d.idx;
                if Self::fires_on_read(&self.never, &self.delays, &mut self.rxq[q].delay) {
                    self.latch_rx(q, ctx);
                }
                let v = self.regs[d.slot];
                if RXDCTL::ENABLE.is_set(v) {
                    self.rxq[q].enable_seen = true;
                }
                v
            }
            R::TXDCTL => {
                let q = d.idx;
                if Self::fires_on_read(&self.never, &self.delays, &mut self.txq[q].delay) {
                    self.latch_tx(q, ctx);
                }
                let v = self.regs[d.slot];
                if TXDCTL::ENABLE.is_set(v) {
                    self.txq[q].enable_seen = true;
                }
                v
            }
            R::EICR => self.read_eicr(d.slot, v),
            // Reading EICS returns the causes without clearing them.
            R::EICS => self.get(R::EICR, 0),
            R::SECRXSTAT => SECRXSTAT::SECRX_RDY::SET.modify(v),
            R::SWSM => {
                // The semaphore is always free: the first reader gets SMBI = 0 and owns it.
                self.regs[d.slot] = SWSM::SMBI::SET.modify(v);
                v
            }
            _ => self.read_generic(d, v),
        }
    }

    fn read_generic(&mut self, d: Decoded, v: u32) -> u32 {
        match d.id.info().access {
            Access::Rw | Access::Ro | Access::W1c | Access::W1s => v,
            Access::Wo => {
                if self.once(rules::READ_WRITE_ONLY, d.slot as u32) {
                    self.report(
                        rules::READ_WRITE_ONLY.on_register(d.named),
                        "read of a write-only register; it reads 0",
                    );
                }
                0
            }
            Access::Rc | Access::RcW1c => self.read_clear(d, v),
        }
    }

    /// The value a read would return, without side effects (for tests and narrow accesses).
    pub(crate) fn peek(&self, offset: usize) -> u32 {
        if self.removed {
            return !0;
        }
        match decode(offset) {
            Some(d) => match d.id {
                RegisterId::EICS => self.get(RegisterId::EICR, 0),
                _ => self.regs[d.slot],
            },
            None => 0,
        }
    }

    /// A 32-bit write at a dword-aligned offset inside the BAR.
    pub(crate) fn write32(&mut self, offset: usize, v: u32, ctx: &mut Ctx<'_>) {
        self.access_index += 1;
        if self.removed {
            return;
        }
        self.access_timing_checks();
        let Some(d) = decode(offset) else {
            if self.once(rules::UNDEFINED_OFFSET, offset as u32) {
                self.report(
                    rules::UNDEFINED_OFFSET.at_offset(offset),
                    format!(
                        "write of {v:#x} to {offset:#07x}, where no register is defined; ignored"
                    ),
                );
            }
            return;
        };
        let info = d.named.info();
        if self.reset.is_some() && d.id != RegisterId::CTRL {
            self.report(
                rules::WRITE_DURING_RESET.on(info.name).value(u64::from(v)),
                "write while the device reset is still in progress (CTRL.RST reads 1); the device drops it",
            );
            return;
        }
        if !self.settle_checked {
            self.settle_checked = true;
            if let Some(t) = self.reset_done
                && t.elapsed() < Duration::from_millis(10)
            {
                self.report(
                    rules::WRITE_BEFORE_RESET_SETTLED.on(info.name).value(u64::from(v)),
                    format!(
                        "first write {:?} after the reset completed; the datasheet asks to wait at least 10 ms",
                        t.elapsed()
                    ),
                );
            }
        }
        if is_datapath_config(d.id)
            && !(self.ard_seen && self.dmaidone_seen)
            && self.once(rules::CONFIG_BEFORE_INIT_DONE, 0)
        {
            self.report(
                rules::CONFIG_BEFORE_INIT_DONE
                    .on(info.name)
                    .value(u64::from(v)),
                format!(
                    "RX/TX configuration written before {} was read as 1 since the last reset",
                    if self.ard_seen {
                        "RDRXCTL.DMAIDONE"
                    } else {
                        "EEC.ARD"
                    }
                ),
            );
        }
        let reserved = reserved_mask(d.id) & v;
        if reserved != 0 {
            self.report(
                rules::RESERVED_BITS_WRITTEN
                    .on_register(d.named)
                    .value(u64::from(v)),
                format!("1s written to reserved bits {reserved:#x}"),
            );
        }
        let old = self.regs[d.slot];
        let ro = ro_bits(d.id);
        if ro != 0 && (old ^ v) & ro != 0 {
            self.report(
                rules::WRITE_RO_BITS
                    .on_register(d.named)
                    .value(u64::from(v)),
                format!(
                    "write changes read-only bits {:#x} (they read {:#x}); the device ignores them",
                    ro,
                    old & ro
                ),
            );
        }
        let v = (v & !ro) | (old & ro);
        self.write_decoded(d, old, v, ctx);
    }

    fn write_decoded(&mut self, d: Decoded, old: u32, v: u32, ctx: &mut Ctx<'_>) {
        use RegisterId as R;
        let info = d.named.info();
        match d.id {
            R::CTRL => {
                let rst = CTRL::RST.is_set(v);
                let lrst = CTRL::LRST.is_set(v);
                self.regs[d.slot] = v;
                if rst || lrst {
                    self.start_reset(rst, ctx);
                    // Reset values are loaded; CTRL shows the reset bits until it completes.
                    let s = slot(R::CTRL, 0);
                    self.regs[s] = v & (fmask(CTRL::RST) | fmask(CTRL::LRST));
                }
            }
            R::EICR => self.regs[d.slot] &= !v,
            R::EICS => self.write_eics(v),
            R::EITR => self.write_eitr(d.slot, d.idx, v),
            R::IVAR => self.write_ivar(d.slot, d.idx, v),
            R::EIMS => self.write_eims(d.slot, v),
            R::EIMC => self.write_eimc(v),
            R::AUTOC => {
                if AUTOC::RESTART_AN.is_set(v) {
                    if !SW_FW_SYNC::SW_MAC_CSR_SM.is_set(self.get(R::SW_FW_SYNC, 0))
                        && self.once(rules::AUTOC_WITHOUT_SEMAPHORE, 0)
                    {
                        self.report(
                            rules::AUTOC_WITHOUT_SEMAPHORE.on("AUTOC").value(u64::from(v)),
                            "AUTOC written without holding SW_FW_SYNC.SW_MAC_CSR_SM (Linux takes it; harmless without manageability firmware)",
                        );
                    }
                    // Restart_AN clears itself; the link drops and comes back (DS 4.6.4).
                    self.link_down();
                    self.link = Some(Delay::new(Delayed::Link, self.virt));
                }
                self.regs[d.slot] = AUTOC::RESTART_AN::CLEAR.modify(v);
            }
            R::RXCTRL => {
                self.regs[d.slot] = v;
                if RXCTRL::RXEN.is_set(v) && !RXCTRL::RXEN.is_set(old) {
                    self.rxen_rising(v);
                }
            }
            R::FCTRL | R::VLNCTRL | R::MTA | R::RAL | R::RAH | R::MCSTCTRL => {
                let rxen = RXCTRL::RXEN.is_set(self.get(R::RXCTRL, 0));
                if rxen && old != v {
                    self.report(
                        rules::FILTER_CHANGED_WHILE_RXEN.on(info.name).value(u64::from(v)),
                        format!("receive filter register changed from {old:#x} while RXCTRL.RXEN = 1; clear RXEN before changing filters"),
                    );
                }
                if d.id == R::RAH
                    && d.idx == 0
                    && RAH::AV.is_set(old)
                    && !RAH::AV.is_set(v)
                    && !FCTRL::UPE.is_set(self.get(R::FCTRL, 0))
                {
                    self.report(
                        rules::RAH0_AV_CLEARED.on(info.name).value(u64::from(v)),
                        "RAH[0].AV cleared while FCTRL.UPE = 0: the port's own address no longer matches, so unicast frames to it are dropped",
                    );
                }
                self.regs[d.slot] = v;
                if matches!(d.id, R::RAL | R::RAH) {
                    self.rebuild_rar();
                }
            }
            R::RDBAL | R::RDBAH | R::RDLEN | R::SRRCTL => {
                let q = d.idx;
                if self.rxq[q].state != QState::Disabled && old != v {
                    let ring = self.rx_ring(q);
                    self.report(
                        rules::RING_REGISTER_WRITTEN_WHILE_ENABLED
                            .on_register(d.named)
                            .value(u64::from(v))
                            .ring(ring),
                        format!("changed from {old:#x} while RX queue {q} is enabled; the device keeps using the old value"),
                    );
                }
                self.regs[d.slot] = v;
            }
            R::TDBAL | R::TDBAH | R::TDLEN => {
                let q = d.idx;
                if self.txq[q].state != QState::Disabled && old != v {
                    let ring = self.tx_ring(q);
                    self.report(
                        rules::RING_REGISTER_WRITTEN_WHILE_ENABLED
                            .on_register(d.named)
                            .value(u64::from(v))
                            .ring(ring),
                        format!("changed from {old:#x} while TX queue {q} is enabled; the device keeps using the old value"),
                    );
                }
                self.regs[d.slot] = v;
            }
            R::RDH => self.write_head(Direction::Rx, d.idx, v),
            R::TDH => self.write_head(Direction::Tx, d.idx, v),
            R::RDT => self.write_rdt(d.idx, v, ctx),
            R::TDT => self.write_tdt(d.idx, v, ctx),
            R::RXDCTL => self.write_rxdctl(d.idx, v, ctx),
            R::TXDCTL => self.write_txdctl(d.idx, v, ctx),
            R::RXPBSIZE | R::TXPBSIZE => {
                self.regs[d.slot] = v;
                let expected = if d.id == R::RXPBSIZE {
                    RegisterId::RXPBSIZE.info().reset as u32
                } else {
                    RegisterId::TXPBSIZE.info().reset as u32
                };
                if d.idx == 0 && v != expected && self.once(rules::PACKET_BUFFER_SIZE, d.id as u32)
                {
                    let kb = if d.id == R::RXPBSIZE {
                        RXPBSIZE::SIZE.read(v)
                    } else {
                        TXPBSIZE::SIZE.read(v)
                    };
                    self.report(
                        rules::PACKET_BUFFER_SIZE.on(info.name).value(u64::from(v)),
                        format!(
                            "packet buffer 0 set to {kb} KB; with a single buffer DS 4.6.11.3.4 keeps the full size ({:#x})",
                            expected
                        ),
                    );
                }
                if d.id == R::TXPBSIZE {
                    self.arbiter_check(info.name, v);
                }
            }
            R::DTXMXSZRQ => {
                self.regs[d.slot] = v;
                self.arbiter_check(info.name, v);
            }
            R::SECRXCTRL => self.regs[d.slot] = v,
            _ => self.write_generic(d, old, v),
        }
    }

    fn write_generic(&mut self, d: Decoded, old: u32, v: u32) {
        let info = d.named.info();
        match info.access {
            Access::Rw => self.regs[d.slot] = v,
            Access::W1c | Access::RcW1c => self.regs[d.slot] &= !v,
            Access::W1s => self.regs[d.slot] |= v,
            Access::Wo => {}
            Access::Ro | Access::Rc => {
                if old != v {
                    self.report(
                        rules::WRITE_READ_ONLY
                            .on_register(d.named)
                            .value(u64::from(v)),
                        format!(
                            "write of {v:#x} to a read-only register (it reads {old:#x}); ignored"
                        ),
                    );
                }
            }
        }
    }
}
