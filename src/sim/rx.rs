//! The receive data path (research notes §3): MAC checks, filtering, queue selection, the RX
//! FIFO, descriptor fetch and write-back in the advanced and legacy formats.

use super::device::{Ctx, DESC, Device, QState, fmask, release_rx};
use super::frame::{Frame, crc32};
use super::report::Severity;
use super::{BadWriteBack, Fetch};
use crate::regs::ixgbe::{
    FCTRL, HLREG0, MAXFRS, MCSTCTRL, MRQC, RETA, RQSMR, RXCSUM, RXCTRL, RXPBSIZE, RegisterId,
    SRRCTL, adv_rx_desc, legacy_rx_desc,
};
use adv_rx_desc::written_back::{HS_RSS, STATUS_ERROR};

/// Smallest frame on the wire, FCS included.
const MIN_FRAME: usize = 64;
/// Largest frame without jumbo frames, FCS included.
const MAX_FRAME: usize = 1518;

impl Device {
    /// Reads descriptor `s` of RX queue `q` from its ring in memory; a ring the device cannot
    /// read is an ERROR report and stops the queue.
    fn read_desc_rx(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) -> Option<[u8; 16]> {
        let addr = self.rxq[q].base + u64::from(s) * DESC;
        let mut d = [0u8; 16];
        self.counters.descriptor_reads += 1;
        if let Err(f) = ctx.dma.read(addr, &mut d) {
            let ring = self.rx_ring(q);
            self.report(
                Severity::Error,
                "ring-dma-fault",
                "7.1.9",
                Some("RDBAL"),
                Some(addr),
                Some(ring),
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
    /// check the buffer it posts (§7 "Tail and ring protocol").
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
            if stale_dd && self.once("rx-stale-dd", q as u32) {
                let ring = self.rx_ring(q);
                self.report(
                    Severity::Warn,
                    "rx-stale-dd",
                    "7.1.6.1",
                    Some(if adv { "ADV_RX_DESC" } else { "LEGACY_RX_DESC" }),
                    Some(u64::from(s)),
                    Some(ring),
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
                    if room < bsize && self.once("rx-buffer-overrun-latent", q as u32) {
                        let ring = self.rx_ring(q);
                        self.report(
                            Severity::Warn,
                            "rx-buffer-overrun-latent",
                            "8.2.3.8.7",
                            Some(desc),
                            Some(buf),
                            Some(ring),
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
                Severity::Error,
                "rx-buffer-address",
                "7.1.6.1",
                Some(desc),
                Some(buf),
                Some(ring),
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
                Severity::Error,
                "buffer-posted-twice",
                "7.1.9",
                Some(desc),
                Some(buf),
                Some(ring),
                format!("buffer {buf:#x} posted in RX descriptor {s} of queue {q} while it is still posted in port {p} RX queue {pq} descriptor {ps} (double free in the mempool?)"),
            );
        }
        if in_tx > 0 {
            let ring = self.rx_ring(q);
            self.report(
                Severity::Error,
                "buffer-posted-while-in-tx",
                "7.1.9",
                Some(desc),
                Some(buf),
                Some(ring),
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
    /// FIFO blocks everything behind it (§3 step 7).
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

    fn count_good_rx(&mut self, kind: u8, wire: usize) {
        use RegisterId as R;
        self.count(R::GPRC, 0, 1);
        self.count36(R::GORCL, R::GORCH, 0, wire as u64);
        match kind {
            KIND_BROADCAST => self.count(R::BPRC, 0, 1),
            KIND_MULTICAST => self.count(R::MPRC, 0, 1),
            _ => {}
        }
    }

    /// The L2 filter (DS 7.1.1.1): the frame's kind if it passes.
    fn filter(&self, data: &[u8], fctrl: u32) -> Option<u8> {
        let dst: [u8; 6] = data.get(..6)?.try_into().ok()?;
        if dst == [0xFF; 6] {
            (FCTRL::BAM.is_set(fctrl) || FCTRL::MPE.is_set(fctrl)).then_some(KIND_BROADCAST)
        } else if dst[0] & 1 != 0 {
            (FCTRL::MPE.is_set(fctrl) || self.mta_hit(&dst)).then_some(KIND_MULTICAST)
        } else {
            (FCTRL::UPE.is_set(fctrl) || self.rar.contains(&dst)).then_some(KIND_UNICAST)
        }
    }

    fn mta_hit(&self, dst: &[u8; 6]) -> bool {
        let mc = self.get(RegisterId::MCSTCTRL, 0);
        if !MCSTCTRL::MFE.is_set(mc) {
            return false;
        }
        let (a, b) = (u16::from(dst[4]), u16::from(dst[5]));
        let v = match MCSTCTRL::MO.read(mc) {
            0 => (a >> 4) | (b << 4),
            1 => (a >> 3) | (b << 5),
            2 => (a >> 2) | (b << 6),
            _ => a | (b << 8),
        } & 0xFFF;
        let word = self.get(RegisterId::MTA, usize::from(v >> 5));
        word & (1 << (v & 31)) != 0
    }

    /// Queue 0, or the RSS choice when MRQC selects RSS (§3 step 4).
    pub(crate) fn select_queue(&self, data: &[u8]) -> usize {
        let mrqc = self.get(RegisterId::MRQC, 0);
        if MRQC::MRQE.read(mrqc) != 1 {
            return 0;
        }
        let Some((hash, _)) = self.rss_hash(data, mrqc) else {
            return 0;
        };
        let e = (hash & 0x7F) as usize;
        let reta = self.get(RegisterId::RETA, e / 4);
        (match e % 4 {
            0 => RETA::ENTRY0.read(reta),
            1 => RETA::ENTRY1.read(reta),
            2 => RETA::ENTRY2.read(reta),
            _ => RETA::ENTRY3.read(reta),
        }) as usize
    }

    /// The RSS hash and type of an IPv4 frame, per the hash types MRQC enables.
    fn rss_hash(&self, data: &[u8], mrqc: u32) -> Option<(u32, u32)> {
        if data.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = data.get(14..)?;
        let ihl = usize::from(ip.first()? & 0x0F) * 4;
        let proto = *ip.get(9)?;
        let mut input = [0u8; 12];
        input[..8].copy_from_slice(ip.get(12..20)?);
        let ports = ip.get(ihl..ihl + 4);
        let (len, ty) = match (proto, ports) {
            (17, Some(p)) if MRQC::UDP_IPV4.is_set(mrqc) => {
                input[8..12].copy_from_slice(p);
                (12, 7)
            }
            (6, Some(p)) if MRQC::TCP_IPV4.is_set(mrqc) => {
                input[8..12].copy_from_slice(p);
                (12, 1)
            }
            _ if MRQC::IPV4.is_set(mrqc) => (8, 2),
            _ => return None,
        };
        let mut key = [0u8; 40];
        for (i, k) in key.chunks_mut(4).enumerate() {
            k.copy_from_slice(&self.get(RegisterId::RSSRK, i).to_le_bytes());
        }
        Some((toeplitz(&key, &input[..len]), ty))
    }

    pub(crate) fn stat_counter(&self, q: usize) -> usize {
        let m = self.get(RegisterId::RQSMR, q / 4);
        (match q % 4 {
            0 => RQSMR::Q_MAP0.read(m),
            1 => RQSMR::Q_MAP1.read(m),
            2 => RQSMR::Q_MAP2.read(m),
            _ => RQSMR::Q_MAP3.read(m),
        }) as usize
    }

    /// Reads descriptor `s` of RX queue `q` for use: the snapshot (eager fetch) or memory (lazy),
    /// reporting a descriptor the driver changed after handing it over.
    fn fetch_rx(&mut self, q: usize, s: u32, ctx: &mut Ctx<'_>) -> Option<[u8; 16]> {
        let mem = self.read_desc_rx(q, s, ctx)?;
        let snap = self.rxq[q].snap[s as usize];
        if mem != snap {
            let ring = self.rx_ring(q);
            self.report(
                Severity::Error,
                "hw-descriptor-modified",
                "7.1.9",
                Some(if self.rx_desctype_adv(q) { "ADV_RX_DESC" } else { "LEGACY_RX_DESC" }),
                Some(u64::from(s)),
                Some(ring),
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
                    Severity::Error,
                    "rx-dma-fault",
                    "7.1.6.1",
                    Some(if adv { "ADV_RX_DESC" } else { "LEGACY_RX_DESC" }),
                    Some(buf),
                    Some(ring),
                    format!("RX descriptor {s}: {} bytes of packet data cannot be written at {buf:#x}: {}; the write is dropped", chunk.len(), f.describe()),
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
                Severity::Error,
                "ring-dma-fault",
                "7.1.6.2",
                Some("ADV_RX_DESC"),
                Some(daddr),
                None,
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
                Severity::Error,
                "ring-dma-fault",
                "7.1.5",
                Some("LEGACY_RX_DESC"),
                Some(daddr),
                None,
                format!("descriptor write-back failed: {}", f.describe()),
            );
        }
    }

    /// Whether the HLREG0 loopback is on (TX frames come back to this port's RX).
    pub(crate) fn loopback(&self) -> bool {
        HLREG0::LPBK.is_set(self.get(RegisterId::HLREG0, 0))
    }
}

const KIND_UNICAST: u8 = 0;
const KIND_MULTICAST: u8 = 1;
const KIND_BROADCAST: u8 = 2;

/// The PACKET_TYPE field (bits 16:4 of write-back dword 0, so field bit 0 = IPv4, 4 = TCP,
/// 5 = UDP) for what the model recognises.
fn packet_type(data: &[u8]) -> u32 {
    if data.get(12..14) != Some(&[0x08, 0x00]) || data.len() < 34 {
        return 0;
    }
    match data[23] {
        6 => 1 | 1 << 4,
        17 => 1 | 1 << 5,
        _ => 1,
    }
}

/// The Toeplitz hash of RSS (Microsoft's RSS specification) with a 40-byte key.
pub(crate) fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut window = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let mut result = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                result ^= (window >> 32) as u32;
            }
            window <<= 1;
        }
        window |= u64::from(key.get(i + 8).copied().unwrap_or(0));
    }
    result
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toeplitz_matches_microsoft_vectors() {
        let key: [u8; 40] = [
            0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
            0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
            0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
        ];
        // The IPv4 rows of the datasheet's RSS verification suite (7.1.2.8.3): source,
        // destination, the hash over the addresses, and over addresses and ports.
        type Row = ([u8; 4], u16, [u8; 4], u16, u32, u32);
        let suite: [Row; 5] = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x323e_8fc2,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xd718_262a,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0xd2d0_a5de,
                0x5c2b_394a,
            ),
            (
                [38, 27, 205, 30],
                48228,
                [209, 142, 163, 6],
                2217,
                0x8298_9176,
                0xafc7_327f,
            ),
            (
                [153, 39, 163, 191],
                44251,
                [202, 188, 127, 2],
                1303,
                0x5d18_09c5,
                0x10e8_28a2,
            ),
        ];
        for (src, sport, dst, dport, two_tuple, four_tuple) in suite {
            let mut input = Vec::new();
            input.extend_from_slice(&src);
            input.extend_from_slice(&dst);
            assert_eq!(toeplitz(&key, &input), two_tuple, "{src:?} -> {dst:?}");
            input.extend_from_slice(&sport.to_be_bytes());
            input.extend_from_slice(&dport.to_be_bytes());
            assert_eq!(
                toeplitz(&key, &input),
                four_tuple,
                "{src:?} -> {dst:?} with ports"
            );
        }
    }
}
