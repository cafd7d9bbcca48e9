//! The transmit data path (DS 7.2): gather from TDH to EOP, advanced and legacy
//! descriptors on the same ring, padding and FCS, DD write-back with RS / WTHRESH batching,
//! head write-back.

use std::mem;

use super::Fetch;
use super::frame::{Frame, crc32};
use super::model::{Ctx, PortModel};
use super::queues::{DESC, QState};
use super::report::Direction;
use super::rules;
use super::rx::{u32_at, u64_at};
use super::tails::release_tx;
use crate::regs::ixgbe::{
    DMATXCTL, HLREG0, MAX_TX_DESC_PER_PACKET, MIN_TX_PAYLEN, RegisterId, TDWBAL, TXDCTL,
    adv_tx_desc, legacy_tx_desc,
};
use adv_tx_desc::to_device::{CMD_TYPE_LEN, OLINFO_STATUS};
use legacy_tx_desc::CMD as LCMD;

/// Length of the shortest frame the padding produces (64 with the FCS).
const PAD_TO: usize = 60;
/// Largest frame without jumbo frames, without FCS.
const MAX_DATA: usize = 1514;

/// One transmit descriptor, decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxDesc {
    slot: u32,
    addr: u64,
    len: usize,
    dext: bool,
    dtyp: u32,
    eop: bool,
    ifcs: bool,
    rs: bool,
    tse: bool,
    paylen: u32,
}

fn decode(slot: u32, d: &[u8; 16]) -> TxDesc {
    let cmd = u32_at(d, adv_tx_desc::to_device::CMD_TYPE_LEN_OFFSET);
    if CMD_TYPE_LEN::DEXT.is_set(cmd) {
        let oli = u32_at(d, adv_tx_desc::to_device::OLINFO_STATUS_OFFSET);
        TxDesc {
            slot,
            addr: u64_at(d, adv_tx_desc::to_device::BUFFER_ADDR_OFFSET),
            len: CMD_TYPE_LEN::DTALEN.read(cmd) as usize,
            dext: true,
            dtyp: CMD_TYPE_LEN::DTYP.read(cmd),
            eop: CMD_TYPE_LEN::EOP.is_set(cmd),
            ifcs: CMD_TYPE_LEN::IFCS.is_set(cmd),
            rs: CMD_TYPE_LEN::RS.is_set(cmd),
            tse: CMD_TYPE_LEN::TSE.is_set(cmd),
            paylen: OLINFO_STATUS::PAYLEN.read(oli),
        }
    } else {
        let c = d[legacy_tx_desc::CMD_OFFSET];
        let len = u16::from_le_bytes([
            d[legacy_tx_desc::LENGTH_OFFSET],
            d[legacy_tx_desc::LENGTH_OFFSET + 1],
        ]);
        TxDesc {
            slot,
            addr: u64_at(d, legacy_tx_desc::BUFFER_ADDR_OFFSET),
            len: usize::from(len),
            dext: false,
            dtyp: 0,
            eop: LCMD::EOP.is_set(c),
            ifcs: LCMD::IFCS.is_set(c),
            rs: LCMD::RS.is_set(c),
            tse: false,
            paylen: 0,
        }
    }
}

impl TxDesc {
    fn is_context(&self) -> bool {
        self.dext && self.dtyp == 2
    }
    fn carries_data(&self) -> bool {
        !self.is_context() && self.len > 0
    }
}

impl PortModel {
    /// Reads descriptor `s` of TX queue `q` from its ring in memory; a ring the device cannot
    /// read is an ERROR report and stops the queue.
    fn read_desc_tx(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) -> Option<[u8; 16]> {
        let addr = self.txq[q].base + u64::from(s) * DESC;
        let mut d = [0u8; 16];
        self.counters.descriptor_reads += 1;
        if let Err(f) = ctx.dma.read(addr, &mut d) {
            let ring = self.tx_ring(q);
            self.report(
                rules::RING_DMA_FAULT
                    .on("TDBAL")
                    .value(addr)
                    .ring(ring)
                    .section("7.2.3"),
                format!(
                    "TX queue {q}: descriptor {s} cannot be read: {}; the queue stops",
                    f.describe()
                ),
            );
            self.txq[q].broken = true;
            return None;
        }
        Some(d)
    }

    /// Hands TX descriptors `[from, to)` of queue `q` to the device.
    pub(crate) fn tx_take(&mut self, q: usize, from: u32, to: u32, ctx: &mut Ctx<'_>) {
        let n = self.txq[q].n;
        if n == 0 || self.txq[q].broken {
            return;
        }
        let mut s = from % n;
        while s != to % n {
            let Some(d) = self.read_desc_tx(q, s, ctx) else {
                return;
            };
            self.txq[q].snap[s as usize] = d;
            let desc = decode(s, &d);
            if desc.carries_data() {
                let h = ctx.posted.entry(desc.addr).or_default();
                h.tx += 1;
                if let Some((p, rq, rs)) = h.rx {
                    let ring = self.tx_ring(q);
                    self.report(
                        rules::BUFFER_POSTED_WHILE_IN_RX
                            .on("ADV_TX_DESC")
                            .value(desc.addr)
                            .ring(ring),
                        format!(
                            "TX descriptor {s} sends buffer {:#x}, which port {p} RX queue {rq} descriptor {rs} still owns (the device may overwrite it)",
                            desc.addr
                        ),
                    );
                }
                if let Some(old) = self.txq[q].owned[s as usize].replace(desc.addr) {
                    release_tx(ctx.posted, old);
                }
            }
            s = (s + 1) % n;
        }
    }

    fn fetch_tx(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) -> Option<[u8; 16]> {
        let mem = self.read_desc_tx(q, s, ctx)?;
        let snap = self.txq[q].snap[s as usize];
        if mem != snap {
            let ring = self.tx_ring(q);
            self.report(
                rules::HW_DESCRIPTOR_MODIFIED.on("ADV_TX_DESC").value(u64::from(s)).ring(ring),
                format!("TX descriptor {s} was changed by the driver after TDT handed it to the device (was {snap:02x?}, now {mem:02x?})"),
            );
        }
        Some(match self.cfg.fetch {
            Fetch::Eager => snap,
            Fetch::Lazy => mem,
        })
    }

    /// Whether TX queue `q` has descriptors the device could process now.
    pub(crate) fn tx_pending(&self, q: usize) -> bool {
        let tq = &self.txq[q];
        tq.state == QState::Enabled
            && !tq.broken
            && tq.n > 0
            && self.get(RegisterId::TDH, q) != self.get(RegisterId::TDT, q)
    }

    /// Processes every enabled TX queue; frames go to `out`. Returns the frames sent.
    pub(crate) fn run_tx(&mut self, out: &mut Vec<Frame>, ctx: &mut Ctx<'_>) -> usize {
        if self.removed || !self.link_up || !DMATXCTL::TE.is_set(self.get(RegisterId::DMATXCTL, 0))
        {
            // While the link is down, TX DMA stops: TDH freezes, no DD is written.
            return 0;
        }
        let mut sent = 0;
        for q in self.tx_live.iter() {
            if self.tx_pending(q) {
                sent += self.run_tx_queue(q, out, ctx);
            }
        }
        sent
    }

    fn run_tx_queue(&mut self, q: usize, out: &mut Vec<Frame>, ctx: &mut Ctx<'_>) -> usize {
        // The packet's descriptors go to a list kept from step to step, so that a step does not
        // allocate.
        let mut descs = mem::take(&mut self.tx_descs);
        let sent = self.send_packets(q, out, &mut descs, ctx);
        self.tx_descs = descs;
        sent
    }

    /// Sends the packets of TX queue `q` from TDH up to TDT (each one whole, up to its EOP),
    /// gathering each packet's descriptors in `descs`.
    fn send_packets(
        &mut self,
        q: usize,
        out: &mut Vec<Frame>,
        descs: &mut Vec<TxDesc>,
        ctx: &mut Ctx<'_>,
    ) -> usize {
        let n = self.txq[q].n;
        let mut h = self.get(RegisterId::TDH, q);
        let t = self.get(RegisterId::TDT, q);
        let mut sent = 0;
        let mut completed = false;
        while h != t {
            descs.clear();
            let mut s = h;
            let mut eop = false;
            while s != t {
                let Some(d) = self.fetch_tx(q, s, ctx) else {
                    return sent;
                };
                let d = decode(s, &d);
                descs.push(d);
                s = (s + 1) % n;
                if d.eop {
                    eop = true;
                    break;
                }
            }
            if !eop {
                // The packet's EOP lies beyond the tail: hold it until TDT moves.
                break;
            }
            if let Some(frame) = self.build_frame(q, descs, ctx) {
                sent += 1;
                out.push(frame);
            }
            self.complete_tx(q, descs, ctx);
            completed = true;
            h = s;
            self.set(RegisterId::TDH, q, h);
        }
        if completed {
            let wbal = self.get(RegisterId::TDWBAL, q);
            if TDWBAL::HEAD_WB_EN.is_set(wbal) {
                let addr = (u64::from(self.get(RegisterId::TDWBAH, q)) << 32)
                    | u64::from(wbal & (TDWBAL::HEADWB_LOW.mask << TDWBAL::HEADWB_LOW.shift));
                if let Err(f) = ctx.dma.write_u32_release(addr, h) {
                    let ring = self.tx_ring(q);
                    self.report(
                        rules::HEAD_WRITEBACK_FAULT
                            .on("TDWBAL")
                            .value(addr)
                            .ring(ring),
                        format!("TX head write-back to {addr:#x} failed: {}", f.describe()),
                    );
                }
            }
            self.raise_queue(Direction::Tx, q);
        }
        sent
    }

    /// DMAs and checks one packet; None when it cannot be sent.
    fn build_frame(&mut self, q: usize, descs: &[TxDesc], ctx: &mut Ctx<'_>) -> Option<Frame> {
        let ring = self.tx_ring(q);
        let mut ok = true;
        let mut data = ctx.pool.get();
        if descs.len() > MAX_TX_DESC_PER_PACKET {
            self.report(
                rules::TX_TOO_MANY_DESCRIPTORS
                    .on("ADV_TX_DESC")
                    .value(descs.len() as u64)
                    .ring(ring),
                format!(
                    "a packet spans {} descriptors; at most {MAX_TX_DESC_PER_PACKET}; the packet is dropped",
                    descs.len()
                ),
            );
            // Not gathered: a ring of 64 Ki descriptors of 64 KiB each would be 4 GiB of frame.
            self.counters.tx_dropped += 1;
            ctx.pool.put(data);
            return None;
        }
        let first = descs.iter().find(|d| !d.is_context()).copied();
        let mut sum = 0usize;
        for d in descs {
            if d.dext && d.dtyp != 2 && d.dtyp != 3 {
                self.report(
                    rules::TX_DTYP.on("ADV_TX_DESC").value(u64::from(d.dtyp)).ring(ring),
                    format!(
                        "TX descriptor {} has DEXT = 1 and DTYP = {:04b}; only 0010 (context) and 0011 (data) exist",
                        d.slot,
                        d.dtyp
                    ),
                );
                ok = false;
                continue;
            }
            if d.is_context() {
                continue;
            }
            if d.tse && self.once(rules::TX_TSO_NOT_MODELLED, q as u32) {
                self.report(
                    rules::TX_TSO_NOT_MODELLED.on("ADV_TX_DESC").ring(ring),
                    "TSE set: segmentation is not modelled, the data goes out as one frame",
                );
            }
            if d.len == 0 {
                self.report(
                    rules::TX_DTALEN_ZERO
                        .on("ADV_TX_DESC")
                        .value(u64::from(d.slot))
                        .ring(ring),
                    format!("TX descriptor {} has length 0", d.slot),
                );
                continue;
            }
            sum += d.len;
            let start = data.len();
            data.resize(start + d.len, 0);
            if let Err(f) = ctx.dma.read(d.addr, &mut data[start..]) {
                self.report(
                    rules::TX_BUFFER_ADDRESS.on("ADV_TX_DESC").value(d.addr).ring(ring),
                    format!(
                        "TX descriptor {}: {} bytes at {:#x} cannot be read: {}; the packet is dropped",
                        d.slot,
                        d.len,
                        d.addr,
                        f.describe()
                    ),
                );
                ok = false;
            }
        }
        if let Some(f) = first
            && f.dext
            && !f.tse
        {
            if f.paylen as usize != sum {
                self.report(
                    rules::TX_PAYLEN_MISMATCH
                        .on("ADV_TX_DESC")
                        .value(u64::from(f.paylen))
                        .ring(ring),
                    format!(
                        "PAYLEN {} in descriptor {} differs from the {sum} bytes the packet's descriptors carry",
                        f.paylen,
                        f.slot
                    ),
                );
            }
            if f.paylen < MIN_TX_PAYLEN {
                self.report(
                    rules::TX_PAYLEN_TOO_SMALL
                        .on("ADV_TX_DESC")
                        .value(u64::from(f.paylen))
                        .ring(ring),
                    format!(
                        "PAYLEN {} is below the minimum of {MIN_TX_PAYLEN}",
                        f.paylen
                    ),
                );
            }
        }
        let eop = descs.last().copied();
        let hl = self.get(RegisterId::HLREG0, 0);
        let ifcs = eop.is_some_and(|d| d.ifcs);
        if !ifcs && self.once(rules::TX_NO_IFCS, q as u32) {
            self.report(
                rules::TX_NO_IFCS.on("ADV_TX_DESC").ring(ring),
                "IFCS = 0: the frame leaves without an FCS (the receiver sees a CRC error)",
            );
        }
        if data.len() > MAX_DATA
            && !HLREG0::JUMBOEN.is_set(hl)
            && self.once(rules::TX_OVERSIZE, q as u32)
        {
            self.report(
                rules::TX_OVERSIZE
                    .on("ADV_TX_DESC")
                    .value(data.len() as u64)
                    .ring(ring),
                format!("a {}-byte frame sent without HLREG0.JUMBOEN", data.len()),
            );
        }
        if !ok || data.is_empty() {
            self.counters.tx_dropped += 1;
            ctx.pool.put(data);
            return None;
        }
        if HLREG0::TXPADEN.is_set(hl) && data.len() < PAD_TO {
            data.resize(PAD_TO, 0);
        }
        let wire = data.len() + 4;
        let frame = if ifcs && HLREG0::TXCRCEN.is_set(hl) {
            Frame { data, fcs_ok: true }
        } else if data.len() >= 4 {
            // No FCS appended: the last four bytes are taken for one on the wire.
            let cut = data.len() - 4;
            let fcs = u32::from_le_bytes(data[cut..].try_into().expect("4 bytes"));
            let ok = crc32(&data[..cut]) == fcs;
            data.truncate(cut);
            Frame { data, fcs_ok: ok }
        } else {
            Frame {
                data,
                fcs_ok: false,
            }
        };
        self.count(RegisterId::GPTC, 0, 1);
        self.count36(RegisterId::GOTCL, RegisterId::GOTCH, 0, wire as u64);
        self.count(RegisterId::TPT, 0, 1);
        self.count(RegisterId::QPTC, 0, 1);
        self.count36(RegisterId::QBTC_L, RegisterId::QBTC_H, 0, wire as u64);
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += frame.data.len() as u64;
        Some(frame)
    }

    /// Releases the packet's descriptors and writes DD back as TXDCTL.WTHRESH and RS say.
    fn complete_tx(&mut self, q: usize, descs: &[TxDesc], ctx: &mut Ctx<'_>) {
        let txdctl = self.get(RegisterId::TXDCTL, q);
        let wthresh = TXDCTL::WTHRESH.read(txdctl) as usize;
        let head_wb = TDWBAL::HEAD_WB_EN.is_set(self.get(RegisterId::TDWBAL, q));
        for d in descs {
            if let Some(a) = self.txq[q].owned[d.slot as usize].take() {
                release_tx(ctx.posted, a);
            }
            self.txq[q].processed_any = true;
            self.txq[q].last_rs = d.rs;
            if head_wb {
                // "In this case, no descriptor write back is executed" (DS 7.2.3.5.2).
                continue;
            }
            if wthresh == 0 {
                if d.rs {
                    self.write_dd(q, d.slot, ctx);
                }
            } else {
                self.txq[q].pending_wb.push(d.slot);
                if self.txq[q].pending_wb.len() >= wthresh {
                    self.flush_tx_writebacks(q, ctx);
                }
            }
        }
    }

    /// Writes DD for every descriptor waiting for its WTHRESH batch (also TXDCTL.SWFLSH).
    pub(crate) fn flush_tx_writebacks(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        let pending = mem::take(&mut self.txq[q].pending_wb);
        for &s in &pending {
            self.write_dd(q, s, ctx);
        }
        let mut pending = pending;
        pending.clear();
        self.txq[q].pending_wb = pending;
    }

    /// ORs DD into the status of TX descriptor `s` (DS 7.2.3.5; legacy STA sits at the same byte).
    fn write_dd(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) {
        let addr = self.txq[q].base
            + u64::from(s) * DESC
            + adv_tx_desc::written_back::STATUS_OFFSET as u64;
        let mut b = [0u8; 4];
        let r = ctx.dma.read(addr, &mut b).and_then(|()| {
            let v = adv_tx_desc::written_back::STATUS::DD::SET.modify(u32::from_le_bytes(b));
            ctx.dma.write_u32_release(addr, v)
        });
        if let Err(f) = r {
            let ring = self.tx_ring(q);
            self.report(
                rules::RING_DMA_FAULT
                    .on("ADV_TX_DESC")
                    .value(addr)
                    .ring(ring)
                    .section("7.2.3.5"),
                format!("DD write-back failed: {}", f.describe()),
            );
        }
    }

    /// The quiescence rule: the last descriptor processed had no RS while WTHRESH = 0, so
    /// software never sees it complete.
    pub(crate) fn quiescence_checks(&mut self) {
        for q in self.tx_live.iter() {
            let tq = &self.txq[q];
            if tq.state != QState::Enabled || !tq.processed_any || tq.last_rs {
                continue;
            }
            let txdctl = self.get(RegisterId::TXDCTL, q);
            if TXDCTL::WTHRESH.read(txdctl) == 0
                && !TDWBAL::HEAD_WB_EN.is_set(self.get(RegisterId::TDWBAL, q))
                && self.once(rules::TX_LAST_WITHOUT_RS, q as u32)
            {
                let ring = self.tx_ring(q);
                self.report(
                    rules::TX_LAST_WITHOUT_RS.on("ADV_TX_DESC").ring(ring),
                    "the queue went idle after a descriptor without RS while WTHRESH = 0: software cannot see that it completed",
                );
            }
        }
    }
}
