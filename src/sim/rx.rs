//! The receive data path (DS 7.1): MAC checks, the RX FIFO, descriptor fetch and write-back in
//! the advanced and legacy formats. The L2 filter and queue selection are in `rx_filter.rs`.

use super::frame::{Frame, crc32};
use super::model::{Ctx, PortModel};
use super::queues::{DESC, QState};
use super::regfile::fmask;
use super::rules;
use super::rx_filter::packet_type;
use super::tails::release_rx;
use super::{BadWriteBack, Fetch};
use crate::regs::ixgbe::{
    FCTRL, HLREG0, MAXFRS, MRQC, RXCSUM, RXCTRL, RXPBSIZE, RegisterId, SRRCTL, adv_rx_desc,
    legacy_rx_desc,
};
use adv_rx_desc::written_back::{HS_RSS, STATUS_ERROR};

/// Smallest frame on the wire, FCS included.
const MIN_FRAME: usize = 64;
/// Largest frame without jumbo frames, FCS included.
const MAX_FRAME: usize = 1518;

impl PortModel {
    /// Reads descriptor `s` of RX queue `q` from its ring in memory; a ring the device cannot
    /// read is an ERROR report and stops the queue.
    fn read_desc_rx(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) -> Option<[u8; 16]> {
        let addr = self.rxq[q].base + u64::from(s) * DESC;
        let mut d = [0u8; 16];
        self.counters.descriptor_reads += 1;
        if let Err(f) = ctx.dma.read(addr, &mut d) {
            let ring = self.rx_ring(q);
            self.report(
                rules::RING_DMA_FAULT
                    .on("RDBAL")
                    .value(addr)
                    .ring(ring)
                    .section("7.1.9"),
                format!(
                    "RX queue {q}: descriptor {s} cannot be read: {}; the queue stops",
                    f.describe()
                ),
            );
            self.rxq[q].broken = true;
            return None;
        }
        Some(d)
    }

    fn rx_desctype_adv(&self, q: usize) -> bool {
        SRRCTL::DESCTYPE.read(self.rxq[q].srrctl) == 1
    }

    fn bsize(&self, q: usize) -> usize {
        SRRCTL::BSIZEPACKET.read(self.rxq[q].srrctl) as usize
            * crate::regs::ixgbe::BUFFER_SIZE_GRANULARITY
    }

    /// Hands the descriptors `[from, to)` of RX queue `q` to the device: snapshot each one and
    /// check the buffer it posts.
    pub(crate) fn rx_take(&mut self, q: usize, from: u32, to: u32, ctx: &mut Ctx<'_>) {
        let n = self.rxq[q].n;
        if n == 0 || self.rxq[q].broken {
            return;
        }
        let adv = self.rx_desctype_adv(q);
        let bsize = self.bsize(q) as u64;
        let mut s = from % n;
        while s != to % n {
            let Some(d) = self.read_desc_rx(q, s, ctx) else {
                return;
            };
            self.rxq[q].snap[s as usize] = d;
            let buf = if adv {
                u64_at(&d, adv_rx_desc::to_device::PKT_ADDR_OFFSET)
            } else {
                u64_at(&d, legacy_rx_desc::BUFFER_ADDR_OFFSET)
            };
            let stale_dd = if adv {
                STATUS_ERROR::DD.is_set(u32_at(&d, adv_rx_desc::written_back::STATUS_ERROR_OFFSET))
            } else {
                legacy_rx_desc::STATUS::DD.is_set(d[legacy_rx_desc::STATUS_OFFSET])
            };
            if stale_dd && self.once(rules::RX_STALE_DD, q as u32) {
                let ring = self.rx_ring(q);
                self.report(
                    rules::RX_STALE_DD
                        .on(if adv { "ADV_RX_DESC" } else { "LEGACY_RX_DESC" })
                        .value(u64::from(s))
                        .ring(ring),
                    format!("RX descriptor {s} handed over with DD still set (stale status); write the header address / status as 0"),
                );
            }
            self.check_rx_buffer(q, s, buf, bsize, ctx);
            self.rxq[q].owned[s as usize] = Some(buf);
            s = (s + 1) % n;
        }
    }

    fn check_rx_buffer(&mut self, q: usize, s: u32, buf: u64, bsize: u64, ctx: &mut Ctx<'_>) {
        let desc = if self.rx_desctype_adv(q) {
            "ADV_RX_DESC"
        } else {
            "LEGACY_RX_DESC"
        };
        // 7.1.6.1: the buffer address must name memory the device may write.
        let unusable = if buf == 0 || buf == u64::MAX {
            Some(format!(
                "RX descriptor {s} handed over with packet buffer address {buf:#x}"
            ))
        } else {
            match ctx.dma.room(buf) {
                Err(f) => Some(format!(
                    "RX descriptor {s}: packet buffer {buf:#x} is unusable: {}",
                    f.describe()
                )),
                Ok(room) => {
                    if room < bsize && self.once(rules::RX_BUFFER_OVERRUN_LATENT, q as u32) {
                        let ring = self.rx_ring(q);
                        self.report(
                            rules::RX_BUFFER_OVERRUN_LATENT.on(desc).value(buf).ring(ring),
                            format!("RX descriptor {s}: the device may write BSIZEPACKET = {bsize} bytes at {buf:#x}, but its DMA region ends {room} bytes later (a long frame would be DMAed past it)"),
                        );
                    }
                    None
                }
            }
        };
        if let Some(detail) = unusable {
            let ring = self.rx_ring(q);
            self.report(
                rules::RX_BUFFER_ADDRESS.on(desc).value(buf).ring(ring),
                detail,
            );
        }
        let port = ctx.port;
        let h = ctx.posted.entry(buf).or_default();
        let prev = h.rx.replace((port, q as u16, s));
        let in_tx = h.tx;
        if let Some((p, pq, ps)) = prev {
            let ring = self.rx_ring(q);
            self.report(
                rules::BUFFER_POSTED_TWICE.on(desc).value(buf).ring(ring),
                format!("buffer {buf:#x} posted in RX descriptor {s} of queue {q} while it is still posted in port {p} RX queue {pq} descriptor {ps} (double free in the mempool?)"),
            );
        }
        if in_tx > 0 {
            let ring = self.rx_ring(q);
            self.report(
                rules::BUFFER_POSTED_WHILE_IN_TX.on(desc).value(buf).ring(ring),
                format!("buffer {buf:#x} posted for RX (queue {q} descriptor {s}) while a TX descriptor still has to send it (use after free)"),
            );
        }
    }

    /// Free descriptors the device owns on RX queue `q` (0 while it cannot receive).
    pub(crate) fn rx_room(&self, q: usize) -> usize {
        let rq = &self.rxq[q];
        if rq.state != QState::Enabled
            || rq.broken
            || rq.n == 0
            || !self.link_up
            || !RXCTRL::RXEN.is_set(self.get(RegisterId::RXCTRL, 0))
        {
            return 0;
        }
        let h = self.get(RegisterId::RDH, q);
        let t = self.get(RegisterId::RDT, q);
        ((t + rq.n - h) % rq.n) as usize
    }

    /// A frame arrives from the wire.
    pub(crate) fn receive(&mut self, frame: Frame, ctx: &mut Ctx<'_>) {
        use RegisterId as R;
        if self.removed || !self.link_up {
            self.counters.rx_lost_link_down += 1;
            ctx.pool.put(frame.data);
            return;
        }
        if !RXCTRL::RXEN.is_set(self.get(R::RXCTRL, 0)) {
            // "Only increments if receives are enabled": nothing counts.
            self.counters.rx_ignored += 1;
            ctx.pool.put(frame.data);
            return;
        }
        let wire = frame.wire_len();
        self.count(R::TPR, 0, 1);
        self.count36(R::TORL, R::TORH, 0, wire as u64);
        let fctrl = self.get(R::FCTRL, 0);
        let hl = self.get(R::HLREG0, 0);
        let max = if HLREG0::JUMBOEN.is_set(hl) {
            MAXFRS::MFS.read(self.get(R::MAXFRS, 0)) as usize
        } else {
            MAX_FRAME
        };
        if wire < MIN_FRAME || wire > max || (!frame.fcs_ok && !FCTRL::SBP.is_set(fctrl)) {
            if wire < MIN_FRAME {
                self.count(if frame.fcs_ok { R::RUC } else { R::RFC }, 0, 1);
            } else if wire > max {
                self.count(R::ROC, 0, 1);
            }
            if !frame.fcs_ok {
                self.count(R::CRCERRS, 0, 1);
            }
            self.counters.rx_errors += 1;
            ctx.pool.put(frame.data);
            return;
        }
        let Some(kind) = self.filter(&frame.data, fctrl) else {
            self.counters.rx_filtered += 1;
            ctx.pool.put(frame.data);
            return;
        };
        if self.cfg.gprc_counts_drops {
            self.count_good_rx(kind, wire);
        }
        let q = self.select_queue(&frame.data);
        if self.rxq[q].state != QState::Enabled || self.rxq[q].broken {
            // DS 4.6.7: "packets directed to a disabled queue are dropped".
            self.counters.rx_dropped_queue_disabled += 1;
            ctx.pool.put(frame.data);
            return;
        }
        let drop_en = SRRCTL::DROP_EN.is_set(self.rxq[q].srrctl);
        let frame = if self.fifo.is_empty() || drop_en {
            match self.deliver(q, frame, kind, ctx) {
                Ok(()) => return,
                Err(f) => f,
            }
        } else {
            frame
        };
        if drop_en {
            let c = self.stat_counter(q);
            self.count(R::QPRDC, c, 1);
            self.counters.rx_dropped_no_desc += 1;
            ctx.pool.put(frame.data);
            return;
        }
        let cap = RXPBSIZE::SIZE.read(self.get(R::RXPBSIZE, 0)) as usize * 1024;
        if self.fifo_bytes + wire > cap {
            self.count(R::MPC, 0, 1);
            self.raise(fmask(crate::regs::ixgbe::EICR::RX_MISS));
            self.counters.rx_missed += 1;
            ctx.pool.put(frame.data);
            return;
        }
        self.fifo_bytes += wire;
        self.fifo.push_back((frame, kind as u16));
    }

    /// Moves frames from the RX FIFO into their rings while descriptors are free; the head of the
    /// FIFO blocks everything behind it.
    pub(crate) fn drain_fifo(&mut self, ctx: &mut Ctx<'_>) -> usize {
        let mut moved = 0;
        while let Some((frame, kind)) = self.fifo.pop_front() {
            let wire = frame.wire_len();
            let q = self.select_queue(&frame.data);
            if self.rxq[q].state != QState::Enabled || self.rxq[q].broken {
                self.fifo_bytes -= wire;
                self.counters.rx_dropped_queue_disabled += 1;
                ctx.pool.put(frame.data);
                continue;
            }
            match self.deliver(q, frame, kind as u8, ctx) {
                Ok(()) => {
                    self.fifo_bytes -= wire;
                    moved += 1;
                }
                Err(f) => {
                    self.fifo.push_front((f, kind));
                    break;
                }
            }
        }
        moved
    }

    /// Reads descriptor `s` of RX queue `q` for use: the snapshot (eager fetch) or memory (lazy),
    /// reporting a descriptor the driver changed after handing it over.
    fn fetch_rx(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) -> Option<[u8; 16]> {
        let mem = self.read_desc_rx(q, s, ctx)?;
        let snap = self.rxq[q].snap[s as usize];
        if mem != snap {
            let ring = self.rx_ring(q);
            self.report(
                rules::HW_DESCRIPTOR_MODIFIED
                    .on(if self.rx_desctype_adv(q) { "ADV_RX_DESC" } else { "LEGACY_RX_DESC" })
                    .value(u64::from(s))
                    .ring(ring),
                format!("RX descriptor {s} was changed by the driver after it was handed to the device (was {snap:02x?}, now {mem:02x?})"),
            );
        }
        Some(match self.cfg.fetch {
            Fetch::Eager => snap,
            Fetch::Lazy => mem,
        })
    }

    /// DMAs one frame into RX queue `q`; gives it back if the ring lacks descriptors.
    fn deliver(
        &mut self,
        q: usize,
        mut frame: Frame,
        kind: u8,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), Frame> {
        use RegisterId as R;
        let n = self.rxq[q].n;
        let bsize = self.bsize(q);
        let adv = self.rx_desctype_adv(q);
        let strip = HLREG0::RXCRCSTRP.is_set(self.get(R::HLREG0, 0));
        let wire = frame.wire_len();
        let data_len = if strip { frame.data.len() } else { wire };
        let natural = data_len.div_ceil(bsize).max(1);
        // A fault may spread the frame over more descriptors than it needs (never more than
        // one per byte, so that each holds some of it).
        let fault = self.bad_write_backs.front().copied();
        let needed = match fault {
            Some(BadWriteBack::Split(k)) => natural.max(usize::from(k).min(data_len)),
            _ => natural,
        } as u32;
        let mut h = self.get(R::RDH, q);
        let t = self.get(R::RDT, q);
        if (t + n - h) % n < needed {
            return Err(frame);
        }
        self.bad_write_backs.pop_front();
        if !strip {
            let fcs = if frame.fcs_ok {
                crc32(&frame.data)
            } else {
                !crc32(&frame.data)
            };
            frame.data.extend_from_slice(&fcs.to_le_bytes());
        }
        debug_assert_eq!(frame.data.len(), data_len);
        let rss = if adv && RXCSUM::PCSD.is_set(self.get(R::RXCSUM, 0)) {
            let mrqc = self.get(R::MRQC, 0);
            if MRQC::MRQE.read(mrqc) == 1 {
                self.rss_hash(&frame.data, mrqc)
            } else {
                None
            }
        } else {
            None
        };
        let ptype = packet_type(&frame.data);
        for i in 0..needed {
            let s = h;
            let Some(desc) = self.fetch_rx(q, s, ctx) else {
                // The ring cannot be read: the queue stopped, and the frame is dropped with it.
                self.counters.rx_dropped_queue_disabled += 1;
                ctx.pool.put(frame.data);
                return Ok(());
            };
            let buf = if adv {
                u64_at(&desc, adv_rx_desc::to_device::PKT_ADDR_OFFSET)
            } else {
                u64_at(&desc, legacy_rx_desc::BUFFER_ADDR_OFFSET)
            };
            // Pieces of BSIZEPACKET bytes, or, spread by a fault, of equal size (each at most
            // BSIZEPACKET, since there are at least as many as the frame needs).
            let (lo, hi) = if needed as usize > natural {
                let (i, k) = (i as usize, needed as usize);
                (i * data_len / k, (i + 1) * data_len / k)
            } else {
                let lo = i as usize * bsize;
                (lo, (lo + bsize).min(data_len))
            };
            let chunk = &frame.data[lo..hi];
            if let Err(f) = ctx.dma.write(buf, chunk) {
                let ring = self.rx_ring(q);
                self.report(
                    rules::RX_DMA_FAULT
                        .on(if adv { "ADV_RX_DESC" } else { "LEGACY_RX_DESC" })
                        .value(buf)
                        .ring(ring),
                    format!(
                        "RX descriptor {s}: {} bytes of packet data cannot be written at {buf:#x}: {}; the write is dropped",
                        chunk.len(),
                        f.describe()
                    ),
                );
            }
            let last = i + 1 == needed;
            let eop = last && fault != Some(BadWriteBack::NoEop);
            let daddr = self.rxq[q].base + u64::from(s) * DESC;
            let bad = !frame.fcs_ok || (last && fault == Some(BadWriteBack::MacError));
            let len = match fault {
                Some(BadWriteBack::Length(len)) if last => usize::from(len),
                _ => chunk.len(),
            };
            if adv {
                self.write_back_adv(daddr, len, eop, bad, ptype, rss, &frame.data, ctx);
            } else {
                self.write_back_legacy(daddr, len, eop, bad, ctx);
            }
            if let Some(a) = self.rxq[q].owned[s as usize].take() {
                release_rx(ctx.posted, a);
            }
            h = (h + 1) % n;
        }
        self.set(R::RDH, q, h);
        if !self.cfg.gprc_counts_drops {
            self.count_good_rx(kind, wire);
        }
        let c = self.stat_counter(q);
        self.count(R::QPRC, c, 1);
        self.count36(R::QBRC_L, R::QBRC_H, c, wire as u64);
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += frame.data.len() as u64;
        self.counters.rx_descriptors += u64::from(needed);
        self.raise_queue(super::report::Direction::Rx, q);
        ctx.pool.put(frame.data);
        Ok(())
    }

    /// Advanced write-back (DS 7.1.6.2): all 16 bytes, status dword (with DD) last.
    #[allow(clippy::too_many_arguments)]
    fn write_back_adv(
        &mut self,
        daddr: u64,
        len: usize,
        eop: bool,
        bad: bool,
        ptype: u32,
        rss: Option<(u32, u32)>,
        data: &[u8],
        ctx: &mut Ctx<'_>,
    ) {
        let mut d = [0u8; 16];
        // The model's packet types and RSS types fit their fields; anything else is left 0.
        let mut hs = HS_RSS::PACKET_TYPE::val_checked(ptype).unwrap_or(HS_RSS::PACKET_TYPE::CLEAR);
        let dword1 = match rss {
            Some((hash, ty)) => {
                hs += HS_RSS::RSS_TYPE::val_checked(ty).unwrap_or(HS_RSS::RSS_TYPE::CLEAR);
                hash
            }
            // IP identification in bits 15:0 (fragment checksum not modelled: 0).
            None if ptype & 1 != 0 => u32::from(u16::from_be_bytes([data[18], data[19]])),
            None => 0,
        };
        put32(&mut d, adv_rx_desc::written_back::HS_RSS_OFFSET, hs.value);
        put32(&mut d, adv_rx_desc::written_back::RSS_HASH_OFFSET, dword1);
        put16(
            &mut d,
            adv_rx_desc::written_back::PKT_LEN_OFFSET,
            len as u16,
        );
        put16(&mut d, adv_rx_desc::written_back::VLAN_OFFSET, 0);
        let mut st = STATUS_ERROR::DD::SET;
        if eop {
            st += STATUS_ERROR::EOP::SET;
            if bad {
                st += STATUS_ERROR::RXE::SET;
            }
        }
        let so = adv_rx_desc::written_back::STATUS_ERROR_OFFSET;
        // Body first with DD clear (status dword 0), then the status dword with a release.
        let body = ctx
            .dma
            .write(daddr, &d[..so])
            .and_then(|()| ctx.dma.write(daddr + so as u64 + 4, &d[so + 4..]))
            .and_then(|()| ctx.dma.write_u32_release(daddr + so as u64, st.value));
        if let Err(f) = body {
            self.report(
                rules::RING_DMA_FAULT
                    .on("ADV_RX_DESC")
                    .value(daddr)
                    .section("7.1.6.2"),
                format!("descriptor write-back failed: {}", f.describe()),
            );
        }
    }

    /// Legacy write-back (DS 7.1.5): only qword 1; the buffer address stays; status byte last.
    fn write_back_legacy(
        &mut self,
        daddr: u64,
        len: usize,
        eop: bool,
        bad: bool,
        ctx: &mut Ctx<'_>,
    ) {
        let mut d = [0u8; 8];
        let base = legacy_rx_desc::LENGTH_OFFSET;
        put16(&mut d, legacy_rx_desc::LENGTH_OFFSET - base, len as u16);
        put16(&mut d, legacy_rx_desc::CHECKSUM_OFFSET - base, 0);
        let mut errors = 0u8;
        if eop && bad {
            errors = legacy_rx_desc::ERRORS::CE::SET.modify(errors);
        }
        d[legacy_rx_desc::ERRORS_OFFSET - base] = errors;
        put16(&mut d, legacy_rx_desc::VLAN_OFFSET - base, 0);
        let mut status = legacy_rx_desc::STATUS::DD::SET.value;
        if eop {
            status = legacy_rx_desc::STATUS::EOP::SET.modify(status);
        }
        let so = legacy_rx_desc::STATUS_OFFSET - base;
        let q1 = daddr + base as u64;
        let r = ctx
            .dma
            .write(q1, &d[..so])
            .and_then(|()| ctx.dma.write(q1 + so as u64 + 1, &d[so + 1..]))
            .and_then(|()| {
                std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
                ctx.dma.write(q1 + so as u64, &[status])
            });
        if let Err(f) = r {
            self.report(
                rules::RING_DMA_FAULT
                    .on("LEGACY_RX_DESC")
                    .value(daddr)
                    .section("7.1.5"),
                format!("descriptor write-back failed: {}", f.describe()),
            );
        }
    }

    /// Whether the HLREG0 loopback is on (TX frames come back to this port's RX).
    pub(crate) fn loopback(&self) -> bool {
        HLREG0::LPBK.is_set(self.get(RegisterId::HLREG0, 0))
    }
}

pub(crate) fn u64_at(d: &[u8; 16], off: usize) -> u64 {
    u64::from_le_bytes(d[off..off + 8].try_into().expect("8 bytes"))
}

pub(crate) fn u32_at(d: &[u8; 16], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().expect("4 bytes"))
}

fn put32(d: &mut [u8], off: usize, v: u32) {
    d[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put16(d: &mut [u8], off: usize, v: u16) {
    d[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
