//! Queues: their state as the device sees it, the enable handshake (RXDCTL/TXDCTL.ENABLE reads
//! 1 after a delay), what is validated when a queue latches (ring base, length, SRRCTL, head and
//! tail), head writes, and disabling.

use super::Delayed;
use super::model::{Ctx, PortModel};
use super::regfile::fmask;
use super::report::{Direction, RingState};
use super::rules;
use super::tails::{release_rx, release_tx};
use super::timing::Delay;
use crate::regs::ixgbe::{
    DMATXCTL, RDLEN, RING_BASE_ALIGN, RING_LEN_MULTIPLE, RXCTRL, RXDCTL, RegisterId, SRRCTL, TDLEN,
    TXDCTL,
};

/// Queues per direction.
pub(crate) const QUEUES: usize = 128;
/// Descriptor size in bytes (advanced and legacy alike).
pub(crate) const DESC: u64 = 16;

/// A set of queue numbers (each below [`QUEUES`]), lowest first: the queues a step visits, so
/// that it looks at the few queues in use rather than at all 128.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueSet(u128);

const _: () = assert!(
    QUEUES <= u128::BITS as usize,
    "a QueueSet holds one bit per queue"
);

impl QueueSet {
    pub(crate) fn insert(&mut self, q: usize) {
        self.0 |= 1 << q;
    }

    pub(crate) fn remove(&mut self, q: usize) {
        self.0 &= !(1 << q);
    }

    /// The queues in `self` or in `other`.
    pub(crate) fn union(self, other: QueueSet) -> QueueSet {
        QueueSet(self.0 | other.0)
    }

    /// The queues of the set, lowest first.
    pub(crate) fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let q = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(q)
        })
    }
}

/// State of a queue's enable handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QState {
    /// ENABLE is 0.
    Disabled,
    /// ENABLE was written 1 and does not read 1 yet.
    Enabling,
    /// ENABLE reads 1: the queue's ring registers were latched.
    Enabled,
}

/// One receive queue as the device sees it.
#[derive(Debug)]
pub(crate) struct RxQ {
    pub(crate) state: QState,
    pub(crate) delay: Option<Delay>,
    /// The driver has read RXDCTL.ENABLE as 1 since the queue was enabled.
    pub(crate) enable_seen: bool,
    /// Ring configuration failed validation: the queue does no DMA.
    pub(crate) broken: bool,
    pub(crate) base: u64,
    pub(crate) n: u32,
    pub(crate) srrctl: u32,
    /// Descriptor images taken when the driver handed them over.
    pub(crate) snap: Vec<[u8; 16]>,
    /// Buffer address of each hardware-owned slot (for the double-post check).
    pub(crate) owned: Vec<Option<u64>>,
}

/// One transmit queue as the device sees it.
#[derive(Debug)]
pub(crate) struct TxQ {
    pub(crate) state: QState,
    pub(crate) delay: Option<Delay>,
    pub(crate) enable_seen: bool,
    pub(crate) broken: bool,
    pub(crate) base: u64,
    pub(crate) n: u32,
    pub(crate) snap: Vec<[u8; 16]>,
    pub(crate) owned: Vec<Option<u64>>,
    /// Descriptors processed whose DD write-back waits for WTHRESH.
    pub(crate) pending_wb: Vec<u32>,
    /// Whether the last descriptor processed asked for status (RS).
    pub(crate) last_rs: bool,
    pub(crate) processed_any: bool,
}

impl RxQ {
    pub(crate) fn new() -> Self {
        RxQ {
            state: QState::Disabled,
            delay: None,
            enable_seen: false,
            broken: false,
            base: 0,
            n: 0,
            srrctl: 0,
            snap: Vec::new(),
            owned: Vec::new(),
        }
    }
}

impl TxQ {
    pub(crate) fn new() -> Self {
        TxQ {
            state: QState::Disabled,
            delay: None,
            enable_seen: false,
            broken: false,
            base: 0,
            n: 0,
            snap: Vec::new(),
            owned: Vec::new(),
            pending_wb: Vec::new(),
            last_rs: true,
            processed_any: false,
        }
    }
}

impl PortModel {
    /// Moves RX queue `q` to `state`, keeping [`PortModel::rx_live`] (the queues not disabled).
    fn set_rx_state(&mut self, q: usize, state: QState) {
        self.rxq[q].state = state;
        if state == QState::Disabled {
            self.rx_live.remove(q);
        } else {
            self.rx_live.insert(q);
        }
    }

    /// Moves TX queue `q` to `state`, keeping [`PortModel::tx_live`] (the queues not disabled).
    fn set_tx_state(&mut self, q: usize, state: QState) {
        self.txq[q].state = state;
        if state == QState::Disabled {
            self.tx_live.remove(q);
        } else {
            self.tx_live.insert(q);
        }
    }

    /// RX queue `q`'s ring as a report shows it.
    pub(crate) fn rx_ring(&self, q: usize) -> RingState {
        RingState {
            direction: Direction::Rx,
            queue: q as u16,
            head: self.get(RegisterId::RDH, q),
            tail: self.get(RegisterId::RDT, q),
            len: self.rxq[q].n,
        }
    }

    /// TX queue `q`'s ring as a report shows it.
    pub(crate) fn tx_ring(&self, q: usize) -> RingState {
        RingState {
            direction: Direction::Tx,
            queue: q as u16,
            head: self.get(RegisterId::TDH, q),
            tail: self.get(RegisterId::TDT, q),
            len: self.txq[q].n,
        }
    }

    /// The ring of a running queue (enabled, configured, not stopped by a violation).
    pub(crate) fn running_ring(&self, dir: Direction, q: usize) -> Option<RingState> {
        let (state, broken, n) = match dir {
            Direction::Rx => {
                let r = self.rxq.get(q)?;
                (r.state, r.broken, r.n)
            }
            Direction::Tx => {
                let t = self.txq.get(q)?;
                (t.state, t.broken, t.n)
            }
        };
        if state != QState::Enabled || broken || n == 0 {
            return None;
        }
        Some(match dir {
            Direction::Rx => self.rx_ring(q),
            Direction::Tx => self.tx_ring(q),
        })
    }

    /// A write to RDH or TDH: the driver's to make only while the queue is disabled.
    pub(crate) fn write_head(&mut self, dir: Direction, q: usize, v: u32) {
        let (id, state) = match dir {
            Direction::Rx => (RegisterId::RDH, self.rxq[q].state),
            Direction::Tx => (RegisterId::TDH, self.txq[q].state),
        };
        let name = id.info().name;
        let cur = self.get(id, q);
        let v16 = v & 0xFFFF;
        if state == QState::Disabled {
            // The datasheet marks the head read-only, yet Linux, DPDK and ixy all write 0
            // to it before the enable: accepted while the queue is disabled.
            self.set(id, q, v16);
            return;
        }
        let ring = match dir {
            Direction::Rx => self.rx_ring(q),
            Direction::Tx => self.tx_ring(q),
        };
        if v16 == cur {
            self.report(
                rules::HEAD_WRITTEN.on(name).value(u64::from(v)).ring(ring).harmless(),
                "head register written while the queue is enabled; it is read-only (same value, so harmless)",
            );
        } else {
            self.report(
                rules::HEAD_WRITTEN.on(name).value(u64::from(v)).ring(ring),
                format!("head register written with {v16} (it is {cur}) while the queue is enabled; it is read-only, the write is ignored"),
            );
        }
    }

    /// A write to RXDCTL: ENABLE starts the enable handshake, clearing it stops the queue.
    pub(crate) fn write_rxdctl(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
        let want = RXDCTL::ENABLE.is_set(v);
        match (self.rxq[q].state, want) {
            (QState::Disabled, true) => {
                self.set_rx_state(q, QState::Enabling);
                self.rxq[q].delay = Some(Delay::new(Delayed::RxEnable, self.virt));
            }
            (QState::Enabling | QState::Enabled, true) => {}
            (_, false) => self.stop_rx(q, ctx),
        }
        let on = self.rxq[q].state == QState::Enabled;
        let v = if on {
            RXDCTL::ENABLE::SET.modify(v)
        } else {
            RXDCTL::ENABLE::CLEAR.modify(v)
        };
        self.set(RegisterId::RXDCTL, q, v);
    }

    /// A write to TXDCTL: as RXDCTL, but a queue starts only with DMATXCTL.TE set; SWFLSH
    /// writes back the DDs waiting for their WTHRESH batch.
    pub(crate) fn write_txdctl(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
        let want = TXDCTL::ENABLE.is_set(v);
        if TXDCTL::SWFLSH.is_set(v) {
            self.flush_tx_writebacks(q, ctx);
        }
        let v = TXDCTL::SWFLSH::CLEAR.modify(v);
        match (self.txq[q].state, want) {
            (QState::Disabled, true) => {
                if DMATXCTL::TE.is_set(self.get(RegisterId::DMATXCTL, 0)) {
                    self.set_tx_state(q, QState::Enabling);
                    self.txq[q].delay = Some(Delay::new(Delayed::TxEnable, self.virt));
                } else {
                    let ring = self.tx_ring(q);
                    self.report(
                        rules::TX_ENABLE_WITHOUT_TE.on("TXDCTL").value(u64::from(v)).ring(ring),
                        format!("TXDCTL[{q}].ENABLE set while DMATXCTL.TE = 0; the queue does not start (set TE first)"),
                    );
                }
            }
            (QState::Enabling | QState::Enabled, true) => {}
            (_, false) => self.stop_tx(q, ctx),
        }
        let on = self.txq[q].state == QState::Enabled;
        let v = if on {
            TXDCTL::ENABLE::SET.modify(v)
        } else {
            TXDCTL::ENABLE::CLEAR.modify(v)
        };
        self.set(RegisterId::TXDCTL, q, v);
    }

    /// Validates a ring at queue enable. Returns false if it is unusable.
    fn validate_ring(
        &mut self,
        dir: Direction,
        q: usize,
        base: u64,
        len_bytes: u32,
        ctx: &Ctx<'_>,
    ) -> bool {
        let (bal, blen) = match dir {
            Direction::Rx => ("RDBAL", "RDLEN"),
            Direction::Tx => ("TDBAL", "TDLEN"),
        };
        let ring = match dir {
            Direction::Rx => self.rx_ring(q),
            Direction::Tx => self.tx_ring(q),
        };
        let mut ok = true;
        if base == 0 || !base.is_multiple_of(RING_BASE_ALIGN as u64) {
            self.report(
                rules::RING_BASE_INVALID.on(bal).value(base).ring(ring),
                format!("{dir:?} queue {q} enabled with ring base {base:#x}: it must be set and {RING_BASE_ALIGN}-byte aligned"),
            );
            ok = false;
        }
        let len_field = match dir {
            Direction::Rx => fmask(RDLEN::LEN),
            Direction::Tx => fmask(TDLEN::LEN),
        };
        if len_bytes == 0
            || !len_bytes.is_multiple_of(RING_LEN_MULTIPLE as u32)
            || len_bytes & !len_field != 0
        {
            self.report(
                rules::RING_LENGTH_INVALID.on(blen).value(u64::from(len_bytes)).ring(ring),
                format!("{dir:?} queue {q} enabled with ring length {len_bytes:#x} bytes: it must be non-zero, a multiple of {RING_LEN_MULTIPLE} and fit the LEN field ({len_field:#x})"),
            );
            ok = false;
        }
        if ok && let Err(fault) = ctx.dma.resolve(base, len_bytes as usize) {
            self.report(
                rules::RING_OUTSIDE_DMA_MEMORY.on(bal).value(base).ring(ring),
                format!(
                    "{dir:?} queue {q}: the ring [{base:#x}, +{len_bytes}) is not inside one live DMA region: {}",
                    fault.describe()
                ),
            );
            ok = false;
        }
        ok
    }

    /// RX queue `q`'s ENABLE latches: its ring registers are read and validated (a queue that
    /// fails stops), and descriptors already behind the tail are handed over.
    pub(crate) fn latch_rx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        use RegisterId as R;
        self.rxq[q].delay = None;
        self.set_rx_state(q, QState::Enabled);
        let v = self.get(R::RXDCTL, q);
        self.set(R::RXDCTL, q, RXDCTL::ENABLE::SET.modify(v));
        let base = u64::from(self.get(R::RDBAL, q)) | (u64::from(self.get(R::RDBAH, q)) << 32);
        let len = self.get(R::RDLEN, q);
        let srrctl = self.get(R::SRRCTL, q);
        let mut ok = self.validate_ring(Direction::Rx, q, base, len, ctx);
        let bsize = SRRCTL::BSIZEPACKET.read(srrctl);
        if bsize == 0 || bsize > 16 {
            let ring = self.rx_ring(q);
            self.report(
                rules::SRRCTL_BSIZEPACKET
                    .on("SRRCTL")
                    .value(u64::from(srrctl))
                    .ring(ring),
                format!("RX queue {q} enabled with BSIZEPACKET = {bsize}; it must be 1 to 16 (KB)"),
            );
            ok = false;
        }
        let desctype = SRRCTL::DESCTYPE.read(srrctl);
        if desctype > 1 {
            let ring = self.rx_ring(q);
            self.report(
                rules::SRRCTL_DESCTYPE.on("SRRCTL").value(u64::from(srrctl)).ring(ring),
                format!("RX queue {q} enabled with DESCTYPE = {desctype:03b}; only legacy (000) and advanced one-buffer (001) are modelled, header split must not be used on the 82599"),
            );
            ok = false;
        }
        if !self.eimc_after_reset && self.once(rules::NO_EIMC_AFTER_RESET, 0) {
            self.report(
                rules::NO_EIMC_AFTER_RESET.on("EIMC"),
                "queues enabled but interrupts were not masked through EIMC after the reset",
            );
        }
        if RXCTRL::RXEN.is_set(self.get(R::RXCTRL, 0)) {
            self.dca_check(q);
        }
        let n = len / DESC as u32;
        let ok = ok && self.positions_fit(Direction::Rx, q, n);
        let rq = &mut self.rxq[q];
        rq.broken = !ok;
        rq.base = base;
        rq.n = if ok { n } else { 0 };
        rq.srrctl = srrctl;
        rq.snap.clear();
        rq.owned.clear();
        if ok {
            rq.snap.resize(n as usize, [0; 16]);
            rq.owned.resize(n as usize, None);
            // Tail written before the enable: the descriptors [RDH, RDT) are handed over now.
            let h = self.get(R::RDH, q);
            let t = self.get(R::RDT, q);
            self.rx_take(q, h, t, ctx);
        }
    }

    /// TX queue `q`'s ENABLE latches, as [`PortModel::latch_rx`].
    pub(crate) fn latch_tx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        use RegisterId as R;
        self.txq[q].delay = None;
        self.set_tx_state(q, QState::Enabled);
        let v = self.get(R::TXDCTL, q);
        self.set(R::TXDCTL, q, TXDCTL::ENABLE::SET.modify(v));
        let base = u64::from(self.get(R::TDBAL, q)) | (u64::from(self.get(R::TDBAH, q)) << 32);
        let len = self.get(R::TDLEN, q);
        let ok = self.validate_ring(Direction::Tx, q, base, len, ctx);
        let p = TXDCTL::PTHRESH.read(v);
        let h = TXDCTL::HTHRESH.read(v);
        let w = TXDCTL::WTHRESH.read(v);
        if p + w > crate::regs::ixgbe::TX_ONCHIP_DESC || (p > 0 && h == 0) {
            let ring = self.tx_ring(q);
            self.report(
                rules::TXDCTL_THRESHOLDS.on("TXDCTL").value(u64::from(v)).ring(ring),
                format!(
                    "PTHRESH {p} + WTHRESH {w} must not exceed {} on-chip descriptors, and HTHRESH ({h}) must be non-zero when PTHRESH is used",
                    crate::regs::ixgbe::TX_ONCHIP_DESC
                ),
            );
        }
        let n = len / DESC as u32;
        let ok = ok && self.positions_fit(Direction::Tx, q, n);
        let tq = &mut self.txq[q];
        tq.broken = !ok;
        tq.base = base;
        tq.n = if ok { n } else { 0 };
        tq.snap.clear();
        tq.owned.clear();
        tq.pending_wb.clear();
        tq.last_rs = true;
        tq.processed_any = false;
        if ok {
            tq.snap.resize(n as usize, [0; 16]);
            tq.owned.resize(n as usize, None);
            let h = self.get(R::TDH, q);
            let t = self.get(R::TDT, q);
            self.tx_take(q, h, t, ctx);
        }
    }

    /// At queue enable: the head and the tail written while the queue was disabled must name
    /// descriptors of the ring of `n` (DS 8.2.3.8.4/5, 8.2.3.9.8/9: they index the ring).
    /// One outside it is an ERROR and the queue stops: a device would fetch descriptors from
    /// beyond the ring, and the model's ring walk could never meet the tail.
    fn positions_fit(&mut self, dir: Direction, q: usize, n: u32) -> bool {
        let (hid, tid) = match dir {
            Direction::Rx => (RegisterId::RDH, RegisterId::RDT),
            Direction::Tx => (RegisterId::TDH, RegisterId::TDT),
        };
        let (h, t) = (self.get(hid, q), self.get(tid, q));
        let ring = RingState {
            direction: dir,
            queue: q as u16,
            head: h,
            tail: t,
            len: n,
        };
        let mut ok = true;
        for (rule, id, v) in [
            (rules::HEAD_OUT_OF_RANGE, hid, h),
            (rules::TAIL_OUT_OF_RANGE, tid, t),
        ] {
            if v >= n {
                let name = id.info().name;
                self.report(
                    rule.on(name).value(u64::from(v)).ring(ring),
                    format!("{dir:?} queue {q} enabled with {name} = {v}, not below the ring size {n}; the queue stops (disable it, write a position inside the ring and enable it again)"),
                );
                ok = false;
            }
        }
        ok
    }

    /// Disables an RX queue: it stops at once and gives every descriptor back.
    pub(crate) fn stop_rx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        self.set_rx_state(q, QState::Disabled);
        let rq = &mut self.rxq[q];
        rq.delay = None;
        rq.enable_seen = false;
        for a in rq.owned.iter_mut().filter_map(Option::take) {
            release_rx(ctx.posted, a);
        }
        rq.snap.clear();
        rq.owned.clear();
        rq.n = 0;
    }

    /// Disables a TX queue.
    pub(crate) fn stop_tx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        self.set_tx_state(q, QState::Disabled);
        let tq = &mut self.txq[q];
        tq.delay = None;
        tq.enable_seen = false;
        for a in tq.owned.iter_mut().filter_map(Option::take) {
            release_tx(ctx.posted, a);
        }
        tq.snap.clear();
        tq.owned.clear();
        tq.pending_wb.clear();
        tq.n = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_set_lists_its_queues_once_lowest_first() {
        let mut s = QueueSet::default();
        assert_eq!(s.iter().count(), 0);
        for q in [127, 0, 64, 5, 64] {
            s.insert(q);
        }
        s.remove(5);
        s.remove(6);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 64, 127]);
        let mut t = QueueSet::default();
        t.insert(3);
        t.insert(127);
        assert_eq!(s.union(t).iter().collect::<Vec<_>>(), [0, 3, 64, 127]);
    }
}
